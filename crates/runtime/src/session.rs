//! [`Session`]: one compiled script, live in the kernel, from load to teardown.

use std::io::Write;
use std::time::Duration;

use kestrel_obj::{AttachPoint, MapKind, MapRole, ObjectSpec, UserMapLayout};
use kestrel_sys::{Link, Program, RingBuf};

use crate::attach;
use crate::events::{EventRing, Printer};
use crate::loader::{self, LoadOptions};
use crate::maps::{self, LiveMap};
use crate::output::{render_all_maps_json, render_all_maps_text, RawEntry};
use crate::{perm, OutputFormat, RuntimeError, StopFlag};

mod agent;

/// How long one wait for events lasts before the stop flag is checked again.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// What the caller should do after BEGIN ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Keep going: poll for events.
    Continue,
    /// BEGIN called `exit()`: skip polling, go straight to END.
    Exit,
}

/// Why [`Session::poll`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitReason {
    /// The script called `exit()`.
    Exit,
    /// The [`StopFlag`] was set (Ctrl-C, SIGTERM, or [`StopFlag::stop`]).
    Stopped,
}

/// A loaded script. The bpftrace flow is:
///
/// ```no_run
/// # use kestrel_runtime::*;
/// # fn run(obj: kestrel_obj::ObjectSpec) -> Result<(), RuntimeError> {
/// let stop = StopFlag::install()?;
/// let mut out = std::io::stdout();
/// let mut session = Session::load(obj, &LoadOptions::default())?; // maps + verifier
/// let n = session.attach()?;
/// println!("Attaching {n} probes...");
/// if session.run_begin(&mut out)? == Flow::Continue {
///     session.poll(&mut out, &stop)?; // until exit() or Ctrl-C
/// }
/// session.run_end(&mut out)?; // detaches, then runs END
/// session.print_maps(&mut out)?;
/// # Ok(()) }
/// ```
///
/// Dropping the session (on any path, including errors and panics) detaches every probe
/// and unloads every program and map; nothing is pinned.
pub struct Session {
    spec: ObjectSpec,
    // Field order is drop order: links detach before programs and maps go away.
    links: Vec<Link>,
    events: Option<EventRing>,
    user_maps: Vec<LiveMap>,
    /// The loaded programs, in object order.
    programs: Vec<Program>,
    printer: Printer,
    format: OutputFormat,
    exited: bool,
    /// The per-CPU counter of events the ring buffer dropped, and how many were reported.
    lost: Option<LiveMap>,
    lost_reported: u64,
    /// Stack maps and symbol tables for `kstack`/`ustack`/`ksym`/`usym` output.
    symbols: std::sync::Arc<crate::symbols::SessionSymbols>,
    /// Poll rounds since the processes in user-stack maps were last looked at.
    observe_round: u32,
    /// Actions (`print`, `clear`, `system`, ...) carried out when their records arrive.
    actions: crate::actions::Actions,
    /// Per-CPU counters of updates dropped by full script maps, and the maps already warned
    /// about (by object map index).
    map_full: Option<LiveMap>,
    map_full_warned: std::collections::HashSet<usize>,
    /// When kestrel last looked for full maps (without kernel counters).
    full_checked_at: Option<std::time::Instant>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("programs", &self.spec.programs.len())
            .field("maps", &self.spec.maps.len())
            .field("attached", &self.links.len())
            .field("exited", &self.exited)
            .finish()
    }
}

impl Session {
    /// Creates the maps and loads every program through the verifier. Nothing is attached
    /// and nothing runs yet.
    ///
    /// Fails with [`RuntimeError::Permission`] before touching the kernel if the process
    /// lacks the privileges, and with [`RuntimeError::Verifier`] (naming the probe and the
    /// failing instruction) if the kernel rejects a program.
    pub fn load(mut spec: ObjectSpec, opts: &LoadOptions) -> Result<Session, RuntimeError> {
        perm::check_privileges()?;
        // KESTREL_RINGBUF_BYTES sizes the event ring buffer (a power of two of at least one
        // page); tests shrink it to provoke lost events.
        if let Some(bytes) = std::env::var("KESTREL_RINGBUF_BYTES")
            .ok()
            .and_then(|v| v.parse::<u32>().ok())
        {
            if bytes.is_power_of_two() && bytes >= 4096 {
                for m in spec.maps.iter_mut().filter(|m| m.role == MapRole::Events) {
                    m.max_entries = bytes;
                }
            }
        }
        // KESTREL_MAP_KEYS_MAX (or bpftrace's BPFTRACE_MAP_KEYS_MAX) sets how many elements
        // each script hash map holds; bpftrace's default is 4096.
        if let Some(n) = std::env::var("KESTREL_MAP_KEYS_MAX")
            .or_else(|_| std::env::var("BPFTRACE_MAP_KEYS_MAX"))
            .ok()
            .and_then(|v| v.trim().parse::<u32>().ok())
            .filter(|&n| n > 0)
        {
            for m in spec.maps.iter_mut() {
                if matches!(m.role, MapRole::User(_))
                    && matches!(m.kind, MapKind::Hash | MapKind::PerCpuHash)
                {
                    m.max_entries = n;
                }
            }
        }
        let printer = Printer::new(&spec.printfs, opts.format)?;
        let actions = crate::actions::Actions::new(&spec, opts.format)?;
        crate::output::timefmt::set_formats(&spec.strftimes);
        let created = loader::create_maps(&spec)?;
        // Every program is loaded against the full set of maps; afterwards the session keeps
        // the maps it reads from userspace (the kernel holds the others through the programs).
        let start_ns = loader::start_ns();
        let programs = (0..spec.programs.len())
            .map(|i| loader::load_program(&spec, i, &created, opts, start_ns))
            .collect::<Result<Vec<_>, _>>()?;

        let mut events = None;
        let mut lost = None;
        let mut map_full = None;
        let mut user_maps = Vec::new();
        let mut stacks = Vec::new();
        for (index, (map_spec, data)) in spec.maps.iter().zip(created).enumerate() {
            match map_spec.role {
                MapRole::Stacks { user, depth } => stacks.push(((user, depth), data)),
                MapRole::Events => {
                    let ring = RingBuf::new(&data).map_err(|e| {
                        crate::error::sys_error(e, || format!("ring buffer '{}'", map_spec.name))
                    })?;
                    events = Some(EventRing { ring });
                }
                MapRole::LostEvents => lost = Some(LiveMap { index, data }),
                MapRole::MapFull => map_full = Some(LiveMap { index, data }),
                MapRole::User(_) => user_maps.push(LiveMap { index, data }),
                _ => {}
            }
        }

        Ok(Session {
            spec,
            links: Vec::new(),
            events,
            user_maps,
            programs,
            printer,
            format: opts.format,
            exited: false,
            lost,
            lost_reported: 0,
            symbols: std::sync::Arc::new(crate::symbols::SessionSymbols::new(stacks)),
            observe_round: 0,
            actions,
            map_full,
            map_full_warned: std::collections::HashSet::new(),
            full_checked_at: None,
        })
    }

    /// What the kernel made of each loaded program: instruction counts and JIT size, for `-v`.
    pub fn program_stats(&self) -> Vec<ProgramStats> {
        self.spec
            .programs
            .iter()
            .zip(&self.programs)
            .map(|(p, prog)| {
                let info = prog.info().ok();
                ProgramStats {
                    probe: p.probe.clone(),
                    insns: p.insns.len(),
                    xlated_insns: info.as_ref().map(|i| i.xlated_len as usize / 8),
                    jited_bytes: info.as_ref().map(|i| i.jited_len as usize),
                    verified_insns: info
                        .as_ref()
                        .map(|i| i.verified_insns as usize)
                        .filter(|&n| n > 0),
                }
            })
            .collect()
    }

    /// The kernel's view of each loaded program (id, run time and count while
    /// `kernel.bpf_stats_enabled` is on), in object order, with its probe.
    pub fn program_infos(&self) -> Vec<(String, Option<kestrel_sys::ProgramInfo>)> {
        self.spec
            .programs
            .iter()
            .zip(&self.programs)
            .map(|(p, prog)| (p.probe.clone(), prog.info().ok()))
            .collect()
    }

    /// The object this session runs.
    pub fn spec(&self) -> &ObjectSpec {
        &self.spec
    }

    /// Attaches every probe except BEGIN/END and returns how many probes the script has
    /// (BEGIN/END included, as bpftrace counts them). On failure, everything attached so
    /// far is detached again before the error is returned.
    pub fn attach(&mut self) -> Result<usize, RuntimeError> {
        for (prog, program) in self.spec.programs.iter().zip(&self.programs) {
            match attach::attach(program, prog) {
                Ok(links) => self.links.extend(links),
                Err(e) => {
                    self.detach();
                    return Err(e);
                }
            }
        }
        Ok(self.spec.programs.len())
    }

    /// Number of live attachments (probes that can fire).
    pub fn attached(&self) -> usize {
        self.links.len()
    }

    /// Detaches every probe. Idempotent; [`Session::run_end`] calls it first.
    pub fn detach(&mut self) {
        let links = std::mem::take(&mut self.links);
        if links.len() < 2 {
            return;
        }
        // Closing a perf tracepoint's link waits for an RCU grace period in the kernel (60–80
        // ms each on the project VM: 30 probes took 1.9 s to detach one by one). Dropping the
        // links from several threads lets those waits overlap.
        let threads = links.len().min(MAX_DETACH_THREADS);
        let mut batches: Vec<Vec<Link>> = (0..threads).map(|_| Vec::new()).collect();
        for (i, link) in links.into_iter().enumerate() {
            batches[i % threads].push(link);
        }
        std::thread::scope(|scope| {
            for batch in batches {
                // If no thread can be started, the batch detaches here, one link at a time.
                let builder = std::thread::Builder::new().name("kestrel-detach".into());
                if let Err(e) = builder.spawn_scoped(scope, move || drop(batch)) {
                    drop(e);
                }
            }
        });
    }

    /// Runs the BEGIN programs once, in order, then prints the events they produced.
    pub fn run_begin(&mut self, out: &mut dyn Write) -> Result<Flow, RuntimeError> {
        self.run_once(|a| *a == AttachPoint::Begin, out)?;
        Ok(if self.exited {
            Flow::Exit
        } else {
            Flow::Continue
        })
    }

    /// Prints events until the script calls `exit()` or `stop` is set. Waits on the ring
    /// buffer's fd, waking at least every 100 ms to look at `stop`.
    pub fn poll(
        &mut self,
        out: &mut dyn Write,
        stop: &StopFlag,
    ) -> Result<ExitReason, RuntimeError> {
        loop {
            if self.exited {
                return Ok(ExitReason::Exit);
            }
            if stop.is_set() {
                // Print what already arrived, as bpftrace does on Ctrl-C.
                self.drain(out)?;
                return Ok(if self.exited {
                    ExitReason::Exit
                } else {
                    ExitReason::Stopped
                });
            }
            self.wait()?;
            self.drain(out)?;
            self.report_lost(out)?;
            self.report_full_maps()?;
            self.observe_processes()?;
        }
    }

    /// Prints `Lost N events` (JSON: a `lost_events` object) when the ring buffer dropped
    /// events since the last report, as bpftrace does — never silently.
    pub fn report_lost(&mut self, out: &mut dyn Write) -> Result<(), RuntimeError> {
        let Some(live) = &self.lost else {
            return Ok(());
        };
        let Some(map_spec) = self.spec.maps.get(live.index) else {
            return Ok(());
        };
        let entries = maps::read_entries(map_spec, &live.data)?;
        let total: u64 = entries
            .iter()
            .flat_map(|e| e.values.iter())
            .filter_map(|v| {
                v.get(..8)
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_le_bytes)
            })
            .sum();
        if total > self.lost_reported {
            let n = total - self.lost_reported;
            self.lost_reported = total;
            let line = match self.format {
                OutputFormat::Text => format!("Lost {n} events\n"),
                OutputFormat::Json => {
                    format!("{{\"type\": \"lost_events\", \"data\": {{\"events\": {n}}}}}\n")
                }
            };
            out.write_all(line.as_bytes())
                .map_err(RuntimeError::Output)?;
        }
        Ok(())
    }

    /// Warns on stderr, once per map, when updates of a script map failed because the map
    /// was full (`WARNING: map @m is full: N updates were dropped ...`).
    fn report_full_maps(&mut self) -> Result<(), RuntimeError> {
        let Some(live) = &self.map_full else {
            return self.notice_full_maps();
        };
        let Some(map_spec) = self.spec.maps.get(live.index) else {
            return Ok(());
        };
        for entry in maps::read_entries(map_spec, &live.data)? {
            let Some(index) = entry
                .key
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .map(|b| u32::from_le_bytes(b) as usize)
            else {
                continue;
            };
            let dropped: u64 = entry
                .values
                .iter()
                .filter_map(|v| v.get(..8).and_then(|b| b.try_into().ok()))
                .map(u64::from_le_bytes)
                .sum();
            if dropped == 0 || self.map_full_warned.contains(&index) {
                continue;
            }
            let Some(target) = self.spec.maps.get(index) else {
                continue;
            };
            let MapRole::User(layout) = &target.role else {
                continue;
            };
            self.map_full_warned.insert(index);
            eprintln!(
                "WARNING: map {} is full: {dropped} updates were dropped (it holds {} elements; raise KESTREL_MAP_KEYS_MAX)",
                layout.display, target.max_entries
            );
        }
        Ok(())
    }

    /// Without in-kernel counters: about once a second (and at the end), warns once per map
    /// that holds as many elements as it can, since updates adding keys then fail.
    fn notice_full_maps(&mut self) -> Result<(), RuntimeError> {
        // Key iteration costs a syscall per element: look at most once a second.
        let due = self
            .full_checked_at
            .is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(1));
        if !due && !self.detached() {
            return Ok(());
        }
        self.full_checked_at = Some(std::time::Instant::now());
        for live in &self.user_maps {
            if self.map_full_warned.contains(&live.index) {
                continue;
            }
            let Some(spec) = self.spec.maps.get(live.index) else {
                continue;
            };
            let MapRole::User(layout) = &spec.role else {
                continue;
            };
            let keyed = !layout.keys.is_empty()
                || matches!(
                    layout.value,
                    kestrel_obj::ValueKind::Hist | kestrel_obj::ValueKind::Lhist { .. }
                );
            if !keyed || !matches!(spec.kind, MapKind::Hash | MapKind::PerCpuHash) {
                continue;
            }
            let limit = spec.max_entries as usize;
            if maps::count_keys(spec, &live.data, limit)? >= limit {
                self.map_full_warned.insert(live.index);
                eprintln!(
                    "WARNING: map {} is full: it holds {limit} elements and updates that add keys are dropped (raise KESTREL_MAP_KEYS_MAX; KESTREL_COUNT_MAP_FULL=1 counts them)",
                    layout.display
                );
            }
        }
        Ok(())
    }

    fn detached(&self) -> bool {
        self.links.is_empty()
    }

    /// Detaches all probes, runs the END programs once and prints their events.
    pub fn run_end(&mut self, out: &mut dyn Write) -> Result<(), RuntimeError> {
        self.detach();
        // Events still queued from the probes come before END's output.
        self.drain(out)?;
        self.report_lost(out)?;
        self.report_full_maps()?;
        // END runs even after exit(); its own exit() only stops its own output.
        self.exited = false;
        self.run_once(|a| *a == AttachPoint::End, out)
    }

    /// Prints every script map as bpftrace does at exit (text: a blank line, then every
    /// non-empty map in lexicographic order of name; JSON: one line per non-empty map).
    pub fn print_maps(&mut self, out: &mut dyn Write) -> Result<(), RuntimeError> {
        let maps = self.user_maps()?;
        let _symbols = crate::output::symbols::install(self.symbols.clone());
        let text = match self.format {
            OutputFormat::Text => render_all_maps_text(&maps),
            OutputFormat::Json => render_all_maps_json(&maps),
        };
        out.write_all(text.as_bytes())
            .map_err(RuntimeError::Output)?;
        out.flush().map_err(RuntimeError::Output)
    }

    /// Every script map as one bpftrace `-f json` line (stacks and symbols resolved), empty
    /// ones included, for callers that render maps their own way (the built-in tools).
    pub fn maps_json(&self) -> Result<Vec<String>, RuntimeError> {
        let maps = self.user_maps()?;
        let _symbols = crate::output::symbols::install(self.symbols.clone());
        Ok(maps
            .iter()
            .map(|(layout, entries)| crate::output::render_map_json(layout, entries))
            .collect())
    }

    /// Every script map (`@name`) with its raw entries, in object order, empty ones included.
    pub fn user_maps(&self) -> Result<Vec<(&UserMapLayout, Vec<RawEntry>)>, RuntimeError> {
        let mut result = Vec::new();
        for live in &self.user_maps {
            let Some(map_spec) = self.spec.maps.get(live.index) else {
                continue;
            };
            if let MapRole::User(layout) = &map_spec.role {
                result.push((layout, maps::read_entries(map_spec, &live.data)?));
            }
        }
        Ok(result)
    }

    /// One script map's raw entries, by display name (`@name`); `None` if there is none.
    pub fn read_map(&self, display: &str) -> Result<Option<Vec<RawEntry>>, RuntimeError> {
        for live in &self.user_maps {
            let Some(map_spec) = self.spec.maps.get(live.index) else {
                continue;
            };
            if matches!(&map_spec.role, MapRole::User(l) if l.display == display) {
                return maps::read_entries(map_spec, &live.data).map(Some);
            }
        }
        Ok(None)
    }

    fn run_once(
        &mut self,
        which: impl Fn(&AttachPoint) -> bool,
        out: &mut dyn Write,
    ) -> Result<(), RuntimeError> {
        for (prog, program) in self.spec.programs.iter().zip(&self.programs) {
            if which(&prog.attach) {
                attach::run_once(program, prog)?;
            }
        }
        self.drain(out)
    }

    /// Prints all available events; remembers an `exit()`.
    fn drain(&mut self, out: &mut dyn Write) -> Result<(), RuntimeError> {
        if self.exited {
            return Ok(());
        }
        if let Some(events) = &mut self.events {
            let _symbols = crate::output::symbols::install(self.symbols.clone());
            let access = crate::actions::MapAccess {
                spec: &self.spec,
                live: &self.user_maps,
            };
            let actions = &self.actions;
            let mut on_action = |index: usize, record: &[u8], out: &mut dyn Write| {
                actions.run(index, record, &access, out)
            };
            if events.drain(&self.printer, out, &mut on_action)? {
                self.exited = true;
            }
        }
        Ok(())
    }

    /// Every few poll rounds, remembers the mappings of processes that appear in maps keyed
    /// by user stacks or symbols, so their frames still resolve after they exit.
    fn observe_processes(&mut self) -> Result<(), RuntimeError> {
        self.observe_round += 1;
        if self.observe_round < 2 {
            return Ok(());
        }
        self.observe_round = 0;
        for live in &self.user_maps {
            let Some(map_spec) = self.spec.maps.get(live.index) else {
                continue;
            };
            if let MapRole::User(layout) = &map_spec.role {
                if crate::symbols::SessionSymbols::wants_processes(layout) {
                    let entries = maps::read_entries(map_spec, &live.data)?;
                    self.symbols.observe(layout, &entries);
                }
            }
        }
        Ok(())
    }

    /// Sleeps until the ring buffer has data, a signal arrives, or the poll interval ends.
    fn wait(&self) -> Result<(), RuntimeError> {
        match &self.events {
            Some(events) => events
                .ring
                .wait(POLL_INTERVAL.as_millis() as i32)
                .map(drop)
                .map_err(|e| crate::error::sys_error(e, || "the event ring buffer".to_string())),
            None => {
                std::thread::sleep(POLL_INTERVAL);
                Ok(())
            }
        }
    }
}

/// Most threads [`Session::detach`] uses to close links concurrently.
const MAX_DETACH_THREADS: usize = 32;

/// Sizes of one loaded program, as kestrel generated it and as the kernel kept it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramStats {
    /// The probe, e.g. `tracepoint:syscalls:sys_enter_openat`.
    pub probe: String,
    /// Instructions kestrel generated.
    pub insns: usize,
    /// Instructions after the verifier's rewrites (`bpftool prog show` "xlated").
    pub xlated_insns: Option<usize>,
    /// Bytes of JIT-compiled machine code.
    pub jited_bytes: Option<usize>,
    /// Instructions the verifier processed (all paths).
    pub verified_insns: Option<usize>,
}
