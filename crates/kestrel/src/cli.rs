//! Command-line flags.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// kestrel: trace the kernel with bpftrace scripts, compiled straight to eBPF.
#[derive(Debug, Parser)]
#[command(
    name = "kestrel",
    version,
    about = "Trace the kernel with bpftrace-compatible scripts, compiled straight to eBPF (no clang, no LLVM, no headers).",
    after_help = "EXAMPLES:\n  kestrel -e 'BEGIN { printf(\"hello world\\n\"); exit(); }'\n  kestrel -e 'tracepoint:syscalls:sys_enter_openat { @opens[comm] = count(); }'\n  kestrel -l 'tracepoint:sched:*'\n  kestrel --explain E0203\n  kestrel -lv tracepoint:syscalls:sys_enter_openat\n  kestrel --dump=insns -e 'tracepoint:syscalls:sys_enter_execve { printf(\"%s\\n\", str(args->filename)); }'\n  kestrel script.bt\n\nBUILT-IN TOOLS (execsnoop, opensnoop, tcplife, biolatency, ...):\n  kestrel tools\n  kestrel tool execsnoop --help\n\nPACKET FILTERS AND FIREWALL (see their --help):\n  kestrel filter --dump=insns 'tcp port 22 or udp port 53'\n  kestrel filter --pcap in.pcap -w out.pcap 'vlan 100 and tcp'\n  kestrel firewall up --iface eth0 --rules examples/firewall.toml"
)]
pub struct Cli {
    /// Program text to run (instead of a script file).
    #[arg(short = 'e', value_name = "PROGRAM")]
    pub program: Option<String>,

    /// List probes (optionally matching the pattern given as the argument), then exit.
    #[arg(short = 'l', long = "list")]
    pub list: bool,

    /// Verbose: with -l, show tracepoint arguments; otherwise report set-up steps on stderr.
    #[arg(short = 'v')]
    pub verbose: bool,

    /// Run COMMAND with the probes attached; stop when it exits (its PID is `cpid`).
    #[arg(short = 'c', long = "cmd", value_name = "COMMAND")]
    pub command: Option<String>,

    /// Trace process PID only: uprobes attach to it (libraries are found in its mappings)
    /// and every other probe filters on it.
    #[arg(short = 'p', long = "pid", value_name = "PID")]
    pub pid: Option<u32>,

    /// Print the compiled form instead of running it (no root needed).
    #[arg(short = 'd', long = "dump", value_enum, value_name = "WHAT")]
    pub dump: Option<Dump>,

    /// Write the compiled ELF object (BTF-defined maps; loadable by libbpf and
    /// `bpftool prog loadall`) to FILE instead of running it.
    #[arg(long = "emit-obj", value_name = "FILE")]
    pub emit_obj: Option<std::path::PathBuf>,

    /// Explain a diagnostic code (e.g. E0203) with an example, then exit.
    #[arg(long = "explain", value_name = "CODE")]
    pub explain: Option<String>,

    /// Output format (with json, diagnostics are JSON lines on stderr too).
    #[arg(short = 'f', long = "format", value_enum, default_value = "text")]
    pub format: OutputFormat,

    /// Write all output (what would go to stdout) to FILE instead.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Allow functions that change the system: system(), signal(), override().
    #[arg(long = "unsafe")]
    pub allow_unsafe: bool,

    /// Quiet: do not print the "Attached N probes" line.
    #[arg(short = 'q')]
    pub quiet: bool,

    /// Warn when a helper call fails at run time (bpftrace's -k; accepted, kestrel reports
    /// the errors it checks for whatever this says).
    #[arg(short = 'k', action = clap::ArgAction::Count)]
    pub helper_warnings: u8,

    /// Do not print compile-time warnings.
    #[arg(long = "no-warnings")]
    pub no_warnings: bool,

    /// Compile and load the program, but do not attach or run it.
    #[arg(long = "dry-run")]
    pub dry_run: bool,

    /// Print what this kernel and this build of kestrel support, then exit.
    #[arg(long = "info")]
    pub info: bool,

    /// Read FILE's `#define`s as if the script began with `#include "FILE"` (may be repeated).
    #[arg(long = "include", value_name = "FILE")]
    pub include: Vec<String>,

    /// Look for `#include "..."` headers in DIR too (may be repeated).
    #[arg(short = 'I', value_name = "DIR")]
    pub include_dirs: Vec<PathBuf>,

    /// Script file to run (or, with -l, the probe pattern).
    pub script: Option<String>,

    /// Arguments to the script ($1, $2, ...).
    pub args: Vec<String>,
}

/// What `--dump` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Dump {
    /// eBPF instructions of each probe, as `bpftool prog dump xlated` prints them.
    Insns,
    /// The typed intermediate representation.
    Ir,
    /// The syntax tree.
    Ast,
}

/// How output is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Text, as bpftrace prints it.
    Text,
    /// One JSON object per line, as `bpftrace -f json`.
    Json,
}

impl Cli {
    /// Language settings from the command line and the environment (BPFTRACE_MAX_STRLEN
    /// and the older BPFTRACE_STRLEN, as bpftrace reads them).
    pub fn lang_options(&self) -> kestrel_lang::Options {
        // With -e there is no script file, so the first free argument is already $1.
        let positional = match (&self.program, &self.script) {
            (Some(_), Some(first)) => std::iter::once(first.clone())
                .chain(self.args.iter().cloned())
                .collect(),
            _ => self.args.clone(),
        };
        // `#include "x.h"` looks next to the script first, then in -I directories.
        let mut include_dirs = Vec::new();
        if let (None, Some(path)) = (&self.program, &self.script) {
            if let Some(dir) = std::path::Path::new(path).parent() {
                include_dirs.push(dir.to_path_buf());
            }
        }
        include_dirs.extend(self.include_dirs.iter().cloned());
        let mut options = kestrel_lang::Options {
            preproc: kestrel_lang::preproc::Settings {
                include_dirs,
                pre_includes: self.include.iter().map(PathBuf::from).collect(),
            },
            positional,
            pid: self.pid,
            unsafe_allowed: self.allow_unsafe,
            ..Default::default()
        };
        if let Some(n) = std::env::var("KESTREL_STRLEN")
            .or_else(|_| std::env::var("BPFTRACE_MAX_STRLEN"))
            .or_else(|_| std::env::var("BPFTRACE_STRLEN"))
            .ok()
            .and_then(|v| v.parse::<u32>().ok())
        {
            // Bounded so a string (plus a record header) always fits the 512-byte stack.
            options.str_len = n.clamp(4, 200);
        }
        options
    }

    /// The script's name (for diagnostics) and its text.
    pub fn source(&self) -> anyhow::Result<(String, String)> {
        use anyhow::Context;
        match (&self.program, &self.script) {
            (Some(p), _) => Ok(("-e".to_string(), p.clone())),
            (None, Some(path)) if path == "-" => {
                // `-`: the script comes on stdin, as with bpftrace.
                let mut text = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                    .context("cannot read the script from stdin")?;
                Ok(("stdin".to_string(), text))
            }
            (None, Some(path)) => {
                let bytes = std::fs::read(PathBuf::from(path))
                    .with_context(|| format!("cannot read script '{path}'"))?;
                let text = String::from_utf8(bytes).map_err(|e| not_utf8(path, &e))?;
                Ok((path.clone(), text))
            }
            (None, None) => anyhow::bail!(
                "no program given: use -e 'PROGRAM' or a script file (see kestrel --help)"
            ),
        }
    }
}

/// A one-line error locating the first byte of a script that is not UTF-8.
fn not_utf8(path: &str, e: &std::string::FromUtf8Error) -> anyhow::Error {
    let bytes = e.as_bytes();
    let at = e.utf8_error().valid_up_to();
    let before = &bytes[..at];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let col = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    anyhow::anyhow!(
        "{path}:{line}:{col}: the script is not valid UTF-8 (byte 0x{:02x}); kestrel reads scripts as UTF-8 text",
        bytes.get(at).copied().unwrap_or(0)
    )
}
