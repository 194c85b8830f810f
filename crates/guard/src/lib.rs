//! kestrel guard: Falco-format runtime security rules, evaluated on syscall events.
//!
//! This crate owns the pure half: the rules-file loader ([`rules`]: rule, macro, list,
//! append, override, exceptions), the condition parser ([`cond`]) and compiler ([`compile`]:
//! macros and lists expanded, fields typed against the field table [`fields`]), the rule
//! analysis for the kernel side ([`analysis`]: syscalls per rule, [`analysis::KernelFilter`]),
//! the event model ([`event`]), the process and fd tables ([`proc`], [`fd`]), the evaluator
//! ([`eval`]) and alerts in Falco's JSON and text forms ([`output`]). It does no capture: the
//! kernel side feeds [`Engine::process`] with [`Event`]s and [`Engine::on_proc_event`] with
//! sched events, and compiles [`Ruleset::kernel_filters`] to BPF.
//!
//! ```
//! use kestrel_guard::{Engine, Event, Ruleset};
//! let rules = "- rule: shadow read\n  desc: d\n  condition: evt.type = openat and fd.name = /etc/shadow\n  output: '%proc.pid read %fd.name'\n  priority: warning\n";
//! let set = Ruleset::load(&[("r.yaml".into(), rules.into())]).unwrap();
//! let mut engine = Engine::new(set);
//! let ev = Event::exit(0, 42, "openat", 3).int("dirfd", -100).str("name", "/etc/shadow").int("flags", 0);
//! let alerts = engine.process(&ev);
//! assert_eq!(alerts[0].output, "42 read /etc/shadow");
//! ```
#![forbid(unsafe_code)]

pub mod analysis;
pub mod compile;
pub mod cond;
pub mod diag;
pub mod engine;
pub mod eval;
pub mod event;
pub mod fd;
pub mod fields;
pub mod output;
pub mod proc;
pub mod rules;
pub mod source;
pub mod syscalls;
pub mod users;
pub mod yaml;

pub use diag::Diagnostic;
pub use engine::{Engine, LoadedRule, Ruleset, SkippedRule};
pub use event::{ArgValue, Dir, Event, ExecInfo, ProcEvent, SockAddr};
pub use output::{drop_alert, Alert, DropStats};
pub use rules::{Action, Priority};

/// The default rules, as shipped (`crates/guard/rules/kestrel_rules.yaml`).
pub const DEFAULT_RULES: &str = include_str!("../rules/kestrel_rules.yaml");

/// The default rules file's name in diagnostics.
pub const DEFAULT_RULES_NAME: &str = "kestrel_rules.yaml";
