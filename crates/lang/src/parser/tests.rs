//! Parser tests: AST shapes via the S-expression printer, spans, diagnostics, robustness.

use super::{parse, to_sexpr};
use crate::ast::{ExprKind, StmtKind};
use crate::diag::render_all;

fn sx(src: &str) -> String {
    match parse(src) {
        Ok(p) => to_sexpr(&p).trim_end().to_string(),
        Err(d) => panic!("{}", render_all(&d, "test.bt", src)),
    }
}

/// The S-expression of the single statement in `BEGIN { stmt }`.
fn stmt(src: &str) -> String {
    let full = sx(&format!("BEGIN {{ {src} }}"));
    full.strip_prefix("(probe [BEGIN] ")
        .and_then(|s| s.strip_suffix(')'))
        .unwrap_or(&full)
        .to_string()
}

fn err(src: &str) -> String {
    match parse(src) {
        Ok(p) => panic!("expected an error, got {}", to_sexpr(&p)),
        Err(d) => render_all(&d, "test.bt", src),
    }
}

#[test]
fn acceptance_one_liners() {
    assert_eq!(
        sx(r#"BEGIN { printf("hello world\n"); exit(); }"#),
        r#"(probe [BEGIN] (call printf "hello world\n") (call exit))"#
    );
    assert_eq!(
        sx(r#"tracepoint:syscalls:sys_enter_openat /comm == "cat"/ { @opens[comm] = count(); }"#),
        r#"(probe [tracepoint:syscalls:sys_enter_openat] (pred (== comm "cat")) (= @opens[comm] (call count)))"#
    );
    assert_eq!(
        sx(
            r#"tracepoint:syscalls:sys_enter_execve { printf("%s %s\n", comm, str(args->filename)); }"#
        ),
        r#"(probe [tracepoint:syscalls:sys_enter_execve] (call printf "%s %s\n" comm (call str (-> args filename))))"#
    );
    assert_eq!(
        sx("interval:ms:100 { @ticks = count(); if (@ticks == 5) { exit(); } }"),
        "(probe [interval:ms:100] (= @ticks (call count)) (if (== @ticks 5) {(call exit)}))"
    );
}

#[test]
fn probe_headers() {
    assert_eq!(sx("BEGIN{}END{}"), "(probe [BEGIN])\n(probe [END])");
    assert_eq!(
        sx("t:syscalls:sys_enter_open*,\n  tracepoint:syscalls:sys_enter_openat , kprobe:do_sys_open+0x10 { }"),
        "(probe [t:syscalls:sys_enter_open* tracepoint:syscalls:sys_enter_openat kprobe:do_sys_open+0x10])"
    );
    assert_eq!(
        sx("uprobe:/bin/bash:readline/pid == 1/{}"),
        "(probe [uprobe:/bin/bash:readline] (pred (== pid 1)))"
    );
    assert_eq!(
        sx("uretprobe:/lib/x86_64-linux-gnu/libc.so.6:malloc /retval/ { @[ustack] = count() }"),
        "(probe [uretprobe:/lib/x86_64-linux-gnu/libc.so.6:malloc] (pred retval) (= @[ustack] (call count)))"
    );
    // Division inside parentheses stays division; the first top-level '/' closes.
    assert_eq!(
        sx("BEGIN /(nsecs / 2) > 1/ {}"),
        "(probe [BEGIN] (pred (> (/ nsecs 2) 1)))"
    );
    assert_eq!(
        sx("BEGIN /@a[nsecs / 2]/ {}"),
        "(probe [BEGIN] (pred @a[(/ nsecs 2)]))"
    );
    let p = parse("interval:s:1, usdt:/path:provider:probe, hardware:cache-misses:1000000 {}")
        .unwrap_or_else(|_| panic!());
    let parts: Vec<Vec<String>> = p.probes[0].specs.iter().map(|s| s.parts.clone()).collect();
    assert_eq!(
        parts,
        vec![
            vec!["interval", "s", "1"],
            vec!["usdt", "/path", "provider", "probe"],
            vec!["hardware", "cache-misses", "1000000"]
        ]
    );
}

#[test]
fn statements() {
    assert_eq!(
        stmt("$x = 1; $x += 2; $x <<= 1"),
        "(= $x 1) (+= $x 2) (<<= $x 1)"
    );
    assert_eq!(stmt("@m[pid, comm] -= 3"), "(-= @m[pid, comm] 3)");
    assert_eq!(stmt("@x++; --$y; @"), "(post++ @x) (pre-- $y) @");
    assert_eq!(
        stmt("if (pid) { @a = 1 } else if (tid) { @b = 1 } else { @c = 1; }"),
        "(if pid {(= @a 1)} {(if tid {(= @b 1)} {(= @c 1)})})"
    );
    assert_eq!(
        stmt("while ($i < 10) { $i++; if ($i == 5) { break } continue; }"),
        "(while (< $i 10) {(post++ $i) (if (== $i 5) {break}) continue})"
    );
    assert_eq!(stmt("unroll (3) { @c++ }"), "(unroll 3 {(post++ @c)})");
    assert_eq!(
        stmt("for ($kv : @map) { print($kv.0); }"),
        "(for $kv @map {(call print (. $kv 0))})"
    );
    assert_eq!(stmt("{ return; } ; ; return"), "{return} return");
    assert_eq!(
        stmt("delete(@start[tid]); clear(@); print(@x, 10)"),
        "(call delete @start[tid]) (call clear @) (call print @x 10)"
    );
}

#[test]
fn expressions() {
    assert_eq!(
        stmt("@ = 1 + 2 * 3 - 4 / 5 % 6"),
        "(= @ (- (+ 1 (* 2 3)) (% (/ 4 5) 6)))"
    );
    assert_eq!(
        stmt("@ = a || b && c | d ^ e & f == g < h << i + j * k"),
        "(= @ (|| a (&& b (| c (^ d (& e (== f (< g (<< h (+ i (* j k)))))))))))"
    );
    assert_eq!(stmt("@ = a ? b : c ? d : e"), "(= @ (? a b (? c d e)))");
    assert_eq!(
        stmt("@ = -1 + !a + ~b + *c + &d"),
        "(= @ (+ (+ (+ (+ (- 1) (! a)) (~ b)) (* c)) (& d)))"
    );
    assert_eq!(stmt("@ = (1, \"a\", $x)"), "(= @ (tuple 1 \"a\" $x))");
    assert_eq!(stmt("@ = (1 + 2) * 3"), "(= @ (* (+ 1 2) 3))");
    assert_eq!(stmt("$t = (uint8)$x"), "(= $t (cast <uint8> $x))");
    assert_eq!(
        stmt("$t = ((struct task_struct *)curtask)->parent->pid"),
        "(= $t (-> (-> (cast <struct task_struct*> curtask) parent) pid))"
    );
    assert_eq!(
        stmt("$p = (int8 **)arg0; $q = (struct sock *)arg1"),
        "(= $p (cast <int8**> arg0)) (= $q (cast <struct sock*> arg1))"
    );
    assert_eq!(
        stmt("@ = sizeof(struct task_struct) + sizeof(int) + sizeof($x)"),
        "(= @ (+ (+ (sizeof <struct task_struct>) (sizeof <int>)) (call sizeof $x)))"
    );
    assert_eq!(
        stmt("@ = $1 + $# + arg0[2] + args.foo"),
        "(= @ (+ (+ (+ $1 $#) (index arg0 2)) (. args foo)))"
    );
    assert_eq!(
        stmt("@x[1] = 0x10 + 017 + 0b11 + 1_000 + 1e3"),
        "(= @x[1] (+ (+ (+ (+ 16 15) 3) 1000) 1000))"
    );
    assert_eq!(stmt("$v = @x[1][2]"), "(= $v (index @x[1] 2))");
    assert_eq!(stmt("$v = kstack(perf, 5)"), "(= $v (call kstack perf 5))");
}

#[test]
fn spans_are_exact() {
    let src = "kprobe:f /pid > (1)/ { @m[tid] = (uint8)nsecs; $x++ }";
    let prog = parse(src).unwrap_or_else(|_| panic!());
    let at = |s: crate::span::Span| &src[s.start as usize..s.end as usize];
    let probe = &prog.probes[0];
    assert_eq!(at(probe.span), src);
    assert_eq!(at(probe.specs[0].span), "kprobe:f");
    assert_eq!(
        probe.predicate.as_ref().map(|p| at(p.span)),
        Some("pid > (1)")
    );
    assert_eq!(at(probe.body.span), "{ @m[tid] = (uint8)nsecs; $x++ }");
    let s0 = &probe.body.stmts[0];
    assert_eq!(at(s0.span), "@m[tid] = (uint8)nsecs");
    let StmtKind::AssignMap { map, value, .. } = &s0.kind else {
        panic!()
    };
    assert_eq!(at(map.span), "@m[tid]");
    assert_eq!(at(value.span), "(uint8)nsecs");
    let ExprKind::Cast { ty, .. } = &value.kind else {
        panic!()
    };
    assert_eq!(at(ty.span), "uint8");
    assert_eq!(at(probe.body.stmts[1].span), "$x++");
    let prog = parse("BEGIN { @ = (struct task_struct *)0; printf(\"%d\", (2)); }")
        .unwrap_or_else(|_| panic!());
    let src = "BEGIN { @ = (struct task_struct *)0; printf(\"%d\", (2)); }";
    let at = |s: crate::span::Span| &src[s.start as usize..s.end as usize];
    let StmtKind::AssignMap { value, .. } = &prog.probes[0].body.stmts[0].kind else {
        panic!()
    };
    let ExprKind::Cast { ty, .. } = &value.kind else {
        panic!()
    };
    assert_eq!(at(ty.span), "struct task_struct *");
    let StmtKind::Expr(call) = &prog.probes[0].body.stmts[1].kind else {
        panic!()
    };
    let ExprKind::Call { name, args } = &call.kind else {
        panic!()
    };
    assert_eq!(
        (at(call.span), at(name.span), at(args[1].span)),
        ("printf(\"%d\", (2))", "printf", "(2)")
    );
}

#[test]
fn diag_missing_semicolon() {
    assert_eq!(
        err("BEGIN { printf(\"hi\\n\") exit(); }"),
        "error[E0101]: expected ';' or '}' after statement, found 'identifier exit'
 --> test.bt:1:24
  |
1 | BEGIN { printf(\"hi\\n\") exit(); }
  |                        ^^^^
  |
  = hint: statements are separated by ';'
"
    );
}

#[test]
fn diag_missing_close_brace() {
    assert_eq!(
        err("BEGIN {\n  @x = count();\n  if (1) { exit(); }\n"),
        "error[E0102]: unexpected end of input: expected '}' to close the block opened here
 --> test.bt:3:21
  |
1 | BEGIN {
  |       - unclosed block
...
3 |   if (1) { exit(); }
  |                     ^
"
    );
}

#[test]
fn diag_unterminated_string() {
    assert_eq!(
        err("BEGIN { printf(\"hello); }\nEND { }"),
        "error[E0003]: unterminated string literal
 --> test.bt:1:16
  |
1 | BEGIN { printf(\"hello); }
  |                ^^^^^^^^^^ this string has no closing '\"'
  |
  = hint: strings end on the line they start; write '\\n' for a newline
"
    );
}

#[test]
fn diag_stray_token() {
    assert_eq!(
        err("BEGIN { @x = 1 + ; }"),
        "error[E0101]: expected an expression, found ';'
 --> test.bt:1:18
  |
1 | BEGIN { @x = 1 + ; }
  |                  ^
"
    );
    assert_eq!(
        err("BEGIN { @x = 1; } }"),
        "error[E0101]: expected a probe such as 'BEGIN' or 'tracepoint:syscalls:sys_enter_openat', found '}'
 --> test.bt:1:19
  |
1 | BEGIN { @x = 1; } }
  |                   ^
"
    );
}

#[test]
fn diag_unknown_character() {
    assert_eq!(
        err("BEGIN { @x = 1 ` 2; }"),
        "error[E0001]: unknown character '`'
 --> test.bt:1:16
  |
1 | BEGIN { @x = 1 ` 2; }
  |                ^ not part of the language
"
    );
}

#[test]
fn diag_if_without_braces_and_predicate() {
    assert_eq!(
        err("BEGIN { if (pid) exit(); }"),
        "error[E0101]: expected '{' after the 'if' condition, found 'identifier exit'
 --> test.bt:1:18
  |
1 | BEGIN { if (pid) exit(); }
  |                  ^^^^
  |
  = hint: braces are required: 'if (cond) { ... } else { ... }'
"
    );
    assert_eq!(
        err("tracepoint:a:b /pid == 1 { }"),
        "error[E0101]: expected '/' to close the predicate, found '{'
 --> test.bt:1:26
  |
1 | tracepoint:a:b /pid == 1 { }
  |                          ^
  |                - predicate starts here
"
    );
}

#[test]
fn diag_assignment_in_a_condition_hints_at_equality() {
    let out = err("tracepoint:a:b /pid = 1/ { }");
    assert!(
        out.starts_with("error[E0101]: expected '/' to close the predicate, found '='"),
        "{out}"
    );
    assert!(out.contains("= hint: to compare, write '=='"), "{out}");
    assert!(err("BEGIN { if (pid = 1) { } }").contains("to compare, write '=='"));
}

#[test]
fn diag_many_errors_recovered() {
    let out =
        err("BEGIN { @a = ; @b = 2; $c = (; }\nEND { exit() exit() }\ninterval:s:1 { @ok = 1 }");
    let titles: Vec<&str> = out.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(
        titles,
        vec![
            "error[E0101]: expected an expression, found ';'",
            "error[E0101]: expected an expression, found ';'",
            "error[E0101]: expected ';' or '}' after statement, found 'identifier exit'",
        ]
    );
    let out = err("BEGIN { } ;\nEND { exit() exit() }\n@x = 1;\ninterval:s:1 / { }\nEND { 1 2 }");
    let titles: Vec<&str> = out.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(
        titles,
        vec![
            "error[E0101]: expected a probe such as 'BEGIN' or 'tracepoint:syscalls:sys_enter_openat', found ';'",
            "error[E0101]: expected ';' or '}' after statement, found 'identifier exit'",
            "error[E0101]: expected a probe such as 'BEGIN' or 'tracepoint:syscalls:sys_enter_openat', found 'map @x'",
            "error[E0101]: expected an expression, found '{'",
            "error[E0101]: expected ';' or '}' after statement, found 'integer 2'",
        ]
    );
    assert!(err("BEGIN { @x = (1 + 2; }").contains("expected ')', found ';'"));
    assert!(err("BEGIN { x = 1; }").contains("cannot assign to this expression"));
    assert!(err("BEGIN { 1++; }").contains("'++' needs a '$variable' or '@map' element"));
    assert!(err("struct foo;\nBEGIN { }")
        .contains("C type definitions ('struct ...') are not supported"));
    assert!(err("#define X(a) a\nBEGIN { }").contains("function-like '#define'"));
    assert!(err("BEGIN { @x[] = 1; }").contains("a map key list cannot be empty"));
    assert!(err("BEGIN { else { } }").contains("'else' without a matching 'if'"));
    assert!(err("BEGIN { $x = 1.5; }").contains("floating-point numbers are not supported"));
    assert!(err("BEGIN { printf(\"\\q\"); }").contains("unknown escape sequence '\\q'"));
    assert!(err("BEGIN { /* never closed }").contains("unterminated block comment"));
    assert!(err("BEGIN")
        .contains("unexpected end of input: expected ',', '/' or '{' after probe 'BEGIN'"));
}

const SCRIPTS: &[(&str, &str)] = &[
    ("opensnoop.bt", include_str!("testdata/opensnoop.bt")),
    ("biolatency.bt", include_str!("testdata/biolatency.bt")),
    ("runqlat.bt", include_str!("testdata/runqlat.bt")),
    ("tasks.bt", include_str!("testdata/tasks.bt")),
    ("syscount.bt", include_str!("testdata/syscount.bt")),
    ("tcpstates.bt", include_str!("testdata/tcpstates.bt")),
];

const ONE_LINERS: &[&str] = &[
    r#"BEGIN { printf("hello world\n"); exit(); }"#,
    r#"tracepoint:syscalls:sys_enter_openat /comm == "cat"/ { @opens[comm] = count(); }"#,
    r#"tracepoint:syscalls:sys_enter_execve { printf("%s %s\n", comm, str(args->filename)); }"#,
    "interval:ms:100 { @ticks = count(); if (@ticks == 5) { exit(); } }",
];

#[test]
fn real_scripts_parse() {
    for (name, src) in SCRIPTS {
        if let Err(d) = parse(src) {
            panic!("{name}:\n{}", render_all(&d, name, src));
        }
    }
    let runqlat = sx(SCRIPTS[2].1);
    assert_eq!(
        runqlat.lines().nth(1),
        Some(
            "(probe [tracepoint:sched:sched_switch] (if (== (-> args prev_state) TASK_RUNNING) {(= @qtime[(-> args prev_pid)] nsecs)}) \
             (= $ns @qtime[(-> args next_pid)]) (if $ns {(= @usecs (call hist (/ (- nsecs $ns) 1000)))} \
             {(if (== $ns 0) {(post++ @missed)} {(+= @other 1)})}) (call delete @qtime[(-> args next_pid)]))"
        )
    );
    let opensnoop = sx(SCRIPTS[0].1);
    assert!(
        opensnoop.contains("(= $fd (? (>= $ret 0) $ret (- 1)))"),
        "{opensnoop}"
    );
    assert!(opensnoop.contains("(probe [tracepoint:syscalls:sys_exit_open tracepoint:syscalls:sys_exit_openat] (pred @filename[tid])"));
}

/// Every prefix of valid scripts, and pseudo-random bytes, must parse or fail — never panic.
#[test]
fn never_panics() {
    let mut inputs: Vec<String> = Vec::new();
    for src in SCRIPTS
        .iter()
        .map(|(_, s)| *s)
        .chain(ONE_LINERS.iter().copied())
    {
        for end in (0..=src.len()).filter(|&i| src.is_char_boundary(i)) {
            inputs.push(src[..end].to_string());
            // Also the suffix, which starts mid-construct.
            inputs.push(src[end..].to_string());
        }
    }
    let alphabet: Vec<char> = "ab$@#01x9_ (){}[]/*+-<>=!&|^~%?:;,.\"\\'\n\t\u{e9}\u{1F600}"
        .chars()
        .collect();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..3000 {
        let len = (next() % 40) as usize;
        let s: String = (0..len)
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
            .collect();
        inputs.push(format!("BEGIN {{ {s} }}"));
        inputs.push(format!("{s} {{ }}"));
        inputs.push(s);
    }
    for input in &inputs {
        let result = std::panic::catch_unwind(|| match parse(input) {
            Ok(_) => String::new(),
            Err(d) => {
                assert!(!d.is_empty());
                render_all(&d, "fuzz", input)
            }
        });
        assert!(result.is_ok(), "panicked on {input:?}");
    }
}

#[test]
#[ignore = "prints the S-expressions of the sample scripts"]
fn dump_scripts() {
    for (name, src) in SCRIPTS {
        println!("== {name}\n{}", sx(src));
    }
}

/// Every expression's span, cut out of the source and parsed on its own, gives the same tree:
/// a strong check that spans cover exactly their node's text.
#[test]
fn expression_spans_reparse() {
    use crate::ast::{Block, Expr, Stmt};
    fn walk_block<'a>(b: &'a Block, out: &mut Vec<&'a Expr>) {
        b.stmts.iter().for_each(|s| walk_stmt(s, out));
    }
    fn walk_stmt<'a>(s: &'a Stmt, out: &mut Vec<&'a Expr>) {
        match &s.kind {
            StmtKind::Expr(e) => walk_expr(e, out),
            StmtKind::AssignMap { map, value, .. } => {
                map.keys.iter().for_each(|k| walk_expr(k, out));
                walk_expr(value, out);
            }
            StmtKind::AssignVar { value, .. } => walk_expr(value, out),
            StmtKind::If {
                cond,
                then,
                otherwise,
            } => {
                walk_expr(cond, out);
                walk_block(then, out);
                if let Some(b) = otherwise {
                    walk_block(b, out);
                }
            }
            StmtKind::While { cond: e, body } | StmtKind::Unroll { count: e, body } => {
                walk_expr(e, out);
                walk_block(body, out);
            }
            StmtKind::For { body, .. } => walk_block(body, out),
            StmtKind::Block(b) => walk_block(b, out),
            StmtKind::Break | StmtKind::Continue | StmtKind::Return => {}
        }
    }
    fn walk_expr<'a>(e: &'a Expr, out: &mut Vec<&'a Expr>) {
        out.push(e);
        match &e.kind {
            ExprKind::Map(m) => m.keys.iter().for_each(|k| walk_expr(k, out)),
            ExprKind::Call { args, .. } | ExprKind::Tuple(args) => {
                args.iter().for_each(|a| walk_expr(a, out))
            }
            ExprKind::Binary { lhs, rhs, .. } => {
                walk_expr(lhs, out);
                walk_expr(rhs, out);
            }
            ExprKind::Unary { expr, .. }
            | ExprKind::IncDec { target: expr, .. }
            | ExprKind::Field { expr, .. }
            | ExprKind::Cast { expr, .. } => walk_expr(expr, out),
            ExprKind::Index { expr, index } => {
                walk_expr(expr, out);
                walk_expr(index, out);
            }
            ExprKind::Ternary {
                cond,
                then,
                otherwise,
            } => {
                walk_expr(cond, out);
                walk_expr(then, out);
                walk_expr(otherwise, out);
            }
            _ => {}
        }
    }
    let mut checked = 0;
    for (name, src) in SCRIPTS {
        let prog = parse(src).unwrap_or_else(|_| panic!("{name}"));
        let mut exprs = Vec::new();
        for probe in &prog.probes {
            if let Some(p) = &probe.predicate {
                walk_expr(p, &mut exprs);
            }
            walk_block(&probe.body, &mut exprs);
        }
        for e in exprs {
            // Inside an expression `x++` is rewritten (hoisted) right after parsing.
            if matches!(&e.kind, ExprKind::IncDec { .. })
                || matches!(&e.kind, ExprKind::Var(v) if v.starts_with("__incdec_"))
            {
                continue;
            }
            let text = &src[e.span.start as usize..e.span.end as usize];
            let alone = stmt(&format!("$e = ({text})"));
            let mut whole = String::new();
            super::sexpr::write_expr(&mut whole, e);
            assert_eq!(alone, format!("(= $e {whole})"), "{name}: {text:?}");
            checked += 1;
        }
    }
    assert!(checked > 300, "{checked}");
}
