//! `kestrel guard`: Falco-format runtime security rules. With no subcommand it loads the
//! rules onto syscall tracepoints and prints alerts (see `guard_live`); `check` validates
//! rules files without loading anything into the kernel (no root needed); `scenario` runs
//! the built-in offender programs.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kestrel_guard::{diag, Ruleset};

/// `kestrel guard`
#[derive(Parser, Debug)]
#[command(
    name = "kestrel guard",
    bin_name = "kestrel guard",
    about = "Runtime security with Falco-format rules",
    after_help = "EXAMPLES:\n  kestrel guard check                       # the default rules\n  kestrel guard check my_rules.yaml local.yaml\n  kestrel guard check -v my_rules.yaml      # syscalls and kernel filters per rule"
)]
#[command(args_conflicts_with_subcommands = true)]
struct GuardCli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    #[command(flatten)]
    run: RunArgs,
}

/// Options of the run mode (`kestrel guard [OPTIONS]`).
#[derive(clap::Args, Debug)]
struct RunArgs {
    /// Rules files instead of the built-in rules (later files append/override).
    #[arg(long, num_args = 1..)]
    rules: Vec<PathBuf>,
    /// Print alerts as Falco JSON lines.
    #[arg(long)]
    json: bool,
    /// Also append alerts to FILE.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// POST each alert as JSON to URL (http:// only; falcosidekick's input).
    #[arg(long, value_name = "URL")]
    http_output: Option<String>,
    /// Carry out the rules' actions (action: kill). Default: alert only.
    #[arg(long)]
    enforce: bool,
    /// Only alerts from process PID and its descendants.
    #[arg(long, value_name = "PID")]
    pid: Option<u32>,
    /// Stop after SECONDS.
    #[arg(long, value_name = "SECONDS")]
    duration: Option<f64>,
    /// On exit, print the event and alert counters as a JSON line on stderr.
    #[arg(long)]
    stats: bool,
    /// Ring buffer size in MiB (rounded up to a power of two).
    #[arg(long, default_value_t = 16)]
    ring_mb: u32,
    /// Create FILE (holding our pid) once every program is attached.
    #[arg(long, value_name = "FILE")]
    ready_file: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Validate rules files (loaded in order; later files append to and override earlier
    /// ones). Prints located errors and the rules kestrel cannot evaluate, with the reason.
    /// Exit status 1 on errors.
    Check {
        /// Also list each rule with the syscalls it needs and its kernel-side filter.
        #[arg(short, long)]
        verbose: bool,
        /// Rules files (default: the built-in rules).
        files: Vec<PathBuf>,
    },
    /// List the fields conditions and outputs can use: type, which events give them a
    /// value, how they are computed, and whether the kernel side can test them.
    Fields,
    /// Run built-in offender scenarios (named after falcosecurity/event-generator
    /// actions): NAME or `all`. Exit status: the (last) offender's.
    Scenario {
        /// Scenario name, or `all`.
        name: String,
        /// Directory for the scenario's files (default: a new one under $TMPDIR).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// How long each offender waits after its offending call before writing its
        /// marker file (the window a userspace kill must land in).
        #[arg(long, default_value_t = crate::guard_live::scenario::DEFAULT_WAIT_MS)]
        wait_ms: u64,
    },
    /// The offender of a scenario (internal).
    #[command(hide = true)]
    ScenarioStep {
        /// Scenario name.
        name: String,
        /// Its directory.
        dir: PathBuf,
        /// Wait after the offending call, in ms.
        wait_ms: u64,
    },
}

/// Entry point (`args[0]` is "guard").
pub fn main(args: &[String]) -> anyhow::Result<ExitCode> {
    let cli = GuardCli::parse_from(args);
    match cli.cmd {
        Some(Cmd::Check { verbose, files }) => check(&files, verbose),
        Some(Cmd::Scenario { name, dir, wait_ms }) => {
            let code = crate::guard_live::scenario::run(&name, dir.as_deref(), wait_ms)?;
            Ok(ExitCode::from(code.clamp(0, 255) as u8))
        }
        Some(Cmd::ScenarioStep { name, dir, wait_ms }) => {
            let code = crate::guard_live::scenario::step(&name, &dir, wait_ms)?;
            Ok(ExitCode::from(code.clamp(0, 255) as u8))
        }
        None => {
            let r = cli.run;
            crate::guard_live::run(&crate::guard_live::RunOptions {
                rules: r.rules,
                json: r.json,
                output: r.output,
                http: r.http_output,
                enforce: r.enforce,
                pid: r.pid,
                duration: r.duration.map(std::time::Duration::from_secs_f64),
                stats: r.stats,
                ring_mb: r.ring_mb,
                ready_file: r.ready_file,
            })
        }
        Some(Cmd::Fields) => {
            fields();
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn fields() {
    use kestrel_guard::fields::{ArgMode, FieldType, FIELDS};
    for f in FIELDS {
        let ty = match f.ty {
            FieldType::Str => "string",
            FieldType::Num => "number",
            FieldType::Bool => "bool",
            FieldType::Ip => "ipaddr",
            FieldType::Dyn => "arg",
        };
        let name = match f.arg {
            ArgMode::None => f.name.to_string(),
            ArgMode::OptIndex => format!("{}[N]", f.name),
            ArgMode::Arg => format!("{}.NAME / {}[N]", f.name, f.name),
        };
        let kernel = f
            .kernel
            .map(|k| format!(" [kernel: {k}]"))
            .unwrap_or_default();
        println!("{name:<28} {ty:<7} {} ({}){kernel}", f.computed, f.events);
    }
}

/// Stack for loading rules: the YAML parser and the condition compiler recurse on nesting
/// (the condition parser stops at 200 levels; YAML nesting is bounded only by the stack).
const LOAD_STACK: usize = 256 << 20;

fn check(files: &[PathBuf], verbose: bool) -> anyhow::Result<ExitCode> {
    let files = files.to_vec();
    std::thread::Builder::new()
        .name("guard-check".into())
        .stack_size(LOAD_STACK)
        .spawn(move || check_on_this_thread(&files, verbose))?
        .join()
        .map_err(|_| anyhow::anyhow!("internal error while checking rules"))?
}

fn check_on_this_thread(files: &[PathBuf], verbose: bool) -> anyhow::Result<ExitCode> {
    let (loaded, what) = if files.is_empty() {
        let f = vec![(
            kestrel_guard::DEFAULT_RULES_NAME.to_string(),
            kestrel_guard::DEFAULT_RULES.to_string(),
        )];
        (
            Ruleset::load(&f),
            kestrel_guard::DEFAULT_RULES_NAME.to_string(),
        )
    } else {
        let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
        (Ruleset::load_paths(files), names.join(" "))
    };
    let set = match loaded {
        Ok(s) => s,
        Err(diags) => {
            eprint!("{}", diag::render_all(&diags));
            let n = diags.iter().filter(|d| d.is_error()).count();
            eprintln!("\n{what}: {n} error{}", if n == 1 { "" } else { "s" });
            return Ok(ExitCode::from(1));
        }
    };
    for w in &set.warnings {
        eprint!("{}", w.render());
    }
    for s in &set.skipped {
        println!("not evaluable: {} ({}): {}", s.name, s.position, s.reason);
    }
    if verbose {
        for r in &set.rules {
            let sys: Vec<&str> = r.syscalls.iter().map(String::as_str).collect();
            let k = if r.kernel.exact {
                "whole condition in kernel"
            } else {
                "kernel prefilter, rest in userspace"
            };
            println!(
                "rule: {} [{}] syscalls: {} ({k})",
                r.name,
                r.priority.as_str(),
                sys.join(",")
            );
        }
        let all: Vec<String> = set.syscalls().into_iter().collect();
        println!(
            "tracepoints: syscalls:sys_{{enter,exit}}_{{{}}}",
            all.join(",")
        );
    }
    println!(
        "{what}: {} rules ok, {} not evaluable, {} disabled",
        set.rules.len(),
        set.skipped.len(),
        set.disabled.len()
    );
    Ok(ExitCode::SUCCESS)
}
