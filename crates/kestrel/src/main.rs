//! kestrel command-line interface: parses flags, wires the compiler to the runtime, prints
//! diagnostics and picks exit codes. Everything else lives in the library crates.
#![forbid(unsafe_code)]

mod child;
mod cli;
mod compile;
mod list;
mod run;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match dispatch(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn dispatch(cli: &cli::Cli) -> anyhow::Result<ExitCode> {
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
