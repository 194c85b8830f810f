//! Grammar-aware generation of scripts that are meant to be valid: probes on real
//! tracepoints reading their real fields, maps used with one key shape and one value kind,
//! variables assigned before use, printf formats matching their arguments, bounded loops.
//!
//! Most generated scripts compile; those are what the structural checker and the kernel
//! acceptance test (every script kestrel accepts must pass the verifier) run on.

use kestrel_kernel::{KernelFacts, TracepointId};

use crate::rng::Rng;

/// Tracepoints the generator attaches to (those missing on a kernel are skipped).
const TRACEPOINTS: &[(&str, &str)] = &[
    ("syscalls", "sys_enter_openat"),
    ("syscalls", "sys_exit_openat"),
    ("syscalls", "sys_enter_read"),
    ("syscalls", "sys_exit_read"),
    ("syscalls", "sys_enter_write"),
    ("syscalls", "sys_enter_execve"),
    ("syscalls", "sys_enter_kill"),
    ("sched", "sched_switch"),
    ("sched", "sched_wakeup"),
    ("sched", "sched_process_exec"),
    ("sched", "sched_process_exit"),
    ("raw_syscalls", "sys_enter"),
];

/// What the generator may read in one tracepoint.
#[derive(Clone, Debug)]
pub struct TracepointInfo {
    /// `tracepoint:CATEGORY:NAME`.
    pub probe: String,
    /// Integer fields (`args->NAME`).
    pub int_fields: Vec<String>,
    /// `char *` fields read with `str(args->NAME)`.
    pub str_fields: Vec<String>,
}

/// The generator's tracepoints that exist on `kernel`, with their usable fields.
pub fn tracepoints(kernel: &dyn KernelFacts) -> Vec<TracepointInfo> {
    let mut out = Vec::new();
    for (cat, name) in TRACEPOINTS {
        let Ok(format) = kernel.tracepoint_format(&TracepointId::new(*cat, *name)) else {
            continue;
        };
        let mut info = TracepointInfo {
            probe: format!("tracepoint:{cat}:{name}"),
            int_fields: Vec::new(),
            str_fields: Vec::new(),
        };
        for f in format.fields.iter().filter(|f| !f.common) {
            let t = f.c_type.as_str();
            if t.contains('[') || t.contains("__data_loc") {
                continue;
            }
            if t.contains("char *") || t.contains("char*") {
                info.str_fields.push(f.name.clone());
            } else if !t.contains('*') && matches!(f.size, 1 | 2 | 4 | 8) {
                info.int_fields.push(f.name.clone());
            }
        }
        out.push(info);
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum MapKind {
    Int,
    Str,
    Tuple,
    Agg(&'static str),
}

struct Map {
    name: String,
    keys: usize,
    kind: MapKind,
}

/// Builds one script.
struct Gen<'a> {
    rng: &'a mut Rng,
    tps: &'a [TracepointInfo],
    maps: Vec<Map>,
    /// Variables of the probe being generated: (name, is string).
    vars: Vec<(String, bool)>,
    /// The probe's tracepoint, if it is one.
    tp: Option<usize>,
    out: String,
    counter: usize,
    /// Inside the body of a `for` over a map (no nesting, no probe context).
    in_for: bool,
}

const INT_BUILTINS: &[&str] = &[
    "pid", "tid", "uid", "gid", "nsecs", "cpu", "rand", "cgroup", "jiffies", "elapsed",
];
const BIN_OPS: &[&str] = &[
    "+", "-", "*", "&", "|", "^", "<<", ">>", "==", "!=", "<", ">", "<=", ">=", "&&", "||",
];
const AGGS: &[&str] = &[
    "count", "sum", "avg", "min", "max", "stats", "hist", "lhist",
];

impl Gen<'_> {
    fn fresh(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}{}", self.counter)
    }

    fn int_lit(&mut self) -> String {
        match self.rng.below(6) {
            0 => "0".into(),
            1 => format!("{}", self.rng.below(10)),
            2 => format!("{}", self.rng.below(100_000)),
            3 => "0xffffffff".into(),
            4 => format!("-{}", 1 + self.rng.below(1000)),
            _ => format!("{}", self.rng.next_u64() >> 1),
        }
    }

    fn int_expr(&mut self, depth: u32) -> String {
        let leaf = depth == 0 || self.rng.one_in(3);
        if leaf {
            let tp_fields = self
                .tp
                .map(|t| self.tps[t].int_fields.clone())
                .unwrap_or_default();
            let int_vars: Vec<String> = self
                .vars
                .iter()
                .filter(|(_, s)| !s)
                .map(|(n, _)| n.clone())
                .collect();
            return match self.rng.below(5) {
                0 => self.int_lit(),
                1 if !tp_fields.is_empty() => {
                    format!(
                        "args->{}",
                        self.rng.pick(&tp_fields).cloned().unwrap_or_default()
                    )
                }
                2 if !int_vars.is_empty() => {
                    format!("${}", self.rng.pick(&int_vars).cloned().unwrap_or_default())
                }
                3 => {
                    let readable: Vec<(String, usize)> = self
                        .maps
                        .iter()
                        .filter(|m| m.kind == MapKind::Int)
                        .map(|m| (m.name.clone(), m.keys))
                        .collect();
                    match self.rng.pick(&readable).cloned() {
                        Some((name, keys)) => self.map_ref(&name, keys),
                        None => self.int_lit(),
                    }
                }
                _ => self
                    .rng
                    .pick(INT_BUILTINS)
                    .copied()
                    .unwrap_or("pid")
                    .to_string(),
            };
        }
        match self.rng.below(8) {
            6 => {
                let keyed: Vec<(String, usize)> = self
                    .maps
                    .iter()
                    .filter(|m| m.keys > 0 && m.kind != MapKind::Tuple)
                    .map(|m| (m.name.clone(), m.keys))
                    .collect();
                match self.rng.pick(&keyed).cloned() {
                    Some((name, keys)) => format!("has_key({})", self.map_ref(&name, keys)),
                    None => format!("bswap({})", self.int_expr(depth - 1)),
                }
            }
            7 => match self.rng.below(4) {
                0 => format!("({} == \"s{}\")", self.str_expr(), self.rng.below(3)),
                1 => format!(
                    "strncmp({}, {}, {})",
                    self.str_expr(),
                    self.str_expr(),
                    self.rng.below(20)
                ),
                2 => format!(
                    "strcontains({}, \"{}\")",
                    self.str_expr(),
                    ["", "s", "1", "sh"][self.rng.below(4)]
                ),
                _ => format!("({} != {})", self.str_expr(), self.str_expr()),
            },
            0 => {
                let op = self.rng.pick(&["-", "!", "~"]).copied().unwrap_or("-");
                format!("{op}({})", self.int_expr(depth - 1))
            }
            1 => format!(
                "({} ? {} : {})",
                self.int_expr(depth - 1),
                self.int_expr(depth - 1),
                self.int_expr(depth - 1)
            ),
            2 => {
                let ty = self
                    .rng
                    .pick(&["uint8", "int16", "uint32", "int64"])
                    .copied()
                    .unwrap_or("uint8");
                format!("({ty})({})", self.int_expr(depth - 1))
            }
            3 => {
                // Division by a non-zero constant.
                let op = if self.rng.one_in(2) { "/" } else { "%" };
                format!(
                    "({} {op} {})",
                    self.int_expr(depth - 1),
                    1 + self.rng.below(9)
                )
            }
            _ => {
                let op = self.rng.pick(BIN_OPS).copied().unwrap_or("+");
                let rhs = if op == "<<" || op == ">>" {
                    format!("{}", self.rng.below(63))
                } else {
                    self.int_expr(depth - 1)
                };
                format!("({} {op} {rhs})", self.int_expr(depth - 1))
            }
        }
    }

    fn str_expr(&mut self) -> String {
        let str_vars: Vec<String> = self
            .vars
            .iter()
            .filter(|(_, s)| *s)
            .map(|(n, _)| n.clone())
            .collect();
        let fields = self
            .tp
            .map(|t| self.tps[t].str_fields.clone())
            .unwrap_or_default();
        let str_maps: Vec<(String, usize)> = self
            .maps
            .iter()
            .filter(|m| m.kind == MapKind::Str)
            .map(|m| (m.name.clone(), m.keys))
            .collect();
        if !str_maps.is_empty() && self.rng.one_in(5) {
            let (name, keys) = self.rng.pick(&str_maps).cloned().unwrap_or_default();
            return self.map_ref(&name, keys);
        }
        match self.rng.below(4) {
            0 if !str_vars.is_empty() => {
                format!("${}", self.rng.pick(&str_vars).cloned().unwrap_or_default())
            }
            1 if !fields.is_empty() => {
                format!(
                    "str(args->{})",
                    self.rng.pick(&fields).cloned().unwrap_or_default()
                )
            }
            2 => format!("\"s{}\"", self.rng.below(1000)),
            _ => "comm".into(),
        }
    }

    fn keys(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| match self.rng.below(3) {
                0 => "pid".to_string(),
                1 => "cpu".to_string(),
                _ => format!("{}", self.rng.below(4)),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn map_ref(&mut self, name: &str, keys: usize) -> String {
        if keys == 0 {
            format!("@{name}")
        } else {
            format!("@{name}[{}]", self.keys(keys))
        }
    }

    fn line(&mut self, indent: usize, text: &str) {
        for _ in 0..indent {
            self.out.push_str("  ");
        }
        self.out.push_str(text);
        self.out.push('\n');
    }

    fn stmts(&mut self, indent: usize, depth: u32, n: usize) {
        for _ in 0..n {
            self.stmt(indent, depth);
        }
    }

    fn stmt(&mut self, indent: usize, depth: u32) {
        if self.rng.one_in(4) {
            self.extra_stmt(indent, depth);
            return;
        }
        match self.rng.below(if depth == 0 { 7 } else { 10 }) {
            0 => {
                // A new or existing integer map.
                let existing: Vec<(String, usize)> = self
                    .maps
                    .iter()
                    .filter(|m| m.kind == MapKind::Int)
                    .map(|m| (m.name.clone(), m.keys))
                    .collect();
                let (name, keys, new) = match self.rng.pick(&existing).cloned() {
                    Some((n, k)) if self.rng.one_in(2) => (n, k, false),
                    _ => (self.fresh("m"), self.rng.below(3), true),
                };
                let target = self.map_ref(&name, keys);
                // The value is built before a new map is known, so it cannot read itself.
                let value = self.int_expr(2);
                if new {
                    self.maps.push(Map {
                        name,
                        keys,
                        kind: MapKind::Int,
                    });
                }
                let op = self
                    .rng
                    .pick(&["=", "=", "+=", "|="])
                    .copied()
                    .unwrap_or("=");
                self.line(indent, &format!("{target} {op} {value};"));
            }
            1 => {
                let agg = self.rng.pick(AGGS).copied().unwrap_or("count");
                let name = self.fresh("a");
                let keys = self.rng.below(2);
                let target = self.map_ref(&name, keys);
                let arg = self.int_expr(1);
                self.maps.push(Map {
                    name: name.clone(),
                    keys,
                    kind: MapKind::Agg(agg),
                });
                let call = match agg {
                    "count" => "count()".to_string(),
                    "lhist" => format!("lhist({arg}, 0, 100, 10)"),
                    other => format!("{other}({arg})"),
                };
                self.line(indent, &format!("{target} = {call};"));
            }
            2 => {
                let name = self.fresh("v");
                let value = self.int_expr(2);
                self.line(indent, &format!("${name} = {value};"));
                self.vars.push((name, false));
            }
            3 => {
                let name = self.fresh("s");
                let value = self.str_expr();
                self.line(indent, &format!("${name} = {value};"));
                self.vars.push((name, true));
            }
            4 | 5 => {
                let n = self.rng.below(4);
                let mut fmt = String::new();
                let mut args = Vec::new();
                for _ in 0..n {
                    if self.rng.one_in(3) {
                        fmt.push_str(" %s");
                        args.push(self.str_expr());
                    } else {
                        let conv = self.rng.pick(&["%d", "%u", "%x", "%lu", "%5d"]).copied();
                        fmt.push(' ');
                        fmt.push_str(conv.unwrap_or("%d"));
                        args.push(self.int_expr(1));
                    }
                }
                let tail: String = args.iter().map(|a| format!(", {a}")).collect();
                self.line(indent, &format!("printf(\"gen{fmt}\\n\"{tail});"));
            }
            6 => {
                let keyed: Vec<(String, usize)> = self
                    .maps
                    .iter()
                    .filter(|m| m.keys > 0 && m.kind == MapKind::Int)
                    .map(|m| (m.name.clone(), m.keys))
                    .collect();
                if let Some((name, keys)) = self.rng.pick(&keyed).cloned() {
                    let r = self.map_ref(&name, keys);
                    self.line(indent, &format!("delete({r});"));
                } else {
                    let e = self.int_expr(1);
                    let name = self.fresh("m");
                    self.maps.push(Map {
                        name: name.clone(),
                        keys: 0,
                        kind: MapKind::Int,
                    });
                    self.line(indent, &format!("@{name} = {e};"));
                }
            }
            7 => {
                // Variables first assigned in a branch are not visible after it.
                let saved = self.vars.len();
                let cond = self.int_expr(2);
                self.line(indent, &format!("if ({cond}) {{"));
                let n = 1 + self.rng.below(3);
                self.stmts(indent + 1, depth - 1, n);
                self.vars.truncate(saved);
                if self.rng.one_in(2) {
                    self.line(indent, "} else {");
                    let n = 1 + self.rng.below(2);
                    self.stmts(indent + 1, depth - 1, n);
                    self.vars.truncate(saved);
                }
                self.line(indent, "}");
            }
            8 => {
                let saved = self.vars.len();
                let n = 1 + self.rng.below(4);
                self.line(indent, &format!("unroll({n}) {{"));
                let k = 1 + self.rng.below(2);
                self.stmts(indent + 1, depth - 1, k);
                self.vars.truncate(saved);
                self.line(indent, "}");
            }
            _ => {
                let saved = self.vars.len();
                let i = self.fresh("i");
                let bound = 1 + self.rng.below(10);
                self.line(indent, &format!("${i} = 0;"));
                self.line(indent, &format!("while (${i} < {bound}) {{"));
                let k = 1 + self.rng.below(2);
                self.stmts(indent + 1, depth - 1, k);
                self.vars.truncate(saved);
                self.line(indent + 1, &format!("${i}++;"));
                self.line(indent, "}");
                self.vars.push((i, false));
            }
        }
    }
}

impl Gen<'_> {
    /// Rarer statements: string and tuple maps, map iteration, map-wide actions, stacks.
    fn extra_stmt(&mut self, indent: usize, depth: u32) {
        match self.rng.below(6) {
            0 => {
                let name = self.fresh("s");
                let keys = self.rng.below(2);
                let target = self.map_ref(&name, keys);
                let v = self.str_expr();
                self.maps.push(Map {
                    name: name.clone(),
                    keys,
                    kind: MapKind::Str,
                });
                self.line(indent, &format!("{target} = {v};"));
            }
            1 => {
                let name = self.fresh("t");
                self.maps.push(Map {
                    name: name.clone(),
                    keys: 1,
                    kind: MapKind::Tuple,
                });
                let target = self.map_ref(&name, 1);
                let (a, b) = (self.int_expr(1), self.str_expr());
                self.line(indent, &format!("{target} = ({a}, {b});"));
            }
            2 if depth > 0 && !self.in_for => {
                // for over a one-key integer map, assigned first so its type is known.
                let name = self.fresh("f");
                let v = self.int_expr(1);
                self.maps.push(Map {
                    name: name.clone(),
                    keys: 1,
                    kind: MapKind::Int,
                });
                let k = self.rng.below(5);
                self.line(indent, &format!("@{name}[{k}] = {v};"));
                let kv = self.fresh("kv");
                self.line(indent, &format!("for (${kv} : @{name}) {{"));
                self.in_for = true;
                let saved = self.vars.len();
                let tp = self.tp.take();
                self.line(
                    indent + 1,
                    &format!("printf(\"kv %d %d\\n\", ${kv}.0, ${kv}.1);"),
                );
                let n = self.rng.below(2);
                self.stmts(indent + 1, 0, n);
                self.tp = tp;
                self.vars.truncate(saved);
                self.in_for = false;
                self.line(indent, "}");
            }
            3 => {
                let all: Vec<String> = self
                    .maps
                    .iter()
                    .filter(|m| m.kind != MapKind::Int || m.keys > 0)
                    .map(|m| m.name.clone())
                    .collect();
                if let Some(name) = self.rng.pick(&all).cloned() {
                    let action = self.rng.pick(&["print", "clear", "zero"]).copied();
                    self.line(indent, &format!("{}(@{name});", action.unwrap_or("print")));
                }
            }
            4 if self.tp.is_some() && !self.in_for => {
                let name = self.fresh("st");
                // Keyed by stacks, not integers: recorded as key-less so nothing indexes it.
                self.maps.push(Map {
                    name: name.clone(),
                    keys: 0,
                    kind: MapKind::Agg("count"),
                });
                let which = if self.rng.one_in(2) {
                    "kstack"
                } else {
                    "ustack"
                };
                let depth = 1 + self.rng.below(8);
                self.line(indent, &format!("@{name}[{which}({depth})] = count();"));
            }
            _ => {
                let v = self.int_expr(2);
                self.line(indent, &format!("printf(\"%s %d\\n\", comm, {v});"));
            }
        }
    }
}

/// A script of one to four probes.
pub fn script(rng: &mut Rng, tps: &[TracepointInfo]) -> String {
    let mut g = Gen {
        rng,
        tps,
        maps: Vec::new(),
        vars: Vec::new(),
        tp: None,
        out: String::new(),
        counter: 0,
        in_for: false,
    };
    let probes = 1 + g.rng.below(4);
    for _ in 0..probes {
        g.vars.clear();
        let kind = g.rng.below(6);
        g.tp = None;
        let head = match kind {
            0 => "BEGIN".to_string(),
            1 => "END".to_string(),
            2 => format!("interval:ms:{}", 10 + g.rng.below(1000)),
            // Perf-event and raw-tracepoint programs (no `args` fields there).
            3 => g
                .rng
                .pick(&[
                    "profile:hz:99",
                    "software:page-faults:100",
                    "rawtracepoint:sys_enter",
                ])
                .copied()
                .unwrap_or("BEGIN")
                .to_string(),
            _ if !tps.is_empty() => {
                let t = g.rng.below(tps.len());
                g.tp = Some(t);
                tps[t].probe.clone()
            }
            _ => "BEGIN".to_string(),
        };
        let pred = if g.tp.is_some() && g.rng.one_in(3) {
            format!(" /{}/", g.int_expr(1))
        } else {
            String::new()
        };
        g.line(0, &format!("{head}{pred} {{"));
        let n = 1 + g.rng.below(5);
        g.stmts(1, 2, n);
        g.line(0, "}");
    }
    g.out
}
