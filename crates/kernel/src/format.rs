//! Parser for tracefs `events/<category>/<name>/format` files.
//!
//! ```text
//! name: sys_enter_openat
//! ID: 782
//! format:
//!     field:unsigned short common_type;    offset:0;    size:2;    signed:0;
//!     field:const char * filename;    offset:24;    size:8;    signed:0;
//! print fmt: "..."
//! ```
//!
//! (the indentation and separators are tabs in the real files).

use crate::{KernelError, TracepointField, TracepointFormat, TracepointId};

/// Parses the text of a `format` file for tracepoint `id`. `path` only labels errors.
///
/// A `name:` line that disagrees with `id.name` is an error, so a fixture cannot
/// silently describe a different event. The `print fmt:` line is ignored.
pub fn parse_format(
    id: &TracepointId,
    text: &str,
    path: &str,
) -> Result<TracepointFormat, KernelError> {
    let bad = |line_no: usize, reason: String| KernelError::BadFormat {
        path: path.to_string(),
        reason: if line_no == 0 {
            reason
        } else {
            format!("line {line_no}: {reason}")
        },
    };
    let mut event_id = None;
    let mut fields = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed == "format:" {
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix("field:") {
            let field = parse_field(rest).map_err(|r| bad(line_no, r))?;
            fields.push(field);
        } else if let Some(rest) = trimmed.strip_prefix("name:") {
            let name = rest.trim();
            if name != id.name {
                return Err(bad(
                    line_no,
                    format!("describes '{name}', expected '{}'", id.name),
                ));
            }
        } else if let Some(rest) = trimmed.strip_prefix("ID:") {
            let n = rest
                .trim()
                .parse::<u32>()
                .map_err(|_| bad(line_no, format!("bad event ID '{}'", rest.trim())))?;
            event_id = Some(n);
        } else if trimmed.starts_with("print fmt:") {
            // Everything after it is the printk format, which may span lines.
            break;
        } else {
            return Err(bad(line_no, format!("unexpected line '{trimmed}'")));
        }
    }
    let event_id = event_id.ok_or_else(|| bad(0, "no 'ID:' line".to_string()))?;
    if fields.is_empty() {
        return Err(bad(0, "no fields".to_string()));
    }
    Ok(TracepointFormat {
        id: id.clone(),
        event_id,
        fields,
    })
}

/// Parses what follows `field:` up to the end of the line:
/// `<decl>;\toffset:N;\tsize:N;\tsigned:N;`.
fn parse_field(rest: &str) -> Result<TracepointField, String> {
    let mut parts = rest.split(';').map(str::trim).filter(|p| !p.is_empty());
    let decl = parts.next().ok_or("empty field")?;
    let (mut offset, mut size, mut signed) = (None, None, false);
    for part in parts {
        let (key, value) = part
            .split_once(':')
            .ok_or_else(|| format!("expected 'key:value', found '{part}'"))?;
        let value = value.trim();
        let num = || {
            value
                .parse::<u32>()
                .map_err(|_| format!("bad {key} '{value}' in field '{decl}'"))
        };
        match key.trim() {
            "offset" => offset = Some(num()?),
            "size" => size = Some(num()?),
            "signed" => signed = num()? != 0,
            // Unknown attributes from newer kernels do not change the layout we read.
            _ => {}
        }
    }
    let offset = offset.ok_or_else(|| format!("field '{decl}' has no offset"))?;
    let size = size.ok_or_else(|| format!("field '{decl}' has no size"))?;
    let (name, c_type) = split_decl(decl)?;
    Ok(TracepointField {
        common: name.starts_with("common_"),
        name,
        c_type,
        offset,
        size,
        signed,
    })
}

/// Splits a C declaration into (name, type): `char comm[16]` → (`comm`, `char[16]`),
/// `const char * filename` → (`filename`, `const char *`),
/// `__data_loc char[] name` → (`name`, `__data_loc char[]`).
fn split_decl(decl: &str) -> Result<(String, String), String> {
    let decl = decl.trim();
    // Array dimensions follow the name; peel them off first and glue them to the type.
    let mut head = decl;
    while head.ends_with(']') {
        let open = head
            .rfind('[')
            .ok_or_else(|| format!("unbalanced ']' in '{decl}'"))?;
        head = head[..open].trim_end();
    }
    let suffix = &decl[head.len()..];
    let name_start = head
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .map_or(0, |i| i + 1);
    let name = &head[name_start..];
    let ty = head[..name_start].trim();
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!("no field name in '{decl}'"));
    }
    if ty.is_empty() {
        return Err(format!("no type in '{decl}'"));
    }
    let suffix: String = suffix.chars().filter(|c| !c.is_whitespace()).collect();
    let ty = ty.split_whitespace().collect::<Vec<_>>().join(" ");
    Ok((name.to_string(), format!("{ty}{suffix}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(c: &str, n: &str) -> TracepointId {
        TracepointId::new(c, n)
    }

    #[test]
    fn split_decl_shapes() {
        let cases = [
            (
                "unsigned short common_type",
                "common_type",
                "unsigned short",
            ),
            ("const char * filename", "filename", "const char *"),
            ("char comm[16]", "comm", "char[16]"),
            ("__data_loc char[] name", "name", "__data_loc char[]"),
            ("unsigned long args[6]", "args", "unsigned long[6]"),
            ("const char *const * argv", "argv", "const char *const *"),
            ("void *skbaddr", "skbaddr", "void *"),
            ("u8 m[2][3]", "m", "u8[2][3]"),
            (
                "enum skb_drop_reason reason",
                "reason",
                "enum skb_drop_reason",
            ),
        ];
        for (decl, name, ty) in cases {
            assert_eq!(
                split_decl(decl),
                Ok((name.to_string(), ty.to_string())),
                "{decl}"
            );
        }
    }

    #[test]
    fn split_decl_rejects_nonsense() {
        assert!(split_decl("").is_err());
        assert!(split_decl("int").is_err());
        assert!(split_decl("int x]").is_err());
        assert!(split_decl("int 5").is_err());
        assert!(split_decl("*").is_err());
    }

    #[test]
    fn malformed_files_are_errors() {
        let tp = id("a", "b");
        let bad = [
            "",
            "name: b\nformat:\n",
            "name: b\nID: x\n",
            "name: c\nID: 1\n\tfield:int x;\toffset:0;\tsize:4;\tsigned:1;\n",
            "name: b\nID: 1\n\tfield:int x;\tsize:4;\n",
            "name: b\nID: 1\n\tfield:int x;\toffset:-1;\tsize:4;\n",
            "name: b\nID: 1\n\tfield:int x;\toffset:0;\tsize:4;\tsigned\n",
            "name: b\nID: 1\nwhat is this\n",
            "name: b\nID: 1\n\tfield:;\n",
        ];
        for text in bad {
            match parse_format(&tp, text, "p") {
                Err(KernelError::BadFormat { path, .. }) => assert_eq!(path, "p"),
                other => panic!("{text:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn minimal_file_parses() {
        let text = "name: b\nID: 7\nformat:\n\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n\tfield:long x;\toffset:8;\tsize:8;\tsigned:1;\n\nprint fmt: \"x\"\n";
        let f = parse_format(&id("a", "b"), text, "p");
        let f = match f {
            Ok(f) => f,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(f.event_id, 7);
        assert_eq!(f.fields.len(), 2);
        assert!(f.fields[0].common);
        assert!(!f.fields[1].common);
        assert!(f.fields[1].signed);
        assert_eq!(f.fields[1].offset, 8);
    }
}
