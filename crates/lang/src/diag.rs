//! Diagnostics: errors and warnings as data, rendered to text in one place.

use crate::span::Span;

pub mod codes;
mod json;
mod render;
mod suggest;

pub use codes::Code;
pub use json::render_all_json;
pub use render::{render_all, render_all_styled, Style};
pub use suggest::did_you_mean;

/// How serious a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// Compilation cannot continue.
    Error,
    /// Compilation continues.
    Warning,
}

/// A span with a message, pointing into the source.
#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    /// What is pointed at.
    pub span: Span,
    /// Text shown beside the carets (may be empty).
    pub message: String,
}

/// One error or warning about a script.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The code from [`codes`] (`E0203`, `W0002`, ...); every diagnostic the front end makes
    /// has one (a test checks), `None` only for ad-hoc ones made outside it.
    pub code: Option<Code>,
    /// One-line summary, e.g. `unknown tracepoint 'nosuch:probe'`.
    pub title: String,
    /// The main place the problem is.
    pub primary: Label,
    /// Other places that help explain it.
    pub secondary: Vec<Label>,
    /// Extra lines shown as `= note: ...`.
    pub notes: Vec<String>,
    /// A suggestion shown as `= hint: ...`.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// An error with a title and the span it is about.
    pub fn error(title: impl Into<String>, span: Span) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            code: None,
            title: title.into(),
            primary: Label {
                span,
                message: String::new(),
            },
            secondary: Vec::new(),
            notes: Vec::new(),
            hint: None,
        }
    }
    /// A warning with a title and the span it is about.
    pub fn warning(title: impl Into<String>, span: Span) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(title, span)
        }
    }
    /// Set the diagnostic's code from the [`codes`] table.
    pub fn with_code(mut self, code: Code) -> Diagnostic {
        self.code = Some(code);
        self
    }
    /// Set the text beside the primary carets.
    pub fn with_label(mut self, message: impl Into<String>) -> Diagnostic {
        self.primary.message = message.into();
        self
    }
    /// Add a secondary label.
    pub fn with_secondary(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.secondary.push(Label {
            span,
            message: message.into(),
        });
        self
    }
    /// Add a note line.
    pub fn with_note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }
    /// Set the hint line.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }
}

/// `word` with its indefinite article for diagnostics: "an int64", "a uint32", "a string".
///
/// Decided by sound, which for kestrel's type names is the first letter: a, e, i and o are
/// vowel sounds, while the `u` names (uint, ustack, usym, username) start with "you".
pub fn with_article(word: impl std::fmt::Display) -> String {
    let word = word.to_string();
    let vowel = word
        .chars()
        .next()
        .is_some_and(|c| matches!(c.to_ascii_lowercase(), 'a' | 'e' | 'i' | 'o'));
    format!("{} {word}", if vowel { "an" } else { "a" })
}

#[cfg(test)]
mod article_tests {
    use super::with_article;

    #[test]
    fn an_before_vowel_sounds() {
        assert_eq!(with_article("int64"), "an int64");
        assert_eq!(with_article("inet address"), "an inet address");
        assert_eq!(with_article("uint32"), "a uint32");
        assert_eq!(with_article("string"), "a string");
        assert_eq!(with_article("ustack"), "a ustack");
    }
}
