//! A reader for BTF, the kernel's compact type information (`/sys/kernel/btf/vmlinux`).
//!
//! Loading validates the header and walks the type section once to record where each
//! type starts; types are decoded only when asked for, and the name index for a kind is
//! built the first time a name of that kind is looked up.
//!
//! ```no_run
//! use kestrel_kernel::btf::{Btf, BtfKind};
//! let btf = Btf::vmlinux()?;
//! let task = btf.find_by_name(BtfKind::Struct, "task_struct").ok_or_else(|| {
//!     kestrel_kernel::KernelError::BadBtf("no task_struct".into())
//! })?;
//! let comm = btf.struct_member(task, "comm");
//! assert_eq!(comm.map(|m| btf.type_name(m.type_id)), Some("char[16]".to_string()));
//! # Ok::<(), kestrel_kernel::KernelError>(())
//! ```

mod names;
mod raw;
#[cfg(test)]
mod tests;
mod types;

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

pub use types::{BtfKind, BtfType, Enumerator, Member, Param, TypeId, VarSecInfo};

use crate::KernelError;
use raw::{Header, Reader};

/// Where the running kernel exposes its own BTF.
pub const VMLINUX_BTF_PATH: &str = "/sys/kernel/btf/vmlinux";

/// Size of a kernel pointer. BTF does not record it; kestrel targets 64-bit kernels.
const POINTER_SIZE: u32 = 8;

/// How deep qualifier/typedef chains and nested anonymous members may go before the
/// input is considered cyclic (valid kernel BTF stays far below this).
const MAX_DEPTH: usize = 64;

/// A parsed BTF blob.
pub struct Btf {
    data: Vec<u8>,
    header: Header,
    /// Byte offset (into `data`) of type `i + 1`.
    offsets: Vec<u32>,
    /// Per kind: name → first type id of that kind with that name.
    names: [OnceLock<HashMap<Box<str>, TypeId>>; BtfKind::COUNT],
}

impl fmt::Debug for Btf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Btf")
            .field("bytes", &self.data.len())
            .field("types", &self.offsets.len())
            .finish()
    }
}

static VMLINUX: OnceLock<Result<Btf, String>> = OnceLock::new();

impl Btf {
    /// Reads and parses [`VMLINUX_BTF_PATH`].
    pub fn load_vmlinux() -> Result<Btf, KernelError> {
        let data = std::fs::read(VMLINUX_BTF_PATH).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                KernelError::NoBtf(format!(
                    "{VMLINUX_BTF_PATH} is missing (kernel built without CONFIG_DEBUG_INFO_BTF)"
                ))
            } else {
                KernelError::Read {
                    path: VMLINUX_BTF_PATH.to_string(),
                    source,
                }
            }
        })?;
        Btf::parse(data)
    }

    /// The running kernel's BTF, loaded once per process.
    pub fn vmlinux() -> Result<&'static Btf, KernelError> {
        match VMLINUX.get_or_init(|| Btf::load_vmlinux().map_err(|e| e.to_string())) {
            Ok(btf) => Ok(btf),
            Err(msg) => Err(KernelError::NoBtf(msg.clone())),
        }
    }

    /// Parses a BTF blob (either byte order).
    pub fn parse(data: impl Into<Vec<u8>>) -> Result<Btf, KernelError> {
        let data = data.into();
        let header = Header::parse(&data)?;
        let offsets = raw::index_types(&data, &header)?;
        Ok(Btf {
            data,
            header,
            offsets,
            names: Default::default(),
        })
    }

    /// A copy of this BTF with more little-endian type records (`types`, numbered from
    /// `type_count() + 1`) and strings (`strings`, at offsets from [`Btf::strings_len`])
    /// appended, as when a script defines its own C types next to the kernel's.
    pub fn with_appended(&self, types: &[u8], strings: &[u8]) -> Result<Btf, KernelError> {
        if self.header.big_endian {
            return Err(KernelError::BadBtf(
                "cannot extend big-endian BTF".to_string(),
            ));
        }
        let h = &self.header;
        let old_types = &self.data[h.type_start..h.type_end];
        let old_strings = &self.data[h.str_start..h.str_end];
        let type_len = old_types.len() + types.len();
        let str_len = old_strings.len() + strings.len();
        let too_big = || KernelError::BadBtf("extended BTF is larger than 4 GiB".to_string());
        let mut data = Vec::with_capacity(24 + type_len + str_len);
        data.extend_from_slice(&0xeb9fu16.to_le_bytes());
        data.extend_from_slice(&[1, 0]);
        data.extend_from_slice(&24u32.to_le_bytes());
        data.extend_from_slice(&0u32.to_le_bytes());
        data.extend_from_slice(
            &u32::try_from(type_len)
                .map_err(|_| too_big())?
                .to_le_bytes(),
        );
        data.extend_from_slice(
            &u32::try_from(type_len)
                .map_err(|_| too_big())?
                .to_le_bytes(),
        );
        data.extend_from_slice(&u32::try_from(str_len).map_err(|_| too_big())?.to_le_bytes());
        data.extend_from_slice(old_types);
        data.extend_from_slice(types);
        data.extend_from_slice(old_strings);
        data.extend_from_slice(strings);
        Btf::parse(data)
    }

    /// Bytes in the string section (where strings appended by [`Btf::with_appended`] start).
    pub fn strings_len(&self) -> u32 {
        u32::try_from(self.header.str_end - self.header.str_start).unwrap_or(u32::MAX)
    }

    /// An empty BTF (no types, one empty string), to extend when the kernel has none.
    pub fn empty() -> Btf {
        let mut data = Vec::new();
        data.extend_from_slice(&0xeb9fu16.to_le_bytes());
        data.extend_from_slice(&[1, 0]);
        for v in [24u32, 0, 0, 0, 1] {
            data.extend_from_slice(&v.to_le_bytes());
        }
        data.push(0);
        Btf {
            offsets: Vec::new(),
            header: Header {
                big_endian: false,
                type_start: 24,
                type_end: 24,
                str_start: 24,
                str_end: 25,
            },
            data,
            names: Default::default(),
        }
    }

    /// Number of types, not counting `void`; valid ids are `1..=type_count()`.
    pub fn type_count(&self) -> u32 {
        // Each record is at least 12 bytes, so the count fits in u32.
        u32::try_from(self.offsets.len()).unwrap_or(u32::MAX)
    }

    fn reader(&self) -> Reader<'_> {
        Reader::new(&self.data, self.header.big_endian)
    }

    fn offset_of(&self, id: TypeId) -> Option<usize> {
        let idx = usize::try_from(id.0).ok()?.checked_sub(1)?;
        self.offsets.get(idx).map(|&o| o as usize)
    }

    /// The kind of `id` (`Void` for id 0), or `None` if `id` is out of range.
    pub fn kind(&self, id: TypeId) -> Option<BtfKind> {
        if id == TypeId::VOID {
            return Some(BtfKind::Void);
        }
        let off = self.offset_of(id)?;
        let info = self.reader().u32(off + 4)?;
        BtfKind::from_raw((info >> 24) & 0x1f)
    }

    /// The name of `id` (empty for anonymous types and kinds without names).
    pub fn name_of(&self, id: TypeId) -> Option<&str> {
        if id == TypeId::VOID {
            return Some("void");
        }
        let off = self.offset_of(id)?;
        let name_off = self.reader().u32(off)?;
        Some(self.string(name_off))
    }

    /// The string at `name_off` in the string section; empty when out of range, unterminated
    /// or not UTF-8 (names are only ever compared and printed).
    fn string(&self, name_off: u32) -> &str {
        raw::string_at(&self.data, &self.header, name_off).unwrap_or("")
    }

    /// Decodes type `id`.
    pub fn get(&self, id: TypeId) -> Result<BtfType, KernelError> {
        if id == TypeId::VOID {
            return Ok(BtfType::Void);
        }
        let off = self
            .offset_of(id)
            .ok_or_else(|| KernelError::BadBtf(format!("type id {} out of range", id.0)))?;
        raw::decode(&self.reader(), off, |o| self.string(o).to_string())
            .ok_or_else(|| KernelError::BadBtf(format!("type {} is truncated or invalid", id.0)))
    }

    /// The first type of `kind` called `name`. The index for `kind` is built on first use.
    pub fn find_by_name(&self, kind: BtfKind, name: &str) -> Option<TypeId> {
        let index = self.names[kind as usize].get_or_init(|| self.build_index(kind));
        index.get(name).copied()
    }

    fn build_index(&self, kind: BtfKind) -> HashMap<Box<str>, TypeId> {
        let r = self.reader();
        let mut map = HashMap::new();
        for (i, &off) in self.offsets.iter().enumerate() {
            let off = off as usize;
            let (Some(name_off), Some(info)) = (r.u32(off), r.u32(off + 4)) else {
                continue;
            };
            if (info >> 24) & 0x1f != kind as u32 || name_off == 0 {
                continue;
            }
            let name = self.string(name_off);
            if name.is_empty() {
                continue;
            }
            let id = TypeId(u32::try_from(i + 1).unwrap_or(u32::MAX));
            map.entry(name.into()).or_insert(id);
        }
        map
    }

    /// Follows typedefs and `const`/`volatile`/`restrict`/type tags to the underlying type.
    /// `None` for out-of-range ids or cyclic chains.
    pub fn resolve(&self, id: TypeId) -> Option<TypeId> {
        let mut cur = id;
        for _ in 0..MAX_DEPTH {
            match self.kind(cur)? {
                BtfKind::Typedef
                | BtfKind::Const
                | BtfKind::Volatile
                | BtfKind::Restrict
                | BtfKind::TypeTag => {
                    let off = self.offset_of(cur)?;
                    cur = TypeId(self.reader().u32(off + 8)?);
                }
                _ => return Some(cur),
            }
        }
        None
    }

    /// Size in bytes of a value of type `id`; `None` for `void`, functions, forward
    /// declarations and malformed types.
    pub fn size_of(&self, id: TypeId) -> Option<u32> {
        self.size_of_depth(id, 0)
    }

    fn size_of_depth(&self, id: TypeId, depth: usize) -> Option<u32> {
        if depth > MAX_DEPTH {
            return None;
        }
        let id = self.resolve(id)?;
        match self.get(id).ok()? {
            BtfType::Int { size, .. }
            | BtfType::Struct { size, .. }
            | BtfType::Union { size, .. }
            | BtfType::Enum { size, .. }
            | BtfType::Datasec { size, .. }
            | BtfType::Float { size, .. } => Some(size),
            BtfType::Ptr { .. } => Some(POINTER_SIZE),
            BtfType::Array { elem, nelems, .. } => {
                nelems.checked_mul(self.size_of_depth(elem, depth + 1)?)
            }
            BtfType::Var { type_id, .. } => self.size_of_depth(type_id, depth + 1),
            _ => None,
        }
    }

    /// The members of a struct or union (typedefs and qualifiers followed).
    pub fn members(&self, id: TypeId) -> Option<Vec<Member>> {
        match self.get(self.resolve(id)?).ok()? {
            BtfType::Struct { members, .. } | BtfType::Union { members, .. } => Some(members),
            _ => None,
        }
    }

    /// The member called `name` of struct/union `struct_id`, looking inside anonymous
    /// struct/union members as C does; its `bit_offset` is from the start of `struct_id`.
    pub fn struct_member(&self, struct_id: TypeId, name: &str) -> Option<Member> {
        self.member_depth(struct_id, name, 0)
    }

    fn member_depth(&self, id: TypeId, name: &str, depth: usize) -> Option<Member> {
        if depth > MAX_DEPTH {
            return None;
        }
        let members = self.members(id)?;
        if let Some(m) = members.iter().find(|m| m.name == name) {
            return Some(m.clone());
        }
        members
            .iter()
            .filter(|m| m.name.is_empty())
            .find_map(|anon| {
                let mut inner = self.member_depth(anon.type_id, name, depth + 1)?;
                inner.bit_offset = inner.bit_offset.checked_add(anon.bit_offset)?;
                Some(inner)
            })
    }

    /// A C-like spelling of type `id`: `struct task_struct *`, `char[16]`, `const char *`,
    /// `pid_t`, `int (*)(void *)`. Unknown ids print as `<bad type #N>`.
    pub fn type_name(&self, id: TypeId) -> String {
        names::type_name(self, id)
    }
}
