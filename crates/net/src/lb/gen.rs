//! A traffic generator for the lb benchmark. Like the firewall's ([`crate::firewall::xdpgen`])
//! it replays one frame with `BPF_PROG_TEST_RUN` live frames redirected out of an interface,
//! but its program first writes the whole header back from constants: live-frame pages are
//! recycled without being re-initialised, and a receiver that rewrites the frame (the load
//! balancer's DNAT, or nftables') would otherwise get its own output back as input.

use kestrel_isa::{helper, Insn, Reg, Size};
use kestrel_sys::{ifindex, AttachType, ProgType, Program, ProgramLoad};

use super::live::LbError;

/// A loaded restoring generator and its frame.
#[derive(Debug)]
pub struct Generator {
    prog: Program,
    frame: Vec<u8>,
}

impl Generator {
    /// Loads the program for `frame` (its first 64 bytes are restored on every send).
    pub fn new(iface: &str, frame: &[u8]) -> Result<Generator, LbError> {
        let idx = ifindex(iface).ok_or_else(|| LbError::NoInterface(iface.to_string()))?;
        let head = &frame[..frame.len().min(64) & !3];
        let mut insns = vec![
            Insn::ldx(Size::W, Reg::R2, Reg::R1, 0),
            Insn::ldx(Size::W, Reg::R3, Reg::R1, 4),
            Insn::mov64_reg(Reg::R4, Reg::R2),
            Insn::alu64_imm(kestrel_isa::AluOp::Add, Reg::R4, head.len() as i32),
        ];
        let mut body = Vec::new();
        for (i, w) in head.chunks(4).enumerate() {
            let v = i32::from_ne_bytes([w[0], w[1], w[2], w[3]]);
            body.push(Insn::st_imm(Size::W, Reg::R2, (4 * i) as i16, v));
        }
        // if data + len > data_end skip the restore (never, for our frames).
        insns.push(Insn::jmp_reg(
            kestrel_isa::JmpOp::Jgt,
            Reg::R4,
            Reg::R3,
            body.len() as i16,
        ));
        insns.extend(body);
        insns.extend([
            Insn::mov64_imm(Reg::R1, idx as i32),
            Insn::mov64_imm(Reg::R2, 0),
            Insn::call_helper(helper::REDIRECT),
            Insn::exit(),
        ]);
        let prog = Program::load(
            &ProgramLoad::new(ProgType::Xdp, "kestrel_lbgen", &insns).with_attach(AttachType::Xdp),
        )
        .map_err(|source| LbError::Sys {
            context: "loading the generator".to_string(),
            source,
        })?;
        Ok(Generator {
            prog,
            frame: frame.to_vec(),
        })
    }

    /// Sends `n` copies of the frame (in batches of 64).
    pub fn send(&self, n: u32) -> Result<(), LbError> {
        self.prog
            .test_run_live(&self.frame, n, 64)
            .map(drop)
            .map_err(|source| LbError::Sys {
                context: "sending frames (BPF_PROG_TEST_RUN live frames)".to_string(),
                source,
            })
    }
}
