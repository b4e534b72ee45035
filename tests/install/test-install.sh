#!/bin/bash
# SPDX-License-Identifier: MIT
# make install / make uninstall, as a packager and a third party use them:
#
#  - make install DESTDIR=<tmp> PREFIX=/usr installs exactly the expected files;
#  - a device model written out of tree compiles and links against the
#    installed <dmb/dmb.h> and dmb.pc alone (PKG_CONFIG_SYSROOT_DIR into DESTDIR);
#  - the same with the default PREFIX=/usr/local: paths in the unit and the
#    broker's compiled-in device-model directory follow PREFIX;
#  - make uninstall leaves no file behind (a changed policy.json excepted).
#
#   tests/install/test-install.sh [--build DIR] [--counts FILE]
#
# Prints "ok N - install: ..." / "not ok N - install: ..." and a summary line;
# --counts appends "passed failed" to FILE (tests/run-all.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=build counts=""
while [ $# -gt 0 ]; do
	case $1 in
	--build) build=$2; shift 2 ;;
	--counts) counts=$2; shift 2 ;;
	*) echo "test-install.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
tmp=$(mktemp -d /tmp/dmb-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
n=0 passed=0 failed=0
ok() { n=$((n + 1)); passed=$((passed + 1)); echo "ok $n - install: $1"; }
not_ok() {
	n=$((n + 1)); failed=$((failed + 1))
	echo "not ok $n - install: $1"
	[ -n "${2:-}" ] && sed 's/^/    /' <<< "$2" | head -n 40
	return 0
}
# check NAME COMMAND...: one TAP line from a command's status; its output if it fails
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then ok "$name"; else not_ok "$name" "$out"; fi
}
mk() { make -s --no-print-directory BUILD="$build" "$@"; }

# What `make install PREFIX=/usr` must install, from the tree itself.
expected_usr() {
	echo /usr/sbin/dmbrokerd
	printf '/usr/bin/%s\n' dmbrokerctl dmbsimd dmbsimctl
	for f in devices/main-*.c; do f=${f#devices/main-}; echo "/usr/libexec/dm-broker/dm-${f%.c}"; done
	echo /usr/lib/libdmb.a
	echo /usr/lib/pkgconfig/dmb.pc
	echo /usr/include/dmb/dmb.h
	for f in policy/examples/*.json; do echo "/usr/share/dm-broker/policies/${f##*/}"; done
	for f in systemd/*.service systemd/*.socket systemd/*.target; do
		[ -f "$f" ] && echo "/lib/systemd/system/${f##*/}"
	done
	echo /etc/dm-broker/policy.json
	for f in man/*.[1-8]; do [ -f "$f" ] && echo "/usr/share/man/man${f##*.}/${f##*/}"; done
	return 0
}
files_in() { (cd "$1" && find . \( -type f -o -type l \) | sed 's|^\.||' | LC_ALL=C sort); }

# ---- PREFIX=/usr, as debian/rules installs ------------------------------------
D=$tmp/usr-root
check "make install DESTDIR=... PREFIX=/usr" mk install DESTDIR="$D" PREFIX=/usr
want=$(expected_usr | LC_ALL=C sort)
got=$(files_in "$D")
if [ "$want" = "$got" ]; then
	ok "PREFIX=/usr: the $(wc -l <<< "$got") expected files"
else
	not_ok "PREFIX=/usr: the expected files" "$(diff <(echo "$want") <(echo "$got") | grep '^[<>]' |
		sed 's/^</missing:/; s/^>/unexpected:/')"
fi
bad=""
for f in /usr/sbin/dmbrokerd /usr/bin/dmbrokerctl /usr/bin/dmbsimd /usr/bin/dmbsimctl \
	/usr/libexec/dm-broker/dm-uart; do
	[ "$(stat -c %a "$D$f" 2> /dev/null)" = 755 ] || bad="$bad $f"
done
for f in /usr/include/dmb/dmb.h /usr/lib/libdmb.a /etc/dm-broker/policy.json \
	/lib/systemd/system/dmbrokerd.service; do
	[ "$(stat -c %a "$D$f" 2> /dev/null)" = 644 ] || bad="$bad $f"
done
if [ -z "$bad" ]; then ok "modes 0755 (programs) and 0644 (data)"; else not_ok "modes" "wrong:$bad"; fi
check "the unit runs /usr/sbin/dmbrokerd" grep -q '^ExecStart=/usr/sbin/dmbrokerd ' \
	"$D/lib/systemd/system/dmbrokerd.service"
check "the installed dmbrokerd runs device models from /usr/libexec/dm-broker" \
	grep -q '(default /usr/libexec/dm-broker)' <("$D/usr/sbin/dmbrokerd" --help)
# The execs are only installed in DESTDIR: --libexec-dir says where.
# vga-buffered.json names a dm-vga nobody ships (docs/policy.md: an illustration).
check "the installed policy and the examples pass the installed dmbrokerctl's policy check" \
	bash -c 'for f in "$1"/etc/dm-broker/policy.json "$1"/usr/share/dm-broker/policies/*.json; do
		[ "${f##*/}" = vga-buffered.json ] && continue
		"$1"/usr/bin/dmbrokerctl policy check "$f" --libexec-dir "$1"/usr/libexec/dm-broker > /dev/null || exit 1
	done' - "$D"

# ---- the public header and the library -----------------------------------------
inc=$(grep -n '#include' "$D/usr/include/dmb/dmb.h" | grep -v '<std[a-z]*\.h>' || true)
if [ -z "$inc" ]; then ok "dmb.h includes only standard headers"; else not_ok "dmb.h includes" "$inc"; fi
printf '#include <dmb/dmb.h>\n' > "$tmp/hdr.c"
check "dmb.h compiles alone (C99, -pedantic)" cc -std=c99 -pedantic -Wall -Wextra -Werror \
	-I"$D/usr/include" -fsyntax-only "$tmp/hdr.c"
syms=$(nm -g --defined-only "$D/usr/lib/libdmb.a" | awk 'NF == 3 && $3 !~ /^dmb_/ { print $3 }')
if [ -z "$syms" ]; then
	ok "libdmb.a defines only dmb_* global symbols"
else
	not_ok "libdmb.a global symbols outside dmb_*" "$syms"
fi

# A device model as a third party would write it: a port that reads 0x42.
cat > "$tmp/my-dm.c" << 'C'
#include <dmb/dmb.h>
#include <stdio.h>

static uint64_t rd(void *o, uint16_t port, unsigned size)
{
	(void)o; (void)port; (void)size;
	return 0x42;
}

static void wr(void *o, uint16_t port, unsigned size, uint64_t v)
{
	(void)o; (void)port; (void)size; (void)v;
}

static const struct dmb_ops ops = { .pio_read = rd, .pio_write = wr };

int main(void)
{
	struct dmb_config cfg = { .ops = &ops, .fd = DMB_FD_DEFAULT, .poll_us = -1 };
	struct dmb *d;
	uint32_t sbdf = 0;
	int r;

	if (dmb_parse_bdf("00:03.0", &sbdf) < 0 || sbdf != 0x18)
		return 3;
	if (dmb_open(&cfg, &d) < 0) {
		fprintf(stderr, "my-dm: no broker\n");
		return 1;
	}
	r = dmb_run(d);
	dmb_close(d);
	return r < 0;
}
C
export PKG_CONFIG_PATH=$D/usr/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$D
pc=$(pkg-config --cflags --libs dmb 2>&1) || true
case " $pc " in
*" -ldmb "*"-lseccomp"*) ok "pkg-config --cflags --libs dmb: $pc" ;;
*) not_ok "pkg-config --cflags --libs dmb" "$pc" ;;
esac
# shellcheck disable=SC2086 # pkg-config's output is a list of words
check "an out-of-tree device model builds with cc my-dm.c \$(pkg-config --cflags --libs dmb)" \
	cc -std=c11 -Wall -Wextra -Werror -o "$tmp/my-dm" "$tmp/my-dm.c" $pc
unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
# Without a broker on fd 3, dmb_open() must refuse, not crash.
rc=0
"$tmp/my-dm" 3< /dev/null > "$tmp/my-dm.out" 2>&1 || rc=$?
if [ "$rc" = 1 ] && grep -q 'my-dm: no broker' "$tmp/my-dm.out"; then
	ok "it runs: dmb_parse_bdf() works, dmb_open() without a broker fails cleanly"
else
	not_ok "running my-dm without a broker: exit $rc" "$(cat "$tmp/my-dm.out")"
fi

check "make uninstall DESTDIR=... PREFIX=/usr" mk uninstall DESTDIR="$D" PREFIX=/usr
left=$(files_in "$D")
ours=$(cd "$D" && ls -d usr/libexec/dm-broker usr/include/dmb usr/share/dm-broker etc/dm-broker 2> /dev/null || true)
if [ -z "$left$ours" ]; then
	ok "uninstall left no file and none of our directories"
else
	not_ok "uninstall left" "$left $ours"
fi

# ---- the default PREFIX=/usr/local ---------------------------------------------
L=$tmp/local-root
check "make install DESTDIR=... (PREFIX=/usr/local)" mk install DESTDIR="$L"
check "the unit runs /usr/local/sbin/dmbrokerd, from /usr/local/lib/systemd/system" \
	grep -q '^ExecStart=/usr/local/sbin/dmbrokerd ' "$L/usr/local/lib/systemd/system/dmbrokerd.service"
check "it runs device models from /usr/local/libexec/dm-broker" \
	grep -q '(default /usr/local/libexec/dm-broker)' <("$L/usr/local/sbin/dmbrokerd" --help)
check "dmb.pc points into /usr/local" grep -qx 'libdir=/usr/local/lib' "$L/usr/local/lib/pkgconfig/dmb.pc"
# dmbrokerctl checks a policy's execs where this dmbrokerd would run them from.
out=$("$L/usr/local/bin/dmbrokerctl" policy check "$L/etc/dm-broker/policy.json" 2>&1) || true
if grep -q '\.exec: /usr/local/libexec/dm-broker/dm-uart: No such file' <<< "$out" &&
	! grep -q ': /usr/libexec/' <<< "$out"; then
	ok "its dmbrokerctl looks for the policy's device models in /usr/local/libexec/dm-broker"
else
	not_ok "the /usr/local dmbrokerctl's policy check" "$out"
fi
check "and finds them there with --libexec-dir" "$L/usr/local/bin/dmbrokerctl" policy check \
	"$L/etc/dm-broker/policy.json" --libexec-dir "$L/usr/local/libexec/dm-broker"
# An administrator's policy survives uninstall; a second install does not replace it.
echo '{}' > "$L/etc/dm-broker/policy.json"
mk install DESTDIR="$L" > /dev/null
check "install keeps an existing /etc/dm-broker/policy.json" grep -qx '{}' "$L/etc/dm-broker/policy.json"
mk uninstall DESTDIR="$L" > /dev/null || true
left=$(files_in "$L")
if [ "$left" = /etc/dm-broker/policy.json ]; then
	ok "uninstall (PREFIX=/usr/local) removed all but the changed policy.json"
else
	not_ok "uninstall (PREFIX=/usr/local) left" "$left"
fi

echo "install: $passed passed, $failed failed"
[ -n "$counts" ] && echo "$passed $failed" >> "$counts"
[ "$failed" -eq 0 ]
