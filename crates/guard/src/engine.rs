//! Loading rules files into a [`Ruleset`] (compiled, analysed, with the rules kestrel cannot
//! evaluate set aside with their reasons) and the [`Engine`] that runs it: events update the
//! process and fd tables, rules are evaluated, alerts come out.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::analysis::{self, KernelFilter};
use crate::compile::FieldArg;
use crate::compile::{CExpr, Compiler, OutPiece};
use crate::diag::Diagnostic;
use crate::eval::{self, Ctx};
use crate::event::{ArgValue, Dir, Event, ExecInfo, ProcEvent, SockAddr};
use crate::fd::{self, FdInfo, FdKind, FdTable, SockInfo, L4};
use crate::fields::FieldId as F;
use crate::output::{self, Alert};
use crate::proc::ProcessTable;
use crate::rules::{Action, Priority, RuleFiles};
use crate::syscalls::{self, SyscallDef};
use crate::users::Users;

/// A rule ready to evaluate.
#[derive(Clone, Debug)]
pub struct LoadedRule {
    /// Name.
    pub name: String,
    /// Description.
    pub desc: String,
    /// Priority.
    pub priority: Priority,
    /// Tags.
    pub tags: Vec<String>,
    /// kestrel's action.
    pub action: Action,
    /// The checked condition (exceptions included).
    pub condition: CExpr,
    /// The output template.
    pub output: Vec<OutPiece>,
    /// Syscalls it can match.
    pub syscalls: BTreeSet<String>,
    /// Directions it can match.
    pub dirs: BTreeSet<Dir>,
    /// It uses fd.* fields (the fd table's syscalls must be traced too).
    pub uses_fds: bool,
    /// The kernel-side filter.
    pub kernel: KernelFilter,
    /// `file:line:col` of its definition.
    pub position: String,
}

/// A rule that loaded but cannot be evaluated by kestrel, with the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedRule {
    /// Name.
    pub name: String,
    /// `file:line:col`.
    pub position: String,
    /// Why.
    pub reason: String,
}

/// Compiled rules.
#[derive(Clone, Debug, Default)]
pub struct Ruleset {
    /// Enabled rules kestrel evaluates, in definition order.
    pub rules: Vec<LoadedRule>,
    /// Rules it cannot evaluate.
    pub skipped: Vec<SkippedRule>,
    /// Disabled rules (`enabled: false`).
    pub disabled: Vec<String>,
    /// Warnings.
    pub warnings: Vec<Diagnostic>,
}

impl Ruleset {
    /// Load and compile rules files given as (name, text), in order. Errors (located) fail
    /// the whole load; rules needing what kestrel lacks are skipped with a reason.
    pub fn load(files: &[(String, String)]) -> Result<Ruleset, Vec<Diagnostic>> {
        let mut rf = RuleFiles::new();
        for (name, text) in files {
            rf.add(name, text);
        }
        Ruleset::compile(&rf)
    }

    /// Read and load files from disk.
    pub fn load_paths(paths: &[PathBuf]) -> Result<Ruleset, Vec<Diagnostic>> {
        let mut files = Vec::new();
        let mut errs = Vec::new();
        for p in paths {
            match std::fs::read_to_string(p) {
                Ok(t) => files.push((p.display().to_string(), t)),
                Err(e) => errs.push(Diagnostic::unlocated(
                    "G0100",
                    format!("cannot read {}: {e}", p.display()),
                )),
            }
        }
        if !errs.is_empty() {
            return Err(errs);
        }
        Ruleset::load(&files)
    }

    /// Compile loaded files.
    pub fn compile(rf: &RuleFiles) -> Result<Ruleset, Vec<Diagnostic>> {
        let mut out = Ruleset::default();
        let mut c = Compiler::new(rf);
        let position = |span| Diagnostic::error("", "", span, &rf.sources).position();
        for r in &rf.rules {
            if r.source != "syscall" {
                out.skipped.push(SkippedRule {
                    name: r.name.clone(),
                    position: position(r.span),
                    reason: format!(
                        "source '{}' is not supported (kestrel guard evaluates syscall rules only)",
                        r.source
                    ),
                });
                continue;
            }
            c.unsupported.clear();
            let cond = c.rule(&r.condition, &r.exceptions);
            let pieces = c.output(&r.output);
            let Some(cond) = cond else { continue };
            if !r.enabled {
                out.disabled.push(r.name.clone());
                continue;
            }
            if let Some(u) = c.unsupported.first() {
                let pos = Diagnostic::error("", "", u.span, &rf.sources).position();
                out.skipped.push(SkippedRule {
                    name: r.name.clone(),
                    position: position(r.span),
                    reason: format!("field '{}' at {pos}: {}", u.field, u.reason),
                });
                continue;
            }
            let Some(types) = analysis::event_types(&cond) else {
                out.skipped.push(SkippedRule {
                    name: r.name.clone(),
                    position: position(r.span),
                    reason: "the condition does not restrict evt.type, so it would need every syscall on the machine; add e.g. 'evt.type in (...)'".into(),
                });
                continue;
            };
            let known: BTreeSet<String> = types
                .iter()
                .filter(|t| syscalls::lookup(t).is_some())
                .cloned()
                .collect();
            if known.is_empty() {
                let list = types.iter().cloned().collect::<Vec<_>>().join(", ");
                out.skipped.push(SkippedRule {
                    name: r.name.clone(),
                    position: position(r.span),
                    reason: if list.is_empty() {
                        "the condition can match no event type".into()
                    } else {
                        format!("event type(s) {list} are not captured by kestrel guard")
                    },
                });
                continue;
            }
            if known.len() < types.len() {
                let missing: Vec<String> = types.difference(&known).cloned().collect();
                out.warnings.push(Diagnostic::warning(
                    "G0401",
                    format!(
                        "rule '{}': event type(s) {} are not captured; it is evaluated on {} only",
                        r.name,
                        missing.join(", "),
                        known.iter().cloned().collect::<Vec<_>>().join(", ")
                    ),
                    r.span,
                    &rf.sources,
                ));
            }
            for ch in analysis::checks(&cond) {
                let (F::EvtArg | F::EvtRawarg, FieldArg::Name(n)) =
                    (ch.field.def.id, &ch.field.arg)
                else {
                    continue;
                };
                let has = |s: &String| {
                    syscalls::lookup(s).is_some_and(|d| d.args.iter().any(|a| a.name == n))
                };
                if n != "res" && !known.iter().any(has) {
                    out.warnings.push(
                        Diagnostic::warning(
                            "G0402",
                            format!("none of this rule's syscalls ({}) has an argument '{n}', so '{}' never has a value", known.iter().cloned().collect::<Vec<_>>().join(", "), ch.field.name),
                            ch.span,
                            &rf.sources,
                        )
                        .with_hint("kestrel guard check -v lists each rule's syscalls; the syscall table is in kestrel-guard's syscalls.rs"),
                    );
                }
            }
            let (pred, exact) = analysis::kernel_pred(&cond, &known);
            out.rules.push(LoadedRule {
                name: r.name.clone(),
                desc: r.desc.clone(),
                priority: r.priority,
                tags: r.tags.clone(),
                action: r.action,
                dirs: analysis::dirs(&cond),
                uses_fds: analysis::uses_fds(&cond),
                kernel: KernelFilter {
                    rule: r.name.clone(),
                    syscalls: known.iter().cloned().collect(),
                    pred,
                    exact,
                },
                syscalls: known,
                condition: cond,
                output: pieces,
                position: position(r.span),
            });
        }
        for m in &rf.macros {
            c.check_macro(m);
        }
        let mut diags = rf.diags.clone();
        diags.append(&mut c.diags);
        if diags.iter().any(Diagnostic::is_error) {
            return Err(diags);
        }
        out.warnings.extend(diags);
        Ok(out)
    }

    /// Every syscall the enabled rules need, plus the fd-table syscalls when a rule uses fd
    /// fields: the tracepoints the capture side attaches.
    pub fn syscalls(&self) -> BTreeSet<String> {
        let mut s: BTreeSet<String> = self
            .rules
            .iter()
            .flat_map(|r| r.syscalls.iter().cloned())
            .collect();
        if self.rules.iter().any(|r| r.uses_fds) {
            s.extend(syscalls::TABLE_SYSCALLS.iter().map(|x| x.to_string()));
        }
        s.insert("execve".into());
        s.insert("execveat".into());
        s
    }

    /// The kernel filters, one per rule.
    pub fn kernel_filters(&self) -> Vec<KernelFilter> {
        self.rules.iter().map(|r| r.kernel.clone()).collect()
    }
}

/// Runs a ruleset over events.
pub struct Engine {
    /// The rules.
    pub ruleset: Ruleset,
    /// Processes.
    pub procs: ProcessTable,
    /// Fds.
    pub fds: FdTable,
    /// User and group names.
    pub users: Users,
    /// `hostname` in alerts.
    pub hostname: String,
    /// Alerts per (rule, priority).
    pub counts: HashMap<(String, Priority), u64>,
    /// Events seen.
    pub events: u64,
    proc_root: Option<PathBuf>,
    by_syscall: HashMap<String, std::rc::Rc<[usize]>>,
}

impl Engine {
    /// An engine with empty tables (tests, replays).
    pub fn new(ruleset: Ruleset) -> Engine {
        let mut lists: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, r) in ruleset.rules.iter().enumerate() {
            for s in &r.syscalls {
                lists.entry(s.clone()).or_default().push(i);
            }
        }
        let by_syscall = lists.into_iter().map(|(k, v)| (k, v.into())).collect();
        Engine {
            ruleset,
            procs: ProcessTable::new(),
            fds: FdTable::new(),
            users: Users::default(),
            hostname: String::new(),
            counts: HashMap::new(),
            events: 0,
            proc_root: None,
            by_syscall,
        }
    }

    /// An engine on a live system (or a fake one): the process table seeded from
    /// `root/proc`, names from `root/etc/passwd` and `root/etc/group`, the hostname from
    /// `root/proc/sys/kernel/hostname`.
    pub fn live(ruleset: Ruleset, root: &Path) -> std::io::Result<Engine> {
        let mut e = Engine::new(ruleset);
        let proc_root = root.join("proc");
        e.procs = ProcessTable::seed(&proc_root)?;
        e.users = Users::load(root);
        e.hostname = std::fs::read_to_string(proc_root.join("sys/kernel/hostname"))
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        e.proc_root = Some(proc_root);
        Ok(e)
    }

    /// A process lifecycle event.
    pub fn on_proc_event(&mut self, ev: &ProcEvent) {
        match ev {
            ProcEvent::Fork {
                ts_ns,
                parent,
                child,
                thread,
            } => {
                self.procs.on_fork(*parent, *child, *thread, *ts_ns);
                if !thread {
                    self.fds.on_fork(*parent, *child);
                }
            }
            ProcEvent::Exec { ts_ns, pid, info } => {
                self.procs.on_exec(*pid, info, *ts_ns);
                self.fds.on_exec(*pid);
            }
            ProcEvent::Exit { pid, .. } => {
                self.procs.on_exit(*pid);
                self.fds.on_exit(*pid);
            }
        }
    }

    /// A syscall event: tables updated, rules evaluated; the alerts it raised.
    pub fn process(&mut self, ev: &Event) -> Vec<Alert> {
        self.events += 1;
        let sys = syscalls::lookup(&ev.syscall);
        let _ = self.procs.get_or_load(ev.pid);
        let event_fd = self.update_before(ev, sys);
        let mut alerts = Vec::new();
        let idx = self.by_syscall.get(&ev.syscall).cloned();
        if let Some(idx) = idx {
            let fd_info = event_fd.or_else(|| self.table_fd(ev, sys));
            for &i in idx.iter() {
                let rule = &self.ruleset.rules[i];
                // A rule that asks only for the enter direction sees the merged exit event as
                // its enter (arguments, no result).
                let dir = if ev.dir == Dir::Exit
                    && !rule.dirs.contains(&Dir::Exit)
                    && rule.dirs.contains(&Dir::Enter)
                {
                    Dir::Enter
                } else {
                    ev.dir
                };
                if !rule.dirs.contains(&dir) {
                    continue;
                }
                let ctx = Ctx {
                    ev,
                    dir,
                    sys,
                    procs: &self.procs,
                    proc_: self.procs.get(ev.pid),
                    fd: fd_info.as_ref().map(|(n, i)| (*n, i)),
                    users: &self.users,
                };
                if eval::eval(&rule.condition, &ctx) {
                    let (text, fields) = output::render(&rule.output, &ctx);
                    alerts.push(Alert {
                        ts_ns: ev.ts_ns,
                        rule: rule.name.clone(),
                        priority: rule.priority,
                        output: text,
                        output_fields: fields,
                        hostname: self.hostname.clone(),
                        source: "syscall".into(),
                        tags: rule.tags.clone(),
                        action: rule.action,
                        pid: ev.pid,
                        outcome: None,
                    });
                }
            }
        }
        for a in &alerts {
            *self.counts.entry((a.rule.clone(), a.priority)).or_default() += 1;
        }
        self.update_after(ev);
        alerts
    }

    fn table_fd(&mut self, ev: &Event, sys: Option<&'static SyscallDef>) -> Option<(i64, FdInfo)> {
        let n = match sys?.fd {
            syscalls::FdFrom::Res => ev.res.filter(|r| *r >= 0)?,
            syscalls::FdFrom::Arg(a) => ev.int_arg(a)?,
            syscalls::FdFrom::None => return None,
        };
        self.fds
            .get_or_load(ev.pid, n, self.proc_root.as_deref())
            .cloned()
            .map(|i| (n, i))
    }

    fn base_dir(&self, pid: u32, dirfd: Option<i64>) -> String {
        match dirfd {
            Some(d) if d != syscalls::AT_FDCWD => self
                .fds
                .get(pid, d)
                .map(|i| i.name.clone())
                .unwrap_or_default(),
            _ => self
                .procs
                .get(pid)
                .map(|p| p.cwd.clone())
                .unwrap_or_default(),
        }
    }

    /// Table changes that the event's own evaluation must see; returns the fd the event
    /// is about when the event itself defines it (the open family, even when it failed).
    fn update_before(
        &mut self,
        ev: &Event,
        sys: Option<&'static SyscallDef>,
    ) -> Option<(i64, FdInfo)> {
        let sys = sys?;
        if ev.dir != Dir::Exit {
            return None;
        }
        let res = ev.res.unwrap_or(-1);
        let pid = ev.pid;
        match sys.name {
            "open" | "openat" | "openat2" | "creat" => {
                let raw = ev.str_arg("name")?.to_string();
                let base = self.base_dir(pid, ev.int_arg("dirfd"));
                let path = fd::resolve(&base, &raw);
                let flags = ev.int_arg("flags").unwrap_or(0);
                let info = FdInfo::file(
                    path,
                    raw,
                    flags & syscalls::O_DIRECTORY != 0,
                    flags & syscalls::O_CLOEXEC != 0,
                );
                if res >= 0 {
                    self.fds.insert(pid, res, info.clone());
                }
                Some((res, info))
            }
            "memfd_create" if res >= 0 => {
                let name = format!("memfd:{}", ev.str_arg("name").unwrap_or(""));
                let info = FdInfo {
                    kind: FdKind::Memfd,
                    name: name.clone(),
                    raw_name: name,
                    sock: None,
                    cloexec: ev.int_arg("flags").unwrap_or(0) & 1 != 0,
                };
                self.fds.insert(pid, res, info);
                None
            }
            "socket" if res >= 0 => {
                let domain = ev.int_arg("domain").unwrap_or(0);
                let ty = ev.int_arg("type").unwrap_or(0);
                let proto = ev.int_arg("proto").unwrap_or(0);
                let kind = match domain {
                    syscalls::AF_INET => FdKind::Ipv4,
                    syscalls::AF_INET6 => FdKind::Ipv6,
                    syscalls::AF_UNIX => FdKind::Unix,
                    syscalls::AF_NETLINK => FdKind::Netlink,
                    syscalls::AF_PACKET => FdKind::Packet,
                    _ => FdKind::Other,
                };
                let l4 = match (ty & 0xf, proto) {
                    (_, 1 | 58) => L4::Icmp,
                    (1, _) => L4::Tcp,
                    (2, _) => L4::Udp,
                    _ => L4::Raw,
                };
                let mut info = FdInfo {
                    kind,
                    name: String::new(),
                    raw_name: String::new(),
                    sock: matches!(kind, FdKind::Ipv4 | FdKind::Ipv6).then_some(SockInfo {
                        l4,
                        local: None,
                        remote: None,
                        local_is_server: false,
                    }),
                    cloexec: ty & 0o2000000 != 0,
                };
                info.refresh_tuple();
                self.fds.insert(pid, res, info);
                None
            }
            "connect" | "bind" if res == 0 || (sys.name == "connect" && res == -115) => {
                let fd = ev.int_arg("fd")?;
                let addr = inet(ev.arg("addr"));
                if let Some(i) = self.fds.get_mut(pid, fd) {
                    if let (Some(s), Some(a)) = (i.sock.as_mut(), addr) {
                        if sys.name == "connect" {
                            s.remote = Some(a);
                            s.local_is_server = false;
                        } else {
                            s.local = Some(a);
                        }
                    }
                    if let (FdKind::Unix, Some(ArgValue::Sock(SockAddr::Unix(p)))) =
                        (i.kind, ev.arg("addr"))
                    {
                        i.name.clone_from(p);
                        i.raw_name.clone_from(p);
                    }
                    i.refresh_tuple();
                }
                None
            }
            "accept" | "accept4" if res >= 0 => {
                let lfd = ev.int_arg("fd")?;
                let mut info = self.fds.get(pid, lfd).cloned()?;
                if let Some(s) = info.sock.as_mut() {
                    s.remote = inet(ev.arg("addr"));
                    s.local_is_server = true;
                }
                info.cloexec = false;
                info.refresh_tuple();
                self.fds.insert(pid, res, info);
                None
            }
            "dup" | "dup2" | "dup3" if res >= 0 => {
                let old = ev.int_arg("oldfd").or_else(|| ev.int_arg("fd"))?;
                if old != res {
                    let cloexec = sys.name == "dup3"
                        && ev.int_arg("flags").unwrap_or(0) & syscalls::O_CLOEXEC != 0;
                    self.fds.dup(pid, old, res, cloexec);
                }
                None
            }
            "execve" | "execveat" if res == 0 => {
                let raw = ev
                    .str_arg("filename")
                    .or_else(|| ev.str_arg("pathname"))
                    .unwrap_or("")
                    .to_string();
                let base = self.base_dir(pid, ev.int_arg("dirfd"));
                let argv = match ev.arg("args") {
                    Some(ArgValue::Strs(v)) => Some(v.clone()),
                    _ => None,
                };
                let info = ExecInfo {
                    filename: fd::resolve(&base, &raw),
                    argv,
                    comm: None,
                    exepath: None,
                };
                self.procs.on_exec(pid, &info, ev.ts_ns);
                self.fds.on_exec(pid);
                None
            }
            "chdir" if res == 0 => {
                let base = self.base_dir(pid, None);
                let p = fd::resolve(&base, ev.str_arg("path")?);
                self.procs.set_cwd(pid, p);
                None
            }
            "fchdir" if res == 0 => {
                let d = self.fds.get(pid, ev.int_arg("fd")?)?.name.clone();
                self.procs.set_cwd(pid, d);
                None
            }
            _ => None,
        }
    }

    fn update_after(&mut self, ev: &Event) {
        if ev.syscall == "close" && ev.dir == Dir::Exit && ev.res == Some(0) {
            if let Some(fd) = ev.int_arg("fd") {
                self.fds.remove(ev.pid, fd);
            }
        }
    }
}

fn inet(v: Option<&ArgValue>) -> Option<SocketAddr> {
    match v {
        Some(ArgValue::Sock(SockAddr::Inet(a))) => Some(*a),
        _ => None,
    }
}
