//! The compiled form of a script: plain data, identical on every machine.
//!
//! An [`ObjectSpec`] holds programs (instructions plus where to attach them), map
//! definitions, and the tables userspace needs to decode events and print maps. The kernel
//! is touched only when the runtime turns it into live programs, maps and links.

use kestrel_isa::Insn;

/// How `kstack`/`ustack` frames are printed (bpftrace's stack modes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StackMode {
    /// `symbol+offset`, one frame a line (the default).
    Bpftrace,
    /// `\tADDRESS symbol+offset (module)`, as `perf script` prints.
    Perf,
    /// Bare hexadecimal addresses.
    Raw,
}

/// Everything a script compiles to.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObjectSpec {
    /// One program per attach point.
    pub programs: Vec<ProgramSpec>,
    /// All maps; programs refer to them by index via [`MapReloc`].
    pub maps: Vec<MapSpec>,
    /// `printf` formats, indexed by the event id in ring-buffer records.
    pub printfs: Vec<PrintfSpec>,
    /// 64-bit immediates the runtime fills in just before loading (start time, child pid).
    pub runtime_consts: Vec<RuntimeConst>,
    /// bpf-to-bpf callback functions (the bodies of `for` loops over maps). They go into
    /// `.text` with BTF function info, which the kernel requires of callbacks.
    pub callbacks: Vec<CallbackSpec>,
    /// Actions userspace carries out (`print(@m)`, `clear`, `time`, `system`, ...); the
    /// record of action `i` has the event id [`EVENT_ACTION_BASE`]` + i`.
    pub actions: Vec<ActionSpec>,
    /// `strftime()` formats, indexed by [`ScalarType::Timestamp`]'s `id`.
    pub strftimes: Vec<String>,
}

/// Event ids at or above this (and below [`EVENT_EXIT`]) are actions, not printfs.
pub const EVENT_ACTION_BASE: u64 = 1 << 32;

/// One action call site: what userspace does when its record arrives.
#[derive(Clone, Debug, PartialEq)]
pub struct ActionSpec {
    /// What to do.
    pub kind: ActionKind,
    /// Recorded arguments, at offsets within the record (after the 8-byte event id).
    pub args: Vec<Field>,
    /// Total record size in bytes (including the 8-byte event id).
    pub record_size: u32,
}

/// What userspace does for an action record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ActionKind {
    /// `print(@map, top, div)`: print map number `map` of [`ObjectSpec::maps`] as it is now.
    PrintMap {
        /// Index into [`ObjectSpec::maps`].
        map: usize,
        /// Only the `top` largest entries (0: all).
        top: u64,
        /// Divide values by this (0: as is).
        div: u64,
    },
    /// `clear(@map)`: delete every element.
    ClearMap {
        /// Index into [`ObjectSpec::maps`].
        map: usize,
    },
    /// `zero(@map)`: zero every value, keeping the keys.
    ZeroMap {
        /// Index into [`ObjectSpec::maps`].
        map: usize,
    },
    /// `print(value)`: the one argument, printed on its own line.
    PrintValue,
    /// `time(fmt)`: the local time, formatted with strftime(3).
    Time {
        /// The format.
        format: String,
    },
    /// `cat(fmt, ...)`: print the file named by the formatted arguments.
    Cat {
        /// printf-style format of the path.
        format: String,
    },
    /// `system(fmt, ...)`: run the formatted command with `/bin/sh -c`.
    System {
        /// printf-style format of the command.
        format: String,
    },
    /// `join(argv, sep)`: the record holds a u64 count at offset 8, then `max_args` strings
    /// of `str_len` bytes each from offset 16.
    Join {
        /// The separator.
        sep: String,
        /// Slots in the record.
        max_args: u32,
        /// Bytes per slot.
        str_len: u32,
    },
}

/// A static function a program passes to a helper (e.g. `bpf_for_each_map_elem`).
#[derive(Clone, Debug, PartialEq)]
pub struct CallbackSpec {
    /// Unique symbol name.
    pub name: String,
    /// Index of the program that uses it.
    pub program: usize,
    /// Its instructions.
    pub insns: Vec<Insn>,
    /// ld_imm64 instructions of the callback that load a map.
    pub map_relocs: Vec<MapReloc>,
    /// Source spans, parallel to `insns`.
    pub insn_spans: Vec<Option<(u32, u32)>>,
    /// The instruction of the owning program that loads this callback's address (an
    /// ld_imm64 with a relocation against the callback's symbol).
    pub loaded_at: usize,
}

/// "Instruction `insn` of program `program` is an ld_imm64 whose value the runtime supplies."
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuntimeConst {
    /// Index into [`ObjectSpec::programs`].
    pub program: usize,
    /// Index of the first slot of the ld_imm64.
    pub insn: usize,
    /// Which value.
    pub value: RuntimeValue,
}

/// Values known only when the script starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuntimeValue {
    /// CLOCK_MONOTONIC nanoseconds when kestrel started (for `elapsed`).
    StartNs,
    /// PID of the `-c` child, or 0.
    ChildPid,
}

/// Where a program attaches and how it is triggered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttachPoint {
    /// Runs once before any other probe; loaded as a raw tracepoint program and run with
    /// `BPF_PROG_TEST_RUN` in kestrel's own context.
    Begin,
    /// Runs once at exit, like [`AttachPoint::Begin`].
    End,
    /// A perf tracepoint, `tracepoint:CATEGORY:NAME`.
    Tracepoint {
        /// Category, e.g. `syscalls`.
        category: String,
        /// Event name, e.g. `sys_enter_openat`.
        name: String,
    },
    /// A timer firing every `period_ns` on one CPU (software cpu-clock perf event).
    Interval {
        /// Period in nanoseconds.
        period_ns: u64,
    },
    /// A uprobe or uretprobe (also what usdt probes become): an instruction of a binary.
    Uprobe {
        /// The binary.
        path: String,
        /// File offset of the instruction.
        offset: u64,
        /// Fire on return.
        ret: bool,
        /// Only in this process.
        pid: Option<u32>,
        /// File offset of a usdt semaphore the kernel counts up while attached.
        semaphore: Option<u64>,
    },
    /// A perf event sampled on every online CPU (`profile`, `software`, `hardware`).
    Perf {
        /// `PERF_TYPE_HARDWARE` rather than `PERF_TYPE_SOFTWARE`.
        hardware: bool,
        /// The event's config value.
        config: u64,
        /// Events between samples, or samples per second when `frequency`.
        sample: u64,
        /// `sample` is a frequency.
        frequency: bool,
    },
    /// A raw tracepoint.
    RawTracepoint {
        /// Tracepoint name, e.g. `sys_enter`.
        name: String,
    },
    /// A kernel function: kprobe/kretprobe (perf kprobe events) or kfunc/kretfunc
    /// (fentry/fexit tracing programs).
    KernelFunc {
        /// The function.
        func: String,
        /// `kprobe`, `kretprobe`, `kfunc` or `kretfunc`.
        provider: String,
        /// What to use where the kernel cannot attach it (shown in the error).
        alternative: String,
    },
}

impl AttachPoint {
    /// The ELF section name aya uses to pick the program type.
    pub fn section(&self) -> String {
        match self {
            AttachPoint::Begin | AttachPoint::End => "raw_tracepoint/kestrel_once".to_string(),
            AttachPoint::Tracepoint { category, name } => format!("tracepoint/{category}/{name}"),
            AttachPoint::Interval { .. } | AttachPoint::Perf { .. } => "perf_event".to_string(),
            AttachPoint::Uprobe { ret: false, .. } => "uprobe".to_string(),
            AttachPoint::Uprobe { ret: true, .. } => "uretprobe".to_string(),
            AttachPoint::RawTracepoint { name } => format!("raw_tracepoint/{name}"),
            AttachPoint::KernelFunc { func, provider, .. } => {
                let kind = match provider.as_str() {
                    "kfunc" => "fentry",
                    "kretfunc" => "fexit",
                    other => other,
                };
                format!("{kind}/{func}")
            }
        }
    }
}

/// One eBPF program.
#[derive(Clone, Debug, PartialEq)]
pub struct ProgramSpec {
    /// Unique symbol name (`[A-Za-z0-9_]`, at most 15 bytes are kept by the kernel).
    pub name: String,
    /// Human-readable probe, e.g. `tracepoint:syscalls:sys_enter_openat`.
    pub probe: String,
    /// Where to attach.
    pub attach: AttachPoint,
    /// The instructions (64-bit immediate loads take two slots).
    pub insns: Vec<Insn>,
    /// ld_imm64 instructions that must be patched with a map's fd.
    pub map_relocs: Vec<MapReloc>,
    /// Byte span in the script source of the statement each instruction came from
    /// (parallel to `insns`; `None` for prologue/epilogue code).
    pub insn_spans: Vec<Option<(u32, u32)>>,
}

/// "Instruction `insn` loads the address of map `map`."
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapReloc {
    /// Index of the first slot of the ld_imm64 in [`ProgramSpec::insns`].
    pub insn: usize,
    /// Index into [`ObjectSpec::maps`].
    pub map: usize,
}

/// Kernel map types kestrel uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapKind {
    /// `BPF_MAP_TYPE_HASH`
    Hash,
    /// `BPF_MAP_TYPE_PERCPU_HASH`
    PerCpuHash,
    /// `BPF_MAP_TYPE_ARRAY`
    Array,
    /// `BPF_MAP_TYPE_PERCPU_ARRAY`
    PerCpuArray,
    /// `BPF_MAP_TYPE_RINGBUF` (`max_entries` is the size in bytes, a power of two pages)
    RingBuf,
    /// `BPF_MAP_TYPE_STACK_TRACE`: u32 stack id → `depth` u64 instruction pointers.
    StackTrace,
}

impl MapKind {
    /// The kernel's `bpf_map_type` number.
    pub fn type_id(self) -> u32 {
        match self {
            MapKind::Hash => 1,
            MapKind::Array => 2,
            MapKind::PerCpuHash => 5,
            MapKind::PerCpuArray => 6,
            MapKind::StackTrace => 7,
            MapKind::RingBuf => 27,
        }
    }
    /// True for per-CPU kinds (userspace reads one value per possible CPU).
    pub fn is_per_cpu(self) -> bool {
        matches!(self, MapKind::PerCpuHash | MapKind::PerCpuArray)
    }
}

/// One kernel map.
#[derive(Clone, Debug, PartialEq)]
pub struct MapSpec {
    /// Symbol name in the object (`[A-Za-z0-9_]`, at most 15 bytes).
    pub name: String,
    /// Map type.
    pub kind: MapKind,
    /// Key size in bytes (0 for ring buffers).
    pub key_size: u32,
    /// Value size in bytes (0 for ring buffers).
    pub value_size: u32,
    /// Capacity (bytes for ring buffers).
    pub max_entries: u32,
    /// `BPF_F_*` flags.
    pub flags: u32,
    /// What the map is for.
    pub role: MapRole,
}

/// What userspace does with a map.
#[derive(Clone, Debug, PartialEq)]
pub enum MapRole {
    /// A script's `@map`: read and printed at exit.
    User(UserMapLayout),
    /// The ring buffer carrying printf/exit events.
    Events,
    /// Per-CPU scratch space (e.g. for large strings); never read by userspace.
    Scratch,
    /// A per-CPU array of one u64: events dropped because the ring buffer was full.
    LostEvents,
    /// A shared array of one u64, set by `exit()`: once it is non-zero every probe but END
    /// returns at once, so nothing counts events that happen after the script asked to stop.
    ExitFlag,
    /// A per-CPU array of u64 indexed by the [`ObjectSpec::maps`] index of each script map:
    /// updates that failed because that map was full (it has `max_entries` elements).
    MapFull,
    /// Stack traces taken by `kstack`/`ustack` of one depth; userspace looks frames up by
    /// the stack ids stored in keys and records.
    Stacks {
        /// True for user stacks (`ustack`).
        user: bool,
        /// Frames per stack (the value holds `depth` u64 addresses).
        depth: u8,
    },
}

/// How a script map's keys and values are laid out and printed.
#[derive(Clone, Debug, PartialEq)]
pub struct UserMapLayout {
    /// Name as the user wrote it, with `@` (e.g. `@opens`, or `@` for the anonymous map).
    pub display: String,
    /// Key components, packed in the key (empty for a scalar map, whose key is a u32 0
    /// in an array, or a u64 0 in a hash).
    pub keys: Vec<Field>,
    /// How the value is interpreted.
    pub value: ValueKind,
}

/// A typed slot at a byte offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// Offset in the key, value or record.
    pub offset: u32,
    /// Its type.
    pub ty: ScalarType,
}

/// Types that cross from kernel to userspace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScalarType {
    /// An integer of 1, 2, 4 or 8 bytes.
    Int {
        /// Width in bytes.
        size: u8,
        /// Signedness.
        signed: bool,
    },
    /// A NUL-terminated string in a buffer of `len` bytes.
    Str {
        /// Buffer size.
        len: u32,
    },
    /// An IP address from `ntop()`: u64 address family (2 = IPv4, 10 = IPv6), then 16
    /// address bytes (IPv4 uses the first 4), printed like inet_ntop.
    Inet,
    /// A uid (u64) printed as the user's name.
    Username,
    /// An errno (i64) printed as its message.
    Errno,
    /// Six bytes printed as `aa:bb:cc:dd:ee:ff` (in an 8-byte slot).
    Mac,
    /// A u64 length then up to `len` bytes, printed with `%r` as escaped text.
    Buf {
        /// Capacity in bytes.
        len: u32,
    },
    /// A tuple: its elements at their offsets, printed `(a, b)`.
    Tuple {
        /// The elements.
        fields: Vec<Field>,
        /// Total size in bytes.
        size: u32,
    },
    /// `kstack`: an i64 stack id (negative when the kernel could not take the stack) into
    /// the [`MapRole::Stacks`] map of `user: false` and this depth.
    KStack {
        /// Frames per stack.
        depth: u8,
        /// How frames are printed.
        mode: StackMode,
    },
    /// `ustack`: a u64 with the stack id in the low 32 bits (an i32, negative on failure)
    /// and the process id in the high 32 bits; frames in the `user: true` stack map.
    UStack {
        /// Frames per stack.
        depth: u8,
        /// How frames are printed.
        mode: StackMode,
    },
    /// `ksym(addr)`: a u64 kernel address printed as its symbol.
    Ksym,
    /// `usym(addr)`: a u64 user address then the u64 process id, printed as a symbol.
    Usym,
    /// `strftime(fmt, nsecs)`: u64 nanoseconds since boot, printed as wall-clock time with
    /// format number `id` of [`ObjectSpec::strftimes`].
    Timestamp {
        /// Index of the format.
        id: u32,
    },
}

impl ScalarType {
    /// Size in bytes.
    pub fn size(&self) -> u32 {
        match self {
            ScalarType::Int { size, .. } => u32::from(*size),
            ScalarType::Str { len } => *len,
            ScalarType::Inet => 24,
            ScalarType::Username | ScalarType::Errno | ScalarType::Mac => 8,
            ScalarType::Buf { len } => 8 + *len,
            ScalarType::Tuple { size, .. } => *size,
            ScalarType::KStack { .. } | ScalarType::UStack { .. } | ScalarType::Ksym => 8,
            ScalarType::Timestamp { .. } => 8,
            ScalarType::Usym => 16,
        }
    }
}

/// The meaning of a map's value, which decides how userspace folds per-CPU copies and prints it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValueKind {
    /// A plain assigned value.
    Scalar(ScalarType),
    /// `count()`: u64, summed over CPUs.
    Count,
    /// `sum(x)`: i64, summed over CPUs.
    Sum,
    /// `min(x)`: value `[i64 min, u64 set]`; CPUs whose `set` is 0 are ignored when folding.
    Min,
    /// `max(x)`: value `[i64 max, u64 set]`, folded like [`ValueKind::Min`].
    Max,
    /// `avg(x)`: value `[i64 sum, u64 count]`; prints `sum / count` (integer division).
    Avg,
    /// `stats(x)`: value `[i64 sum, u64 count]`; prints count, average and total.
    Stats,
    /// `hist(x)`: the key ends with a u64 bucket index after the user keys; value is a u64
    /// count. Bucket 0 counts negative values `(..., 0)`, bucket 1 the value `[0]`, and bucket
    /// `n + 2` the values in `[2^n, 2^(n+1))` (so bucket 2 is `[1]`, bucket 3 is `[2, 4)`).
    Hist,
    /// `lhist(x, min, max, step)`: the key ends with a u64 bucket index; value is a u64 count.
    /// Bucket 0 counts values below `min`, bucket `i` (1-based) the values in
    /// `[min + (i-1)*step, min + i*step)`, and the last bucket, `(max-min)/step + 1`, values `>= max`.
    Lhist {
        /// Lower bound.
        min: i64,
        /// Upper bound.
        max: i64,
        /// Bucket width.
        step: i64,
    },
}

/// Record layout of one `printf` call site.
#[derive(Clone, Debug, PartialEq)]
pub struct PrintfSpec {
    /// The format string as written (escapes decoded), e.g. `"%s %d\n"`.
    pub format: String,
    /// Arguments, at offsets within the record (after the 8-byte event id).
    pub args: Vec<Field>,
    /// Total record size in bytes (including the 8-byte event id).
    pub record_size: u32,
}

/// Event id (first 8 bytes of a ring-buffer record) meaning "exit() was called".
pub const EVENT_EXIT: u64 = u64::MAX;
