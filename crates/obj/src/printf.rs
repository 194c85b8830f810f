//! The one `printf` format grammar. Sema checks `printf("%d %s", ...)` at compile time and
//! the runtime's formatter renders records with these same functions, so the two cannot
//! disagree (they once did: `%l0x` was accepted at compile time and refused at run time).
//!
//! The accepted language is C's, restricted to what kestrel's values can be:
//! conversions `d i u o x X c s p` and `%%`; flags `- + space # 0` in any order; a decimal
//! width; a precision (`.N`); length modifiers `hh h l ll z j t`. As in current bpftrace, an
//! integer is first converted to the C type its conversion and length modifier name: `%d` and
//! `%x` without a modifier print an `int` / `unsigned int` (32 bits), `%hhx` a byte, `%hx` 16
//! bits, `%lx` `%llx` `%jx` `%zx` `%tx` all 64 bits. bpftrace's buffer conversions print a
//! `buf()` value: `%r` (printable ASCII as is, other bytes `\xNN`), `%rx` (every byte `\xNN`)
//! and `%rh` (`NN NN ...`). Like bpftrace, a `%` that does not start a known conversion
//! (`100%`, `%q`) is printed as written. Floating point (`%f` ...), `%n` and `*` widths are
//! rejected.

use std::fmt;

/// The largest width or precision accepted, so a typo cannot ask for gigabytes of padding.
pub const MAX_WIDTH: usize = 65_535;

/// What kind of value an argument is, as far as the format cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgClass {
    /// Any integer (also booleans and pointers).
    Int,
    /// A NUL-terminated string.
    Str,
}

impl ArgClass {
    fn describe(self) -> &'static str {
        match self {
            ArgClass::Int => "an integer",
            ArgClass::Str => "a string",
        }
    }
}

/// The conversion character of a directive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvKind {
    /// `%d`, `%i`
    Signed,
    /// `%u`
    Unsigned,
    /// `%o`
    Octal,
    /// `%x`
    HexLower,
    /// `%X`
    HexUpper,
    /// `%c`: the low byte of an integer.
    Char,
    /// `%s`: a string, or an integer printed in decimal.
    Str,
    /// `%p`: `0x` and lowercase hex, `(nil)` for zero.
    Pointer,
    /// `%r`, `%rx`, `%rh`: the bytes of a `buf()` value.
    Buffer(BufStyle),
}

/// How `%r`, `%rx` and `%rh` show a buffer's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BufStyle {
    /// `%r`: printable ASCII as is, everything else `\xNN`.
    Ascii,
    /// `%rx`: every byte as `\xNN`.
    Escaped,
    /// `%rh`: every byte as two hex digits, separated by spaces.
    Hex,
}

impl BufStyle {
    /// Renders `data` in this style.
    pub fn render(self, data: &[u8]) -> String {
        match self {
            BufStyle::Ascii => data
                .iter()
                .map(|&b| {
                    if (0x20..0x7f).contains(&b) {
                        char::from(b).to_string()
                    } else {
                        format!("\\x{b:02x}")
                    }
                })
                .collect(),
            BufStyle::Escaped => data.iter().map(|b| format!("\\x{b:02x}")).collect(),
            BufStyle::Hex => data
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

/// A C length modifier: the type an integer is converted to before it is printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Length {
    /// None: `int` / `unsigned int` (32 bits).
    #[default]
    Int,
    /// `hh`: `char` (8 bits).
    Char,
    /// `h`: `short` (16 bits).
    Short,
    /// `l`, `ll`, `j`, `z`, `t`: 64 bits.
    Long,
}

impl Length {
    /// The width of the C type in bits.
    pub fn bits(self) -> u32 {
        match self {
            Length::Char => 8,
            Length::Short => 16,
            Length::Int => 32,
            Length::Long => 64,
        }
    }
}

impl ConvKind {
    /// Whether an argument of class `arg` may be given to this conversion.
    pub fn accepts(self, arg: ArgClass) -> bool {
        match arg {
            ArgClass::Int => true,
            ArgClass::Str => matches!(self, ConvKind::Str | ConvKind::Buffer(_)),
        }
    }
}

/// The flag characters of a directive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    /// `-`: pad on the right.
    pub left: bool,
    /// `+`: always print a sign for signed conversions.
    pub plus: bool,
    /// ` `: a space where a `+` would go.
    pub space: bool,
    /// `#`: `0x`/`0X` prefix for hex, leading `0` for octal.
    pub alt: bool,
    /// `0`: pad numbers with zeros (ignored with `-` or a precision).
    pub zero: bool,
}

/// One parsed `%...` directive that consumes an argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conversion {
    /// Flag characters.
    pub flags: Flags,
    /// Minimum field width.
    pub width: Option<usize>,
    /// Precision: minimum digits for integers, maximum bytes for strings.
    pub precision: Option<usize>,
    /// The length modifier (what C type integers are converted to).
    pub length: Length,
    /// The conversion character.
    pub kind: ConvKind,
    /// The directive as written, e.g. `%-8lld` (for error messages).
    pub spec: String,
}

/// A format string split into literal text and conversions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    /// Text printed as is (`%%` already turned into `%`).
    Literal(String),
    /// A directive consuming the next argument.
    Conv(Conversion),
}

/// Why a format string cannot be used with the given arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FormatError {
    /// The number of conversions and arguments differ.
    ArgCount {
        /// Conversions in the format.
        conversions: usize,
        /// Arguments given.
        args: usize,
    },
    /// A conversion got an argument it cannot print (e.g. `%d` given a string).
    TypeMismatch {
        /// The directive as written.
        spec: String,
        /// Zero-based argument index.
        index: usize,
        /// What the argument is.
        found: ArgClass,
    },
    /// A directive kestrel does not support.
    Unsupported {
        /// The directive as written.
        spec: String,
        /// Why.
        reason: &'static str,
    },
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::ArgCount { conversions, args } => write!(
                f,
                "printf: format has {} but {}",
                plural(*conversions, "conversion"),
                plural(*args, "argument")
            ),
            FormatError::TypeMismatch { spec, index, found } => write!(
                f,
                "printf: {spec} expects an integer, but argument {} is {}",
                index + 1,
                found.describe()
            ),
            FormatError::Unsupported { spec, reason } => {
                write!(f, "printf: unsupported conversion '{spec}': {reason}")
            }
        }
    }
}

impl std::error::Error for FormatError {}

/// Splits `format` into literal text and conversions.
pub fn parse_format(format: &str) -> Result<Vec<Piece>, FormatError> {
    let bytes = format.as_bytes();
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut i = 0;
    // Every slice below starts and ends next to an ASCII byte, so it is a char boundary.
    let mut lit_start = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            i += 1;
            continue;
        }
        literal.push_str(&format[lit_start..i]);
        match parse_directive(format, i)? {
            Directive::Percent(end) => {
                literal.push('%');
                i = end;
            }
            Directive::Conv(conv, end) => {
                if !literal.is_empty() {
                    pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                }
                pieces.push(Piece::Conv(conv));
                i = end;
            }
            Directive::NotOne => {
                literal.push('%');
                i += 1;
            }
        }
        lit_start = i;
    }
    literal.push_str(&format[lit_start..]);
    if !literal.is_empty() {
        pieces.push(Piece::Literal(literal));
    }
    Ok(pieces)
}

/// Parses `format` and checks it against the arguments' kinds; returns the conversions in
/// argument order.
pub fn validate_format(format: &str, args: &[ArgClass]) -> Result<Vec<Conversion>, FormatError> {
    let convs: Vec<Conversion> = parse_format(format)?
        .into_iter()
        .filter_map(|p| match p {
            Piece::Conv(c) => Some(c),
            Piece::Literal(_) => None,
        })
        .collect();
    if convs.len() != args.len() {
        return Err(FormatError::ArgCount {
            conversions: convs.len(),
            args: args.len(),
        });
    }
    for (index, (conv, arg)) in convs.iter().zip(args).enumerate() {
        if !conv.kind.accepts(*arg) {
            return Err(FormatError::TypeMismatch {
                spec: conv.spec.clone(),
                index,
                found: *arg,
            });
        }
    }
    Ok(convs)
}

enum Directive {
    /// `%%` (or `%5%`): a literal percent sign; the index after it.
    Percent(usize),
    /// A conversion and the index after it.
    Conv(Conversion, usize),
    /// Not a directive: the `%` is literal text.
    NotOne,
}

fn parse_number(
    bytes: &[u8],
    j: &mut usize,
    spec_start: usize,
    format: &str,
) -> Result<usize, FormatError> {
    let mut n: usize = 0;
    while *j < bytes.len() && bytes[*j].is_ascii_digit() {
        n = n
            .saturating_mul(10)
            .saturating_add(usize::from(bytes[*j] - b'0'));
        *j += 1;
    }
    if n > MAX_WIDTH {
        return Err(FormatError::Unsupported {
            spec: format[spec_start..*j].to_string(),
            reason: "width or precision too large",
        });
    }
    Ok(n)
}

fn parse_directive(format: &str, start: usize) -> Result<Directive, FormatError> {
    let bytes = format.as_bytes();
    let mut j = start + 1;
    let mut flags = Flags::default();
    while j < bytes.len() {
        match bytes[j] {
            b'-' => flags.left = true,
            b'+' => flags.plus = true,
            b' ' => flags.space = true,
            b'#' => flags.alt = true,
            b'0' => flags.zero = true,
            _ => break,
        }
        j += 1;
    }
    let star = |j: usize| FormatError::Unsupported {
        spec: format[start..=j].to_string(),
        reason: "'*' widths and precisions are not supported",
    };
    let mut width = None;
    if j < bytes.len() && bytes[j] == b'*' {
        return Err(star(j));
    }
    if j < bytes.len() && bytes[j].is_ascii_digit() {
        width = Some(parse_number(bytes, &mut j, start, format)?);
    }
    let mut precision = None;
    if j < bytes.len() && bytes[j] == b'.' {
        j += 1;
        if j < bytes.len() && bytes[j] == b'*' {
            return Err(star(j));
        }
        precision = Some(parse_number(bytes, &mut j, start, format)?);
    }
    let mut length = Length::Int;
    for (modifier, len) in [
        (&b"hh"[..], Length::Char),
        (b"ll", Length::Long),
        (b"h", Length::Short),
        (b"l", Length::Long),
        (b"z", Length::Long),
        (b"j", Length::Long),
        (b"t", Length::Long),
    ] {
        if bytes[j.min(bytes.len())..].starts_with(modifier) {
            j += modifier.len();
            length = len;
            break;
        }
    }
    let Some(&c) = bytes.get(j) else {
        return Ok(Directive::NotOne);
    };
    let kind = match c {
        b'd' | b'i' => ConvKind::Signed,
        b'u' => ConvKind::Unsigned,
        b'o' => ConvKind::Octal,
        b'x' => ConvKind::HexLower,
        b'X' => ConvKind::HexUpper,
        b'c' => ConvKind::Char,
        b's' => ConvKind::Str,
        b'p' => ConvKind::Pointer,
        b'%' => return Ok(Directive::Percent(j + 1)),
        b'e' | b'E' | b'f' | b'F' | b'g' | b'G' | b'a' | b'A' => {
            return Err(FormatError::Unsupported {
                spec: format[start..=j].to_string(),
                reason: "kestrel has no floating-point values",
            })
        }
        b'n' => {
            return Err(FormatError::Unsupported {
                spec: format[start..=j].to_string(),
                reason: "%n writes to memory and is never supported",
            })
        }
        // bpftrace's `%r`, `%rx`, `%rh` print a buf() value.
        b'r' => match bytes.get(j + 1) {
            Some(b'x') => {
                j += 1;
                ConvKind::Buffer(BufStyle::Escaped)
            }
            Some(b'h') => {
                j += 1;
                ConvKind::Buffer(BufStyle::Hex)
            }
            _ => ConvKind::Buffer(BufStyle::Ascii),
        },
        _ => return Ok(Directive::NotOne),
    };
    Ok(Directive::Conv(
        Conversion {
            flags,
            width,
            precision,
            length,
            kind,
            spec: format[start..=j].to_string(),
        },
        j + 1,
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod grammar_tests {
    use super::*;

    fn convs(f: &str) -> Vec<String> {
        parse_format(f)
            .unwrap()
            .into_iter()
            .filter_map(|p| match p {
                Piece::Conv(c) => Some(c.spec),
                Piece::Literal(_) => None,
            })
            .collect()
    }

    #[test]
    fn length_modifiers_flags_and_literal_percents() {
        assert_eq!(convs("%hhx|%hx|%x|%lx"), ["%hhx", "%hx", "%x", "%lx"]);
        assert_eq!(
            convs("%-08.3llu %rx %rh %r"),
            ["%-08.3llu", "%rx", "%rh", "%r"]
        );
        // Not conversions: printed as written, as bpftrace does.
        assert!(convs("100% %q %%").is_empty());
        assert!(parse_format("%f").is_err());
        assert!(parse_format("%*d").is_err());
    }
}
