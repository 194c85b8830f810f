//! The script's own C types (`struct Foo { int a; char b[10]; }`) as BTF records appended
//! to the kernel's, so that casts, member access and `sizeof` treat them like kernel types.
//!
//! Layout follows the C rules for x86-64 and arm64: each member at the next multiple of its
//! alignment, bit-fields packed into their declared type's storage unit, the struct padded
//! to its largest alignment; a union's members all at offset 0.

use std::collections::HashMap;

use kestrel_kernel::btf::{Btf, BtfKind, BtfType, TypeId};
use kestrel_kernel::{KernelError, KernelFacts, TracepointFormat, TracepointId};

use crate::ast::{CMember, CTag, CTypeDef};
use crate::diag::codes;
use crate::diag::Diagnostic;

const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;

/// `base` extended with `defs`, or the diagnostic for the first definition that cannot be
/// laid out.
pub fn extend(base: &Btf, defs: &[CTypeDef]) -> Result<Btf, Diagnostic> {
    let mut b = Builder {
        base,
        first_new: base.type_count() + 1,
        aux: Vec::new(),
        aux_count: 0,
        strings: Vec::new(),
        str_base: base.strings_len(),
        ints: HashMap::new(),
        defs,
        layouts: vec![None; defs.len()],
        in_progress: vec![false; defs.len()],
    };
    let mut records = Vec::new();
    for i in 0..defs.len() {
        let rec = b.def_record(i)?;
        records.extend(rec);
    }
    records.extend_from_slice(&b.aux);
    base.with_appended(&records, &b.strings).map_err(|e| {
        Diagnostic::error(format!("cannot add the script's types: {e}"), defs[0].span)
            .with_code(codes::UNKNOWN_TYPE)
    })
}

#[derive(Clone, Copy)]
struct Layout {
    size: u32,
    align: u32,
}

struct Builder<'a> {
    base: &'a Btf,
    first_new: u32,
    aux: Vec<u8>,
    aux_count: u32,
    strings: Vec<u8>,
    str_base: u32,
    ints: HashMap<(u32, bool, bool), u32>,
    defs: &'a [CTypeDef],
    layouts: Vec<Option<Layout>>,
    in_progress: Vec<bool>,
}

fn push_u32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_le_bytes());
}

impl Builder<'_> {
    fn string(&mut self, s: &str) -> u32 {
        if s.is_empty() {
            return 0;
        }
        let off = self.str_base + self.strings.len() as u32;
        self.strings.extend_from_slice(s.as_bytes());
        self.strings.push(0);
        off
    }

    /// Append an auxiliary record (ints, pointers, arrays), returning its id.
    fn aux_record(&mut self, bytes: Vec<u8>) -> u32 {
        let id = self.first_new + self.defs.len() as u32 + self.aux_count;
        self.aux_count += 1;
        self.aux.extend(bytes);
        id
    }

    fn int(&mut self, size: u32, signed: bool, is_char: bool) -> u32 {
        if let Some(&id) = self.ints.get(&(size, signed, is_char)) {
            return id;
        }
        let name = match (size, signed, is_char) {
            (1, _, true) => "char",
            (1, true, _) => "signed char",
            (1, false, _) => "unsigned char",
            (2, true, _) => "short",
            (2, false, _) => "unsigned short",
            (4, true, _) => "int",
            (4, false, _) => "unsigned int",
            (_, true, _) => "long",
            (_, false, _) => "unsigned long",
        };
        let name_off = self.string(name);
        let mut r = Vec::new();
        push_u32(&mut r, name_off);
        push_u32(&mut r, KIND_INT << 24);
        push_u32(&mut r, size);
        let enc = if is_char {
            2
        } else if signed {
            1
        } else {
            0
        };
        push_u32(&mut r, (enc << 24) | (size * 8));
        let id = self.aux_record(r);
        self.ints.insert((size, signed, is_char), id);
        id
    }

    fn ptr(&mut self, target: u32) -> u32 {
        let mut r = Vec::new();
        push_u32(&mut r, 0);
        push_u32(&mut r, KIND_PTR << 24);
        push_u32(&mut r, target);
        self.aux_record(r)
    }

    fn array(&mut self, elem: u32, n: u32) -> u32 {
        let index = self.int(4, false, false);
        let mut r = Vec::new();
        push_u32(&mut r, 0);
        push_u32(&mut r, KIND_ARRAY << 24);
        push_u32(&mut r, 0);
        push_u32(&mut r, elem);
        push_u32(&mut r, index);
        push_u32(&mut r, n);
        self.aux_record(r)
    }

    fn def_index(&self, tag: CTag, name: &str) -> Option<usize> {
        self.defs
            .iter()
            .position(|d| d.tag == tag && d.name.name == name)
    }

    /// A base type's id and layout.
    fn base_type(&mut self, base: &str, at: &CMember) -> Result<(u32, Layout), Diagnostic> {
        let int = |size: u32| Layout { size, align: size };
        if let Some((size, signed, is_char)) = c_int(base) {
            return Ok((self.int(size, signed, is_char), int(size)));
        }
        let (tag, name) = match base.split_once(' ') {
            Some(("struct", n)) => (Some(CTag::Struct), n),
            Some(("union", n)) => (Some(CTag::Union), n),
            Some(("enum", n)) => (Some(CTag::Enum), n),
            _ => (None, base),
        };
        if let Some(tag) = tag {
            if let Some(i) = self.def_index(tag, name) {
                let l = self.layout(i)?;
                return Ok((self.first_new + i as u32, l));
            }
        }
        let kind = match tag {
            Some(CTag::Struct) => BtfKind::Struct,
            Some(CTag::Union) => BtfKind::Union,
            Some(CTag::Enum) => BtfKind::Enum,
            None => BtfKind::Typedef,
        };
        let found = self.base.find_by_name(kind, name);
        match found {
            Some(id) => {
                let size = self.base.size_of(id).unwrap_or(8);
                let align = btf_align(self.base, id, 0);
                Ok((id.0, Layout { size, align }))
            }
            None => Err(Diagnostic::error(
                format!("unknown type '{base}' in member '{}'", at.name.name),
                at.name.span,
            )
            .with_code(codes::UNKNOWN_TYPE)),
        }
    }

    /// A member's full type (pointers and arrays applied): id and layout.
    fn member_type(&mut self, m: &CMember) -> Result<(u32, Layout), Diagnostic> {
        let (mut id, mut l) = if m.pointer > 0 {
            // Pointers to types that are not defined yet are fine; to unknown ones too
            // (as void *), since only their size matters until they are dereferenced.
            let target = self.base_type(&m.base, m).map(|(id, _)| id).unwrap_or(0);
            let mut id = target;
            for _ in 0..m.pointer {
                id = self.ptr(id);
            }
            (id, Layout { size: 8, align: 8 })
        } else {
            self.base_type(&m.base, m)?
        };
        for &n in m.dims.iter().rev() {
            id = self.array(id, n);
            l = Layout {
                size: l.size.saturating_mul(n),
                align: l.align,
            };
        }
        Ok((id, l))
    }

    fn layout(&mut self, i: usize) -> Result<Layout, Diagnostic> {
        if let Some(l) = self.layouts[i] {
            return Ok(l);
        }
        let def = &self.defs[i];
        if self.in_progress[i] {
            return Err(Diagnostic::error(
                format!("'{}' contains itself", def.name.name),
                def.name.span,
            )
            .with_code(codes::UNKNOWN_TYPE));
        }
        self.in_progress[i] = true;
        let (_, l) = self.members(i)?;
        self.in_progress[i] = false;
        self.layouts[i] = Some(l);
        Ok(l)
    }

    /// Member records (name, type, bit offset with the kind_flag bit-field size) and layout.
    #[allow(clippy::type_complexity)]
    fn members(&mut self, i: usize) -> Result<(Vec<(u32, u32, u32)>, Layout), Diagnostic> {
        let def = &self.defs[i];
        if def.tag == CTag::Enum {
            return Ok((Vec::new(), Layout { size: 4, align: 4 }));
        }
        let union = def.tag == CTag::Union;
        let mut out = Vec::new();
        let mut bit = 0u64;
        let mut size = 0u64;
        let mut align = 1u32;
        for m in &def.members.clone() {
            let (id, l) = self.member_type(m)?;
            let a = u64::from(l.align.max(1));
            align = align.max(l.align.max(1));
            let name = self.string(&m.name.name);
            let offset = if union {
                0
            } else if let Some(w) = m.bits {
                // A bit-field starts a new storage unit only when it does not fit the current.
                let unit = u64::from(l.size.max(1)) * 8;
                let w = u64::from(w);
                if bit / unit != (bit + w).saturating_sub(1) / unit && w > 0 {
                    bit = bit.div_ceil(unit) * unit;
                }
                bit
            } else {
                bit = bit.div_ceil(a * 8) * a * 8;
                bit
            };
            let width = m.bits.map_or(u64::from(l.size) * 8, u64::from);
            if !union {
                bit = offset + width;
            }
            size = size.max(if union {
                width.div_ceil(8)
            } else {
                bit.div_ceil(8)
            });
            let off = match m.bits {
                Some(w) => (w << 24) | (offset as u32 & 0x00ff_ffff),
                None => offset as u32,
            };
            out.push((name, id, off));
        }
        let size = size.div_ceil(u64::from(align)) * u64::from(align);
        Ok((
            out,
            Layout {
                size: u32::try_from(size).unwrap_or(u32::MAX),
                align,
            },
        ))
    }

    fn def_record(&mut self, i: usize) -> Result<Vec<u8>, Diagnostic> {
        let def = &self.defs[i];
        let name = self.string(&def.name.name);
        let mut r = Vec::new();
        if def.tag == CTag::Enum {
            push_u32(&mut r, name);
            push_u32(
                &mut r,
                (KIND_ENUM << 24) | (def.enumerators.len() as u32 & 0xffff),
            );
            push_u32(&mut r, 4);
            let mut next = 0i64;
            for (id, v) in &def.enumerators.clone() {
                let v = v.unwrap_or(next);
                next = v.wrapping_add(1);
                let n = self.string(&id.name);
                push_u32(&mut r, n);
                push_u32(&mut r, v as i32 as u32);
            }
            self.layouts[i] = Some(Layout { size: 4, align: 4 });
            return Ok(r);
        }
        let (members, l) = self.members(i)?;
        self.layouts[i] = Some(l);
        let bitfields = self.defs[i].members.iter().any(|m| m.bits.is_some());
        let kind = if self.defs[i].tag == CTag::Union {
            KIND_UNION
        } else {
            KIND_STRUCT
        };
        push_u32(&mut r, name);
        push_u32(
            &mut r,
            (kind << 24) | (u32::from(bitfields) << 31) | (members.len() as u32 & 0xffff),
        );
        push_u32(&mut r, l.size);
        for (n, id, off) in members {
            push_u32(&mut r, n);
            push_u32(&mut r, id);
            push_u32(&mut r, off);
        }
        Ok(r)
    }
}

/// Alignment of a kernel type (its largest member's, at most 8).
fn btf_align(btf: &Btf, id: TypeId, depth: u32) -> u32 {
    if depth > 16 {
        return 8;
    }
    let Some(id) = btf.resolve(id) else { return 1 };
    match btf.get(id) {
        Ok(BtfType::Int { size, .. }) => size.clamp(1, 8),
        Ok(BtfType::Ptr { .. }) => 8,
        Ok(BtfType::Array { elem, .. }) => btf_align(btf, elem, depth + 1),
        Ok(BtfType::Struct { members, .. }) | Ok(BtfType::Union { members, .. }) => members
            .iter()
            .map(|m| btf_align(btf, m.type_id, depth + 1))
            .max()
            .unwrap_or(1),
        _ => btf.size_of(id).unwrap_or(8).clamp(1, 8),
    }
}

/// A C integer type name: (size, signed, is_char).
fn c_int(base: &str) -> Option<(u32, bool, bool)> {
    let words: Vec<&str> = base.split_whitespace().collect();
    let unsigned = words.contains(&"unsigned");
    let longs = words.iter().filter(|w| **w == "long").count();
    let core = words
        .iter()
        .filter(|w| !matches!(**w, "unsigned" | "signed"))
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    Some(match core.as_str() {
        "char" => (1, !unsigned, !words.contains(&"signed") && !unsigned),
        "short" | "short int" => (2, !unsigned, false),
        "" | "int" => (4, !unsigned, false),
        _ if longs > 0 => (8, !unsigned, false),
        "float" => (4, true, false),
        "double" => (8, true, false),
        "_Bool" | "bool" => (1, false, false),
        "int8" | "s8" | "__s8" | "int8_t" => (1, true, false),
        "uint8" | "u8" | "__u8" | "uint8_t" => (1, false, false),
        "int16" | "s16" | "__s16" | "int16_t" => (2, true, false),
        "uint16" | "u16" | "__u16" | "uint16_t" => (2, false, false),
        "int32" | "s32" | "__s32" | "int32_t" | "pid_t" => (4, true, false),
        "uint32" | "u32" | "__u32" | "uint32_t" | "uint" => (4, false, false),
        "int64" | "s64" | "__s64" | "int64_t" | "ssize_t" | "off_t" => (8, true, false),
        "uint64" | "u64" | "__u64" | "uint64_t" | "size_t" | "uintptr_t" => (8, false, false),
        _ => return None,
    })
}

/// Kernel facts with the script's own types added to the BTF; everything else is asked of
/// the kernel facts underneath.
pub struct WithScriptTypes<'k> {
    /// The kernel facts underneath.
    pub inner: &'k dyn KernelFacts,
    /// The kernel's BTF (or an empty one) with the script's types appended.
    pub btf: Btf,
}

impl KernelFacts for WithScriptTypes<'_> {
    fn tracepoints(&self, pattern: &str) -> Result<Vec<TracepointId>, KernelError> {
        self.inner.tracepoints(pattern)
    }
    fn tracepoint_format(&self, id: &TracepointId) -> Result<TracepointFormat, KernelError> {
        self.inner.tracepoint_format(id)
    }
    fn btf(&self) -> Result<&Btf, KernelError> {
        Ok(&self.btf)
    }
    fn cgroup_id(&self, path: &str) -> Result<u64, KernelError> {
        self.inner.cgroup_id(path)
    }
    fn user_binary(
        &self,
        target: &str,
        pid: Option<u32>,
    ) -> Result<std::path::PathBuf, KernelError> {
        self.inner.user_binary(target, pid)
    }
    fn user_functions(
        &self,
        path: &std::path::Path,
    ) -> Result<Vec<kestrel_kernel::UserSymbol>, KernelError> {
        self.inner.user_functions(path)
    }
    fn user_symbols(
        &self,
        path: &std::path::Path,
    ) -> Result<Vec<kestrel_kernel::UserSymbol>, KernelError> {
        self.inner.user_symbols(path)
    }
    fn usdt_probes(
        &self,
        path: &std::path::Path,
    ) -> Result<Vec<kestrel_kernel::userbin::UsdtNote>, KernelError> {
        self.inner.usdt_probes(path)
    }
    fn user_file_offset(
        &self,
        path: &std::path::Path,
        vaddr: u64,
    ) -> Result<Option<u64>, KernelError> {
        self.inner.user_file_offset(path, vaddr)
    }
    fn kernel_symbol(&self, name: &str) -> Result<Option<u64>, KernelError> {
        self.inner.kernel_symbol(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defs(src: &str) -> Vec<CTypeDef> {
        crate::parse(&format!("{src} BEGIN {{ }}"))
            .map(|p| p.c_types)
            .unwrap_or_default()
    }

    fn size(src: &str, name: &str) -> Option<u32> {
        let btf = extend(&Btf::empty(), &defs(src)).ok()?;
        let id = btf
            .find_by_name(BtfKind::Struct, name)
            .or_else(|| btf.find_by_name(BtfKind::Union, name))?;
        btf.size_of(id)
    }

    #[test]
    fn c_layout() {
        assert_eq!(
            size("struct Foo { int x; char y; int z; }", "Foo"),
            Some(12)
        );
        assert_eq!(size("struct Foo { int x; char c; }", "Foo"), Some(8));
        assert_eq!(size("struct A { int x[4]; uint8_t y[4]; }", "A"), Some(20));
        assert_eq!(size("struct B { int y[2][2]; }", "B"), Some(16));
        assert_eq!(
            size("struct M { const char* a; char b[4]; uint64_t f[4] }", "M"),
            Some(48)
        );
        assert_eq!(
            size("union ip { char v4[4]; char v6[16]; }", "ip"),
            Some(16)
        );
        assert_eq!(
            size("struct F { unsigned int a:4, b:8, c:3, d:1, e:16; }", "F"),
            Some(4)
        );
        assert_eq!(
            size(
                "struct Bar { int x; } struct Foo { char c; struct Bar b; }",
                "Foo"
            ),
            Some(8)
        );
    }

    #[test]
    fn members_are_found() {
        let btf = extend(
            &Btf::empty(),
            &defs("struct Foo { int a; char b[10]; long c; }"),
        )
        .unwrap_or_else(|_| Btf::empty());
        let id = btf
            .find_by_name(BtfKind::Struct, "Foo")
            .unwrap_or(TypeId(0));
        let m = btf.struct_member(id, "c").map(|m| m.bit_offset);
        assert_eq!(m, Some(16 * 8));
    }

    #[test]
    fn unknown_member_types_are_errors() {
        let e = extend(&Btf::empty(), &defs("struct Foo { struct Nope n; }")).err();
        assert!(e.is_some_and(|d| d.title.contains("unknown type 'struct Nope'")));
    }
}
