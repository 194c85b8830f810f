//! The syscalls kestrel guard understands: each one's arguments by Falco's names, how to
//! render them, and which fd the event is about. The capture side attaches to
//! `syscalls:sys_enter_NAME` and `syscalls:sys_exit_NAME` for exactly the syscalls the loaded
//! rules need ([`crate::analysis`]) and fills the arguments listed here.

/// How an argument is read and shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ArgKind {
    /// A file descriptor (AT_FDCWD = -100 is shown as `AT_FDCWD`).
    Fd,
    /// A path string, unresolved.
    Path,
    /// A string.
    Str,
    /// A plain integer.
    Int,
    /// open(2) flags: `O_WRONLY|O_CREAT|O_TRUNC`.
    OpenFlags,
    /// A file mode, shown in octal.
    Mode,
    /// ptrace(2) request: `PTRACE_ATTACH`.
    PtraceRequest,
    /// socket(2) domain: `AF_PACKET`.
    SockDomain,
    /// socket(2) type: `SOCK_STREAM|SOCK_CLOEXEC`.
    SockType,
    /// A socket address.
    SockAddr,
    /// `AT_*` flags (unlinkat, linkat).
    AtFlags,
    /// memfd_create(2) flags: `MFD_CLOEXEC`.
    MemfdFlags,
    /// argv.
    Strs,
}

/// One argument of a syscall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArgDef {
    /// Falco's name (`evt.arg.NAME`); `evt.arg[N]` is the N-th in this list.
    pub name: &'static str,
    /// How it is read and shown.
    pub kind: ArgKind,
}

/// Which fd `fd.*` fields describe for a syscall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FdFrom {
    /// The return value is a new fd (open, socket, accept, dup, memfd_create).
    Res,
    /// The argument with this name.
    Arg(&'static str),
    /// No fd (execve, ptrace, ...).
    None,
}

/// One syscall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyscallDef {
    /// Its name, as `evt.type` shows it and as its tracepoints are named.
    pub name: &'static str,
    /// Its arguments (enter arguments; the exit adds only `res`).
    pub args: &'static [ArgDef],
    /// Which fd it is about.
    pub fd: FdFrom,
}

const fn a(name: &'static str, kind: ArgKind) -> ArgDef {
    ArgDef { name, kind }
}

use ArgKind::*;

/// Every syscall kestrel guard evaluates rules on.
pub const SYSCALLS: &[SyscallDef] = &[
    SyscallDef {
        name: "open",
        args: &[a("name", Path), a("flags", OpenFlags), a("mode", Mode)],
        fd: FdFrom::Res,
    },
    SyscallDef {
        name: "openat",
        args: &[
            a("dirfd", Fd),
            a("name", Path),
            a("flags", OpenFlags),
            a("mode", Mode),
        ],
        fd: FdFrom::Res,
    },
    SyscallDef {
        name: "openat2",
        args: &[
            a("dirfd", Fd),
            a("name", Path),
            a("flags", OpenFlags),
            a("mode", Mode),
            a("resolve", Int),
        ],
        fd: FdFrom::Res,
    },
    SyscallDef {
        name: "creat",
        args: &[a("name", Path), a("mode", Mode)],
        fd: FdFrom::Res,
    },
    SyscallDef {
        name: "execve",
        args: &[a("filename", Path), a("args", Strs)],
        fd: FdFrom::None,
    },
    SyscallDef {
        name: "execveat",
        args: &[
            a("dirfd", Fd),
            a("pathname", Path),
            a("args", Strs),
            a("flags", AtFlags),
        ],
        fd: FdFrom::None,
    },
    SyscallDef {
        name: "connect",
        args: &[a("fd", Fd), a("addr", SockAddr)],
        fd: FdFrom::Arg("fd"),
    },
    SyscallDef {
        name: "bind",
        args: &[a("fd", Fd), a("addr", SockAddr)],
        fd: FdFrom::Arg("fd"),
    },
    SyscallDef {
        name: "accept",
        args: &[a("fd", Fd), a("addr", SockAddr)],
        fd: FdFrom::Res,
    },
    SyscallDef {
        name: "accept4",
        args: &[a("fd", Fd), a("addr", SockAddr), a("flags", Int)],
        fd: FdFrom::Res,
    },
    SyscallDef {
        name: "socket",
        args: &[
            a("domain", SockDomain),
            a("type", SockType),
            a("proto", Int),
        ],
        fd: FdFrom::Res,
    },
    SyscallDef {
        name: "close",
        args: &[a("fd", Fd)],
        fd: FdFrom::Arg("fd"),
    },
    SyscallDef {
        name: "dup",
        args: &[a("fd", Fd)],
        fd: FdFrom::Res,
    },
    SyscallDef {
        name: "dup2",
        args: &[a("oldfd", Fd), a("newfd", Fd)],
        fd: FdFrom::Res,
    },
    SyscallDef {
        name: "dup3",
        args: &[a("oldfd", Fd), a("newfd", Fd), a("flags", OpenFlags)],
        fd: FdFrom::Res,
    },
    SyscallDef {
        name: "ptrace",
        args: &[
            a("request", PtraceRequest),
            a("pid", Int),
            a("addr", Int),
            a("data", Int),
        ],
        fd: FdFrom::None,
    },
    SyscallDef {
        name: "memfd_create",
        args: &[a("name", Str), a("flags", MemfdFlags)],
        fd: FdFrom::Res,
    },
    SyscallDef {
        name: "unlink",
        args: &[a("path", Path)],
        fd: FdFrom::None,
    },
    SyscallDef {
        name: "unlinkat",
        args: &[a("dirfd", Fd), a("name", Path), a("flags", AtFlags)],
        fd: FdFrom::None,
    },
    SyscallDef {
        name: "symlink",
        args: &[a("target", Str), a("linkpath", Path)],
        fd: FdFrom::None,
    },
    SyscallDef {
        name: "symlinkat",
        args: &[a("target", Str), a("linkdirfd", Fd), a("linkpath", Path)],
        fd: FdFrom::None,
    },
    SyscallDef {
        name: "link",
        args: &[a("oldpath", Path), a("newpath", Path)],
        fd: FdFrom::None,
    },
    SyscallDef {
        name: "linkat",
        args: &[
            a("olddir", Fd),
            a("oldpath", Path),
            a("newdir", Fd),
            a("newpath", Path),
            a("flags", AtFlags),
        ],
        fd: FdFrom::None,
    },
    SyscallDef {
        name: "init_module",
        args: &[a("len", Int), a("uargs", Str)],
        fd: FdFrom::None,
    },
    SyscallDef {
        name: "finit_module",
        args: &[a("fd", Fd), a("uargs", Str), a("flags", Int)],
        fd: FdFrom::Arg("fd"),
    },
    SyscallDef {
        name: "chdir",
        args: &[a("path", Path)],
        fd: FdFrom::None,
    },
    SyscallDef {
        name: "fchdir",
        args: &[a("fd", Fd)],
        fd: FdFrom::Arg("fd"),
    },
];

/// The syscalls whose successful exits keep the fd table and cwd right; the capture side
/// traces them whenever any rule uses `fd.*` or `proc.cwd` fields.
pub const TABLE_SYSCALLS: &[&str] = &[
    "open",
    "openat",
    "openat2",
    "creat",
    "socket",
    "connect",
    "bind",
    "accept",
    "accept4",
    "close",
    "dup",
    "dup2",
    "dup3",
    "memfd_create",
    "chdir",
    "fchdir",
];

/// The definition of syscall `name`.
pub fn lookup(name: &str) -> Option<&'static SyscallDef> {
    SYSCALLS.iter().find(|s| s.name == name)
}

/// `AT_FDCWD`.
pub const AT_FDCWD: i64 = -100;

const OPEN_FLAGS: &[(i64, &str)] = &[
    (0o100, "O_CREAT"),
    (0o200, "O_EXCL"),
    (0o400, "O_NOCTTY"),
    (0o1000, "O_TRUNC"),
    (0o2000, "O_APPEND"),
    (0o4000, "O_NONBLOCK"),
    (0o4010000, "O_SYNC"),
    (0o10000, "O_DSYNC"),
    (0o40000, "O_DIRECT"),
    (0o100000, "O_LARGEFILE"),
    (0o200000, "O_DIRECTORY"),
    (0o400000, "O_NOFOLLOW"),
    (0o1000000, "O_NOATIME"),
    (0o2000000, "O_CLOEXEC"),
    (0o10000000, "O_PATH"),
    (0o20000000, "O_TMPFILE"),
];

/// `O_WRONLY`/`O_RDWR` access mode bits.
pub const O_ACCMODE: i64 = 3;
/// `O_DIRECTORY`.
pub const O_DIRECTORY: i64 = 0o200000;
/// `O_CLOEXEC`.
pub const O_CLOEXEC: i64 = 0o2000000;
/// `O_PATH`.
pub const O_PATH: i64 = 0o10000000;

const PTRACE: &[(i64, &str)] = &[
    (0, "PTRACE_TRACEME"),
    (1, "PTRACE_PEEKTEXT"),
    (2, "PTRACE_PEEKDATA"),
    (3, "PTRACE_PEEKUSR"),
    (4, "PTRACE_POKETEXT"),
    (5, "PTRACE_POKEDATA"),
    (6, "PTRACE_POKEUSR"),
    (7, "PTRACE_CONT"),
    (8, "PTRACE_KILL"),
    (9, "PTRACE_SINGLESTEP"),
    (12, "PTRACE_GETREGS"),
    (13, "PTRACE_SETREGS"),
    (14, "PTRACE_GETFPREGS"),
    (15, "PTRACE_SETFPREGS"),
    (16, "PTRACE_ATTACH"),
    (17, "PTRACE_DETACH"),
    (24, "PTRACE_SYSCALL"),
    (0x4200, "PTRACE_SETOPTIONS"),
    (0x4201, "PTRACE_GETEVENTMSG"),
    (0x4202, "PTRACE_GETSIGINFO"),
    (0x4203, "PTRACE_SETSIGINFO"),
    (0x4204, "PTRACE_GETREGSET"),
    (0x4205, "PTRACE_SETREGSET"),
    (0x4206, "PTRACE_SEIZE"),
    (0x4207, "PTRACE_INTERRUPT"),
    (0x4208, "PTRACE_LISTEN"),
];

const DOMAINS: &[(i64, &str)] = &[
    (0, "AF_UNSPEC"),
    (1, "AF_UNIX"),
    (2, "AF_INET"),
    (10, "AF_INET6"),
    (16, "AF_NETLINK"),
    (17, "AF_PACKET"),
];

/// `AF_UNIX`, `AF_INET`, `AF_INET6`, `AF_NETLINK`, `AF_PACKET`.
pub const AF_UNIX: i64 = 1;
/// `AF_INET`.
pub const AF_INET: i64 = 2;
/// `AF_INET6`.
pub const AF_INET6: i64 = 10;
/// `AF_NETLINK`.
pub const AF_NETLINK: i64 = 16;
/// `AF_PACKET`.
pub const AF_PACKET: i64 = 17;

const SOCK_TYPES: &[(i64, &str)] = &[
    (1, "SOCK_STREAM"),
    (2, "SOCK_DGRAM"),
    (3, "SOCK_RAW"),
    (4, "SOCK_RDM"),
    (5, "SOCK_SEQPACKET"),
    (10, "SOCK_PACKET"),
];

const AT_FLAGS: &[(i64, &str)] = &[
    (0x100, "AT_SYMLINK_NOFOLLOW"),
    (0x200, "AT_REMOVEDIR"),
    (0x400, "AT_SYMLINK_FOLLOW"),
    (0x1000, "AT_EMPTY_PATH"),
];

const MFD_FLAGS: &[(i64, &str)] = &[
    (1, "MFD_CLOEXEC"),
    (2, "MFD_ALLOW_SEALING"),
    (4, "MFD_HUGETLB"),
];

/// Render an integer argument of `kind` the way Falco shows it.
pub fn render_int(kind: ArgKind, v: i64) -> String {
    let flag_list = |table: &[(i64, &str)], mut v: i64| -> Vec<String> {
        let mut out = Vec::new();
        for (bit, name) in table {
            if *bit != 0 && v & bit == *bit {
                out.push(name.to_string());
                v &= !bit;
            }
        }
        if v != 0 {
            out.push(format!("{v:#x}"));
        }
        out
    };
    match kind {
        Fd if v == AT_FDCWD => "AT_FDCWD".into(),
        OpenFlags => {
            let mut parts = vec![match v & O_ACCMODE {
                0 => "O_RDONLY".to_string(),
                1 => "O_WRONLY".to_string(),
                2 => "O_RDWR".to_string(),
                _ => "O_ACCMODE".to_string(),
            }];
            parts.extend(flag_list(OPEN_FLAGS, v & !O_ACCMODE));
            parts.join("|")
        }
        Mode => format!("0{:o}", v),
        PtraceRequest => PTRACE
            .iter()
            .find(|(n, _)| *n == v)
            .map_or_else(|| v.to_string(), |(_, s)| s.to_string()),
        SockDomain => DOMAINS
            .iter()
            .find(|(n, _)| *n == v)
            .map_or_else(|| v.to_string(), |(_, s)| s.to_string()),
        SockType => {
            let base = v & 0xf;
            let mut parts = vec![SOCK_TYPES
                .iter()
                .find(|(n, _)| *n == base)
                .map_or_else(|| base.to_string(), |(_, s)| s.to_string())];
            if v & 0o4000 != 0 {
                parts.push("SOCK_NONBLOCK".into());
            }
            if v & 0o2000000 != 0 {
                parts.push("SOCK_CLOEXEC".into());
            }
            parts.join("|")
        }
        AtFlags => {
            let l = flag_list(AT_FLAGS, v);
            if l.is_empty() {
                "0".into()
            } else {
                l.join("|")
            }
        }
        MemfdFlags => {
            let l = flag_list(MFD_FLAGS, v);
            if l.is_empty() {
                "0".into()
            } else {
                l.join("|")
            }
        }
        _ => v.to_string(),
    }
}

/// The number of a flag or enum name of `kind` (`PTRACE_ATTACH` → 16, `O_TRUNC` → 0o1000),
/// for conditions written with names that the kernel side tests as numbers.
pub fn name_value(kind: ArgKind, name: &str) -> Option<i64> {
    let table: &[(i64, &str)] = match kind {
        OpenFlags => match name {
            "O_RDONLY" => return Some(0),
            "O_WRONLY" => return Some(1),
            "O_RDWR" => return Some(2),
            _ => OPEN_FLAGS,
        },
        PtraceRequest => PTRACE,
        SockDomain => DOMAINS,
        SockType => SOCK_TYPES,
        AtFlags => AT_FLAGS,
        MemfdFlags => MFD_FLAGS,
        _ => return None,
    };
    table.iter().find(|(_, s)| *s == name).map(|(v, _)| *v)
}

/// The values of every enum name of `kind` that contains `text`.
pub fn names_containing(kind: ArgKind, text: &str) -> Vec<i64> {
    let table: &[(i64, &str)] = match kind {
        PtraceRequest => PTRACE,
        SockDomain => DOMAINS,
        _ => return Vec::new(),
    };
    table
        .iter()
        .filter(|(_, s)| s.contains(text))
        .map(|(v, _)| *v)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_flags_like_falco() {
        assert_eq!(render_int(OpenFlags, 0o1101), "O_WRONLY|O_CREAT|O_TRUNC");
        assert_eq!(render_int(OpenFlags, 0o2000000), "O_RDONLY|O_CLOEXEC");
        assert_eq!(render_int(PtraceRequest, 16), "PTRACE_ATTACH");
        assert_eq!(render_int(SockDomain, 17), "AF_PACKET");
        assert_eq!(
            render_int(SockType, 1 | 0o2000000),
            "SOCK_STREAM|SOCK_CLOEXEC"
        );
        assert_eq!(render_int(Fd, -100), "AT_FDCWD");
        assert_eq!(render_int(Mode, 0o644), "0644");
        assert_eq!(render_int(AtFlags, 0x200), "AT_REMOVEDIR");
        for s in SYSCALLS {
            assert_eq!(lookup(s.name), Some(s));
        }
    }
}
