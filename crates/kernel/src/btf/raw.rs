//! The BTF wire format: header, type records and string section, read with bounds checks.
//!
//! Layout (all offsets in the header are relative to the end of the header):
//! `magic:u16=0xeB9F version:u8=1 flags:u8 hdr_len:u32 type_off:u32 type_len:u32
//! str_off:u32 str_len:u32`, then type records of `name_off:u32 info:u32 size_or_type:u32`
//! followed by kind-specific data.

use super::types::{BtfType, Enumerator, Member, Param, TypeId, VarSecInfo};
use crate::KernelError;

const MAGIC: u16 = 0xeb9f;
const MIN_HEADER_LEN: usize = 24;

/// A validated header: absolute byte ranges of both sections.
#[derive(Clone, Copy, Debug)]
pub(super) struct Header {
    pub big_endian: bool,
    pub type_start: usize,
    pub type_end: usize,
    pub str_start: usize,
    pub str_end: usize,
}

fn bad(msg: impl Into<String>) -> KernelError {
    KernelError::BadBtf(msg.into())
}

impl Header {
    pub(super) fn parse(data: &[u8]) -> Result<Header, KernelError> {
        let magic = data
            .get(0..2)
            .ok_or_else(|| bad(format!("{} bytes is too short for a header", data.len())))?;
        let big_endian = if u16::from_le_bytes([magic[0], magic[1]]) == MAGIC {
            false
        } else if u16::from_be_bytes([magic[0], magic[1]]) == MAGIC {
            true
        } else {
            return Err(bad(format!(
                "bad magic {:#04x}{:02x} (expected 0xeb9f)",
                magic[0], magic[1]
            )));
        };
        let r = Reader::new(data, big_endian);
        let version = r.u8(2).ok_or_else(|| bad("truncated header"))?;
        if version != 1 {
            return Err(bad(format!("unsupported version {version}")));
        }
        let field = |at: usize| {
            r.u32(at)
                .map(|v| v as usize)
                .ok_or_else(|| bad("truncated header"))
        };
        let hdr_len = field(4)?;
        if hdr_len < MIN_HEADER_LEN || hdr_len > data.len() {
            return Err(bad(format!("bad header length {hdr_len}")));
        }
        let section =
            |off_at: usize, len_at: usize, what: &str| -> Result<(usize, usize), KernelError> {
                let start = hdr_len
                    .checked_add(field(off_at)?)
                    .ok_or_else(|| bad(format!("{what} section offset overflows")))?;
                let end = start
                    .checked_add(field(len_at)?)
                    .ok_or_else(|| bad(format!("{what} section length overflows")))?;
                if end > data.len() {
                    return Err(bad(format!(
                        "{what} section [{start}, {end}) runs past the end ({} bytes)",
                        data.len()
                    )));
                }
                Ok((start, end))
            };
        let (type_start, type_end) = section(8, 12, "type")?;
        let (str_start, str_end) = section(16, 20, "string")?;
        if str_end > str_start && data.get(str_start) != Some(&0) {
            return Err(bad("string section does not start with an empty string"));
        }
        Ok(Header {
            big_endian,
            type_start,
            type_end,
            str_start,
            str_end,
        })
    }
}

/// Bounds-checked integer reads in the blob's byte order.
#[derive(Clone, Copy)]
pub(super) struct Reader<'a> {
    data: &'a [u8],
    big_endian: bool,
}

impl<'a> Reader<'a> {
    pub(super) fn new(data: &'a [u8], big_endian: bool) -> Self {
        Reader { data, big_endian }
    }

    pub(super) fn u8(&self, at: usize) -> Option<u8> {
        self.data.get(at).copied()
    }

    pub(super) fn u32(&self, at: usize) -> Option<u32> {
        let b: [u8; 4] = self.data.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }
}

/// Kind-specific bytes after the 12-byte common record, or `None` for unknown kinds.
fn extra_len(kind: u32, vlen: usize) -> Option<usize> {
    Some(match kind {
        1 | 14 | 17 => 4,             // INT encoding, VAR linkage, DECL_TAG component
        3 => 12,                      // ARRAY
        4 | 5 | 15 | 19 => 12 * vlen, // members, datasec vars, enum64 values
        6 | 13 => 8 * vlen,           // enum values, params
        2 | 7..=12 | 16 | 18 => 0,
        _ => return None,
    })
}

/// Walks the type section once, returning each record's absolute start offset.
pub(super) fn index_types(data: &[u8], h: &Header) -> Result<Vec<u32>, KernelError> {
    let r = Reader::new(data, h.big_endian);
    let mut offsets = Vec::new();
    let mut off = h.type_start;
    while off < h.type_end {
        let info = r
            .u32(off + 4)
            .filter(|_| off + 12 <= h.type_end)
            .ok_or_else(|| {
                bad(format!(
                    "type {} truncated at byte {off}",
                    offsets.len() + 1
                ))
            })?;
        let kind = (info >> 24) & 0x1f;
        let vlen = (info & 0xffff) as usize;
        let extra = extra_len(kind, vlen).ok_or_else(|| {
            bad(format!(
                "type {} has unknown kind {kind} at byte {off}",
                offsets.len() + 1
            ))
        })?;
        let start = u32::try_from(off).map_err(|_| bad("BTF larger than 4 GiB"))?;
        offsets.push(start);
        off = off + 12 + extra;
    }
    if off != h.type_end {
        return Err(bad(format!(
            "last type record runs past the type section ({off} > {})",
            h.type_end
        )));
    }
    Ok(offsets)
}

/// The NUL-terminated string at `name_off` in the string section.
pub(super) fn string_at<'a>(data: &'a [u8], h: &Header, name_off: u32) -> Option<&'a str> {
    let start = h.str_start.checked_add(name_off as usize)?;
    let section = data.get(start..h.str_end)?;
    let len = section.iter().position(|&b| b == 0)?;
    std::str::from_utf8(&section[..len]).ok()
}

/// Decodes the record at `off` (already known to lie within the type section).
pub(super) fn decode(r: &Reader<'_>, off: usize, name: impl Fn(u32) -> String) -> Option<BtfType> {
    let name_off = r.u32(off)?;
    let info = r.u32(off + 4)?;
    let size_or_type = r.u32(off + 8)?;
    let kind = (info >> 24) & 0x1f;
    let vlen = (info & 0xffff) as usize;
    let kind_flag = info >> 31 == 1;
    let extra = off + 12;
    let target = TypeId(size_or_type);
    let ty = match kind {
        1 => {
            let enc = r.u32(extra)?;
            BtfType::Int {
                name: name(name_off),
                size: size_or_type,
                signed: (enc >> 24) & 1 != 0,
                is_char: (enc >> 24) & 2 != 0,
                is_bool: (enc >> 24) & 4 != 0,
                bit_offset: (enc >> 16) & 0xff,
                bits: enc & 0xff,
            }
        }
        2 => BtfType::Ptr { target },
        3 => BtfType::Array {
            elem: TypeId(r.u32(extra)?),
            index: TypeId(r.u32(extra + 4)?),
            nelems: r.u32(extra + 8)?,
        },
        4 | 5 => {
            let members = (0..vlen)
                .map(|i| {
                    let m = extra + 12 * i;
                    let raw_off = r.u32(m + 8)?;
                    // With kind_flag, the offset word packs bitfield size (high 8 bits)
                    // and bit offset (low 24 bits).
                    let (bit_offset, bitfield_size) = if kind_flag {
                        (raw_off & 0x00ff_ffff, raw_off >> 24)
                    } else {
                        (raw_off, 0)
                    };
                    Some(Member {
                        name: name(r.u32(m)?),
                        type_id: TypeId(r.u32(m + 4)?),
                        bit_offset,
                        bitfield_size,
                    })
                })
                .collect::<Option<Vec<_>>>()?;
            let (name, size) = (name(name_off), size_or_type);
            if kind == 4 {
                BtfType::Struct {
                    name,
                    size,
                    members,
                }
            } else {
                BtfType::Union {
                    name,
                    size,
                    members,
                }
            }
        }
        6 | 19 => {
            let stride = if kind == 6 { 8 } else { 12 };
            let values = (0..vlen)
                .map(|i| {
                    let e = extra + stride * i;
                    let lo = r.u32(e + 4)?;
                    let value = if kind == 6 {
                        if kind_flag {
                            i64::from(lo as i32)
                        } else {
                            i64::from(lo)
                        }
                    } else {
                        let hi = r.u32(e + 8)?;
                        ((u64::from(hi) << 32) | u64::from(lo)) as i64
                    };
                    Some(Enumerator {
                        name: name(r.u32(e)?),
                        value,
                    })
                })
                .collect::<Option<Vec<_>>>()?;
            BtfType::Enum {
                name: name(name_off),
                size: size_or_type,
                signed: kind_flag,
                is64: kind == 19,
                values,
            }
        }
        7 => BtfType::Fwd {
            name: name(name_off),
            is_union: kind_flag,
        },
        8 => BtfType::Typedef {
            name: name(name_off),
            target,
        },
        9 => BtfType::Volatile { target },
        10 => BtfType::Const { target },
        11 => BtfType::Restrict { target },
        12 => BtfType::Func {
            name: name(name_off),
            proto: target,
            linkage: info & 0xffff,
        },
        13 => {
            let mut params = (0..vlen)
                .map(|i| {
                    let p = extra + 8 * i;
                    Some(Param {
                        name: name(r.u32(p)?),
                        type_id: TypeId(r.u32(p + 4)?),
                    })
                })
                .collect::<Option<Vec<_>>>()?;
            // A trailing nameless void parameter marks `...`.
            let variadic = params
                .last()
                .is_some_and(|p| p.name.is_empty() && p.type_id == TypeId::VOID);
            if variadic {
                params.pop();
            }
            BtfType::FuncProto {
                ret: target,
                params,
                variadic,
            }
        }
        14 => BtfType::Var {
            name: name(name_off),
            type_id: target,
            linkage: r.u32(extra)?,
        },
        15 => {
            let vars = (0..vlen)
                .map(|i| {
                    let v = extra + 12 * i;
                    Some(VarSecInfo {
                        type_id: TypeId(r.u32(v)?),
                        offset: r.u32(v + 4)?,
                        size: r.u32(v + 8)?,
                    })
                })
                .collect::<Option<Vec<_>>>()?;
            BtfType::Datasec {
                name: name(name_off),
                size: size_or_type,
                vars,
            }
        }
        16 => BtfType::Float {
            name: name(name_off),
            size: size_or_type,
        },
        17 => BtfType::DeclTag {
            name: name(name_off),
            target,
            component_idx: r.u32(extra)? as i32,
        },
        18 => BtfType::TypeTag {
            name: name(name_off),
            target,
        },
        _ => return None,
    };
    Some(ty)
}
