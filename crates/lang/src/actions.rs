//! Statement-level functions that userspace carries out when the kernel asks (through an
//! event in the ring buffer): printing or clearing maps, running commands, formatting time.

/// One such call site, as lowered by semantic analysis.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {}
