//! Statement-level functions that userspace carries out when the kernel asks (through an
//! event in the ring buffer): printing or clearing maps, running commands, formatting time.
//!
//! Each call site that userspace carries out becomes an [`ActionDecl`] in
//! [`Program::actions`](crate::ir::Program::actions); the probe only records its arguments in a
//! ring-buffer record tagged with the action's id, so the action happens in userspace at the
//! right point of the event stream (after the `printf`s before it, before those after it).
//! `signal()` and `debugf()` are carried out by the kernel itself.

use super::{Expr, MapId};
use crate::types::Type;

/// One action call site, as lowered by semantic analysis.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// An action userspace carries out: a record with `args` for [`ActionDecl`] number `id`.
    Event {
        /// Index into [`Program::actions`](crate::ir::Program::actions).
        id: usize,
        /// Arguments recorded in the event, in the order of [`ActionDecl::args`].
        args: Vec<Expr>,
    },
    /// `join(ptr [, sep])`: record up to [`JOIN_MAX_ARGS`] strings of the NULL-terminated
    /// string array at `ptr` (an `argv`) for userspace to join.
    Join {
        /// Index into [`Program::actions`](crate::ir::Program::actions).
        id: usize,
        /// The array's address (user memory).
        ptr: Expr,
    },
    /// `signal(sig)`: `bpf_send_signal` to the current process.
    Signal {
        /// The signal number.
        sig: Expr,
    },
    /// `debugf(fmt, args...)`: `bpf_trace_printk`, whose output goes to the kernel's trace
    /// pipe (`/sys/kernel/tracing/trace_pipe`), as in bpftrace.
    Debugf {
        /// The format, NUL-terminated by codegen.
        format: String,
        /// At most three integer arguments.
        args: Vec<Expr>,
    },
}

/// Most strings `join()` reads from its array, as in bpftrace.
pub const JOIN_MAX_ARGS: u32 = 16;

/// What userspace does with one action record.
#[derive(Clone, Debug, PartialEq)]
pub enum ActionKind {
    /// `print(@map [, top [, div]])`: print the map as it is now.
    PrintMap {
        /// Which map.
        map: MapId,
        /// Print only the `top` largest entries (0: all).
        top: u64,
        /// Divide every value by this (0 or 1: as is).
        div: u64,
    },
    /// `clear(@map)`: delete every element.
    ClearMap {
        /// Which map.
        map: MapId,
    },
    /// `zero(@map)`: set every value to zero, keeping the keys.
    ZeroMap {
        /// Which map.
        map: MapId,
    },
    /// `print(value)`: print one recorded value.
    PrintValue,
    /// `time(fmt)`: print the local time with a strftime(3) format.
    Time {
        /// The format (default `"%H:%M:%S\n"`).
        format: String,
    },
    /// `cat(fmt, args...)`: print the contents of the file the format names.
    Cat {
        /// printf-style format of the file name.
        format: String,
    },
    /// `system(fmt, args...)`: run the command through `/bin/sh -c` and print its output.
    System {
        /// printf-style format of the command.
        format: String,
    },
    /// `join(argv, sep)`: print the recorded strings joined by `sep`.
    Join {
        /// The separator (default one space).
        sep: String,
        /// Bytes kept per string.
        str_len: u32,
    },
}

/// One action call site: what to do and the types of the values its record carries.
#[derive(Clone, Debug, PartialEq)]
pub struct ActionDecl {
    /// What to do.
    pub kind: ActionKind,
    /// Types of the recorded arguments, in order.
    pub args: Vec<Type>,
}
