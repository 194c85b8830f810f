//! Hostile inputs: each must end in bounded time and memory with a clear error (a coded
//! diagnostic or a one-line `error:`) or a clean success — never a panic, a crash or a hang.
//! Runs `kestrel -d insns` (no root needed) under a virtual-memory limit and a timeout.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a case must produce.
enum Expect {
    /// Exit 0.
    Ok,
    /// Exit 1 with this text on stderr.
    Error(&'static str),
}

/// Wall-clock budget per case (debug build, shared CPUs).
const BUDGET: Duration = Duration::from_secs(90);
/// Address-space limit in KiB: the compiler thread reserves a 1 GiB stack, so 3 GiB leaves
/// room for real work while catching runaway growth.
const MEMORY_KB: u64 = 3 << 20;

fn run_case(name: &str, script: &[u8], expect: Expect) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("kestrel-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let file = dir.join(format!("{}.bt", name.replace(' ', "_")));
    std::fs::write(&file, script).map_err(|e| e.to_string())?;
    let cmd = format!("ulimit -v {MEMORY_KB}; exec \"$0\" -d insns \"$1\" >/dev/null",);
    let mut child = Command::new("sh")
        .args(["-c", &cmd, env!("CARGO_BIN_EXE_kestrel")])
        .arg(&file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut stderr = child.stderr.take().ok_or("no stderr")?;
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
            break st;
        }
        if start.elapsed() > BUDGET {
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_file(&file);
            return Err(format!("{name}: still running after {BUDGET:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let err = reader.join().unwrap_or_default();
    let _ = std::fs::remove_file(&file);
    let short: String = err.chars().take(600).collect();
    if err.contains("panicked") || err.contains("internal compiler error") {
        return Err(format!("{name}: panicked: {short}"));
    }
    match expect {
        Expect::Ok if status.code() == Some(0) => Ok(()),
        Expect::Error(text) if status.code() == Some(1) && err.contains(text) => {
            // Clear means: a coded diagnostic or a one-line error, not a bare message.
            if err.starts_with("error[E") || err.starts_with("error: ") {
                Ok(())
            } else {
                Err(format!("{name}: unclear error: {short}"))
            }
        }
        _ => Err(format!("{name}: exit {:?}, stderr: {short}", status.code())),
    }
}

fn repeat(s: &str, n: usize) -> String {
    s.repeat(n)
}

#[test]
fn hostile_inputs_fail_clearly_in_bounded_time_and_memory() {
    let deep_parens = format!(
        "BEGIN {{ @x = {}1{}; exit(); }}",
        repeat("(", 10_000),
        repeat(")", 10_000)
    );
    let deep_ops = format!("BEGIN {{ @x = {}1; exit(); }}", repeat("1 + ", 10_000));
    let deep_unary = format!("BEGIN {{ @x = {}1; exit(); }}", repeat("- ", 10_000));
    let deep_ifs = format!(
        "BEGIN {{ {}@x = 1;{} exit(); }}",
        repeat("if (1) { ", 10_000),
        repeat("}", 10_000)
    );
    let deep_blocks_unclosed = format!("BEGIN {}", repeat("{ ", 10_000));
    let megabyte = format!("BEGIN {{ {}exit(); }}", repeat("@x = 1; ", 130_000));
    let megabyte_comment = format!("/*{}*/ BEGIN {{ exit(); }}", repeat("x", 1 << 20));
    let many_probes = repeat("interval:s:1 { @x = 1; }\n", 10_000);
    let many_errors = repeat("BEGIN { @x = ; }\n", 10_000);
    let long_ident = format!("BEGIN {{ @{} = 1; exit(); }}", repeat("a", 100_000));
    let long_string = format!(
        "BEGIN {{ printf(\"{}\\n\"); exit(); }}",
        repeat("a", 100_000)
    );
    let cases: Vec<(&str, Vec<u8>, Expect)> = vec![
        ("empty script", b"".to_vec(), Expect::Error("E0206")),
        (
            "only whitespace",
            b" \n\t\n".to_vec(),
            Expect::Error("E0206"),
        ),
        (
            "only a comment",
            b"// nothing".to_vec(),
            Expect::Error("E0206"),
        ),
        ("1 MB script", megabyte.into_bytes(), Expect::Ok),
        ("1 MB comment", megabyte_comment.into_bytes(), Expect::Ok),
        ("10000 nested parens", deep_parens.into_bytes(), Expect::Ok),
        ("10000 chained additions", deep_ops.into_bytes(), Expect::Ok),
        (
            "10000 nested negations",
            deep_unary.into_bytes(),
            Expect::Ok,
        ),
        ("10000 nested ifs", deep_ifs.into_bytes(), Expect::Ok),
        (
            "10000 unclosed blocks",
            deep_blocks_unclosed.into_bytes(),
            Expect::Error("E0102"),
        ),
        ("10000 probes", many_probes.into_bytes(), Expect::Ok),
        (
            "10000 syntax errors",
            many_errors.into_bytes(),
            Expect::Error("E0101"),
        ),
        (
            "non-UTF-8 bytes",
            b"BEGIN { @x = 1; \xff\xfe exit(); }".to_vec(),
            Expect::Error("not valid UTF-8"),
        ),
        (
            "NUL byte",
            b"BEGIN { @x = 1; \0 exit(); }".to_vec(),
            Expect::Error("E0001"),
        ),
        (
            "NUL in a string",
            b"BEGIN { printf(\"a\0b\\n\"); exit(); }".to_vec(),
            Expect::Ok,
        ),
        (
            "integer over 64 bits",
            b"BEGIN { @x = 18446744073709551616; }".to_vec(),
            Expect::Error("E0005"),
        ),
        (
            "huge hex integer",
            b"BEGIN { @x = 0xffffffffffffffffff; }".to_vec(),
            Expect::Error("E0005"),
        ),
        (
            "u64 max",
            b"BEGIN { @x = 18446744073709551615; exit(); }".to_vec(),
            Expect::Ok,
        ),
        (
            "huge positional",
            b"BEGIN { @x = $99999999999999999999; }".to_vec(),
            Expect::Error("E0005"),
        ),
        (
            "printf too few args",
            b"BEGIN { printf(\"%d %s\\n\", 1); }".to_vec(),
            Expect::Error("E0501"),
        ),
        (
            "printf too many args",
            b"BEGIN { printf(\"%d\\n\", 1, 2); }".to_vec(),
            Expect::Error("E0501"),
        ),
        (
            "printf %n",
            b"BEGIN { printf(\"%n\\n\", 1); }".to_vec(),
            Expect::Error("E0501"),
        ),
        (
            "printf unsupported conversion",
            b"BEGIN { printf(\"%q\\n\", 1); }".to_vec(),
            Expect::Error("E0501"),
        ),
        (
            // A `%` that starts no conversion ("100%") is literal text, as bpftrace prints
            // it; conversions kestrel cannot have are refused.
            "printf floating-point conversion",
            b"BEGIN { printf(\"%f\", 1); }".to_vec(),
            Expect::Error("E0501"),
        ),
        (
            "printf non-literal format",
            b"BEGIN { printf(1); }".to_vec(),
            Expect::Error("E0501"),
        ),
        (
            "probe on a missing binary",
            b"uprobe:/nonexistent/kestrel-bin:main { exit(); }".to_vec(),
            Expect::Error("error"),
        ),
        (
            "usdt on a missing binary",
            b"usdt:/nonexistent/kestrel-bin:p:q { exit(); }".to_vec(),
            Expect::Error("error"),
        ),
        (
            "self-referencing map",
            b"BEGIN { @a = @a + 1; exit(); }".to_vec(),
            Expect::Ok,
        ),
        (
            "nested unroll explosion",
            b"BEGIN { unroll(100) { unroll(100) { unroll(100) { @x = 1; } } } }".to_vec(),
            Expect::Error("E0407"),
        ),
        (
            "100,000-byte identifier",
            long_ident.into_bytes(),
            Expect::Ok,
        ),
        ("100,000-byte string", long_string.into_bytes(), Expect::Ok),
        (
            "unterminated everything",
            b"BEGIN { printf(\"abc".to_vec(),
            Expect::Error("E0003"),
        ),
        (
            "stray closing braces",
            b"}}}}} BEGIN { exit(); }".to_vec(),
            Expect::Error("E0101"),
        ),
        (
            "probe name only",
            b"tracepoint".to_vec(),
            Expect::Error("error"),
        ),
        (
            "control characters",
            b"BEGIN { \x01\x02\x7f }".to_vec(),
            Expect::Error("E0001"),
        ),
    ];
    let mut failures = Vec::new();
    for (name, script, expect) in cases {
        if let Err(e) = run_case(name, &script, expect) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
