//! Diagnostics as JSON lines for `-f json`, one object per diagnostic, e.g.
//! `{"type":"error","code":"E0203","message":"unknown tracepoint ...","file":"-e","line":1,"col":1,...}`.
//!
//! Written by hand (the crate has no serde) with full string escaping.

use std::fmt::Write;

use super::{Diagnostic, Severity};

/// `s` as a JSON string literal.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Diagnostic {
    /// One JSON object (no trailing newline) with `type` (`error`/`warning`), `code` (or
    /// null), `message`, `file`, 1-based `line` and `col` of the primary span, its byte range
    /// `start`/`end`, `label`, `notes` (array) and `hint` (or null).
    pub fn to_json(&self, source_name: &str, source: &str) -> String {
        let (line, col) = self.line_col(source);
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let code = self
            .code
            .map_or_else(|| "null".to_string(), |c| quote(c.as_str()));
        let notes: Vec<String> = self.notes.iter().map(|n| quote(n)).collect();
        let hint = self
            .hint
            .as_deref()
            .map_or_else(|| "null".to_string(), quote);
        format!(
            "{{\"type\":\"{kind}\",\"code\":{code},\"message\":{},\"file\":{},\"line\":{line},\"col\":{col},\"start\":{},\"end\":{},\"label\":{},\"notes\":[{}],\"hint\":{hint}}}",
            quote(&self.title),
            quote(source_name),
            self.primary.span.start,
            self.primary.span.end,
            quote(&self.primary.message),
            notes.join(","),
        )
    }
}

/// Every diagnostic as a JSON line (each ends with a newline).
pub fn render_all_json(diags: &[Diagnostic], source_name: &str, source: &str) -> String {
    diags
        .iter()
        .map(|d| d.to_json(source_name, source) + "\n")
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::diag::{codes, Diagnostic};
    use crate::span::Span;

    #[test]
    fn json_line_has_position_code_and_escapes() {
        let src = "BEGIN {}\ntracepoint:x:y { }\n";
        let d = Diagnostic::error("unknown \"tracepoint\"\tx", Span::new(9, 25))
            .with_code(codes::UNKNOWN_TRACEPOINT)
            .with_note("a\nb")
            .with_hint("h");
        assert_eq!(
            d.to_json("-e", src),
            r#"{"type":"error","code":"E0203","message":"unknown \"tracepoint\"\tx","file":"-e","line":2,"col":1,"start":9,"end":25,"label":"","notes":["a\nb"],"hint":"h"}"#
        );
        let w = Diagnostic::warning("w\u{1}", Span::new(0, 1));
        assert!(w
            .to_json("f", src)
            .starts_with(r#"{"type":"warning","code":null,"message":"w\u0001""#));
    }
}
