//! A text assembler for the disassembler's own format, so that dumps can be edited and re-read.
//!
//! Each non-empty line holds one instruction, optionally prefixed by bpftool's `N:` index and
//! `(xx)` opcode (both ignored: the text alone determines the instruction). `;` and `//` start
//! comments. Beyond the disassembler's exact spelling it accepts `call NAME` / `call N` for
//! helpers (with or without `bpf_`), and `goto +N` for `goto pc+N`.
//!
//! A decimal `rN = IMM` that fits in 32 bits is a `mov`; a hexadecimal one (as the disassembler
//! prints 64-bit immediate loads) or one too wide for 32 bits is a two-slot `ld_imm64`.

use thiserror::Error;

use crate::decode::{check_insn, InsnError};
use crate::disasm::jmp_op_str;
use crate::helper::helper_id;
use crate::insn::{Insn, Reg, Size};
use crate::opcode::*;

/// An assembly error, with the 1-based line it occurred on.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}: {kind}")]
pub struct AsmError {
    /// 1-based line number in the input text.
    pub line: usize,
    /// What went wrong.
    pub kind: AsmErrorKind,
}

/// What is wrong with a line of assembly.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AsmErrorKind {
    /// A character that starts no token.
    #[error("unexpected character '{0}'")]
    BadChar(char),
    /// A number that does not parse.
    #[error("malformed number '{0}'")]
    BadNumber(String),
    /// `rN`/`wN` with N above 10.
    #[error("no register {0}")]
    BadRegister(String),
    /// The line matches no instruction form.
    #[error("unrecognised instruction '{0}'")]
    Unrecognised(String),
    /// A number does not fit the field it goes in.
    #[error("{what} {value} out of range")]
    OutOfRange {
        /// The field, e.g. `"offset"`.
        what: &'static str,
        /// The value given.
        value: i128,
    },
    /// A `call` names no known helper.
    #[error("unknown helper '{0}'")]
    UnknownHelper(String),
    /// `call NAME#N` where N is not NAME's id.
    #[error("helper {name} has id {expected}, not {given}")]
    HelperMismatch {
        /// The helper name given.
        name: String,
        /// Its real id.
        expected: i32,
        /// The id given after `#`.
        given: i64,
    },
    /// The text parses but the instruction is not valid eBPF.
    #[error("{0}")]
    Invalid(InsnError),
}

/// Assembles text (as printed by [`crate::disassemble`]) into instructions.
pub fn assemble(text: &str) -> Result<Vec<Insn>, AsmError> {
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let err = |kind| AsmError { line, kind };
        let body = strip_prefix(strip_comment(raw));
        if body.is_empty() {
            continue;
        }
        let toks = tokenize(body).map_err(err)?;
        let insns = parse_known(&toks)
            .map_err(err)?
            .ok_or_else(|| err(AsmErrorKind::Unrecognised(body.to_string())))?;
        let Some(&first) = insns.first() else {
            continue;
        };
        check_insn(first).map_err(|e| err(AsmErrorKind::Invalid(e)))?;
        out.extend(insns);
    }
    Ok(out)
}

fn strip_comment(line: &str) -> &str {
    let cut = [line.find(';'), line.find("//")]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(line.len());
    &line[..cut]
}

/// Drops bpftool's `  12:` index and `(bf)` opcode.
fn strip_prefix(line: &str) -> &str {
    let mut s = line.trim();
    if let Some((idx, rest)) = s.split_once(':') {
        if !idx.is_empty() && idx.bytes().all(|b| b.is_ascii_digit()) {
            s = rest.trim_start();
        }
    }
    if let Some(rest) = s.strip_prefix('(') {
        if let Some((hex, after)) = rest.split_once(')') {
            if hex.len() == 2 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                s = after.trim_start();
            }
        }
    }
    s.trim_end()
}

#[derive(Debug, Clone, PartialEq)]
enum Tok<'a> {
    /// A register: number and whether it was written `wN`.
    Reg(u8, bool),
    /// An integer; `hex` records the spelling because it selects ld_imm64 over mov.
    Num {
        value: i128,
        hex: bool,
    },
    Ident(&'a str),
    /// Operators and punctuation.
    P(&'static str),
}

const PUNCT: [&str; 31] = [
    "s>>=", "<<=", ">>=", "s/=", "s%=", "s>=", "s<=", "+=", "-=", "*=", "/=", "%=", "|=", "&=",
    "^=", "==", "!=", ">=", "<=", "s>", "s<", "=", ">", "<", "&", "*", "(", ")", "[", "]", ",",
];
const SINGLE: [&str; 5] = ["+", "-", ":", "#", "!"];

fn tokenize(s: &str) -> Result<Vec<Tok<'_>>, AsmErrorKind> {
    let mut toks = Vec::new();
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if c.is_whitespace() {
            rest = &rest[c.len_utf8()..];
            continue;
        }
        // A sign glued to a digit is part of the number: `(r10 -8)`, `pc+3`, `+= -8`.
        let signed_num =
            (c == '+' || c == '-') && rest[1..].starts_with(|d: char| d.is_ascii_digit());
        if c.is_ascii_digit() || signed_num {
            let end = rest[1..]
                .find(|ch: char| !ch.is_ascii_alphanumeric())
                .map_or(rest.len(), |e| e + 1);
            toks.push(number(&rest[..end])?);
            rest = &rest[end..];
            continue;
        }
        if let Some(p) = PUNCT.iter().find(|p| rest.starts_with(**p)) {
            toks.push(Tok::P(p));
            rest = &rest[p.len()..];
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' {
            let end = rest
                .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
                .unwrap_or(rest.len());
            toks.push(word(&rest[..end])?);
            rest = &rest[end..];
            continue;
        }
        if let Some(p) = SINGLE.iter().find(|p| rest.starts_with(**p)) {
            toks.push(Tok::P(p));
            rest = &rest[p.len()..];
            continue;
        }
        return Err(AsmErrorKind::BadChar(c));
    }
    Ok(toks)
}

fn number(text: &str) -> Result<Tok<'_>, AsmErrorKind> {
    let bad = || AsmErrorKind::BadNumber(text.to_string());
    let (neg, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (hex, digits) = match body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        Some(h) => (true, h),
        None => (false, body),
    };
    let magnitude = i128::from_str_radix(digits, if hex { 16 } else { 10 }).map_err(|_| bad())?;
    if magnitude > i128::from(u64::MAX) {
        return Err(bad());
    }
    let value = if neg { -magnitude } else { magnitude };
    Ok(Tok::Num { value, hex })
}

fn word(w: &str) -> Result<Tok<'_>, AsmErrorKind> {
    let reg = w
        .strip_prefix('r')
        .map(|n| (n, false))
        .or_else(|| w.strip_prefix('w').map(|n| (n, true)));
    if let Some((n, narrow)) = reg {
        if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) {
            return match n.parse::<u8>() {
                Ok(r) if r <= 10 => Ok(Tok::Reg(r, narrow)),
                _ => Err(AsmErrorKind::BadRegister(w.to_string())),
            };
        }
    }
    Ok(Tok::Ident(w))
}

fn range(what: &'static str, value: i128) -> AsmErrorKind {
    AsmErrorKind::OutOfRange { what, value }
}

/// A 32-bit immediate: signed, or unsigned up to `u32::MAX` as the disassembler prints jump
/// immediates in hex.
fn imm32(value: i128) -> Result<i32, AsmErrorKind> {
    if let Ok(v) = i32::try_from(value) {
        return Ok(v);
    }
    u32::try_from(value)
        .map(|v| v as i32)
        .map_err(|_| range("immediate", value))
}

fn off16(value: i128) -> Result<i16, AsmErrorKind> {
    i16::try_from(value).map_err(|_| range("offset", value))
}

fn reg(n: u8) -> Result<Reg, AsmErrorKind> {
    Reg::from_u8(n).ok_or(AsmErrorKind::BadRegister(format!("r{n}")))
}

fn size_of(name: &str) -> Option<(Size, bool)> {
    Some(match name {
        "u8" => (Size::B, false),
        "u16" => (Size::H, false),
        "u32" => (Size::W, false),
        "u64" => (Size::DW, false),
        "s8" => (Size::B, true),
        "s16" => (Size::H, true),
        "s32" => (Size::W, true),
        _ => return None,
    })
}

/// ALU operator text back to its op bits; `true` for the signed (`off = 1`) variants.
fn alu_op(p: &str) -> Option<(u8, bool)> {
    Some(match p {
        "+=" => (0x00, false),
        "-=" => (0x10, false),
        "*=" => (0x20, false),
        "/=" => (0x30, false),
        "s/=" => (0x30, true),
        "|=" => (0x40, false),
        "&=" => (0x50, false),
        "<<=" => (0x60, false),
        ">>=" => (0x70, false),
        "%=" => (0x90, false),
        "s%=" => (0x90, true),
        "^=" => (0xa0, false),
        "=" => (0xb0, false),
        "s>>=" => (0xc0, false),
        _ => return None,
    })
}

/// Comparison text back to its jump op bits.
fn jmp_op(p: &str) -> Option<u8> {
    (1u8..14)
        .find(|op| jmp_op_str(*op) == Some(p))
        .map(|op| op << 4)
}

/// `pc+N`, `pc-N`, `+N` or `-N`.
fn pc_rel(toks: &[Tok]) -> Option<i128> {
    match toks {
        [Tok::Ident("pc"), Tok::Num { value, .. }] | [Tok::Num { value, .. }] => Some(*value),
        _ => None,
    }
}

/// `*(SIZE *)(rN OFF)` at the start of `toks`: (size, signed, base, off, rest).
fn mem_ref<'t, 'a>(toks: &'t [Tok<'a>]) -> Option<(Size, bool, u8, i128, &'t [Tok<'a>])> {
    let [Tok::P("*"), rest @ ..] = toks else {
        return None;
    };
    typed_ptr(rest)
}

/// `(SIZE *)(rN OFF)` at the start of `toks`, as inside `*(...)` and the atomic_* calls.
fn typed_ptr<'t, 'a>(toks: &'t [Tok<'a>]) -> Option<(Size, bool, u8, i128, &'t [Tok<'a>])> {
    use Tok::*;
    let [P("("), Ident(sz), P("*"), P(")"), P("("), Reg(base, false), rest @ ..] = toks else {
        return None;
    };
    let (size, signed) = size_of(sz)?;
    let (off, rest) = match rest {
        [Num { value, .. }, P(")"), rest @ ..] => (*value, rest),
        [P("+"), Num { value, .. }, P(")"), rest @ ..] => (*value, rest),
        [P("-"), Num { value, .. }, P(")"), rest @ ..] => (-*value, rest),
        [P(")"), rest @ ..] => (0, rest),
        _ => return None,
    };
    Some((size, signed, *base, off, rest))
}

/// Ok(None) when no form matches; Err when a form matches but a value is bad.
fn parse_known(toks: &[Tok]) -> Result<Option<Vec<Insn>>, AsmErrorKind> {
    use Tok::*;
    let one = |i: Insn| Ok(Some(vec![i]));
    match toks {
        [Ident("exit")] => one(Insn::exit()),
        [Ident("goto"), rest @ ..] => match pc_rel(rest) {
            Some(v) => one(Insn::ja(off16(v)?)),
            None => Ok(None),
        },
        [Ident("gotol"), rest @ ..] => match pc_rel(rest) {
            Some(v) => one(Insn::ja32(imm32(v)?)),
            None => Ok(None),
        },
        [Ident("may_goto"), rest @ ..] => match pc_rel(rest) {
            Some(v) => one(Insn::may_goto(off16(v)?)),
            None => Ok(None),
        },
        [Ident("call"), rest @ ..] => parse_call(rest),
        [Ident("if"), Reg(d, dw), P(cmp), rest @ ..] => {
            let Some(at) = rest.iter().position(|t| *t == Ident("goto")) else {
                return Ok(None);
            };
            let (rhs, target) = (&rest[..at], &rest[at + 1..]);
            let (Some(op), Some(off)) = (jmp_op(cmp), pc_rel(target)) else {
                return Ok(None);
            };
            let off = off16(off)?;
            let class = if *dw { BPF_JMP32 } else { BPF_JMP };
            match rhs {
                [Reg(s, sw)] if sw == dw => one(Insn::new(class | BPF_X | op, *d, *s, off, 0)),
                [Num { value, .. }] => {
                    one(Insn::new(class | BPF_K | op, *d, 0, off, imm32(*value)?))
                }
                _ => Ok(None),
            }
        }
        [Ident("lock"), rest @ ..] => {
            let Some((size, false, base, off, [P(op), Reg(s, false)])) = mem_ref(rest) else {
                return Ok(None);
            };
            let Some((alu, false)) = alu_op(op) else {
                return Ok(None);
            };
            if !matches!(alu, 0x00 | 0x40 | 0x50 | 0xa0) {
                return Ok(None);
            }
            let code = BPF_STX | BPF_ATOMIC | size.bits();
            one(Insn::new(code, base, *s, off16(off)?, i32::from(alu)))
        }
        [P("*"), ..] => {
            let Some((size, false, base, off, rest)) = mem_ref(toks) else {
                return Ok(None);
            };
            let off = off16(off)?;
            match rest {
                [P("="), Reg(s, false)] => one(Insn::stx(size, reg(base)?, off, reg(*s)?)),
                [P("="), Num { value, .. }] => {
                    one(Insn::st_imm(size, reg(base)?, off, imm32(*value)?))
                }
                _ => Ok(None),
            }
        }
        [Reg(d, dw), P(op), rest @ ..] => parse_assign(*d, *dw, op, rest),
        _ => Ok(None),
    }
}

fn parse_call(rest: &[Tok]) -> Result<Option<Vec<Insn>>, AsmErrorKind> {
    use Tok::*;
    let one = |i: Insn| Ok(Some(vec![i]));
    if let Some(v) = pc_rel(rest) {
        if matches!(rest.first(), Some(Ident("pc"))) {
            return one(Insn::call_local(imm32(v)?));
        }
    }
    match rest {
        [Num { value, .. }] | [P("#"), Num { value, .. }] => one(Insn::call_helper(imm32(*value)?)),
        [Ident("kernel"), P("-"), Ident("function"), P("#"), Num { value, .. }, tail @ ..] => {
            let off = match tail {
                [] => 0,
                [P("["), Ident("off"), P(":"), Num { value, .. }, P("]")] => off16(*value)?,
                _ => return Ok(None),
            };
            let mut insn = Insn::call_kfunc(imm32(*value)?);
            insn.off = off;
            one(insn)
        }
        [Ident(name), P("#"), Num { value, .. }] => {
            let id = imm32(*value)?;
            // The disassembler writes `unknown#N` for ids past the table.
            if *name != "unknown" {
                let expected =
                    helper_id(name).ok_or(AsmErrorKind::UnknownHelper(name.to_string()))?;
                if expected != id {
                    return Err(AsmErrorKind::HelperMismatch {
                        name: name.to_string(),
                        expected,
                        given: i64::from(id),
                    });
                }
            }
            one(Insn::call_helper(id))
        }
        [Ident(name)] => {
            let id = helper_id(name).ok_or(AsmErrorKind::UnknownHelper(name.to_string()))?;
            one(Insn::call_helper(id))
        }
        _ => Ok(None),
    }
}

/// Everything of the form `rN op ...` / `wN op ...`.
fn parse_assign(
    d: u8,
    dw: bool,
    op: &str,
    rest: &[Tok],
) -> Result<Option<Vec<Insn>>, AsmErrorKind> {
    use Tok::*;
    let one = |i: Insn| Ok(Some(vec![i]));
    let alu = if dw { BPF_ALU } else { BPF_ALU64 };
    if op == "=" {
        if let Some(found) = parse_load(d, dw, rest)? {
            return Ok(Some(found));
        }
        match rest {
            // neg
            [P("-"), Reg(s, sw)] if *s == d && *sw == dw => {
                return one(Insn::new(alu | BPF_K | 0x80, d, 0, 0, 0));
            }
            // movsx
            [P("("), Ident(cast), P(")"), Reg(s, sw)] if *sw == dw => {
                let bits = match *cast {
                    "s8" => 8,
                    "s16" => 16,
                    "s32" => 32,
                    _ => return Ok(None),
                };
                return one(Insn::new(alu | BPF_X | 0xb0, d, *s, bits, 0));
            }
            [Ident(swap), Reg(s, false)] if *s == d && !dw => {
                let (code, bits) = if let Some(b) = swap.strip_prefix("bswap") {
                    (BPF_ALU64 | BPF_K | 0xd0, b)
                } else if let Some(b) = swap.strip_prefix("be") {
                    (BPF_ALU | BPF_X | 0xd0, b)
                } else if let Some(b) = swap.strip_prefix("le") {
                    (BPF_ALU | BPF_K | 0xd0, b)
                } else {
                    return Ok(None);
                };
                let Ok(bits) = bits.parse::<i32>() else {
                    return Ok(None);
                };
                return one(Insn::new(code, d, 0, 0, bits));
            }
            [Ident("addr_space_cast"), P("("), Reg(s, false), P(","), Num { value: to, .. }, P(","), Num { value: from, .. }, P(")")]
                if !dw =>
            {
                let (to, from) = (u16::try_from(*to), u16::try_from(*from));
                let (Ok(to), Ok(from)) = (to, from) else {
                    return Ok(None);
                };
                let imm = ((u32::from(to) << 16) | u32::from(from)) as i32;
                return one(Insn::new(BPF_ALU64 | BPF_X | 0xb0, d, *s, 1, imm));
            }
            [Num { value, hex }] if !dw && (*hex || i32::try_from(*value).is_err()) => {
                let v = u64::try_from(*value)
                    .or_else(|_| i64::try_from(*value).map(|v| v as u64))
                    .map_err(|_| range("immediate", *value))?;
                return Ok(Some(Insn::ld_imm64(reg(d)?, v).to_vec()));
            }
            _ => {}
        }
        if let Some(found) = parse_pseudo(d, dw, rest)? {
            return Ok(Some(found));
        }
        if let Some(found) = parse_atomic(d, dw, rest)? {
            return Ok(Some(found));
        }
    }
    let Some((op_bits, signed)) = alu_op(op) else {
        return Ok(None);
    };
    let off = i16::from(signed);
    match rest {
        [Reg(s, sw)] if *sw == dw => one(Insn::new(alu | BPF_X | op_bits, d, *s, off, 0)),
        [Num { value, .. }] => one(Insn::new(alu | BPF_K | op_bits, d, 0, off, imm32(*value)?)),
        _ => Ok(None),
    }
}

/// `rN = *(SIZE *)(rM OFF)` and the legacy `r0 = *(SIZE *)skb[...]` forms.
fn parse_load(d: u8, dw: bool, rest: &[Tok]) -> Result<Option<Vec<Insn>>, AsmErrorKind> {
    use Tok::*;
    if dw {
        return Ok(None);
    }
    if let Some((size, signed, base, off, [])) = mem_ref(rest) {
        let code = if signed { BPF_MEMSX } else { BPF_MEM };
        return Ok(Some(vec![Insn::new(
            BPF_LDX | code | size.bits(),
            d,
            base,
            off16(off)?,
            0,
        )]));
    }
    let [P("*"), P("("), Ident(sz), P("*"), P(")"), Ident("skb"), P("["), idx @ .., P("]")] = rest
    else {
        return Ok(None);
    };
    let Some((size, false)) = size_of(sz) else {
        return Ok(None);
    };
    if d != 0 {
        return Ok(None);
    }
    let insn = match idx {
        [Num { value, .. }] => Insn::ld_abs(size, imm32(*value)?),
        [Reg(s, false), P("+"), Num { value, .. }] => Insn::ld_ind(size, reg(*s)?, imm32(*value)?),
        [Reg(s, false), Num { value, .. }] => Insn::ld_ind(size, reg(*s)?, imm32(*value)?),
        _ => return Ok(None),
    };
    Ok(Some(vec![insn]))
}

/// `map[fd:N]`, `map[fd:N][0]+OFF`, `map[idx:N]`, `map[idx:N]+OFF`, `subprog[+N]`, `btf_var[id:N]`.
fn parse_pseudo(d: u8, dw: bool, rest: &[Tok]) -> Result<Option<Vec<Insn>>, AsmErrorKind> {
    use Tok::*;
    if dw {
        return Ok(None);
    }
    let r = reg(d)?;
    let plus = |v: &i128| {
        u32::try_from(*v)
            .map(|v| v as i32)
            .map_err(|_| range("map value offset", *v))
    };
    let (src, lo, hi) = match rest {
        [Ident("map"), P("["), Ident("fd"), P(":"), Num { value, .. }, P("]")] => {
            (BPF_PSEUDO_MAP_FD, imm32(*value)?, 0)
        }
        [Ident("map"), P("["), Ident("fd"), P(":"), Num { value, .. }, P("]"), P("["), Num { value: 0, .. }, P("]"), Num { value: off, .. }] => {
            (BPF_PSEUDO_MAP_VALUE, imm32(*value)?, plus(off)?)
        }
        [Ident("map"), P("["), Ident("idx"), P(":"), Num { value, .. }, P("]")] => {
            (BPF_PSEUDO_MAP_IDX, imm32(*value)?, 0)
        }
        [Ident("map"), P("["), Ident("idx"), P(":"), Num { value, .. }, P("]"), Num { value: off, .. }] => {
            (BPF_PSEUDO_MAP_IDX_VALUE, imm32(*value)?, plus(off)?)
        }
        [Ident("subprog"), P("["), Num { value, .. }, P("]")] => {
            (BPF_PSEUDO_FUNC, imm32(*value)?, 0)
        }
        [Ident("btf_var"), P("["), Ident("id"), P(":"), Num { value, .. }, P("]"), tail @ ..] => {
            let hi = match tail {
                [] => 0,
                [P("["), Ident("fd"), P(":"), Num { value, .. }, P("]")] => imm32(*value)?,
                _ => return Ok(None),
            };
            (BPF_PSEUDO_BTF_ID, imm32(*value)?, hi)
        }
        _ => return Ok(None),
    };
    Ok(Some(Insn::ld_imm64_pseudo(r, src, lo, hi).to_vec()))
}

/// `rS = atomic[64]_fetch_OP((SIZE *)(rD OFF), rS)`, `..._xchg(...)`, `r0 = ..._cmpxchg(...)`.
fn parse_atomic(d: u8, dw: bool, rest: &[Tok]) -> Result<Option<Vec<Insn>>, AsmErrorKind> {
    use Tok::*;
    let [Ident(func), P("("), args @ ..] = rest else {
        return Ok(None);
    };
    if dw {
        return Ok(None);
    }
    let Some(name) = func.strip_prefix("atomic") else {
        return Ok(None);
    };
    let (wide, name) = match name.strip_prefix("64") {
        Some(n) => (true, n),
        None => (false, name),
    };
    let Some((size, false, base, off, after)) = typed_ptr(args) else {
        return Ok(None);
    };
    if wide != (size == Size::DW) {
        return Ok(None);
    }
    let (imm, src) = match (name, after) {
        ("_cmpxchg", [P(","), Reg(0, false), P(","), Reg(s, false), P(")")]) if d == 0 => {
            (BPF_CMPXCHG, *s)
        }
        ("_xchg", [P(","), Reg(s, false), P(")")]) if *s == d => (BPF_XCHG, *s),
        (fetch, [P(","), Reg(s, false), P(")")]) if *s == d => {
            let op = match fetch {
                "_fetch_add" => 0x00,
                "_fetch_or" => 0x40,
                "_fetch_and" => 0x50,
                "_fetch_xor" => 0xa0,
                _ => return Ok(None),
            };
            (op | BPF_FETCH, *s)
        }
        _ => return Ok(None),
    };
    let code = BPF_STX | BPF_ATOMIC | size.bits();
    Ok(Some(vec![Insn::new(code, base, src, off16(off)?, imm)]))
}
