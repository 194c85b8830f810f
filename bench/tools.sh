#!/usr/bin/env bash
# kestrel's built-in tools against their libbpf-tools namesakes (issue 5), on the same
# workloads: execsnoop (1,000 execs of /bin/true), opensnoop (200,000 open+close of one file),
# tcplife (1,000 loopback TCP connections). For each tracer and tool it measures
#   - start-up: launch until the tool is attached (its header / "Tracing" line appears);
#   - RSS: resident memory after the workload (VmRSS) and at peak (VmHWM);
#   - overhead: the workload's wall time under the tracer vs. untraced.
# Usage (root): bench/tools.sh [RUNS]   — KESTREL overrides the binary (default: release build).
# Results and the command that produced them go to docs/BENCHMARKS.md; this script only prints.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${1:-3}
KESTREL=${KESTREL:-./target/release/kestrel}
for tool in "$KESTREL" python3 /usr/sbin/execsnoop /usr/sbin/opensnoop /usr/sbin/tcplife; do
    command -v "$tool" >/dev/null || { echo "bench: missing $tool (apt-get install -y libbpf-tools)" >&2; exit 1; }
done

exec python3 - "$KESTREL" "$RUNS" <<'PY'
import os, signal, socket, statistics, subprocess, sys, tempfile, threading, time

kestrel, runs = sys.argv[1], int(sys.argv[2])
tmp = tempfile.mkdtemp(prefix="kestrel-bench-tools.")
target = os.path.join(tmp, "file")
open(target, "w").close()

def w_exec():
    for _ in range(1000):
        subprocess.run(["/bin/true"])

def w_open():
    for _ in range(200000):
        os.close(os.open(target, os.O_RDONLY))

def w_tcp():
    srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(128)
    port = srv.getsockname()[1]
    def serve():
        for _ in range(1000):
            a, _ = srv.accept(); a.recv(16); a.close()
    t = threading.Thread(target=serve); t.start()
    for _ in range(1000):
        c = socket.create_connection(("127.0.0.1", port)); c.sendall(b"x"); c.close()
    t.join(); srv.close()

def timed(work):
    t = time.perf_counter(); work(); return time.perf_counter() - t

def rss(pid):
    vals = {}
    for line in open(f"/proc/{pid}/status"):
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM"):
            vals[k] = int(v.split()[0]) // 1024
    return vals.get("VmRSS", 0), vals.get("VmHWM", 0)

def run_traced(cmd, ready_on_stderr, work):
    """Start `cmd`, wait until it is attached, run `work`; (start-up s, work s, RSS, lines)."""
    out = open(os.path.join(tmp, "out"), "w+")
    err = open(os.path.join(tmp, "err"), "w+")
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=out, stderr=err)
    watch = err if ready_on_stderr else out
    while True:
        watch.seek(0)
        text = watch.read()
        if (ready_on_stderr and "Tracing" in text) or (not ready_on_stderr and text.strip()):
            break
        if p.poll() is not None or time.perf_counter() - t0 > 30:
            p.kill()
            err.seek(0); raise SystemExit(f"{cmd} did not start: {err.read()}")
        time.sleep(0.002)
    startup = time.perf_counter() - t0
    time.sleep(0.2)
    wall = timed(work)
    time.sleep(0.5)
    mem = rss(p.pid)
    p.send_signal(signal.SIGINT)
    p.wait(timeout=30)
    out.seek(0)
    lines = len(out.read().splitlines())
    return startup, wall, mem, lines

work = {"execsnoop": w_exec, "opensnoop": w_open, "tcplife": w_tcp}
print(f"{'tool':<10} {'tracer':<13} {'start-up ms':>11} {'RSS MB':>7} {'peak MB':>8} {'workload s':>10} {'vs untraced':>11} {'lines':>7}")
for name, w in work.items():
    base = statistics.median(timed(w) for _ in range(runs))
    print(f"{name:<10} {'(untraced)':<13} {'':>11} {'':>7} {'':>8} {base:>10.3f} {'1.00x':>11} {'':>7}")
    for tracer, cmd, on_err in [
        # stdbuf: libbpf-tools' stdout is block-buffered into a file, which would hide the
        # header that marks it ready.
        ("libbpf-tools", ["stdbuf", "-oL", f"/usr/sbin/{name}"], False),
        ("kestrel", [kestrel, "tool", name], True),
    ]:
        results = [run_traced(cmd, on_err, w) for _ in range(runs)]
        su = statistics.median(r[0] for r in results) * 1000
        wall = statistics.median(r[1] for r in results)
        cur = statistics.median(r[2][0] for r in results)
        peak = statistics.median(r[2][1] for r in results)
        lines = statistics.median(r[3] for r in results)
        print(f"{name:<10} {tracer:<13} {su:>11.0f} {cur:>7} {peak:>8} {wall:>10.3f} {wall / base:>10.2f}x {lines:>7.0f}")
PY
