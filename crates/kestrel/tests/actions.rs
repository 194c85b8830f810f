//! Actions and output options that the conformance suite cannot express: `-o FILE` (output
//! goes to a file, not stdout), map size limits with the "map is full" warning, and the
//! trace-pipe destination of `debugf()`.

mod common;

use common::{kernel_available, kestrel};

/// A private scratch directory for one test, removed when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("kestrel-actions-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn output_file_gets_everything_stdout_gets_nothing() {
    if !kernel_available("output_file_gets_everything_stdout_gets_nothing") {
        return;
    }
    let dir = TempDir::new("o");
    let file = dir.0.join("out.txt");
    let out = kestrel()
        .args(["-o", file.to_str().expect("utf-8 path"), "-e"])
        .arg(r#"BEGIN { printf("hi\n"); print(5); @x = 1; exit(); }"#)
        .output()
        .expect("run kestrel");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "",
        "stdout must stay empty"
    );
    let written = std::fs::read_to_string(&file).expect("output file exists");
    assert_eq!(written, "hi\n5\n\n\n@x: 1\n");
    assert!(stderr.contains("Attached 1 probe"), "{stderr}");
}

#[test]
fn output_file_in_json() {
    if !kernel_available("output_file_in_json") {
        return;
    }
    let dir = TempDir::new("oj");
    let file = dir.0.join("out.json");
    let out = kestrel()
        .args(["-f", "json", "-o", file.to_str().expect("utf-8 path"), "-e"])
        .arg(r#"BEGIN { time("%Y\n"); print((1, "a")); exit(); }"#)
        .output()
        .expect("run kestrel");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written = std::fs::read_to_string(&file).expect("output file exists");
    let lines: Vec<&str> = written.lines().collect();
    assert_eq!(lines.len(), 3, "{written}");
    assert_eq!(
        lines[0],
        r#"{"type": "attached_probes", "data": {"probes": 1}}"#
    );
    assert!(
        lines[1].starts_with(r#"{"type": "time", "data": "2"#),
        "{written}"
    );
    assert_eq!(lines[2], r#"{"type": "value", "data": [1,"a"]}"#);
}

#[test]
fn unwritable_output_file_is_a_clear_error() {
    let out = kestrel()
        .args([
            "-o",
            "/nonexistent-dir/x/out.txt",
            "-e",
            "BEGIN { exit(); }",
        ])
        .output()
        .expect("run kestrel");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    if common::is_root() {
        assert!(stderr.contains("cannot create output file"), "{stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn full_map_warns_once_and_keeps_its_limit() {
    if !kernel_available("full_map_warns_once_and_keeps_its_limit") {
        return;
    }
    let out = kestrel()
        .env("KESTREL_MAP_KEYS_MAX", "10")
        .env("KESTREL_COUNT_MAP_FULL", "1")
        .arg("-e")
        .arg(r#"BEGIN { $i = 0; while ($i < 30) { @m[$i] = count(); $i++; } $i = 0; while ($i < 5) { @m[100 + $i] = count(); $i++; } exit(); }"#)
        .output()
        .expect("run kestrel");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let entries = stdout.lines().filter(|l| l.starts_with("@m[")).count();
    assert_eq!(entries, 10, "{stdout}");
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("WARNING: map @m is full"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(
        warnings[0].contains("25 updates were dropped")
            && warnings[0].contains("KESTREL_MAP_KEYS_MAX"),
        "{stderr}"
    );
}

#[test]
fn default_map_limit_is_4096_and_bpftrace_variable_works() {
    if !kernel_available("default_map_limit_is_4096_and_bpftrace_variable_works") {
        return;
    }
    // 4100 distinct keys, one per getppid() call of the -c child.
    let script = "tracepoint:syscalls:sys_enter_getppid /pid == cpid/ { @m[@n] = 1; @n = @n + 1; } END { clear(@m); }";
    let child = "python3 -c 'import os\nfor _ in range(4100): os.getppid()'";
    let out = kestrel()
        .env("KESTREL_COUNT_MAP_FULL", "1")
        .args(["-e", script, "-c", child])
        .output()
        .expect("run kestrel");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        // At least 4 updates fail (the interpreter may call getppid itself too).
        stderr.contains("WARNING: map @m is full: ")
            && stderr.contains("updates were dropped (it holds 4096 elements"),
        "{stderr}"
    );
    let out = kestrel()
        .env("BPFTRACE_MAP_KEYS_MAX", "5000")
        .args(["-e", script, "-c", child])
        .output()
        .expect("run kestrel");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("is full"), "{stderr}");
}

#[test]
fn debugf_writes_to_the_kernel_trace_buffer() {
    if !kernel_available("debugf_writes_to_the_kernel_trace_buffer") {
        return;
    }
    let tag = format!("kestrel-debugf-{}", std::process::id());
    let script = format!(r#"BEGIN {{ debugf("{tag} %d\n", 42); printf("done\n"); exit(); }}"#);
    let out = kestrel()
        .args(["-e", &script])
        .output()
        .expect("run kestrel");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("done"));
    assert!(
        stderr.contains("W0006") || stderr.contains("debugf()"),
        "{stderr}"
    );
    // The non-consuming view of the trace buffer (trace_pipe would take the line away from
    // anyone else reading it). kestrel mounted tracefs if it was missing.
    let trace = [
        "/sys/kernel/tracing/trace",
        "/sys/kernel/debug/tracing/trace",
    ]
    .iter()
    .find_map(|p| std::fs::read_to_string(p).ok())
    .expect("tracefs trace file readable");
    assert!(
        trace.contains(&format!("{tag} 42")),
        "debugf line missing from the trace buffer"
    );
}

#[test]
fn full_map_is_noticed_without_kernel_counters() {
    if !kernel_available("full_map_is_noticed_without_kernel_counters") {
        return;
    }
    let out = kestrel()
        .env("KESTREL_MAP_KEYS_MAX", "10")
        .env_remove("KESTREL_COUNT_MAP_FULL")
        .arg("-e")
        .arg(r#"BEGIN { $i = 0; while ($i < 30) { @m[$i] = 1; $i++; } @ok[1] = 1; exit(); }"#)
        .output()
        .expect("run kestrel");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("WARNING: map"))
        .collect();
    assert_eq!(
        warnings,
        vec!["WARNING: map @m is full: it holds 10 elements and updates that add keys are dropped (raise KESTREL_MAP_KEYS_MAX; KESTREL_COUNT_MAP_FULL=1 counts them)"],
        "{stderr}"
    );
}
