//! Helpers shared by the CLI tests: running the real binary, deciding whether kernel tests
//! can run here, and interrupting a tracing session by PID.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The kestrel binary under test.
pub fn kestrel() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kestrel"))
}

/// Whether kernel tests must run (CI) rather than skip.
fn required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var("KESTREL_REQUIRE_KERNEL").is_ok_and(|v| v == "1")
}

/// True when the tests run as root.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|u| u.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// True when this machine can run kernel tests. Otherwise prints why and returns false —
/// or, under CI / KESTREL_REQUIRE_KERNEL=1, fails the test.
pub fn kernel_available(test: &str) -> bool {
    let why = if !is_root() {
        Some("not running as root")
    } else if !std::path::Path::new("/sys/kernel/btf/vmlinux").exists()
        && !std::path::Path::new("/sys/kernel/tracing").exists()
    {
        Some("no tracefs on this machine")
    } else {
        None
    };
    match why {
        None => true,
        Some(why) if required() => panic!("{test}: kernel test cannot run: {why} (CI=true or KESTREL_REQUIRE_KERNEL=1 requires it)"),
        Some(why) => {
            eprintln!("SKIP {test}: {why}");
            false
        }
    }
}

/// Lines of a child's output, read on a background thread; `seen` keeps every line received.
pub struct Lines {
    rx: mpsc::Receiver<String>,
    /// Every line received so far, in order.
    pub seen: Vec<String>,
}

impl Lines {
    /// Read `reader` line by line on a new thread.
    pub fn spawn(reader: impl Read + Send + 'static) -> Lines {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(reader).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Lines {
            rx,
            seen: Vec::new(),
        }
    }

    /// Wait until a line satisfying `pred` arrives (true) or the timeout passes (false).
    pub fn wait_for(&mut self, pred: impl Fn(&str) -> bool, timeout: Duration) -> bool {
        if self.seen.iter().any(|l| pred(l)) {
            return true;
        }
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.rx.recv_timeout(left) {
                Ok(line) => {
                    let hit = pred(&line);
                    self.seen.push(line);
                    if hit {
                        return true;
                    }
                }
                Err(_) => return false,
            }
        }
        false
    }

    /// Take whatever arrives until `quiet` passes without a new line.
    pub fn drain(&mut self, quiet: Duration) {
        while let Ok(line) = self.rx.recv_timeout(quiet) {
            self.seen.push(line);
        }
    }
}

/// The environment variable (and the line kestrel then prints on stdout) that tells a test
/// the probes are attached, as in bpftrace's runtime tests.
pub const NOTIFY: &str = "__BPFTRACE_NOTIFY_PROBES_ATTACHED";

/// A running `kestrel` whose stdout is collected in the background.
pub struct Tracer {
    child: Child,
    out: Lines,
    stderr: Option<std::process::ChildStderr>,
}

impl Tracer {
    /// Start `kestrel ARGS...` and wait until its probes are attached (it prints bpftrace's
    /// `__BPFTRACE_NOTIFY_PROBES_ATTACHED` line when asked to in the environment).
    pub fn start(args: &[&str]) -> Tracer {
        let mut child = kestrel()
            .args(args)
            .env(NOTIFY, "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kestrel");
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take();
        let mut t = Tracer {
            child,
            out: Lines::spawn(stdout),
            stderr,
        };
        if !t.wait_for(|l| l == NOTIFY, Duration::from_secs(20)) {
            let out = t.finish();
            panic!(
                "kestrel did not attach: stdout={:?} stderr={}",
                out.0, out.1
            );
        }
        t
    }

    /// Wait until a line satisfying `pred` arrives (true) or the timeout passes (false).
    pub fn wait_for(&mut self, pred: impl Fn(&str) -> bool, timeout: Duration) -> bool {
        self.out.wait_for(pred, timeout)
    }

    /// Our kestrel's PID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send SIGINT to our kestrel (by its PID) as Ctrl-C would.
    pub fn interrupt(&self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Wait for exit (killing it after 20 s); returns (stdout lines, stderr, exit code).
    pub fn finish(mut self) -> (Vec<String>, String, Option<i32>) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                break self.child.wait().expect("wait");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        self.out.drain(Duration::from_millis(500));
        let mut err = String::new();
        if let Some(mut e) = self.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        (std::mem::take(&mut self.out.seen), err, status.code())
    }
}

impl Drop for Tracer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Run kestrel to completion with a timeout.
pub fn run(args: &[&str]) -> Output {
    let mut child = kestrel()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return child.wait_with_output().expect("output");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A private directory for this test's files, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh directory named after `tag` and this process.
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("kestrel-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("mkdir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Copy `/bin/cat`-like `src` to `dir/name` so its process gets a unique `comm`.
pub fn unique_binary(dir: &TempDir, src: &str, name: &str) -> PathBuf {
    let dst = dir.0.join(name);
    std::fs::copy(src, &dst).expect("copy binary");
    dst
}
