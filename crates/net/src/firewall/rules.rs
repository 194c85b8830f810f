//! The rules file: TOML, parsed and validated completely before anything touches an interface.
//!
//! ```toml
//! default = "pass"                 # verdict when no rule matches: "pass" (default) or "drop"
//! block = ["203.0.113.0/24"]       # initial block list (LPM tries; `kestrel firewall block` adds live)
//! allow = ["192.0.2.10"]           # allow list, checked before the block list
//!
//! [[rule]]
//! name = "syn-flood"               # optional; defaults to "rule N"
//! match = "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn"
//! action = "rate-limit"            # "pass" | "drop" | "rate-limit"
//! per = "src"                      # bucket per source address, or per prefix: "src/24"
//! per6 = "src/64"                  # IPv6 prefix for the bucket key (default /128)
//! pps = 1000                       # packets per second ...
//! burst = 2000                     # ... with this bucket depth (packets; default = pps)
//! bps = 1000000                    # and/or bytes per second,
//! burst_bytes = 2000000            # bucket depth in bytes (default = bps)
//! ```
//!
//! Every error names the rule (its name or number) and the line in the file.

use std::fmt;
use std::ops::Range;

use serde::Deserialize;

use super::cidr::Cidr;

/// Most rules a rule set may have (the counter array is sized for it, so `reload` can keep it).
pub const MAX_RULES: usize = 256;

/// The largest rate accepted (per second), packets or bytes; beyond it the token arithmetic
/// (nanosecond-scaled tokens in a u64) could overflow.
pub const MAX_RATE: u64 = 1 << 32;
/// The deepest bucket accepted, packets or bytes (tokens are scaled by 1e9 in a u64).
pub const MAX_BURST: u64 = 4_000_000_000;
/// A byte bucket must hold one full-size Ethernet frame, or large packets could never pass.
pub const MIN_BURST_BYTES: u64 = 1514;

/// What happens to a packet a rule matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Let it through.
    Pass,
    /// Drop it.
    Drop,
    /// Let it through while its source's token bucket has tokens; drop it otherwise.
    RateLimit(RateLimit),
}

/// A token bucket per source address or prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// IPv4 prefix length the bucket key keeps (32 = per address).
    pub prefix4: u8,
    /// IPv6 prefix length the bucket key keeps (128 = per address).
    pub prefix6: u8,
    /// Packets per second and bucket depth in packets, if limited by packets.
    pub packets: Option<Bucket>,
    /// Bytes per second and bucket depth in bytes, if limited by bytes.
    pub bytes: Option<Bucket>,
}

/// A rate and a depth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bucket {
    /// Tokens added per second.
    pub rate: u64,
    /// Most tokens the bucket holds.
    pub burst: u64,
}

/// One rule, in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Name for status output (`name = ...` or `rule N`).
    pub name: String,
    /// The filter expression as written.
    pub expr: String,
    /// Its action.
    pub action: Action,
    /// Line of its `[[rule]]` header (1-based).
    pub line: usize,
}

/// A validated rules file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleSet {
    /// Verdict when no rule matches: true = drop.
    pub default_drop: bool,
    /// Initial allow list.
    pub allow: Vec<Cidr>,
    /// Initial block list.
    pub block: Vec<Cidr>,
    /// The rules, in order.
    pub rules: Vec<Rule>,
}

/// A rules-file error: the message, the rule it is about and the line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct RulesError {
    /// File name as given.
    pub file: String,
    /// 1-based line, if known.
    pub line: Option<usize>,
    /// `rule 'syn-flood'` / `rule 2`, if the error is inside a rule.
    pub rule: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for RulesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        write!(f, ": ")?;
        if let Some(r) = &self.rule {
            write!(f, "{r}: ")?;
        }
        write!(f, "{}", self.message)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileToml {
    default: Option<toml::Spanned<String>>,
    #[serde(default)]
    allow: Vec<toml::Spanned<String>>,
    #[serde(default)]
    block: Vec<toml::Spanned<String>>,
    #[serde(default)]
    rule: Vec<toml::Spanned<RuleToml>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleToml {
    name: Option<String>,
    #[serde(rename = "match")]
    expr: toml::Spanned<String>,
    action: toml::Spanned<String>,
    per: Option<toml::Spanned<String>>,
    per6: Option<toml::Spanned<String>>,
    pps: Option<toml::Spanned<i64>>,
    burst: Option<toml::Spanned<i64>>,
    bps: Option<toml::Spanned<i64>>,
    burst_bytes: Option<toml::Spanned<i64>>,
}

/// Line (1-based) of byte offset `at` in `src`.
fn line_of(src: &str, at: usize) -> usize {
    src.get(..at.min(src.len()))
        .map_or(1, |s| s.bytes().filter(|b| *b == b'\n').count() + 1)
}

/// Number (1-based) of the `[[rule]]` table containing byte offset `at`, if any.
fn rule_number_at(src: &str, at: usize) -> Option<usize> {
    let before = src.get(..at.min(src.len()))?;
    let n = before
        .lines()
        .filter(|l| l.trim_start().starts_with("[[rule]]"))
        .count();
    // A rule's own header line counts too when `at` points into it.
    (n > 0).then_some(n)
}

/// Parses and validates a rules file; `file` is only used in messages.
pub fn parse_rules(file: &str, src: &str) -> Result<RuleSet, RulesError> {
    let err = |span: Option<Range<usize>>, rule: Option<String>, message: String| RulesError {
        file: file.to_string(),
        line: span.map(|s| line_of(src, s.start)),
        rule,
        message,
    };
    let parsed: FileToml = toml::from_str(src).map_err(|e| {
        let span = e.span();
        let rule = span
            .clone()
            .and_then(|s| rule_number_at(src, s.start))
            .map(|n| format!("rule {n}"));
        err(span, rule, e.message().trim().to_string())
    })?;

    let default_drop = match parsed.default.as_ref().map(|d| d.get_ref().as_str()) {
        None | Some("pass") => false,
        Some("drop") => true,
        Some(other) => {
            return Err(err(
                parsed.default.as_ref().map(|d| d.span()),
                None,
                format!("default must be \"pass\" or \"drop\", not {other:?}"),
            ))
        }
    };
    let cidrs = |list: &[toml::Spanned<String>], what: &str| -> Result<Vec<Cidr>, RulesError> {
        list.iter()
            .map(|c| {
                Cidr::parse(c.get_ref())
                    .map_err(|m| err(Some(c.span()), None, format!("in {what} list: {m}")))
            })
            .collect()
    };
    let allow = cidrs(&parsed.allow, "allow")?;
    let block = cidrs(&parsed.block, "block")?;
    if parsed.rule.len() > MAX_RULES {
        return Err(err(
            parsed.rule.get(MAX_RULES).map(|r| r.span()),
            None,
            format!(
                "at most {MAX_RULES} rules are supported, this file has {}",
                parsed.rule.len()
            ),
        ));
    }

    let mut rules = Vec::new();
    for (i, r) in parsed.rule.iter().enumerate() {
        let line = line_of(src, r.span().start);
        let t = r.get_ref();
        let label = match &t.name {
            Some(n) => format!("rule {} '{n}'", i + 1),
            None => format!("rule {}", i + 1),
        };
        let e = |span: Range<usize>, m: String| err(Some(span), Some(label.clone()), m);
        let action = match t.action.get_ref().as_str() {
            "pass" => Action::Pass,
            "drop" => Action::Drop,
            "rate-limit" => Action::RateLimit(rate_limit(t, &e, r.span())?),
            other => {
                return Err(e(
                    t.action.span(),
                    format!("action must be \"pass\", \"drop\" or \"rate-limit\", not {other:?}"),
                ))
            }
        };
        if !matches!(action, Action::RateLimit(_)) {
            let extra = [
                ("per", t.per.as_ref().map(|s| s.span())),
                ("per6", t.per6.as_ref().map(|s| s.span())),
                ("pps", t.pps.as_ref().map(|s| s.span())),
                ("burst", t.burst.as_ref().map(|s| s.span())),
                ("bps", t.bps.as_ref().map(|s| s.span())),
                ("burst_bytes", t.burst_bytes.as_ref().map(|s| s.span())),
            ];
            if let Some((field, Some(span))) = extra.into_iter().find(|(_, s)| s.is_some()) {
                return Err(e(
                    span,
                    format!("'{field}' only applies to action = \"rate-limit\""),
                ));
            }
        }
        if t.expr.get_ref().trim().is_empty() {
            return Err(e(t.expr.span(), "match is empty".to_string()));
        }
        rules.push(Rule {
            name: t.name.clone().unwrap_or_else(|| format!("rule {}", i + 1)),
            expr: t.expr.get_ref().clone(),
            action,
            line,
        });
    }
    Ok(RuleSet {
        default_drop,
        allow,
        block,
        rules,
    })
}

fn rate_limit(
    t: &RuleToml,
    e: &dyn Fn(Range<usize>, String) -> RulesError,
    whole: Range<usize>,
) -> Result<RateLimit, RulesError> {
    let prefix = |f: &Option<toml::Spanned<String>>, max: u8, dflt: u8| -> Result<u8, RulesError> {
        let Some(s) = f else { return Ok(dflt) };
        let v = s.get_ref().trim();
        if v == "src" {
            return Ok(max);
        }
        let bad = || {
            e(
                s.span(),
                format!("per must be \"src\" or \"src/N\" with N in 0..={max}, not {v:?}"),
            )
        };
        let n = v.strip_prefix("src/").ok_or_else(bad)?;
        let n: u8 = n.parse().map_err(|_| bad())?;
        if n > max {
            return Err(bad());
        }
        Ok(n)
    };
    let prefix4 = prefix(&t.per, 32, 32)?;
    let prefix6 = prefix(&t.per6, 128, 128)?;
    let positive =
        |f: &Option<toml::Spanned<i64>>, name: &str, max: u64| -> Result<Option<u64>, RulesError> {
            let Some(s) = f else { return Ok(None) };
            let v = *s.get_ref();
            if v <= 0 {
                return Err(e(s.span(), format!("{name} must be positive, not {v}")));
            }
            let v = v as u64;
            if v > max {
                return Err(e(
                    s.span(),
                    format!("{name} = {v} is impossible: at most {max}"),
                ));
            }
            Ok(Some(v))
        };
    let pps = positive(&t.pps, "pps", MAX_RATE)?;
    let bps = positive(&t.bps, "bps", MAX_RATE)?;
    let burst = positive(&t.burst, "burst", MAX_BURST)?;
    let burst_bytes = positive(&t.burst_bytes, "burst_bytes", MAX_BURST)?;
    if pps.is_none() && bps.is_none() {
        return Err(e(
            whole,
            "a rate-limit rule needs pps and/or bps".to_string(),
        ));
    }
    if let (None, Some(b)) = (pps, &t.burst) {
        return Err(e(
            b.span(),
            "burst needs pps (use burst_bytes with bps)".to_string(),
        ));
    }
    if let (None, Some(b)) = (bps, &t.burst_bytes) {
        return Err(e(b.span(), "burst_bytes needs bps".to_string()));
    }
    let packets = pps.map(|rate| Bucket {
        rate,
        burst: burst.unwrap_or(rate).min(MAX_BURST),
    });
    let bytes = match bps {
        None => None,
        Some(rate) => {
            let depth = burst_bytes.unwrap_or(rate).min(MAX_BURST);
            if depth < MIN_BURST_BYTES {
                let span = t
                    .burst_bytes
                    .as_ref()
                    .or(t.bps.as_ref())
                    .map_or(whole, |s| s.span());
                return Err(e(
                    span,
                    format!(
                        "a byte bucket of {depth} bytes is impossible: it must hold one full frame ({MIN_BURST_BYTES} bytes)"
                    ),
                ));
            }
            Some(Bucket { rate, burst: depth })
        }
    };
    Ok(RateLimit {
        prefix4,
        prefix6,
        packets,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
default = "pass"
block = ["203.0.113.0/24", "2001:db8::/32"]

[[rule]]
name = "syn-flood"
match = "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn"
action = "rate-limit"
per = "src/24"
pps = 100
burst = 50

[[rule]]
match = "udp port 53"
action = "drop"
"#;

    #[test]
    fn parses_a_good_file() {
        let r = parse_rules("r.toml", GOOD).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.rules.len(), 2);
        assert_eq!(r.block.len(), 2);
        assert_eq!(r.rules[1].name, "rule 2");
        assert_eq!(r.rules[0].line, 5);
        let Action::RateLimit(rl) = &r.rules[0].action else {
            panic!("not a rate limit")
        };
        assert_eq!(rl.prefix4, 24);
        assert_eq!(rl.prefix6, 128);
        assert_eq!(
            rl.packets,
            Some(Bucket {
                rate: 100,
                burst: 50
            })
        );
    }

    fn error(src: &str) -> String {
        match parse_rules("r.toml", src) {
            Ok(_) => panic!("accepted: {src}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn unknown_field_names_rule_and_line() {
        let e = error("[[rule]]\nmatch = \"tcp\"\naction = \"drop\"\n\n[[rule]]\nmatch = \"udp\"\naction = \"drop\"\ncolour = 1\n");
        assert!(e.starts_with("r.toml:8: rule 2: "), "{e}");
        assert!(e.contains("colour"), "{e}");
    }

    #[test]
    fn bad_cidr_names_line() {
        let e = error("block = [\"10.0.0.0/8\",\n  \"10.300.0.0/16\"]\n");
        assert!(e.starts_with("r.toml:2: "), "{e}");
        assert!(e.contains("10.300.0.0/16"), "{e}");
    }

    #[test]
    fn impossible_rates() {
        let e =
            error("[[rule]]\nname = \"x\"\nmatch = \"tcp\"\naction = \"rate-limit\"\npps = 0\n");
        assert!(
            e.starts_with("r.toml:5: rule 1 'x': pps must be positive"),
            "{e}"
        );
        let e = error("[[rule]]\nmatch = \"tcp\"\naction = \"rate-limit\"\nbps = 100\n");
        assert!(e.contains("impossible"), "{e}");
        let e = error("[[rule]]\nmatch = \"tcp\"\naction = \"rate-limit\"\n");
        assert!(e.contains("needs pps"), "{e}");
        let e = error(
            "[[rule]]\nmatch = \"tcp\"\naction = \"rate-limit\"\npps = 5\nper = \"src/33\"\n",
        );
        assert!(e.starts_with("r.toml:5: rule 1: per must be"), "{e}");
        let e = error("[[rule]]\nmatch = \"tcp\"\naction = \"drop\"\npps = 5\n");
        assert!(e.contains("only applies"), "{e}");
    }
}
