//! Feature probes for program types the runtime may be asked to use.

use aya_obj::btf::BtfKind;

use crate::sys;

/// Kernel functions that exist on every kernel recent enough to have fentry; the first one
/// found in vmlinux BTF is the probe's target.
const TARGETS: [&str; 3] = ["do_nanosleep", "vfs_read", "schedule"];

/// Whether fentry/fexit programs can be loaded *and attached* here, found by doing exactly
/// that with an empty program (and detaching at once). Needs root. False when vmlinux BTF
/// is missing, when the kernel lacks BPF trampolines, or when a security policy forbids
/// them (as on the project's test machines, where loading fails with EPERM).
pub fn fentry_available() -> bool {
    let Ok(btf) = aya::Btf::from_sys_fs() else {
        return false;
    };
    let Some(id) = TARGETS
        .iter()
        .find_map(|name| btf.id_by_type_name_kind(name, BtfKind::Func).ok())
    else {
        return false;
    };
    sys::probe_fentry(id).is_ok()
}
