//! eBPF instruction set: encoding, decoding, disassembly and a text assembler.
//!
//! This crate owns the eBPF instruction format and nothing else: it knows no kernels, files or
//! languages. An [`Insn`] is one 8-byte instruction slot; a 64-bit immediate load occupies two
//! consecutive slots, exactly as in the kernel's `struct bpf_insn` arrays.
//!
//! - [`insn`](Insn) — the slot type and a typed builder for every instruction form;
//! - [`opcode`] — the raw opcode bits; [`helper`] — kernel helper ids and names;
//! - [`decode`] / [`encode`] / [`validate`] — wire format with the kernel's structural checks
//!   (v4 forms included: sdiv/smod, movsx, ldsx, bswap, `gotol`, all atomics);
//! - [`disassemble`] — text as printed by `bpftool prog dump xlated` / the verifier log;
//! - [`assemble`] — reads that text back, so every valid program round-trips.
//!
//! ```
//! use kestrel_isa::{assemble, decode, disassemble, encode, helper, Insn, Reg, Size};
//!
//! let mut prog = vec![
//!     Insn::mov64_reg(Reg::R6, Reg::R1),
//!     Insn::call_helper(helper::GET_CURRENT_PID_TGID),
//!     Insn::stx(Size::DW, Reg::R10, -8, Reg::R0),
//! ];
//! prog.extend(Insn::ld_map_fd(Reg::R1, 5));
//! prog.extend([Insn::mov64_imm(Reg::R0, 0), Insn::exit()]);
//!
//! let text = disassemble(&prog);
//! assert_eq!(
//!     text,
//!     "   0: (bf) r6 = r1\n\
//!     \x20  1: (85) call bpf_get_current_pid_tgid#14\n\
//!     \x20  2: (7b) *(u64 *)(r10 -8) = r0\n\
//!     \x20  3: (18) r1 = map[fd:5]\n\
//!     \x20  5: (b7) r0 = 0\n\
//!     \x20  6: (95) exit\n"
//! );
//! assert_eq!(assemble(&text)?, prog);
//! assert_eq!(decode(&encode(&prog))?, prog);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod helper;
pub mod opcode;

mod asm;
pub mod builder;
mod decode;
mod disasm;
mod insn;

pub use asm::{assemble, AsmError, AsmErrorKind};
pub use decode::{check_insn, decode, encode, validate, DecodeError, InsnError};
pub use disasm::{disassemble, disassemble_insn};
pub use insn::{AluOp, AtomicOp, Insn, JmpOp, Reg, Size};
