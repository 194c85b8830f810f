//! Decoded BTF type records.

use std::fmt;

/// Index of a type in the BTF type section; 0 is `void`, real types start at 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TypeId(pub u32);

impl TypeId {
    /// The implicit `void` type.
    pub const VOID: TypeId = TypeId(0);
}

impl fmt::Display for TypeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// The kind of a BTF type (the `BTF_KIND_*` value in bits 24–28 of `info`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum BtfKind {
    /// `void` (id 0 only; never stored).
    Void = 0,
    /// Integer, `char` and `_Bool`.
    Int = 1,
    /// Pointer.
    Ptr = 2,
    /// Fixed-size array.
    Array = 3,
    /// `struct`.
    Struct = 4,
    /// `union`.
    Union = 5,
    /// `enum` with 32-bit values.
    Enum = 6,
    /// Forward declaration of a struct or union.
    Fwd = 7,
    /// `typedef`.
    Typedef = 8,
    /// `volatile` qualifier.
    Volatile = 9,
    /// `const` qualifier.
    Const = 10,
    /// `restrict` qualifier.
    Restrict = 11,
    /// Function (name + prototype).
    Func = 12,
    /// Function prototype.
    FuncProto = 13,
    /// Global variable.
    Var = 14,
    /// Data section (`.data`, `.bss`, per-CPU sections).
    Datasec = 15,
    /// Floating point.
    Float = 16,
    /// Declaration tag (`__attribute__((btf_decl_tag))`).
    DeclTag = 17,
    /// Type tag (`__user`, `__rcu`, ...).
    TypeTag = 18,
    /// `enum` with 64-bit values.
    Enum64 = 19,
}

impl BtfKind {
    /// Number of kinds, for per-kind tables.
    pub(crate) const COUNT: usize = 20;

    /// The kind for a raw `BTF_KIND_*` number.
    pub fn from_raw(v: u32) -> Option<Self> {
        use BtfKind::*;
        Some(match v {
            0 => Void,
            1 => Int,
            2 => Ptr,
            3 => Array,
            4 => Struct,
            5 => Union,
            6 => Enum,
            7 => Fwd,
            8 => Typedef,
            9 => Volatile,
            10 => Const,
            11 => Restrict,
            12 => Func,
            13 => FuncProto,
            14 => Var,
            15 => Datasec,
            16 => Float,
            17 => DeclTag,
            18 => TypeTag,
            19 => Enum64,
            _ => return None,
        })
    }
}

/// A struct or union member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Member name; empty for anonymous struct/union members.
    pub name: String,
    /// The member's type.
    pub type_id: TypeId,
    /// Offset from the start of the outermost struct asked about, in bits.
    pub bit_offset: u32,
    /// Width in bits for bitfields, 0 otherwise.
    pub bitfield_size: u32,
}

/// A function parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    /// Parameter name (may be empty).
    pub name: String,
    /// Parameter type.
    pub type_id: TypeId,
}

/// One enumerator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enumerator {
    /// Its name.
    pub name: String,
    /// Its value (sign-extended from 32 bits for signed 32-bit enums).
    pub value: i64,
}

/// A variable placed in a [`BtfType::Datasec`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VarSecInfo {
    /// The `Var` type.
    pub type_id: TypeId,
    /// Offset within the section.
    pub offset: u32,
    /// Size in bytes.
    pub size: u32,
}

/// One BTF type, decoded on demand from the raw records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BtfType {
    /// `void`.
    Void,
    /// An integer.
    Int {
        /// C name, e.g. `unsigned int`.
        name: String,
        /// Size in bytes.
        size: u32,
        /// Declared signed.
        signed: bool,
        /// A `char` type (text when printed).
        is_char: bool,
        /// `_Bool`.
        is_bool: bool,
        /// Bit offset of the value within its storage.
        bit_offset: u32,
        /// Number of value bits.
        bits: u32,
    },
    /// A pointer.
    Ptr {
        /// Pointee.
        target: TypeId,
    },
    /// A fixed-size array.
    Array {
        /// Element type.
        elem: TypeId,
        /// Index type (an int).
        index: TypeId,
        /// Number of elements.
        nelems: u32,
    },
    /// A struct.
    Struct {
        /// Tag name (empty if anonymous).
        name: String,
        /// Size in bytes.
        size: u32,
        /// Members with offsets relative to this struct.
        members: Vec<Member>,
    },
    /// A union.
    Union {
        /// Tag name (empty if anonymous).
        name: String,
        /// Size in bytes.
        size: u32,
        /// Members (offsets usually 0).
        members: Vec<Member>,
    },
    /// An enum (32- or 64-bit values).
    Enum {
        /// Tag name.
        name: String,
        /// Size in bytes.
        size: u32,
        /// Whether values are signed.
        signed: bool,
        /// Stored as `BTF_KIND_ENUM64`.
        is64: bool,
        /// Enumerators.
        values: Vec<Enumerator>,
    },
    /// A forward declaration.
    Fwd {
        /// Tag name.
        name: String,
        /// `union` rather than `struct`.
        is_union: bool,
    },
    /// A typedef.
    Typedef {
        /// The new name.
        name: String,
        /// The aliased type.
        target: TypeId,
    },
    /// `volatile T`.
    Volatile {
        /// `T`.
        target: TypeId,
    },
    /// `const T`.
    Const {
        /// `T`.
        target: TypeId,
    },
    /// `T restrict`.
    Restrict {
        /// `T`.
        target: TypeId,
    },
    /// A function.
    Func {
        /// Function name.
        name: String,
        /// Its [`BtfType::FuncProto`].
        proto: TypeId,
        /// 0 static, 1 global, 2 extern.
        linkage: u32,
    },
    /// A function prototype.
    FuncProto {
        /// Return type.
        ret: TypeId,
        /// Parameters (without the variadic marker).
        params: Vec<Param>,
        /// Ends in `...`.
        variadic: bool,
    },
    /// A variable.
    Var {
        /// Variable name.
        name: String,
        /// Its type.
        type_id: TypeId,
        /// 0 static, 1 global, 2 extern.
        linkage: u32,
    },
    /// A data section.
    Datasec {
        /// Section name.
        name: String,
        /// Section size.
        size: u32,
        /// The variables in it.
        vars: Vec<VarSecInfo>,
    },
    /// A float.
    Float {
        /// C name.
        name: String,
        /// Size in bytes.
        size: u32,
    },
    /// A declaration tag.
    DeclTag {
        /// Tag text.
        name: String,
        /// Tagged type.
        target: TypeId,
        /// -1 for the type itself, else the member/parameter index.
        component_idx: i32,
    },
    /// A type tag.
    TypeTag {
        /// Tag text.
        name: String,
        /// Tagged type.
        target: TypeId,
    },
}

impl BtfType {
    /// This type's kind.
    pub fn kind(&self) -> BtfKind {
        match self {
            BtfType::Void => BtfKind::Void,
            BtfType::Int { .. } => BtfKind::Int,
            BtfType::Ptr { .. } => BtfKind::Ptr,
            BtfType::Array { .. } => BtfKind::Array,
            BtfType::Struct { .. } => BtfKind::Struct,
            BtfType::Union { .. } => BtfKind::Union,
            BtfType::Enum { is64: false, .. } => BtfKind::Enum,
            BtfType::Enum { is64: true, .. } => BtfKind::Enum64,
            BtfType::Fwd { .. } => BtfKind::Fwd,
            BtfType::Typedef { .. } => BtfKind::Typedef,
            BtfType::Volatile { .. } => BtfKind::Volatile,
            BtfType::Const { .. } => BtfKind::Const,
            BtfType::Restrict { .. } => BtfKind::Restrict,
            BtfType::Func { .. } => BtfKind::Func,
            BtfType::FuncProto { .. } => BtfKind::FuncProto,
            BtfType::Var { .. } => BtfKind::Var,
            BtfType::Datasec { .. } => BtfKind::Datasec,
            BtfType::Float { .. } => BtfKind::Float,
            BtfType::DeclTag { .. } => BtfKind::DeclTag,
            BtfType::TypeTag { .. } => BtfKind::TypeTag,
        }
    }
}
