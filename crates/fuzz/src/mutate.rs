//! Mutations of seed scripts: byte-level edits plus token-aware ones (inserting keywords,
//! operators, builtins and awkward numbers; splicing two scripts), so inputs stay close
//! enough to the language to reach deep into the parser and checker.

use crate::rng::Rng;

/// Inputs never grow past this many bytes (huge inputs are the hostile-input test's job).
pub const MAX_LEN: usize = 16 * 1024;

/// Fragments worth inserting: syntax, builtins, functions, edge-case numbers and strings.
const DICTIONARY: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ";",
    ",",
    ":",
    "/",
    "?",
    "->",
    ".",
    "=",
    "==",
    "!=",
    "<",
    ">",
    "<=",
    ">=",
    "&&",
    "||",
    "!",
    "~",
    "+",
    "-",
    "*",
    "%",
    "&",
    "|",
    "^",
    "<<",
    ">>",
    "++",
    "--",
    "+=",
    "-=",
    "@",
    "@x",
    "@x[1]",
    "@m[pid, comm]",
    "$x",
    "$1",
    "$#",
    "args",
    "args->",
    "BEGIN",
    "END",
    "tracepoint:syscalls:sys_enter_openat",
    "interval:ms:1",
    "t:sched:*",
    "if",
    "else",
    "while",
    "unroll",
    "for",
    "return",
    "break",
    "continue",
    "exit()",
    "pid",
    "tid",
    "comm",
    "nsecs",
    "cpu",
    "uid",
    "curtask",
    "retval",
    "kstack",
    "ustack",
    "count()",
    "sum(1)",
    "avg(1)",
    "min(1)",
    "max(1)",
    "stats(1)",
    "hist(1)",
    "lhist(1, 0, 10, 1)",
    "printf(\"%d\\n\", 1)",
    "printf(\"%s %d %x %-5s %lu %%\\n\"",
    "print(@x)",
    "clear(@x)",
    "delete(@x[1])",
    "str(",
    "buf(",
    "ntop(",
    "kaddr(\"jiffies\")",
    "(uint8)",
    "(int64)",
    "(struct task_struct *)",
    "sizeof(",
    "0",
    "1",
    "-1",
    "0x7fffffffffffffff",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999",
    "0xffffffffffffffff",
    "\"\"",
    "\"a\\x00b\"",
    "\"\\",
    "/*",
    "*/",
    "//",
    "#include <x.h>\n",
    "\n",
    "\t",
    "\0",
    "é",
    "\u{202e}",
    "for ($kv : @m) { }",
    "$kv.0",
    "(1, \"a\")",
    "@t = (1, 2);",
    "$t.5",
];

/// One mutation of `input`, possibly splicing in part of `other`.
pub fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        let len = out.len();
        let at = rng.below(len + 1);
        match rng.below(9) {
            0 if len > 0 => {
                // delete a range
                let n = 1 + rng.below((len - at.min(len - 1)).min(16));
                let start = at.min(len - 1);
                out.drain(start..(start + n).min(len));
            }
            1 if len > 0 => {
                // duplicate a range
                let start = at.min(len - 1);
                let end = (start + 1 + rng.below(32)).min(len);
                let piece = out[start..end].to_vec();
                let to = rng.below(out.len() + 1);
                out.splice(to..to, piece);
            }
            2 if len > 0 => {
                // replace one byte by a random or structural one
                let i = at.min(len - 1);
                out[i] = if rng.one_in(2) {
                    rng.next_u64() as u8
                } else {
                    *rng.pick(b"{}()[];,:/\"'\\@$-+*=<>!&|^%?.0123456789azAZ_ \n")
                        .unwrap_or(&b' ')
                };
            }
            3 if !other.is_empty() => {
                // splice a slice of another seed
                let s = rng.below(other.len());
                let e = (s + 1 + rng.below(64)).min(other.len());
                out.splice(at..at, other[s..e].iter().copied());
            }
            4 if len > 0 => {
                // swap two ranges' order (truncate at a random point and append another tail)
                let cut = at.min(len);
                let tail = out.split_off(cut);
                let s = rng.below(tail.len() + 1);
                out.extend_from_slice(&tail[s..]);
            }
            5 => {
                // wrap a region in a construct
                let (open, close): (&[u8], &[u8]) = *rng
                    .pick(&[
                        (&b"("[..], &b")"[..]),
                        (b"{ ", b" }"),
                        (b"if (1) { ", b" }"),
                        (b"unroll(3) { ", b" }"),
                        (b"str(", b")"),
                        (b"-(", b")"),
                    ])
                    .unwrap_or(&(&b"("[..], &b")"[..]));
                let end = (at + rng.below(40)).min(out.len());
                out.splice(end..end, close.iter().copied());
                out.splice(at..at, open.iter().copied());
            }
            _ => {
                let word = rng.pick(DICTIONARY).copied().unwrap_or("");
                let mut piece = Vec::new();
                if rng.one_in(2) {
                    piece.push(b' ');
                }
                piece.extend_from_slice(word.as_bytes());
                if rng.one_in(2) {
                    piece.push(b' ');
                }
                out.splice(at..at, piece);
            }
        }
    }
    out.truncate(MAX_LEN);
    out
}
