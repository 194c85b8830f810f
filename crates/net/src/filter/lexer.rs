//! Splits a pcap-filter expression into tokens, each with its byte span.
//!
//! The rules follow tcpdump's scanner where it matters: identifiers may contain `-`, `_` and
//! `.` (so `tcp-syn` and `1000-2000` are single tokens, as in libpcap), IPv6 and MAC addresses
//! are recognised by trying to parse a run of hex digits, colons and dots, and `\name`
//! escapes a protocol name (`ip proto \tcp`).

use std::net::Ipv6Addr;

use super::FilterError;

/// Token kinds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tok {
    /// A word: keyword, name, number, dotted IPv4 address or range (`1000-2000`).
    Word(String),
    /// `\name`: a protocol name that is not read as a keyword.
    Escaped(String),
    /// An IPv6 address.
    V6(Ipv6Addr),
    /// A MAC address `aa:bb:cc:dd:ee:ff`.
    Mac([u8; 6]),
    /// Punctuation or an operator.
    Sym(&'static str),
}

/// A token and where it is in the expression (byte offsets).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// What it is.
    pub tok: Tok,
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

const SYMS: [&str; 22] = [
    "&&", "||", "<<", ">>", "<=", ">=", "==", "!=", "(", ")", "[", "]", ":", "&", "|", "^", "+",
    "-", "*", "/", "%", "!",
];
const SYMS1: [&str; 3] = ["<", ">", "="];

fn is_word_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c == b'.'
}

/// Tokenizes `src`.
pub fn lex(src: &str) -> Result<Vec<Token>, FilterError> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        // IPv6 or MAC: a run of hex digits, ':' and '.' that contains ':' and parses.
        if c.is_ascii_hexdigit() || (c == b':' && b.get(i + 1) == Some(&b':')) {
            let mut j = i;
            while j < b.len() && (b[j].is_ascii_hexdigit() || b[j] == b':' || b[j] == b'.') {
                j += 1;
            }
            let run = &src[i..j];
            if run.contains(':') && (j == b.len() || !is_word_char(b[j]) || b[j] == b'.') {
                if let Some(mac) = parse_mac(run) {
                    out.push(Token {
                        tok: Tok::Mac(mac),
                        start: i,
                        end: j,
                    });
                    i = j;
                    continue;
                }
                if let Ok(a) = run.parse::<Ipv6Addr>() {
                    out.push(Token {
                        tok: Tok::V6(a),
                        start: i,
                        end: j,
                    });
                    i = j;
                    continue;
                }
            }
        }
        if c.is_ascii_alphanumeric() || c == b'_' {
            let mut j = i;
            while j < b.len() && is_word_char(b[j]) {
                j += 1;
            }
            // Like tcpdump's scanner, a word does not end in '-' or '.'.
            while j > i + 1 && (b[j - 1] == b'-' || b[j - 1] == b'.') {
                j -= 1;
            }
            out.push(Token {
                tok: Tok::Word(src[i..j].to_string()),
                start: i,
                end: j,
            });
            i = j;
            continue;
        }
        if c == b'\\' {
            let mut j = i + 1;
            while j < b.len() && is_word_char(b[j]) {
                j += 1;
            }
            if j == i + 1 {
                return Err(FilterError::new(
                    i,
                    "'\\' must be followed by a protocol name",
                ));
            }
            out.push(Token {
                tok: Tok::Escaped(src[i + 1..j].to_string()),
                start: i,
                end: j,
            });
            i = j;
            continue;
        }
        let rest = &src[i..];
        let sym = SYMS
            .iter()
            .chain(SYMS1.iter())
            .find(|s| rest.starts_with(**s));
        match sym {
            Some(s) => {
                out.push(Token {
                    tok: Tok::Sym(s),
                    start: i,
                    end: i + s.len(),
                });
                i += s.len();
            }
            None => {
                let ch = rest.chars().next().unwrap_or('?');
                return Err(FilterError::new(i, format!("unexpected character '{ch}'")));
            }
        }
    }
    Ok(out)
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 || parts.iter().any(|p| p.is_empty() || p.len() > 2) {
        return None;
    }
    let mut mac = [0u8; 6];
    for (m, p) in mac.iter_mut().zip(parts) {
        *m = u8::from_str_radix(p, 16).ok()?;
    }
    Some(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<Tok> {
        lex(s)
            .map(|v| v.into_iter().map(|t| t.tok).collect())
            .unwrap_or_default()
    }

    #[test]
    fn words_symbols_and_addresses() {
        assert_eq!(
            kinds("tcp[13:1]&tcp-syn!=0"),
            vec![
                Tok::Word("tcp".into()),
                Tok::Sym("["),
                Tok::Word("13".into()),
                Tok::Sym(":"),
                Tok::Word("1".into()),
                Tok::Sym("]"),
                Tok::Sym("&"),
                Tok::Word("tcp-syn".into()),
                Tok::Sym("!="),
                Tok::Word("0".into()),
            ]
        );
        assert_eq!(
            kinds("net 2001:db8::/32"),
            vec![
                Tok::Word("net".into()),
                Tok::V6("2001:db8::".parse().expect("must succeed")),
                Tok::Sym("/"),
                Tok::Word("32".into()),
            ]
        );
        assert_eq!(
            kinds("ether host 02:00:00:00:00:01"),
            vec![
                Tok::Word("ether".into()),
                Tok::Word("host".into()),
                Tok::Mac([2, 0, 0, 0, 0, 1]),
            ]
        );
        assert_eq!(kinds("::1"), vec![Tok::V6(Ipv6Addr::LOCALHOST)]);
        assert_eq!(
            kinds("ip proto \\tcp"),
            vec![
                Tok::Word("ip".into()),
                Tok::Word("proto".into()),
                Tok::Escaped("tcp".into()),
            ]
        );
    }

    #[test]
    fn bad_character_has_a_position() {
        let e = lex("port 80 $").expect_err("must fail");
        assert_eq!(e.pos, 8);
    }
}
