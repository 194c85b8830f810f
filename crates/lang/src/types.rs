//! Value types of the language after semantic analysis.

use std::fmt;

/// The type of an expression, variable, map key or map value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    /// An integer of `size` bytes (1, 2, 4 or 8); computed in 64-bit registers.
    Int {
        /// Storage width in bytes.
        size: u8,
        /// Signedness.
        signed: bool,
    },
    /// A NUL-terminated string in a buffer of `len` bytes.
    Str {
        /// Buffer size in bytes (including room for the NUL).
        len: u32,
    },
    /// No value (the type of `exit()`, `printf(...)`).
    Void,
    /// A kernel pointer to the BTF type `target` (0 for `void *`); integer-like.
    Ptr {
        /// BTF type id of the pointee (typedefs and qualifiers not yet stripped).
        target: u32,
    },
    /// A struct or union reached through a pointer (`task->thread`); its value is its address
    /// and it can only be used to reach members with `.`.
    Record {
        /// BTF type id of the struct or union.
        id: u32,
    },
    /// An IPv4 or IPv6 address from `ntop()`: a u64 address family then 16 address bytes,
    /// formatted by userspace.
    Inet,
    /// A user id that userspace prints as the user's name (`username`).
    Username,
    /// An errno value that userspace prints as its message (`strerror(e)`).
    Errno,
    /// Six bytes printed as a MAC address (`macaddr(...)`), in an 8-byte slot.
    Mac,
    /// Raw bytes printed with `%r` as escaped text (`buf(ptr, len)`): a u64 length, then `len`
    /// bytes.
    Buf {
        /// Capacity in bytes.
        len: u32,
    },
    /// A tuple `(a, b, ...)`; its element types are `ir::Program::tuples[id]`, each element in
    /// an 8-byte-aligned slot.
    Tuple {
        /// Index into the program's tuple table.
        id: u32,
        /// Total size in bytes.
        size: u32,
    },
    /// A kernel stack (`kstack`): the stack id `bpf_get_stackid` returned, in an 8-byte slot;
    /// userspace reads the frames from the stack map of this depth and prints them.
    KStack {
        /// Frames kept (the stack map's value holds this many addresses).
        depth: u8,
        /// How the frames are printed.
        mode: StackMode,
    },
    /// A user stack (`ustack`): an 8-byte slot with the stack id in the low 32 bits and the
    /// process id in the high 32 bits (user symbols need the process).
    UStack {
        /// Frames kept.
        depth: u8,
        /// How the frames are printed.
        mode: StackMode,
    },
    /// A kernel address printed as its symbol (`ksym(addr)`).
    Ksym,
    /// A user address printed as its symbol (`usym(addr)`): a u64 address then the u64
    /// process id, 16 bytes.
    Usym,
    /// `strftime(fmt, nsecs)`: nanoseconds since boot, printed by userspace as wall-clock
    /// time with format number `id` of `ir::Program::strftimes`.
    Timestamp {
        /// Index of the format.
        id: u32,
    },
}

pub use kestrel_obj::StackMode;

impl Type {
    /// A signed 64-bit integer, the type of literals and arithmetic.
    pub const I64: Type = Type::Int {
        size: 8,
        signed: true,
    };
    /// An unsigned 64-bit integer.
    pub const U64: Type = Type::Int {
        size: 8,
        signed: false,
    };
    /// An unsigned 32-bit integer.
    pub const U32: Type = Type::Int {
        size: 4,
        signed: false,
    };

    /// True for integers and pointers (both live in one register).
    pub fn is_int(self) -> bool {
        matches!(self, Type::Int { .. } | Type::Ptr { .. })
    }
    /// True for values kept in memory buffers rather than registers (strings, addresses).
    pub fn is_buffer(self) -> bool {
        matches!(
            self,
            Type::Str { .. }
                | Type::Inet
                | Type::Tuple { .. }
                | Type::Mac
                | Type::Buf { .. }
                | Type::Usym
        )
    }
    /// True for strings.
    pub fn is_str(self) -> bool {
        matches!(self, Type::Str { .. })
    }
    /// Bytes the value occupies in a map key, map value or event record.
    /// Integers are widened to 8 bytes so keys and records stay aligned.
    pub fn storage_size(self) -> u32 {
        match self {
            Type::Int { .. } | Type::Ptr { .. } | Type::Record { .. } => 8,
            Type::Str { len } => len,
            Type::Inet => 24,
            Type::Username | Type::Errno | Type::Mac => 8,
            Type::KStack { .. } | Type::UStack { .. } | Type::Ksym => 8,
            Type::Timestamp { .. } => 8,
            Type::Usym => 16,
            Type::Buf { len } => 8 + len,
            Type::Tuple { size, .. } => size,
            Type::Void => 0,
        }
    }
    /// Whether two types may be stored in the same variable or map slot
    /// (integers of any width mix; strings of any length mix).
    pub fn compatible(self, other: Type) -> bool {
        match (self, other) {
            (Type::Int { .. } | Type::Ptr { .. }, Type::Int { .. } | Type::Ptr { .. }) => true,
            (Type::Str { .. }, Type::Str { .. })
            | (Type::Inet, Type::Inet)
            | (Type::Void, Type::Void)
            | (Type::Username, Type::Username)
            | (Type::Errno, Type::Errno)
            | (Type::Mac, Type::Mac)
            | (Type::Ksym, Type::Ksym)
            | (Type::Usym, Type::Usym) => true,
            (Type::KStack { .. }, Type::KStack { .. })
            | (Type::UStack { .. }, Type::UStack { .. }) => self == other,
            (Type::Buf { len: a }, Type::Buf { len: b }) => a == b,
            (Type::Timestamp { .. }, Type::Timestamp { .. }) => self == other,
            // Tuples of one shape share one table entry.
            (Type::Tuple { id: a, .. }, Type::Tuple { id: b, .. }) => a == b,
            _ => false,
        }
    }
    /// A short name for diagnostics: `int64`, `uint32`, `string`, `void`.
    pub fn describe(self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Int { size, signed } => {
                write!(
                    f,
                    "{}int{}",
                    if *signed { "" } else { "u" },
                    u32::from(*size) * 8
                )
            }
            Type::Str { .. } => write!(f, "string"),
            Type::Void => write!(f, "void"),
            Type::Ptr { .. } => write!(f, "pointer"),
            Type::Record { .. } => write!(f, "struct"),
            Type::Inet => write!(f, "inet address"),
            Type::Tuple { .. } => write!(f, "tuple"),
            Type::Username => write!(f, "username"),
            Type::Errno => write!(f, "strerror"),
            Type::Mac => write!(f, "mac address"),
            Type::Buf { .. } => write!(f, "buffer"),
            Type::KStack { .. } => write!(f, "kstack"),
            Type::UStack { .. } => write!(f, "ustack"),
            Type::Ksym => write!(f, "ksym"),
            Type::Usym => write!(f, "usym"),
            Type::Timestamp { .. } => write!(f, "timestamp"),
        }
    }
}

/// Bytes a value of `ty` takes inside keys, values, records and tuples: its storage size
/// rounded up to 8 so that every slot stays aligned.
pub fn slot_size(ty: Type) -> u32 {
    ty.storage_size().div_ceil(8) * 8
}
