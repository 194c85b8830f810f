//! What each rule needs from the kernel side: the syscalls it can match (Falco's
//! rule-to-event-type mapping), the directions, whether it needs the fd table, and a
//! [`KernelFilter`]: the part of its condition simple enough to test in the BPF program so
//! that most events never reach userspace.
//!
//! The kernel filter is an over-approximation: when it is false the rule cannot match; when
//! it is true userspace evaluates the whole condition. `exact` says the filter *is* the
//! condition (then `action: kill` can act from the same BPF program).

use std::collections::BTreeSet;

use crate::compile::{CExpr, Check, FieldArg, Literal};
use crate::cond::Op;
use crate::event::Dir;
use crate::fields::FieldId as F;
use crate::syscalls::{self, ArgKind, SYSCALLS};

/// A predicate the kernel side can test, in terms of what a tracepoint program has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KExpr {
    /// Always passes (the part that only userspace can decide).
    True,
    /// Never passes.
    False,
    /// The syscall is one of these (resolved per program by [`KernelFilter::for_syscall`]).
    EvtType(Vec<String>),
    /// comm (bpf_get_current_comm, 15 bytes) equals one of these.
    CommIn(Vec<String>),
    /// comm starts with one of these.
    CommPrefix(Vec<String>),
    /// The path argument `arg` (as read at sys_enter) starts with one of `prefixes`, OR is
    /// not in normal form: relative (no leading `/`), or containing `//` or `/.` (which
    /// covers `/./` and `/../`). Those are decided in userspace after the path is resolved
    /// against the cwd or dirfd and normalised, so they must pass.
    PathPrefix {
        /// Argument name in the syscall table (`name`, `pathname`, `target`, ...).
        arg: String,
        /// Prefixes.
        prefixes: Vec<String>,
    },
    /// The integer argument `arg` equals one of `values`.
    ArgIn {
        /// Argument name.
        arg: String,
        /// Raw values.
        values: Vec<i64>,
    },
    /// All `bits` are set in integer argument `arg`.
    ArgBits {
        /// Argument name.
        arg: String,
        /// Mask.
        bits: i64,
    },
    /// open flags' access mode reads (O_RDONLY or O_RDWR), or writes when `write`.
    OpenAccess {
        /// true: O_WRONLY|O_RDWR, false: O_RDONLY|O_RDWR.
        write: bool,
    },
    /// The return value compares with a number.
    Res(Op, i64),
    /// uid (bpf_get_current_uid_gid) is one of these.
    UidIn(Vec<i64>),
    /// All hold.
    And(Vec<KExpr>),
    /// One holds.
    Or(Vec<KExpr>),
    /// Negation (only of exact parts).
    Not(Box<KExpr>),
}

/// What the kernel side tests for one rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelFilter {
    /// The rule.
    pub rule: String,
    /// The syscalls whose tracepoints it needs.
    pub syscalls: Vec<String>,
    /// The predicate over those events.
    pub pred: KExpr,
    /// True when `pred` is the whole condition.
    pub exact: bool,
}

/// The inputs of a [`KExpr`] for its reference evaluator (tests of a BPF translation
/// compare against this).
#[derive(Clone, Debug, Default)]
pub struct KInput<'a> {
    /// Syscall name.
    pub syscall: &'a str,
    /// comm.
    pub comm: &'a str,
    /// uid.
    pub uid: i64,
    /// Return value.
    pub res: i64,
    /// Integer arguments by name.
    pub ints: Vec<(&'a str, i64)>,
    /// String arguments by name.
    pub strs: Vec<(&'a str, &'a str)>,
}

impl KExpr {
    /// Evaluate as the kernel would.
    pub fn eval(&self, i: &KInput) -> bool {
        let int = |a: &str| i.ints.iter().find(|(n, _)| *n == a).map(|(_, v)| *v);
        match self {
            KExpr::True => true,
            KExpr::False => false,
            KExpr::EvtType(s) => s.iter().any(|n| n == i.syscall),
            KExpr::CommIn(v) => v.iter().any(|n| n.as_str() == i.comm),
            KExpr::CommPrefix(v) => v.iter().any(|n| i.comm.starts_with(n.as_str())),
            KExpr::PathPrefix { arg, prefixes } => match i.strs.iter().find(|(n, _)| n == arg) {
                Some((_, p)) => {
                    !p.starts_with('/')
                        || p.contains("//")
                        || p.contains("/.")
                        || prefixes.iter().any(|x| p.starts_with(x.as_str()))
                }
                None => true,
            },
            KExpr::ArgIn { arg, values } => int(arg).is_some_and(|v| values.contains(&v)),
            KExpr::ArgBits { arg, bits } => int(arg).is_some_and(|v| v & bits == *bits),
            KExpr::OpenAccess { write } => match int("flags") {
                Some(f) => {
                    let acc = f & syscalls::O_ACCMODE;
                    if *write {
                        acc == 1 || acc == 2
                    } else {
                        acc == 0 || acc == 2
                    }
                }
                None => i.syscall == "creat" && *write,
            },
            KExpr::Res(op, n) => cmp(*op, i.res, *n),
            KExpr::UidIn(v) => v.contains(&i.uid),
            KExpr::And(v) => v.iter().all(|e| e.eval(i)),
            KExpr::Or(v) => v.iter().any(|e| e.eval(i)),
            KExpr::Not(e) => !e.eval(i),
        }
    }

    /// Simplified for the program of `syscall` (evt.type tests become constants).
    pub fn for_syscall(&self, syscall: &str) -> KExpr {
        match self {
            KExpr::EvtType(s) => {
                if s.iter().any(|n| n == syscall) {
                    KExpr::True
                } else {
                    KExpr::False
                }
            }
            KExpr::And(v) => {
                let items: Vec<KExpr> = v
                    .iter()
                    .map(|e| e.for_syscall(syscall))
                    .filter(|e| *e != KExpr::True)
                    .collect();
                if items.contains(&KExpr::False) {
                    KExpr::False
                } else if items.is_empty() {
                    KExpr::True
                } else if items.len() == 1 {
                    items.into_iter().next().unwrap_or(KExpr::True)
                } else {
                    KExpr::And(items)
                }
            }
            KExpr::Or(v) => {
                let items: Vec<KExpr> = v
                    .iter()
                    .map(|e| e.for_syscall(syscall))
                    .filter(|e| *e != KExpr::False)
                    .collect();
                if items.contains(&KExpr::True) {
                    KExpr::True
                } else if items.is_empty() {
                    KExpr::False
                } else if items.len() == 1 {
                    items.into_iter().next().unwrap_or(KExpr::False)
                } else {
                    KExpr::Or(items)
                }
            }
            KExpr::Not(e) => match e.for_syscall(syscall) {
                KExpr::True => KExpr::False,
                KExpr::False => KExpr::True,
                other => KExpr::Not(Box::new(other)),
            },
            other => other.clone(),
        }
    }
}

impl KernelFilter {
    /// The predicate for the program attached to `syscall`'s tracepoints.
    pub fn for_syscall(&self, syscall: &str) -> KExpr {
        self.pred.for_syscall(syscall)
    }
}

fn cmp(op: Op, a: i64, b: i64) -> bool {
    match op {
        Op::Eq => a == b,
        Op::Ne => a != b,
        Op::Lt => a < b,
        Op::Le => a <= b,
        Op::Gt => a > b,
        Op::Ge => a >= b,
        _ => true,
    }
}

/// The event types a condition can match: `None` means every event (no restriction).
pub fn event_types(c: &CExpr) -> Option<BTreeSet<String>> {
    types(c, false)
}

fn universe() -> BTreeSet<String> {
    SYSCALLS.iter().map(|s| s.name.to_string()).collect()
}

fn types(c: &CExpr, neg: bool) -> Option<BTreeSet<String>> {
    match (c, neg) {
        (CExpr::Not(inner), n) => types(inner, !n),
        (CExpr::And(v), false) | (CExpr::Or(v), true) => {
            let mut acc: Option<BTreeSet<String>> = None;
            for e in v {
                if let Some(s) = types(e, neg) {
                    acc = Some(match acc {
                        None => s,
                        Some(a) => a.intersection(&s).cloned().collect(),
                    });
                }
            }
            acc
        }
        (CExpr::Or(v), false) | (CExpr::And(v), true) => {
            let mut acc = BTreeSet::new();
            for e in v {
                acc.extend(types(e, neg)?);
            }
            Some(acc)
        }
        (CExpr::Check(ch), n) if ch.field.def.id == F::EvtType => {
            let vals: BTreeSet<String> = ch.values.iter().map(lit_str).collect();
            let positive = match ch.op {
                Op::Eq | Op::In | Op::Intersects => vals,
                Op::Ne => universe().difference(&vals).cloned().collect(),
                Op::StartsWith | Op::Contains | Op::EndsWith | Op::Glob | Op::IContains => {
                    universe()
                        .into_iter()
                        .filter(|s| {
                            crate::eval::compare(
                                &crate::eval::FieldVal::Str(s.as_str().into()),
                                ch.op,
                                &ch.values,
                            )
                        })
                        .collect()
                }
                _ => return None,
            };
            if n {
                Some(universe().difference(&positive).cloned().collect())
            } else {
                Some(positive)
            }
        }
        _ => None,
    }
}

/// The directions a condition can match (`evt.dir` tests), like [`event_types`].
pub fn dirs(c: &CExpr) -> BTreeSet<Dir> {
    dir_set(c, false).unwrap_or_else(|| [Dir::Enter, Dir::Exit].into_iter().collect())
}

fn dir_set(c: &CExpr, neg: bool) -> Option<BTreeSet<Dir>> {
    let all: BTreeSet<Dir> = [Dir::Enter, Dir::Exit].into_iter().collect();
    match (c, neg) {
        (CExpr::Not(inner), n) => dir_set(inner, !n),
        (CExpr::And(v), false) | (CExpr::Or(v), true) => {
            let mut acc: Option<BTreeSet<Dir>> = None;
            for e in v {
                if let Some(s) = dir_set(e, neg) {
                    acc = Some(match acc {
                        None => s,
                        Some(a) => a.intersection(&s).copied().collect(),
                    });
                }
            }
            acc
        }
        (CExpr::Or(v), false) | (CExpr::And(v), true) => {
            let mut acc = BTreeSet::new();
            for e in v {
                acc.extend(dir_set(e, neg)?);
            }
            Some(acc)
        }
        (CExpr::Check(ch), n)
            if ch.field.def.id == F::EvtDir && matches!(ch.op, Op::Eq | Op::Ne | Op::In) =>
        {
            let mut s: BTreeSet<Dir> = ch
                .values
                .iter()
                .filter_map(|l| match lit_str(l).as_str() {
                    ">" => Some(Dir::Enter),
                    "<" => Some(Dir::Exit),
                    _ => None,
                })
                .collect();
            if ch.op == Op::Ne {
                s = all.difference(&s).copied().collect();
            }
            Some(if n {
                all.difference(&s).copied().collect()
            } else {
                s
            })
        }
        _ => None,
    }
}

fn lit_str(l: &Literal) -> String {
    match l {
        Literal::Str(s) | Literal::Dyn(s, _) => s.clone(),
        Literal::Num(n) => n.to_string(),
        Literal::Bool(b) => b.to_string(),
        Literal::Ip(i) => i.to_string(),
        Literal::Net(i, p) => format!("{i}/{p}"),
    }
}

/// True when the condition uses fd.* fields (the capture side must then also trace the fd
/// table's syscalls, [`syscalls::TABLE_SYSCALLS`]).
pub fn uses_fds(c: &CExpr) -> bool {
    any_check(c, &|ch| {
        ch.field.def.name.starts_with("fd.") || ch.field.def.id == F::ProcCwd
    })
}

/// Every comparison in a condition.
pub fn checks(c: &CExpr) -> Vec<&Check> {
    let mut out = Vec::new();
    fn walk<'a>(c: &'a CExpr, out: &mut Vec<&'a Check>) {
        match c {
            CExpr::And(v) | CExpr::Or(v) => v.iter().for_each(|e| walk(e, out)),
            CExpr::Not(e) => walk(e, out),
            CExpr::Check(ch) => out.push(ch),
        }
    }
    walk(c, &mut out);
    out
}

fn any_check(c: &CExpr, f: &dyn Fn(&Check) -> bool) -> bool {
    match c {
        CExpr::And(v) | CExpr::Or(v) => v.iter().any(|e| any_check(e, f)),
        CExpr::Not(e) => any_check(e, f),
        CExpr::Check(ch) => f(ch),
    }
}

/// The kernel-side predicate of a condition over events of `syscalls`, and whether it is
/// exact.
pub fn kernel_pred(c: &CExpr, syscalls: &BTreeSet<String>) -> (KExpr, bool) {
    match c {
        CExpr::And(v) => {
            let mut items = Vec::new();
            let mut exact = true;
            for e in v {
                let (k, x) = kernel_pred(e, syscalls);
                exact &= x;
                if k != KExpr::True {
                    items.push(k);
                }
            }
            let k = match items.len() {
                0 => KExpr::True,
                1 => items.remove(0),
                _ => KExpr::And(items),
            };
            (k, exact)
        }
        CExpr::Or(v) => {
            let mut items = Vec::new();
            let mut exact = true;
            let mut any_true = false;
            for e in v {
                let (k, x) = kernel_pred(e, syscalls);
                exact &= x;
                any_true |= k == KExpr::True;
                items.push(k);
            }
            if any_true {
                return (
                    KExpr::True,
                    exact && items.iter().all(|k| *k == KExpr::True),
                );
            }
            (
                if items.len() == 1 {
                    items.remove(0)
                } else {
                    KExpr::Or(items)
                },
                exact,
            )
        }
        CExpr::Not(e) => match kernel_pred(e, syscalls) {
            (k, true) => (
                match k {
                    KExpr::True => KExpr::False,
                    KExpr::False => KExpr::True,
                    k => KExpr::Not(Box::new(k)),
                },
                true,
            ),
            _ => (KExpr::True, false),
        },
        CExpr::Check(ch) => check_pred(ch, syscalls),
    }
}

fn check_pred(ch: &Check, syscalls: &BTreeSet<String>) -> (KExpr, bool) {
    let strs = || ch.values.iter().map(lit_str).collect::<Vec<String>>();
    let nums = || {
        ch.values
            .iter()
            .map(|l| match l {
                Literal::Num(n) => Some(*n),
                Literal::Dyn(_, n) => *n,
                _ => None,
            })
            .collect::<Option<Vec<i64>>>()
    };
    match (ch.field.def.id, ch.op) {
        (F::EvtType, Op::Eq | Op::In | Op::Intersects) => (KExpr::EvtType(strs()), true),
        (F::EvtType, Op::Ne) => (KExpr::Not(Box::new(KExpr::EvtType(strs()))), true),
        // The capture delivers one event at sys_exit with the enter arguments: both
        // directions are known there.
        (F::EvtDir, _) => (KExpr::True, true),
        (F::ProcName, Op::Eq | Op::In | Op::Intersects) => {
            let names = strs();
            let exact = names.iter().all(|n| n.len() <= crate::proc::COMM_LEN);
            let names = names
                .into_iter()
                .filter(|n| n.len() <= crate::proc::COMM_LEN)
                .collect();
            (KExpr::CommIn(names), exact)
        }
        (F::ProcName, Op::Ne) => (
            KExpr::Not(Box::new(KExpr::CommIn(strs()))),
            strs().iter().all(|n| n.len() <= crate::proc::COMM_LEN),
        ),
        (F::ProcName, Op::StartsWith) => (KExpr::CommPrefix(strs()), true),
        (F::FdName | F::FdNameraw, Op::StartsWith | Op::PMatch | Op::Eq | Op::In) => {
            // fd.name of the open family is their `name` argument, resolved.
            (
                KExpr::PathPrefix {
                    arg: "name".into(),
                    prefixes: strs(),
                },
                false,
            )
        }
        // A file in one of these directories has a path starting "DIR/".
        (F::FdDirectory, Op::PMatch | Op::Eq | Op::In) => (
            KExpr::PathPrefix {
                arg: "name".into(),
                prefixes: strs()
                    .into_iter()
                    .map(|d| format!("{}/", d.trim_end_matches('/')))
                    .collect(),
            },
            false,
        ),
        // A raw path holding "../" passes PathPrefix whatever the prefixes (it holds "/."
        // or is relative).
        (F::FdNameraw, Op::Contains) if strs().iter().all(|v| v.contains("..")) => (
            KExpr::PathPrefix {
                arg: "name".into(),
                prefixes: Vec::new(),
            },
            false,
        ),
        (F::EvtIsOpenRead, Op::Eq) if ch.values.first() == Some(&Literal::Bool(true)) => {
            (KExpr::OpenAccess { write: false }, true)
        }
        (F::EvtIsOpenWrite, Op::Eq) if ch.values.first() == Some(&Literal::Bool(true)) => {
            (KExpr::OpenAccess { write: true }, true)
        }
        (F::EvtRawres, op @ (Op::Eq | Op::Ne | Op::Lt | Op::Le | Op::Gt | Op::Ge)) => {
            match nums().and_then(|v| v.first().copied()) {
                Some(n) => (KExpr::Res(op, n), true),
                None => (KExpr::True, false),
            }
        }
        (F::UserUid, Op::Eq | Op::In) => match nums() {
            Some(v) => (KExpr::UidIn(v), true),
            None => (KExpr::True, false),
        },
        (F::EvtArg | F::EvtRawarg, op) => arg_pred(ch, op, syscalls),
        // comm always exists.
        (F::ProcName, Op::Exists) => (KExpr::True, true),
        _ => (KExpr::True, false),
    }
}

/// Integer arguments compared with numbers or with their flag/enum names.
fn arg_pred(ch: &Check, op: Op, syscalls: &BTreeSet<String>) -> (KExpr, bool) {
    let FieldArg::Name(name) = &ch.field.arg else {
        return (KExpr::True, false);
    };
    let kinds: BTreeSet<ArgKind> = SYSCALLS
        .iter()
        .filter(|s| syscalls.contains(s.name))
        .flat_map(|s| s.args.iter())
        .filter(|a| a.name == name)
        .map(|a| a.kind)
        .collect();
    let [kind] = kinds.into_iter().collect::<Vec<_>>()[..] else {
        return (KExpr::True, false);
    };
    let value = |l: &Literal| match l {
        Literal::Dyn(s, n) => n.or_else(|| syscalls::name_value(kind, s)),
        Literal::Str(s) => syscalls::name_value(kind, s),
        Literal::Num(n) => Some(*n),
        _ => None,
    };
    let flags = matches!(
        kind,
        ArgKind::OpenFlags | ArgKind::AtFlags | ArgKind::MemfdFlags
    );
    match op {
        Op::Eq | Op::In if !flags => {
            match ch.values.iter().map(value).collect::<Option<Vec<i64>>>() {
                Some(values) => (
                    KExpr::ArgIn {
                        arg: name.clone(),
                        values,
                    },
                    true,
                ),
                None => (KExpr::True, false),
            }
        }
        Op::Contains if flags => match ch.values.first().and_then(value) {
            Some(bits) if bits != 0 => (
                KExpr::ArgBits {
                    arg: name.clone(),
                    bits,
                },
                true,
            ),
            _ => (KExpr::True, false),
        },
        Op::Contains if matches!(kind, ArgKind::PtraceRequest | ArgKind::SockDomain) => {
            match ch.values.first() {
                // `request contains PTRACE_GETREGS` also matches PTRACE_GETREGSET: every name
                // holding the text.
                Some(Literal::Dyn(s, None) | Literal::Str(s)) => (
                    KExpr::ArgIn {
                        arg: name.clone(),
                        values: syscalls::names_containing(kind, s),
                    },
                    true,
                ),
                _ => (KExpr::True, false),
            }
        }
        _ => (KExpr::True, false),
    }
}
