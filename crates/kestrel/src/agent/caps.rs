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
    /// Needed only by a process whose user is not root (file permissions, not privilege).
    pub non_root_only: bool,
}

/// The capabilities checked, in the order reported.
pub const NEEDS: &[Need] = &[
    Need {
        name: "CAP_BPF",
        bit: 39,
        why: "to create BPF maps and load programs",
        required: true,
        non_root_only: false,
    },
    Need {
        name: "CAP_PERFMON",
        bit: 38,
        why: "to attach tracepoints and perf events and read kernel memory",
        required: true,
        non_root_only: false,
    },
    Need {
        name: "CAP_DAC_READ_SEARCH",
        bit: 2,
        why: "to read tracepoint formats and ids under /sys/kernel/tracing (a root-only directory) as a non-root user",
        required: true,
        non_root_only: true,
    },
    Need {
        name: "CAP_NET_ADMIN",
        bit: 12,
        why: "for XDP, tc and cgroup network hooks (firewall and policy entries; tracing scripts run without it)",
        required: false,
        non_root_only: false,
    },
    Need {
        name: "CAP_SYS_ADMIN",
        bit: 21,
        why: "only for per-program run time and count (BPF_ENABLE_STATS); everything else runs without it",
        required: false,
        non_root_only: false,
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

/// Whether this process runs as user root (owner of tracefs).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The capabilities missing from `eff` (for a root user or not).
pub fn missing(eff: u64, root: bool) -> Vec<&'static Need> {
    let has = |bit: u32| eff & (1u64 << bit) != 0;
    NEEDS
        .iter()
        .filter(|n| !(n.non_root_only && root))
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
        let names = |eff: u64, root: bool| -> Vec<&str> {
            missing(eff, root).iter().map(|n| n.name).collect()
        };
        assert_eq!(names(1 << 21, true), vec!["CAP_NET_ADMIN"]);
        assert_eq!(
            names((1 << 39) | (1 << 12), true),
            vec!["CAP_PERFMON", "CAP_SYS_ADMIN"]
        );
        assert_eq!(
            names((1 << 39) | (1 << 38), false),
            vec!["CAP_DAC_READ_SEARCH", "CAP_NET_ADMIN", "CAP_SYS_ADMIN"]
        );
        assert_eq!(names(0, true).len(), 4);
        assert_eq!(
            report(&missing(1 << 39 | 1 << 12, true)[..1]),
            vec!["kestrel agent: missing CAP_PERFMON: needed to attach tracepoints and perf events and read kernel memory"]
        );
    }
}
