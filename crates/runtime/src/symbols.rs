//! The session's source of stack frames and symbol names ([`output::symbols::Symbols`]).
//!
//! - Stack frames come from the script's stack-trace maps, looked up by stack id.
//! - Kernel symbols come from `/proc/kallsyms` (read once, on first use), without the
//!   `__pfx_*` padding symbols newer kernels emit before every function.
//! - User symbols: the first time a process is seen, its file-backed mappings are copied
//!   from `/proc/PID/maps`. An address is then turned into (file, file offset) and the file's
//!   ELF symbols are searched with blazesym — which keeps working after the process has
//!   exited, as long as its mappings were seen while it lived (the session looks at the
//!   processes in its `ustack` maps while it polls). bpftrace 0.17 prints bare addresses then.
//!
//! [`output::symbols::Symbols`]: crate::output::symbols::Symbols

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use blazesym::symbolize::source::{Elf, Source};
use blazesym::symbolize::{Input, Symbolized, Symbolizer};
use kestrel_obj::{ScalarType, UserMapLayout};

use crate::output::symbols::{Symbol, Symbols};
use crate::output::RawEntry;
use kestrel_sys::Map;

/// One file-backed mapping of a process.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Mapping {
    start: u64,
    end: u64,
    file_offset: u64,
    path: PathBuf,
}

/// What the session knows to resolve stacks and symbols.
pub(crate) struct SessionSymbols {
    /// Stack maps by (user?, depth).
    stacks: Vec<((bool, u8), Map)>,
    kernel: OnceLock<Vec<(u64, String)>>,
    processes: Mutex<HashMap<u32, Vec<Mapping>>>,
    user_cache: Mutex<HashMap<(u32, u64), Option<Symbol>>>,
}

thread_local! {
    /// blazesym's symbolizer caches parsed ELF files but cannot move between threads; output
    /// is rendered on one thread, which keeps one.
    static SYMBOLIZER: Symbolizer = Symbolizer::new();
}

impl SessionSymbols {
    /// Symbols for a session whose stack maps are `stacks`.
    pub(crate) fn new(stacks: Vec<((bool, u8), Map)>) -> SessionSymbols {
        SessionSymbols {
            stacks,
            kernel: OnceLock::new(),
            processes: Mutex::new(HashMap::new()),
            user_cache: Mutex::new(HashMap::new()),
        }
    }

    /// True when the script takes user stacks or symbols (so processes are worth watching).
    pub(crate) fn wants_processes(layout: &UserMapLayout) -> bool {
        layout
            .keys
            .iter()
            .any(|f| matches!(f.ty, ScalarType::UStack { .. } | ScalarType::Usym))
    }

    /// Remembers the mappings of every process named in `entries` of a map with `layout`
    /// that has not been seen yet, so that its stacks still resolve after it exits.
    pub(crate) fn observe(&self, layout: &UserMapLayout, entries: &[RawEntry]) {
        for e in entries {
            for f in &layout.keys {
                let at = f.offset as usize;
                let pid = match f.ty {
                    ScalarType::UStack { .. } => word(&e.key, at).map(|v| (v >> 32) as u32),
                    ScalarType::Usym => word(&e.key, at + 8).map(|v| v as u32),
                    _ => None,
                };
                if let Some(pid) = pid.filter(|&p| p != 0) {
                    self.mappings(pid, false);
                }
            }
        }
    }

    /// The mappings of `pid`, read now if never seen (or if `refresh`).
    fn mappings(&self, pid: u32, refresh: bool) -> Vec<Mapping> {
        let Ok(mut procs) = self.processes.lock() else {
            return Vec::new();
        };
        if let Some(m) = procs.get(&pid) {
            if !refresh {
                return m.clone();
            }
        }
        match std::fs::read_to_string(format!("/proc/{pid}/maps")) {
            Ok(text) => {
                let maps = parse_maps(&text);
                // An exited process reads as empty; keep what was seen while it lived.
                if !maps.is_empty() || !procs.contains_key(&pid) {
                    procs.insert(pid, maps.clone());
                }
                procs.get(&pid).cloned().unwrap_or_default()
            }
            Err(_) => {
                procs.entry(pid).or_default();
                procs.get(&pid).cloned().unwrap_or_default()
            }
        }
    }

    fn kernel_table(&self) -> &[(u64, String)] {
        self.kernel.get_or_init(|| {
            std::fs::read_to_string("/proc/kallsyms")
                .map(|t| parse_kallsyms(&t))
                .unwrap_or_default()
        })
    }

    fn resolve_user(&self, pid: u32, addr: u64) -> Option<Symbol> {
        let find = |maps: &[Mapping]| {
            maps.iter()
                .find(|m| m.start <= addr && addr < m.end)
                .cloned()
        };
        let mapping = find(&self.mappings(pid, false))
            // A library loaded after the snapshot: look again while the process lives.
            .or_else(|| find(&self.mappings(pid, true)))?;
        let offset = addr - mapping.start + mapping.file_offset;
        let src = Source::Elf(Elf::new(&mapping.path));
        SYMBOLIZER.with(|symbolizer| {
            match symbolizer
                .symbolize_single(&src, Input::FileOffset(offset))
                .ok()?
            {
                Symbolized::Sym(s) => Some(Symbol {
                    name: s.name.to_string(),
                    offset: s.offset as u64,
                    module: Some(mapping.path.display().to_string()),
                }),
                Symbolized::Unknown(_) => None,
            }
        })
    }
}

impl Symbols for SessionSymbols {
    fn stack(&self, user: bool, depth: u8, id: u32) -> Option<Vec<u64>> {
        let (_, data) = self.stacks.iter().find(|(k, _)| *k == (user, depth))?;
        let value = data.get(&id.to_le_bytes()).ok()??;
        Some(value.chunks_exact(8).filter_map(|c| word(c, 0)).collect())
    }

    fn kernel_symbol(&self, addr: u64) -> Option<Symbol> {
        let table = self.kernel_table();
        let i = table.partition_point(|(a, _)| *a <= addr).checked_sub(1)?;
        let (start, name) = &table[i];
        Some(Symbol {
            name: name.clone(),
            offset: addr - start,
            module: None,
        })
    }

    fn user_symbol(&self, pid: u32, addr: u64) -> Option<Symbol> {
        if let Some(hit) = self.user_cache.lock().ok()?.get(&(pid, addr)) {
            return hit.clone();
        }
        let sym = self.resolve_user(pid, addr);
        self.user_cache
            .lock()
            .ok()?
            .insert((pid, addr), sym.clone());
        sym
    }
}

fn word(bytes: &[u8], at: usize) -> Option<u64> {
    let b: [u8; 8] = bytes.get(at..at + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(b))
}

/// `/proc/kallsyms` as (address, name) sorted by address, without `__pfx_*` padding and
/// without the zero addresses an unprivileged reader sees.
fn parse_kallsyms(text: &str) -> Vec<(u64, String)> {
    let mut table: Vec<(u64, String)> = text
        .lines()
        .filter_map(|l| {
            let mut parts = l.split_ascii_whitespace();
            let addr = u64::from_str_radix(parts.next()?, 16).ok()?;
            let _kind = parts.next()?;
            let name = parts.next()?;
            (addr != 0 && !name.starts_with("__pfx_")).then(|| (addr, name.to_string()))
        })
        .collect();
    // Of several names for one address keep the first kallsyms lists (`_text`, not its
    // `__pi__text` alias), as bpftrace does.
    table.sort_by_key(|(a, _)| *a);
    table.dedup_by_key(|(a, _)| *a);
    table
}

/// The file-backed mappings in `/proc/PID/maps` text.
fn parse_maps(text: &str) -> Vec<Mapping> {
    text.lines()
        .filter_map(|l| {
            let mut parts = l.split_ascii_whitespace();
            let (start, end) = parts.next()?.split_once('-')?;
            let _perms = parts.next()?;
            let offset = parts.next()?;
            let _dev = parts.next()?;
            let _inode = parts.next()?;
            let path = parts.collect::<Vec<_>>().join(" ");
            let path = path.strip_suffix(" (deleted)").unwrap_or(&path);
            if !path.starts_with('/') {
                return None;
            }
            Some(Mapping {
                start: u64::from_str_radix(start, 16).ok()?,
                end: u64::from_str_radix(end, 16).ok()?,
                file_offset: u64::from_str_radix(offset, 16).ok()?,
                path: PathBuf::from(path),
            })
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn kallsyms_skips_padding_and_sorts() {
        let t = "ffffffff81000010 T b\nffffffff81000000 T __pfx_b\nffffffff80000000 T _text\nffffffff80000000 T __pi__text\n0000000000000000 T zero\n";
        assert_eq!(
            parse_kallsyms(t),
            vec![
                (0xffff_ffff_8000_0000, "_text".to_string()),
                (0xffff_ffff_8100_0010, "b".to_string())
            ]
        );
        let s = SessionSymbols::new(Vec::new());
        s.kernel.set(parse_kallsyms(t)).unwrap();
        let sym = s.kernel_symbol(0xffff_ffff_8100_0004).unwrap();
        assert_eq!((sym.name.as_str(), sym.offset), ("_text", 0x0100_0004));
        assert_eq!(s.kernel_symbol(0x10), None);
    }

    #[test]
    fn maps_keep_file_backed_mappings() {
        let t = "55d0c0000000-55d0c0001000 r--p 00000000 08:01 123 /usr/bin/my prog\n\
                 55d0c0001000-55d0c0002000 r-xp 00001000 08:01 123 /tmp/x (deleted)\n\
                 7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]\n";
        let m = parse_maps(t);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].path, PathBuf::from("/usr/bin/my prog"));
        assert_eq!(m[1].file_offset, 0x1000);
        assert_eq!(m[1].path, PathBuf::from("/tmp/x"));
    }

    #[test]
    fn own_function_resolves_through_proc_maps() {
        // This test binary's own code: found via /proc/self/maps and its ELF symbols.
        let s = SessionSymbols::new(Vec::new());
        let addr = own_function as fn() -> u64 as usize as u64;
        let sym = s.user_symbol(std::process::id(), addr);
        let sym = sym.unwrap();
        assert!(sym.name.contains("own_function"), "{sym:?}");
    }

    #[inline(never)]
    fn own_function() -> u64 {
        std::hint::black_box(7)
    }
}
