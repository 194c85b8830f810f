//! Evaluating checked conditions on one event: field values computed from the event, the
//! process table and the fd table (one match arm per field of the field table), then
//! compared as Falco does. A field with no value for this event makes its comparison false
//! (so `not` of it is true), except `exists`, which asks exactly that.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};

use crate::compile::{BoundField, CExpr, Check, FieldArg, Literal};
use crate::cond::Op;
use crate::event::{ArgValue, Dir, Event, SockAddr};
use crate::fd::FdInfo;
use crate::fields::FieldId as F;
use crate::proc::{Process, ProcessTable, NO_LOGINUID};
use crate::syscalls::{self, FdFrom, SyscallDef};
use crate::users::Users;

/// Everything a field may be computed from.
pub struct Ctx<'a> {
    /// The event.
    pub ev: &'a Event,
    /// The direction this evaluation sees (an exit event is also seen as its enter by rules
    /// that ask for `evt.dir = >`).
    pub dir: Dir,
    /// The syscall's definition.
    pub sys: Option<&'static SyscallDef>,
    /// The process table.
    pub procs: &'a ProcessTable,
    /// The event's process.
    pub proc_: Option<&'a Process>,
    /// The event's fd number and what it is.
    pub fd: Option<(i64, &'a FdInfo)>,
    /// Names of users and groups.
    pub users: &'a Users,
}

/// A field's value.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldVal<'a> {
    /// Text (borrowed from the tables or the event where it can be).
    Str(Cow<'a, str>),
    /// A number.
    Num(i64),
    /// A boolean.
    Bool(bool),
    /// An address.
    Ip(IpAddr),
    /// A syscall argument: rendered text and raw number.
    Dyn(Cow<'a, str>, Option<i64>),
    /// Several values (proc.aname without index): a comparison holds if it holds for one.
    Many(Vec<FieldVal<'a>>),
}

impl FieldVal<'_> {
    /// As shown in outputs.
    pub fn display(&self) -> String {
        match self {
            FieldVal::Str(s) | FieldVal::Dyn(s, _) => s.to_string(),
            FieldVal::Num(n) => n.to_string(),
            FieldVal::Bool(b) => b.to_string(),
            FieldVal::Ip(i) => i.to_string(),
            FieldVal::Many(v) => v
                .iter()
                .map(FieldVal::display)
                .collect::<Vec<_>>()
                .join(","),
        }
    }

    /// As a JSON value in output_fields.
    pub fn json(&self) -> serde_json::Value {
        match self {
            FieldVal::Num(n) => serde_json::Value::from(*n),
            FieldVal::Bool(b) => serde_json::Value::from(*b),
            other => serde_json::Value::from(other.display()),
        }
    }
}

/// Does `e` hold for this event?
pub fn eval(e: &CExpr, ctx: &Ctx) -> bool {
    match e {
        CExpr::And(items) => items.iter().all(|i| eval(i, ctx)),
        CExpr::Or(items) => items.iter().any(|i| eval(i, ctx)),
        CExpr::Not(inner) => !eval(inner, ctx),
        CExpr::Check(c) => check(c, ctx),
    }
}

fn check(c: &Check, ctx: &Ctx) -> bool {
    let v = extract(&c.field, ctx);
    if c.op == Op::Exists {
        return v.is_some();
    }
    let Some(v) = v else { return false };
    compare(&v, c.op, &c.values)
}

/// Compare a value with literals.
pub fn compare(v: &FieldVal, op: Op, lits: &[Literal]) -> bool {
    if let FieldVal::Many(items) = v {
        return match op {
            Op::Ne => !items.iter().any(|i| compare(i, Op::Eq, lits)),
            _ => items.iter().any(|i| compare(i, op, lits)),
        };
    }
    match op {
        Op::Exists => true,
        Op::In | Op::Intersects => lits.iter().any(|l| eq(v, l)),
        Op::Eq => lits.first().is_some_and(|l| eq(v, l)),
        Op::Ne => lits.first().is_some_and(|l| !eq(v, l)),
        Op::Lt | Op::Le | Op::Gt | Op::Ge => {
            let (Some(a), Some(b)) = (num(v), lits.first().and_then(lit_num)) else {
                return false;
            };
            match op {
                Op::Lt => a < b,
                Op::Le => a <= b,
                Op::Gt => a > b,
                _ => a >= b,
            }
        }
        Op::PMatch => {
            let s = text(v);
            lits.iter().any(|l| {
                let p = lit_text(l);
                let p = p.trim_end_matches('/');
                s.as_ref() == p
                    || (s.starts_with(p) && s.as_bytes().get(p.len()) == Some(&b'/'))
                    || p.is_empty()
            })
        }
        Op::Contains | Op::IContains | Op::StartsWith | Op::EndsWith | Op::Glob => {
            let s = text(v);
            let Some(l) = lits.first() else { return false };
            let p = lit_text(l);
            match op {
                Op::Contains => s.contains(p.as_ref()),
                Op::IContains => s.to_ascii_lowercase().contains(&p.to_ascii_lowercase()),
                Op::StartsWith => s.starts_with(p.as_ref()),
                Op::EndsWith => s.ends_with(p.as_ref()),
                _ => glob(p.as_bytes(), s.as_bytes()),
            }
        }
    }
}

fn num(v: &FieldVal) -> Option<i64> {
    match v {
        FieldVal::Num(n) => Some(*n),
        FieldVal::Dyn(_, n) => *n,
        FieldVal::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

fn lit_num(l: &Literal) -> Option<i64> {
    match l {
        Literal::Num(n) => Some(*n),
        Literal::Dyn(_, n) => *n,
        _ => None,
    }
}

/// The value as text, borrowed when it already is text (the common case: no allocation per
/// comparison).
fn text<'v>(v: &'v FieldVal<'_>) -> Cow<'v, str> {
    match v {
        FieldVal::Str(s) | FieldVal::Dyn(s, _) => Cow::Borrowed(s),
        other => Cow::Owned(other.display()),
    }
}

fn lit_text(l: &Literal) -> Cow<'_, str> {
    match l {
        Literal::Str(s) | Literal::Dyn(s, _) => Cow::Borrowed(s),
        Literal::Num(n) => Cow::Owned(n.to_string()),
        Literal::Bool(b) => Cow::Owned(b.to_string()),
        Literal::Ip(i) => Cow::Owned(i.to_string()),
        Literal::Net(i, p) => Cow::Owned(format!("{i}/{p}")),
    }
}

fn eq(v: &FieldVal, l: &Literal) -> bool {
    match (v, l) {
        (FieldVal::Num(a), Literal::Num(b)) => a == b,
        (FieldVal::Bool(a), Literal::Bool(b)) => a == b,
        (FieldVal::Ip(a), Literal::Ip(b)) => a == b,
        (FieldVal::Ip(a), Literal::Net(n, p)) => in_net(*a, *n, *p),
        (FieldVal::Dyn(t, n), Literal::Dyn(s, m)) => match (n, m) {
            (Some(a), Some(b)) => a == b,
            _ => t == s,
        },
        (FieldVal::Dyn(t, _), Literal::Str(s)) => t == s,
        (FieldVal::Str(a), Literal::Str(b)) => a == b,
        (FieldVal::Str(a), Literal::Dyn(b, _)) => a == b,
        _ => text(v) == lit_text(l),
    }
}

fn in_net(a: IpAddr, n: IpAddr, p: u8) -> bool {
    match (a, n) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if p == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(p.min(32)))
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if p == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(p.min(128)))
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// Shell-style glob: `*`, `?`, `[abc]`, `[a-z]`, `[!x]`, matched against the whole text.
pub fn glob(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() {
            match p[pi] {
                b'*' => {
                    star = Some((pi, si));
                    pi += 1;
                    continue;
                }
                b'?' => {
                    pi += 1;
                    si += 1;
                    continue;
                }
                b'[' => {
                    if let Some((ok, next)) = class(&p[pi..], s[si]) {
                        if ok {
                            pi += next;
                            si += 1;
                            continue;
                        }
                    } else if s[si] == b'[' {
                        pi += 1;
                        si += 1;
                        continue;
                    }
                }
                c if c == s[si] => {
                    pi += 1;
                    si += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, ss)) => {
                pi = sp + 1;
                si = ss + 1;
                star = Some((sp, ss + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// A `[...]` class at the start of `p`: whether `c` matches and the class's length.
fn class(p: &[u8], c: u8) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(p.get(1), Some(b'!' | b'^'));
    if negate {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    while i < p.len() {
        if p[i] == b']' && !first {
            return Some((hit != negate, i + 1));
        }
        first = false;
        if p.get(i + 1) == Some(&b'-') && p.get(i + 2).is_some_and(|&e| e != b']') {
            if p[i] <= c && c <= p[i + 2] {
                hit = true;
            }
            i += 3;
        } else {
            if p[i] == c {
                hit = true;
            }
            i += 1;
        }
    }
    None
}

/// Value of a field for this event; `None` when it has none.
pub fn extract<'a>(f: &BoundField, ctx: &Ctx<'a>) -> Option<FieldVal<'a>> {
    let ev: &'a Event = ctx.ev;
    let p: Option<&'a Process> = ctx.proc_;
    let procs: &'a ProcessTable = ctx.procs;
    let s = |v: &'a str| Some(FieldVal::Str(Cow::Borrowed(v)));
    let owned = |v: String| Some(FieldVal::Str(Cow::Owned(v)));
    let parent = || p.and_then(|p| procs.get(p.ppid));
    let sock = || ctx.fd.and_then(|(_, i)| i.sock.as_ref());
    let ip = |a: Option<SocketAddr>| a.map(|a| FieldVal::Ip(a.ip()));
    let port = |a: Option<SocketAddr>| a.map(|a| FieldVal::Num(i64::from(a.port())));
    match f.def.id {
        F::EvtType => s(&ev.syscall),
        F::EvtDir => s(ctx.dir.as_str()),
        F::EvtTime => owned(
            crate::output::rfc3339(ev.ts_ns)
                .get(11..29)
                .unwrap_or("")
                .to_string(),
        ),
        F::EvtTimeIso => owned(crate::output::rfc3339(ev.ts_ns)),
        F::EvtRawtime => Some(FieldVal::Num(ev.ts_ns as i64)),
        F::EvtRes => res(ctx).map(|r| {
            FieldVal::Str(if r >= 0 {
                "SUCCESS".into()
            } else {
                errno_name(-r).into()
            })
        }),
        F::EvtRawres => res(ctx).map(FieldVal::Num),
        F::EvtArg => arg(ctx, &f.arg),
        F::EvtRawarg => match arg(ctx, &f.arg)? {
            FieldVal::Dyn(_, Some(n)) => Some(FieldVal::Dyn(n.to_string().into(), Some(n))),
            other => Some(other),
        },
        F::EvtArgs => {
            let sys = ctx.sys?;
            let parts: Vec<String> = sys
                .args
                .iter()
                .filter_map(|a| {
                    arg(ctx, &FieldArg::Name(a.name.into()))
                        .map(|v| format!("{}={}", a.name, v.display()))
                })
                .collect();
            owned(parts.join(" "))
        }
        F::EvtIsOpenRead | F::EvtIsOpenWrite => {
            let sys = ctx.sys?;
            let acc = match sys.name {
                "creat" => 1,
                "open" | "openat" | "openat2" => ev.int_arg("flags")? & syscalls::O_ACCMODE,
                _ => return None,
            };
            let read = acc == 0 || acc == 2;
            let write = acc == 1 || acc == 2;
            Some(FieldVal::Bool(if f.def.id == F::EvtIsOpenRead {
                read
            } else {
                write
            }))
        }
        F::EvtCategory => s(category(&ev.syscall)),
        F::ProcName => p.map(|p| FieldVal::Str(Cow::Borrowed(&p.comm))),
        F::ProcExe => p.map(|p| FieldVal::Str(Cow::Borrowed(&p.exe))),
        F::ProcExepath => p.map(|p| FieldVal::Str(Cow::Borrowed(&p.exepath))),
        F::ProcCmdline => p.map(|p| FieldVal::Str(p.cmdline().into())),
        F::ProcArgs => p.map(|p| FieldVal::Str(p.args.join(" ").into())),
        F::ProcPid => Some(FieldVal::Num(i64::from(ev.pid))),
        F::ProcPpid => p
            .filter(|p| p.ppid != 0)
            .map(|p| FieldVal::Num(i64::from(p.ppid))),
        F::ProcPname => parent().map(|q| FieldVal::Str(Cow::Borrowed(&q.comm))),
        F::ProcPcmdline => parent().map(|q| FieldVal::Str(q.cmdline().into())),
        F::ProcPexe => parent().map(|q| FieldVal::Str(Cow::Borrowed(&q.exe))),
        F::ProcPexepath => parent().map(|q| FieldVal::Str(Cow::Borrowed(&q.exepath))),
        F::ProcAname | F::ProcApid | F::ProcAexe | F::ProcAexepath | F::ProcAcmdline => {
            let p = p?;
            let id = f.def.id;
            let val = |q: &'a Process| match id {
                F::ProcApid => FieldVal::Num(i64::from(q.pid)),
                F::ProcAexe => FieldVal::Str(Cow::Borrowed(&q.exe)),
                F::ProcAexepath => FieldVal::Str(Cow::Borrowed(&q.exepath)),
                F::ProcAcmdline => FieldVal::Str(q.cmdline().into()),
                _ => FieldVal::Str(Cow::Borrowed(&q.comm)),
            };
            match f.arg {
                FieldArg::Index(0) => Some(val(p)),
                FieldArg::Index(n) => ctx.procs.ancestors(p.pid).get(n - 1).map(|q| val(q)),
                _ => {
                    let all: Vec<FieldVal> =
                        ctx.procs.ancestors(p.pid).into_iter().map(val).collect();
                    (!all.is_empty()).then_some(FieldVal::Many(all))
                }
            }
        }
        F::ProcTty => p.map(|p| FieldVal::Num(i64::from(p.tty))),
        F::ProcCwd => p
            .filter(|p| !p.cwd.is_empty())
            .map(|p| FieldVal::Str(Cow::Borrowed(&p.cwd))),
        F::ProcSid => p.map(|p| FieldVal::Num(i64::from(p.sid))),
        F::ProcIsExeFromMemfd => p.map(|p| FieldVal::Bool(p.exe_from_memfd)),
        F::ProcDuration => p.map(|p| FieldVal::Num(ev.ts_ns.saturating_sub(p.start_ns) as i64)),
        F::ThreadTid => Some(FieldVal::Num(i64::from(ev.tid))),
        F::FdNum => fd_num(ctx).map(FieldVal::Num),
        F::FdName => ctx.fd.map(|(_, i)| FieldVal::Str(Cow::Borrowed(&i.name))),
        F::FdNameraw => ctx
            .fd
            .map(|(_, i)| FieldVal::Str(Cow::Borrowed(&i.raw_name))),
        F::FdDirectory | F::FdFilename => {
            let (_, i) = ctx.fd?;
            if !matches!(
                i.kind,
                crate::fd::FdKind::File | crate::fd::FdKind::Directory
            ) {
                return None;
            }
            let (dir, file) = match i.name.rfind('/') {
                Some(0) => ("/", &i.name[1..]),
                Some(k) => (&i.name[..k], &i.name[k + 1..]),
                None => ("", i.name.as_str()),
            };
            s(if f.def.id == F::FdDirectory {
                dir
            } else {
                file
            })
        }
        F::FdType => ctx.fd.map(|(_, i)| FieldVal::Str(i.kind.name().into())),
        F::FdTypechar => ctx
            .fd
            .map(|(_, i)| FieldVal::Str(i.kind.typechar().to_string().into())),
        F::FdSip | F::FdDip => ip(sock()?.server()),
        F::FdCip => ip(sock()?.client()),
        F::FdLip => ip(sock()?.local),
        F::FdRip => ip(sock()?.remote),
        F::FdSport | F::FdDport => port(sock()?.server()),
        F::FdCport => port(sock()?.client()),
        F::FdLport => port(sock()?.local),
        F::FdRport => port(sock()?.remote),
        F::FdNet => {
            let s = sock()?;
            let all: Vec<FieldVal> = [s.client(), s.server()]
                .into_iter()
                .flatten()
                .map(|a| FieldVal::Ip(a.ip()))
                .collect();
            (!all.is_empty()).then_some(FieldVal::Many(all))
        }
        F::FdSnet => ip(sock()?.server()),
        F::FdCnet => ip(sock()?.client()),
        F::FdLnet => ip(sock()?.local),
        F::FdRnet => ip(sock()?.remote),
        F::FdL4proto => sock().map(|s| FieldVal::Str(s.l4.name().into())),
        F::UserName => p.and_then(|p| ctx.users.user(p.uid)).and_then(s),
        F::UserUid => p.map(|p| FieldVal::Num(i64::from(p.uid))),
        F::UserLoginuid => p.map(|p| {
            FieldVal::Num(if p.loginuid == NO_LOGINUID {
                -1
            } else {
                i64::from(p.loginuid)
            })
        }),
        F::UserLoginname => p
            .filter(|p| p.loginuid != NO_LOGINUID)
            .and_then(|p| ctx.users.user(p.loginuid))
            .and_then(s),
        F::GroupName => p.and_then(|p| ctx.users.group(p.gid)).and_then(s),
        F::GroupGid => p.map(|p| FieldVal::Num(i64::from(p.gid))),
        F::ContainerId => p.map(|p| FieldVal::Str(p.container_id().into())),
    }
}

fn res(ctx: &Ctx) -> Option<i64> {
    if ctx.dir == Dir::Enter {
        return None;
    }
    ctx.ev.res
}

/// The fd number the event is about.
pub fn fd_num(ctx: &Ctx) -> Option<i64> {
    if let Some((n, _)) = ctx.fd {
        return Some(n);
    }
    match ctx.sys?.fd {
        FdFrom::Res => res(ctx),
        FdFrom::Arg(a) => ctx.ev.int_arg(a),
        FdFrom::None => None,
    }
}

fn arg<'a>(ctx: &Ctx<'a>, a: &FieldArg) -> Option<FieldVal<'a>> {
    let sys = ctx.sys?;
    let def = match a {
        FieldArg::Index(i) => sys.args.get(*i)?,
        FieldArg::Name(n) if n == "res" => {
            return res(ctx).map(|r| FieldVal::Dyn(r.to_string().into(), Some(r)))
        }
        FieldArg::Name(n) => sys.args.iter().find(|d| d.name == n)?,
        FieldArg::None => return None,
    };
    let ev: &'a Event = ctx.ev;
    let v = ev.arg(def.name)?;
    Some(match v {
        ArgValue::Int(n) => FieldVal::Dyn(syscalls::render_int(def.kind, *n).into(), Some(*n)),
        ArgValue::Str(s) => FieldVal::Dyn(Cow::Borrowed(s), None),
        ArgValue::Strs(v) => FieldVal::Dyn(v.join(" ").into(), None),
        ArgValue::Sock(SockAddr::Inet(a)) => {
            FieldVal::Dyn(format!("{}:{}", a.ip(), a.port()).into(), None)
        }
        ArgValue::Sock(SockAddr::Unix(p)) => FieldVal::Dyn(Cow::Borrowed(p), None),
        ArgValue::Sock(SockAddr::Other(f)) => FieldVal::Dyn(format!("family {f}").into(), None),
    })
}

fn category(syscall: &str) -> &'static str {
    match syscall {
        "open" | "openat" | "openat2" | "creat" | "close" | "dup" | "dup2" | "dup3" | "unlink"
        | "unlinkat" | "symlink" | "symlinkat" | "link" | "linkat" | "memfd_create" | "chdir"
        | "fchdir" => "file",
        "socket" | "connect" | "bind" | "accept" | "accept4" => "net",
        "execve" | "execveat" | "ptrace" | "init_module" | "finit_module" => "process",
        _ => "other",
    }
}

/// `ENOENT` for 2, ...; the number for errnos not in the table.
pub fn errno_name(e: i64) -> String {
    const T: &[(i64, &str)] = &[
        (1, "EPERM"),
        (2, "ENOENT"),
        (3, "ESRCH"),
        (4, "EINTR"),
        (5, "EIO"),
        (6, "ENXIO"),
        (7, "E2BIG"),
        (8, "ENOEXEC"),
        (9, "EBADF"),
        (10, "ECHILD"),
        (11, "EAGAIN"),
        (12, "ENOMEM"),
        (13, "EACCES"),
        (14, "EFAULT"),
        (16, "EBUSY"),
        (17, "EEXIST"),
        (18, "EXDEV"),
        (19, "ENODEV"),
        (20, "ENOTDIR"),
        (21, "EISDIR"),
        (22, "EINVAL"),
        (23, "ENFILE"),
        (24, "EMFILE"),
        (25, "ENOTTY"),
        (26, "ETXTBSY"),
        (27, "EFBIG"),
        (28, "ENOSPC"),
        (29, "ESPIPE"),
        (30, "EROFS"),
        (31, "EMLINK"),
        (32, "EPIPE"),
        (36, "ENAMETOOLONG"),
        (38, "ENOSYS"),
        (39, "ENOTEMPTY"),
        (40, "ELOOP"),
        (95, "EOPNOTSUPP"),
        (97, "EAFNOSUPPORT"),
        (98, "EADDRINUSE"),
        (99, "EADDRNOTAVAIL"),
        (101, "ENETUNREACH"),
        (104, "ECONNRESET"),
        (110, "ETIMEDOUT"),
        (111, "ECONNREFUSED"),
        (113, "EHOSTUNREACH"),
        (114, "EALREADY"),
        (115, "EINPROGRESS"),
    ];
    T.iter()
        .find(|(n, _)| *n == e)
        .map_or_else(|| e.to_string(), |(_, s)| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob(b"*.log", b"/var/log/syslog.log"));
        assert!(glob(b"/etc/*", b"/etc/shadow"));
        assert!(glob(b"/tmp/?.sh", b"/tmp/a.sh"));
        assert!(!glob(b"/tmp/?.sh", b"/tmp/ab.sh"));
        assert!(glob(b"[a-c]x[!0-9]", b"bxz"));
        assert!(!glob(b"[a-c]x[!0-9]", b"bx1"));
        assert!(glob(b"**a*", b"bab"));
        assert!(!glob(b"abc", b"ab"));
        assert!(glob(b"[", b"["));
    }

    #[test]
    fn networks() {
        assert!(in_net(
            "10.1.2.3".parse().expect("ip"),
            "10.0.0.0".parse().expect("ip"),
            8
        ));
        assert!(!in_net(
            "11.1.2.3".parse().expect("ip"),
            "10.0.0.0".parse().expect("ip"),
            8
        ));
        assert!(in_net(
            "::1".parse().expect("ip"),
            "::".parse().expect("ip"),
            0
        ));
    }
}
