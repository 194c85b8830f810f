//! Why the kernel said "permission denied": one line naming the call and the likely cause.

/// The one line that explains an EPERM returned by `call`: lockdown, or missing privileges.
pub(crate) fn reason(call: &str) -> String {
    let lockdown = std::fs::read_to_string("/sys/kernel/security/lockdown").unwrap_or_default();
    let reason = match lockdown_mode(&lockdown) {
        Some(mode @ ("integrity" | "confidentiality")) => format!(
            "permission denied by the kernel ({call}): kernel lockdown is in {mode} mode, which \
             restricts BPF tracing; boot with lockdown=none (or without Secure Boot enforcement) \
             to use kestrel"
        ),
        _ => format!(
            "permission denied by the kernel ({call}): kestrel must run as root with CAP_BPF and \
             CAP_PERFMON; a security module (SELinux, AppArmor) or \
             /proc/sys/kernel/unprivileged_bpf_disabled may also forbid BPF"
        ),
    };
    reason
}

/// The active mode in `/sys/kernel/security/lockdown` text (`none [integrity] confidentiality`).
fn lockdown_mode(text: &str) -> Option<&str> {
    let start = text.find('[')? + 1;
    let end = start + text[start..].find(']')?;
    Some(&text[start..end])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_lockdown_mode() {
        assert_eq!(
            lockdown_mode("[none] integrity confidentiality\n"),
            Some("none")
        );
        assert_eq!(
            lockdown_mode("none integrity [confidentiality]"),
            Some("confidentiality")
        );
        assert_eq!(lockdown_mode(""), None);
    }
}
