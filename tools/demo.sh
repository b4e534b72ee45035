#!/bin/bash
# The main job on the simulator, in one command (make demo):
# start the simulated Xen, start dmbrokerd with policy/examples/demo.json,
# create a paused two-vCPU guest, let the broker attach the host bridge, the
# UART and the PCI test device - each sandboxed, with its own ioreq server -
# run tests/scenarios/all.scn on the guest's vCPUs, show the device models,
# and exit 0 only if every op of the scenario passed.
set -u
cd "$(dirname "$0")/.."
build=$(cd "${1:-build}" && pwd)
if [ "$(id -u)" -ne 0 ]; then
    echo "demo: run as root: dmbrokerd creates namespaces and changes uids" >&2
    exit 2
fi
tmp=$(mktemp -d /tmp/dmb-demo.XXXXXX)
sim_pid="" broker_pid=""
cleanup() {
    [ -n "$broker_pid" ] && kill "$broker_pid" 2>/dev/null && wait "$broker_pid" 2>/dev/null
    [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
simctl() { "$build/bin/dmbsimctl" --socket "$tmp/sim.sock" "$@"; }
ctl() { "$build/bin/dmbrokerctl" --socket "$tmp/control.sock" "$@"; }
wait_for() { for _ in $(seq 200); do [ -S "$1" ] && return 0; sleep 0.05; done; return 1; }

echo "== starting the simulated Xen 4.17 hypervisor"
"$build/bin/dmbsimd" --socket "$tmp/sim.sock" 2>"$tmp/sim.log" &
sim_pid=$!
wait_for "$tmp/sim.sock" || { echo "demo: dmbsimd did not start" >&2; cat "$tmp/sim.log"; exit 1; }

echo "== starting dmbrokerd with policy/examples/demo.json"
"$build/bin/dmbrokerd" --hypervisor "sim:$tmp/sim.sock" --policy policy/examples/demo.json \
    --control "$tmp/control.sock" --state-dir "$tmp/state" --libexec-dir "$build/libexec" \
    --stop-on-exit \
    2>"$tmp/broker.log" &
broker_pid=$!
wait_for "$tmp/control.sock" || { echo "demo: dmbrokerd did not start" >&2; cat "$tmp/broker.log"; exit 1; }

echo "== creating guest 'demo-guest' (2 vCPUs, paused, as xl create -p would)"
domid=$(simctl create demo-guest --vcpus 2 --paused) || exit 1
for _ in $(seq 200); do
    [ "$(ctl --json dms "$domid" 2>/dev/null | grep -c '"state": "running"')" = 3 ] && break
    sleep 0.05
done
ctl status
echo
ctl dms "$domid"
echo
echo "== running tests/scenarios/all.scn on dom$domid (port I/O, MMIO, PCI config, MSI, two vCPUs)"
simctl run "$domid" tests/scenarios/all.scn --quiet
rc=$?
sleep 1.2 # the broker refreshes the device models' request counters every second
echo
ctl dms "$domid"
echo
echo "== the UART's output, as the broker captured it"
ctl logs "$domid" uart
echo
echo "== broker log"
sed 's/^/   /' "$tmp/broker.log"
if [ $rc -eq 0 ]; then echo "demo: PASSED"; else echo "demo: FAILED"; fi
exit $rc
