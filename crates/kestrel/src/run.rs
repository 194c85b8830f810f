//! Running a compiled script: load, attach, stream events, and print maps at the end, the
//! way bpftrace does.

use std::io::Write;
use std::process::ExitCode;

use kestrel_codegen::object::AttachPoint;
use kestrel_codegen::ObjectSpec;
use kestrel_runtime::{Flow, LoadOptions, OutputFormat, RuntimeError, Session, StopFlag};

use crate::cli::Cli;

/// Compile and run the script; returns the process exit code.
pub fn run(cli: &Cli, name: &str, source: &str) -> anyhow::Result<ExitCode> {
    // Syntax errors are worth showing to anyone, before asking for privileges.
    let syntax = crate::compile::on_big_stack(|| {
        Ok(
            kestrel_lang::parse_with(source, &cli.lang_options().preproc)
                .err()
                .map(|diags| crate::diagnostics::render(&diags, name, source)),
        )
    })?;
    if let Some(rendered) = syntax {
        eprint!("{rendered}");
        return Ok(ExitCode::from(1));
    }
    if let Some(why) = missing_privileges() {
        crate::diagnostics::fatal(&why);
        return Ok(ExitCode::from(1));
    }
    if let Some(pid) = cli.pid {
        // Checked up front: otherwise the first uprobe's perf_event_open fails with ESRCH.
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            crate::diagnostics::fatal(&format!("-p {pid}: no such process"));
            return Ok(ExitCode::from(1));
        }
    }
    let kernel = crate::compile::kernel_facts(false, cli.verbose)?;
    let Some(compiled) =
        crate::compile::compile(name, source, kernel.as_ref(), &cli.lang_options())?
    else {
        return Ok(ExitCode::from(1));
    };
    let object = compiled.object;
    let print_maps = compiled.print_maps_on_exit;
    let stop = StopFlag::install()?;
    let child = match &cli.command {
        Some(cmd) => Some(crate::child::HeldChild::spawn(cmd)?),
        None => None,
    };
    let options = LoadOptions {
        verbose_verifier: cli.verbose,
        format: output_format(cli),
        child_pid: child.as_ref().map(|c| c.pid()),
    };
    if cli.dry_run {
        // --dry-run: everything up to loading (the verifier included), nothing attached.
        if let Some(c) = child {
            c.abandon();
        }
        return Ok(match Session::load(object.clone(), &options) {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => report_verbose(&e, &object, name, source, cli.verbose),
        });
    }
    let loaded =
        Session::load(object.clone(), &options).and_then(|mut s| s.attach().map(|n| (s, n)));
    let (mut session, attached) = match loaded {
        Ok(ok) => ok,
        Err(e) => {
            if let Some(c) = child {
                c.abandon();
            }
            return Ok(report_verbose(&e, &object, name, source, cli.verbose));
        }
    };
    if cli.verbose {
        for s in session.program_stats() {
            let opt = |v: Option<usize>| v.map_or("?".to_string(), |n| n.to_string());
            eprintln!(
                "kestrel: {}: {} insns generated, {} after verification ({} verified), {} bytes JITed",
                s.probe,
                s.insns,
                opt(s.xlated_insns),
                opt(s.verified_insns),
                opt(s.jited_bytes)
            );
        }
    }
    // -o FILE: everything that would go to stdout goes to the file, as in bpftrace.
    let mut out: Box<dyn Write> = match &cli.output {
        Some(path) => {
            use anyhow::Context;
            let file = std::fs::File::create(path)
                .with_context(|| format!("cannot create output file '{}'", path.display()))?;
            Box::new(std::io::LineWriter::new(file))
        }
        None => Box::new(std::io::stdout().lock()),
    };
    let plural = if attached == 1 { "" } else { "s" };
    if cli.quiet {
    } else if cli.format == crate::cli::OutputFormat::Json {
        writeln!(
            out,
            r#"{{"type": "attached_probes", "data": {{"probes": {attached}}}}}"#
        )?;
    } else {
        // Current bpftrace prints this on stderr, so stdout holds only the script's output.
        eprintln!("Attached {attached} probe{plural}");
    }
    // bpftrace's runtime test suite waits for this line before it starts its workload.
    if std::env::var_os("__BPFTRACE_NOTIFY_PROBES_ATTACHED").is_some() {
        writeln!(std::io::stdout(), "__BPFTRACE_NOTIFY_PROBES_ATTACHED")?;
    }
    out.flush()?;
    // Like current bpftrace, a script with only BEGIN and END probes ends once BEGIN has
    // run (there is nothing else to wait for), unless it runs a command.
    let begin_end_only = object
        .programs
        .iter()
        .all(|p| matches!(p.attach, AttachPoint::Begin | AttachPoint::End));
    let wait = !begin_end_only || child.is_some();
    // Dropped when run() returns, on any path: a command still running is killed then.
    let _running = match child {
        Some(c) => Some(c.release(&stop)?),
        None => None,
    };
    if session.run_begin(&mut out)? == Flow::Continue && wait {
        session.poll(&mut out, &stop)?;
    }
    session.run_end(&mut out)?;
    if print_maps {
        session.print_maps(&mut out)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn output_format(cli: &Cli) -> OutputFormat {
    match cli.format {
        crate::cli::OutputFormat::Text => OutputFormat::Text,
        crate::cli::OutputFormat::Json => OutputFormat::Json,
    }
}

/// Why this process cannot load BPF programs, if it cannot.
pub fn missing_privileges() -> Option<String> {
    // CAP_SYS_ADMIN (21), or CAP_BPF (39) with CAP_PERFMON (38), lets a process load tracing
    // programs.
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let caps = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))?
        .trim();
    let caps = u64::from_str_radix(caps, 16).ok()?;
    let has = |bit: u32| caps & (1u64 << bit) != 0;
    if has(21) || (has(39) && has(38)) {
        None
    } else {
        Some("kestrel needs root (or CAP_BPF and CAP_PERFMON) to load eBPF programs; try: sudo kestrel ...".to_string())
    }
}

/// [`report_verbose`] without the verifier's log lines.
pub fn report(e: &RuntimeError, object: &ObjectSpec, name: &str, source: &str) -> ExitCode {
    report_verbose(e, object, name, source, false)
}

/// Print a runtime error. A verifier rejection becomes a coded diagnostic at the source
/// line the failing instruction came from, with a one-sentence reason for the common
/// classes; the verifier's own last lines are shown when `verbose` (-v).
pub fn report_verbose(
    e: &RuntimeError,
    object: &ObjectSpec,
    name: &str,
    source: &str,
    verbose: bool,
) -> ExitCode {
    let RuntimeError::Verifier {
        program,
        probe,
        log,
        insn,
    } = e
    else {
        crate::diagnostics::fatal(&e.to_string());
        return ExitCode::from(1);
    };
    use kestrel_lang::diag::codes;
    let why = kestrel_runtime::verifier::explain(log);
    let last = kestrel_runtime::verifier::tail(log, 1).join("");
    // Some messages name the instruction only in their text ("unreachable insn 14").
    let insn = insn.or_else(|| {
        last.rsplit_once("insn ")
            .and_then(|(_, n)| n.trim().parse::<usize>().ok())
    });
    let span = object
        .programs
        .iter()
        .find(|p| &p.name == program)
        .and_then(|p| insn.and_then(|i| p.insn_spans.get(i).copied().flatten()));
    let title = format!("the kernel's verifier rejected probe {probe}");
    let mut d = match span {
        Some((start, end)) => kestrel_lang::Diagnostic::error(
            title,
            kestrel_lang::Span::new(start as usize, end as usize),
        )
        .with_label(match insn {
            Some(i) => format!("instruction {i} comes from here"),
            None => String::new(),
        }),
        None => kestrel_lang::Diagnostic::error(title, kestrel_lang::Span::new(0, 0)),
    }
    .with_code(codes::VERIFIER_REJECTED);
    if let Some(why) = why {
        d = d.with_note(why);
    }
    if !last.is_empty() {
        d = d.with_note(format!("the verifier said: {last}"));
    }
    if !verbose {
        d = d.with_hint("run with -v to see the verifier's last lines");
    }
    if span.is_some() {
        crate::diagnostics::emit(&[d], name, source);
    } else {
        crate::diagnostics::emit_unplaced(&d);
    }
    if verbose {
        eprintln!("verifier log (last lines):");
        for line in kestrel_runtime::verifier::tail(log, 12) {
            eprintln!("  {line}");
        }
    }
    ExitCode::from(1)
}
