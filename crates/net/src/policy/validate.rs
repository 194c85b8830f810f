//! Checks between rules of one workload: a rule that another rule of the same direction covers
//! entirely is an error — redundant when both have the same verdict, contradictory when a
//! deny covers an allow (the allow could never take effect, since deny beats allow). An allow
//! covering a deny is the usual "allow this network except that host" and is fine; so are
//! partial overlaps, which precedence decides (see [`super::compile`]).

use std::collections::HashMap;

use crate::firewall::Cidr;

use super::prefix::{ancestor, cidr_contains};
use super::spec::{Locator, Policy, PolicyError, Rule, Verdict};

fn ports_contain(outer: &[(u16, u16)], inner: &[(u16, u16)]) -> bool {
    if outer.is_empty() {
        return true;
    }
    if inner.is_empty() {
        return false;
    }
    inner
        .iter()
        .all(|(lo, hi)| outer.iter().any(|(a, b)| a <= lo && hi <= b))
}

/// True if every flow rule `inner` matches, rule `outer` matches too.
pub fn covers(outer: &Rule, inner: &Rule) -> bool {
    outer.direction == inner.direction
        && outer.proto.contains(inner.proto)
        && ports_contain(&outer.ports, &inner.ports)
        && inner
            .peers
            .iter()
            .all(|p| outer.peers.iter().any(|o| cidr_contains(o, p)))
}

/// Rejects redundant and contradictory rules, naming both (file:line:column of the later).
pub fn validate(policy: &Policy, src: &str) -> Result<(), PolicyError> {
    let at = Locator::new(&policy.file, src);
    for w in &policy.workloads {
        // Candidates for "covers rule j" must contain j's first peer: index rules by each
        // peer, then walk j's first peer's ancestors (at most 129 lookups per rule), so ten
        // thousand rules check in milliseconds rather than in n² comparisons.
        let mut by_peer: HashMap<Cidr, Vec<usize>> = HashMap::new();
        for (i, r) in w.rules.iter().enumerate() {
            for p in &r.peers {
                by_peer.entry(*p).or_default().push(i);
            }
        }
        for (j, inner) in w.rules.iter().enumerate() {
            let Some(first) = inner.peers.first() else {
                continue;
            };
            let mut seen: Vec<usize> = Vec::new();
            for len in (0..=first.len).rev() {
                let Some(cands) = by_peer.get(&ancestor(first, len)) else {
                    continue;
                };
                for &i in cands {
                    if i == j || seen.contains(&i) {
                        continue;
                    }
                    seen.push(i);
                    let outer = &w.rules[i];
                    if !covers(outer, inner) {
                        continue;
                    }
                    // Equal rules cover each other: report the later one only once.
                    if covers(inner, outer) && i > j {
                        continue;
                    }
                    let later = if i > j { outer } else { inner };
                    let ctx = format!("workload '{}' rule '{}'", w.name, later.name);
                    let message = match (outer.verdict, inner.verdict) {
                        (Verdict::Deny, Verdict::Allow) => format!(
                            "rule '{}' (line {}) can never allow anything: rule '{}' (line {}) denies all of it, and deny beats allow",
                            inner.name, inner.loc.line, outer.name, outer.loc.line
                        ),
                        (Verdict::Allow, Verdict::Deny) => continue,
                        (v, _) => format!(
                            "rule '{}' (line {}) is redundant: rule '{}' (line {}) already {}s all of it",
                            inner.name, inner.loc.line, outer.name, outer.loc.line, v.as_str()
                        ),
                    };
                    let start = at.line_start(later.loc.line);
                    let span = start..start;
                    return Err(at.err(Some(span), Some(&ctx), message));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::spec::parse;
    use super::*;

    fn check(src: &str) -> Result<(), String> {
        let p = parse("p.toml", src).map_err(|e| e.to_string())?;
        validate(&p, src).map_err(|e| e.to_string())
    }

    fn two(a: &str, b: &str) -> String {
        format!(
            "[[workload]]\nname = \"w\"\ncgroup = \"/x\"\n\n[[workload.rule]]\nname = \"a\"\ndirection = \"egress\"\n{a}\n\n[[workload.rule]]\nname = \"b\"\ndirection = \"egress\"\n{b}\n"
        )
    }

    #[test]
    fn deny_covering_allow_is_contradictory() {
        let e = check(&two(
            "to = \"10.0.0.0/8\"\nverdict = \"deny\"",
            "to = \"10.1.0.0/16\"\nports = \"80\"\nproto = \"tcp\"\nverdict = \"allow\"",
        ))
        .err()
        .unwrap_or_default();
        assert!(
            e.starts_with("p.toml:11:1: workload 'w' rule 'b': rule 'b' (line 11) can never allow anything: rule 'a' (line 5) denies"),
            "{e}"
        );
    }

    #[test]
    fn allow_covering_deny_is_fine_and_partial_overlap_too() {
        check(&two(
            "to = \"10.0.0.0/8\"\nverdict = \"allow\"",
            "to = \"10.1.0.0/16\"\nverdict = \"deny\"",
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        check(&two(
            "to = \"10.0.0.0/8\"\nports = \"80-90\"\nverdict = \"deny\"",
            "to = \"10.1.0.0/16\"\nports = \"85-100\"\nverdict = \"allow\"",
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn redundant_and_duplicate() {
        let e = check(&two(
            "to = \"10.1.0.0/16\"\nverdict = \"deny\"",
            "to = \"10.0.0.0/8\"\nverdict = \"deny\"",
        ))
        .err()
        .unwrap_or_default();
        assert!(
            e.contains("rule 'a' (line 5) is redundant: rule 'b'"),
            "{e}"
        );
        let e = check(&two(
            "to = \"10.1.0.0/16\"\nverdict = \"deny\"",
            "to = \"10.1.0.0/16\"\nverdict = \"allow\"",
        ))
        .err()
        .unwrap_or_default();
        assert!(e.contains("can never allow"), "{e}");
        // Different directions never conflict.
        let src = two(
            "to = \"10.1.0.0/16\"\nverdict = \"deny\"",
            "verdict = \"deny\"",
        )
        .replacen(
            "direction = \"egress\"\nverdict",
            "direction = \"ingress\"\nverdict",
            1,
        );
        check(&src).unwrap_or_else(|e| panic!("{e}"));
    }
}
