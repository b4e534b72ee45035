#!/bin/bash
# The whole suite, as `make check` runs it: the plain build's tests, the same
# tests built with ASan+UBSan, a valgrind pass, and the checks of shipped
# files.  Ends with one line: "N passed, N failed".
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

passed=0 failed=0
while read -r p f; do passed=$((passed + p)); failed=$((failed + f)); done < "$counts"
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
