//! A compact S-expression rendering of the AST, for tests and `--dump=ast`-style output.
//!
//! `tracepoint:syscalls:sys_enter_openat /comm == "cat"/ { @opens[comm] = count(); }` prints as
//! `(probe [tracepoint:syscalls:sys_enter_openat] (pred (== comm "cat")) (= @opens[comm] (call count)))`.

use std::fmt::Write;

use crate::ast::{
    AssignOp, BinOp, Block, Expr, ExprKind, MapRef, Probe, Program, Stmt, StmtKind, TypeName, UnOp,
};

/// One line per probe.
pub fn to_sexpr(program: &Program) -> String {
    let mut out = String::new();
    for probe in &program.probes {
        write_probe(&mut out, probe);
        out.push('\n');
    }
    out
}

fn write_probe(out: &mut String, probe: &Probe) {
    let specs: Vec<&str> = probe.specs.iter().map(|s| s.raw.as_str()).collect();
    let _ = write!(out, "(probe [{}]", specs.join(" "));
    if let Some(pred) = &probe.predicate {
        out.push_str(" (pred ");
        write_expr(out, pred);
        out.push(')');
    }
    for stmt in &probe.body.stmts {
        out.push(' ');
        write_stmt(out, stmt);
    }
    out.push(')');
}

fn write_block(out: &mut String, block: &Block) {
    out.push('{');
    for (i, stmt) in block.stmts.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        write_stmt(out, stmt);
    }
    out.push('}');
}

fn write_stmt(out: &mut String, stmt: &Stmt) {
    match &stmt.kind {
        StmtKind::Expr(e) => write_expr(out, e),
        StmtKind::AssignMap { map, op, value } => {
            let _ = write!(out, "({} ", assign_op(*op));
            write_map(out, map);
            out.push(' ');
            write_expr(out, value);
            out.push(')');
        }
        StmtKind::AssignVar { var, op, value } => {
            let _ = write!(out, "({} ${} ", assign_op(*op), var.name);
            write_expr(out, value);
            out.push(')');
        }
        StmtKind::If {
            cond,
            then,
            otherwise,
        } => {
            out.push_str("(if ");
            write_expr(out, cond);
            out.push(' ');
            write_block(out, then);
            if let Some(b) = otherwise {
                out.push(' ');
                write_block(out, b);
            }
            out.push(')');
        }
        StmtKind::While { cond, body } => {
            out.push_str("(while ");
            write_expr(out, cond);
            out.push(' ');
            write_block(out, body);
            out.push(')');
        }
        StmtKind::Unroll { count, body } => {
            out.push_str("(unroll ");
            write_expr(out, count);
            out.push(' ');
            write_block(out, body);
            out.push(')');
        }
        StmtKind::For { var, map, body } => {
            let _ = write!(out, "(for ${} ", var.name);
            write_map(out, map);
            out.push(' ');
            write_block(out, body);
            out.push(')');
        }
        StmtKind::Break => out.push_str("break"),
        StmtKind::Continue => out.push_str("continue"),
        StmtKind::Return => out.push_str("return"),
        StmtKind::Block(b) => write_block(out, b),
    }
}

fn write_map(out: &mut String, map: &MapRef) {
    let _ = write!(out, "@{}", map.name);
    if !map.keys.is_empty() {
        out.push('[');
        for (i, k) in map.keys.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            write_expr(out, k);
        }
        out.push(']');
    }
}

fn write_type(out: &mut String, ty: &TypeName) {
    let _ = write!(
        out,
        "<{}{}>",
        ty.base,
        "*".repeat(ty.pointer_depth as usize)
    );
}

pub(super) fn write_expr(out: &mut String, e: &Expr) {
    let list = |out: &mut String, head: &str, items: &[&Expr]| {
        let _ = write!(out, "({head}");
        for item in items {
            out.push(' ');
            write_expr(out, item);
        }
        out.push(')');
    };
    match &e.kind {
        ExprKind::Int(v) => {
            let _ = write!(out, "{v}");
        }
        ExprKind::Str(s) => {
            let _ = write!(out, "{s:?}");
        }
        ExprKind::Builtin(n) => out.push_str(n),
        ExprKind::Var(n) => {
            let _ = write!(out, "${n}");
        }
        ExprKind::Positional(n) => {
            let _ = write!(out, "${n}");
        }
        ExprKind::PositionalCount => out.push_str("$#"),
        ExprKind::Map(m) => write_map(out, m),
        ExprKind::Call { name, args } => {
            let args: Vec<&Expr> = args.iter().collect();
            list(out, &format!("call {}", name.name), &args);
        }
        ExprKind::Binary { op, lhs, rhs } => list(out, bin_op(*op), &[lhs, rhs]),
        ExprKind::Unary { op, expr } => list(out, un_op(*op), &[expr]),
        ExprKind::IncDec {
            target,
            increment,
            prefix,
        } => {
            let head = match (prefix, increment) {
                (true, true) => "pre++",
                (true, false) => "pre--",
                (false, true) => "post++",
                (false, false) => "post--",
            };
            list(out, head, &[target]);
        }
        ExprKind::Ternary {
            cond,
            then,
            otherwise,
        } => list(out, "?", &[cond, then, otherwise]),
        ExprKind::Field { expr, field, arrow } => {
            list(out, if *arrow { "->" } else { "." }, &[expr]);
            out.pop();
            let _ = write!(out, " {})", field.name);
        }
        ExprKind::Index { expr, index } => list(out, "index", &[expr, index]),
        ExprKind::Tuple(items) => {
            let items: Vec<&Expr> = items.iter().collect();
            list(out, "tuple", &items);
        }
        ExprKind::Cast { ty, expr } => {
            out.push_str("(cast ");
            write_type(out, ty);
            out.push(' ');
            write_expr(out, expr);
            out.push(')');
        }
        ExprKind::SizeofType(ty) => {
            out.push_str("(sizeof ");
            write_type(out, ty);
            out.push(')');
        }
        ExprKind::Offsetof { ty, fields } => {
            out.push_str("(offsetof ");
            write_type(out, ty);
            for f in fields {
                out.push(' ');
                out.push_str(&f.name);
            }
            out.push(')');
        }
    }
}

fn assign_op(op: AssignOp) -> &'static str {
    match op {
        AssignOp::Assign => "=",
        AssignOp::Add => "+=",
        AssignOp::Sub => "-=",
        AssignOp::Mul => "*=",
        AssignOp::Div => "/=",
        AssignOp::Mod => "%=",
        AssignOp::BitAnd => "&=",
        AssignOp::BitOr => "|=",
        AssignOp::BitXor => "^=",
        AssignOp::Shl => "<<=",
        AssignOp::Shr => ">>=",
    }
}

fn bin_op(op: BinOp) -> &'static str {
    match op {
        BinOp::LogOr => "||",
        BinOp::LogAnd => "&&",
        BinOp::BitOr => "|",
        BinOp::BitXor => "^",
        BinOp::BitAnd => "&",
        BinOp::Eq => "==",
        BinOp::Ne => "!=",
        BinOp::Lt => "<",
        BinOp::Le => "<=",
        BinOp::Gt => ">",
        BinOp::Ge => ">=",
        BinOp::Shl => "<<",
        BinOp::Shr => ">>",
        BinOp::Add => "+",
        BinOp::Sub => "-",
        BinOp::Mul => "*",
        BinOp::Div => "/",
        BinOp::Mod => "%",
    }
}

fn un_op(op: UnOp) -> &'static str {
    match op {
        UnOp::Neg => "-",
        UnOp::Not => "!",
        UnOp::BitNot => "~",
        UnOp::Deref => "*",
        UnOp::AddrOf => "&",
    }
}
