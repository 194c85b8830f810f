//! The field table: one row per Falco field kestrel guard provides — its name, type, the
//! events that give it a value, how it is computed, and whether the kernel side could test
//! it. Evaluation is in [`crate::eval`], one match arm per [`FieldId`].

/// A field's value type, for the load-time type check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    /// Text; every string operator applies.
    Str,
    /// A signed 64-bit number; `<`, `>` etc. apply, values must be numbers.
    Num,
    /// `true` / `false`.
    Bool,
    /// An IP address; values are addresses or CIDR networks.
    Ip,
    /// `evt.arg.*`: typed by the syscall at run time; compared as a number when the value
    /// and the literal both are numbers, as the rendered text otherwise.
    Dyn,
}

impl FieldType {
    /// Name in messages.
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Str => "a string",
            FieldType::Num => "a number",
            FieldType::Bool => "a boolean",
            FieldType::Ip => "an IP address",
            FieldType::Dyn => "a syscall argument",
        }
    }
}

/// What may go in `[...]` after the name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgMode {
    /// Nothing.
    None,
    /// An optional index (`proc.aname[2]`; without it, any ancestor).
    OptIndex,
    /// A name or an index (`evt.arg.name`, `evt.arg[1]`).
    Arg,
}

/// Every field kestrel guard evaluates.
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldId {
    EvtType,
    EvtDir,
    EvtTime,
    EvtTimeIso,
    EvtRawtime,
    EvtRes,
    EvtRawres,
    EvtArg,
    EvtRawarg,
    EvtArgs,
    EvtIsOpenRead,
    EvtIsOpenWrite,
    EvtCategory,
    ProcName,
    ProcExe,
    ProcExepath,
    ProcCmdline,
    ProcArgs,
    ProcPid,
    ProcPpid,
    ProcPname,
    ProcPcmdline,
    ProcPexe,
    ProcPexepath,
    ProcAname,
    ProcApid,
    ProcAexe,
    ProcAexepath,
    ProcAcmdline,
    ProcTty,
    ProcCwd,
    ProcSid,
    ProcIsExeFromMemfd,
    ProcDuration,
    ThreadTid,
    FdNum,
    FdName,
    FdNameraw,
    FdDirectory,
    FdFilename,
    FdType,
    FdTypechar,
    FdSip,
    FdDip,
    FdCip,
    FdLip,
    FdRip,
    FdSport,
    FdDport,
    FdCport,
    FdLport,
    FdRport,
    FdNet,
    FdSnet,
    FdCnet,
    FdLnet,
    FdRnet,
    FdL4proto,
    UserName,
    UserUid,
    UserLoginuid,
    UserLoginname,
    GroupName,
    GroupGid,
    ContainerId,
}

/// One row of the field table.
#[derive(Clone, Copy, Debug)]
pub struct FieldDef {
    /// Falco's name.
    pub name: &'static str,
    /// Which arm of the evaluator.
    pub id: FieldId,
    /// Its type.
    pub ty: FieldType,
    /// What may follow in brackets.
    pub arg: ArgMode,
    /// Which events give it a value.
    pub events: &'static str,
    /// How it is computed.
    pub computed: &'static str,
    /// How the kernel side could test it, if it can (`None`: userspace only).
    pub kernel: Option<&'static str>,
}

use ArgMode as A;
use FieldId as F;
use FieldType as T;

macro_rules! row {
    ($name:literal, $id:ident, $ty:ident, $arg:ident, $events:literal, $how:literal, $k:expr) => {
        FieldDef {
            name: $name,
            id: F::$id,
            ty: T::$ty,
            arg: A::$arg,
            events: $events,
            computed: $how,
            kernel: $k,
        }
    };
}

/// The field table.
pub const FIELDS: &[FieldDef] = &[
    row!("evt.type", EvtType, Str, None, "all", "the syscall's name", Some("one program per syscall tracepoint")),
    row!("evt.dir", EvtDir, Str, None, "all", "'>' enter, '<' exit", Some("the tracepoint (sys_enter/sys_exit)")),
    row!("evt.time", EvtTime, Str, None, "all", "the event time of day with nanoseconds, HH:MM:SS.nnnnnnnnn (UTC)", None),
    row!("evt.time.iso8601", EvtTimeIso, Str, None, "all", "the event time, RFC 3339 with nanoseconds (UTC)", None),
    row!("evt.rawtime", EvtRawtime, Num, None, "all", "the event time in ns since the epoch", None),
    row!("evt.res", EvtRes, Str, None, "exit events", "SUCCESS, or the errno name of a negative return", None),
    row!("evt.rawres", EvtRawres, Num, None, "exit events", "the return value", Some("sys_exit ret")),
    row!("evt.arg", EvtArg, Dyn, Arg, "syscalls with that argument", "the argument by name (evt.arg.flags) or position (evt.arg[0]), rendered like Falco (flags as O_RDONLY|O_CLOEXEC)", Some("integer arguments of sys_enter")),
    row!("evt.rawarg", EvtRawarg, Dyn, Arg, "syscalls with that argument", "the argument's raw value (numbers as numbers, strings as is)", Some("integer arguments of sys_enter")),
    row!("evt.args", EvtArgs, Str, None, "all", "every argument as name=value, space separated", None),
    row!("evt.is_open_read", EvtIsOpenRead, Bool, None, "open, openat, openat2, creat", "access mode O_RDONLY or O_RDWR", Some("flags & O_ACCMODE")),
    row!("evt.is_open_write", EvtIsOpenWrite, Bool, None, "open, openat, openat2, creat", "access mode O_WRONLY or O_RDWR (creat always)", Some("flags & O_ACCMODE")),
    row!("evt.category", EvtCategory, Str, None, "all", "file, net, process or other, by syscall", None),
    row!("proc.name", ProcName, Str, None, "all", "the process's comm (process table)", Some("bpf_get_current_comm, 15 bytes")),
    row!("proc.exe", ProcExe, Str, None, "all", "argv[0]", None),
    row!("proc.exepath", ProcExepath, Str, None, "all", "the executable's full path (/proc/PID/exe, exec filename)", None),
    row!("proc.cmdline", ProcCmdline, Str, None, "all", "proc.name and the arguments, space separated", None),
    row!("proc.args", ProcArgs, Str, None, "all", "argv[1..], space separated", None),
    row!("proc.pid", ProcPid, Num, None, "all", "the tgid", Some("bpf_get_current_pid_tgid >> 32")),
    row!("proc.ppid", ProcPpid, Num, None, "all", "the parent's tgid (process table)", None),
    row!("proc.pname", ProcPname, Str, None, "all", "the parent's proc.name", None),
    row!("proc.pcmdline", ProcPcmdline, Str, None, "all", "the parent's proc.cmdline", None),
    row!("proc.pexe", ProcPexe, Str, None, "all", "the parent's proc.exe", None),
    row!("proc.pexepath", ProcPexepath, Str, None, "all", "the parent's proc.exepath", None),
    row!("proc.aname", ProcAname, Str, OptIndex, "all", "[0] the process, [1] its parent, ...; without an index any ancestor (parent upward)", None),
    row!("proc.apid", ProcApid, Num, OptIndex, "all", "pids of proc.aname", None),
    row!("proc.aexe", ProcAexe, Str, OptIndex, "all", "proc.exe of an ancestor, indexed like proc.aname", None),
    row!("proc.aexepath", ProcAexepath, Str, OptIndex, "all", "proc.exepath of an ancestor, indexed like proc.aname", None),
    row!("proc.acmdline", ProcAcmdline, Str, OptIndex, "all", "proc.cmdline of an ancestor, indexed like proc.aname", None),
    row!("proc.tty", ProcTty, Num, None, "all", "the controlling terminal's device number (0: none)", None),
    row!("proc.cwd", ProcCwd, Str, None, "all", "the working directory (seeded from /proc, kept by chdir/fchdir)", None),
    row!("proc.sid", ProcSid, Num, None, "all", "the session id", None),
    row!("proc.is_exe_from_memfd", ProcIsExeFromMemfd, Bool, None, "all", "the executable is a memfd (/memfd:...)", None),
    row!("proc.duration", ProcDuration, Num, None, "all", "ns since the process started (fork or exec seen, or seeded: large)", None),
    row!("thread.tid", ThreadTid, Num, None, "all", "the thread id", Some("bpf_get_current_pid_tgid")),
    row!("fd.num", FdNum, Num, None, "syscalls with an fd", "the fd number (the result for open/socket/dup/accept)", None),
    row!("fd.name", FdName, Str, None, "syscalls with an fd", "a file's resolved path; a socket's tuple cip:cport->sip:sport", Some("the path argument, unresolved, for prefix tests")),
    row!("fd.nameraw", FdNameraw, Str, None, "open family", "the path as passed, unresolved", Some("the path argument")),
    row!("fd.directory", FdDirectory, Str, None, "file fds", "the directory of fd.name", None),
    row!("fd.filename", FdFilename, Str, None, "file fds", "the last component of fd.name", None),
    row!("fd.type", FdType, Str, None, "syscalls with an fd", "file, directory, ipv4, ipv6, unix, pipe, event, signalfd, eventpoll, inotify, timerfd, netlink, memfd", None),
    row!("fd.typechar", FdTypechar, Str, None, "syscalls with an fd", "f d 4 6 u p e s l i t n m o", None),
    row!("fd.sip", FdSip, Ip, None, "inet sockets", "server address (the peer for connect, local for accept)", None),
    row!("fd.dip", FdDip, Ip, None, "inet sockets", "destination address (kestrel: same as fd.sip)", None),
    row!("fd.cip", FdCip, Ip, None, "inet sockets", "client address", None),
    row!("fd.lip", FdLip, Ip, None, "inet sockets", "local address", None),
    row!("fd.rip", FdRip, Ip, None, "inet sockets", "remote address", None),
    row!("fd.sport", FdSport, Num, None, "inet sockets", "server port", Some("connect's sockaddr port")),
    row!("fd.dport", FdDport, Num, None, "inet sockets", "destination port (kestrel: same as fd.sport)", Some("connect's sockaddr port")),
    row!("fd.cport", FdCport, Num, None, "inet sockets", "client port", None),
    row!("fd.lport", FdLport, Num, None, "inet sockets", "local port", None),
    row!("fd.rport", FdRport, Num, None, "inet sockets", "remote port", None),
    row!("fd.net", FdNet, Ip, None, "inet sockets", "either end's address, for CIDR tests (fd.net in (10.0.0.0/8))", None),
    row!("fd.snet", FdSnet, Ip, None, "inet sockets", "fd.sip, for CIDR tests", None),
    row!("fd.cnet", FdCnet, Ip, None, "inet sockets", "fd.cip, for CIDR tests", None),
    row!("fd.lnet", FdLnet, Ip, None, "inet sockets", "fd.lip, for CIDR tests", None),
    row!("fd.rnet", FdRnet, Ip, None, "inet sockets", "fd.rip, for CIDR tests", None),
    row!("fd.l4proto", FdL4proto, Str, None, "sockets", "tcp, udp, icmp or raw (from socket(2)'s type and protocol)", None),
    row!("user.name", UserName, Str, None, "all", "/etc/passwd name of the uid", None),
    row!("user.uid", UserUid, Num, None, "all", "the real uid", Some("bpf_get_current_uid_gid")),
    row!("user.loginuid", UserLoginuid, Num, None, "all", "the audit login uid (-1: unset)", None),
    row!("user.loginname", UserLoginname, Str, None, "all", "/etc/passwd name of the login uid", None),
    row!("group.name", GroupName, Str, None, "all", "/etc/group name of the gid", None),
    row!("group.gid", GroupGid, Num, None, "all", "the real gid", Some("bpf_get_current_uid_gid")),
    row!("container.id", ContainerId, Str, None, "all", "12 hex digits from the cgroup path (docker, containerd, cri-o, podman), 'host' outside containers", None),
];

/// The row for `name` (`evt.arg.X` maps to the `evt.arg` row).
pub fn lookup(name: &str) -> Option<&'static FieldDef> {
    let base = if name.starts_with("evt.arg.") {
        "evt.arg"
    } else if name.starts_with("evt.rawarg.") {
        "evt.rawarg"
    } else {
        name
    };
    FIELDS.iter().find(|f| f.name == base)
}

/// Why a field Falco knows is not evaluated here, or `None` when kestrel does not know the
/// name at all (a typo).
pub fn unsupported_reason(name: &str) -> Option<&'static str> {
    // Whole classes kestrel does not compute.
    const CLASSES: &[(&str, &str)] = &[
        ("k8s.", "Kubernetes metadata needs the container runtime and API server, which kestrel guard does not query"),
        ("k8smeta.", "Kubernetes metadata needs the API server"),
        ("container.", "container metadata other than container.id needs the container runtime"),
        ("thread.cap", "thread capabilities are not captured by the tracepoints"),
        ("thread.", "this thread field is not captured"),
        ("fs.path.", "fs.path fields are not computed"),
        ("fdlist.", "fdlist fields (poll/select) are not captured"),
        ("syslog.", "syslog fields are not captured"),
        ("span.", "tracer spans are not captured"),
        ("mesos.", "Mesos metadata is not available"),
        ("ka.", "k8s audit events are another source"),
        ("jevt.", "JSON events are another source"),
    ];
    // Falco fields of the classes kestrel does compute, that it does not keep.
    const NAMES: &[&str] = &[
        "proc.exeline",
        "proc.env",
        "proc.vpid",
        "proc.pvpid",
        "proc.vpgid",
        "proc.vpgid.name",
        "proc.vpgid.exe",
        "proc.vpgid.exepath",
        "proc.sname",
        "proc.sid.exe",
        "proc.sid.exepath",
        "proc.loginshellid",
        "proc.exe_ino",
        "proc.exe_ino.ctime",
        "proc.exe_ino.mtime",
        "proc.exe_ino.ctime_duration_proc_start",
        "proc.exe_ino.ctime_duration_pidns_start",
        "proc.pidns_init_start_ts",
        "proc.is_exe_writable",
        "proc.is_exe_upper_layer",
        "proc.is_sid_leader",
        "proc.is_vpgid_leader",
        "proc.nthreads",
        "proc.nchilds",
        "proc.fdopencount",
        "proc.fdlimit",
        "proc.fdusage",
        "proc.vmsize",
        "proc.vmrss",
        "proc.vmswap",
        "proc.pfmajor",
        "proc.pfminor",
        "proc.ppid.duration",
        "proc.pid.ts",
        "proc.ppid.ts",
        "proc.stdin.type",
        "proc.stdin.name",
        "proc.stdout.type",
        "proc.stdout.name",
        "proc.stderr.type",
        "proc.stderr.name",
        "proc.is_container_healthcheck",
        "proc.is_container_liveness_probe",
        "proc.is_container_readiness_probe",
        "proc.cmdnargs",
        "proc.cmdlenargs",
        "proc.cap_permitted",
        "proc.cap_inheritable",
        "proc.cap_effective",
        "proc.exe_writable",
        "fd.uid",
        "fd.containername",
        "fd.containerdirectory",
        "fd.proto",
        "fd.cproto",
        "fd.sproto",
        "fd.lproto",
        "fd.rproto",
        "fd.connected",
        "fd.name_changed",
        "fd.cip.name",
        "fd.sip.name",
        "fd.lip.name",
        "fd.rip.name",
        "fd.dev",
        "fd.dev.major",
        "fd.dev.minor",
        "fd.ino",
        "fd.types",
        "fd.ip",
        "fd.port",
        "fd.is_upper_layer",
        "fd.nameraw_changed",
        "evt.num",
        "evt.datetime",
        "evt.datetime.s",
        "evt.time.s",
        "evt.reltime",
        "evt.deltatime",
        "evt.cpu",
        "evt.info",
        "evt.buffer",
        "evt.buflen",
        "evt.around",
        "evt.abspath",
        "evt.abspath.src",
        "evt.abspath.dst",
        "evt.is_io",
        "evt.is_io_read",
        "evt.is_io_write",
        "evt.io_dir",
        "evt.is_wait",
        "evt.wait_latency",
        "evt.is_syslog",
        "evt.count",
        "evt.count.error",
        "evt.is_open_exec",
        "evt.is_open_create",
        "evt.latency",
        "evt.source",
        "evt.hostname",
        "evt.plugininfo",
        "evt.asynctype",
        "evt.pluginname",
        "evt.failed",
        "user.homedir",
        "user.shell",
    ];
    if NAMES.contains(&name) || name.starts_with("evt.count.") {
        return Some("Falco defines this field, but kestrel guard does not compute it");
    }
    CLASSES
        .iter()
        .find(|(p, _)| name.starts_with(p))
        .map(|(_, r)| *r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_is_unique_and_found() {
        for (i, f) in FIELDS.iter().enumerate() {
            assert!(
                FIELDS[..i].iter().all(|g| g.name != f.name && g.id != f.id),
                "{}",
                f.name
            );
            assert_eq!(lookup(f.name).map(|r| r.id), Some(f.id));
        }
        assert_eq!(lookup("evt.arg.flags").map(|r| r.id), Some(FieldId::EvtArg));
        assert!(lookup("proc.nam").is_none());
        assert!(unsupported_reason("k8s.ns.name").is_some());
        assert!(unsupported_reason("thread.cap_effective").is_some());
        assert!(unsupported_reason("procc.name").is_none());
        assert!(unsupported_reason("proc.nme").is_none());
        assert!(unsupported_reason("fd.connected").is_some());
    }
}
