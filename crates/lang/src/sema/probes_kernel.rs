//! Resolving probes on kernel code other than tracepoints: `rawtracepoint:NAME` and the
//! kernel-function probes (`kprobe`, `kretprobe`, `kfunc`, `kretfunc`). Kernel-function
//! probes are generated and attempted; where the kernel lacks them the runtime reports it
//! in one line, naming the tracepoint worked out here as the alternative.

use kestrel_kernel::glob::{glob_match, has_glob};
use kestrel_kernel::KernelFacts;

use crate::ast::ProbeSpec;
use crate::diag::{codes, Diagnostic};
use crate::ir::{Attach, KernelFuncTarget};

use super::probes::Resolved;

/// `rawtracepoint:NAME` (or `rawtracepoint:MODULE:NAME`); globs give one probe per match.
pub(crate) fn resolve_raw(
    spec: &ProbeSpec,
    parts: &[&str],
    kernel: &dyn KernelFacts,
) -> Result<Vec<Resolved>, Diagnostic> {
    let name = match parts {
        [_, name] | [_, _, name] if !name.is_empty() => *name,
        _ => {
            return Err(Diagnostic::error(
                format!("malformed raw tracepoint probe '{}'", spec.raw),
                spec.span,
            )
            .with_code(codes::MALFORMED_PROBE)
            .with_label("expected rawtracepoint:NAME")
            .with_hint("e.g. rawtracepoint:sys_enter"))
        }
    };
    let ids = kernel.tracepoints(&format!("*:{name}")).map_err(|e| {
        Diagnostic::error(format!("cannot resolve '{}': {e}", spec.raw), spec.span)
            .with_code(codes::CANNOT_ATTACH)
    })?;
    // The syscalls:* events are made by ftrace from the sys_enter/sys_exit tracepoints and
    // are not raw tracepoints themselves.
    let mut names: Vec<String> = ids
        .into_iter()
        .filter(|id| id.category != "syscalls")
        .map(|id| id.name)
        .collect();
    names.sort();
    names.dedup();
    if names.is_empty() {
        return Err(
            Diagnostic::error(format!("unknown raw tracepoint '{name}'"), spec.span)
                .with_code(codes::UNKNOWN_TRACEPOINT)
                .with_label("no tracepoint of this name on this kernel")
                .with_hint(format!(
                    "see `kestrel -l 'tracepoint:*{}*'`",
                    name.trim_matches('*')
                )),
        );
    }
    Ok(names
        .into_iter()
        .map(|name| Resolved {
            attach: Attach::RawTracepoint { name },
            format: None,
        })
        .collect())
}

/// `kprobe:FUNC`, `kretprobe:FUNC`, `kfunc:FUNC`, `kretfunc:FUNC` (optionally with a module:
/// `kfunc:vmlinux:FUNC`); `provider` is canonical.
pub(crate) fn resolve_kernel_func(
    spec: &ProbeSpec,
    provider: &str,
    parts: &[&str],
    kernel: &dyn KernelFacts,
) -> Result<Vec<Resolved>, Diagnostic> {
    let func = match parts {
        [_, func] | [_, _, func] if !func.is_empty() => *func,
        _ => {
            return Err(Diagnostic::error(
                format!("malformed {provider} probe '{}'", spec.raw),
                spec.span,
            )
            .with_code(codes::MALFORMED_PROBE)
            .with_label(format!("expected {provider}:FUNCTION")))
        }
    };
    if has_glob(func) {
        return Err(Diagnostic::error(
            format!("{provider} probes take one function, not a pattern ('{func}')"),
            spec.span,
        )
        .with_code(codes::CANNOT_ATTACH)
        .with_hint(format!(
            "this kernel has no {provider}s anyway; see `kestrel -l 'tracepoint:*{}*'`",
            func.trim_matches('*')
        )));
    }
    if let Ok(None) = kernel.kernel_symbol(func) {
        return Err(
            Diagnostic::error(format!("unknown kernel function '{func}'"), spec.span)
                .with_code(codes::UNKNOWN_SYMBOL)
                .with_label("not in /proc/kallsyms")
                .with_hint(alternative(func, provider, kernel)),
        );
    }
    Ok(vec![Resolved {
        attach: Attach::Kernel(KernelFuncTarget {
            provider: provider.to_string(),
            func: func.to_string(),
            alternative: alternative(func, provider, kernel),
        }),
        format: None,
    }])
}

/// The tracepoint that covers kernel function `func`, as advice: `use
/// tracepoint:syscalls:sys_enter_openat instead`, or a listing command to find one.
pub(crate) fn alternative(func: &str, provider: &str, kernel: &dyn KernelFacts) -> String {
    let on_return = matches!(provider, "kretprobe" | "kretfunc");
    let phase = if on_return { "exit" } else { "enter" };
    let exists = |category: &str, name: &str| {
        kernel
            .tracepoints(&format!("{category}:{name}"))
            .is_ok_and(|ids| !ids.is_empty())
    };
    // System call entry points and their helpers map onto the syscalls tracepoints.
    let syscall = [
        "__x64_sys_",
        "__ia32_sys_",
        "__se_sys_",
        "__do_sys_",
        "ksys_",
        "sys_",
    ]
    .iter()
    .find_map(|p| func.strip_prefix(p))
    .or(match func {
        "do_sys_openat2" | "do_sys_open" | "do_filp_open" => Some("openat"),
        "do_execveat_common" | "do_execve" => Some("execve"),
        "do_exit" => Some("exit"),
        "do_nanosleep" | "hrtimer_nanosleep" => Some("nanosleep"),
        "vfs_read" => Some("read"),
        "vfs_write" => Some("write"),
        _ => None,
    });
    if let Some(name) = syscall {
        let tp = format!("sys_{phase}_{name}");
        if exists("syscalls", &tp) {
            return format!("use tracepoint:syscalls:{tp} instead");
        }
    }
    // A tracepoint named like the function (sched_switch, tcp_retransmit_skb, ...).
    let stem = func.trim_start_matches('_');
    if let Ok(ids) = kernel.tracepoints(&format!("*:{stem}")) {
        if let Some(id) = ids.first() {
            return format!("use tracepoint:{}:{} instead", id.category, id.name);
        }
    }
    if let Ok(ids) = kernel.tracepoints("*:*") {
        let close: Vec<_> = ids
            .iter()
            .filter(|id| glob_match(&format!("*{stem}*"), &id.name))
            .collect();
        if close.len() == 1 {
            return format!(
                "use tracepoint:{}:{} instead",
                close[0].category, close[0].name
            );
        }
    }
    format!("look for a tracepoint with `kestrel -l 'tracepoint:*{stem}*'`")
}
