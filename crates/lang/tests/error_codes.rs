//! The diagnostic code table stays honest: docs/ERRORS.md is generated from it, every
//! example script produces its code, and every diagnostic the front end constructs carries a
//! code (checked on the source, so a new call site without `.with_code(..)` fails here).

use std::path::{Path, PathBuf};

use kestrel_kernel::FixtureKernel;
use kestrel_lang::diag::codes::{self, TABLE};
use kestrel_lang::Diagnostic;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn errors_md_matches_the_table() {
    let path = root().join("docs/ERRORS.md");
    let want = codes::markdown();
    if std::env::var_os("KESTREL_BLESS").is_some() {
        std::fs::write(&path, &want).expect("write docs/ERRORS.md");
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/ERRORS.md is out of date: run `KESTREL_BLESS=1 cargo test -p kestrel-lang --test error_codes`"
    );
}

/// Every diagnostic from parsing and analysing `src` against the fixture kernel.
fn diagnostics(src: &str) -> Vec<Diagnostic> {
    let kernel = FixtureKernel::standard();
    match kestrel_lang::parse(src) {
        Err(d) => d,
        Ok(ast) => match kestrel_lang::analyze(&ast, &kernel) {
            Err(d) => d,
            Ok(a) => a.warnings,
        },
    }
}

#[test]
fn every_example_produces_its_code() {
    let mut failures = Vec::new();
    for c in TABLE.iter().filter(|c| !c.example.is_empty()) {
        let diags = diagnostics(c.example);
        let got: Vec<&str> = diags
            .iter()
            .filter_map(|d| d.code.map(|x| x.as_str()))
            .collect();
        if !got.contains(&c.code) {
            let titles: Vec<&str> = diags.iter().map(|d| d.title.as_str()).collect();
            failures.push(format!(
                "{} example gave {got:?} {titles:?}:\n{}",
                c.code, c.example
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// End of the chained method calls that follow a constructor's `)`: the first `;` or `,`
/// or unmatched closing bracket.
fn chain_len(s: &str) -> usize {
    let mut depth = 0i32;
    for (i, ch) in s.char_indices() {
        match ch {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' if depth == 0 => return i,
            ')' | ']' | '}' => depth -= 1,
            ';' | ',' if depth == 0 => return i,
            _ => {}
        }
    }
    s.len()
}

/// Index of the `)` matching the `(` at `open`, skipping string and char literals.
fn matching_paren(s: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0;
    let mut i = open;
    while i < s.len() {
        match s[i] {
            b'"' => {
                i += 1;
                while i < s.len() && s[i] != b'"' {
                    i += if s[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'\'' if s.get(i + 2) == Some(&b'\'') => i += 2,
            b'\'' if s.get(i + 1) == Some(&b'\\') && s.get(i + 3) == Some(&b'\'') => i += 3,
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src").flatten() {
        let p = entry.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_diagnostic_constructed_carries_a_code() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut missing = Vec::new();
    let mut seen = 0;
    for f in files {
        let rel = f
            .strip_prefix(&src)
            .unwrap_or(&f)
            .to_string_lossy()
            .to_string();
        // The type's own constructors and unit tests build code-less diagnostics on purpose.
        if rel.starts_with("diag") || rel.ends_with("tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&f).expect("read source");
        let body = match text.find("#[cfg(test)]\nmod tests {") {
            Some(cut) => &text[..cut],
            None => &text[..],
        };
        for ctor in ["Diagnostic::error(", "Diagnostic::warning("] {
            for (at, _) in body.match_indices(ctor) {
                seen += 1;
                let open = at + ctor.len() - 1;
                let Some(close) = matching_paren(body.as_bytes(), open) else {
                    missing.push(format!("{rel}: unbalanced call at byte {at}"));
                    continue;
                };
                let rest = &body[close + 1..];
                let chain = &rest[..chain_len(rest)];
                if !chain.contains(".with_code(") {
                    let line = body[..at].matches('\n').count() + 1;
                    missing.push(format!("{rel}:{line}"));
                }
            }
        }
    }
    assert!(
        seen > 100,
        "found only {seen} constructors; is the scan broken?"
    );
    assert!(
        missing.is_empty(),
        "diagnostics without .with_code(codes::...) (add one from crates/lang/src/diag/codes.rs):\n{}",
        missing.join("\n")
    );
}

#[test]
fn rendered_diagnostics_show_the_code() {
    let src = "tracepoint:syscalls:sys_enter_opnat { exit(); }";
    let diags = diagnostics(src);
    let text = kestrel_lang::diag::render_all(&diags, "-e", src);
    assert!(
        text.starts_with(
            "error[E0203]: unknown tracepoint 'syscalls:sys_enter_opnat'\n --> -e:1:1\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("did you mean 'tracepoint:syscalls:sys_enter_openat'?"),
        "{text}"
    );
}

#[test]
fn an_unknown_name_is_reported_once_not_at_every_use() {
    let diags = diagnostics(
        "BEGIN { printf(\"%d %d\\n\", $x, $x); @a = $x; @b = @nope; @c = @nope + 1; @d = pdi; @e = pdi; }",
    );
    let titles: Vec<&str> = diags.iter().map(|d| d.title.as_str()).collect();
    assert_eq!(
        titles,
        [
            "undefined variable '$x'",
            "undefined map '@nope'",
            "unknown identifier 'pdi'"
        ]
    );
}
