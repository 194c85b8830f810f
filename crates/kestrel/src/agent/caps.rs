//! Least privilege: which capabilities the agent has, one line for each one missing and
//! what it is needed for, and dropping them all once everything is attached.

/// A capability the agent may need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Need {
    /// `CAP_BPF`.
    pub name: &'static str,
    /// Bit number in the capability sets.
    pub bit: u32,
    /// What it is needed for.
    pub why: &'static str,
    /// Whether tracing scripts need it (then its absence fails readiness).
    pub required: bool,
}

/// The capabilities checked, in the order reported.
pub const NEEDS: &[Need] = &[
    Need {
        name: "CAP_BPF",
        bit: 39,
        why: "to create BPF maps and load programs",
        required: true,
    },
    Need {
        name: "CAP_PERFMON",
        bit: 38,
        why: "to attach tracepoints and perf events and read kernel memory",
        required: true,
    },
    Need {
        name: "CAP_NET_ADMIN",
        bit: 12,
        why: "for XDP, tc and cgroup network hooks (firewall and policy entries; tracing scripts run without it)",
        required: false,
    },
];

/// CAP_SYS_ADMIN stands in for CAP_BPF and CAP_PERFMON (older kernels, root).
const CAP_SYS_ADMIN: u32 = 21;

/// The effective capability set of this process, from /proc/self/status.
pub fn effective() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(0)
}

/// The capabilities missing from `eff`.
pub fn missing(eff: u64) -> Vec<&'static Need> {
    let has = |bit: u32| eff & (1u64 << bit) != 0;
    NEEDS
        .iter()
        .filter(|n| !(has(n.bit) || (n.required && has(CAP_SYS_ADMIN))))
        .collect()
}

/// One line per missing capability.
pub fn report(missing: &[&Need]) -> Vec<String> {
    missing
        .iter()
        .map(|n| format!("kestrel agent: missing {}: needed {}", n.name, n.why))
        .collect()
}

/// Drops every capability (ambient, inheritable, effective, permitted): maps and links
/// already held keep working; loading anything new (a reload) then fails and says so.
pub fn drop_all() -> Result<(), String> {
    use caps::CapSet;
    for set in [
        CapSet::Ambient,
        CapSet::Inheritable,
        CapSet::Effective,
        CapSet::Permitted,
    ] {
        caps::clear(None, set).map_err(|e| format!("cannot clear the {set:?} set: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sys_admin_covers_bpf_and_perfmon_but_not_net_admin() {
        let names = |eff: u64| -> Vec<&str> { missing(eff).iter().map(|n| n.name).collect() };
        assert_eq!(names(1 << 21), vec!["CAP_NET_ADMIN"]);
        assert_eq!(names((1 << 39) | (1 << 12)), vec!["CAP_PERFMON"]);
        assert_eq!(names(0).len(), 3);
        assert_eq!(
            report(&missing(1 << 39 | 1 << 12)),
            vec!["kestrel agent: missing CAP_PERFMON: needed to attach tracepoints and perf events and read kernel memory"]
        );
    }
}
