//! Decoding integer and string literals.

/// Value of an integer literal as written: decimal, `0x` hex, `0b` binary, leading-`0` octal,
/// `1e3`-style exponent, `_` separators, and C suffixes (`u`, `l`, `ul`, `ull`...) ignored.
/// The error says what is wrong with it.
pub(crate) fn parse_int(text: &str) -> Result<u64, String> {
    // Durations, as current bpftrace writes them: `100ms`, `1s` (in nanoseconds).
    for (suffix, ns) in [
        ("ns", 1u64),
        ("us", 1_000),
        ("ms", 1_000_000),
        ("s", 1_000_000_000),
        ("m", 60_000_000_000),
        ("h", 3_600_000_000_000),
        ("d", 86_400_000_000_000),
    ] {
        if let Some(n) = text.strip_suffix(suffix) {
            if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit() || c == '_') {
                let v: u64 = n
                    .chars()
                    .filter(|&c| c != '_')
                    .collect::<String>()
                    .parse()
                    .map_err(|_| "it does not fit in 64 bits".to_string())?;
                return v
                    .checked_mul(ns)
                    .ok_or_else(|| "it does not fit in 64 bits".to_string());
            }
        }
    }
    let body = text.trim_end_matches(['u', 'U', 'l', 'L']);
    let digits: String = body.chars().filter(|&c| c != '_').collect();
    let lower = digits.to_ascii_lowercase();
    let (radix, rest) = if let Some(r) = lower.strip_prefix("0x") {
        (16, r)
    } else if let Some(r) = lower.strip_prefix("0b") {
        (2, r)
    } else if let Some((mantissa, exp)) = lower.split_once('e') {
        return parse_exponent(mantissa, exp);
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if rest.is_empty() {
        return Err("it has no digits".to_string());
    }
    if let Some(bad) = rest.chars().find(|c| !c.is_digit(radix)) {
        let base = match radix {
            16 => "hexadecimal",
            8 => "octal",
            2 => "binary",
            _ => "decimal",
        };
        return Err(format!("'{bad}' is not a {base} digit"));
    }
    u64::from_str_radix(rest, radix).map_err(|_| "it does not fit in 64 bits".to_string())
}

fn parse_exponent(mantissa: &str, exp: &str) -> Result<u64, String> {
    let all_digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    if !all_digits(mantissa) || !all_digits(exp) {
        return Err("an exponent literal is written like 1e6".to_string());
    }
    let too_big = || "it does not fit in 64 bits".to_string();
    let m: u64 = mantissa.parse().map_err(|_| too_big())?;
    let e: u32 = exp.parse().map_err(|_| too_big())?;
    10u64
        .checked_pow(e)
        .and_then(|p| m.checked_mul(p))
        .ok_or_else(too_big)
}

/// Where a string literal ends, or why it has no end.
pub(crate) enum StrScan {
    /// The decoded value and the byte offset just past the closing quote.
    Ok(String, usize),
    /// A bad escape: its byte range (relative to the source) and a message.
    BadEscape(usize, usize, String),
    /// No closing quote before the end of the line; the offset is where the line ends.
    Unterminated(usize),
}

/// Scan a string literal whose opening `"` is at `start`, decoding escapes.
pub(crate) fn scan_string(src: &str, start: usize) -> StrScan {
    let bytes = src.as_bytes();
    let mut out = String::new();
    let mut i = start + 1;
    let mut bad: Option<(usize, usize, String)> = None;
    loop {
        let Some(ch) = src.get(i..).and_then(|s| s.chars().next()) else {
            return StrScan::Unterminated(i);
        };
        match ch {
            '"' => {
                return match bad {
                    Some((s, e, m)) => StrScan::BadEscape(s, e, m),
                    None => StrScan::Ok(out, i + 1),
                }
            }
            '\n' => {
                return StrScan::Unterminated(if i > 0 && bytes[i - 1] == b'\r' {
                    i - 1
                } else {
                    i
                })
            }
            '\\' => {
                let (value, len) = decode_escape(&src[i + 1..]);
                match value {
                    Ok(c) => out.push(c),
                    Err(msg) => {
                        if bad.is_none() {
                            bad = Some((i, i + 1 + len, msg));
                        }
                    }
                }
                i += 1 + len;
            }
            c => {
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
}

/// Decode the escape after a backslash; returns the character and how many bytes it used.
fn decode_escape(rest: &str) -> (Result<char, String>, usize) {
    let Some(first) = rest.chars().next() else {
        return (Err("a backslash at the end of the input".to_string()), 0);
    };
    let simple = match first {
        'n' => Some('\n'),
        't' => Some('\t'),
        'r' => Some('\r'),
        '\\' => Some('\\'),
        '"' => Some('"'),
        '\'' => Some('\''),
        _ => None,
    };
    if let Some(c) = simple {
        return (Ok(c), 1);
    }
    if first == 'x' {
        let hex: String = rest[1..]
            .chars()
            .take(2)
            .take_while(|c| c.is_ascii_hexdigit())
            .collect();
        if hex.is_empty() {
            return (Err("'\\x' must be followed by hex digits".to_string()), 1);
        }
        let len = 1 + hex.len();
        return match u8::from_str_radix(&hex, 16) {
            Ok(b) if b.is_ascii() => (Ok(char::from(b)), len),
            _ => (Err(format!("'\\x{hex}' is not an ASCII character")), len),
        };
    }
    if first.is_digit(8) {
        let oct: String = rest.chars().take(3).take_while(|c| c.is_digit(8)).collect();
        let len = oct.len();
        return match u8::from_str_radix(&oct, 8) {
            Ok(b) if b.is_ascii() => (Ok(char::from(b)), len),
            _ => (Err(format!("'\\{oct}' is not an ASCII character")), len),
        };
    }
    if first == '\n' {
        return (
            Err("a string cannot continue onto the next line".to_string()),
            1,
        );
    }
    (
        Err(format!("unknown escape sequence '\\{first}'")),
        first.len_utf8(),
    )
}

#[cfg(test)]
mod tests {
    use super::{parse_int, scan_string, StrScan};

    #[test]
    fn durations() {
        assert_eq!(parse_int("100ms"), Ok(100_000_000));
        assert_eq!(parse_int("1s"), Ok(1_000_000_000));
        assert_eq!(parse_int("5us"), Ok(5_000));
        assert_eq!(parse_int("2m"), Ok(120_000_000_000));
        assert!(parse_int("0x1d").is_ok_and(|v| v == 29));
    }

    #[test]
    fn integers() {
        let ok = [
            ("0", 0),
            ("42", 42),
            ("0x1F", 31),
            ("0XfF", 255),
            ("017", 15),
            ("0b101", 5),
            ("1_000_000", 1_000_000),
            ("1e3", 1000),
            ("5E9", 5_000_000_000),
            ("10ul", 10),
            ("18446744073709551615", u64::MAX),
        ];
        for (text, v) in ok {
            assert_eq!(parse_int(text), Ok(v), "{text}");
        }
        for bad in [
            "08",
            "0x",
            "0b102",
            "12abc",
            "18446744073709551616",
            "1e30",
            "1e",
            "0xg",
        ] {
            assert!(parse_int(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn strings() {
        let src = r#""a\n\t\\\"\'\0\x41\101z" rest"#;
        match scan_string(src, 0) {
            StrScan::Ok(v, end) => {
                assert_eq!(v, "a\n\t\\\"'\0AAz");
                assert_eq!(&src[end..], " rest");
            }
            _ => panic!("expected a string"),
        }
        assert!(matches!(scan_string("\"abc", 0), StrScan::Unterminated(4)));
        assert!(matches!(
            scan_string("\"ab\nc\"", 0),
            StrScan::Unterminated(3)
        ));
        assert!(matches!(
            scan_string(r#""a\qb""#, 0),
            StrScan::BadEscape(2, 4, _)
        ));
        assert!(matches!(
            scan_string(r#""\xff""#, 0),
            StrScan::BadEscape(..)
        ));
    }
}
