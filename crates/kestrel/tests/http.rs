//! `kestrel http` against real servers and clients on loopback: nginx + wrk (counts equal
//! nginx's access log), pipelining, HTTP/1.0 close-delimited responses, latency truth,
//! redaction, garbage. Every test filters on its own server's PID, so other work on the
//! machine does not count. Kernel tests skip when not root unless CI=true or
//! KESTREL_REQUIRE_KERNEL=1 (then they fail).

mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{kernel_available, TempDir, Tracer};
use serde_json::Value;

fn required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var("KESTREL_REQUIRE_KERNEL").is_ok_and(|v| v == "1")
}

/// True when `tool` is installed; otherwise skips (or fails under CI).
fn have(test: &str, tool: &str) -> bool {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            !required(),
            "{test}: {tool} is not installed (scripts/test.sh installs it)"
        );
        eprintln!("SKIP {test}: {tool} is not installed");
    }
    ok
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process stopped by PID when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// nginx with one worker on `port`, its own prefix, config and access log.
fn nginx(dir: &Path, port: u16) -> (Server, u32) {
    std::fs::create_dir_all(dir.join("html")).expect("mkdir");
    std::fs::create_dir_all(dir.join("logs")).expect("mkdir");
    std::fs::create_dir_all(dir.join("tmp")).expect("mkdir");
    std::fs::write(dir.join("html/index.html"), "hello from kestrel's test\n").expect("write");
    let d = dir.display();
    let conf = format!(
        "worker_processes 1;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/logs/error.log;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n access_log {d}/logs/access.log;\n client_body_temp_path {d}/tmp;\n\
         proxy_temp_path {d}/tmp;\n fastcgi_temp_path {d}/tmp;\n uwsgi_temp_path {d}/tmp;\n\
         scgi_temp_path {d}/tmp;\n keepalive_requests 1000000;\n\
         server {{ listen 127.0.0.1:{port}; root {d}/html; }}\n}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), conf).expect("write conf");
    let child = Command::new("nginx")
        .args(["-p", &d.to_string(), "-c", &format!("{d}/nginx.conf")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nginx");
    let master = child.id();
    let server = Server(child);
    wait_listening(port);
    let children = std::fs::read_to_string(format!("/proc/{master}/task/{master}/children"))
        .expect("nginx children");
    let worker: u32 = children
        .split_whitespace()
        .next()
        .and_then(|w| w.parse().ok())
        .expect("one nginx worker");
    (server, worker)
}

/// A python server from `script` (argv: port).
fn python(script: &str, port: u16, extra: &[&str]) -> Server {
    let child = Command::new("python3")
        .args(["-c", script, &port.to_string()])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start python");
    let s = Server(child);
    wait_listening(port);
    s
}

const HTTP_SERVER: &str = "import sys, http.server\n\
http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), http.server.SimpleHTTPRequestHandler).serve_forever()\n";

/// Captured output: JSON records and the final stats object.
struct Captured {
    records: Vec<Value>,
    stats: Value,
    stderr: String,
    code: Option<i32>,
}

fn capture(args: &[&str], workload: impl FnOnce()) -> Captured {
    let mut all = vec!["http", "--json"];
    all.extend_from_slice(args);
    let t = Tracer::start(&all);
    workload();
    // Let the last records reach the ring buffer and the parser.
    std::thread::sleep(Duration::from_millis(1500));
    t.interrupt();
    let (lines, stderr, code) = t.finish();
    let records = lines
        .iter()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let stats = stderr
        .lines()
        .find_map(|l| l.strip_prefix("stats: "))
        .map(|s| serde_json::from_str(s).expect("stats JSON"))
        .unwrap_or(Value::Null);
    Captured {
        records,
        stats,
        stderr,
        code,
    }
}

fn status(r: &Value) -> u64 {
    r["status"].as_u64().unwrap_or(0)
}

#[test]
fn nginx_wrk_counts_equal_the_access_log() {
    if !kernel_available("nginx_wrk_counts_equal_the_access_log")
        || !have("nginx_wrk", "nginx")
        || !have("nginx_wrk", "wrk")
    {
        return;
    }
    let dir = TempDir::new("http-wrk");
    let port = free_port();
    let (_nginx, worker) = nginx(&dir.0, port);
    let pid = worker.to_string();
    // The tests run the debug build, whose parser is several times slower than release:
    // at wrk's full rate it falls behind the kernel, and a 256 MiB ring holds the backlog
    // (losses, when they happen, are still counted and checked below).
    let c = capture(&["-p", &pid, "--server", "--ring-mib", "256"], || {
        for path in ["/", "/missing"] {
            let out = Command::new("wrk")
                .args([
                    "-t2",
                    "-c50",
                    "-d10s",
                    &format!("http://127.0.0.1:{port}{path}"),
                ])
                .output()
                .expect("wrk");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    });
    assert_eq!(c.code, Some(0), "{}", c.stderr);
    // nginx writes its log line after the response; give it the same grace.
    let log = std::fs::read_to_string(dir.0.join("logs/access.log")).expect("access log");
    let mut want: BTreeMap<(String, u64), u64> = BTreeMap::new();
    for l in log.lines() {
        let f: Vec<&str> = l.split('"').collect();
        let method = f
            .get(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or("")
            .to_string();
        let st: u64 = f
            .get(2)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        *want.entry((method, st)).or_default() += 1;
    }
    let mut got: BTreeMap<(String, u64), u64> = BTreeMap::new();
    for r in &c.records {
        let m = r["method"].as_str().unwrap_or("").to_string();
        *got.entry((m, status(r))).or_default() += 1;
    }
    let lost = c.stats["lost"].as_u64().unwrap_or(0);
    let total_want: u64 = want.values().sum();
    let total_got: u64 = got.values().sum();
    eprintln!("access log {want:?}\nkestrel    {got:?}\nlost {lost}");
    assert!(total_want > 1000, "wrk made too few requests: {total_want}");
    for (k, n) in &want {
        let g = got.get(k).copied().unwrap_or(0);
        assert!(g <= *n, "{k:?}: kestrel {g} > nginx {n}");
        assert!(n - g <= lost, "{k:?}: shortfall {} > lost {lost}", n - g);
    }
    assert!(
        total_got * 1000 >= total_want * 999,
        "kestrel saw {total_got} of {total_want}"
    );
    for k in got.keys() {
        assert!(want.contains_key(k), "kestrel invented {k:?}");
    }
}

#[test]
fn pipelined_requests_pair_in_order() {
    if !kernel_available("pipelined_requests_pair_in_order") || !have("pipelined", "nginx") {
        return;
    }
    let dir = TempDir::new("http-pipe");
    let port = free_port();
    let (_nginx, worker) = nginx(&dir.0, port);
    let pid = worker.to_string();
    const CONNS: usize = 1000;
    let c = capture(&["-p", &pid, "--server"], || {
        let threads: Vec<_> = (0..8)
            .map(|_| {
                std::thread::spawn(move || {
                    let req = "GET / HTTP/1.1\r\nHost: t\r\n\r\n\
                               GET /missing HTTP/1.1\r\nHost: t\r\n\r\n\
                               GET /index.html HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
                    for _ in 0..CONNS / 8 {
                        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
                        s.write_all(req.as_bytes()).expect("one write");
                        let mut sink = Vec::new();
                        s.read_to_end(&mut sink).expect("read");
                        let text = String::from_utf8_lossy(&sink);
                        assert_eq!(text.matches("HTTP/1.1 ").count(), 3, "{text}");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("client thread");
        }
    });
    assert_eq!(c.code, Some(0), "{}", c.stderr);
    let mut per_conn: HashMap<u64, Vec<(String, u64)>> = HashMap::new();
    for r in &c.records {
        per_conn
            .entry(r["conn"].as_u64().unwrap_or(0))
            .or_default()
            .push((r["path"].as_str().unwrap_or("").to_string(), status(r)));
    }
    assert_eq!(c.records.len(), 3 * CONNS, "stats {}", c.stats);
    assert_eq!(per_conn.len(), CONNS);
    let want = vec![
        ("/".to_string(), 200),
        ("/missing".to_string(), 404),
        ("/index.html".to_string(), 200),
    ];
    for (conn, v) in &per_conn {
        assert_eq!(v, &want, "connection {conn}");
    }
}

/// Runs `n` curl calls, `par` at a time; returns each call's `%{time_total}` in order of
/// completion within its thread (threads' results concatenated).
fn curls(n: usize, par: usize, url: &str, extra: &[&str]) -> Vec<f64> {
    let per = n / par;
    let threads: Vec<_> = (0..par)
        .map(|_| {
            let url = url.to_string();
            let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
            std::thread::spawn(move || {
                (0..per)
                    .map(|_| {
                        let out = Command::new("curl")
                            .args(["-s", "-o", "/dev/null", "-w", "%{time_total}"])
                            .args(&extra)
                            .arg(&url)
                            .output()
                            .expect("curl");
                        String::from_utf8_lossy(&out.stdout)
                            .trim()
                            .parse()
                            .unwrap_or(0.0)
                    })
                    .collect::<Vec<f64>>()
            })
        })
        .collect();
    threads
        .into_iter()
        .flat_map(|t| t.join().expect("curl thread"))
        .collect()
}

#[test]
fn http10_close_delimited_one_record_per_curl() {
    if !kernel_available("http10_close_delimited") || !have("http10", "curl") {
        return;
    }
    let port = free_port();
    let server = python(HTTP_SERVER, port, &[]);
    let pid = server.0.id().to_string();
    let c = capture(&["-p", &pid, "--server"], || {
        let times = curls(1000, 4, &format!("http://127.0.0.1:{port}/"), &["-0"]);
        assert_eq!(times.len(), 1000);
    });
    assert_eq!(c.code, Some(0), "{}", c.stderr);
    let ok = c
        .records
        .iter()
        .filter(|r| status(r) == 200 && r["path"] == "/")
        .count();
    assert_eq!(ok, 1000, "{} records, stats {}", c.records.len(), c.stats);
    assert_eq!(c.records.len(), 1000);
}

const SLOW_SERVER: &str = r#"
import sys, time, http.server
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def do_GET(self):
        t0 = time.monotonic()
        time.sleep(0.020)
        body = b'slow\n'
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        dt = (time.monotonic() - t0) * 1000
        with open(sys.argv[2], 'a') as f:
            f.write('%f\n' % dt)
    def log_message(self, *a):
        pass
http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
"#;

#[test]
fn server_latency_is_the_handlers_20ms_and_never_above_curls() {
    if !kernel_available("latency_truth") || !have("latency", "curl") {
        return;
    }
    let port = free_port();
    let dir = TempDir::new("http-latency");
    let own = dir.0.join("handler_ms");
    let server = python(SLOW_SERVER, port, &[own.to_str().expect("utf-8 path")]);
    let pid = server.0.id().to_string();
    let mut times = Vec::new();
    let c = capture(&["-p", &pid, "--server"], || {
        times = curls(200, 1, &format!("http://127.0.0.1:{port}/slow"), &[]);
    });
    assert_eq!(c.code, Some(0), "{}", c.stderr);
    let durs: Vec<f64> = c
        .records
        .iter()
        .map(|r| r["duration_ns"].as_f64().unwrap_or(0.0) / 1e6)
        .collect();
    assert_eq!(durs.len(), 200, "stats {}", c.stats);
    for (i, (d, t)) in durs.iter().zip(&times).enumerate() {
        assert!(
            *d <= t * 1000.0,
            "request {i}: server {d} ms > curl {} ms",
            t * 1000.0
        );
    }
    let mut sorted = durs.clone();
    sorted.sort_by(f64::total_cmp);
    let p99 = sorted[(sorted.len() * 99).div_ceil(100) - 1];
    let p50 = sorted[sorted.len() / 2];
    // The server's own clock: from do_GET to the response flushed.
    let mut mine: Vec<f64> = std::fs::read_to_string(&own)
        .expect("handler times")
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    mine.sort_by(f64::total_cmp);
    let own_p99 = mine[(mine.len() * 99).div_ceil(100) - 1];
    eprintln!(
        "server durations seen by kestrel: p50 {p50:.3} ms, p99 {p99:.3} ms; the handler's own p99 {own_p99:.3} ms"
    );
    for d in &durs {
        assert!(
            *d >= 20.0,
            "a server duration of {d} ms is shorter than the handler's sleep"
        );
    }
    if own_p99 <= 21.0 {
        assert!((20.0..=21.0).contains(&p99), "p99 {p99} ms not in [20, 21]");
    } else {
        // An overloaded machine: the handler itself took longer than 21 ms at p99 (its
        // clock also counts scheduling delays after the last write), so [20, 21] cannot
        // hold for anyone; the bound is then the handler's own p99 plus the request parse.
        eprintln!("the handler's own p99 is {own_p99:.3} ms (> 21: a loaded machine); [20, 21] not applicable");
        assert!(
            p99 <= own_p99 + 2.0,
            "kestrel p99 {p99} ms vs the handler's own {own_p99} ms"
        );
    }
}

#[test]
fn authorization_cookie_and_query_never_leave_without_capture_sensitive() {
    if !kernel_available("redaction") || !have("redaction", "curl") {
        return;
    }
    let port = free_port();
    let server = python(HTTP_SERVER, port, &[]);
    let pid = server.0.id().to_string();
    let url = format!("http://127.0.0.1:{port}/?token=SECRETQUERY3");
    let args = [
        "-H",
        "Authorization: Bearer SECRETTOKEN1",
        "-H",
        "Cookie: session=SECRETCOOKIE2",
    ];
    let secrets = ["SECRETTOKEN1", "SECRETCOOKIE2", "SECRETQUERY3"];
    for sensitive in [false, true] {
        let mut a = vec!["-p", pid.as_str()];
        if sensitive {
            a.push("--capture-sensitive");
        }
        let c = capture(&a, || {
            curls(1, 1, &url, &args);
        });
        assert_eq!(c.code, Some(0), "{}", c.stderr);
        assert_eq!(c.records.len(), 1, "stats {}", c.stats);
        let all = format!("{:?}{}", c.records, c.stderr);
        for s in secrets {
            assert_eq!(
                all.contains(s),
                sensitive,
                "{s} (capture_sensitive={sensitive}): {all}"
            );
        }
    }
    // The text lines too.
    let mut t = Tracer::start(&["http", "-p", &pid]);
    curls(1, 1, &url, &args);
    assert!(t.wait_for(|l| l.contains(" GET "), Duration::from_secs(10)));
    t.interrupt();
    let (lines, err, code) = t.finish();
    assert_eq!(code, Some(0));
    let all = format!("{lines:?}{err}");
    for s in secrets {
        assert!(!all.contains(s), "{s} in text output");
    }
}

#[test]
fn garbage_on_a_socket_is_counted_not_a_panic() {
    if !kernel_available("garbage") {
        return;
    }
    let port = free_port();
    let server = python(HTTP_SERVER, port, &[]);
    let pid = server.0.id().to_string();
    let c = capture(&["-p", &pid], || {
        // xorshift bytes: deterministic, no dependency.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for i in 0..20 {
            let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            let n = if i % 2 == 0 { 4096 } else { 65536 };
            let bytes: Vec<u8> = (0..n)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x >> 24) as u8
                })
                .collect();
            let _ = s.write_all(&bytes);
            let _ = s.shutdown(std::net::Shutdown::Write);
            let mut sink = Vec::new();
            let _ = s.read_to_end(&mut sink);
        }
        // A request with a 64 KiB header, and one cut half-way.
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let big = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(65536));
        let _ = s.write_all(big.as_bytes());
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let _ = s.write_all(b"GET /cut HTTP/1.1\r\nHost: ");
        std::mem::forget(s); // still open when kestrel stops
    });
    assert_eq!(c.code, Some(0), "kestrel failed: {}", c.stderr);
    assert!(!c.stderr.contains("panicked"), "{}", c.stderr);
    let unparsed = c.stats["unparsed_bytes"].as_u64().unwrap_or(0)
        + c.stats["undetected_connections"].as_u64().unwrap_or(0)
        + c.stats["parse_errors"].as_u64().unwrap_or(0);
    assert!(unparsed > 0, "garbage not counted: {}", c.stats);
    for r in &c.records {
        let p = r["path"].as_str().unwrap_or("");
        assert!(
            p.is_empty() || p.starts_with('/'),
            "garbage made a path: {r}"
        );
    }
}

#[test]
fn a_connection_open_before_kestrel_started_is_seeded_from_proc() {
    if !kernel_available("seeded") || !have("seeded", "nginx") {
        return;
    }
    let dir = TempDir::new("http-seed");
    let port = free_port();
    let (_nginx, worker) = nginx(&dir.0, port);
    let pid = worker.to_string();
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let req = b"GET /index.html HTTP/1.1\r\nHost: t\r\n\r\n";
    let mut buf = [0u8; 4096];
    s.write_all(req).expect("write");
    let _ = s.read(&mut buf).expect("first response");
    let c = capture(&["-p", &pid, "--metrics-summary"], || {
        for _ in 0..3 {
            s.write_all(req).expect("write");
            let _ = s.read(&mut buf).expect("response");
        }
    });
    assert_eq!(c.code, Some(0), "{}", c.stderr);
    assert_eq!(c.records.len(), 3, "stats {}", c.stats);
    for r in &c.records {
        assert_eq!(r["role"], "server");
        assert_eq!(r["path"], "/index.html");
        assert_eq!(status(r), 200);
        assert_eq!(
            r["peer"],
            s.local_addr().expect("addr").to_string().as_str()
        );
    }
}
