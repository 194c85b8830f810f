//! Feature probes for program types the runtime may be asked to use.

use kestrel_kernel::btf::{Btf, BtfKind};

/// Kernel functions that exist on every kernel recent enough to have fentry; the first one
/// found in vmlinux BTF is the probe's target.
const TARGETS: [&str; 3] = ["do_nanosleep", "vfs_read", "schedule"];

/// Whether fentry/fexit programs can be loaded *and attached* here, found by doing exactly
/// that with an empty program (and detaching at once). Needs root. False when vmlinux BTF
/// is missing, when the kernel lacks BPF trampolines, or when a security policy forbids
/// them (as on the project's test machines, where loading fails with EPERM).
pub fn fentry_available() -> bool {
    let Ok(btf) = Btf::vmlinux() else {
        return false;
    };
    let Some(id) = TARGETS
        .iter()
        .find_map(|name| btf.find_by_name(BtfKind::Func, name))
    else {
        return false;
    };
    kestrel_sys::features::fentry(id.0).is_ok()
}
