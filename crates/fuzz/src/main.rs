//! `kestrel-fuzz`: run the fuzz targets for a while and report findings (exit status 1 when
//! there are any). See the crate documentation for the targets and properties.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use kestrel_fuzz::runner::{self, Config};
use kestrel_fuzz::targets::Target;

const USAGE: &str = "usage: kestrel-fuzz [--target parse|sema|isa|compile|l7|rules]... [--seconds N] [--runs N] [--seed N] [--budget-ms N] [--save DIR]\n       kestrel-fuzz --check FILE\n       kestrel-fuzz --generate N [SEED]";

fn parse_args() -> Result<Config, String> {
    let mut config = Config {
        targets: Vec::new(),
        duration: Duration::from_secs(60),
        max_runs: u64::MAX,
        budget: Duration::from_secs(10),
        seed: 0x6b65_7374_7265_6c21,
        save: Some(kestrel_fuzz::seeds::repo_root().join("target/fuzz-findings")),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value\n{USAGE}"));
        let number = |v: String| {
            v.parse::<u64>()
                .map_err(|_| format!("{a}: not a number: {v}"))
        };
        match a.as_str() {
            "--target" => {
                let v = value()?;
                config
                    .targets
                    .push(Target::from_name(&v).ok_or(format!("unknown target '{v}'\n{USAGE}"))?);
            }
            "--seconds" => config.duration = Duration::from_secs(number(value()?)?),
            "--runs" => config.max_runs = number(value()?)?,
            "--seed" => config.seed = number(value()?)?,
            "--budget-ms" => config.budget = Duration::from_millis(number(value()?)?),
            "--save" => config.save = Some(PathBuf::from(value()?)),
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument '{other}'\n{USAGE}")),
        }
    }
    if config.targets.is_empty() {
        config.targets = Target::ALL.to_vec();
    }
    Ok(config)
}

/// `--check FILE`: compile one script against the fixture kernel and report what the
/// targets find, with the disassembly when the code checker objects.
fn check_one(path: &str) -> ExitCode {
    let Ok(bytes) = std::fs::read(path) else {
        eprintln!("cannot read {path}");
        return ExitCode::from(2);
    };
    let harness = kestrel_fuzz::targets::Harness::new();
    let mut failed = false;
    for t in Target::ALL {
        if let Err(e) = harness.run(t, &bytes) {
            failed = true;
            eprintln!("[{}] {e}", t.name());
        }
    }
    let src = String::from_utf8_lossy(&bytes);
    if let Ok(Some(program)) = harness.sema(&src) {
        if let Ok(object) = kestrel_codegen::compile(&program) {
            if let Err((probe, e)) = kestrel_codegen::check::check_object(&object) {
                for p in object.programs.iter().filter(|p| p.probe == probe) {
                    eprintln!("{probe}: {e}\n{}", kestrel_isa::disassemble(&p.insns));
                }
            }
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        eprintln!("no findings");
        ExitCode::SUCCESS
    }
}

/// `--generate N [SEED]`: print N generated scripts and how many of them compile.
fn generate(n: usize, seed: u64) -> ExitCode {
    let harness = kestrel_fuzz::targets::Harness::new();
    let tps = kestrel_fuzz::generate::tracepoints(harness.kernel());
    let mut rng = kestrel_fuzz::rng::Rng::new(seed);
    let mut compiled = 0;
    for i in 0..n {
        let s = kestrel_fuzz::generate::script(&mut rng, &tps);
        let verdict = match harness.compile(&s) {
            Ok(true) => {
                compiled += 1;
                "compiles".to_string()
            }
            Ok(false) => {
                let diags = match kestrel_lang::parse(&s) {
                    Err(d) => d,
                    Ok(ast) => kestrel_lang::analyze(&ast, harness.kernel())
                        .err()
                        .unwrap_or_default(),
                };
                let first = diags.first().map(|d| d.title.clone()).unwrap_or_default();
                format!("rejected: {first}")
            }
            Err(e) => format!("FINDING: {e}"),
        };
        println!("// #{i}: {verdict}\n{s}");
    }
    eprintln!("{compiled} of {n} generated scripts compile");
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("--generate") {
        let n = argv.get(2).and_then(|v| v.parse().ok()).unwrap_or(10);
        let seed = argv.get(3).and_then(|v| v.parse().ok()).unwrap_or(1);
        return generate(n, seed);
    }
    if argv.get(1).map(String::as_str) == Some("--check") {
        return match argv.get(2) {
            Some(p) => check_one(p),
            None => {
                eprintln!("{USAGE}");
                ExitCode::from(2)
            }
        };
    }
    let config = match parse_args() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let results = runner::run(&config, |target, stats| {
        eprintln!(
            "kestrel-fuzz: {:<8} {} inputs, {} accepted, {} findings",
            target.name(),
            stats.runs,
            stats.accepted,
            stats.findings.len()
        );
    });
    let results = match results {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kestrel-fuzz: {e}");
            return ExitCode::from(2);
        }
    };
    let mut failed = false;
    for (_, stats) in &results {
        for f in &stats.findings {
            failed = true;
            eprintln!(
                "\nFINDING [{}]: {}\ninput ({} bytes): {:?}",
                f.target.name(),
                f.problem,
                f.input.len(),
                String::from_utf8_lossy(&f.input)
            );
        }
    }
    if failed {
        if let Some(dir) = &config.save {
            eprintln!("\nkestrel-fuzz: failing inputs saved under {}; add each fixed one to crates/fuzz/regressions/", dir.display());
        }
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
