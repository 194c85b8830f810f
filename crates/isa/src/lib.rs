//! eBPF instruction set: encoding, decoding, disassembly and a text assembler.
//!
//! This crate owns the eBPF instruction format and nothing else: it knows no kernels, files or
//! languages. An [`Insn`] is one 8-byte instruction slot; a 64-bit immediate load occupies two
//! consecutive slots, exactly as in the kernel's `struct bpf_insn` arrays.
//!
//! ```
//! use kestrel_isa::{Insn, Reg, AluOp};
//! let prog = [Insn::mov64_imm(Reg::R0, 0), Insn::exit()];
//! assert_eq!(prog[1].to_bytes(), [0x95, 0, 0, 0, 0, 0, 0, 0]);
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod opcode;

mod insn;

pub use insn::{AluOp, AtomicOp, Insn, JmpOp, Reg, Size};
