//! Rendering one `printf` conversion. The format grammar itself (parsing, checking against
//! argument kinds) is kestrel-obj's [`kestrel_obj::printf`], shared with the compiler.

pub use kestrel_obj::printf::*;

/// An integer argument as it sits in a record: raw bits and the type they came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IntArg {
    /// The value's bytes, little endian, zero-extended to 64 bits.
    pub bits: u64,
    /// Width in bytes (1, 2, 4 or 8; anything else is treated as 8).
    pub size: u8,
    /// Whether the type is signed.
    pub signed: bool,
}

impl IntArg {
    fn width_bits(self) -> u32 {
        match self.size {
            1 => 8,
            2 => 16,
            4 => 32,
            _ => 64,
        }
    }

    fn mask(self) -> u64 {
        u64::MAX >> (64 - self.width_bits())
    }

    /// The bits at the argument's width: what C's unsigned conversions print.
    pub fn unsigned_bits(self) -> u64 {
        self.bits & self.mask()
    }

    /// The value the argument's type gives these bits.
    pub fn value(self) -> i128 {
        let bits = self.unsigned_bits();
        if !self.signed {
            return i128::from(bits);
        }
        let shift = 64 - self.width_bits();
        i128::from(((bits << shift) as i64) >> shift)
    }

    /// The value converted to the C type of `length` (signed or not), as bpftrace converts
    /// a value before printing it: the bits beyond that width are dropped.
    pub fn converted(self, length: Length, signed: bool) -> IntArg {
        // The value at its own type, then truncated or extended to the target width.
        let v = self.value() as u64;
        let size = match length {
            Length::Char => 1,
            Length::Short => 2,
            Length::Int => 4,
            Length::Long => 8,
        };
        IntArg {
            bits: v & (u64::MAX >> (64 - length.bits())),
            size,
            signed,
        }
    }
}

fn pad(out: &mut Vec<u8>, body: &[u8], width: Option<usize>, left: bool) {
    let fill = width.unwrap_or(0).saturating_sub(body.len());
    if !left {
        out.extend(std::iter::repeat_n(b' ', fill));
    }
    out.extend_from_slice(body);
    if left {
        out.extend(std::iter::repeat_n(b' ', fill));
    }
}

/// Appends `s` as `%s` with this conversion's width, precision and `-` flag.
pub fn write_str(conv: &Conversion, s: &[u8], out: &mut Vec<u8>) {
    let s = match conv.precision {
        Some(p) if p < s.len() => &s[..p],
        _ => s,
    };
    pad(out, s, conv.width, conv.flags.left);
}

/// Appends an integer formatted by this conversion, following C's rules.
pub fn write_int(conv: &Conversion, arg: IntArg, out: &mut Vec<u8>) {
    match conv.kind {
        ConvKind::Char => {
            let byte = (arg.bits & 0xff) as u8;
            pad(out, &[byte], conv.width, conv.flags.left);
        }
        ConvKind::Buffer(_) => {
            let text = arg.value().to_string();
            write_str(conv, text.as_bytes(), out);
        }
        ConvKind::Str => {
            let text = arg.value().to_string();
            write_str(conv, text.as_bytes(), out);
        }
        ConvKind::Pointer => {
            // Pointers are 64-bit: narrower signed values are sign-extended, as C would
            // when converting them to a pointer.
            let v = if arg.signed {
                arg.value() as u64
            } else {
                arg.unsigned_bits()
            };
            let body = if v == 0 {
                "(nil)".to_string()
            } else {
                format!("0x{v:x}")
            };
            pad(out, body.as_bytes(), conv.width, conv.flags.left);
        }
        ConvKind::Signed => {
            let v = arg.converted(conv.length, true).value();
            let sign = if v < 0 {
                "-"
            } else if conv.flags.plus {
                "+"
            } else if conv.flags.space {
                " "
            } else {
                ""
            };
            write_number(conv, sign, "", v.unsigned_abs().to_string(), v == 0, out);
        }
        ConvKind::Unsigned | ConvKind::Octal | ConvKind::HexLower | ConvKind::HexUpper => {
            let v = arg.converted(conv.length, false).unsigned_bits();
            let (digits, prefix) = match conv.kind {
                ConvKind::Octal => (format!("{v:o}"), ""),
                ConvKind::HexLower => (
                    format!("{v:x}"),
                    if conv.flags.alt && v != 0 { "0x" } else { "" },
                ),
                ConvKind::HexUpper => (
                    format!("{v:X}"),
                    if conv.flags.alt && v != 0 { "0X" } else { "" },
                ),
                _ => (v.to_string(), ""),
            };
            write_number(conv, "", prefix, digits, v == 0, out);
        }
    }
}

fn write_number(
    conv: &Conversion,
    sign: &str,
    prefix: &str,
    digits: String,
    zero: bool,
    out: &mut Vec<u8>,
) {
    let mut digits = match conv.precision {
        Some(0) if zero => String::new(),
        Some(p) if p > digits.len() => format!("{}{digits}", "0".repeat(p - digits.len())),
        _ => digits,
    };
    if conv.kind == ConvKind::Octal && conv.flags.alt && !digits.starts_with('0') {
        digits.insert(0, '0');
    }
    let len = sign.len() + prefix.len() + digits.len();
    let fill = conv.width.unwrap_or(0).saturating_sub(len);
    if conv.flags.left {
        out.extend_from_slice(sign.as_bytes());
        out.extend_from_slice(prefix.as_bytes());
        out.extend_from_slice(digits.as_bytes());
        out.extend(std::iter::repeat_n(b' ', fill));
    } else if conv.flags.zero && conv.precision.is_none() {
        out.extend_from_slice(sign.as_bytes());
        out.extend_from_slice(prefix.as_bytes());
        out.extend(std::iter::repeat_n(b'0', fill));
        out.extend_from_slice(digits.as_bytes());
    } else {
        out.extend(std::iter::repeat_n(b' ', fill));
        out.extend_from_slice(sign.as_bytes());
        out.extend_from_slice(prefix.as_bytes());
        out.extend_from_slice(digits.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convs(format: &str) -> Vec<Conversion> {
        parse_format(format)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|p| match p {
                Piece::Conv(c) => Some(c),
                Piece::Literal(_) => None,
            })
            .collect()
    }

    /// Renders `spec` (literals and conversions) with every conversion given `arg`.
    fn render(spec: &str, mut conv: impl FnMut(&Conversion, &mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        for p in parse_format(spec).unwrap_or_default() {
            match p {
                Piece::Literal(l) => out.extend_from_slice(l.as_bytes()),
                Piece::Conv(c) => conv(&c, &mut out),
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    fn int(spec: &str, bits: u64, size: u8, signed: bool) -> String {
        render(spec, |c, out| {
            write_int(c, IntArg { bits, size, signed }, out)
        })
    }

    fn i64v(spec: &str, v: i64) -> String {
        int(spec, v as u64, 8, true)
    }

    fn s(spec: &str, text: &str) -> String {
        render(spec, |c, out| write_str(c, text.as_bytes(), out))
    }

    #[test]
    fn count_mismatch_messages() {
        let e = validate_format("%d\n", &[]).err();
        assert_eq!(
            e.map(|e| e.to_string()).as_deref(),
            Some("printf: format has 1 conversion but 0 arguments")
        );
        let e = validate_format("%d %d\n", &[ArgClass::Int]).err();
        assert_eq!(
            e.map(|e| e.to_string()).as_deref(),
            Some("printf: format has 2 conversions but 1 argument")
        );
        let e = validate_format("x\n", &[ArgClass::Int, ArgClass::Int]).err();
        assert_eq!(
            e.map(|e| e.to_string()).as_deref(),
            Some("printf: format has 0 conversions but 2 arguments")
        );
    }

    #[test]
    fn type_mismatches_follow_bpftrace() {
        // bpftrace (0.17 and current) rejects an integer conversion given a string.
        for spec in ["%d", "%i", "%u", "%x", "%X", "%o", "%c", "%p", "%ld"] {
            let e = validate_format(spec, &[ArgClass::Str]);
            assert_eq!(
                e,
                Err(FormatError::TypeMismatch {
                    spec: spec.to_string(),
                    index: 0,
                    found: ArgClass::Str
                })
            );
        }
        let e = validate_format("%s %d", &[ArgClass::Str, ArgClass::Str]).err();
        assert_eq!(
            e.map(|e| e.to_string()).as_deref(),
            Some("printf: %d expects an integer, but argument 2 is a string")
        );
        // Current bpftrace lets %s print anything (0.17 rejected an integer).
        assert!(validate_format("%s", &[ArgClass::Int]).is_ok());
    }

    #[test]
    fn unsupported_conversions() {
        for (spec, bad) in [
            ("%f", "%f"),
            ("%.2e", "%.2e"),
            ("%n", "%n"),
            ("%*d", "%*"),
            ("%.*d", "%.*"),
        ] {
            match validate_format(spec, &[ArgClass::Int]) {
                Err(FormatError::Unsupported { spec: s, .. }) => assert_eq!(s, bad),
                other => panic!("{spec}: {other:?}"),
            }
        }
        assert!(matches!(
            validate_format("%99999999999999999999d", &[ArgClass::Int]),
            Err(FormatError::Unsupported { .. })
        ));
    }

    #[test]
    fn literal_percent_signs() {
        assert_eq!(
            parse_format("a%%b\n"),
            Ok(vec![Piece::Literal("a%b\n".into())])
        );
        assert_eq!(
            parse_format("100%"),
            Ok(vec![Piece::Literal("100%".into())])
        );
        assert_eq!(
            parse_format("%q %5"),
            Ok(vec![Piece::Literal("%q %5".into())])
        );
        assert_eq!(parse_format("%%d"), Ok(vec![Piece::Literal("%d".into())]));
        assert_eq!(parse_format("%5%"), Ok(vec![Piece::Literal("%".into())]));
        assert_eq!(parse_format(""), Ok(vec![]));
        assert_eq!(
            validate_format("%%d %d", &[ArgClass::Int]).map(|v| v.len()),
            Ok(1)
        );
        // Non-ASCII text around directives survives.
        assert_eq!(
            parse_format("é%dü"),
            Ok(vec![
                Piece::Literal("é".into()),
                Piece::Conv(Conversion {
                    flags: Flags::default(),
                    width: None,
                    precision: None,
                    length: Length::Int,
                    kind: ConvKind::Signed,
                    spec: "%d".into()
                }),
                Piece::Literal("ü".into()),
            ])
        );
    }

    #[test]
    fn parses_flags_width_precision_length() {
        let c = convs("%-+ #08.3lld");
        assert_eq!(c.len(), 1);
        let c = &c[0];
        assert_eq!(
            c.flags,
            Flags {
                left: true,
                plus: true,
                space: true,
                alt: true,
                zero: true
            }
        );
        assert_eq!(
            (c.width, c.precision, c.kind),
            (Some(8), Some(3), ConvKind::Signed)
        );
        assert_eq!(c.spec, "%-+ #08.3lld");
        for (spec, kind) in [
            ("%hhd", ConvKind::Signed),
            ("%hu", ConvKind::Unsigned),
            ("%zx", ConvKind::HexLower),
            ("%jX", ConvKind::HexUpper),
            ("%to", ConvKind::Octal),
            ("%lc", ConvKind::Char),
            ("%ls", ConvKind::Str),
            ("%p", ConvKind::Pointer),
            ("%i", ConvKind::Signed),
        ] {
            assert_eq!(convs(spec).first().map(|c| c.kind), Some(kind), "{spec}");
        }
        assert_eq!(convs("%.d")[0].precision, Some(0));
    }

    #[test]
    fn signed_decimal() {
        assert_eq!(i64v("%d", 42), "42");
        assert_eq!(i64v("%i", -42), "-42");
        assert_eq!(i64v("%+d", 5), "+5");
        assert_eq!(i64v("%+d", -5), "-5");
        assert_eq!(i64v("% d", 5), " 5");
        assert_eq!(i64v("%+ d", 5), "+5");
        assert_eq!(i64v("%5d", -3), "   -3");
        assert_eq!(i64v("%-5d|", -3), "-3   |");
        assert_eq!(i64v("%05d", -3), "-0003");
        assert_eq!(i64v("%-05d|", 7), "7    |");
        assert_eq!(i64v("%.3d", 7), "007");
        assert_eq!(i64v("%08.3d", 7), "     007");
        assert_eq!(i64v("%.0d", 0), "");
        assert_eq!(i64v("%ld", i64::MIN), "-9223372036854775808");
        assert_eq!(int("%d", u64::MAX, 8, false), "-1");
        assert_eq!(int("%lld", u64::MAX, 8, false), "-1");
        assert_eq!(int("%d", 200, 1, false), "200");
        assert_eq!(int("%d", 0xff, 1, true), "-1");
        assert_eq!(int("%d", 0xfffe, 2, true), "-2");
        assert_eq!(int("%d", 0xffff_ffff, 4, true), "-1");
        // High garbage bits beyond the argument's width are ignored.
        assert_eq!(int("%d", 0xdead_00ff, 1, false), "255");
    }

    #[test]
    fn unsigned_hex_octal() {
        assert_eq!(i64v("%lu", -1), "18446744073709551615");
        // A signed byte of -1 converted to `unsigned int`, as C does.
        assert_eq!(int("%u", 0xff, 1, true), "4294967295");
        assert_eq!(int("%u", 0xff, 1, false), "255");
        assert_eq!(int("%x", 0xffff_ffff, 4, true), "ffffffff");
        assert_eq!(i64v("%lx", -1), "ffffffffffffffff");
        assert_eq!(int("%x", 0xffff, 2, true), "ffffffff");
        assert_eq!(int("%x", 0xffff, 2, false), "ffff");
        assert_eq!(i64v("%x", 255), "ff");
        assert_eq!(i64v("%X", 255), "FF");
        assert_eq!(i64v("%#x", 255), "0xff");
        assert_eq!(i64v("%#X", 255), "0XFF");
        assert_eq!(i64v("%#x", 0), "0");
        assert_eq!(i64v("%08x", 255), "000000ff");
        assert_eq!(i64v("%#08x", 255), "0x0000ff");
        assert_eq!(i64v("%-6x|", 255), "ff    |");
        assert_eq!(i64v("%5.3x", 10), "  00a");
        assert_eq!(i64v("%o", 8), "10");
        assert_eq!(i64v("%#o", 8), "010");
        assert_eq!(i64v("%#o", 0), "0");
        assert_eq!(i64v("%#.3o", 8), "010");
        assert_eq!(i64v("%lo", -1), "1777777777777777777777");
        assert_eq!(i64v("%+u", 5), "5");
    }

    /// Current bpftrace converts a value to the C type of its conversion and length
    /// modifier before printing (src/format_string.cpp: `int` when there is no modifier).
    #[test]
    fn length_modifiers_truncate_like_bpftrace() {
        let v = 0x1122_3344_5566_7788u64;
        let all = |spec| int(spec, v, 8, false);
        assert_eq!(all("%hhx|%hx|%x|%lx"), "88|7788|55667788|1122334455667788");
        assert_eq!(
            all("%llx|%jx|%zx|%tx"),
            "1122334455667788|1122334455667788|1122334455667788|1122334455667788"
        );
        assert_eq!(i64v("%x", -1), "ffffffff");
        assert_eq!(i64v("%u", -1), "4294967295");
        assert_eq!(i64v("%hu", -1), "65535");
        assert_eq!(i64v("%hhu", -1), "255");
        assert_eq!(i64v("%d", 0xffff_ffff), "-1");
        assert_eq!(i64v("%d", 5_000_000_000), "705032704");
        assert_eq!(i64v("%ld", 5_000_000_000), "5000000000");
        assert_eq!(i64v("%hhd", 0x80), "-128");
        assert_eq!(i64v("%hd", 0x8000), "-32768");
        assert_eq!(i64v("%o", -1), "37777777777");
        // A narrow signed argument is sign-extended before it is widened.
        assert_eq!(int("%lx", 0xff, 1, true), "ffffffffffffffff");
        assert_eq!(int("%lx", 0xff, 1, false), "ff");
    }

    #[test]
    fn buffer_styles() {
        let data = b"a\x01Z";
        assert_eq!(BufStyle::Ascii.render(data), "a\\x01Z");
        assert_eq!(BufStyle::Escaped.render(data), "\\x61\\x01\\x5a");
        assert_eq!(BufStyle::Hex.render(data), "61 01 5a");
        assert_eq!(BufStyle::Hex.render(&[]), "");
        for (spec, style) in [
            ("%r", BufStyle::Ascii),
            ("%rx", BufStyle::Escaped),
            ("%rh", BufStyle::Hex),
        ] {
            assert_eq!(convs(spec)[0].kind, ConvKind::Buffer(style), "{spec}");
        }
        assert!(validate_format("%rx", &[ArgClass::Str]).is_ok());
    }

    #[test]
    fn char_pointer_and_int_as_string() {
        assert_eq!(i64v("%c", 65), "A");
        assert_eq!(i64v("%c", 0x4142), "B");
        assert_eq!(i64v("%-5c|", 65), "A    |");
        assert_eq!(i64v("%3c|", 66), "  B|");
        assert_eq!(i64v("%p", 4096), "0x1000");
        assert_eq!(i64v("%p", 0), "(nil)");
        assert_eq!(int("%p", 0xff, 1, true), "0xffffffffffffffff");
        assert_eq!(i64v("%10p|", 4096), "    0x1000|");
        assert_eq!(i64v("%s", -5), "-5");
        assert_eq!(i64v("%4s|", 7), "   7|");
        assert_eq!(int("%s", u64::MAX, 8, false), "18446744073709551615");
    }

    #[test]
    fn strings() {
        assert_eq!(s("%s", "abc"), "abc");
        assert_eq!(s("%5.2s|", "abcdef"), "   ab|");
        assert_eq!(s("%10s|", "ab"), "        ab|");
        assert_eq!(s("%-10s|", "cd"), "cd        |");
        assert_eq!(s("%05s|", "ab"), "   ab|");
        assert_eq!(s("%.0s|", "ab"), "|");
        assert_eq!(s("%s|", ""), "|");
    }
}
