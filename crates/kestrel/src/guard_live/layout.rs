//! The record the BPF programs write and userspace decodes, and where each syscall's
//! arguments (by Falco's names, from kestrel-guard's syscall table) come from in its
//! `sys_enter_X` tracepoint record (offsets read from the tracefs `format` file).

use kestrel_guard::syscalls::{self, ArgKind};
use kestrel_kernel::{KernelFacts, TracepointFormat, TracepointId};

/// Record kinds (first u32 of every record).
pub const KIND_SYSCALL: u32 = 1;
/// A new task (task_newtask): args[0] = child tid, args[1] = clone flags.
pub const KIND_FORK: u32 = 2;
/// sched_process_exec: str0 = filename, comm = the new comm.
pub const KIND_EXEC: u32 = 3;
/// sched_process_exit of the last thread of a process.
pub const KIND_EXIT: u32 = 4;

/// u32 kind.
pub const OFF_KIND: i16 = 0;
/// u32 index of the syscall in the attached list.
pub const OFF_SC: i16 = 4;
/// u64 bpf_ktime_get_ns at the exit.
pub const OFF_TS: i16 = 8;
/// u64 bpf_get_current_pid_tgid.
pub const OFF_PIDTGID: i16 = 16;
/// i64 return value.
pub const OFF_RES: i16 = 24;
/// u32 uid.
pub const OFF_UID: i16 = 32;
/// u32 flags: [`FLAG_KILLED`].
pub const OFF_FLAGS: i16 = 36;
/// u64 × 6 raw enter arguments.
pub const OFF_ARGS: i16 = 40;
/// char[16] comm at the exit.
pub const OFF_COMM: i16 = 88;
/// char[STR_LEN] first string argument (read at enter).
pub const OFF_STR0: i16 = 104;
/// Length of a string slot.
pub const STR_LEN: i16 = 256;
/// char[BUF_LEN]: a sockaddr or struct open_how (read at enter).
pub const OFF_BUF: i16 = OFF_STR0 + 2 * STR_LEN;
/// Length of the buffer slot.
pub const BUF_LEN: i16 = 128;
/// The whole record.
pub const REC_LEN: usize = (OFF_BUF + BUF_LEN) as usize;
/// The header of process records (no strings).
pub const PROC_LEN: usize = OFF_STR0 as usize;
/// Exec records carry str0.
pub const EXEC_LEN: usize = (OFF_STR0 + STR_LEN) as usize;

/// argv entries captured at execve.
pub const ARGV_MAX: usize = 4;
/// Bytes per captured argv entry (with its NUL).
pub const ARGV_LEN: usize = 64;

/// `flags` bit: the kernel program sent SIGKILL.
pub const FLAG_KILLED: u32 = 1;

/// Per-CPU counter slots.
pub const CNT_GENERATED: u32 = 0;
/// Records the ring buffer had no room for.
pub const CNT_LOST: u32 = 1;
/// SIGKILLs sent from the kernel.
pub const CNT_KILLED: u32 = 2;
/// Events seen at sys_exit (before the filter).
pub const CNT_SEEN: u32 = 3;
/// Number of counter slots.
pub const CNT_SLOTS: u32 = 4;

/// Where an argument's value is in the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Src {
    /// Raw enter argument `pos`; `wide` false for 32-bit C types (compare and sign-extend
    /// as 32 bits).
    Int {
        /// Position among the tracepoint's arguments.
        pos: usize,
        /// 64-bit C type.
        wide: bool,
    },
    /// A string read from user memory at enter into slot 0 or 1 (pointer at `pos`).
    Str {
        /// Pointer position.
        pos: usize,
        /// Slot.
        slot: usize,
    },
    /// A sockaddr read into the buffer (pointer at `pos`, length at `len_pos`).
    Sock {
        /// Pointer position.
        pos: usize,
        /// Length position.
        len_pos: usize,
    },
    /// argv: up to [`ARGV_MAX`] strings of [`ARGV_LEN`] bytes in string slot 1 (the
    /// pointer array at `pos` read into the buffer first).
    Argv {
        /// Position of the argv pointer.
        pos: usize,
    },
    /// A u64 at this offset of struct open_how (read into the buffer from `pos`).
    How {
        /// Pointer position.
        pos: usize,
        /// Byte offset in the struct.
        off: usize,
    },
}

/// One traced syscall: its tracepoints' layout and argument sources.
#[derive(Clone, Debug)]
pub struct SyscallLayout {
    /// Syscall name.
    pub name: String,
    /// Offsets (in the sys_enter record) of the raw arguments, in order.
    pub arg_offsets: Vec<i16>,
    /// Offset of `ret` in the sys_exit record.
    pub ret_offset: i16,
    /// Falco argument name → source (arguments the capture does not read are absent).
    pub args: Vec<(&'static str, Src)>,
}

impl SyscallLayout {
    /// The source of argument `name`.
    pub fn src(&self, name: &str) -> Option<Src> {
        self.args.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
    }

    /// The string slot of argument `name`, when it is a string.
    pub fn str_slot(&self, name: &str) -> Option<usize> {
        match self.src(name)? {
            Src::Str { slot, .. } => Some(slot),
            _ => None,
        }
    }
}

/// Why a syscall cannot be traced.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// No such tracepoint or unreadable format.
    #[error("tracepoint {0}: {1}")]
    Format(String, String),
    /// The format has fewer arguments than kestrel expects.
    #[error("tracepoint syscalls:sys_enter_{0} has {1} arguments, kestrel expects at least {2}")]
    Args(String, usize, usize),
}

fn format(facts: &dyn KernelFacts, name: &str) -> Result<TracepointFormat, LayoutError> {
    let id = TracepointId::new("syscalls", name);
    facts
        .tracepoint_format(&id)
        .map_err(|e| LayoutError::Format(format!("syscalls:{name}"), e.to_string()))
}

/// True for C types that are 64 bits wide on x86-64/arm64 (pointers, longs, size_t).
fn wide(c_type: &str) -> bool {
    c_type.contains('*') || c_type.contains("long") || c_type.contains("size_t")
}

/// The layout of syscall `name` from its tracepoint formats.
pub fn layout(facts: &dyn KernelFacts, name: &str) -> Result<SyscallLayout, LayoutError> {
    let enter = format(facts, &format!("sys_enter_{name}"))?;
    let exit = format(facts, &format!("sys_exit_{name}"))?;
    let kargs: Vec<(i16, bool)> = enter
        .fields
        .iter()
        .filter(|f| !f.common && f.name != "__syscall_nr")
        .map(|f| (f.offset as i16, wide(&f.c_type)))
        .collect();
    let ret_offset = exit
        .field("ret")
        .map(|f| f.offset as i16)
        .ok_or_else(|| LayoutError::Format(format!("syscalls:sys_exit_{name}"), "no ret".into()))?;
    let def = syscalls::lookup(name);
    let mut args = Vec::new();
    let mut slot = 0;
    let int = |pos: usize| Src::Int {
        pos,
        wide: kargs.get(pos).is_some_and(|k| k.1),
    };
    if let Some(def) = def {
        for (i, a) in def.args.iter().enumerate() {
            // Where Falco's order differs from the kernel's, or the value is not an argument.
            let src = match (name, a.name) {
                ("execve", "args") => Some(Src::Argv { pos: 1 }),
                ("execveat", "args") => Some(Src::Argv { pos: 2 }),
                ("execveat", "flags") => Some(int(4)),
                ("openat2", "flags") => Some(Src::How { pos: 2, off: 0 }),
                ("openat2", "mode") => Some(Src::How { pos: 2, off: 8 }),
                ("openat2", "resolve") => Some(Src::How { pos: 2, off: 16 }),
                ("init_module", "len") => Some(int(1)),
                ("init_module", "uargs") => Some(Src::Str { pos: 2, slot: 0 }),
                ("accept" | "accept4", "addr") => None,
                ("accept4", "flags") => Some(int(3)),
                (_, _) => match a.kind {
                    ArgKind::Path | ArgKind::Str if slot < 2 => {
                        slot += 1;
                        Some(Src::Str {
                            pos: i,
                            slot: slot - 1,
                        })
                    }
                    ArgKind::Path | ArgKind::Str | ArgKind::Strs => None,
                    ArgKind::SockAddr => Some(Src::Sock {
                        pos: i,
                        len_pos: i + 1,
                    }),
                    _ => Some(int(i)),
                },
            };
            if let Some(s) = src {
                let need = match s {
                    Src::Int { pos, .. }
                    | Src::Str { pos, .. }
                    | Src::How { pos, .. }
                    | Src::Argv { pos } => pos + 1,
                    Src::Sock { len_pos, .. } => len_pos + 1,
                };
                if need > kargs.len() {
                    return Err(LayoutError::Args(name.to_string(), kargs.len(), need));
                }
                args.push((a.name, s));
            }
        }
    }
    Ok(SyscallLayout {
        name: name.to_string(),
        arg_offsets: kargs.iter().take(6).map(|k| k.0).collect(),
        ret_offset,
        args,
    })
}

/// Offsets of the sched/task tracepoint fields the process-table programs read.
#[derive(Clone, Debug)]
pub struct ProcLayout {
    /// task_newtask: `pid` (the new task's id).
    pub newtask_pid: i16,
    /// task_newtask: `clone_flags`.
    pub newtask_flags: i16,
    /// sched_process_exec: `filename` (`__data_loc`).
    pub exec_filename: i16,
    /// sched_process_exit: `group_dead` (None on kernels without it: every exit of a
    /// thread-group leader counts).
    pub exit_group_dead: Option<i16>,
}

/// Reads the process-table tracepoints' formats.
pub fn proc_layout(facts: &dyn KernelFacts) -> Result<ProcLayout, LayoutError> {
    let get = |cat: &str, name: &str| {
        facts
            .tracepoint_format(&TracepointId::new(cat, name))
            .map_err(|e| LayoutError::Format(format!("{cat}:{name}"), e.to_string()))
    };
    let field = |f: &TracepointFormat, n: &str| {
        f.field(n)
            .map(|x| x.offset as i16)
            .ok_or_else(|| LayoutError::Format(f.id.to_string(), format!("no field {n}")))
    };
    let nt = get("task", "task_newtask")?;
    let ex = get("sched", "sched_process_exec")?;
    let xt = get("sched", "sched_process_exit")?;
    Ok(ProcLayout {
        newtask_pid: field(&nt, "pid")?,
        newtask_flags: field(&nt, "clone_flags")?,
        exec_filename: field(&ex, "filename")?,
        exit_group_dead: xt.field("group_dead").map(|x| x.offset as i16),
    })
}
