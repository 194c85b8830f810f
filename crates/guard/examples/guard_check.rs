//! Load rules files (default rules without arguments) and print what `check` would.
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let files: Vec<(String, String)> = if args.is_empty() {
        vec![(
            kestrel_guard::DEFAULT_RULES_NAME.into(),
            kestrel_guard::DEFAULT_RULES.into(),
        )]
    } else {
        args.iter()
            .map(|a| (a.clone(), std::fs::read_to_string(a).unwrap_or_default()))
            .collect()
    };
    match kestrel_guard::Ruleset::load(&files) {
        Ok(set) => {
            for w in &set.warnings {
                print!("{}", w.render());
            }
            for r in &set.rules {
                println!(
                    "{} [{}] exact={} {:?}",
                    r.name,
                    r.syscalls.iter().cloned().collect::<Vec<_>>().join(","),
                    r.kernel.exact,
                    r.kernel.pred
                );
            }
            for s in &set.skipped {
                println!("SKIP {} {}: {}", s.position, s.name, s.reason);
            }
        }
        Err(d) => print!("{}", kestrel_guard::diag::render_all(&d)),
    }
}
