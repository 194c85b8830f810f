//! The typed intermediate representation handed from semantic analysis to codegen.
//!
//! Every name is resolved (maps and variables to indices, builtins to [`Builtin`],
//! tracepoint fields to record offsets), every expression has a [`Type`], and every probe spec
//! is expanded to concrete attach points (a glob yields one [`Probe`] per match).

pub mod actions;

use crate::span::Span;
use crate::types::Type;

/// A checked script.
#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    /// Concrete probes, BEGIN first, END last, others in source order.
    pub probes: Vec<Probe>,
    /// Every `@map` used, indexed by [`MapId`].
    pub maps: Vec<MapDecl>,
    /// Every `printf` call site, indexed by its id.
    pub printfs: Vec<PrintfDecl>,
    /// Element types of every tuple shape, indexed by `Type::Tuple::id`.
    pub tuples: Vec<Vec<Type>>,
    /// Every action userspace carries out (`print`, `clear`, `time`, ...), indexed by id.
    pub actions: Vec<crate::ir::actions::ActionDecl>,
    /// `strftime()` formats, indexed by `Type::Timestamp::id`.
    pub strftimes: Vec<String>,
}

/// Index into [`Program::maps`].
pub type MapId = usize;
/// Index of a `$variable` within its probe ([`Probe::vars`]).
pub type VarId = usize;

/// A concrete attach point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attach {
    /// `BEGIN`.
    Begin,
    /// `END`.
    End,
    /// `tracepoint:CATEGORY:NAME`.
    Tracepoint {
        /// Category.
        category: String,
        /// Name.
        name: String,
    },
    /// `interval:UNIT:N`.
    Interval {
        /// Period in nanoseconds.
        period_ns: u64,
    },
    /// `uprobe:BINARY:FUNC` / `uretprobe:...` / `usdt:BINARY:PROVIDER:NAME`: an instruction
    /// of a user-space binary.
    Uprobe(UprobeTarget),
    /// `profile:hz:N`, `software:EVENT:N`, `hardware:EVENT:N`: a perf event sampled on every
    /// CPU.
    Perf(PerfTarget),
    /// `rawtracepoint:NAME`: a raw tracepoint (arguments are the u64 array in the context).
    RawTracepoint {
        /// Tracepoint name, e.g. `sys_enter`.
        name: String,
    },
    /// `kprobe:FUNC` / `kretprobe:FUNC` / `kfunc:FUNC` / `kretfunc:FUNC`: a kernel function.
    Kernel(KernelFuncTarget),
}

/// Where a uprobe, uretprobe or usdt probe attaches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UprobeTarget {
    /// `uprobe`, `uretprobe` or `usdt`.
    pub provider: String,
    /// The binary's path.
    pub path: String,
    /// The function symbol, the hex address, or `PROVIDER:NAME` for usdt.
    pub func: String,
    /// File offset of the instruction in the binary.
    pub offset: u64,
    /// Fire on return instead of entry.
    pub ret: bool,
    /// Only in this process (`-p PID`).
    pub pid: Option<u32>,
    /// File offset of a usdt semaphore the kernel should count up while attached.
    pub semaphore: Option<u64>,
    /// Where a usdt probe's arguments live (empty for uprobes).
    pub usdt_args: Vec<UsdtArg>,
}

/// Where one usdt argument lives, from its note's `SIZE@LOCATION` spec; `size` is in bytes
/// and `signed` comes from a negative SIZE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UsdtArg {
    /// In a register (`-4@%edi`): the `pt_regs` offset.
    Reg {
        /// Byte offset in `struct pt_regs`.
        offset: u16,
        /// Width in bytes.
        size: u8,
        /// Sign-extend.
        signed: bool,
    },
    /// In user memory at register + displacement (`8@-8(%rbp)`).
    Mem {
        /// Byte offset of the base register in `struct pt_regs`.
        base: u16,
        /// Displacement.
        disp: i32,
        /// Width in bytes.
        size: u8,
        /// Sign-extend.
        signed: bool,
    },
    /// A constant (`8@$5`).
    Const(i64),
    /// A form kestrel cannot read (e.g. `%rip`-relative); the spec text.
    Unsupported(String),
}

/// A perf event that runs the probe every `sample` occurrences (or `sample` times a second).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PerfTarget {
    /// The probe as written by the user, normalised (`profile:hz:99`, `software:faults:100`).
    pub name: String,
    /// A hardware counter (`PERF_TYPE_HARDWARE`) rather than a software one.
    pub hardware: bool,
    /// The `perf_sw_ids` / `perf_hw_id` value.
    pub config: u64,
    /// Events between samples, or samples per second when `frequency`.
    pub sample: u64,
    /// `sample` is a frequency in Hz.
    pub frequency: bool,
}

/// A kernel function probe (kprobe, kretprobe, kfunc/fentry, kretfunc/fexit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelFuncTarget {
    /// `kprobe`, `kretprobe`, `kfunc` or `kretfunc`.
    pub provider: String,
    /// The kernel function.
    pub func: String,
    /// What to use instead where the kernel cannot attach this probe, e.g.
    /// `tracepoint:syscalls:sys_enter_openat`.
    pub alternative: String,
}

impl Attach {
    /// The probe as bpftrace would name it, e.g. `tracepoint:syscalls:sys_enter_openat`.
    pub fn describe(&self) -> String {
        match self {
            Attach::Begin => "BEGIN".into(),
            Attach::End => "END".into(),
            Attach::Tracepoint { category, name } => format!("tracepoint:{category}:{name}"),
            Attach::Interval { period_ns } => format!("interval:ns:{period_ns}"),
            Attach::Uprobe(u) => format!("{}:{}:{}", u.provider, u.path, u.func),
            Attach::Perf(p) => p.name.clone(),
            Attach::RawTracepoint { name } => format!("rawtracepoint:{name}"),
            Attach::Kernel(k) => format!("{}:{}", k.provider, k.func),
        }
    }
}

/// One program: an attach point, an optional predicate, and a body.
#[derive(Clone, Debug, PartialEq)]
pub struct Probe {
    /// Where it attaches.
    pub attach: Attach,
    /// The spec's span in the source.
    pub span: Span,
    /// `/predicate/`, an integer expression.
    pub predicate: Option<Expr>,
    /// The action.
    pub body: Vec<Stmt>,
    /// The probe's `$variables`, indexed by [`VarId`].
    pub vars: Vec<VarDecl>,
}

/// A `$variable` of one probe.
#[derive(Clone, Debug, PartialEq)]
pub struct VarDecl {
    /// Name without `$`.
    pub name: String,
    /// Its type (fixed at the first assignment).
    pub ty: Type,
}

/// What a map's values are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapValue {
    /// A plain assigned value.
    Scalar(Type),
    /// `count()`.
    Count,
    /// `sum(x)`.
    Sum,
    /// `min(x)`.
    Min,
    /// `max(x)`.
    Max,
    /// `avg(x)`.
    Avg,
    /// `stats(x)`.
    Stats,
    /// `hist(x)`.
    Hist,
    /// `lhist(x, min, max, step)`.
    Lhist {
        /// Lower bound.
        min: i64,
        /// Upper bound.
        max: i64,
        /// Bucket width.
        step: i64,
    },
}

impl MapValue {
    /// True for the aggregations (everything but plain values).
    pub fn is_aggregation(self) -> bool {
        !matches!(self, MapValue::Scalar(_))
    }
    /// The name of the function that makes this kind of value (`count`, `sum`, ...).
    pub fn describe(self) -> String {
        match self {
            MapValue::Scalar(t) => t.describe(),
            MapValue::Count => "count()".into(),
            MapValue::Sum => "sum()".into(),
            MapValue::Min => "min()".into(),
            MapValue::Max => "max()".into(),
            MapValue::Avg => "avg()".into(),
            MapValue::Stats => "stats()".into(),
            MapValue::Hist => "hist()".into(),
            MapValue::Lhist { .. } => "lhist()".into(),
        }
    }
}

/// A script map `@name`.
#[derive(Clone, Debug, PartialEq)]
pub struct MapDecl {
    /// Name without `@` (empty for `@`).
    pub name: String,
    /// Key component types (empty for a scalar map).
    pub keys: Vec<Type>,
    /// Value kind.
    pub value: MapValue,
    /// True when some probe reads the map's value in the kernel (then an aggregation must be
    /// kept exact in one shared copy rather than per CPU).
    pub read_in_kernel: bool,
    /// Entries the map holds: from `let @m = hash(N)` or the `max_map_keys` option; `None`
    /// for codegen's default.
    pub max_entries: Option<u32>,
    /// Where the map was first used.
    pub span: Span,
}

/// One `printf` call site.
#[derive(Clone, Debug, PartialEq)]
pub struct PrintfDecl {
    /// Format with escapes decoded.
    pub format: String,
    /// Argument types, in order.
    pub args: Vec<Type>,
}

/// Statements.
#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    /// What it does.
    pub kind: StmtKind,
    /// Source span.
    pub span: Span,
}

/// Statement kinds.
#[derive(Clone, Debug, PartialEq)]
pub enum StmtKind {
    /// Evaluate for side effects and discard.
    Expr(Expr),
    /// `@map[keys] = value`.
    MapStore {
        /// Which map.
        map: MapId,
        /// Key components.
        keys: Vec<Expr>,
        /// Stored value.
        value: Expr,
    },
    /// `@map[keys] = count()/sum(x)/...`: fold `value` into the aggregation.
    MapAggregate {
        /// Which map.
        map: MapId,
        /// Key components.
        keys: Vec<Expr>,
        /// The argument (`None` for `count()`).
        value: Option<Expr>,
    },
    /// `delete(@map[keys])`.
    MapDelete {
        /// Which map.
        map: MapId,
        /// Key components.
        keys: Vec<Expr>,
    },
    /// `$var = value`.
    VarStore {
        /// Which variable.
        var: VarId,
        /// Stored value.
        value: Expr,
    },
    /// `printf(fmt, args...)`.
    Printf {
        /// Index into [`Program::printfs`].
        id: usize,
        /// Arguments.
        args: Vec<Expr>,
    },
    /// A statement-level function userspace carries out (`print`, `clear`, `system`, ...).
    Action(crate::ir::actions::Action),
    /// `exit()`: ask userspace to stop, and end this probe.
    Exit,
    /// `return`: end this probe.
    Return,
    /// `while (cond) { body }` (the verifier must be able to see that it terminates).
    While {
        /// Integer condition, checked before each iteration.
        cond: Expr,
        /// Loop body.
        body: Vec<Stmt>,
    },
    /// `for ($kv : @map) { body }`: run `body` once per element, with `$kv` holding the
    /// tuple `(key, value)`; compiled as a `bpf_for_each_map_elem` callback.
    ForMap {
        /// The map iterated (kept in one shared, non-per-CPU copy).
        map: MapId,
        /// The `$kv` variable.
        var: VarId,
        /// Loop body.
        body: Vec<Stmt>,
    },
    /// `break`: leave the innermost loop.
    Break,
    /// `continue`: next iteration of the innermost loop.
    Continue,
    /// `if`.
    If {
        /// Integer condition.
        cond: Expr,
        /// Then branch.
        then: Vec<Stmt>,
        /// Else branch (empty when absent).
        otherwise: Vec<Stmt>,
    },
}

/// A typed expression.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    /// What it computes.
    pub kind: ExprKind,
    /// Result type.
    pub ty: Type,
    /// Source span.
    pub span: Span,
}

/// Builtin variables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builtin {
    /// Process id (tgid).
    Pid,
    /// Thread id.
    Tid,
    /// User id.
    Uid,
    /// Group id.
    Gid,
    /// Monotonic nanoseconds.
    Nsecs,
    /// CPU number.
    Cpu,
    /// Task name (string[16]).
    Comm,
    /// NUMA node of the current CPU.
    NumaId,
    /// A pseudo-random u32.
    Rand,
    /// cgroup v2 id of the current task.
    Cgroup,
    /// The kernel's jiffies counter.
    Jiffies,
    /// Address of the current `struct task_struct`.
    CurTask,
    /// Nanoseconds since kestrel started.
    Elapsed,
    /// PID of the child started with `-c` (0 without one).
    Cpid,
}

/// Binary operators after analysis (logical ones short-circuit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/` (division by zero yields 0, as in eBPF)
    Div,
    /// `%`
    Mod,
    /// `&`
    BitAnd,
    /// `|`
    BitOr,
    /// `^`
    BitXor,
    /// `<<`
    Shl,
    /// `>>`
    Shr,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `&&`
    LogAnd,
    /// `||`
    LogOr,
}

/// Unary operators after analysis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    /// `-x`
    Neg,
    /// `!x`
    Not,
    /// `~x`
    BitNot,
}

/// Expression kinds.
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// Integer constant.
    Int(i64),
    /// String constant.
    Str(String),
    /// Builtin variable.
    Builtin(Builtin),
    /// Read of a `$variable`.
    Var(VarId),
    /// Read of a map element (0 or "" when absent). For aggregations: the count/sum value.
    MapRead {
        /// Which map.
        map: MapId,
        /// Key components.
        keys: Vec<Expr>,
    },
    /// An integer field of the tracepoint record at `offset`.
    TracepointInt {
        /// Byte offset in the record.
        offset: u32,
        /// Width in bytes (1, 2, 4, 8).
        size: u8,
        /// Sign-extend when loading.
        signed: bool,
    },
    /// A `char[N]` field inside the tracepoint record (a string of type `Str{len: N}`).
    TracepointCharArray {
        /// Byte offset in the record.
        offset: u32,
    },
    /// A `__data_loc char[]` field: the u32 at `offset` holds the string's offset (low 16 bits).
    TracepointDataLoc {
        /// Byte offset of the descriptor in the record.
        offset: u32,
    },
    /// `str(ptr)` / `str(ptr, len)`: copy a NUL-terminated string from kernel or user memory.
    ReadStr {
        /// The address.
        ptr: Box<Expr>,
        /// At most this many bytes (a runtime value, clamped to the buffer).
        len: Option<Box<Expr>>,
    },
    /// `strncmp(a, b, n)`: 0 when the first `n` bytes (up to a NUL) are equal, else 1.
    StrNCmp {
        /// Left string.
        lhs: Box<Expr>,
        /// Right string.
        rhs: Box<Expr>,
        /// Bytes compared.
        n: u32,
    },
    /// `strcontains(haystack, needle)` with a constant needle: 1 when found.
    StrContains {
        /// Where to search.
        haystack: Box<Expr>,
        /// What to find.
        needle: String,
    },
    /// `has_key(@map[keys])`: 1 when the element exists.
    MapHasKey {
        /// Which map.
        map: MapId,
        /// Key components.
        keys: Vec<Expr>,
    },
    /// `(a, b, ...)`: each element in its 8-byte-aligned slot, in order.
    Tuple(Vec<Expr>),
    /// `tuple.N`: the element at byte `offset` of a tuple.
    TupleGet {
        /// The tuple.
        tuple: Box<Expr>,
        /// Byte offset of the element.
        offset: u32,
    },
    /// `len` raw bytes of the tracepoint record at `offset` (e.g. a `u8[6]` MAC address).
    TracepointBytes {
        /// Offset in the record.
        offset: u32,
        /// Byte count.
        len: u32,
    },
    /// `buf(ptr, len)`: a length word then `len` bytes read from memory at `ptr`.
    ReadBuf {
        /// The address.
        ptr: Box<Expr>,
        /// Bytes to read.
        len: u32,
    },
    /// `buf(string, len)`: a length word then the first `len` bytes of a string value.
    StrBuf {
        /// The string.
        value: Box<Expr>,
        /// Bytes kept.
        len: u32,
    },
    /// `ntop([family,] addr)`: an IP address for userspace to format.
    Ntop {
        /// Address family (2 or 10); when absent it follows from the source's size.
        family: Option<Box<Expr>>,
        /// Where the address bytes come from.
        source: NtopSource,
    },
    /// Read an integer of `size` bytes from kernel memory at `addr` (0 when unreadable).
    KernelRead {
        /// The address.
        addr: Box<Expr>,
        /// Width in bytes (1, 2, 4, 8).
        size: u8,
        /// Sign-extend the value.
        signed: bool,
    },
    /// Copy a `char[len]` array from kernel memory at `addr` as a string.
    KernelStr {
        /// The address.
        addr: Box<Expr>,
        /// Array length in bytes.
        len: u32,
    },
    /// `bswap(x)`: reverse the bytes of an integer of the expression's type width.
    Bswap {
        /// Operand.
        expr: Box<Expr>,
    },
    /// `lhs op rhs` on integers.
    Binary {
        /// Operator.
        op: BinOp,
        /// Left operand.
        lhs: Box<Expr>,
        /// Right operand.
        rhs: Box<Expr>,
    },
    /// String equality (`==` when `equal`, else `!=`).
    StrCmp {
        /// Left operand.
        lhs: Box<Expr>,
        /// Right operand.
        rhs: Box<Expr>,
        /// `==` or `!=`.
        equal: bool,
    },
    /// `op expr` on integers.
    Unary {
        /// Operator.
        op: UnOp,
        /// Operand.
        expr: Box<Expr>,
    },
    /// `cond ? then : otherwise`.
    Ternary {
        /// Integer condition.
        cond: Box<Expr>,
        /// Value when true.
        then: Box<Expr>,
        /// Value when false.
        otherwise: Box<Expr>,
    },
    /// Truncate or sign-extend an integer to `size` bytes (a cast).
    Cast {
        /// Operand.
        expr: Box<Expr>,
    },
    /// A value from the probe's context (`arg0`, `retval`, ...).
    Context(crate::probe_ctx::ContextValue),
    /// `kstack` / `ustack` (depth and mode are in the expression's type): the stack id from
    /// `bpf_get_stackid` (for `ustack` with the process id in the high 32 bits).
    Stack,
    /// `ksym(addr)`: the address, printed by userspace as a kernel symbol.
    Ksym {
        /// The address.
        addr: Box<Expr>,
    },
    /// `usym(addr)`: the address and the current process id, printed as a user symbol.
    Usym {
        /// The address.
        addr: Box<Expr>,
    },
    /// `len(@map)`: the number of elements (counted by `bpf_for_each_map_elem`).
    MapLen {
        /// Which map.
        map: MapId,
    },
}

/// The address bytes of an `ntop()`.
#[derive(Clone, Debug, PartialEq)]
pub enum NtopSource {
    /// An IPv4 address held in an integer, in network byte order as stored in memory.
    Int(Box<Expr>),
    /// `len` (4 or 16) bytes of the tracepoint record at `offset`.
    TracepointBytes {
        /// Offset in the record.
        offset: u32,
        /// 4 for IPv4, 16 for IPv6.
        len: u32,
    },
    /// `len` (4 or 16) bytes of kernel memory at `addr` (a BTF `u8[16]`, `u32[4]`, ...).
    KernelBytes {
        /// The address of the first byte.
        addr: Box<Expr>,
        /// 4 for IPv4, 16 for IPv6.
        len: u32,
    },
}
