//! Live maps: created from a [`MapDef`] or opened from a pin, held by file descriptor, read
//! and written as bytes whose lengths are checked against the sizes the kernel reports.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use crate::attr::{MapBatchAttr, MapCreateAttr, MapElemAttr, MapInfo};
use crate::cmd::Cmd;
use crate::error::{bpf_err, SysError};
use crate::obj::{obj_get, obj_info, obj_pin};
use crate::syscall::{bpf, bpf_fd, fd_u32};
use crate::util::{name16, possible_cpus};

/// Kernel map types (`enum bpf_map_type`) kestrel uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum MapType {
    Hash,
    Array,
    ProgArray,
    PerfEventArray,
    PerCpuHash,
    PerCpuArray,
    StackTrace,
    LruHash,
    LruPerCpuHash,
    /// Created with `BPF_F_NO_PREALLOC`, as the kernel requires.
    LpmTrie,
    DevMap,
    SockMap,
    CpuMap,
    SockHash,
    DevMapHash,
    RingBuf,
}

impl MapType {
    /// The kernel's number for the type.
    pub fn id(self) -> u32 {
        match self {
            MapType::Hash => 1,
            MapType::Array => 2,
            MapType::ProgArray => 3,
            MapType::PerfEventArray => 4,
            MapType::PerCpuHash => 5,
            MapType::PerCpuArray => 6,
            MapType::StackTrace => 7,
            MapType::LruHash => 9,
            MapType::LruPerCpuHash => 10,
            MapType::LpmTrie => 11,
            MapType::DevMap => 14,
            MapType::SockMap => 15,
            MapType::CpuMap => 16,
            MapType::SockHash => 18,
            MapType::DevMapHash => 25,
            MapType::RingBuf => 27,
        }
    }

    /// The type with kernel number `id`, if kestrel knows it.
    pub fn from_id(id: u32) -> Option<MapType> {
        use MapType::*;
        [
            Hash,
            Array,
            ProgArray,
            PerfEventArray,
            PerCpuHash,
            PerCpuArray,
            StackTrace,
            LruHash,
            LruPerCpuHash,
            LpmTrie,
            DevMap,
            SockMap,
            CpuMap,
            SockHash,
            DevMapHash,
            RingBuf,
        ]
        .into_iter()
        .find(|t| t.id() == id)
    }

    /// Whether lookups return one value per possible CPU.
    pub fn is_per_cpu(self) -> bool {
        matches!(
            self,
            MapType::PerCpuHash | MapType::PerCpuArray | MapType::LruPerCpuHash
        )
    }
}

/// `BPF_F_NO_PREALLOC`.
pub const BPF_F_NO_PREALLOC: u32 = 1;

/// What map to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapDef {
    /// Name (the kernel keeps 15 bytes of `[A-Za-z0-9_.]`).
    pub name: String,
    /// Map type.
    pub kind: MapType,
    /// Key bytes (0 for ring buffers).
    pub key_size: u32,
    /// Value bytes (0 for ring buffers).
    pub value_size: u32,
    /// Capacity (bytes, a power of two times the page size, for ring buffers).
    pub max_entries: u32,
    /// `map_flags`; `BPF_F_NO_PREALLOC` is added for LPM tries.
    pub flags: u32,
}

/// `BPF_ANY`, `BPF_NOEXIST`, `BPF_EXIST`: how an update treats an existing key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateFlags {
    /// Create or replace.
    Any = 0,
    /// Only create.
    NoExist = 1,
    /// Only replace.
    Exist = 2,
}

/// A live map held by its file descriptor (closed, and freed if nothing else holds it, on
/// drop).
#[derive(Debug)]
pub struct Map {
    fd: OwnedFd,
    name: String,
    kind: Option<MapType>,
    type_id: u32,
    id: u32,
    key_size: usize,
    value_size: usize,
    max_entries: u32,
    /// Bytes one lookup writes: value_size, or round_up(value_size, 8) × possible CPUs.
    value_len: usize,
}

/// One map entry as read: key bytes and value bytes (all CPUs' copies for per-CPU maps).
pub type Entry = (Vec<u8>, Vec<u8>);

/// Upper bound on iteration steps per entry, so a map mutated under us (hash iteration
/// restarts from the first key when the current key is deleted) cannot loop forever.
const MAX_STEPS_PER_ENTRY: usize = 4;

impl Map {
    /// `BPF_MAP_CREATE`.
    pub fn create(def: &MapDef) -> Result<Map, SysError> {
        let mut flags = def.flags;
        if def.kind == MapType::LpmTrie {
            flags |= BPF_F_NO_PREALLOC;
        }
        let mut attr = MapCreateAttr {
            map_type: def.kind.id(),
            key_size: def.key_size,
            value_size: def.value_size,
            max_entries: def.max_entries,
            map_flags: flags,
            map_name: name16(&def.name),
            ..MapCreateAttr::default()
        };
        let fd = bpf_fd(Cmd::MapCreate, &mut attr)
            .map_err(bpf_err(Cmd::MapCreate, format!("map '{}'", def.name)))?;
        Map::from_fd(fd, &def.name)
    }

    /// Opens the map pinned at `path`, its type and sizes read back from the kernel.
    pub fn from_pin(path: &Path) -> Result<Map, SysError> {
        let fd = obj_get(path)?;
        Map::from_fd(fd, &path.display().to_string())
    }

    /// Opens the map pinned at `path` and checks that it is what `def` describes (type, key
    /// and value size), so a stale or foreign pin is refused instead of misread.
    pub fn from_pin_checked(path: &Path, def: &MapDef) -> Result<Map, SysError> {
        let map = Map::from_pin(path)?;
        if map.type_id != def.kind.id()
            || map.key_size != def.key_size as usize
            || map.value_size != def.value_size as usize
        {
            return Err(SysError::Mismatch(format!(
                "the map pinned at {} has type {} and key/value sizes {}/{}, expected type {} and {}/{} for '{}'",
                path.display(),
                map.type_id,
                map.key_size,
                map.value_size,
                def.kind.id(),
                def.key_size,
                def.value_size,
                def.name
            )));
        }
        Ok(map)
    }

    /// Wraps a map descriptor, reading its type and sizes from the kernel.
    pub fn from_fd(fd: OwnedFd, name: &str) -> Result<Map, SysError> {
        let info: MapInfo = obj_info(fd.as_fd(), name)?;
        let kind = MapType::from_id(info.map_type);
        let value_len = if kind.is_some_and(MapType::is_per_cpu) {
            let cpus = possible_cpus()?;
            (info.value_size as usize).next_multiple_of(8) * cpus
        } else {
            info.value_size as usize
        };
        Ok(Map {
            fd,
            name: name.to_string(),
            kind,
            type_id: info.map_type,
            id: info.id,
            key_size: info.key_size as usize,
            value_size: info.value_size as usize,
            max_entries: info.max_entries,
            value_len,
        })
    }

    /// The descriptor.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The name it was created or opened with.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The kernel's map type, if kestrel knows it.
    pub fn kind(&self) -> Option<MapType> {
        self.kind
    }

    /// The kernel's map type number.
    pub fn type_id(&self) -> u32 {
        self.type_id
    }

    /// The kernel's id of the map.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Key bytes.
    pub fn key_size(&self) -> usize {
        self.key_size
    }

    /// Value bytes (of one CPU's copy, for per-CPU maps).
    pub fn value_size(&self) -> usize {
        self.value_size
    }

    /// Capacity.
    pub fn max_entries(&self) -> u32 {
        self.max_entries
    }

    /// Bytes a lookup writes and an update reads: all CPUs' copies for per-CPU maps, each
    /// rounded up to 8 bytes.
    pub fn value_len(&self) -> usize {
        self.value_len
    }

    /// Whether values come one per possible CPU.
    pub fn is_per_cpu(&self) -> bool {
        self.kind.is_some_and(MapType::is_per_cpu)
    }

    /// Pins the map at `path` (a bpffs path), so it outlives this process.
    pub fn pin(&self, path: &Path) -> Result<(), SysError> {
        obj_pin(self.fd.as_fd(), path)
    }

    fn check(&self, key: &[u8], value: Option<usize>, op: Cmd) -> Result<(), SysError> {
        if key.len() != self.key_size || value.is_some_and(|v| v != self.value_len) {
            return Err(SysError::Mismatch(format!(
                "{op} on map '{}': key of {} bytes and value of {:?} bytes, the map has {} and {}",
                self.name,
                key.len(),
                value,
                self.key_size,
                self.value_len
            )));
        }
        Ok(())
    }

    /// `BPF_MAP_UPDATE_ELEM` with `BPF_ANY`. `value` holds all CPUs' copies for per-CPU
    /// maps ([`Map::value_len`] bytes).
    pub fn update(&self, key: &[u8], value: &[u8]) -> Result<(), SysError> {
        self.update_with(key, value, UpdateFlags::Any)
    }

    /// `BPF_MAP_UPDATE_ELEM` with explicit flags.
    pub fn update_with(
        &self,
        key: &[u8],
        value: &[u8],
        flags: UpdateFlags,
    ) -> Result<(), SysError> {
        self.check(key, Some(value.len()), Cmd::MapUpdateElem)?;
        let mut attr = MapElemAttr {
            map_fd: fd_u32(self.fd()).map_err(bpf_err(Cmd::MapUpdateElem, self.what()))?,
            key: key.as_ptr() as u64,
            value: value.as_ptr() as u64,
            flags: flags as u64,
            ..MapElemAttr::default()
        };
        bpf(Cmd::MapUpdateElem, &mut attr)
            .map(drop)
            .map_err(bpf_err(Cmd::MapUpdateElem, self.what()))
    }

    /// `BPF_MAP_DELETE_ELEM`. Returns false if the key was already absent.
    pub fn delete(&self, key: &[u8]) -> Result<bool, SysError> {
        self.check(key, None, Cmd::MapDeleteElem)?;
        let mut attr = MapElemAttr {
            map_fd: fd_u32(self.fd()).map_err(bpf_err(Cmd::MapDeleteElem, self.what()))?,
            key: key.as_ptr() as u64,
            ..MapElemAttr::default()
        };
        match bpf(Cmd::MapDeleteElem, &mut attr) {
            Ok(_) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
            Err(e) => Err(SysError::bpf(Cmd::MapDeleteElem, self.what(), e)),
        }
    }

    /// `BPF_MAP_LOOKUP_ELEM` into `value` ([`Map::value_len`] bytes). Returns false if the
    /// key is absent.
    pub fn lookup(&self, key: &[u8], value: &mut [u8]) -> Result<bool, SysError> {
        self.check(key, Some(value.len()), Cmd::MapLookupElem)?;
        let mut attr = MapElemAttr {
            map_fd: fd_u32(self.fd()).map_err(bpf_err(Cmd::MapLookupElem, self.what()))?,
            key: key.as_ptr() as u64,
            value: value.as_mut_ptr() as u64,
            ..MapElemAttr::default()
        };
        match bpf(Cmd::MapLookupElem, &mut attr) {
            Ok(_) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
            Err(e) => Err(SysError::bpf(Cmd::MapLookupElem, self.what(), e)),
        }
    }

    /// The value under `key` as a new buffer, or None.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, SysError> {
        let mut value = vec![0u8; self.value_len];
        Ok(self.lookup(key, &mut value)?.then_some(value))
    }

    /// Copies the key after `key` (the first key for None) into `next`. False at the end.
    pub fn next_key(&self, key: Option<&[u8]>, next: &mut [u8]) -> Result<bool, SysError> {
        if key.is_some_and(|k| k.len() != self.key_size) || next.len() != self.key_size {
            return Err(SysError::Mismatch(format!(
                "BPF_MAP_GET_NEXT_KEY on map '{}': wrong key size",
                self.name
            )));
        }
        let mut attr = MapElemAttr {
            map_fd: fd_u32(self.fd()).map_err(bpf_err(Cmd::MapGetNextKey, self.what()))?,
            key: key.map_or(0, |k| k.as_ptr() as u64),
            value: next.as_mut_ptr() as u64,
            ..MapElemAttr::default()
        };
        match bpf(Cmd::MapGetNextKey, &mut attr) {
            Ok(_) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
            Err(e) => Err(SysError::bpf(Cmd::MapGetNextKey, self.what(), e)),
        }
    }

    /// Every key (at most `max_entries`, with a bound on restarts if the map changes
    /// underneath).
    pub fn keys(&self) -> Result<Vec<Vec<u8>>, SysError> {
        self.keys_limited(usize::MAX)
    }

    /// At most `limit` keys.
    pub fn keys_limited(&self, limit: usize) -> Result<Vec<Vec<u8>>, SysError> {
        let mut keys = Vec::new();
        let mut key: Option<Vec<u8>> = None;
        let mut next = vec![0u8; self.key_size];
        let max_steps = (self.max_entries as usize + 1).saturating_mul(MAX_STEPS_PER_ENTRY);
        for _ in 0..max_steps {
            if keys.len() >= limit || !self.next_key(key.as_deref(), &mut next)? {
                break;
            }
            keys.push(next.clone());
            key = Some(next.clone());
        }
        Ok(keys)
    }

    /// Every entry as (key, value bytes). Entries deleted between the key walk and the
    /// lookup are skipped.
    pub fn entries(&self) -> Result<Vec<Entry>, SysError> {
        let mut out = Vec::new();
        let mut key: Option<Vec<u8>> = None;
        let mut next = vec![0u8; self.key_size];
        let mut value = vec![0u8; self.value_len];
        let max_steps = (self.max_entries as usize + 1).saturating_mul(MAX_STEPS_PER_ENTRY);
        for _ in 0..max_steps {
            if !self.next_key(key.as_deref(), &mut next)? {
                break;
            }
            if self.lookup(&next, &mut value)? {
                out.push((next.clone(), value.clone()));
            }
            key = Some(next.clone());
        }
        Ok(out)
    }

    /// Every entry, read with `BPF_MAP_LOOKUP_BATCH` (hash maps, kernel 5.6+): a few
    /// syscalls instead of two per entry. Falls back to [`Map::entries`] where the kernel
    /// or map type has no batch support.
    pub fn entries_batch(&self) -> Result<Vec<Entry>, SysError> {
        const CHUNK: usize = 256;
        let mut out = Vec::new();
        let mut keys = vec![0u8; self.key_size * CHUNK];
        let mut values = vec![0u8; self.value_len * CHUNK];
        let mut in_batch = vec![0u8; self.key_size.max(8)];
        let mut out_batch = vec![0u8; self.key_size.max(8)];
        let mut first = true;
        loop {
            let mut attr = MapBatchAttr {
                in_batch: if first {
                    0
                } else {
                    in_batch.as_mut_ptr() as u64
                },
                out_batch: out_batch.as_mut_ptr() as u64,
                keys: keys.as_mut_ptr() as u64,
                values: values.as_mut_ptr() as u64,
                count: CHUNK as u32,
                map_fd: fd_u32(self.fd()).map_err(bpf_err(Cmd::MapLookupBatch, self.what()))?,
                ..MapBatchAttr::default()
            };
            let result = bpf(Cmd::MapLookupBatch, &mut attr);
            let n = (attr.count as usize).min(CHUNK);
            let done = result.is_err();
            match result {
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
                Err(e)
                    if first
                        && matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOTSUP | 524)) =>
                {
                    return self.entries();
                }
                Err(e) => return Err(SysError::bpf(Cmd::MapLookupBatch, self.what(), e)),
            }
            for i in 0..n {
                out.push((
                    keys[i * self.key_size..(i + 1) * self.key_size].to_vec(),
                    values[i * self.value_len..(i + 1) * self.value_len].to_vec(),
                ));
            }
            if done {
                return Ok(out);
            }
            std::mem::swap(&mut in_batch, &mut out_batch);
            first = false;
        }
    }

    /// Splits a per-CPU lookup result into one `value_size` slice per CPU (a single slice
    /// for other maps).
    pub fn per_cpu_values<'v>(&self, value: &'v [u8]) -> Vec<&'v [u8]> {
        if !self.is_per_cpu() {
            return vec![value];
        }
        let stride = self.value_size.next_multiple_of(8);
        if stride == 0 {
            return Vec::new();
        }
        value
            .chunks_exact(stride)
            .map(|slot| &slot[..self.value_size])
            .collect()
    }

    fn what(&self) -> String {
        format!("map '{}'", self.name)
    }
}
