//! The one table of diagnostic codes: every error (`E....`) and warning (`W....`) kestrel's
//! front end reports has an entry here with a short title, a longer explanation and, where a
//! script can show it, an example that triggers it.
//!
//! `kestrel --explain E0203` prints an entry; `docs/ERRORS.md` is generated from this table
//! and a test keeps the two identical. Another test compiles every example and checks that it
//! really produces its code, so the table cannot drift from the compiler either.

/// A diagnostic code such as `E0203`; attach one with [`Diagnostic::with_code`](super::Diagnostic::with_code).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Code(&'static str);

impl Code {
    /// The code's text, e.g. `"E0203"`.
    pub fn as_str(self) -> &'static str {
        self.0
    }

    /// This code's table entry.
    pub fn info(self) -> Option<&'static CodeInfo> {
        lookup(self.0)
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// One entry of the table.
#[derive(Debug)]
pub struct CodeInfo {
    /// The code, e.g. `E0203`.
    pub code: &'static str,
    /// The constant's name in this module, e.g. `UNKNOWN_TRACEPOINT`.
    pub name: &'static str,
    /// A few words, e.g. "unknown tracepoint".
    pub title: &'static str,
    /// What the diagnostic means and how to fix it (a paragraph or two).
    pub explanation: &'static str,
    /// A script that triggers it (checked by a test); empty when it depends on the machine.
    pub example: &'static str,
}

/// Find the entry for `code` (case-insensitive, so `e0203` works too).
pub fn lookup(code: &str) -> Option<&'static CodeInfo> {
    TABLE.iter().find(|c| c.code.eq_ignore_ascii_case(code))
}

/// The text `kestrel --explain CODE` prints.
pub fn explain(info: &CodeInfo) -> String {
    let mut out = format!(
        "{}: {}\n\n{}\n",
        info.code,
        info.title,
        info.explanation.trim()
    );
    if !info.example.is_empty() {
        out.push_str("\nFor example, this script:\n\n");
        for line in info.example.lines() {
            out.push_str("    ");
            out.push_str(line);
            out.push('\n');
        }
        let severity = if info.code.starts_with('W') {
            "warns"
        } else {
            "is rejected"
        };
        out.push_str(&format!("\n{severity} with {}.\n", info.code));
    }
    out
}

/// docs/ERRORS.md, generated from the table.
pub fn markdown() -> String {
    let mut out = String::from(
        "# kestrel error and warning codes\n\n\
         <!-- Generated from crates/lang/src/diag/codes.rs; do not edit by hand. Regenerate with\n\
         `KESTREL_BLESS=1 cargo test -p kestrel-lang --test error_codes`. -->\n\n\
         Every diagnostic kestrel prints for a script carries one of these codes, e.g.\n\
         `error[E0203]: unknown tracepoint ...`. `kestrel --explain E0203` prints the entry.\n\n\
         | Code | Meaning |\n|------|---------|\n",
    );
    for c in TABLE {
        out.push_str(&format!(
            "| [{}](#{}) | {} |\n",
            c.code,
            c.code.to_ascii_lowercase(),
            c.title
        ));
    }
    for c in TABLE {
        out.push_str(&format!("\n## {}\n\n**{}**\n\n", c.code, c.title));
        out.push_str(c.explanation.trim());
        out.push('\n');
        if !c.example.is_empty() {
            out.push_str("\nExample:\n\n```\n");
            out.push_str(c.example.trim_end());
            out.push_str("\n```\n");
        }
    }
    out
}

macro_rules! codes {
    ($( $name:ident = $code:literal, $title:literal, $example:literal, $expl:literal; )*) => {
        $(
            #[doc = concat!("`", $code, "`: ", $title, ".")]
            pub const $name: Code = Code($code);
        )*
        /// Every code, in order.
        pub static TABLE: &[CodeInfo] = &[
            $( CodeInfo {
                code: $code,
                name: stringify!($name),
                title: $title,
                explanation: $expl,
                example: $example,
            }, )*
        ];
    };
}

codes! {
    // ---- lexical -------------------------------------------------------------------------
    UNKNOWN_CHARACTER = "E0001", "unknown character",
        "BEGIN { @x = 1 ` 2; }",
        "The script contains a character that is not part of the bpftrace language (outside a \
string or comment), such as a backtick or a non-ASCII letter. Remove it, or put it inside a \
string literal.";
    UNTERMINATED_COMMENT = "E0002", "unterminated block comment",
        "BEGIN { exit(); } /* never closed",
        "A `/*` comment has no matching `*/`, so the rest of the script would be swallowed by \
it. Close the comment.";
    UNTERMINATED_STRING = "E0003", "unterminated string literal",
        "BEGIN { printf(\"hello); }",
        "A string literal has no closing `\"` before the end of its line. Strings cannot span \
lines; write `\\n` for a newline.";
    INVALID_ESCAPE = "E0004", "invalid escape in a string",
        "BEGIN { printf(\"a\\qb\\n\"); }",
        "A backslash in a string literal starts an escape, and only `\\n \\t \\r \\\\ \\\" \\'`, \
`\\xNN` and octal `\\NNN` are understood. Write `\\\\` for a literal backslash.";
    INVALID_NUMBER = "E0005", "invalid number",
        "BEGIN { @x = 99999999999999999999999; }",
        "A number literal is malformed or does not fit in 64 bits, is a floating-point number \
(eBPF has no floating point), or a positional parameter such as `$99999999999` is too large. \
Use an integer that fits in a u64; scale fractions into integers (e.g. microseconds).";
    PREPROCESSOR = "E0006", "preprocessor error",
        "#include <no_such_header.h>\nBEGIN { exit(); }",
        "kestrel has its own preprocessor for what bpftrace scripts use: `#include`, `#define` of \
constants, `#undef`, `#if`/`#ifdef`/`#ifndef`/`#elif`/`#else`/`#endif`. Kernel headers \
(`linux/...`, `net/...`) are accepted because kernel types come from BTF; any other header must \
exist. Function-like `#define` macros are not supported: write a `macro` instead.";

    // ---- syntax --------------------------------------------------------------------------
    SYNTAX = "E0101", "syntax error",
        "BEGIN { @x = ; }",
        "The parser found a token it did not expect here. The message says what it expected; \
often a `;` between statements, a `)` or `}` is missing, or an expression is incomplete. \
kestrel recovers at the next `;`, `}` or probe and reports later errors too, so fix the first \
one first.";
    UNEXPECTED_EOF = "E0102", "unexpected end of input",
        "BEGIN { if (1) { exit(); }",
        "The script ended in the middle of something: usually a block whose `{` was never \
closed (the note points at it) or a half-written expression. Add the missing `}` or finish \
the expression.";
    INVALID_ASSIGN_TARGET = "E0103", "invalid assignment target",
        "BEGIN { x = 1; }",
        "Only variables (`$x`), maps (`@m`, `@m[key]`) can be assigned to or incremented with \
`++`/`--`. Builtins such as `pid` and plain identifiers cannot. Use a `$variable` or `@map`.";
    UNSUPPORTED_SYNTAX = "E0104", "unsupported syntax",
        "struct foo;\nBEGIN { exit(); }",
        "The script uses syntax that kestrel does not implement yet, such as a C type \
declaration without a body or an anonymous nested struct. Define C types with their members \
(`struct foo { int x; }`), or cast to the kernel's own type from BTF, e.g. \
`(struct task_struct *)curtask`.";
    SCRIPT_TOO_LARGE = "E0105", "script too large",
        "",
        "Scripts are limited to 4 GiB of text (source positions are 32-bit). Split the script.";

    // ---- probes --------------------------------------------------------------------------
    UNKNOWN_PROBE_TYPE = "E0201", "unknown probe type",
        "tracepiont:syscalls:sys_enter_openat { exit(); }",
        "The text before the first `:` of a probe is not a probe type kestrel knows. kestrel \
supports `BEGIN`, `END`, `tracepoint:` (`t:`), `rawtracepoint:` (`rt:`), `interval:` (`i:`), \
`profile:` (`p:`), `software:` (`s:`), `hardware:` (`h:`), `uprobe:` (`u:`), `uretprobe:` \
(`ur:`), `usdt:` (`U:`), `kprobe:`, `kretprobe:`, `kfunc:` and `kretfunc:`.";
    MALFORMED_PROBE = "E0202", "malformed probe",
        "tracepoint:syscalls { exit(); }",
        "The probe has the wrong number of parts. A tracepoint is `tracepoint:CATEGORY:NAME` \
and an interval is `interval:UNIT:N` with UNIT one of s, ms, us, hz.";
    UNKNOWN_TRACEPOINT = "E0203", "unknown tracepoint",
        "tracepoint:syscalls:sys_enter_opnat { exit(); }",
        "No tracepoint of that name exists on this kernel. The hint suggests the closest name \
in the same category (or the closest category). List tracepoints with \
`kestrel -l 'tracepoint:CATEGORY:*'`; tracepoints also differ between kernel versions and \
configurations.";
    CANNOT_ATTACH = "E0204", "probe type not available",
        "kprobe:vfs_* { exit(); }",
        "The probe type exists in bpftrace but cannot be used: either kestrel does not support \
it yet, or the kernel lacks it (this machine's kernel has no kprobes or fentry), or the kernel's \
tracepoint list could not be read. The message says which; use a tracepoint instead where one \
exists (`kestrel -l 'tracepoint:*'`).";
    INVALID_INTERVAL = "E0205", "invalid interval",
        "interval:s:0 { exit(); }",
        "An interval probe needs a positive period in a known unit (`s`, `ms`, `us`, `hz`), no \
shorter than 10us. A profile probe needs a positive rate or period (`hz`, `s`, `ms`, `us`); \
a software or hardware probe a positive count.";
    NO_PROBES = "E0206", "the script has no probes",
        "",
        "A script needs at least one probe, e.g. `BEGIN { printf(\"hello\\n\"); exit(); }`.";
    GLOB_MATCHES_NOTHING = "E0207", "no tracepoint matches the pattern",
        "tracepoint:syscalls:sys_enter_zz* { exit(); }",
        "A wildcard probe matches no tracepoint on this kernel, and no other probe of the \
script attaches, so nothing would ever run. Check the pattern with `kestrel -l 'PATTERN'`. \
When other probes do attach, this is only warning W0005.";

    BINARY_NOT_FOUND = "E0208", "binary or library not found",
        "uprobe:/nonexistent/kestrel/bin:main { exit(); }",
        "A uprobe or usdt probe names a binary that does not exist. Give a path \
(`uprobe:/usr/bin/bash:readline`) or a library name that the dynamic linker knows \
(`uprobe:libc:malloc`); with `-p PID` library names are looked up in that process's \
mappings first.";
    UNKNOWN_USER_SYMBOL = "E0209", "unknown user-space symbol",
        "",
        "The binary has no function (or, for `uaddr()`, no symbol) of that name, or a pattern \
matches none. The hint suggests the closest name; list them with \
`kestrel -l 'uprobe:BINARY:*'`. Stripped binaries keep only their dynamic symbols.";
    UNKNOWN_PERF_EVENT = "E0210", "unknown perf event",
        "software:page-fault { exit(); }",
        "`software:` and `hardware:` probes take one of the perf event names bpftrace knows \
(`kestrel -l 'software:*'`, `kestrel -l 'hardware:*'`), e.g. `software:page-faults:100`.";

    // ---- names ---------------------------------------------------------------------------
    UNKNOWN_FUNCTION = "E0301", "unknown function",
        "BEGIN { printff(\"x\\n\"); }",
        "The function is not a bpftrace builtin function. The hint suggests the closest known \
name.";
    UNKNOWN_IDENTIFIER = "E0302", "unknown identifier",
        "BEGIN { @x = pdi; }",
        "A bare word is neither a builtin variable (pid, tid, comm, nsecs, ...) nor `args`. \
Variables start with `$` and maps with `@`; the hint suggests the closest builtin.";
    UNDEFINED_VARIABLE = "E0303", "undefined variable",
        "BEGIN { @x = $nope; }",
        "A `$variable` is read before anything is assigned to it in this probe. Variables are \
local to one probe; assign it first (e.g. `$x = 0;`) or use a map (`@x`) to share values \
between probes.";
    UNDEFINED_MAP = "E0304", "undefined map",
        "BEGIN { printf(\"%d\\n\", @nope); }",
        "A map is read but never assigned anywhere in the script, so its type is unknown and it \
would always be empty. The hint suggests the closest map that is assigned.";
    UNKNOWN_TRACEPOINT_FIELD = "E0305", "unknown tracepoint argument",
        "tracepoint:syscalls:sys_enter_openat { printf(\"%d\\n\", args->flag); }",
        "The tracepoint has no argument (field) with that name. The note lists the fields it \
has, from its format file; `kestrel -lv tracepoint:CATEGORY:NAME` prints them too.";
    ARGS_MISUSE = "E0306", "args used where it is not available",
        "BEGIN { printf(\"%d\\n\", args->x); }",
        "`args` holds the arguments of a tracepoint and only exists in tracepoint probes, and \
must be followed by `->FIELD`. In other probes there are no arguments to read.";
    UNKNOWN_TYPE = "E0307", "unknown kernel type or member",
        "",
        "A cast or member access names a struct, union or member that the running kernel's BTF \
does not have. Names are those of the running kernel's source; the hint suggests the closest \
member.";
    UNKNOWN_SYMBOL = "E0308", "unknown kernel symbol",
        "",
        "`kaddr()` names a symbol that is not in /proc/kallsyms. Check the spelling; static \
functions may have been inlined or renamed by the compiler.";
    NOT_SUPPORTED = "E0309", "not supported by kestrel yet",
        "kretfunc:do_sys_openat2 { @x = retval; }",
        "The script uses a bpftrace feature that kestrel does not implement yet. The message \
names it; see docs/architecture.md for what is supported.";

    CONTEXT_UNAVAILABLE = "E0310", "builtin not available in this probe",
        "BEGIN { @x = arg0; }",
        "Builtins such as `arg0`, `sarg0`, `retval`, `func`, `usermode` and `reg()` read the \
probe's context, which only some probe types have: arguments exist in uprobes, kprobes, \
kfuncs and raw tracepoints (tracepoints use `args->FIELD`), `retval` in return probes, \
registers in probes on code (uprobe, kprobe, profile, software, hardware). The hint says where \
the builtin exists.";

    // ---- types ---------------------------------------------------------------------------
    TYPE_MISMATCH = "E0401", "type mismatch",
        "BEGIN { $x = 1; $x = \"str\"; }",
        "A value of one type is used where another is required: a variable or map assigned \
values of different types, two branches of `?:` of different types, or a comparison between \
a string and an integer. Both types are shown, with where the first one came from.";
    MAP_KEY_MISMATCH = "E0402", "map used with different keys",
        "BEGIN { @m[1] = 1; @m[1, 2] = 2; }",
        "A map is indexed with keys of different number or types in different places. Every \
access to one map must use the same key shape; use two maps if you need two shapes.";
    NO_VALUE = "E0403", "expression has no value",
        "BEGIN { @x = exit(); }",
        "The expression is a statement-like call such as `printf()`, `exit()` or `delete()` \
and produces no value to store, print or compare.";
    BAD_ARGUMENTS = "E0404", "wrong arguments to a function",
        "BEGIN { @x = strncmp(\"a\"); }",
        "A builtin function was given the wrong number or kind of arguments. The message says \
what it takes.";
    NOT_CONSTANT = "E0405", "a constant or literal is required",
        "BEGIN { $a = \"1.2.3.4\"; @x = pton($a); }",
        "This argument must be known when the script is compiled: a string literal (printf \
formats, pton, cgroupid paths) or an integer constant (histogram bounds, buffer lengths).";
    INVALID_ACCESS = "E0406", "invalid member access, index or dereference",
        "BEGIN { @x = pid.foo; }",
        "Members are read with `.` on a struct and `->` on a pointer to a struct, `[i]` indexes \
arrays and pointers, and `.N` reads a tuple element. The value used does not support the \
access written; the hint says which one fits.";
    OUT_OF_RANGE = "E0407", "value out of range",
        "BEGIN { @h = lhist(1, 10, 0, 1); }",
        "A constant is outside the range allowed: an array index past the end, a histogram \
with bad bounds or too many buckets, an unroll count outside 1..100, a stack depth or buffer \
length out of range. The message gives the limits.";
    AGGREGATE_NOT_IN_MAP = "E0408", "aggregation outside a map assignment",
        "BEGIN { count(); }",
        "Aggregation functions (count, sum, avg, min, max, stats, hist, lhist) only make sense \
as the value of a map: write `@name = count();` or `@name[key] = count();`.";
    INVALID_CAST = "E0409", "invalid cast",
        "BEGIN { @x = (void)1; }",
        "The cast names a type kestrel cannot convert to. Integer casts (`(uint8)`, `(int64)`, \
...) and casts to pointers to kernel structs (`(struct task_struct *)`) are supported.";

    // ---- statements ----------------------------------------------------------------------
    PRINTF_FORMAT = "E0501", "printf format error",
        "BEGIN { printf(\"%d %d\\n\", 1); }",
        "The format string is malformed, uses a conversion kestrel does not support (such as \
`%n`), or its conversions do not match the arguments in number or type (e.g. `%d` given a \
string). The message shows the format and the counts.";
    MISPLACED_CONTROL = "E0502", "control flow used where it is not allowed",
        "BEGIN { break; }",
        "`break` and `continue` only work inside `while` and `for` loops, and `return` cannot \
be used inside a `for` loop over a map (its body runs as a callback): use `break`.";
    NOT_IN_CALLBACK = "E0503", "not available inside a for loop over a map",
        "tracepoint:syscalls:sys_enter_openat { @m[1] = 1; for ($kv : @m) { printf(\"%d\\n\", args->flags); } }",
        "The body of `for ($kv : @map)` runs as a callback of bpf_for_each_map_elem, which has \
no access to the probe's context (args, stacks, ...). Copy the value to a variable before the \
loop.";
    INVALID_FOR = "E0504", "invalid for loop",
        "BEGIN { @h = hist(1); for ($kv : @h) { } }",
        "A `for ($kv : @map)` loop must iterate over a whole map that has keys and holds plain \
values (not histograms or stats), and loops over maps cannot be nested.";

    UNSAFE_FUNCTION = "E0505", "unsafe function used in safe mode",
        "BEGIN { system(\"echo hi\"); }",
        "`system()`, `signal()` and `override()` change the system (run commands, kill \
processes, alter return values), so, as in bpftrace, they are refused unless kestrel runs \
with `--unsafe`.";
    NOT_IN_THIS_PROBE = "E0506", "function not available in this probe",
        "",
        "The function only makes sense in some probes: `signal()` signals the process that made \
the probe fire, so it cannot be used in BEGIN or END; `override()` changes a kernel \
function's return value and needs kprobes, which this kernel does not have.";

    // ---- environment ---------------------------------------------------------------------
    KERNEL_INFO = "E0601", "kernel information not available",
        "",
        "The script needs information from the running kernel that could not be read: its BTF \
type information (/sys/kernel/btf/vmlinux), a cgroup path, or a kernel symbol list. The \
message gives the reason; run as root on a kernel built with CONFIG_DEBUG_INFO_BTF.";

    // ---- the kernel -----------------------------------------------------------------------
    VERIFIER_REJECTED = "E0701", "the kernel's verifier rejected a program",
        "",
        "The script compiled, but the kernel's verifier refused to load one of its programs. \
kestrel points at the statement the failing instruction came from and explains the common \
reasons in one sentence: a loop the verifier cannot prove ends (bound it or use unroll), a \
program too large or with too many paths (split it over probes), more than 512 bytes of \
stack (fewer or shorter strings), a helper this probe type may not call, or a memory access \
it cannot prove safe. `-v` shows the verifier's last lines. kestrel promises that what it \
compiles loads, so a rejection for an access or unreachable code is a kestrel bug worth \
reporting with the script.";

    // ---- warnings ------------------------------------------------------------------------
    NO_EFFECT = "W0001", "statement has no effect",
        "BEGIN { pid; exit(); }",
        "An expression statement computes a value and throws it away. Assign it to a variable \
or map, or print it.";
    UNUSED_MAP = "W0002", "map is assigned but never read",
        "tracepoint:syscalls:sys_enter_openat { @start[tid] = nsecs; }",
        "A keyed map holding plain values (not an aggregation such as count() or hist()) is \
assigned but never read, deleted, tested or printed anywhere in the script. Like bpftrace, \
kestrel prints every map when the script exits, so nothing is lost, but a per-key scratch map \
such as `@start[tid] = nsecs` that is never read back is usually a forgotten half of a \
latency measurement. Read it (`nsecs - @start[tid]`), delete it, or `print()` it explicitly.";
    UNUSED_VARIABLE = "W0003", "variable is never read",
        "BEGIN { $x = 1; exit(); }",
        "A `$variable` is assigned but never read in its probe. Remove it, or use it; names \
starting with `$_` are exempt.";
    STRING_TRUNCATED = "W0004", "string truncated",
        "tracepoint:syscalls:sys_enter_openat { printf(\"%s\\n\", str(args->filename, 500)); }",
        "`str(ptr, n)` asks for more bytes than a string can hold (the configured string size, \
`BPFTRACE_STRLEN`/`KESTREL_STRLEN`, 64 by default, but at least 200 for an explicit length), \
so longer strings are cut short. Use a smaller length, or `buf()` for raw bytes.";
    GLOB_MATCHES_NOTHING_WARN = "W0005", "probe pattern matches nothing",
        "BEGIN { exit(); }\ntracepoint:syscalls:sys_enter_zz* { exit(); }",
        "A wildcard probe matches no tracepoint on this kernel; the rest of the script still \
runs. Check the pattern with `kestrel -l 'PATTERN'`.";
    DEBUGF = "W0006", "debugf() output goes to the trace pipe",
        "BEGIN { debugf(\"x %d\\n\", 1); exit(); }",
        "`debugf()` calls bpf_trace_printk: its output goes to /sys/kernel/tracing/trace_pipe, \
not to kestrel's output, is slow, and is shared by every program on the system. Use it for \
debugging only and `printf()` otherwise.";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_sorted_and_well_formed() {
        let mut prev: Option<&str> = None;
        for c in TABLE {
            assert_eq!(c.code.len(), 5, "{}", c.code);
            assert!(c.code.starts_with('E') || c.code.starts_with('W'));
            assert!(c.code[1..].chars().all(|d| d.is_ascii_digit()));
            if let Some(p) = prev {
                if p.as_bytes()[0] == c.code.as_bytes()[0] {
                    assert!(p < c.code, "{p} then {}", c.code);
                }
            }
            prev = Some(c.code);
            assert!(!c.explanation.trim().is_empty());
        }
        assert_eq!(lookup("e0203").map(|c| c.name), Some("UNKNOWN_TRACEPOINT"));
        assert!(lookup("E9999").is_none());
    }

    #[test]
    fn explain_shows_title_text_and_example() {
        let text = explain(UNKNOWN_TRACEPOINT.info().expect("in table"));
        assert!(text.starts_with("E0203: unknown tracepoint\n\n"), "{text}");
        assert!(text.contains("    tracepoint:syscalls:sys_enter_opnat { exit(); }\n"));
        assert!(text.ends_with("is rejected with E0203.\n"));
    }
}
