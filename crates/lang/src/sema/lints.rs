//! Warnings for scripts that compile but are probably not what was meant, found by walking
//! the syntax tree once analysis succeeded:
//!
//! - W0003: a `$variable` assigned in a probe and never read there (names starting with
//!   `$_` are exempt).
//! - W0002: a keyed map of plain values (`@start[tid] = nsecs`) assigned but never read,
//!   deleted, tested, printed or cleared anywhere. Maps holding aggregations (`count()`,
//!   `hist()`, ...) or without keys are meant to be printed at exit, as bpftrace does, so they
//!   are never "unused".

use std::collections::{HashMap, HashSet};

use crate::ast::{self, AssignOp, Block, Expr, ExprKind as A, StmtKind as S};
use crate::diag::{codes, Diagnostic};
use crate::span::Span;

/// Functions whose value makes a map an aggregation that is meant to be printed at exit.
const AGGREGATIONS: &[&str] = &[
    "count", "sum", "avg", "min", "max", "stats", "hist", "lhist",
];

/// The warnings for `program`, in source order.
pub(super) fn check(program: &ast::Program) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut maps = Maps::default();
    for probe in &program.probes {
        let mut vars = Vars::default();
        if let Some(p) = &probe.predicate {
            walk_expr(p, &mut vars, &mut maps);
        }
        walk_block(&probe.body, &mut vars, &mut maps);
        for (name, span) in vars.assigned {
            if !vars.read.contains(&name) && !name.starts_with('_') {
                out.push(
                    Diagnostic::warning(format!("variable '${name}' is never read"), span)
                        .with_code(codes::UNUSED_VARIABLE)
                        .with_label("assigned here")
                        .with_hint(format!(
                            "remove the assignment, or name it '$_{name}' to keep it"
                        )),
                );
            }
        }
    }
    for (name, span) in maps.written {
        if !maps.read.contains(&name) {
            out.push(
                Diagnostic::warning(format!("map '@{name}' is assigned but never read"), span)
                    .with_code(codes::UNUSED_MAP)
                    .with_label("first assigned here")
                    .with_note("it is only printed when the script exits, like every map")
                    .with_hint(format!(
                        "read it back (e.g. `nsecs - @{name}[tid]`), delete() it, or print(@{name}) explicitly"
                    )),
            );
        }
    }
    out.sort_by_key(|d| d.primary.span.start);
    out
}

/// Variables of one probe: where each was first assigned, and which are read.
#[derive(Default)]
struct Vars {
    assigned: HashMap<String, Span>,
    read: HashSet<String>,
}

/// Maps of the whole script: keyed plain-value maps and where first assigned, and every map
/// that is mentioned anywhere other than as an assignment target.
#[derive(Default)]
struct Maps {
    written: HashMap<String, Span>,
    read: HashSet<String>,
}

fn walk_block(b: &Block, vars: &mut Vars, maps: &mut Maps) {
    for stmt in &b.stmts {
        match &stmt.kind {
            S::Expr(e) => match &e.kind {
                // `@m[k]++` / `$x++` as a statement update without reading for the script's
                // purposes; only the keys are read.
                A::IncDec { target, .. } => match &target.kind {
                    A::Map(m) => walk_exprs(&m.keys, vars, maps),
                    A::Var(_) => {}
                    _ => walk_expr(target, vars, maps),
                },
                _ => walk_expr(e, vars, maps),
            },
            S::AssignMap { map, op, value } => {
                walk_exprs(&map.keys, vars, maps);
                walk_expr(value, vars, maps);
                let aggregate = matches!(&value.kind,
                    A::Call { name, .. } if AGGREGATIONS.contains(&name.name.as_str()));
                if *op == AssignOp::Assign && !aggregate && !map.keys.is_empty() {
                    maps.written.entry(map.name.clone()).or_insert(map.span);
                } else {
                    // Aggregations, scalars and compound updates are printed at exit.
                    maps.read.insert(map.name.clone());
                }
            }
            S::AssignVar { var, value, .. } => {
                walk_expr(value, vars, maps);
                vars.assigned.entry(var.name.clone()).or_insert(var.span);
            }
            S::If {
                cond,
                then,
                otherwise,
            } => {
                walk_expr(cond, vars, maps);
                walk_block(then, vars, maps);
                if let Some(o) = otherwise {
                    walk_block(o, vars, maps);
                }
            }
            S::While { cond, body } => {
                walk_expr(cond, vars, maps);
                walk_block(body, vars, maps);
            }
            S::Unroll { count, body } => {
                walk_expr(count, vars, maps);
                walk_block(body, vars, maps);
            }
            S::For { map, body, .. } => {
                maps.read.insert(map.name.clone());
                walk_exprs(&map.keys, vars, maps);
                walk_block(body, vars, maps);
            }
            S::Block(b) => walk_block(b, vars, maps),
            S::Break | S::Continue | S::Return => {}
        }
    }
}

fn walk_exprs(es: &[Expr], vars: &mut Vars, maps: &mut Maps) {
    for e in es {
        walk_expr(e, vars, maps);
    }
}

/// Record every variable and map an expression mentions as read. Iterative, so a
/// 10,000-deep expression does not need a deep stack here.
fn walk_expr(root: &Expr, vars: &mut Vars, maps: &mut Maps) {
    let mut stack = vec![root];
    while let Some(e) = stack.pop() {
        match &e.kind {
            A::Var(name) => {
                vars.read.insert(name.clone());
            }
            A::Map(m) => {
                maps.read.insert(m.name.clone());
                stack.extend(&m.keys);
            }
            A::Call { args, .. } => stack.extend(args),
            A::Binary { lhs, rhs, .. } => {
                stack.push(lhs);
                stack.push(rhs);
            }
            A::Unary { expr, .. }
            | A::IncDec { target: expr, .. }
            | A::Field { expr, .. }
            | A::Cast { expr, .. } => stack.push(expr),
            A::Ternary {
                cond,
                then,
                otherwise,
            } => {
                stack.push(cond);
                stack.push(then);
                stack.push(otherwise);
            }
            A::Index { expr, index } => {
                stack.push(expr);
                stack.push(index);
            }
            A::Tuple(items) => stack.extend(items),
            A::Int(_)
            | A::Str(_)
            | A::Builtin(_)
            | A::Positional(_)
            | A::PositionalCount
            | A::SizeofType(_)
            | A::Offsetof { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    fn warnings(src: &str) -> Vec<String> {
        let prog = crate::parse(src).expect("parses");
        check(&prog)
            .into_iter()
            .map(|d| format!("{}: {}", d.code.map_or("", |c| c.as_str()), d.title))
            .collect()
    }

    #[test]
    fn unused_variable_and_exemptions() {
        assert_eq!(
            warnings("BEGIN { $x = 1; $y = 2; $_z = 3; printf(\"%d\\n\", $y); }"),
            vec!["W0003: variable '$x' is never read"]
        );
        // Read in a later statement, in a condition, or only updated: fine / warned.
        assert!(warnings("BEGIN { $i = 0; while ($i < 3) { $i++; } }").is_empty());
        assert_eq!(
            warnings("BEGIN { $i = 0; $i++; $i += 2; }"),
            vec!["W0003: variable '$i' is never read"]
        );
        // Variables are per probe.
        assert_eq!(
            warnings("BEGIN { $x = 1; } END { $x = 2; @a = $x; }"),
            vec!["W0003: variable '$x' is never read"]
        );
    }

    #[test]
    fn unused_map_only_for_keyed_plain_values() {
        assert_eq!(
            warnings("tracepoint:a:b { @start[tid] = nsecs; }"),
            vec!["W0002: map '@start' is assigned but never read"]
        );
        // Read, deleted, aggregated, scalar or iterated: not warned.
        for ok in [
            "tracepoint:a:b { @start[tid] = nsecs; } tracepoint:a:c { @d = nsecs - @start[tid]; }",
            "tracepoint:a:b { @start[tid] = nsecs; delete(@start[tid]); }",
            "tracepoint:a:b { @c[comm] = count(); @h = hist(1); @x = 1; @y[1]++; }",
            "tracepoint:a:b { @m[1] = 2; for ($kv : @m) { print($kv); } }",
            "tracepoint:a:b { @m[1] = 2; } END { print(@m); clear(@m); }",
        ] {
            assert!(warnings(ok).is_empty(), "{ok}: {:?}", warnings(ok));
        }
    }
}
