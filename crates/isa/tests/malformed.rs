//! Malformed bytecode and assembly are rejected with the offending index or line.
#![allow(clippy::unwrap_used)]

use kestrel_isa::{
    assemble, decode, encode, helper, AsmErrorKind, DecodeError, Insn, InsnError, Reg, Size,
};

fn bytes(insns: &[Insn]) -> Vec<u8> {
    encode(insns)
}

fn insn_err(insns: &[Insn]) -> (usize, InsnError) {
    match decode(&bytes(insns)) {
        Err(DecodeError::Insn { index, kind }) => (index, kind),
        other => panic!("expected an instruction error, got {other:?}"),
    }
}

#[test]
fn trailing_bytes() {
    let mut b = bytes(&[Insn::exit()]);
    b.extend([0, 0, 0]);
    assert_eq!(
        decode(&b),
        Err(DecodeError::Length {
            len: 11,
            trailing: 3
        })
    );
    assert_eq!(decode(&[]), Ok(vec![]));
}

#[test]
fn bad_opcodes() {
    for code in [
        0xf7u8, 0xe4, 0x8c, 0xdf, 0x86, 0x96, 0x0d, 0xf5, 0x10, 0x99, 0xd3, 0x83, 0xe2,
    ] {
        let (index, kind) = insn_err(&[Insn::exit(), Insn::new(code, 0, 0, 0, 0), Insn::exit()]);
        assert_eq!(index, 1, "{code:#x}");
        assert_eq!(kind, InsnError::BadOpcode(code), "{code:#x}");
    }
    // ldsx has no 64-bit form; atomics only come in 32 and 64 bits.
    let ldsx_dw = Insn::new(0x99, 1, 2, 0, 0);
    assert_eq!(insn_err(&[ldsx_dw]).1, InsnError::BadOpcode(0x99));
    let atomic_b = Insn::new(0xd3, 1, 2, 0, 0);
    assert_eq!(insn_err(&[atomic_b]).1, InsnError::BadOpcode(0xd3));
}

#[test]
fn bad_registers() {
    let (_, kind) = insn_err(&[Insn::new(0xbf, 11, 1, 0, 0), Insn::exit()]);
    assert_eq!(
        kind,
        InsnError::BadRegister {
            field: "dst",
            reg: 11
        }
    );
    let (_, kind) = insn_err(&[Insn::new(0xbf, 1, 15, 0, 0), Insn::exit()]);
    assert_eq!(
        kind,
        InsnError::BadRegister {
            field: "src",
            reg: 15
        }
    );
    let (_, kind) = insn_err(&[Insn::mov64_imm(Reg::R10, 0), Insn::exit()]);
    assert_eq!(kind, InsnError::WritesFramePointer);
    let (_, kind) = insn_err(&[Insn::ldx(Size::DW, Reg::R10, Reg::R1, 0), Insn::exit()]);
    assert_eq!(kind, InsnError::WritesFramePointer);
    // r10 as a store base is fine.
    assert!(decode(&bytes(&[
        Insn::stx(Size::DW, Reg::R10, -8, Reg::R1),
        Insn::exit()
    ]))
    .is_ok());
}

#[test]
fn ld_imm64_shape() {
    let pair = Insn::ld_imm64(Reg::R1, 7);
    assert_eq!(
        insn_err(&[Insn::exit(), pair[0]]),
        (1, InsnError::TruncatedLdImm64)
    );
    let mut bad_tail = pair;
    bad_tail[1].code = 0x07;
    assert_eq!(
        insn_err(&[bad_tail[0], bad_tail[1], Insn::exit()]).1,
        InsnError::BadLdImm64Tail
    );
    let mut map_hi = Insn::ld_map_fd(Reg::R1, 3);
    map_hi[1].imm = 4;
    assert!(matches!(
        insn_err(&[map_hi[0], map_hi[1], Insn::exit()]).1,
        InsnError::BadField { .. }
    ));
    let bad_pseudo = Insn::ld_imm64_pseudo(Reg::R1, 7, 0, 0);
    assert!(matches!(
        insn_err(&[bad_pseudo[0], bad_pseudo[1], Insn::exit()]).1,
        InsnError::BadField { field: "src", .. }
    ));
}

#[test]
fn reserved_fields_and_values() {
    let exit_imm = Insn::new(0x95, 0, 0, 0, 1);
    assert!(matches!(
        insn_err(&[exit_imm]).1,
        InsnError::Reserved { field: "imm", .. }
    ));
    let add_x_imm = Insn::new(0x0f, 1, 2, 0, 3);
    assert!(matches!(
        insn_err(&[add_x_imm, Insn::exit()]).1,
        InsnError::Reserved { .. }
    ));
    let end_bad = Insn::endian(Reg::R1, 24, true);
    assert!(matches!(
        insn_err(&[end_bad, Insn::exit()]).1,
        InsnError::BadField { .. }
    ));
    let div0 = Insn::new(0x37, 1, 0, 0, 0);
    assert!(matches!(
        insn_err(&[div0, Insn::exit()]).1,
        InsnError::BadField { .. }
    ));
    let shift = Insn::new(0x67, 1, 0, 0, 64);
    assert!(matches!(
        insn_err(&[shift, Insn::exit()]).1,
        InsnError::BadField { .. }
    ));
    let movsx32 = Insn::new(0xbc, 1, 2, 32, 0);
    assert!(matches!(
        insn_err(&[movsx32, Insn::exit()]).1,
        InsnError::BadField { .. }
    ));
    let atomic_bad = Insn::new(0xdb, 1, 2, 0, 0x20);
    assert!(matches!(
        insn_err(&[atomic_bad, Insn::exit()]).1,
        InsnError::BadField { .. }
    ));
}

#[test]
fn jump_targets() {
    let past_end = Insn::ja(1);
    assert_eq!(
        insn_err(&[past_end, Insn::exit()]),
        (0, InsnError::BadJumpTarget { target: 2 })
    );
    let mut prog = vec![Insn::ja(0)];
    prog.extend(Insn::ld_imm64(Reg::R1, 1));
    prog.push(Insn::exit());
    assert!(decode(&bytes(&prog)).is_ok());
    prog[0] = Insn::ja(1); // into the second slot
    assert_eq!(insn_err(&prog), (0, InsnError::BadJumpTarget { target: 2 }));
}

fn asm_err(text: &str) -> (usize, AsmErrorKind) {
    let e = assemble(text).unwrap_err();
    (e.line, e.kind)
}

#[test]
fn assembler_accepts_variants() {
    let prog = assemble(
        "; a comment line\n\
         r1 = r6 // trailing comment\n\
         \n\
         call bpf_ktime_get_ns\n\
         call get_current_comm\n\
         call 14\n\
         goto +1\n\
         \x20  7: (b7) r0 = 0   ; bpftool prefix\n\
         exit",
    )
    .unwrap();
    assert_eq!(
        prog,
        vec![
            Insn::mov64_reg(Reg::R1, Reg::R6),
            Insn::call_helper(helper::KTIME_GET_NS),
            Insn::call_helper(helper::GET_CURRENT_COMM),
            Insn::call_helper(helper::GET_CURRENT_PID_TGID),
            Insn::ja(1),
            Insn::mov64_imm(Reg::R0, 0),
            Insn::exit(),
        ]
    );
    // Decimal beyond 32 bits or hex: ld_imm64. Decimal within: mov.
    assert_eq!(
        assemble("r1 = 4294967296").unwrap(),
        Insn::ld_imm64(Reg::R1, 1 << 32).to_vec()
    );
    assert_eq!(
        assemble("r1 = 0x10").unwrap(),
        Insn::ld_imm64(Reg::R1, 16).to_vec()
    );
    assert_eq!(
        assemble("r1 = -1").unwrap(),
        vec![Insn::mov64_imm(Reg::R1, -1)]
    );
}

#[test]
fn assembler_errors_carry_lines() {
    assert!(matches!(
        asm_err("exit\nr11 = 1"),
        (2, AsmErrorKind::BadRegister(_))
    ));
    assert!(matches!(
        asm_err("r1 = r2\n\nfoo bar"),
        (3, AsmErrorKind::Unrecognised(_))
    ));
    assert!(matches!(
        asm_err("call bpf_nope"),
        (1, AsmErrorKind::UnknownHelper(_))
    ));
    assert!(matches!(
        asm_err("call bpf_map_lookup_elem#2"),
        (1, AsmErrorKind::HelperMismatch { expected: 1, .. })
    ));
    assert!(matches!(
        asm_err("r1 = *(u32 *)(r2 +40000)"),
        (1, AsmErrorKind::OutOfRange { what: "offset", .. })
    ));
    assert!(matches!(
        asm_err("r1 += 0x100000000"),
        (1, AsmErrorKind::OutOfRange { .. })
    ));
    assert!(matches!(
        asm_err("r10 = 1"),
        (1, AsmErrorKind::Invalid(InsnError::WritesFramePointer))
    ));
    assert!(matches!(asm_err("r1 = $"), (1, AsmErrorKind::BadChar('$'))));
    assert!(matches!(
        asm_err("r1 = 0xzz"),
        (1, AsmErrorKind::BadNumber(_))
    ));
    assert!(matches!(
        asm_err("w1 = (s32)w2"),
        (1, AsmErrorKind::Invalid(_))
    ));
    assert!(matches!(
        asm_err("r1 = *(u64 *)skb[4]"),
        (1, AsmErrorKind::Unrecognised(_))
    ));
    assert_eq!(
        assemble("exit\nr1 = $").unwrap_err().to_string(),
        "line 2: unexpected character '$'"
    );
}

/// A tiny deterministic generator, so the garbage below is the same on every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn no_panics_on_garbage() {
    let mut rng = Lcg(42);
    for _ in 0..20_000 {
        let len = (rng.next() % 40) as usize;
        let raw: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let _ = decode(&raw);
        let slots: Vec<Insn> = raw
            .chunks_exact(8)
            .map(|c| Insn::from_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect();
        let text = kestrel_isa::disassemble(&slots);
        let _ = assemble(&text);
    }
    const PIECES: [&str; 24] = [
        "r1",
        "w2",
        "r10",
        "=",
        "+=",
        "s/=",
        "*",
        "(",
        ")",
        "[",
        "]",
        "u32",
        "map",
        "fd",
        ":",
        "#",
        "-8",
        "+0x10",
        "goto",
        "pc",
        "call",
        "if",
        "atomic64_xchg",
        ",",
    ];
    for _ in 0..20_000 {
        let n = (rng.next() % 12) as usize;
        let line: Vec<&str> = (0..n)
            .map(|_| PIECES[(rng.next() % PIECES.len() as u64) as usize])
            .collect();
        let _ = assemble(&line.join(" "));
        let _ = assemble(&line.concat());
    }
}
