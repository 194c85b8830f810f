//! Cheap feature probes that need no BPF program load.
//!
//! Probes that do need a load (fentry/fexit, lsm, program types) live in the runtime crate.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use crate::btf::VMLINUX_BTF_PATH;
use crate::{mount, mountinfo};

/// The perf PMU through which kprobes are created with `perf_event_open`.
const KPROBE_PMU: &str = "/sys/bus/event_source/devices/kprobe";

/// Whether this kernel can create kprobes for tracing: tracefs has `kprobe_events` or
/// the `kprobe` perf PMU exists. May mount tracefs.
pub fn kprobes_available() -> bool {
    Path::new(KPROBE_PMU).exists()
        || mount::tracefs_root().is_ok_and(|root| root.join("kprobe_events").exists())
}

/// Why kprobes cannot be used, as one line, or `None` when they can.
///
/// Distinguishes a kernel without kprobes at all from one with kprobes but no kprobe
/// events by looking for `register_kprobe` in `/proc/kallsyms` (only on this error path).
pub fn kprobe_unavailable_reason() -> Option<String> {
    if kprobes_available() {
        return None;
    }
    if let Err(e) = mount::tracefs_root() {
        if !Path::new(KPROBE_PMU).exists() {
            return Some(format!(
                "cannot check for kprobes: no kprobe PMU and tracefs is unavailable ({e})"
            ));
        }
    }
    Some(match kallsyms_has("register_kprobe") {
        Some(false) => "this kernel has no kprobes (CONFIG_KPROBES is off)".to_string(),
        Some(true) => {
            "this kernel has kprobes but no kprobe events (CONFIG_KPROBE_EVENTS is off)".to_string()
        }
        None => "this kernel has no kprobe support (no kprobe_events in tracefs, no kprobe PMU)"
            .to_string(),
    })
}

/// Whether `/proc/kallsyms` names `symbol`; `None` if it cannot be read.
fn kallsyms_has(symbol: &str) -> Option<bool> {
    let file = std::fs::File::open("/proc/kallsyms").ok()?;
    let mut found = false;
    for line in BufReader::new(file).lines() {
        let line = line.ok()?;
        // `ffffffff81234560 T register_kprobe` (module symbols add `\t[mod]`).
        if line.split_whitespace().nth(2) == Some(symbol) {
            found = true;
            break;
        }
    }
    Some(found)
}

/// Whether the kernel exposes its BTF at `/sys/kernel/btf/vmlinux`.
pub fn btf_available() -> bool {
    Path::new(VMLINUX_BTF_PATH).is_file()
}

/// Where a cgroup v2 hierarchy is mounted, if anywhere: `/sys/fs/cgroup` on unified
/// systems, `/sys/fs/cgroup/unified` on hybrid ones.
pub fn cgroup2_path() -> Option<PathBuf> {
    pick_cgroup2(&mountinfo::mounts())
}

fn pick_cgroup2(mounts: &[mountinfo::MountEntry]) -> Option<PathBuf> {
    let cgroup2: Vec<&mountinfo::MountEntry> =
        mounts.iter().filter(|m| m.fs_type == "cgroup2").collect();
    // Prefer the canonical places when several exist (bind mounts into containers).
    ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        .iter()
        .find_map(|p| cgroup2.iter().find(|m| m.mount_point == Path::new(p)))
        .or(cgroup2.first())
        .map(|m| m.mount_point.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mountinfo::parse;

    #[test]
    fn cgroup2_prefers_canonical_mounts() {
        let hybrid = parse(
            "1 0 0:1 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n\
             2 1 0:2 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
        );
        assert_eq!(
            pick_cgroup2(&hybrid),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        let unified = parse(
            "1 0 0:1 / /mnt/x rw - cgroup2 cgroup2 rw\n\
             2 0 0:1 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
        );
        assert_eq!(
            pick_cgroup2(&unified),
            Some(PathBuf::from("/sys/fs/cgroup"))
        );
        let odd = parse("1 0 0:1 / /mnt/x rw - cgroup2 cgroup2 rw\n");
        assert_eq!(pick_cgroup2(&odd), Some(PathBuf::from("/mnt/x")));
        assert_eq!(
            pick_cgroup2(&parse("1 0 0:1 / /sys rw - sysfs sysfs rw\n")),
            None
        );
    }

    #[test]
    fn live_probes_agree_with_each_other() {
        // Whatever the machine, a reason is given exactly when kprobes are unavailable.
        assert_eq!(kprobes_available(), kprobe_unavailable_reason().is_none());
        if let Some(reason) = kprobe_unavailable_reason() {
            assert!(!reason.contains('\n'));
            println!("kprobes unavailable: {reason}");
        }
        println!("btf: {}, cgroup2: {:?}", btf_available(), cgroup2_path());
    }
}
