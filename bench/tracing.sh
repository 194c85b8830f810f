#!/usr/bin/env bash
# Side-by-side benchmark of kestrel and bpftrace for the tracing language (issue 3):
#   1. start-up: wall time and peak RSS of `BEGIN { exit(); }` and of a tracepoint one-liner
#      that exits on its first event (a getppid loop runs in the background);
#   2. per-event overhead: ns per getppid call of a C loop, unprobed and under
#      `tracepoint:syscalls:sys_enter_getppid { @[comm] = count(); }`;
#   3. instructions per program (bpftool's xlated count) for the scripts in bench/scripts/.
# Usage (root): bench/tracing.sh [RUNS]   — KESTREL and BPFTRACE override the binaries;
# PARTS=startup,overhead,insns (the default: all three) picks the comparisons to run.
# Results and the command that produced them go to docs/BENCHMARKS.md; this script only prints.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${1:-10}
PARTS=${PARTS:-startup,overhead,insns}
want() { [[ ",$PARTS," == *",$1,"* ]]; }
KESTREL=${KESTREL:-./target/release/kestrel}
BPFTRACE=${BPFTRACE:-bpftrace}
WORK=$(mktemp -d /tmp/kestrel-bench.XXXXXX)
BG_PIDS=()
cleanup() {
    for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

for tool in "$KESTREL" "$BPFTRACE" bpftool gcc /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "bench: missing $tool" >&2; exit 1; }
done

# A getppid loop: `getppid_loop N` makes N calls and prints the ns per call.
cat >"$WORK/loop.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n || n == 0; i++) syscall(SYS_getppid);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
    printf("%.1f\n", ns / n);
    return 0;
}
EOF
gcc -O2 -o "$WORK/getppid_loop" "$WORK/loop.c"

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# time_runs LABEL CMD...: RUNS runs; prints the median wall seconds and the median peak RSS (MB).
time_runs() {
    local label=$1; shift
    local walls=() rss=()
    for _ in $(seq "$RUNS"); do
        /usr/bin/time -f '%e %M' -o "$WORK/time" "$@" >/dev/null 2>&1 || true
        read -r w m <"$WORK/time"
        walls+=("$w"); rss+=("$m")
    done
    printf '%-48s wall %6ss  peak RSS %6s MB\n' "$label" \
        "$(printf '%s\n' "${walls[@]}" | median)" \
        "$(printf '%s\n' "${rss[@]}" | median | awk '{printf "%.1f", $1/1024}')"
}

if want startup; then
echo "== start-up (median of $RUNS)"
time_runs "kestrel  BEGIN { exit(); }" "$KESTREL" -e 'BEGIN { exit(); }'
time_runs "bpftrace BEGIN { exit(); }" "$BPFTRACE" -e 'BEGIN { exit(); }'
"$WORK/getppid_loop" 0 >/dev/null & BG_PIDS+=($!)
TP='tracepoint:syscalls:sys_enter_getppid { exit(); }'
time_runs "kestrel  $TP" "$KESTREL" -e "$TP"
time_runs "bpftrace $TP" "$BPFTRACE" -e "$TP"
kill "${BG_PIDS[-1]}"; wait "${BG_PIDS[-1]}" 2>/dev/null || true; unset 'BG_PIDS[-1]'
fi

# attach_then TOOL SCRIPT CMD...: start TOOL on SCRIPT, wait until it is attached, run CMD,
# then stop TOOL with SIGINT. CMD's output is printed.
attach_then() {
    local tool=$1 script=$2; shift 2
    "$tool" -e "$script" >"$WORK/tool.out" 2>&1 &
    local tpid=$!
    for _ in $(seq 200); do
        grep -qE 'Attach(ing|ed) ' "$WORK/tool.out" 2>/dev/null && break
        sleep 0.05
    done
    sleep 0.3
    "$@"
    kill -INT "$tpid"; wait "$tpid" 2>/dev/null || true
}

if want overhead; then
echo "== per-event overhead: ns per getppid call (median of $RUNS runs of 2,000,000 calls)"
COUNT='tracepoint:syscalls:sys_enter_getppid { @[comm] = count(); }'
base=(); kes=(); bpf=()
for _ in $(seq "$RUNS"); do
    base+=("$("$WORK/getppid_loop" 2000000)")
    kes+=("$(attach_then "$KESTREL" "$COUNT" "$WORK/getppid_loop" 2000000)")
    bpf+=("$(attach_then "$BPFTRACE" "$COUNT" "$WORK/getppid_loop" 2000000)")
done
b=$(printf '%s\n' "${base[@]}" | median)
k=$(printf '%s\n' "${kes[@]}" | median)
p=$(printf '%s\n' "${bpf[@]}" | median)
printf 'unprobed %s ns; kestrel %s ns (+%s); bpftrace %s ns (+%s)\n' "$b" \
    "$k" "$(echo "$k - $b" | bc)" "$p" "$(echo "$p - $b" | bc)"
fi

# xlated_total PID: the sum of xlated instruction counts of the programs PID holds open
# (found through /proc/PID/fdinfo, so other BPF users on the machine do not count).
xlated_total() {
    local total=0 fd id bytes
    for fd in /proc/"$1"/fd/*; do
        [ "$(readlink "$fd" 2>/dev/null)" = "anon_inode:bpf-prog" ] || continue
        id=$(awk '/^prog_id:/ {print $2}' /proc/"$1"/fdinfo/"${fd##*/}")
        bytes=$(bpftool prog show id "$id" -j | python3 -c 'import json,sys; print(json.load(sys.stdin)["bytes_xlated"])')
        total=$((total + bytes / 8))
    done
    echo "$total"
}

want insns || exit 0
echo "== instructions per script (bpftool xlated counts)"
printf '%-28s %8s %9s\n' script kestrel bpftrace
ktot=0; btot=0
for f in bench/scripts/*.bt; do
    counts=()
    for tool in "$KESTREL" "$BPFTRACE"; do
        "$tool" "$f" >"$WORK/tool.out" 2>&1 &
        tpid=$!
        for _ in $(seq 200); do
            grep -qE 'Attach(ing|ed) ' "$WORK/tool.out" 2>/dev/null && break
            sleep 0.05
        done
        sleep 0.3
        counts+=("$(xlated_total "$tpid")")
        kill -INT "$tpid"; wait "$tpid" 2>/dev/null || true
    done
    printf '%-28s %8s %9s\n' "$(basename "$f")" "${counts[0]}" "${counts[1]}"
    ktot=$((ktot + counts[0])); btot=$((btot + counts[1]))
done
printf '%-28s %8s %9s\n' total "$ktot" "$btot"
