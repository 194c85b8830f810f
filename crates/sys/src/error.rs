//! Errors of the kernel-object layer: each names the command, the object and the errno, and
//! says what the errno usually means here.

use std::io;

use crate::cmd::Cmd;

/// Something the kernel refused, or an object that is not what was expected.
#[derive(Debug, thiserror::Error)]
pub enum SysError {
    /// A syscall failed. `what` names the object (e.g. `map 'fw_block4'`, a pin path).
    #[error("{what}: {call} failed: {source}{}", hint(*errno_hint))]
    Sys {
        /// The call, e.g. `BPF_MAP_CREATE` or `perf_event_open`.
        call: &'static str,
        /// The object it was about.
        what: String,
        /// errno.
        #[source]
        source: io::Error,
        /// What that errno usually means for this call, if known.
        errno_hint: Option<&'static str>,
    },
    /// The verifier rejected a program; the whole log is kept.
    #[error("the verifier rejected program '{program}': {}", summary(log))]
    Verifier {
        /// Program name.
        program: String,
        /// The verifier's complete log.
        log: String,
        /// errno of the failed load.
        errno: i32,
    },
    /// A buffer or pinned object did not have the size or type expected.
    #[error("{0}")]
    Mismatch(String),
}

fn hint(h: Option<&'static str>) -> String {
    h.map(|h| format!(" ({h})")).unwrap_or_default()
}

impl SysError {
    /// A failed bpf(2) command about `what`.
    pub(crate) fn bpf(cmd: Cmd, what: impl Into<String>, source: io::Error) -> SysError {
        let errno_hint = errno_hint(cmd.name(), source.raw_os_error());
        SysError::Sys {
            call: cmd.name(),
            what: what.into(),
            source,
            errno_hint,
        }
    }

    /// A failed non-bpf call (perf_event_open, ioctl, open, mount) about `what`.
    pub fn call(call: &'static str, what: impl Into<String>, source: io::Error) -> SysError {
        let errno_hint = errno_hint(call, source.raw_os_error());
        SysError::Sys {
            call,
            what: what.into(),
            source,
            errno_hint,
        }
    }

    /// The errno, when the kernel gave one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            SysError::Sys { source, .. } => source.raw_os_error(),
            SysError::Verifier { errno, .. } => Some(*errno),
            SysError::Mismatch(_) => None,
        }
    }

    /// True when the kernel said EPERM/EACCES to a call other than a verifier rejection:
    /// missing privileges (not root, no CAP_BPF/CAP_PERFMON/CAP_NET_ADMIN) or lockdown.
    pub fn is_permission(&self) -> bool {
        matches!(self, SysError::Sys { .. })
            && matches!(self.errno(), Some(libc::EPERM | libc::EACCES))
    }
}

/// A closure for `map_err` on a bpf(2) result.
pub(crate) fn bpf_err(cmd: Cmd, what: impl Into<String>) -> impl FnOnce(io::Error) -> SysError {
    let what = what.into();
    move |source| SysError::bpf(cmd, what, source)
}

/// What an errno usually means for `call` on this kind of machine.
fn errno_hint(call: &str, errno: Option<i32>) -> Option<&'static str> {
    Some(match (call, errno?) {
        (_, libc::EPERM) => "not permitted: run as root or with CAP_BPF + CAP_PERFMON (CAP_NET_ADMIN for network hooks); lockdown also refuses some program types",
        ("BPF_MAP_CREATE", libc::ENOMEM) => "out of memory for the map, or the locked-memory limit (RLIMIT_MEMLOCK) is too low",
        ("BPF_PROG_LOAD", libc::ENOMEM) => "out of memory, or the JIT's memory limit (net.core.bpf_jit_limit) is reached",
        ("BPF_PROG_LOAD", libc::E2BIG) => "the program has too many instructions",
        ("BPF_PROG_LOAD", libc::EINVAL) => "the kernel does not accept this program type, attach type or flag",
        ("BPF_LINK_CREATE", libc::EBUSY) | ("BPF_PROG_ATTACH", libc::EBUSY) => "another program is already attached there",
        ("BPF_LINK_CREATE", libc::EEXIST) => "another program is already attached there",
        ("BPF_LINK_CREATE", libc::EOPNOTSUPP) => "this device or driver does not support the hook in this mode",
        ("BPF_OBJ_GET", libc::ENOENT) | ("BPF_OBJ_PIN", libc::ENOENT) => "no such pin (is bpffs mounted at /sys/fs/bpf?)",
        ("BPF_OBJ_PIN", libc::EEXIST) => "something is already pinned there",
        ("perf_event_open", libc::ENOENT) => "no such event on this kernel",
        ("perf_event_open", libc::EOPNOTSUPP) => "this machine has no such counters",
        ("perf_event_open", libc::EMFILE) => "too many open files (raise the file-descriptor limit)",
        (_, libc::EMFILE) => "too many open files (raise the file-descriptor limit)",
        _ => return None,
    })
}

/// The one-line summary of a verifier log: its last lines before the statistics the kernel
/// prints after every verification, successful or not.
pub fn summary(log: &str) -> String {
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| !l.trim().is_empty() && !is_stats_line(l))
        .collect();
    let start = lines.len().saturating_sub(2);
    let mut out = lines[start..].join(" | ");
    if let Some(stats) = log.lines().find(|l| l.starts_with("processed ")) {
        if !out.is_empty() {
            out.push_str(" | ");
        }
        out.push_str(stats);
    }
    out
}

/// The statistics lines that end every verifier log.
fn is_stats_line(line: &str) -> bool {
    line.starts_with("processed ")
        || line.starts_with("verification time")
        || line.starts_with("stack depth")
}

/// Whether a failed load with errno `errno` and verifier log `log` is the verifier's
/// rejection. The verifier refuses with EACCES (unsafe code), EINVAL (malformed code) or
/// E2BIG (too complex), and writes why into the log; any other errno — ENOMEM, EPERM, EAGAIN,
/// a JIT failure after a log that ends in success — is not a rejection and must be reported
/// as itself.
pub fn is_rejection(errno: i32, log: &str) -> bool {
    matches!(errno, libc::EACCES | libc::EINVAL | libc::E2BIG)
        && log
            .lines()
            .any(|l| !l.trim().is_empty() && !is_stats_line(l))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_verifier_errnos_with_a_log_are_rejections() {
        let stats = "processed 383 insns (limit 1000000) max_states_per_insn 0 total_states 20 peak_states 20 mark_read 5\n";
        assert!(!is_rejection(libc::ENOMEM, stats));
        assert!(!is_rejection(libc::EACCES, stats));
        let bad = "0: (79) r0 = *(u64 *)(r1 +0)\nR1 invalid mem access 'scalar'\nprocessed 2 insns (limit 1000000)\n";
        assert!(is_rejection(libc::EACCES, bad));
        assert_eq!(
            summary(bad),
            "0: (79) r0 = *(u64 *)(r1 +0) | R1 invalid mem access 'scalar' | processed 2 insns (limit 1000000)"
        );
    }

    #[test]
    fn errors_name_the_command_and_object() {
        let e = SysError::bpf(
            Cmd::MapCreate,
            "map 'x'",
            io::Error::from_raw_os_error(libc::EPERM),
        );
        let text = e.to_string();
        assert!(
            text.contains("BPF_MAP_CREATE") && text.contains("map 'x'") && text.contains("CAP_BPF"),
            "{text}"
        );
        assert!(e.is_permission());
    }
}
