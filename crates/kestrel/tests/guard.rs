//! `kestrel guard check` as a user runs it: no root, located errors, rules it cannot
//! evaluate listed with the reason, exit 1 only on errors.

mod common;

use common::{kestrel, TempDir};

fn check(args: &[&str]) -> (Option<i32>, String, String) {
    let o = kestrel()
        .arg("guard")
        .arg("check")
        .args(args)
        .output()
        .expect("run kestrel");
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn default_rules_check_clean() {
    let (code, stdout, stderr) = check(&["-v"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("kestrel_rules.yaml: 21 rules ok, 0 not evaluable, 0 disabled"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "rule: Read sensitive file untrusted [Warning] syscalls: open,openat,openat2"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("tracepoints: syscalls:sys_{enter,exit}_{"),
        "{stdout}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn errors_are_located_and_exit_1() {
    let dir = TempDir::new("guard-check-err");
    let f = dir.0.join("bad.yaml");
    std::fs::write(&f, "- rule: r\n  desc: d\n  output: o\n  priority: info\n  condition: evt.type = open and proc.nme = x\n").expect("write");
    let (code, _, stderr) = check(&[f.to_str().expect("path")]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("--> {}:5:34", f.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains("error[G0301]: unknown field 'proc.nme'"),
        "{stderr}"
    );
    assert!(stderr.contains("^^^^^^^^"), "{stderr}");
    assert!(stderr.contains("did you mean 'proc.name'?"), "{stderr}");
    assert!(stderr.contains("1 error"), "{stderr}");
    let (code, _, stderr) = check(&["/nonexistent/rules.yaml"]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("cannot read /nonexistent/rules.yaml"),
        "{stderr}"
    );
}

#[test]
fn unevaluable_rules_are_reported_the_rest_accepted() {
    let dir = TempDir::new("guard-check-skip");
    let f = dir.0.join("mixed.yaml");
    std::fs::write(
        &f,
        "- rule: fine\n  desc: d\n  output: '%proc.name'\n  priority: info\n  condition: evt.type = openat\n\
         - rule: needs k8s\n  desc: d\n  output: o\n  priority: info\n  condition: evt.type = openat and k8s.pod.name = x\n\
         - rule: everything\n  desc: d\n  output: o\n  priority: info\n  condition: proc.name = x\n",
    )
    .expect("write");
    let local = dir.0.join("local.yaml");
    std::fs::write(&local, "- rule: fine\n  enabled: false\n").expect("write");
    let (code, stdout, stderr) = check(&[f.to_str().expect("p"), local.to_str().expect("p")]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!(
            "not evaluable: needs k8s ({}:6:9): field 'k8s.pod.name'",
            f.display()
        )),
        "{stdout}"
    );
    assert!(stdout.contains("not evaluable: everything"), "{stdout}");
    assert!(stdout.contains("does not restrict evt.type"), "{stdout}");
    assert!(
        stdout.contains("0 rules ok, 2 not evaluable, 1 disabled"),
        "{stdout}"
    );
}

#[test]
fn hostile_nesting_is_an_error_not_a_crash() {
    let dir = TempDir::new("guard-check-deep");
    let f = dir.0.join("deep.yaml");
    let deep = format!(
        "- rule: r\n  desc: d\n  output: o\n  priority: info\n  condition: {}a{}\n",
        "(".repeat(5000),
        ")".repeat(5000)
    );
    std::fs::write(&f, deep).expect("write");
    let (code, _, stderr) = check(&[f.to_str().expect("p")]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("G0203"), "{stderr}");
    std::fs::write(&f, format!("{}{}", "[".repeat(20000), "]".repeat(20000))).expect("write");
    let (code, _, stderr) = check(&[f.to_str().expect("p")]);
    assert!(code == Some(1) || code == Some(0), "{stderr}");
    assert!(
        !stderr.contains("overflow") && !stderr.contains("panicked"),
        "{stderr}"
    );
}

#[test]
fn fields_are_listed() {
    let o = kestrel().args(["guard", "fields"]).output().expect("run");
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        out.lines()
            .any(|l| l.starts_with("proc.aname[N]") && l.contains("string")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("evt.arg.NAME / evt.arg[N]")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("proc.name") && l.contains("[kernel: bpf_get_current_comm")),
        "{out}"
    );
}
