//! Parsing printf format strings at compile time, to check argument counts and types.

/// One `%` conversion in a format string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conversion {
    /// The conversion letter, e.g. `d`, `s`, `x`.
    pub letter: char,
}

impl Conversion {
    /// True when the conversion prints an integer (everything but `%s`).
    pub fn wants_int(&self) -> bool {
        self.letter != 's' && self.letter != 'r'
    }
}

/// A malformed format string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// `%` at the end of the string.
    #[error("'%' at the end of the format")]
    Trailing,
    /// An unknown conversion letter.
    #[error("unknown conversion '%{0}'")]
    Unknown(char),
}

/// The conversions of `format` in order (`%%` is not one).
pub fn parse_format(format: &str) -> Result<Vec<Conversion>, FormatError> {
    let mut out = Vec::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            continue;
        }
        // Flags, width, precision, then length modifiers, in C's order (what the runtime's
        // formatter accepts: `%l0x` is not a conversion there, so it is not one here).
        for set in ["-+ #0", "0123456789", ".", "0123456789", "lhzjt"] {
            while let Some(&c) = chars.peek() {
                if set.contains(c) {
                    chars.next();
                    if set == "." {
                        break;
                    }
                } else {
                    break;
                }
            }
        }
        match chars.next() {
            None => return Err(FormatError::Trailing),
            Some('%') => {}
            Some(l @ ('d' | 'i' | 'u' | 'x' | 'X' | 'o' | 's' | 'c' | 'p' | 'r')) => {
                out.push(Conversion { letter: l })
            }
            Some(other) => return Err(FormatError::Unknown(other)),
        }
    }
    Ok(out)
}
