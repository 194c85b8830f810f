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
