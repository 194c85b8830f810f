//! A traffic generator for benchmarks: one frame, replayed by `BPF_PROG_TEST_RUN` in
//! live-frames mode through an XDP program that redirects it out of an interface (the
//! technique of xdp-trafficgen). On a veth, the frames arrive at the peer's XDP hook without
//! the socket path's per-packet copy, so the receiver — not the sender — is what is measured.

use kestrel_isa::{helper, Insn, Reg};
use kestrel_sys::{ifindex, AttachType, ProgType, Program, ProgramLoad, SysError};
use std::net::Ipv4Addr;

use super::live::FirewallError;

/// A loaded redirect program and the frame it sends.
#[derive(Debug)]
pub struct Generator {
    prog: Program,
    frame: Vec<u8>,
}

impl Generator {
    /// Loads `return bpf_redirect(ifindex(iface), 0)`.
    pub fn new(iface: &str, frame: &[u8]) -> Result<Generator, FirewallError> {
        let idx = ifindex(iface).ok_or_else(|| FirewallError::NoInterface(iface.to_string()))?;
        let insns = [
            Insn::mov64_imm(Reg::R1, idx as i32),
            Insn::mov64_imm(Reg::R2, 0),
            Insn::call_helper(helper::REDIRECT),
            Insn::exit(),
        ];
        let prog = Program::load(
            &ProgramLoad::new(ProgType::Xdp, "kestrel_xdpgen", &insns).with_attach(AttachType::Xdp),
        )
        .map_err(gen_err("loading the generator"))?;
        Ok(Generator {
            prog,
            frame: frame.to_vec(),
        })
    }

    /// Sends `n` copies of the frame (in batches of 64).
    pub fn send(&self, n: u32) -> Result<(), FirewallError> {
        self.prog
            .test_run_live(&self.frame, n, 64)
            .map(drop)
            .map_err(gen_err("sending frames (BPF_PROG_TEST_RUN live frames)"))
    }
}

fn gen_err(context: &str) -> impl FnOnce(SysError) -> FirewallError + '_ {
    move |source| FirewallError::Bpf {
        context: context.to_string(),
        source,
    }
}

/// An Ethernet/IPv4/UDP frame of `size` bytes (at least 60) with a valid IPv4 checksum.
pub fn udp_frame(src: Ipv4Addr, dst: Ipv4Addr, dport: u16, size: usize) -> Vec<u8> {
    let size = size.max(60);
    let mut f = vec![0u8; size];
    f[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x02]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip_len = (size - 14) as u16;
    f[14] = 0x45;
    f[16..18].copy_from_slice(&ip_len.to_be_bytes());
    f[22] = 64;
    f[23] = 17;
    f[26..30].copy_from_slice(&src.octets());
    f[30..34].copy_from_slice(&dst.octets());
    let mut sum: u32 = 0;
    for w in f[14..34].chunks(2) {
        sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    f[24..26].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    f[34..36].copy_from_slice(&12345u16.to_be_bytes());
    f[36..38].copy_from_slice(&dport.to_be_bytes());
    f[38..40].copy_from_slice(&(ip_len - 20).to_be_bytes());
    f
}

/// ns per run of `return XDP_DROP` over `frame` (`BPF_PROG_TEST_RUN`, `repeat` times): the floor
/// the firewall's cost is compared with.
pub fn empty_drop_ns(frame: &[u8], repeat: u32) -> Result<u32, FirewallError> {
    let insns = [Insn::mov64_imm(Reg::R0, 1), Insn::exit()];
    let prog = Program::load(
        &ProgramLoad::new(ProgType::Xdp, "kestrel_drop", &insns).with_attach(AttachType::Xdp),
    )
    .map_err(gen_err("loading the empty program"))?;
    prog.test_run(frame, repeat)
        .map(|(_, ns)| ns)
        .map_err(gen_err("running the empty program"))
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let v: Vec<u8> = s
        .split(':')
        .map(|p| u8::from_str_radix(p, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    v.try_into().ok()
}

/// Attaches `return XDP_DROP` to `iface` (native mode) for as long as the link is held.
pub fn attach_drop(iface: &str) -> Result<kestrel_sys::Link, FirewallError> {
    let idx = ifindex(iface).ok_or_else(|| FirewallError::NoInterface(iface.to_string()))?;
    let insns = [Insn::mov64_imm(Reg::R0, 1), Insn::exit()];
    let prog = Program::load(
        &ProgramLoad::new(ProgType::Xdp, "kestrel_drop", &insns).with_attach(AttachType::Xdp),
    )
    .map_err(gen_err("loading the empty program"))?;
    kestrel_sys::Link::attach_xdp(&prog, idx, kestrel_sys::XdpMode::Native)
        .map_err(gen_err("attaching the empty program"))
}
