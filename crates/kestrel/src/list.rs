//! `kestrel -l [PATTERN]`: list probes, like `bpftrace -l`.

use std::io::Write;
use std::process::ExitCode;

use kestrel_kernel::TracepointId;

/// Probe types that need no kernel listing.
const FIXED_PROBES: &[&str] = &["BEGIN", "END"];

/// Print every probe matching `pattern` (all tracepoints when absent); with `verbose`, each
/// tracepoint's arguments as `    TYPE NAME` lines.
pub fn list(pattern: Option<&str>, verbose: bool) -> anyhow::Result<ExitCode> {
    let pattern = pattern.unwrap_or("*");
    let kernel = crate::compile::kernel_facts(false, false)?;
    let (provider, rest) = match pattern.split_once(':') {
        Some((p, rest)) => (p, rest),
        // A bare word searches tracepoint names the way bpftrace does: `-l '*openat*'`.
        None => ("*", pattern),
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for fixed in FIXED_PROBES {
        if kestrel_kernel::glob::glob_match(pattern, fixed) {
            writeln!(out, "{fixed}")?;
        }
    }
    match provider {
        "uprobe" | "u" | "uretprobe" | "ur" | "usdt" | "U" => {
            return list_user(&mut out, kernel.as_ref(), provider, rest);
        }
        "rawtracepoint" | "rt" => {
            // syscalls:* are ftrace events built on sys_enter/sys_exit, not raw tracepoints.
            let mut names: Vec<String> = kernel
                .tracepoints(&format!("*:{rest}"))?
                .into_iter()
                .filter(|id| id.category != "syscalls")
                .map(|id| id.name)
                .collect();
            names.sort();
            names.dedup();
            for name in names {
                writeln!(out, "rawtracepoint:{name}")?;
            }
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    // Perf events: `software:page-faults:`, as bpftrace lists them.
    for (kind, table) in [
        ("software", kestrel_lang::perf_events::SOFTWARE),
        ("hardware", kestrel_lang::perf_events::HARDWARE),
    ] {
        let short = &kind[..1];
        if provider == "*" && !pattern.contains(':') {
            continue;
        }
        for e in table {
            let full = format!("{kind}:{}:", e.name);
            let alias = format!("{short}:{}:", e.name);
            let g = |p: &str, t: &str| kestrel_kernel::glob::glob_match(p, t);
            if g(pattern, &full) || g(pattern, full.trim_end_matches(':')) || g(pattern, &alias) {
                writeln!(out, "{full}")?;
            }
        }
    }
    if !kestrel_kernel::glob::glob_match(provider, "tracepoint") && provider != "t" {
        return Ok(ExitCode::SUCCESS);
    }
    let tp_pattern = if rest.contains(':') {
        rest.to_string()
    } else {
        format!("*:{rest}")
    };
    let ids: Vec<TracepointId> = kernel.tracepoints(&tp_pattern)?;
    for id in ids {
        writeln!(out, "tracepoint:{}:{}", id.category, id.name)?;
        if verbose {
            match kernel.tracepoint_format(&id) {
                Ok(format) => {
                    for f in format.args() {
                        writeln!(out, "    {}", c_declaration(&f.c_type, &f.name))?;
                    }
                }
                Err(e) => writeln!(out, "    (cannot read format: {e})")?,
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `-l 'uprobe:BINARY:PATTERN'` (functions) and `-l 'usdt:BINARY:PATTERN'` (USDT notes,
/// matched as `PROVIDER:NAME`).
fn list_user(
    out: &mut dyn Write,
    kernel: &(dyn kestrel_kernel::KernelFacts + Sync),
    provider: &str,
    rest: &str,
) -> anyhow::Result<ExitCode> {
    let (target, what) = match rest.split_once(':') {
        Some((t, w)) => (t, w),
        None => (rest, "*"),
    };
    let path = kernel.user_binary(target, None)?;
    let shown = path.display();
    let g = |p: &str, t: &str| kestrel_kernel::glob::glob_match(p, t);
    if matches!(provider, "usdt" | "U") {
        for n in kernel.usdt_probes(&path)? {
            let full = format!("{}:{}", n.provider, n.name);
            if g(what, &full) || g(what, &n.name) {
                writeln!(out, "usdt:{shown}:{full}")?;
            }
        }
    } else {
        let kind = if provider.starts_with("ur") {
            "uretprobe"
        } else {
            "uprobe"
        };
        for s in kernel.user_functions(&path)? {
            if g(what, &s.name) {
                writeln!(out, "{kind}:{shown}:{}", s.name)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A field as C declares it, the way bpftrace -lv prints it: `char comm[16]`,
/// `const char * filename`, `__data_loc char[] name`.
fn c_declaration(c_type: &str, name: &str) -> String {
    if !c_type.starts_with("__data_loc") {
        if let Some(open) = c_type.find('[') {
            let (base, dims) = c_type.split_at(open);
            return format!("{} {name}{dims}", base.trim_end());
        }
    }
    format!("{c_type} {name}")
}
