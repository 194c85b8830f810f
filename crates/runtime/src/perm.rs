//! Up-front privilege check, so "not root" is one clear line instead of an EPERM from
//! whichever bpf(2) call happens to come first.

use crate::RuntimeError;

const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// Fails with [`RuntimeError::Permission`] unless the process may load and attach tracing
/// programs: CAP_SYS_ADMIN, or CAP_BPF together with CAP_PERFMON.
pub fn check_privileges() -> Result<(), RuntimeError> {
    let status =
        std::fs::read_to_string("/proc/self/status").map_err(|source| RuntimeError::Sys {
            call: "reading /proc/self/status",
            source,
        })?;
    let Some(caps) = effective_caps(&status) else {
        // An unreadable status line is no reason to refuse; the kernel will decide.
        return Ok(());
    };
    if has_bpf_caps(caps) {
        return Ok(());
    }
    let reason = if nix::unistd::geteuid().is_root() {
        "permission denied: kestrel needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN), which this \
         root process lacks"
    } else {
        "permission denied: kestrel must run as root (or with CAP_BPF and CAP_PERFMON); try sudo"
    };
    Err(RuntimeError::Permission {
        reason: reason.to_string(),
    })
}

/// The `CapEff:` mask from `/proc/self/status` text.
fn effective_caps(status: &str) -> Option<u64> {
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))?
        .trim();
    u64::from_str_radix(hex, 16).ok()
}

fn has_bpf_caps(caps: u64) -> bool {
    let has = |cap: u32| caps & (1u64 << cap) != 0;
    has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_capeff() {
        let status = "Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001fffeffffff\n";
        let caps = effective_caps(status).unwrap();
        assert!(has_bpf_caps(caps));
        assert!(!has_bpf_caps(0));
        assert!(has_bpf_caps(1 << CAP_SYS_ADMIN));
        assert!(!has_bpf_caps(1 << CAP_BPF));
        assert!(has_bpf_caps((1 << CAP_BPF) | (1 << CAP_PERFMON)));
        assert_eq!(effective_caps("Name: x\n"), None);
    }
}
