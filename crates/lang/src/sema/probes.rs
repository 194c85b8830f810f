//! Resolving probe specs (`tracepoint:syscalls:sys_enter_open*`, `interval:ms:100`, `BEGIN`)
//! to concrete attach points.

use crate::diag::codes;
use kestrel_kernel::{KernelError, KernelFacts, TracepointFormat, TracepointId};

use crate::ast::ProbeSpec;
use crate::diag::{did_you_mean, Diagnostic};
use crate::ir::Attach;

/// One concrete attach point a spec expanded to, with the tracepoint's format when it has one.
pub(crate) struct Resolved {
    pub attach: Attach,
    pub format: Option<TracepointFormat>,
}

/// Providers kestrel knows by name but cannot attach yet, with the reason shown to the user.
const NOT_YET: &[(&str, &str)] = &[];

/// Every probe type, for "did you mean" hints.
const KNOWN: &[&str] = &[
    "BEGIN",
    "END",
    "tracepoint",
    "interval",
    "uprobe",
    "uretprobe",
    "profile",
    "software",
    "hardware",
    "rawtracepoint",
    "kprobe",
    "kretprobe",
    "kfunc",
    "kretfunc",
    "usdt",
];

/// Expand one spec into its attach points, or explain why it cannot be attached. `pid` is
/// `-p PID`, which scopes uprobes and perf events to that process.
pub(crate) fn resolve(
    spec: &ProbeSpec,
    kernel: &dyn KernelFacts,
    pid: Option<u32>,
) -> Result<Vec<Resolved>, Diagnostic> {
    let parts: Vec<&str> = spec.parts.iter().map(String::as_str).collect();
    let provider = parts.first().copied().unwrap_or("");
    let canonical = match provider {
        "t" => "tracepoint",
        "i" => "interval",
        "k" => "kprobe",
        "kr" => "kretprobe",
        "f" | "fentry" => "kfunc",
        "fr" | "fexit" => "kretfunc",
        "u" => "uprobe",
        "ur" => "uretprobe",
        "U" => "usdt",
        "p" => "profile",
        "s" => "software",
        "h" => "hardware",
        "rt" => "rawtracepoint",
        // Current bpftrace spells them in lower case; both are accepted.
        "begin" => "BEGIN",
        "end" => "END",
        other => other,
    };
    match canonical {
        "BEGIN" | "END" if parts.len() == 1 => {
            let attach = if canonical == "BEGIN" {
                Attach::Begin
            } else {
                Attach::End
            };
            Ok(vec![Resolved {
                attach,
                format: None,
            }])
        }
        "tracepoint" => resolve_tracepoint(spec, &parts, kernel),
        "interval" => resolve_interval(spec, &parts),
        "uprobe" | "uretprobe" => {
            super::probes_user::resolve_uprobe(spec, canonical, &parts, kernel, pid)
        }
        "usdt" => super::probes_usdt::resolve_usdt(spec, &parts, kernel, pid),
        "profile" => super::probes_perf::resolve_profile(spec, &parts),
        "software" | "hardware" => super::probes_perf::resolve_counter(spec, canonical, &parts),
        "rawtracepoint" => super::probes_kernel::resolve_raw(spec, &parts, kernel),
        "kprobe" | "kretprobe" | "kfunc" | "kretfunc" => {
            super::probes_kernel::resolve_kernel_func(spec, canonical, &parts, kernel)
        }
        _ => {
            if let Some((_, why)) = NOT_YET.iter().find(|(name, _)| *name == canonical) {
                return Err(Diagnostic::error(
                    format!("cannot attach '{}': {why}", spec.raw),
                    spec.span,
                )
                .with_code(codes::CANNOT_ATTACH)
                .with_label("unsupported probe type"));
            }
            let mut d = Diagnostic::error(format!("unknown probe type '{provider}'"), spec.span)
                .with_code(codes::UNKNOWN_PROBE_TYPE)
                .with_label("not a probe kestrel knows");
            if let Some(s) = did_you_mean(provider, KNOWN.iter().copied()) {
                d = d.with_hint(format!("did you mean '{s}'?"));
            } else {
                d = d.with_hint(
                    "probe types: BEGIN, END, tracepoint, rawtracepoint, interval, profile, software, hardware, uprobe, uretprobe, usdt, kprobe, kretprobe, kfunc, kretfunc",
                );
            }
            Err(d)
        }
    }
}

fn resolve_tracepoint(
    spec: &ProbeSpec,
    parts: &[&str],
    kernel: &dyn KernelFacts,
) -> Result<Vec<Resolved>, Diagnostic> {
    if parts.len() != 3 || parts[1].is_empty() || parts[2].is_empty() {
        return Err(Diagnostic::error(
            format!("malformed tracepoint probe '{}'", spec.raw),
            spec.span,
        )
        .with_code(codes::MALFORMED_PROBE)
        .with_label("expected tracepoint:CATEGORY:NAME")
        .with_hint("list tracepoints with `kestrel -l 'tracepoint:*'`"));
    }
    let (category, name) = (parts[1], parts[2]);
    let pattern = format!("{category}:{name}");
    let ids = kernel
        .tracepoints(&pattern)
        .map_err(|e| kernel_error(spec, &e))?;
    if ids.is_empty() {
        return Err(unknown_tracepoint(spec, category, name, kernel));
    }
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let format = kernel
            .tracepoint_format(&id)
            .map_err(|e| kernel_error(spec, &e))?;
        out.push(Resolved {
            attach: Attach::Tracepoint {
                category: id.category.clone(),
                name: id.name.clone(),
            },
            format: Some(format),
        });
    }
    Ok(out)
}

fn unknown_tracepoint(
    spec: &ProbeSpec,
    category: &str,
    name: &str,
    kernel: &dyn KernelFacts,
) -> Diagnostic {
    let is_glob = format!("{category}{name}").contains(['*', '?', '[']);
    let title = if is_glob {
        format!("no tracepoint matches '{category}:{name}'")
    } else {
        format!("unknown tracepoint '{category}:{name}'")
    };
    let code = if is_glob {
        codes::GLOB_MATCHES_NOTHING
    } else {
        codes::UNKNOWN_TRACEPOINT
    };
    let mut d = Diagnostic::error(title, spec.span)
        .with_code(code)
        .with_label("no such tracepoint on this kernel");
    let same_category: Vec<TracepointId> = kernel
        .tracepoints(&format!("{category}:*"))
        .unwrap_or_default();
    if !same_category.is_empty() {
        let names: Vec<&str> = same_category.iter().map(|id| id.name.as_str()).collect();
        if let Some(s) = did_you_mean(name, names.iter().copied()) {
            d = d.with_hint(format!(
                "did you mean 'tracepoint:{category}:{s}'? see `kestrel -l 'tracepoint:{category}:*'`"
            ));
        } else {
            d = d.with_hint(format!("see `kestrel -l 'tracepoint:{category}:*'`"));
        }
    } else {
        let all: Vec<TracepointId> = kernel.tracepoints("*:*").unwrap_or_default();
        let mut categories: Vec<&str> = all.iter().map(|id| id.category.as_str()).collect();
        categories.dedup();
        match did_you_mean(category, categories.iter().copied()) {
            Some(s) => {
                d = d.with_hint(format!(
                "no category '{category}'; did you mean '{s}'? see `kestrel -l 'tracepoint:{s}:*'`"
            ))
            }
            None => d = d.with_hint("see `kestrel -l 'tracepoint:*'`"),
        }
    }
    d
}

fn kernel_error(spec: &ProbeSpec, e: &KernelError) -> Diagnostic {
    Diagnostic::error(format!("cannot resolve '{}': {e}", spec.raw), spec.span)
        .with_code(codes::CANNOT_ATTACH)
}

fn resolve_interval(spec: &ProbeSpec, parts: &[&str]) -> Result<Vec<Resolved>, Diagnostic> {
    let bad = || {
        Diagnostic::error(
            format!("malformed interval probe '{}'", spec.raw),
            spec.span,
        )
        .with_code(codes::MALFORMED_PROBE)
        .with_label("expected interval:UNIT:N")
        .with_hint("units: s, ms, us, ns, hz — e.g. interval:s:1 or interval:ms:100")
    };
    let (unit, count) = match parts {
        [_, unit, count] => (*unit, *count),
        [_, both] => {
            let split = both.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
            (&both[split..], &both[..split])
        }
        _ => return Err(bad()),
    };
    let n: u64 = count.parse().map_err(|_| bad())?;
    if n == 0 {
        return Err(
            Diagnostic::error("interval must be greater than zero", spec.span)
                .with_code(codes::INVALID_INTERVAL),
        );
    }
    let period_ns = match unit {
        "s" => n.checked_mul(1_000_000_000),
        "ms" => n.checked_mul(1_000_000),
        "us" => n.checked_mul(1_000),
        "ns" => Some(n),
        "hz" => Some(1_000_000_000 / n),
        _ => return Err(bad()),
    }
    .ok_or_else(bad)?;
    if period_ns < 10_000 {
        return Err(
            Diagnostic::error(format!("interval '{}' is too short", spec.raw), spec.span)
                .with_code(codes::INVALID_INTERVAL)
                .with_hint("the shortest interval is 10us"),
        );
    }
    Ok(vec![Resolved {
        attach: Attach::Interval { period_ns },
        format: None,
    }])
}
