//! User-space binaries for uprobes and USDT probes: finding a binary or library by name
//! (`libc` → `/lib/x86_64-linux-gnu/libc.so.6`), reading its function symbols, and turning
//! a virtual address into the file offset the kernel's uprobe interface wants.
//!
//! Names without a `/` are looked up like bpftrace does: in the mappings of `-p PID` when
//! there is one, then in the dynamic linker's cache (`/etc/ld.so.cache`), then on `PATH`,
//! then in the standard library directories.

use std::path::{Path, PathBuf};

use object::elf;
use object::read::elf::{FileHeader, ProgramHeader};
use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};

use crate::KernelError;

/// Library directories searched when the linker cache has no answer.
const LIB_DIRS: &[&str] = &[
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
    "/usr/local/lib",
];

/// A function symbol of a user-space ELF file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserSymbol {
    /// Symbol name (not demangled).
    pub name: String,
    /// Virtual address as linked.
    pub address: u64,
    /// Size in bytes (0 when unknown).
    pub size: u64,
}

fn read_error(path: &Path, source: std::io::Error) -> KernelError {
    KernelError::Read {
        path: path.display().to_string(),
        source,
    }
}

fn bad_elf(path: &Path, why: impl std::fmt::Display) -> KernelError {
    KernelError::Read {
        path: path.display().to_string(),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not a readable ELF file: {why}"),
        ),
    }
}

/// The file a uprobe target names: a path (with a `/`) is taken as it is; a bare name
/// (`libc`, `libc.so.6`, `bash`) is searched for as described in the module overview.
pub fn resolve_binary(target: &str, pid: Option<u32>) -> Result<PathBuf, KernelError> {
    if target.contains('/') {
        let path = PathBuf::from(target);
        return match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => Ok(path),
            Ok(_) => Err(read_error(
                &path,
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"),
            )),
            Err(e) => Err(read_error(&path, e)),
        };
    }
    let found = pid
        .and_then(|p| from_process_maps(target, p))
        .or_else(|| from_ld_cache(target))
        .or_else(|| from_path_env(target))
        .or_else(|| from_lib_dirs(target));
    found.ok_or_else(|| {
        read_error(
            Path::new(target),
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no such binary or library (searched the linker cache, PATH and the library directories)",
            ),
        )
    })
}

/// True when the file name `base` is what the bare name `name` refers to.
fn name_matches(name: &str, base: &str) -> bool {
    base == name
        || base.starts_with(&format!("lib{name}.so"))
        || base.starts_with(&format!("{name}.so"))
        || (name.contains(".so") && base.starts_with(name))
}

/// The mapped file of process `pid` whose name matches `name`.
fn from_process_maps(name: &str, pid: u32) -> Option<PathBuf> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/maps")).ok()?;
    text.lines().find_map(|line| {
        let path = line.split_ascii_whitespace().nth(5)?;
        let base = path.rsplit('/').next()?;
        (path.starts_with('/') && name_matches(name, base)).then(|| PathBuf::from(path))
    })
}

/// `name` looked up in `/etc/ld.so.cache` (glibc's "new" format).
fn from_ld_cache(name: &str) -> Option<PathBuf> {
    let data = std::fs::read("/etc/ld.so.cache").ok()?;
    ld_cache_entries(&data)
        .into_iter()
        .find(|(key, value)| name_matches(name, key) && Path::new(value).is_file())
        .map(|(_, value)| PathBuf::from(value))
}

/// `(soname, path)` pairs of a glibc `ld.so.cache` in its current format (x86-64 entries
/// first). Malformed data yields what could be read.
pub(crate) fn ld_cache_entries(data: &[u8]) -> Vec<(String, String)> {
    const MAGIC: &[u8] = b"glibc-ld.so.cache1.1";
    const HEADER: usize = 48;
    const ENTRY: usize = 24;
    let Some(start) = data.windows(MAGIC.len()).position(|w| w == MAGIC) else {
        return Vec::new();
    };
    let d = &data[start..];
    let u32_at = |at: usize| -> Option<u32> {
        d.get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
    };
    let string_at = |at: usize| -> Option<String> {
        let tail = d.get(at..)?;
        let end = tail.iter().position(|&b| b == 0)?;
        std::str::from_utf8(&tail[..end]).ok().map(str::to_string)
    };
    let Some(n) = u32_at(20) else {
        return Vec::new();
    };
    let mut x86_64 = Vec::new();
    let mut other = Vec::new();
    for i in 0..n as usize {
        let at = HEADER + i * ENTRY;
        let (Some(flags), Some(key), Some(value)) = (u32_at(at), u32_at(at + 4), u32_at(at + 8))
        else {
            break;
        };
        let (Some(key), Some(value)) = (string_at(key as usize), string_at(value as usize)) else {
            continue;
        };
        // FLAG_ELF_LIBC6 | FLAG_X8664_LIB64
        if flags & 0xffff == 0x0303 {
            x86_64.push((key, value));
        } else {
            other.push((key, value));
        }
    }
    x86_64.extend(other);
    x86_64
}

fn from_path_env(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn from_lib_dirs(name: &str) -> Option<PathBuf> {
    LIB_DIRS.iter().find_map(|dir| {
        let entries = std::fs::read_dir(dir).ok()?;
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|base| name_matches(name, base))
            .collect();
        names.sort();
        names.first().map(|base| Path::new(dir).join(base))
    })
}

/// Every defined function symbol of the ELF file at `path` (from `.symtab` and `.dynsym`,
/// each name once), sorted by name.
pub fn function_symbols(path: &Path) -> Result<Vec<UserSymbol>, KernelError> {
    symbols(path, |k| k == SymbolKind::Text)
}

/// Every defined function and data symbol of the ELF file at `path` (for `uaddr()`),
/// sorted by name.
pub fn all_symbols(path: &Path) -> Result<Vec<UserSymbol>, KernelError> {
    symbols(path, |k| matches!(k, SymbolKind::Text | SymbolKind::Data))
}

fn symbols(path: &Path, wanted: fn(SymbolKind) -> bool) -> Result<Vec<UserSymbol>, KernelError> {
    let data = std::fs::read(path).map_err(|e| read_error(path, e))?;
    let file = object::File::parse(&*data).map_err(|e| bad_elf(path, e))?;
    let mut out: Vec<UserSymbol> = file
        .symbols()
        .chain(file.dynamic_symbols())
        .filter(|s| wanted(s.kind()) && s.is_definition() && s.address() != 0)
        .filter_map(|s| {
            let name = s.name().ok()?;
            // Versioned dynamic names (`malloc@@GLIBC_2.2.5`) are reached by their plain name.
            let name = name.split('@').next().unwrap_or(name);
            (!name.is_empty()).then(|| UserSymbol {
                name: name.to_string(),
                address: s.address(),
                size: s.size(),
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name).then(b.size.cmp(&a.size)));
    out.dedup_by(|a, b| a.name == b.name);
    Ok(out)
}

/// The file offset of virtual address `vaddr` in the ELF file at `path` (through its
/// `PT_LOAD` segments), or `None` when no loadable segment holds it.
pub fn file_offset(path: &Path, vaddr: u64) -> Result<Option<u64>, KernelError> {
    let data = std::fs::read(path).map_err(|e| read_error(path, e))?;
    let header =
        elf::FileHeader64::<object::Endianness>::parse(&*data).map_err(|e| bad_elf(path, e))?;
    let endian = header.endian().map_err(|e| bad_elf(path, e))?;
    let segments = header
        .program_headers(endian, &*data)
        .map_err(|e| bad_elf(path, e))?;
    Ok(segments.iter().find_map(|ph| {
        let start = ph.p_vaddr(endian);
        let size = ph.p_memsz(endian);
        (ph.p_type(endian) == elf::PT_LOAD && vaddr >= start && vaddr < start + size)
            .then(|| vaddr - start + ph.p_offset(endian))
    }))
}

/// One USDT probe from a binary's `.note.stapsdt` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsdtNote {
    /// Provider, e.g. `python`.
    pub provider: String,
    /// Probe name, e.g. `function__entry`.
    pub name: String,
    /// Virtual address of the probe's instruction (already adjusted for prelinking).
    pub address: u64,
    /// Virtual address of its semaphore, 0 when it has none.
    pub semaphore: u64,
    /// Argument specs as the assembler wrote them, e.g. `-4@%edi 8@-8(%rbp) 8@$5`.
    pub args: String,
}

/// Every USDT probe of the ELF file at `path`, in note order (empty when it has none).
pub fn usdt_notes(path: &Path) -> Result<Vec<UsdtNote>, KernelError> {
    let data = std::fs::read(path).map_err(|e| read_error(path, e))?;
    let file = object::File::parse(&*data).map_err(|e| bad_elf(path, e))?;
    let Some(section) = file.section_by_name(".note.stapsdt") else {
        return Ok(Vec::new());
    };
    let notes = section.data().map_err(|e| bad_elf(path, e))?;
    // Probes record the link-time address of .stapsdt.base; a prelinked binary moved it.
    let actual_base = file.section_by_name(".stapsdt.base").map(|s| s.address());
    Ok(parse_stapsdt(notes, actual_base))
}

/// Parses the ELF notes of a `.note.stapsdt` section (owner `stapsdt`, type 3).
pub(crate) fn parse_stapsdt(mut d: &[u8], actual_base: Option<u64>) -> Vec<UsdtNote> {
    let u32_at = |b: &[u8], at: usize| -> Option<u32> {
        b.get(at..at + 4)
            .and_then(|x| x.try_into().ok())
            .map(u32::from_le_bytes)
    };
    let u64_at = |b: &[u8], at: usize| -> Option<u64> {
        b.get(at..at + 8)
            .and_then(|x| x.try_into().ok())
            .map(u64::from_le_bytes)
    };
    let align4 = |n: usize| (n + 3) & !3;
    let mut out = Vec::new();
    while let (Some(namesz), Some(descsz), Some(kind)) = (u32_at(d, 0), u32_at(d, 4), u32_at(d, 8))
    {
        let (namesz, descsz) = (namesz as usize, descsz as usize);
        let name_end = 12 + namesz;
        let desc_start = 12 + align4(namesz);
        let next = desc_start + align4(descsz);
        let (Some(owner), Some(desc)) =
            (d.get(12..name_end), d.get(desc_start..desc_start + descsz))
        else {
            break;
        };
        if owner == b"stapsdt\0" && kind == 3 {
            if let (Some(pc), Some(base), Some(sem)) =
                (u64_at(desc, 0), u64_at(desc, 8), u64_at(desc, 16))
            {
                let mut strings = desc.get(24..).unwrap_or_default().split(|&b| b == 0);
                let mut text = || {
                    strings
                        .next()
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .unwrap_or_default()
                };
                let (provider, name, args) = (text(), text(), text());
                let shift = |addr: u64| match actual_base {
                    Some(actual) if addr != 0 => addr.wrapping_add(actual).wrapping_sub(base),
                    _ => addr,
                };
                out.push(UsdtNote {
                    provider,
                    name,
                    address: shift(pc),
                    semaphore: shift(sem),
                    args,
                });
            }
        }
        match d.get(next..) {
            Some(rest) if next > 0 => d = rest,
            _ => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stapsdt_notes_parse() {
        let mut d = Vec::new();
        let desc: Vec<u8> = [0x1155u64, 0x2009, 0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .chain(b"prov\0tick\0-4@%edi 8@$5\0".iter().copied())
            .collect();
        d.extend_from_slice(&8u32.to_le_bytes());
        d.extend_from_slice(&(desc.len() as u32).to_le_bytes());
        d.extend_from_slice(&3u32.to_le_bytes());
        d.extend_from_slice(b"stapsdt\0");
        d.extend_from_slice(&desc);
        while d.len() % 4 != 0 {
            d.push(0);
        }
        let notes = parse_stapsdt(&d, Some(0x3009));
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0].provider, "prov");
        assert_eq!(notes[0].name, "tick");
        assert_eq!(notes[0].args, "-4@%edi 8@$5");
        assert_eq!(notes[0].address, 0x2155);
        assert_eq!(notes[0].semaphore, 0);
        assert!(parse_stapsdt(&d[..10], None).is_empty());
    }

    #[test]
    fn names_match_like_the_linker() {
        assert!(name_matches("libc", "libc.so.6"));
        assert!(name_matches("c", "libc.so.6"));
        assert!(name_matches("libc.so.6", "libc.so.6"));
        assert!(name_matches("bash", "bash"));
        assert!(!name_matches("libc", "libcrypt.so.1"));
        assert!(!name_matches("bash", "bashbug"));
    }

    #[test]
    fn ld_cache_parses_current_format() {
        let mut d = Vec::new();
        d.extend_from_slice(b"glibc-ld.so.cache1.1");
        d.extend_from_slice(&1u32.to_le_bytes()); // nlibs
        d.extend_from_slice(&0u32.to_le_bytes()); // len_strings
        d.resize(48, 0);
        let key_at = 48 + 24;
        let value_at = key_at + 10;
        d.extend_from_slice(&0x0303u32.to_le_bytes());
        d.extend_from_slice(&(key_at as u32).to_le_bytes());
        d.extend_from_slice(&(value_at as u32).to_le_bytes());
        d.extend_from_slice(&[0; 12]);
        d.extend_from_slice(b"libc.so.6\0/lib/libc.so.6\0");
        assert_eq!(
            ld_cache_entries(&d),
            vec![("libc.so.6".to_string(), "/lib/libc.so.6".to_string())]
        );
        assert!(ld_cache_entries(b"garbage").is_empty());
    }

    #[test]
    fn own_binary_has_symbols_and_offsets() {
        let Ok(me) = std::env::current_exe() else {
            return;
        };
        let syms = function_symbols(&me).unwrap_or_default();
        let Some(main) = syms.iter().find(|s| s.name == "main") else {
            return;
        };
        let off = file_offset(&me, main.address).ok().flatten();
        assert!(
            off.is_some(),
            "main at {:#x} has a file offset",
            main.address
        );
    }
}
