//! The registers expressions are evaluated in.
//!
//! r6–r8 survive helper calls, so a value computed before a call (a map key, an operand) is
//! still there after it; r9 holds the context pointer for the whole program; r0–r5 are
//! scratch that any helper call clobbers.

use kestrel_isa::Reg;

/// Register holding the program's context pointer (saved from r1 on entry).
pub(crate) const CTX: Reg = Reg::R9;

/// The callee-saved registers available for expression values.
pub(crate) struct Pool {
    free: Vec<Reg>,
}

impl Default for Pool {
    fn default() -> Pool {
        Pool {
            free: vec![Reg::R8, Reg::R7, Reg::R6],
        }
    }
}

impl Pool {
    /// Take a free register. Callers keep at least one free by spilling (see `binary`), so
    /// this only fails on a compiler bug.
    pub fn alloc(&mut self) -> Option<Reg> {
        self.free.pop()
    }

    /// Take this specific register if it is free.
    pub fn take(&mut self, reg: Reg) -> bool {
        match self.free.iter().position(|&r| r == reg) {
            Some(i) => {
                self.free.remove(i);
                true
            }
            None => false,
        }
    }

    pub fn release(&mut self, reg: Reg) {
        debug_assert!(!self.free.contains(&reg));
        self.free.push(reg);
    }

    pub fn available(&self) -> usize {
        self.free.len()
    }
}
