//! Checking statements: assignments, aggregations, printf, exit, control flow.

use crate::ast::{self, AssignOp, ExprKind as A, StmtKind as S};
use crate::diag::codes;
use crate::diag::with_article;
use crate::diag::Diagnostic;
use crate::ir::{self, MapValue, StmtKind};
use crate::span::Span;
use crate::types::Type;

use super::{Checked, Checker, ProbeScope};

/// The aggregation functions that may appear as `@map[keys] = f(...)`.
const AGGREGATIONS: &[&str] = &[
    "count", "sum", "min", "max", "avg", "stats", "hist", "lhist",
];

/// The most copies of a statement nested `unroll`s may make.
const MAX_UNROLLED_COPIES: u64 = 10_000;

impl Checker<'_> {
    pub(super) fn block(&mut self, stmts: &[ast::Stmt], scope: &mut ProbeScope) -> Vec<ir::Stmt> {
        let mut out = Vec::with_capacity(stmts.len());
        for s in stmts {
            // An error in one statement should not hide errors in the next.
            if let Ok(mut lowered) = self.stmt(s, scope) {
                out.append(&mut lowered);
            }
        }
        out
    }

    fn stmt(&mut self, s: &ast::Stmt, scope: &mut ProbeScope) -> Checked<Vec<ir::Stmt>> {
        let span = s.span;
        let one = |kind| Ok(vec![ir::Stmt { kind, span }]);
        match &s.kind {
            S::Expr(e) => self.expr_stmt(e, span, scope),
            S::AssignMap { map, op, value } => self.assign_map(map, *op, value, span, scope),
            S::AssignVar { var, op, value } => self.assign_var(var, *op, value, span, scope),
            S::If {
                cond,
                then,
                otherwise,
            } => {
                let c = self.expr(cond, scope)?;
                let c = self.expect_int(c, "an if condition")?;
                let then = self.block(&then.stmts, scope);
                let otherwise = match otherwise {
                    Some(b) => self.block(&b.stmts, scope),
                    None => Vec::new(),
                };
                one(StmtKind::If {
                    cond: c,
                    then,
                    otherwise,
                })
            }
            S::Block(b) => Ok(self.block(&b.stmts, scope)),
            S::Return if scope.in_for_body => Err(self.error(
                Diagnostic::error("'return' cannot be used inside a for loop over a map", span)
                    .with_code(codes::MISPLACED_CONTROL)
                    .with_hint("use break to stop the loop"),
            )),
            S::Return => one(StmtKind::Return),
            S::While { cond, body } => {
                let c = self.expr(cond, scope)?;
                let c = self.expect_int(c, "a while condition")?;
                scope.loop_depth += 1;
                let body = self.block(&body.stmts, scope);
                scope.loop_depth -= 1;
                one(StmtKind::While { cond: c, body })
            }
            S::Unroll { count, body } => {
                let n = self.const_int(count, scope)?;
                if !(1..=100).contains(&n) {
                    return Err(self.error(
                        Diagnostic::error(
                            format!("unroll count must be between 1 and 100, found {n}"),
                            count.span,
                        )
                        .with_code(codes::OUT_OF_RANGE),
                    ));
                }
                // Nested unrolls multiply; bound the copies so a few nested loops cannot make
                // the compiler (and the program) explode.
                let factor = scope.unroll_factor.saturating_mul(n as u64);
                if factor > MAX_UNROLLED_COPIES {
                    return Err(self.error(
                        Diagnostic::error(
                            format!(
                                "nested unroll would repeat this body {factor} times (at most {MAX_UNROLLED_COPIES})"
                            ),
                            count.span,
                        )
                        .with_code(codes::OUT_OF_RANGE)
                        .with_hint("use a while loop for the inner repetition"),
                    ));
                }
                let outer = std::mem::replace(&mut scope.unroll_factor, factor);
                // Unrolling is done here: codegen sees the body n times. An error in the body
                // is reported once, not once per copy.
                let mut out = Vec::new();
                for _ in 0..n {
                    let errors_before = self.errors.len();
                    out.extend(self.block(&body.stmts, scope));
                    if self.errors.len() > errors_before {
                        break;
                    }
                }
                scope.unroll_factor = outer;
                Ok(out)
            }
            S::For { var, map, body } => self.for_map(var, map, body, span, scope),
            S::Break | S::Continue if scope.loop_depth == 0 => {
                let word = if matches!(s.kind, S::Break) {
                    "break"
                } else {
                    "continue"
                };
                Err(self.error(
                    Diagnostic::error(format!("'{word}' outside of a loop"), span)
                        .with_code(codes::MISPLACED_CONTROL),
                ))
            }
            S::Break => one(StmtKind::Break),
            S::Continue => one(StmtKind::Continue),
        }
    }

    pub(super) fn unsupported(&mut self, what: &str, span: Span) -> super::Reported {
        self.error(
            Diagnostic::error(format!("{what} are not supported by kestrel yet"), span)
                .with_code(codes::NOT_SUPPORTED),
        )
    }

    fn expr_stmt(
        &mut self,
        e: &ast::Expr,
        span: Span,
        scope: &mut ProbeScope,
    ) -> Checked<Vec<ir::Stmt>> {
        let one = |kind| Ok(vec![ir::Stmt { kind, span }]);
        match &e.kind {
            A::Call { name, args } => match name.name.as_str() {
                "printf" => self
                    .printf(args, e.span, scope)
                    .map(|k| vec![ir::Stmt { kind: k, span }]),
                "exit" => {
                    if !args.is_empty() {
                        return Err(self.error(
                            Diagnostic::error("exit() takes no arguments", e.span)
                                .with_code(codes::BAD_ARGUMENTS),
                        ));
                    }
                    one(StmtKind::Exit)
                }
                "delete" => {
                    let [arg] = args.as_slice() else {
                        return Err(self.error(
                            Diagnostic::error(
                                "delete() takes one map element, e.g. delete(@start[tid])",
                                e.span,
                            )
                            .with_code(codes::BAD_ARGUMENTS),
                        ));
                    };
                    let A::Map(map) = &arg.kind else {
                        return Err(self.error(
                            Diagnostic::error(
                                "delete() expects a map element such as @start[tid]",
                                arg.span,
                            )
                            .with_code(codes::BAD_ARGUMENTS),
                        ));
                    };
                    let (id, keys) = self.map_access(map, scope)?;
                    one(StmtKind::MapDelete { map: id, keys })
                }
                n if AGGREGATIONS.contains(&n) => Err(self.error(
                    Diagnostic::error(format!("{n}() must be assigned to a map"), e.span)
                        .with_code(codes::AGGREGATE_NOT_IN_MAP)
                        .with_hint(format!(
                            "write it as @name = {n}(...) or @name[key] = {n}(...)"
                        )),
                )),
                _ => {
                    if let Some(checked) = self.action(name, args, e.span, scope) {
                        return checked.map(|kind| vec![ir::Stmt { kind, span }]);
                    }
                    let lowered = self.expr(e, scope)?;
                    one(StmtKind::Expr(lowered))
                }
            },
            A::IncDec {
                target, increment, ..
            } => {
                let op = if *increment {
                    AssignOp::Add
                } else {
                    AssignOp::Sub
                };
                let one_lit = ast::Expr {
                    kind: A::Int(1),
                    span: e.span,
                };
                match &target.kind {
                    A::Map(map) => self.assign_map(map, op, &one_lit, span, scope),
                    A::Var(name) => {
                        let ident = ast::Ident {
                            name: name.clone(),
                            span: target.span,
                        };
                        self.assign_var(&ident, op, &one_lit, span, scope)
                    }
                    _ => Err(self.error(
                        Diagnostic::error(
                            "++ and -- apply to a variable or a map element",
                            target.span,
                        )
                        .with_code(codes::INVALID_ACCESS),
                    )),
                }
            }
            _ => {
                let lowered = self.expr(e, scope)?;
                if matches!(
                    e.kind,
                    A::Map(_) | A::Var(_) | A::Builtin(_) | A::Int(_) | A::Str(_)
                ) {
                    self.warnings.push(
                        Diagnostic::warning("this statement has no effect", e.span)
                            .with_code(codes::NO_EFFECT),
                    );
                }
                one(StmtKind::Expr(lowered))
            }
        }
    }

    fn assign_map(
        &mut self,
        map: &ast::MapRef,
        op: AssignOp,
        value: &ast::Expr,
        span: Span,
        scope: &mut ProbeScope,
    ) -> Checked<Vec<ir::Stmt>> {
        let one = |kind| Ok(vec![ir::Stmt { kind, span }]);
        if let (AssignOp::Assign, A::Call { name, args }) = (op, &value.kind) {
            if AGGREGATIONS.contains(&name.name.as_str()) {
                return self
                    .aggregate(map, &name.name, args, value.span, scope)
                    .map(|k| vec![ir::Stmt { kind: k, span }]);
            }
        }
        let keys = self.map_keys(map, scope)?;
        let rhs = self.expr(value, scope)?;
        let rhs = match op {
            AssignOp::Assign => rhs,
            _ => {
                let current = self.map_read(map, keys.clone(), scope)?;
                if !current.ty.is_int() || !rhs.ty.is_int() {
                    return Err(self.error(
                        Diagnostic::error("compound assignment needs integers", span)
                            .with_code(codes::TYPE_MISMATCH),
                    ));
                }
                binary_for(op, current, rhs, span)
            }
        };
        if rhs.ty == Type::Void {
            return Err(self.error(
                Diagnostic::error("this expression has no value to store", value.span)
                    .with_code(codes::NO_VALUE),
            ));
        }
        let key_types: Vec<Type> = keys.iter().map(|k| k.ty).collect();
        let id = self.declare_map(map, &key_types, MapValue::Scalar(rhs.ty), value.span)?;
        one(StmtKind::MapStore {
            map: id,
            keys,
            value: rhs,
        })
    }

    fn aggregate(
        &mut self,
        map: &ast::MapRef,
        func: &str,
        args: &[ast::Expr],
        span: Span,
        scope: &mut ProbeScope,
    ) -> Checked<StmtKind> {
        let keys = self.map_keys(map, scope)?;
        let key_types: Vec<Type> = keys.iter().map(|k| k.ty).collect();
        let expected_args = match func {
            "count" => 0,
            "lhist" => 4,
            _ => 1,
        };
        if args.len() != expected_args {
            return Err(self.error(
                Diagnostic::error(
                    format!(
                        "{func}() takes {expected_args} argument{}, found {}",
                        if expected_args == 1 { "" } else { "s" },
                        args.len()
                    ),
                    span,
                )
                .with_code(codes::BAD_ARGUMENTS),
            ));
        }
        let value = match args.first() {
            Some(a) => {
                let v = self.expr(a, scope)?;
                Some(self.expect_int(v, &format!("the argument of {func}()"))?)
            }
            None => None,
        };
        let kind = match func {
            "count" => MapValue::Count,
            "sum" => MapValue::Sum,
            "min" => MapValue::Min,
            "max" => MapValue::Max,
            "avg" => MapValue::Avg,
            "stats" => MapValue::Stats,
            "hist" => MapValue::Hist,
            _ => {
                let mut bounds = [0i64; 3];
                for (slot, a) in bounds.iter_mut().zip(&args[1..]) {
                    *slot = self.const_int(a, scope)?;
                }
                let [min, max, step] = bounds;
                if step <= 0 || max <= min {
                    return Err(self.error(
                        Diagnostic::error("lhist() needs min < max and step > 0", span)
                            .with_code(codes::OUT_OF_RANGE),
                    ));
                }
                if (max - min) / step > 1000 {
                    return Err(self.error(
                        Diagnostic::error("lhist() would have more than 1000 buckets", span)
                            .with_code(codes::OUT_OF_RANGE),
                    ));
                }
                MapValue::Lhist { min, max, step }
            }
        };
        let id = self.declare_map(map, &key_types, kind, span)?;
        Ok(StmtKind::MapAggregate {
            map: id,
            keys,
            value,
        })
    }

    pub(super) fn const_int(&mut self, e: &ast::Expr, scope: &mut ProbeScope) -> Checked<i64> {
        let lowered = self.expr(e, scope)?;
        match lowered.kind {
            ir::ExprKind::Int(v) => Ok(v),
            _ => Err(self.error(
                Diagnostic::error("expected a constant integer", e.span)
                    .with_code(codes::NOT_CONSTANT),
            )),
        }
    }

    fn assign_var(
        &mut self,
        var: &ast::Ident,
        op: AssignOp,
        value: &ast::Expr,
        span: Span,
        scope: &mut ProbeScope,
    ) -> Checked<Vec<ir::Stmt>> {
        let rhs = self.expr(value, scope)?;
        if rhs.ty == Type::Void {
            return Err(self.error(
                Diagnostic::error("this expression has no value to store", value.span)
                    .with_code(codes::NO_VALUE),
            ));
        }
        let rhs = match op {
            AssignOp::Assign => rhs,
            _ => {
                let current = self.var_read(&var.name, var.span, scope)?;
                if !current.ty.is_int() || !rhs.ty.is_int() {
                    return Err(self.error(
                        Diagnostic::error("compound assignment needs integers", span)
                            .with_code(codes::TYPE_MISMATCH),
                    ));
                }
                binary_for(op, current, rhs, span)
            }
        };
        let id = match scope.var_index.get(&var.name) {
            Some(&id) => {
                let declared = scope.vars[id].ty;
                if !declared.compatible(rhs.ty) {
                    let mut d =
                        Diagnostic::error(format!("type mismatch for ${}", var.name), value.span)
                            .with_code(codes::TYPE_MISMATCH)
                            .with_label(format!("this is {}", with_article(rhs.ty)))
                            .with_note(format!(
                                "${} already holds {}",
                                var.name,
                                with_article(declared)
                            ));
                    if let Some(first) = scope.var_first.get(&var.name) {
                        d = d.with_secondary(
                            *first,
                            format!("first assigned {} here", with_article(declared)),
                        );
                    }
                    return Err(self.error(d));
                }
                scope.vars[id].ty = super::widen(declared, rhs.ty);
                id
            }
            None => {
                let id = scope.vars.len();
                scope.vars.push(ir::VarDecl {
                    name: var.name.clone(),
                    ty: rhs.ty,
                });
                scope.var_index.insert(var.name.clone(), id);
                scope.var_first.insert(var.name.clone(), var.span);
                id
            }
        };
        Ok(vec![ir::Stmt {
            kind: StmtKind::VarStore {
                var: id,
                value: rhs,
            },
            span,
        }])
    }

    fn printf(
        &mut self,
        args: &[ast::Expr],
        span: Span,
        scope: &mut ProbeScope,
    ) -> Checked<StmtKind> {
        let (format, lowered) = self.format_call("printf", args, span, scope)?;
        let id = self.printfs.len();
        self.printfs.push(ir::PrintfDecl {
            format,
            args: lowered.iter().map(|e| e.ty).collect(),
        });
        Ok(StmtKind::Printf { id, args: lowered })
    }

    /// The format and arguments of a printf-style call (`printf`, `cat`, `system`,
    /// `debugf`), checked against each other.
    pub(super) fn format_call(
        &mut self,
        func: &str,
        args: &[ast::Expr],
        span: Span,
        scope: &mut ProbeScope,
    ) -> Checked<(String, Vec<ir::Expr>)> {
        let Some(first) = args.first() else {
            return Err(self.error(
                Diagnostic::error(format!("{func}() needs a format string"), span)
                    .with_code(codes::PRINTF_FORMAT),
            ));
        };
        let A::Str(format) = &first.kind else {
            return Err(self.error(
                Diagnostic::error(
                    format!("{func}()'s first argument must be a string literal"),
                    first.span,
                )
                .with_code(codes::PRINTF_FORMAT),
            ));
        };
        let conversions = match super::parse_format(format) {
            Ok(c) => c,
            Err(e) => {
                return Err(self.error(
                    Diagnostic::error(format!("bad {func} format: {e}"), first.span)
                        .with_code(codes::PRINTF_FORMAT),
                ))
            }
        };
        let mut lowered = Vec::with_capacity(args.len() - 1);
        for a in &args[1..] {
            let e = self.expr(a, scope)?;
            if e.ty == Type::Void {
                return Err(self.error(
                    Diagnostic::error("this expression has no value to print", a.span)
                        .with_code(codes::NO_VALUE),
                ));
            }
            lowered.push(e);
        }
        if conversions.len() != lowered.len() {
            return Err(self.error(
                Diagnostic::error(
                    format!(
                        "{func}: the format has {} conversion{} but {} argument{} follow",
                        conversions.len(),
                        if conversions.len() == 1 { "" } else { "s" },
                        lowered.len(),
                        if lowered.len() == 1 { "" } else { "s" }
                    ),
                    first.span,
                )
                .with_code(codes::PRINTF_FORMAT)
                .with_label("this format"),
            ));
        }
        for (conv, arg) in conversions.iter().zip(&lowered) {
            if super::format::wants_int(conv) && !arg.ty.is_int() {
                return Err(self.error(
                    Diagnostic::error(
                        format!("{func}: {} expects an integer, found {}", conv.spec, arg.ty),
                        arg.span,
                    )
                    .with_code(codes::PRINTF_FORMAT)
                    .with_hint("use %s to print a string"),
                ));
            }
        }
        Ok((format.clone(), lowered))
    }
}

/// `current op rhs` for a compound assignment operator.
fn binary_for(op: AssignOp, current: ir::Expr, rhs: ir::Expr, span: Span) -> ir::Expr {
    use ir::BinOp as B;
    let bop = match op {
        AssignOp::Assign | AssignOp::Add => B::Add,
        AssignOp::Sub => B::Sub,
        AssignOp::Mul => B::Mul,
        AssignOp::Div => B::Div,
        AssignOp::Mod => B::Mod,
        AssignOp::BitAnd => B::BitAnd,
        AssignOp::BitOr => B::BitOr,
        AssignOp::BitXor => B::BitXor,
        AssignOp::Shl => B::Shl,
        AssignOp::Shr => B::Shr,
    };
    let ty = super::expr::arith_type(current.ty, rhs.ty);
    ir::Expr {
        kind: ir::ExprKind::Binary {
            op: bop,
            lhs: Box::new(current),
            rhs: Box::new(rhs),
        },
        ty,
        span,
    }
}

impl Checker<'_> {
    /// `for ($kv : @map) { body }`.
    fn for_map(
        &mut self,
        var: &ast::Ident,
        map: &ast::MapRef,
        body: &ast::Block,
        span: Span,
        scope: &mut ProbeScope,
    ) -> Checked<Vec<ir::Stmt>> {
        if scope.in_for_body {
            return Err(self.error(
                Diagnostic::error("for loops over maps cannot be nested", span)
                    .with_code(codes::INVALID_FOR),
            ));
        }
        if !map.keys.is_empty() {
            return Err(self.error(
                Diagnostic::error("iterate over the whole map", map.span)
                    .with_code(codes::INVALID_FOR)
                    .with_hint(format!("write for (${} : @{})", var.name, map.name)),
            ));
        }
        let Some(id) = self.map_from_hint(&map.name) else {
            if self.learning {
                return Ok(Vec::new());
            }
            return Err(self.error(
                Diagnostic::error(format!("undefined map '@{}'", map.name), map.span)
                    .with_code(codes::UNDEFINED_MAP),
            ));
        };
        let decl = self.maps[id].clone();
        let value = match decl.value {
            MapValue::Scalar(t) => t,
            MapValue::Count => Type::U64,
            MapValue::Sum => Type::I64,
            other => {
                return Err(self.error(
                    Diagnostic::error(
                        format!(
                            "cannot iterate over @{}: it holds {}",
                            map.name,
                            other.describe()
                        ),
                        map.span,
                    )
                    .with_code(codes::INVALID_FOR),
                ))
            }
        };
        let key = match decl.keys.as_slice() {
            [k] => *k,
            [] => {
                return Err(self.error(
                    Diagnostic::error(
                        format!("@{} has no keys to iterate over", map.name),
                        map.span,
                    )
                    .with_code(codes::INVALID_FOR),
                ))
            }
            _ => {
                return Err(self.error(
                    Diagnostic::error(
                        format!(
                    "iterating over maps with several keys is not supported by kestrel yet (@{})",
                    map.name
                ),
                        map.span,
                    )
                    .with_code(codes::NOT_SUPPORTED),
                ))
            }
        };
        // The callback reads the value the kernel stores: aggregations must not be per-CPU.
        self.maps[id].read_in_kernel = true;
        let types = vec![key, value];
        let size: u32 = types.iter().map(|t| crate::types::slot_size(*t)).sum();
        let tuple_id = match self.tuples.iter().position(|t| *t == types) {
            Some(i) => i,
            None => {
                self.tuples.push(types);
                self.tuples.len() - 1
            }
        };
        let ty = Type::Tuple {
            id: tuple_id as u32,
            size,
        };
        let var_id = match scope.var_index.get(&var.name) {
            Some(&v) if scope.vars[v].ty == ty => v,
            Some(_) => {
                return Err(self.error(
                    Diagnostic::error(
                        format!("${} already holds another type", var.name),
                        var.span,
                    )
                    .with_code(codes::TYPE_MISMATCH),
                ))
            }
            None => {
                scope.vars.push(ir::VarDecl {
                    name: var.name.clone(),
                    ty,
                });
                scope
                    .var_index
                    .insert(var.name.clone(), scope.vars.len() - 1);
                scope.vars.len() - 1
            }
        };
        scope.loop_depth += 1;
        scope.in_for_body = true;
        let body = self.block(&body.stmts, scope);
        scope.in_for_body = false;
        scope.loop_depth -= 1;
        Ok(vec![ir::Stmt {
            kind: StmtKind::ForMap {
                map: id,
                var: var_id,
                body,
            },
            span,
        }])
    }
}
