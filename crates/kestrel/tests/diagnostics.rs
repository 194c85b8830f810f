//! How diagnostics reach the user: codes, `--explain`, several errors in one run, warnings,
//! JSON lines with `-f json`, and colour only on a terminal without NO_COLOR. `--dump` needs
//! no root (it compiles against built-in tracepoint formats when tracefs is unreadable).

mod common;

use common::kestrel;

fn dump(args: &[&str]) -> (Option<i32>, String) {
    let out = kestrel()
        .args(["-d", "insns"])
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .expect("run kestrel");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn explain_prints_the_entry_and_rejects_unknown_codes() {
    let out = kestrel()
        .args(["--explain", "E0203"])
        .output()
        .expect("run");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("E0203: unknown tracepoint\n"), "{text}");
    assert!(
        text.contains("tracepoint:syscalls:sys_enter_opnat"),
        "{text}"
    );
    let out = kestrel()
        .args(["--explain", "E9999"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("docs/ERRORS.md"));
}

#[test]
fn several_syntax_errors_in_one_run_each_with_a_code() {
    let (code, err) = dump(&[
        "-e",
        "BEGIN { @a = ; }\nEND { exit() exit() }\ninterval:s:1 { @b = (1 + ; }",
    ]);
    assert_eq!(code, Some(1), "{err}");
    let heads: Vec<&str> = err.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(heads.len(), 3, "{err}");
    assert!(
        heads.iter().all(|h| h.starts_with("error[E0101]: ")),
        "{err}"
    );
    for at in ["-e:1:14", "-e:2:14", "-e:3:26"] {
        assert!(err.contains(at), "{at} missing in {err}");
    }
    assert!(
        !err.contains('\x1b'),
        "piped output must not be coloured: {err}"
    );
}

#[test]
fn semantic_errors_and_warnings_are_coded() {
    let (code, err) = dump(&["-e", "tracepoint:syscalls:sys_enter_opnat { exit(); }"]);
    assert_eq!(code, Some(1));
    assert!(err.starts_with("error[E0203]: unknown tracepoint"), "{err}");
    assert!(
        err.contains("did you mean 'tracepoint:syscalls:sys_enter_openat'?"),
        "{err}"
    );
    let (code, err) = dump(&["-e", "BEGIN { $x = 1; exit(); }"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("warning[W0003]: variable '$x' is never read"),
        "{err}"
    );
}

#[test]
fn json_format_prints_diagnostics_as_json_lines() {
    let (code, err) = dump(&[
        "-f",
        "json",
        "-e",
        "BEGIN { @a = $nope; }\nEND { printf(\"%d %d\\n\", 1); }",
    ]);
    assert_eq!(code, Some(1), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(lines[0].starts_with(r#"{"type":"error","code":"E0303","message":"undefined variable '$nope'","file":"-e","line":1,"col":14,"#), "{err}");
    assert!(
        lines[1].starts_with(r#"{"type":"error","code":"E0501","#),
        "{err}"
    );
    assert!(lines[1].contains(r#""line":2,"#), "{err}");
    for l in lines {
        assert!(l.starts_with('{') && l.ends_with('}'), "{l}");
    }
}

/// Colour appears only on a terminal, and NO_COLOR turns it off there too. Uses `script`
/// (util-linux) to give kestrel a pseudo-terminal.
#[test]
fn colour_only_on_a_terminal_without_no_color() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIP colour test: no `script` command");
        return;
    }
    let bin = env!("CARGO_BIN_EXE_kestrel");
    let cmd = format!("{bin} -d insns -e 'BEGIN {{ @a = ; }}'");
    let run = |no_color: bool| {
        let mut c = std::process::Command::new("script");
        c.args(["-qec", &cmd, "/dev/null"]);
        if no_color {
            c.env("NO_COLOR", "1");
        } else {
            c.env_remove("NO_COLOR");
        }
        String::from_utf8_lossy(&c.output().expect("run script").stdout).to_string()
    };
    let coloured = run(false);
    assert!(
        coloured.contains("\x1b[1;31merror[E0101]\x1b[0m"),
        "{coloured:?}"
    );
    let plain = run(true);
    assert!(
        plain.contains("error[E0101]: expected an expression"),
        "{plain:?}"
    );
    assert!(!plain.contains('\x1b'), "{plain:?}");
}

#[test]
fn json_format_also_covers_errors_without_a_position() {
    let out = kestrel()
        .args(["-f", "json", "/nonexistent/kestrel-script.bt"])
        .output()
        .expect("run kestrel");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(r#"{"type":"error","code":null,"message":"cannot read script '/nonexistent/kestrel-script.bt'"#),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}
