#!/bin/bash
# SPDX-License-Identifier: MIT
# The test plan, run inside tests/systemd's VM by dmb-test.service, under
# Debian's systemd as PID 1: installs the .deb, runs dmbrokerd.service on the
# simulator, checks what systemd and the broker promise each other, removes
# the package.  TAP lines ("ok N - systemd: ...", "# ..." for evidence) go
# to ttyS1, which run.sh reads; "# done" ends a plan that ran to its end.
# The same lines, prefixed "@@ ", go to the console log with everything else.
# No -e (nor pipefail): a failed check is reported and the plan goes on.
#
# Environment (/etc/dmb-test.env, written by init.sh): DMBTEST_DIR (this
# directory on the host's root, read-only here), DMBTEST_DEB (the package).
set -u
exec 3> /dev/ttyS1
TREE=$(cd "$DMBTEST_DIR/../.." && pwd)
UNIT=dmbrokerd.service
DMS=dmbroker-dms.service
SIM=/run/dmbsim/sim.sock
n=0 failed=0

say() { echo "@@ $*"; }
tap() { echo "$*" >&3; say "$*"; }
pass() { n=$((n + 1)); tap "ok $n - systemd: $1"; }
fail() {
	n=$((n + 1)) failed=$((failed + 1))
	tap "not ok $n - systemd: $1"
	shift
	local l
	for l in "$@"; do tap "#   $l"; done
	return 0
}
# evidence: indented "# " lines under the last result
note() { while IFS= read -r l; do tap "#   $l"; done; }

# wait_until SECONDS COMMAND...: poll every 0.2 s
wait_until() {
	local i=0 max=$(($1 * 5))
	shift
	until "$@" > /dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt $max ] || return 1
		sleep 0.2
	done
}
prop() { systemctl show -P "$1" "${2:-$UNIT}"; }
ctl() { dmbrokerctl "$@"; }
simctl() { dmbsimctl --socket "$SIM" "$@"; }
# dm_pids DOMID: "name:pid" of each running device model, sorted
dm_pids() { ctl dms "$1" 2> /dev/null | awk 'NR > 1 && $3 == "running" { print $2 ":" $4 }' | sort | tr '\n' ' '; }
n_running() { ctl dms "$1" 2> /dev/null | awk 'NR > 1 && $3 == "running"' | wc -l; }
three_running() { [ "$(n_running "$1")" = 3 ]; }
# the journal since a date +%s, about the broker's units (systemd's forked
# children log with UNIT= only: -u would miss "Failed to attach to cgroup")
journal_since() {
	journalctl --no-pager -o short-monotonic --since "@$1" | grep -E 'dmbroker|dmbsim'
}
cg_of() { sed -n 's/^0:://p' "/proc/$1/cgroup"; }

# ---- the machine -----------------------------------------------------------------
pid1=$(readlink /proc/1/exe)
fs=$(stat -fc %T /sys/fs/cgroup)
ver=$(systemctl --version | awk 'NR == 1 { print $2 }')
if [[ $pid1 == */lib/systemd/systemd ]] && [ "$fs" = cgroup2fs ]; then
	pass "PID 1 is systemd $ver ($pid1), /sys/fs/cgroup is cgroup2 only"
else
	fail "PID 1 is $pid1 (systemd $ver), /sys/fs/cgroup is $fs"
fi

# ---- install -----------------------------------------------------------------------
if out=$(dpkg -i "$DMBTEST_DEB" 2>&1); then
	pass "dpkg -i $(basename "$DMBTEST_DEB")"
else
	fail "dpkg -i $(basename "$DMBTEST_DEB")" "$(tail -n 5 <<< "$out")"
fi
if getent group dmbroker > /dev/null; then
	pass "postinst created the dmbroker group"
else
	fail "no dmbroker group after dpkg -i"
fi
en=$(systemctl is-enabled $UNIT dmbrokerd.socket | tr '\n' ' ')
act=$(systemctl is-active $UNIT dmbrokerd.socket | tr '\n' ' ' || true)
if [ "$en" = "enabled enabled " ] && [ "$act" = "inactive inactive " ]; then
	pass "units enabled, not started by the installation"
else
	fail "after dpkg -i: is-enabled: $en, is-active: $act"
fi
if dpkg-query -W -f='${Conffiles}\n' dm-broker | grep -q ' /etc/dm-broker/policy.json ' &&
	out=$(dmbrokerctl policy check /etc/dm-broker/policy.json 2>&1); then
	pass "/etc/dm-broker/policy.json is a conffile, and a valid policy"
else
	fail "/etc/dm-broker/policy.json" "$out"
fi

# ---- start: Type=notify, STATUS=, the socket -------------------------------------
mkdir -p /etc/systemd/system/$UNIT.d
cp "$DMBTEST_DIR/dropin/dmbrokerd-sim.conf" /etc/systemd/system/$UNIT.d/sim.conf
systemctl daemon-reload
t0=$(date +%s)
systemctl log-level debug # PID 1 logs each notification it gets
if systemctl start $UNIT; then
	pass "systemctl start $UNIT (drop-in: simulator, demo policy, WatchdogSec=4s)"
else
	fail "systemctl start $UNIT" "$(systemctl status --no-pager $UNIT 2>&1 | tail -n 15)"
fi
systemctl log-level info
st=$(prop ActiveState)/$(prop SubState)
main=$(prop MainPID)
exec_ts=$(prop ExecMainStartTimestampMonotonic)
active_ts=$(prop ActiveEnterTimestampMonotonic)
# In PID 1's own log, in order: the broker's READY=1, then the job's end.
pid1log=$(journalctl --no-pager -o cat _PID=1 --since "@$t0")
rdy=$(grep -n "$UNIT: Got notification message from PID $main (READY=1" <<< "$pid1log" | head -n 1 | cut -d: -f1)
started=$(grep -n "Started $UNIT" <<< "$pid1log" | head -n 1 | cut -d: -f1)
if [ "$st" = active/running ] && [ "$(prop Type)" = notify ] && [ -n "$rdy" ] && [ -n "$started" ] &&
	[ "$rdy" -lt "$started" ] && [ "$active_ts" -gt "$exec_ts" ]; then
	pass "Type=notify: the start job ended on the broker's READY=1 ($(((active_ts - exec_ts) / 1000)) ms after exec)"
	sed -n "${rdy}p;${started}p" <<< "$pid1log" | note
else
	fail "Type=notify: state $st, type $(prop Type), READY=1 at line '$rdy', Started at line '$started' of PID 1's log" \
		"$(grep -E 'notification|Started' <<< "$pid1log" | head -n 5)"
fi
# STATUS= follows READY=1 in a datagram of its own
has_status() { [ -n "$(prop StatusText)" ]; }
wait_until 5 has_status || true
status=$(prop StatusText)
if [[ $status =~ ^[0-9]+\ domains?,\ [0-9]+\ of\ [0-9]+\ device\ models\ running$ ]]; then
	pass "StatusText=$status"
else
	fail "StatusText='$status'"
fi
if [ "$(systemctl is-active dmbrokerd.socket)" = active ] && ctl status > /dev/null; then
	pass "dmbrokerd.socket active; dmbrokerctl status answers"
else
	fail "socket $(systemctl is-active dmbrokerd.socket); dmbrokerctl status: $(ctl status 2>&1 | tail -n 1)"
fi

# ---- a guest -----------------------------------------------------------------------
domid=$(simctl create demo-1 --vcpus 2 --paused)
if wait_until 20 three_running "$domid"; then
	pass "demo-1 (dom$domid) got its 3 device models: $(dm_pids "$domid")"
else
	fail "demo-1 (dom$domid): $(n_running "$domid") of 3 device models running" "$(ctl dms 2>&1)"
fi
ctl dms | sed 's/^/dms: /' | note
if out=$(simctl run "$domid" "$TREE/tests/scenarios/all.scn" --quiet 2>&1); then
	pass "all.scn passes on dom$domid"
else
	fail "all.scn on dom$domid" "$(tail -n 5 <<< "$out")"
fi
if wait_until 5 sh -c "systemctl show -P StatusText $UNIT | grep -qx '1 domain, 3 of 3 device models running'"; then
	pass "StatusText follows: $(prop StatusText)"
else
	fail "StatusText '$(prop StatusText)', want '1 domain, 3 of 3 device models running'"
fi

# ---- the journal's fields ------------------------------------------------------------
fields() { journalctl -o json "DMB_DOMID=$domid" --since "@$t0" 2> /dev/null; }
has_fields() {
	local f
	f=$(fields)
	grep -q '"DMB_DM":"uart"' <<< "$f" && grep -q '"DMB_EVENT":"ready"' <<< "$f"
}
if wait_until 10 has_fields; then
	evs=$(fields | sed -n 's/.*"DMB_EVENT":"\([^"]*\)".*/\1/p' | sort | uniq -c | awk '{ printf "%s=%s ", $2, $1 }')
	pass "journalctl DMB_DOMID=$domid: DMB_DM, DMB_DM_PID, DMB_EVENT fields ($evs)"
	fields | grep '"DMB_DM":"uart"' | head -n 1 | grep -o '"\(DMB_[A-Z_]*\|SYSLOG_IDENTIFIER\|MESSAGE\)":"[^"]*"' |
		tr '\n' ' ' | note
else
	fail "no journal entries with DMB_DOMID=$domid, DMB_DM=uart, DMB_EVENT=ready" \
		"$(journalctl -o json -u $UNIT | grep DMB_ | tail -n 3)"
fi

# ---- cgroups: the device models in dmbroker-dms.service's delegated subtree ------
U=$(prop ControlGroup)
D=$(prop ControlGroup $DMS)
bad=""
for p in $(dm_pids "$domid" | tr ' ' '\n' | cut -d: -f2); do
	cg=$(cg_of "$p")
	mem=$(cat "/sys/fs/cgroup$cg/memory.max")
	pids=$(cat "/sys/fs/cgroup$cg/pids.max")
	echo "pid $p: $cg memory.max=$mem pids.max=$pids" | note
	case $cg in "$D"/dom"$domid"-*) ;; *) bad="$bad $p:$cg" ;; esac
	[ "$mem" = 67108864 ] && [ "$pids" = 16 ] || bad="$bad $p:$mem/$pids"
done
echo "$DMS: $(prop ActiveState $DMS)/$(prop SubState $DMS), $D: subtree_control '$(cat "/sys/fs/cgroup$D/cgroup.subtree_control")', holder/: $(ps -o pid=,args= -p "$(cat "/sys/fs/cgroup$D/holder/cgroup.procs")")" | note
echo "broker pid $main: $(cg_of "$main"), alone in $U: $(tr '\n' ' ' < "/sys/fs/cgroup$U/cgroup.procs")" | note
if [ -z "$bad" ]; then
	pass "each device model in a leaf of its own below $D, memory.max=64M pids.max=16"
else
	fail "device model cgroups:$bad"
fi
if [ "$(cg_of "$main")" = "$U" ] && [ -z "$(cat "/sys/fs/cgroup$U/cgroup.subtree_control")" ]; then
	pass "the broker alone in $U, which stays a leaf (no subtree_control)"
else
	fail "broker in $(cg_of "$main"), $U subtree_control '$(cat "/sys/fs/cgroup$U/cgroup.subtree_control")'"
fi

# ---- the unit's hardening: the broker keeps only what it lists, and still works ----
# The mask of the unit file's CapabilityBoundingSet=, from the kernel's numbering.
unit_caps=$(sed -n 's/^CapabilityBoundingSet=//p' /lib/systemd/system/$UNIT)
want=0
for c in $unit_caps; do
	bit=$(sed -n "s/^#define $c[[:space:]]*\([0-9]*\)\$/\1/p" /usr/include/linux/capability.h)
	[ -n "$bit" ] && want=$((want | (1 << bit)))
done
bnd=$((16#$(sed -n 's/^CapBnd:[[:space:]]*//p' "/proc/$main/status")))
eff=$((16#$(sed -n 's/^CapEff:[[:space:]]*//p' "/proc/$main/status")))
echo "unit: $unit_caps; broker CapBnd $(printf %x $bnd) CapEff $(printf %x $eff)" | note
if [ "$want" -ne 0 ] && [ "$bnd" -eq "$want" ] && [ "$eff" -eq "$want" ]; then
	pass "the broker's bounding and effective sets are exactly the unit's $(wc -w <<< "$unit_caps") capabilities"
else
	fail "capabilities: want $(printf %x $want), CapBnd $(printf %x $bnd), CapEff $(printf %x $eff)"
fi
bad=""
for dm in hostbridge uart pcitest; do
	if ! out=$(ctl verify "$domid" "$dm" 2>&1); then
		bad="$bad $dm"
		grep -v '^ok ' <<< "$out" | head -n 8 | note
	fi
done
if [ -z "$bad" ]; then
	pass "dmbrokerctl verify passes on all 3 device models under the unit's hardening"
else
	fail "dmbrokerctl verify failed for:$bad"
fi

# ---- reload (ExecReload in the delegated unit's .control subgroup) -----------------
if systemctl reload $UNIT && [ "$(prop ActiveState)" = active ] && [ "$(prop MainPID)" = "$main" ]; then
	pass "systemctl reload: SIGHUP, still active, same main pid $main"
else
	fail "systemctl reload" "$(journalctl --no-pager -u $UNIT -n 5)"
fi

# ---- the watchdog ------------------------------------------------------------------
w1=$(prop WatchdogTimestampMonotonic)
sleep 3
w2=$(prop WatchdogTimestampMonotonic)
if [ "$(prop WatchdogUSec)" = 4s ] && [ "$w2" -gt "$w1" ]; then
	pass "WatchdogSec=4s: WATCHDOG=1 pings ($(((w2 - w1) / 1000)) ms between two readings 3 s apart)"
else
	fail "watchdog: WatchdogUSec=$(prop WatchdogUSec), timestamps $w1 -> $w2"
fi

# ---- restart with device models alive -----------------------------------------------
# restart_check HOW: the broker comes back with a new pid and the same device models
restart_check() {
	local how=$1 before=$2 old=$3 t=$4 now st
	st=$(prop ActiveState)/$(prop SubState)
	now=$(dm_pids "$domid")
	if [ "$st" = active/running ] && [ "$(prop MainPID)" != "$old" ] && [ "$now" = "$before" ]; then
		pass "$how: new broker pid $(prop MainPID), device models adopted with the same pids ($now)"
	else
		fail "$how: state $st, main pid $old -> $(prop MainPID), device models '$before' -> '$now'" \
			"$(systemctl status --no-pager $UNIT 2>&1 | sed -n '1,12p')"
		journal_since "$t" | grep -E 'CGROUP|cgroup|Failed|status=|adopt' | head -n 12 | note
		return 1
	fi
}
before=$(dm_pids "$domid")
old=$(prop MainPID)
t=$(date +%s)
systemctl restart $UNIT || true
wait_until 15 three_running "$domid" || true
restart_check "systemctl restart" "$before" "$old" "$t"
journal_since "$t" | grep -E 'adopt|left the device models|left-over|Failed to attach|status=' | head -n 8 | note
# adopt.scn: repeatable, and its MSI is a DM-op the new broker must answer
scn_after() {
	if out=$(simctl run "$domid" "$TREE/tests/scenarios/adopt.scn" --quiet 2>&1); then
		pass "adopt.scn passes after the $1, served by the adopted device models"
	else
		fail "adopt.scn after the $1" "$(tail -n 5 <<< "$out")"
	fi
}
scn_after "systemctl restart"

# The watchdog kills a broker that stops pinging (SIGABRT), Restart=on-failure starts another.
before=$(dm_pids "$domid")
old=$(prop MainPID)
nr=$(prop NRestarts)
t=$(date +%s)
[ "$old" -gt 1 ] && kill -STOP "$old"
restarted() { [ "$(prop MainPID)" != "$old" ] && [ "$(prop ActiveState)" = active ]; }
wait_until 30 restarted || true
wait_until 15 three_running "$domid" || true
if journal_since "$t" | grep -q 'Watchdog timeout' && [ "$(prop NRestarts)" -gt "$nr" ]; then
	pass "a stopped broker: watchdog timeout after 4 s, restarted (NRestarts $nr -> $(prop NRestarts))"
else
	fail "kill -STOP: no watchdog restart" "$(journal_since "$t" | tail -n 8)"
fi
restart_check "watchdog restart" "$before" "$old" "$t"
journal_since "$t" | grep -E 'Watchdog|status=|Failed|Scheduled' | head -n 6 | note
scn_after "watchdog restart"

# ---- stop, start: the device models stay (KillMode=process) ------------------------
before=$(dm_pids "$domid")
old=$(prop MainPID)
t=$(date +%s)
systemctl stop $UNIT
alive=0
for p in $(tr ' ' '\n' <<< "$before" | cut -d: -f2); do kill -0 "$p" 2> /dev/null && alive=$((alive + 1)); done
if [ "$(prop ActiveState)" = inactive ] && [ $alive = 3 ]; then
	pass "systemctl stop: broker stopped, its 3 device models still serving"
else
	fail "systemctl stop: state $(prop ActiveState), $alive of 3 device models alive"
fi
systemctl start $UNIT || true
wait_until 15 three_running "$domid" || true
restart_check "systemctl start after stop" "$before" "$old" "$t"
scn_after "stop and start"

# ---- the guest goes, the broker stops -------------------------------------------
simctl destroy "$domid"
gone() { [ "$(n_running "$domid")" = 0 ] && ! ls -d /sys/fs/cgroup"$D"/dom"$domid"-* > /dev/null 2>&1; }
if wait_until 10 gone; then
	pass "dom$domid destroyed: its device models stopped, their cgroup leaves removed"
else
	fail "after destroy: $(n_running "$domid") running" "$(ls /sys/fs/cgroup"$D"/ 2>&1)"
fi
systemctl stop $UNIT
if [ "$(prop ActiveState)" = inactive ] && [ ! -d "/sys/fs/cgroup$U" ] && ! pgrep -x dmbrokerd > /dev/null; then
	pass "systemctl stop: no broker, its cgroup $U removed"
else
	fail "after stop: state $(prop ActiveState), $(ls -d "/sys/fs/cgroup$U" 2>&1), brokers: $(pgrep -x dmbrokerd | tr '\n' ' ')"
fi

# ---- for comparison: the single-unit layout (auto mode: the broker splits its
# own delegated cgroup into dm-broker-supervisor and dm-broker-dms).  Not a
# check of ours: what systemd does with it, as evidence for dmbroker-dms.service.
compare_single_unit() {
	local d pids t r first
	mkdir -p /etc/systemd/system/$UNIT.d
	sed -e 's| --cgroup-root [^ ]*||' -e '$a Delegate=yes' \
		"$DMBTEST_DIR/dropin/dmbrokerd-sim.conf" > /etc/systemd/system/$UNIT.d/sim.conf
	systemctl daemon-reload
	systemctl start $UNIT || return
	d=$(simctl create demo-2 --vcpus 1 --paused)
	wait_until 20 three_running "$d" || return
	pids=$(dm_pids "$d")
	first=${pids%% *}
	tap "# single-unit layout: dom$d device models $pids, e.g. in $(cg_of "${first#*:}" 2> /dev/null)"
	tap "#   $U subtree_control '$(cat "/sys/fs/cgroup$U/cgroup.subtree_control")', broker in $(cg_of "$(prop MainPID)")"
	t=$(date +%s)
	systemctl restart $UNIT && r="succeeded" || r="FAILED"
	sleep 2
	tap "# single-unit layout: systemctl restart $r; now $(prop ActiveState)/$(prop SubState), result $(prop Result); device models alive, unsupervised: $(pgrep -d ' ' -x 'dm-(uart|pcitest|hostbridge)')"
	journal_since "$t" | grep -E 'Failed to attach|219/CGROUP|Failed at step' | head -n 4 | note
	journal_since "$t" | grep -E 'left-over' | head -n 1 | note
	systemctl kill --signal=SIGKILL $UNIT 2> /dev/null
	systemctl stop $UNIT dmbrokerd.socket 2> /dev/null
	simctl destroy "$d" 2> /dev/null
	systemctl reset-failed $UNIT dmbrokerd.socket 2> /dev/null
	wait_until 10 test ! -d "/sys/fs/cgroup$U" || true
	cp "$DMBTEST_DIR/dropin/dmbrokerd-sim.conf" /etc/systemd/system/$UNIT.d/sim.conf
	systemctl daemon-reload
}
compare_single_unit
# What the package's removal must stop: a broker, its socket and $DMS.
systemctl start $UNIT

# ---- the package goes ------------------------------------------------------------
if out=$(dpkg -r dm-broker 2>&1) && ! systemctl cat $UNIT > /dev/null 2>&1 && [ ! -e /usr/sbin/dmbrokerd ] &&
	[ -e /etc/dm-broker/policy.json ]; then
	pass "dpkg -r (broker running): units and programs gone, the conffile kept"
else
	fail "dpkg -r" "$(tail -n 5 <<< "$out")" "$(ls -l /usr/sbin/dmbrokerd /etc/dm-broker 2>&1)"
fi
rm -rf /etc/systemd/system/$UNIT.d
systemctl daemon-reload
st=$(systemctl is-active $UNIT dmbrokerd.socket $DMS | tr '\n' ' ')
if [ "$st" = "inactive inactive inactive " ] && [ -n "$D" ] && [ ! -d "/sys/fs/cgroup$D" ]; then
	pass "prerm stopped the broker, its socket and $DMS; $D removed"
else
	fail "after dpkg -r: $st (broker, socket, $DMS); $(ls -d "/sys/fs/cgroup$D" 2>&1)"
fi
if out=$(dpkg --purge dm-broker 2>&1) && [ ! -e /etc/dm-broker ] && [ ! -e /var/lib/dm-broker ] &&
	[ ! -e /run/dmbroker ] &&
	[ -z "$(dpkg-query -W -f='${db:Status-Status}' dm-broker 2> /dev/null | grep -v not-installed)" ]; then
	pass "dpkg --purge: /etc/dm-broker, /var/lib/dm-broker and /run/dmbroker gone"
else
	fail "dpkg --purge" "$(tail -n 5 <<< "$out")" "$(ls -d /etc/dm-broker /var/lib/dm-broker /run/dmbroker 2>&1)"
fi
left=$(pgrep -l 'dm-(uart|pcitest|hostbridge)|dmbrokerd' | tr '\n' ' ')
if [ -z "$left" ]; then pass "no broker or device model process left"; else fail "left running: $left"; fi

tap "1..$n"
tap "# done: $failed of $n failed"
