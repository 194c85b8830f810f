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
}

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

    /// True for integers.
    pub fn is_int(self) -> bool {
        matches!(self, Type::Int { .. })
    }
    /// True for strings.
    pub fn is_str(self) -> bool {
        matches!(self, Type::Str { .. })
    }
    /// Bytes the value occupies in a map key, map value or event record.
    /// Integers are widened to 8 bytes so keys and records stay aligned.
    pub fn storage_size(self) -> u32 {
        match self {
            Type::Int { .. } => 8,
            Type::Str { len } => len,
            Type::Void => 0,
        }
    }
    /// Whether two types may be stored in the same variable or map slot
    /// (integers of any width mix; strings of any length mix).
    pub fn compatible(self, other: Type) -> bool {
        matches!(
            (self, other),
            (Type::Int { .. }, Type::Int { .. })
                | (Type::Str { .. }, Type::Str { .. })
                | (Type::Void, Type::Void)
        )
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
        }
    }
}
