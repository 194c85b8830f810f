//! Values read from a probe's context: arguments, return values, registers. Which ones a
//! probe offers, and where they live, depends on its type (see `sema::context`); codegen
//! only needs to know how to load them.

/// A value read from the probe context.
#[derive(Clone, Debug, PartialEq)]
pub enum ContextValue {
    /// The u64 at byte `offset` of the context: a `pt_regs` register of a uprobe, kprobe or
    /// perf event, or an argument of a raw tracepoint or kfunc.
    Word {
        /// Byte offset in the context.
        offset: u16,
    },
    /// `size` bytes of user memory at (context word at `base`) + `disp`, read with
    /// `bpf_probe_read_user` (0 when unreadable): stack arguments, usdt memory operands.
    UserMem {
        /// Byte offset of the base register in the context.
        base: u16,
        /// Displacement added to the register.
        disp: i32,
        /// Width in bytes (1, 2, 4, 8).
        size: u8,
        /// Sign-extend the value.
        signed: bool,
    },
}
