//! `kestrel policy`: network policy per workload (a cgroup, a container, or a process started
//! by `kestrel policy run`), enforced by cgroup hooks, audited before it is enforced, and
//! explained flow by flow.
//!
//! Flow: a TOML policy file ([`spec`]) → rule checks ([`validate`]) → map contents
//! ([`compile`]: a peer LPM trie and a port LPM trie, so a decision costs two lookups at any
//! number of rules) → one program per workload and hook ([`program`]) → loaded, attached to
//! the workload's cgroups with bpf_links, pinned under `/sys/fs/bpf/kestrel/policy/` (`live`).
//! Precedence: deny beats allow; no match means the workload's default.
//!
//! ```
//! use kestrel_net::policy::check;
//! let src = r#"
//! [[workload]]
//! name = "web-client"
//! cgroup = "/sys/fs/cgroup/unified/web-client"
//! default = "allow"
//!
//! [[workload.rule]]
//! name = "no-8081"
//! direction = "egress"
//! to = "10.201.0.2/32"
//! ports = "8081"
//! proto = "tcp"
//! verdict = "deny"
//! "#;
//! let compiled = check("policy.toml", src).map_err(|e| e.to_string())?;
//! assert_eq!(compiled.policy.workloads[0].rules[0].name, "no-8081");
//! # Ok::<(), String>(())
//! ```

pub mod cgroups;
pub mod compile;
pub mod live;
pub mod prefix;
pub mod program;
pub mod record;
pub mod spec;
pub mod status;
pub mod validate;

pub use compile::{decide, tables, Decision, Tables};
pub use program::{Hook, PolMap, PolProgram};
pub use spec::{parse, Direction, Loc, Policy, PolicyError, Proto, Rule, Verdict, Workload};

/// A policy parsed, checked and compiled: map contents and every program. Building one
/// touches nothing in the kernel.
#[derive(Clone, Debug)]
pub struct Compiled {
    /// The policy.
    pub policy: Policy,
    /// Map contents.
    pub tables: Tables,
    /// Per workload, per hook (in [`Hook::ALL`] order).
    pub programs: Vec<Vec<(Hook, PolProgram)>>,
    /// Source text (kept with the pins so `status` can name the rules).
    pub source: String,
}

/// Parses, validates and compiles a policy file. No kernel access (`kestrel policy check`).
pub fn check(file: &str, source: &str) -> Result<Compiled, PolicyError> {
    let policy = spec::parse(file, source)?;
    validate::validate(&policy, source)?;
    let tables = compile::tables(&policy);
    let mut programs = Vec::new();
    for (wi, w) in policy.workloads.iter().enumerate() {
        let mut per = Vec::new();
        for hook in Hook::ALL {
            let dir = hook.direction();
            let params = program::Params {
                workload: wi as u16,
                default: match dir {
                    Direction::Egress => w.default_egress,
                    Direction::Ingress => w.default_ingress,
                },
                default_slot: compile::default_slot(&policy, wi, dir),
                audit: w.audit,
            };
            let prog = program::build(hook, &params).map_err(|m| PolicyError {
                file: file.to_string(),
                loc: Some(w.loc),
                context: Some(format!("workload '{}'", w.name)),
                message: format!("internal: cannot generate the {} program: {m}", hook.name()),
            })?;
            // The verifier is never the first to find a bug: obj's structural checker runs
            // on every program before any kernel sees it.
            kestrel_obj::check::check_structure(&prog.insns, kestrel_obj::check::Entry::Program)
                .map_err(|e| PolicyError {
                    file: file.to_string(),
                    loc: Some(w.loc),
                    context: Some(format!("workload '{}'", w.name)),
                    message: format!("internal: the {} program is malformed: {e}", hook.name()),
                })?;
            per.push((hook, prog));
        }
        programs.push(per);
    }
    Ok(Compiled {
        policy,
        tables,
        programs,
        source: source.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_program_passes_the_structural_checker() {
        for (audit, default) in [(false, "allow"), (true, "deny")] {
            let src = format!(
                "audit = {audit}\n[[workload]]\nname = \"a\"\ndefault = \"{default}\"\n[[workload.rule]]\ndirection = \"ingress\"\nfrom = \"10.0.0.0/8\"\nverdict = \"allow\"\n[[workload]]\nname = \"b\"\n"
            );
            let c = check("p.toml", &src).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(c.programs.len(), 2);
            assert!(c.programs.iter().all(|p| p.len() == Hook::ALL.len()));
        }
    }
}
