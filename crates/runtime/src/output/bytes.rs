//! Reading little-endian integers out of record and map bytes: a leaf that every decoder
//! and renderer may use.

/// Reads up to 8 little-endian bytes as an unsigned integer.
pub(crate) fn read_uint(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .take(8)
        .enumerate()
        .fold(0u64, |acc, (i, b)| acc | (u64::from(*b) << (8 * i)))
}
