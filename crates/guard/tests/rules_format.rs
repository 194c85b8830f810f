//! The rules format as a user writes it: the coverage fixture (every construct, two files)
//! gives the documented result, and malformed files give exact located errors.

use kestrel_guard::event::Event;
use kestrel_guard::proc::Process;
use kestrel_guard::{Action, Engine, Priority, Ruleset};

fn fixture() -> Ruleset {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/coverage");
    let files: Vec<(String, String)> = ["base.yaml", "override.yaml"]
        .iter()
        .map(|f| {
            (
                format!("coverage/{f}"),
                std::fs::read_to_string(format!("{dir}/{f}")).expect("fixture"),
            )
        })
        .collect();
    match Ruleset::load(&files) {
        Ok(r) => r,
        Err(d) => panic!("{}", kestrel_guard::diag::render_all(&d)),
    }
}

fn proc_(pid: u32, ppid: u32, comm: &str, args: &[&str]) -> Process {
    Process {
        pid,
        ppid,
        comm: comm.into(),
        exe: comm.into(),
        exepath: format!("/usr/bin/{comm}"),
        args: args.iter().map(|s| s.to_string()).collect(),
        ..Process::default()
    }
}

/// An engine where pid 10 is `parent` and runs `child` as pid 11.
fn exec_alerts(set: &Ruleset, parent: &str, child: &str, args: &[&str], res: i64) -> Vec<String> {
    let mut e = Engine::new(set.clone());
    e.procs.insert(proc_(10, 1, parent, &[]));
    e.procs.insert(proc_(11, 10, child, &[]));
    let mut argv = vec![child];
    argv.extend_from_slice(args);
    let ev = Event::exit(1, 11, "execve", res)
        .str("filename", &format!("/bin/{child}"))
        .strs("args", &argv);
    e.process(&ev).into_iter().map(|a| a.rule).collect()
}

#[test]
fn coverage_fixture_gives_the_documented_result() {
    let set = fixture();
    let names: Vec<&str> = set.rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["Shell started", "Watched read", "Attach kill"]);
    assert_eq!(set.disabled, ["Disabled later"]);
    let skipped: Vec<(&str, &str)> = set
        .skipped
        .iter()
        .map(|s| (s.name.as_str(), s.reason.as_str()))
        .collect();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert_eq!(skipped[0].0, "K8s namespace read");
    assert!(
        skipped[0]
            .1
            .starts_with("field 'k8s.ns.name' at coverage/base.yaml:70:"),
        "{}",
        skipped[0].1
    );
    assert_eq!(skipped[1].0, "Audit create");
    assert!(skipped[1].1.contains("source 'k8s_audit' is not supported"));
    assert_eq!(set.skipped[0].position, "coverage/base.yaml:68:9");

    // Lists in lists (+ appended fish), macros in macros (+ appended evt.res), exceptions.
    let shell = |parent: &str, child: &str, args: &[&str], res: i64| {
        exec_alerts(&set, parent, child, args, res)
    };
    assert_eq!(shell("init", "bash", &["-i"], 0), ["Shell started"]);
    assert_eq!(shell("init", "sh", &[], 0), ["Shell started"], "inner list");
    assert!(
        shell("init", "zsh", &[], 0).is_empty(),
        "single-field exception"
    );
    assert!(
        shell("init", "fish", &[], 0).is_empty(),
        "appended list item, appended exception value"
    );
    assert!(
        shell("sshd", "bash", &[], 0).is_empty(),
        "appended condition"
    );
    assert!(
        shell("make", "sh", &["-c true"], 0).is_empty(),
        "tuple exception"
    );
    assert_eq!(
        shell("make", "sh", &["-c false"], 0),
        ["Shell started"],
        "tuple needs both"
    );
    assert!(
        shell("init", "bash", &[], -2).is_empty(),
        "appended macro condition"
    );
    assert!(shell("init", "python3", &[], 0).is_empty());

    // Overridden list items, priority and output.
    let mut e = Engine::new(set.clone());
    e.procs.insert(proc_(20, 1, "cat", &[]));
    let open = |path: &str| {
        Event::exit(2, 20, "openat", 3)
            .int("dirfd", -100)
            .str("name", path)
            .int("flags", 0)
    };
    assert!(
        e.process(&open("/etc/passwd")).is_empty(),
        "replaced list drops /etc"
    );
    let a = e.process(&open("/srv/data/x"));
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].priority, Priority::Error);
    assert_eq!(a[0].output, "read /srv/data/x by cat (kestrel)");
    // Exception with a list name as a value (`in` comp), and values appended by override.
    e.procs.insert(proc_(21, 1, "tar", &[]));
    e.procs.insert(proc_(22, 1, "restic", &[]));
    let open_by = |pid: u32, path: &str| {
        Event::exit(2, pid, "openat", 3)
            .int("dirfd", -100)
            .str("name", path)
            .int("flags", 0)
    };
    assert!(
        e.process(&open_by(21, "/srv/backup/a")).is_empty(),
        "list-valued exception"
    );
    assert_eq!(
        e.process(&open_by(21, "/srv/data/a")).len(),
        1,
        "both fields must match"
    );
    assert!(
        e.process(&open_by(22, "/srv/archive/a")).is_empty(),
        "override-appended exception value"
    );
    assert_eq!(e.process(&open_by(22, "/srv/backup/a")).len(), 1);

    // action, replaced tags, appended condition.
    let r = set
        .rules
        .iter()
        .find(|r| r.name == "Attach kill")
        .expect("rule");
    assert_eq!(r.action, Action::Kill);
    assert_eq!(r.tags, ["t1", "t2"]);
    assert_eq!(r.priority, Priority::Critical);
    assert!(
        r.kernel.exact,
        "evt.type, the request and proc.name are all kernel-side: {:?}",
        r.kernel
    );
    let mut e = Engine::new(set.clone());
    e.procs.insert(proc_(30, 1, "evil", &[]));
    e.procs.insert(proc_(31, 1, "gdb", &[]));
    let pt = |pid| {
        Event::exit(3, pid, "ptrace", 0)
            .int("request", 16)
            .int("pid", 1)
    };
    assert_eq!(e.process(&pt(30)).len(), 1);
    assert!(e.process(&pt(31)).is_empty());
    assert_eq!(
        e.process(&Event::exit(3, 30, "ptrace", 0).int("request", 0))
            .len(),
        0
    );
}

fn errors(files: &[(&str, &str)]) -> Vec<String> {
    let files: Vec<(String, String)> = files
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    match Ruleset::load(&files) {
        Ok(_) => Vec::new(),
        Err(d) => d
            .iter()
            .filter(|d| d.is_error())
            .map(|d| format!("{} {} {}", d.position(), d.code, d.message))
            .collect(),
    }
}

const RULE_HEAD: &str = "- rule: r\n  desc: d\n  output: o\n  priority: info\n";

#[test]
fn malformed_files_give_located_errors() {
    let cases: &[(&str, &str)] = &[
        ("- rule: [x\n", "f:2:1 G0101 YAML syntax error"),
        ("rule: x\n", "f:1:1 G0102 a rules file is a list of items, but this is a mapping"),
        ("- rul: x\n", "f:1:3 G0104 'rul' is not an item kind"),
        ("- rule: x\n  desc: d\n", "f:1:9 G0109 rule 'x' has no 'condition'"),
        ("- rule: x\n  condtion: a\n", "f:2:3 G0106 unknown key 'condtion' in rule 'x'"),
        ("- list: l\n  items: x\n", "f:2:10 G0108 list items must be a list"),
        ("- rule: x\n  append: true\n  condition: and a\n", "f:1:9 G0110 rule 'x' has 'append: true', but no earlier rule has that name"),
        ("- macro: m\n  override: {condition: merge}\n  condition: x\n", "f:2:25 G0107 override of 'condition' must be 'append' or 'replace', not 'merge'"),
        ("- rule: r\n  desc: d\n  output: o\n  priority: loud\n  condition: evt.type = open\n", "f:4:13 G0111 unknown priority 'loud'"),
        ("- rule: r\n  desc: d\n  output: o\n  priority: info\n  action: nuke\n  condition: evt.type = open\n", "f:5:11 G0112 unknown action 'nuke'"),
    ];
    for (text, want) in cases {
        let got = errors(&[("f", text)]);
        assert!(
            got.iter().any(|g| g.starts_with(want)),
            "{text:?}: want {want}, got {got:?}"
        );
    }
    let conds: &[(&str, &str)] = &[
        (
            "evt.type = open and proc.nme = bash",
            "f:5:34 G0301 unknown field 'proc.nme'",
        ),
        (
            "evt.type = open and proc.name equals bash",
            "f:5:44 G0208 unknown operator 'equals'",
        ),
        (
            "evt.type = open and (proc.name = a",
            "f:5:34 G0205 '(' is never closed",
        ),
        (
            "evt.type = open and no_such_macro",
            "f:5:34 G0303 undefined macro 'no_such_macro'",
        ),
        (
            "evt.type = open and proc.pid contains 3",
            "f:5:43 G0304 operator 'contains' needs a string, but 'proc.pid' is a number",
        ),
        (
            "evt.type = open and proc.name < 3",
            "f:5:44 G0304 operator '<' needs a number",
        ),
        (
            "evt.type = open and proc.pid = abc",
            "f:5:45 G0306 'abc' is not a number",
        ),
        (
            "evt.type = open and fd.sip = nothere",
            "f:5:43 G0306 'nothere' is not an IP address",
        ),
        (
            "evt.type = open and proc.name[1] = a",
            "f:5:34 G0305 field 'proc.name' takes no argument",
        ),
        (
            "evt.type = open and proc.aname[x] = a",
            "f:5:34 G0305 the argument of 'proc.aname' must be a number",
        ),
    ];
    for (cond, want) in conds {
        let text = format!("{RULE_HEAD}  condition: {cond}\n");
        let got = errors(&[("f", &text)]);
        assert!(
            got.iter().any(|g| g.starts_with(want)),
            "{cond:?}: want {want}, got {got:?}"
        );
    }
    // Positions inside a folded block map to the right line.
    let text = format!("{RULE_HEAD}  condition: >\n    evt.type = open\n      and proc.nmae = x\n");
    assert_eq!(
        errors(&[("f", &text)])[0],
        "f:7:11 G0301 unknown field 'proc.nmae'"
    );
    // Cycles through macros and lists.
    let text = format!("- macro: a\n  condition: b\n- macro: b\n  condition: evt.type = open and a\n{RULE_HEAD}  condition: a\n");
    let got = errors(&[("f", &text)]);
    assert!(
        got.iter()
            .any(|g| g.contains("G0302 macro 'a' refers to itself: a -> b -> a")),
        "{got:?}"
    );
    let text = format!("- list: x\n  items: [y]\n- list: y\n  items: [x]\n{RULE_HEAD}  condition: evt.type = open and proc.name in (x)\n");
    let got = errors(&[("f", &text)]);
    assert!(
        got.iter()
            .any(|g| g.contains("G0302 list 'x' contains itself")),
        "{got:?}"
    );
    // The error is in the second file, and says so.
    let got = errors(&[
        ("a.yaml", "- list: l\n  items: [a]\n"),
        ("b.yaml", "- rule: r2\n  append: true\n  condition: x\n"),
    ]);
    assert!(got[0].starts_with("b.yaml:1:9 G0110"), "{got:?}");
}

#[test]
fn rendered_errors_show_the_line_and_a_caret() {
    let text = format!("{RULE_HEAD}  condition: evt.type = open and proc.nme = bash\n");
    let Err(d) = Ruleset::load(&[("rules.yaml".into(), text)]) else {
        panic!("must fail")
    };
    let r = d[0].render();
    assert_eq!(
        r,
        "error[G0301]: unknown field 'proc.nme'\n --> rules.yaml:5:34\n  |\n5 |   condition: evt.type = open and proc.nme = bash\n  |                                  ^^^^^^^^\n  |\n  = hint: did you mean 'proc.name'?\n"
    );
}

#[test]
fn rules_without_an_event_type_are_reported_not_loaded() {
    let text = format!("{RULE_HEAD}  condition: proc.name = bash\n");
    let set = Ruleset::load(&[("f".into(), text)]).expect("loads");
    assert!(set.rules.is_empty());
    assert!(
        set.skipped[0].reason.contains("does not restrict evt.type"),
        "{:?}",
        set.skipped
    );
    let text = format!("{RULE_HEAD}  condition: evt.type in (openat, mmap)\n");
    let set = Ruleset::load(&[("f".into(), text)]).expect("loads");
    assert_eq!(set.rules[0].syscalls.iter().collect::<Vec<_>>(), ["openat"]);
    assert!(
        set.warnings.iter().any(|w| w.message.contains("mmap")),
        "{:?}",
        set.warnings
    );
    let text = format!("{RULE_HEAD}  condition: evt.type = mmap\n");
    let set = Ruleset::load(&[("f".into(), text)]).expect("loads");
    assert!(
        set.skipped[0].reason.contains("mmap are not captured"),
        "{:?}",
        set.skipped
    );
}

#[test]
fn arguments_no_syscall_has_and_unsupported_outputs_warn() {
    let text = "- rule: r\n  desc: d\n  priority: info\n  output: '%k8s.pod.name %proc.name'\n  condition: evt.type = openat and evt.arg.request = 1\n";
    let set = Ruleset::load(&[("f".into(), text.into())]).expect("loads");
    let w: Vec<String> = set
        .warnings
        .iter()
        .map(|d| format!("{} {} {}", d.position(), d.code, d.message))
        .collect();
    assert!(
        w.iter().any(|w| w.starts_with(
            "f:5:36 G0402 none of this rule's syscalls (openat) has an argument 'request'"
        )),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|w| w.starts_with("f:4:12 G0403 'k8s.pod.name' is shown as <NA>")),
        "{w:?}"
    );
    assert_eq!(set.rules.len(), 1);
}

#[test]
fn event_type_sets_follow_negation() {
    let load = |c: &str| {
        let text = format!("{RULE_HEAD}  condition: {c}\n");
        Ruleset::load(&[("f".into(), text)]).expect("loads").rules[0]
            .syscalls
            .iter()
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        load("evt.type in (open, openat) and not evt.type = open"),
        ["openat"]
    );
    assert_eq!(
        load("(evt.type = ptrace and proc.name = x) or evt.type = connect"),
        ["connect", "ptrace"]
    );
    assert_eq!(load("not (evt.type != socket)"), ["socket"]);
    assert_eq!(
        load("not (evt.type != socket or proc.name = x)"),
        ["socket"]
    );
    assert!(load("evt.type != open").len() > 20);
}
