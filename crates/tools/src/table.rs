//! Columns and rows: the libbpf-tools-style text table (a header, then one padded line per
//! event) and the `--json` form (one object per event, keyed by column).

use std::fmt::Write as _;

/// How a column's field is parsed and printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A signed integer (JSON number).
    Int,
    /// Text (JSON string).
    Str,
}

/// One column of a tool's table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column {
    /// The header, as libbpf-tools prints it (`PCOMM`).
    pub header: &'static str,
    /// The JSON key (`comm`).
    pub key: &'static str,
    /// Minimum text width; the last column is never padded.
    pub width: usize,
    /// Right-align (numbers in some tools) instead of left.
    pub right: bool,
    /// How to parse and print the field.
    pub kind: Kind,
}

impl Column {
    /// A left-aligned text column.
    pub const fn str(header: &'static str, key: &'static str, width: usize) -> Column {
        Column {
            header,
            key,
            width,
            right: false,
            kind: Kind::Str,
        }
    }

    /// A left-aligned integer column.
    pub const fn int(header: &'static str, key: &'static str, width: usize) -> Column {
        Column {
            header,
            key,
            width,
            right: false,
            kind: Kind::Int,
        }
    }

    /// The same column, right-aligned.
    pub const fn right(self) -> Column {
        Column {
            right: true,
            ..self
        }
    }
}

/// One cell.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// An integer.
    Int(i64),
    /// A number with a fixed count of decimals.
    Float(f64, usize),
    /// Text.
    Str(String),
}

impl Value {
    fn text(&self) -> String {
        match self {
            Value::Int(n) => n.to_string(),
            Value::Float(f, d) => format!("{f:.d$}"),
            Value::Str(s) => s.clone(),
        }
    }

    fn json(&self) -> String {
        match self {
            Value::Int(n) => n.to_string(),
            Value::Float(f, d) if f.is_finite() => format!("{f:.d$}"),
            Value::Float(..) => "null".to_string(),
            Value::Str(s) => serde_json::Value::String(s.clone()).to_string(),
        }
    }
}

/// One event's cells, in column order.
pub type Row = Vec<Value>;

/// Parses record fields by their columns' kinds (a malformed number becomes text, so
/// nothing is lost).
pub fn parse_row(columns: &[Column], fields: &[&str]) -> Row {
    columns
        .iter()
        .zip(fields)
        .map(|(c, f)| match c.kind {
            Kind::Int => f
                .parse::<i64>()
                .map(Value::Int)
                .unwrap_or_else(|_| Value::Str((*f).to_string())),
            Kind::Str => Value::Str((*f).to_string()),
        })
        .collect()
}

/// The `TIME` column `-T` adds in front.
pub const TIME: Column = Column::str("TIME", "time", 8);

/// Prints a tool's rows as text or JSON lines.
#[derive(Clone, Debug)]
pub struct Table {
    columns: Vec<Column>,
    json: bool,
}

impl Table {
    /// A table of `columns`; `timestamp` puts [`TIME`] first.
    pub fn new(columns: Vec<Column>, timestamp: bool, json: bool) -> Table {
        let columns = if timestamp {
            std::iter::once(TIME).chain(columns).collect()
        } else {
            columns
        };
        Table { columns, json }
    }

    /// The header line (with its newline); empty in JSON mode or without columns.
    pub fn header(&self) -> String {
        // Tools that print sentences (oomkill) have unnamed columns and no header.
        if self.json || self.columns.is_empty() || self.columns.iter().any(|c| c.header.is_empty())
        {
            return String::new();
        }
        let cells: Vec<String> = self.columns.iter().map(|c| c.header.to_string()).collect();
        self.line(&cells)
    }

    /// One row as a line; `time` fills the `TIME` column when there is one.
    pub fn row(&self, row: &Row, time: &str) -> String {
        let mut cells: Vec<Value> = Vec::with_capacity(self.columns.len());
        if self.columns.first() == Some(&TIME) {
            cells.push(Value::Str(time.to_string()));
        }
        cells.extend(row.iter().cloned());
        if self.json {
            let mut s = String::from("{");
            for (i, (c, v)) in self.columns.iter().zip(&cells).enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                let _ = write!(s, "\"{}\": {}", c.key, v.json());
            }
            s.push_str("}\n");
            s
        } else {
            let texts: Vec<String> = cells.iter().map(Value::text).collect();
            self.line(&texts)
        }
    }

    fn line(&self, cells: &[String]) -> String {
        let mut s = String::new();
        let last = cells.len().min(self.columns.len()).saturating_sub(1);
        for (i, (c, text)) in self.columns.iter().zip(cells).enumerate() {
            if i > 0 {
                s.push(' ');
            }
            if i == last {
                if c.right {
                    let _ = write!(s, "{text:>w$}", w = c.width);
                } else {
                    s.push_str(text);
                }
            } else if c.right {
                let _ = write!(s, "{text:>w$}", w = c.width);
            } else {
                let _ = write!(s, "{text:<w$}", w = c.width);
            }
        }
        s.push('\n');
        s
    }
}

/// `HH:MM:SS` (UTC) of a wall-clock time in seconds since the epoch.
pub fn hms(unix_secs: u64) -> String {
    let s = unix_secs % 86_400;
    format!("{:02}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_all_but_the_last_column() {
        let t = Table::new(
            vec![
                Column::str("PCOMM", "comm", 6),
                Column::int("PID", "pid", 4).right(),
                Column::str("ARGS", "args", 9),
            ],
            false,
            false,
        );
        assert_eq!(t.header(), "PCOMM   PID ARGS\n");
        let row = parse_row(&t.columns, &["ls", "42", "ls -l"]);
        assert_eq!(t.row(&row, ""), "ls       42 ls -l\n");
    }

    #[test]
    fn json_rows_are_typed_objects_with_time() {
        let t = Table::new(
            vec![
                Column::str("PCOMM", "comm", 6),
                Column::int("PID", "pid", 4),
            ],
            true,
            true,
        );
        assert_eq!(t.header(), "");
        let row = parse_row(
            &[Column::str("", "", 0), Column::int("", "", 0)],
            &["a\"b", "7"],
        );
        assert_eq!(
            t.row(&row, "01:02:03"),
            "{\"time\": \"01:02:03\", \"comm\": \"a\\\"b\", \"pid\": 7}\n"
        );
    }

    #[test]
    fn clock() {
        assert_eq!(hms(86_400 + 3_723), "01:02:03");
    }
}
