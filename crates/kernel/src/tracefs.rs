//! Tracepoint identities and the parsed shape of their `format` files, with helpers the
//! compiler uses to type fields (pointer, array, `__data_loc`, string).

/// A tracepoint's identity: `category:name`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TracepointId {
    /// Category (the tracefs `events/` subdirectory), e.g. `syscalls`.
    pub category: String,
    /// Event name, e.g. `sys_enter_openat`.
    pub name: String,
}

/// One field of a tracepoint record, as declared in its `format` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TracepointField {
    /// Field name, e.g. `filename`.
    pub name: String,
    /// C type as written, without the name, e.g. `const char *`, `char[16]`, `__data_loc char[]`.
    pub c_type: String,
    /// Byte offset within the record (common fields included).
    pub offset: u32,
    /// Size in bytes.
    pub size: u32,
    /// Whether the kernel declares the field signed.
    pub signed: bool,
    /// True for the `common_*` header fields.
    pub common: bool,
}

/// The parsed `format` file of one tracepoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TracepointFormat {
    /// Which tracepoint.
    pub id: TracepointId,
    /// The kernel's event id (the `ID:` line).
    pub event_id: u32,
    /// All fields, common ones first, in file order.
    pub fields: Vec<TracepointField>,
}

impl TracepointId {
    /// An id from its two parts.
    pub fn new(category: impl Into<String>, name: impl Into<String>) -> Self {
        TracepointId {
            category: category.into(),
            name: name.into(),
        }
    }

    /// Splits `category:name` at the first `:`; `None` if there is no `:` or a part is empty.
    pub fn parse(s: &str) -> Option<Self> {
        let (category, name) = s.split_once(':')?;
        if category.is_empty() || name.is_empty() {
            return None;
        }
        Some(TracepointId::new(category, name))
    }
}

impl std::fmt::Display for TracepointId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.category, self.name)
    }
}

impl TracepointField {
    /// True for `__data_loc` fields: a u32 holding `(len << 16) | offset` of data stored
    /// after the fixed part of the record.
    pub fn is_data_loc(&self) -> bool {
        self.c_type.starts_with("__data_loc")
    }

    /// True if the field is a pointer (`const char *`, `void *`, `char **`), not an array.
    pub fn is_pointer(&self) -> bool {
        !self.is_data_loc() && self.array_suffix().is_none() && self.base_type().ends_with('*')
    }

    /// Element count of a fixed-size array field (`char comm[16]` → 16; for `x[2][3]`, 6).
    ///
    /// `None` for non-arrays, `__data_loc` and unsized `[]` arrays.
    pub fn array_len(&self) -> Option<u32> {
        let suffix = self.array_suffix()?;
        let mut total: u32 = 1;
        for dim in suffix.split('[').skip(1) {
            let n: u32 = dim.trim_end_matches(']').trim().parse().ok()?;
            total = total.checked_mul(n)?;
        }
        Some(total)
    }

    /// The element type: `c_type` without `__data_loc`, leading/trailing `const`/`volatile`
    /// and array suffix. `const char *` → `char *`, `char[16]` → `char`,
    /// `__data_loc char[]` → `char`, `unsigned long[6]` → `unsigned long`.
    pub fn base_type(&self) -> &str {
        let mut t = self.c_type.trim();
        if let Some(rest) = t.strip_prefix("__data_loc") {
            t = rest.trim_start();
        }
        if let Some(i) = t.find('[') {
            t = t[..i].trim_end();
        }
        loop {
            let before = t;
            for q in ["const", "volatile"] {
                if let Some(rest) = t.strip_prefix(q) {
                    if rest.starts_with(char::is_whitespace) {
                        t = rest.trim_start();
                    }
                }
                if let Some(rest) = t.strip_suffix(q) {
                    if rest.ends_with(|c: char| c.is_whitespace() || c == '*') {
                        t = rest.trim_end();
                    }
                }
            }
            if t == before {
                return t;
            }
        }
    }

    /// True for NUL-terminated text: `char *`, `char[N]` and `__data_loc char[]`
    /// (any `const` ignored).
    pub fn is_char_string(&self) -> bool {
        let base = self.base_type();
        if self.is_data_loc() || self.array_suffix().is_some() {
            base == "char"
        } else {
            base.strip_suffix('*')
                .is_some_and(|b| b.trim_end() == "char")
        }
    }

    /// The `[..]` part of an array type, if any (`__data_loc` types excluded).
    fn array_suffix(&self) -> Option<&str> {
        if self.is_data_loc() {
            return None;
        }
        let t = self.c_type.trim_end();
        if !t.ends_with(']') {
            return None;
        }
        t.find('[').map(|i| &t[i..])
    }
}

impl TracepointFormat {
    /// The field called `name` (common fields included).
    pub fn field(&self, name: &str) -> Option<&TracepointField> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The tracepoint's own fields (the `args` of a probe): all but the `common_*` header.
    pub fn args(&self) -> impl Iterator<Item = &TracepointField> + '_ {
        self.fields.iter().filter(|f| !f.common)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(c_type: &str) -> TracepointField {
        TracepointField {
            name: "x".to_string(),
            c_type: c_type.to_string(),
            offset: 8,
            size: 8,
            signed: false,
            common: false,
        }
    }

    #[test]
    fn helper_table() {
        // c_type, pointer, array_len, data_loc, base, char string
        type Case<'a> = (&'a str, bool, Option<u32>, bool, &'a str, bool);
        let cases: &[Case] = &[
            ("const char *", true, None, false, "char *", true),
            ("char *", true, None, false, "char *", true),
            ("char *const", true, None, false, "char *", true),
            (
                "const char *const *",
                true,
                None,
                false,
                "char *const *",
                false,
            ),
            ("void *", true, None, false, "void *", false),
            ("char[16]", false, Some(16), false, "char", true),
            ("const char[8]", false, Some(8), false, "char", true),
            (
                "unsigned char[16]",
                false,
                Some(16),
                false,
                "unsigned char",
                false,
            ),
            ("__data_loc char[]", false, None, true, "char", true),
            ("__data_loc u32[]", false, None, true, "u32", false),
            (
                "unsigned long[6]",
                false,
                Some(6),
                false,
                "unsigned long",
                false,
            ),
            ("u8[2][3]", false, Some(6), false, "u8", false),
            ("char[]", false, None, false, "char", true),
            ("volatile int", false, None, false, "int", false),
            ("int", false, None, false, "int", false),
            ("constant_t", false, None, false, "constant_t", false),
            ("u8[LEN]", false, None, false, "u8", false),
        ];
        for &(ty, ptr, len, dl, base, s) in cases {
            let f = field(ty);
            assert_eq!(f.is_pointer(), ptr, "{ty} is_pointer");
            assert_eq!(f.array_len(), len, "{ty} array_len");
            assert_eq!(f.is_data_loc(), dl, "{ty} is_data_loc");
            assert_eq!(f.base_type(), base, "{ty} base_type");
            assert_eq!(f.is_char_string(), s, "{ty} is_char_string");
        }
    }

    #[test]
    fn ids_parse_and_print() {
        let id = TracepointId::parse("sched:sched_switch");
        assert_eq!(id, Some(TracepointId::new("sched", "sched_switch")));
        assert_eq!(
            id.map(|i| i.to_string()),
            Some("sched:sched_switch".to_string())
        );
        assert_eq!(TracepointId::parse("sched"), None);
        assert_eq!(TracepointId::parse(":x"), None);
        assert_eq!(TracepointId::parse("x:"), None);
    }

    #[test]
    fn format_lookups() {
        let mut common = field("int");
        common.name = "common_pid".to_string();
        common.common = true;
        let f = TracepointFormat {
            id: TracepointId::new("a", "b"),
            event_id: 1,
            fields: vec![common, field("long")],
        };
        assert!(f.field("common_pid").is_some());
        assert!(f.field("x").is_some());
        assert!(f.field("y").is_none());
        assert_eq!(f.args().count(), 1);
    }
}
