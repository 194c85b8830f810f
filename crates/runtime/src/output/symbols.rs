//! Stacks and symbols (`kstack`, `ustack`, `ksym`, `usym`) as bpftrace prints them.
//!
//! The bytes in keys and records hold only stack ids and addresses; turning them into frames
//! and names needs the kernel (stack maps) and the system (kallsyms, ELF files). That is the
//! [`Symbols`] trait's job, implemented by the runtime's session. Rendering code reaches it
//! through [`install`], which makes a [`Symbols`] current on this thread for as long as the
//! returned guard lives, so the formatting functions keep their signatures. Without one,
//! stacks print as nothing and symbols as hexadecimal addresses (what bpftrace prints for an
//! address it cannot resolve).
//!
//! Formats (checked against bpftrace 0.17): a stack is a newline, then one line per frame,
//! indented by 8 spaces in `printf` and 4 spaces in a printed map; a frame is `symbol+offset`
//! or `0x...`. `perf` mode prints `\tADDRESS symbol+offset (module)` lines, with
//! `[kernel.kallsyms]` as the kernel's module and `[unknown]` for unresolved addresses.

use std::cell::RefCell;
use std::sync::Arc;

use kestrel_obj::{ScalarType, StackMode};

use super::bytes::read_uint;

/// A resolved address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symbol {
    /// The symbol's (demangled) name.
    pub name: String,
    /// Bytes from the symbol's start to the address.
    pub offset: u64,
    /// The file the symbol is in (user symbols), printed in `perf` mode.
    pub module: Option<String>,
}

/// Where frames and names come from.
pub trait Symbols {
    /// The frames (instruction pointers, innermost first) of stack `id` of the stack map for
    /// (`user`, `depth`); `None` when there is no such stack.
    fn stack(&self, user: bool, depth: u8, id: u32) -> Option<Vec<u64>>;
    /// The kernel symbol containing `addr`.
    fn kernel_symbol(&self, addr: u64) -> Option<Symbol>;
    /// The symbol containing `addr` in process `pid`.
    fn user_symbol(&self, pid: u32, addr: u64) -> Option<Symbol>;
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<dyn Symbols + Send + Sync>>> = const { RefCell::new(None) };
}

/// Makes `symbols` the source of frames and names on this thread until the guard drops.
pub fn install(symbols: Arc<dyn Symbols + Send + Sync>) -> Installed {
    let previous = CURRENT.with(|c| c.borrow_mut().replace(symbols));
    Installed { previous }
}

/// Restores the previously installed [`Symbols`] when dropped.
#[must_use = "the symbols stay installed only while the guard lives"]
pub struct Installed {
    previous: Option<Arc<dyn Symbols + Send + Sync>>,
}

impl Drop for Installed {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

fn current() -> Option<Arc<dyn Symbols + Send + Sync>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// Where a value is printed, which decides how far stack frames are indented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// In a `printf` argument (8 spaces, as bpftrace).
    Printf,
    /// In a printed map key or value (4 spaces).
    Map,
}

impl Place {
    fn indent(self) -> &'static str {
        match self {
            Place::Printf => "        ",
            Place::Map => "    ",
        }
    }
}

/// True for the wire types this module prints.
pub fn is_symbolic(ty: &ScalarType) -> bool {
    matches!(
        ty,
        ScalarType::KStack { .. } | ScalarType::UStack { .. } | ScalarType::Ksym | ScalarType::Usym
    )
}

/// The text of a stack or symbol value, resolved through the installed [`Symbols`].
pub fn render(ty: &ScalarType, bytes: &[u8], place: Place) -> String {
    let symbols = current();
    let symbols = symbols.as_deref().map(|s| s as &dyn Symbols);
    render_with(symbols, ty, bytes, place)
}

/// [`render`] with an explicit source of symbols.
pub fn render_with(
    symbols: Option<&dyn Symbols>,
    ty: &ScalarType,
    bytes: &[u8],
    place: Place,
) -> String {
    let word = |i: usize| bytes.get(i * 8..i * 8 + 8).map(read_uint).unwrap_or(0);
    match *ty {
        ScalarType::KStack { depth, mode } => {
            // A negative id means the kernel could not take the stack.
            let id = u32::try_from(word(0) as i64).ok();
            let frames = id.and_then(|id| symbols?.stack(false, depth, id));
            format_stack(
                &frames.unwrap_or_default(),
                mode,
                place,
                |a| symbols.and_then(|s| s.kernel_symbol(a)),
                Some("[kernel.kallsyms]"),
            )
        }
        ScalarType::UStack { depth, mode } => {
            let v = word(0);
            let id = u32::try_from(v as u32 as i32).ok();
            let pid = (v >> 32) as u32;
            let frames = id.and_then(|id| symbols?.stack(true, depth, id));
            format_stack(
                &frames.unwrap_or_default(),
                mode,
                place,
                |a| symbols.and_then(|s| s.user_symbol(pid, a)),
                None,
            )
        }
        ScalarType::Ksym => {
            let addr = word(0);
            match symbols.and_then(|s| s.kernel_symbol(addr)) {
                Some(s) => s.name,
                None => format!("{addr:#x}"),
            }
        }
        ScalarType::Usym => {
            let (addr, pid) = (word(0), word(1) as u32);
            match symbols.and_then(|s| s.user_symbol(pid, addr)) {
                Some(s) => s.name,
                None => format!("{addr:#x}"),
            }
        }
        _ => String::new(),
    }
}

/// Frames as bpftrace prints a stack: a leading newline, then one line per frame up to the
/// first zero address. `kernel_module` is the module named in `perf` mode for resolved
/// frames (user frames name their file).
pub fn format_stack(
    frames: &[u64],
    mode: StackMode,
    place: Place,
    resolve: impl Fn(u64) -> Option<Symbol>,
    kernel_module: Option<&str>,
) -> String {
    let mut out = String::from("\n");
    for &addr in frames.iter().take_while(|&&a| a != 0) {
        match mode {
            StackMode::Bpftrace => {
                out.push_str(place.indent());
                match resolve(addr) {
                    Some(s) => out.push_str(&format!("{}+{}", s.name, s.offset)),
                    None => out.push_str(&format!("{addr:#x}")),
                }
            }
            StackMode::Perf => match resolve(addr) {
                Some(s) => {
                    let module = kernel_module
                        .map(str::to_string)
                        .or(s.module)
                        .unwrap_or_else(|| "[unknown]".to_string());
                    out.push_str(&format!("\t{addr:x} {}+{} ({module})", s.name, s.offset));
                }
                None => out.push_str(&format!("\t{addr:x} {addr:#x} ([unknown])")),
            },
            StackMode::Raw => {
                out.push_str(place.indent());
                out.push_str(&format!("{addr:x}"));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    struct Fake;
    impl Symbols for Fake {
        fn stack(&self, user: bool, depth: u8, id: u32) -> Option<Vec<u64>> {
            (id == 7 && depth == 4).then(|| {
                if user {
                    vec![0x401136, 0x7f00_0000_1000, 0, 0]
                } else {
                    vec![0xffff_ffff_814b_096d, 0xffff_ffff_821e_cdda, 0, 0]
                }
            })
        }
        fn kernel_symbol(&self, addr: u64) -> Option<Symbol> {
            let table = [
                (0xffff_ffff_814b_0800u64, "perf_syscall_enter"),
                (0xffff_ffff_821e_cbe0, "do_syscall_64"),
            ];
            table
                .iter()
                .rev()
                .find(|(start, _)| *start <= addr && addr - start < 0x1000)
                .map(|(start, name)| Symbol {
                    name: name.to_string(),
                    offset: addr - start,
                    module: None,
                })
        }
        fn user_symbol(&self, pid: u32, addr: u64) -> Option<Symbol> {
            (pid == 42 && addr == 0x401136).then(|| Symbol {
                name: "level3".into(),
                offset: 9,
                module: Some("/tmp/gp".into()),
            })
        }
    }

    fn kstack(mode: StackMode, id: i64) -> (ScalarType, Vec<u8>) {
        (
            ScalarType::KStack { depth: 4, mode },
            id.to_le_bytes().to_vec(),
        )
    }

    #[test]
    fn kernel_stack_in_a_map_and_in_printf() {
        let (ty, b) = kstack(StackMode::Bpftrace, 7);
        assert_eq!(
            render_with(Some(&Fake), &ty, &b, Place::Map),
            "\n    perf_syscall_enter+365\n    do_syscall_64+506\n"
        );
        assert_eq!(
            render_with(Some(&Fake), &ty, &b, Place::Printf),
            "\n        perf_syscall_enter+365\n        do_syscall_64+506\n"
        );
    }

    #[test]
    fn kernel_stack_perf_mode() {
        let (ty, b) = kstack(StackMode::Perf, 7);
        assert_eq!(
            render_with(Some(&Fake), &ty, &b, Place::Map),
            "\n\tffffffff814b096d perf_syscall_enter+365 ([kernel.kallsyms])\n\tffffffff821ecdda do_syscall_64+506 ([kernel.kallsyms])\n"
        );
    }

    #[test]
    fn failed_or_unknown_stacks_print_empty() {
        let (ty, b) = kstack(StackMode::Bpftrace, -14);
        assert_eq!(render_with(Some(&Fake), &ty, &b, Place::Map), "\n");
        let (ty, b) = kstack(StackMode::Bpftrace, 7);
        assert_eq!(render_with(None, &ty, &b, Place::Map), "\n");
    }

    #[test]
    fn user_stack_resolved_and_raw_frames() {
        let v = (42u64 << 32) | 7;
        let ty = ScalarType::UStack {
            depth: 4,
            mode: StackMode::Bpftrace,
        };
        assert_eq!(
            render_with(Some(&Fake), &ty, &v.to_le_bytes(), Place::Map),
            "\n    level3+9\n    0x7f0000001000\n"
        );
        let ty = ScalarType::UStack {
            depth: 4,
            mode: StackMode::Perf,
        };
        assert_eq!(
            render_with(Some(&Fake), &ty, &v.to_le_bytes(), Place::Map),
            "\n\t401136 level3+9 (/tmp/gp)\n\t7f0000001000 0x7f0000001000 ([unknown])\n"
        );
        let ty = ScalarType::UStack {
            depth: 4,
            mode: StackMode::Raw,
        };
        assert_eq!(
            render_with(Some(&Fake), &ty, &v.to_le_bytes(), Place::Map),
            "\n    401136\n    7f0000001000\n"
        );
    }

    #[test]
    fn ksym_and_usym() {
        let b = 0xffff_ffff_821e_cbe0u64.to_le_bytes();
        assert_eq!(
            render_with(Some(&Fake), &ScalarType::Ksym, &b, Place::Printf),
            "do_syscall_64"
        );
        assert_eq!(
            render_with(None, &ScalarType::Ksym, &b, Place::Printf),
            "0xffffffff821ecbe0"
        );
        let u: Vec<u8> = [0x401136u64.to_le_bytes(), 42u64.to_le_bytes()].concat();
        assert_eq!(
            render_with(Some(&Fake), &ScalarType::Usym, &u, Place::Printf),
            "level3"
        );
        let u: Vec<u8> = [0x401000u64.to_le_bytes(), 42u64.to_le_bytes()].concat();
        assert_eq!(
            render_with(Some(&Fake), &ScalarType::Usym, &u, Place::Printf),
            "0x401000"
        );
    }

    #[test]
    fn installed_symbols_are_used_until_the_guard_drops() {
        let b = 0xffff_ffff_821e_cbe0u64.to_le_bytes();
        {
            let _g = install(Arc::new(Fake));
            assert_eq!(render(&ScalarType::Ksym, &b, Place::Map), "do_syscall_64");
        }
        assert_eq!(
            render(&ScalarType::Ksym, &b, Place::Map),
            "0xffffffff821ecbe0"
        );
    }
}
