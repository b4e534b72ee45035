#!/bin/bash
# Boot Debian's Xen 4.17 under qemu (TCG: no KVM needed) with dom0's kernel
# and tests/xen's initramfs, let dom0's /init (tests/xen/init.sh) run the
# test plan, and turn its @@RESULT lines into TAP.
#
#   tests/xen/run.sh [BUILD]          BUILD defaults to build
#   tests/xen/run.sh --evaluate LOG   only judge the console log of an earlier run
#
# Environment: XEN_CACHE (tests/xen/fetch.sh's cache), TIMEOUT (600 s),
# MEM (qemu MiB, 1024), DOM0_MEM (512M), XEN_EXTRA / DOM0_EXTRA (more
# command-line options), VERBOSE=1 (the console on stdout too),
# INTERACTIVE=1 (qemu on the terminal, no timeout, no verdict; with
# XEN_SHELL=1 given to build-initramfs.sh, dom0 ends in a shell).
#
# The console, with host-side timestamps, goes to build/xen-logs/run-<date>.log.
# Exit 0 only if every check of the plan passed.
set -uo pipefail
cd "$(dirname "$0")/../.."
die() { echo "run.sh: $*" >&2; exit 1; }

boot() {
	local f t start wall
	for f in "$C/xen" "$C/vmlinux" "$BUILD/xen/initramfs.cpio"; do
		[ -s "$f" ] || die "$f missing: run tests/xen/fetch.sh and tests/xen/build-initramfs.sh (make check-xen)"
	done
	for t in qemu-system-x86_64 perl timeout; do
		command -v $t > /dev/null || die "$t missing (apt-get install qemu-system-x86 perl coreutils)"
	done

	# Xen: serial console, everything logged (guest_loglvl=all: the guests
	# report through Xen's console), a console ring large enough that dom0
	# never misses a guest line between two reads, one dom0 vCPU.
	local xen="console=com1 com1=115200,8n1 loglvl=all guest_loglvl=all console_timestamps=boot"
	xen+=" conring_size=4M dom0_mem=$DOM0_MEM,max:$DOM0_MEM dom0_max_vcpus=1 ${XEN_EXTRA:-}"
	local dom0="console=hvc0 earlyprintk=xen rdinit=/init loglevel=5 ${DOM0_EXTRA:-}"
	# qemu's multiboot -initrd is "file cmdline,file": a comma inside a command line is ",,"
	dom0=${dom0//,/,,}

	mkdir -p build/xen-logs
	LOG=build/xen-logs/run-$(date +%Y%m%d-%H%M%S).log
	# -smp 1: with 2 pCPUs, round trips were sometimes 10x slower under TCG.
	# +rdrand: dom0's CRNG is ready at once (xl stalls on entropy otherwise).
	local qemu=(qemu-system-x86_64 -accel tcg,thread=multi -cpu qemu64,+svm,+npt,+rdrand -smp 1
	            -m "$MEM" -nographic -monitor none -serial stdio -no-reboot -nic none
	            -kernel "$C/xen" -append "$xen"
	            -initrd "$C/vmlinux $dom0,$BUILD/xen/initramfs.cpio")
	printf '%q ' "${qemu[@]}" > "$LOG.cmd"
	echo >> "$LOG.cmd"
	[ "${INTERACTIVE:-0}" = 1 ] && exec "${qemu[@]}"

	echo "# xen: booting Xen 4.17 under qemu (TCG), timeout ${TIMEOUT}s, log $LOG"
	start=$(date +%s.%N)
	# stdin from /dev/null: nothing may wait for a keyboard.  Every line gets
	# the host's seconds since qemu started.
	timeout --foreground -k 5 "$TIMEOUT" "${qemu[@]}" < /dev/null 2>&1 |
		perl -MTime::HiRes=time -ne 'BEGIN { $| = 1; $t0 = time }
			s/\r//g; printf "[%8.3f] %s", time - $t0, $_' |
		if [ "${VERBOSE:-0}" = 1 ]; then tee "$LOG"; else cat > "$LOG"; fi
	QEMU_RC=${PIPESTATUS[0]}
	wall=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	[ "$QEMU_RC" = 124 ] && echo "# xen: TIMEOUT after ${TIMEOUT}s"
	echo "# xen: qemu exit $QEMU_RC after ${wall}s; dom0 /init at" \
		"$(sed -n 's/^\[ *\([0-9.]*\)\] .*@@PLAN .*/\1/p' "$LOG" | head -n 1)s"
}

# The benchmark's figures (init.sh, bench_line and test_bench_pair), per
# round: "@@BENCH broker|direct ..." from two guests served one after the
# other, "@@BENCH pair-broker|pair-direct ..." and "@@BENCH-PAIRED ..." from
# one guest whose reads alternate between the two in batches.  Printed: each
# round's round trips per port read and ratios (brokered echo-dm over
# xen-direct; from the mean of all reads and from each side's fastest
# batch, the figure the host's noise disturbs least; the paired guest's
# median over its batch pairs), then the medians over the rounds, also as
# the "result" and "ratio" lines of bench/ (bench/xen.sh prints them
# without the "# ").  Not a check: the host's noise is in it.
bench_summary() {
	sed -n 's/^.*@@\(BENCH[- ].*\)$/\1/p' "$LOG" | awk -v target=1.10 '
	function median(a, n,   i, j, t) {
		for (i = 2; i <= n; i++)
			for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	function us(v, khz) { return khz > 0 ? v / khz * 1000 : 0 }
	function above(q) { return q > target ? " ABOVE the target" : "" }
	{
		print "# @@" $0
		delete f
		first = $1 == "BENCH" ? 3 : 2
		for (i = first; i <= NF; i++) { k = index($i, "="); f[substr($i, 1, k - 1)] = substr($i, k + 1) }
		r = f["round"]
		if (r == "") next
		if (!(r in seen)) { seen[r] = 1; order[++nr] = r }
		if ($1 == "BENCH-PAIRED") { pq[r] = f["ratio_p50_permille"] / 1000; pm[r] = f["ratio_min_permille"] / 1000; next }
		mean[$2, r] = us(f["tsc_per_read"], f["tsc_khz"]); fast[$2, r] = us(f["tsc_min_batch"], f["tsc_khz"])
		reads = f["n"]; batch = f["batch"]
	}
	END {
		n = m = 0
		for (i = 1; i <= nr; i++) {
			r = order[i]
			if ((("broker", r) in mean) && (("direct", r) in mean) && mean["direct", r] > 0 && fast["direct", r] > 0) {
				n++; b[n] = mean["broker", r]; d[n] = mean["direct", r]; q[n] = b[n] / d[n]
				fb[n] = fast["broker", r]; fd[n] = fast["direct", r]; fq[n] = fb[n] / fd[n]
				printf "# bench: round %s, one guest each: broker %.1f us/read, direct %.1f, ratio %.3f;" \
					" fastest batches: broker %.1f, direct %.1f, ratio %.3f\n", r, b[n], d[n], q[n], fb[n], fd[n], fq[n]
			}
			if (r in pq) {
				m++; xq[m] = pq[r]; xm[m] = pm[r]; xb[m] = mean["pair-broker", r]; xd[m] = mean["pair-direct", r]
				printf "# bench: round %s, one guest, batches alternating: broker %.1f us/read, direct %.1f;" \
					" ratio %.3f (median of the batch pairs), fastest batches %.3f\n", r, xb[m], xd[m], xq[m], xm[m]
			}
		}
		if (!n && !m) { if (nr) print "# bench: no round with both sides"; exit }
		if (n) {
			mq = median(q, n); mfq = median(fq, n)
			printf "# bench: one guest each, median of %d round%s of %s reads: broker %.1f us/read, direct %.1f, ratio %.3f;" \
				" fastest batches of %s: broker %.1f, direct %.1f, ratio %.3f\n", n, (n == 1 ? "" : "s"), reads,
				median(b, n), median(d, n), mq, batch, median(fb, n), median(fd, n), mfq
		}
		if (m) {
			mxq = median(xq, m)
			printf "# bench: paired in one guest, median of %d round%s: broker %.1f us/read, direct %.1f, ratio %.3f%s" \
				" (target <= %s)\n", m, (m == 1 ? "" : "s"), median(xb, m), median(xd, m), mxq, above(mxq), target
		}
		if (n) {
			printf "# result xen_port_read_broker_median %.1f us\n", median(b, n)
			printf "# result xen_port_read_direct_median %.1f us\n", median(d, n)
			printf "# ratio xen_port_read_broker_vs_direct_median %.3f\n", mq
			printf "# result xen_port_read_broker_fastest_batch_median %.1f us\n", median(fb, n)
			printf "# result xen_port_read_direct_fastest_batch_median %.1f us\n", median(fd, n)
			printf "# ratio xen_port_read_broker_vs_direct_fastest_batch_median %.3f\n", mfq
		}
		if (m) {
			printf "# result xen_port_read_paired_broker_median %.1f us\n", median(xb, m)
			printf "# result xen_port_read_paired_direct_median %.1f us\n", median(xd, m)
			printf "# ratio xen_port_read_broker_vs_direct_paired_median %.3f\n", mxq
		}
	}'
}

# Every check of dom0's plan must have a PASS line: "@@RESULT name PASS|FAIL
# detail", anywhere in a console line (Xen may put a guest's line in front).
judge() {
	local passed=0 failed=0 faildoms="" name verdict detail n d plan
	local -A seen=() domid=()

	# "@@DOMAIN name domid": which "(dN)" lines belong to the checks of a guest
	while read -r n d; do
		domid[$n]=$d
	done < <(sed -n 's/^.*@@DOMAIN \([^ ]*\) \([0-9]*\).*$/\1 \2/p' "$LOG")
	while read -r name verdict detail; do
		[ -n "$name" ] || continue
		seen[$name]=1
		if [ "$verdict" = PASS ]; then
			echo "ok - xen: $name${detail:+ # $detail}"
			passed=$((passed + 1))
		else
			echo "not ok - xen: $name${detail:+ # $detail}"
			failed=$((failed + 1))
			d=${domid[${name%%/*}]:-}
			[ -n "$d" ] && faildoms="$faildoms|$d"
		fi
	done < <(sed -n 's/^.*@@RESULT \([^ ]*\) \(PASS\|FAIL\)\(.*\)$/\1 \2\3/p' "$LOG")

	plan=$(sed -n 's/^.*@@PLAN //p' "$LOG" | head -n 1)
	if [ -z "$plan" ]; then
		echo "not ok - xen: dom0 plan # dom0's /init never started"
		failed=$((failed + 1))
	fi
	for name in $plan; do
		[ -n "${seen[$name]:-}" ] && continue
		echo "not ok - xen: $name # not reported"
		failed=$((failed + 1))
	done
	if ! grep -q '@@DONE' "$LOG"; then
		echo "not ok - xen: dom0 finished # no @@DONE: dom0 did not get to the end (qemu exit $QEMU_RC)"
		failed=$((failed + 1))
	fi

	bench_summary
	if [ $failed -gt 0 ]; then
		echo "# ---- what went wrong (full console: $LOG)"
		if [ -n "$faildoms" ]; then
			echo "# failed ops and errors of the guests whose checks failed:"
			grep -E "\\(d(${faildoms#|})\\) (\\[ *[0-9.]+\\] )?(SCN .* FAIL |GUEST-ERROR|GUEST-EXCEPTION)" \
				"$LOG" | head -n 60 | sed 's/^/#   /'
		fi
		echo "# dmbrokerd's warnings and errors:"
		grep -E 'broker\| .*(: (warning|error): |event (crash|violation|fail))' "$LOG" | head -n 40 |
			sed 's/^/#   /'
		echo "# Xen about the guests:"
		grep -E '\(XEN\).*\b(d[1-9][0-9]*(v[0-9]+)?|dom[1-9][0-9]*)\b' "$LOG" | grep -vE '\(d[0-9]+\) ' |
			grep -iE '\b(error|fail(ed|ure)?|crash(ed)?|bad|unhandled|triple|fault|denied|unsupported|illegal)\b' |
			head -n 40 | sed 's/^/#   /'
		echo "# last 40 console lines:"
		tail -n 40 "$LOG" | sed 's/^/#   /'
	fi
	echo "$passed passed, $failed failed"
	[ $failed = 0 ]
}

QEMU_RC=""
if [ "${1:-}" = --evaluate ]; then
	LOG=${2:?--evaluate LOG}
else
	BUILD=${1:-build}
	C=${XEN_CACHE:-build/xen-cache}
	TIMEOUT=${TIMEOUT:-600}
	MEM=${MEM:-1024}
	DOM0_MEM=${DOM0_MEM:-512M}
	boot
fi
judge
