//! Reading a live policy's counters: per rule and default, summed over CPUs, as `status`
//! shows them and as the agent exports them (`kestrel_policy_verdicts_total`).

use kestrel_sys::Map;
use serde::Serialize;

use super::compile;
use super::live::{current, is_up, policy_of, read_meta, sys, LiveError, Maps, Meta};
use super::spec::{Direction, Policy};

/// Counters of one slot, summed over CPUs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Flows (connects, datagrams) and packets decided by this slot.
    pub packets: u64,
    /// Bytes of those packets (cgroup_skb hooks only: socket hooks see no bytes).
    pub bytes: u64,
    /// Denied.
    pub denied: u64,
    /// Would have been denied (audit mode) and passed.
    pub audited: u64,
}

fn read_counters(map: &Map, slot: u32) -> Result<Counters, LiveError> {
    let mut v = vec![0u8; map.value_len()];
    map.lookup(&slot.to_ne_bytes(), &mut v)
        .map_err(sys("reading counters"))?;
    let mut c = Counters::default();
    for cpu in map.per_cpu_values(&v) {
        let f = |i: usize| {
            cpu.get(i * 8..i * 8 + 8)
                .and_then(|b| b.try_into().ok())
                .map_or(0, u64::from_ne_bytes)
        };
        c.packets += f(0);
        c.bytes += f(1);
        c.denied += f(2);
        c.audited += f(3);
    }
    Ok(c)
}

/// One rule's (or default's) status.
#[derive(Clone, Debug, Serialize)]
pub struct RuleStatus {
    /// Rule name, or `default`.
    pub name: String,
    /// Direction.
    pub direction: String,
    /// allow / deny.
    pub verdict: String,
    /// Its counters.
    #[serde(flatten)]
    pub counters: Counters,
}

/// One workload's status.
#[derive(Clone, Debug, Serialize)]
pub struct WorkloadStatus {
    /// Name.
    pub name: String,
    /// Audit mode.
    pub audit: bool,
    /// cgroups its programs are attached to (by `up`; `run` cgroups come and go).
    pub cgroups: Vec<String>,
    /// Rules, then the defaults (egress, ingress).
    pub rules: Vec<RuleStatus>,
}

/// The pinned policy's status.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    /// Policy file it was loaded from.
    pub file: String,
    /// Generation (1 after `up`, +1 per reload).
    pub generation: u64,
    /// Per workload.
    pub workloads: Vec<WorkloadStatus>,
    /// Verdict records not sent because of the per-CPU rate limit.
    pub records_rate_limited: u64,
    /// Verdict records not sent because the ring buffer was full.
    pub records_ring_full: u64,
    /// What every reader of these numbers must know.
    pub note: String,
}

/// The note `status` carries.
pub const SOCKET_NOTE: &str = "a socket keeps the cgroup it was created in: moving a running process into a workload's cgroup does not filter the sockets (listeners included) it already has";

pub(super) fn statuses(
    policy: &Policy,
    maps: &Maps,
    meta: &Meta,
) -> Result<Vec<WorkloadStatus>, LiveError> {
    let mut out = Vec::new();
    let mut slot = 0u32;
    for (wi, w) in policy.workloads.iter().enumerate() {
        let mut rules = Vec::new();
        for r in &w.rules {
            rules.push(RuleStatus {
                name: r.name.clone(),
                direction: r.direction.as_str().to_string(),
                verdict: r.verdict.as_str().to_string(),
                counters: read_counters(&maps.stats, slot)?,
            });
            slot += 1;
        }
        for (dir, v) in [
            (Direction::Egress, w.default_egress),
            (Direction::Ingress, w.default_ingress),
        ] {
            rules.push(RuleStatus {
                name: "default".to_string(),
                direction: dir.as_str().to_string(),
                verdict: v.as_str().to_string(),
                counters: read_counters(&maps.stats, compile::default_slot(policy, wi, dir))?,
            });
        }
        out.push(WorkloadStatus {
            name: w.name.clone(),
            audit: w.audit,
            cgroups: meta
                .attachments
                .iter()
                .filter(|a| a.workload == w.name)
                .map(|a| a.cgroup.clone())
                .collect(),
            rules,
        });
    }
    Ok(out)
}

fn limits(maps: &Maps) -> Result<(u64, u64), LiveError> {
    let mut v = vec![0u8; maps.limits.value_len()];
    maps.limits
        .lookup(&1u32.to_ne_bytes(), &mut v)
        .map_err(sys("reading the record drop counters"))?;
    let mut out = (0, 0);
    for cpu in maps.limits.per_cpu_values(&v) {
        let f = |i: usize| {
            cpu.get(i * 8..i * 8 + 8)
                .and_then(|b| b.try_into().ok())
                .map_or(0, u64::from_ne_bytes)
        };
        out.0 += f(0);
        out.1 += f(1);
    }
    Ok(out)
}

/// The pinned policy's counters per rule.
pub fn status() -> Result<Status, LiveError> {
    let (g, dir) = current().ok_or(LiveError::NotUp)?;
    let meta = read_meta(&dir)?;
    let policy = policy_of(&meta)?;
    let maps = Maps::open(&dir)?;
    let (rl, full) = limits(&maps)?;
    Ok(Status {
        file: meta.file.clone(),
        generation: g,
        workloads: statuses(&policy, &maps, &meta)?,
        records_rate_limited: rl,
        records_ring_full: full,
        note: SOCKET_NOTE.to_string(),
    })
}

/// One value of `kestrel_policy_verdicts_total{workload,rule,verdict,direction}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VerdictCounter {
    /// Workload name.
    pub workload: String,
    /// Rule name, or `default`.
    pub rule: String,
    /// `allow`, `deny`, or `audit` (would have been denied, passed).
    pub verdict: String,
    /// `egress` / `ingress`.
    pub direction: String,
    /// Flows and packets.
    pub value: u64,
}

/// Name of the metric [`verdict_counters`] feeds.
pub const METRIC: &str = "kestrel_policy_verdicts_total";

/// The values of `kestrel_policy_verdicts_total` for the pinned policy (empty when none is
/// up), for the agent's /metrics.
pub fn verdict_counters() -> Result<Vec<VerdictCounter>, LiveError> {
    if !is_up() {
        return Ok(Vec::new());
    }
    let st = status()?;
    let mut out = Vec::new();
    for w in &st.workloads {
        for r in &w.rules {
            let c = r.counters;
            let allowed = c.packets.saturating_sub(c.denied + c.audited);
            for (verdict, value) in [("allow", allowed), ("deny", c.denied), ("audit", c.audited)] {
                let expected = match verdict {
                    "allow" => r.verdict == "allow" || c.audited > 0,
                    "deny" => r.verdict == "deny" && !w.audit,
                    _ => r.verdict == "deny" && w.audit,
                };
                if value > 0 || expected {
                    out.push(VerdictCounter {
                        workload: w.name.clone(),
                        rule: r.name.clone(),
                        verdict: verdict.to_string(),
                        direction: r.direction.clone(),
                        value,
                    });
                }
            }
        }
    }
    Ok(out)
}
