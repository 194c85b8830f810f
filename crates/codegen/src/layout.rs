//! How script maps, printf records and their fields are laid out in bytes.

use kestrel_lang::ir::{MapDecl, MapValue, PrintfDecl};
use kestrel_lang::Type;

/// A stack map of the object: (user?, depth) and its index in `ObjectSpec::maps`.
pub(crate) type StackMapRef = ((bool, u8), usize);

use crate::object::{
    Field, MapKind, MapRole, MapSpec, PrintfSpec, ScalarType, UserMapLayout, ValueKind,
};

/// Entries a script map holds before updates fail (bpftrace's default).
pub(crate) const MAP_ENTRIES: u32 = 4096;
/// Ring buffer size in bytes.
pub(crate) const RINGBUF_BYTES: u32 = 1 << 20;

/// Bytes a value of `ty` takes in a key, value or record: integers are widened to 8 bytes and
/// strings rounded up to 8 so every field stays aligned.
pub(crate) fn slot_size(ty: Type) -> u32 {
    ty.storage_size().div_ceil(8) * 8
}

/// The wire type of a language type.
pub(crate) fn scalar(ty: Type, tuples: &[Vec<Type>]) -> ScalarType {
    match ty {
        Type::Tuple { id, size } => {
            let mut offset = 0;
            let mut fields = Vec::new();
            for &t in tuples.get(id as usize).map(Vec::as_slice).unwrap_or(&[]) {
                fields.push(Field {
                    offset,
                    ty: scalar(t, tuples),
                });
                offset += slot_size(t);
            }
            ScalarType::Tuple { fields, size }
        }
        Type::Int { signed, .. } => ScalarType::Int { size: 8, signed },
        Type::Str { len } => ScalarType::Str { len },
        Type::Ptr { .. } | Type::Record { .. } => ScalarType::Int {
            size: 8,
            signed: false,
        },
        Type::Inet => ScalarType::Inet,
        Type::Username => ScalarType::Username,
        Type::Errno => ScalarType::Errno,
        Type::Mac => ScalarType::Mac,
        Type::Buf { len } => ScalarType::Buf { len },
        Type::KStack { depth, mode } => ScalarType::KStack { depth, mode },
        Type::UStack { depth, mode } => ScalarType::UStack { depth, mode },
        Type::Ksym => ScalarType::Ksym,
        Type::Usym => ScalarType::Usym,
        Type::Timestamp { id } => ScalarType::Timestamp { id },
        Type::Void => ScalarType::Int {
            size: 8,
            signed: false,
        },
    }
}

/// Everything the code generator needs to know about one script map.
#[derive(Clone, Debug)]
pub(crate) struct MapLayout {
    /// Index of the map in the object.
    pub index: usize,
    pub kind: MapKind,
    pub value: MapValue,
    /// Offsets of the user key components within the key.
    pub key_fields: Vec<(u32, Type)>,
    /// Offset of the trailing bucket index (hist/lhist).
    pub bucket_offset: Option<u32>,
    pub key_size: u32,
    pub value_size: u32,
}

/// Lay out `decl` as map number `index`.
pub(crate) fn map_layout(
    decl: &MapDecl,
    index: usize,
    tuples: &[Vec<Type>],
) -> (MapLayout, MapSpec) {
    let mut offset = 0;
    let mut key_fields = Vec::new();
    for &ty in &decl.keys {
        key_fields.push((offset, ty));
        offset += slot_size(ty);
    }
    let bucket_offset = match decl.value {
        MapValue::Hist | MapValue::Lhist { .. } => {
            let at = offset;
            offset += 8;
            Some(at)
        }
        _ => None,
    };
    // A scalar map has one element, keyed by a zero u64.
    let key_size = offset.max(8);
    let (value_size, value_kind) = match decl.value {
        MapValue::Scalar(ty) => (slot_size(ty), ValueKind::Scalar(scalar(ty, tuples))),
        MapValue::Count => (8, ValueKind::Count),
        MapValue::Sum => (8, ValueKind::Sum),
        MapValue::Min => (16, ValueKind::Min),
        MapValue::Max => (16, ValueKind::Max),
        MapValue::Avg => (16, ValueKind::Avg),
        MapValue::Stats => (16, ValueKind::Stats),
        MapValue::Hist => (8, ValueKind::Hist),
        MapValue::Lhist { min, max, step } => (8, ValueKind::Lhist { min, max, step }),
    };
    // Per-CPU copies avoid cache-line contention; an aggregation the script reads back in the
    // kernel must be one shared, atomically updated copy to read the true total.
    let kind = match decl.value {
        MapValue::Scalar(_) => MapKind::Hash,
        MapValue::Count | MapValue::Sum if decl.read_in_kernel => MapKind::Hash,
        _ => MapKind::PerCpuHash,
    };
    let display = format!("@{}", decl.name);
    let spec = MapSpec {
        name: map_symbol(&decl.name, index),
        kind,
        key_size,
        value_size,
        max_entries: decl.max_entries.unwrap_or(MAP_ENTRIES),
        flags: 0,
        role: MapRole::User(UserMapLayout {
            display,
            keys: key_fields
                .iter()
                .map(|&(offset, ty)| Field {
                    offset,
                    ty: scalar(ty, tuples),
                })
                .collect(),
            value: value_kind,
        }),
    };
    let layout = MapLayout {
        index,
        kind,
        value: decl.value,
        key_fields,
        bucket_offset,
        key_size,
        value_size,
    };
    (layout, spec)
}

/// A kernel-friendly map name: `m<index>_<name>` cut to 15 bytes of `[A-Za-z0-9_]`.
fn map_symbol(name: &str, index: usize) -> String {
    let clean: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let mut s = format!("m{index}_{clean}");
    s.truncate(15);
    s
}

/// The ring buffer map carrying events.
pub(crate) fn events_map() -> MapSpec {
    MapSpec {
        name: "events".into(),
        kind: MapKind::RingBuf,
        key_size: 0,
        value_size: 0,
        max_entries: RINGBUF_BYTES,
        flags: 0,
        role: MapRole::Events,
    }
}

/// Record layout of a printf call: 8-byte event id, then each argument in its slot.
pub(crate) fn printf_layout(decl: &PrintfDecl, tuples: &[Vec<Type>]) -> PrintfSpec {
    let mut offset = 8;
    let mut args = Vec::with_capacity(decl.args.len());
    for &ty in &decl.args {
        args.push(Field {
            offset,
            ty: scalar(ty, tuples),
        });
        offset += slot_size(ty);
    }
    PrintfSpec {
        format: decl.format.clone(),
        args,
        record_size: offset,
    }
}

/// The per-CPU counter of events the ring buffer had no room for.
pub(crate) fn lost_events_map() -> MapSpec {
    MapSpec {
        name: "lost".into(),
        kind: MapKind::PerCpuArray,
        key_size: 4,
        value_size: 8,
        max_entries: 1,
        flags: 0,
        role: MapRole::LostEvents,
    }
}

/// The flag `exit()` sets so that probes stop counting before userspace has detached them.
pub(crate) fn exit_flag_map() -> MapSpec {
    MapSpec {
        name: "exiting".into(),
        kind: MapKind::Array,
        key_size: 4,
        value_size: 8,
        max_entries: 1,
        flags: 0,
        role: MapRole::ExitFlag,
    }
}

/// True when some probe of `program` calls `exit()`.
pub(crate) fn uses_exit(program: &kestrel_lang::ir::Program) -> bool {
    fn any_exit(stmts: &[kestrel_lang::ir::Stmt]) -> bool {
        stmts.iter().any(|s| match &s.kind {
            kestrel_lang::ir::StmtKind::Exit => true,
            kestrel_lang::ir::StmtKind::If {
                then, otherwise, ..
            } => any_exit(then) || any_exit(otherwise),
            kestrel_lang::ir::StmtKind::While { body, .. }
            | kestrel_lang::ir::StmtKind::ForMap { body, .. } => any_exit(body),
            _ => false,
        })
    }
    program.probes.iter().any(|p| any_exit(&p.body))
}

/// The per-CPU counters of updates each script map dropped because it was full, indexed by
/// the map's index in the object (script maps come first, so `user_maps` entries suffice).
pub(crate) fn map_full_map(user_maps: usize) -> MapSpec {
    MapSpec {
        name: "mapfull".into(),
        kind: MapKind::PerCpuArray,
        key_size: 4,
        value_size: 8,
        max_entries: user_maps.max(1) as u32,
        flags: 0,
        role: MapRole::MapFull,
    }
}
