#!/usr/bin/env bash
# `kestrel http`'s cost on a real server (issue 11):
#   - nginx (one worker, loopback) + `wrk -t2 -c50 -d10s`, 5 runs without and 5 with
#     `kestrel http -p WORKER --server -q --bpf-stats`, interleaved (without, with, ...) so
#     machine drift hits both; requests/s medians and the drop;
#   - added CPU per request: the capture programs' own run time (bpf_stats run_time_ns,
#     per program and summed, divided by the requests wrk made) — charged to nginx and wrk —
#     plus kestrel's userspace CPU (utime+stime) per request;
#   - kestrel's CPU at 10k requests/s (its per-request CPU × 10,000) and peak RSS (VmHWM).
#   Every run also checks kestrel's count against nginx's access log.
# Usage (root): bench/http.sh [RUNS] [SECONDS]  — KESTREL overrides the binary (default: release).
# Results go to docs/BENCHMARKS.md; this script only prints.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${1:-5}
SECS=${2:-10}
KESTREL=${KESTREL:-./target/release/kestrel}
command -v "$KESTREL" >/dev/null || { echo "bench: build it first: cargo build --release -p kestrel" >&2; exit 1; }
command -v nginx >/dev/null && command -v wrk >/dev/null || { echo "bench: needs nginx and wrk (apt-get install nginx wrk)" >&2; exit 1; }

exec python3 - "$KESTREL" "$RUNS" "$SECS" <<'PY'
import json, os, re, shutil, signal, socket, statistics, subprocess, sys, tempfile, time

kestrel, runs, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
tmp = tempfile.mkdtemp(prefix="kestrel-bench-http.")
tick = os.sysconf("SC_CLK_TCK")

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def cpu_ticks(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])

def status(pid, key):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0

port = free_port()
for d in ("html", "logs", "tmp"):
    os.makedirs(f"{tmp}/{d}")
open(f"{tmp}/html/index.html", "w").write("hello\n")
open(f"{tmp}/nginx.conf", "w").write(f"""worker_processes 1; daemon off; pid {tmp}/nginx.pid;
error_log {tmp}/logs/error.log; events {{ worker_connections 4096; }}
http {{ access_log {tmp}/logs/access.log; client_body_temp_path {tmp}/tmp; proxy_temp_path {tmp}/tmp;
fastcgi_temp_path {tmp}/tmp; uwsgi_temp_path {tmp}/tmp; scgi_temp_path {tmp}/tmp;
keepalive_requests 1000000; server {{ listen 127.0.0.1:{port}; root {tmp}/html; }} }}
""")
master = subprocess.Popen(["nginx", "-p", tmp, "-c", f"{tmp}/nginx.conf"])
try:
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port)).close(); break
        except OSError:
            time.sleep(0.05)
    worker = int(open(f"/proc/{master.pid}/task/{master.pid}/children").read().split()[0])

    def wrk():
        out = subprocess.run(["wrk", "-t2", "-c50", f"-d{secs}s", f"http://127.0.0.1:{port}/"],
                             capture_output=True, text=True, check=True).stdout
        reqs = int(re.search(r"(\d+) requests in", out).group(1))
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        return reqs, rps

    def log_lines():
        return sum(1 for _ in open(f"{tmp}/logs/access.log"))

    base, withk, per_req_bpf, per_req_user, rss, progs_all, counts = [], [], [], [], [], {}, []
    for i in range(runs):
        reqs, rps = wrk(); base.append(rps)
        print(f"run {i+1} without: {rps:.0f} req/s", flush=True)
        env = dict(os.environ, __BPFTRACE_NOTIFY_PROBES_ATTACHED="1")
        k = subprocess.Popen([kestrel, "http", "-p", str(worker), "--server", "-q", "--bpf-stats"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        while k.stdout.readline().strip() != "__BPFTRACE_NOTIFY_PROBES_ATTACHED":
            if k.poll() is not None:
                sys.exit("kestrel failed: " + k.stderr.read())
        before_log = log_lines()
        t0 = cpu_ticks(k.pid)
        reqs, rps = wrk(); withk.append(rps)
        time.sleep(1)
        t1 = cpu_ticks(k.pid); hwm = status(k.pid, "VmHWM")
        k.send_signal(signal.SIGINT)
        _, err = k.communicate(timeout=60)
        stats = json.loads(next(l for l in err.splitlines() if l.startswith("stats: "))[7:])
        bpf = json.loads(next(l for l in err.splitlines() if l.startswith("bpf_stats: "))[11:])
        served = log_lines() - before_log
        total_ns = sum(v["run_time_ns"] for v in bpf.values())
        per_req_bpf.append(total_ns / max(reqs, 1))
        per_req_user.append((t1 - t0) / tick * 1e9 / max(reqs, 1))
        rss.append(hwm)
        counts.append((stats["exchanges"], served, stats["lost"]))
        for name, v in bpf.items():
            p = progs_all.setdefault(name, [0, 0]); p[0] += v["run_time_ns"]; p[1] += v["run_cnt"]
        print(f"run {i+1} with:    {rps:.0f} req/s; programs {per_req_bpf[-1]:.0f} ns/request, "
              f"kestrel userspace {per_req_user[-1]:.0f} ns/request, VmHWM {hwm} kB; "
              f"kestrel {stats['exchanges']} exchanges, nginx logged {served}, lost {stats['lost']}", flush=True)

    mb, mw = statistics.median(base), statistics.median(withk)
    print()
    print(f"requests/s median without {mb:.0f}, with {mw:.0f}: drop {100*(mb-mw)/mb:.1f}%")
    print(f"added CPU per request (median): programs {statistics.median(per_req_bpf):.0f} ns "
          f"(in the traced processes), kestrel userspace {statistics.median(per_req_user):.0f} ns")
    print(f"kestrel at 10k requests/s: {statistics.median(per_req_user)*1e4/1e9*100:.1f}% of one core "
          f"(its per-request CPU x 10,000); peak RSS {max(rss)} kB")
    print("per program (all runs): run_time_ns / run_cnt")
    for name, (ns, cnt) in sorted(progs_all.items(), key=lambda kv: -kv[1][0]):
        if cnt:
            print(f"  {name:<40} {ns/cnt:8.0f} ns x {cnt}")
finally:
    master.send_signal(signal.SIGTERM)
    master.wait(timeout=10)
    shutil.rmtree(tmp, ignore_errors=True)
PY
