//! What the firewall, the load balancer and the policy share about their pins under
//! `/sys/fs/bpf/kestrel/<tool>/<iface>/`: tearing a directory down and listing who is up.

use std::path::Path;

/// Removes the emptied pin directory `dir`, then its tool root and kestrel's root if they
/// are empty too. Err (naming `dir`) if `dir` is still there: something unexpected is in it.
pub(crate) fn remove_dir_and_roots(dir: &Path, root: &Path) -> Result<(), String> {
    let _ = std::fs::remove_dir(dir);
    let _ = std::fs::remove_dir(root);
    let _ = std::fs::remove_dir(root.parent().unwrap_or(root));
    if dir.exists() {
        return Err(format!(
            "{} still exists (unexpected files in it?)",
            dir.display()
        ));
    }
    Ok(())
}

/// The interfaces under `root` that have a pinned `link`, sorted.
pub(crate) fn interfaces(root: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(root)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.path().join("link").exists())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}
