//! Raw opcode bits of the eBPF instruction encoding (see the kernel's
//! `Documentation/bpf/standardization/instruction-set.rst`).

/// Instruction class: non-standard load (64-bit immediate, legacy packet loads).
pub const BPF_LD: u8 = 0x00;
/// Instruction class: load into register.
pub const BPF_LDX: u8 = 0x01;
/// Instruction class: store immediate.
pub const BPF_ST: u8 = 0x02;
/// Instruction class: store from register.
pub const BPF_STX: u8 = 0x03;
/// Instruction class: 32-bit arithmetic.
pub const BPF_ALU: u8 = 0x04;
/// Instruction class: 64-bit jumps.
pub const BPF_JMP: u8 = 0x05;
/// Instruction class: 32-bit jumps.
pub const BPF_JMP32: u8 = 0x06;
/// Instruction class: 64-bit arithmetic.
pub const BPF_ALU64: u8 = 0x07;

/// Source operand: immediate.
pub const BPF_K: u8 = 0x00;
/// Source operand: register.
pub const BPF_X: u8 = 0x08;

/// Size modifier: 32 bits.
pub const BPF_W: u8 = 0x00;
/// Size modifier: 16 bits.
pub const BPF_H: u8 = 0x08;
/// Size modifier: 8 bits.
pub const BPF_B: u8 = 0x10;
/// Size modifier: 64 bits.
pub const BPF_DW: u8 = 0x18;

/// Mode modifier: 64-bit immediate.
pub const BPF_IMM: u8 = 0x00;
/// Mode modifier: legacy absolute packet load.
pub const BPF_ABS: u8 = 0x20;
/// Mode modifier: legacy indirect packet load.
pub const BPF_IND: u8 = 0x40;
/// Mode modifier: regular memory access.
pub const BPF_MEM: u8 = 0x60;
/// Mode modifier: sign-extending load (v4).
pub const BPF_MEMSX: u8 = 0x80;
/// Mode modifier: atomic operation.
pub const BPF_ATOMIC: u8 = 0xc0;

/// `src` of a 64-bit immediate load: `imm` is a map file descriptor.
pub const BPF_PSEUDO_MAP_FD: u8 = 1;
/// `src` of a 64-bit immediate load: map fd plus offset into its value.
pub const BPF_PSEUDO_MAP_VALUE: u8 = 2;
/// `src` of a 64-bit immediate load: BTF id of a kernel variable.
pub const BPF_PSEUDO_BTF_ID: u8 = 3;
/// `src` of a 64-bit immediate load: address of a bpf-to-bpf function.
pub const BPF_PSEUDO_FUNC: u8 = 4;
/// `src` of a 64-bit immediate load: map index (fd_array).
pub const BPF_PSEUDO_MAP_IDX: u8 = 5;
/// `src` of a 64-bit immediate load: map index plus value offset (fd_array).
pub const BPF_PSEUDO_MAP_IDX_VALUE: u8 = 6;
/// `src` of a call: bpf-to-bpf call, `imm` is the relative target.
pub const BPF_PSEUDO_CALL: u8 = 1;
/// `src` of a call: kernel function call by BTF id.
pub const BPF_PSEUDO_KFUNC_CALL: u8 = 2;

/// Atomic modifier: also return the old value in the source register.
pub const BPF_FETCH: i32 = 0x01;
/// Atomic exchange (always with fetch).
pub const BPF_XCHG: i32 = 0xe0 | BPF_FETCH;
/// Atomic compare-and-exchange (always with fetch; compares with r0).
pub const BPF_CMPXCHG: i32 = 0xf0 | BPF_FETCH;
