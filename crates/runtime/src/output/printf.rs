//! Formatting a `printf` ring-buffer record.

use kestrel_obj::{Field, PrintfSpec, ScalarType};

use super::decode::{buf_data, read_uint, string_bytes};
use super::format::{
    parse_format, write_int, write_str, ArgClass, ConvKind, FormatError, IntArg, Piece,
};
use super::OutputError;

/// A `printf` call site with its format parsed once, ready to format many records.
#[derive(Clone, Debug)]
pub struct PrintfFormatter {
    pieces: Vec<Piece>,
    args: Vec<Field>,
}

fn class(ty: &ScalarType) -> ArgClass {
    match ty {
        ScalarType::Int { .. } => ArgClass::Int,
        ScalarType::Str { .. }
        | ScalarType::Inet
        | ScalarType::Tuple { .. }
        | ScalarType::Username
        | ScalarType::Errno
        | ScalarType::Mac
        | ScalarType::Buf { .. }
        | ScalarType::KStack { .. }
        | ScalarType::UStack { .. }
        | ScalarType::Ksym
        | ScalarType::Usym
        | ScalarType::Timestamp { .. } => ArgClass::Str,
    }
}

impl PrintfFormatter {
    /// Parses the format and checks it against the recorded argument types.
    pub fn new(spec: &PrintfSpec) -> Result<Self, OutputError> {
        let classes: Vec<ArgClass> = spec.args.iter().map(|a| class(&a.ty)).collect();
        super::format::validate_format(&spec.format, &classes)?;
        Ok(PrintfFormatter {
            pieces: parse_format(&spec.format)?,
            args: spec.args.clone(),
        })
    }

    /// Formats one record (8-byte event id, then the arguments at their offsets).
    ///
    /// Non-UTF-8 bytes in strings come out as U+FFFD.
    pub fn format(&self, record: &[u8]) -> Result<String, OutputError> {
        let mut out = Vec::new();
        let mut next = 0;
        for piece in &self.pieces {
            let conv = match piece {
                Piece::Literal(s) => {
                    out.extend_from_slice(s.as_bytes());
                    continue;
                }
                Piece::Conv(c) => c,
            };
            let Some(field) = self.args.get(next) else {
                return Err(FormatError::ArgCount {
                    conversions: next + 1,
                    args: self.args.len(),
                }
                .into());
            };
            let start = usize::try_from(field.offset).unwrap_or(usize::MAX);
            let end = start.saturating_add(usize::try_from(field.ty.size()).unwrap_or(usize::MAX));
            let bytes = record.get(start..end).ok_or(OutputError::ShortRecord {
                arg: next,
                start,
                end,
                len: record.len(),
            })?;
            match field.ty {
                ScalarType::Int { size, signed } => write_int(
                    conv,
                    IntArg {
                        bits: read_uint(bytes),
                        size,
                        signed,
                    },
                    &mut out,
                ),
                ScalarType::Str { .. }
                | ScalarType::Inet
                | ScalarType::Tuple { .. }
                | ScalarType::Username
                | ScalarType::Errno
                | ScalarType::Mac
                | ScalarType::Buf { .. }
                | ScalarType::KStack { .. }
                | ScalarType::UStack { .. }
                | ScalarType::Ksym
                | ScalarType::Usym
                | ScalarType::Timestamp { .. } => {
                    if !conv.kind.accepts(ArgClass::Str) {
                        return Err(FormatError::TypeMismatch {
                            spec: conv.spec.clone(),
                            index: next,
                            found: ArgClass::Str,
                        }
                        .into());
                    }
                    // Strings print their bytes up to the NUL; the other kinds their text.
                    let text = match (conv.kind, &field.ty) {
                        (ConvKind::Buffer(style), ScalarType::Buf { len }) => {
                            style.render(buf_data(*len, bytes)).into_bytes()
                        }
                        (ConvKind::Buffer(style), ScalarType::Str { .. }) => {
                            style.render(&string_bytes(bytes)).into_bytes()
                        }
                        (_, ScalarType::Str { .. }) => string_bytes(bytes),
                        (_, ty) if super::symbols::is_symbolic(ty) => {
                            super::symbols::render(ty, bytes, super::symbols::Place::Printf)
                                .into_bytes()
                        }
                        (_, ty) => super::decode::format_scalar(ty, bytes).into_bytes(),
                    };
                    write_str(conv, &text, &mut out)
                }
            }
            next += 1;
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

/// Formats one `printf` record; see [`PrintfFormatter`] to parse the format only once.
pub fn format_printf(spec: &PrintfSpec, record: &[u8]) -> Result<String, OutputError> {
    PrintfFormatter::new(spec)?.format(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(format: &str, args: &[ScalarType]) -> PrintfSpec {
        let mut offset = 8;
        let mut fields = Vec::new();
        for ty in args {
            fields.push(Field {
                offset,
                ty: ty.clone(),
            });
            offset += ty.size().div_ceil(8) * 8;
        }
        PrintfSpec {
            format: format.into(),
            args: fields,
            record_size: offset,
        }
    }

    const I64: ScalarType = ScalarType::Int {
        size: 8,
        signed: true,
    };
    const U64: ScalarType = ScalarType::Int {
        size: 8,
        signed: false,
    };

    fn record(parts: &[&[u8]]) -> Vec<u8> {
        let mut r = 3u64.to_le_bytes().to_vec();
        for p in parts {
            r.extend_from_slice(p);
        }
        r
    }

    fn str16(s: &str) -> Vec<u8> {
        let mut b = s.as_bytes().to_vec();
        b.resize(16, 0);
        b
    }

    #[test]
    fn string_and_number() {
        let sp = spec("%s %d\n", &[ScalarType::Str { len: 16 }, I64]);
        let r = record(&[&str16("bash"), &(-5i64).to_le_bytes()]);
        assert_eq!(format_printf(&sp, &r), Ok("bash -5\n".to_string()));
    }

    #[test]
    fn no_arguments_and_escapes_already_decoded() {
        let sp = spec("hi \"x\"\n\t100%\n", &[]);
        assert_eq!(
            format_printf(&sp, &record(&[])),
            Ok("hi \"x\"\n\t100%\n".to_string())
        );
    }

    /// Same script run through bpftrace 0.17 on this machine:
    /// `printf("%-5c|%3c|\n", 65, 66)` printed `A    |  B|`;
    /// `printf("%5d|%-5d|%05d\n", -3, -3, -3)` printed `   -3|-3   |-0003`;
    /// `printf("%lld %lu %hhd %zd %jd\n", 1, 2, 3, 4, 5)` printed `1 2 3 4 5`;
    /// `printf("%llx %lld\n", -1, -1)` printed `ffffffffffffffff -1`;
    /// `printf("%.3d|%5.3x\n", 7, 10)` printed `007|  00a`;
    /// `printf("%p|\n", 0)` printed `(nil)|`.
    #[test]
    fn matches_bpftrace_017() {
        let n = |v: i64| v.to_le_bytes();
        let cases: Vec<(&str, Vec<i64>, &str)> = vec![
            ("%-5c|%3c|\n", vec![65, 66], "A    |  B|\n"),
            ("%5d|%-5d|%05d\n", vec![-3, -3, -3], "   -3|-3   |-0003\n"),
            (
                "%lld %lu %hhd %zd %jd\n",
                vec![1, 2, 3, 4, 5],
                "1 2 3 4 5\n",
            ),
            ("%llx %lld\n", vec![-1, -1], "ffffffffffffffff -1\n"),
            ("%.3d|%5.3x\n", vec![7, 10], "007|  00a\n"),
            ("%p|\n", vec![0], "(nil)|\n"),
            ("%p\n", vec![4096], "0x1000\n"),
            ("%X %lX\n", vec![255, 255], "FF FF\n"),
            ("%.0d|\n", vec![0], "|\n"),
            ("%c|\n", vec![0x4142], "B|\n"),
        ];
        for (fmt, args, want) in cases {
            let sp = spec(fmt, &vec![I64; args.len()]);
            let bytes: Vec<[u8; 8]> = args.iter().map(|a| n(*a)).collect();
            let parts: Vec<&[u8]> = bytes.iter().map(|b| &b[..]).collect();
            assert_eq!(
                format_printf(&sp, &record(&parts)).as_deref(),
                Ok(want),
                "{fmt}"
            );
        }
    }

    /// Like bpftrace (0.17 and current), `%x` and `%u` without a length modifier print a
    /// C `unsigned int`: the value cut to 32 bits; `%l...` prints all 64. kestrel prints `%%`
    /// as one `%` (0.17 printed it twice).
    #[test]
    fn unmodified_conversions_are_32_bits() {
        let sp = spec("%x %u %lx %%\n", &[I64, I64, U64]);
        let r = record(&[
            &(-1i64).to_le_bytes(),
            &(-1i64).to_le_bytes(),
            &5_000_000_000u64.to_le_bytes(),
        ]);
        assert_eq!(
            format_printf(&sp, &r).as_deref(),
            Ok("ffffffff 4294967295 12a05f200 %\n")
        );
    }

    #[test]
    fn buffers_in_three_styles() {
        let sp = spec("%r|%rx|%rh\n", &vec![ScalarType::Buf { len: 4 }; 3]);
        let mut b = 3u64.to_le_bytes().to_vec();
        b.extend_from_slice(b"A\x00z\x99\0\0\0\0");
        let r = record(&[&b, &b, &b]);
        assert_eq!(
            format_printf(&sp, &r).as_deref(),
            Ok("A\\x00z|\\x41\\x00\\x7a|41 00 7a\n")
        );
    }

    #[test]
    fn narrow_integer_fields() {
        let sp = spec(
            "%x %d %u\n",
            &[
                ScalarType::Int {
                    size: 4,
                    signed: true,
                },
                ScalarType::Int {
                    size: 1,
                    signed: true,
                },
                ScalarType::Int {
                    size: 2,
                    signed: false,
                },
            ],
        );
        let r = record(&[
            &[0xff; 8],
            &[0xff, 0, 0, 0, 0, 0, 0, 0],
            &[0x34, 0x12, 0, 0, 0, 0, 0, 0],
        ]);
        assert_eq!(format_printf(&sp, &r).as_deref(), Ok("ffffffff -1 4660\n"));
    }

    #[test]
    fn strings_cut_at_nul_or_marked_truncated() {
        let sp = spec(
            "[%s][%s]\n",
            &[ScalarType::Str { len: 8 }, ScalarType::Str { len: 8 }],
        );
        let r = record(&[b"ab\0cdefg", b"abcdefgh"]);
        assert_eq!(format_printf(&sp, &r).as_deref(), Ok("[ab][abcdefgh..]\n"));
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let sp = spec("%s|%c\n", &[ScalarType::Str { len: 8 }, I64]);
        let r = record(&[b"a\xffb\0\0\0\0\0", &0xe9i64.to_le_bytes()]);
        assert_eq!(
            format_printf(&sp, &r).as_deref(),
            Ok("a\u{fffd}b|\u{fffd}\n")
        );
    }

    #[test]
    fn short_record_is_an_error() {
        let sp = spec("%d %d\n", &[I64, I64]);
        let r = record(&[&1i64.to_le_bytes(), &[1, 2, 3]]);
        assert_eq!(
            format_printf(&sp, &r),
            Err(OutputError::ShortRecord {
                arg: 1,
                start: 16,
                end: 24,
                len: 19
            })
        );
        assert!(format_printf(&sp, &[]).is_err());
        let far = PrintfSpec {
            format: "%d".into(),
            args: vec![Field {
                offset: u32::MAX,
                ty: I64,
            }],
            record_size: 16,
        };
        assert!(matches!(
            format_printf(&far, &[0; 16]),
            Err(OutputError::ShortRecord { .. })
        ));
    }

    #[test]
    fn spec_that_does_not_fit_its_format_is_an_error() {
        let sp = spec("%d %d\n", &[I64]);
        assert!(matches!(
            PrintfFormatter::new(&sp),
            Err(OutputError::Format(FormatError::ArgCount {
                conversions: 2,
                args: 1
            }))
        ));
        let sp = spec("%d\n", &[ScalarType::Str { len: 8 }]);
        assert_eq!(
            PrintfFormatter::new(&sp)
                .err()
                .map(|e| e.to_string())
                .as_deref(),
            Some("printf: %d expects an integer, but argument 1 is a string")
        );
    }

    #[test]
    fn formatter_is_reusable() -> Result<(), OutputError> {
        let f = PrintfFormatter::new(&spec("%d\n", &[I64]))?;
        assert_eq!(f.format(&record(&[&1i64.to_le_bytes()]))?, "1\n");
        assert_eq!(f.format(&record(&[&2i64.to_le_bytes()]))?, "2\n");
        Ok(())
    }
}
