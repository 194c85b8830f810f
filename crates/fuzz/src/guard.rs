//! The `rules` target: Falco-format rules files through [`kestrel_guard::Ruleset::load`],
//! and the loaded rules through the engine on a few synthetic events.
//!
//! Inputs: the default rules and the coverage fixture, mutated and spliced; rules files
//! whose conditions are built from the grammar (fields, operators, lists, macros, nesting);
//! and those mutated. A NUL byte splits an input into two files loaded in order (appends and
//! overrides across files). Properties: no panic, every error located inside its file (line
//! within the file, column within the line), and rendering never panics.

use kestrel_guard::event::{Event, SockAddr};
use kestrel_guard::proc::Process;
use kestrel_guard::{Engine, Ruleset};

use crate::rng::Rng;

const SEEDS: &[&str] = &[
    kestrel_guard::DEFAULT_RULES,
    include_str!("../../guard/tests/fixtures/coverage/base.yaml"),
    include_str!("../../guard/tests/fixtures/coverage/override.yaml"),
];

const FIELDS: &[&str] = &[
    "evt.type",
    "evt.dir",
    "evt.res",
    "evt.rawres",
    "evt.arg.name",
    "evt.arg[1]",
    "evt.arg.flags",
    "evt.is_open_read",
    "proc.name",
    "proc.exe",
    "proc.cmdline",
    "proc.args",
    "proc.pid",
    "proc.pname",
    "proc.aname",
    "proc.aname[2]",
    "proc.tty",
    "proc.cwd",
    "proc.is_exe_from_memfd",
    "fd.name",
    "fd.directory",
    "fd.typechar",
    "fd.sip",
    "fd.sport",
    "fd.l4proto",
    "user.name",
    "user.uid",
    "container.id",
    "k8s.ns.name",
    "proc.nme",
    "evt.arg",
];
const OPS: &[&str] = &[
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "in",
    "intersects",
    "contains",
    "icontains",
    "startswith",
    "endswith",
    "glob",
    "pmatch",
    "exists",
    "==",
    "bcontains",
];
const VALUES: &[&str] = &[
    "open",
    "openat",
    "<",
    ">",
    "bash",
    "/etc",
    "/etc/shadow",
    "'a b'",
    "\"q\\\"x\"",
    "0",
    "-1",
    "22",
    "10.0.0.0/8",
    "127.0.0.1",
    "true",
    "false",
    "O_TRUNC",
    "*.log",
    "[a-z]*",
    "SUCCESS",
    "(a, b)",
    "(shells)",
    "()",
];

/// The next input.
pub fn input(rng: &mut Rng) -> Vec<u8> {
    let seed = |rng: &mut Rng| SEEDS[rng.below(SEEDS.len())].as_bytes().to_vec();
    match rng.below(10) {
        0..=3 => {
            let (a, b) = (seed(rng), seed(rng));
            crate::mutate::mutate(rng, &a, &b)
        }
        4..=7 => generated(rng).into_bytes(),
        _ => {
            let g = generated(rng).into_bytes();
            let b = seed(rng);
            crate::mutate::mutate(rng, &g, &b)
        }
    }
}

fn pick<'a>(rng: &mut Rng, v: &[&'a str]) -> &'a str {
    v.get(rng.below(v.len())).copied().unwrap_or("")
}

fn condition(rng: &mut Rng, depth: usize) -> String {
    if depth > 0 && rng.one_in(3) {
        let a = condition(rng, depth - 1);
        let b = condition(rng, depth - 1);
        return match rng.below(4) {
            0 => format!("({a} and {b})"),
            1 => format!("{a} or {b}"),
            2 => format!("not {a}"),
            _ => format!("({a})"),
        };
    }
    match rng.below(8) {
        0 => pick(rng, &["m1", "m2", "nosuch", "shells"]).to_string(),
        _ => {
            let op = pick(rng, OPS);
            let f = pick(rng, FIELDS);
            if op == "exists" {
                format!("{f} exists")
            } else {
                format!("{f} {op} {}", pick(rng, VALUES))
            }
        }
    }
}

fn generated(rng: &mut Rng) -> String {
    let mut s =
        String::from("- list: shells\n  items: [bash, sh, inner]\n- list: inner\n  items: [zsh]\n");
    s.push_str(&format!(
        "- macro: m1\n  condition: {}\n",
        condition(rng, 2)
    ));
    s.push_str(&format!(
        "- macro: m2\n  condition: >\n    m1 or {}\n",
        condition(rng, 2)
    ));
    for i in 0..1 + rng.below(3) {
        let types = pick(
            rng,
            &[
                "evt.type = openat and ",
                "evt.type in (execve, connect) and ",
                "",
            ],
        );
        s.push_str(&format!(
            "- rule: r{i}\n  desc: d\n  priority: {}\n  output: \"%proc.name %fd.name %{}\"\n  condition: {types}{}\n",
            pick(rng, &["warning", "INFO", "Critical", "loud"]),
            pick(rng, FIELDS),
            condition(rng, 3)
        ));
        if rng.one_in(3) {
            s.push_str("  exceptions:\n    - name: e\n      fields: [proc.name, fd.name]\n      comps: [=, startswith]\n      values: [[a, /tmp]]\n");
        }
    }
    if rng.one_in(3) {
        s.push('\0');
        s.push_str(&format!(
            "- rule: r0\n  append: true\n  condition: and {}\n",
            condition(rng, 2)
        ));
        s.push_str("- list: shells\n  override: {items: append}\n  items: [fish]\n");
    }
    s
}

/// Load one input. `Ok(true)` when the rules loaded.
pub fn run(input: &[u8]) -> Result<bool, String> {
    let text = String::from_utf8_lossy(input);
    let files: Vec<(String, String)> = text
        .split('\0')
        .enumerate()
        .map(|(i, t)| (format!("f{i}.yaml"), t.to_string()))
        .collect();
    match Ruleset::load(&files) {
        Err(diags) => {
            for d in &diags {
                let _ = d.render();
                let Some(loc) = &d.location else {
                    return Err(format!("unlocated diagnostic {}: {}", d.code, d.message));
                };
                let Some((_, text)) = files.iter().find(|(n, _)| *n == loc.file) else {
                    return Err(format!("diagnostic in unknown file {}", loc.file));
                };
                let lines = text.split('\n').count();
                if loc.line == 0 || loc.line > lines {
                    return Err(format!(
                        "{} {}: line {} outside the {lines}-line file",
                        d.code, d.message, loc.line
                    ));
                }
                let width = loc.source_line.chars().count();
                if loc.column == 0 || loc.column > width + 1 {
                    return Err(format!(
                        "{} {}: column {} outside the {width}-character line",
                        d.code, d.message, loc.column
                    ));
                }
            }
            if !diags.iter().any(|d| d.is_error()) {
                return Err("load failed without an error".into());
            }
            Ok(false)
        }
        Ok(set) => {
            let mut e = Engine::new(set);
            e.procs.insert(Process {
                pid: 2,
                ppid: 1,
                comm: "bash".into(),
                args: vec!["-c".into()],
                ..Process::default()
            });
            let events = [
                Event::exit(1, 2, "openat", 3)
                    .int("dirfd", -100)
                    .str("name", "../etc/shadow")
                    .int("flags", 0o1101),
                Event::exit(2, 2, "execve", 0)
                    .str("filename", "/bin/sh")
                    .strs("args", &["sh", "-c", "x"]),
                Event::exit(3, 2, "socket", 4)
                    .int("domain", 2)
                    .int("type", 1)
                    .int("proto", 0),
                Event::exit(4, 2, "connect", 0)
                    .int("fd", 4)
                    .sock("addr", SockAddr::Inet(([10, 0, 0, 1], 22).into())),
                Event::exit(5, 2, "dup2", 1).int("oldfd", 4).int("newfd", 1),
                Event::exit(6, 2, "ptrace", -1).int("request", 16),
            ];
            for ev in &events {
                for a in e.process(ev) {
                    let _ = a.to_json();
                    let _ = a.to_text();
                }
            }
            Ok(true)
        }
    }
}
