//! Rules files held in memory, and byte spans into them resolved to line and column.

/// Index of a file in a [`SourceMap`].
pub type FileId = usize;

/// A byte range in one loaded file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// Which file.
    pub file: FileId,
    /// First byte.
    pub start: usize,
    /// One past the last byte (`start` when the span is a point).
    pub end: usize,
}

impl Span {
    /// A span of `len` bytes at `start` in `file`.
    pub fn new(file: FileId, start: usize, end: usize) -> Span {
        Span {
            file,
            start,
            end: end.max(start),
        }
    }
}

/// One file's name, text and line starts.
#[derive(Clone, Debug)]
pub struct SourceFile {
    /// The name shown in diagnostics (the path as given).
    pub name: String,
    /// The whole text.
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    fn new(name: String, text: String) -> SourceFile {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        SourceFile {
            name,
            text,
            line_starts,
        }
    }

    /// Byte offset of 1-based `line` and 0-based character column `col` (YAML markers), clamped
    /// to the text.
    pub fn offset_of(&self, line: usize, col: usize) -> usize {
        let Some(&start) = self.line_starts.get(line.saturating_sub(1)) else {
            return self.text.len();
        };
        let rest = self.text.get(start..).unwrap_or("");
        let within = rest
            .char_indices()
            .take_while(|&(_, c)| c != '\n')
            .nth(col)
            .map_or_else(|| rest.find('\n').unwrap_or(rest.len()), |(i, _)| i);
        start + within
    }

    /// 1-based line, 1-based character column and the line's text for byte `offset`.
    pub fn locate(&self, offset: usize) -> (usize, usize, &str) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let idx = self
            .line_starts
            .partition_point(|&s| s <= offset)
            .saturating_sub(1);
        let start = self.line_starts[idx.min(self.line_starts.len() - 1)];
        let end = self
            .line_starts
            .get(idx + 1)
            .map_or(self.text.len(), |e| e - 1);
        let line = self.text.get(start..end.max(start)).unwrap_or("");
        let line = line.strip_suffix('\r').unwrap_or(line);
        let col = self
            .text
            .get(start..offset)
            .map_or(0, |p| p.chars().count())
            + 1;
        (idx + 1, col, line)
    }
}

/// Every file loaded, in load order.
#[derive(Clone, Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    /// An empty map.
    pub fn new() -> SourceMap {
        SourceMap::default()
    }

    /// Add a file; returns its id.
    pub fn add(&mut self, name: impl Into<String>, text: impl Into<String>) -> FileId {
        self.files.push(SourceFile::new(name.into(), text.into()));
        self.files.len() - 1
    }

    /// The file with id `id`.
    pub fn file(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id)
    }

    /// Every file.
    pub fn files(&self) -> &[SourceFile] {
        &self.files
    }

    /// The text a span covers ("" when out of range).
    pub fn text(&self, span: Span) -> &str {
        self.file(span.file)
            .and_then(|f| f.text.get(span.start..span.end))
            .unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_and_locations_round_trip() {
        let f = SourceFile::new("a".into(), "ab\nçd x\n".into());
        assert_eq!(f.offset_of(2, 0), 3);
        assert_eq!(f.offset_of(2, 2), 6);
        assert_eq!(f.locate(6), (2, 3, "çd x"));
        assert_eq!(f.offset_of(9, 0), f.text.len());
        assert_eq!(f.locate(999).0, 3);
    }
}
