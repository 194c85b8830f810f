//! Reading `/proc/self/mountinfo`: which filesystem type is mounted where.

use std::path::PathBuf;

/// One line of mountinfo, reduced to what we ask about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MountEntry {
    /// Where it is mounted (octal escapes such as `\040` decoded).
    pub mount_point: PathBuf,
    /// Filesystem type, e.g. `cgroup2`, `bpf`, `tracefs`.
    pub fs_type: String,
}

/// The current process's mounts, in mount order; empty if mountinfo is unreadable
/// (callers then fall back to probing paths).
pub(crate) fn mounts() -> Vec<MountEntry> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|text| parse(&text))
        .unwrap_or_default()
}

/// Parses mountinfo text; lines that do not have the documented shape are skipped.
///
/// Shape: `36 35 98:0 /root /mnt/point rw,noatime master:1 - ext3 /dev/root rw`; the
/// optional fields before ` - ` vary in number, so the type is found after the separator.
pub(crate) fn parse(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split(' ');
            let mount_point = words.nth(4)?;
            let mut after_sep = words.skip_while(|w| *w != "-");
            after_sep.next()?;
            let fs_type = after_sep.next()?;
            Some(MountEntry {
                mount_point: PathBuf::from(unescape(mount_point)),
                fs_type: fs_type.to_string(),
            })
        })
        .collect()
}

/// The kernel escapes space, tab, newline and backslash as `\ooo` in mountinfo paths.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.len() - i >= 4 {
            let digits = &b[i + 1..i + 4];
            if digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                let v = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                if let Ok(byte) = u8::try_from(v) {
                    out.push(byte);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lines_with_and_without_optional_fields() {
        let text = "\
25 30 0:22 / /sys rw,nosuid shared:7 - sysfs sysfs rw
41 33 0:36 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
50 25 0:40 / /my\\040dir rw master:1 shared:2 - bpf bpf rw,mode=700
garbage
";
        let m = parse(text);
        assert_eq!(m.len(), 3);
        assert_eq!(m[1].mount_point, PathBuf::from("/sys/fs/cgroup/unified"));
        assert_eq!(m[1].fs_type, "cgroup2");
        assert_eq!(m[2].mount_point, PathBuf::from("/my dir"));
        assert_eq!(m[2].fs_type, "bpf");
    }

    #[test]
    fn unescape_leaves_odd_backslashes() {
        assert_eq!(unescape("a\\040b"), "a b");
        assert_eq!(unescape("a\\9"), "a\\9");
        assert_eq!(unescape("a\\"), "a\\");
        assert_eq!(unescape("\\777"), "\\777");
    }
}
