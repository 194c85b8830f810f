//! Expanding `macro name(params) { ... }` definitions in the syntax tree, before analysis.
//!
//! A call in statement position becomes the macro's statements (and its value, evaluated
//! for effect). A call inside an expression hoists the macro's statements to just before
//! the statement holding the call and is replaced by the macro's value. Parameters:
//! a bare name is replaced by the argument expression wherever it is used (so its side
//! effects happen once per use, as in bpftrace); `$x` names the caller's variable and
//! `@x` the caller's map. Other `$variables` of the body are the macro's own: they are
//! renamed per expansion so they never clash with the caller's.

use std::collections::HashMap;

use crate::ast::{Block, Expr, ExprKind, Macro, MacroParam, MapRef, Program, Stmt, StmtKind};
use crate::diag::codes;
use crate::diag::Diagnostic;

/// How deep macros may call macros before the expansion is considered recursive.
const MAX_DEPTH: u32 = 32;

/// Expand every macro call in `program`'s probes. Definitions stay in `program.macros`.
pub fn expand(program: &mut Program) -> Result<(), Vec<Diagnostic>> {
    let mut ex = Expander {
        macros: program
            .macros
            .iter()
            .map(|m| (m.name.name.clone(), m.clone()))
            .collect(),
        counter: 0,
        diags: Vec::new(),
        no_incdec: 0,
    };
    for probe in &mut program.probes {
        let stmts = std::mem::take(&mut probe.body.stmts);
        probe.body.stmts = ex.block(stmts, 0);
        if let Some(pred) = &mut probe.predicate {
            let mut hoisted = Vec::new();
            ex.expr(pred, &mut hoisted, 0);
            if !hoisted.is_empty() {
                ex.diags.push(
                    Diagnostic::error(
                        "a macro with statements cannot be used in a predicate",
                        pred.span,
                    )
                    .with_code(codes::UNSUPPORTED_SYNTAX),
                );
            }
        }
    }
    if ex.diags.is_empty() {
        Ok(())
    } else {
        Err(ex.diags)
    }
}

struct Expander {
    macros: HashMap<String, Macro>,
    counter: u32,
    diags: Vec<Diagnostic>,
    /// Inside a `while` condition: `++` is not hoisted.
    no_incdec: u32,
}

impl Expander {
    fn block(&mut self, stmts: Vec<Stmt>, depth: u32) -> Vec<Stmt> {
        let mut out = Vec::new();
        for mut stmt in stmts {
            if let StmtKind::Expr(e) = &stmt.kind {
                if let Some((body, value)) = self.call_site(e, depth) {
                    out.extend(body);
                    if let Some(v) = value {
                        out.push(Stmt {
                            span: v.span,
                            kind: StmtKind::Expr(v),
                        });
                    }
                    continue;
                }
            }
            let mut hoisted = Vec::new();
            self.stmt(&mut stmt, &mut hoisted, depth);
            out.extend(hoisted);
            out.push(stmt);
        }
        out
    }

    fn nested(&mut self, b: &mut Block, depth: u32) {
        let stmts = std::mem::take(&mut b.stmts);
        b.stmts = self.block(stmts, depth);
    }

    /// Expand the calls in one statement's own expressions (nested blocks recursively).
    fn stmt(&mut self, stmt: &mut Stmt, hoisted: &mut Vec<Stmt>, depth: u32) {
        match &mut stmt.kind {
            // `$x++;` on its own is a statement the analysis knows.
            StmtKind::Expr(e) if matches!(e.kind, ExprKind::IncDec { .. }) => {
                for c in children(e) {
                    self.expr(c, hoisted, depth);
                }
            }
            StmtKind::Expr(e) => self.expr(e, hoisted, depth),
            StmtKind::AssignMap { map, value, .. } => {
                for k in &mut map.keys {
                    self.expr(k, hoisted, depth);
                }
                self.expr(value, hoisted, depth);
            }
            StmtKind::AssignVar { value, .. } => self.expr(value, hoisted, depth),
            StmtKind::If {
                cond,
                then,
                otherwise,
            } => {
                self.expr(cond, hoisted, depth);
                self.nested(then, depth);
                if let Some(o) = otherwise {
                    self.nested(o, depth);
                }
            }
            StmtKind::While { cond, body } => {
                // Hoisted statements would run once, not per iteration: `++` stays here
                // (and is reported by the analysis).
                self.no_incdec += 1;
                self.expr(cond, hoisted, depth);
                self.no_incdec -= 1;
                self.nested(body, depth);
            }
            StmtKind::Unroll { count, body } => {
                self.expr(count, hoisted, depth);
                self.nested(body, depth);
            }
            StmtKind::For { body, .. } => self.nested(body, depth),
            StmtKind::Block(b) => self.nested(b, depth),
            StmtKind::Break | StmtKind::Continue | StmtKind::Return => {}
        }
    }

    /// Replace macro calls inside `e` by their values, their statements going to `hoisted`;
    /// `$x++` inside an expression becomes `$tmp = $x; $x++;` before the statement and
    /// `$tmp` in its place (`++$x` becomes `$x++;` before it and `$x` in place).
    fn expr(&mut self, e: &mut Expr, hoisted: &mut Vec<Stmt>, depth: u32) {
        // A macro's arguments are substituted as written and expanded where they land, so
        // that an argument with side effects has them at every use (as in bpftrace).
        let is_macro_call = matches!(&e.kind, ExprKind::Call { name, args }
            if self.macros.get(&name.name).is_some_and(|m| m.params.len() == args.len()));
        if !is_macro_call {
            for child in children(e) {
                self.expr(child, hoisted, depth);
            }
        }
        if self.no_incdec == 0 {
            if let ExprKind::IncDec { target, prefix, .. } = &e.kind {
                if matches!(target.kind, ExprKind::Var(_) | ExprKind::Map(_)) {
                    let target = (**target).clone();
                    let prefix = *prefix;
                    let step = Stmt {
                        span: e.span,
                        kind: StmtKind::Expr(e.clone()),
                    };
                    if prefix {
                        hoisted.push(step);
                        *e = target;
                    } else {
                        self.counter += 1;
                        let tmp = format!("__incdec_{}", self.counter);
                        hoisted.push(Stmt {
                            span: e.span,
                            kind: StmtKind::AssignVar {
                                var: crate::ast::Ident {
                                    name: tmp.clone(),
                                    span: e.span,
                                },
                                op: crate::ast::AssignOp::Assign,
                                value: target,
                            },
                        });
                        hoisted.push(step);
                        e.kind = ExprKind::Var(tmp);
                    }
                    return;
                }
            }
        }
        if let Some((body, value)) = self.call_site(e, depth) {
            hoisted.extend(body);
            match value {
                Some(v) => *e = v,
                None => {
                    self.diags.push(
                        Diagnostic::error("this macro has no value", e.span)
                            .with_code(codes::NO_VALUE)
                            .with_note(
                                "a macro's value is its last expression, written without ';'",
                            ),
                    );
                }
            }
        }
    }

    /// If `e` calls a macro, its expansion: statements and value.
    fn call_site(&mut self, e: &Expr, depth: u32) -> Option<(Vec<Stmt>, Option<Expr>)> {
        let (name, args) = match &e.kind {
            ExprKind::Call { name, args } => (name.name.as_str(), args.as_slice()),
            ExprKind::Builtin(w) => (w.as_str(), &[][..]),
            _ => return None,
        };
        let m = self.macros.get(name)?.clone();
        if matches!(e.kind, ExprKind::Builtin(_)) && !m.params.is_empty() {
            return None;
        }
        if depth >= MAX_DEPTH {
            self.diags.push(
                Diagnostic::error(
                    format!("macro '{name}' expands into itself (more than {MAX_DEPTH} levels)"),
                    e.span,
                )
                .with_code(codes::UNSUPPORTED_SYNTAX),
            );
            return Some((Vec::new(), None));
        }
        if m.params.len() != args.len() {
            // bpftrace picks macros by name and arity: `cpu()` stays the builtin when the
            // script defines `macro cpu(x)`. Unknown names are reported by the analysis.
            if matches!(e.kind, ExprKind::Call { .. }) {
                return None;
            }
            self.diags.push(
                Diagnostic::error(
                    format!(
                        "macro '{name}' takes {} argument{}, {} given",
                        m.params.len(),
                        if m.params.len() == 1 { "" } else { "s" },
                        args.len()
                    ),
                    e.span,
                )
                .with_code(codes::BAD_ARGUMENTS)
                .with_secondary(m.name.span, "defined here"),
            );
            return Some((Vec::new(), None));
        }
        self.counter += 1;
        let mut inst = Instance {
            exprs: HashMap::new(),
            vars: HashMap::new(),
            maps: HashMap::new(),
            prefix: format!("__{}_{}_", name, self.counter),
            rename_locals: !m.inline_block,
        };
        for (p, a) in m.params.iter().zip(args) {
            match (p, &a.kind) {
                (MacroParam::Expr(id), _) => {
                    inst.exprs.insert(id.name.clone(), a.clone());
                }
                (MacroParam::Var(id), ExprKind::Var(v)) => {
                    inst.vars.insert(id.name.clone(), v.clone());
                }
                (MacroParam::Map(id), ExprKind::Map(mr)) if mr.keys.is_empty() => {
                    inst.maps.insert(id.name.clone(), mr.name.clone());
                }
                (MacroParam::Var(id), _) | (MacroParam::Map(id), _) => {
                    let what = if matches!(p, MacroParam::Var(_)) {
                        "a '$variable'"
                    } else {
                        "a '@map' (without keys)"
                    };
                    self.diags.push(
                        Diagnostic::error(
                            format!("parameter '{}' of macro '{name}' needs {what}", id.name),
                            a.span,
                        )
                        .with_code(codes::BAD_ARGUMENTS)
                        .with_secondary(id.span, "declared here"),
                    );
                    return Some((Vec::new(), None));
                }
            }
        }
        let mut body = m.body.clone();
        for s in &mut body {
            inst.stmt(s);
        }
        let mut value = m.value.clone();
        if let Some(v) = &mut value {
            inst.expr(v);
        }
        // Macros called by this one.
        let body = self.block(body, depth + 1);
        let mut more = Vec::new();
        if let Some(v) = &mut value {
            self.expr(v, &mut more, depth + 1);
        }
        let mut all = body;
        all.extend(more);
        Some((all, value))
    }
}

/// The renaming and substitution of one expansion.
struct Instance {
    exprs: HashMap<String, Expr>,
    vars: HashMap<String, String>,
    maps: HashMap<String, String>,
    prefix: String,
    /// False for block expressions, whose variables are the caller's.
    rename_locals: bool,
}

impl Instance {
    fn var(&self, name: &mut String) {
        *name = match self.vars.get(name.as_str()) {
            Some(caller) => caller.clone(),
            None if !self.rename_locals => return,
            None => format!("{}{name}", self.prefix),
        };
    }

    fn map(&self, m: &mut MapRef) {
        if let Some(caller) = self.maps.get(&m.name) {
            m.name = caller.clone();
        }
        for k in &mut m.keys {
            self.expr(k);
        }
    }

    fn block(&self, b: &mut Block) {
        for s in &mut b.stmts {
            self.stmt(s);
        }
    }

    fn stmt(&self, s: &mut Stmt) {
        match &mut s.kind {
            StmtKind::Expr(e) => self.expr(e),
            StmtKind::AssignMap { map, value, .. } => {
                self.map(map);
                self.expr(value);
            }
            StmtKind::AssignVar { var, value, .. } => {
                self.var(&mut var.name);
                self.expr(value);
            }
            StmtKind::If {
                cond,
                then,
                otherwise,
            } => {
                self.expr(cond);
                self.block(then);
                if let Some(o) = otherwise {
                    self.block(o);
                }
            }
            StmtKind::While { cond, body } => {
                self.expr(cond);
                self.block(body);
            }
            StmtKind::Unroll { count, body } => {
                self.expr(count);
                self.block(body);
            }
            StmtKind::For { var, map, body } => {
                self.var(&mut var.name);
                self.map(map);
                self.block(body);
            }
            StmtKind::Block(b) => self.block(b),
            StmtKind::Break | StmtKind::Continue | StmtKind::Return => {}
        }
    }

    fn expr(&self, e: &mut Expr) {
        match &mut e.kind {
            ExprKind::Var(v) => self.var(v),
            ExprKind::Map(m) => self.map(m),
            ExprKind::Builtin(w) => {
                // The argument is the caller's expression: it is not renamed.
                if let Some(arg) = self.exprs.get(w.as_str()) {
                    *e = arg.clone();
                }
            }
            _ => {
                for c in children(e) {
                    self.expr(c);
                }
            }
        }
    }
}

/// The direct sub-expressions of `e`.
pub(crate) fn children(e: &mut Expr) -> Vec<&mut Expr> {
    match &mut e.kind {
        ExprKind::Int(_)
        | ExprKind::Str(_)
        | ExprKind::Builtin(_)
        | ExprKind::Var(_)
        | ExprKind::Positional(_)
        | ExprKind::PositionalCount
        | ExprKind::SizeofType(_)
        | ExprKind::Offsetof { .. } => Vec::new(),
        ExprKind::Map(m) => m.keys.iter_mut().collect(),
        ExprKind::Call { args, .. } => args.iter_mut().collect(),
        ExprKind::Binary { lhs, rhs, .. } => vec![lhs.as_mut(), rhs.as_mut()],
        ExprKind::Unary { expr, .. } | ExprKind::Cast { expr, .. } => vec![expr.as_mut()],
        ExprKind::IncDec { target, .. } => vec![target.as_mut()],
        ExprKind::Ternary {
            cond,
            then,
            otherwise,
        } => vec![cond.as_mut(), then.as_mut(), otherwise.as_mut()],
        ExprKind::Field { expr, .. } => vec![expr.as_mut()],
        ExprKind::Index { expr, index } => vec![expr.as_mut(), index.as_mut()],
        ExprKind::Tuple(items) => items.iter_mut().collect(),
    }
}

#[cfg(test)]
mod tests {
    use crate::ast::StmtKind;
    use crate::parser::to_sexpr;

    fn expanded(src: &str) -> String {
        let p = crate::parse(src).unwrap_or_default();
        to_sexpr(&p)
    }

    #[test]
    fn expression_macro_is_substituted() {
        let p = crate::parse("macro add_one(x) { x + 1 } BEGIN { print(add_one(2)); }")
            .unwrap_or_default();
        assert_eq!(p.probes.len(), 1);
        let s = to_sexpr(&p);
        assert!(s.contains("(+ 2 1)"), "{s}");
    }

    #[test]
    fn variable_parameters_alias_and_locals_are_renamed() {
        let s = expanded("macro inc($x) { $y = 1; $x += $y; $x } BEGIN { $a = 1; $b = inc($a); }");
        assert!(s.contains("$a"), "{s}");
        assert!(s.contains("$__inc_1_y"), "{s}");
        assert!(!s.contains("$x"), "{s}");
    }

    #[test]
    fn map_parameters_name_the_callers_map() {
        let p = crate::parse("macro set(@x) { @x[1] = 2; } BEGIN { set(@a); }").unwrap_or_default();
        let StmtKind::AssignMap { map, .. } = &p.probes[0].body.stmts[0].kind else {
            panic!("{:?}", p.probes[0].body.stmts);
        };
        assert_eq!(map.name, "a");
    }

    #[test]
    fn errors_are_reported() {
        // Another arity is another function (bpftrace picks macros by name and arity):
        // left to the analysis, which reports an unknown function.
        assert!(crate::parse("macro f(x) { x } BEGIN { f(1, 2); }").is_ok());
        let e = crate::parse("macro f() { f() } BEGIN { f(); }")
            .err()
            .unwrap_or_default();
        assert!(e[0].title.contains("expands into itself"), "{:?}", e);
        let e = crate::parse("macro f() { exit(); } BEGIN { $x = f(); }")
            .err()
            .unwrap_or_default();
        assert!(e[0].title.contains("no value"), "{:?}", e);
    }
}
