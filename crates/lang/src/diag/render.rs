//! Turning a [`Diagnostic`] into rustc-style text: plain by default (stable for tests and
//! pipes), with ANSI colours when [`Style::color`] is set (a terminal without NO_COLOR).

use std::fmt::Write;

use super::{Diagnostic, Severity};
use crate::span::Span;

/// How to render: plain text or with ANSI colours.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Style {
    /// Colour the severity, code, gutter and underlines.
    pub color: bool,
}

impl Style {
    /// Colours when stderr is a terminal and NO_COLOR is unset or empty
    /// (<https://no-color.org>); plain text otherwise.
    pub fn for_stderr() -> Style {
        use std::io::IsTerminal;
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            color: !no_color && std::io::stderr().is_terminal(),
        }
    }

    /// `text` wrapped in the SGR sequence `sgr` when colouring.
    fn paint(self, sgr: &str, text: &str) -> String {
        if self.color && !text.is_empty() {
            format!("\x1b[{sgr}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

const BOLD_RED: &str = "1;31";
const BOLD_YELLOW: &str = "1;33";
const BOLD_BLUE: &str = "1;34";
const BOLD: &str = "1";

/// Columns a tab advances to, in both the echoed source line and the underline.
const TAB_WIDTH: usize = 4;

/// One underline to draw: which line, which columns, with which character and text.
struct Mark<'a> {
    line: usize,
    /// 1-based character column of the start, as reported in the `-->` line.
    char_col: usize,
    start_col: usize,
    width: usize,
    underline: char,
    message: &'a str,
}

/// The source split into lines, with each line's starting byte offset.
struct Lines<'s> {
    source: &'s str,
    starts: Vec<usize>,
}

impl<'s> Lines<'s> {
    fn new(source: &'s str) -> Lines<'s> {
        let mut starts = vec![0];
        starts.extend(source.match_indices('\n').map(|(i, _)| i + 1));
        Lines { source, starts }
    }

    /// Text of line `idx` (0-based) without its newline.
    fn text(&self, idx: usize) -> &'s str {
        let start = self.starts.get(idx).copied().unwrap_or(self.source.len());
        let end = self
            .starts
            .get(idx + 1)
            .map_or(self.source.len(), |e| e - 1);
        let line = self.source.get(start..end.max(start)).unwrap_or("");
        line.strip_suffix('\r').unwrap_or(line)
    }

    /// 0-based line holding byte `offset`, with the offset clamped to the source and moved
    /// off a char boundary's interior. An offset just past a final newline is shown at the end
    /// of the last line rather than on an empty phantom line.
    fn locate(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.source.len());
        while !self.source.is_char_boundary(offset) {
            offset -= 1;
        }
        if offset == self.source.len() && offset > 0 && self.source.ends_with('\n') {
            offset -= 1;
        }
        let line = self
            .starts
            .partition_point(|&s| s <= offset)
            .saturating_sub(1);
        (line, offset)
    }

    /// Display column (0-based, tabs expanded) of byte `offset` within line `line`.
    fn column(&self, line: usize, offset: usize) -> usize {
        let start = self.starts.get(line).copied().unwrap_or(0);
        let prefix = self.source.get(start..offset.max(start)).unwrap_or("");
        prefix.chars().fold(0, advance)
    }

    /// Display width of line `line` (tabs expanded).
    fn width(&self, line: usize) -> usize {
        self.text(line).chars().fold(0, advance)
    }

    fn mark<'a>(&self, span: Span, underline: char, message: &'a str) -> Mark<'a> {
        let (line, start) = self.locate(span.start as usize);
        let start_col = self.column(line, start);
        let line_end = self
            .starts
            .get(line + 1)
            .map_or(self.source.len(), |e| e - 1);
        let end = (span.end as usize).clamp(start, line_end.max(start));
        let end_col = if end > start {
            self.column(line, end).min(self.width(line))
        } else {
            start_col
        };
        let line_start = self.starts.get(line).copied().unwrap_or(0);
        let char_col = self
            .source
            .get(line_start..start)
            .map_or(0, |p| p.chars().count())
            + 1;
        Mark {
            line,
            char_col,
            start_col,
            width: end_col.saturating_sub(start_col).max(1),
            underline,
            message,
        }
    }
}

fn advance(col: usize, ch: char) -> usize {
    if ch == '\t' {
        col + TAB_WIDTH - col % TAB_WIDTH
    } else {
        col + 1
    }
}

/// Source lines wider than this are shown as a window of this many columns.
const MAX_SHOWN_COLUMNS: usize = 160;

/// `text` (tabs already expanded), cut to a window of [`MAX_SHOWN_COLUMNS`] that shows
/// column `focus` with some context before it, with `...` where text was cut. Also returns
/// the columns cut from the left and the width of the `...` put in their place.
fn window(text: &str, focus: usize) -> (String, (usize, usize)) {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= MAX_SHOWN_COLUMNS {
        return (text.to_string(), (0, 0));
    }
    let start = focus
        .saturating_sub(MAX_SHOWN_COLUMNS / 3)
        .min(chars.len().saturating_sub(MAX_SHOWN_COLUMNS));
    let end = (start + MAX_SHOWN_COLUMNS).min(chars.len());
    let mut out = String::new();
    let lead = if start > 0 { "..." } else { "" };
    out.push_str(lead);
    out.extend(&chars[start..end]);
    if end < chars.len() {
        out.push_str("...");
    }
    (out, (start, lead.len()))
}

fn expand_tabs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut col = 0;
    for ch in text.chars() {
        let next = advance(col, ch);
        if ch == '\t' {
            out.extend(std::iter::repeat_n(' ', next - col));
        } else {
            out.push(ch);
        }
        col = next;
    }
    out
}

impl Diagnostic {
    /// Render as rustc-style plain text: `error[CODE]: title`, `--> name:line:col`, the
    /// source lines with `^` under the primary span and `-` under secondary ones, then notes
    /// and the hint.
    pub fn render(&self, source_name: &str, source: &str) -> String {
        self.render_styled(source_name, source, Style::default())
    }

    /// 1-based line and character column of the primary span's start.
    pub fn line_col(&self, source: &str) -> (usize, usize) {
        let lines = Lines::new(source);
        let m = lines.mark(self.primary.span, '^', "");
        (m.line + 1, m.char_col)
    }

    /// [`render`](Self::render) with a chosen [`Style`].
    pub fn render_styled(&self, source_name: &str, source: &str, style: Style) -> String {
        let lines = Lines::new(source);
        let mut marks = vec![lines.mark(self.primary.span, '^', &self.primary.message)];
        marks.extend(
            self.secondary
                .iter()
                .map(|l| lines.mark(l.span, '-', &l.message)),
        );
        let primary_line = marks[0].line;
        let primary_col = marks[0].char_col;
        // Stable sort: on a shared line the primary label stays first.
        marks.sort_by_key(|m| m.line);

        let last_line = marks.iter().map(|m| m.line).max().unwrap_or(0) + 1;
        let gutter = last_line.to_string().len();
        let pad = " ".repeat(gutter);

        let mut out = String::new();
        let (severity, colour) = match self.severity {
            Severity::Error => ("error", BOLD_RED),
            Severity::Warning => ("warning", BOLD_YELLOW),
        };
        let head = match self.code {
            Some(code) => format!("{severity}[{code}]"),
            None => severity.to_string(),
        };
        let _ = writeln!(
            out,
            "{}{}",
            style.paint(colour, &head),
            style.paint(BOLD, &format!(": {}", self.title))
        );
        let _ = writeln!(
            out,
            "{pad}{} {source_name}:{}:{}",
            style.paint(BOLD_BLUE, "-->"),
            primary_line + 1,
            primary_col
        );
        let bar = style.paint(BOLD_BLUE, "|");
        let _ = writeln!(out, "{pad} {bar}");
        let mut shown: Option<usize> = None;
        // Display columns cut from the left of the line being shown (long lines are shown
        // as a window around the first mark) and how many columns stand for the cut ("...").
        let mut cut = (0usize, 0usize);
        for mark in &marks {
            if shown != Some(mark.line) {
                if shown.is_some_and(|prev| mark.line > prev + 1) {
                    let _ = writeln!(out, "...");
                }
                let (text, window) = window(&expand_tabs(lines.text(mark.line)), mark.start_col);
                cut = window;
                let number = style.paint(BOLD_BLUE, &format!("{:>gutter$} |", mark.line + 1));
                let _ = writeln!(out, "{number} {text}");
                shown = Some(mark.line);
            }
            let start_col = mark.start_col.saturating_sub(cut.0) + cut.1;
            let width = mark.width.min(MAX_SHOWN_COLUMNS);
            let mut underline: String = std::iter::repeat_n(mark.underline, width).collect();
            if !mark.message.is_empty() {
                underline.push(' ');
                underline.push_str(mark.message);
            }
            let underline_colour = if mark.underline == '^' {
                colour
            } else {
                BOLD_BLUE
            };
            let row = format!(
                "{pad} {bar} {}{}",
                " ".repeat(start_col),
                style.paint(underline_colour, &underline)
            );
            let _ = writeln!(out, "{row}");
        }
        if !self.notes.is_empty() || self.hint.is_some() {
            let _ = writeln!(out, "{pad} {bar}");
        }
        let eq = style.paint(BOLD_BLUE, "=");
        for note in &self.notes {
            let _ = writeln!(out, "{pad} {eq} {} {note}", style.paint(BOLD, "note:"));
        }
        if let Some(hint) = &self.hint {
            let _ = writeln!(out, "{pad} {eq} {} {hint}", style.paint(BOLD, "hint:"));
        }
        out
    }
}

/// Render several diagnostics with `style`, separated by blank lines.
pub fn render_all_styled(
    diags: &[Diagnostic],
    source_name: &str,
    source: &str,
    style: Style,
) -> String {
    diags
        .iter()
        .map(|d| d.render_styled(source_name, source, style))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Render several diagnostics, separated by blank lines.
pub fn render_all(diags: &[Diagnostic], source_name: &str, source: &str) -> String {
    render_all_styled(diags, source_name, source, Style::default())
}

#[cfg(test)]
mod tests {
    use super::render_all;
    use crate::diag::Diagnostic;
    use crate::span::Span;

    #[test]
    fn renders_the_house_style() {
        let src = "BEGIN { }\n\ntracepoint:nosuch:probe { @x = 1; }\n";
        let d = Diagnostic::error("unknown tracepoint 'nosuch:probe'", Span::new(11, 34))
            .with_label("no such tracepoint on this kernel")
            .with_note("tracepoints are listed under /sys/kernel/tracing/events")
            .with_hint("did you mean 'sched:sched_switch'? see `kestrel -l 'tracepoint:sched:*'`");
        assert_eq!(
            d.render("script.bt", src),
            "error: unknown tracepoint 'nosuch:probe'
 --> script.bt:3:1
  |
3 | tracepoint:nosuch:probe { @x = 1; }
  | ^^^^^^^^^^^^^^^^^^^^^^^ no such tracepoint on this kernel
  |
  = note: tracepoints are listed under /sys/kernel/tracing/events
  = hint: did you mean 'sched:sched_switch'? see `kestrel -l 'tracepoint:sched:*'`
"
        );
    }

    #[test]
    fn warning_wide_gutter_secondary_and_gap() {
        let mut src = "\n".repeat(8);
        src.push_str("BEGIN {\n  x\n\n\n  @a = 1\n");
        let open = src.find('{').unwrap_or(0);
        let a = src.find('@').unwrap_or(0);
        let d = Diagnostic::warning("something odd", Span::new(a, a + 2))
            .with_label("here")
            .with_secondary(Span::new(open, open + 1), "opened");
        assert_eq!(
            d.render("-e", &src),
            "warning: something odd
  --> -e:13:3
   |
 9 | BEGIN {
   |       - opened
...
13 |   @a = 1
   |   ^^ here
"
        );
    }

    #[test]
    fn long_lines_are_windowed_around_the_span() {
        let src = format!(
            "BEGIN {{ @x = {}oops{}; }}",
            "1 + ".repeat(500),
            " + 1".repeat(500)
        );
        let at = src.find("oops").unwrap_or(0);
        let text = Diagnostic::error("e", Span::new(at, at + 4)).render("f", &src);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[3].starts_with("1 | ...") && lines[3].ends_with("..."),
            "{text}"
        );
        assert!(lines[3].len() < 180, "{text}");
        // The carets still sit under the word.
        let caret = lines[4].find('^').unwrap_or(0);
        assert_eq!(&lines[3][caret..caret + 4], "oops", "{text}");
    }

    #[test]
    fn tabs_multiline_and_eof() {
        let src = "\tab\tcd\nnext\n";
        let d = Diagnostic::error("t", Span::new(3, 9));
        assert_eq!(
            d.render("f", src),
            "error: t\n --> f:1:4\n  |\n1 |     ab  cd\n  |       ^^^^\n"
        );
        let d = Diagnostic::error("eof", Span::new(src.len(), src.len()));
        assert_eq!(
            d.render("f", src),
            "error: eof\n --> f:2:5\n  |\n2 | next\n  |     ^\n"
        );
        let d = Diagnostic::error("empty", Span::new(5, 9));
        assert_eq!(
            d.render("f", ""),
            "error: empty\n --> f:1:1\n  |\n1 | \n  | ^\n"
        );
        let two = [
            Diagnostic::error("a", Span::new(0, 1)),
            Diagnostic::error("b", Span::new(0, 1)),
        ];
        assert_eq!(
            render_all(&two, "f", "x"),
            "error: a\n --> f:1:1\n  |\n1 | x\n  | ^\n\nerror: b\n --> f:1:1\n  |\n1 | x\n  | ^\n"
        );
    }
}
