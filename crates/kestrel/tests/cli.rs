//! CLI behaviour that needs no kernel: help, version, syntax errors, and `--dump=insns`
//! (which works without root), plus error paths checked as root when available.

mod common;

use common::{kernel_available, kestrel, run};

#[test]
fn version_and_help() {
    let out = kestrel().arg("--version").output().expect("run");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("kestrel "));
    let out = kestrel().arg("--help").output().expect("run");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("-e <PROGRAM>"));
}

#[test]
fn syntax_error_has_line_column_and_caret() {
    let out = run(&["-e", "BEGIN { printf(\"hi\\n\") exit(); }"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.starts_with("error[E0101]: "), "{err}");
    assert!(err.contains("-e:1:"), "{err}");
    assert!(err.contains('^'), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn semantic_errors_have_line_column_and_caret() {
    if !kernel_available("semantic_errors_have_line_column_and_caret") {
        return;
    }
    let cases = [
        (
            "BEGIN { printf(\"%d\\n\", $nope); }",
            "undefined variable '$nope'",
        ),
        ("BEGIN { @x = 1; @x = \"s\"; }", "type mismatch for @x"),
        ("BEGIN { @x = pidd; }", "unknown identifier 'pidd'"),
    ];
    for (script, want) in cases {
        let out = run(&["-e", script]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{script}: {err}");
        assert!(err.contains(want), "{script}: {err}");
        assert!(err.contains("-e:1:"), "{script}: {err}");
        assert!(err.contains('^'), "{script}: {err}");
    }
}

#[test]
fn dump_insns_needs_no_root() {
    // As root, drop to an unprivileged user to prove the point; otherwise we already are one.
    let script =
        r#"tracepoint:syscalls:sys_enter_openat /comm == "cat"/ { @opens[comm] = count(); }"#;
    let bin = env!("CARGO_BIN_EXE_kestrel");
    let out = if common::is_root() && std::path::Path::new("/usr/sbin/runuser").exists() {
        std::process::Command::new("/usr/sbin/runuser")
            .args(["-u", "nobody", "--", bin, "--dump=insns", "-e", script])
            .output()
            .expect("runuser")
    } else {
        kestrel()
            .args(["--dump=insns", "-e", script])
            .output()
            .expect("run")
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("tracepoint:syscalls:sys_enter_openat:\n"),
        "{stdout}"
    );
    assert!(stdout.contains("call bpf_get_current_comm#16"), "{stdout}");
    assert!(stdout.contains("call bpf_map_lookup_elem#1"), "{stdout}");
    assert!(stdout.trim_end().ends_with("exit"), "{stdout}");
}

#[test]
fn running_without_privileges_is_one_clear_line() {
    if !common::is_root() || !std::path::Path::new("/usr/sbin/runuser").exists() {
        eprintln!("SKIP running_without_privileges_is_one_clear_line: needs root to switch to an unprivileged user");
        return;
    }
    let bin = env!("CARGO_BIN_EXE_kestrel");
    let out = std::process::Command::new("/usr/sbin/runuser")
        .args(["-u", "nobody", "--", bin, "-e", "BEGIN { exit(); }"])
        .output()
        .expect("runuser");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("root"), "{err}");
}

#[test]
fn missing_script_file_is_one_clear_error() {
    let out = run(&["/nonexistent/kestrel-script.bt"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot read script '/nonexistent/kestrel-script.bt'"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn script_file_runs_with_its_name_in_diagnostics() {
    let dir = std::env::temp_dir().join(format!("kestrel-cli-script-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let bad = dir.join("bad.bt");
    std::fs::write(&bad, "BEGIN {\n  printf(\"x\\n\")\n  exit();\n}\n").expect("write");
    let out = run(&[&bad.to_string_lossy()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("{}:3:3", bad.display())), "{err}");
    if kernel_available("script_file_runs_with_its_name_in_diagnostics") {
        let good = dir.join("good.bt");
        std::fs::write(
            &good,
            "#!/usr/bin/env kestrel\nBEGIN { printf(\"from a file %d\\n\", $1); exit(); }\n",
        )
        .expect("write");
        let out = run(&[&good.to_string_lossy(), "7"]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("from a file 7"), "{stdout}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn deeply_nested_expressions_compile_without_overflowing() {
    let depth = 10_000;
    let script = format!(
        "BEGIN {{ $x = {}1{}; exit(); }}",
        "(".repeat(depth),
        ")".repeat(depth)
    );
    let out = run(&["--emit-obj", "/dev/null", "-e", &script]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("overflow"), "{err}");
    assert!(out.status.code().is_some(), "killed by a signal: {err}");
    let chain = format!("BEGIN {{ $x = {}1; exit(); }}", "1 + ".repeat(5_000));
    let out = run(&["--emit-obj", "/dev/null", "-e", &chain]);
    assert!(out.status.code().is_some(), "killed by a signal");
}
