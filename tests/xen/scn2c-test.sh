#!/bin/bash
# scn2c's refusals (what the real-Xen guest cannot run) and its output for
# every scenario of tests/scenarios: TAP, exit 1 on any failure.
#
#   tests/xen/scn2c-test.sh [BUILD]
set -uo pipefail
cd "$(dirname "$0")/../.."
SCN2C=${1:-build}/tests/xen/scn2c
[ -x "$SCN2C" ] || { echo "scn2c-test.sh: $SCN2C missing (make xen-guests)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 failed=0

ok() { n=$((n + 1)); echo "ok - scn2c: $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok - scn2c: $1"; }

# refused NAME EXPECTED-MESSAGE: $tmp/NAME.scn (written by the caller) must fail with it
refused() {
	local err
	if err=$("$SCN2C" -o "$tmp/out.c" "$tmp/$1.scn" 2>&1); then
		not_ok "$1: accepted"
	elif [ "$err" != "$tmp/$1.scn:$2" ]; then
		not_ok "$1: said '$err', not '$tmp/$1.scn:$2'"
	elif [ -e "$tmp/out.c" ] || [ -e "$tmp/out.c.tmp" ]; then
		not_ok "$1: left an output file"
	else
		ok "$1 refused"
	fi
}

printf 'in8 0x3f8 1\nvcpu 2\nin8 0x60 1\n' > "$tmp/vcpu2.scn"
refused vcpu2 "3: in8: vcpu 2: the Xen test guest runs at most 2 vCPUs"
printf 'out8 0xe9 0x41\n' > "$tmp/port-e9.scn"
refused port-e9 "1: out8: port 0xe9 + 1 bytes touches port 0xe9, Xen's debug console (the guest reports through it)"
printf 'in8 0x80 0\nin32 0xe6 ones\n' > "$tmp/port-e6.scn"
refused port-e6 "2: in32: port 0xe6 + 4 bytes touches port 0xe9, Xen's debug console (the guest reports through it)"
printf 'read64 0xfffffff9 ones\n' > "$tmp/mmio-4g.scn"
refused mmio-4g "1: read64: address 0xfffffff9 + 8 bytes is beyond 4 GiB (the Xen test guest runs 32-bit without paging)"
printf 'write32 0x100000000 0\n' > "$tmp/mmio-high.scn"
refused mmio-high "1: write32: address 0x100000000 + 4 bytes is beyond 4 GiB (the Xen test guest runs 32-bit without paging)"
printf 'read8 0xfff 0\n' > "$tmp/mmio-ram.scn"
refused mmio-ram "1: read8: address 0xfff is in the Xen test guest's RAM (below 0x1000000): not a device"
printf 'write32 0xfee000b0 0\n' > "$tmp/mmio-lapic.scn"
refused mmio-lapic "1: write32: address 0xfee000b0 is in the local APIC page 0xfee00000-0xfee00fff, which the Xen test guest uses for MSIs"
printf 'frobnicate 1\n' > "$tmp/parse.scn"
refused parse '1: unknown op "frobnicate"'

# the boundaries themselves are fine
printf 'in8 0xe8 0\nout8 0xea 0\nread32 0xfffffffc 0\nread8 0x1000000 0\nread64 0xfedffff8 0\nvcpu 1\nin8 0x80 0\n' \
	> "$tmp/edges.scn"
if "$SCN2C" -o "$tmp/edges.c" "$tmp/edges.scn" && grep -q '{"edges", 6, 2,' "$tmp/edges.c"; then
	ok "edges accepted"
else
	not_ok "edges: refused or wrong table"
fi

# every device scenario compiles, and the table compiles for the guest
for f in tests/scenarios/*.scn; do
	if "$SCN2C" -o "$tmp/t.c" "$f" 2> "$tmp/err" &&
		gcc -m32 -ffreestanding -nostdlib -Wall -Werror -Itests/xen/guest -c -o "$tmp/t.o" "$tmp/t.c"; then
		ok "$(basename "$f") compiles"
	else
		not_ok "$(basename "$f"): $(cat "$tmp/err")"
	fi
done
cp tests/scenarios/echo.scn "$tmp/"
if ! "$SCN2C" -o "$tmp/t.c" tests/scenarios/echo.scn "$tmp/echo.scn" 2> /dev/null; then
	ok "a scenario name given twice is refused"
else
	not_ok "a scenario name given twice was accepted"
fi

echo "scn2c: $((n - failed)) passed, $failed failed"
[ $failed = 0 ]
