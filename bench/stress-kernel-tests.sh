#!/usr/bin/env bash
# Runs the kernel-facing test files (crates/net/tests/*, crates/runtime/tests/kernel.rs,
# crates/kestrel/tests/kernel.rs) RUNS times in a row while both cores are kept busy by an
# unrelated build, and counts failures. A test that fails only under load is a bug to find,
# not to retry (issue 9); this script is how we look for them.
# Usage (root): bench/stress-kernel-tests.sh [RUNS]   (default 20)
# LOAD=none skips the background build (to compare). Prints one line per run and a summary;
# the result and the command go to docs/BENCHMARKS.md.
set -uo pipefail
cd "$(dirname "$0")/.."

RUNS=${1:-20}
export KESTREL_REQUIRE_KERNEL=1
LOG=$(mktemp -d /tmp/kestrel-stress.XXXXXX)
LOAD_TARGET=$(mktemp -d /tmp/kestrel-stress-build.XXXXXX)
LOAD_PID=

cleanup() {
    if [ -n "$LOAD_PID" ]; then kill -- "-$LOAD_PID" 2>/dev/null || kill "$LOAD_PID" 2>/dev/null; fi
    rm -rf "$LOAD_TARGET"
}
trap cleanup EXIT

echo "== building the test binaries once"
cargo test -p kestrel-net -p kestrel-runtime -p kestrel --no-run --quiet 2>&1 | tail -3

if [ "${LOAD:-build}" != none ]; then
    # Another build, from scratch into its own target dir, over and over: both cores busy.
    set -m
    ( while true; do
          CARGO_TARGET_DIR="$LOAD_TARGET" cargo build -q -p kestrel-lang -p kestrel-codegen >/dev/null 2>&1
          rm -rf "$LOAD_TARGET"/debug
      done ) &
    LOAD_PID=$!
    set +m
    echo "== background build running (pid $LOAD_PID)"
fi

failures=0
for run in $(seq "$RUNS"); do
    start=$(date +%s)
    if cargo test -q -p kestrel-net --tests >"$LOG/net-$run.log" 2>&1 &&
       cargo test -q -p kestrel-runtime --test kernel >"$LOG/rt-$run.log" 2>&1 &&
       cargo test -q -p kestrel --test kernel >"$LOG/k-$run.log" 2>&1; then
        echo "run $run: ok ($(( $(date +%s) - start )) s)"
    else
        failures=$((failures + 1))
        echo "run $run: FAILED ($(( $(date +%s) - start )) s) — logs in $LOG"
        grep -h -E "^test .* FAILED|panicked at" "$LOG"/*-"$run".log | head -5
    fi
done
echo "== $((RUNS - failures)) of $RUNS runs passed (load: ${LOAD:-build}; load average now: $(cut -d' ' -f1-3 /proc/loadavg))"
[ "$failures" = 0 ]
