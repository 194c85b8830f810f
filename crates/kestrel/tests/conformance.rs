//! The conformance suite: every `tests/conformance/*.toml` file holds cases, each a script, a
//! command line, an optional workload and the output expected — exact lines, lines in order,
//! or patterns. Cases run the real binary as root (they load real eBPF), several at a time.
//!
//! A case:
//! ```toml
//! [[case]]
//! name = "printf widths"
//! script = 'BEGIN { printf("%5d|\n", 42); exit(); }'
//! expect = ["   42|"]          # these lines appear, in this order (others may be between)
//! ```
//! Other keys: `args` (extra command-line words), `workload` (a shell command run once the
//! probes are attached; the tracer is then interrupted like Ctrl-C unless the script exits by
//! itself), `expect_exact` (the whole stdout after the attach notice), `expect_regex`,
//! `reject` (lines that must not appear), `stderr` (substrings of stderr), `exit_code`
//! (default 0), `bpftrace` (how bpftrace differs, when it does). In `script`, `args` and
//! `workload`, `{uniq}` becomes a name unique to the case (usable as a comm, ≤ 15 bytes) and
//! `{tmp}` a private directory; `{bin}` is `{tmp}/{uniq}`, a copy of /bin/true — or, when the
//! case has `c_source`, that C program compiled with `cc -O1`.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct File {
    case: Vec<Case>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    script: String,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    workload: Option<String>,
    #[serde(default)]
    expect: Vec<String>,
    #[serde(default)]
    expect_exact: Option<String>,
    #[serde(default)]
    expect_regex: Vec<String>,
    #[serde(default)]
    reject: Vec<String>,
    #[serde(default)]
    stderr: Vec<String>,
    #[serde(default)]
    exit_code: Option<i32>,
    #[serde(default)]
    bpftrace: Option<String>,
    /// Seconds before the tracer is interrupted when there is no workload and it has not
    /// exited by itself.
    #[serde(default)]
    timeout: Option<u64>,
    /// C source compiled with `cc -O1` to `{bin}` (instead of the copy of /bin/true) before
    /// kestrel starts, for probes on user-space functions.
    #[serde(default)]
    c_source: Option<String>,
}

fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/conformance")
}

fn load_cases() -> Vec<(String, Case)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(suite_dir())
        .expect("tests/conformance exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read case file");
        let parsed: File = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let stem = f
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        for c in parsed.case {
            out.push((stem.clone(), c));
        }
    }
    out
}

/// Runs one case; returns a failure description or None.
fn run_case(index: usize, file: &str, case: &Case) -> Option<String> {
    let uniq = format!("kc{}_{index}", std::process::id() % 10_000);
    let tmp = std::env::temp_dir().join(format!("kestrel-conf-{uniq}"));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).ok()?;
    let bin = tmp.join(&uniq);
    let _ = std::fs::copy("/bin/true", &bin);
    if let Some(source) = &case.c_source {
        let src = tmp.join(format!("{uniq}.c"));
        std::fs::write(&src, source).ok()?;
        let _ = std::fs::remove_file(&bin);
        let built = Command::new("cc")
            .args(["-O1", "-o"])
            .arg(&bin)
            .arg(&src)
            .status();
        if !built.as_ref().is_ok_and(|s| s.success()) {
            return Some(format!(
                "cannot compile the case's c_source with cc: {built:?}"
            ));
        }
    }
    let subst = |s: &str| {
        s.replace("{bin}", &bin.to_string_lossy())
            .replace("{uniq}", &uniq)
            .replace("{tmp}", &tmp.to_string_lossy())
    };
    let mut cmd = common::kestrel();
    cmd.env(common::NOTIFY, "1");
    cmd.arg("-e").arg(subst(&case.script));
    for a in &case.args {
        cmd.arg(subst(a));
    }
    let mut child = match cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return Some(format!("spawn: {e}")),
    };
    let stdout = Arc::new(Mutex::new(String::new()));
    let mut pipe = child.stdout.take()?;
    let collected = Arc::clone(&stdout);
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if let Ok(mut s) = collected.lock() {
                        s.push_str(&String::from_utf8_lossy(&buf[..n]));
                    }
                }
            }
        }
    });
    let mut errpipe = child.stderr.take()?;
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = errpipe.read_to_string(&mut s);
        s
    });
    let attached = || {
        stdout
            .lock()
            .map(|s| s.contains(common::NOTIFY))
            .unwrap_or(false)
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !attached() && Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut interrupted = false;
    if let Some(w) = &case.workload {
        if attached() {
            let _ = Command::new("/bin/sh")
                .arg("-c")
                .arg(subst(w))
                .current_dir(&tmp)
                .status();
            std::thread::sleep(Duration::from_millis(300));
        }
        if let Ok(None) = child.try_wait() {
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            interrupted = true;
        }
    }
    let limit = Instant::now() + Duration::from_secs(case.timeout.unwrap_or(10));
    let status = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break Some(st);
        }
        if Instant::now() > limit {
            if !interrupted {
                let _ = Command::new("kill")
                    .args(["-INT", &child.id().to_string()])
                    .status();
                interrupted = true;
                continue;
            }
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let _ = reader.join();
    let stderr = err_reader.join().unwrap_or_default();
    let out = stdout.lock().map(|s| s.clone()).unwrap_or_default();
    let verdict = check(
        file,
        case,
        status.and_then(|s| s.code()),
        &out,
        &stderr,
        &subst,
    );
    let _ = std::fs::remove_dir_all(&tmp);
    verdict
}

fn check(
    file: &str,
    case: &Case,
    code: Option<i32>,
    out: &str,
    err: &str,
    subst: &dyn Fn(&str) -> String,
) -> Option<String> {
    let context = || {
        format!(
            "[{file}] {}\n--- stdout:\n{out}\n--- stderr:\n{err}",
            case.name
        )
    };
    let want_code = case.exit_code.unwrap_or(0);
    if code != Some(want_code) {
        return Some(format!(
            "exit code {code:?}, want {want_code}\n{}",
            context()
        ));
    }
    // The script's output: without the attach notice (and, in JSON, the attached_probes
    // record) that come first.
    let mut body = out;
    loop {
        match body.split_once('\n') {
            Some((first, rest))
                if first == common::NOTIFY || first.contains("\"attached_probes\"") =>
            {
                body = rest
            }
            _ => break,
        }
    }
    if let Some(exact) = &case.expect_exact {
        if body != subst(exact) {
            return Some(format!(
                "stdout differs from expect_exact:\n{body:?}\nwant:\n{exact:?}\n{}",
                context()
            ));
        }
    }
    let lines: Vec<&str> = body.lines().collect();
    let mut at = 0;
    for want in &case.expect {
        let want = &subst(want);
        match lines[at..].iter().position(|l| l == want) {
            Some(p) => at += p + 1,
            None => return Some(format!("missing line (in order) {want:?}\n{}", context())),
        }
    }
    for pattern in &case.expect_regex {
        let re = match simple_regex::Regex::new(&subst(pattern)) {
            Ok(r) => r,
            Err(e) => return Some(format!("bad pattern {pattern:?}: {e}")),
        };
        if !lines.iter().any(|l| re.is_match(l)) {
            return Some(format!("no line matches {pattern:?}\n{}", context()));
        }
    }
    for bad in &case.reject {
        if lines.iter().any(|l| l.contains(bad.as_str())) {
            return Some(format!("rejected text {bad:?} appeared\n{}", context()));
        }
    }
    for want in &case.stderr {
        if !err.contains(want.as_str()) {
            return Some(format!("stderr lacks {want:?}\n{}", context()));
        }
    }
    if err.contains("panicked") {
        return Some(format!("kestrel panicked\n{}", context()));
    }
    None
}

#[test]
fn conformance_suite() {
    if !common::kernel_available("conformance_suite") {
        return;
    }
    let cases = load_cases();
    assert!(!cases.is_empty());
    let filter = std::env::var("KESTREL_CASE").ok();
    let work: Vec<(usize, String, Case)> = cases
        .into_iter()
        .enumerate()
        .filter(|(_, (file, c))| {
            // KESTREL_CASE matches a case name or "file/name" (e.g. "actions/").
            filter.as_ref().is_none_or(|f| {
                c.name.contains(f.as_str()) || format!("{file}/{}", c.name).contains(f.as_str())
            })
        })
        .map(|(i, (f, c))| (i, f, c))
        .collect();
    let total = work.len();
    let differs = work.iter().filter(|(_, _, c)| c.bpftrace.is_some()).count();
    let queue = Arc::new(Mutex::new(work));
    let failures = Arc::new(Mutex::new(BTreeMap::new()));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let queue = Arc::clone(&queue);
            let failures = Arc::clone(&failures);
            std::thread::spawn(move || loop {
                let next = queue.lock().ok().and_then(|mut q| q.pop());
                let Some((i, file, case)) = next else { break };
                if let Some(f) = run_case(i, &file, &case) {
                    if let Ok(mut m) = failures.lock() {
                        m.insert(i, f);
                    }
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
    let failures = failures.lock().map(|m| m.clone()).unwrap_or_default();
    for f in failures.values() {
        eprintln!("FAIL {f}\n");
    }
    println!(
        "conformance: {} passed, {} failed ({differs} cases note a difference from bpftrace)",
        total - failures.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {total} conformance cases failed",
        failures.len()
    );
}

/// A tiny regular-expression matcher (`.`, `*`, `+`, `?`, `^`, `$`, `\d`, `\w`, `\s`,
/// `[...]` classes, `\` escapes) — enough for expected-output patterns without a dependency.
mod simple_regex {
    #[derive(Debug, Clone)]
    enum Atom {
        Any,
        Char(char),
        Class(Vec<(char, char)>, bool),
    }

    #[derive(Debug, Clone)]
    struct Piece {
        atom: Atom,
        min: usize,
        max: usize,
    }

    /// A compiled pattern.
    pub struct Regex {
        pieces: Vec<Piece>,
        anchored_start: bool,
        anchored_end: bool,
    }

    impl Regex {
        pub fn new(p: &str) -> Result<Regex, String> {
            let mut chars: Vec<char> = p.chars().collect();
            let anchored_start = chars.first() == Some(&'^');
            if anchored_start {
                chars.remove(0);
            }
            let anchored_end =
                chars.last() == Some(&'$') && !(chars.len() >= 2 && chars[chars.len() - 2] == '\\');
            if anchored_end {
                chars.pop();
            }
            let mut pieces = Vec::new();
            let mut i = 0;
            while i < chars.len() {
                let atom = match chars[i] {
                    '.' => Atom::Any,
                    '\\' => {
                        i += 1;
                        match chars.get(i) {
                            Some('d') => Atom::Class(vec![('0', '9')], false),
                            Some('w') => Atom::Class(
                                vec![('a', 'z'), ('A', 'Z'), ('0', '9'), ('_', '_')],
                                false,
                            ),
                            Some('s') => Atom::Class(vec![(' ', ' '), ('\t', '\t')], false),
                            Some(&c) => Atom::Char(c),
                            None => return Err("trailing backslash".into()),
                        }
                    }
                    '[' => {
                        let mut ranges = Vec::new();
                        i += 1;
                        let negate = chars.get(i) == Some(&'^');
                        if negate {
                            i += 1;
                        }
                        while i < chars.len() && chars[i] != ']' {
                            let mut lo = chars[i];
                            if lo == '\\' {
                                i += 1;
                                lo = *chars.get(i).ok_or("bad class")?;
                            }
                            if chars.get(i + 1) == Some(&'-')
                                && chars.get(i + 2).is_some_and(|c| *c != ']')
                            {
                                ranges.push((lo, chars[i + 2]));
                                i += 3;
                            } else {
                                ranges.push((lo, lo));
                                i += 1;
                            }
                        }
                        if i >= chars.len() {
                            return Err("unterminated class".into());
                        }
                        Atom::Class(ranges, negate)
                    }
                    c => Atom::Char(c),
                };
                i += 1;
                let (min, max) = match chars.get(i) {
                    Some('*') => (0, usize::MAX),
                    Some('+') => (1, usize::MAX),
                    Some('?') => (0, 1),
                    _ => (1, 1),
                };
                if min != 1 || max != 1 {
                    i += 1;
                }
                pieces.push(Piece { atom, min, max });
            }
            Ok(Regex {
                pieces,
                anchored_start,
                anchored_end,
            })
        }

        pub fn is_match(&self, s: &str) -> bool {
            let text: Vec<char> = s.chars().collect();
            let starts: Vec<usize> = if self.anchored_start {
                vec![0]
            } else {
                (0..=text.len()).collect()
            };
            starts.into_iter().any(|st| self.match_at(&text, st, 0))
        }

        fn match_at(&self, text: &[char], pos: usize, piece: usize) -> bool {
            if piece == self.pieces.len() {
                return !self.anchored_end || pos == text.len();
            }
            let p = &self.pieces[piece];
            let mut count = 0;
            let mut at = pos;
            while count < p.min {
                if at < text.len() && matches(&p.atom, text[at]) {
                    at += 1;
                    count += 1;
                } else {
                    return false;
                }
            }
            let mut ends = vec![at];
            while count < p.max && at < text.len() && matches(&p.atom, text[at]) {
                at += 1;
                count += 1;
                ends.push(at);
            }
            ends.into_iter()
                .rev()
                .any(|e| self.match_at(text, e, piece + 1))
        }
    }

    fn matches(a: &Atom, c: char) -> bool {
        match a {
            Atom::Any => true,
            Atom::Char(x) => *x == c,
            Atom::Class(r, neg) => r.iter().any(|(lo, hi)| *lo <= c && c <= *hi) != *neg,
        }
    }
}
