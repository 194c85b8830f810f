//! Resolving perf-event probes: `profile:hz|s|ms|us:N` (cpu-clock sampling on every CPU) and
//! `software:EVENT[:COUNT]` / `hardware:EVENT[:COUNT]`.

use crate::ast::ProbeSpec;
use crate::diag::{codes, did_you_mean, Diagnostic};
use crate::ir::{Attach, PerfTarget};
use crate::perf_events::{self, PerfEvent};

use super::probes::Resolved;

/// `profile:hz:99`, `profile:ms:10`, `profile:us:100`, `profile:s:1` (or `profile:99` for Hz).
pub(crate) fn resolve_profile(
    spec: &ProbeSpec,
    parts: &[&str],
) -> Result<Vec<Resolved>, Diagnostic> {
    let bad = || {
        Diagnostic::error(format!("malformed profile probe '{}'", spec.raw), spec.span)
            .with_code(codes::MALFORMED_PROBE)
            .with_label("expected profile:UNIT:N")
            .with_hint("units: hz, s, ms, us — e.g. profile:hz:99 or profile:ms:10")
    };
    let (unit, count) = match parts {
        [_, unit, count] => (*unit, *count),
        [_, count] if count.chars().all(|c| c.is_ascii_digit()) => ("hz", *count),
        _ => return Err(bad()),
    };
    let n: u64 = count.parse().map_err(|_| bad())?;
    if n == 0 {
        return Err(
            Diagnostic::error("a profile rate must be greater than zero", spec.span)
                .with_code(codes::INVALID_INTERVAL),
        );
    }
    // cpu-clock counts nanoseconds: a period is a time, a rate a frequency.
    let (sample, frequency) = match unit {
        "hz" => (n, true),
        "s" => (n.checked_mul(1_000_000_000).ok_or_else(bad)?, false),
        "ms" => (n.checked_mul(1_000_000).ok_or_else(bad)?, false),
        "us" => (n.checked_mul(1_000).ok_or_else(bad)?, false),
        _ => return Err(bad()),
    };
    Ok(vec![Resolved {
        attach: Attach::Perf(PerfTarget {
            name: format!("profile:{unit}:{n}"),
            hardware: false,
            config: 0,
            sample,
            frequency,
        }),
        format: None,
    }])
}

/// `software:EVENT[:COUNT]` and `hardware:EVENT[:COUNT]` (`provider` is canonical).
pub(crate) fn resolve_counter(
    spec: &ProbeSpec,
    provider: &str,
    parts: &[&str],
) -> Result<Vec<Resolved>, Diagnostic> {
    let hardware = provider == "hardware";
    let table: &'static [PerfEvent] = if hardware {
        perf_events::HARDWARE
    } else {
        perf_events::SOFTWARE
    };
    let (name, count) = match parts {
        [_, name] => (*name, None),
        [_, name, count] => (*name, Some(*count)),
        _ => {
            return Err(Diagnostic::error(
                format!("malformed {provider} probe '{}'", spec.raw),
                spec.span,
            )
            .with_code(codes::MALFORMED_PROBE)
            .with_label(format!("expected {provider}:EVENT[:COUNT]")))
        }
    };
    let Some(event) = perf_events::find(table, name) else {
        let names = table.iter().map(|e| e.name);
        let mut d = Diagnostic::error(format!("unknown {provider} event '{name}'"), spec.span)
            .with_code(codes::UNKNOWN_PERF_EVENT)
            .with_label(format!("not a {provider} event"));
        d = match did_you_mean(name, names) {
            Some(s) => d.with_hint(format!("did you mean '{provider}:{s}'?")),
            None => d.with_hint(format!("see `kestrel -l '{provider}:*'`")),
        };
        return Err(d);
    };
    let sample = match count {
        None => event.default_count,
        Some(c) => match c.parse::<u64>() {
            Ok(n) if n > 0 => n,
            _ => {
                return Err(Diagnostic::error(
                    format!("bad count '{c}' in '{}'", spec.raw),
                    spec.span,
                )
                .with_code(codes::INVALID_INTERVAL)
                .with_hint("the count is how many events pass between two runs, e.g. 100"))
            }
        },
    };
    Ok(vec![Resolved {
        attach: Attach::Perf(PerfTarget {
            name: format!("{provider}:{}:{sample}", event.name),
            hardware,
            config: event.config,
            sample,
            frequency: false,
        }),
        format: None,
    }])
}
