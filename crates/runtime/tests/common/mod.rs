//! Shared helpers for the kernel tests: the skip/require policy and a tiny program builder.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use kestrel_isa::{Insn, JmpOp, Reg};
use kestrel_obj::{
    AttachPoint, Field, MapKind, MapReloc, MapRole, MapSpec, ProgramSpec, ScalarType,
    UserMapLayout, ValueKind,
};

/// `bpf_map_lookup_elem`
pub const MAP_LOOKUP_ELEM: i32 = 1;
/// `bpf_map_update_elem`
pub const MAP_UPDATE_ELEM: i32 = 2;
/// `bpf_get_current_pid_tgid`
pub const GET_CURRENT_PID_TGID: i32 = 14;
/// `bpf_ringbuf_output`
pub const RINGBUF_OUTPUT: i32 = 130;

/// True if the kernel tests can run here. When they cannot, prints why and returns false —
/// unless `CI=true` or `KESTREL_REQUIRE_KERNEL=1`, in which case it panics.
pub fn kernel_available(test: &str) -> bool {
    let Err(reason) = check() else {
        return true;
    };
    let required = std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var("KESTREL_REQUIRE_KERNEL").is_ok_and(|v| v == "1");
    if required {
        panic!("{test}: kernel test required but cannot run: {reason}");
    }
    eprintln!("skipping {test}: {reason}");
    false
}

fn check() -> Result<(), String> {
    kestrel_runtime::check_privileges().map_err(|e| e.to_string())?;
    ensure_tracefs()
}

/// aya reads tracepoint ids from tracefs, which is not mounted at boot here.
fn ensure_tracefs() -> Result<(), String> {
    let events = Path::new("/sys/kernel/tracing/events");
    if events.exists() || Path::new("/sys/kernel/debug/tracing/events").exists() {
        return Ok(());
    }
    let status = Command::new("mount")
        .args(["-t", "tracefs", "nodev", "/sys/kernel/tracing"])
        .status()
        .map_err(|e| format!("cannot run mount: {e}"))?;
    if status.success() && events.exists() {
        Ok(())
    } else {
        Err("tracefs is not mounted and could not be mounted".into())
    }
}

/// Instructions with forward-jump fixups and map relocations.
#[derive(Default)]
pub struct Asm {
    pub insns: Vec<Insn>,
    pub relocs: Vec<MapReloc>,
}

impl Asm {
    pub fn new() -> Asm {
        Asm::default()
    }
    pub fn i(&mut self, insn: Insn) -> &mut Asm {
        self.insns.push(insn);
        self
    }
    pub fn ld_map(&mut self, dst: Reg, map: usize) -> &mut Asm {
        self.relocs.push(MapReloc {
            insn: self.insns.len(),
            map,
        });
        self.insns.extend(Insn::ld_map_fd(dst, 0));
        self
    }
    /// A forward conditional jump whose target is set later by [`Asm::land`].
    pub fn jmp_fwd(&mut self, op: JmpOp, dst: Reg, imm: i32) -> usize {
        self.insns.push(Insn::jmp_imm(op, dst, imm, 0));
        self.insns.len() - 1
    }
    /// Points the jump at `from` to the next instruction.
    pub fn land(&mut self, from: usize) {
        let off = self.insns.len() - from - 1;
        self.insns[from].off = i16::try_from(off).unwrap();
    }
    pub fn program(&self, name: &str, probe: &str, attach: AttachPoint) -> ProgramSpec {
        ProgramSpec {
            name: name.into(),
            probe: probe.into(),
            attach,
            insns: self.insns.clone(),
            map_relocs: self.relocs.clone(),
            insn_spans: vec![None; self.insns.len()],
        }
    }
}

pub fn ringbuf(name: &str) -> MapSpec {
    MapSpec {
        name: name.into(),
        kind: MapKind::RingBuf,
        key_size: 0,
        value_size: 0,
        max_entries: 256 * 1024,
        flags: 0,
        role: MapRole::Events,
    }
}

/// A `@display[u64 key] = count()` map.
pub fn count_map(name: &str, display: &str, kind: MapKind) -> MapSpec {
    MapSpec {
        name: name.into(),
        kind,
        key_size: 8,
        value_size: 8,
        max_entries: 1024,
        flags: 0,
        role: MapRole::User(UserMapLayout {
            display: display.into(),
            keys: vec![Field {
                offset: 0,
                ty: ScalarType::Int {
                    size: 8,
                    signed: false,
                },
            }],
            value: ValueKind::Count,
        }),
    }
}

/// `if (pid == PID) @map[pid] = count()` for a (per-CPU) hash map `map`.
pub fn count_by_pid(pid: u32, map: usize) -> Asm {
    use kestrel_isa::{AluOp, Size};
    let mut a = Asm::new();
    a.i(Insn::call_helper(GET_CURRENT_PID_TGID))
        .i(Insn::alu64_imm(AluOp::Rsh, Reg::R0, 32));
    let skip = a.jmp_fwd(JmpOp::Jne, Reg::R0, i32::try_from(pid).unwrap());
    a.i(Insn::stx(Size::DW, Reg::R10, -8, Reg::R0))
        .ld_map(Reg::R1, map)
        .i(Insn::mov64_reg(Reg::R2, Reg::R10))
        .i(Insn::alu64_imm(AluOp::Add, Reg::R2, -8))
        .i(Insn::call_helper(MAP_LOOKUP_ELEM));
    let missing = a.jmp_fwd(JmpOp::Jeq, Reg::R0, 0);
    a.i(Insn::ldx(Size::DW, Reg::R1, Reg::R0, 0))
        .i(Insn::alu64_imm(AluOp::Add, Reg::R1, 1))
        .i(Insn::stx(Size::DW, Reg::R0, 0, Reg::R1));
    let done = a.jmp_fwd(JmpOp::Ja, Reg::R0, 0);
    a.land(missing);
    a.i(Insn::st_imm(Size::DW, Reg::R10, -16, 1))
        .ld_map(Reg::R1, map)
        .i(Insn::mov64_reg(Reg::R2, Reg::R10))
        .i(Insn::alu64_imm(AluOp::Add, Reg::R2, -8))
        .i(Insn::mov64_reg(Reg::R3, Reg::R10))
        .i(Insn::alu64_imm(AluOp::Add, Reg::R3, -16))
        .i(Insn::mov64_imm(Reg::R4, 0))
        .i(Insn::call_helper(MAP_UPDATE_ELEM));
    a.land(skip);
    a.land(done);
    a.i(Insn::mov64_imm(Reg::R0, 0)).i(Insn::exit());
    a
}

/// Emits the 8-byte-aligned record `words` into ring buffer `map` from the stack.
pub fn emit_record(a: &mut Asm, map: usize, words: &[i32]) {
    use kestrel_isa::{AluOp, Size};
    let len = i16::try_from(words.len() * 8).unwrap();
    for (i, w) in words.iter().enumerate() {
        let off = -len + i16::try_from(i * 8).unwrap();
        a.i(Insn::st_imm(Size::DW, Reg::R10, off, *w));
    }
    a.ld_map(Reg::R1, map)
        .i(Insn::mov64_reg(Reg::R2, Reg::R10))
        .i(Insn::alu64_imm(AluOp::Add, Reg::R2, i32::from(-len)))
        .i(Insn::mov64_imm(Reg::R3, i32::from(len)))
        .i(Insn::mov64_imm(Reg::R4, 0))
        .i(Insn::call_helper(RINGBUF_OUTPUT));
}
