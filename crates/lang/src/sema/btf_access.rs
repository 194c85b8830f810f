//! Kernel data through BTF: pointer casts (`(struct task_struct *)curtask`), member access
//! (`->`, `.`), dereference and indexing, each lowered to bounded `probe_read_kernel` reads.

use crate::diag::codes;
use crate::diag::with_article;
use kestrel_kernel::btf::{Btf, BtfKind, BtfType, TypeId};

use crate::ast;
use crate::diag::{did_you_mean, Diagnostic};
use crate::ir::{self, BinOp, ExprKind as K};
use crate::span::Span;
use crate::types::Type;

use super::{Checked, Checker};

/// `a,b,(c,d)` split at its top-level commas.
fn split_top_level(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out.into_iter().map(|p| p.trim().to_string()).collect()
}

/// The C names BTF uses for kestrel's integer type names.
fn btf_int_names(name: &str) -> &'static [&'static str] {
    match name {
        "int8" | "char" => &["char", "signed char"],
        "uint8" | "bool" => &["unsigned char", "u8", "_Bool"],
        "int16" => &["short int", "short"],
        "uint16" => &["short unsigned int", "unsigned short"],
        "int32" | "int" => &["int"],
        "uint32" | "uint" => &["unsigned int"],
        "int64" => &["long long int", "long int"],
        "uint64" => &["long long unsigned int", "long unsigned int"],
        _ => &[],
    }
}

impl Checker<'_> {
    /// Run `f` with the kernel's BTF, or report that there is none.
    fn with_btf<T>(
        &mut self,
        span: Span,
        f: impl FnOnce(&Btf) -> Result<T, Diagnostic>,
    ) -> Checked<T> {
        let result = match self.kernel.btf() {
            Ok(btf) => f(btf),
            Err(e) => Err(Diagnostic::error(
                format!("kernel type information is not available: {e}"),
                span,
            )
            .with_code(codes::KERNEL_INFO)
            .with_hint("struct access needs BTF (/sys/kernel/btf/vmlinux)")),
        };
        result.map_err(|d| self.error(d))
    }

    /// `sizeof(TYPE)`: integer names, pointers, and struct/union/enum names from BTF.
    pub(super) fn sizeof_type(&mut self, ty: &ast::TypeName) -> Checked<u32> {
        self.sizeof_type_quiet(ty).map_err(|d| self.error(d))
    }

    /// Like [`Checker::sizeof_type`] but returning the diagnostic instead of reporting it.
    pub(super) fn sizeof_type_quiet(&self, ty: &ast::TypeName) -> Result<u32, Diagnostic> {
        if ty.pointer_depth > 0 {
            return Ok(8);
        }
        let base = ty.base.trim();
        if let Some(inner) = base.strip_prefix('(').and_then(|b| b.strip_suffix(')')) {
            // A tuple type: its elements laid out like a C struct, as bpftrace packs tuples.
            let mut fields = Vec::new();
            for part in split_top_level(inner) {
                let depth = part.len() - part.trim_end_matches('*').len();
                let elem = ast::TypeName {
                    base: part.trim_end_matches('*').to_string(),
                    pointer_depth: depth as u32,
                    span: ty.span,
                };
                let size = self.sizeof_type_quiet(&elem)?;
                let align = if elem.base.starts_with('(') {
                    size.clamp(1, 8)
                } else {
                    size.clamp(1, 8).next_power_of_two().min(8)
                };
                fields.push((size, align));
            }
            return Ok(super::expr::packed_size(&fields));
        }
        let fixed = match base {
            "int8" | "uint8" | "char" | "bool" => Some(1),
            "int16" | "uint16" => Some(2),
            "int32" | "uint32" | "int" | "uint" => Some(4),
            "int64" | "uint64" => Some(8),
            _ => None,
        };
        if let Some(n) = fixed {
            return Ok(n);
        }
        let btf = self.kernel.btf().map_err(|e| {
            Diagnostic::error(
                format!("kernel type information is not available: {e}"),
                ty.span,
            )
            .with_code(codes::KERNEL_INFO)
        })?;
        let (kind, name) = if let Some(n) = base.strip_prefix("struct ") {
            (BtfKind::Struct, n.trim())
        } else if let Some(n) = base.strip_prefix("union ") {
            (BtfKind::Union, n.trim())
        } else if let Some(n) = base.strip_prefix("enum ") {
            (BtfKind::Enum, n.trim())
        } else {
            (BtfKind::Typedef, base)
        };
        btf.find_by_name(kind, name)
            .and_then(|id| btf.size_of(id))
            .ok_or_else(|| {
                Diagnostic::error(format!("unknown type '{base}'"), ty.span)
                    .with_code(codes::UNKNOWN_TYPE)
            })
    }

    /// `offsetof(struct T, a.b)`: the byte offset of the member path within the struct.
    pub(super) fn offsetof(
        &mut self,
        ty: &ast::TypeName,
        fields: &[ast::Ident],
        span: Span,
    ) -> Checked<u32> {
        let base = ty.base.trim().to_string();
        let ty_span = ty.span;
        let pointer = ty.pointer_depth > 0;
        self.with_btf(span, |btf| {
            let (kind, name) = if let Some(n) = base.strip_prefix("struct ") {
                (BtfKind::Struct, n.trim())
            } else if let Some(n) = base.strip_prefix("union ") {
                (BtfKind::Union, n.trim())
            } else {
                (BtfKind::Typedef, base.as_str())
            };
            let found = btf
                .find_by_name(kind, name)
                .and_then(|id| complete_record(btf, id))
                .filter(|_| !pointer);
            let Some(mut sid) = found else {
                return Err(Diagnostic::error(
                    format!("offsetof needs a struct or union type, found '{base}'"),
                    ty_span,
                )
                .with_code(codes::UNKNOWN_TYPE));
            };
            let mut offset = 0u32;
            for (i, field) in fields.iter().enumerate() {
                let Some(m) = btf.struct_member(sid, &field.name) else {
                    let members: Vec<String> = btf
                        .members(sid)
                        .unwrap_or_default()
                        .into_iter()
                        .map(|m| m.name)
                        .filter(|n| !n.is_empty())
                        .collect();
                    let mut d = Diagnostic::error(
                        format!("{} has no member '{}'", btf.type_name(sid), field.name),
                        field.span,
                    )
                    .with_code(codes::UNKNOWN_TYPE);
                    if let Some(s) = did_you_mean(&field.name, members.iter().map(String::as_str)) {
                        d = d.with_hint(format!("did you mean '{s}'?"));
                    }
                    return Err(d);
                };
                offset += m.bit_offset / 8;
                if i + 1 < fields.len() {
                    sid = complete_record(btf, m.type_id).ok_or_else(|| {
                        Diagnostic::error(
                            format!("'{}' is not a struct or union", field.name),
                            field.span,
                        )
                        .with_code(codes::INVALID_ACCESS)
                    })?;
                }
            }
            Ok(offset)
        })
    }

    /// The type of `curtask`: `struct task_struct *` when BTF is there, else a plain u64.
    pub(super) fn curtask_type(&self) -> Type {
        match self.kernel.btf() {
            Ok(btf) => btf
                .find_by_name(BtfKind::Struct, "task_struct")
                .map_or(Type::U64, |id| Type::Ptr { target: id.0 }),
            Err(_) => Type::U64,
        }
    }

    /// `(struct foo *)expr`, `(uint32 *)expr`.
    pub(super) fn pointer_cast(
        &mut self,
        ty: &ast::TypeName,
        inner: ir::Expr,
        span: Span,
    ) -> Checked<ir::Expr> {
        if ty.pointer_depth != 1 {
            return Err(self.unsupported("casts to pointers to pointers", ty.span));
        }
        let base = ty.base.trim().to_string();
        let target = self.with_btf(ty.span, |btf| {
            let (kind, name) = if let Some(n) = base.strip_prefix("struct ") {
                (Some(BtfKind::Struct), n.trim())
            } else if let Some(n) = base.strip_prefix("union ") {
                (Some(BtfKind::Union), n.trim())
            } else if let Some(n) = base.strip_prefix("enum ") {
                (Some(BtfKind::Enum), n.trim())
            } else {
                (None, base.as_str())
            };
            let found = match kind {
                Some(k) => btf.find_by_name(k, name),
                None if name == "void" => Some(TypeId::VOID),
                None => btf_int_names(name)
                    .iter()
                    .find_map(|n| btf.find_by_name(BtfKind::Int, n))
                    .or_else(|| btf.find_by_name(BtfKind::Typedef, name)),
            };
            found.ok_or_else(|| {
                Diagnostic::error(format!("unknown type '{base}' in this kernel's BTF"), ty.span).with_code(codes::UNKNOWN_TYPE)
                    .with_hint("struct, union and enum names are those of the running kernel, e.g. (struct task_struct *)")
            })
        })?;
        Ok(ir::Expr {
            kind: K::Cast {
                expr: Box::new(inner),
            },
            ty: Type::Ptr { target: target.0 },
            span,
        })
    }

    /// `base->field` (base a pointer) or `base.field` (base a struct reached through one).
    pub(super) fn member_access(
        &mut self,
        base: ir::Expr,
        field: &ast::Ident,
        arrow: bool,
        span: Span,
    ) -> Checked<ir::Expr> {
        let struct_id = match (base.ty, arrow) {
            // Current bpftrace reaches a member through a pointer with `.` too.
            (Type::Ptr { target }, _) => target,
            (Type::Record { id }, false) => id,
            (Type::Record { .. }, true) => {
                return Err(self.error(
                    Diagnostic::error("use . to reach a member of a struct", field.span).with_code(codes::INVALID_ACCESS)
                        .with_hint(format!("write .{}", field.name)),
                ))
            }
            (other, _) => return Err(self.error(
                Diagnostic::error(format!("{} has no members", with_article(other)), base.span).with_code(codes::INVALID_ACCESS).with_hint(
                    "cast it to a struct pointer first, e.g. ((struct task_struct *)curtask)->pid",
                ),
            )),
        };
        let field_span = field.span;
        let name = field.name.clone();
        let (offset, type_id) = self.with_btf(span, |btf| {
            let sid = complete_record(btf, TypeId(struct_id)).ok_or_else(|| {
                Diagnostic::error(
                    format!(
                        "'{}' is not a struct or union",
                        btf.type_name(TypeId(struct_id))
                    ),
                    base.span,
                )
                .with_code(codes::INVALID_ACCESS)
            })?;
            let Some(m) = btf.struct_member(sid, &name) else {
                let members: Vec<String> = btf
                    .members(sid)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|m| m.name)
                    .filter(|n| !n.is_empty())
                    .collect();
                let mut d = Diagnostic::error(
                    format!("{} has no member '{name}'", btf.type_name(sid)),
                    field_span,
                )
                .with_code(codes::UNKNOWN_TYPE);
                if let Some(s) = did_you_mean(&name, members.iter().map(String::as_str)) {
                    d = d.with_hint(format!("did you mean '{s}'?"));
                }
                return Err(d);
            };
            if m.bitfield_size != 0 {
                return Err(Diagnostic::error(
                    format!("'{name}' is a bitfield, which kestrel cannot read yet"),
                    field_span,
                )
                .with_code(codes::NOT_SUPPORTED));
            }
            Ok((m.bit_offset / 8, m.type_id))
        })?;
        let addr = ir::Expr {
            kind: K::Binary {
                op: BinOp::Add,
                lhs: Box::new(base),
                rhs: Box::new(ir::Expr {
                    kind: K::Int(i64::from(offset)),
                    ty: Type::U64,
                    span,
                }),
            },
            ty: Type::U64,
            span,
        };
        self.typed_read(addr, type_id, span)
    }

    /// `*ptr`.
    pub(super) fn deref(&mut self, ptr: ir::Expr, span: Span) -> Checked<ir::Expr> {
        let Type::Ptr { target } = ptr.ty else {
            return Err(self.error(
                Diagnostic::error(
                    format!("cannot dereference {}", with_article(ptr.ty)),
                    ptr.span,
                )
                .with_code(codes::INVALID_ACCESS)
                .with_hint("cast it to a pointer type first"),
            ));
        };
        self.typed_read(ptr, TypeId(target), span)
    }

    /// `ptr[i]` with a constant index.
    pub(super) fn index_pointer(
        &mut self,
        ptr: ir::Expr,
        index: i64,
        span: Span,
    ) -> Checked<ir::Expr> {
        let Type::Ptr { target } = ptr.ty else {
            return Err(self.error(
                Diagnostic::error(format!("cannot index {}", with_article(ptr.ty)), ptr.span)
                    .with_code(codes::INVALID_ACCESS),
            ));
        };
        let size = self.with_btf(span, |btf| {
            btf.size_of(TypeId(target))
                .filter(|s| *s > 0)
                .ok_or_else(|| {
                    Diagnostic::error("cannot index a pointer to a type of unknown size", span)
                        .with_code(codes::INVALID_ACCESS)
                })
        })?;
        let addr = ir::Expr {
            kind: K::Binary {
                op: BinOp::Add,
                lhs: Box::new(ptr),
                rhs: Box::new(ir::Expr {
                    kind: K::Int(index.wrapping_mul(i64::from(size))),
                    ty: Type::I64,
                    span,
                }),
            },
            ty: Type::U64,
            span,
        };
        self.typed_read(addr, TypeId(target), span)
    }

    /// The value of BTF type `type_id` stored at `addr`: integers and pointers are read,
    /// structs stay places, char arrays become strings and other arrays decay to pointers.
    fn typed_read(&mut self, addr: ir::Expr, type_id: TypeId, span: Span) -> Checked<ir::Expr> {
        let shape = self.with_btf(span, |btf| Ok(shape_of(btf, type_id)))?;
        let kind_read = |size: u8, signed: bool| K::KernelRead {
            addr: Box::new(addr.clone()),
            size,
            signed,
        };
        Ok(match shape {
            Shape::Int { size, signed } => ir::Expr {
                kind: kind_read(size, signed),
                ty: Type::Int { size, signed },
                span,
            },
            Shape::Ptr { target } => ir::Expr {
                kind: kind_read(8, false),
                ty: Type::Ptr { target },
                span,
            },
            Shape::Record { id } => ir::Expr {
                ty: Type::Record { id },
                span,
                ..addr
            },
            Shape::CharArray { len } => ir::Expr {
                kind: K::KernelStr {
                    addr: Box::new(addr),
                    len: len.clamp(1, 256),
                },
                ty: Type::Str {
                    len: len.clamp(1, 256),
                },
                span,
            },
            Shape::Array { elem } => {
                let bytes = self.with_btf(span, |btf| Ok(btf.size_of(type_id).unwrap_or(0)))?;
                self.last_array = Some((span, bytes));
                ir::Expr {
                    ty: Type::Ptr { target: elem },
                    span,
                    ..addr
                }
            }
            Shape::Other(what) => {
                return Err(self.error(
                    Diagnostic::error(format!("kestrel cannot read a value of type {what}"), span)
                        .with_code(codes::NOT_SUPPORTED),
                ));
            }
        })
    }
}

/// What a BTF type looks like to the language.
enum Shape {
    Int { size: u8, signed: bool },
    Ptr { target: u32 },
    Record { id: u32 },
    CharArray { len: u32 },
    Array { elem: u32 },
    Other(String),
}

fn shape_of(btf: &Btf, id: TypeId) -> Shape {
    let Some(rid) = btf.resolve(id) else {
        return Shape::Other(btf.type_name(id));
    };
    match btf.get(rid) {
        Ok(BtfType::Int { size, signed, .. }) if matches!(size, 1 | 2 | 4 | 8) => Shape::Int {
            size: size as u8,
            signed,
        },
        Ok(BtfType::Enum { size, signed, .. }) if matches!(size, 1 | 2 | 4 | 8) => Shape::Int {
            size: size as u8,
            signed,
        },
        Ok(BtfType::Ptr { target }) => Shape::Ptr { target: target.0 },
        Ok(BtfType::Struct { .. } | BtfType::Union { .. } | BtfType::Fwd { .. }) => {
            Shape::Record { id: rid.0 }
        }
        Ok(BtfType::Array { elem, nelems, .. }) => {
            let is_char = btf
                .resolve(elem)
                .and_then(|e| btf.get(e).ok())
                .is_some_and(|t| matches!(t, BtfType::Int { size: 1, .. }));
            if is_char {
                Shape::CharArray { len: nelems }
            } else {
                Shape::Array { elem: elem.0 }
            }
        }
        _ => Shape::Other(btf.type_name(rid)),
    }
}

/// The struct or union behind `id` (through typedefs/qualifiers), resolving a forward
/// declaration to the full definition by name.
fn complete_record(btf: &Btf, id: TypeId) -> Option<TypeId> {
    let rid = btf.resolve(id)?;
    match btf.get(rid).ok()? {
        BtfType::Struct { .. } | BtfType::Union { .. } => Some(rid),
        BtfType::Fwd { name, is_union } => btf.find_by_name(
            if is_union {
                BtfKind::Union
            } else {
                BtfKind::Struct
            },
            &name,
        ),
        _ => None,
    }
}
