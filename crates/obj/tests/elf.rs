//! The ELF writer's output (`--emit-obj`), read back by the `object` crate; libbpf's reading
//! of it is checked with `bpftool prog loadall` in crates/kestrel/tests.
#![allow(clippy::unwrap_used)]

use kestrel_isa::{Insn, Reg};
use kestrel_obj::elf::write_elf;
use kestrel_obj::{AttachPoint, MapKind, MapReloc, MapRole, MapSpec, ObjectSpec, ProgramSpec};
use object::read::{File, Object as _, ObjectSection as _, ObjectSymbol as _};
use object::{elf, RelocationFlags, RelocationTarget, SectionKind, SymbolKind};

fn map(name: &str, kind: MapKind) -> MapSpec {
    MapSpec {
        name: name.into(),
        kind,
        key_size: if kind == MapKind::RingBuf { 0 } else { 8 },
        value_size: if kind == MapKind::RingBuf { 0 } else { 16 },
        max_entries: 4096,
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
    ProgramSpec {
        name: name.into(),
        probe: name.into(),
        attach,
        insn_spans: vec![None; insns.len()],
        insns,
        map_relocs,
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
            prog("tick", AttachPoint::Interval { period_ns: 1000 }, None),
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
fn sections_symbols_and_relocations() {
    let bytes = write_elf(&sample()).unwrap();
    let file = File::parse(&*bytes).unwrap();
    assert_eq!(file.architecture(), object::Architecture::Bpf);
    assert!(file.is_little_endian());
    assert_eq!(file.kind(), object::ObjectKind::Relocatable);

    let license = file.section_by_name("license").unwrap();
    assert_eq!(license.data().unwrap(), b"GPL\0");

    let maps = file.section_by_name("maps").unwrap();
    assert_eq!(maps.size(), 40);
    let data = maps.data().unwrap();
    assert_eq!(data[0..4], 1u32.to_le_bytes());
    assert_eq!(data[20..24], 27u32.to_le_bytes());
    assert_eq!(data[32..36], 4096u32.to_le_bytes());

    // The two tracepoint programs share a section, so do BEGIN and END.
    let tp = file
        .section_by_name("tracepoint/syscalls/sys_enter_getppid")
        .unwrap();
    assert_eq!(tp.size(), 2 * 4 * 8);
    assert_eq!(tp.kind(), SectionKind::Text);
    let once = file.section_by_name("raw_tracepoint/kestrel_once").unwrap();
    assert_eq!(once.size(), (4 + 2) * 8);
    assert!(file.section_by_name("perf_event").is_some());

    let sym = |n: &str| file.symbols().find(|s| s.name() == Ok(n)).unwrap();
    let tp_b = sym("tp_b");
    assert_eq!(tp_b.kind(), SymbolKind::Text);
    assert!(tp_b.is_global());
    assert_eq!((tp_b.address(), tp_b.size()), (32, 32));
    assert_eq!(tp_b.section_index(), Some(tp.index()));
    let events = sym("events");
    assert_eq!((events.address(), events.size()), (20, 20));
    assert_eq!(events.kind(), SymbolKind::Data);

    let relocs: Vec<_> = tp.relocations().collect();
    assert_eq!(relocs.len(), 2);
    let (off, rel) = &relocs[1];
    let off = *off;
    assert_eq!(off, 32 + 8);
    assert_eq!(rel.addend(), 0);
    assert_eq!(
        rel.flags(),
        RelocationFlags::Elf {
            r_type: elf::R_BPF_64_64
        }
    );
    assert_eq!(rel.target(), RelocationTarget::Symbol(events.index()));
    // The ld_imm64 survives untouched (opcode 0x18, dst r1, src BPF_PSEUDO_MAP_FD).
    let code = tp.data().unwrap();
    assert_eq!(code[40..42], [0x18, 0x11]);
}

#[test]
fn btf_defined_maps_have_their_sections() {
    use kestrel_obj::elf::{write_elf_with, MapStyle};
    let bytes = write_elf_with(&sample(), MapStyle::Btf).unwrap();
    let file = File::parse(&*bytes).unwrap();
    assert!(file.section_by_name("maps").is_none());
    assert_eq!(file.section_by_name(".maps").unwrap().size(), 80);
    assert!(file.section_by_name(".BTF").is_some());
}
