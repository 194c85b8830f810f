#!/usr/bin/env bash
# kestrel guard benchmark (issue 12): run as root.
#  1. syscall rate with the default rules, guard pinned to one core, and its losses;
#  2. the same with every open going to userspace (relative paths must pass the kernel
#     filter): the userspace engine's zero-loss rate;
#  3. added cost per traced syscall (bpf_stats run time / run count over the programs);
#  4. dd and tar wall time with and without guard.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p kestrel
K=$CARGO_TARGET_DIR/release/kestrel
W=$(mktemp -d /tmp/kestrel-guard-bench.XXXXXX)
trap 'rm -rf "$W"' EXIT
gcc -O2 -o "$W/loop" bench/guard_loop.c
echo x > "$W/target"
N=${N:-1000000}

guard_on() { # $1: stats file
  rm -f "$W/ready"
  taskset -c 0 "$K" guard --stats --ring-mb 64 --pid 1 --ready-file "$W/ready" >/dev/null 2>"$1" &
  GPID=$!
  while [ ! -f "$W/ready" ]; do sleep 0.1; done
}
guard_off() { kill -INT "$GPID"; wait "$GPID" || true; tail -1 "$1"; }

echo "== baseline (no guard)"
taskset -c 1 "$W/loop" "$N" "$W/target"
echo "== default rules, absolute path (filtered in the kernel)"
guard_on "$W/s1"; taskset -c 1 "$W/loop" "$N" "$W/target"; guard_off "$W/s1"
echo "== default rules, relative path (every open goes to userspace)"
guard_on "$W/s2"; (cd "$W" && taskset -c 1 ./loop "$N" target); guard_off "$W/s2"
echo "== dd 1 GiB in 4 KiB blocks, tar of /usr/include"
t() { local s=$(date +%s.%N); "$@" >/dev/null 2>&1; echo "$(echo "$(date +%s.%N) - $s" | bc) s: $*"; }
t dd if=/dev/zero of="$W/dd" bs=4k count=262144
t tar cf "$W/t.tar" /usr/include
guard_on "$W/s3"
t dd if=/dev/zero of="$W/dd" bs=4k count=262144
t tar cf "$W/t.tar" /usr/include
guard_off "$W/s3"
