#!/usr/bin/env bash
# kestrel agent's per-node cost (issue 13):
#   - idle: CPU (utime+stime of the agent process, % of one core) and RSS (VmRSS, VmHWM)
#     over SECONDS with (a) the README example and (b) a default-style config (the example,
#     syscall errors by syscall and errno, and the biolatency, runqlat, syscount and tcprtt
#     tools), scraped every 15 s like a Prometheus would; plus the in-kernel time of its
#     programs (BPF stats: kestrel_agent_program_run_time_seconds_total), which is charged
#     to the traced processes, not to the agent;
#   - scrape latency of /metrics with 10,000 series (median and max of 20 scrapes).
# Usage (root): bench/agent.sh [SECONDS]  — KESTREL overrides the binary (default: release).
# Results go to docs/BENCHMARKS.md and docs/DEPLOY.md; this script only prints.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_IDLE=${1:-60}
KESTREL=${KESTREL:-./target/release/kestrel}
command -v "$KESTREL" >/dev/null || { echo "bench: build it first: cargo build --release -p kestrel" >&2; exit 1; }

exec python3 - "$KESTREL" "$SECONDS_IDLE" <<'PY'
import os, signal, socket, statistics, subprocess, sys, tempfile, time, urllib.request

kestrel, seconds = sys.argv[1], int(sys.argv[2])
tmp = tempfile.mkdtemp(prefix="kestrel-bench-agent.")
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

def scrape(port):
    t = time.perf_counter()
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30).read()
    return time.perf_counter() - t, body.decode()

def start(config_text, env=None):
    port = free_port()
    path = os.path.join(tmp, f"agent-{port}.toml")
    open(path, "w").write(config_text.replace("PORT", str(port)))
    p = subprocess.Popen([kestrel, "agent", "--config", path], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, env={**os.environ, **(env or {})})
    for _ in range(600):
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5).status == 200:
                return p, port
        except Exception:
            pass
        time.sleep(0.1)
    p.kill(); raise SystemExit("agent never became ready")

def stop(p):
    p.send_signal(signal.SIGTERM); p.wait(timeout=30)

EXAMPLE = '''listen = "127.0.0.1:PORT"

[[script]]
name = "opens"
program = 'tracepoint:syscalls:sys_enter_openat { @opens[comm] = count(); }'

[[script.metric]]
map = "@opens"
name = "kestrel_opens_total"
kind = "counter"
labels = ["comm"]
'''
DEFAULT = EXAMPLE + '''
[[script]]
name = "syscall-errors"
program = 'tracepoint:raw_syscalls:sys_exit /args->ret < 0/ { @errors[args->id, args->ret] = count(); }'

[[script.metric]]
map = "@errors"
name = "kestrel_syscall_errors_total"
kind = "counter"
labels = ["syscall", "errno"]
decoders = { syscall = ["syscall"], errno = ["errno"] }

[[tool]]
name = "biolatency"
[[tool]]
name = "runqlat"
[[tool]]
name = "syscount"
[[tool]]
name = "tcprtt"
'''

def run_time(text):
    total = 0.0
    for line in text.splitlines():
        if line.startswith("kestrel_agent_program_run_time_seconds_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return total

def idle(name, config):
    p, port = start(config)
    time.sleep(2)
    _, before = scrape(port)
    c0, t0 = cpu_ticks(p.pid), time.time()
    end = t0 + seconds
    while time.time() < end:
        time.sleep(min(15, max(0, end - time.time())))
        scrape(port)
    c1, t1 = cpu_ticks(p.pid), time.time()
    _, after = scrape(port)
    rss, hwm = status(p.pid, "VmRSS"), status(p.pid, "VmHWM")
    stop(p)
    cpu = (c1 - c0) / tick / (t1 - t0) * 100
    bpf = (run_time(after) - run_time(before)) / (t1 - t0) * 100
    print(f"{name}: agent CPU {cpu:.2f}% of a core, RSS {rss/1024:.1f} MB (peak {hwm/1024:.1f} MB), "
          f"its BPF programs {bpf:.2f}% of a core (charged to the traced tasks), over {t1-t0:.0f} s")

idle("README example", EXAMPLE)
idle("default config (2 scripts + 4 tools)", DEFAULT)

# 10,000 series: 10,000 distinct lseek offsets from one process.
comm = f"kbench{os.getpid() % 10000}"
p, port = start(f'''listen = "127.0.0.1:PORT"
cardinality_limit = 20000

[[script]]
name = "seeks"
program = 'tracepoint:syscalls:sys_enter_lseek /comm == "{comm}"/ {{ @seeks[args->offset] = count(); }}'

[[script.metric]]
map = "@seeks"
name = "kestrel_bench_seeks_total"
kind = "counter"
labels = ["offset"]
''', env={"KESTREL_MAP_KEYS_MAX": "16384"})
subprocess.run(["python3", "-c", f"import os\nopen('/proc/self/comm','w').write({comm!r})\nfor i in range(10000):\n    try: os.lseek(-1, i, 0)\n    except OSError: pass\n"], check=True)
time.sleep(1)
times = []
for _ in range(20):
    dt, body = scrape(port)
    times.append(dt)
series = sum(1 for l in body.splitlines() if l.startswith("kestrel_bench_seeks_total{"))
rss = status(p.pid, "VmRSS")
stop(p)
print(f"scrape of {series} series ({len(body)/1024:.0f} KiB): median {statistics.median(times)*1000:.1f} ms, "
      f"max {max(times)*1000:.1f} ms over 20 scrapes; agent RSS {rss/1024:.1f} MB")
PY
