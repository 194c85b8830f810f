//! The 512-byte eBPF stack frame: permanent slots for variables, and a statement-scoped
//! region for temporaries that is reset after each statement.

/// The kernel's limit on one program's stack.
pub(crate) const MAX_STACK: u32 = 512;

/// Hands out 8-byte-aligned stack slots as negative offsets from r10.
#[derive(Default)]
pub(crate) struct Frame {
    used: u32,
    /// Deepest point reached, to report overflows.
    pub high_water: u32,
}

/// A position to roll temporaries back to.
#[derive(Clone, Copy)]
pub(crate) struct Mark(u32);

impl Frame {
    /// Reserve `size` bytes (rounded up to 8); returns the offset from r10 (negative).
    /// Overflows are detected by [`Frame::high_water`] after compiling the probe, so the error
    /// can name the probe rather than an instruction.
    pub fn alloc(&mut self, size: u32) -> i16 {
        self.used += size.div_ceil(8) * 8;
        self.high_water = self.high_water.max(self.used);
        // Clamp so that even an overflowing frame yields offsets that encode; the overflow is
        // reported before the program is used.
        -(self.used.min(32_000) as i16)
    }

    pub fn mark(&self) -> Mark {
        Mark(self.used)
    }

    pub fn reset(&mut self, mark: Mark) {
        self.used = mark.0;
    }
}
