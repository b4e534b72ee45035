#!/bin/sh
# SPDX-License-Identifier: MIT
# dom0's /init for the real-Xen tests (make check-xen; tests/xen/run.sh boots it).
#
# Brings up Xen's toolstack and dmbrokerd, runs test guests (the project's
# PVH guest kernel with compiled-in scenarios, tests/xen/guest), and prints
# one machine-readable line per check:
#
#   @@RESULT <name> PASS|FAIL [detail]
#
# run.sh turns them into TAP; a check it expects but never sees counts as
# failed.  Each test is a small function below; the plan at the end calls
# them.  The guests report on Xen's debug port 0xe9: those lines reach dom0
# through the hypervisor's console ring, which a collector drains into
# /tmp/xen.log (xl dmesg -c), where guest_lines() finds them.
export PATH=/usr/sbin:/usr/bin:/usr/lib/xen-4.17/bin
umask 022

# ---- stage 1: leave the initramfs.  The kernel's rootfs cannot be
# pivot_root()ed away from (EINVAL), and the broker's sandbox pivot_roots
# every device model; so copy ourselves into a tmpfs and switch_root there.
if [ "$1" != stage2 ]; then
	if ! mount -t tmpfs -o mode=0755 root /newroot; then
		echo "@@RESULT dom0/switch-root FAIL cannot mount a tmpfs"
		poweroff -f
	fi
	for e in /*; do
		case $e in /proc | /sys | /dev | /newroot) continue ;; esac
		cp -a "$e" /newroot/
	done
	mkdir -p /newroot/proc /newroot/sys /newroot/dev
	exec switch_root /newroot /init stage2
	echo "@@RESULT dom0/switch-root FAIL switch_root failed"
	poweroff -f
fi

# Modes, from dom0's kernel command line (run.sh DOM0_EXTRA: the kernel hands
# name=value words it does not know to /init as environment variables):
#   xbench_rounds=N  rounds of the broker/direct benchmark (default 1)
#   xbench_only=1    the benchmark alone (bench/xen.sh)
case ${xbench_rounds:-} in '' | *[!0-9]* | 0) BENCH_ROUNDS=1 ;; *) BENCH_ROUNDS=$xbench_rounds ;; esac
BENCH_ONLY=${xbench_only:-0}

up() { cut -d' ' -f1 /proc/uptime; }
say() { echo "@@ [$(up)] $*"; }
result() { echo "@@RESULT $1 $2${3:+ $3}"; }
pass() { result "$1" PASS "$2"; }
fail() { result "$1" FAIL "$2"; }
indent() { sed "s/^/$1/"; }

# Every check the plan must report, declared next to the function that
# reports it; printed first as "@@PLAN ..." so that run.sh knows what is missing.
PLAN="dom0/switch-root dom0/cgroup2 dom0/toolstack"

# ---- dom0 itself ---------------------------------------------------------

setup_dom0() {
	mount -t proc proc /proc
	mount -t sysfs sysfs /sys
	mount -t devtmpfs devtmpfs /dev
	mkdir -p /dev/pts /dev/shm
	mount -t devpts devpts /dev/pts
	mount -t tmpfs tmpfs /run
	mount -t tmpfs tmpfs /tmp
	mkdir -p /run/xen /run/xenstored /run/dmbroker /var/lib/xen /var/lib/xenstored \
		/var/log/xen /var/lib/dm-broker
	say "dom0 /init stage 2"
	pass dom0/switch-root "root is $(stat -f -c %T /)"
	say "dom0 up: $(uname -r), $(grep -c ^processor /proc/cpuinfo) vCPU," \
		"$(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo)"
}

# cgroup v2 with memory and pids for the children of the root, so that the
# broker's cgroup (a child) can delegate them to its device models.
setup_cgroups() {
	mkdir -p /sys/fs/cgroup
	if mount -t cgroup2 cgroup2 /sys/fs/cgroup &&
		echo "+memory +pids" > /sys/fs/cgroup/cgroup.subtree_control &&
		mkdir -p /sys/fs/cgroup/dmbroker; then
		pass dom0/cgroup2 "$(cat /sys/fs/cgroup/cgroup.subtree_control)"
	else
		fail dom0/cgroup2 "cannot mount cgroup2 or enable memory and pids"
	fi
}

setup_toolstack() {
	err=""
	for m in xen-privcmd xenfs xen-evtchn xen-gntdev xen-gntalloc; do
		modprobe "$m" || err="$err modprobe:$m"
	done
	mount -t xenfs xenfs /proc/xen || err="$err xenfs"
	xenstored --pid-file /run/xenstored.pid || err="$err xenstored"
	xen-init-dom0 || err="$err xen-init-dom0"
	xenconsoled --pid-file=/run/xenconsoled.pid || err="$err xenconsoled"
	if [ -z "$err" ] && xl info > /tmp/xl-info 2>&1; then
		pass dom0/toolstack "$(awk '/^xen_version/ {print "xen " $3}' /tmp/xl-info)"
		grep -E '^(xen_version|xen_caps|nr_cpus|free_memory|xen_commandline)' /tmp/xl-info |
			indent "@@ xl info: "
	else
		fail dom0/toolstack "failed:$err"
		cat /tmp/xl-info 2> /dev/null
	fi
	# Guests print through Xen's console ring; drain it into a file as it fills.
	(while :; do
		xl dmesg -c >> /tmp/xen.log 2> /dev/null
		sleep 0.5
	done) &
	COLLECTOR=$!
}

# ---- guests ----------------------------------------------------------------

# The lines guest DOMID wrote to port 0xe9, without Xen's "(dN) " prefix.
guest_lines() {
	sed -nE "s/.*\(d$1\) (\[ *[0-9.]+\] )?//p" /tmp/xen.log
}

# xl config for a test guest: NAME IMAGE VCPUS.  Shut-down guests are kept
# (preserve) so that the broker's view can be checked before xl destroy.
mkcfg() {
	cat > "/tmp/$1.cfg" << EOF
name = "$1"
type = "pvh"
kernel = "/test/$2"
memory = 16
vcpus = $3
on_poweroff = "preserve"
on_reboot = "preserve"
on_crash = "preserve"
EOF
}

# create NAME IMAGE VCPUS: xl create -p; sets DOMID.  The broker attaches
# the device models from xenstore's @introduceDomain and unpauses the guest.
create() {
	DOMID=""
	mkcfg "$@"
	t0=$(up)
	if ! xl create -p "/tmp/$1.cfg" > "/tmp/$1.create" 2>&1; then
		indent "@@ xl create $1: " < "/tmp/$1.create"
		fail "$1/create" "xl create -p failed"
		return 1
	fi
	DOMID=$(xl domid "$1")
	echo "@@DOMAIN $1 $DOMID"
	say "created $1 ($2, $3 vCPUs) as dom$DOMID in $(awk "BEGIN {print $(up) - $t0}") s"
}

# xl's state letters (r b p s c d) of NAME, or "gone".
state() {
	xl list "$1" 2> /dev/null | awk 'NR == 2 { print $5; f = 1 } END { if (!f) print "gone" }'
}

# wait_unpaused NAME SECONDS: until the broker has let the guest run.
# Polling is slow on purpose here and below: dom0's one vCPU also runs the
# device models, and every process dom0 starts delays their answers.
wait_unpaused() {
	i=0
	while [ $i -lt $(($2 * 4)) ]; do
		case $(state "$1") in
		*p*) ;;
		gone) return 1 ;;
		*) return 0 ;;
		esac
		sleep 0.25
		i=$((i + 1))
	done
	return 1
}

# has_line DOMID REGEX: the guest printed a line matching REGEX (after Xen's prefix).
has_line() {
	grep -qE "\(d$1\) (\[ *[0-9.]+\] )?$2" /tmp/xen.log
}

# wait_done NAME DOMID SECONDS: until the guest printed GUEST-DONE.
# 0: done; 1: timeout; 2: the domain stopped (crashed, shut down) without
# it; 3: the domain is paused (nobody unpaused it: it cannot get anywhere).
wait_done() {
	i=0 stopped=0
	while [ $i -lt $(($3 * 2)) ]; do
		has_line "$2" 'GUEST-DONE ' && return 0
		if [ $((i % 4)) = 3 ]; then
			case $(state "$1") in
			*c* | *s* | gone) stopped=$((stopped + 1)) ;; # give the collector a moment
			*p*) return 3 ;;
			esac
			[ $stopped -ge 2 ] && return 2
		fi
		sleep 0.5
		i=$((i + 1))
	done
	return 1
}

# finish_guest NAME DOMID SECONDS: wait_done, with a result line NAME/guest-done.
finish_guest() {
	wait_done "$1" "$2" "$3"
	case $? in
	0) pass "$1/guest-done" "$(guest_lines "$2" | grep '^GUEST-DONE ')" ;;
	1) fail "$1/guest-done" "no GUEST-DONE within $3 s (state $(state "$1"))" ;;
	2) fail "$1/guest-done" "the domain stopped without GUEST-DONE (state $(state "$1"))" ;;
	3) fail "$1/guest-done" "the domain is still paused" ;;
	esac
	guest_lines "$2" | grep -E '^(GUEST-ERROR|GUEST-EXCEPTION)' | indent "@@ $1: "
}

# expect_scenarios NAME DOMID SCENARIO...: one result per scenario, from its SCN-DONE line.
expect_scenarios() {
	n=$1 d=$2
	shift 2
	for s in "$@"; do
		line=$(guest_lines "$d" | grep "^SCN-DONE $s ")
		case $line in
		"") fail "$n/$s" "no SCN-DONE (the guest did not finish it)" ;;
		*" failed=0") pass "$n/$s" "${line#SCN-DONE $s }" ;;
		*) fail "$n/$s" "${line#SCN-DONE $s }" ;;
		esac
	done
}

destroy() {
	for g in "$@"; do
		xl destroy "$g" 2> /dev/null
	done
}

# ---- the broker ------------------------------------------------------------

BROKER=""
broker_up() { [ -n "$BROKER" ] && kill -0 "$BROKER" 2> /dev/null; }

# dms DOMID: dmbrokerctl's table, without the header (DOM DM STATE PID UID SRV RST ...)
dms() {
	dmbrokerctl dms "$1" 2> /dev/null | awk 'NR > 1'
}

# start_broker CHECK CGROUP-PROCS [OPTION...]: dmbrokerd in the background,
# started in the cgroup whose cgroup.procs file is given, with the options
# given; CHECK reports whether it came up.  Its log is appended to
# /tmp/broker.log with dom0's uptime on each line, to compare with the guests'.
start_broker() {
	check=$1 procs=$2 old=$BROKER
	shift 2
	rm -f /run/dmbroker/control.sock # a killed predecessor's
	sh -c 'echo $$ > "$0"; exec dmbrokerd --hypervisor xen \
		--policy /etc/dm-broker/policy.json --control /run/dmbroker/control.sock \
		--state-dir /var/lib/dm-broker "$@" 2>&1' "$procs" "$@" |
		awk '{ getline t < "/proc/uptime"; close("/proc/uptime"); split(t, u, " ")
		       print "[" u[1] "] " $0; fflush() }' >> /tmp/broker.log &
	i=0
	while [ $i -lt 50 ] && [ ! -S /run/dmbroker/control.sock ]; do
		sleep 0.2
		i=$((i + 1))
	done
	BROKER=""
	for p in $(pidof dmbrokerd); do # not a killed predecessor nobody has reaped yet
		[ "$p" != "$old" ] && alive "$p" && BROKER=$p
	done
	if broker_up && [ -S /run/dmbroker/control.sock ]; then
		pass "$check" "pid $BROKER"
		dmbrokerctl status | indent "@@ broker status: "
	else
		fail "$check" "dmbrokerd did not come up: $(tail -n 3 /tmp/broker.log | tr '\n' ' ')"
		BROKER=""
	fi
}

# The first broker, in a child cgroup of its own, which it splits into a
# supervisor leaf (itself) and the device models' leaves (cgroup.h).
PLAN="$PLAN broker/start"
start_first_broker() {
	start_broker broker/start /sys/fs/cgroup/dmbroker/cgroup.procs
}

# Every device model of DOMID in a cgroup leaf with the policy's limits
# (defaults: memory_max 64M, pids_max 16).
check_dm_cgroups() {
	n=$1 d=$2 bad="" cnt=0
	for pid in $(dms "$d" | awk '{print $4}'); do
		cg=$(sed -n 's/^0:://p' "/proc/$pid/cgroup" 2> /dev/null)
		mem=$(cat "/sys/fs/cgroup$cg/memory.max" 2> /dev/null)
		pids=$(cat "/sys/fs/cgroup$cg/pids.max" 2> /dev/null)
		say "$n: DM pid $pid in cgroup $cg: memory.max=$mem pids.max=$pids"
		case $cg in */dm-broker-dms/*) ;; *) bad="$bad $pid:cgroup=$cg" ;; esac
		[ "$mem" = 67108864 ] || bad="$bad $pid:memory.max=$mem"
		[ "$pids" = 16 ] || bad="$bad $pid:pids.max=$pids"
		cnt=$((cnt + 1))
	done
	if [ $cnt -gt 0 ] && [ -z "$bad" ]; then
		pass "$n/dm-cgroups" "$cnt device models in dm-broker-dms leaves, 64M, 16 pids"
	else
		fail "$n/dm-cgroups" "${bad:-no device models}"
	fi
}

# check_requests NAME DOMID SCENARIO: each device model of DOMID served
# exactly the requests the scenario's ops should have sent it, worked out
# from the ops and the claims in `dmbrokerctl dms`: one ioreq per op (an
# 8-byte MMIO op is ONE 8-byte ioreq), a config op is the 0xcf8 write plus
# one config-space request (and 0xcfc-0xcff with the 0xcf8 enable bit set
# are config requests too, as Xen routes them).  Run once per guest, on a
# fresh device model.
check_requests() {
	n=$1 d=$2 f=/test/scenarios/$3.scn
	sleep 1.5 # device models report their counters every second
	dms "$d" > "/tmp/$n.dms"
	out=$(awk '
	function num(s,   v, i) {
		if (s !~ /^0[xX]/) return s + 0
		s = tolower(substr(s, 3)); v = 0
		for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
		return v
	}
	function bdf(s,   a, k) {
		k = split(s, a, /[:.]/)
		if (k == 4) { a[1] = a[2]; a[2] = a[3]; a[3] = a[4] }
		return sprintf("%02x:%02x.%x", num("0x" a[1]), num("0x" a[2]), num("0x" a[3]))
	}
	function hit(type, lo, hi, what,   i) {
		for (i = 1; i <= nr; i++)
			if (rtype[i] == type && lo >= rlo[i] && hi <= rhi[i]) { want[rdm[i], what]++; return }
	}
	function pcihit(b,   i) {
		for (i = 1; i <= nr; i++)
			if (rtype[i] == "pci" && rbdf[i] == b) { want[rdm[i], "pci"]++; return }
	}
	FILENAME == ARGV[1] {	# the dms table: DOM DM STATE PID UID SRV RST PIO MMIO PCI CLAIMS...
		nd++; dm[nd] = $2; got[nd, "pio"] = $8; got[nd, "mmio"] = $9; got[nd, "pci"] = $10
		for (i = 11; i < NF; i += 2) {
			v = $(i + 1); sub(/,$/, "", v); nr++; rtype[nr] = $i; rdm[nr] = nd
			if ($i == "pci") { rbdf[nr] = bdf(v); continue }
			k = split(v, a, "-"); rlo[nr] = num(a[1]); rhi[nr] = k > 1 ? num(a[2]) : rlo[nr]
		}
		next
	}
	{ sub(/#.*/, "") }
	NF == 0 || $1 == "vcpu" || $1 == "msi" || $1 == "barrier" { next }
	{
		op = $1; sz = op; gsub(/[a-z]/, "", sz); sz = sz / 8
		if (op ~ /^(in|out)[0-9]/) {
			p = num($2)
			if (p >= 3324 && p <= 3327 && latch >= 2147483648)	# 0xcfc-0xcff, enabled
				pcihit(sprintf("%02x:%02x.%x", int(latch / 65536) % 256, int(latch / 2048) % 32, int(latch / 256) % 8))
			else
				hit("ports", p, p + sz - 1, "pio")
			if (p == 3320 && sz == 4 && op ~ /^out/) latch = num($3)	# 0xcf8
		} else if (op ~ /^(read|write)[0-9]/) {
			hit("mmio", num($2), num($2) + sz - 1, "mmio")
		} else if (op ~ /^cfg/) {
			hit("ports", 3320, 3323, "pio"); latch = 2147483648; pcihit(bdf($2))
		}
	}
	END {
		if (!nd) { print "no device models"; bad = 1 }
		for (i = 1; i <= nd; i++) {
			line = dm[i]
			for (k = 1; k <= 3; k++) {
				w = k == 1 ? "pio" : k == 2 ? "mmio" : "pci"
				line = line " " w "=" got[i, w] "/" (want[i, w] + 0)
				if (got[i, w] != want[i, w] + 0) bad = 1
			}
			print line
		}
		print bad ? "MISMATCH" : "MATCH"
	}' "/tmp/$n.dms" "$f")
	detail=$(echo "$out" | grep -v MATCH | tr '\n' ' ')
	case $out in
	*MISMATCH) fail "$n/requests" "got/expected per device model: $detail" ;;
	*MATCH) pass "$n/requests" "one request per op: $detail" ;;
	*) fail "$n/requests" "could not count: $out" ;;
	esac
}

# check_dms NAME DOMID COUNT: the broker runs COUNT device models for DOMID.
check_dms() {
	got=$(dms "$2" | awk '$3 == "running"' | wc -l)
	if [ "$got" = "$3" ]; then
		pass "$1/attach" "$got device models running"
	else
		fail "$1/attach" "$got of $3 device models running: $(dms "$2" | awk '{printf "%s:%s ", $2, $3}')"
	fi
}

# ---- tests -----------------------------------------------------------------

# The harness alone: a guest no policy entry matches, so no device model and
# no unpause by the broker.  Every access is unclaimed: reads return all ones,
# so all.scn fails in a known way; what must hold is that the guest runs,
# reports every op and halts, and that each failed read got all ones.
PLAN="$PLAN xnodm-1/guest-done xnodm-1/unclaimed-ones"
test_no_dm() {
	create xnodm-1 guest-all.elf 2 || return
	xl unpause xnodm-1
	finish_guest xnodm-1 "$DOMID" 60
	bad=$(guest_lines "$DOMID" | awk '
		$1 == "SCN" && $6 == "FAIL" {
			k = $5; got = substr($7, 5)
			if (k == "msi") { if (got != "0x0") print $3 ":" k ":" got; next }
			sz = k; sub(/^[a-z]+/, "", sz)
			ones = substr("0xffffffffffffffff", 1, 2 + sz / 4)
			if (got != ones) print $3 ":" k ":" got
		}' | tr '\n' ' ')
	nfail=$(guest_lines "$DOMID" | grep -c '^SCN .* FAIL ')
	if [ -z "$bad" ] && [ "$nfail" -gt 0 ]; then
		pass xnodm-1/unclaimed-ones "$nfail ops failed, each read got all ones"
	else
		fail xnodm-1/unclaimed-ones "$nfail failed ops; reads that did not get all ones: ${bad:-none}"
	fi
	destroy xnodm-1
}

# (a)-(c): all.scn on a guest with three device models (2 vCPUs, unclaimed
# I/O included) and, at the same time, uart.scn on a second guest with a
# UART of its own: each guest's device models on their own ioreq servers.
PLAN="$PLAN xscn-1/guest-done xscn-1/attach xscn-1/verify xscn-1/dm-cgroups xscn-1/requests xscn-1/all"
PLAN="$PLAN xuart-1/guest-done xuart-1/attach xuart-1/requests xuart-1/uart concurrent/own-uarts"
test_scn_and_uart() {
	if ! broker_up; then
		for r in xscn-1/all xuart-1/uart; do fail $r "dmbrokerd is not running"; done
		return
	fi
	create xscn-1 guest-all.elf 2 || return
	d1=$DOMID
	create xuart-1 guest-uart.elf 1 || { destroy xscn-1; return; }
	d2=$DOMID
	wait_unpaused xscn-1 30 || fail xscn-1/unpause "still paused after 30 s"
	wait_unpaused xuart-1 30 || fail xuart-1/unpause "still paused after 30 s"
	finish_guest xscn-1 "$d1" 120
	finish_guest xuart-1 "$d2" 120
	dmbrokerctl dms | indent "@@ dms: "
	check_dms xscn-1 "$d1" 3
	check_dms xuart-1 "$d2" 1
	# dmbrokerctl verify from outside, on Xen: ids, caps, seccomp, namespaces,
	# fds, limits, and its evtchn fd refused for another domain.
	if out=$(dmbrokerctl verify "$d1" uart 2>&1); then
		pass xscn-1/verify "$(echo "$out" | tail -n 1)"
	else
		fail xscn-1/verify "$(echo "$out" | grep -iv ' ok' | tr '\n' ' ' | cut -c1-300)"
	fi
	check_dm_cgroups xscn-1 "$d1"
	check_requests xscn-1 "$d1" all
	check_requests xuart-1 "$d2" uart
	expect_scenarios xscn-1 "$d1" all
	expect_scenarios xuart-1 "$d2" uart
	p1=$(dms "$d1" | awk '$2 == "uart" {print $4}')
	p2=$(dms "$d2" | awk '$2 == "uart" {print $4}')
	if [ -n "$p1" ] && [ -n "$p2" ] && [ "$p1" != "$p2" ]; then
		pass concurrent/own-uarts "dom$d1 uart pid $p1, dom$d2 uart pid $p2"
	else
		fail concurrent/own-uarts "uart pids dom$d1 '$p1', dom$d2 '$p2'"
	fi
	destroy xscn-1 xuart-1
}

# The device scenarios one after the other on one guest with the same three
# device models (order matters: barmove.scn moves the BAR pcitest.scn set up).
PLAN="$PLAN xscn-2/guest-done xscn-2/hostbridge xscn-2/unclaimed xscn-2/pcitest xscn-2/barmove"
test_devices() {
	if ! broker_up; then
		fail xscn-2/pcitest "dmbrokerd is not running"
		return
	fi
	create xscn-2 guest-devices.elf 1 || return
	d=$DOMID
	wait_unpaused xscn-2 30 || fail xscn-2/unpause "still paused after 30 s"
	finish_guest xscn-2 "$d" 120
	expect_scenarios xscn-2 "$d" hostbridge unclaimed pcitest barmove
	dmbrokerctl dms "$d" | indent "@@ dms: "
	destroy xscn-2
}

# (d): the UART's device model is killed while crash.scn runs (the image
# runs it 20 times over: the broker's restart must happen mid-run).  The
# broker must release the vCPU and restart the device model (on_crash
# restart); crash.scn's ops are write/read pairs, so those around the kill
# may fail (all ones, or the fresh device model's reset value), none before
# it, and the guest's last runs of the scenario must pass entirely.  (No
# failure at all is fine too: a broker may hold the requests for the new
# device model.)
CRASH_KILL_AFTER=20 # ops reported before the kill
PLAN="$PLAN xuart-2/guest-done xuart-2/restarted xuart-2/after-restart"
test_dm_crash() {
	if ! broker_up; then
		fail xuart-2/restarted "dmbrokerd is not running"
		return
	fi
	create xuart-2 guest-crash.elf 1 || return
	d=$DOMID
	wait_unpaused xuart-2 30 || fail xuart-2/unpause "still paused after 30 s"
	i=0
	while [ $i -lt 150 ] && [ "$(grep -c "(d$d) .*SCN crash " /tmp/xen.log)" -lt $CRASH_KILL_AFTER ]; do
		sleep 0.2
		i=$((i + 1))
	done
	pid=$(dms "$d" | awk '$2 == "uart" {print $4}')
	at=$(grep -c "(d$d) .*SCN crash " /tmp/xen.log) # ops that surely ran before the kill
	if [ -n "$pid" ] && kill -9 "$pid"; then
		say "xuart-2: killed the uart device model (pid $pid) after op $at or later"
	else
		fail xuart-2/kill "no uart device model to kill (pid '$pid')"
	fi
	has_line "$d" 'GUEST-DONE ' && late=1 || late=0
	finish_guest xuart-2 "$d" 180
	dmbrokerctl dms "$d" | indent "@@ dms: "
	rst=$(dms "$d" | awk '$2 == "uart" {print $7}')
	st=$(dms "$d" | awk '$2 == "uart" {print $3}')
	npid=$(dms "$d" | awk '$2 == "uart" {print $4}')
	if [ "$rst" = 1 ] && [ "$st" = running ] && [ "$npid" != "$pid" ]; then
		pass xuart-2/restarted "restarts=1, new pid $npid"
	else
		fail xuart-2/restarted "restarts='$rst' state='$st' pid '$pid' -> '$npid'"
	fi
	guest_lines "$d" | grep '^SCN crash ' > /tmp/crash.ops
	total=$(wc -l < /tmp/crash.ops)
	nfail=$(grep -c ' FAIL ' /tmp/crash.ops)
	first=$(grep -n ' FAIL ' /tmp/crash.ops | head -n 1 | cut -d: -f1)
	last=$(grep -n ' FAIL ' /tmp/crash.ops | tail -n 1 | cut -d: -f1)
	runs=$(guest_lines "$d" | grep -c '^SCN-DONE crash ')
	clean=$(guest_lines "$d" | grep '^SCN-DONE crash ' | awk '/ failed=0$/ { n++ } !/ failed=0$/ { n = 0 } END { print n + 0 }')
	say "xuart-2: $total ops in $runs runs, $nfail failed (ops ${first:-none}-${last:-none}), then $clean clean runs"
	grep ' FAIL ' /tmp/crash.ops | head -n 3 | indent "@@ xuart-2: "
	if [ $late = 1 ]; then
		fail xuart-2/after-restart "the guest was done before the kill: crash.scn too short"
	elif [ "$nfail" = 0 ] && [ "$clean" -ge 1 ]; then
		pass xuart-2/after-restart "no op failed: the restarted device model took over the pending requests"
	elif [ "$nfail" -gt 0 ] && [ "$first" -gt "$at" ] && [ "$clean" -ge 1 ]; then
		pass xuart-2/after-restart "$nfail ops failed around the kill (ops $first-$last of $total), the last $clean runs passed"
	else
		fail xuart-2/after-restart "$nfail failed (ops $first-$last of $total, kill after op $at), $clean clean runs at the end"
	fi
	destroy xuart-2
}

# ops_done DOMID SCENARIO: how many ops of SCENARIO the guest has reported
ops_done() {
	grep -c "(d$1) .*SCN $2 " /tmp/xen.log
}

# runs_done DOMID SCENARIO: how many times the guest has finished SCENARIO
runs_done() {
	grep -c "(d$1) .*SCN-DONE $2 " /tmp/xen.log
}

# wait_count SECONDS N COMMAND...: until COMMAND prints a number >= N; 1 on timeout
wait_count() {
	i=0 t=$1 n=$2
	shift 2
	while [ "$("$@")" -lt "$n" ]; do
		[ $i -ge $((t * 4)) ] && return 1
		sleep 0.25
		i=$((i + 1))
	done
}

# (f): a broker restart leaves the guests undisturbed.  While xscn-3 runs
# adopt.scn over and over (guest-adopt.elf), dmbrokerd is SIGKILLed and a
# moment later started again: the new one re-adopts the device models from
# the state directory (same pids) and takes back the broker's ends they kept,
# the event-channel fd included (hv_xen.c, xen_ports_adopt).  No op may fail:
# the device models serve on without a broker, and a DM-op asked meanwhile
# (the doorbell's MSI) is answered by the new broker.  After the adoption:
# MSIs keep coming (DM-ops through the adopted channel), and `dmbrokerctl
# restart` of the host bridge's device model stops it over the adopted
# channel and hands the adopted event channel to a new process, which must
# then serve the guest's requests.  The new broker goes into the first one's
# supervisor leaf with the same root for the device models' leaves (a cgroup
# with child cgroups cannot take processes of its own).
ADOPT_KILL_AFTER=200 # ops reported before the kill
PLAN="$PLAN broker/restart xscn-3/guest-done xscn-3/adopted xscn-3/dmop-after-adopt"
PLAN="$PLAN xscn-3/restart-dm xscn-3/adopt"
test_broker_restart() {
	if ! broker_up; then
		fail xscn-3/adopted "dmbrokerd is not running"
		return
	fi
	create xscn-3 guest-adopt.elf 1 || return
	d=$DOMID
	wait_unpaused xscn-3 30 || fail xscn-3/unpause "still paused after 30 s"
	wait_count 60 $ADOPT_KILL_AFTER ops_done "$d" adopt
	dms "$d" | awk '{ print $2, $3, $4 }' > /tmp/adopt.before
	at=$(ops_done "$d" adopt)
	kill -9 "$BROKER"
	say "xscn-3: SIGKILLed dmbrokerd (pid $BROKER) after op $at;" \
		"device models: $(tr '\n' ' ' < /tmp/adopt.before)"
	sleep 1
	mark=$(wc -l < /tmp/broker.log)
	t0=$(up)
	start_broker broker/restart /sys/fs/cgroup/dmbroker/dm-broker-supervisor/cgroup.procs \
		--cgroup-root /sys/fs/cgroup/dmbroker/dm-broker-dms
	say "xscn-3: the new broker answers after $(awk "BEGIN {print $(up) - $t0}") s;" \
		"op $(ops_done "$d" adopt) now"
	tail -n +$((mark + 1)) /tmp/broker.log > /tmp/broker.new
	dms "$d" | awk '{ print $2, $3, $4 }' > /tmp/adopt.after
	dmbrokerctl dms "$d" | indent "@@ dms: "
	nad=$(grep -c "event adopt dom$d/" /tmp/broker.new)
	if [ -s /tmp/adopt.before ] && cmp -s /tmp/adopt.before /tmp/adopt.after &&
		[ "$(awk '$2 != "running"' /tmp/adopt.after)" = "" ] && [ "$nad" = 3 ]; then
		pass xscn-3/adopted "same device models, running, same pids: $(tr '\n' ' ' < /tmp/adopt.after)"
	else
		fail xscn-3/adopted "before: $(tr '\n' ' ' < /tmp/adopt.before); after: $(tr '\n' ' ' \
			< /tmp/adopt.after); $nad adopt events"
		grep -E "dom$d|adopt|state" /tmp/broker.new | head -n 20 | indent "@@ new broker: "
	fi

	# DM-ops after the adoption: each run of adopt.scn rings the doorbell once
	n0=$(runs_done "$d" adopt)
	if wait_count 30 $((n0 + 3)) runs_done "$d" adopt; then
		tail -n +$((mark + 1)) /tmp/broker.log > /tmp/broker.new
		g=$(grep -c "event audit dom$d/pcitest: dm-op msi granted" /tmp/broker.new)
		bad=$(guest_lines "$d" | grep '^SCN-DONE adopt ' | tail -n +$((n0 + 1)) | grep -vc ' failed=0$')
		if [ "$g" -ge 3 ] && [ "$bad" = 0 ]; then
			pass xscn-3/dmop-after-adopt "the new broker granted $g MSIs; the runs since passed"
		else
			fail xscn-3/dmop-after-adopt "$g MSIs granted by the new broker, $bad runs with failures since"
		fi
	else
		fail xscn-3/dmop-after-adopt "no 3 more runs of adopt.scn within 30 s (state $(state xscn-3))"
	fi

	# restart the host bridge's device model through the new broker
	old=$(dms "$d" | awk '$2 == "hostbridge" {print $4}')
	if has_line "$d" 'GUEST-DONE '; then
		fail xscn-3/restart-dm "the guest was done already: adopt.scn runs too short"
	elif out=$(dmbrokerctl restart "$d" hostbridge 2>&1); then
		n0=$(runs_done "$d" adopt)
		wait_count 30 $((n0 + 2)) runs_done "$d" adopt
		sleep 1.5 # device models report their counters every second
		line=$(dms "$d" | awk '$2 == "hostbridge"')
		set -- $line
		if [ "$3" = running ] && [ "$4" != "$old" ] && [ "$7" = 1 ] && [ "${8:-0}" -gt 0 ]; then
			pass xscn-3/restart-dm "hostbridge pid $old -> $4, served $8 port requests since"
		else
			fail xscn-3/restart-dm "hostbridge after the restart: $line (was pid $old)"
		fi
	else
		fail xscn-3/restart-dm "dmbrokerctl restart $d hostbridge: $out"
	fi

	finish_guest xscn-3 "$d" 180
	dmbrokerctl dms "$d" | indent "@@ dms: "
	g=$(guest_lines "$d" | grep '^GUEST-DONE ')
	runs=$(runs_done "$d" adopt)
	nfail=$(guest_lines "$d" | grep -c '^SCN adopt .* FAIL ')
	guest_lines "$d" | grep '^SCN adopt .* FAIL ' | head -n 5 | indent "@@ xscn-3: "
	if [ -n "$g" ] && [ "$nfail" = 0 ]; then
		pass xscn-3/adopt "$runs runs of adopt.scn, $(ops_done "$d" adopt) ops, none failed"
	else
		fail xscn-3/adopt "$runs runs, $nfail failed ops (${g:-no GUEST-DONE})"
	fi
	destroy xscn-3
}

# (g): guests created back to back, and the isolation of device models'
# fds.  The xprobe guests are `xl create -p`ed all at once: the broker sees
# xenstore events while the others are still being built (a domain Xen
# lists before the toolstack has introduced it must be looked at again, not
# dropped: hv_xen.c, list_domains), and must attach every one.  Each is
# served by xen-fdprobe, which checks from the inside that its privcmd and
# evtchn fds reach its own guest's server and nothing of any other domain:
# dom0, the other probes' guests running at the same time, the rest.
PROBES="1 2 3"
for i in $PROBES; do
	PLAN="$PLAN xprobe-$i/attach xprobe-$i/guest-done xprobe-$i/echo xprobe-$i/fdprobe"
done

# check_fdprobe NAME DOMID: xen-fdprobe's FDPROBE lines, from the broker's log
check_fdprobe() {
	grep "dom$2/fdprobe: FDPROBE " /tmp/broker.log | sed 's/.*: FDPROBE //' > "/tmp/$1.fdprobe"
	indent "@@ $1 fdprobe: " < "/tmp/$1.fdprobe"
	oks=$(awk '$2 == "ok" { printf "%s%s", s, $1; s = ", " }' "/tmp/$1.fdprobe")
	if grep -q '^done failures=0$' "/tmp/$1.fdprobe" && ! grep -q ' FAIL ' "/tmp/$1.fdprobe" &&
		[ "$(grep -c ' ok ' "/tmp/$1.fdprobe")" = 4 ]; then
		pass "$1/fdprobe" "ok: $oks"
	else
		fail "$1/fdprobe" "$(grep -E ' FAIL |^done' "/tmp/$1.fdprobe" | tr '\n' ' ')"
	fi
}

test_probes() {
	if ! broker_up; then
		for i in $PROBES; do fail "xprobe-$i/attach" "dmbrokerd is not running"; done
		return
	fi
	pids=""
	for i in $PROBES; do
		create "xprobe-$i" guest-echo.elf 1 &
		pids="$pids $!"
	done
	wait $pids
	for i in $PROBES; do
		n=xprobe-$i
		d=$(xl domid "$n" 2> /dev/null) || continue
		wait_unpaused "$n" 30 || fail "$n/unpause" "still paused after 30 s"
		finish_guest "$n" "$d" 60
		check_dms "$n" "$d" 1
		expect_scenarios "$n" "$d" echo
		check_fdprobe "$n" "$d"
	done
	dmbrokerctl dms | indent "@@ dms: "
	for i in $PROBES; do destroy "xprobe-$i"; done
}

# At the end, every guest destroyed: none may be left dying (a domain dies
# completely only once nobody maps its pages: the broker must have seen it
# go and stopped its device models), and the broker holds no domain.
PLAN="$PLAN dom0/domains-released"
check_released() {
	i=0
	while :; do
		left=$(xl list 2> /dev/null | awk 'NR > 2 { printf "%s%s(%s)", s, $2, $5; s = " " }')
		[ -z "$left" ] || [ $i -ge 40 ] && break
		sleep 0.25
		i=$((i + 1))
	done
	held=$(dmbrokerctl status 2> /dev/null | awk '$1 == "domains" { print $2 }')
	if [ -z "$left" ] && [ "${held:-0}" = 0 ]; then
		pass dom0/domains-released "no domain left but dom0; the broker holds none"
	else
		fail dom0/domains-released "left: ${left:-none}; the broker holds ${held:-?} domains"
		xl list | indent "@@ xl list: "
	fi
}

# alive PID: running, not a zombie waiting for us to reap it
alive() {
	[ -e "/proc/$1/stat" ] && ! grep -q ') Z ' "/proc/$1/stat" 2> /dev/null
}

# quiet_run NAME DOMID SECONDS [PID]: for benchmarks, wait for the guest to
# stop with dom0 as idle as it can be: the collector paused, one xl list a
# second (the console ring keeps the guest's lines meanwhile); also stop
# waiting if process PID (the device model serving it) is gone.  Then finish_guest.
quiet_run() {
	kill -STOP "$COLLECTOR" 2> /dev/null
	i=0
	while [ $i -lt "$3" ]; do
		sleep 1
		case $(state "$1") in *s* | *c* | gone) break ;; esac
		[ -n "${4:-}" ] && ! alive "$4" && break
		i=$((i + 1))
	done
	kill -CONT "$COLLECTOR" 2> /dev/null
	sleep 1
	finish_guest "$1" "$2" 10
}

# bench_line NAME DOMID LABEL ROUND: the guest's BENCH line as a result and
# as "@@BENCH LABEL round=ROUND ... tsc_khz=N", if echo.scn passed: else the
# reads were not served.
bench_line() {
	b=$(guest_lines "$2" | grep '^BENCH ' | head -n 1)
	k=$(guest_lines "$2" | sed -n 's/^GUEST-INFO .*tsc_khz=\([0-9]*\).*/\1/p' | head -n 1)
	if ! guest_lines "$2" | grep -q '^SCN-DONE echo .* failed=0$'; then
		fail "$1/bench" "echo.scn failed: the device model did not serve the reads${b:+ (${b#BENCH })}"
	elif [ -z "$b" ]; then
		fail "$1/bench" "no BENCH line"
	elif [ "${b##* bad=}" != 0 ]; then
		fail "$1/bench" "reads not answered by the device model: ${b#BENCH }"
	else
		pass "$1/bench" "${b#BENCH }"
		echo "@@BENCH $3 round=$4 ${b#BENCH } tsc_khz=$k"
	fi
}

# (e): round trips through a device model: echo.scn, then BENCH_N timed port
# reads; the same guest served by a brokered echo-dm (xbench-N) and by
# xen-direct (xdirect-N), in BENCH_ROUNDS rounds.  run.sh reports the median
# of the rounds' ratios.
BENCH_PLAN=""
r=1
while [ $r -le $BENCH_ROUNDS ]; do
	BENCH_PLAN="$BENCH_PLAN xbench-$r/guest-done xbench-$r/echo xbench-$r/bench"
	BENCH_PLAN="$BENCH_PLAN xdirect-$r/guest-done xdirect-$r/echo xdirect-$r/bench"
	BENCH_PLAN="$BENCH_PLAN xpair-$r/attach xpair-$r/guest-done xpair-$r/echo xpair-$r/bench"
	r=$((r + 1))
done
PLAN="$PLAN$BENCH_PLAN"

# test_bench ROUND
test_bench() {
	if ! broker_up; then
		fail "xbench-$1/echo" "dmbrokerd is not running"
		return
	fi
	create "xbench-$1" guest-bench.elf 1 || return
	d=$DOMID
	# quiet at once: the broker unpauses the guest, which starts timing soon after
	quiet_run "xbench-$1" "$d" 120
	expect_scenarios "xbench-$1" "$d" echo
	bench_line "xbench-$1" "$d" broker "$1"
	destroy "xbench-$1"
}

# test_bench_direct ROUND: the same guest served without the broker:
# xen-direct (tests/progs) opens Xen itself and runs the same libdmb device
# model in a process of its own.  The name matches no policy entry, so the
# broker leaves the guest alone.
test_bench_direct() {
	n=xdirect-$1
	if [ ! -x /usr/bin/xen-direct ]; then
		fail "$n/bench" "no /usr/bin/xen-direct in the initramfs"
		return
	fi
	create "$n" guest-bench.elf 1 || return
	d=$DOMID
	xen-direct --name "$n" --ports 0x510-0x51f --timeout 120 > /tmp/xen-direct.log 2>&1 &
	xd=$!
	quiet_run "$n" "$d" 120 $xd
	expect_scenarios "$n" "$d" echo
	bench_line "$n" "$d" direct "$1"
	if alive $xd; then
		say "xen-direct (pid $xd) still running"
	else
		wait $xd
		rc=$?
		say "xen-direct exited with status $rc"
		# 159 = SIGSYS: say which system call a seccomp filter refused
		[ $rc = 159 ] && dmesg | grep -E 'type=1326|seccomp' | tail -n 3 | indent "@@ xen-direct: "
	fi
	indent "@@ xen-direct: " < /tmp/xen-direct.log
	destroy "$n"
}

# test_bench_pair ROUND: both sides in one guest, interleaved.  The broker
# attaches xpair-N's echo-dm for 0x510 (its policy entry leaves the guest
# paused); then xen-direct adds a server of its own for 0x520 and unpauses
# the guest, which alternates batches of reads between the two ports
# (guest-pair.elf, BENCH_PORT2), so that a slow spell of the host hits both
# sides alike; it compares them batch pair by batch pair (BENCH-PAIRED).
test_bench_pair() {
	n=xpair-$1
	if ! broker_up || [ ! -x /usr/bin/xen-direct ]; then
		fail "$n/bench" "no dmbrokerd running or no xen-direct"
		return
	fi
	create "$n" guest-pair.elf 1 || return
	d=$DOMID
	i=0
	while [ $i -lt 60 ] && [ -z "$(dms "$d" | awk '$2 == "echo" && $3 == "running"')" ]; do
		sleep 0.5
		i=$((i + 1))
	done
	check_dms "$n" "$d" 1
	xen-direct --name "$n" --ports 0x520-0x52f --timeout 120 > /tmp/xen-direct.log 2>&1 &
	xd=$!
	quiet_run "$n" "$d" 120 $xd
	expect_scenarios "$n" "$d" echo
	guest_lines "$d" | grep '^BENCH' > "/tmp/$n.bench"
	k=$(guest_lines "$d" | sed -n 's/^GUEST-INFO .*tsc_khz=\([0-9]*\).*/\1/p' | head -n 1)
	p=$(grep '^BENCH-PAIRED ' "/tmp/$n.bench")
	if [ -z "$p" ] || [ "$(grep -c '^BENCH .* bad=0$' "/tmp/$n.bench")" != 2 ]; then
		fail "$n/bench" "$(tr '\n' ' ' < "/tmp/$n.bench")"
	else
		pass "$n/bench" "${p#BENCH-PAIRED }"
		echo "@@BENCH pair-broker round=$1 $(sed -n 's/^BENCH \(port=0x510 .*\)/\1/p' "/tmp/$n.bench") tsc_khz=$k"
		echo "@@BENCH pair-direct round=$1 $(sed -n 's/^BENCH \(port=0x520 .*\)/\1/p' "/tmp/$n.bench") tsc_khz=$k"
		echo "@@BENCH-PAIRED round=$1 ${p#BENCH-PAIRED }"
	fi
	alive $xd && say "xen-direct (pid $xd) still running" || { wait $xd; say "xen-direct exited with status $?"; }
	indent "@@ xen-direct: " < /tmp/xen-direct.log
	destroy "$n"
}

# Rounds alternate which side goes first (ABBA), so that a drift in the
# host's speed over the run does not favour one side.
bench_rounds() {
	r=1
	while [ $r -le $BENCH_ROUNDS ]; do
		if [ $((r % 2)) = 1 ]; then
			test_bench $r
			test_bench_direct $r
		else
			test_bench_direct $r
			test_bench $r
		fi
		test_bench_pair $r
		r=$((r + 1))
	done
}

finish() {
	say "broker log:"
	indent "broker| " < /tmp/broker.log 2> /dev/null
	[ -n "$BROKER" ] && kill "$BROKER" 2> /dev/null
	[ -n "$COLLECTOR" ] && kill "$COLLECTOR" 2> /dev/null
	xl list | indent "@@ xl list: "
	[ -e /test/shell ] && setsid cttyhack sh
	echo "@@DONE uptime=$(up)"
	poweroff -f
}

# ---- the plan ----------------------------------------------------------------

stty -opost 2> /dev/null # "\n" alone: n_tty writes a "\r\n" apart, and a guest line could land between
[ "$BENCH_ONLY" = 1 ] && PLAN="dom0/switch-root dom0/cgroup2 dom0/toolstack broker/start$BENCH_PLAN dom0/domains-released"
echo "@@PLAN $PLAN"
setup_dom0
setup_cgroups
setup_toolstack
if [ "$BENCH_ONLY" = 1 ]; then
	start_first_broker
	bench_rounds
	check_released
	finish
fi
test_no_dm
start_first_broker
test_scn_and_uart
test_devices
test_dm_crash
test_broker_restart
test_probes
bench_rounds
check_released
finish
