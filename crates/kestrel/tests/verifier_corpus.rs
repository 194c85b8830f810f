//! The codegen promise of DESIGN.md, checked against the real verifier: every script kestrel
//! accepts loads. Scripts come from the fuzzer's grammar generator (probes on real
//! tracepoints, maps, variables, loops, printf) and from mutations of the conformance suite;
//! each one that compiles against the live kernel is loaded (not attached) and must pass.

mod common;

use std::time::Instant;

use kestrel_fuzz::rng::Rng;
use kestrel_fuzz::targets::Harness;
use kestrel_fuzz::{generate, mutate, seeds};
use kestrel_runtime::{LoadOptions, OutputFormat, RuntimeError, Session};

/// How many compiled scripts must be loaded.
const GENERATED: usize = 300;
const MUTATED: usize = 60;

#[test]
fn every_compiled_script_passes_the_verifier() {
    if !common::kernel_available("every_compiled_script_passes_the_verifier") {
        return;
    }
    let harness = Harness::with_kernel(Box::new(kestrel_kernel::LiveKernel::new()));
    let tps = generate::tracepoints(harness.kernel());
    assert!(
        tps.len() >= 5,
        "only {} generator tracepoints exist here",
        tps.len()
    );
    let mut rng = Rng::new(0x5eed_0001);
    let mut scripts = Vec::new();
    let mut attempts = 0;
    while scripts.len() < GENERATED && attempts < 20 * GENERATED {
        attempts += 1;
        let s = generate::script(&mut rng, &tps);
        match harness.object(&s) {
            Ok(Some(o)) => scripts.push((s, o)),
            Ok(None) => {}
            Err(e) => panic!("code checker: {e}\n{s}"),
        }
    }
    assert_eq!(
        scripts.len(),
        GENERATED,
        "the generator makes too few valid scripts"
    );
    let pool = seeds::conformance_scripts();
    let mut mutated = 0;
    let mut attempts = 0;
    while mutated < MUTATED && attempts < 100 * MUTATED {
        attempts += 1;
        let a = &pool[rng.below(pool.len())];
        let b = &pool[rng.below(pool.len())];
        let m = String::from_utf8_lossy(&mutate::mutate(&mut rng, a.as_bytes(), b.as_bytes()))
            .into_owned();
        // Unchanged or already-known scripts say nothing new.
        if pool.contains(&m) {
            continue;
        }
        if let Ok(Some(o)) = harness.object(&m) {
            scripts.push((m, o));
            mutated += 1;
        }
    }
    let opts = LoadOptions {
        format: OutputFormat::Text,
        verbose_verifier: false,
        child_pid: None,
    };
    let start = Instant::now();
    let mut failures = Vec::new();
    let total = scripts.len();
    for (script, object) in scripts {
        match Session::load(object, &opts) {
            Ok(session) => drop(session),
            Err(RuntimeError::Verifier {
                probe, log, insn, ..
            }) => {
                let why = kestrel_runtime::verifier::explain(&log).unwrap_or("(unclassified)");
                let tail = kestrel_runtime::verifier::tail(&log, 6).join("\n  ");
                failures.push(format!(
                    "probe {probe} rejected at insn {insn:?}: {why}\n  {tail}\nscript:\n{script}"
                ));
            }
            // A probe type this kernel lacks (kfunc here) is refused before the verifier
            // runs: nothing to say about codegen.
            Err(RuntimeError::Unavailable { .. }) => {}
            Err(e) => failures.push(format!("{e}\nscript:\n{script}")),
        }
    }
    eprintln!(
        "loaded {total} scripts ({mutated} mutated) in {:?}",
        start.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} of {total} compiled scripts were rejected:\n\n{}",
        failures.len(),
        failures
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n\n")
    );
}
