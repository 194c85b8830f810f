//! Verdict records: decoded from the ring buffer's bytes, named with the policy, printed as
//! a line of text or one JSON object.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;

use super::program::{rec, RECORD_SIZE};
use super::spec::Policy;

/// One denied (or, in audit mode, would-be denied) flow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VerdictRecord {
    /// CLOCK_MONOTONIC nanoseconds when the hook ran.
    pub ktime_ns: u64,
    /// Wall-clock time (RFC 3339, UTC), filled in by the reader.
    pub time: String,
    /// Workload name.
    pub workload: String,
    /// The deciding rule's name, or `default`.
    pub rule: String,
    /// `deny`, or `audit` (would be denied; passed).
    pub verdict: String,
    /// `egress` / `ingress`.
    pub direction: String,
    /// Process id, when the hook ran in the process (socket hooks).
    pub pid: Option<u32>,
    /// Command name, when known.
    pub comm: Option<String>,
    /// cgroup id of the socket's process (or of the skb's socket).
    pub cgroup_id: u64,
    /// `tcp`, `udp`, `icmp`, `icmpv6` or the protocol number.
    pub proto: String,
    /// Source address (unspecified when the socket hook does not know it yet).
    pub src: IpAddr,
    /// Source port (0 when unknown).
    pub sport: u16,
    /// Destination address.
    pub dst: IpAddr,
    /// Destination port.
    pub dport: u16,
}

fn u16_be(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2)
        .map_or(0, |s| u16::from_be_bytes([s[0], s[1]]))
}

fn u32_ne(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u32::from_ne_bytes)
}

fn u64_ne(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u64::from_ne_bytes)
}

fn addr(b: &[u8], at: usize, family: u8) -> IpAddr {
    let raw: [u8; 16] = b
        .get(at..at + 16)
        .and_then(|s| s.try_into().ok())
        .unwrap_or([0; 16]);
    if family == 6 {
        IpAddr::V6(Ipv6Addr::from(raw))
    } else {
        IpAddr::V4(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3]))
    }
}

/// The name of slot `slot`: a rule's name, or `default`.
pub fn slot_name(policy: &Policy, slot: u32) -> String {
    policy
        .rules()
        .nth(slot as usize)
        .map_or_else(|| "default".to_string(), |(_, r)| r.name.clone())
}

/// Decodes one record; `None` if it is too short (not one of ours).
pub fn decode(policy: &Policy, b: &[u8]) -> Option<VerdictRecord> {
    if b.len() < RECORD_SIZE {
        return None;
    }
    let family = b[rec::FAMILY];
    let proto = match b[rec::PROTO] {
        6 => "tcp".to_string(),
        17 => "udp".to_string(),
        1 => "icmp".to_string(),
        58 => "icmpv6".to_string(),
        n => n.to_string(),
    };
    let wl = u16::from_ne_bytes([b[rec::WORKLOAD], b[rec::WORKLOAD + 1]]);
    let pid = u32_ne(b, rec::PID);
    let comm_raw = &b[rec::COMM..rec::COMM + 16];
    let comm_end = comm_raw.iter().position(|c| *c == 0).unwrap_or(16);
    let comm = String::from_utf8_lossy(&comm_raw[..comm_end]).into_owned();
    Some(VerdictRecord {
        ktime_ns: u64_ne(b, rec::TIME),
        time: String::new(),
        workload: policy
            .workloads
            .get(usize::from(wl))
            .map_or_else(|| format!("workload-{wl}"), |w| w.name.clone()),
        rule: slot_name(policy, u32_ne(b, rec::SLOT)),
        verdict: if b[rec::VERDICT] == 2 {
            "audit"
        } else {
            "deny"
        }
        .to_string(),
        direction: if b[rec::DIR] == 1 {
            "ingress"
        } else {
            "egress"
        }
        .to_string(),
        pid: (pid != 0).then_some(pid),
        comm: (!comm.is_empty()).then_some(comm),
        cgroup_id: u64_ne(b, rec::CGROUP),
        proto,
        src: addr(b, rec::SADDR, family),
        sport: u16_be(b, rec::SPORT),
        dst: addr(b, rec::DADDR, family),
        dport: u16_be(b, rec::DPORT),
    })
}

fn endpoint(a: &IpAddr, port: u16) -> String {
    match a {
        IpAddr::V6(_) => format!("[{a}]:{port}"),
        IpAddr::V4(_) => format!("{a}:{port}"),
    }
}

impl fmt::Display for VerdictRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = match (&self.pid, &self.comm) {
            (Some(p), Some(c)) => format!(" pid {p} ({c})"),
            (Some(p), None) => format!(" pid {p}"),
            _ => String::new(),
        };
        write!(
            f,
            "{} {:<5} {} {}{} {} {} -> {} rule '{}'",
            self.time,
            self.verdict.to_uppercase(),
            self.workload,
            self.direction,
            who,
            self.proto,
            endpoint(&self.src, self.sport),
            endpoint(&self.dst, self.dport),
            self.rule
        )
    }
}

/// Formats a UNIX time in nanoseconds as RFC 3339 UTC with microseconds.
pub fn rfc3339(unix_ns: u128) -> String {
    let secs = (unix_ns / 1_000_000_000) as i64;
    let micros = (unix_ns % 1_000_000_000) / 1000;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::super::spec::parse;
    use super::*;

    #[test]
    fn decodes_a_record() {
        let p = parse(
            "p.toml",
            "[[workload]]\nname = \"web\"\ncgroup = \"/x\"\n[[workload.rule]]\nname = \"no-8081\"\ndirection = \"egress\"\nverdict = \"deny\"\nports = 8081\nproto = \"tcp\"\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut b = vec![0u8; RECORD_SIZE];
        b[rec::TIME..rec::TIME + 8].copy_from_slice(&5u64.to_ne_bytes());
        b[rec::PID..rec::PID + 4].copy_from_slice(&42u32.to_ne_bytes());
        b[rec::VERDICT] = 1;
        b[rec::FAMILY] = 4;
        b[rec::PROTO] = 6;
        b[rec::DPORT..rec::DPORT + 2].copy_from_slice(&8081u16.to_be_bytes());
        b[rec::DADDR..rec::DADDR + 4].copy_from_slice(&[10, 201, 0, 2]);
        b[rec::COMM..rec::COMM + 4].copy_from_slice(b"curl");
        let r = decode(&p, &b).unwrap_or_else(|| panic!("short"));
        assert_eq!(r.rule, "no-8081");
        assert_eq!(r.workload, "web");
        assert_eq!(r.pid, Some(42));
        assert_eq!(r.comm.as_deref(), Some("curl"));
        assert_eq!(
            r.to_string(),
            " DENY  web egress pid 42 (curl) tcp 0.0.0.0:0 -> 10.201.0.2:8081 rule 'no-8081'"
        );
        b[rec::SLOT..rec::SLOT + 4].copy_from_slice(&7u32.to_ne_bytes());
        assert_eq!(decode(&p, &b).map(|r| r.rule), Some("default".to_string()));
    }

    #[test]
    fn times() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            rfc3339(1_796_000_000_123_456_789),
            "2026-11-30T00:53:20.123456Z"
        );
    }
}
