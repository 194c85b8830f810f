//! Saved fuzz findings stay fixed, and a short deterministic fuzz run of every target finds
//! nothing (the long runs are in scripts/test.sh).

use std::time::Duration;

use kestrel_fuzz::runner::{self, Config};
use kestrel_fuzz::targets::{Harness, Target};

#[test]
fn saved_findings_pass_every_target() {
    let harness = Harness::new();
    let inputs = kestrel_fuzz::seeds::regressions();
    assert!(!inputs.is_empty(), "crates/fuzz/regressions/ is empty");
    for (name, bytes) in inputs {
        for t in Target::ALL {
            if let Err(e) = harness.run(t, &bytes) {
                panic!("{name} [{}]: {e}", t.name());
            }
        }
    }
}

#[test]
fn every_conformance_script_compiles_to_code_that_passes_the_checker() {
    let harness = Harness::new();
    let scripts = kestrel_fuzz::seeds::conformance_scripts();
    assert!(scripts.len() > 50, "only {} seeds", scripts.len());
    let mut compiled = 0;
    for s in &scripts {
        match harness.compile(s) {
            Ok(true) => compiled += 1,
            Ok(false) => {}
            Err(e) => panic!("{e}\nscript: {s}"),
        }
    }
    assert!(compiled > scripts.len() / 2, "only {compiled} compiled");
}

#[test]
fn short_deterministic_run_finds_nothing() {
    let config = Config {
        targets: Target::ALL.to_vec(),
        duration: Duration::from_secs(60),
        max_runs: 300,
        budget: Duration::from_secs(30),
        seed: 1,
        save: None,
    };
    let results = runner::run(&config, |_, _| {}).expect("run");
    for (target, stats) in results {
        assert!(!stats.hung, "{} hung", target.name());
        assert!(
            stats.findings.is_empty(),
            "{}: {:?}",
            target.name(),
            stats.findings
        );
    }
}
