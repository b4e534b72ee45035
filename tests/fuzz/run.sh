#!/bin/bash
# Build the libFuzzer targets (make fuzz-build) and run each for a while on a
# scratch copy of its committed corpus; one TAP line per target, then
# "N passed, N failed".  Exits non-zero on any crash, leak, timeout or OOM.
#
#   tests/fuzz/run.sh [--time SECONDS] [--build DIR] [--no-build] [TARGET...]
#
#   --time      seconds per target (default 60)
#   --build     where the fuzzers are built (default build/fuzz); each target
#               runs in DIR/run/TARGET/ (corpus copy, artifacts, log)
#   --no-build  run what DIR holds without calling make
#   TARGET      fuzz-policy, fuzz-dmframes, ... (default: every tests/fuzz/fuzz-*.c)
#
# Needs clang and libFuzzer (Debian 12: clang, libclang-rt-14-dev).  The repo
# is never written to.  To fold what a run found back into the seed corpus:
#   DIR/fuzz-NAME -merge=1 tests/fuzz/corpus/NAME DIR/run/fuzz-NAME/corpus
# To replay a crash:  DIR/fuzz-NAME ARTIFACT   (FUZZ_VERBOSE=1 shows the broker's log)
set -u
cd "$(dirname "$0")/../.."
time=60 build=build/fuzz nobuild=0
targets=()
while [ $# -gt 0 ]; do
    case $1 in
        --time) time=$2; shift 2 ;;
        --build) build=$2; shift 2 ;;
        --no-build) nobuild=1; shift ;;
        -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
        *) targets+=("${1#fuzz-}"); shift ;;
    esac
done
case $time in ''|*[!0-9]*) echo "run.sh: --time takes whole seconds" >&2; exit 2 ;; esac

if [ $nobuild = 1 ]; then
    :
elif ! command -v "${FUZZ_CC:-clang}" >/dev/null; then
    echo "not ok - fuzz: ${FUZZ_CC:-clang} not found (Debian: apt-get install clang libclang-rt-14-dev)"
    echo "0 passed, 1 failed"
    exit 1
elif ! make --no-print-directory FUZZ_BUILD="$build" fuzz-build >"${TMPDIR:-/tmp}/dmb-fuzz-build.$$" 2>&1; then
    echo "not ok - fuzz: build failed"
    tail -20 "${TMPDIR:-/tmp}/dmb-fuzz-build.$$" | sed 's/^/# /'
    rm -f "${TMPDIR:-/tmp}/dmb-fuzz-build.$$"
    echo "0 passed, 1 failed"
    exit 1
fi
rm -f "${TMPDIR:-/tmp}/dmb-fuzz-build.$$"

if [ ${#targets[@]} -eq 0 ]; then
    for src in tests/fuzz/fuzz-*.c; do
        name=${src##*/fuzz-}
        targets+=("${name%.c}")
    done
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
passed=0 failed=0
for name in "${targets[@]}"; do
    t=fuzz-$name
    bin=$build/$t
    work=$build/run/$t
    if [ ! -x "$bin" ]; then
        echo "not ok - fuzz: $t: no such target ($bin)"
        failed=$((failed + 1))
        continue
    fi
    rm -rf "$work"
    mkdir -p "$work/corpus" "$work/artifacts"
    if [ -d "tests/fuzz/corpus/$name" ]; then
        cp -r "tests/fuzz/corpus/$name/." "$work/corpus/"
    fi
    args=(-max_total_time="$time" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
          -artifact_prefix="$work/artifacts/")
    [ -f "tests/fuzz/$name.dict" ] && args+=(-dict="tests/fuzz/$name.dict")
    "$bin" "${args[@]}" "$work/corpus" >"$work/log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
    covline=$(grep -E '^#[0-9]+.*cov: [0-9]+ ft: [0-9]+' "$work/log" | tail -1)
    cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$covline")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$covline")
    artifact=$(ls -1 "$work/artifacts" 2>/dev/null | head -1)
    if [ $rc -eq 0 ] && [ -z "$artifact" ] && [ -n "$execs" ]; then
        echo "ok - fuzz: $t (${execs} execs, ${cov:-?} coverage, ${ft:-?} features)"
        passed=$((passed + 1))
        continue
    fi
    case $artifact in
        crash-*) what=crash ;;
        leak-*) what=leak ;;
        timeout-*) what=timeout ;;
        oom-*) what=oom ;;
        slow-unit-*) what=slow ;;
        *) what="exit status $rc" ;;
    esac
    echo "not ok - fuzz: $t: $what"
    [ -n "$artifact" ] && echo "# artifact: $work/artifacts/$artifact"
    echo "# log: $work/log"
    [ -n "$artifact" ] && echo "# reproduce: $bin $work/artifacts/$artifact"
    # The first lines of the report: what failed, and where.
    grep -n -m1 -E 'check failed|ERROR: |runtime error|==[0-9]+==' "$work/log" | cut -d: -f1 |
        while read -r first; do
            sed -n "$((first > 2 ? first - 2 : 1)),$((first + 14))p" "$work/log"
        done | sed 's/^/#   /'
    failed=$((failed + 1))
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
