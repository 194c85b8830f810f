//! HPACK (RFC 7541) decoding with a per-direction dynamic table.
//!
//! The decoder may start in the middle of a connection. Then the dynamic table holds entries
//! inserted before we looked, which we cannot know. What we can know: entries are indexed
//! newest first, so the entries inserted since we started are exactly the lowest dynamic
//! indexes, in order. A reference to one of them is right; a reference past them is
//! *unknown* (not an error, not a guess). Evicting too early or too late never makes a
//! value wrong either: the peer only references entries it still has, which are a prefix of
//! ours. After any bytes of a direction are lost, every known entry becomes unknown.

use super::huffman;

/// Entries 1..=61 of the static table (RFC 7541 Appendix A).
pub const STATIC_TABLE: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

/// Per-entry overhead RFC 7541 4.1 counts on top of name and value lengths.
const ENTRY_OVERHEAD: usize = 32;

/// Longest string accepted in a header block (a longer one is an error).
const MAX_STRING: usize = 64 * 1024;

/// Why a header block did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HpackError {
    /// The block ended inside a representation.
    #[error("header block ends inside a field")]
    Truncated,
    /// An integer too large to be real.
    #[error("integer overflow")]
    Overflow,
    /// Index 0, or past the tables of a decoder that saw the connection from its start.
    #[error("bad index {0}")]
    BadIndex(usize),
    /// A Huffman string that does not decode.
    #[error(transparent)]
    Huffman(#[from] huffman::HuffmanError),
    /// A dynamic table size update above the limit SETTINGS allowed.
    #[error("table size update to {size} above the limit {limit}")]
    SizeUpdate {
        /// The size asked for.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A size update that is not at the start of a block.
    #[error("table size update after a field")]
    LateSizeUpdate,
    /// A string longer than the decoder accepts.
    #[error("string of {0} bytes")]
    TooLong(usize),
}

/// A decoded name or value: known bytes, or unknown (it came from a dynamic entry
/// inserted before the decoder started).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Slot {
    /// The bytes.
    Known(Vec<u8>),
    /// Not knowable.
    Unknown,
}

impl Slot {
    /// The bytes, when known.
    pub fn known(&self) -> Option<&[u8]> {
        match self {
            Slot::Known(v) => Some(v),
            Slot::Unknown => None,
        }
    }
}

/// One decoded header field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// The name.
    pub name: Slot,
    /// The value.
    pub value: Slot,
}

#[derive(Clone, Debug)]
struct Entry {
    name: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
}

impl Entry {
    fn size(&self) -> usize {
        self.name.as_ref().map_or(0, Vec::len)
            + self.value.as_ref().map_or(0, Vec::len)
            + ENTRY_OVERHEAD
    }
}

/// A decoder for the header blocks of one direction of one connection.
#[derive(Clone, Debug)]
pub struct Decoder {
    /// Newest first.
    entries: std::collections::VecDeque<Entry>,
    size: usize,
    /// The table's current maximum (set by size updates; 4096 at the start).
    max_size: usize,
    /// The largest size update allowed (the receiver's SETTINGS_HEADER_TABLE_SIZE).
    limit: usize,
    /// Most bytes this decoder will hold, whatever the peer says.
    cap: usize,
    /// True when every entry of the table is known (the decoder saw the start).
    complete: bool,
}

impl Decoder {
    /// A decoder at the start of a connection (every reference must resolve), holding at
    /// most `cap` bytes of table.
    pub fn new(cap: usize) -> Decoder {
        Decoder {
            entries: Default::default(),
            size: 0,
            max_size: 4096,
            limit: 4096,
            cap,
            complete: true,
        }
    }

    /// A decoder started mid-connection: references past what it saw inserted are unknown.
    pub fn mid_stream(cap: usize) -> Decoder {
        Decoder {
            complete: false,
            limit: usize::MAX,
            ..Decoder::new(cap)
        }
    }

    /// True when the decoder knows the whole table.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// Bytes of the entries held, as RFC 7541 counts them.
    pub fn table_size(&self) -> usize {
        self.size
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True with no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Heap bytes held (approximate).
    pub fn memory(&self) -> usize {
        self.size + self.entries.capacity() * std::mem::size_of::<Entry>()
    }

    /// The receiver announced SETTINGS_HEADER_TABLE_SIZE `n`: size updates up to it are allowed.
    pub fn set_limit(&mut self, n: usize) {
        // Until the SETTINGS is acknowledged either value may be in force: allow the larger.
        // A smaller one makes the encoder send a size update, which shrinks the table then.
        self.limit = self.limit.max(n);
    }

    /// A decoder at the start of a connection whose table maximum is `size` from the outset
    /// (both peers agreed on it before the first block, as in RFC 7541 C.5 and C.6).
    pub fn with_table_size(cap: usize, size: usize) -> Decoder {
        Decoder {
            max_size: size,
            limit: size,
            ..Decoder::new(cap)
        }
    }

    /// The decoder turns out not to have seen the start: references past its entries are
    /// unknown from now on (its entries stay right).
    pub fn set_incomplete(&mut self) {
        self.complete = false;
    }

    /// Bytes of this direction were lost: everything in the table becomes unknown.
    pub fn forget(&mut self) {
        self.entries.clear();
        self.size = 0;
        self.complete = false;
        self.limit = usize::MAX;
    }

    /// Decode one complete header block (after CONTINUATION frames are joined).
    pub fn decode(&mut self, block: &[u8]) -> Result<Vec<Field>, HpackError> {
        let r = self.decode_inner(block);
        if r.is_err() {
            // Insertions of the failed block are unknown from here on.
            self.forget();
        }
        r
    }

    fn decode_inner(&mut self, mut b: &[u8]) -> Result<Vec<Field>, HpackError> {
        let mut out = Vec::new();
        let mut fields_seen = false;
        while let Some(&first) = b.first() {
            if first & 0x80 != 0 {
                let (idx, rest) = integer(b, 7)?;
                b = rest;
                let (name, value) = self.lookup(idx)?;
                out.push(Field { name, value });
                fields_seen = true;
            } else if first & 0xe0 == 0x20 {
                if fields_seen {
                    return Err(HpackError::LateSizeUpdate);
                }
                let (size, rest) = integer(b, 5)?;
                b = rest;
                if size > self.limit {
                    return Err(HpackError::SizeUpdate {
                        size,
                        limit: self.limit,
                    });
                }
                self.max_size = size;
                if size == 0 {
                    // Everything is evicted, including what we never saw.
                    self.entries.clear();
                    self.size = 0;
                    self.complete = true;
                }
                self.evict(0);
            } else {
                let (prefix, index) = if first & 0xc0 == 0x40 {
                    (6, true)
                } else {
                    (4, false)
                };
                let (idx, rest) = integer(b, prefix)?;
                b = rest;
                let name = if idx == 0 {
                    let (s, rest) = string(b)?;
                    b = rest;
                    Slot::Known(s)
                } else {
                    self.lookup(idx)?.0
                };
                let (value, rest) = string(b)?;
                b = rest;
                if index {
                    self.insert(Entry {
                        name: name.known().map(<[u8]>::to_vec),
                        value: Some(value.clone()),
                    });
                }
                out.push(Field {
                    name,
                    value: Slot::Known(value),
                });
                fields_seen = true;
            }
        }
        Ok(out)
    }

    fn lookup(&self, idx: usize) -> Result<(Slot, Slot), HpackError> {
        if idx == 0 {
            return Err(HpackError::BadIndex(0));
        }
        if idx <= STATIC_TABLE.len() {
            let (n, v) = STATIC_TABLE[idx - 1];
            return Ok((
                Slot::Known(n.as_bytes().to_vec()),
                Slot::Known(v.as_bytes().to_vec()),
            ));
        }
        let slot = |v: &Option<Vec<u8>>| v.clone().map_or(Slot::Unknown, Slot::Known);
        match self.entries.get(idx - STATIC_TABLE.len() - 1) {
            Some(e) => Ok((slot(&e.name), slot(&e.value))),
            None if self.complete => Err(HpackError::BadIndex(idx)),
            None => Ok((Slot::Unknown, Slot::Unknown)),
        }
    }

    fn insert(&mut self, e: Entry) {
        let size = e.size();
        self.evict(size);
        if size > self.max_size.min(self.cap) {
            // An entry larger than the table empties it (RFC 7541 4.4).
            self.entries.clear();
            self.size = 0;
            if size <= self.max_size {
                // The peer keeps it but we do not: references to it become unknown.
                self.complete = false;
            }
            return;
        }
        self.size += size;
        self.entries.push_front(e);
    }

    /// Evict oldest entries until `extra` more bytes fit.
    fn evict(&mut self, extra: usize) {
        let max = self.max_size.min(self.cap);
        while self.size + extra > max {
            let Some(old) = self.entries.pop_back() else {
                break;
            };
            self.size -= old.size();
            if self.max_size > self.cap {
                // Evicted for our cap, not the peer's: it may still be referenced.
                self.complete = false;
            }
        }
    }
}

/// An HPACK integer with an `n`-bit prefix at the start of `b`.
fn integer(b: &[u8], n: u32) -> Result<(usize, &[u8]), HpackError> {
    let first = *b.first().ok_or(HpackError::Truncated)?;
    let mask = (1u16 << n) as usize - 1;
    let mut v = usize::from(first) & mask;
    if v < mask {
        return Ok((v, &b[1..]));
    }
    let mut shift = 0u32;
    for (i, &byte) in b[1..].iter().enumerate() {
        if shift > 28 {
            return Err(HpackError::Overflow);
        }
        v = v
            .checked_add(usize::from(byte & 0x7f) << shift)
            .ok_or(HpackError::Overflow)?;
        shift += 7;
        if byte & 0x80 == 0 {
            return Ok((v, &b[i + 2..]));
        }
    }
    Err(HpackError::Truncated)
}

/// An HPACK string literal at the start of `b`.
fn string(b: &[u8]) -> Result<(Vec<u8>, &[u8]), HpackError> {
    let huff = b.first().ok_or(HpackError::Truncated)? & 0x80 != 0;
    let (len, rest) = integer(b, 7)?;
    if len > MAX_STRING {
        return Err(HpackError::TooLong(len));
    }
    if rest.len() < len {
        return Err(HpackError::Truncated);
    }
    let (s, rest) = rest.split_at(len);
    let s = if huff {
        huffman::decode(s, MAX_STRING)?
    } else {
        s.to_vec()
    };
    Ok((s, rest))
}
