//! Runs a compiled filter over captured packets with `BPF_PROG_TEST_RUN` (no interface is
//! touched). Each packet is handed to the XDP program with its wire length in 4 bytes of XDP
//! metadata, so `len`, `less` and `greater` see the length on the wire even when the capture
//! was truncated, as in tcpdump.

use kestrel_sys::{AttachType, ProgType, Program, ProgramLoad, SysError};

use super::pcap::Packet;
use super::{compile_for_test, FilterError, Target};

/// Largest frame (plus metadata) `BPF_PROG_TEST_RUN` accepts for XDP without fragments: a page
/// minus the kernel's headroom (256) and the skb_shared_info tailroom (320).
pub const MAX_TEST_BYTES: usize = 4096 - 256 - 320;

/// Errors of a test run.
#[derive(Debug, thiserror::Error)]
pub enum TestRunError {
    /// The expression does not compile.
    #[error(transparent)]
    Filter(#[from] FilterError),
    /// The kernel refused the program or the run.
    #[error("{0}")]
    Bpf(#[from] SysError),
}

/// Verdicts for a capture.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdicts {
    /// One per packet: matched?
    pub matched: Vec<bool>,
    /// Packets shorter than an Ethernet header: the kernel cannot test-run them; counted as
    /// not matching.
    pub too_short: usize,
    /// Packets longer than [`MAX_TEST_BYTES`]: tested on their first bytes only.
    pub clipped: usize,
}

impl Verdicts {
    /// How many matched.
    pub fn count(&self) -> usize {
        self.matched.iter().filter(|m| **m).count()
    }
}

/// A filter loaded for test runs.
#[derive(Debug)]
pub struct Tester {
    prog: Program,
}

impl Tester {
    /// Compiles and loads `expr` (needs CAP_BPF).
    pub fn new(expr: &str) -> Result<Tester, TestRunError> {
        let p = compile_for_test(expr)?;
        let prog = Program::load(
            &ProgramLoad::new(ProgType::Xdp, "kestrel_filter", &p.insns)
                .with_attach(AttachType::Xdp),
        )?;
        Ok(Tester { prog })
    }

    /// Runs one packet; None when it is too short to run.
    pub fn matches(&self, p: &Packet) -> Result<Option<bool>, TestRunError> {
        if p.data.len() < 14 {
            return Ok(None);
        }
        let n = p.data.len().min(MAX_TEST_BYTES - 4);
        let mut buf = Vec::with_capacity(n + 4);
        buf.extend_from_slice(&p.wire_len.to_ne_bytes());
        buf.extend_from_slice(&p.data[..n]);
        // xdp_md: data (offset of the frame after the metadata), data_end, data_meta,
        // ingress_ifindex, rx_queue_index, egress_ifindex.
        let mut ctx = Vec::with_capacity(24);
        for w in [4u32, buf.len() as u32, 0, 0, 0, 0] {
            ctx.extend_from_slice(&w.to_ne_bytes());
        }
        let ret = self.prog.test_run_ctx(&buf, &ctx)?;
        Ok(Some(ret == Target::Xdp.on_match()))
    }

    /// Runs every packet.
    pub fn run(&self, packets: &[Packet]) -> Result<Verdicts, TestRunError> {
        let mut v = Verdicts::default();
        for p in packets {
            if p.data.len() > MAX_TEST_BYTES - 4 {
                v.clipped += 1;
            }
            match self.matches(p)? {
                Some(m) => v.matched.push(m),
                None => {
                    v.too_short += 1;
                    v.matched.push(false);
                }
            }
        }
        Ok(v)
    }
}
