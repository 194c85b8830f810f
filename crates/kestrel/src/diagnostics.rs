//! Printing compiler diagnostics to stderr in the form the user asked for: rustc-style text
//! (coloured on a terminal unless NO_COLOR is set) or, with `-f json`, one JSON object per
//! line. The choice is made once in `main` and read wherever diagnostics are printed.

use std::sync::OnceLock;

use kestrel_lang::diag::{render_all_json, render_all_styled, Style};
use kestrel_lang::Diagnostic;

/// How diagnostics are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiagFormat {
    /// Text, coloured when stderr is a terminal and NO_COLOR is unset.
    Text,
    /// JSON lines (`-f json`).
    Json,
}

static FORMAT: OnceLock<DiagFormat> = OnceLock::new();

/// Choose the format for the rest of the process (first call wins).
pub fn set_format(format: DiagFormat) {
    let _ = FORMAT.set(format);
}

/// `diags` as they will be printed.
pub fn render(diags: &[Diagnostic], name: &str, source: &str) -> String {
    match FORMAT.get().copied().unwrap_or(DiagFormat::Text) {
        DiagFormat::Text => render_all_styled(diags, name, source, Style::for_stderr()),
        DiagFormat::Json => render_all_json(diags, name, source),
    }
}

/// Print `diags` to stderr.
pub fn emit(diags: &[Diagnostic], name: &str, source: &str) {
    if !diags.is_empty() {
        eprint!("{}", render(diags, name, source));
    }
}

/// Print a one-line error that is not about a place in the script (a missing file, no
/// privileges, ...): `error: ...`, or with `-f json` a JSON line without a position.
pub fn fatal(message: &str) {
    if FORMAT.get() == Some(&DiagFormat::Json) {
        // Keys in the same order as positioned diagnostics: type, code, message.
        eprintln!(
            "{{\"type\":\"error\",\"code\":null,\"message\":{}}}",
            serde_json::Value::from(message)
        );
    } else {
        eprintln!("error: {message}");
    }
}

/// Print a diagnostic that has no source position (its span is meaningless): the title,
/// notes and hint on plain lines, or a JSON line without `line`/`col`.
pub fn emit_unplaced(d: &Diagnostic) {
    let code = d.code.map(|c| c.as_str());
    if FORMAT.get() == Some(&DiagFormat::Json) {
        eprintln!(
            "{{\"type\":\"error\",\"code\":{},\"message\":{},\"notes\":{},\"hint\":{}}}",
            serde_json::json!(code),
            serde_json::json!(d.title),
            serde_json::json!(d.notes),
            serde_json::json!(d.hint)
        );
        return;
    }
    match code {
        Some(c) => eprintln!("error[{c}]: {}", d.title),
        None => eprintln!("error: {}", d.title),
    }
    for n in &d.notes {
        eprintln!("  = note: {n}");
    }
    if let Some(h) = &d.hint {
        eprintln!("  = hint: {h}");
    }
}

/// `kestrel --explain CODE`: the long explanation, or an error naming where codes are listed.
pub fn explain(code: &str) -> anyhow::Result<()> {
    match kestrel_lang::diag::codes::lookup(code.trim()) {
        Some(info) => {
            print!("{}", kestrel_lang::diag::codes::explain(info));
            Ok(())
        }
        None => anyhow::bail!(
            "no diagnostic code '{code}' (codes look like E0203 or W0002; all are listed in docs/ERRORS.md)"
        ),
    }
}
