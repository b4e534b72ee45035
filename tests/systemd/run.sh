#!/bin/bash
# SPDX-License-Identifier: MIT
# Boot Debian's kernel under qemu with the host's own root (read-only over
# virtio-9p, a tmpfs overlay on top) and Debian's systemd as PID 1, install
# the freshly built .deb in there and test dmbrokerd under it
# (tests/systemd/test.sh).  Prints TAP and "N passed, N failed".
#
#   tests/systemd/run.sh [--build DIR] [--deb FILE] [--counts FILE]
#
# --build: the build directory (default build; the .deb from `make deb` is
# looked up in DIR/deb); --counts appends "passed failed" to FILE
# (tests/run-all.sh).  Environment: XEN_CACHE (tests/xen/fetch.sh's cache
# with Debian's kernel, default build/xen-cache), TIMEOUT (seconds, 600),
# MEM (MiB, 1024), SMP (2), ACCEL (tcg; kvm where available), VERBOSE=1
# (the console on stdout too), PLAN_DIR (another directory with test.sh,
# units/ and dropin/, to try things out; default tests/systemd).
set -euo pipefail
cd "$(dirname "$0")/../.."
die() { echo "tests/systemd/run.sh: $*" >&2; exit 1; }

build=build deb="" counts=""
while [ $# -gt 0 ]; do
	case $1 in
	--build) build=$2; shift 2 ;;
	--deb) deb=$2; shift 2 ;;
	--counts) counts=$2; shift 2 ;;
	*) die "unknown argument $1" ;;
	esac
done
C=${XEN_CACHE:-build/xen-cache}
TIMEOUT=${TIMEOUT:-600} MEM=${MEM:-1024} SMP=${SMP:-2} ACCEL=${ACCEL:-tcg}

for t in qemu-system-x86_64 cpio modprobe timeout perl; do
	command -v $t > /dev/null || die "$t missing (tools/install-deps.sh: qemu-system-x86 cpio kmod coreutils perl)"
done
[ -x /lib/systemd/systemd ] || die "no /lib/systemd/systemd on the host (apt-get install systemd): the VM boots the host's root"
BUSYBOX=${BUSYBOX:-/bin/busybox}
file -L "$BUSYBOX" 2> /dev/null | grep -q 'statically linked' ||
	die "$BUSYBOX is not a static busybox (apt-get install busybox-static)"
[ -f "$C/complete" ] || die "no kernel in $C: run tests/xen/fetch.sh first (make check-systemd does)"
C=$(cd "$C" && pwd)
KVER=$(cat "$C/kver")
KERNEL=$C/vmlinux # PVH entry: no decompression under TCG
[ -s "$KERNEL" ] || die "$KERNEL missing: tests/xen/fetch.sh"
if [ -z "$deb" ]; then
	deb=$(ls -t "$build"/deb/dm-broker_*.deb 2> /dev/null | head -n 1) ||
		true
	[ -n "$deb" ] || die "no $build/deb/dm-broker_*.deb: make deb"
fi
[ -f "$deb" ] || die "$deb: no such file"
deb=$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")
tdir=$(cd "${PLAN_DIR:-tests/systemd}" && pwd)

# ---- the initramfs: busybox, the modules for 9p and overlayfs, init.sh
W=$build/systemd
mkdir -p "$W"
W=$(cd "$W" && pwd)
I=$W/initramfs
rm -rf "$I"
mkdir -p "$I"/{bin,dev,proc,sys,modules}
cp "$BUSYBOX" "$I/bin/busybox"
for a in sh mount umount insmod mkdir cat cp rm switch_root poweroff echo sleep; do
	ln -s busybox "$I/bin/$a"
done
: > "$I/modules.list"
for m in virtio_pci 9pnet_virtio 9p overlay; do
	modprobe -d "$C/root" -S "$KVER" --show-depends "$m" | awk '$1 == "insmod" { print $2 }'
done | awk '!seen[$0]++' | while read -r f; do
	cp "$f" "$I/modules/"
	basename "$f" >> "$I/modules.list"
done
[ -s "$I/modules.list" ] || die "no 9p/overlay modules in $C/root/lib/modules/$KVER"
install -m 0755 tests/systemd/init.sh "$I/init"
(cd "$I" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) > "$W/initramfs.cpio"

# ---- boot
LOG=$W/console.log RES=$W/results.tap
rm -f "$LOG" "$RES"
append="console=ttyS0 rdinit=/init panic=-1 loglevel=4 systemd.unified_cgroup_hierarchy=1"
append+=" systemd.unit=dmb-test.target systemd.show_status=1"
append+=" dmbtest.dir=$tdir dmbtest.deb=$deb"
qemu=(qemu-system-x86_64 -accel "$ACCEL" -cpu max -smp "$SMP" -m "$MEM"
      -nographic -monitor none -no-reboot -nic none
      -serial stdio -serial "file:$RES"
      -kernel "$KERNEL" -initrd "$W/initramfs.cpio" -append "$append"
      -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"
      -device virtio-rng-pci)
printf '%q ' "${qemu[@]}" > "$LOG.cmd"
echo "# systemd: booting Debian's kernel $KVER with the host's root and systemd as PID 1 ($ACCEL), timeout ${TIMEOUT}s"
start=$(date +%s.%N)
set +e
timeout --foreground -k 5 "$TIMEOUT" "${qemu[@]}" < /dev/null 2>&1 |
	perl -MTime::HiRes=time -ne 'BEGIN { $| = 1; $t0 = time } s/\r//g; printf "[%8.3f] %s", time - $t0, $_' |
	if [ "${VERBOSE:-0}" = 1 ]; then tee "$LOG"; else cat > "$LOG"; fi
rc=${PIPESTATUS[0]}
set -e
wall=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
[ "$rc" = 124 ] && echo "# systemd: TIMEOUT after ${TIMEOUT}s"
echo "# systemd: qemu exit $rc after ${wall}s; systemd up at" \
	"$(sed -n 's/^\[ *\([0-9.]*\)\] .*Welcome to .*/\1/p' "$LOG" | head -n 1)s, test plan from" \
	"$(sed -n 's/^\[ *\([0-9.]*\)\] .*@@ ok 1 - .*/\1/p' "$LOG" | head -n 1)s (console: $LOG)"

# ---- the verdict: every line of ttyS1, the plan complete
touch "$RES"
sed -i 's/\r$//' "$RES"
grep -E '^(ok|not ok) |^#' "$RES" || true
passed=$(grep -c '^ok ' "$RES" || true)
failed=$(grep -c '^not ok ' "$RES" || true)
plan=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$RES" | tail -n 1)
if ! grep -q '^# done' "$RES" || [ "${plan:-x}" != $((passed + failed)) ]; then
	failed=$((failed + 1))
	echo "not ok - systemd: the plan did not run to its end (qemu exit $rc, plan '${plan:-}', $((passed + failed - 1)) results)"
fi
if [ "$failed" -gt 0 ]; then
	echo "# ---- what went wrong (full console: $LOG)"
	grep -aE 'dmbrokerd\[[0-9]+\]: .*(warning|error)|FAILED|Failed|dmb-initramfs|Kernel panic|status=[0-9]+/' "$LOG" |
		grep -v 'single-unit layout' | head -n 40 | sed 's/^/#   /'
fi
echo "systemd: $passed passed, $failed failed"
[ -n "$counts" ] && echo "$passed $failed" >> "$counts"
[ "$failed" -eq 0 ]
