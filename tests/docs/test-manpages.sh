#!/bin/bash
# The man pages (man/) against the code they describe.  What a page must
# cover is extracted from the code on every run, never from a list kept here:
#
#   man/dmbrokerd.8        daemon/main.c: the getopt table, the ranges it
#                          checks, its default paths and exit codes; the
#                          signals and sd_notify messages of daemon/*.c; the
#                          state directory's entries; the environment that
#                          common/sdnotify.c and daemon/*.c read
#   man/dmbrokerctl.8      cli/dmbrokerctl.c: its options, commands,
#                          subcommands and exit codes; daemon/control.c: the
#                          dispatch table and the request arguments it reads
#   man/dmbroker-policy.5  daemon/policy.c: every key it accepts or looks up,
#                          every enumerated value, the ranges it checks and
#                          its built-in defaults; the page's example policy
#                          must use every key and pass `dmbrokerctl policy check`
#   man/libdmb.3           dm/dmb.h: every declaration, as written; the page's
#                          example must compile (and link, given a build)
#
# The other way round, whatever a page lists in its .TP entries (options,
# commands, requests, keys, signals, exit codes, functions) must exist in the
# code, and every dmb_/DMB_ name in any page must exist in dm/dmb.h.  Each page
# must also format without a warning (groff -ww, man --warnings).
#
# Pages state what the checks look for in a comment at their top.  Output is
# TAP ("ok N name # ...", diagnostics as "# " lines) for tests/run.sh.
#
#   tests/docs/test-manpages.sh [BUILD]     (default: $TEST_BUILDDIR, or build)
set -u
cd "$(dirname "$0")/../.."
daemon_src=(daemon/*.c)
set -f # from here on, words of the pages (such as "*") are never file names
build=${1:-${TEST_BUILDDIR:-build}}
self=tests/docs/test-manpages.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
CC=${CC:-cc}

n=0 failed=0
diag=()
t0=$(date +%s%3N)

fail() { diag+=("$*"); }

# End a check: ok if nothing failed since the previous one.
check() {
	local ms=$(($(date +%s%3N) - t0))
	n=$((n + 1))
	if [ ${#diag[@]} -eq 0 ]; then
		echo "ok $n $1 # $self ($ms ms)"
	else
		failed=$((failed + 1))
		echo "not ok $n $1 # $self ($ms ms)"
		printf '%s\n' "${diag[@]}" | sed 's/^/# /'
	fi
	diag=()
	t0=$(date +%s%3N)
}

# End a check that cannot run here (TAP's SKIP counts as passed).
skip() { # NAME WHY
	n=$((n + 1))
	echo "ok $n $1 # SKIP $2 ($(($(date +%s%3N) - t0)) ms)"
	diag=()
	t0=$(date +%s%3N)
}

# An extraction that finds nothing means the code changed shape: say so.
nonempty() { # WHAT LIST
	[ -n "$(tr -d '[:space:]' <<<"$2")" ] || fail "found no $1: the extraction in $self needs updating"
}

# Every word of LIST must be in SET (both newline- or space-separated).
subset() { # WHAT LIST SET
	local w
	for w in $2; do
		grep -qxF -- "$w" <<<"$(tr ' ' '\n' <<<"$3")" || fail "$1: $w"
	done
}

# ---- roff to text ------------------------------------------------------------

# roff source on stdin to plain text: font and character escapes resolved,
# the quotes of macro arguments dropped, comments and other requests dropped
# (a request that is not a font macro prints an empty line).
plain() {
	awk '
	function unesc(s) {
		gsub(/\\e/, "\001", s)
		gsub(/\\f\[[^]]*\]/, "", s); gsub(/\\f\(../, "", s); gsub(/\\f./, "", s)
		gsub(/\\-/, "-", s); gsub(/\\\(dq/, "\"", s); gsub(/\\\(aq/, "\047", s)
		gsub(/\\\(lq/, "\"", s); gsub(/\\\(rq/, "\"", s); gsub(/\\\(bu/, "*", s)
		gsub(/\\\(em/, "--", s); gsub(/\\~/, " ", s); gsub(/\\ /, " ", s)
		gsub(/\\&/, "", s); gsub(/\\%/, "", s); gsub(/\\c/, "", s)
		gsub(/\001/, "\\", s)
		return s
	}
	/^\.\\"/ { next }
	/^\.(B|I|R|BI|BR|IB|IR|RB|RI|SM|SB)( |$)/ {
		sub(/^\.[A-Z]+ ?/, ""); gsub(/"/, ""); print unesc($0); next
	}
	/^\./ { print ""; next }
	{ print unesc($0) }'
}

# The roff source of one .SH section of a page (title as written, unquoted).
section() { # PAGE TITLE
	awk -v want="$2" '
	/^\.SH/ { t = $0; sub(/^\.SH +/, "", t); gsub(/"/, "", t); on = (t == want); next }
	on' "$1"
}

# The tags of the .TP/.TQ entries in roff source on stdin, as plain text.
tags() {
	awk '/^\.(TP|TQ)( |$)/ { want = 1; next } want { print; want = 0 }' | plain
}

# The .TP entries of roff source on stdin: "TAG<tab>BODY", both plain text,
# the body up to the next .TP, .SS, .SH or paragraph macro.
entries() {
	awk '
	function flush() { if (tag != "") print tag "\t" body; tag = ""; body = "" }
	/^\.(TP|TQ)( |$)/ { if ($0 ~ /^\.TP/) flush(); want = 1; next }
	want { tag = tag (tag == "" ? "" : "\001") $0; want = 0; next }
	/^\.(SS|SH|PP|P|LP)( |$)/ { flush(); next }
	tag != "" { body = body "\001" $0 }
	END { flush() }' | while IFS=$'\t' read -r tag body; do
		printf '%s\t%s\n' "$(tr '\001' '\n' <<<"$tag" | plain | tr '\n' ' ')" \
			"$(tr '\001' '\n' <<<"$body" | plain | tr '\n' ' ' | tr -s ' ')"
	done
}

# The first word of each tag; with --dash, every word that starts with "-".
tag_words() { # [--dash]
	if [ "${1:-}" = --dash ]; then
		tr ' ,[]' '\n\n\n\n' | grep -E '^-' | sort -u
	else
		awk '{ print $1 }' | sort -u
	fi
}

# .EX/.EE blocks of roff source on stdin, as plain text, one per file
# $tmp/PREFIX.N; prints the file names.
ex_blocks() { # PREFIX
	local f
	awk -v p="$tmp/$1" '
	/^\.EX/ { f = sprintf("%s.%d.roff", p, ++k); on = 1; printf "" > f; print f; next }
	/^\.EE/ { on = 0; next }
	on { print > f }' | while read -r f; do
		plain <"$f" >"${f%.roff}"
		echo "${f%.roff}"
	done
}

nospace() { tr -d '[:space:]'; }

# C source on stdin without its comments (and without lines left empty).
strip_comments() {
	awk '{
		line = $0; out = ""
		while (line != "") {
			if (inc) {
				i = index(line, "*/")
				if (!i) { line = ""; break }
				line = substr(line, i + 2); inc = 0; continue
			}
			i = index(line, "/*"); j = index(line, "//")
			if (j && (!i || j < i)) { out = out substr(line, 1, j - 1); break }
			if (!i) { out = out line; break }
			out = out substr(line, 1, i - 1); line = substr(line, i + 2); inc = 1
		}
		if (out ~ /[^[:space:]]/) print out
	}'
}

# ---- code extraction helpers -------------------------------------------------

# NAME VALUE for the numeric #defines of the files.
numeric_defines() {
	grep -hE '^#define +[A-Z_0-9]+ +(0x[0-9a-fA-F]+|[0-9]+)[uUlL]*([[:space:]]|$)' "$@" |
		awk '{ v = $3; sub(/[uUlL]+$/, "", v); print $2, v }'
}

# A number as written in C, or a numeric #define, in decimal; empty if neither.
resolve() { # TOKEN DEFINES
	local t=${1//[[:space:]]/} v
	t=${t%%[uUlL]*}
	if [[ $t =~ ^(0x[0-9a-fA-F]+|[0-9]+)$ ]]; then
		echo $((t))
	else
		v=$(awk -v n="$t" '$1 == n { print $2 }' <<<"$2")
		[ -n "$v" ] && echo $((v))
	fi
}

pages=(man/dmbrokerd.8 man/dmbrokerctl.8 man/dmbroker-policy.5 man/libdmb.3)

# ---- every page: present, formats cleanly, named right ---------------------

for page in "${pages[@]}"; do
	name=$(basename "$page")
	if [ ! -f "$page" ]; then
		fail "$page is missing"
		check "$name:formats_cleanly"
		continue
	fi
	th=$(grep -m1 '^\.TH' "$page" | sed -E 's/^\.TH +//; s/\\-/-/g' | awk '{ print $1, $2 }')
	want="$(tr '[:lower:]' '[:upper:]' <<<"${name%.*}") ${name##*.}"
	[ "$th" = "$want" ] || fail ".TH says '$th', the file name says '$want'"
	if command -v groff >/dev/null; then
		out=$(groff -man -ww -z "$page" 2>&1)
		[ -z "$out" ] || fail "groff -man -ww: $out"
	else
		fail "groff is not installed (tools/install-deps.sh installs groff-base)"
	fi
	if command -v man >/dev/null; then
		out=$(MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings -E UTF-8 -l "$page" 2>&1 >/dev/null)
		[ -z "$out" ] || fail "man --warnings: $out"
	else
		fail "man is not installed (tools/install-deps.sh installs man-db)"
	fi
	check "$name:formats_cleanly"
done

# References to our own pages point at pages that exist.
for page in "${pages[@]}"; do
	grep -hoE '^\.BR +(dmbroker|libdmb)[a-z\\-]* +\([0-9]\)' "$page" | sed -E 's/^\.BR +//; s/\\-/-/g' |
		while read -r ref sec; do
			sec=${sec//[()]/}
			[ -f "man/$ref.$sec" ] || echo "$page refers to $ref($sec), but there is no man/$ref.$sec"
		done
done >"$tmp/refs"
while read -r line; do fail "$line"; done <"$tmp/refs"
check "cross_references_exist"

# Every dmb_ name in any page, and every DMB_ name in libdmb.3, exists in dm/dmb.h
# (elsewhere DMB_ also starts the broker's journal fields, DMB_DOMID and the like).
hdr_idents=$(grep -oE '\b(dmb|DMB)_[A-Za-z0-9_]+' dm/dmb.h | sort -u)
nonempty "dmb_ names in dm/dmb.h" "$hdr_idents"
for page in "${pages[@]}"; do
	re='\bdmb_[A-Za-z0-9_]+'
	[ "$page" = man/libdmb.3 ] && re='\b(dmb|DMB)_[A-Za-z0-9_]+'
	for id in $(plain <"$page" | grep -oE "$re" | sort -u); do
		grep -qxF "$id" <<<"$hdr_idents" || fail "$page names $id, which dm/dmb.h does not declare"
	done
done
check "dmb_names_exist_in_dmb.h"

# ---- dmbrokerd.8 ---------------------------------------------------------------

p=man/dmbrokerd.8
text=$(plain <"$p")
opts=$(grep -oE '\{ *"[a-z][a-z0-9-]*", *(no|required|optional)_argument' daemon/main.c |
	sed -E 's/^\{ *"([^"]+)".*/--\1/' | sort -u)
nonempty "long options in daemon/main.c's getopt table" "$opts"
documented=$(section "$p" OPTIONS | tags | tag_words)
synopsis=$(section "$p" SYNOPSIS | plain | tr -s ' []|' '\n\n\n\n')
subset "daemon/main.c option without an OPTIONS entry in $p" "$opts" "$documented"
subset "daemon/main.c option missing from the SYNOPSIS of $p" "$opts" "$synopsis"
subset "$p documents an option daemon/main.c does not have" "$documented" "$opts"
check "dmbrokerd.8:options"

# Ranges main() checks: "case 'X': ... v < MIN || v > MAX" -> "MIN to MAX" in that option's entry.
opt_entries=$(section "$p" OPTIONS | entries)
while read -r ch lo hi; do
	long=$(grep -oE "\{ *\"[a-z][a-z0-9-]*\", *[a-z_]+, *NULL, *'$ch'" daemon/main.c |
		sed -E 's/^\{ *"([^"]+)".*/--\1/')
	[ -n "$long" ] || continue
	awk -F'\t' -v o="$long" '{ split($1, w, " ") } w[1] == o { print $2 }' <<<"$opt_entries" |
		grep -qF "$lo to $hi" || fail "$long: main() accepts $lo..$hi; its entry does not say \"$lo to $hi\""
done < <(awk "/case '.':/ { c = \$0; sub(/.*case '/, \"\", c); c = substr(c, 1, 1) }
	match(\$0, /v < [0-9]+ \|\| v > [0-9]+/) { s = substr(\$0, RSTART, RLENGTH); split(s, a, \" \"); print c, a[3], a[7] }" daemon/main.c)
check "dmbrokerd.8:option_ranges"

defaults=$(grep -hE '^#define +DEFAULT_[A-Z_]+ +"' daemon/main.c | sed -E 's/.*"([^"]+)".*/\1/')
nonempty "DEFAULT_* paths in daemon/main.c" "$defaults"
sim=$(grep -hE '^#define +SIM_DEFAULT_SOCKET +"' ipc/simproto.h | sed -E 's/.*"([^"]+)".*/\1/')
for d in $defaults $sim; do
	grep -qF -- "$d" <<<"$text" || fail "$p does not mention the default $d"
done
state=$(grep -hE '^#define +DEFAULT_STATE +"' daemon/main.c | sed -E 's/.*"([^"]+)".*/\1/')
entries_=$(grep -ohE '"%s/[a-z_]+"[^;]*state_dir' "${daemon_src[@]}" | sed -E 's/^"%s\/([a-z_]+)".*/\1/' | sort -u)
nonempty "state directory entries (\"%s/NAME\", ...state_dir) in daemon/*.c" "$entries_"
for e in $entries_; do
	section "$p" FILES | plain | grep -qF -- "$state/$e" ||
		fail "the state directory's $e ($state/$e) is not under FILES in $p"
done
check "dmbrokerd.8:files"

sigs=$( (grep -ohE 'evsignal_new\([^,]+, *SIG[A-Z0-9]+' "${daemon_src[@]}" | grep -oE 'SIG[A-Z0-9]+$'
	grep -ohE '\bsignal\(SIG[A-Z0-9]+, *SIG_IGN\)' "${daemon_src[@]}" | grep -oE '\(SIG[A-Z0-9]+' | tr -d '(') | sort -u)
nonempty "signals handled in daemon/*.c" "$sigs"
documented=$(section "$p" SIGNALS | tags | tr ' ,' '\n\n' | grep -E '^SIG[A-Z0-9]+$' | sort -u)
subset "signal the broker handles, without a SIGNALS entry in $p" "$sigs" "$documented"
subset "$p documents a signal the broker does not handle" "$documented" "$sigs"
check "dmbrokerd.8:signals"

notify=$(grep -ohE 'sdn_notifyf?\("[A-Z_]+=' "${daemon_src[@]}" | grep -oE '[A-Z_]+=$' | sort -u)
nonempty "sd_notify messages in daemon/*.c" "$notify"
documented=$(section "$p" SYSTEMD | tags | tr ' ,' '\n\n' | grep -oE '^[A-Z_]+=' | sort -u)
subset "sd_notify message without a SYSTEMD entry in $p" "$notify" "$documented"
subset "$p documents an sd_notify message the broker does not send" "$documented" "$notify"
check "dmbrokerd.8:sd_notify"

envs=$(grep -ohE '\b(getenv|for_us)\("[A-Z_]+"\)' common/sdnotify.c "${daemon_src[@]}" |
	sed -E 's/.*"([^"]+)".*/\1/' | sort -u)
nonempty "environment variables read by common/sdnotify.c and daemon/*.c" "$envs"
documented=$(section "$p" ENVIRONMENT | tags | tr ' ,' '\n\n' | grep -E '^[A-Z_]+$' | sort -u)
subset "environment variable the broker reads, without an ENVIRONMENT entry in $p" "$envs" "$documented"
check "dmbrokerd.8:environment"

codes=$(sed -n '/^int main(/,/^}/p' daemon/main.c | grep -oE 'return [^;]*;' | grep -oE '\b[0-9]+\b' | sort -u)
nonempty "exit codes in daemon/main.c's main()" "$codes"
documented=$(section "$p" "EXIT STATUS" | tags | tag_words)
subset "exit code of dmbrokerd without an EXIT STATUS entry" "$codes" "$documented"
subset "$p documents an exit code main() does not return" "$documented" "$codes"
check "dmbrokerd.8:exit_status"

# ---- dmbrokerctl.8 -----------------------------------------------------------

p=man/dmbrokerctl.8
text=$(plain <"$p")
src=cli/dmbrokerctl.c
opts=$(grep -oE 'strcmp\(argv\[[^]]+\], *"-[^"]*"\)' $src | sed -E 's/.*"(-[^"]*)"\)/\1/' | sort -u)
nonempty "options in $src" "$opts"
documented=$( (section "$p" OPTIONS; section "$p" COMMANDS) | tags | tag_words --dash)
subset "$src option not in an OPTIONS or COMMANDS entry of $p" "$opts" "$documented"
subset "$p documents an option $src does not have" "$documented" "$opts"
check "dmbrokerctl.8:options"

cmds=$(grep -oE 'strcmp\(cmd, *"[a-z][a-z0-9-]*"\)' $src | sed -E 's/.*"([^"]*)"\)/\1/' | sort -u)
subs=$(grep -oE 'strcmp\(argv\[[0-9]+\], *"[a-z][a-z0-9-]*"\)' $src | sed -E 's/.*"([^"]*)"\)/\1/' | sort -u)
nonempty "commands in $src" "$cmds"
# A command tag is its lower-case words, then its arguments: "policy check FILE".
cmd_tags=$(section "$p" COMMANDS | tags |
	awk '{ w = ""; for (i = 1; i <= NF && $i ~ /^[a-z][a-z0-9-]*$/; i++) w = w (i > 1 ? " " : "") $i; print w }')
first=$(awk '{ print $1 }' <<<"$cmd_tags" | sort -u)
second=$(awk 'NF > 1 { print $2 }' <<<"$cmd_tags" | sort -u)
subset "$src command without a COMMANDS entry in $p" "$cmds" "$first"
subset "$src subcommand without a COMMANDS entry in $p" "$subs" "$second"
subset "$p documents a command $src does not have" "$first" "$cmds"
subset "$p documents a subcommand $src does not have" "$second" "$subs"
check "dmbrokerctl.8:commands"

table=$(awk '/commands\[\] *= *\{/ { on = 1 } on { print } on && /\};/ { on = 0 }' daemon/control.c |
	grep -oE '\{ *"[a-z][a-z0-9-]*", *cmd_' | sed -E 's/^\{ *"([^"]+)".*/\1/' | sort -u)
nonempty "requests in daemon/control.c's dispatch table" "$table"
documented=$(section "$p" "CONTROL PROTOCOL" | tags | tag_words)
subset "daemon/control.c request without a CONTROL PROTOCOL entry in $p" "$table" "$documented"
subset "$p documents a request daemon/control.c does not serve" "$documented" "$table"
args=$(grep -oE '(json_object_object_get_ex\(req|get_str\(req), *"[a-z_]+"' daemon/control.c |
	sed -E 's/.*"([^"]+)"/\1/' | sort -u)
nonempty "request arguments read by daemon/control.c" "$args"
proto=$(section "$p" "CONTROL PROTOCOL" | plain | tr -c 'a-z_\n' '\n' | sort -u)
subset "request argument daemon/control.c reads, not in the CONTROL PROTOCOL of $p" "$args" "$proto"
# And the CLI asks only for what the daemon serves, and can ask for all of it.
sent=$(grep -oE '\brequest\("[a-z][a-z0-9-]*"\)' $src | sed -E 's/.*"([^"]*)"\)/\1/' | sort -u)
subset "$src sends a request daemon/control.c does not serve" "$sent" "$table"
subset "daemon/control.c serves a request no $src command sends" "$table" "$sent $cmds"
check "dmbrokerctl.8:control_protocol"

codes=$( (echo 0; grep -oE '^#define +EXIT_[A-Z_]+ +[0-9]+' $src | awk '{ print $3 }') | sort -u)
documented=$(section "$p" "EXIT STATUS" | tags | tag_words)
subset "exit code of $src without an EXIT STATUS entry in $p" "$codes" "$documented"
subset "$p documents an exit code $src does not use" "$documented" "$codes"
check "dmbrokerctl.8:exit_status"

for d in $(grep -hE '^#define +DEFAULT_[A-Z_]+ +"' $src | sed -E 's/.*"([^"]+)".*/\1/'); do
	grep -qF -- "$d" <<<"$text" || fail "$p does not mention the default $d"
done
envs=$(grep -oE 'getenv\("[A-Z_]+"\)' $src | sed -E 's/.*"([^"]+)".*/\1/' | sort -u)
nonempty "environment variables read by $src" "$envs"
documented=$(section "$p" ENVIRONMENT | tags | tag_words)
subset "environment variable $src reads, without an ENVIRONMENT entry in $p" "$envs" "$documented"
check "dmbrokerctl.8:defaults_and_environment"

# ---- dmbroker-policy.5 ---------------------------------------------------------

p=man/dmbroker-policy.5
src=daemon/policy.c
text=$(plain <"$p")
# Keys: the allowed-key tables that check_keys() gets, and every key looked up.
table_keys=$(awk '/(keys|claim_keys)\[[^]]*\] *= *\{/ { on = 1 } on { print } on && /\};/ { on = 0 }' $src |
	grep -oE '"[a-z_]+"' | tr -d '"' | sort -u)
looked_up=$( (grep -oE '(member|required)\((([^,()"]+|"")[, ]*)*"[a-z_]+"' $src
	grep -oE 'json_object_object_get_ex\([a-z_]+, *"[a-z_]+"' $src) | grep -oE '"[a-z_]+"$' | tr -d '"' | sort -u)
nonempty "allowed-key tables in $src" "$table_keys"
nonempty "key look-ups in $src" "$looked_up"
subset "$src looks up a key that no allowed-key table has (it would be refused as unknown)" \
	"$looked_up" "$table_keys"
keys=$(printf '%s\n%s\n' "$table_keys" "$looked_up" | sort -u)
key_entries=$(section "$p" KEYS | entries)
documented=$(cut -f1 <<<"$key_entries" | tag_words)
subset "$src key without an entry under KEYS in $p" "$keys" "$documented"
subset "$p documents a key $src does not accept" "$documented" "$keys"
check "dmbroker-policy.5:keys"

enums=$(grep -oE '\{ *"[a-z]+", *(POLICY|HVM)_[A-Z_]+ *\}' $src | sed -E 's/\{ *"([a-z]+)", *([A-Z_]+) *\}/\1 \2/')
nonempty "enumerated values (name_val tables) in $src" "$enums"
keytext=$(section "$p" KEYS | plain)
for v in $(awk '{ print $1 }' <<<"$enums"); do
	grep -qF "\"$v\"" <<<"$keytext" || fail "value \"$v\" of $src is not under KEYS in $p"
done
check "dmbroker-policy.5:values"

# "MIN to MAX" for every get_u32()/get_uint() range of a key.
defines=$(numeric_defines $src daemon/policy.h)
ranges=$(tr '\n' ' ' <$src | tr ';' '\n' | grep -E 'get_u(32|int)\(' |
	sed -nE 's/.*"([a-z_]+)".*get_u(32|int)\([^,]+,[^,]+,[^,]+, *([^,]+), *([^,]+),.*/\1 \3 \4/p')
nonempty "ranges (get_u32) in $src" "$ranges"
while read -r key lo hi; do
	lo=$(resolve "$lo" "$defines") hi=$(resolve "$hi" "$defines")
	[ -n "$lo" ] && [ -n "$hi" ] || continue # bounded by a type, not by a number
	awk -F'\t' -v k="$key" '{ split($1, w, " ") } w[1] == k { print $2 }' <<<"$key_entries" |
		grep -qF "$lo to $hi" || fail "$key: $src accepts $lo..$hi; its entry does not say \"$lo to $hi\""
done <<<"$ranges"
check "dmbroker-policy.5:ranges"

# "Default: X" for every built-in default that is a number, a boolean or an enumerated value.
defaults=$(awk '/builtin_defaults *= *\{/ { on = 1 } on { print } on && /^\};/ { on = 0 }' $src |
	sed -nE 's/^[[:space:]]*\.([a-z_]+) *= *([^{]*[^,{ ]),?$/\1 \2/p')
nonempty "built-in defaults in $src" "$defaults"
while read -r key val; do
	grep -qxF "$key" <<<"$keys" || continue
	case $val in
	true | false) want=$val ;;
	[0-9]*\ \*\ [KMG]IB) want="${val%% *}${val##* }" want=${want%IB} ;;
	*)
		want=$(resolve "$val" "$defines")
		if [ -z "$want" ]; then
			want=$(awk -v c="$val" '$2 == c { print "\"" $1 "\"" }' <<<"$enums")
		fi
		;;
	esac
	[ -n "$want" ] || continue
	awk -F'\t' -v k="$key" '{ split($1, w, " ") } w[1] == k { print $2 }' <<<"$key_entries" |
		grep -qF "Default: $want" || fail "$key: built-in default $val; its entry does not say \"Default: $want\""
done <<<"$defaults"
lo=$(sed -nE 's/.*pci_hole_start = ([A-Z_]+);.*/\1/p' $src) hi=$(sed -nE 's/.*pci_hole_end = ([A-Z_]+);.*/\1/p' $src)
lo=$(awk -v n="$lo" '$1 == n { print tolower($2) }' <<<"$defines") hi=$(awk -v n="$hi" '$1 == n { print tolower($2) }' <<<"$defines")
if [ -n "$lo" ] && [ -n "$hi" ]; then
	awk -F'\t' '{ split($1, w, " ") } w[1] == "pci_hole" { print $2 }' <<<"$key_entries" |
		grep -qF "Default: \"$lo-$hi\"" || fail "pci_hole: built-in default $lo-$hi; its entry does not say \"Default: \\\"$lo-$hi\\\"\""
fi
check "dmbroker-policy.5:defaults"

# The examples: each .EX block that is a JSON object is a valid policy; together they use every key.
section "$p" EXAMPLE | ex_blocks policy >"$tmp/policy.list"
examples=()
while read -r f; do [ "$(head -c1 "$f")" = "{" ] && examples+=("$f"); done <"$tmp/policy.list"
[ ${#examples[@]} -gt 0 ] || fail "no JSON policy in an .EX block under EXAMPLE in $p"
used=$(cat "${examples[@]}" /dev/null | grep -oE '"[a-z_]+" *:' | grep -oE '[a-z_]+' | sort -u)
subset "$p's example does not use the key" "$keys" "$used"
ctl=$build/bin/dmbrokerctl
if [ -x "$ctl" ]; then
	for f in "${examples[@]}"; do
		# Parsing must pass; the exec paths (/usr/libexec/dm-broker/...) need not be installed here.
		out=$("$ctl" policy check "$f" 2>&1 >/dev/null) && continue
		bad=$(grep -vE '\.exec: /[^ ]+: No such file or directory$' <<<"$out")
		[ -z "$bad" ] || fail "example $(basename "$f") of $p: $bad"
	done
	check "dmbroker-policy.5:example_is_valid"
else
	skip "dmbroker-policy.5:example_is_valid" "no $ctl (run make first)"
fi

# ---- libdmb.3 ------------------------------------------------------------------

p=man/libdmb.3
hdr=$(strip_comments <dm/dmb.h | sed -E 's/^[[:space:]]*#[[:space:]]*/#/')
# Declarations: #defines with a value, and the rest split at ; { } (an enum's body at commas).
decls=$( (grep -E '^#define +[A-Za-z_0-9]+ +[^ ]' <<<"$hdr"
	grep -vE '^#' <<<"$hdr" | tr '\n' ' ' | tr ';{}' '\n\n\n' |
		awk '/=/ && /,/ && !/\(/ { n = split($0, a, ","); for (i = 1; i <= n; i++) print a[i]; next } { print }') |
	sed -E 's/^[[:space:]]+//; s/[[:space:]]+$//' | grep -v '^$')
nonempty "declarations in dm/dmb.h" "$decls"
synopsis=$(section "$p" SYNOPSIS | plain | nospace)
while IFS= read -r d; do
	grep -qF -- "$(nospace <<<"$d")" <<<"$synopsis" || fail "dm/dmb.h declares '$d'; the SYNOPSIS of $p does not"
done <<<"$decls"
check "libdmb.3:synopsis_matches_dmb.h"

funcs=$(grep -vE '^#' <<<"$hdr" | grep -oE '\bdmb_[a-z0-9_]+ *\(' | tr -d ' (' | sort -u)
nonempty "functions in dm/dmb.h" "$funcs"
documented=$(section "$p" FUNCTIONS | tags | tr -d '()' | tag_words)
subset "dm/dmb.h function without an entry under FUNCTIONS in $p" "$funcs" "$documented"
subset "$p documents a function dm/dmb.h does not declare" "$documented" "$funcs"
check "libdmb.3:functions"

struct_members() { # NAME: the members of struct NAME in dm/dmb.h
	grep -vE '^#' <<<"$hdr" | tr '\n' ' ' | sed -nE "s/.*struct $1 \{([^}]*)\}.*/\1/p" | tr ';' '\n' |
		sed -E 's/\(\*([a-z_0-9]+)\).*/ \1/' | awk 'NF { print $NF }' | tr -d '*'
}
callbacks=$(struct_members dmb_ops) fields=$(struct_members dmb_config)
nonempty "callbacks of struct dmb_ops" "$callbacks"
nonempty "fields of struct dmb_config" "$fields"
documented=$(section "$p" DESCRIPTION | tags | tag_words)
subset "struct dmb_ops callback without an entry under DESCRIPTION in $p" "$callbacks" "$documented"
subset "struct dmb_config field without an entry under DESCRIPTION in $p" "$fields" "$documented"
check "libdmb.3:callbacks_and_config"

# The example compiles against dm/dmb.h (installed as <dmb/dmb.h>) and, given a build, links
# with libdmb: the public archive of `make install` ($BUILD/lib/libdmb.a) or else the internal ones.
section "$p" EXAMPLES | ex_blocks libdmb >"$tmp/libdmb.list"
example=$(head -n1 "$tmp/libdmb.list")
if [ -z "$example" ] || ! grep -q 'dmb_run' "$example"; then
	fail "no program calling dmb_run() in the first .EX block under EXAMPLES in $p"
else
	mv "$example" "$tmp/example.c"
	mkdir -p "$tmp/include/dmb" && cp dm/dmb.h "$tmp/include/dmb/"
	libs=()
	if [ -f "$build/lib/libdmb.a" ]; then
		libs=("$build/lib/libdmb.a")
	elif [ -f "$build/obj/libdmb.a" ] && [ -f "$build/obj/libipc.a" ] && [ -f "$build/obj/libcommon.a" ]; then
		libs=("$build/obj/libdmb.a" "$build/obj/libipc.a" "$build/obj/libcommon.a")
	fi
	if ! out=$("$CC" -std=c11 -Wall -Wextra -Werror -I"$tmp/include" -c -o "$tmp/example.o" \
		"$tmp/example.c" 2>&1); then
		fail "the example of $p does not compile:"$'\n'"$out"
	elif [ ${#libs[@]} -gt 0 ]; then
		out=$("$CC" -o "$tmp/example" "$tmp/example.o" "${libs[@]}" \
			$(pkg-config --libs libseccomp 2>/dev/null) 2>&1) ||
			fail "the example of $p does not link with ${libs[*]}: $out"
	fi
	grep -qF 'pkg-config --cflags --libs dmb' <<<"$(plain <"$p")" ||
		fail "$p does not say how to build: pkg-config --cflags --libs dmb"
fi
check "libdmb.3:example_compiles"

echo "1..$n"
[ "$failed" -eq 0 ]
