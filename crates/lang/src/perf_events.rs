//! The perf events `software:` and `hardware:` probes name, with bpftrace's aliases and default
//! sample counts (how many events pass between two runs of the probe).

/// One named perf event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PerfEvent {
    /// Canonical name, e.g. `page-faults`.
    pub name: &'static str,
    /// Short alias, e.g. `faults` (empty when none).
    pub alias: &'static str,
    /// The kernel's `perf_sw_ids` / `perf_hw_id` value.
    pub config: u64,
    /// Events between samples when the probe gives no count.
    pub default_count: u64,
}

const fn ev(name: &'static str, alias: &'static str, config: u64, count: u64) -> PerfEvent {
    PerfEvent {
        name,
        alias,
        config,
        default_count: count,
    }
}

/// `software:EVENT[:COUNT]` events (`PERF_TYPE_SOFTWARE`).
pub const SOFTWARE: &[PerfEvent] = &[
    ev("cpu-clock", "cpu", 0, 1_000_000),
    ev("task-clock", "", 1, 1_000_000),
    ev("page-faults", "faults", 2, 100),
    ev("context-switches", "cs", 3, 1_000),
    ev("cpu-migrations", "", 4, 1),
    ev("minor-faults", "", 5, 100),
    ev("major-faults", "", 6, 1),
    ev("alignment-faults", "", 7, 1),
    ev("emulation-faults", "", 8, 1),
    ev("dummy", "", 9, 1),
    ev("bpf-output", "", 10, 1),
];

/// `hardware:EVENT[:COUNT]` events (`PERF_TYPE_HARDWARE`).
pub const HARDWARE: &[PerfEvent] = &[
    ev("cpu-cycles", "cycles", 0, 1_000_000),
    ev("instructions", "", 1, 1_000_000),
    ev("cache-references", "", 2, 1_000_000),
    ev("cache-misses", "", 3, 1_000_000),
    ev("branch-instructions", "branches", 4, 100_000),
    ev("branch-misses", "", 5, 100_000),
    ev("bus-cycles", "", 6, 100_000),
    ev("frontend-stalls", "", 7, 1_000_000),
    ev("backend-stalls", "", 8, 1_000_000),
    ev("ref-cycles", "", 9, 1_000_000),
];

/// The event called `name` (or aliased so) in `table`.
pub fn find(table: &'static [PerfEvent], name: &str) -> Option<&'static PerfEvent> {
    table
        .iter()
        .find(|e| e.name == name || (!e.alias.is_empty() && e.alias == name))
}
