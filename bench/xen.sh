#!/bin/bash
# The data path on real Xen: a guest's port read through a brokered echo-dm
# against the same read served by xen-direct (tests/progs/xen-direct.c: the
# same libdmb device model, in its own process under the same seccomp
# allow-list, set up by a program that talks to Xen itself: no broker).
# Boots Debian's Xen 4.17 under qemu (TCG) as `make check-xen` does, in
# benchmark mode (tests/xen/init.sh: xbench_only=1): ROUNDS rounds of one
# guest per side, 2000 timed reads each, in ABBA order.
#
#   bench/xen.sh [BUILD]        BUILD defaults to build; ROUNDS=5 by default
#
# Prints the figures as the other benchmarks do ("result NAME VALUE UNIT",
# "ratio NAME VALUE"): per side, the median over the rounds of the mean
# round trip per read and of the fastest batch of 100 reads; the median of
# the rounds' ratios (target <= 1.10).  The first run downloads ~75 MB of
# packages (tests/xen/fetch.sh); needs qemu-system-x86 and the packages
# tools/install-deps.sh installs.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
rounds=${ROUNDS:-5}
case $rounds in '' | *[!0-9]* | 0) echo "bench/xen.sh: ROUNDS must be a positive number" >&2; exit 2 ;; esac

echo "== real Xen: brokered echo-dm vs xen-direct, $rounds rounds, $(date -u +%FT%TZ), $(nproc) CPUs"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
if ! { make -s BUILD="$build" programs tests xen-guests && tests/xen/fetch.sh &&
	tests/xen/build-initramfs.sh "$build"; } > "$out" 2>&1; then
	cat "$out"
	exit 1
fi
# the longest wait is 2 guests per round, each well under a minute
TIMEOUT=${TIMEOUT:-$((120 + rounds * 120))} \
	DOM0_EXTRA="xbench_only=1 xbench_rounds=$rounds ${DOM0_EXTRA:-}" \
	tests/xen/run.sh "$build" > "$out"
rc=$?
grep -E '^# (bench|xen):' "$out"
grep -E '^not ok ' "$out"
sed -n 's/^# \(result\|ratio\) /\1 /p' "$out"
tail -n 1 "$out"
exit $rc
