#!/bin/bash
# Run every benchmark of a build; each prints "result NAME VALUE UNIT" and
# "ratio NAME VALUE" lines.  Not pass/fail: read the ratios (the README and
# bench/README.md give the targets).
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
echo "== ioreq round trip (simulator), $(date -u +%FT%TZ), $(nproc) CPUs"
"$build/bench/ioreq_rtt" --echo-dm "$build/tests/progs/echo-dm"
for b in "$build"/bench/*; do
    case $(basename "$b") in ioreq_rtt) continue ;; esac
    [ -x "$b" ] || continue
    echo "== $(basename "$b")"
    "$b" --build "$build"
done
