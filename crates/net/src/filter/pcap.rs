//! Reading and writing classic pcap files (not pcapng): microsecond and nanosecond magic,
//! either byte order, link type DLT_EN10MB (Ethernet) only.

use std::io::{Read, Write};

/// Link type of Ethernet captures (Linux `lo` captures use it too, with a fake header).
pub const DLT_EN10MB: u32 = 1;
const MAGIC_US: u32 = 0xa1b2_c3d4;
const MAGIC_NS: u32 = 0xa1b2_3c4d;

/// Errors reading or writing pcap files.
#[derive(Debug, thiserror::Error)]
pub enum PcapError {
    /// I/O failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Not a classic pcap file.
    #[error(
        "not a pcap file (magic {0:#010x}; pcapng is not supported: convert with editcap -F pcap)"
    )]
    Magic(u32),
    /// Not Ethernet.
    #[error("link type {0} is not supported (only DLT_EN10MB, Ethernet)")]
    LinkType(u32),
    /// A record is cut short or absurd.
    #[error("packet {index}: {what}")]
    Corrupt {
        /// 1-based packet number.
        index: usize,
        /// What is wrong.
        what: String,
    },
}

/// One captured packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// Timestamp seconds.
    pub ts_sec: u32,
    /// Timestamp fraction (µs or ns, per [`Capture::nanos`]).
    pub ts_frac: u32,
    /// Length on the wire (may exceed `data.len()` when the capture was truncated).
    pub wire_len: u32,
    /// Captured bytes.
    pub data: Vec<u8>,
}

/// A whole capture file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capture {
    /// Timestamps are in nanoseconds (else microseconds).
    pub nanos: bool,
    /// Snapshot length from the header.
    pub snaplen: u32,
    /// Link type (always [`DLT_EN10MB`] once read).
    pub linktype: u32,
    /// Packets in file order.
    pub packets: Vec<Packet>,
}

impl Capture {
    /// An empty Ethernet capture with microsecond timestamps.
    pub fn new() -> Capture {
        Capture {
            nanos: false,
            snaplen: 262_144,
            linktype: DLT_EN10MB,
            packets: Vec::new(),
        }
    }
}

impl Default for Capture {
    fn default() -> Self {
        Capture::new()
    }
}

/// Parses a pcap file held in memory.
pub fn parse(bytes: &[u8]) -> Result<Capture, PcapError> {
    let word = |at: usize, swap: bool| -> Option<u32> {
        let b: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
        Some(if swap {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    };
    let magic_le = word(0, false).ok_or(PcapError::Magic(0))?;
    let (swap, nanos) = match magic_le {
        MAGIC_US => (false, false),
        MAGIC_NS => (false, true),
        m if m.swap_bytes() == MAGIC_US => (true, false),
        m if m.swap_bytes() == MAGIC_NS => (true, true),
        m => return Err(PcapError::Magic(m)),
    };
    if bytes.len() < 24 {
        return Err(PcapError::Magic(magic_le));
    }
    let snaplen = word(16, swap).unwrap_or(0);
    let linktype = word(20, swap).unwrap_or(0) & 0x0fff_ffff;
    if linktype != DLT_EN10MB {
        return Err(PcapError::LinkType(linktype));
    }
    let mut packets = Vec::new();
    let mut at = 24;
    while at < bytes.len() {
        let index = packets.len() + 1;
        let hdr = |i: usize| word(at + 4 * i, swap);
        let (Some(ts_sec), Some(ts_frac), Some(caplen), Some(wire_len)) =
            (hdr(0), hdr(1), hdr(2), hdr(3))
        else {
            return Err(PcapError::Corrupt {
                index,
                what: "record header cut short".to_string(),
            });
        };
        if caplen > 0x0400_0000 {
            return Err(PcapError::Corrupt {
                index,
                what: format!("captured length {caplen} is absurd"),
            });
        }
        let start = at + 16;
        let end = start + caplen as usize;
        let data = bytes.get(start..end).ok_or_else(|| PcapError::Corrupt {
            index,
            what: "data cut short".to_string(),
        })?;
        packets.push(Packet {
            ts_sec,
            ts_frac,
            wire_len,
            data: data.to_vec(),
        });
        at = end;
    }
    Ok(Capture {
        nanos,
        snaplen,
        linktype,
        packets,
    })
}

/// Reads a pcap file.
pub fn read(r: &mut impl Read) -> Result<Capture, PcapError> {
    let mut bytes = Vec::new();
    r.read_to_end(&mut bytes)?;
    parse(&bytes)
}

/// Serializes a capture (native little-endian order, the capture's timestamp precision).
pub fn to_bytes<'a>(
    nanos: bool,
    snaplen: u32,
    packets: impl IntoIterator<Item = &'a Packet>,
) -> Vec<u8> {
    let mut out = Vec::new();
    let magic = if nanos { MAGIC_NS } else { MAGIC_US };
    for w in [magic, 0x0004_0002, 0, 0, snaplen, DLT_EN10MB] {
        // Version 2.4 is two u16s: major 2 then minor 4.
        out.extend_from_slice(&w.to_le_bytes());
    }
    for p in packets {
        for w in [p.ts_sec, p.ts_frac, p.data.len() as u32, p.wire_len] {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(&p.data);
    }
    out
}

/// Writes a capture.
pub fn write<'a>(
    w: &mut impl Write,
    nanos: bool,
    snaplen: u32,
    packets: impl IntoIterator<Item = &'a Packet>,
) -> Result<(), PcapError> {
    w.write_all(&to_bytes(nanos, snaplen, packets))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_byte_orders() {
        let p = Packet {
            ts_sec: 1,
            ts_frac: 2,
            wire_len: 100,
            data: vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14],
        };
        let bytes = to_bytes(true, 65535, [&p]);
        let c = parse(&bytes).expect("must succeed");
        assert!(c.nanos);
        assert_eq!(c.snaplen, 65535);
        assert_eq!(c.packets, vec![p.clone()]);
        // Big-endian file.
        let mut be = Vec::new();
        for w in [MAGIC_US, 0x0002_0004, 0, 0, 65535, 1, 1, 2, 14, 100] {
            be.extend_from_slice(&w.to_be_bytes());
        }
        be.extend_from_slice(&p.data);
        let c = parse(&be).expect("must succeed");
        assert!(!c.nanos);
        assert_eq!(c.packets[0].wire_len, 100);
        assert!(matches!(
            parse(b"\x0a\x0d\x0d\x0a...."),
            Err(PcapError::Magic(_))
        ));
        let mut bad = to_bytes(false, 10, [&p]);
        bad[20] = 105;
        assert!(matches!(parse(&bad), Err(PcapError::LinkType(105))));
        bad.truncate(bad.len() - 1);
        bad[20] = 1;
        assert!(matches!(
            parse(&bad),
            Err(PcapError::Corrupt { index: 1, .. })
        ));
    }
}
