//! Resolving `uprobe:BINARY:FUNC` and `uretprobe:...` specs: the binary by path or library
//! name, the function by name, glob (one probe per match) or address.

use std::path::Path;

use kestrel_kernel::glob::has_glob;
use kestrel_kernel::KernelFacts;

use crate::ast::ProbeSpec;
use crate::diag::{codes, did_you_mean, Diagnostic};
use crate::ir::{Attach, UprobeTarget};

use super::probes::Resolved;

/// Expand a uprobe or uretprobe spec (`provider` is canonical).
pub(crate) fn resolve_uprobe(
    spec: &ProbeSpec,
    provider: &str,
    parts: &[&str],
    kernel: &dyn KernelFacts,
    pid: Option<u32>,
) -> Result<Vec<Resolved>, Diagnostic> {
    let [_, target, func] = parts else {
        return Err(Diagnostic::error(
            format!("malformed {provider} probe '{}'", spec.raw),
            spec.span,
        )
        .with_code(codes::MALFORMED_PROBE)
        .with_label(format!("expected {provider}:BINARY:FUNCTION"))
        .with_hint(format!(
            "e.g. {provider}:/bin/bash:readline or {provider}:libc:malloc"
        )));
    };
    if target.is_empty() || func.is_empty() {
        return Err(Diagnostic::error(
            format!("malformed {provider} probe '{}'", spec.raw),
            spec.span,
        )
        .with_code(codes::MALFORMED_PROBE)
        .with_label(format!("expected {provider}:BINARY:FUNCTION")));
    }
    let path = user_binary(spec, kernel, target, pid)?;
    let shown = path.display().to_string();
    let ret = provider == "uretprobe";
    let make = |func: String, offset: u64| Resolved {
        attach: Attach::Uprobe(UprobeTarget {
            provider: provider.to_string(),
            path: shown.clone(),
            func,
            offset,
            ret,
            pid,
            semaphore: None,
            usdt_args: Vec::new(),
        }),
        format: None,
    };
    if let Some(hex) = func.strip_prefix("0x") {
        let Ok(addr) = u64::from_str_radix(hex, 16) else {
            return Err(Diagnostic::error(
                format!("bad address '{func}' in '{}'", spec.raw),
                spec.span,
            )
            .with_code(codes::MALFORMED_PROBE));
        };
        let offset = file_offset(spec, kernel, &path, addr)?;
        return Ok(vec![make(func.to_string(), offset)]);
    }
    let symbols = kernel.user_functions(&path).map_err(|e| {
        Diagnostic::error(format!("cannot read symbols of {shown}: {e}"), spec.span)
            .with_code(codes::BINARY_NOT_FOUND)
    })?;
    let glob = has_glob(func);
    let matches: Vec<_> = symbols
        .iter()
        .filter(|s| {
            if glob {
                kestrel_kernel::glob::glob_match(func, &s.name)
            } else {
                s.name == *func
            }
        })
        .collect();
    if matches.is_empty() {
        let title = if glob {
            format!("no function of {shown} matches '{func}'")
        } else {
            format!("{shown} has no function '{func}'")
        };
        let mut d = Diagnostic::error(title, spec.span)
            .with_code(codes::UNKNOWN_USER_SYMBOL)
            .with_label("no such symbol");
        if !glob {
            if let Some(s) = did_you_mean(func, symbols.iter().map(|s| s.name.as_str())) {
                d = d.with_hint(format!(
                    "did you mean '{s}'? see `kestrel -l '{provider}:{shown}:*'`"
                ));
                return Err(d);
            }
        }
        if symbols.is_empty() {
            d = d.with_note("the binary has no function symbols (is it stripped?)");
        }
        return Err(d.with_hint(format!("see `kestrel -l '{provider}:{shown}:*'`")));
    }
    let mut out = Vec::with_capacity(matches.len());
    for s in matches {
        let offset = file_offset(spec, kernel, &path, s.address)?;
        out.push(make(s.name.clone(), offset));
    }
    Ok(out)
}

/// The binary `target` names, or a diagnostic.
pub(crate) fn user_binary(
    spec: &ProbeSpec,
    kernel: &dyn KernelFacts,
    target: &str,
    pid: Option<u32>,
) -> Result<std::path::PathBuf, Diagnostic> {
    kernel.user_binary(target, pid).map_err(|e| {
        Diagnostic::error(format!("cannot find binary '{target}': {e}"), spec.span)
            .with_code(codes::BINARY_NOT_FOUND)
            .with_label("no such binary or library")
            .with_hint("give a path (/usr/bin/bash) or a library name (libc)")
    })
}

fn file_offset(
    spec: &ProbeSpec,
    kernel: &dyn KernelFacts,
    path: &Path,
    addr: u64,
) -> Result<u64, Diagnostic> {
    match kernel.user_file_offset(path, addr) {
        Ok(Some(off)) => Ok(off),
        Ok(None) => Err(Diagnostic::error(
            format!(
                "address {addr:#x} is not in a loadable segment of {}",
                path.display()
            ),
            spec.span,
        )
        .with_code(codes::UNKNOWN_USER_SYMBOL)),
        Err(e) => Err(
            Diagnostic::error(format!("cannot read {}: {e}", path.display()), spec.span)
                .with_code(codes::BINARY_NOT_FOUND),
        ),
    }
}
