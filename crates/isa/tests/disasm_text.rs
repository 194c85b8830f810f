//! Exact disassembly text, compared with what the kernel's disasm.c / bpftool print.
#![allow(clippy::unwrap_used)]

use kestrel_isa::{assemble, disassemble, disassemble_insn, helper, AluOp, Insn, JmpOp, Reg, Size};
use Reg::*;

fn text(insn: Insn) -> String {
    disassemble_insn(&[insn], 0)
}

#[test]
fn alu_forms() {
    assert_eq!(text(Insn::mov64_reg(R6, R1)), "(bf) r6 = r1");
    assert_eq!(text(Insn::alu64_imm(AluOp::Add, R1, -8)), "(07) r1 += -8");
    assert_eq!(text(Insn::mov64_imm(R0, 0)), "(b7) r0 = 0");
    assert_eq!(text(Insn::alu32_reg(AluOp::Mov, R1, R2)), "(bc) w1 = w2");
    assert_eq!(text(Insn::alu32_imm(AluOp::Mov, R0, 1)), "(b4) w0 = 1");
    assert_eq!(text(Insn::endian(R1, 16, true)), "(dc) r1 = be16 r1");
    assert_eq!(text(Insn::endian(R1, 32, false)), "(d4) r1 = le32 r1");
    assert_eq!(text(Insn::bswap(R3, 64)), "(d7) r3 = bswap64 r3");
    assert_eq!(text(Insn::movsx64(R1, R2, 8)), "(bf) r1 = (s8)r2");
    assert_eq!(
        text(Insn::alu64_signed_reg(AluOp::Div, R1, R2)),
        "(3f) r1 s/= r2"
    );
    assert_eq!(
        text(Insn::alu64_signed_reg(AluOp::Mod, R1, R2)),
        "(9f) r1 s%= r2"
    );
    assert_eq!(text(Insn::alu64_imm(AluOp::Arsh, R4, 3)), "(c7) r4 s>>= 3");
    assert_eq!(text(Insn::neg64(R2)), "(87) r2 = -r2");
    assert_eq!(
        text(Insn::new(0xbf, 1, 2, 1, 1)),
        "(bf) r1 = addr_space_cast(r2, 0, 1)"
    );
}

#[test]
fn memory_forms() {
    assert_eq!(
        text(Insn::ldx(Size::W, R1, R6, 0)),
        "(61) r1 = *(u32 *)(r6 +0)"
    );
    assert_eq!(
        text(Insn::stx(Size::DW, R10, -8, R1)),
        "(7b) *(u64 *)(r10 -8) = r1"
    );
    assert_eq!(
        text(Insn::st_imm(Size::B, R10, -1, 7)),
        "(72) *(u8 *)(r10 -1) = 7"
    );
    assert_eq!(
        text(Insn::ldsx(Size::B, R1, R2, 0)),
        "(91) r1 = *(s8 *)(r2 +0)"
    );
    assert_eq!(text(Insn::ld_abs(Size::H, 12)), "(28) r0 = *(u16 *)skb[12]");
    assert_eq!(
        text(Insn::ld_ind(Size::B, R1, 4)),
        "(50) r0 = *(u8 *)skb[r1 + 4]"
    );
}

#[test]
fn atomic_forms() {
    use kestrel_isa::AtomicOp;
    assert_eq!(
        text(Insn::atomic(Size::DW, AtomicOp::Add, R1, 0, R2, false)),
        "(db) lock *(u64 *)(r1 +0) += r2"
    );
    assert_eq!(
        text(Insn::atomic(Size::W, AtomicOp::Add, R1, 0, R2, true)),
        "(c3) r2 = atomic_fetch_add((u32 *)(r1 +0), r2)"
    );
    assert_eq!(
        text(Insn::atomic(Size::DW, AtomicOp::Xor, R1, -8, R3, true)),
        "(db) r3 = atomic64_fetch_xor((u64 *)(r1 -8), r3)"
    );
    assert_eq!(
        text(Insn::atomic_xchg(Size::DW, R1, 8, R4)),
        "(db) r4 = atomic64_xchg((u64 *)(r1 +8), r4)"
    );
    assert_eq!(
        text(Insn::atomic_cmpxchg(Size::W, R1, 0, R4)),
        "(c3) r0 = atomic_cmpxchg((u32 *)(r1 +0), r0, r4)"
    );
}

#[test]
fn jump_and_call_forms() {
    assert_eq!(
        text(Insn::call_helper(helper::GET_CURRENT_PID_TGID)),
        "(85) call bpf_get_current_pid_tgid#14"
    );
    assert_eq!(text(Insn::call_helper(9999)), "(85) call unknown#9999");
    assert_eq!(text(Insn::call_local(5)), "(85) call pc+5");
    assert_eq!(
        text(Insn::call_kfunc(1234)),
        "(85) call kernel-function#1234"
    );
    assert_eq!(
        text(Insn::jmp_imm(JmpOp::Jeq, R0, 0, 3)),
        "(15) if r0 == 0x0 goto pc+3"
    );
    assert_eq!(
        text(Insn::jmp_imm(JmpOp::Jsgt, R1, -1, -2)),
        "(65) if r1 s> 0xffffffff goto pc-2"
    );
    assert_eq!(
        text(Insn::jmp32_imm(JmpOp::Jgt, R1, 5, 2)),
        "(26) if w1 > 0x5 goto pc+2"
    );
    assert_eq!(
        text(Insn::jmp_reg(JmpOp::Jle, R1, R2, 1)),
        "(bd) if r1 <= r2 goto pc+1"
    );
    assert_eq!(text(Insn::ja(-2)), "(05) goto pc-2");
    assert_eq!(text(Insn::ja32(70000)), "(06) gotol pc+70000");
    assert_eq!(text(Insn::exit()), "(95) exit");
}

#[test]
fn ld_imm64_forms() {
    let one = |pair: [Insn; 2]| disassemble_insn(&pair, 0);
    assert_eq!(one(Insn::ld_imm64(R1, 0x1234)), "(18) r1 = 0x1234");
    assert_eq!(one(Insn::ld_map_fd(R1, 5)), "(18) r1 = map[fd:5]");
    assert_eq!(
        one(Insn::ld_map_value(R2, 3, 16)),
        "(18) r2 = map[fd:3][0]+16"
    );
    assert_eq!(
        one(Insn::ld_imm64_pseudo(R2, 6, 1, 8)),
        "(18) r2 = map[idx:1]+8"
    );
    assert_eq!(
        one(Insn::ld_imm64_pseudo(R2, 4, 9, 0)),
        "(18) r2 = subprog[+9]"
    );
    // A truncated load still prints; it does not panic.
    assert_eq!(
        disassemble_insn(&[Insn::ld_imm64(R1, 1)[0]], 0),
        "(18) r1 = <truncated ld_imm64>"
    );
    assert_eq!(disassemble_insn(&[], 3), "<no instruction 3>");
}

#[test]
fn whole_program_listing() {
    let mut prog = vec![
        Insn::mov64_reg(R6, R1),
        Insn::call_helper(helper::GET_CURRENT_PID_TGID),
        Insn::ldx(Size::W, R1, R6, 0),
        Insn::jmp_imm(JmpOp::Jeq, R0, 0, 3),
    ];
    prog.extend(Insn::ld_map_fd(R1, 5));
    prog.push(Insn::alu64_imm(AluOp::Add, R1, -8));
    prog.push(Insn::exit());
    let listing = disassemble(&prog);
    let expected = "   0: (bf) r6 = r1
   1: (85) call bpf_get_current_pid_tgid#14
   2: (61) r1 = *(u32 *)(r6 +0)
   3: (15) if r0 == 0x0 goto pc+3
   4: (18) r1 = map[fd:5]
   6: (07) r1 += -8
   7: (95) exit
";
    assert_eq!(listing, expected);
    assert_eq!(assemble(&listing).unwrap(), prog);
}
