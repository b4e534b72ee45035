#!/bin/bash
# The whole suite, as `make check` runs it: the plain build's tests, the same
# tests built with ASan+UBSan, a valgrind pass, the checks of shipped
# files, fuzzing, real Xen under qemu (make check-xen), make install and
# the Debian package under a real systemd (make check-systemd).
# Ends with one line: "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
counts=$(mktemp)
trap 'rm -f "$counts"' EXIT
jobs=${JOBS:-$(nproc)}

section() { echo; echo "== $*"; }

section "unit and integration tests (build/)"
tests/run.sh --build build --counts "$counts"

section "the same, built with ASan+UBSan (build/asan/)"
if make -s -j"$jobs" BUILD=build/asan SANITIZE=1 all >/dev/null; then
    tests/run.sh --build build/asan --label asan: --counts "$counts"
else
    echo "not ok - asan: build failed"; echo "0 1" >> "$counts"
fi

section "valgrind (build/)"
tests/run.sh --build build --valgrind --label valgrind: --counts "$counts" \
    build/tests/test-frame build/tests/test-req build/tests/test-libdmb \
    build/tests/test-devices build/tests/test-dataplane

section "man pages against the code (man/)"
tests/run.sh --build build --counts "$counts" tests/docs/test-manpages.sh

section "fuzzing (tests/fuzz: each target ${FUZZ_TIME:-60} s on its seed corpus)"
fuzz_out=$(tests/fuzz/run.sh --time "${FUZZ_TIME:-60}" 2>&1); fuzz_rc=$?
grep -E '^(ok|not ok) ' <<<"$fuzz_out"
fuzz_ok=$(grep -c '^ok ' <<<"$fuzz_out")
fuzz_bad=$(grep -c '^not ok ' <<<"$fuzz_out")
if [ $fuzz_rc -ne 0 ] && [ "$fuzz_bad" -eq 0 ]; then
    fuzz_bad=1
    echo "not ok - fuzz: tests/fuzz/run.sh exited with status $fuzz_rc"
    tail -n 20 <<<"$fuzz_out" | sed 's/^/    /'
fi
echo "$fuzz_ok $fuzz_bad" >> "$counts"

# Xen's own tools, not the simulator: Debian's Xen 4.17 booted under qemu
# (TCG), the scenario guests served through dmbrokerd (tests/xen/README.md).
# The first run downloads ~75 MB of packages into build/xen-cache.  Its TAP
# lines count here, scn2c's as well; CHECK_XEN=0 skips it.
section "real Xen under qemu (make check-xen)"
if [ "${CHECK_XEN:-1}" = 0 ]; then
    echo "# skipped: CHECK_XEN=0"
else
    rm -f build/tests/xen/scn2c-test.log
    xen_out=$(make -s BUILD=build check-xen 2>&1 </dev/null); xen_rc=$?
    scn_ok=$(grep -c '^ok ' build/tests/xen/scn2c-test.log 2>/dev/null)
    scn_bad=$(grep -c '^not ok ' build/tests/xen/scn2c-test.log 2>/dev/null)
    grep -E '^not ok ' build/tests/xen/scn2c-test.log 2>/dev/null
    grep -E '^scn2c: |^(ok|not ok) - xen: |^# (xen|bench): ' <<<"$xen_out"
    xen_ok=$(grep -c '^ok - xen: ' <<<"$xen_out")
    xen_bad=$(grep -c '^not ok - xen: ' <<<"$xen_out")
    sed -n '/^# ---- what went wrong/,/^[0-9]* passed, /p' <<<"$xen_out" | head -n 200
    if [ $xen_rc -ne 0 ] && [ $((${scn_bad:-0} + xen_bad)) -eq 0 ]; then
        xen_bad=1   # broke before or outside any check: the build, the download, qemu
        echo "not ok - xen: make check-xen exited with status $xen_rc"
        tail -n 20 <<<"$xen_out" | sed 's/^/    /'
    fi
    echo "$((${scn_ok:-0} + xen_ok)) $((${scn_bad:-0} + xen_bad))" >> "$counts"
fi

section "make install / make uninstall (tests/install)"
inst_counts=$(mktemp)
tests/install/test-install.sh --build build --counts "$inst_counts"
if [ -s "$inst_counts" ]; then
    cat "$inst_counts" >> "$counts"
else
    echo "not ok - install: tests/install/test-install.sh stopped before its summary"; echo "0 1" >> "$counts"
fi
rm -f "$inst_counts"

# The Debian package under Debian's systemd as PID 1 in a qemu VM
# (tests/systemd/README.md): make deb, then the VM boots the host's root
# read-only with a RAM overlay.  CHECK_SYSTEMD=0 skips it.
section "the .deb under a real systemd (make check-systemd)"
if [ "${CHECK_SYSTEMD:-1}" = 0 ]; then
    echo "# skipped: CHECK_SYSTEMD=0"
else
    sd_counts=$(mktemp)
    sd_log=$(mktemp)
    if make -s BUILD=build deb >"$sd_log" 2>&1 </dev/null && tests/xen/fetch.sh >>"$sd_log" 2>&1; then
        tests/systemd/run.sh --build build --counts "$sd_counts" </dev/null
    else
        echo "not ok - systemd: make deb or tests/xen/fetch.sh failed"
        tail -n 20 "$sd_log" | sed 's/^/    /'
    fi
    if [ -s "$sd_counts" ]; then
        cat "$sd_counts" >> "$counts"
    else
        echo "not ok - systemd: tests/systemd/run.sh stopped before its summary"; echo "0 1" >> "$counts"
    fi
    rm -f "$sd_counts" "$sd_log"
fi

passed=0 failed=0
while read -r p f; do passed=$((passed + p)); failed=$((failed + f)); done < "$counts"
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
