#!/bin/bash
# Run the unit and integration test programs of one build and print TAP-style
# lines per test, then "N passed, N failed".
#   tests/run.sh --build DIR [--valgrind] [--label NAME] [--counts FILE] [PROGRAM...]
# --counts appends "passed failed" to FILE (tests/run-all.sh adds them up).
set -u
cd "$(dirname "$0")/.."
build=build valgrind=0 label="" counts=""
progs=()
while [ $# -gt 0 ]; do
    case $1 in
        --build) build=$2; shift 2 ;;
        --valgrind) valgrind=1; shift ;;
        --label) label="$2 "; shift 2 ;;
        --counts) counts=$2; shift 2 ;;
        *) progs+=("$1"); shift ;;
    esac
done
[ ${#progs[@]} -gt 0 ] || progs=("$build"/tests/test-*)
export TEST_BUILDDIR=$build TEST_SRCDIR=tests
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
passed=0 failed=0
for p in "${progs[@]}"; do
    [ -x "$p" ] || continue
    name=$(basename "$p")
    if [ $valgrind = 1 ]; then
        # Test programs fork a child per test: follow it, but not the helpers they exec.
        run=(valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
             --trace-children=no --child-silent-after-fork=no "$p")
    else
        run=("$p")
    fi
    out=$("${run[@]}" 2>&1); rc=$?
    ok=$(grep -c '^ok ' <<<"$out")
    bad=$(grep -c '^not ok ' <<<"$out")
    if [ $rc -ne 0 ] && [ "$bad" -eq 0 ]; then
        bad=1   # crashed or valgrind errors outside any single test
        echo "not ok - ${label}$name exited with status $rc"
    fi
    grep -E '^(ok|not ok) ' <<<"$out" |
        awk -v p="${label}$name" '{ s = ($1 == "not") ? "not ok" : "ok"; t = ($1 == "not") ? $4 : $3;
                                   ms = $(NF-1); print s " - " p ": " t " " ms " ms)" }' 
    if [ "$bad" -gt 0 ]; then
        grep -E '^# |ERROR SUMMARY|==[0-9]+==|runtime error|AddressSanitizer' <<<"$out" | head -40 | sed 's/^/    /'
    fi
    passed=$((passed + ok)); failed=$((failed + bad))
done
[ -n "$counts" ] && echo "$passed $failed" >> "$counts"
echo "${label}${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
