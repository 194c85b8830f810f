//! A YAML document as a tree of nodes that remember where they start in the file, built from
//! yaml-rust2's marked events (its own `Yaml` type drops positions, which every rules
//! diagnostic needs).

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::source::{FileId, SourceFile, Span};

/// How a scalar was written; decides how positions inside it map back to the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// `value`
    Plain,
    /// `'value'`
    SingleQuoted,
    /// `"value"`
    DoubleQuoted,
    /// `|` block
    Literal,
    /// `>` block
    Folded,
}

/// What a node holds.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `~`, `null` or nothing.
    Null,
    /// Any scalar, as text.
    Scalar(String),
    /// `[a, b]` or `- a`.
    Seq(Vec<Node>),
    /// `{k: v}` or block mapping, in file order.
    Map(Vec<(Node, Node)>),
}

/// A YAML node and where it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The content.
    pub value: Value,
    /// From the node's first character (the quote for quoted scalars).
    pub span: Span,
    /// For scalars, how they were written.
    pub style: Style,
}

impl Node {
    /// The scalar text, if this is a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// Short name of the node's kind for error messages.
    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "nothing",
            Value::Scalar(_) => "a scalar",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// Byte offset in the file of byte `at` of this scalar's value: quotes, escapes, line
    /// folding and indentation are stepped over by matching the value's characters against
    /// the source text in order.
    pub fn offset_in_file(&self, file: &SourceFile, at: usize) -> usize {
        let Value::Scalar(value) = &self.value else {
            return self.span.start;
        };
        let text = file.text.as_str();
        let mut src = self.span.start;
        if matches!(self.style, Style::SingleQuoted | Style::DoubleQuoted) {
            src += 1;
        }
        let mut target = None;
        for (i, ch) in value.char_indices() {
            let found = find_char(text, src, ch);
            if i >= at {
                target = Some(found.unwrap_or(src));
                break;
            }
            if let Some(p) = found {
                src = p + ch.len_utf8();
            }
        }
        target.unwrap_or(src).min(text.len())
    }
}

/// The next occurrence of `ch` at or after `from`, within a short window (whitespace in the
/// value matches any whitespace in the source, since folding turns line breaks into spaces).
fn find_char(text: &str, from: usize, ch: char) -> Option<usize> {
    let rest = text.get(from..)?;
    for (i, c) in rest.char_indices().take(256) {
        let hit = if ch.is_whitespace() {
            c.is_whitespace()
        } else {
            c == ch
        };
        if hit {
            return Some(from + i);
        }
    }
    None
}

/// A YAML syntax error with its position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YamlError {
    /// Byte offset in the file.
    pub offset: usize,
    /// The parser's message.
    pub message: String,
}

/// Parse `file` into its documents' root nodes (an empty file gives none).
pub fn parse(file: &SourceFile, id: FileId) -> Result<Vec<Node>, YamlError> {
    let mut b = Builder {
        file,
        id,
        stack: Vec::new(),
        docs: Vec::new(),
        anchors: HashMap::new(),
    };
    let mut parser = Parser::new_from_str(&file.text);
    parser.load(&mut b, true).map_err(|e| YamlError {
        offset: file.offset_of(e.marker().line(), e.marker().col()),
        message: e.info().to_string(),
    })?;
    Ok(b.docs)
}

enum Frame {
    Seq(Node, usize),
    Map(Node, usize, Option<Node>),
}

struct Builder<'a> {
    file: &'a SourceFile,
    id: FileId,
    stack: Vec<Frame>,
    docs: Vec<Node>,
    anchors: HashMap<usize, Node>,
}

impl Builder<'_> {
    fn span(&self, m: Marker, len: usize) -> Span {
        let start = self.file.offset_of(m.line(), m.col());
        Span::new(self.id, start, start + len)
    }

    fn push_value(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq(seq, _)) => {
                if let Value::Seq(items) = &mut seq.value {
                    items.push(node);
                }
            }
            Some(Frame::Map(map, _, key)) => match key.take() {
                None => {
                    if let Value::Map(pairs) = &map.value {
                        if pairs.is_empty() {
                            // Mapping markers point at the first value; the first key is
                            // where the mapping really starts.
                            map.span.start = node.span.start;
                            map.span.end = node.span.start;
                        }
                    }
                    *key = Some(node);
                }
                Some(k) => {
                    if let Value::Map(pairs) = &mut map.value {
                        pairs.push((k, node));
                    }
                }
            },
        }
    }
}

impl MarkedEventReceiver for Builder<'_> {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(text, style, anchor, _) => {
                let style = match style {
                    TScalarStyle::Plain => Style::Plain,
                    TScalarStyle::SingleQuoted => Style::SingleQuoted,
                    TScalarStyle::DoubleQuoted => Style::DoubleQuoted,
                    TScalarStyle::Literal => Style::Literal,
                    TScalarStyle::Folded => Style::Folded,
                };
                let null = style == Style::Plain
                    && matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL");
                let len = if style == Style::Plain { text.len() } else { 1 };
                let span = self.span(mark, len);
                let value = if null {
                    Value::Null
                } else {
                    Value::Scalar(text)
                };
                self.push_value(Node { value, span, style }, anchor);
            }
            Event::SequenceStart(anchor, _) => {
                let span = self.span(mark, 1);
                self.stack.push(Frame::Seq(
                    Node {
                        value: Value::Seq(Vec::new()),
                        span,
                        style: Style::Plain,
                    },
                    anchor,
                ));
            }
            Event::MappingStart(anchor, _) => {
                let span = self.span(mark, 1);
                self.stack.push(Frame::Map(
                    Node {
                        value: Value::Map(Vec::new()),
                        span,
                        style: Style::Plain,
                    },
                    anchor,
                    None,
                ));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(Frame::Seq(n, a) | Frame::Map(n, a, _)) = self.stack.pop() {
                    self.push_value(n, a);
                }
            }
            Event::Alias(id) => {
                let span = self.span(mark, 1);
                let node = self.anchors.get(&id).cloned().unwrap_or(Node {
                    value: Value::Null,
                    span,
                    style: Style::Plain,
                });
                self.push_value(node, 0);
            }
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceMap;

    #[test]
    fn positions_inside_block_and_quoted_scalars() {
        let text = "- rule: a\n  condition: >\n    evt.type = open\n    and   proc.name = x\n  output: \"a \\\"b\\\" %c\"\n";
        let mut sm = SourceMap::new();
        let id = sm.add("f", text);
        let f = sm.file(id).expect("file");
        let docs = parse(f, id).expect("parses");
        let Value::Seq(items) = &docs[0].value else {
            panic!("seq")
        };
        let Value::Map(pairs) = &items[0].value else {
            panic!("map")
        };
        assert_eq!(f.locate(pairs[0].0.span.start).0, 1);
        let cond = &pairs[1].1;
        let v = cond.as_str().expect("scalar");
        let at = v.find("proc").expect("proc");
        let off = cond.offset_in_file(f, at);
        assert_eq!(f.locate(off), (4, 11, "    and   proc.name = x"));
        let out = &pairs[2].1;
        let at = out.as_str().expect("s").find('%').expect("%");
        assert_eq!(f.locate(out.offset_in_file(f, at)).1, 20);
    }

    #[test]
    fn syntax_errors_are_located() {
        let mut sm = SourceMap::new();
        let id = sm.add("f", "- a: [b\n- c");
        let e = parse(sm.file(id).expect("f"), id).expect_err("bad");
        assert!(e.message.contains("flow sequence"), "{e:?}");
    }
}
