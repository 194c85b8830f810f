//! Resolving `usdt:BINARY:[PROVIDER:]NAME` specs from the binary's `.note.stapsdt` notes,
//! and decoding the notes' argument specs (`-4@%edi`, `8@-8(%rbp)`, `8@$5`).

use kestrel_kernel::glob::{glob_match, has_glob};
use kestrel_kernel::KernelFacts;

use crate::ast::ProbeSpec;
use crate::diag::{codes, Diagnostic};
use crate::ir::{Attach, UprobeTarget, UsdtArg};

use super::probes::Resolved;
use super::probes_user::user_binary;

/// Expand a usdt spec: one probe per matching note.
pub(crate) fn resolve_usdt(
    spec: &ProbeSpec,
    parts: &[&str],
    kernel: &dyn KernelFacts,
    pid: Option<u32>,
) -> Result<Vec<Resolved>, Diagnostic> {
    let (target, provider, name) = match parts {
        [_, target, provider, name] => (*target, *provider, *name),
        [_, target, name] => (*target, "*", *name),
        _ => {
            return Err(Diagnostic::error(
                format!("malformed usdt probe '{}'", spec.raw),
                spec.span,
            )
            .with_code(codes::MALFORMED_PROBE)
            .with_label("expected usdt:BINARY:PROVIDER:NAME")
            .with_hint("list a binary's probes with `kestrel -l 'usdt:/path/to/binary:*'`"))
        }
    };
    let path = user_binary(spec, kernel, target, pid)?;
    let shown = path.display().to_string();
    let notes = kernel.usdt_probes(&path).map_err(|e| {
        Diagnostic::error(format!("cannot read usdt notes of {shown}: {e}"), spec.span)
            .with_code(codes::BINARY_NOT_FOUND)
    })?;
    let wanted = |pattern: &str, text: &str| {
        if has_glob(pattern) {
            glob_match(pattern, text)
        } else {
            pattern == text
        }
    };
    let mut out = Vec::new();
    for note in notes
        .iter()
        .filter(|n| wanted(provider, &n.provider) && wanted(name, &n.name))
    {
        let offset = match kernel.user_file_offset(&path, note.address) {
            Ok(Some(off)) => off,
            _ => continue,
        };
        let semaphore = if note.semaphore == 0 {
            None
        } else {
            kernel
                .user_file_offset(&path, note.semaphore)
                .ok()
                .flatten()
        };
        let func = format!("{}:{}", note.provider, note.name);
        // Several notes may share a name (inlined copies): each is its own probe.
        out.push(Resolved {
            attach: Attach::Uprobe(UprobeTarget {
                provider: "usdt".to_string(),
                path: shown.clone(),
                func,
                offset,
                ret: false,
                pid,
                semaphore,
                usdt_args: note.args.split_whitespace().map(parse_arg).collect(),
            }),
            format: None,
        });
    }
    if out.is_empty() {
        let mut d = Diagnostic::error(
            format!("{shown} has no usdt probe matching '{provider}:{name}'"),
            spec.span,
        )
        .with_code(codes::UNKNOWN_USER_SYMBOL)
        .with_label("no such usdt probe");
        d = if notes.is_empty() {
            d.with_note("the binary has no .note.stapsdt section")
        } else {
            d.with_hint(format!("see `kestrel -l 'usdt:{shown}:*'`"))
        };
        return Err(d);
    }
    Ok(out)
}

/// `pt_regs` byte offset of an x86-64 register named in any width (`%rdi`, `%edi`, `%di`,
/// `%dil`, `%r8d`, ...).
fn reg_offset(name: &str) -> Option<u16> {
    let name = name.strip_prefix('%')?;
    Some(match name {
        "rax" | "eax" | "ax" | "al" => 80,
        "rbx" | "ebx" | "bx" | "bl" => 40,
        "rcx" | "ecx" | "cx" | "cl" => 88,
        "rdx" | "edx" | "dx" | "dl" => 96,
        "rsi" | "esi" | "si" | "sil" => 104,
        "rdi" | "edi" | "di" | "dil" => 112,
        "rbp" | "ebp" | "bp" | "bpl" => 32,
        "rsp" | "esp" | "sp" | "spl" => 152,
        "rip" => 128,
        _ => {
            let rest = name.strip_prefix('r')?;
            let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
            if !matches!(&rest[digits.len()..], "" | "d" | "w" | "b") {
                return None;
            }
            match digits.parse::<u8>().ok()? {
                8 => 72,
                9 => 64,
                10 => 56,
                11 => 48,
                12 => 24,
                13 => 16,
                14 => 8,
                15 => 0,
                _ => return None,
            }
        }
    })
}

/// Decode one `SIZE@LOCATION` argument spec.
pub(crate) fn parse_arg(spec: &str) -> UsdtArg {
    let unsupported = || UsdtArg::Unsupported(spec.to_string());
    let Some((size, loc)) = spec.split_once('@') else {
        return unsupported();
    };
    let Ok(n) = size.parse::<i8>() else {
        return unsupported();
    };
    let signed = n < 0;
    let size = n.unsigned_abs();
    if !matches!(size, 1 | 2 | 4 | 8) {
        return unsupported();
    }
    if let Some(imm) = loc.strip_prefix('$') {
        // The constant has the argument's width and sign: `4@$-202182160` is the u32
        // 4092785136 (as libbpf reads it), `-4@$-202182160` stays negative.
        return match imm.parse::<i64>() {
            Ok(v) => {
                let shift = 64 - 8 * u32::from(size);
                let bits = ((v as u64) << shift) >> shift;
                UsdtArg::Const(if signed {
                    ((bits << shift) as i64) >> shift
                } else {
                    bits as i64
                })
            }
            Err(_) => unsupported(),
        };
    }
    if let Some(offset) = reg_offset(loc) {
        return UsdtArg::Reg {
            offset,
            size,
            signed,
        };
    }
    if let Some((disp, rest)) = loc.split_once('(') {
        let Some(reg) = rest.strip_suffix(')') else {
            return unsupported();
        };
        let disp = if disp.is_empty() {
            Some(0)
        } else {
            disp.parse::<i32>().ok()
        };
        return match (disp, reg_offset(reg)) {
            (Some(disp), Some(base)) if base != 128 => UsdtArg::Mem {
                base,
                disp,
                size,
                signed,
            },
            _ => unsupported(),
        };
    }
    unsupported()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argument_specs_decode() {
        assert_eq!(
            parse_arg("-4@%edi"),
            UsdtArg::Reg {
                offset: 112,
                size: 4,
                signed: true
            }
        );
        assert_eq!(
            parse_arg("8@-8(%rbp)"),
            UsdtArg::Mem {
                base: 32,
                disp: -8,
                size: 8,
                signed: false
            }
        );
        assert_eq!(parse_arg("8@$5"), UsdtArg::Const(5));
        assert_eq!(parse_arg("-4@$-3"), UsdtArg::Const(-3));
        assert_eq!(parse_arg("4@$-202182160"), UsdtArg::Const(4092785136));
        assert_eq!(parse_arg("2@$-3600"), UsdtArg::Const(61936));
        assert_eq!(parse_arg("1@$-16"), UsdtArg::Const(240));
        assert_eq!(parse_arg("-1@$-16"), UsdtArg::Const(-16));
        assert_eq!(parse_arg("-2@$61936"), UsdtArg::Const(-3600));
        assert_eq!(
            parse_arg("8@%r12"),
            UsdtArg::Reg {
                offset: 24,
                size: 8,
                signed: false
            }
        );
        assert_eq!(
            parse_arg("4@(%r9d)"),
            UsdtArg::Mem {
                base: 64,
                disp: 0,
                size: 4,
                signed: false
            }
        );
        assert!(matches!(parse_arg("8@foo(%rip)"), UsdtArg::Unsupported(_)));
        assert!(matches!(parse_arg("garbage"), UsdtArg::Unsupported(_)));
        assert!(matches!(parse_arg("3@%eax"), UsdtArg::Unsupported(_)));
    }
}
