//! tracefs: mounting it, listing tracepoints and parsing their `format` files.

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
