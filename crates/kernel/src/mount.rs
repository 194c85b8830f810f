//! Finding tracefs and bpffs, mounting them when the system has not.
//!
//! Many minimal systems (containers, this project's VMs) boot without tracefs or bpffs
//! mounted. kestrel mounts them on first use and reports that it did, so `-v` can say so.
//! Results are cached per process: repeated calls cost a mutex lock.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use nix::mount::{mount, MsFlags};

use crate::mountinfo;
use crate::KernelError;

/// Where tracefs mounts on kernels since 4.1.
pub const TRACEFS_PATH: &str = "/sys/kernel/tracing";
/// The older location, inside debugfs.
pub const DEBUGFS_TRACING_PATH: &str = "/sys/kernel/debug/tracing";
/// Where bpffs conventionally mounts; kestrel pins under `kestrel/` there.
pub const BPFFS_PATH: &str = "/sys/fs/bpf";

/// A filesystem that is now available.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mounted {
    /// Its root directory.
    pub path: PathBuf,
    /// True if this process mounted it (the first call that did so and every later call
    /// in the same process), false if it was already there.
    pub newly_mounted: bool,
}

static TRACEFS: Mutex<Option<Mounted>> = Mutex::new(None);
static BPFFS: Mutex<Option<Mounted>> = Mutex::new(None);

/// Finds tracefs, mounting it at [`TRACEFS_PATH`] if neither it nor debugfs tracing is
/// mounted. Needs `CAP_SYS_ADMIN` only when it has to mount.
pub fn ensure_tracefs() -> Result<Mounted, KernelError> {
    cached(&TRACEFS, || {
        if let Some(path) = locate_tracefs(Path::new(TRACEFS_PATH), Path::new(DEBUGFS_TRACING_PATH))
        {
            return Ok(Mounted {
                path,
                newly_mounted: false,
            });
        }
        mount_fs("tracefs", TRACEFS_PATH)?;
        let path = PathBuf::from(TRACEFS_PATH);
        if !path.join("events").is_dir() {
            return Err(KernelError::Mount {
                fs: "tracefs".to_string(),
                path: TRACEFS_PATH.to_string(),
                source: std::io::Error::other("mounted, but it has no events/ directory"),
            });
        }
        Ok(Mounted {
            path,
            newly_mounted: true,
        })
    })
}

/// The tracefs root directory (the one holding `events/`), mounting tracefs if needed.
pub fn tracefs_root() -> Result<PathBuf, KernelError> {
    ensure_tracefs().map(|m| m.path)
}

/// Makes sure bpffs is mounted at [`BPFFS_PATH`], mounting it if not.
pub fn ensure_bpffs() -> Result<Mounted, KernelError> {
    cached(&BPFFS, || {
        let path = PathBuf::from(BPFFS_PATH);
        let already = mountinfo::mounts()
            .iter()
            .any(|m| m.fs_type == "bpf" && m.mount_point == path);
        if already {
            return Ok(Mounted {
                path,
                newly_mounted: false,
            });
        }
        mount_fs("bpf", BPFFS_PATH)?;
        Ok(Mounted {
            path,
            newly_mounted: true,
        })
    })
}

/// The tracefs root among the two usual places, if one is mounted: the directory must
/// hold `events/`, since an unmounted `/sys/kernel/tracing` is an empty directory.
pub(crate) fn locate_tracefs(tracing: &Path, debug_tracing: &Path) -> Option<PathBuf> {
    [tracing, debug_tracing]
        .into_iter()
        .find(|p| p.join("events").is_dir())
        .map(Path::to_path_buf)
}

fn cached(
    cell: &Mutex<Option<Mounted>>,
    find: impl FnOnce() -> Result<Mounted, KernelError>,
) -> Result<Mounted, KernelError> {
    // A poisoned lock only means another thread panicked mid-probe; the cache is still
    // either empty or a finished value.
    let mut guard = cell.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(m) = guard.as_ref() {
        return Ok(m.clone());
    }
    let m = find()?;
    *guard = Some(m.clone());
    Ok(m)
}

fn mount_fs(fs: &str, path: &str) -> Result<(), KernelError> {
    mount(Some(fs), path, Some(fs), MsFlags::empty(), None::<&str>).map_err(|errno| {
        KernelError::Mount {
            fs: fs.to_string(),
            path: path.to_string(),
            source: std::io::Error::from(errno),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_prefers_tracefs_then_debugfs() {
        let base =
            std::env::temp_dir().join(format!("kestrel-kernel-locate-{}", std::process::id()));
        let tracing = base.join("tracing");
        let debug = base.join("debug");
        let _ = std::fs::create_dir_all(&tracing);
        let _ = std::fs::create_dir_all(debug.join("events"));
        assert_eq!(locate_tracefs(&tracing, &debug), Some(debug.clone()));
        let _ = std::fs::create_dir_all(tracing.join("events"));
        assert_eq!(locate_tracefs(&tracing, &debug), Some(tracing.clone()));
        let _ = std::fs::remove_dir_all(debug.join("events"));
        let _ = std::fs::remove_dir_all(tracing.join("events"));
        assert_eq!(locate_tracefs(&tracing, &debug), None);
        let _ = std::fs::remove_dir_all(&base);
    }
}
