//! Feature probes for program types the runtime may be asked to use.

/// Whether fentry/fexit programs can be loaded here. Not probed yet: answers `false`.
pub fn fentry_available() -> bool {
    false
}
