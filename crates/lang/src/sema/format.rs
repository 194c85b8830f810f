//! printf format strings at compile time: the conversions, parsed by the one grammar the
//! runtime's formatter also uses (kestrel-obj's `printf` module), so a format sema accepts is
//! exactly a format the runtime can render.

pub use kestrel_obj::printf::{ConvKind, Conversion, FormatError};

/// Whether conversion `c` needs an integer argument (everything but `%s` and the `%r`
/// buffer conversions, which also take strings and buffers).
pub fn wants_int(c: &Conversion) -> bool {
    !matches!(c.kind, ConvKind::Str | ConvKind::Buffer(_))
}

/// The conversions of `format` in order (`%%` is not one; a `%` that starts no known
/// conversion is literal text, as in bpftrace).
pub fn parse_format(format: &str) -> Result<Vec<Conversion>, FormatError> {
    Ok(kestrel_obj::printf::parse_format(format)?
        .into_iter()
        .filter_map(|p| match p {
            kestrel_obj::printf::Piece::Conv(c) => Some(c),
            kestrel_obj::printf::Piece::Literal(_) => None,
        })
        .collect())
}
