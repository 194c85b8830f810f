//! The HPACK Huffman code (RFC 7541 Appendix B).
//!
//! The code is canonical: codes of one length are consecutive, in symbol order, and each
//! length starts where the previous one ended, shifted. So the table is just the code length
//! of each of the 257 symbols (256 is EOS); the decoder walks lengths, not a tree.

use std::sync::OnceLock;

/// Code length in bits of each symbol 0..=255 and EOS (256), from RFC 7541 Appendix B.
pub const CODE_LENGTHS: [u8; 257] = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28,
    28, 28, 28, 28, 28, 28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5,
    5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, 15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6,
    6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, 20, 22, 20, 20, 22, 22, 22, 23, 22,
    23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, 22,
    21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20,
    22, 22, 22, 23, 22, 22, 23, 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19,
    21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22,
    22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, 30,
];

/// Canonical decoding tables: for each length, the first code and the index of its first
/// symbol in `symbols`.
struct Canon {
    /// `first_code[len]`, `first_index[len]`, `count[len]` for len 0..=30.
    first_code: [u32; 31],
    first_index: [u16; 31],
    count: [u16; 31],
    /// Symbols ordered by (length, value).
    symbols: Vec<u16>,
}

fn canon() -> &'static Canon {
    static C: OnceLock<Canon> = OnceLock::new();
    C.get_or_init(|| {
        let mut symbols: Vec<u16> = (0..257u16).collect();
        symbols.sort_by_key(|&s| (CODE_LENGTHS[s as usize], s));
        let mut count = [0u16; 31];
        for &l in CODE_LENGTHS.iter() {
            count[l as usize] += 1;
        }
        let mut first_code = [0u32; 31];
        let mut first_index = [0u16; 31];
        let mut code = 0u32;
        let mut index = 0u16;
        for len in 1..31 {
            code = (code + u32::from(count[len - 1])) << 1;
            first_code[len] = code;
            first_index[len] = index;
            index += count[len];
        }
        Canon {
            first_code,
            first_index,
            count,
            symbols,
        }
    })
}

/// The code of `sym` and its length (for tests and encoders).
pub fn code_of(sym: u16) -> Option<(u32, u8)> {
    let c = canon();
    let len = *CODE_LENGTHS.get(sym as usize)?;
    let start = c.first_index[len as usize] as usize;
    let end = start + c.count[len as usize] as usize;
    let pos = c.symbols[start..end].iter().position(|&s| s == sym)?;
    Some((c.first_code[len as usize] + pos as u32, len))
}

/// Why a Huffman string did not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HuffmanError {
    /// The EOS symbol appeared in the data.
    #[error("EOS symbol inside a Huffman string")]
    Eos,
    /// Padding longer than 7 bits or not all ones.
    #[error("bad Huffman padding")]
    Padding,
    /// The decoded string exceeds the limit.
    #[error("Huffman string longer than {0} bytes")]
    TooLong(usize),
}

/// Decode a Huffman-coded string, at most `limit` bytes out.
pub fn decode(input: &[u8], limit: usize) -> Result<Vec<u8>, HuffmanError> {
    let c = canon();
    let mut out = Vec::with_capacity(input.len() * 8 / 5);
    let mut code: u32 = 0;
    let mut len: usize = 0;
    for &byte in input {
        for bit in (0..8).rev() {
            code = (code << 1) | u32::from((byte >> bit) & 1);
            len += 1;
            let n = u32::from(c.count[len]);
            if n > 0 && code >= c.first_code[len] && code - c.first_code[len] < n {
                let sym =
                    c.symbols[c.first_index[len] as usize + (code - c.first_code[len]) as usize];
                if sym == 256 {
                    return Err(HuffmanError::Eos);
                }
                if out.len() >= limit {
                    return Err(HuffmanError::TooLong(limit));
                }
                out.push(sym as u8);
                code = 0;
                len = 0;
            } else if len >= 30 {
                return Err(HuffmanError::Eos);
            }
        }
    }
    // Leftover bits must be a prefix of EOS (all ones) and shorter than a byte.
    if len > 7 || code != (1u32 << len) - 1 {
        return Err(HuffmanError::Padding);
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_rfc_table() {
        assert_eq!(code_of(0), Some((0x1ff8, 13)));
        assert_eq!(code_of(1), Some((0x7fffd8, 23)));
        assert_eq!(code_of(10), Some((0x3ffffffc, 30)));
        assert_eq!(code_of(b' ' as u16), Some((0x14, 6)));
        assert_eq!(code_of(b'0' as u16), Some((0x0, 5)));
        assert_eq!(code_of(b'a' as u16), Some((0x3, 5)));
        assert_eq!(code_of(b'\\' as u16), Some((0x7fff0, 19)));
        assert_eq!(code_of(127), Some((0xffffffc, 28)));
        assert_eq!(code_of(128), Some((0xfffe6, 20)));
        assert_eq!(code_of(255), Some((0x3ffffee, 26)));
        assert_eq!(code_of(256), Some((0x3fffffff, 30)));
        let kraft: f64 = CODE_LENGTHS
            .iter()
            .map(|&l| 0.5f64.powi(i32::from(l)))
            .sum();
        assert!((kraft - 1.0).abs() < 1e-12);
    }

    #[test]
    fn decodes_rfc_examples_and_rejects_bad_padding() {
        // C.4.1: "www.example.com"
        let www = [
            0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff,
        ];
        assert_eq!(decode(&www, 100).unwrap(), b"www.example.com");
        assert_eq!(
            decode(&[0xa8, 0xeb, 0x10, 0x64, 0x9c, 0xbf], 100).unwrap(),
            b"no-cache"
        );
        assert_eq!(decode(&[0x00], 10), Err(HuffmanError::Padding));
        assert_eq!(
            decode(&[0xff, 0xff, 0xff, 0xff], 10),
            Err(HuffmanError::Eos)
        );
        assert!(decode(&www, 3).is_err());
        assert_eq!(decode(&[], 10).unwrap(), b"");
    }
}
