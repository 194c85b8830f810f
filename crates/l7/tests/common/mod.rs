//! Helpers shared by the integration tests: build exchanges, feed them with any chunking.
#![allow(dead_code)]

use kestrel_l7::{Chunk, ConnId, ConnMeta, Direction, Record, Tracker};

/// A deterministic PRNG (SplitMix64) for property-style tests.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// One write of an exchange: direction, bytes, timestamp.
pub type Step = (Direction, Vec<u8>, u64);

/// Feed `steps` whole, one chunk each, then close at `close_ts` (if any).
pub fn run(meta: ConnMeta, steps: &[Step], close_ts: Option<u64>) -> (Vec<Record>, Tracker) {
    run_split(meta, steps, close_ts, |_, len| vec![len])
}

/// Feed `steps`, cutting each into chunks of the sizes `split(step index, len)` returns
/// (they must add up to len).
pub fn run_split(
    meta: ConnMeta,
    steps: &[Step],
    close_ts: Option<u64>,
    mut split: impl FnMut(usize, usize) -> Vec<usize>,
) -> (Vec<Record>, Tracker) {
    let mut t = Tracker::default();
    let mut out = Vec::new();
    let c = ConnId(7);
    t.open(c, meta);
    for (i, (dir, bytes, ts)) in steps.iter().enumerate() {
        let mut at = 0;
        for n in split(i, bytes.len()) {
            let piece = &bytes[at..at + n];
            at += n;
            t.feed(&Chunk::whole(c, *dir, *ts, piece), &mut out);
        }
        assert_eq!(at, bytes.len());
    }
    if let Some(ts) = close_ts {
        t.close(c, ts, &mut out);
    }
    (out, t)
}

/// Random chunk sizes adding up to `len`.
pub fn random_split(rng: &mut Rng, len: usize) -> Vec<usize> {
    let mut v = Vec::new();
    let mut left = len;
    while left > 0 {
        let n = 1 + rng.below(left.min(64));
        v.push(n);
        left -= n;
    }
    if v.is_empty() {
        v.push(0);
    }
    v
}

/// Feed one chunk whose first `captured` bytes are copied and whose syscall moved `bytes.len()`.
pub fn feed_truncated(
    t: &mut Tracker,
    out: &mut Vec<Record>,
    dir: Direction,
    ts: u64,
    bytes: &[u8],
    captured: usize,
) {
    let c = ConnId(7);
    let n = captured.min(bytes.len());
    t.feed(
        &Chunk {
            conn: c,
            direction: dir,
            role: None,
            timestamp_ns: ts,
            bytes: &bytes[..n],
            total_len: bytes.len() as u64,
            truncated: n < bytes.len(),
        },
        out,
    );
}
