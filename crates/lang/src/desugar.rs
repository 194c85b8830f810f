//! Current bpftrace spellings rewritten into the forms the analysis knows, right after
//! parsing: `true`/`false`, `__builtin_pid` (and every `__builtin_` name), builtins called
//! like functions (`nsecs()`, `pid()`), and the two-argument `delete(@m, key)` and
//! `has_key(@m, key)`.

use crate::ast::{Block, Expr, ExprKind, Program, Stmt, StmtKind};

/// Builtins that current bpftrace also accepts as zero-argument calls.
const CALLABLE_BUILTINS: &[&str] = &[
    "pid", "tid", "uid", "gid", "nsecs", "cpu", "comm", "elapsed", "cpid", "jiffies", "ncpus",
    "numaid", "rand", "cgroup", "curtask", "ppid", "username", "usermode", "func", "probe",
    "retval", "kstack", "ustack",
];

/// Rewrite every probe of `program` (predicates included).
pub fn desugar(program: &mut Program) {
    for probe in &mut program.probes {
        if let Some(p) = &mut probe.predicate {
            expr(p);
        }
        block(&mut probe.body);
    }
}

fn block(b: &mut Block) {
    for s in &mut b.stmts {
        stmt(s);
    }
}

fn stmt(s: &mut Stmt) {
    match &mut s.kind {
        StmtKind::Expr(e) => expr(e),
        StmtKind::AssignMap { map, value, .. } => {
            for k in &mut map.keys {
                expr(k);
            }
            expr(value);
        }
        StmtKind::AssignVar { value, .. } => expr(value),
        StmtKind::If {
            cond,
            then,
            otherwise,
        } => {
            expr(cond);
            block(then);
            if let Some(o) = otherwise {
                block(o);
            }
        }
        StmtKind::While { cond, body } => {
            expr(cond);
            block(body);
        }
        StmtKind::Unroll { count, body } => {
            expr(count);
            block(body);
        }
        StmtKind::For { map, body, .. } => {
            for k in &mut map.keys {
                expr(k);
            }
            block(body);
        }
        StmtKind::Block(b) => block(b),
        StmtKind::Break | StmtKind::Continue | StmtKind::Return => {}
    }
}

fn expr(e: &mut Expr) {
    for c in crate::macros::children(e) {
        expr(c);
    }
    let replacement = match &mut e.kind {
        ExprKind::Builtin(w) if w == "true" => Some(ExprKind::Int(1)),
        ExprKind::Builtin(w) if w == "false" => Some(ExprKind::Int(0)),
        ExprKind::Builtin(w) => w
            .strip_prefix("__builtin_")
            .map(|b| ExprKind::Builtin(b.to_string())),
        ExprKind::Call { name, args }
            if args.is_empty() && CALLABLE_BUILTINS.contains(&name.name.as_str()) =>
        {
            Some(ExprKind::Builtin(name.name.clone()))
        }
        ExprKind::Call { name, args }
            if matches!(name.name.as_str(), "delete" | "has_key") && args.len() == 2 =>
        {
            // `delete(@m, key)`: the key (a tuple for several) moves into the map reference.
            match (&args[0].kind, &args[1].kind) {
                (ExprKind::Map(m), key) if m.keys.is_empty() => {
                    let mut m = m.clone();
                    m.keys = match key {
                        ExprKind::Tuple(items) => items.clone(),
                        _ => vec![args[1].clone()],
                    };
                    m.span = args[0].span.to(args[1].span);
                    let map = Expr {
                        kind: ExprKind::Map(m),
                        span: args[0].span.to(args[1].span),
                    };
                    Some(ExprKind::Call {
                        name: name.clone(),
                        args: vec![map],
                    })
                }
                _ => None,
            }
        }
        _ => None,
    };
    if let Some(k) = replacement {
        e.kind = k;
    }
}
