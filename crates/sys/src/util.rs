//! Small facts and set-up steps the object layer needs: CPU counts, interface indexes,
//! bpffs, names as the kernel stores them.

use std::ffi::CString;
use std::path::Path;

use crate::error::SysError;

/// A name as the kernel stores it: at most 15 bytes of `[A-Za-z0-9_.]`, NUL-padded.
pub(crate) fn name16(name: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (o, b) in out
        .iter_mut()
        .zip(
            name.bytes()
                .filter(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'.'),
        )
        .take(15)
    {
        *o = b;
    }
    out
}

/// A NUL-padded kernel name as text.
pub(crate) fn name_from16(raw: &[u8; 16]) -> String {
    let end = raw.iter().position(|b| *b == 0).unwrap_or(raw.len());
    String::from_utf8_lossy(&raw[..end]).into_owned()
}

/// Parses a CPU list such as `0-3,5` (the format of /sys/devices/system/cpu/online).
pub fn parse_cpu_list(text: &str) -> Option<Vec<u32>> {
    let mut cpus = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                if b < a || b - a > 1 << 16 {
                    return None;
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(part.parse().ok()?),
        }
    }
    Some(cpus)
}

fn cpu_file(path: &'static str) -> Result<Vec<u32>, SysError> {
    let text = std::fs::read_to_string(path).map_err(|e| SysError::call("read", path, e))?;
    parse_cpu_list(&text)
        .ok_or_else(|| SysError::Mismatch(format!("cannot parse {path}: {text:?}")))
}

/// The CPUs online now.
pub fn online_cpus() -> Result<Vec<u32>, SysError> {
    cpu_file("/sys/devices/system/cpu/online")
}

/// How many value copies a per-CPU map lookup returns: the number of *possible* CPUs (read
/// once per process; the set is fixed at boot).
pub fn possible_cpus() -> Result<usize, SysError> {
    static CPUS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    if let Some(n) = CPUS.get() {
        return Ok(*n);
    }
    let cpus = cpu_file("/sys/devices/system/cpu/possible")?;
    let n = cpus.iter().max().map_or(1, |m| *m as usize + 1);
    Ok(*CPUS.get_or_init(|| n))
}

/// The interface index of `name`, if it exists.
pub fn ifindex(name: &str) -> Option<u32> {
    let c = CString::new(name).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (idx != 0).then_some(idx)
}

/// Makes sure a bpffs is mounted at /sys/fs/bpf (mounting one if not) and creates `dir`
/// below it. Returns true if this call mounted the filesystem.
pub fn ensure_bpffs_dir(dir: &Path) -> Result<bool, SysError> {
    let mounted = kestrel_kernel::ensure_bpffs()
        .map_err(|e| SysError::Mismatch(format!("cannot mount bpffs at /sys/fs/bpf: {e}")))?
        .newly_mounted;
    std::fs::create_dir_all(dir)
        .map_err(|e| SysError::call("mkdir", format!("cannot create {}", dir.display()), e))?;
    Ok(mounted)
}

/// `CLOCK_MONOTONIC` now, in nanoseconds: the clock of `bpf_ktime_get_ns`, so that user
/// space can turn a program's timestamps into wall-clock time.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return 0;
    }
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-3,5\n"), Some(vec![0, 1, 2, 3, 5]));
        assert_eq!(parse_cpu_list("0"), Some(vec![0]));
        assert_eq!(parse_cpu_list("x"), None);
        assert_eq!(parse_cpu_list("3-1"), None);
    }

    #[test]
    fn names_are_cut_to_what_the_kernel_keeps() {
        assert_eq!(&name16("kestrel-tc/x")[..10], b"kestreltcx");
        assert_eq!(
            name_from16(&name16("a_very_long_program_name")),
            "a_very_long_pro"
        );
    }
}
