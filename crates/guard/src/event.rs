//! The events the engine consumes: one [`Event`] per traced syscall (the capture side merges
//! the enter and exit tracepoints into one exit event carrying both sets of arguments) and
//! [`ProcEvent`]s from the sched tracepoints for the process table.

use std::net::SocketAddr;

/// Direction of a syscall event, as Falco's `evt.dir` shows it (`>` enter, `<` exit).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dir {
    /// `>`: the syscall's entry (arguments only).
    Enter,
    /// `<`: its return (arguments and the result).
    Exit,
}

impl Dir {
    /// `>` or `<`.
    pub fn as_str(self) -> &'static str {
        match self {
            Dir::Enter => ">",
            Dir::Exit => "<",
        }
    }
}

/// A socket address argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SockAddr {
    /// AF_INET / AF_INET6 with its port.
    Inet(SocketAddr),
    /// AF_UNIX with its path ("" for unnamed, `@name` for abstract).
    Unix(String),
    /// Another family, by number.
    Other(u16),
}

/// One argument's value as the capture side delivers it: raw numbers for flags and enums
/// (the engine renders them by the syscall table), strings for paths read from user memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArgValue {
    /// Any integer: fds, flags, modes, pids, enums.
    Int(i64),
    /// A string or path as read from the process (not resolved).
    Str(String),
    /// A socket address.
    Sock(SockAddr),
    /// A string list (execve's argv).
    Strs(Vec<String>),
}

/// One syscall event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Wall-clock time in nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// Process id (tgid).
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// Syscall name as in [`crate::syscalls::SYSCALLS`] (`openat`, `connect`, ...).
    pub syscall: String,
    /// Enter or exit; kestrel's capture delivers exits with the enter arguments merged in.
    pub dir: Dir,
    /// Arguments by Falco's names (see the syscall table).
    pub args: Vec<(String, ArgValue)>,
    /// The return value (exit events), negative errno on failure.
    pub res: Option<i64>,
}

impl Event {
    /// An exit event with no arguments yet.
    pub fn exit(ts_ns: u64, pid: u32, syscall: &str, res: i64) -> Event {
        Event {
            ts_ns,
            pid,
            tid: pid,
            syscall: syscall.to_string(),
            dir: Dir::Exit,
            args: Vec::new(),
            res: Some(res),
        }
    }

    /// An enter event with no arguments yet.
    pub fn enter(ts_ns: u64, pid: u32, syscall: &str) -> Event {
        Event {
            dir: Dir::Enter,
            res: None,
            ..Event::exit(ts_ns, pid, syscall, 0)
        }
    }

    /// Add an integer argument.
    pub fn int(mut self, name: &str, v: i64) -> Event {
        self.args.push((name.to_string(), ArgValue::Int(v)));
        self
    }

    /// Add a string argument.
    pub fn str(mut self, name: &str, v: &str) -> Event {
        self.args
            .push((name.to_string(), ArgValue::Str(v.to_string())));
        self
    }

    /// Add a socket address argument.
    pub fn sock(mut self, name: &str, v: SockAddr) -> Event {
        self.args.push((name.to_string(), ArgValue::Sock(v)));
        self
    }

    /// Add a string-list argument.
    pub fn strs(mut self, name: &str, v: &[&str]) -> Event {
        self.args.push((
            name.to_string(),
            ArgValue::Strs(v.iter().map(|s| s.to_string()).collect()),
        ));
        self
    }

    /// The argument called `name`.
    pub fn arg(&self, name: &str) -> Option<&ArgValue> {
        self.args.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// The integer argument called `name`.
    pub fn int_arg(&self, name: &str) -> Option<i64> {
        match self.arg(name) {
            Some(ArgValue::Int(v)) => Some(*v),
            _ => None,
        }
    }

    /// The string argument called `name`.
    pub fn str_arg(&self, name: &str) -> Option<&str> {
        match self.arg(name) {
            Some(ArgValue::Str(v)) => Some(v),
            _ => None,
        }
    }
}

/// What an exec changed, from sched_process_exec and the exiting execve (fields the capture
/// side cannot read are `None` and are read from /proc when it is live).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecInfo {
    /// The path executed (sched_process_exec's `filename`).
    pub filename: String,
    /// argv, when captured.
    pub argv: Option<Vec<String>>,
    /// The new comm (task->comm after exec), when captured.
    pub comm: Option<String>,
    /// The resolved executable path (/proc/PID/exe), when captured.
    pub exepath: Option<String>,
}

/// Process lifecycle events from the sched tracepoints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProcEvent {
    /// sched_process_fork: `parent` created `child` (`thread` for CLONE_THREAD, which adds
    /// no process).
    Fork {
        /// Time (ns since the epoch).
        ts_ns: u64,
        /// The parent's tgid.
        parent: u32,
        /// The child's tgid (its tid when it is a new process).
        child: u32,
        /// True for a new thread of `parent`.
        thread: bool,
    },
    /// sched_process_exec.
    Exec {
        /// Time.
        ts_ns: u64,
        /// The tgid.
        pid: u32,
        /// What was executed.
        info: ExecInfo,
    },
    /// sched_process_exit of a thread group leader (the process is gone).
    Exit {
        /// Time.
        ts_ns: u64,
        /// The tgid.
        pid: u32,
    },
}
