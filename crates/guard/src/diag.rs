//! Located diagnostics for rules files, rendered like kestrel's script diagnostics:
//! `error[G0301]: message`, `--> file:line:col`, the source line, a caret, notes and a hint.

use std::fmt::Write;

use crate::source::{SourceMap, Span};

/// How serious a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// The rules cannot be loaded.
    Error,
    /// Loaded, but something was skipped or is suspicious.
    Warning,
}

/// Where a diagnostic points, resolved from a [`Span`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// File name as given.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based character column.
    pub column: usize,
    /// The text of that line.
    pub source_line: String,
    /// Characters to underline (at least 1).
    pub width: usize,
}

/// One error or warning about a rules file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Stable code: G01xx YAML and item structure, G02xx condition syntax, G03xx names and
    /// types, G04xx things kestrel cannot evaluate.
    pub code: &'static str,
    /// One-line summary.
    pub message: String,
    /// Where (None for problems with no place, e.g. an unreadable file).
    pub location: Option<Location>,
    /// Extra `= note:` lines.
    pub notes: Vec<String>,
    /// The `= hint:` line.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// An error at `span`, resolved through `sources`.
    pub fn error(
        code: &'static str,
        message: impl Into<String>,
        span: Span,
        sources: &SourceMap,
    ) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            location: locate(span, sources),
            notes: Vec::new(),
            hint: None,
        }
    }

    /// A warning at `span`.
    pub fn warning(
        code: &'static str,
        message: impl Into<String>,
        span: Span,
        sources: &SourceMap,
    ) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message, span, sources)
        }
    }

    /// An error about a file as a whole (no line).
    pub fn unlocated(code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            location: None,
            notes: Vec::new(),
            hint: None,
        }
    }

    /// Set the hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }

    /// Add a note.
    pub fn with_note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// `file:line:col` (or "" when unlocated).
    pub fn position(&self) -> String {
        self.location
            .as_ref()
            .map(|l| format!("{}:{}:{}", l.file, l.line, l.column))
            .unwrap_or_default()
    }

    /// Plain-text rendering.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = writeln!(out, "{sev}[{}]: {}", self.code, self.message);
        let pad = match &self.location {
            Some(l) => " ".repeat(l.line.to_string().len()),
            None => " ".to_string(),
        };
        if let Some(l) = &self.location {
            let _ = writeln!(out, "{pad}--> {}:{}:{}", l.file, l.line, l.column);
            let _ = writeln!(out, "{pad} |");
            let shown: String = l.source_line.replace('\t', " ");
            let _ = writeln!(out, "{} | {shown}", l.line);
            let _ = writeln!(
                out,
                "{pad} | {}{}",
                " ".repeat(l.column.saturating_sub(1)),
                "^".repeat(l.width.max(1))
            );
        }
        if !self.notes.is_empty() || self.hint.is_some() {
            let _ = writeln!(out, "{pad} |");
        }
        for n in &self.notes {
            let _ = writeln!(out, "{pad} = note: {n}");
        }
        if let Some(h) = &self.hint {
            let _ = writeln!(out, "{pad} = hint: {h}");
        }
        out
    }
}

fn locate(span: Span, sources: &SourceMap) -> Option<Location> {
    let file = sources.file(span.file)?;
    let (line, column, text) = file.locate(span.start);
    let (end_line, end_col, _) = file.locate(span.end);
    let width = if end_line == line && end_col > column {
        end_col - column
    } else if end_line > line {
        text.chars().count().saturating_sub(column - 1).max(1)
    } else {
        1
    };
    Some(Location {
        file: file.name.clone(),
        line,
        column,
        source_line: text.to_string(),
        width,
    })
}

/// Render several diagnostics separated by blank lines.
pub fn render_all(diags: &[Diagnostic]) -> String {
    diags
        .iter()
        .map(Diagnostic::render)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The candidate closest to `word` by edit distance, if close enough to be a typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let w: Vec<char> = word.chars().collect();
    let threshold = match w.len() {
        0 => return None,
        1..=3 => 1,
        4..=6 => 2,
        _ => 3,
    };
    let mut best: Option<(usize, &'a str)> = None;
    for cand in candidates {
        let c: Vec<char> = cand.chars().collect();
        if c.len().abs_diff(w.len()) > threshold {
            continue;
        }
        let d = levenshtein(&w, &c);
        if d == 0 || d > threshold {
            continue;
        }
        if best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, cand));
        }
    }
    best.map(|(_, c)| c)
}

fn levenshtein(a: &[char], b: &[char]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j + 1] + 1).min(cur[j] + 1).min(prev[j] + cost);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_script_diagnostics() {
        let mut sm = SourceMap::new();
        let f = sm.add("r.yaml", "- rule: x\n  condition: proc.nme = a\n");
        let d = Diagnostic::error(
            "G0301",
            "unknown field 'proc.nme'",
            Span::new(f, 23, 31),
            &sm,
        )
        .with_hint("did you mean 'proc.name'?");
        assert_eq!(d.position(), "r.yaml:2:14");
        assert_eq!(
            d.render(),
            "error[G0301]: unknown field 'proc.nme'\n --> r.yaml:2:14\n  |\n2 |   condition: proc.nme = a\n  |              ^^^^^^^^\n  |\n  = hint: did you mean 'proc.name'?\n"
        );
        assert_eq!(
            did_you_mean("proc.nme", ["proc.name", "proc.pid"]),
            Some("proc.name")
        );
    }
}
