//! The C preprocessor subset bpftrace scripts use, without clang: `#include`, `#define`
//! of constants, `#undef`, `#if` / `#ifdef` / `#ifndef` / `#elif` / `#else` / `#endif`.
//!
//! The text handed to the lexer keeps every byte offset of the script (directive lines and
//! the lines a false condition removes become spaces), so diagnostics point at the script as
//! written. Defines are not substituted in the text: the parser asks for a name's body when
//! it reads that name and parses the body where it is written.
//!
//! `#include <...>` of a kernel header (`linux/`, `net/`, `uapi/`, `asm/`...) is accepted:
//! kestrel takes kernel types from BTF, which describes them. Other headers must exist in the
//! system include directories or next to the script; their `#define NAME NUMBER` lines are
//! read. A header that cannot be found is an error, as in bpftrace.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::diag::codes;
use crate::diag::Diagnostic;
use crate::span::Span;

/// What a defined name stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Define {
    /// Written in the script: the body's place in the source.
    InScript(Span),
    /// Read from a header: a number.
    Number(i64),
    /// Read from a header, not a number (only `defined()` can use it).
    Other,
}

/// The preprocessed script.
#[derive(Clone, Debug, Default)]
pub struct Preprocessed {
    /// The source with directives and excluded lines blanked (same length).
    pub text: String,
    /// Every name defined at the end of the script.
    pub defines: HashMap<String, Define>,
}

/// Header prefixes that name kernel headers, whose types come from BTF.
const KERNEL_HEADERS: &[&str] = &[
    "linux/",
    "net/",
    "uapi/",
    "asm/",
    "asm-generic/",
    "scsi/",
    "trace/",
    "crypto/",
    "kunit/",
    "vdso/",
    "xen/",
    "rdma/",
    "sound/",
    "video/",
    "keys/",
    "clocksource/",
    "drm/",
    "media/",
    "misc/",
    "pcmcia/",
    "target/",
    "ras/",
];

/// Where `<...>` headers are looked for.
const SYSTEM_DIRS: &[&str] = &[
    "/usr/local/include",
    "/usr/include/x86_64-linux-gnu",
    "/usr/include/aarch64-linux-gnu",
    "/usr/include",
];

/// Settings of one run: directories for `"..."` headers and headers included up front.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// Directories searched for `#include "file"` (the script's own directory first).
    pub include_dirs: Vec<PathBuf>,
    /// Headers read before the script (`--include FILE`).
    pub pre_includes: Vec<PathBuf>,
}

/// Run the preprocessor over `src`.
pub fn preprocess(src: &str, settings: &Settings) -> Result<Preprocessed, Vec<Diagnostic>> {
    let mut pp = State {
        src,
        defines: HashMap::new(),
        diags: Vec::new(),
        settings,
    };
    for h in &settings.pre_includes {
        match std::fs::read_to_string(h) {
            Ok(text) => pp.header_defines(&text),
            Err(e) => pp.diags.push(
                Diagnostic::error(format!("--include {}: {e}", h.display()), Span::new(0, 0))
                    .with_code(codes::PREPROCESSOR),
            ),
        }
    }
    let mut out = String::with_capacity(src.len());
    // (taking this branch, some branch of the group was already taken, enclosing active)
    let mut stack: Vec<(bool, bool, bool)> = Vec::new();
    let mut offset = 0;
    for line in src.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let active = stack.last().is_none_or(|&(on, _, _)| on);
        let trimmed = line.trim_start();
        let is_directive = trimmed.starts_with('#') && !trimmed.starts_with("#!");
        if !is_directive {
            if active {
                out.push_str(line);
            } else {
                out.push_str(&blank(line));
            }
            continue;
        }
        let lead = line.len() - trimmed.len();
        let body = trimmed[1..].trim_start();
        let word: String = body
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let rest_start = start + lead + 1 + (trimmed.len() - 1 - body.len()) + word.len();
        let rest = body[word.len()..].trim_end_matches(['\n', '\r']);
        let line_span = Span::new(start + lead, start + line.trim_end().len());
        match word.as_str() {
            "if" | "ifdef" | "ifndef" => {
                let cond = match word.as_str() {
                    "ifdef" => pp.defines.contains_key(rest.trim()),
                    "ifndef" => !pp.defines.contains_key(rest.trim()),
                    _ => pp.condition(rest, line_span),
                };
                stack.push((active && cond, cond, active));
            }
            "elif" => match stack.last_mut() {
                Some((on, taken, outer)) => {
                    let cond = !*taken && pp.condition(rest, line_span);
                    *on = *outer && cond;
                    *taken |= cond;
                }
                None => pp.error("'#elif' without '#if'", line_span),
            },
            "else" => match stack.last_mut() {
                Some((on, taken, outer)) => {
                    *on = *outer && !*taken;
                    *taken = true;
                }
                None => pp.error("'#else' without '#if'", line_span),
            },
            "endif" => {
                if stack.pop().is_none() {
                    pp.error("'#endif' without '#if'", line_span);
                }
            }
            _ if !active => {}
            "define" => pp.define(rest, rest_start, line_span),
            "undef" => {
                pp.defines.remove(rest.trim());
            }
            "include" => pp.include(rest.trim(), line_span),
            "pragma" | "error" | "warning" | "line" => {
                if word == "error" {
                    pp.error(&format!("#error{rest}"), line_span);
                }
            }
            _ => pp.error(
                &format!("unknown preprocessor directive '#{word}'"),
                line_span,
            ),
        }
        out.push_str(&blank(line));
    }
    if !stack.is_empty() {
        pp.error("'#if' without '#endif'", Span::new(src.len(), src.len()));
    }
    if pp.diags.is_empty() {
        Ok(Preprocessed {
            text: out,
            defines: pp.defines,
        })
    } else {
        Err(pp.diags)
    }
}

/// `line` with every character but newlines turned into spaces (byte length kept).
fn blank(line: &str) -> String {
    line.bytes()
        .map(|b| if b == b'\n' { '\n' } else { ' ' })
        .collect()
}

struct State<'a> {
    src: &'a str,
    defines: HashMap<String, Define>,
    diags: Vec<Diagnostic>,
    settings: &'a Settings,
}

impl State<'_> {
    fn error(&mut self, msg: &str, span: Span) {
        self.diags
            .push(Diagnostic::error(msg.to_string(), span).with_code(codes::PREPROCESSOR));
    }

    /// `NAME body` after `#define` (`rest_start` is where `rest` begins in the source).
    fn define(&mut self, rest: &str, rest_start: usize, span: Span) {
        let lead = rest.len() - rest.trim_start().len();
        let r = rest.trim_start();
        let name: String = r
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() {
            self.error("'#define' needs a name", span);
            return;
        }
        if r[name.len()..].starts_with('(') {
            self.error(
                "function-like '#define' macros are not supported; use a 'macro' instead",
                span,
            );
            return;
        }
        let after = &r[name.len()..];
        let body = after.trim();
        let body_start = rest_start + lead + name.len() + (after.len() - after.trim_start().len());
        // A trailing `// comment` is not part of the body.
        let body = match body.find("//") {
            Some(i) => body[..i].trim_end(),
            None => body,
        };
        self.defines.insert(
            name,
            if body.is_empty() {
                Define::Other
            } else {
                Define::InScript(Span::new(body_start, body_start + body.len()))
            },
        );
    }

    /// `<file>` or `"file"` after `#include`.
    fn include(&mut self, target: &str, span: Span) {
        let (name, system) =
            if let Some(n) = target.strip_prefix('<').and_then(|t| t.strip_suffix('>')) {
                (n.trim(), true)
            } else if let Some(n) = target.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
                (n.trim(), false)
            } else {
                self.error("expected '#include <file>' or '#include \"file\"'", span);
                return;
            };
        if system && KERNEL_HEADERS.iter().any(|p| name.starts_with(p)) {
            // Kernel types come from BTF.
            return;
        }
        let mut dirs: Vec<PathBuf> = Vec::new();
        if !system {
            dirs.extend(self.settings.include_dirs.iter().cloned());
            dirs.push(PathBuf::from("."));
        }
        dirs.extend(self.settings.include_dirs.iter().cloned());
        dirs.extend(SYSTEM_DIRS.iter().map(PathBuf::from));
        let found = dirs
            .iter()
            .map(|d| d.join(name))
            .find(|p| p.is_file())
            .or_else(|| {
                Path::new(name)
                    .is_absolute()
                    .then(|| PathBuf::from(name))
                    .filter(|p| p.is_file())
            });
        match found {
            Some(path) => {
                if let Ok(text) = std::fs::read_to_string(&path) {
                    self.header_defines(&text);
                }
            }
            None => self.diags.push(
                Diagnostic::error(format!("'{name}' file not found"), span)
                    .with_code(codes::PREPROCESSOR)
                    .with_note("kernel headers (linux/..., net/...) are read from BTF; other headers must exist"),
            ),
        }
    }

    /// The `#define NAME NUMBER` lines of a header.
    fn header_defines(&mut self, text: &str) {
        for line in text.lines() {
            let t = line.trim_start();
            let Some(rest) = t.strip_prefix('#') else {
                continue;
            };
            let Some(rest) = rest.trim_start().strip_prefix("define") else {
                continue;
            };
            let mut parts = rest.split_whitespace();
            let Some(name) = parts.next() else { continue };
            if name.contains('(') {
                continue;
            }
            let value = parts.next().and_then(parse_c_int);
            self.defines.insert(
                name.to_string(),
                match value {
                    Some(v) => Define::Number(v),
                    None => Define::Other,
                },
            );
        }
    }

    /// Evaluate an `#if` expression: integers, defined names, `defined(X)`, `! && || == !=
    /// < <= > >= + - * ( )`. Undefined names are 0, as in C.
    fn condition(&mut self, text: &str, span: Span) -> bool {
        let toks = tokenize(text);
        let mut p = CondParser {
            toks: &toks,
            at: 0,
            defines: &self.defines,
            src: self.src,
        };
        match p.or() {
            Some(v) if p.at == toks.len() => v != 0,
            _ => {
                self.error(&format!("cannot evaluate '#if{text}'"), span);
                false
            }
        }
    }
}

/// A C integer literal (`10`, `0x1f`, `017`, `10UL`).
fn parse_c_int(s: &str) -> Option<i64> {
    let s = s.trim().trim_start_matches('(').trim_end_matches(')');
    let s = s.trim_end_matches(['u', 'U', 'l', 'L']);
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let v = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()?
    } else if s.len() > 1 && s.starts_with('0') {
        i64::from_str_radix(&s[1..], 8).ok()?
    } else {
        s.parse().ok()?
    };
    Some(if neg { -v } else { v })
}

fn tokenize(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(chars[start..i].iter().collect());
        } else if c == '/' && chars.get(i + 1) == Some(&'/') {
            break;
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            if ["&&", "||", "==", "!=", "<=", ">="].contains(&two.as_str()) {
                out.push(two);
                i += 2;
            } else {
                out.push(c.to_string());
                i += 1;
            }
        }
    }
    out
}

struct CondParser<'a> {
    toks: &'a [String],
    at: usize,
    defines: &'a HashMap<String, Define>,
    src: &'a str,
}

impl CondParser<'_> {
    fn peek(&self) -> Option<&str> {
        self.toks.get(self.at).map(String::as_str)
    }

    fn eat(&mut self, t: &str) -> bool {
        if self.peek() == Some(t) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Option<i64> {
        let mut v = self.and()?;
        while self.eat("||") {
            let r = self.and()?;
            v = i64::from(v != 0 || r != 0);
        }
        Some(v)
    }

    fn and(&mut self) -> Option<i64> {
        let mut v = self.cmp()?;
        while self.eat("&&") {
            let r = self.cmp()?;
            v = i64::from(v != 0 && r != 0);
        }
        Some(v)
    }

    fn cmp(&mut self) -> Option<i64> {
        let mut v = self.sum()?;
        loop {
            let op = match self.peek() {
                Some(o @ ("==" | "!=" | "<" | ">" | "<=" | ">=")) => o.to_string(),
                _ => return Some(v),
            };
            self.at += 1;
            let r = self.sum()?;
            v = i64::from(match op.as_str() {
                "==" => v == r,
                "!=" => v != r,
                "<" => v < r,
                ">" => v > r,
                "<=" => v <= r,
                _ => v >= r,
            });
        }
    }

    fn sum(&mut self) -> Option<i64> {
        let mut v = self.unary()?;
        loop {
            if self.eat("+") {
                v = v.wrapping_add(self.unary()?);
            } else if self.eat("-") {
                v = v.wrapping_sub(self.unary()?);
            } else if self.eat("*") {
                v = v.wrapping_mul(self.unary()?);
            } else {
                return Some(v);
            }
        }
    }

    fn unary(&mut self) -> Option<i64> {
        if self.eat("!") {
            return Some(i64::from(self.unary()? == 0));
        }
        if self.eat("-") {
            return Some(self.unary()?.wrapping_neg());
        }
        if self.eat("(") {
            let v = self.or()?;
            return self.eat(")").then_some(v);
        }
        let t = self.peek()?.to_string();
        self.at += 1;
        if t == "defined" {
            let paren = self.eat("(");
            let name = self.peek()?.to_string();
            self.at += 1;
            if paren && !self.eat(")") {
                return None;
            }
            return Some(i64::from(self.defines.contains_key(&name)));
        }
        if let Some(v) = parse_c_int(&t) {
            return Some(v);
        }
        if t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            // A defined number, or 0 for anything else.
            return Some(match self.defines.get(&t) {
                Some(Define::Number(n)) => *n,
                Some(Define::InScript(s)) => self
                    .src
                    .get(s.start as usize..s.end as usize)
                    .and_then(parse_c_int)
                    .unwrap_or(1),
                _ => 0,
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pp(src: &str) -> Result<Preprocessed, Vec<Diagnostic>> {
        preprocess(src, &Settings::default())
    }

    #[test]
    fn directives_become_blank_and_offsets_stay() {
        let src = "#include <linux/sched.h>\n#define N 10\nBEGIN { }\n";
        let out = pp(src).unwrap_or_default();
        assert_eq!(out.text.len(), src.len());
        assert!(out.text.trim_start().starts_with("BEGIN"));
        let Some(Define::InScript(span)) = out.defines.get("N") else {
            panic!("{:?}", out.defines);
        };
        assert_eq!(&src[span.start as usize..span.end as usize], "10");
    }

    #[test]
    fn conditionals() {
        let src = "#define A\n#ifdef A\nyes1\n#else\nno1\n#endif\n#ifndef A\nno2\n#elif 1\nyes2\n#endif\n#if 0\nno3\n#endif\n#if defined(A) && !defined(B)\nyes3\n#endif\n";
        let out = pp(src).unwrap_or_default();
        assert!(
            out.text.contains("yes1") && out.text.contains("yes2") && out.text.contains("yes3"),
            "{}",
            out.text
        );
        assert!(
            !out.text.contains("no1") && !out.text.contains("no2") && !out.text.contains("no3"),
            "{}",
            out.text
        );
    }

    #[test]
    fn missing_headers_and_bad_directives_are_errors() {
        let e = pp("#include <kestrel_missing_header.h>\nBEGIN {}")
            .err()
            .unwrap_or_default();
        assert!(e[0].title.contains("file not found"), "{e:?}");
        assert!(
            pp("#include <stdint.h>\n").is_ok() || !Path::new("/usr/include/stdint.h").exists()
        );
        let e = pp("#frobnicate\n").err().unwrap_or_default();
        assert!(
            e[0].title.contains("unknown preprocessor directive"),
            "{e:?}"
        );
        let e = pp("#if 1\n").err().unwrap_or_default();
        assert!(e[0].title.contains("without '#endif'"), "{e:?}");
    }
}
