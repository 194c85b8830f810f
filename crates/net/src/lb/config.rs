//! The lb config file: TOML, parsed and validated completely before anything touches an
//! interface. Every error names the file, line and column (and the service it is in).
//!
//! ```toml
//! mode = "nat"                  # "nat" (default), "dsr" or "ipip"
//! table_size = 65537            # Maglev lookup table entries per service (a prime)
//! max_connections = 262144      # capacity of the LRU connection table
//! ipip_source = "10.0.0.1"      # outer source address (mode = "ipip" only)
//! forward = "stack"             # nat: "stack" (XDP_PASS, the host routes) or "redirect"
//!                               # (bpf_fib_lookup + XDP_REDIRECT, the stack is skipped)
//!
//! [health]                      # optional: `kestrel lb health` probes backends over TCP
//! interval_ms = 1000
//! timeout_ms = 300
//! fails = 2                     # consecutive failures before a backend is drained
//! passes = 1                    # consecutive successes before it is restored
//!
//! [[service]]
//! name = "web"
//! vip = "10.203.0.100"
//! port = 80
//! proto = "tcp"                 # "tcp" (default) or "udp"
//! backends = ["10.204.1.2:80",  # "ip:port", or a table:
//!             { addr = "10.204.2.2:80", weight = 2, mac = "02:00:00:00:00:02" }]
//! ```

use std::collections::HashMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::ops::Range;

use serde::Deserialize;

/// Default Maglev table size (a prime; the paper's recommendation is M ≫ number of backends).
pub const DEFAULT_TABLE_SIZE: u32 = 65_537;
/// Largest table size accepted (the table map holds `MAX_SERVICES × size` entries).
pub const MAX_TABLE_SIZE: u32 = 1_000_003;
/// Default capacity of the connection table.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 262_144;
/// Most services one config may have.
pub const MAX_SERVICES: u32 = 32;
/// Most backends over all services (slots in the backend array, live additions included).
pub const MAX_BACKENDS: u32 = 4096;
/// Largest weight accepted.
pub const MAX_WEIGHT: u32 = 1000;

/// How packets reach the chosen backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LbMode {
    /// Destination NAT at XDP; replies translated back on tc egress of the same interface.
    Nat,
    /// Direct server return: MAC rewrite and XDP_TX; the backend holds the VIP on loopback.
    Dsr,
    /// IP-in-IP encapsulation to the backend, XDP_TX (Katran's mode).
    Ipip,
}

impl LbMode {
    /// `nat`, `dsr` or `ipip`.
    pub fn name(self) -> &'static str {
        match self {
            LbMode::Nat => "nat",
            LbMode::Dsr => "dsr",
            LbMode::Ipip => "ipip",
        }
    }
}

/// How nat mode hands a translated packet on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Forward {
    /// XDP_PASS: the host's stack routes it (and its netfilter sees it).
    #[default]
    Stack,
    /// bpf_fib_lookup in XDP, MACs and TTL rewritten, XDP_REDIRECT to the egress interface;
    /// falls back to the stack when the lookup cannot answer (no neighbour entry yet, TTL 1).
    Redirect,
}

/// Transport protocol of a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP (IP protocol 6).
    Tcp,
    /// UDP (IP protocol 17).
    Udp,
}

impl Proto {
    /// The IP protocol number.
    pub fn number(self) -> u8 {
        match self {
            Proto::Tcp => 6,
            Proto::Udp => 17,
        }
    }
    /// `tcp` or `udp`.
    pub fn name(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// One backend of a service.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Backend {
    /// Name Maglev hashes (default: `ip:port`).
    pub name: String,
    /// Address and port.
    pub addr: SocketAddrV4,
    /// Relative weight (≥ 1).
    pub weight: u32,
    /// Ethernet address (dsr/ipip: the next hop's MAC; looked up in the ARP table if absent).
    pub mac: Option<[u8; 6]>,
}

/// One service: a VIP, port and protocol, and its backends.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Service {
    /// Unique name.
    pub name: String,
    /// Virtual address clients connect to.
    pub vip: Ipv4Addr,
    /// Port on the VIP.
    pub port: u16,
    /// Protocol.
    pub proto: Proto,
    /// Backends, in file order.
    pub backends: Vec<Backend>,
    /// Line of the `[[service]]` header.
    pub line: usize,
}

/// Active TCP health checking (`kestrel lb health`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Health {
    /// Time between probe rounds.
    pub interval_ms: u64,
    /// Connect timeout of one probe.
    pub timeout_ms: u64,
    /// Consecutive failures that drain a backend.
    pub fails: u32,
    /// Consecutive successes that restore it.
    pub passes: u32,
}

impl Default for Health {
    fn default() -> Health {
        Health {
            interval_ms: 1000,
            timeout_ms: 300,
            fails: 2,
            passes: 1,
        }
    }
}

/// A validated config.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LbConfig {
    /// Forwarding mode.
    pub mode: LbMode,
    /// Maglev table size per service (prime).
    pub table_size: u32,
    /// Connection table capacity.
    pub max_connections: u32,
    /// Outer source address in ipip mode.
    pub ipip_source: Option<Ipv4Addr>,
    /// How nat mode forwards.
    #[serde(default)]
    pub forward: Forward,
    /// Health checking parameters (defaults if the file has no `[health]`).
    pub health: Health,
    /// The services, in file order.
    pub services: Vec<Service>,
}

/// A config error: file, line and column, the service it is about, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct LbConfigError {
    /// File name as given.
    pub file: String,
    /// 1-based line, if known.
    pub line: Option<usize>,
    /// 1-based column, if known.
    pub column: Option<usize>,
    /// `service 'web'` / `service 2`, if inside a service.
    pub service: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for LbConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        write!(f, ": ")?;
        if let Some(s) = &self.service {
            write!(f, "{s}: ")?;
        }
        write!(f, "{}", self.message)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileToml {
    mode: Option<toml::Spanned<String>>,
    table_size: Option<toml::Spanned<i64>>,
    max_connections: Option<toml::Spanned<i64>>,
    ipip_source: Option<toml::Spanned<String>>,
    forward: Option<toml::Spanned<String>>,
    health: Option<toml::Spanned<HealthToml>>,
    #[serde(default)]
    service: Vec<toml::Spanned<ServiceToml>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HealthToml {
    interval_ms: Option<toml::Spanned<i64>>,
    timeout_ms: Option<toml::Spanned<i64>>,
    fails: Option<toml::Spanned<i64>>,
    passes: Option<toml::Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceToml {
    name: toml::Spanned<String>,
    vip: toml::Spanned<String>,
    port: toml::Spanned<i64>,
    proto: Option<toml::Spanned<String>>,
    backends: toml::Spanned<Vec<toml::Spanned<toml::Value>>>,
}

/// (line, column), both 1-based, of byte offset `at` in `src`.
fn locate(src: &str, at: usize) -> (usize, usize) {
    let before = src.get(..at.min(src.len())).unwrap_or("");
    let line = before.bytes().filter(|b| *b == b'\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Number (1-based) of the `[[service]]` table containing byte offset `at` (its own header
/// line included), if any.
fn service_number_at(src: &str, at: usize) -> Option<usize> {
    let mut n = 0;
    let mut start = 0;
    for line in src.split_inclusive('\n') {
        if start > at {
            break;
        }
        if line.trim_start().starts_with("[[service]]") {
            n += 1;
        }
        start += line.len();
    }
    (n > 0).then_some(n)
}

fn is_prime(n: u32) -> bool {
    if n < 2 {
        return false;
    }
    let mut d = 2u64;
    while d * d <= u64::from(n) {
        if u64::from(n) % d == 0 {
            return false;
        }
        d += 1;
    }
    true
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let v: Vec<u8> = s
        .split(':')
        .map(|p| {
            if p.len() == 2 {
                u8::from_str_radix(p, 16).ok()
            } else {
                None
            }
        })
        .collect::<Option<Vec<u8>>>()?;
    v.try_into().ok()
}

/// Parses `A.B.C.D:PORT` (IPv4 only, port 1..=65535).
pub fn parse_backend_addr(s: &str) -> Result<SocketAddrV4, String> {
    let s = s.trim();
    if s.starts_with('[') || s.matches(':').count() > 1 {
        return Err(format!(
            "'{s}': IPv6 backends are not supported yet (IPv4 only)"
        ));
    }
    let Some((ip, port)) = s.rsplit_once(':') else {
        return Err(format!("'{s}' is not ADDRESS:PORT (the port is required)"));
    };
    let ip: Ipv4Addr = ip
        .parse()
        .map_err(|_| format!("'{ip}' in '{s}' is not a valid IPv4 address"))?;
    let port: u16 = match port.parse() {
        Ok(p) if p > 0 => p,
        _ => return Err(format!("'{port}' in '{s}' is not a port (1..=65535)")),
    };
    if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() {
        return Err(format!("'{s}' cannot be a backend address"));
    }
    Ok(SocketAddrV4::new(ip, port))
}

/// Parses and validates a config; `file` is only used in messages.
pub fn parse_config(file: &str, src: &str) -> Result<LbConfig, LbConfigError> {
    let err = |span: Option<Range<usize>>, service: Option<String>, message: String| {
        let (line, column) = match span.map(|s| locate(src, s.start)) {
            Some((l, c)) => (Some(l), Some(c)),
            None => (None, None),
        };
        LbConfigError {
            file: file.to_string(),
            line,
            column,
            service,
            message,
        }
    };
    let parsed: FileToml = toml::from_str(src).map_err(|e| {
        let span = e.span();
        let svc = span
            .clone()
            .and_then(|s| service_number_at(src, s.start))
            .map(|n| format!("service {n}"));
        err(span, svc, e.message().trim().to_string())
    })?;

    let mode = match parsed.mode.as_ref().map(|m| m.get_ref().as_str()) {
        None | Some("nat") => LbMode::Nat,
        Some("dsr") => LbMode::Dsr,
        Some("ipip") => LbMode::Ipip,
        Some(other) => {
            return Err(err(
                parsed.mode.as_ref().map(|m| m.span()),
                None,
                format!("mode must be \"nat\", \"dsr\" or \"ipip\", not {other:?}"),
            ))
        }
    };
    let table_size = match &parsed.table_size {
        None => DEFAULT_TABLE_SIZE,
        Some(t) => {
            let v = *t.get_ref();
            if v < 7 || v > i64::from(MAX_TABLE_SIZE) || !is_prime(v as u32) {
                return Err(err(
                    Some(t.span()),
                    None,
                    format!(
                        "table_size must be a prime in 7..={MAX_TABLE_SIZE} (Maglev needs a prime), not {v}"
                    ),
                ));
            }
            v as u32
        }
    };
    let max_connections = match &parsed.max_connections {
        None => DEFAULT_MAX_CONNECTIONS,
        Some(t) => {
            let v = *t.get_ref();
            if !(16..=16_777_216).contains(&v) {
                return Err(err(
                    Some(t.span()),
                    None,
                    format!("max_connections must be in 16..=16777216, not {v}"),
                ));
            }
            v as u32
        }
    };
    let ipip_source = match &parsed.ipip_source {
        None => None,
        Some(s) => {
            if mode != LbMode::Ipip {
                return Err(err(
                    Some(s.span()),
                    None,
                    "ipip_source only applies to mode = \"ipip\"".to_string(),
                ));
            }
            Some(s.get_ref().trim().parse::<Ipv4Addr>().map_err(|_| {
                err(
                    Some(s.span()),
                    None,
                    format!("ipip_source '{}' is not an IPv4 address", s.get_ref()),
                )
            })?)
        }
    };
    if mode == LbMode::Ipip && ipip_source.is_none() {
        return Err(err(
            parsed.mode.as_ref().map(|m| m.span()),
            None,
            "mode = \"ipip\" needs ipip_source (the outer header's source address)".to_string(),
        ));
    }
    let forward = match parsed.forward.as_ref().map(|f| (f, f.get_ref().as_str())) {
        None | Some((_, "stack")) => Forward::Stack,
        Some((f, "redirect")) => {
            if mode != LbMode::Nat {
                return Err(err(
                    Some(f.span()),
                    None,
                    "forward = \"redirect\" only applies to mode = \"nat\"".to_string(),
                ));
            }
            Forward::Redirect
        }
        Some((f, other)) => {
            return Err(err(
                Some(f.span()),
                None,
                format!("forward must be \"stack\" or \"redirect\", not {other:?}"),
            ))
        }
    };
    let health = match &parsed.health {
        None => Health::default(),
        Some(h) => {
            let t = h.get_ref();
            let d = Health::default();
            let num = |f: &Option<toml::Spanned<i64>>,
                       name: &str,
                       max: i64,
                       dflt: i64|
             -> Result<i64, LbConfigError> {
                let Some(s) = f else { return Ok(dflt) };
                let v = *s.get_ref();
                if v <= 0 || v > max {
                    return Err(err(
                        Some(s.span()),
                        None,
                        format!("health.{name} must be in 1..={max}, not {v}"),
                    ));
                }
                Ok(v)
            };
            Health {
                interval_ms: num(&t.interval_ms, "interval_ms", 3_600_000, 1000)? as u64,
                timeout_ms: num(&t.timeout_ms, "timeout_ms", 60_000, d.timeout_ms as i64)? as u64,
                fails: num(&t.fails, "fails", 100, i64::from(d.fails))? as u32,
                passes: num(&t.passes, "passes", 100, i64::from(d.passes))? as u32,
            }
        }
    };

    if parsed.service.is_empty() {
        return Err(err(
            None,
            None,
            "no [[service]]: a load balancer needs at least one".to_string(),
        ));
    }
    if parsed.service.len() > MAX_SERVICES as usize {
        return Err(err(
            parsed.service.get(MAX_SERVICES as usize).map(|s| s.span()),
            None,
            format!(
                "at most {MAX_SERVICES} services are supported, this file has {}",
                parsed.service.len()
            ),
        ));
    }

    let mut services: Vec<Service> = Vec::new();
    // (vip, port, proto) → (service name, line)
    let mut vips: HashMap<(Ipv4Addr, u16, Proto), (String, usize)> = HashMap::new();
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut total_backends = 0usize;
    // Backend spans, for the overlap check after all VIPs are known.
    let mut backend_spans: Vec<(usize, usize, Range<usize>)> = Vec::new();
    for (i, s) in parsed.service.iter().enumerate() {
        let t = s.get_ref();
        let line = locate(src, s.span().start).0;
        let name = t.name.get_ref().trim().to_string();
        let label = if name.is_empty() {
            format!("service {}", i + 1)
        } else {
            format!("service '{name}'")
        };
        let e = |span: Range<usize>, m: String| err(Some(span), Some(label.clone()), m);
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(e(
                t.name.span(),
                format!(
                    "name {:?} must be non-empty letters, digits, '-', '_' or '.'",
                    t.name.get_ref()
                ),
            ));
        }
        if let Some(prev) = names.insert(name.clone(), line) {
            return Err(e(
                t.name.span(),
                format!("duplicate service name (also on line {prev})"),
            ));
        }
        let vip: Ipv4Addr = t.vip.get_ref().trim().parse().map_err(|_| {
            let v = t.vip.get_ref();
            if v.contains(':') {
                e(
                    t.vip.span(),
                    format!("vip '{v}': IPv6 VIPs are not supported yet (IPv4 only)"),
                )
            } else {
                e(t.vip.span(), format!("vip '{v}' is not an IPv4 address"))
            }
        })?;
        if vip.is_unspecified() || vip.is_broadcast() || vip.is_multicast() || vip.is_loopback() {
            return Err(e(
                t.vip.span(),
                format!("vip {vip} cannot be a service address"),
            ));
        }
        let port = *t.port.get_ref();
        if !(1..=65535).contains(&port) {
            return Err(e(
                t.port.span(),
                format!("port must be in 1..=65535, not {port}"),
            ));
        }
        let port = port as u16;
        let proto = match t.proto.as_ref().map(|p| p.get_ref().as_str()) {
            None | Some("tcp") => Proto::Tcp,
            Some("udp") => Proto::Udp,
            Some(other) => {
                return Err(e(
                    t.proto.as_ref().map_or(s.span(), |p| p.span()),
                    format!("proto must be \"tcp\" or \"udp\", not {other:?}"),
                ))
            }
        };
        if let Some((other, l)) = vips.get(&(vip, port, proto)) {
            return Err(e(
                t.vip.span(),
                format!(
                    "duplicate VIP: {vip}:{port}/{} is already service '{other}' (line {l})",
                    proto.name()
                ),
            ));
        }
        vips.insert((vip, port, proto), (name.clone(), line));

        let list = t.backends.get_ref();
        if list.is_empty() {
            return Err(e(
                t.backends.span(),
                "no backends: a service needs at least one".to_string(),
            ));
        }
        let mut backends: Vec<Backend> = Vec::new();
        for b in list {
            let be = backend(b, &e)?;
            if let Some(dup) = backends
                .iter()
                .find(|x| x.addr == be.addr || x.name == be.name)
            {
                return Err(e(b.span(), format!("backend {} is listed twice", dup.name)));
            }
            if mode == LbMode::Dsr && be.addr.port() != port {
                return Err(e(
                    b.span(),
                    format!(
                        "in dsr mode a backend's port must be the service's ({port}): the packet is forwarded unchanged"
                    ),
                ));
            }
            backend_spans.push((i, backends.len(), b.span()));
            backends.push(be);
        }
        total_backends += backends.len();
        services.push(Service {
            name,
            vip,
            port,
            proto,
            backends,
            line,
        });
    }
    if total_backends > MAX_BACKENDS as usize {
        return Err(err(
            None,
            None,
            format!("at most {MAX_BACKENDS} backends are supported in all, this file has {total_backends}"),
        ));
    }
    // Overlap: a backend that is itself a VIP would send traffic round in a loop.
    for (si, bi, span) in backend_spans {
        let (svc, be) = (&services[si], &services[si].backends[bi]);
        if let Some((other, l)) = vips.get(&(*be.addr.ip(), be.addr.port(), svc.proto)) {
            return Err(err(
                Some(span),
                Some(format!("service '{}'", svc.name)),
                format!(
                    "overlapping services: backend {} is the VIP of service '{other}' (line {l})",
                    be.addr
                ),
            ));
        }
    }
    Ok(LbConfig {
        mode,
        table_size,
        max_connections,
        ipip_source,
        forward,
        health,
        services,
    })
}

fn backend(
    b: &toml::Spanned<toml::Value>,
    e: &dyn Fn(Range<usize>, String) -> LbConfigError,
) -> Result<Backend, LbConfigError> {
    let span = b.span();
    match b.get_ref() {
        toml::Value::String(s) => {
            let addr = parse_backend_addr(s).map_err(|m| e(span.clone(), m))?;
            Ok(Backend {
                name: addr.to_string(),
                addr,
                weight: 1,
                mac: None,
            })
        }
        toml::Value::Table(t) => {
            for k in t.keys() {
                if !["addr", "weight", "mac", "name"].contains(&k.as_str()) {
                    return Err(e(
                        span.clone(),
                        format!("unknown backend field '{k}' (expected addr, weight, mac, name)"),
                    ));
                }
            }
            let addr = match t.get("addr") {
                Some(toml::Value::String(s)) => {
                    parse_backend_addr(s).map_err(|m| e(span.clone(), m))?
                }
                _ => {
                    return Err(e(
                        span,
                        "a backend table needs addr = \"IP:PORT\"".to_string(),
                    ))
                }
            };
            let weight = match t.get("weight") {
                None => 1,
                Some(toml::Value::Integer(w)) if *w > 0 && *w <= i64::from(MAX_WEIGHT) => {
                    *w as u32
                }
                Some(toml::Value::Integer(0)) => {
                    return Err(e(
                        span,
                        format!("backend {addr}: weight 0 (use `kestrel lb backend drain` to take a backend out of rotation)"),
                    ))
                }
                Some(w) => {
                    return Err(e(
                        span,
                        format!("backend {addr}: weight must be an integer in 1..={MAX_WEIGHT}, not {w}"),
                    ))
                }
            };
            let mac = match t.get("mac") {
                None => None,
                Some(toml::Value::String(m)) => Some(parse_mac(m).ok_or_else(|| {
                    e(
                        span.clone(),
                        format!("backend {addr}: mac '{m}' is not aa:bb:cc:dd:ee:ff"),
                    )
                })?),
                Some(other) => {
                    return Err(e(
                        span,
                        format!("backend {addr}: mac must be a string, not {other}"),
                    ))
                }
            };
            let name = match t.get("name") {
                None => addr.to_string(),
                Some(toml::Value::String(n)) if !n.trim().is_empty() => n.trim().to_string(),
                Some(other) => {
                    return Err(e(
                        span,
                        format!("backend {addr}: name must be a non-empty string, not {other}"),
                    ))
                }
            };
            Ok(Backend {
                name,
                addr,
                weight,
                mac,
            })
        }
        other => Err(e(
            span,
            format!(
                "a backend is \"IP:PORT\" or {{ addr = \"IP:PORT\", weight = N }}, not {other}"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The issue's example, verbatim.
    pub(crate) const EXAMPLE: &str = r#"mode = "nat"

[[service]]
name = "web"
vip = "10.203.0.100"
port = 80
proto = "tcp"
backends = ["10.204.1.2:80", "10.204.2.2:80", "10.204.3.2:80"]
"#;

    fn error(src: &str) -> String {
        match parse_config("lb.toml", src) {
            Ok(_) => panic!("accepted: {src}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn the_issue_example_parses() {
        let c = parse_config("lb.toml", EXAMPLE).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.mode, LbMode::Nat);
        assert_eq!(c.table_size, 65_537);
        assert_eq!(c.services.len(), 1);
        let s = &c.services[0];
        assert_eq!(
            (s.name.as_str(), s.vip, s.port, s.proto, s.line),
            ("web", Ipv4Addr::new(10, 203, 0, 100), 80, Proto::Tcp, 3)
        );
        assert_eq!(s.backends.len(), 3);
        assert_eq!(s.backends[2].addr.to_string(), "10.204.3.2:80");
        assert!(s.backends.iter().all(|b| b.weight == 1));
    }

    #[test]
    fn backend_tables_with_weights() {
        let c = parse_config(
            "lb.toml",
            "[[service]]\nname = \"a\"\nvip = \"10.0.0.1\"\nport = 53\nproto = \"udp\"\nbackends = [\"10.1.0.1:53\", { addr = \"10.1.0.2:5353\", weight = 3, name = \"big\" }]\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let b = &c.services[0].backends[1];
        assert_eq!((b.name.as_str(), b.weight, b.addr.port()), ("big", 3, 5353));
    }

    #[test]
    fn duplicate_vip_is_located() {
        let src = format!(
            "{EXAMPLE}\n[[service]]\nname = \"web2\"\nvip = \"10.203.0.100\"\nport = 80\nbackends = [\"10.204.9.2:80\"]\n"
        );
        let e = error(&src);
        assert!(
            e.starts_with("lb.toml:12:7: service 'web2': duplicate VIP: 10.203.0.100:80/tcp is already service 'web' (line 3)"),
            "{e}"
        );
    }

    #[test]
    fn no_backends_and_zero_weight() {
        let e = error("[[service]]\nname = \"a\"\nvip = \"10.0.0.1\"\nport = 80\nbackends = []\n");
        assert!(
            e.starts_with("lb.toml:5:12: service 'a': no backends"),
            "{e}"
        );
        let e = error("[[service]]\nname = \"a\"\nvip = \"10.0.0.1\"\nport = 80\nbackends = [\"10.1.0.1:80\",\n  { addr = \"10.1.0.2:80\", weight = 0 }]\n");
        assert!(
            e.starts_with("lb.toml:6:3: service 'a': backend 10.1.0.2:80: weight 0"),
            "{e}"
        );
    }

    #[test]
    fn overlapping_services() {
        let e = error("[[service]]\nname = \"a\"\nvip = \"10.0.0.1\"\nport = 80\nbackends = [\"10.1.0.1:80\"]\n[[service]]\nname = \"b\"\nvip = \"10.1.0.1\"\nport = 80\nbackends = [\"10.2.0.1:80\"]\n");
        assert!(
            e.starts_with("lb.toml:5:13: service 'a': overlapping services: backend 10.1.0.1:80 is the VIP of service 'b' (line 6)"),
            "{e}"
        );
    }

    #[test]
    fn bad_addresses() {
        let svc = |vip: &str, be: &str| {
            format!(
                "[[service]]\nname = \"a\"\nvip = \"{vip}\"\nport = 80\nbackends = [\"{be}\"]\n"
            )
        };
        let e = error(&svc("10.0.0.300", "10.1.0.1:80"));
        assert!(
            e.starts_with("lb.toml:3:7: service 'a': vip '10.0.0.300' is not an IPv4"),
            "{e}"
        );
        let e = error(&svc("10.0.0.1", "10.1.0.1"));
        assert!(
            e.starts_with("lb.toml:5:13: service 'a': '10.1.0.1' is not ADDRESS:PORT"),
            "{e}"
        );
        let e = error(&svc("10.0.0.1", "10.1.0.1:0"));
        assert!(e.contains("is not a port"), "{e}");
        let e = error(&svc("fd00::1", "10.1.0.1:80"));
        assert!(e.contains("IPv6 VIPs are not supported"), "{e}");
        let e = error(&svc("10.0.0.1", "10.1.0.x:80"));
        assert!(e.contains("not a valid IPv4"), "{e}");
    }

    #[test]
    fn file_level_errors() {
        let e = error("mode = \"tunnel\"\n");
        assert!(e.starts_with("lb.toml:1:8: mode must be"), "{e}");
        let e = error(&format!("table_size = 65536\n{EXAMPLE}"));
        assert!(
            e.starts_with("lb.toml:1:14: table_size must be a prime"),
            "{e}"
        );
        let e = error("mode = \"nat\"\n");
        assert!(e.contains("no [[service]]"), "{e}");
        let e = error("[[service]]\nvip = \"10.0.0.1\"\n");
        assert!(
            e.starts_with("lb.toml:1:1: service 1: missing field `name`"),
            "{e}"
        );
        let e = error("[[service]]\nname = \"a\"\nvip = \"10.0.0.1\"\nport = 80\ncolour = 1\nbackends = [\"10.1.0.1:80\"]\n");
        assert!(
            e.starts_with("lb.toml:5:1: service 1: unknown field `colour`"),
            "{e}"
        );
        let e = error("mode = \"ipip\"\n[[service]]\nname = \"a\"\nvip = \"10.0.0.1\"\nport = 80\nbackends = [\"10.1.0.1:80\"]\n");
        assert!(e.contains("needs ipip_source"), "{e}");
        let e = error("mode = \"dsr\"\n[[service]]\nname = \"a\"\nvip = \"10.0.0.1\"\nport = 80\nbackends = [\"10.1.0.1:8080\"]\n");
        assert!(e.contains("in dsr mode a backend's port"), "{e}");
    }

    #[test]
    fn primes() {
        assert!(is_prime(65_537) && is_prime(7) && is_prime(1_000_003));
        assert!(!is_prime(65_535) && !is_prime(1) && !is_prime(9));
    }
}
