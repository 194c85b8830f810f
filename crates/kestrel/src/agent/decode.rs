//! Label decoders: a map key component → a label value, or "drop this label set".
//!
//! Lookups that read the system (kallsyms, the cgroup tree) are cached here; a miss rebuilds
//! the cache at most once every few seconds, so a scrape never walks the cgroup tree per key.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kestrel_runtime::output::values::KeyValue;

use super::config::Decoder;

/// What decoding one value gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// The label value.
    Value(String),
    /// A regexp filter did not match: drop the label set.
    Drop,
    /// The decoder could not make sense of the value (counted; the raw value is used).
    Error(String),
}

/// Caches shared by all decoders of the agent.
#[derive(Default)]
pub struct Decoders {
    kallsyms: Option<Vec<(u64, String)>>,
    cgroups: HashMap<u64, String>,
    cgroups_built: Option<Instant>,
}

/// How long a cgroup id that is not found waits before the tree is walked again.
const CGROUP_RESCAN: Duration = Duration::from_secs(5);

impl Decoders {
    /// Runs `chain` over a key component; the first `Drop` or the end of the chain decides.
    /// A decoder error keeps the value as it was and is reported in `errors`.
    pub fn decode(
        &mut self,
        chain: &[Decoder],
        key: &KeyValue,
        errors: &mut Vec<&'static str>,
    ) -> Option<String> {
        let mut current = key.clone();
        for d in chain {
            match self.one(d, &current) {
                Decoded::Value(v) => current = KeyValue::Text(v),
                Decoded::Drop => return None,
                Decoded::Error(_) => errors.push(d.name()),
            }
        }
        Some(text(&current))
    }

    fn one(&mut self, d: &Decoder, key: &KeyValue) -> Decoded {
        let int = match key {
            KeyValue::Int(i) => Some(*i),
            KeyValue::Text(t) => t.trim().parse::<i128>().ok(),
        };
        match d {
            Decoder::Static { map, default } => {
                let k = text(key);
                match (map.get(&k), default) {
                    (Some(v), _) => Decoded::Value(v.clone()),
                    (None, Some(def)) => Decoded::Value(def.clone()),
                    (None, None) => Decoded::Value(k),
                }
            }
            Decoder::Regexp(re) => {
                if re.is_match(&text(key)) {
                    Decoded::Value(text(key))
                } else {
                    Decoded::Drop
                }
            }
            // Values already rendered by the script (ksym(), ntop()) pass through.
            Decoder::Ksym | Decoder::Inet if int.is_none() => Decoded::Value(text(key)),
            _ => {
                let Some(n) = int else {
                    return Decoded::Error(format!(
                        "{} needs a number, got {:?}",
                        d.name(),
                        text(key)
                    ));
                };
                match d {
                    Decoder::Syscall => match u64::try_from(n)
                        .ok()
                        .and_then(kestrel_tools::syscalls::name)
                    {
                        Some(name) => Decoded::Value(name.to_string()),
                        None => Decoded::Error(format!("no syscall {n}")),
                    },
                    Decoder::Errno => errno_name(n).map_or_else(
                        || Decoded::Error(format!("no errno {n}")),
                        |s| Decoded::Value(s.to_string()),
                    ),
                    Decoder::Inet => match u32::try_from(n) {
                        // Stored in network order: the first byte in memory is the first octet.
                        Ok(v) => {
                            Decoded::Value(std::net::Ipv4Addr::from(v.to_le_bytes()).to_string())
                        }
                        Err(_) => Decoded::Error(format!("{n} is not an IPv4 address")),
                    },
                    Decoder::Ksym => match u64::try_from(n).ok().and_then(|a| self.ksym(a)) {
                        Some(s) => Decoded::Value(s),
                        None => Decoded::Error(format!("no kernel symbol at {n:#x}")),
                    },
                    Decoder::Cgroup => match u64::try_from(n).ok().and_then(|id| self.cgroup(id)) {
                        Some(p) => Decoded::Value(p),
                        None => Decoded::Error(format!("no cgroup with id {n}")),
                    },
                    Decoder::Static { .. } | Decoder::Regexp(_) => Decoded::Value(text(key)),
                }
            }
        }
    }

    fn ksym(&mut self, addr: u64) -> Option<String> {
        let table = self.kallsyms.get_or_insert_with(read_kallsyms);
        let i = table.partition_point(|(a, _)| *a <= addr).checked_sub(1)?;
        table.get(i).map(|(_, name)| name.clone())
    }

    fn cgroup(&mut self, id: u64) -> Option<String> {
        if let Some(p) = self.cgroups.get(&id) {
            return Some(p.clone());
        }
        if self
            .cgroups_built
            .is_some_and(|t| t.elapsed() < CGROUP_RESCAN)
        {
            return None;
        }
        self.cgroups_built = Some(Instant::now());
        self.cgroups.clear();
        let root = cgroup2_root()?;
        walk_cgroups(&root, &root, &mut self.cgroups, 0);
        self.cgroups.get(&id).cloned()
    }
}

fn text(k: &KeyValue) -> String {
    match k {
        KeyValue::Int(i) => i.to_string(),
        KeyValue::Text(t) => t.clone(),
    }
}

/// `ENOENT` for 2 or -2.
fn errno_name(n: i128) -> Option<&'static str> {
    let n = i32::try_from(n.unsigned_abs()).ok()?;
    let e = nix::errno::Errno::from_raw(n);
    if e == nix::errno::Errno::UnknownErrno {
        return None;
    }
    errno_ident(e)
}

/// The identifier of an errno (`ENOENT`), from nix's Debug form.
fn errno_ident(e: nix::errno::Errno) -> Option<&'static str> {
    use std::sync::{Mutex, OnceLock};
    static NAMES: OnceLock<Mutex<HashMap<i32, &'static str>>> = OnceLock::new();
    let names = NAMES.get_or_init(|| Mutex::new(HashMap::new()));
    let mut names = names.lock().ok()?;
    Some(*names.entry(e as i32).or_insert_with(|| {
        // A few hundred short strings at most, kept for the process' life.
        Box::leak(format!("{e:?}").into_boxed_str())
    }))
}

fn read_kallsyms() -> Vec<(u64, String)> {
    let text = std::fs::read_to_string("/proc/kallsyms").unwrap_or_default();
    let mut table: Vec<(u64, String)> = text
        .lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let addr = u64::from_str_radix(parts.next()?, 16).ok()?;
            let _kind = parts.next()?;
            let name = parts.next()?;
            (addr != 0).then(|| (addr, name.to_string()))
        })
        .collect();
    table.sort();
    table
}

/// The cgroup2 mount: /sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid systems.
fn cgroup2_root() -> Option<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    mounts.lines().find_map(|l| {
        let mut p = l.split_whitespace();
        let _dev = p.next()?;
        let dir = p.next()?;
        (p.next()? == "cgroup2").then(|| PathBuf::from(dir))
    })
}

fn walk_cgroups(root: &Path, dir: &Path, out: &mut HashMap<u64, String>, depth: usize) {
    use std::os::unix::fs::MetadataExt;
    // Deep enough for Kubernetes' kubepods/burstable/podX/container trees.
    if depth > 16 {
        return;
    }
    if let Ok(meta) = std::fs::metadata(dir) {
        let rel = dir.strip_prefix(root).unwrap_or(dir);
        out.insert(meta.ino(), format!("/{}", rel.display()));
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            walk_cgroups(root, &e.path(), out, depth + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn run(chain: &[Decoder], key: KeyValue) -> (Option<String>, Vec<&'static str>) {
        let mut d = Decoders::default();
        let mut errors = Vec::new();
        let v = d.decode(chain, &key, &mut errors);
        (v, errors)
    }

    #[test]
    fn numbers_become_names() {
        assert_eq!(
            run(&[Decoder::Syscall], KeyValue::Int(257)).0.as_deref(),
            Some("openat")
        );
        assert_eq!(
            run(&[Decoder::Errno], KeyValue::Int(-2)).0.as_deref(),
            Some("ENOENT")
        );
        let lo = u32::from_le_bytes([127, 0, 0, 1]);
        assert_eq!(
            run(&[Decoder::Inet], KeyValue::Int(i128::from(lo)))
                .0
                .as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(
            run(&[Decoder::Inet], KeyValue::Text("10.0.0.1".into()))
                .0
                .as_deref(),
            Some("10.0.0.1")
        );
    }

    #[test]
    fn static_maps_regexps_and_errors() {
        let map: BTreeMap<String, String> = [("1".to_string(), "one".to_string())].into();
        let st = Decoder::Static {
            map,
            default: Some("other".into()),
        };
        assert_eq!(
            run(std::slice::from_ref(&st), KeyValue::Int(1))
                .0
                .as_deref(),
            Some("one")
        );
        assert_eq!(run(&[st], KeyValue::Int(2)).0.as_deref(), Some("other"));
        let re = Decoder::Regexp(regex::Regex::new("^kst").expect("regex"));
        assert_eq!(
            run(std::slice::from_ref(&re), KeyValue::Text("kstx".into()))
                .0
                .as_deref(),
            Some("kstx")
        );
        assert_eq!(run(&[re], KeyValue::Text("bash".into())).0, None);
        let (v, errors) = run(&[Decoder::Syscall], KeyValue::Text("bash".into()));
        assert_eq!((v.as_deref(), errors), (Some("bash"), vec!["syscall"]));
    }
}
