//! What a long-running caller (the agent) needs from a [`Session`] beyond the bpftrace flow:
//! one non-blocking service round, structured map values, counters, program fds.

use std::io::Write;
use std::os::fd::BorrowedFd;

use kestrel_obj::MapRole;

use super::Session;
use crate::output::values::{map_values, MapValues};
use crate::{maps, RuntimeError};

impl Session {
    /// One round of what [`Session::poll`] does, without waiting: prints the events that
    /// arrived, reports lost events and full maps. Long-running callers call it on their
    /// own schedule instead of handing their thread to `poll`.
    pub fn service(&mut self, out: &mut dyn Write) -> Result<(), RuntimeError> {
        self.drain(out)?;
        self.report_lost(out)?;
        self.report_full_maps()?;
        self.observe_processes()
    }

    /// Every script map as structured values (stacks and symbols resolved), in object
    /// order, empty ones included. Prints nothing.
    pub fn map_values(&self) -> Result<Vec<MapValues>, RuntimeError> {
        let _symbols = crate::output::symbols::install(self.symbols.clone());
        let mut out = Vec::new();
        for live in &self.user_maps {
            let Some(map_spec) = self.spec.maps.get(live.index) else {
                continue;
            };
            if let MapRole::User(layout) = &map_spec.role {
                let entries = maps::read_entries(map_spec, &live.data)?;
                out.push(map_values(layout, &entries));
            }
        }
        Ok(out)
    }

    /// Events the ring buffer dropped, as reported so far by [`Session::service`] or
    /// [`Session::poll`].
    pub fn lost_events(&self) -> u64 {
        self.lost_reported
    }

    /// Script maps found full so far (each counted once).
    pub fn full_maps(&self) -> usize {
        self.map_full_warned.len()
    }

    /// Whether the script called `exit()`.
    pub fn exited(&self) -> bool {
        self.exited
    }

    /// Each loaded program's probe and fd, for per-program statistics (the fd's
    /// `/proc/self/fdinfo` shows `prog_id`, `run_time_ns` and `run_cnt`).
    pub fn program_fds(&self) -> Vec<(String, BorrowedFd<'_>)> {
        self.spec
            .programs
            .iter()
            .zip(&self.programs)
            .map(|(p, prog)| (p.probe.clone(), prog.fd()))
            .collect()
    }
}
