//! `kestrel filter`: tcpdump's pcap-filter expressions compiled by kestrel to eBPF.
//!
//! Pipeline: [`lexer`] → [`parser`] (tcpdump's grammar, qualifiers resolved, VLAN shifts
//! applied) → [`ast`] → [`lower`] (libpcap's meaning of each primitive as packet tests) →
//! [`codegen`] (eBPF with direct packet access and verifier-friendly bounds checks).
//!
//! Three products:
//! - [`compile`]: a whole XDP or tc program that passes matching frames and drops the rest;
//! - [`compile_match`]: a fragment for the firewall (r6 = frame start, r7 = frame end on
//!   entry; falls through with r0 = 1 on match, 0 otherwise);
//! - [`testrun`]: a pcap file run through the program with `BPF_PROG_TEST_RUN`.
//!
//! ```
//! let frag = kestrel_net::filter::compile_match("tcp port 22 or udp port 53")?;
//! assert!(!frag.is_empty());
//! let err = kestrel_net::filter::compile_match("tcp port 22 and gateway x").unwrap_err();
//! assert_eq!(err.pos, 16);
//! # Ok::<(), kestrel_net::filter::FilterError>(())
//! ```

pub mod ast;
pub mod codegen;
pub mod lexer;
pub mod lower;
pub mod parser;
pub mod pcap;
pub mod services;
pub mod testrun;

use kestrel_isa::{helper, AluOp, Insn, JmpOp, Reg, Size};

use codegen::{Gen, LenSource};
use kestrel_isa::builder::Asm;

/// A filter that does not compile: what is wrong and where (byte offset in the expression).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("filter expression, column {}: {message}", .pos + 1)]
pub struct FilterError {
    /// Byte offset of the offending token.
    pub pos: usize,
    /// What is wrong.
    pub message: String,
}

impl FilterError {
    /// An error at byte `pos`.
    pub fn new(pos: usize, message: impl Into<String>) -> FilterError {
        FilterError {
            pos,
            message: message.into(),
        }
    }

    /// The error with the expression and a caret under the offending spot.
    pub fn render(&self, expr: &str) -> String {
        let col = expr
            .get(..self.pos.min(expr.len()))
            .map_or(0, |s| s.chars().count());
        format!("{self}\n  {expr}\n  {}^", " ".repeat(col))
    }
}

/// Where a whole program runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// XDP: `XDP_PASS` (2) on match, `XDP_DROP` (1) otherwise.
    Xdp,
    /// tc sched_cls (ingress or egress): `TC_ACT_OK` (0) on match, `TC_ACT_SHOT` (2)
    /// otherwise. Non-linear skbs are pulled first so every byte is readable.
    Tc,
}

impl Target {
    /// Return value on match.
    pub fn on_match(self) -> u32 {
        match self {
            Target::Xdp => 2,
            Target::Tc => 0,
        }
    }

    /// Return value when the filter does not match.
    pub fn on_miss(self) -> u32 {
        match self {
            Target::Xdp => 1,
            Target::Tc => 2,
        }
    }
}

/// A compiled whole program.
#[derive(Clone, Debug)]
pub struct Program {
    /// Instructions.
    pub insns: Vec<Insn>,
    /// Where it runs.
    pub target: Target,
}

/// Parses and lowers `expr`.
pub fn lower_expr(expr: &str) -> Result<lower::Pred, FilterError> {
    let ast = parser::parse(expr)?;
    Ok(lower::lower(&ast))
}

fn emit(a: &mut Asm<()>, pred: &lower::Pred, len: LenSource) -> Result<(), FilterError> {
    let miss = a.label();
    let done = a.label();
    let mut g = Gen::new(a, miss, len);
    g.cond(pred, false, miss)
        .map_err(|m| FilterError::new(0, m))?;
    a.push(Insn::mov64_imm(Reg::R0, 1));
    a.ja(done);
    a.bind(miss);
    a.push(Insn::mov64_imm(Reg::R0, 0));
    a.bind(done);
    Ok(())
}

/// Compiles `expr` to the firewall's match fragment: on entry r6 = first byte of the frame,
/// r7 = one past its last byte; it falls through with r0 = 1 (match) or 0; it clobbers r0–r5
/// and r8–r9 and uses no stack.
pub fn compile_match(expr: &str) -> Result<Vec<Insn>, FilterError> {
    let pred = lower_expr(expr)?;
    let mut a: Asm<()> = Asm::new();
    emit(&mut a, &pred, LenSource::PacketEnd)?;
    let (insns, _) = a.finish().map_err(|m| FilterError::new(0, m))?;
    Ok(insns)
}

/// Stack slot of the wire length in whole programs.
const LEN_SLOT: i16 = -4;
const CTX_SLOT: i16 = -16;

/// Compiles `expr` to a whole program for `target`.
pub fn compile(expr: &str, target: Target) -> Result<Program, FilterError> {
    compile_program(expr, target, false)
}

/// Like [`compile`] for XDP, but `len` is read from 4 bytes of XDP metadata in front of the
/// frame when present (how [`testrun`] passes a truncated packet's wire length).
pub fn compile_for_test(expr: &str) -> Result<Program, FilterError> {
    compile_program(expr, Target::Xdp, true)
}

fn compile_program(expr: &str, target: Target, meta_len: bool) -> Result<Program, FilterError> {
    let pred = lower_expr(expr)?;
    let mut a: Asm<()> = Asm::new();
    match target {
        Target::Xdp => {
            a.push(Insn::ldx(Size::W, Reg::R6, Reg::R1, 0));
            a.push(Insn::ldx(Size::W, Reg::R7, Reg::R1, 4));
            let plain = a.label();
            let stored = a.label();
            if meta_len {
                a.push(Insn::ldx(Size::W, Reg::R2, Reg::R1, 8));
                a.push(Insn::mov64_reg(Reg::R3, Reg::R2));
                a.push(Insn::alu64_imm(AluOp::Add, Reg::R3, 4));
                a.jmp_reg(JmpOp::Jgt, Reg::R3, Reg::R6, plain);
                a.push(Insn::ldx(Size::W, Reg::R3, Reg::R2, 0));
                a.push(Insn::stx(Size::W, Reg::R10, LEN_SLOT, Reg::R3));
                a.ja(stored);
            }
            a.bind(plain);
            a.push(Insn::mov64_reg(Reg::R3, Reg::R7));
            a.push(Insn::alu64_reg(AluOp::Sub, Reg::R3, Reg::R6));
            a.push(Insn::stx(Size::W, Reg::R10, LEN_SLOT, Reg::R3));
            a.bind(stored);
        }
        Target::Tc => {
            // __sk_buff: len at 0, data at 76, data_end at 80.
            a.push(Insn::stx(Size::DW, Reg::R10, CTX_SLOT, Reg::R1));
            a.push(Insn::ldx(Size::W, Reg::R2, Reg::R1, 0));
            a.push(Insn::stx(Size::W, Reg::R10, LEN_SLOT, Reg::R2));
            a.push(Insn::ldx(Size::W, Reg::R6, Reg::R1, 76));
            a.push(Insn::ldx(Size::W, Reg::R7, Reg::R1, 80));
            let linear = a.label();
            a.push(Insn::mov64_reg(Reg::R3, Reg::R7));
            a.push(Insn::alu64_reg(AluOp::Sub, Reg::R3, Reg::R6));
            a.jmp_reg(JmpOp::Jge, Reg::R3, Reg::R2, linear);
            // Make the whole packet directly readable, then reload the pointers.
            a.push(Insn::call_helper(helper::SKB_PULL_DATA));
            a.push(Insn::ldx(Size::DW, Reg::R1, Reg::R10, CTX_SLOT));
            a.push(Insn::ldx(Size::W, Reg::R6, Reg::R1, 76));
            a.push(Insn::ldx(Size::W, Reg::R7, Reg::R1, 80));
            a.bind(linear);
        }
    }
    emit(&mut a, &pred, LenSource::Stack(LEN_SLOT))?;
    // r0 = 1/0 → the target's verdicts.
    let hit = a.label();
    a.jmp_imm(JmpOp::Jne, Reg::R0, 0, hit);
    a.push(Insn::mov64_imm(Reg::R0, target.on_miss() as i32));
    a.push(Insn::exit());
    a.bind(hit);
    a.push(Insn::mov64_imm(Reg::R0, target.on_match() as i32));
    a.push(Insn::exit());
    let (insns, _) = a.finish().map_err(|m| FilterError::new(0, m))?;
    Ok(Program { insns, target })
}
