//! Checking expressions: literals, builtins, variables, maps, tracepoint arguments,
//! operators and the value-returning functions.

use crate::ast::{self, ExprKind as A};
use crate::diag::codes;
use crate::diag::with_article;
use crate::diag::{did_you_mean, Diagnostic};
use crate::ir::{self, Attach, Builtin, ExprKind as K, MapValue};
use crate::span::Span;
use crate::types::Type;

use super::{Checked, Checker, ProbeScope};

/// Builtins kestrel understands now, with their types.
const BUILTINS: &[(&str, Builtin, Type)] = &[
    ("pid", Builtin::Pid, Type::U32),
    ("tid", Builtin::Tid, Type::U32),
    ("uid", Builtin::Uid, Type::U32),
    ("gid", Builtin::Gid, Type::U32),
    ("nsecs", Builtin::Nsecs, Type::U64),
    ("cpu", Builtin::Cpu, Type::U32),
    ("comm", Builtin::Comm, Type::Str { len: 16 }),
    ("numaid", Builtin::NumaId, Type::U32),
    ("rand", Builtin::Rand, Type::U32),
    ("cgroup", Builtin::Cgroup, Type::U64),
    ("jiffies", Builtin::Jiffies, Type::U64),
    ("curtask", Builtin::CurTask, Type::U64),
    ("elapsed", Builtin::Elapsed, Type::U64),
    ("cpid", Builtin::Cpid, Type::U32),
];

/// Builtins of the bpftrace language kestrel does not implement yet.
const LATER_BUILTINS: &[&str] = &[];

/// The type of integer arithmetic on `a` and `b`: 64-bit, signed unless both are unsigned.
pub(crate) fn arith_type(a: Type, b: Type) -> Type {
    match (a, b) {
        (Type::Int { signed: false, .. }, Type::Int { signed: false, .. }) => Type::U64,
        _ => Type::I64,
    }
}

impl Checker<'_> {
    pub(super) fn expr(&mut self, e: &ast::Expr, scope: &mut ProbeScope) -> Checked<ir::Expr> {
        let span = e.span;
        let make = |kind, ty| Ok(ir::Expr { kind, ty, span });
        match &e.kind {
            A::Int(v) => {
                let Ok(v) = i64::try_from(*v) else {
                    // Values above i64::MAX keep their bits, as unsigned.
                    return make(K::Int(*v as i64), Type::U64);
                };
                make(K::Int(v), Type::I64)
            }
            A::Str(s) => make(
                K::Str(s.clone()),
                Type::Str {
                    len: s.len() as u32 + 1,
                },
            ),
            A::Builtin(name) => self.builtin(name, span, scope),
            A::Var(name) => self.var_read(name, span, scope),
            A::Map(map) => {
                let keys = self.map_keys(map, scope)?;
                self.map_read(map, keys, scope)
            }
            A::Positional(n) => {
                // As in bpftrace: a number when it reads as one, else a string; an unset
                // parameter is 0 (or "" where a string is expected).
                let value = (*n as usize)
                    .checked_sub(1)
                    .and_then(|i| self.options.positional.get(i));
                match value {
                    None => make(K::Int(0), Type::I64),
                    Some(v) => match parse_int_literal(v) {
                        Some(i) => make(K::Int(i), Type::I64),
                        None => make(
                            K::Str(v.clone()),
                            Type::Str {
                                len: v.len() as u32 + 1,
                            },
                        ),
                    },
                }
            }
            A::PositionalCount => make(K::Int(self.options.positional.len() as i64), Type::I64),
            A::Call { name, args } => self.call(name, args, span, scope),
            A::Binary { op, lhs, rhs } => self.binary(*op, lhs, rhs, span, scope),
            A::Unary { op, expr } => {
                let inner = self.expr(expr, scope)?;
                let op = match op {
                    ast::UnOp::Neg => ir::UnOp::Neg,
                    ast::UnOp::Not => ir::UnOp::Not,
                    ast::UnOp::BitNot => ir::UnOp::BitNot,
                    ast::UnOp::Deref => return self.deref(inner, span),
                    ast::UnOp::AddrOf => return Err(self.unsupported("taking addresses (&)", span)),
                };
                let inner = self.expect_int(inner, "the operand")?;
                // Fold negative literals so `-1` stays a constant (lhist bounds, map keys).
                if let (ir::UnOp::Neg, K::Int(v)) = (op, &inner.kind) {
                    return make(K::Int(v.wrapping_neg()), Type::I64);
                }
                let ty = if op == ir::UnOp::Not {
                    Type::I64
                } else {
                    arith_type(inner.ty, Type::I64)
                };
                make(
                    K::Unary {
                        op,
                        expr: Box::new(inner),
                    },
                    ty,
                )
            }
            A::Ternary {
                cond,
                then,
                otherwise,
            } => {
                let c = self.expr(cond, scope)?;
                let c = self.expect_int(c, "a ternary condition")?;
                let t = self.expr(then, scope)?;
                let o = self.expr(otherwise, scope)?;
                if !t.ty.compatible(o.ty) || t.ty == Type::Void {
                    return Err(self.error(
                        Diagnostic::error("the branches of ?: have different types", span)
                            .with_code(codes::TYPE_MISMATCH)
                            .with_secondary(t.span, format!("this is {}", with_article(t.ty)))
                            .with_secondary(o.span, format!("this is {}", with_article(o.ty))),
                    ));
                }
                let ty = if t.ty.is_int() {
                    arith_type(t.ty, o.ty)
                } else {
                    super::widen(t.ty, o.ty)
                };
                make(
                    K::Ternary {
                        cond: Box::new(c),
                        then: Box::new(t),
                        otherwise: Box::new(o),
                    },
                    ty,
                )
            }
            A::Field { expr, field, arrow } => {
                if matches!(&expr.kind, A::Builtin(b) if b == "args") {
                    return self.field(expr, field, span, scope);
                }
                let base = self.expr(expr, scope)?;
                if matches!(base.ty, Type::Tuple { .. }) && !*arrow {
                    return self.tuple_element(base, field, span);
                }
                self.member_access(base, field, *arrow, span)
            }
            A::Cast { ty, expr } => {
                let inner = self.expr(expr, scope)?;
                let inner = self.expect_int(inner, "a cast operand")?;
                if ty.pointer_depth > 0 {
                    return self.pointer_cast(ty, inner, span);
                }
                let target = match ty.base.as_str() {
                    "int8" | "char" => Type::Int {
                        size: 1,
                        signed: true,
                    },
                    "uint8" | "bool" => Type::Int {
                        size: 1,
                        signed: false,
                    },
                    "int16" => Type::Int {
                        size: 2,
                        signed: true,
                    },
                    "uint16" => Type::Int {
                        size: 2,
                        signed: false,
                    },
                    "int32" | "int" => Type::Int {
                        size: 4,
                        signed: true,
                    },
                    "uint32" | "uint" => Type::Int {
                        size: 4,
                        signed: false,
                    },
                    "int64" => Type::I64,
                    "uint64" => Type::U64,
                    other => {
                        return Err(self.error(
                            Diagnostic::error(format!("cannot cast to '{other}'"), ty.span)
                                .with_code(codes::INVALID_CAST),
                        ))
                    }
                };
                make(
                    K::Cast {
                        expr: Box::new(inner),
                    },
                    target,
                )
            }
            A::IncDec { .. } => Err(self.error(
                Diagnostic::error("++ and -- can only be used as statements", span)
                    .with_code(codes::INVALID_ACCESS)
                    .with_hint("write `$x++;` on its own line"),
            )),
            A::Index { expr, index } => {
                let i = self.const_int(index, scope)?;
                if let A::Field {
                    expr: base, field, ..
                } = &expr.kind
                {
                    if matches!(&base.kind, A::Builtin(b) if b == "args") {
                        return self.tracepoint_element(field, i, span, scope);
                    }
                }
                let base = self.expr(expr, scope)?;
                self.index_pointer(base, i, span)
            }
            A::Tuple(elems) => self.tuple(elems, span, scope),
            A::SizeofType(ty) => {
                let n = self.sizeof_type(ty)?;
                make(K::Int(i64::from(n)), Type::U64)
            }
            A::Offsetof { ty, fields } => {
                let n = self.offsetof(ty, fields, span)?;
                make(K::Int(i64::from(n)), Type::U64)
            }
        }
    }

    fn builtin(&mut self, name: &str, span: Span, scope: &mut ProbeScope) -> Checked<ir::Expr> {
        if name == "username" {
            // The uid, printed by userspace as the user's name.
            return Ok(ir::Expr {
                kind: K::Builtin(Builtin::Uid),
                ty: Type::Username,
                span,
            });
        }
        if let Some(checked) = self.stack_builtin(name, span, scope) {
            return checked;
        }
        // bpftrace's tools #define these for ntop(AF_INET6, ...); kestrel has no preprocessor.
        if let Some(family) = match name {
            "AF_INET" => Some(2),
            "AF_INET6" => Some(10),
            _ => None,
        } {
            return Ok(ir::Expr {
                kind: K::Int(family),
                ty: Type::I64,
                span,
            });
        }
        if let Some((_, b, ty)) = BUILTINS.iter().find(|(n, _, _)| *n == name) {
            let ty = if *b == Builtin::CurTask {
                self.curtask_type()
            } else {
                *ty
            };
            return Ok(ir::Expr {
                kind: K::Builtin(*b),
                ty,
                span,
            });
        }
        if name == "args" {
            let hint = match scope.attach {
                Attach::Tracepoint { .. } => "use args->FIELD (or args.FIELD), e.g. args->filename",
                _ => "args exists only in tracepoint probes",
            };
            return Err(self.error(
                Diagnostic::error("args must be followed by ->FIELD", span)
                    .with_code(codes::ARGS_MISUSE)
                    .with_hint(hint),
            ));
        }
        if let Some(checked) = self.context_builtin(name, span, scope) {
            if scope.in_for_body {
                return Err(self.error(for_body_context_error(name, span)));
            }
            return checked;
        }
        if LATER_BUILTINS.contains(&name) {
            return Err(self.error(
                Diagnostic::error(
                    format!("the builtin '{name}' is not supported by kestrel yet"),
                    span,
                )
                .with_code(codes::NOT_SUPPORTED),
            ));
        }
        let mut d = Diagnostic::error(format!("unknown identifier '{name}'"), span)
            .with_code(codes::UNKNOWN_IDENTIFIER)
            .with_label("not a builtin variable");
        let names = BUILTINS.iter().map(|(n, _, _)| *n).chain(["args"]);
        if let Some(s) = did_you_mean(name, names) {
            d = d.with_hint(format!("did you mean '{s}'?"));
        } else {
            d = d.with_hint("variables start with $ ($x) and maps with @ (@x)");
        }
        Err(self.error(d))
    }

    pub(super) fn var_read(
        &mut self,
        name: &str,
        span: Span,
        scope: &mut ProbeScope,
    ) -> Checked<ir::Expr> {
        match scope.var_index.get(name) {
            Some(&id) => Ok(ir::Expr {
                kind: K::Var(id),
                ty: scope.vars[id].ty,
                span,
            }),
            None => {
                let mut d = Diagnostic::error(format!("undefined variable '${name}'"), span)
                    .with_code(codes::UNDEFINED_VARIABLE)
                    .with_label("used here before any assignment");
                if let Some(s) = did_you_mean(name, scope.vars.iter().map(|v| v.name.as_str())) {
                    d = d.with_hint(format!("did you mean '${s}'?"));
                } else {
                    d = d.with_hint(format!("assign it first, e.g. ${name} = 0;"));
                }
                Err(self.error(d))
            }
        }
    }

    pub(super) fn map_keys(
        &mut self,
        map: &ast::MapRef,
        scope: &mut ProbeScope,
    ) -> Checked<Vec<ir::Expr>> {
        let mut keys = Vec::with_capacity(map.keys.len());
        for k in &map.keys {
            let e = self.expr(k, scope)?;
            if e.ty == Type::Void {
                return Err(self.error(
                    Diagnostic::error("a map key must have a value", k.span)
                        .with_code(codes::NO_VALUE),
                ));
            }
            keys.push(e);
        }
        Ok(keys)
    }

    /// Resolve a map element for delete(): the map must exist with these key types.
    pub(super) fn map_access(
        &mut self,
        map: &ast::MapRef,
        scope: &mut ProbeScope,
    ) -> Checked<(usize, Vec<ir::Expr>)> {
        let keys = self.map_keys(map, scope)?;
        let id = self.existing_map(map)?;
        self.check_keys(map, id, &keys)?;
        Ok((id, keys))
    }

    fn existing_map(&mut self, map: &ast::MapRef) -> Checked<usize> {
        match self.map_from_hint(&map.name) {
            Some(id) => Ok(id),
            None => {
                let mut d = Diagnostic::error(format!("undefined map '@{}'", map.name), map.span)
                    .with_code(codes::UNDEFINED_MAP)
                    .with_label("this map is never assigned");
                if let Some(s) = did_you_mean(&map.name, self.maps.iter().map(|m| m.name.as_str()))
                {
                    d = d.with_hint(format!("did you mean '@{s}'?"));
                }
                Err(self.error(d))
            }
        }
    }

    fn check_keys(&mut self, map: &ast::MapRef, id: usize, keys: &[ir::Expr]) -> Checked<()> {
        let decl = &self.maps[id];
        if decl.keys.len() != keys.len()
            || decl.keys.iter().zip(keys).any(|(t, k)| !t.compatible(k.ty))
        {
            let expected = decl
                .keys
                .iter()
                .map(|t| t.describe())
                .collect::<Vec<_>>()
                .join(", ");
            let found = keys
                .iter()
                .map(|k| k.ty.describe())
                .collect::<Vec<_>>()
                .join(", ");
            let first = decl.span;
            return Err(self.error(
                Diagnostic::error(
                    format!("@{} is used with different keys", map.name),
                    map.span,
                )
                .with_code(codes::MAP_KEY_MISMATCH)
                .with_label(format!("keys here are ({found})"))
                .with_secondary(first, format!("first used with keys ({expected})")),
            ));
        }
        Ok(())
    }

    pub(super) fn map_read(
        &mut self,
        map: &ast::MapRef,
        keys: Vec<ir::Expr>,
        _scope: &mut ProbeScope,
    ) -> Checked<ir::Expr> {
        let span = map.span;
        if self.learning && self.map_from_hint(&map.name).is_none() {
            // Type not known yet; pass 2 will know it or report it.
            return Ok(ir::Expr {
                kind: K::Int(0),
                ty: Type::I64,
                span,
            });
        }
        let id = self.existing_map(map)?;
        self.check_keys(map, id, &keys)?;
        let ty = match self.maps[id].value {
            MapValue::Scalar(t) => t,
            MapValue::Count => Type::U64,
            MapValue::Sum | MapValue::Min | MapValue::Max => Type::I64,
            other => {
                return Err(self.error(
                    Diagnostic::error(
                        format!(
                            "@{} holds {} and cannot be used in an expression",
                            map.name,
                            other.describe()
                        ),
                        span,
                    )
                    .with_code(codes::TYPE_MISMATCH)
                    .with_hint("it is printed when the script ends"),
                ))
            }
        };
        self.maps[id].read_in_kernel = true;
        Ok(ir::Expr {
            kind: K::MapRead { map: id, keys },
            ty,
            span,
        })
    }

    fn binary(
        &mut self,
        op: ast::BinOp,
        lhs: &ast::Expr,
        rhs: &ast::Expr,
        span: Span,
        scope: &mut ProbeScope,
    ) -> Checked<ir::Expr> {
        use ast::BinOp as B;
        let l = self.expr(lhs, scope)?;
        let r = self.expr(rhs, scope)?;
        if l.ty.is_str() || r.ty.is_str() {
            return match op {
                B::Eq | B::Ne if l.ty.is_str() && r.ty.is_str() => Ok(ir::Expr {
                    kind: K::StrCmp {
                        lhs: Box::new(l),
                        rhs: Box::new(r),
                        equal: op == B::Eq,
                    },
                    ty: Type::I64,
                    span,
                }),
                B::Eq | B::Ne => Err(self.error(
                    Diagnostic::error(
                        format!(
                            "cannot compare {} with {}",
                            with_article(l.ty),
                            with_article(r.ty)
                        ),
                        span,
                    )
                    .with_code(codes::TYPE_MISMATCH)
                    .with_secondary(l.span, format!("this is {}", with_article(l.ty)))
                    .with_secondary(r.span, format!("this is {}", with_article(r.ty))),
                )),
                _ => Err(self.error(
                    Diagnostic::error("strings support only == and !=", span)
                        .with_code(codes::TYPE_MISMATCH)
                        .with_secondary(
                            if l.ty.is_str() { l.span } else { r.span },
                            "this is a string",
                        ),
                )),
            };
        }
        let l = self.expect_int(l, "an operand")?;
        let r = self.expect_int(r, "an operand")?;
        if let (B::Shl | B::Shr, K::Int(n)) = (op, &r.kind) {
            if !(0..64).contains(n) {
                return Err(self.error(
                    Diagnostic::error(format!("cannot shift by {n} bits"), r.span)
                        .with_code(codes::OUT_OF_RANGE)
                        .with_label("a shift amount must be 0 to 63"),
                ));
            }
        }
        let iop = match op {
            B::LogOr => ir::BinOp::LogOr,
            B::LogAnd => ir::BinOp::LogAnd,
            B::BitOr => ir::BinOp::BitOr,
            B::BitXor => ir::BinOp::BitXor,
            B::BitAnd => ir::BinOp::BitAnd,
            B::Eq => ir::BinOp::Eq,
            B::Ne => ir::BinOp::Ne,
            B::Lt => ir::BinOp::Lt,
            B::Le => ir::BinOp::Le,
            B::Gt => ir::BinOp::Gt,
            B::Ge => ir::BinOp::Ge,
            B::Shl => ir::BinOp::Shl,
            B::Shr => ir::BinOp::Shr,
            B::Add => ir::BinOp::Add,
            B::Sub => ir::BinOp::Sub,
            B::Mul => ir::BinOp::Mul,
            B::Div => ir::BinOp::Div,
            B::Mod => ir::BinOp::Mod,
        };
        let is_bool = matches!(
            iop,
            ir::BinOp::LogOr
                | ir::BinOp::LogAnd
                | ir::BinOp::Eq
                | ir::BinOp::Ne
                | ir::BinOp::Lt
                | ir::BinOp::Le
                | ir::BinOp::Gt
                | ir::BinOp::Ge
        );
        let ty = if is_bool {
            Type::I64
        } else {
            arith_type(l.ty, r.ty)
        };
        Ok(ir::Expr {
            kind: K::Binary {
                op: iop,
                lhs: Box::new(l),
                rhs: Box::new(r),
            },
            ty,
            span,
        })
    }

    fn call(
        &mut self,
        name: &ast::Ident,
        args: &[ast::Expr],
        span: Span,
        scope: &mut ProbeScope,
    ) -> Checked<ir::Expr> {
        if let Some(checked) = self.stack_call(&name.name, args, span, scope) {
            return checked;
        }
        match name.name.as_str() {
            "reg" => self.reg_call(args, span, scope),
            "str" => {
                if args.is_empty() || args.len() > 2 {
                    return Err(self.error(
                        Diagnostic::error("str() takes a pointer and an optional length", span)
                            .with_code(codes::BAD_ARGUMENTS),
                    ));
                }
                // `str($1)` is the parameter's text even when it reads as a number, and
                // `str($1 + N)` its text from byte N on, as in bpftrace.
                if let Some(text) = self.positional_text(&args[0]) {
                    let text = match args.get(1).map(|l| &l.kind) {
                        Some(A::Int(n)) => text.chars().take(*n as usize).collect(),
                        _ => text,
                    };
                    return Ok(ir::Expr {
                        ty: Type::Str {
                            len: text.len() as u32 + 1,
                        },
                        kind: K::Str(text),
                        span,
                    });
                }
                let arg = self.expr(&args[0], scope)?;
                if arg.ty.is_str() && args.len() == 1 {
                    return Ok(ir::Expr { span, ..arg });
                }
                let arg = self.expect_int(arg, "the argument of str()")?;
                let mut cap = self.options.str_len;
                let len = match args.get(1) {
                    Some(l) => {
                        let l = self.expr(l, scope)?;
                        let l = self.expect_int(l, "the length given to str()")?;
                        // A constant length sizes the buffer (room for the NUL included).
                        if let K::Int(n) = l.kind {
                            let max = self.options.str_len.max(200);
                            let want = u32::try_from(n.max(0)).unwrap_or(u32::MAX);
                            cap = want.saturating_add(1).clamp(1, max);
                            if want.saturating_add(1) > max {
                                self.warnings.push(
                                    Diagnostic::warning(
                                        format!("str() reads at most {} bytes, not {n}", max - 1),
                                        l.span,
                                    )
                                    .with_code(codes::STRING_TRUNCATED)
                                    .with_note(format!(
                                        "strings hold {} bytes at most here (a NUL included), so longer ones are cut short",
                                        max
                                    )),
                                );
                            }
                        }
                        Some(Box::new(l))
                    }
                    None => None,
                };
                Ok(ir::Expr {
                    kind: K::ReadStr {
                        ptr: Box::new(arg),
                        len,
                    },
                    ty: Type::Str { len: cap },
                    span,
                })
            }
            "strncmp" => {
                let [a, b, n] = args else {
                    return Err(self.error(
                        Diagnostic::error("strncmp() takes two strings and a length", span)
                            .with_code(codes::BAD_ARGUMENTS),
                    ));
                };
                let (a, b) = (self.expr(a, scope)?, self.expr(b, scope)?);
                for s in [&a, &b] {
                    if !s.ty.is_str() {
                        return Err(self.error(
                            Diagnostic::error(
                                format!("strncmp() compares strings, found {}", s.ty),
                                s.span,
                            )
                            .with_code(codes::TYPE_MISMATCH),
                        ));
                    }
                }
                let n = self.const_int(n, scope)?;
                Ok(ir::Expr {
                    kind: K::StrNCmp {
                        lhs: Box::new(a),
                        rhs: Box::new(b),
                        n: n.clamp(0, 1024) as u32,
                    },
                    ty: Type::I64,
                    span,
                })
            }
            "strcontains" => {
                let [h, n] = args else {
                    return Err(self.error(
                        Diagnostic::error("strcontains() takes two strings", span)
                            .with_code(codes::BAD_ARGUMENTS),
                    ));
                };
                let hay = self.expr(h, scope)?;
                if !hay.ty.is_str() {
                    return Err(self.error(
                        Diagnostic::error(
                            format!("strcontains() searches a string, found {}", hay.ty),
                            hay.span,
                        )
                        .with_code(codes::TYPE_MISMATCH),
                    ));
                }
                let A::Str(needle) = &n.kind else {
                    return Err(self.error(
                        Diagnostic::error(
                            "strcontains() needs a string literal to search for",
                            n.span,
                        )
                        .with_code(codes::NOT_CONSTANT)
                        .with_note("kestrel searches for constant needles only"),
                    ));
                };
                Ok(ir::Expr {
                    kind: K::StrContains {
                        haystack: Box::new(hay),
                        needle: needle.clone(),
                    },
                    ty: Type::I64,
                    span,
                })
            }
            "ntop" => {
                let (family, addr) = match args {
                    [a] => (None, a),
                    [f, a] => {
                        let f = self.expr(f, scope)?;
                        (Some(Box::new(self.expect_int(f, "the address family")?)), a)
                    }
                    _ => {
                        return Err(self.error(
                            Diagnostic::error("ntop() takes [family,] address", span)
                                .with_code(codes::BAD_ARGUMENTS),
                        ))
                    }
                };
                // A byte-array tracepoint field (saddr[4], saddr_v6[16]) is copied as is.
                if let A::Field {
                    expr: base, field, ..
                } = &addr.kind
                {
                    if matches!(&base.kind, A::Builtin(b) if b == "args") {
                        let f = self.tracepoint_field(base.span, field, scope)?;
                        if f.array_len().is_some() {
                            if f.size != 4 && f.size != 16 {
                                return Err(self.error(
                                    Diagnostic::error(
                                        format!(
                                            "ntop() needs 4 or 16 address bytes; args->{} has {}",
                                            f.name, f.size
                                        ),
                                        addr.span,
                                    )
                                    .with_code(codes::BAD_ARGUMENTS),
                                ));
                            }
                            return Ok(ir::Expr {
                                kind: K::Ntop {
                                    family,
                                    source: ir::NtopSource::TracepointBytes {
                                        offset: f.offset,
                                        len: f.size,
                                    },
                                },
                                ty: Type::Inet,
                                span,
                            });
                        }
                    }
                }
                self.last_array = None;
                let v = self.expr(addr, scope)?;
                // A BTF byte array (u8[16]) reads as a string, other arrays (u32[4]) decay to
                // a pointer: either way ntop() copies the address bytes from kernel memory.
                let array = match (&v.kind, v.ty) {
                    (K::KernelStr { addr, len }, _) => Some(((**addr).clone(), *len)),
                    (_, Type::Ptr { .. }) => match self.last_array {
                        Some((s, len)) if s == v.span => Some((v.clone(), len)),
                        _ => None,
                    },
                    _ => None,
                };
                if let Some((addr_expr, len)) = array {
                    if len != 4 && len != 16 {
                        return Err(self.error(
                            Diagnostic::error(
                                format!("ntop() needs 4 or 16 address bytes; this array has {len}"),
                                v.span,
                            )
                            .with_code(codes::BAD_ARGUMENTS),
                        ));
                    }
                    return Ok(ir::Expr {
                        kind: K::Ntop {
                            family,
                            source: ir::NtopSource::KernelBytes {
                                addr: Box::new(ir::Expr {
                                    ty: Type::U64,
                                    ..addr_expr
                                }),
                                len,
                            },
                        },
                        ty: Type::Inet,
                        span,
                    });
                }
                let v = self.expect_int(v, "an IPv4 address")?;
                Ok(ir::Expr {
                    kind: K::Ntop {
                        family,
                        source: ir::NtopSource::Int(Box::new(v)),
                    },
                    ty: Type::Inet,
                    span,
                })
            }
            "pton" => {
                let [arg] = args else {
                    return Err(self.error(
                        Diagnostic::error("pton() takes an IPv4 address string", span)
                            .with_code(codes::BAD_ARGUMENTS),
                    ));
                };
                let A::Str(text) = &arg.kind else {
                    return Err(self.error(
                        Diagnostic::error("pton() needs a string literal", arg.span)
                            .with_code(codes::NOT_CONSTANT),
                    ));
                };
                match text.parse::<std::net::Ipv4Addr>() {
                    // The address as a u32 read from memory in network byte order, so it
                    // compares equal to the kernel's __be32 fields.
                    Ok(ip) => Ok(ir::Expr {
                        kind: K::Int(i64::from(u32::from_le_bytes(ip.octets()))),
                        ty: Type::U32,
                        span,
                    }),
                    Err(_) => Err(self.error(
                        Diagnostic::error(format!("'{text}' is not an IPv4 address"), arg.span)
                            .with_code(codes::BAD_ARGUMENTS)
                            .with_note(
                                "kestrel's pton() handles IPv4; compare IPv6 addresses with ntop()",
                            ),
                    )),
                }
            }
            "strerror" => {
                let [arg] = args else {
                    return Err(self.error(
                        Diagnostic::error("strerror() takes an errno value", span)
                            .with_code(codes::BAD_ARGUMENTS),
                    ));
                };
                let v = self.expr(arg, scope)?;
                let v = self.expect_int(v, "the argument of strerror()")?;
                Ok(ir::Expr {
                    ty: Type::Errno,
                    span,
                    ..v
                })
            }
            "macaddr" => {
                let [arg] = args else {
                    return Err(self.error(
                        Diagnostic::error("macaddr() takes the address of 6 bytes", span)
                            .with_code(codes::BAD_ARGUMENTS),
                    ));
                };
                if let A::Field {
                    expr: base, field, ..
                } = &arg.kind
                {
                    if matches!(&base.kind, A::Builtin(b) if b == "args") {
                        let f = self.tracepoint_field(base.span, field, scope)?;
                        if f.array_len().is_some() && f.size >= 6 {
                            return Ok(ir::Expr {
                                kind: K::TracepointBytes {
                                    offset: f.offset,
                                    len: 6,
                                },
                                ty: Type::Mac,
                                span,
                            });
                        }
                    }
                }
                let v = self.expr(arg, scope)?;
                let v = match v.kind {
                    K::KernelStr { addr, .. } => *addr,
                    _ => self.expect_int(v, "the address given to macaddr()")?,
                };
                Ok(ir::Expr {
                    kind: K::KernelStr {
                        addr: Box::new(v),
                        len: 6,
                    },
                    ty: Type::Mac,
                    span,
                })
            }
            "buf" => {
                let (p, n) = match args {
                    [p, n] => (p, Some(n)),
                    [p] => (p, None),
                    _ => {
                        return Err(self.error(
                            Diagnostic::error("buf() takes a pointer and a length", span)
                                .with_code(codes::BAD_ARGUMENTS),
                        ))
                    }
                };
                let v = self.expr(p, scope)?;
                // A string value (a literal, str(...)) gives its own bytes, like bpftrace.
                if v.ty.is_str() && !matches!(v.kind, K::KernelStr { .. }) {
                    let own = match &v.kind {
                        K::Str(s) => s.len() as i64,
                        _ => i64::from(v.ty.storage_size()),
                    };
                    let len = match n {
                        Some(n) => self.const_int(n, scope)?.min(own),
                        None => own,
                    }
                    .clamp(1, 256);
                    return Ok(ir::Expr {
                        kind: K::StrBuf {
                            value: Box::new(v),
                            len: len as u32,
                        },
                        ty: Type::Buf { len: len as u32 },
                        span,
                    });
                }
                // A char array read through BTF gives its bytes, not its text.
                let v = match v.kind {
                    K::KernelStr { addr, .. } => *addr,
                    _ => self.expect_int(v, "the address given to buf()")?,
                };
                let len = match n {
                    Some(n) => self.const_int(n, scope)?,
                    None => i64::from(self.options.str_len),
                };
                if !(1..=256).contains(&len) {
                    return Err(self.error(
                        Diagnostic::error("buf() length must be a constant from 1 to 256", span)
                            .with_code(codes::NOT_CONSTANT),
                    ));
                }
                Ok(ir::Expr {
                    kind: K::ReadBuf {
                        ptr: Box::new(v),
                        len: len as u32,
                    },
                    ty: Type::Buf { len: len as u32 },
                    span,
                })
            }
            "sizeof" => {
                let [arg] = args else {
                    return Err(self.error(
                        Diagnostic::error("sizeof() takes a type or an expression", span)
                            .with_code(codes::BAD_ARGUMENTS),
                    ));
                };
                // `sizeof(x)` of a bare identifier may name a type (`sizeof(int)`).
                if let A::Builtin(word) = &arg.kind {
                    if !matches!(
                        word.as_str(),
                        "pid" | "tid" | "uid" | "gid" | "comm" | "nsecs" | "cpu"
                    ) {
                        let tn = ast::TypeName {
                            base: word.clone(),
                            pointer_depth: 0,
                            span: arg.span,
                        };
                        if let Ok(n) = self.sizeof_type_quiet(&tn) {
                            return Ok(ir::Expr {
                                kind: K::Int(i64::from(n)),
                                ty: Type::U64,
                                span,
                            });
                        }
                    }
                }
                let v = self.expr(arg, scope)?;
                let n = self.bpftrace_size(v.ty);
                Ok(ir::Expr {
                    kind: K::Int(i64::from(n)),
                    ty: Type::U64,
                    span,
                })
            }
            "has_key" => {
                let [arg] = args else {
                    return Err(self.error(
                        Diagnostic::error(
                            "has_key() takes one map element, e.g. has_key(@m[1])",
                            span,
                        )
                        .with_code(codes::BAD_ARGUMENTS),
                    ));
                };
                let A::Map(map) = &arg.kind else {
                    return Err(self.error(
                        Diagnostic::error(
                            "has_key() expects a map element such as @start[tid]",
                            arg.span,
                        )
                        .with_code(codes::BAD_ARGUMENTS),
                    ));
                };
                let (id, keys) = self.map_access(map, scope)?;
                self.maps[id].read_in_kernel = true;
                Ok(ir::Expr {
                    kind: K::MapHasKey { map: id, keys },
                    ty: Type::I64,
                    span,
                })
            }
            "bswap" => {
                let [arg] = args else {
                    return Err(self.error(
                        Diagnostic::error("bswap() takes one integer", span)
                            .with_code(codes::BAD_ARGUMENTS),
                    ));
                };
                let v = self.expr(arg, scope)?;
                let v = self.expect_int(v, "the argument of bswap()")?;
                let ty = match v.ty {
                    Type::Int { size, .. } => Type::Int {
                        size,
                        signed: false,
                    },
                    other => other,
                };
                Ok(ir::Expr {
                    kind: K::Bswap { expr: Box::new(v) },
                    ty,
                    span,
                })
            }
            "len" => self.map_len(args, span, scope),
            "path" => Err(self.error(
                Diagnostic::error("path() cannot be used on this kernel", span)
                    .with_code(codes::NOT_IN_THIS_PROBE)
                    .with_note("path() needs the bpf_d_path helper, which the kernel allows only in fentry/fexit and LSM programs; this kernel refuses those (EPERM)"),
            )),
            "cgroupid" => {
                let [arg] = args else {
                    return Err(self.error(
                        Diagnostic::error("cgroupid() takes a cgroup path", span)
                            .with_code(codes::BAD_ARGUMENTS),
                    ));
                };
                let A::Str(path) = &arg.kind else {
                    return Err(self.error(
                        Diagnostic::error("cgroupid() needs a string literal path", arg.span)
                            .with_code(codes::NOT_CONSTANT),
                    ));
                };
                match self.kernel.cgroup_id(path) {
                    Ok(id) => Ok(ir::Expr { kind: K::Int(id as i64), ty: Type::U64, span }),
                    Err(e) => Err(self.error(
                        Diagnostic::error(format!("cgroupid(): {e}"), arg.span).with_code(codes::KERNEL_INFO)
                            .with_hint("give a directory of the cgroup v2 hierarchy, e.g. /sys/fs/cgroup/unified/system.slice"),
                    )),
                }
            }
            "strftime" => self.strftime(args, span, scope),
            "printf" | "exit" | "delete" | "print" | "clear" | "zero" | "time" | "cat"
            | "system" | "join" | "signal" | "override" | "debugf" => Err(self.error(
                Diagnostic::error(
                    format!(
                        "{}() has no value and must be used as a statement",
                        name.name
                    ),
                    span,
                )
                .with_code(codes::NO_VALUE),
            )),
            "count" | "sum" | "min" | "max" | "avg" | "stats" | "hist" | "lhist" => Err(self
                .error(
                    Diagnostic::error(format!("{}() must be assigned to a map", name.name), span)
                        .with_code(codes::AGGREGATE_NOT_IN_MAP)
                        .with_hint(format!("write it as @name = {}(...)", name.name)),
                )),
            other => {
                let known = [
                    "printf",
                    "exit",
                    "str",
                    "delete",
                    "count",
                    "sum",
                    "min",
                    "max",
                    "avg",
                    "stats",
                    "hist",
                    "lhist",
                    "strncmp",
                    "strcontains",
                    "has_key",
                    "bswap",
                    "cgroupid",
                ];
                let mut d = Diagnostic::error(format!("unknown function '{other}()'"), name.span)
                    .with_code(codes::UNKNOWN_FUNCTION);
                if let Some(s) = did_you_mean(other, known.iter().copied()) {
                    d = d.with_hint(format!("did you mean '{s}()'?"));
                }
                Err(self.error(d))
            }
        }
    }

    /// The tracepoint field `args->NAME` of this probe, or a diagnostic listing the real ones.
    pub(super) fn tracepoint_field(
        &mut self,
        base_span: Span,
        field: &ast::Ident,
        scope: &mut ProbeScope,
    ) -> Checked<kestrel_kernel::TracepointField> {
        if scope.in_for_body {
            return Err(self.error(for_body_context_error("args", base_span)));
        }
        let Some(format) = &scope.format else {
            return Err(self.error(
                Diagnostic::error("args is only available in tracepoint probes", base_span)
                    .with_code(codes::ARGS_MISUSE)
                    .with_note(format!("this probe is {}", scope.attach.describe())),
            ));
        };
        let Some(f) = format.field(&field.name).filter(|f| !f.common) else {
            let tp = format!("{}:{}", format.id.category, format.id.name);
            let names: Vec<&str> = format.args().map(|f| f.name.as_str()).collect();
            let mut d = Diagnostic::error(
                format!("tracepoint {tp} has no argument '{}'", field.name),
                field.span,
            )
            .with_code(codes::UNKNOWN_TRACEPOINT_FIELD);
            d = d.with_note(format!("its arguments are: {}", names.join(", ")));
            d = match did_you_mean(&field.name, names.iter().copied()) {
                Some(s) => d.with_hint(format!("did you mean 'args->{s}'?")),
                None => d.with_hint(format!("see `kestrel -lv 'tracepoint:{tp}'`")),
            };
            return Err(self.error(d));
        };
        Ok(f.clone())
    }

    /// `args->NAME[i]`: one element of an array field, at a constant index.
    fn tracepoint_element(
        &mut self,
        field: &ast::Ident,
        index: i64,
        span: Span,
        scope: &mut ProbeScope,
    ) -> Checked<ir::Expr> {
        let f = self.tracepoint_field(span, field, scope)?;
        let Some(n) = f.array_len().filter(|n| *n > 0) else {
            return Err(self.error(
                Diagnostic::error(format!("args->{} is not an array", f.name), span)
                    .with_code(codes::INVALID_ACCESS),
            ));
        };
        if index < 0 || index >= i64::from(n) {
            return Err(self.error(
                Diagnostic::error(
                    format!(
                        "index {index} is out of bounds for args->{} (it has {n} elements)",
                        f.name
                    ),
                    span,
                )
                .with_code(codes::OUT_OF_RANGE),
            ));
        }
        let elem = f.size / n;
        let size = match elem {
            1 | 2 | 4 | 8 => elem as u8,
            other => {
                return Err(self.error(
                    Diagnostic::error(format!("elements of {other} bytes are not supported"), span)
                        .with_code(codes::NOT_SUPPORTED),
                ))
            }
        };
        let signed = f.signed && !f.is_pointer();
        Ok(ir::Expr {
            kind: K::TracepointInt {
                offset: f.offset + elem * index as u32,
                size,
                signed,
            },
            ty: Type::Int { size, signed },
            span,
        })
    }

    fn field(
        &mut self,
        base: &ast::Expr,
        field: &ast::Ident,
        span: Span,
        scope: &mut ProbeScope,
    ) -> Checked<ir::Expr> {
        let f = self.tracepoint_field(base.span, field, scope)?;
        if f.is_data_loc() {
            return Ok(ir::Expr {
                kind: K::TracepointDataLoc { offset: f.offset },
                ty: Type::Str {
                    len: self.options.str_len,
                },
                span,
            });
        }
        if f.is_char_string() && f.array_len().is_some() {
            return Ok(ir::Expr {
                kind: K::TracepointCharArray { offset: f.offset },
                ty: Type::Str { len: f.size },
                span,
            });
        }
        if f.array_len().is_some() {
            return Err(self.error(
                Diagnostic::error(format!("args->{} is an array", f.name), span)
                    .with_code(codes::INVALID_ACCESS)
                    .with_hint(format!(
                    "read one element, e.g. args->{}[0], or format an address with ntop(args->{})",
                    f.name, f.name
                )),
            ));
        }
        let size = match f.size {
            1 | 2 | 4 | 8 => f.size as u8,
            other => {
                return Err(self.error(
                    Diagnostic::error(
                        format!("argument '{}' has unsupported size {other}", f.name),
                        span,
                    )
                    .with_code(codes::NOT_SUPPORTED),
                ))
            }
        };
        // Pointers are addresses: unsigned, whatever the kernel says.
        let signed = f.signed && !f.is_pointer();
        Ok(ir::Expr {
            kind: K::TracepointInt {
                offset: f.offset,
                size,
                signed,
            },
            ty: Type::Int { size, signed },
            span,
        })
    }
}

/// An integer positional parameter: decimal, `0x` hex, optionally negative.
fn parse_int_literal(s: &str) -> Option<i64> {
    let t = s.trim();
    let (neg, digits) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    let v = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(hex) => i64::from_str_radix(hex, 16).ok()?,
        // A leading 0 means octal, as strtol(s, 0) reads it in bpftrace.
        None if digits.len() > 1 && digits.starts_with('0') => {
            i64::from_str_radix(&digits[1..], 8).ok()?
        }
        None => digits.parse::<i64>().ok()?,
    };
    Some(if neg { -v } else { v })
}

/// The size of a C struct with these (size, alignment) members in order: how bpftrace
/// lays out a tuple (`(int8, int16, int32)` is 8 bytes).
pub(crate) fn packed_size(fields: &[(u32, u32)]) -> u32 {
    let mut at = 0u32;
    let mut max_align = 1;
    for &(size, align) in fields {
        let align = align.max(1);
        at = at.div_ceil(align) * align + size;
        max_align = max_align.max(align);
    }
    at.div_ceil(max_align) * max_align
}

impl Checker<'_> {
    /// The size bpftrace gives a value of type `ty` (tuples packed like C structs).
    fn bpftrace_size(&self, ty: Type) -> u32 {
        match ty {
            Type::Int { size, .. } => u32::from(size),
            Type::Tuple { id, .. } => {
                let elems = self.tuples.get(id as usize).cloned().unwrap_or_default();
                let fields: Vec<(u32, u32)> = elems
                    .iter()
                    .map(|&t| {
                        let size = self.bpftrace_size(t);
                        let align = match t {
                            Type::Int { size, .. } => u32::from(size),
                            Type::Tuple { .. } => size.clamp(1, 8),
                            _ => 1,
                        };
                        (size, align)
                    })
                    .collect();
                packed_size(&fields)
            }
            other => other.storage_size(),
        }
    }

    /// The text of `$N` or `$N + K` (from byte K on), when `e` is one of those.
    fn positional_text(&self, e: &ast::Expr) -> Option<String> {
        let (n, skip) = match &e.kind {
            A::Positional(n) => (*n, 0),
            A::Binary {
                op: ast::BinOp::Add,
                lhs,
                rhs,
            } => match (&lhs.kind, &rhs.kind) {
                (A::Positional(n), A::Int(k)) | (A::Int(k), A::Positional(n)) => (*n, *k),
                _ => return None,
            },
            _ => return None,
        };
        let text = (n as usize)
            .checked_sub(1)
            .and_then(|i| self.options.positional.get(i))
            .cloned()
            .unwrap_or_default();
        Some(
            text.get(usize::try_from(skip).unwrap_or(usize::MAX).min(text.len())..)
                .unwrap_or("")
                .to_string(),
        )
    }

    /// `(a, b, ...)`: strings are widened to the configured string size so that tuples of
    /// one shape share a type whatever their literals' lengths.
    fn tuple(
        &mut self,
        elems: &[ast::Expr],
        span: Span,
        scope: &mut ProbeScope,
    ) -> Checked<ir::Expr> {
        let mut lowered = Vec::with_capacity(elems.len());
        for e in elems {
            let v = self.expr(e, scope)?;
            match v.ty {
                Type::Void | Type::Record { .. } => {
                    return Err(self.error(
                        Diagnostic::error(
                            format!("{} cannot be part of a tuple", with_article(v.ty)),
                            e.span,
                        )
                        .with_code(codes::TYPE_MISMATCH),
                    ))
                }
                _ => lowered.push(v),
            }
        }
        let types: Vec<Type> = lowered
            .iter()
            .map(|e| match e.ty {
                Type::Str { len } => Type::Str {
                    len: len.max(self.options.str_len),
                },
                Type::Ptr { .. } => Type::U64,
                other => other,
            })
            .collect();
        let size: u32 = types.iter().map(|t| crate::types::slot_size(*t)).sum();
        let id = match self.tuples.iter().position(|t| *t == types) {
            Some(i) => i,
            None => {
                self.tuples.push(types);
                self.tuples.len() - 1
            }
        };
        Ok(ir::Expr {
            kind: K::Tuple(lowered),
            ty: Type::Tuple {
                id: id as u32,
                size,
            },
            span,
        })
    }

    /// `tuple.N`.
    pub(super) fn tuple_element(
        &mut self,
        base: ir::Expr,
        field: &ast::Ident,
        span: Span,
    ) -> Checked<ir::Expr> {
        let Type::Tuple { id, .. } = base.ty else {
            return Err(self.error(
                Diagnostic::error(
                    format!("{} has no numbered elements", with_article(base.ty)),
                    base.span,
                )
                .with_code(codes::INVALID_ACCESS),
            ));
        };
        let types = self.tuples.get(id as usize).cloned().unwrap_or_default();
        let Some(index) = field
            .name
            .parse::<usize>()
            .ok()
            .filter(|i| *i < types.len())
        else {
            return Err(self.error(
                Diagnostic::error(
                    format!(
                        "this tuple has elements .0 to .{}",
                        types.len().saturating_sub(1)
                    ),
                    field.span,
                )
                .with_code(codes::OUT_OF_RANGE),
            ));
        };
        let offset: u32 = types[..index]
            .iter()
            .map(|t| crate::types::slot_size(*t))
            .sum();
        Ok(ir::Expr {
            kind: K::TupleGet {
                tuple: Box::new(base),
                offset,
            },
            ty: types[index],
            span,
        })
    }
}

/// Why the probe's context cannot be read inside `for ($kv : @map)`.
fn for_body_context_error(what: &str, span: Span) -> Diagnostic {
    Diagnostic::error(format!("'{what}' cannot be read inside a for loop over a map"), span).with_code(codes::NOT_IN_CALLBACK)
        .with_note("the loop body runs as a callback of bpf_for_each_map_elem, which has no access to the probe's context")
        .with_hint(format!("copy it to a variable before the loop: $v = {what}...;"))
}
