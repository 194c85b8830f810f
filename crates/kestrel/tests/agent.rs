//! `kestrel agent` end to end: the real Prometheus scraping it, an OTLP receiver decoding its
//! pushes, the cardinality cap, SIGHUP reloads, least privilege, and kill -9.
//!
//! Every test filters on what it made itself: a workload process whose `comm` it set, a
//! file name under its own temp directory, loopback ports it picked. Each test ends the
//! servers it started by PID.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use common::{kernel_available, kestrel, TempDir};

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `GET path` on 127.0.0.1:port: (status, body). Plain HTTP/1.0 over a socket.
fn http_get(port: u16, path: &str, accept: Option<&str>) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let accept = accept.map_or(String::new(), |a| format!("Accept: {a}\r\n"));
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n{accept}\r\n").ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let status = raw.split_whitespace().nth(1)?.parse().ok()?;
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((status, body))
}

fn send_signal(pid: u32, sig: &str) {
    let _ = Command::new("kill").args([sig, &pid.to_string()]).status();
}

/// A running agent; dropping it stops it (SIGTERM, then SIGKILL) by PID.
struct Agent {
    child: Child,
    port: u16,
    log: Arc<Mutex<Vec<String>>>,
}

impl Agent {
    fn start(config: &Path, port: u16, env: &[(&str, &str)]) -> Agent {
        Agent::start_with(kestrel(), config, port, env, &[])
    }

    fn start_with(
        mut cmd: Command,
        config: &Path,
        port: u16,
        env: &[(&str, &str)],
        extra: &[&str],
    ) -> Agent {
        cmd.args(["agent", "--config"])
            .arg(config)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn kestrel agent");
        let log = Arc::new(Mutex::new(Vec::new()));
        if let Some(stderr) = child.stderr.take() {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    eprintln!("agent: {line}");
                    if let Ok(mut l) = log.lock() {
                        l.push(line);
                    }
                }
            });
        }
        let agent = Agent { child, port, log };
        agent.wait_for_log("serving /metrics", Duration::from_secs(60));
        agent
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log_has(&self, needle: &str) -> bool {
        self.log
            .lock()
            .map(|l| l.iter().any(|x| x.contains(needle)))
            .unwrap_or(false)
    }

    fn wait_for_log(&self, needle: &str, limit: Duration) {
        let t = Instant::now();
        while !self.log_has(needle) {
            assert!(
                t.elapsed() < limit,
                "agent never logged {needle:?}; log: {:?}",
                self.log.lock().map(|l| l.clone()).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn metrics(&self) -> String {
        http_get(self.port, "/metrics", None)
            .map(|(_, b)| b)
            .unwrap_or_default()
    }

    /// The value of the first exposed sample whose line starts with `prefix`.
    fn sample(&self, prefix: &str) -> Option<f64> {
        sample_in(&self.metrics(), prefix)
    }

    /// Waits until `prefix`'s sample satisfies `ok`; returns the last value seen.
    fn wait_sample(&self, prefix: &str, ok: impl Fn(f64) -> bool) -> Option<f64> {
        let t = Instant::now();
        loop {
            let v = self.sample(prefix);
            if v.is_some_and(&ok) || t.elapsed() > Duration::from_secs(30) {
                return v;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            send_signal(self.pid(), "-TERM");
            let t = Instant::now();
            while self.child.try_wait().ok().flatten().is_none() {
                if t.elapsed() > Duration::from_secs(10) {
                    let _ = self.child.kill();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.wait();
    }
}

fn sample_in(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Opens `file` exactly `n` times from a process whose comm is `comm` (python3 renames
/// itself through /proc/self/comm first, so only these opens carry the name).
fn open_n_times(comm: &str, file: &Path, n: usize) {
    let script = format!(
        "import os\nopen('/proc/self/comm','w').write({comm:?})\nfor _ in range({n}):\n    os.close(os.open({:?}, os.O_RDONLY))\n",
        file.display().to_string()
    );
    let status = Command::new("python3")
        .args(["-c", &script])
        .status()
        .expect("python3");
    assert!(status.success(), "workload failed");
}

/// A comm unique to this test run (at most 15 bytes).
fn unique_comm(tag: &str) -> String {
    format!("k{tag}{}", std::process::id() % 100_000)
}

/// The opens script, counting by comm and file, keeping only files under `dir`.
fn opens_config(port: u16, dir: &Path, extra: &str) -> String {
    format!(
        r#"listen = "127.0.0.1:{port}"

[[script]]
name = "opens"
program = 'tracepoint:syscalls:sys_enter_openat {{ @opens[comm, str(args->filename)] = count(); }}'

[[script.metric]]
map = "@opens"
name = "kestrel_test_opens_total"
kind = "counter"
help = "openat calls by command and file"
labels = ["comm", "file"]
decoders = {{ file = [{{ regexp = "^{}/" }}] }}
{extra}"#,
        dir.display()
    )
}

fn write(path: &Path, text: &str) -> PathBuf {
    std::fs::write(path, text).expect("write file");
    path.to_path_buf()
}

/// A Prometheus server on loopback scraping the agent every second; killed by PID on drop.
struct Prometheus {
    child: Child,
    port: u16,
}

impl Prometheus {
    fn start(dir: &Path, target_port: u16) -> Option<Prometheus> {
        let Ok(bin) = which("prometheus") else {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("prometheus is not installed (scripts/test.sh installs it)");
            }
            eprintln!("SKIP: prometheus is not installed (apt-get install prometheus)");
            return None;
        };
        let port = free_port();
        let config = write(
            &dir.join("prometheus.yml"),
            &format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: kestrel\n    scrape_interval: 1s\n    scrape_timeout: 900ms\n    static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n"
            ),
        );
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus");
        let p = Prometheus { child, port };
        let t = Instant::now();
        while http_get(port, "/-/ready", None).is_none_or(|(s, _)| s != 200) {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "prometheus never became ready"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(p)
    }

    /// The single value of an instant query, if it has exactly one result.
    fn query(&self, promql: &str) -> Option<f64> {
        let q: String = promql
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b'-' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let (_, body) = http_get(self.port, &format!("/api/v1/query?query={q}"), None)?;
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        let result = v["data"]["result"].as_array()?;
        if result.len() != 1 {
            return None;
        }
        result[0]["value"][1].as_str()?.parse().ok()
    }

    fn wait_query(&self, promql: &str, want: f64) -> Option<f64> {
        let t = Instant::now();
        loop {
            let v = self.query(promql);
            if v == Some(want) || t.elapsed() > Duration::from_secs(40) {
                return v;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        send_signal(self.child.id(), "-TERM");
        let t = Instant::now();
        while self.child.try_wait().ok().flatten().is_none() {
            if t.elapsed() > Duration::from_secs(10) {
                let _ = self.child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.wait();
    }
}

fn which(name: &str) -> Result<PathBuf, ()> {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
        .ok_or(())
}

#[test]
fn prometheus_scrapes_the_exact_number_of_opens() {
    if !kernel_available("prometheus_scrapes_the_exact_number_of_opens") {
        return;
    }
    let dir = TempDir::new("agent-prom");
    let port = free_port();
    let config = write(&dir.0.join("agent.toml"), &opens_config(port, &dir.0, ""));
    let target = write(&dir.0.join("target"), "x");
    let agent = Agent::start(&config, port, &[]);
    agent.wait_for_log("probe(s) attached", Duration::from_secs(60));
    let Some(prom) = Prometheus::start(&dir.0, port) else {
        return;
    };
    let comm = unique_comm("p");
    open_n_times(&comm, &target, 37);
    let q = format!(
        "kestrel_test_opens_total{{comm=\"{comm}\",file=\"{}\"}}",
        target.display()
    );
    assert_eq!(prom.wait_query(&q, 37.0), Some(37.0), "PromQL {q}");
    assert_eq!(prom.wait_query("up{job=\"kestrel\"} == 1", 1.0), Some(1.0));
    // The regexp decoder dropped every file outside the test directory.
    let text = agent.metrics();
    assert!(
        text.lines()
            .filter(|l| l.starts_with("kestrel_test_opens_total{"))
            .all(|l| l.contains(&format!("file=\"{}/", dir.0.display()))),
        "{text}"
    );
    // OpenMetrics by default; 0.0.4 when asked.
    assert!(text.ends_with("# EOF\n"));
    let (_, old) = http_get(port, "/metrics", Some("text/plain;version=0.0.4")).expect("scrape");
    assert!(!old.contains("# EOF"));
    assert!(old.contains("# TYPE kestrel_test_opens_total counter"));
    assert_eq!(http_get(port, "/healthz", None).map(|r| r.0), Some(200));
    assert_eq!(http_get(port, "/readyz", None).map(|r| r.0), Some(200));
}

/// A minimal OTLP/HTTP receiver: answers 200 to every POST and hands (path, body) over.
fn otlp_receiver() -> (u16, mpsc::Receiver<(String, Vec<u8>, bool)>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind receiver");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let tx = tx.clone();
            std::thread::spawn(move || serve_otlp(conn, &tx));
        }
    });
    (port, rx)
}

fn serve_otlp(conn: TcpStream, tx: &mpsc::Sender<(String, Vec<u8>, bool)>) {
    let mut reader = BufReader::new(conn);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
        let mut len = 0usize;
        let mut header_seen = false;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            if h == "\r\n" {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
                if k.eq_ignore_ascii_case("x-kestrel-test") && v.trim() == "yes" {
                    header_seen = true;
                }
            }
        }
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let _ = tx.send((path, body, header_seen));
        let ok =
            "HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n";
        if reader.get_mut().write_all(ok.as_bytes()).is_err() {
            return;
        }
    }
}

#[test]
fn otlp_push_decodes_with_names_units_temporality_and_resource() {
    use kestrel_export::prost::Message;
    use kestrel_export::proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use kestrel_export::proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use kestrel_export::proto::tonic::common::v1::any_value::Value as Any;
    use kestrel_export::proto::tonic::metrics::v1::{metric::Data, number_data_point};
    if !kernel_available("otlp_push_decodes_with_names_units_temporality_and_resource") {
        return;
    }
    let dir = TempDir::new("agent-otlp");
    let (otlp_port, pushes) = otlp_receiver();
    let port = free_port();
    let extra = format!(
        "\n[[script]]\nname = \"hello\"\nprogram = 'interval:ms:300 {{ printf(\"hello from the agent\\n\"); }}'\n\n[otlp]\nendpoint = \"http://127.0.0.1:{otlp_port}\"\ninterval = \"1s\"\nheaders = {{ x-kestrel-test = \"yes\" }}\n"
    );
    let config = write(
        &dir.0.join("agent.toml"),
        &opens_config(port, &dir.0, &extra),
    );
    let target = write(&dir.0.join("target"), "x");
    let _agent = Agent::start(
        &config,
        port,
        &[
            ("K8S_POD_NAME", "kestrel-test-pod"),
            ("K8S_NAMESPACE_NAME", "kestrel-test-ns"),
            ("K8S_NODE_NAME", "kestrel-test-node"),
        ],
    );
    let comm = unique_comm("o");
    open_n_times(&comm, &target, 11);
    let attr = |kvs: &[kestrel_export::proto::tonic::common::v1::KeyValue], k: &str| {
        kvs.iter()
            .find(|kv| kv.key == k)
            .and_then(|kv| kv.value.as_ref())
            .and_then(|v| match &v.value {
                Some(Any::StringValue(s)) => Some(s.clone()),
                _ => None,
            })
    };
    let deadline = Instant::now() + Duration::from_secs(40);
    let (mut seen_count, mut seen_unit, mut seen_log) = (false, false, false);
    while Instant::now() < deadline && !(seen_count && seen_unit && seen_log) {
        let Ok((path, body, header_seen)) = pushes.recv_timeout(Duration::from_secs(5)) else {
            continue;
        };
        assert!(header_seen, "the configured header is sent on {path}");
        if path == "/v1/logs" {
            let req = ExportLogsServiceRequest::decode(body.as_slice()).expect("logs decode");
            for rl in &req.resource_logs {
                for rec in rl.scope_logs.iter().flat_map(|s| &s.log_records) {
                    let body = match rec.body.as_ref().and_then(|b| b.value.as_ref()) {
                        Some(Any::StringValue(s)) => s.clone(),
                        _ => String::new(),
                    };
                    if body == "hello from the agent"
                        && attr(&rec.attributes, "kestrel.script").as_deref() == Some("hello")
                    {
                        seen_log = true;
                    }
                }
            }
            continue;
        }
        assert_eq!(path, "/v1/metrics");
        let req = ExportMetricsServiceRequest::decode(body.as_slice()).expect("metrics decode");
        let rm = &req.resource_metrics[0];
        let res = &rm.resource.as_ref().expect("resource").attributes;
        assert_eq!(attr(res, "service.name").as_deref(), Some("kestrel"));
        assert_eq!(
            attr(res, "k8s.pod.name").as_deref(),
            Some("kestrel-test-pod")
        );
        assert_eq!(
            attr(res, "k8s.namespace.name").as_deref(),
            Some("kestrel-test-ns")
        );
        assert_eq!(attr(res, "host.name").as_deref(), Some("kestrel-test-node"));
        for m in rm.scope_metrics.iter().flat_map(|s| &s.metrics) {
            if m.name == "kestrel_agent_program_run_time" {
                assert_eq!(m.unit, "s");
                seen_unit = true;
            }
            if m.name != "kestrel_test_opens" {
                continue;
            }
            let Some(Data::Sum(sum)) = &m.data else {
                panic!("kestrel_test_opens is not a sum: {:?}", m.data);
            };
            assert!(sum.is_monotonic);
            assert_eq!(sum.aggregation_temporality, 2, "cumulative");
            for p in &sum.data_points {
                if attr(&p.attributes, "comm").as_deref() == Some(comm.as_str()) {
                    assert!(
                        p.start_time_unix_nano > 0 && p.time_unix_nano > p.start_time_unix_nano
                    );
                    if p.value == Some(number_data_point::Value::AsDouble(11.0)) {
                        seen_count = true;
                    }
                }
            }
        }
    }
    assert!(
        seen_count,
        "no push carried kestrel_test_opens{{comm={comm}}} = 11"
    );
    assert!(seen_unit, "no push carried the run-time metric with unit s");
    assert!(
        seen_log,
        "no push carried the script's printf line as a log record"
    );
}

#[test]
fn cardinality_cap_keeps_cap_plus_one_series_and_counts_the_rest() {
    if !kernel_available("cardinality_cap_keeps_cap_plus_one_series_and_counts_the_rest") {
        return;
    }
    let dir = TempDir::new("agent-cap");
    let port = free_port();
    let comm = unique_comm("c");
    let config = write(
        &dir.0.join("agent.toml"),
        &format!(
            r#"listen = "127.0.0.1:{port}"

[[script]]
name = "seeks"
program = 'tracepoint:syscalls:sys_enter_lseek /comm == "{comm}"/ {{ @seeks[args->offset] = count(); }}'

[[script.metric]]
map = "@seeks"
name = "kestrel_test_seeks_total"
kind = "counter"
labels = ["offset"]
cardinality_limit = 100
"#
        ),
    );
    let agent = Agent::start(&config, port, &[("KESTREL_MAP_KEYS_MAX", "131072")]);
    agent.wait_for_log("probe(s) attached", Duration::from_secs(60));
    // 100,000 distinct offsets, each once: lseek on an invalid fd fails after the tracepoint.
    let script = format!(
        "import os\nopen('/proc/self/comm','w').write({comm:?})\nfor i in range(100000):\n    try:\n        os.lseek(-1, i, 0)\n    except OSError:\n        pass\n"
    );
    let status = Command::new("python3")
        .args(["-c", &script])
        .status()
        .expect("python3");
    assert!(status.success());
    let dropped = agent.wait_sample(
        "kestrel_agent_series_dropped_total{metric=\"kestrel_test_seeks_total\"}",
        |v| v == 99_900.0,
    );
    assert_eq!(dropped, Some(99_900.0));
    let text = agent.metrics();
    let series: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("kestrel_test_seeks_total{"))
        .collect();
    assert_eq!(series.len(), 101, "cap + 1 overflow series");
    let total: f64 = series
        .iter()
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(
        total, 100_000.0,
        "nothing lost: the overflow series holds the rest"
    );
    assert_eq!(
        sample_in(&text, "kestrel_test_seeks_total{offset=\"__overflow__\"}"),
        Some(99_900.0)
    );
}

#[test]
fn sighup_keeps_counts_and_a_broken_config_keeps_the_old_set() {
    if !kernel_available("sighup_keeps_counts_and_a_broken_config_keeps_the_old_set") {
        return;
    }
    let dir = TempDir::new("agent-hup");
    let port = free_port();
    let config = write(&dir.0.join("agent.toml"), &opens_config(port, &dir.0, ""));
    let target = write(&dir.0.join("target"), "x");
    let agent = Agent::start(&config, port, &[]);
    agent.wait_for_log("probe(s) attached", Duration::from_secs(60));
    let comm = unique_comm("h");
    let key = format!(
        "kestrel_test_opens_total{{comm=\"{comm}\",file=\"{}\"}}",
        target.display()
    );
    open_n_times(&comm, &target, 5);
    assert_eq!(agent.wait_sample(&key, |v| v == 5.0), Some(5.0));

    // A valid new config adding a script, sent while the workload runs: the unchanged entry
    // keeps its maps (and stays attached), so no open is lost across the reload.
    let extra = "\n[[script]]\nname = \"second\"\nprogram = 'tracepoint:syscalls:sys_enter_getppid { @g = count(); }'\n";
    write(&config, &opens_config(port, &dir.0, extra));
    let load = format!(
        "import os, time\nopen('/proc/self/comm','w').write({comm:?})\nfor _ in range(1500):\n    os.close(os.open({:?}, os.O_RDONLY))\n    time.sleep(0.001)\n",
        target.display().to_string()
    );
    let mut workload = Command::new("python3")
        .args(["-c", &load])
        .spawn()
        .expect("python3");
    std::thread::sleep(Duration::from_millis(300));
    send_signal(agent.pid(), "-HUP");
    agent.wait_for_log(
        "reloaded: 2 of 2 script(s) running",
        Duration::from_secs(60),
    );
    assert!(workload.wait().expect("wait").success());
    assert!(
        agent.log_has("reloaded"),
        "the reload happened during the workload"
    );
    open_n_times(&comm, &target, 3);
    assert_eq!(
        agent.wait_sample(&key, |v| v == 1508.0),
        Some(1508.0),
        "no count lost across the reload"
    );

    // A broken config: refused with a located error, the old set keeps counting.
    write(&config, "listen = \"127.0.0.1:1\"\n[[script]\nname = \n");
    send_signal(agent.pid(), "-HUP");
    agent.wait_for_log("reload refused", Duration::from_secs(30));
    let line = agent
        .log
        .lock()
        .map(|l| l.iter().find(|x| x.contains("reload refused")).cloned())
        .ok()
        .flatten()
        .unwrap_or_default();
    assert!(line.contains("agent.toml:2:"), "located error: {line}");
    open_n_times(&comm, &target, 2);
    assert_eq!(agent.wait_sample(&key, |v| v == 1510.0), Some(1510.0));
    assert_eq!(
        agent.sample("kestrel_agent_config_reloads_total{result=\"failure\"}"),
        Some(1.0)
    );
    assert_eq!(
        agent.sample("kestrel_agent_scripts{state=\"running\"}"),
        Some(2.0)
    );
}

#[test]
fn a_failing_script_never_stops_the_others() {
    if !kernel_available("a_failing_script_never_stops_the_others") {
        return;
    }
    let dir = TempDir::new("agent-fail");
    let port = free_port();
    let extra = "\n[[script]]\nname = \"broken\"\nprogram = 'tracepoint:nosuch:tracepoint_here { @x = count(); }'\n";
    let config = write(
        &dir.0.join("agent.toml"),
        &opens_config(port, &dir.0, extra),
    );
    let target = write(&dir.0.join("target"), "x");
    let agent = Agent::start(&config, port, &[]);
    agent.wait_for_log("script broken failed", Duration::from_secs(60));
    let comm = unique_comm("f");
    open_n_times(&comm, &target, 4);
    let key = format!(
        "kestrel_test_opens_total{{comm=\"{comm}\",file=\"{}\"}}",
        target.display()
    );
    assert_eq!(agent.wait_sample(&key, |v| v == 4.0), Some(4.0));
    assert_eq!(
        agent.sample("kestrel_agent_scripts{state=\"failed\"}"),
        Some(1.0)
    );
    assert_eq!(
        agent.sample("kestrel_agent_script_failed{script=\"broken\",stage=\"compile\"}"),
        Some(1.0)
    );
    let (status, body) = http_get(port, "/readyz", None).expect("readyz");
    assert_eq!(status, 503);
    assert!(body.contains("script broken failed to compile"), "{body}");
}

/// setpriv running `bin` as `nobody` with only these ambient capabilities.
fn as_nobody(bin: &Path, caps: &str) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.args([
        "--reuid",
        "nobody",
        "--regid",
        "nogroup",
        "--clear-groups",
        &format!("--inh-caps={caps}"),
        &format!("--ambient-caps={caps}"),
    ]);
    cmd.arg(bin);
    cmd
}

/// A directory (and config) the nobody user can read.
fn world_readable(dir: &TempDir) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755));
}

#[test]
fn non_root_with_ambient_capabilities_attaches_and_a_missing_one_fails_readiness() {
    if !kernel_available("non_root_with_ambient_capabilities") {
        return;
    }
    if which("setpriv").is_err() {
        eprintln!("SKIP: setpriv is missing (util-linux)");
        return;
    }
    let dir = TempDir::new("agent-caps");
    world_readable(&dir);
    let port = free_port();
    let config = write(&dir.0.join("agent.toml"), &opens_config(port, &dir.0, ""));
    let target = write(&dir.0.join("target"), "x");
    // A copy nobody can run, wherever the build directory is.
    let bin = dir.0.join("kestrel");
    std::fs::copy(env!("CARGO_BIN_EXE_kestrel"), &bin).expect("copy the binary");
    {
        let agent = Agent::start_with(
            as_nobody(&bin, "+bpf,+perfmon,+dac_read_search"),
            &config,
            port,
            &[],
            &["--drop-caps"],
        );
        agent.wait_for_log("probe(s) attached", Duration::from_secs(60));
        agent.wait_for_log("dropped all capabilities", Duration::from_secs(10));
        let comm = unique_comm("n");
        open_n_times(&comm, &target, 6);
        let key = format!(
            "kestrel_test_opens_total{{comm=\"{comm}\",file=\"{}\"}}",
            target.display()
        );
        assert_eq!(
            agent.wait_sample(&key, |v| v == 6.0),
            Some(6.0),
            "maps read after --drop-caps"
        );
        assert_eq!(http_get(port, "/readyz", None).map(|r| r.0), Some(200));
        assert_eq!(
            agent.sample("kestrel_agent_capabilities_dropped"),
            Some(1.0)
        );
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", agent.pid())).unwrap_or_default();
        let eff = status
            .lines()
            .find_map(|l| l.strip_prefix("CapEff:"))
            .map(str::trim);
        assert_eq!(eff, Some("0000000000000000"), "every capability dropped");
        // A reload after --drop-caps keeps the running script; a new one cannot load.
        let extra = "\n[[script]]\nname = \"second\"\nprogram = 'tracepoint:syscalls:sys_enter_getppid { @g = count(); }'\n";
        write(&config, &opens_config(port, &dir.0, extra));
        send_signal(agent.pid(), "-HUP");
        agent.wait_for_log(
            "reloaded: 1 of 2 script(s) running",
            Duration::from_secs(60),
        );
        assert!(
            agent.log_has("script second failed to"),
            "the new entry says why"
        );
        open_n_times(&comm, &target, 2);
        assert_eq!(agent.wait_sample(&key, |v| v == 8.0), Some(8.0));
    }
    let port = free_port();
    let config = write(&dir.0.join("agent.toml"), &opens_config(port, &dir.0, ""));
    let agent = Agent::start_with(
        as_nobody(&bin, "+bpf,+dac_read_search"),
        &config,
        port,
        &[],
        &[],
    );
    agent.wait_for_log("script opens failed", Duration::from_secs(60));
    let lines: Vec<String> = agent
        .log
        .lock()
        .map(|l| {
            l.iter()
                .filter(|x| x.contains("missing CAP_PERFMON"))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        lines,
        vec!["kestrel agent: missing CAP_PERFMON: needed to attach tracepoints and perf events and read kernel memory"]
    );
    let (status, body) = http_get(port, "/readyz", None).expect("readyz");
    assert_eq!(status, 503);
    assert!(body.contains("missing CAP_PERFMON"), "{body}");
    assert_eq!(
        agent.sample("kestrel_agent_missing_capability{capability=\"CAP_PERFMON\"}"),
        Some(1.0)
    );
}

#[test]
fn kill_9_leaves_no_program_behind() {
    if !kernel_available("kill_9_leaves_no_program_behind") {
        return;
    }
    let dir = TempDir::new("agent-kill");
    let port = free_port();
    let config = write(&dir.0.join("agent.toml"), &opens_config(port, &dir.0, ""));
    let mut agent = Agent::start(&config, port, &[]);
    agent.wait_for_log("probe(s) attached", Duration::from_secs(60));
    // The kernel ids of this agent's programs, from its own fds.
    let ids: Vec<String> = std::fs::read_dir(format!("/proc/{}/fdinfo", agent.pid()))
        .expect("fdinfo")
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .filter_map(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("prog_id:"))
                .map(|v| v.trim().to_string())
        })
        .collect();
    assert!(!ids.is_empty(), "the agent holds program fds");
    let _ = agent.child.kill();
    let _ = agent.child.wait();
    let t = Instant::now();
    loop {
        let alive: Vec<&String> = ids
            .iter()
            .filter(|id| {
                Command::new("bpftool")
                    .args(["prog", "show", "id", id])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            })
            .collect();
        if alive.is_empty() {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "programs {alive:?} still loaded after kill -9"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The issue's (and the README's) example, exactly as written.
const ISSUE_EXAMPLE: &str = r#"listen = "127.0.0.1:19435"

[[script]]
name = "opens"
program = 'tracepoint:syscalls:sys_enter_openat { @opens[comm] = count(); }'

[[script.metric]]
map = "@opens"
name = "kestrel_opens_total"
kind = "counter"
labels = ["comm"]
"#;

#[test]
fn the_issue_example_works_as_written() {
    if !kernel_available("the_issue_example_works_as_written") {
        return;
    }
    let dir = TempDir::new("agent-example");
    let config = write(&dir.0.join("agent.toml"), ISSUE_EXAMPLE);
    let target = write(&dir.0.join("target"), "x");
    let agent = Agent::start(&config, 19435, &[]);
    agent.wait_for_log("probe(s) attached", Duration::from_secs(60));
    let comm = unique_comm("e");
    open_n_times(&comm, &target, 9);
    let key = format!("kestrel_opens_total{{comm=\"{comm}\"}}");
    assert_eq!(agent.wait_sample(&key, |v| v == 9.0), Some(9.0));
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .expect("README");
    assert!(
        readme.contains(ISSUE_EXAMPLE),
        "the README shows the example as tested"
    );
}

#[test]
fn bad_configs_are_located_and_check_passes_the_issue_example() {
    let dir = TempDir::new("agent-cfg");
    let example = write(&dir.0.join("agent.toml"), ISSUE_EXAMPLE);
    let out = kestrel()
        .args(["agent", "--check", "--config"])
        .arg(&example)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bad = write(&dir.0.join("bad.toml"), "listen = \"127.0.0.1:1\"\n[[script]]\nname = \"x\"\nprogram = 'BEGIN {}'\n[[script.metric]]\nmap = \"@x\"\nname = \"x\"\nkind = \"sum\"\n");
    let out = kestrel()
        .args(["agent", "--config"])
        .arg(&bad)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim(),
        format!(
            "error: {}:8:8: kind \"sum\": expected \"counter\", \"gauge\" or \"histogram\"",
            bad.display()
        )
    );
}

#[test]
fn built_in_tools_export_their_metrics_form() {
    if !kernel_available("built_in_tools_export_their_metrics_form") {
        return;
    }
    let dir = TempDir::new("agent-tools");
    let port = free_port();
    let config = write(
        &dir.0.join("agent.toml"),
        &format!("listen = \"127.0.0.1:{port}\"\n[[tool]]\nname = \"syscount\"\n[[tool]]\nname = \"runqlat\"\n"),
    );
    let agent = Agent::start(&config, port, &[]);
    agent.wait_for_log("script tool:runqlat: ", Duration::from_secs(60));
    let status = Command::new("python3")
        .args(["-c", "import os\nfor _ in range(500):\n    os.getppid()\n"])
        .status()
        .expect("python3");
    assert!(status.success());
    let n = agent.wait_sample("kestrel_syscalls_total{syscall=\"getppid\"}", |v| {
        v >= 500.0
    });
    assert!(n.is_some_and(|v| v >= 500.0), "getppid calls: {n:?}");
    let text = agent.metrics();
    assert!(
        text.contains("# TYPE kestrel_runqueue_latency_seconds histogram"),
        "{text}"
    );
    assert!(text.contains("# UNIT kestrel_runqueue_latency_seconds seconds"));
    assert!(text.contains("kestrel_runqueue_latency_seconds_bucket{le=\"+Inf\"}"));
    assert!(text.contains("kestrel_syscall_duration_seconds_total{syscall=\"getppid\"}"));
}
