//! The policy file: TOML, parsed completely (with a file:line:column for every error) before
//! anything touches a cgroup.
//!
//! ```toml
//! audit = false                        # per policy: log and count would-be denials, pass them
//! root = "/sys/fs/cgroup/unified/kestrel"  # where `kestrel policy run` makes cgroups
//!
//! [[workload]]
//! name = "web-client"
//! cgroup = "/sys/fs/cgroup/unified/web-client"   # a path, a glob, or a list of them
//! container = "3f2a9c1b7d4e"          # or: a container id (prefix of 12+ hex digits)
//! default = "allow"                   # both directions; default_ingress/default_egress override
//! audit = true                        # per workload (overrides the policy's)
//!
//! [[workload.rule]]
//! name = "no-8081"
//! direction = "egress"                # egress: `to` peers; ingress: `from` peers
//! to = "10.201.0.2/32"                # a CIDR or a list; none = every address (v4 and v6)
//! ports = "8081"                      # "80,443,8000-8100", 8081 or a list; none = all
//! proto = "tcp"                       # tcp | udp | icmp | any (default any)
//! verdict = "deny"                    # allow | deny
//! ```

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

use serde::Deserialize;

use crate::firewall::Cidr;

/// Default cgroup (v2) directory under which `kestrel policy run` creates workload cgroups.
pub const DEFAULT_ROOT: &str = "/sys/fs/cgroup/unified/kestrel";
/// Most rules a policy may have (over all workloads).
pub const MAX_RULES: usize = 65_536;
/// Most workloads a policy may have.
pub const MAX_WORKLOADS: usize = 1024;

/// allow or deny.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verdict {
    /// Let the traffic through.
    Allow,
    /// Refuse it (EPERM at a socket hook, a drop at cgroup_skb).
    Deny,
}

impl Verdict {
    /// `allow` / `deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Deny => "deny",
        }
    }
}

/// Traffic direction, seen from the workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    /// Connections and datagrams the workload sends.
    Egress,
    /// Connections and datagrams the workload receives.
    Ingress,
}

impl Direction {
    /// `egress` / `ingress`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Egress => "egress",
            Direction::Ingress => "ingress",
        }
    }
    /// 0 for egress, 1 for ingress (the encoding in keys and records).
    pub fn code(self) -> u8 {
        match self {
            Direction::Egress => 0,
            Direction::Ingress => 1,
        }
    }
}

/// Transport protocol a rule applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMP and ICMPv6.
    Icmp,
    /// Every protocol (with ports: TCP and UDP).
    Any,
}

impl Proto {
    /// `tcp` / `udp` / `icmp` / `any`.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Icmp => "icmp",
            Proto::Any => "any",
        }
    }
    /// True if a packet of IP protocol `p` is covered.
    pub fn covers(self, p: u8) -> bool {
        match self {
            Proto::Tcp => p == 6,
            Proto::Udp => p == 17,
            Proto::Icmp => p == 1 || p == 58,
            Proto::Any => true,
        }
    }
    /// True if everything `other` covers is covered by `self`.
    pub fn contains(self, other: Proto) -> bool {
        self == Proto::Any || self == other
    }
}

/// A location in the policy file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Loc {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub col: usize,
}

impl Loc {
    /// The location of byte offset `at` in `src`.
    pub fn of(src: &str, at: usize) -> Loc {
        let at = at.min(src.len());
        let before = src.get(..at).unwrap_or("");
        let line = before.bytes().filter(|b| *b == b'\n').count() + 1;
        let start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before.get(start..).map_or(0, |s| s.chars().count()) + 1;
        Loc { line, col }
    }
}

/// One rule of a workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Name (unique within its workload): named in counters, `status` and verdict records.
    pub name: String,
    /// Egress or ingress.
    pub direction: Direction,
    /// Peer prefixes (`to` for egress, `from` for ingress); never empty.
    pub peers: Vec<Cidr>,
    /// Port ranges, inclusive, sorted and merged; empty = every port.
    pub ports: Vec<(u16, u16)>,
    /// Protocol.
    pub proto: Proto,
    /// allow or deny.
    pub verdict: Verdict,
    /// Where its `[[workload.rule]]` header is.
    pub loc: Loc,
}

/// How a workload's processes are found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workload {
    /// Name, unique in the policy: `[A-Za-z0-9_.-]+`.
    pub name: String,
    /// cgroup paths or globs (absolute, under the cgroup v2 mount).
    pub cgroups: Vec<String>,
    /// A container id (or a prefix of one) whose cgroup is the workload.
    pub container: Option<String>,
    /// Verdict for egress traffic no rule matches.
    pub default_egress: Verdict,
    /// Verdict for ingress traffic no rule matches.
    pub default_ingress: Verdict,
    /// Audit mode: would-be denials are logged and counted, traffic passes.
    pub audit: bool,
    /// Rules in file order.
    pub rules: Vec<Rule>,
    /// Where its `[[workload]]` header is.
    pub loc: Loc,
}

/// A parsed, validated policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// File name as given.
    pub file: String,
    /// Directory for `kestrel policy run` cgroups.
    pub root: PathBuf,
    /// Workloads in file order.
    pub workloads: Vec<Workload>,
}

impl Policy {
    /// The workload named `name`, with its index.
    pub fn workload(&self, name: &str) -> Option<(usize, &Workload)> {
        self.workloads
            .iter()
            .enumerate()
            .find(|(_, w)| w.name == name)
    }

    /// Every rule with its workload index, in global order (the counter slot order).
    pub fn rules(&self) -> impl Iterator<Item = (usize, &Rule)> {
        self.workloads
            .iter()
            .enumerate()
            .flat_map(|(i, w)| w.rules.iter().map(move |r| (i, r)))
    }

    /// Number of rules over all workloads.
    pub fn rule_count(&self) -> usize {
        self.workloads.iter().map(|w| w.rules.len()).sum()
    }
}

/// A policy-file error: where, in which workload/rule, and what.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct PolicyError {
    /// File name as given.
    pub file: String,
    /// Where, if known.
    pub loc: Option<Loc>,
    /// `workload 'web' rule 'no-8081'`, if inside one.
    pub context: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(l) = self.loc {
            write!(f, ":{}:{}", l.line, l.col)?;
        }
        write!(f, ": ")?;
        if let Some(c) = &self.context {
            write!(f, "{c}: ")?;
        }
        write!(f, "{}", self.message)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileToml {
    audit: Option<toml::Spanned<bool>>,
    root: Option<toml::Spanned<String>>,
    #[serde(default)]
    workload: Vec<toml::Spanned<WorkloadToml>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkloadToml {
    name: toml::Spanned<String>,
    cgroup: Option<toml::Spanned<toml::Value>>,
    container: Option<toml::Spanned<String>>,
    default: Option<toml::Spanned<String>>,
    default_egress: Option<toml::Spanned<String>>,
    default_ingress: Option<toml::Spanned<String>>,
    audit: Option<toml::Spanned<bool>>,
    #[serde(default)]
    rule: Vec<toml::Spanned<RuleToml>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleToml {
    name: Option<toml::Spanned<String>>,
    direction: toml::Spanned<String>,
    to: Option<toml::Spanned<toml::Value>>,
    from: Option<toml::Spanned<toml::Value>>,
    ports: Option<toml::Spanned<toml::Value>>,
    proto: Option<toml::Spanned<String>>,
    verdict: toml::Spanned<String>,
}

/// Builds located errors for one file.
pub(crate) struct Locator<'a> {
    pub(crate) file: &'a str,
    pub(crate) src: &'a str,
    /// Byte offset of each line's start (so locating is a binary search, not a rescan).
    lines: Vec<usize>,
}

impl<'a> Locator<'a> {
    pub(crate) fn new(file: &'a str, src: &'a str) -> Locator<'a> {
        let mut lines = vec![0];
        lines.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        Locator { file, src, lines }
    }

    /// The location of byte offset `at`.
    pub(crate) fn loc(&self, at: usize) -> Loc {
        let at = at.min(self.src.len());
        let line = self.lines.partition_point(|s| *s <= at).max(1);
        let start = self.lines.get(line - 1).copied().unwrap_or(0);
        let col = self.src.get(start..at).map_or(0, |s| s.chars().count()) + 1;
        Loc { line, col }
    }

    /// Byte offset of the start of 1-based `line`.
    pub(crate) fn line_start(&self, line: usize) -> usize {
        self.lines
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or(self.src.len())
    }

    pub(crate) fn err(
        &self,
        span: Option<Range<usize>>,
        context: Option<&str>,
        message: impl Into<String>,
    ) -> PolicyError {
        PolicyError {
            file: self.file.to_string(),
            loc: span.map(|s| self.loc(s.start)),
            context: context.map(str::to_string),
            message: message.into(),
        }
    }

    /// The span of the string `needle` (quoted) inside `within`, for list elements, which the
    /// TOML parser does not locate; `within` when not found.
    fn find(&self, within: &Range<usize>, needle: &str) -> Range<usize> {
        let hay = self.src.get(within.clone()).unwrap_or("");
        let quoted = format!("\"{needle}\"");
        match hay.find(&quoted).or_else(|| hay.find(needle)) {
            Some(i) => within.start + i..within.start + i + needle.len(),
            None => within.clone(),
        }
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !s.starts_with('.')
}

/// Parses a policy file without validating rule interactions (see [`super::validate`]);
/// `file` is only used in messages.
pub fn parse(file: &str, src: &str) -> Result<Policy, PolicyError> {
    let at = Locator::new(file, src);
    let parsed: FileToml = toml::from_str(src).map_err(|e| {
        at.err(
            e.span(),
            None,
            format!("not a valid policy file: {}", e.message().trim()),
        )
    })?;
    let audit_all = parsed.audit.as_ref().is_some_and(|a| *a.get_ref());
    let root = match &parsed.root {
        None => PathBuf::from(DEFAULT_ROOT),
        Some(r) => {
            let p = PathBuf::from(r.get_ref());
            if !p.is_absolute() {
                return Err(at.err(Some(r.span()), None, "root must be an absolute path"));
            }
            p
        }
    };
    if parsed.workload.is_empty() {
        return Err(at.err(
            None,
            None,
            "no [[workload]]: a policy needs at least one workload",
        ));
    }
    if parsed.workload.len() > MAX_WORKLOADS {
        return Err(at.err(
            parsed.workload.get(MAX_WORKLOADS).map(|w| w.span()),
            None,
            format!("at most {MAX_WORKLOADS} workloads are supported"),
        ));
    }
    let mut workloads: Vec<Workload> = Vec::new();
    let mut total = 0usize;
    for w in &parsed.workload {
        let t = w.get_ref();
        let name = t.name.get_ref().clone();
        if !valid_name(&name) {
            return Err(at.err(
                Some(t.name.span()),
                None,
                format!("workload name {name:?} must be 1-64 characters of A-Z a-z 0-9 _ - ."),
            ));
        }
        if let Some(prev) = workloads.iter().find(|p| p.name == name) {
            return Err(at.err(
                Some(t.name.span()),
                None,
                format!(
                    "workload '{name}' is defined twice (first at line {})",
                    prev.loc.line
                ),
            ));
        }
        let ctx = format!("workload '{name}'");
        let workload = workload(&at, &ctx, t, audit_all, at.loc(w.span().start))?;
        total += workload.rules.len();
        if total > MAX_RULES {
            return Err(at.err(
                Some(w.span()),
                Some(&ctx),
                format!("at most {MAX_RULES} rules are supported in one policy"),
            ));
        }
        workloads.push(workload);
    }
    Ok(Policy {
        file: file.to_string(),
        root,
        workloads,
    })
}

fn verdict_of(
    at: &Locator<'_>,
    ctx: &str,
    v: &toml::Spanned<String>,
    what: &str,
) -> Result<Verdict, PolicyError> {
    match v.get_ref().as_str() {
        "allow" => Ok(Verdict::Allow),
        "deny" => Ok(Verdict::Deny),
        other => Err(at.err(
            Some(v.span()),
            Some(ctx),
            format!("{what} must be \"allow\" or \"deny\", not {other:?}"),
        )),
    }
}

fn strings(
    at: &Locator<'_>,
    ctx: &str,
    v: &toml::Spanned<toml::Value>,
    what: &str,
) -> Result<Vec<(String, Range<usize>)>, PolicyError> {
    let bad = || {
        at.err(
            Some(v.span()),
            Some(ctx),
            format!("{what} must be a string or a list of strings"),
        )
    };
    match v.get_ref() {
        toml::Value::String(s) => Ok(vec![(s.clone(), at.find(&v.span(), s))]),
        toml::Value::Array(items) => {
            if items.is_empty() {
                return Err(at.err(
                    Some(v.span()),
                    Some(ctx),
                    format!("{what} is an empty list (leave it out to mean every address)"),
                ));
            }
            items
                .iter()
                .map(|i| match i {
                    toml::Value::String(s) => Ok((s.clone(), at.find(&v.span(), s))),
                    _ => Err(bad()),
                })
                .collect()
        }
        _ => Err(bad()),
    }
}

fn workload(
    at: &Locator<'_>,
    ctx: &str,
    t: &WorkloadToml,
    audit_all: bool,
    loc: Loc,
) -> Result<Workload, PolicyError> {
    let mut cgroups = Vec::new();
    if let Some(c) = &t.cgroup {
        for (path, span) in strings(at, ctx, c, "cgroup")? {
            if !path.starts_with('/') {
                return Err(at.err(
                    Some(span),
                    Some(ctx),
                    format!("cgroup {path:?} must be an absolute path (under the cgroup v2 mount)"),
                ));
            }
            if path.split('/').any(|p| p == "..") {
                return Err(at.err(Some(span), Some(ctx), "cgroup paths may not contain '..'"));
            }
            cgroups.push(path);
        }
    }
    let container = match &t.container {
        None => None,
        Some(c) => {
            let id = c.get_ref().trim().to_ascii_lowercase();
            if id.len() < 12 || !id.chars().all(|ch| ch.is_ascii_hexdigit()) {
                return Err(at.err(
                    Some(c.span()),
                    Some(ctx),
                    format!("container {:?} must be 12 or more hex digits (a container id or its prefix)", c.get_ref()),
                ));
            }
            Some(id)
        }
    };
    let default = match &t.default {
        None => Verdict::Allow,
        Some(d) => verdict_of(at, ctx, d, "default")?,
    };
    let default_egress = match &t.default_egress {
        None => default,
        Some(d) => verdict_of(at, ctx, d, "default_egress")?,
    };
    let default_ingress = match &t.default_ingress {
        None => default,
        Some(d) => verdict_of(at, ctx, d, "default_ingress")?,
    };
    let audit = t.audit.as_ref().map_or(audit_all, |a| *a.get_ref());
    let mut rules: Vec<Rule> = Vec::new();
    let mut names: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (i, r) in t.rule.iter().enumerate() {
        let rt = r.get_ref();
        let name = match &rt.name {
            Some(n) => {
                let s = n.get_ref().clone();
                if !valid_name(&s) {
                    return Err(at.err(
                        Some(n.span()),
                        Some(ctx),
                        format!("rule name {s:?} must be 1-64 characters of A-Z a-z 0-9 _ - ."),
                    ));
                }
                if let Some(prev) = names.get(&s) {
                    return Err(at.err(
                        Some(n.span()),
                        Some(ctx),
                        format!(
                            "rule '{s}' is defined twice in this workload (first at line {prev})"
                        ),
                    ));
                }
                s
            }
            None => format!("rule-{}", i + 1),
        };
        let rctx = format!("{ctx} rule '{name}'");
        let loc = at.loc(r.span().start);
        names.insert(name.clone(), loc.line);
        rules.push(rule(at, &rctx, rt, name, loc)?);
    }
    Ok(Workload {
        name: t.name.get_ref().clone(),
        cgroups,
        container,
        default_egress,
        default_ingress,
        audit,
        rules,
        loc,
    })
}

fn rule(
    at: &Locator<'_>,
    ctx: &str,
    t: &RuleToml,
    name: String,
    loc: Loc,
) -> Result<Rule, PolicyError> {
    let direction = match t.direction.get_ref().as_str() {
        "egress" => Direction::Egress,
        "ingress" => Direction::Ingress,
        other => {
            return Err(at.err(
                Some(t.direction.span()),
                Some(ctx),
                format!("direction must be \"egress\" or \"ingress\", not {other:?}"),
            ))
        }
    };
    let (peer_field, wrong) = match direction {
        Direction::Egress => (&t.to, t.from.as_ref().map(|f| ("from", "to", f.span()))),
        Direction::Ingress => (&t.from, t.to.as_ref().map(|f| ("to", "from", f.span()))),
    };
    if let Some((bad, good, span)) = wrong {
        return Err(at.err(
            Some(span),
            Some(ctx),
            format!(
                "an {} rule names its peers with '{good}', not '{bad}'",
                direction.as_str()
            ),
        ));
    }
    let peers = match peer_field {
        None => vec![
            Cidr {
                addr: std::net::Ipv4Addr::UNSPECIFIED.into(),
                len: 0,
            },
            Cidr {
                addr: std::net::Ipv6Addr::UNSPECIFIED.into(),
                len: 0,
            },
        ],
        Some(v) => {
            let mut out: Vec<Cidr> = Vec::new();
            for (s, span) in strings(at, ctx, v, "a peer list")? {
                let c = Cidr::parse(&s).map_err(|m| at.err(Some(span.clone()), Some(ctx), m))?;
                if out.contains(&c) {
                    return Err(at.err(Some(span), Some(ctx), format!("{c} is listed twice")));
                }
                out.push(c);
            }
            out
        }
    };
    let proto = match t.proto.as_ref().map(|p| (p.get_ref().as_str(), p.span())) {
        None | Some(("any", _)) => Proto::Any,
        Some(("tcp", _)) => Proto::Tcp,
        Some(("udp", _)) => Proto::Udp,
        Some(("icmp", _)) => Proto::Icmp,
        Some((other, span)) => {
            return Err(at.err(
                Some(span),
                Some(ctx),
                format!("proto must be \"tcp\", \"udp\", \"icmp\" or \"any\", not {other:?}"),
            ))
        }
    };
    let ports = match &t.ports {
        None => Vec::new(),
        Some(p) => {
            if proto == Proto::Icmp {
                return Err(at.err(
                    Some(p.span()),
                    Some(ctx),
                    "ICMP has no ports: leave 'ports' out or use proto tcp/udp",
                ));
            }
            ports(at, ctx, p)?
        }
    };
    let verdict = verdict_of(at, ctx, &t.verdict, "verdict")?;
    Ok(Rule {
        name,
        direction,
        peers,
        ports,
        proto,
        verdict,
        loc,
    })
}

/// Parses `"80"`, `"8000-8100"`, `"80,443"`, `8081` or a list of those into merged ranges.
fn ports(
    at: &Locator<'_>,
    ctx: &str,
    v: &toml::Spanned<toml::Value>,
) -> Result<Vec<(u16, u16)>, PolicyError> {
    let span = v.span();
    let mut items: Vec<(String, Range<usize>)> = Vec::new();
    let mut push = |val: &toml::Value| -> Result<(), PolicyError> {
        match val {
            toml::Value::Integer(n) => {
                let s = n.to_string();
                items.push((s.clone(), at.find(&span, &s)));
            }
            toml::Value::String(s) => {
                for part in s.split(',') {
                    let part = part.trim();
                    items.push((part.to_string(), at.find(&span, part)));
                }
            }
            _ => {
                return Err(at.err(
                    Some(span.clone()),
                    Some(ctx),
                    "ports must be a number, a string like \"80,443,8000-8100\" or a list",
                ))
            }
        }
        Ok(())
    };
    match v.get_ref() {
        toml::Value::Array(a) => {
            for val in a {
                push(val)?;
            }
        }
        other => push(other)?,
    }
    let mut ranges = Vec::new();
    for (s, sp) in items {
        let num = |x: &str| -> Result<u16, PolicyError> {
            match x.trim().parse::<u32>() {
                Ok(n) if (1..=65535).contains(&n) => Ok(n as u16),
                _ => Err(at.err(
                    Some(sp.clone()),
                    Some(ctx),
                    format!("port {x:?} must be a number in 1..=65535"),
                )),
            }
        };
        let (lo, hi) = match s.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => {
                let n = num(&s)?;
                (n, n)
            }
        };
        if lo > hi {
            return Err(at.err(
                Some(sp),
                Some(ctx),
                format!("port range {s:?} runs backwards (did you mean {hi}-{lo}?)"),
            ));
        }
        ranges.push((lo, hi));
    }
    Ok(merge(ranges))
}

/// Sorts and merges overlapping or adjacent ranges.
pub fn merge(mut r: Vec<(u16, u16)>) -> Vec<(u16, u16)> {
    r.sort_unstable();
    let mut out: Vec<(u16, u16)> = Vec::new();
    for (lo, hi) in r {
        match out.last_mut() {
            Some(last) if u32::from(lo) <= u32::from(last.1) + 1 => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"[[workload]]
name = "web-client"
cgroup = "/sys/fs/cgroup/unified/web-client"
default = "allow"

[[workload.rule]]
name = "no-8081"
direction = "egress"
to = "10.201.0.2/32"
ports = "8081"
proto = "tcp"
verdict = "deny"
"#;

    fn error(src: &str) -> String {
        match parse("p.toml", src) {
            Ok(_) => panic!("accepted: {src}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn the_issue_example_parses() {
        let p = parse("p.toml", EXAMPLE).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.workloads.len(), 1);
        let w = &p.workloads[0];
        assert_eq!(w.cgroups, vec!["/sys/fs/cgroup/unified/web-client"]);
        assert_eq!(w.default_egress, Verdict::Allow);
        let r = &w.rules[0];
        assert_eq!(r.name, "no-8081");
        assert_eq!(r.ports, vec![(8081, 8081)]);
        assert_eq!(r.proto, Proto::Tcp);
        assert_eq!(r.verdict, Verdict::Deny);
        assert_eq!(r.loc, Loc { line: 6, col: 1 });
        assert_eq!(r.peers[0].to_string(), "10.201.0.2/32");
    }

    #[test]
    fn ports_lists_and_ranges_merge() {
        let src = EXAMPLE.replace("\"8081\"", "[\"80,443\", 8000, \"8001-8100\", \"440-445\"]");
        let p = parse("p.toml", &src).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            p.workloads[0].rules[0].ports,
            vec![(80, 80), (440, 445), (8000, 8100)]
        );
    }

    #[test]
    fn not_toml_is_located() {
        let e = error("[[workload]]\nname = \"a\"\ndefault = allow\n");
        assert!(e.starts_with("p.toml:3:11: not a valid policy file"), "{e}");
    }

    #[test]
    fn bad_cidr_is_located_at_the_element() {
        let src = EXAMPLE.replace("\"10.201.0.2/32\"", "[\"10.0.0.0/8\", \"10.300.0.0/16\"]");
        let e = error(&src);
        assert!(
            e.starts_with("p.toml:9:21: workload 'web-client' rule 'no-8081': '10.300.0.0/16'"),
            "{e}"
        );
        let e = error(&EXAMPLE.replace("10.201.0.2/32", "10.201.0.2/24"));
        assert!(e.contains("host bits"), "{e}");
    }

    #[test]
    fn field_errors() {
        let e = error(&EXAMPLE.replace("\"8081\"", "\"9000-80\""));
        assert!(e.contains("runs backwards"), "{e}");
        assert!(e.starts_with("p.toml:10:"), "{e}");
        let e = error(&EXAMPLE.replace("\"8081\"", "\"0\""));
        assert!(e.contains("1..=65535"), "{e}");
        let e = error(&EXAMPLE.replace("\nto = ", "\nfrom = "));
        assert!(e.contains("with 'to', not 'from'"), "{e}");
        let e = error(&EXAMPLE.replace("\"tcp\"", "\"sctp\""));
        assert!(e.starts_with("p.toml:11:9: "), "{e}");
        let e = error(&EXAMPLE.replace("\"tcp\"", "\"icmp\""));
        assert!(e.contains("ICMP has no ports"), "{e}");
        let e = error(&EXAMPLE.replace("verdict = \"deny\"", "verdict = \"drop\""));
        assert!(e.contains("\"allow\" or \"deny\""), "{e}");
        let e = error(&format!("{EXAMPLE}colour = 3\n"));
        assert!(e.contains("colour"), "{e}");
        assert!(e.starts_with("p.toml:13:"), "{e}");
        let e = error("audit = true\n");
        assert!(e.contains("no [[workload]]"), "{e}");
        let e = error(&format!("{EXAMPLE}\n[[workload]]\nname = \"web-client\"\n"));
        assert!(e.contains("defined twice"), "{e}");
    }
}
