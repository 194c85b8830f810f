//! Every instruction form survives encode → decode → disassemble → assemble unchanged.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use kestrel_isa::{
    assemble, check_insn, decode, disassemble, disassemble_insn, encode, validate, AluOp, AtomicOp,
    Insn, JmpOp, Reg, Size,
};

const ALU_OPS: [AluOp; 12] = [
    AluOp::Add,
    AluOp::Sub,
    AluOp::Mul,
    AluOp::Div,
    AluOp::Or,
    AluOp::And,
    AluOp::Lsh,
    AluOp::Rsh,
    AluOp::Mod,
    AluOp::Xor,
    AluOp::Mov,
    AluOp::Arsh,
];
const JMP_CONDS: [JmpOp; 11] = [
    JmpOp::Jeq,
    JmpOp::Jgt,
    JmpOp::Jge,
    JmpOp::Jset,
    JmpOp::Jne,
    JmpOp::Jsgt,
    JmpOp::Jsge,
    JmpOp::Jlt,
    JmpOp::Jle,
    JmpOp::Jslt,
    JmpOp::Jsle,
];
const SIZES: [Size; 4] = [Size::B, Size::H, Size::W, Size::DW];
const ATOMICS: [AtomicOp; 4] = [AtomicOp::Add, AtomicOp::Or, AtomicOp::And, AtomicOp::Xor];

/// One program fragment per valid class/op/source/size combination (and per v4 variant).
fn every_form() -> Vec<Vec<Insn>> {
    use Reg::*;
    let mut t: Vec<Vec<Insn>> = Vec::new();
    for op in ALU_OPS {
        let imm = if matches!(op, AluOp::Lsh | AluOp::Rsh | AluOp::Arsh) {
            7
        } else {
            -5
        };
        t.push(vec![Insn::alu64_imm(op, R1, imm)]);
        t.push(vec![Insn::alu64_reg(op, R1, R2)]);
        t.push(vec![Insn::alu32_imm(op, R3, imm)]);
        t.push(vec![Insn::alu32_reg(op, R3, R4)]);
    }
    for op in [AluOp::Div, AluOp::Mod] {
        t.push(vec![Insn::alu64_signed_reg(op, R1, R2)]);
        let mut k = Insn::alu64_imm(op, R1, 3);
        k.off = 1;
        t.push(vec![k]);
        let mut w = Insn::alu32_reg(op, R1, R2);
        w.off = 1;
        t.push(vec![w]);
        let mut wk = Insn::alu32_imm(op, R1, -3);
        wk.off = 1;
        t.push(vec![wk]);
    }
    for bits in [8, 16, 32] {
        t.push(vec![Insn::movsx64(R1, R2, bits)]);
    }
    for bits in [8, 16] {
        t.push(vec![Insn::movsx32(R1, R2, bits)]);
    }
    t.push(vec![Insn::new(0xbf, 1, 2, 1, 1)]); // addr_space_cast(r2, 0, 1)
    t.push(vec![Insn::new(0xbf, 1, 2, 1, 1 << 16)]); // addr_space_cast(r2, 1, 0)
    t.push(vec![Insn::neg64(R5)]);
    t.push(vec![Insn::neg32(R5)]);
    for bits in [16, 32, 64] {
        t.push(vec![Insn::endian(R1, bits, true)]);
        t.push(vec![Insn::endian(R1, bits, false)]);
        t.push(vec![Insn::bswap(R1, bits)]);
    }
    for size in SIZES {
        t.push(vec![Insn::ldx(size, R1, R6, -8)]);
        t.push(vec![Insn::stx(size, R10, -16, R1)]);
        t.push(vec![Insn::st_imm(size, R10, 4, -1)]);
        if size != Size::DW {
            t.push(vec![Insn::ldsx(size, R2, R10, 12)]);
            t.push(vec![Insn::ld_abs(size, 14)]);
            t.push(vec![Insn::ld_ind(size, R7, -4)]);
        }
    }
    for size in [Size::W, Size::DW] {
        for op in ATOMICS {
            t.push(vec![Insn::atomic(size, op, R1, 8, R2, false)]);
            t.push(vec![Insn::atomic(size, op, R1, -8, R2, true)]);
        }
        t.push(vec![Insn::atomic_xchg(size, R3, 0, R4)]);
        t.push(vec![Insn::atomic_cmpxchg(size, R3, 16, R4)]);
    }
    for op in JMP_CONDS {
        t.push(vec![Insn::jmp_imm(op, R1, -1, 0)]);
        t.push(vec![Insn::jmp_reg(op, R1, R2, 0)]);
        t.push(vec![Insn::jmp32_imm(op, R1, 5, 0)]);
        t.push(vec![Insn::jmp32_reg(op, R1, R2, 0)]);
    }
    t.push(vec![Insn::ja(0)]);
    t.push(vec![Insn::ja32(0)]);
    t.push(vec![Insn::may_goto(0)]);
    t.push(vec![Insn::call_helper(14)]);
    t.push(vec![Insn::call_helper(4000)]); // unknown id
    t.push(vec![Insn::call_local(-1)]);
    t.push(vec![Insn::call_kfunc(12345)]);
    let mut kfunc_mod = Insn::call_kfunc(777);
    kfunc_mod.off = 2;
    t.push(vec![kfunc_mod]);
    t.push(vec![Insn::exit()]);
    t.push(Insn::ld_imm64(R1, 0x1234).to_vec());
    t.push(Insn::ld_imm64(R1, u64::MAX).to_vec());
    t.push(Insn::ld_imm64(R9, 0).to_vec());
    t.push(Insn::ld_map_fd(R1, 5).to_vec());
    t.push(Insn::ld_map_value(R2, 6, 16).to_vec());
    t.push(Insn::ld_map_value(R2, 6, -1).to_vec());
    t.push(Insn::ld_imm64_pseudo(R3, 3, 100, 0).to_vec());
    t.push(Insn::ld_imm64_pseudo(R3, 3, 100, 9).to_vec());
    t.push(Insn::ld_imm64_pseudo(R4, 4, 7, 0).to_vec());
    t.push(Insn::ld_imm64_pseudo(R4, 4, -7, 0).to_vec());
    t.push(Insn::ld_imm64_pseudo(R5, 5, 2, 0).to_vec());
    t.push(Insn::ld_imm64_pseudo(R5, 6, 2, 40).to_vec());
    t
}

/// Wraps a fragment so that jumps of distance 0 and `call pc-1` have a valid target.
fn program(frag: &[Insn]) -> Vec<Insn> {
    let mut p = frag.to_vec();
    p.push(Insn::exit());
    p
}

#[test]
fn every_form_round_trips() {
    for frag in every_form() {
        let prog = program(&frag);
        validate(&prog).unwrap_or_else(|e| panic!("{frag:?}: {e}"));
        let bytes = encode(&prog);
        assert_eq!(bytes.len(), prog.len() * 8);
        let decoded = decode(&bytes).unwrap();
        assert_eq!(decoded, prog);
        let line = disassemble_insn(&decoded, 0);
        let back = assemble(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(back, frag, "{line}");
        let text = disassemble(&decoded);
        assert_eq!(assemble(&text).unwrap(), prog, "{text}");
    }
}

#[test]
fn table_covers_every_valid_opcode() {
    let table: BTreeSet<u8> = every_form().iter().map(|f| f[0].code).collect();
    // The kernel's opcode map: 27 ALU + 26 ALU64 + 7 LDX + 4 ST + 6 STX + 7 LD + 26 JMP + 23 JMP32.
    assert_eq!(table.len(), 126);
    let accepted: BTreeSet<u8> = (0..=255u8)
        .filter(|&code| {
            candidates(code).any(|i| {
                let tail = Insn::new(0, 0, 0, 0, 0);
                check_insn(i).is_ok() && (!i.is_ld_imm64() || validate(&[i, tail]).is_ok())
            })
        })
        .collect();
    assert_eq!(accepted, table);
}

/// A spread of field values that reaches every valid form of an opcode.
fn candidates(code: u8) -> impl Iterator<Item = Insn> {
    const REGS: [u8; 5] = [0, 1, 2, 10, 11];
    const SRCS: [u8; 9] = [0, 1, 2, 3, 4, 5, 6, 10, 11];
    const OFFS: [i16; 8] = [0, 1, 8, 16, 32, -8, 7, i16::MIN];
    const IMMS: [i32; 22] = [
        0,
        1,
        -1,
        5,
        16,
        32,
        63,
        64,
        0x40,
        0x41,
        0x50,
        0x51,
        0xa0,
        0xa1,
        0xe1,
        0xf1,
        0x10000,
        0x10001,
        i32::MIN,
        i32::MAX,
        14,
        200,
    ];
    REGS.into_iter().flat_map(move |dst| {
        SRCS.into_iter().flat_map(move |src| {
            OFFS.into_iter().flat_map(move |off| {
                IMMS.into_iter()
                    .map(move |imm| Insn::new(code, dst, src, off, imm))
            })
        })
    })
}

/// Everything the checker accepts prints and reads back as the very same instruction.
#[test]
fn everything_accepted_round_trips() {
    let mut checked = 0usize;
    for code in 0..=255u8 {
        for insn in candidates(code) {
            if check_insn(insn).is_err() {
                continue;
            }
            let mut slots = vec![insn];
            if insn.is_ld_imm64() {
                for hi in [0, 1, -1] {
                    let tail = Insn::new(0, 0, 0, 0, hi);
                    if validate(&[insn, tail]).is_ok() {
                        slots.push(tail);
                        break;
                    }
                }
                if slots.len() == 1 {
                    continue;
                }
            }
            let line = disassemble_insn(&slots, 0);
            let back = assemble(&line).unwrap_or_else(|e| panic!("{insn:?} `{line}`: {e}"));
            assert_eq!(back, slots, "`{line}`");
            checked += 1;
        }
    }
    assert!(checked > 10_000, "only {checked} instructions checked");
}

#[test]
fn numbered_listing_skips_second_slot() {
    let mut prog = Insn::ld_imm64(Reg::R1, 0xdead_beef_0000_0001).to_vec();
    prog.push(Insn::exit());
    assert_eq!(
        disassemble(&prog),
        "   0: (18) r1 = 0xdeadbeef00000001\n   2: (95) exit\n"
    );
}
