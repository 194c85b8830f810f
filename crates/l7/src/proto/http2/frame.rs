//! HTTP/2 frame headers (RFC 9113 section 4) and the plausibility check used to recognise a
//! connection first seen mid-stream.

/// Frame types.
pub mod kind {
    /// DATA.
    pub const DATA: u8 = 0;
    /// HEADERS.
    pub const HEADERS: u8 = 1;
    /// PRIORITY.
    pub const PRIORITY: u8 = 2;
    /// RST_STREAM.
    pub const RST_STREAM: u8 = 3;
    /// SETTINGS.
    pub const SETTINGS: u8 = 4;
    /// PUSH_PROMISE.
    pub const PUSH_PROMISE: u8 = 5;
    /// PING.
    pub const PING: u8 = 6;
    /// GOAWAY.
    pub const GOAWAY: u8 = 7;
    /// WINDOW_UPDATE.
    pub const WINDOW_UPDATE: u8 = 8;
    /// CONTINUATION.
    pub const CONTINUATION: u8 = 9;
}

/// Frame flags.
pub mod flag {
    /// END_STREAM (DATA, HEADERS).
    pub const END_STREAM: u8 = 0x1;
    /// ACK (SETTINGS, PING).
    pub const ACK: u8 = 0x1;
    /// END_HEADERS (HEADERS, PUSH_PROMISE, CONTINUATION).
    pub const END_HEADERS: u8 = 0x4;
    /// PADDED (DATA, HEADERS, PUSH_PROMISE).
    pub const PADDED: u8 = 0x8;
    /// PRIORITY (HEADERS).
    pub const PRIORITY: u8 = 0x20;
}

/// Bytes of a frame header.
pub const HEADER_LEN: usize = 9;

/// Largest frame payload we accept (SETTINGS_MAX_FRAME_SIZE may go up to 2^24-1).
pub const MAX_PAYLOAD: u32 = (1 << 24) - 1;

/// A frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Payload length.
    pub len: u32,
    /// Type.
    pub kind: u8,
    /// Flags.
    pub flags: u8,
    /// Stream id (reserved bit cleared).
    pub stream: u32,
}

impl FrameHeader {
    /// The header at the start of `b`, when 9 bytes are there.
    pub fn parse(b: &[u8]) -> Option<FrameHeader> {
        let h = b.get(..HEADER_LEN)?;
        Some(FrameHeader {
            len: u32::from_be_bytes([0, h[0], h[1], h[2]]),
            kind: h[3],
            flags: h[4],
            stream: u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff,
        })
    }

    /// True when the header obeys the rules of its type strictly enough to believe bytes
    /// are HTTP/2 framing (used for detection; known types only, small lengths).
    pub fn plausible(&self, raw: &[u8]) -> bool {
        if raw.len() < HEADER_LEN || raw[5] & 0x80 != 0 || self.len > 1 << 20 {
            return false;
        }
        let on_stream = self.stream != 0;
        match self.kind {
            kind::DATA => on_stream && self.flags & !0x09 == 0,
            kind::HEADERS => on_stream && self.flags & !0x2d == 0,
            kind::PRIORITY => on_stream && self.len == 5 && self.flags == 0,
            kind::RST_STREAM => on_stream && self.len == 4 && self.flags == 0,
            kind::SETTINGS => {
                !on_stream
                    && self.flags & !0x01 == 0
                    && self.len.is_multiple_of(6)
                    && (self.flags == 0 || self.len == 0)
            }
            kind::PUSH_PROMISE => on_stream && self.flags & !0x0c == 0 && self.len >= 4,
            kind::PING => !on_stream && self.len == 8 && self.flags & !0x01 == 0,
            kind::GOAWAY => !on_stream && self.len >= 8 && self.flags == 0,
            kind::WINDOW_UPDATE => self.len == 4 && self.flags == 0,
            kind::CONTINUATION => on_stream && self.flags & !0x04 == 0,
            _ => false,
        }
    }
}

/// True when `b` (the captured start of a write of `total_len` bytes) is a run of plausible
/// frames: every header inside the captured bytes checks out, and the frames do not run
/// past the write. Random bytes pass with a probability far below 1e-6.
pub fn plausible_frames(b: &[u8], total_len: u64) -> bool {
    let mut at = 0usize;
    let mut frames = 0;
    while at + HEADER_LEN <= b.len() {
        let Some(h) = FrameHeader::parse(&b[at..]) else {
            return false;
        };
        if !h.plausible(&b[at..]) {
            return false;
        }
        frames += 1;
        let end = at as u64 + HEADER_LEN as u64 + u64::from(h.len);
        if end > total_len {
            return false;
        }
        if end >= b.len() as u64 {
            break;
        }
        at = end as usize;
    }
    frames > 0
}
