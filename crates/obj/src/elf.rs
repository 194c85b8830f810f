//! ELF relocatable writer: [`ObjectSpec`] → the bytes of a `.o` that aya (and `readelf`) read.
//!
//! aya has no API for loading raw instructions, so the runtime hands it an in-memory object
//! shaped like clang's output:
//!
//! - a `license` section holding `"GPL\0"` (GPL-only helpers such as `bpf_probe_read_*` and
//!   `bpf_trace_printk` are refused to non-GPL programs);
//! - one executable section per distinct [`AttachPoint::section`] name; programs that share a
//!   name are laid end to end in the same section, each with its own global `STT_FUNC` symbol
//!   carrying its offset and size (aya splits sections into programs by symbol);
//! - a `maps` section of 20-byte legacy `struct bpf_map_def` entries (type, key_size,
//!   value_size, max_entries, map_flags), one global `STT_OBJECT` symbol per map;
//! - one `R_BPF_64_64` relocation per [`MapReloc`] against the map's symbol, with addend 0:
//!   BPF ELF uses REL, so the object writer would store a non-zero addend *in the instruction*.
//!
//! ```
//! use kestrel_obj::{elf::write_elf, AttachPoint, ObjectSpec, ProgramSpec};
//! use kestrel_isa::{Insn, Reg};
//! let obj = ObjectSpec {
//!     programs: vec![ProgramSpec {
//!         name: "begin".into(),
//!         probe: "BEGIN".into(),
//!         attach: AttachPoint::Begin,
//!         insns: vec![Insn::mov64_imm(Reg::R0, 0), Insn::exit()],
//!         map_relocs: vec![],
//!         insn_spans: vec![None, None],
//!     }],
//!     ..ObjectSpec::default()
//! };
//! let bytes = write_elf(&obj).unwrap();
//! assert_eq!(&bytes[..4], b"\x7fELF");
//! ```
//!
//! [`AttachPoint::section`]: crate::AttachPoint::section
//! [`MapReloc`]: crate::MapReloc

use std::collections::{HashMap, HashSet};

use object::write::{Object, Relocation, SectionId, Symbol, SymbolId, SymbolSection};
use object::{
    elf, Architecture, BinaryFormat, Endianness, RelocationFlags, SectionKind, SymbolFlags,
    SymbolKind, SymbolScope,
};

use crate::spec::{MapSpec, ObjectSpec};

/// Size of one legacy `struct bpf_map_def` entry in the `maps` section.
pub const MAP_DEF_SIZE: usize = 20;

/// Why an [`ObjectSpec`] could not be written as ELF.
#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    /// Two programs or two maps share a symbol name.
    #[error("duplicate symbol name '{0}' in object")]
    DuplicateSymbol(String),
    /// A program or map name is empty or not made of `[A-Za-z0-9_]`.
    #[error("invalid symbol name '{0}' (expected [A-Za-z0-9_]+)")]
    InvalidName(String),
    /// A program has no instructions.
    #[error("program '{0}' has no instructions")]
    EmptyProgram(String),
    /// A relocation names an instruction outside its program or one that is not a
    /// 64-bit immediate load.
    #[error("program '{program}': relocation at insn {insn} does not point at an ld_imm64")]
    BadRelocInsn {
        /// The program holding the relocation.
        program: String,
        /// The instruction index it names.
        insn: usize,
    },
    /// A relocation names a map index that does not exist.
    #[error(
        "program '{program}': relocation refers to map #{map}, but the object has {count} maps"
    )]
    BadRelocMap {
        /// The program holding the relocation.
        program: String,
        /// The map index it names.
        map: usize,
        /// How many maps the object has.
        count: usize,
    },
    /// The `object` crate refused to write the file.
    #[error("writing ELF: {0}")]
    Write(#[from] object::write::Error),
}

/// How maps are described in the object.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MapStyle {
    /// 20-byte `struct bpf_map_def` entries in a `maps` section: what aya 0.14 loads with
    /// no BTF at all. The runtime uses this.
    #[default]
    Legacy,
    /// BTF-defined maps: a `.maps` section plus a `.BTF` section describing each map as
    /// libbpf's `__uint(type, ...)` struct. libbpf ≥ 1.0 (and so `bpftool prog loadall`)
    /// only accepts this style; aya loads it too.
    Btf,
}

/// Serializes `obj` as an ET_REL, EM_BPF, little-endian ELF object with legacy maps.
pub fn write_elf(obj: &ObjectSpec) -> Result<Vec<u8>, ElfError> {
    write_elf_with(obj, MapStyle::Legacy)
}

/// Serializes `obj` as an ET_REL, EM_BPF, little-endian ELF object, with maps in `style`.
pub fn write_elf_with(obj: &ObjectSpec, style: MapStyle) -> Result<Vec<u8>, ElfError> {
    check_names(obj)?;

    let mut out = Object::new(BinaryFormat::Elf, Architecture::Bpf, Endianness::Little);

    let license = out.add_section(Vec::new(), b"license".to_vec(), SectionKind::Data);
    out.set_section_data(license, &b"GPL\0"[..], 1);

    let map_symbols = match style {
        MapStyle::Legacy => write_maps(&mut out, &obj.maps),
        MapStyle::Btf => write_btf_maps(&mut out, &obj.maps),
    };

    // Programs sharing a section name share the section; remember each section by name.
    let mut sections: HashMap<String, SectionId> = HashMap::new();
    // For BTF function info: each section's functions with their offsets, in order.
    let mut funcs: Vec<(String, Vec<btf::Func>)> = Vec::new();
    let mut program_places = Vec::with_capacity(obj.programs.len());
    // Callbacks are laid end to end in .text; a program loads one's address with an
    // ld_imm64 whose imm is the callback's byte offset there, relocated against the .text
    // section symbol (how clang emits static functions, which libbpf and aya both read).
    let mut callback_offsets = Vec::with_capacity(obj.callbacks.len());
    let mut next = 0u64;
    for cb in &obj.callbacks {
        callback_offsets.push(next);
        next += cb.insns.len() as u64 * 8;
    }
    for (index, prog) in obj.programs.iter().enumerate() {
        if prog.insns.is_empty() {
            return Err(ElfError::EmptyProgram(prog.name.clone()));
        }
        let name = prog.attach.section();
        let section = *sections
            .entry(name.clone())
            .or_insert_with(|| out.add_section(Vec::new(), name.into_bytes(), SectionKind::Text));
        let mut insns = prog.insns.clone();
        for (cb, offset) in obj.callbacks.iter().zip(&callback_offsets) {
            if cb.program == index {
                if let Some(insn) = insns.get_mut(cb.loaded_at) {
                    insn.imm = *offset as i32;
                }
            }
        }
        let code: Vec<u8> = insns.iter().flat_map(|i| i.to_bytes()).collect();
        let start = out.append_section_data(section, &code, 8);
        program_places.push((section, start));
        let func = btf::Func {
            name: prog.name.clone(),
            offset: start as u32,
            callback: false,
        };
        match funcs.iter_mut().find(|(n, _)| *n == prog.attach.section()) {
            Some((_, list)) => list.push(func),
            None => funcs.push((prog.attach.section(), vec![func])),
        }
        out.add_symbol(Symbol {
            name: prog.name.as_bytes().to_vec(),
            value: start,
            size: code.len() as u64,
            kind: SymbolKind::Text,
            scope: SymbolScope::Linkage,
            weak: false,
            section: SymbolSection::Section(section),
            flags: SymbolFlags::None,
        });

        for reloc in &prog.map_relocs {
            let first = prog.insns.get(reloc.insn);
            let has_second = reloc.insn + 1 < prog.insns.len();
            if !first.is_some_and(|i| i.is_ld_imm64()) || !has_second {
                return Err(ElfError::BadRelocInsn {
                    program: prog.name.clone(),
                    insn: reloc.insn,
                });
            }
            let symbol = *map_symbols
                .get(reloc.map)
                .ok_or_else(|| ElfError::BadRelocMap {
                    program: prog.name.clone(),
                    map: reloc.map,
                    count: obj.maps.len(),
                })?;
            out.add_relocation(
                section,
                Relocation {
                    offset: start + (reloc.insn as u64) * 8,
                    symbol,
                    // Must stay 0: see the module docs.
                    addend: 0,
                    flags: RelocationFlags::Elf {
                        r_type: elf::R_BPF_64_64,
                    },
                },
            )?;
        }
    }

    if !obj.callbacks.is_empty() {
        write_callbacks(&mut out, obj, &map_symbols, &program_places, &mut funcs)?;
    }
    if style == MapStyle::Btf || !obj.callbacks.is_empty() {
        let maps = (style == MapStyle::Btf && !obj.maps.is_empty()).then_some(obj.maps.as_slice());
        let sections: &[(String, Vec<btf::Func>)] = if obj.callbacks.is_empty() {
            &[]
        } else {
            &funcs
        };
        let (types, ext) = btf::object_btf(maps, sections);
        let btf_section = out.add_section(Vec::new(), b".BTF".to_vec(), SectionKind::Metadata);
        out.set_section_data(btf_section, types, 4);
        if !sections.is_empty() {
            let ext_section =
                out.add_section(Vec::new(), b".BTF.ext".to_vec(), SectionKind::Metadata);
            out.set_section_data(ext_section, ext, 4);
        }
    }

    Ok(out.write()?)
}

/// Writes the callbacks into `.text` (static functions, as clang lays them out), relocates
/// the ld_imm64 in each owning program that loads a callback's address, and records them for
/// BTF function info.
fn write_callbacks(
    out: &mut Object<'_>,
    obj: &ObjectSpec,
    map_symbols: &[SymbolId],
    program_places: &[(SectionId, u64)],
    funcs: &mut Vec<(String, Vec<btf::Func>)>,
) -> Result<(), ElfError> {
    let text = out.add_section(Vec::new(), b".text".to_vec(), SectionKind::Text);
    let mut text_funcs = Vec::new();
    for cb in &obj.callbacks {
        let code: Vec<u8> = cb.insns.iter().flat_map(|i| i.to_bytes()).collect();
        let start = out.append_section_data(text, &code, 8);
        out.add_symbol(Symbol {
            name: cb.name.as_bytes().to_vec(),
            value: start,
            size: code.len() as u64,
            kind: SymbolKind::Text,
            scope: SymbolScope::Compilation,
            weak: false,
            section: SymbolSection::Section(text),
            flags: SymbolFlags::None,
        });
        text_funcs.push(btf::Func {
            name: cb.name.clone(),
            offset: start as u32,
            callback: true,
        });
        for reloc in &cb.map_relocs {
            let symbol = *map_symbols
                .get(reloc.map)
                .ok_or_else(|| ElfError::BadRelocMap {
                    program: cb.name.clone(),
                    map: reloc.map,
                    count: obj.maps.len(),
                })?;
            out.add_relocation(
                text,
                Relocation {
                    offset: start + (reloc.insn as u64) * 8,
                    symbol,
                    addend: 0,
                    flags: RelocationFlags::Elf {
                        r_type: elf::R_BPF_64_64,
                    },
                },
            )?;
        }
        let (section, prog_start) =
            *program_places
                .get(cb.program)
                .ok_or_else(|| ElfError::BadRelocInsn {
                    program: cb.name.clone(),
                    insn: cb.loaded_at,
                })?;
        let text_symbol = out.section_symbol(text);
        out.add_relocation(
            section,
            Relocation {
                offset: prog_start + (cb.loaded_at as u64) * 8,
                symbol: text_symbol,
                addend: 0,
                flags: RelocationFlags::Elf {
                    r_type: elf::R_BPF_64_64,
                },
            },
        )?;
    }
    funcs.push((".text".to_string(), text_funcs));
    Ok(())
}

/// Writes the legacy `maps` section (if there are maps) and returns one symbol per map, in
/// the order of `maps`.
fn write_maps(out: &mut Object<'_>, maps: &[MapSpec]) -> Vec<SymbolId> {
    if maps.is_empty() {
        return Vec::new();
    }
    let section = out.add_section(Vec::new(), b"maps".to_vec(), SectionKind::Data);
    let mut symbols = Vec::with_capacity(maps.len());
    for map in maps {
        let def = map_def(map);
        let offset = out.append_section_data(section, &def, 4);
        symbols.push(out.add_symbol(Symbol {
            name: map.name.as_bytes().to_vec(),
            value: offset,
            size: MAP_DEF_SIZE as u64,
            kind: SymbolKind::Data,
            scope: SymbolScope::Linkage,
            weak: false,
            section: SymbolSection::Section(section),
            flags: SymbolFlags::None,
        }));
    }
    symbols
}

/// Writes `.maps` (one zeroed 40-byte struct per map, the size of five pointers) and the
/// `.BTF` describing them; returns one symbol per map, in the order of `maps`.
fn write_btf_maps(out: &mut Object<'_>, maps: &[MapSpec]) -> Vec<SymbolId> {
    if maps.is_empty() {
        return Vec::new();
    }
    let section = out.add_section(Vec::new(), b".maps".to_vec(), SectionKind::Data);
    let mut symbols = Vec::with_capacity(maps.len());
    for map in maps {
        let offset = out.append_section_data(section, &[0u8; btf::MAP_STRUCT_SIZE as usize], 8);
        symbols.push(out.add_symbol(Symbol {
            name: map.name.as_bytes().to_vec(),
            value: offset,
            size: u64::from(btf::MAP_STRUCT_SIZE),
            kind: SymbolKind::Data,
            scope: SymbolScope::Linkage,
            weak: false,
            section: SymbolSection::Section(section),
            flags: SymbolFlags::None,
        }));
    }
    symbols
}

/// The 20-byte `struct bpf_map_def` for `map`.
pub fn map_def(map: &MapSpec) -> [u8; MAP_DEF_SIZE] {
    let fields = [
        map.kind.type_id(),
        map.key_size,
        map.value_size,
        map.max_entries,
        map.flags,
    ];
    let mut def = [0u8; MAP_DEF_SIZE];
    for (chunk, field) in def.chunks_exact_mut(4).zip(fields) {
        chunk.copy_from_slice(&field.to_le_bytes());
    }
    def
}

fn check_names(obj: &ObjectSpec) -> Result<(), ElfError> {
    let mut seen = HashSet::new();
    let names = obj
        .programs
        .iter()
        .map(|p| &p.name)
        .chain(obj.maps.iter().map(|m| &m.name));
    for name in names {
        let valid =
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid {
            return Err(ElfError::InvalidName(name.clone()));
        }
        if !seen.insert(name.as_str()) {
            return Err(ElfError::DuplicateSymbol(name.clone()));
        }
    }
    Ok(())
}

/// A minimal BTF writer: just enough types to describe BTF-defined maps the way libbpf's
/// `__uint(name, value)` macro does (a member of type `int (*)[value]`).
pub mod btf {
    use crate::spec::{MapKind, MapSpec};

    /// Bytes of one map's struct in `.maps`: five pointer-sized members.
    pub const MAP_STRUCT_SIZE: u32 = 40;

    const MAGIC: u16 = 0xeb9f;
    const HEADER_LEN: u32 = 24;
    const KIND_INT: u32 = 1;
    const KIND_PTR: u32 = 2;
    const KIND_ARRAY: u32 = 3;
    const KIND_STRUCT: u32 = 4;
    const KIND_FUNC: u32 = 12;
    const KIND_FUNC_PROTO: u32 = 13;
    const KIND_VAR: u32 = 14;
    const FUNC_STATIC: u32 = 0;
    const FUNC_GLOBAL: u32 = 1;
    const EXT_HEADER_LEN: u32 = 32;
    const KIND_DATASEC: u32 = 15;
    const INT_SIGNED: u32 = 1 << 24;
    const VAR_GLOBAL: u32 = 1;

    #[derive(Default)]
    struct Builder {
        types: Vec<u8>,
        strings: Vec<u8>,
        count: u32,
    }

    impl Builder {
        fn new() -> Builder {
            Builder {
                strings: vec![0],
                ..Builder::default()
            }
        }
        fn string(&mut self, s: &str) -> u32 {
            let off = self.strings.len() as u32;
            self.strings.extend_from_slice(s.as_bytes());
            self.strings.push(0);
            off
        }
        fn u32(&mut self, v: u32) {
            self.types.extend_from_slice(&v.to_le_bytes());
        }
        /// Starts a type; returns its id (ids start at 1; 0 is `void`).
        fn head(&mut self, name: u32, kind: u32, vlen: u32, size_or_type: u32) -> u32 {
            self.u32(name);
            self.u32((kind << 24) | vlen);
            self.u32(size_or_type);
            self.count += 1;
            self.count
        }
        /// The signed 32-bit `int`.
        fn int(&mut self) -> u32 {
            let name = self.string("int");
            let id = self.head(name, KIND_INT, 0, 4);
            self.u32(INT_SIGNED | 32);
            id
        }
        /// `int (*)[n]`, the type libbpf reads a `__uint(_, n)` member's value from.
        fn uint_ptr(&mut self, int: u32, n: u32) -> u32 {
            let array = self.head(0, KIND_ARRAY, 0, 0);
            self.u32(int); // element type
            self.u32(int); // index type
            self.u32(n);
            self.head(0, KIND_PTR, 0, array)
        }
        fn finish(self) -> Vec<u8> {
            let type_len = self.types.len() as u32;
            let mut out =
                Vec::with_capacity(HEADER_LEN as usize + self.types.len() + self.strings.len());
            out.extend_from_slice(&MAGIC.to_le_bytes());
            out.push(1); // version
            out.push(0); // flags
            out.extend_from_slice(&HEADER_LEN.to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes()); // type_off
            out.extend_from_slice(&type_len.to_le_bytes());
            out.extend_from_slice(&type_len.to_le_bytes()); // str_off
            out.extend_from_slice(&(self.strings.len() as u32).to_le_bytes());
            out.extend_from_slice(&self.types);
            out.extend_from_slice(&self.strings);
            out
        }
    }

    /// One function in a section, for BTF function info.
    pub struct Func {
        /// Symbol name.
        pub name: String,
        /// Byte offset within its section.
        pub offset: u32,
        /// A static callback (`long cb(void *map, void *key, void *value, void *ctx)`) rather
        /// than a program (`int prog(void *ctx)`).
        pub callback: bool,
    }

    /// `.BTF` (maps when `maps` is given, plus a FUNC per function) and `.BTF.ext` with the
    /// function info the kernel requires when a program passes a callback to a helper.
    pub fn object_btf(
        maps: Option<&[MapSpec]>,
        sections: &[(String, Vec<Func>)],
    ) -> (Vec<u8>, Vec<u8>) {
        let mut b = Builder::new();
        let int = b.int();
        if let Some(maps) = maps {
            add_maps(&mut b, int, maps);
        }
        let (prog_proto, cb_proto) = protos(&mut b, int);
        let mut func_info = Vec::new();
        func_info.extend_from_slice(&8u32.to_le_bytes()); // record size
        for (section, funcs) in sections {
            let sec_name = b.string(section);
            func_info.extend_from_slice(&sec_name.to_le_bytes());
            func_info.extend_from_slice(&(funcs.len() as u32).to_le_bytes());
            for f in funcs {
                let name = b.string(&f.name);
                let (linkage, proto) = if f.callback {
                    (FUNC_STATIC, cb_proto)
                } else {
                    (FUNC_GLOBAL, prog_proto)
                };
                let id = b.head(name, KIND_FUNC, linkage, proto);
                func_info.extend_from_slice(&f.offset.to_le_bytes());
                func_info.extend_from_slice(&id.to_le_bytes());
            }
        }
        // No line info: an empty line-info section (a bare record size) makes libbpf reject the
        // whole .BTF.ext, while a zero length is read as "absent".
        let line_info: [u8; 0] = [];
        let mut ext = Vec::new();
        ext.extend_from_slice(&MAGIC.to_le_bytes());
        ext.push(1);
        ext.push(0);
        ext.extend_from_slice(&EXT_HEADER_LEN.to_le_bytes());
        ext.extend_from_slice(&0u32.to_le_bytes()); // func_info_off
        ext.extend_from_slice(&(func_info.len() as u32).to_le_bytes());
        ext.extend_from_slice(&(func_info.len() as u32).to_le_bytes()); // line_info_off
        ext.extend_from_slice(&(line_info.len() as u32).to_le_bytes());
        ext.extend_from_slice(&((func_info.len() + line_info.len()) as u32).to_le_bytes()); // core_relo_off
        ext.extend_from_slice(&0u32.to_le_bytes());
        ext.extend_from_slice(&func_info);
        ext.extend_from_slice(&line_info);
        (b.finish(), ext)
    }

    /// The two function prototypes: `int prog(void *ctx)` and
    /// `int cb(void *map, void *key, void *value, void *ctx)`.
    fn protos(b: &mut Builder, int: u32) -> (u32, u32) {
        let ptr = b.head(0, KIND_PTR, 0, 0);
        let ctx_name = b.string("ctx");
        let prog_proto = b.head(0, KIND_FUNC_PROTO, 1, int);
        b.u32(ctx_name);
        b.u32(ptr);
        let cb_params: Vec<u32> = ["map", "key", "value", "ctx"]
            .iter()
            .map(|n| b.string(n))
            .collect();
        let cb_proto = b.head(0, KIND_FUNC_PROTO, cb_params.len() as u32, int);
        for p in cb_params {
            b.u32(p);
            b.u32(ptr);
        }
        (prog_proto, cb_proto)
    }

    /// A standalone BTF blob with one FUNC per function, for loading a program with function
    /// info straight through bpf(2); returns the blob and each function's type id.
    pub fn funcs_btf(funcs: &[Func]) -> (Vec<u8>, Vec<u32>) {
        let mut b = Builder::new();
        let int = b.int();
        let (prog_proto, cb_proto) = protos(&mut b, int);
        let ids = funcs
            .iter()
            .map(|f| {
                let name = b.string(&f.name);
                let (linkage, proto) = if f.callback {
                    (FUNC_STATIC, cb_proto)
                } else {
                    (FUNC_GLOBAL, prog_proto)
                };
                b.head(name, KIND_FUNC, linkage, proto)
            })
            .collect();
        (b.finish(), ids)
    }

    /// Adds the types describing `maps` (for `.maps`) to `b`.
    fn add_maps(b: &mut Builder, int: u32, maps: &[MapSpec]) {
        let mut vars = Vec::with_capacity(maps.len());
        for map in maps {
            let mut members = vec![("type", map.kind.type_id())];
            if map.kind != MapKind::RingBuf {
                members.push(("key_size", map.key_size));
                members.push(("value_size", map.value_size));
            }
            members.push(("max_entries", map.max_entries));
            if map.flags != 0 {
                members.push(("map_flags", map.flags));
            }
            let ptrs: Vec<u32> = members.iter().map(|(_, v)| b.uint_ptr(int, *v)).collect();
            let names: Vec<u32> = members.iter().map(|(n, _)| b.string(n)).collect();
            let def = b.head(0, KIND_STRUCT, members.len() as u32, MAP_STRUCT_SIZE);
            for (i, (name, ty)) in names.iter().zip(&ptrs).enumerate() {
                b.u32(*name);
                b.u32(*ty);
                b.u32(i as u32 * 64); // bit offset
            }
            let var_name = b.string(&map.name);
            let var = b.head(var_name, KIND_VAR, 0, def);
            b.u32(VAR_GLOBAL);
            vars.push(var);
        }
        let sec_name = b.string(".maps");
        let _ = b.head(
            sec_name,
            KIND_DATASEC,
            vars.len() as u32,
            vars.len() as u32 * MAP_STRUCT_SIZE,
        );
        for (i, var) in vars.iter().enumerate() {
            b.u32(*var);
            b.u32(i as u32 * MAP_STRUCT_SIZE);
            b.u32(MAP_STRUCT_SIZE);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::spec::{AttachPoint, MapKind, MapReloc, MapRole, ProgramSpec};
    use kestrel_isa::{Insn, Reg};

    fn map(name: &str, kind: MapKind) -> MapSpec {
        MapSpec {
            name: name.into(),
            kind,
            key_size: 8,
            value_size: 16,
            max_entries: 1024,
            flags: 0,
            role: MapRole::Scratch,
        }
    }

    fn prog(name: &str, attach: AttachPoint, map: Option<usize>) -> ProgramSpec {
        let mut insns = vec![Insn::mov64_imm(Reg::R0, 0)];
        let mut map_relocs = vec![];
        if let Some(map) = map {
            map_relocs.push(MapReloc { insn: 1, map });
            insns.extend(Insn::ld_map_fd(Reg::R1, 0));
        }
        insns.push(Insn::exit());
        let insn_spans = vec![None; insns.len()];
        ProgramSpec {
            name: name.into(),
            probe: name.into(),
            attach,
            insns,
            map_relocs,
            insn_spans,
        }
    }

    fn sample() -> ObjectSpec {
        let tp = AttachPoint::Tracepoint {
            category: "syscalls".into(),
            name: "sys_enter_getppid".into(),
        };
        ObjectSpec {
            programs: vec![
                prog("begin", AttachPoint::Begin, Some(1)),
                prog("tp_a", tp.clone(), Some(0)),
                prog("tp_b", tp, Some(1)),
                prog("end", AttachPoint::End, None),
            ],
            maps: vec![
                map("counts", MapKind::Hash),
                map("events", MapKind::RingBuf),
            ],
            printfs: vec![],
            ..Default::default()
        }
    }

    #[test]
    fn rejects_bad_input() {
        let mut obj = sample();
        obj.programs[1].map_relocs[0].insn = 0;
        assert!(matches!(
            write_elf(&obj),
            Err(ElfError::BadRelocInsn { insn: 0, .. })
        ));

        let mut obj = sample();
        obj.programs[1].map_relocs[0].map = 7;
        assert!(matches!(
            write_elf(&obj),
            Err(ElfError::BadRelocMap { map: 7, .. })
        ));

        let mut obj = sample();
        obj.maps[0].name = "tp_a".into();
        assert!(matches!(write_elf(&obj), Err(ElfError::DuplicateSymbol(_))));

        let mut obj = sample();
        obj.programs[0].name = "a-b".into();
        assert!(matches!(write_elf(&obj), Err(ElfError::InvalidName(_))));

        let mut obj = sample();
        obj.programs[0].insns.clear();
        assert!(matches!(write_elf(&obj), Err(ElfError::EmptyProgram(_))));
    }

    #[test]
    fn map_def_is_little_endian_fields() {
        let def = map_def(&map("m", MapKind::PerCpuHash));
        assert_eq!(def[0..4], 5u32.to_le_bytes());
        assert_eq!(def[4..8], 8u32.to_le_bytes());
        assert_eq!(def[8..12], 16u32.to_le_bytes());
        assert_eq!(def[12..16], 1024u32.to_le_bytes());
        assert_eq!(def[16..20], 0u32.to_le_bytes());
    }
}
