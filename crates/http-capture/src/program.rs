//! The kernel programs, generated with the isa label builder (kestrel's language cannot yet
//! say "copy `ret` bytes of a pointer saved at syscall entry into a ring-buffer record").
//!
//! One program per tracepoint. Every field offset comes from the tracepoint's tracefs
//! `format` file ([`Fields`]), never from a table in this file.
//!
//! - `sys_enter_{read,write,recvfrom,sendto,readv,writev,recvmsg,sendmsg}`: if `(tgid, fd)`
//!   is a tracked TCP connection, save the buffer pointer for this thread.
//! - `sys_exit_*` of those: copy the first `capture_bytes` of what moved into a record.
//! - `accept`/`accept4`: track the new fd when the peer address is AF_INET/AF_INET6.
//! - `connect`: track the fd when `sock:inet_sock_set_state` saw this thread put a TCP
//!   socket into SYN_SENT during the call (so UDP connects are never tracked).
//! - `close`: forget the fd, report the connection's lost count.
//! - `sock:inet_sock_set_state` SYN_RECV→ESTABLISHED: both addresses of accepted sockets.
//!
//! Stack frame of the programs (r10-relative):
//!
//! | offset | what |
//! |---|---|
//! | -8  | pid_tgid (u64) |
//! | -16 | buffer pointer (u64) |
//! | -24 | fd (u32), kind (u32 at -20) |
//! | -32 | conns key: tgid (u32), fd (u32 at -28) |
//! | -36 | zero (u32): index of the per-CPU arrays |
//! | -56 | iovec copy: base (u64), len (u64 at -48); also the conns value being inserted |
//! | -64 | enter: pending value (32 bytes, -64..-32) |
//! | -72 | dir (u32), tcp-confirmed (u32 at -68) |
//! | -80 | local port / msg_iov (u64) |
//! | -88 | lost-before (u64) |

use kestrel_isa::builder::Asm;
use kestrel_isa::{helper, AluOp, AtomicOp, Insn, JmpOp, Reg, Size};
use kestrel_kernel::TracepointFormat;

use crate::layout::{self, off, HDR};
use crate::CaptureError;

/// The maps the programs reference (fds patched at load time).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CapMap {
    /// `(tgid, fd)` → role, flags, lost count: the tracked TCP connections.
    Conns,
    /// pid_tgid → what the enter program saved (LRU, so a missed exit cannot leak).
    Pending,
    /// One per-CPU record being assembled (header + `capture_bytes`).
    Scratch,
    /// The ring buffer.
    Events,
    /// Per-CPU lost-record counters.
    Lost,
}

/// What a program does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    /// Entry of a data syscall: save the buffer of `kind`, moving data `egress` or not.
    DataEnter {
        /// `layout::K_PLAIN`, `K_IOV` or `K_MSG`.
        kind: i32,
        /// Written by the process (true) or read (false).
        egress: bool,
    },
    /// Exit of any data syscall.
    DataExit,
    /// Entry of accept/accept4.
    AcceptEnter,
    /// Exit of accept/accept4.
    AcceptExit,
    /// Entry of connect.
    ConnectEnter,
    /// Exit of connect.
    ConnectExit,
    /// Entry of close.
    CloseEnter,
    /// sock:inet_sock_set_state.
    SockState,
}

/// One program to build and attach.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Tracepoint category.
    pub category: &'static str,
    /// Tracepoint name.
    pub name: String,
    /// What it does.
    pub hook: Hook,
}

/// Every program of the capture, in attach order (state and exits before entries, so no
/// entry saves a pointer that no exit will consume).
pub fn plans() -> Vec<Plan> {
    let mut v = Vec::new();
    let data: [(&str, i32, bool); 8] = [
        ("read", layout::K_PLAIN, false),
        ("recvfrom", layout::K_PLAIN, false),
        ("readv", layout::K_IOV, false),
        ("recvmsg", layout::K_MSG, false),
        ("write", layout::K_PLAIN, true),
        ("sendto", layout::K_PLAIN, true),
        ("writev", layout::K_IOV, true),
        ("sendmsg", layout::K_MSG, true),
    ];
    v.push(Plan {
        category: "sock",
        name: "inet_sock_set_state".into(),
        hook: Hook::SockState,
    });
    for (sc, _, _) in data {
        v.push(Plan {
            category: "syscalls",
            name: format!("sys_exit_{sc}"),
            hook: Hook::DataExit,
        });
    }
    for sc in ["accept", "accept4"] {
        v.push(Plan {
            category: "syscalls",
            name: format!("sys_exit_{sc}"),
            hook: Hook::AcceptExit,
        });
    }
    v.push(Plan {
        category: "syscalls",
        name: "sys_exit_connect".into(),
        hook: Hook::ConnectExit,
    });
    for (sc, kind, egress) in data {
        v.push(Plan {
            category: "syscalls",
            name: format!("sys_enter_{sc}"),
            hook: Hook::DataEnter { kind, egress },
        });
    }
    for sc in ["accept", "accept4"] {
        v.push(Plan {
            category: "syscalls",
            name: format!("sys_enter_{sc}"),
            hook: Hook::AcceptEnter,
        });
    }
    v.push(Plan {
        category: "syscalls",
        name: "sys_enter_connect".into(),
        hook: Hook::ConnectEnter,
    });
    v.push(Plan {
        category: "syscalls",
        name: "sys_enter_close".into(),
        hook: Hook::CloseEnter,
    });
    v
}

/// Build-time parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// Bytes of payload copied per syscall (the scratch value is `HDR + capture_bytes`).
    pub capture_bytes: u32,
    /// Track only connections of this process (tgid).
    pub pid: Option<u32>,
}

/// A generated program.
#[derive(Clone, Debug)]
pub struct Generated {
    /// Instructions.
    pub insns: Vec<Insn>,
    /// (first slot of an ld_imm64, the map it loads).
    pub relocs: Vec<(usize, CapMap)>,
}

/// A field's offset and size, looked up in a tracepoint's format.
#[derive(Clone, Copy, Debug)]
struct F {
    off: i16,
    size: Size,
}

/// The fields a program reads, from its tracefs format.
struct Fields<'a> {
    fmt: &'a TracepointFormat,
}

impl Fields<'_> {
    /// The offset of an array field (the IPv6 addresses), checked to be `len` bytes.
    fn array(&self, name: &str, len: u32) -> Result<i16, CaptureError> {
        let f = self.fmt.field(name).ok_or_else(|| {
            CaptureError::Format(format!("{}: no field '{name}' in its format", self.fmt.id))
        })?;
        if f.size != len {
            return Err(CaptureError::Format(format!(
                "{}: field '{name}' has size {}, expected {len}",
                self.fmt.id, f.size
            )));
        }
        i16::try_from(f.offset).map_err(|_| {
            CaptureError::Format(format!("{}: field '{name}' offset too large", self.fmt.id))
        })
    }

    /// The first of `names` that the format has (syscall argument names differ: `buf`,
    /// `ubuf`, `buff`, `vec`, `msg`).
    fn get(&self, names: &[&str]) -> Result<F, CaptureError> {
        for n in names {
            if let Some(f) = self.fmt.field(n) {
                let size = Size::from_bytes(f.size as usize).ok_or_else(|| {
                    CaptureError::Format(format!(
                        "{}: field '{n}' has size {}",
                        self.fmt.id, f.size
                    ))
                })?;
                let off = i16::try_from(f.offset).map_err(|_| {
                    CaptureError::Format(format!("{}: field '{n}' offset too large", self.fmt.id))
                })?;
                return Ok(F { off, size });
            }
        }
        Err(CaptureError::Format(format!(
            "{}: none of the fields {names:?} in its format",
            self.fmt.id
        )))
    }
}

type A = Asm<CapMap>;

const FP: Reg = Reg::R10;

fn ld_field(a: &mut A, dst: Reg, f: F) {
    a.push(Insn::ldx(f.size, dst, Reg::R6, f.off));
}

/// r2 = fp + off.
fn fp_ptr(a: &mut A, dst: Reg, off: i16) {
    a.push(Insn::mov64_reg(dst, FP));
    a.push(Insn::alu64_imm(AluOp::Add, dst, i32::from(off)));
}

/// r0 = lookup(map, fp + key).
fn lookup(a: &mut A, map: CapMap, key: i16) {
    a.ld_map(Reg::R1, map);
    fp_ptr(a, Reg::R2, key);
    a.push(Insn::call_helper(helper::MAP_LOOKUP_ELEM));
}

fn pid_tgid(a: &mut A) {
    a.push(Insn::call_helper(helper::GET_CURRENT_PID_TGID));
    a.push(Insn::stx(Size::DW, FP, -8, Reg::R0));
}

/// Conns key at fp-32 from pid_tgid at fp-8 and the fd in `fd`.
fn conn_key(a: &mut A, fd: Reg) {
    a.push(Insn::stx(Size::W, FP, -28, fd));
    a.push(Insn::ldx(Size::DW, Reg::R1, FP, -8));
    a.push(Insn::alu64_imm(AluOp::Rsh, Reg::R1, 32));
    a.push(Insn::stx(Size::W, FP, -32, Reg::R1));
}

/// r7 = the per-CPU scratch record, or goto `out`.
fn scratch(a: &mut A, out: kestrel_isa::builder::Label) {
    a.push(Insn::st_imm(Size::W, FP, -36, 0));
    lookup(a, CapMap::Scratch, -36);
    a.jmp_imm(JmpOp::Jeq, Reg::R0, 0, out);
    a.push(Insn::mov64_reg(Reg::R7, Reg::R0));
}

/// The header fields every record of a process has: kind, role, flags 0, tgid, tid, ts,
/// comm. The fd is the caller's.
fn header(a: &mut A, kind: u8, role: Option<u8>) {
    a.push(Insn::st_imm(Size::B, Reg::R7, off::KIND, i32::from(kind)));
    a.push(Insn::st_imm(Size::B, Reg::R7, off::DIR, 0));
    if let Some(r) = role {
        a.push(Insn::st_imm(Size::B, Reg::R7, off::ROLE, i32::from(r)));
    }
    a.push(Insn::st_imm(Size::B, Reg::R7, off::FLAGS, 0));
    a.push(Insn::ldx(Size::DW, Reg::R1, FP, -8));
    a.push(Insn::stx(Size::W, Reg::R7, off::TID, Reg::R1));
    a.push(Insn::alu64_imm(AluOp::Rsh, Reg::R1, 32));
    a.push(Insn::stx(Size::W, Reg::R7, off::TGID, Reg::R1));
    a.push(Insn::call_helper(helper::KTIME_GET_NS));
    a.push(Insn::stx(Size::DW, Reg::R7, off::TS, Reg::R0));
    a.push(Insn::st_imm(Size::DW, Reg::R7, off::TOTAL, 0));
    a.push(Insn::st_imm(Size::W, Reg::R7, off::LOST_BEFORE, 0));
    a.push(Insn::mov64_reg(Reg::R1, Reg::R7));
    a.push(Insn::alu64_imm(AluOp::Add, Reg::R1, i32::from(off::COMM)));
    a.push(Insn::mov64_imm(Reg::R2, 16));
    a.push(Insn::call_helper(helper::GET_CURRENT_COMM));
}

/// ringbuf_output(r7, size in r3) without a wakeup; on failure count a lost record (per CPU) and, when r9
/// holds a conns value, one more for that connection plus the `lost-before` at fp-88.
fn output(a: &mut A, per_conn: bool) {
    let done = a.label();
    a.ld_map(Reg::R1, CapMap::Events);
    a.push(Insn::mov64_reg(Reg::R2, Reg::R7));
    // BPF_RB_NO_WAKEUP: userspace drains on a short timer instead. A wakeup per record
    // (the consumer is usually caught up, so nearly every record would wake it) cost
    // several microseconds per record under load.
    a.push(Insn::mov64_imm(Reg::R4, 1));
    a.push(Insn::call_helper(helper::RINGBUF_OUTPUT));
    a.jmp_imm(JmpOp::Jeq, Reg::R0, 0, done);
    if per_conn {
        a.push(Insn::ldx(Size::DW, Reg::R1, FP, -88));
        a.push(Insn::alu64_imm(AluOp::Add, Reg::R1, 1));
        a.push(Insn::atomic(
            Size::DW,
            AtomicOp::Add,
            Reg::R9,
            8,
            Reg::R1,
            false,
        ));
    }
    a.push(Insn::st_imm(Size::W, FP, -36, 0));
    lookup(a, CapMap::Lost, -36);
    a.jmp_imm(JmpOp::Jeq, Reg::R0, 0, done);
    a.push(Insn::ldx(
        Size::DW,
        Reg::R1,
        Reg::R0,
        layout::lost::RECORDS * 8,
    ));
    a.push(Insn::alu64_imm(AluOp::Add, Reg::R1, 1));
    a.push(Insn::stx(
        Size::DW,
        Reg::R0,
        layout::lost::RECORDS * 8,
        Reg::R1,
    ));
    a.bind(done);
}

/// Builds the program for `hook` against the tracepoint's format.
pub fn build(hook: Hook, fmt: &TracepointFormat, p: &Params) -> Result<Generated, CaptureError> {
    if p.capture_bytes < 64 {
        return Err(CaptureError::Config(
            "the capture size must be at least 64 bytes".into(),
        ));
    }
    let f = Fields { fmt };
    let mut a: A = Asm::new();
    let out = a.label();
    a.push(Insn::mov64_reg(Reg::R6, Reg::R1));
    match hook {
        Hook::DataEnter { kind, egress } => data_enter(&mut a, &f, kind, egress, out)?,
        Hook::DataExit => data_exit(&mut a, &f, p, out)?,
        Hook::AcceptEnter => save_addr(&mut a, &f, layout::K_ACCEPT, &["upeer_sockaddr"], p, out)?,
        Hook::ConnectEnter => save_addr(&mut a, &f, layout::K_CONNECT, &["uservaddr"], p, out)?,
        Hook::AcceptExit => accept_exit(&mut a, &f, out)?,
        Hook::ConnectExit => connect_exit(&mut a, &f, out)?,
        Hook::CloseEnter => close_enter(&mut a, &f, out)?,
        Hook::SockState => sock_state(&mut a, &f, out)?,
    }
    a.bind(out);
    a.push(Insn::mov64_imm(Reg::R0, 0));
    a.push(Insn::exit());
    let (insns, relocs) = a.finish().map_err(CaptureError::Codegen)?;
    kestrel_obj::check::check_structure(&insns, kestrel_obj::check::Entry::Program)
        .map_err(|e| CaptureError::Codegen(format!("{}: {e}", fmt.id)))?;
    Ok(Generated { insns, relocs })
}

fn data_enter(
    a: &mut A,
    f: &Fields<'_>,
    kind: i32,
    egress: bool,
    out: kestrel_isa::builder::Label,
) -> Result<(), CaptureError> {
    let fd = f.get(&["fd"])?;
    let buf = f.get(&["buf", "ubuf", "buff", "vec", "msg"])?;
    pid_tgid(a);
    ld_field(a, Reg::R1, fd);
    conn_key(a, Reg::R1);
    // The cheap filter: one hash lookup, and everything that is not a tracked TCP socket
    // (files, pipes, UDP, Unix) stops here.
    lookup(a, CapMap::Conns, -32);
    a.jmp_imm(JmpOp::Jeq, Reg::R0, 0, out);
    ld_field(a, Reg::R1, buf);
    a.push(Insn::stx(Size::DW, FP, -64, Reg::R1));
    a.push(Insn::ldx(Size::W, Reg::R1, FP, -28));
    a.push(Insn::stx(Size::W, FP, -56, Reg::R1));
    a.push(Insn::st_imm(Size::W, FP, -52, kind));
    a.push(Insn::st_imm(Size::W, FP, -48, i32::from(egress)));
    a.push(Insn::st_imm(Size::W, FP, -44, 0));
    a.push(Insn::st_imm(Size::DW, FP, -40, 0));
    a.ld_map(Reg::R1, CapMap::Pending);
    fp_ptr(a, Reg::R2, -8);
    fp_ptr(a, Reg::R3, -64);
    a.push(Insn::mov64_imm(Reg::R4, 0));
    a.push(Insn::call_helper(helper::MAP_UPDATE_ELEM));
    Ok(())
}

/// Looks up and deletes this thread's pending entry, copying it to fp-16 (buffer),
/// fp-24 (fd, kind), fp-72 (dir, tcp), fp-80 (local port). Goes to `out` if none.
fn take_pending(a: &mut A, out: kestrel_isa::builder::Label) {
    pid_tgid(a);
    lookup(a, CapMap::Pending, -8);
    a.jmp_imm(JmpOp::Jeq, Reg::R0, 0, out);
    for (src, dst) in [(0, -16), (8, -24), (16, -72), (24, -80)] {
        a.push(Insn::ldx(Size::DW, Reg::R1, Reg::R0, src));
        a.push(Insn::stx(Size::DW, FP, dst, Reg::R1));
    }
    a.ld_map(Reg::R1, CapMap::Pending);
    fp_ptr(a, Reg::R2, -8);
    a.push(Insn::call_helper(helper::MAP_DELETE_ELEM));
}

fn data_exit(
    a: &mut A,
    f: &Fields<'_>,
    p: &Params,
    out: kestrel_isa::builder::Label,
) -> Result<(), CaptureError> {
    let ret = f.get(&["ret"])?;
    let cap = i32::try_from(p.capture_bytes)
        .map_err(|_| CaptureError::Config("capture size too large".into()))?;
    take_pending(a, out);
    // Only data kinds: an accept/connect entry of this thread is not ours to consume.
    a.push(Insn::ldx(Size::W, Reg::R1, FP, -20));
    a.jmp_imm(JmpOp::Jgt, Reg::R1, layout::K_MSG, out);
    ld_field(a, Reg::R8, ret);
    a.jmp_imm(JmpOp::Jsle, Reg::R8, 0, out);
    a.push(Insn::ldx(Size::W, Reg::R1, FP, -24));
    conn_key(a, Reg::R1);
    lookup(a, CapMap::Conns, -32);
    a.jmp_imm(JmpOp::Jeq, Reg::R0, 0, out);
    a.push(Insn::mov64_reg(Reg::R9, Reg::R0));
    scratch(a, out);
    header(a, layout::KIND_DATA, None);
    a.push(Insn::ldx(Size::W, Reg::R1, FP, -72));
    a.push(Insn::stx(Size::B, Reg::R7, off::DIR, Reg::R1));
    a.push(Insn::ldx(Size::W, Reg::R1, Reg::R9, 0));
    a.push(Insn::stx(Size::B, Reg::R7, off::ROLE, Reg::R1));
    a.push(Insn::ldx(Size::W, Reg::R1, FP, -24));
    a.push(Insn::stx(Size::W, Reg::R7, off::FD, Reg::R1));
    a.push(Insn::stx(Size::DW, Reg::R7, off::TOTAL, Reg::R8));

    // Where the bytes are: the buffer itself, or the first iovec (of the msghdr).
    let plain = a.label();
    let read_iov = a.label();
    let copy = a.label();
    let nocopy = a.label();
    let copied = a.label();
    a.push(Insn::ldx(Size::W, Reg::R1, FP, -20));
    a.jmp_imm(JmpOp::Jeq, Reg::R1, layout::K_PLAIN, plain);
    a.push(Insn::ldx(Size::DW, Reg::R3, FP, -16));
    a.jmp_imm(JmpOp::Jeq, Reg::R1, layout::K_IOV, read_iov);
    // user_msghdr: msg_name (8), msg_namelen (4 + pad), msg_iov at 16.
    fp_ptr(a, Reg::R1, -80);
    a.push(Insn::mov64_imm(Reg::R2, 8));
    a.push(Insn::alu64_imm(AluOp::Add, Reg::R3, 16));
    a.push(Insn::call_helper(helper::PROBE_READ_USER));
    a.jmp_imm(JmpOp::Jne, Reg::R0, 0, nocopy);
    a.push(Insn::ldx(Size::DW, Reg::R3, FP, -80));
    a.bind(read_iov);
    fp_ptr(a, Reg::R1, -56);
    a.push(Insn::mov64_imm(Reg::R2, 16));
    a.push(Insn::call_helper(helper::PROBE_READ_USER));
    a.jmp_imm(JmpOp::Jne, Reg::R0, 0, nocopy);
    a.push(Insn::ldx(Size::DW, Reg::R1, FP, -56));
    a.push(Insn::stx(Size::DW, FP, -16, Reg::R1));
    let shorter = a.label();
    a.push(Insn::ldx(Size::DW, Reg::R1, FP, -48));
    a.jmp_reg(JmpOp::Jle, Reg::R8, Reg::R1, shorter);
    a.push(Insn::mov64_reg(Reg::R8, Reg::R1));
    a.bind(shorter);
    a.ja(copy);
    a.bind(plain);
    a.bind(copy);
    let bounded = a.label();
    a.jmp_imm(JmpOp::Jle, Reg::R8, cap, bounded);
    a.push(Insn::mov64_imm(Reg::R8, cap));
    a.bind(bounded);
    a.push(Insn::stx(Size::W, Reg::R7, off::CAP_LEN, Reg::R8));
    a.push(Insn::mov64_reg(Reg::R1, Reg::R7));
    a.push(Insn::alu64_imm(AluOp::Add, Reg::R1, HDR as i32));
    a.push(Insn::mov64_reg(Reg::R2, Reg::R8));
    a.push(Insn::ldx(Size::DW, Reg::R3, FP, -16));
    a.push(Insn::call_helper(helper::PROBE_READ_USER));
    a.jmp_imm(JmpOp::Jeq, Reg::R0, 0, copied);
    a.bind(nocopy);
    a.push(Insn::mov64_imm(Reg::R8, 0));
    a.push(Insn::st_imm(Size::W, Reg::R7, off::CAP_LEN, 0));
    a.push(Insn::st_imm(
        Size::B,
        Reg::R7,
        off::FLAGS,
        i32::from(layout::FLAG_COPY_FAILED),
    ));
    a.bind(copied);
    // Records of this connection lost since the last delivered one travel with this one.
    a.push(Insn::mov64_imm(Reg::R1, 0));
    a.push(Insn::atomic_xchg(Size::DW, Reg::R9, 8, Reg::R1));
    a.push(Insn::stx(Size::W, Reg::R7, off::LOST_BEFORE, Reg::R1));
    a.push(Insn::stx(Size::DW, FP, -88, Reg::R1));
    a.push(Insn::mov64_reg(Reg::R3, Reg::R8));
    a.push(Insn::alu64_imm(AluOp::Add, Reg::R3, HDR as i32));
    output(a, true);
    Ok(())
}

/// accept/connect entry: save the sockaddr pointer and fd (and apply the PID filter: a
/// connection of another process is never tracked, so none of its data is copied).
fn save_addr(
    a: &mut A,
    f: &Fields<'_>,
    kind: i32,
    addr: &[&str],
    p: &Params,
    out: kestrel_isa::builder::Label,
) -> Result<(), CaptureError> {
    let fd = f.get(&["fd"])?;
    let addr = f.get(addr)?;
    pid_tgid(a);
    if let Some(pid) = p.pid {
        a.push(Insn::mov64_reg(Reg::R1, Reg::R0));
        a.push(Insn::alu64_imm(AluOp::Rsh, Reg::R1, 32));
        a.jmp_imm(JmpOp::Jne, Reg::R1, pid as i32, out);
    }
    ld_field(a, Reg::R1, addr);
    a.push(Insn::stx(Size::DW, FP, -64, Reg::R1));
    ld_field(a, Reg::R1, fd);
    a.push(Insn::stx(Size::W, FP, -56, Reg::R1));
    a.push(Insn::st_imm(Size::W, FP, -52, kind));
    a.push(Insn::st_imm(Size::W, FP, -48, 0));
    a.push(Insn::st_imm(Size::W, FP, -44, 0));
    a.push(Insn::st_imm(Size::DW, FP, -40, 0));
    a.ld_map(Reg::R1, CapMap::Pending);
    fp_ptr(a, Reg::R2, -8);
    fp_ptr(a, Reg::R3, -64);
    a.push(Insn::mov64_imm(Reg::R4, 0));
    a.push(Insn::call_helper(helper::MAP_UPDATE_ELEM));
    Ok(())
}

/// Zeroes the sockaddr payload of the scratch record.
fn zero_payload(a: &mut A, words: usize) {
    for i in 0..words {
        a.push(Insn::st_imm(Size::DW, Reg::R7, (HDR + 8 * i) as i16, 0));
    }
}

/// conns[(tgid, r8)] = {role, flags (from the record header), lost 0}.
fn insert_conn(a: &mut A, role: u8) {
    conn_key(a, Reg::R8);
    a.push(Insn::st_imm(Size::W, FP, -56, i32::from(role)));
    a.push(Insn::ldx(Size::B, Reg::R1, Reg::R7, off::FLAGS));
    a.push(Insn::stx(Size::W, FP, -52, Reg::R1));
    a.push(Insn::st_imm(Size::DW, FP, -48, 0));
    a.ld_map(Reg::R1, CapMap::Conns);
    fp_ptr(a, Reg::R2, -32);
    fp_ptr(a, Reg::R3, -56);
    a.push(Insn::mov64_imm(Reg::R4, 0));
    a.push(Insn::call_helper(helper::MAP_UPDATE_ELEM));
}

fn accept_exit(
    a: &mut A,
    f: &Fields<'_>,
    out: kestrel_isa::builder::Label,
) -> Result<(), CaptureError> {
    let ret = f.get(&["ret"])?;
    take_pending(a, out);
    a.push(Insn::ldx(Size::W, Reg::R1, FP, -20));
    a.jmp_imm(JmpOp::Jne, Reg::R1, layout::K_ACCEPT, out);
    ld_field(a, Reg::R8, ret);
    a.jmp_imm(JmpOp::Jslt, Reg::R8, 0, out);
    scratch(a, out);
    header(a, layout::KIND_OPEN, Some(layout::ROLE_SERVER));
    zero_payload(a, 4);
    let unverified = a.label();
    let tcp = a.label();
    a.push(Insn::ldx(Size::DW, Reg::R3, FP, -16));
    a.jmp_imm(JmpOp::Jeq, Reg::R3, 0, unverified);
    a.push(Insn::mov64_reg(Reg::R1, Reg::R7));
    a.push(Insn::alu64_imm(AluOp::Add, Reg::R1, HDR as i32));
    a.push(Insn::mov64_imm(Reg::R2, layout::SOCKADDR_LEN as i32));
    a.push(Insn::call_helper(helper::PROBE_READ_USER));
    a.jmp_imm(JmpOp::Jne, Reg::R0, 0, unverified);
    a.push(Insn::ldx(Size::H, Reg::R1, Reg::R7, HDR as i16));
    a.jmp_imm(JmpOp::Jeq, Reg::R1, 2, tcp); // AF_INET
    a.jmp_imm(JmpOp::Jeq, Reg::R1, 10, tcp); // AF_INET6
    a.ja(out); // AF_UNIX and the rest: not TCP
    a.bind(unverified);
    a.push(Insn::st_imm(
        Size::B,
        Reg::R7,
        off::FLAGS,
        i32::from(layout::FLAG_UNVERIFIED),
    ));
    a.bind(tcp);
    insert_conn(a, layout::ROLE_SERVER);
    a.push(Insn::stx(Size::W, Reg::R7, off::FD, Reg::R8));
    a.push(Insn::st_imm(
        Size::W,
        Reg::R7,
        off::CAP_LEN,
        layout::SOCKADDR_LEN as i32,
    ));
    a.push(Insn::mov64_imm(
        Reg::R3,
        (HDR + layout::SOCKADDR_LEN) as i32,
    ));
    output(a, false);
    Ok(())
}

fn connect_exit(
    a: &mut A,
    f: &Fields<'_>,
    out: kestrel_isa::builder::Label,
) -> Result<(), CaptureError> {
    let ret = f.get(&["ret"])?;
    take_pending(a, out);
    a.push(Insn::ldx(Size::W, Reg::R1, FP, -20));
    a.jmp_imm(JmpOp::Jne, Reg::R1, layout::K_CONNECT, out);
    // Only when inet_sock_set_state saw a TCP socket enter SYN_SENT in this call.
    a.push(Insn::ldx(Size::W, Reg::R1, FP, -68));
    a.jmp_imm(JmpOp::Jeq, Reg::R1, 0, out);
    let ok = a.label();
    ld_field(a, Reg::R1, ret);
    a.jmp_imm(JmpOp::Jeq, Reg::R1, 0, ok);
    a.jmp_imm(JmpOp::Jne, Reg::R1, -115, out); // -EINPROGRESS: a non-blocking connect
    a.bind(ok);
    a.push(Insn::ldx(Size::W, Reg::R8, FP, -24));
    scratch(a, out);
    header(a, layout::KIND_OPEN, Some(layout::ROLE_CLIENT));
    insert_conn(a, layout::ROLE_CLIENT);
    zero_payload(a, 4);
    a.push(Insn::mov64_reg(Reg::R1, Reg::R7));
    a.push(Insn::alu64_imm(AluOp::Add, Reg::R1, HDR as i32));
    a.push(Insn::mov64_imm(Reg::R2, layout::SOCKADDR_LEN as i32));
    a.push(Insn::ldx(Size::DW, Reg::R3, FP, -16));
    a.push(Insn::call_helper(helper::PROBE_READ_USER));
    a.push(Insn::stx(Size::W, Reg::R7, off::FD, Reg::R8));
    a.push(Insn::ldx(Size::DW, Reg::R1, FP, -80));
    a.push(Insn::stx(Size::DW, Reg::R7, off::TOTAL, Reg::R1));
    a.push(Insn::st_imm(
        Size::W,
        Reg::R7,
        off::CAP_LEN,
        layout::SOCKADDR_LEN as i32,
    ));
    a.push(Insn::mov64_imm(
        Reg::R3,
        (HDR + layout::SOCKADDR_LEN) as i32,
    ));
    output(a, false);
    Ok(())
}

fn close_enter(
    a: &mut A,
    f: &Fields<'_>,
    out: kestrel_isa::builder::Label,
) -> Result<(), CaptureError> {
    let fd = f.get(&["fd"])?;
    pid_tgid(a);
    ld_field(a, Reg::R8, fd);
    conn_key(a, Reg::R8);
    lookup(a, CapMap::Conns, -32);
    a.jmp_imm(JmpOp::Jeq, Reg::R0, 0, out);
    a.push(Insn::mov64_reg(Reg::R9, Reg::R0));
    scratch(a, out);
    header(a, layout::KIND_CLOSE, None);
    a.push(Insn::ldx(Size::W, Reg::R1, Reg::R9, 0));
    a.push(Insn::stx(Size::B, Reg::R7, off::ROLE, Reg::R1));
    a.push(Insn::stx(Size::W, Reg::R7, off::FD, Reg::R8));
    a.push(Insn::st_imm(Size::W, Reg::R7, off::CAP_LEN, 0));
    a.push(Insn::ldx(Size::DW, Reg::R1, Reg::R9, 8));
    a.push(Insn::stx(Size::W, Reg::R7, off::LOST_BEFORE, Reg::R1));
    a.ld_map(Reg::R1, CapMap::Conns);
    fp_ptr(a, Reg::R2, -32);
    a.push(Insn::call_helper(helper::MAP_DELETE_ELEM));
    a.push(Insn::mov64_imm(Reg::R3, HDR as i32));
    output(a, false);
    Ok(())
}

fn sock_state(
    a: &mut A,
    f: &Fields<'_>,
    out: kestrel_isa::builder::Label,
) -> Result<(), CaptureError> {
    let old = f.get(&["oldstate"])?;
    let new = f.get(&["newstate"])?;
    let proto = f.get(&["protocol"])?;
    let sport = f.get(&["sport"])?;
    let fields = [
        (f.get(&["family"])?, 0i16),
        (sport, 2),
        (f.get(&["dport"])?, 4),
    ];
    let saddr = f.get(&["saddr"])?;
    let daddr = f.get(&["daddr"])?;
    let saddr6 = f.array("saddr_v6", 16)?;
    let daddr6 = f.array("daddr_v6", 16)?;
    let synsent = a.label();
    ld_field(a, Reg::R1, proto);
    a.jmp_imm(JmpOp::Jne, Reg::R1, 6, out); // IPPROTO_TCP
    ld_field(a, Reg::R1, new);
    a.jmp_imm(JmpOp::Jeq, Reg::R1, 2, synsent); // TCP_SYN_SENT
    a.jmp_imm(JmpOp::Jne, Reg::R1, 1, out); // TCP_ESTABLISHED
    ld_field(a, Reg::R1, old);
    a.jmp_imm(JmpOp::Jne, Reg::R1, 3, out); // from TCP_SYN_RECV: passive open

    // Softirq context: no process; the record carries only the two addresses.
    scratch(a, out);
    a.push(Insn::st_imm(
        Size::B,
        Reg::R7,
        off::KIND,
        i32::from(layout::KIND_EST),
    ));
    a.push(Insn::call_helper(helper::KTIME_GET_NS));
    a.push(Insn::stx(Size::DW, Reg::R7, off::TS, Reg::R0));
    a.push(Insn::st_imm(
        Size::W,
        Reg::R7,
        off::CAP_LEN,
        layout::EST_PAYLOAD as i32,
    ));
    let base = HDR as i16;
    for (fl, o) in fields {
        ld_field(a, Reg::R1, fl);
        a.push(Insn::stx(Size::H, Reg::R7, base + o, Reg::R1));
    }
    ld_field(a, Reg::R1, saddr);
    a.push(Insn::stx(Size::W, Reg::R7, base + 8, Reg::R1));
    ld_field(a, Reg::R1, daddr);
    a.push(Insn::stx(Size::W, Reg::R7, base + 12, Reg::R1));
    for (fl, o) in [(saddr6, 16i16), (daddr6, 32)] {
        for half in [0i16, 8] {
            a.push(Insn::ldx(Size::DW, Reg::R1, Reg::R6, fl + half));
            a.push(Insn::stx(Size::DW, Reg::R7, base + o + half, Reg::R1));
        }
    }
    a.push(Insn::mov64_imm(Reg::R3, (HDR + layout::EST_PAYLOAD) as i32));
    output(a, false);
    a.ja(out);

    // A connect() of this thread put a TCP socket into SYN_SENT: mark its pending entry.
    a.bind(synsent);
    pid_tgid(a);
    lookup(a, CapMap::Pending, -8);
    a.jmp_imm(JmpOp::Jeq, Reg::R0, 0, out);
    a.push(Insn::ldx(Size::W, Reg::R1, Reg::R0, 12));
    a.jmp_imm(JmpOp::Jne, Reg::R1, layout::K_CONNECT, out);
    a.push(Insn::st_imm(Size::W, Reg::R0, 20, 1));
    ld_field(a, Reg::R1, sport);
    a.push(Insn::stx(Size::DW, Reg::R0, 24, Reg::R1));
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use kestrel_kernel::{FixtureKernel, KernelFacts, TracepointId};

    #[test]
    fn every_program_builds_against_the_fixture_formats_or_says_which_field() {
        let k = FixtureKernel::standard();
        let p = Params {
            capture_bytes: 1024,
            pid: Some(42),
        };
        for plan in plans() {
            let id = TracepointId::new(plan.category, plan.name.clone());
            let Ok(fmt) = k.tracepoint_format(&id) else {
                continue;
            };
            match build(plan.hook, &fmt, &p) {
                Ok(g) => assert!(!g.insns.is_empty()),
                Err(e) => assert!(e.to_string().contains("field"), "{id}: {e}"),
            }
        }
        assert!(build(
            Hook::DataExit,
            &dummy(),
            &Params {
                capture_bytes: 8,
                pid: None
            }
        )
        .is_err());
    }

    fn dummy() -> TracepointFormat {
        TracepointFormat {
            id: TracepointId::new("syscalls", "sys_exit_read"),
            event_id: 1,
            fields: vec![],
        }
    }
}
