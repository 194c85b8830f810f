//! kestrel command-line interface: parses flags, wires the compiler to the runtime, prints
//! diagnostics and picks exit codes. Everything else lives in the library crates.
#![forbid(unsafe_code)]

mod agent;
mod child;
mod cli;
mod compile;
mod diagnostics;
mod filter_cmd;
mod firewall_cmd;
mod guard_cmd;
mod guard_live;
mod http_cmd;
mod info;
mod lb_cmd;
mod list;
mod policy_cmd;
mod run;
mod tools_cmd;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let sub = match argv.get(1).map(String::as_str) {
        Some("firewall") => Some(firewall_cmd::main as fn(&[String]) -> anyhow::Result<ExitCode>),
        Some("lb") => Some(lb_cmd::main as fn(&[String]) -> anyhow::Result<ExitCode>),
        Some("policy") => Some(policy_cmd::main as fn(&[String]) -> anyhow::Result<ExitCode>),
        Some("filter") => Some(filter_cmd::main as fn(&[String]) -> anyhow::Result<ExitCode>),
        Some("guard") => Some(guard_cmd::main as fn(&[String]) -> anyhow::Result<ExitCode>),
        Some("http") => Some(http_cmd::main as fn(&[String]) -> anyhow::Result<ExitCode>),
        Some("bench") => {
            Some(firewall_cmd::bench_main as fn(&[String]) -> anyhow::Result<ExitCode>)
        }
        Some("agent") => Some(agent::main as fn(&[String]) -> anyhow::Result<ExitCode>),
        Some("tools") => Some(tools_cmd::list_main as fn(&[String]) -> anyhow::Result<ExitCode>),
        Some("tool") => Some(tools_cmd::tool_main as fn(&[String]) -> anyhow::Result<ExitCode>),
        _ => None,
    };
    if let Some(run) = sub {
        return run(&argv[1..]).unwrap_or_else(|e| {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        });
    }
    let cli = cli::Cli::parse();
    let result = dispatch(&cli);
    match result {
        Ok(code) => code,
        Err(e) => {
            diagnostics::fatal(&format!("{e:#}"));
            ExitCode::from(1)
        }
    }
}

fn dispatch(cli: &cli::Cli) -> anyhow::Result<ExitCode> {
    if let Some(code) = &cli.explain {
        diagnostics::explain(code)?;
        return Ok(ExitCode::SUCCESS);
    }
    if cli.info {
        print!("{}", info::report());
        return Ok(ExitCode::SUCCESS);
    }
    compile::NO_WARNINGS.store(cli.no_warnings, std::sync::atomic::Ordering::Relaxed);
    diagnostics::set_format(match cli.format {
        cli::OutputFormat::Text => diagnostics::DiagFormat::Text,
        cli::OutputFormat::Json => diagnostics::DiagFormat::Json,
    });
    if cli.list {
        return list::list(
            cli.script.as_deref().or(cli.program.as_deref()),
            cli.verbose,
        );
    }
    let (name, source) = cli.source()?;
    if let Some(path) = &cli.emit_obj {
        return compile::emit_object(&name, &source, path, &cli.lang_options());
    }
    if let Some(what) = cli.dump {
        return compile::dump(&name, &source, what, &cli.lang_options());
    }
    run::run(cli, &name, &source)
}
