//! Finding workloads' cgroups: the cgroup v2 mount, glob patterns, container ids, and cgroup
//! ids (a cgroup v2 directory's inode number is its id, what `bpf_get_current_cgroup_id`
//! returns).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::spec::Policy;

/// Where the cgroup v2 hierarchy is mounted (`/sys/fs/cgroup/unified` on hybrid systems,
/// `/sys/fs/cgroup` on unified ones), read from /proc/self/mounts.
pub fn cgroup2_mount() -> Option<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    mounts.lines().find_map(|l| {
        let mut f = l.split_whitespace();
        let (_, dir, kind) = (f.next()?, f.next()?, f.next()?);
        (kind == "cgroup2").then(|| PathBuf::from(dir))
    })
}

/// Matches one path component against a pattern with `*` and `?`.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    // Iterative matcher with one backtrack point for the last `*`.
    let (mut pi, mut ni) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The directories matching an absolute pattern whose components may hold `*` and `?`.
pub fn expand(pattern: &str) -> Vec<PathBuf> {
    let mut current = vec![PathBuf::from("/")];
    for comp in pattern.split('/').filter(|c| !c.is_empty()) {
        let mut next = Vec::new();
        for dir in &current {
            if comp.contains(['*', '?']) {
                let Ok(rd) = std::fs::read_dir(dir) else {
                    continue;
                };
                let mut names: Vec<PathBuf> = rd
                    .filter_map(|e| e.ok())
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .filter(|e| e.file_name().to_str().is_some_and(|n| glob_match(comp, n)))
                    .map(|e| e.path())
                    .collect();
                names.sort();
                next.extend(names);
            } else {
                let p = dir.join(comp);
                if p.is_dir() {
                    next.push(p);
                }
            }
        }
        current = next;
    }
    current
}

/// The cgroup whose directory name contains container id `id` (docker, podman, containerd
/// name their cgroups `<id>`, `docker-<id>.scope`, `libpod-<id>.scope`, ...), searched
/// breadth-first under `mount`, at most 6 levels deep.
pub fn find_container(mount: &Path, id: &str) -> Option<PathBuf> {
    let mut level = vec![mount.to_path_buf()];
    for _ in 0..6 {
        let mut next = Vec::new();
        for dir in &level {
            let Ok(rd) = std::fs::read_dir(dir) else {
                continue;
            };
            for e in rd.filter_map(|e| e.ok()) {
                if !e.file_type().is_ok_and(|t| t.is_dir()) {
                    continue;
                }
                if e.file_name().to_str().is_some_and(|n| n.contains(id)) {
                    return Some(e.path());
                }
                next.push(e.path());
            }
        }
        level = next;
    }
    None
}

/// A cgroup's id: its directory's inode number.
pub fn cgroup_id(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.ino())
}

/// The cgroup directory with id `id` under `mount`, if any (for naming cgroups in records).
pub fn path_of_id(mount: &Path, id: u64) -> Option<PathBuf> {
    if cgroup_id(mount) == Some(id) {
        return Some(mount.to_path_buf());
    }
    let mut stack = vec![mount.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.filter_map(|e| e.ok()) {
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            if e.metadata().is_ok_and(|m| m.ino() == id) {
                return Some(e.path());
            }
            stack.push(e.path());
        }
    }
    None
}

/// Why a workload's cgroups could not be found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// A pattern matched nothing.
    #[error(
        "workload '{workload}': no cgroup matches {pattern} (create it first: mkdir -p {pattern})"
    )]
    NoMatch {
        /// Workload name.
        workload: String,
        /// The pattern.
        pattern: String,
    },
    /// No cgroup holds the container id.
    #[error("workload '{workload}': no cgroup under {mount} belongs to container {id}")]
    NoContainer {
        /// Workload name.
        workload: String,
        /// Container id.
        id: String,
        /// Where we looked.
        mount: String,
    },
    /// A path outside the cgroup v2 hierarchy.
    #[error("workload '{workload}': {path} is not under the cgroup v2 mount {mount}")]
    NotCgroup2 {
        /// Workload name.
        workload: String,
        /// The path.
        path: String,
        /// The mount.
        mount: String,
    },
    /// Two workloads select the same cgroup.
    #[error("cgroup {path} is selected by both workload '{first}' and workload '{second}'")]
    Shared {
        /// The cgroup.
        path: String,
        /// First workload.
        first: String,
        /// Second workload.
        second: String,
    },
    /// No cgroup v2 mount.
    #[error("no cgroup v2 hierarchy is mounted (mount -t cgroup2 none /sys/fs/cgroup/unified)")]
    NoCgroup2,
}

/// The cgroups each workload's programs attach to: (workload index, directory). A cgroup
/// below another of the same workload is dropped (programs on a cgroup cover its
/// descendants). Workloads without `cgroup` or `container` get none (`kestrel policy run`).
pub fn resolve(policy: &Policy) -> Result<Vec<(usize, PathBuf)>, ResolveError> {
    let needs = policy
        .workloads
        .iter()
        .any(|w| !w.cgroups.is_empty() || w.container.is_some());
    if !needs {
        return Ok(Vec::new());
    }
    let mount = cgroup2_mount().ok_or(ResolveError::NoCgroup2)?;
    let mut out: Vec<(usize, PathBuf)> = Vec::new();
    for (wi, w) in policy.workloads.iter().enumerate() {
        let mut mine: Vec<PathBuf> = Vec::new();
        for pat in &w.cgroups {
            let found = expand(pat);
            if found.is_empty() {
                return Err(ResolveError::NoMatch {
                    workload: w.name.clone(),
                    pattern: pat.clone(),
                });
            }
            for p in found {
                if !p.starts_with(&mount) {
                    return Err(ResolveError::NotCgroup2 {
                        workload: w.name.clone(),
                        path: p.display().to_string(),
                        mount: mount.display().to_string(),
                    });
                }
                mine.push(p);
            }
        }
        if let Some(id) = &w.container {
            let p = find_container(&mount, id).ok_or_else(|| ResolveError::NoContainer {
                workload: w.name.clone(),
                id: id.clone(),
                mount: mount.display().to_string(),
            })?;
            mine.push(p);
        }
        mine.sort();
        mine.dedup();
        let all = mine.clone();
        mine.retain(|p| !all.iter().any(|q| q != p && p.starts_with(q)));
        for p in mine {
            if let Some((other, _)) = out.iter().find(|(_, q)| *q == p) {
                return Err(ResolveError::Shared {
                    path: p.display().to_string(),
                    first: policy.workloads[*other].name.clone(),
                    second: w.name.clone(),
                });
            }
            out.push((wi, p));
        }
    }
    Ok(out)
}

/// The cgroup v2 directory of this process (from `/proc/self/cgroup`'s `0::` line).
pub fn own_cgroup(mount: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let rel = text.lines().find_map(|l| l.strip_prefix("0::"))?;
    Some(mount.join(rel.trim_start_matches('/')))
}

/// Moves this process (all its threads) into `cgroup`.
pub fn move_self(cgroup: &Path) -> std::io::Result<()> {
    std::fs::write(cgroup.join("cgroup.procs"), std::process::id().to_string())
}

/// Starts `cmd` inside `cgroup`, race-free: this process moves into the cgroup, forks the
/// child (which is born there, before it can open a socket) and moves back.
pub fn spawn_in(
    cgroup: &Path,
    cmd: &mut std::process::Command,
) -> std::io::Result<std::process::Child> {
    let mount = cgroup2_mount().ok_or_else(|| std::io::Error::other("no cgroup v2 mount"))?;
    let home =
        own_cgroup(&mount).ok_or_else(|| std::io::Error::other("cannot read /proc/self/cgroup"))?;
    move_self(cgroup)?;
    let child = cmd.spawn();
    let back = move_self(&home);
    let child = child?;
    back?;
    Ok(child)
}

/// Removes a cgroup directory once its processes are gone (retrying briefly: a reaped
/// process leaves the cgroup a moment after `wait` returns).
pub fn remove_cgroup(cgroup: &Path) -> std::io::Result<()> {
    let mut last = Ok(());
    for _ in 0..50 {
        last = std::fs::remove_dir(cgroup);
        if last.is_ok() {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("web-*", "web-client"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "abbc"));
        assert!(glob_match("*-*.scope", "docker-12ab.scope"));
        assert!(!glob_match("web-*", "db"));
    }

    #[test]
    fn expand_walks_directories() {
        let base = std::env::temp_dir().join(format!("kpol-glob-{}", std::process::id()));
        for d in ["app-1", "app-2", "db"] {
            let _ = std::fs::create_dir_all(base.join(d).join("x"));
        }
        let pat = format!("{}/app-*/x", base.display());
        let got = expand(&pat);
        assert_eq!(got, vec![base.join("app-1/x"), base.join("app-2/x")]);
        assert!(expand(&format!("{}/nope-*", base.display())).is_empty());
        let _ = std::fs::remove_dir_all(&base);
    }
}
