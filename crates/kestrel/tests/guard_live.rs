//! `kestrel guard` live, as a user runs it (root; skipped with the reason otherwise, failing
//! under CI=true / KESTREL_REQUIRE_KERNEL=1): the built-in scenarios raise exactly their
//! alerts, kill mode stops the offender after the offending call, ordinary load is quiet,
//! delivered + lost == the in-kernel generated count under a storm, alerts POST as Falco
//! JSON. Each test filters on its own workload (`--pid` of this test process, with the
//! tests serialised by a lock so that one guard's alerts are not another's).

// A failed unwrap here is a failed test, with its location.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{kernel_available, kestrel, TempDir};
use serde_json::Value;

static SERIAL: Mutex<()> = Mutex::new(());

/// (scenario, rule, priority)
const HOST: &[(&str, &str, &str)] = &[
    (
        "ReadSensitiveFileUntrusted",
        "Read sensitive file untrusted",
        "Warning",
    ),
    ("RunShellUntrusted", "Run shell untrusted", "Notice"),
    (
        "SearchPrivateKeysOrPasswords",
        "Search Private Keys or Passwords",
        "Warning",
    ),
    ("ClearLogActivities", "Clear Log Activities", "Warning"),
    (
        "CreateSymlinkOverSensitiveFiles",
        "Create Symlink Over Sensitive Files",
        "Warning",
    ),
    (
        "CreateHardlinkOverSensitiveFiles",
        "Create Hardlink Over Sensitive Files",
        "Warning",
    ),
    (
        "PtraceAttachedToProcess",
        "PTRACE attached to process",
        "Warning",
    ),
    (
        "PtraceAntiDebugAttempt",
        "PTRACE anti-debug attempt",
        "Notice",
    ),
    ("ExecutionFromDevShm", "Execution from /dev/shm", "Warning"),
    (
        "FilelessExecutionViaMemfdCreate",
        "Fileless execution via memfd_create",
        "Critical",
    ),
    (
        "PacketSocketCreatedOnHost",
        "Packet socket created on host",
        "Notice",
    ),
    (
        "LinuxKernelModuleInjection",
        "Linux Kernel Module Injection Detected",
        "Warning",
    ),
];

/// Scenarios this kernel can observe (no module syscalls without CONFIG_MODULES).
fn host_scenarios() -> Vec<(&'static str, &'static str, &'static str)> {
    HOST.iter()
        .copied()
        .filter(|(s, _, _)| {
            *s != "LinuxKernelModuleInjection"
                || Path::new("/sys/kernel/tracing/events/syscalls/sys_enter_finit_module").exists()
        })
        .collect()
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// A running `kestrel guard`, its stdout lines collected with their arrival times.
struct Guard {
    child: Option<Child>,
    lines: mpsc::Receiver<(String, u64)>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Guard {
    fn start(dir: &TempDir, args: &[&str]) -> Guard {
        let ready = dir.0.join("guard.ready");
        let mut child = kestrel()
            .arg("guard")
            .args(args)
            .arg("--ready-file")
            .arg(&ready)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start kestrel guard");
        let out = child.stdout.take().unwrap();
        let mut err = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send((l, now_ns()));
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        let t = Instant::now();
        while !ready.exists() {
            if let Ok(Some(st)) = child.try_wait() {
                panic!(
                    "kestrel guard exited early: {st}: {}",
                    stderr.join().unwrap()
                );
            }
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "guard never became ready"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Guard {
            child: Some(child),
            lines: rx,
            stderr: Some(stderr),
        }
    }

    /// SIGTERM, wait; every stdout line with its arrival time, and stderr.
    fn stop(mut self) -> (Vec<(String, u64)>, String) {
        let mut child = self.child.take().expect("running");
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let st = child.wait().expect("wait guard");
        let err = self
            .stderr
            .take()
            .map(|h| h.join().unwrap())
            .unwrap_or_default();
        assert!(st.success(), "guard failed: {st}\n{err}");
        let lines: Vec<(String, u64)> = self.lines.try_iter().collect();
        (lines, err)
    }
}

impl Drop for Guard {
    /// A failed assertion must not leave an enforcing guard behind.
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn alerts(lines: &[(String, u64)]) -> Vec<(Value, u64)> {
    lines
        .iter()
        .map(|(l, t)| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}"));
            (v, *t)
        })
        .collect()
}

fn rfc3339_ns(s: &str) -> u64 {
    // 2026-12-06T21:58:03.123456789Z
    let (date, time) = s.trim_end_matches('Z').split_once('T').unwrap();
    let d: Vec<i64> = date.split('-').map(|x| x.parse().unwrap()).collect();
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let t: Vec<i64> = hms.split(':').map(|x| x.parse().unwrap()).collect();
    let (y, m) = if d[1] <= 2 {
        (d[0] - 1, d[1] + 9)
    } else {
        (d[0], d[1] - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d[2] - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    let frac_ns: u64 = format!("{frac:0<9}")[..9].parse().unwrap();
    ((days * 86400 + t[0] * 3600 + t[1] * 60 + t[2]) as u64) * 1_000_000_000 + frac_ns
}

fn scenario(name: &str, dir: &Path, wait_ms: u64) -> (i32, bool) {
    let o = kestrel()
        .args([
            "guard",
            "scenario",
            name,
            "--wait-ms",
            &wait_ms.to_string(),
            "--dir",
        ])
        .arg(dir)
        .output()
        .expect("run scenario");
    let code = o.status.code().unwrap_or(-1);
    let marker = dir.join(format!("{name}.marker")).exists();
    (code, marker)
}

fn me() -> String {
    std::process::id().to_string()
}

#[test]
fn each_scenario_ten_times_gives_ten_alerts() {
    if !kernel_available("each_scenario_ten_times_gives_ten_alerts") {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = TempDir::new("guard-scn");
    let guard = Guard::start(&dir, &["--json", "--pid", &me()]);
    let list = host_scenarios();
    let mut starts: Vec<(&str, u64)> = Vec::new();
    for (s, _, _) in &list {
        for _ in 0..10 {
            starts.push((s, now_ns()));
            let (code, marker) = scenario(s, &dir.0, 300);
            assert!(
                code == 0 || (*s == "SearchPrivateKeysOrPasswords" && code == 1),
                "{s}: exit {code}"
            );
            assert!(marker, "{s}: no marker");
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let (lines, err) = guard.stop();
    let all = alerts(&lines);
    for (s, rule, prio) in &list {
        let mine: Vec<&(Value, u64)> = all.iter().filter(|(v, _)| v["rule"] == *rule).collect();
        // Known bug (docs/GUARD.md): the memfd scenario sometimes raises one extra alert
        // for the same process with an empty command line; every other scenario is exact.
        let n = mine.len();
        if *s == "FilelessExecutionViaMemfdCreate" {
            assert!(
                (10..=12).contains(&n),
                "{s}: {n} alerts of '{rule}'\n{lines:?}\n{err}"
            );
        } else {
            assert_eq!(n, 10, "{s}: {n} alerts of '{rule}'\n{lines:?}\n{err}");
        }
        for (v, arrived) in mine {
            assert_eq!(v["priority"], *prio, "{v}");
            assert_eq!(v["source"], "syscall");
            assert_eq!(v["kestrel.action"], "alert");
            let f = &v["output_fields"];
            for k in ["proc.name", "proc.pname", "fd.name", "user.name"] {
                if let Some(x) = f.get(k) {
                    assert!(x.is_string() && x != "<NA>", "{s}: {k} empty in {v}");
                }
            }
            assert!(
                f.get("proc.name").is_some() && f.get("user.name").is_some(),
                "{v}"
            );
            let t = rfc3339_ns(v["time"].as_str().unwrap());
            assert!(
                arrived.saturating_sub(t) < 1_000_000_000,
                "{s}: alert {} ms after the event",
                (arrived - t) / 1_000_000
            );
            // The action happens after the (debug, loaded-machine) binary starts: within 5 s
            // of the launch; the 1 s bound is on event -> alert, just above.
            assert!(
                starts
                    .iter()
                    .any(|(n, st)| n == s && t >= *st && t - st < 5_000_000_000),
                "{s}: event time outside every run"
            );
        }
    }
    // Nothing else from our processes: exactly the scenarios' alerts.
    let memfd = all
        .iter()
        .filter(|(v, _)| v["rule"] == "Fileless execution via memfd_create")
        .count();
    assert_eq!(all.len() - memfd, 10 * (list.len() - 1), "{lines:?}");
}

/// The default rules with `action: kill` on every scenario rule.
fn kill_rules(dir: &TempDir) -> std::path::PathBuf {
    let base = dir.0.join("base.yaml");
    std::fs::write(&base, default_rules()).unwrap();
    let mut o = String::new();
    for (_, rule, _) in HOST {
        o.push_str(&format!(
            "- rule: {rule}\n  override:\n    action: replace\n  action: kill\n\n"
        ));
    }
    let p = dir.0.join("kill.yaml");
    std::fs::write(&p, o).unwrap();
    base
}

fn default_rules() -> &'static str {
    include_str!("../../guard/rules/kestrel_rules.yaml")
}

#[test]
fn kill_mode_stops_each_offender_after_the_call() {
    if !kernel_available("kill_mode_stops_each_offender_after_the_call") {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = TempDir::new("guard-kill");
    let base = kill_rules(&dir);
    let kill = dir.0.join("kill.yaml");
    let guard = Guard::start(
        &dir,
        &[
            "--json",
            "--enforce",
            "--pid",
            &me(),
            "--rules",
            base.to_str().unwrap(),
            kill.to_str().unwrap(),
        ],
    );
    let list = host_scenarios();
    for (s, _, _) in &list {
        // A debug build on a shared machine: give the userspace kill two seconds.
        let (code, marker) = scenario(s, &dir.0, 2000);
        assert_eq!(code, 137, "{s}: exit {code}");
        assert!(!marker, "{s}: marker written after the offending call");
        if *s == "ClearLogActivities" {
            // Kill stops the process, not the syscall it is in: the O_CREAT file exists.
            let path = std::fs::read_to_string(dir.0.join("ClearLogActivities.path")).unwrap();
            assert!(Path::new(&path).exists(), "{path} not created");
            std::fs::remove_file(&path).unwrap();
        }
        if *s == "CreateSymlinkOverSensitiveFiles" {
            assert!(
                dir.0.join("shadow-link").symlink_metadata().is_ok(),
                "symlink not created"
            );
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    let (lines, err) = guard.stop();
    let all = alerts(&lines);
    for (s, rule, _) in &list {
        let a: Vec<&Value> = all
            .iter()
            .map(|(v, _)| v)
            .filter(|v| v["rule"] == *rule)
            .collect();
        assert_eq!(a.len(), 1, "{s}: {a:?}\n{err}");
        let what = a[0]["kestrel.action"].as_str().unwrap();
        assert!(what.starts_with("killed"), "{s}: {what}");
        if rule.starts_with("PTRACE") {
            assert!(
                what.contains("BPF program"),
                "{s}: exact rules kill in the kernel: {what}"
            );
        } else {
            assert!(what.contains("userspace"), "{s}: {what}");
        }
        assert!(a[0]["output"].as_str().unwrap().len() > 10);
    }
}

fn stats_line(err: &str) -> Value {
    let l = err
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no stats in {err}"));
    serde_json::from_str(l).unwrap()
}

#[test]
fn storm_delivered_plus_lost_equals_generated() {
    if !kernel_available("storm_delivered_plus_lost_equals_generated") {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = TempDir::new("guard-storm");
    let target = dir.0.join("storm-target");
    std::fs::write(&target, "x").unwrap();
    let rules = dir.0.join("storm.yaml");
    std::fs::write(
        &rules,
        format!(
            "- rule: storm open\n  desc: every open of the storm file\n  condition: evt.type = openat and evt.dir = < and fd.name startswith {}\n  output: storm %fd.name\n  priority: DEBUG\n",
            dir.0.display()
        ),
    )
    .unwrap();
    // A small ring so that the storm overflows it.
    let guard = Guard::start(
        &dir,
        &[
            "--json",
            "--stats",
            "--ring-mb",
            "1",
            "--pid",
            &me(),
            "--rules",
            rules.to_str().unwrap(),
        ],
    );
    let script = format!(
        "import os\nfor i in range(200000):\n    os.getppid()\n    fd = os.open('{}', os.O_RDONLY)\n    os.close(fd)\n",
        target.display()
    );
    let st = Command::new("python3")
        .arg("-c")
        .arg(script)
        .status()
        .unwrap();
    assert!(st.success());
    std::thread::sleep(Duration::from_millis(500));
    let (lines, err) = guard.stop();
    let s = stats_line(&err);
    let (gen, lost, del) = (
        s["generated"].as_u64().unwrap(),
        s["lost"].as_u64().unwrap(),
        s["delivered"].as_u64().unwrap(),
    );
    eprintln!("storm: generated {gen}, delivered {del}, lost {lost}");
    assert_eq!(del + lost, gen, "{s}");
    assert!(gen >= 200_000, "{s}");
    if lost > 0 {
        assert!(
            lines.iter().any(|(l, _)| l.contains("syscall event drop")),
            "losses without a drop alert"
        );
    }
}

#[test]
fn ordinary_load_is_quiet() {
    if !kernel_available("ordinary_load_is_quiet") {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = TempDir::new("guard-quiet");
    let guard = Guard::start(&dir, &["--json", "--stats", "--pid", &me()]);
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut server = Command::new("python3")
        .args([
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--directory",
        ])
        .arg(&dir.0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let src = dir.0.join("main.c");
    std::fs::write(
        &src,
        "#include <stdio.h>\nint main(void){puts(\"hi\");return 0;}\n",
    )
    .unwrap();
    let end = Instant::now() + Duration::from_secs(60);
    let mut rounds = 0;
    while Instant::now() < end {
        let _ = Command::new("ls")
            .args(["-R", "/usr/share"])
            .stdout(Stdio::null())
            .status();
        let _ = Command::new("gcc")
            .arg("-o")
            .arg(dir.0.join("a.out"))
            .arg(&src)
            .status();
        let _ = Command::new(dir.0.join("a.out"))
            .stdout(Stdio::null())
            .status();
        let _ = Command::new("tar")
            .arg("cf")
            .arg(dir.0.join("t.tar"))
            .arg("-C")
            .arg(&dir.0)
            .arg("main.c")
            .status();
        let _ = Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                &format!("http://127.0.0.1:{port}/"),
            ])
            .status();
        let _ = Command::new("sh")
            .args([
                "-c",
                "cat /etc/passwd | grep root > /dev/null; sort /etc/hostname | uniq",
            ])
            .stdout(Stdio::null())
            .status();
        rounds += 1;
    }
    let _ = server.kill();
    let _ = server.wait();
    let (lines, err) = guard.stop();
    assert!(rounds > 3, "{rounds} rounds");
    // The default rules stay quiet. The built-in drop alert is not one of them: a debug
    // build on a shared machine can fall behind `ls -R` (reported, not hidden).
    let drop_rule = "kestrel internal: syscall event drop";
    let rules: Vec<&String> = lines
        .iter()
        .map(|(l, _)| l)
        .filter(|l| !l.contains(drop_rule))
        .collect();
    let drops = lines.len() - rules.len();
    eprintln!(
        "quiet baseline: {rounds} rounds, {drops} drop alerts; {}",
        err.lines().last().unwrap_or("")
    );
    assert!(
        rules.is_empty(),
        "alerts on ordinary load:\n{rules:?}\n{err}"
    );
}

#[test]
fn alerts_post_as_falco_json() {
    if !kernel_available("alerts_post_as_falco_json") {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = TempDir::new("guard-http");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { break };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let (head, body) = loop {
                let n = s.read(&mut chunk).unwrap_or(0);
                if n == 0 {
                    break (String::from_utf8_lossy(&buf).into_owned(), String::new());
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).into_owned();
                if let Some(i) = text.find("\r\n\r\n") {
                    let head = text[..i].to_string();
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap();
                    if text.len() >= i + 4 + len {
                        break (head, text[i + 4..i + 4 + len].to_string());
                    }
                }
            };
            let _ =
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = tx.send((head, body));
        }
    });
    let url = format!("http://127.0.0.1:{port}/");
    let guard = Guard::start(&dir, &["--pid", &me(), "--http-output", &url]);
    let (code, _) = scenario("ReadSensitiveFileUntrusted", &dir.0, 20);
    assert_eq!(code, 0);
    let got = rx.recv_timeout(Duration::from_secs(5));
    let (lines, err) = guard.stop();
    let (head, body) = got.unwrap_or_else(|e| panic!("no POST arrived ({e}): {lines:?}\n{err}"));
    assert!(head.starts_with("POST / HTTP/1.1"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    let v: Value = serde_json::from_str(&body).expect("body is JSON");
    for k in [
        "time",
        "rule",
        "priority",
        "output",
        "output_fields",
        "hostname",
        "source",
        "tags",
    ] {
        assert!(v.get(k).is_some(), "{k} missing in {v}");
    }
    assert_eq!(v["rule"], "Read sensitive file untrusted");
    assert_eq!(v["priority"], "Warning");
    assert!(v["output_fields"]["fd.name"] == "/etc/shadow", "{v}");
    assert!(rfc3339_ns(v["time"].as_str().unwrap()) > 0);
    // Text lines on stdout without --json.
    assert!(
        lines
            .iter()
            .any(|(l, _)| l.contains(": Warning Sensitive file opened")),
        "{lines:?}"
    );
}
