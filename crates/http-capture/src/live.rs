//! The live capture: maps created, programs built from the running kernel's tracepoint
//! formats, loaded, attached by perf-event links (closed on drop, so any exit detaches),
//! pre-existing connections seeded, and the ring buffer read.

use kestrel_kernel::{KernelFacts, LiveKernel, TracepointId};
use kestrel_sys::{FdReloc, Link, Map, MapDef, MapType, PerfEvent, ProgType, Program, ProgramLoad};

use crate::decode::{self, Raw};
use crate::layout;
use crate::program::{self, CapMap, Params};
use crate::seed;
use crate::CaptureError;

/// How to capture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureConfig {
    /// Bytes of each read/write copied (default 1024, at least 64).
    pub capture_bytes: u32,
    /// Only this process's connections (decided in the kernel).
    pub pid: Option<u32>,
    /// Ring buffer size in bytes (a power of two, multiple of the page size).
    pub ring_bytes: u32,
    /// Most connections tracked at once (the `conns` map).
    pub max_connections: u32,
    /// Find the connections that existed before the capture started (/proc).
    pub seed: bool,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        CaptureConfig {
            capture_bytes: 1024,
            pid: None,
            ring_bytes: 16 << 20,
            max_connections: 65_536,
            seed: true,
        }
    }
}

/// One loaded program and its tracepoint.
#[derive(Debug)]
pub struct Loaded {
    /// `category:name`.
    pub tracepoint: String,
    /// The program (for run-time statistics).
    pub program: Program,
}

/// A running capture. Dropping it detaches everything.
#[derive(Debug)]
pub struct Capture {
    conns: Map,
    _pending: Map,
    _scratch: Map,
    _events: Map,
    lost: Map,
    ring: kestrel_sys::RingBuf,
    programs: Vec<Loaded>,
    links: Vec<Link>,
    seeded: Vec<seed::Seeded>,
}

impl Capture {
    /// Creates the maps, builds, loads and attaches every program, then seeds the
    /// connections already open.
    pub fn start(cfg: &CaptureConfig) -> Result<Capture, CaptureError> {
        if !(64..=65_536).contains(&cfg.capture_bytes) {
            return Err(CaptureError::Config(format!(
                "--capture-bytes {} is outside 64..=65536",
                cfg.capture_bytes
            )));
        }
        kestrel_kernel::ensure_tracefs().map_err(|e| CaptureError::Kernel(e.to_string()))?;
        let mk = |name: &str, kind, key, value, max| {
            Map::create(&MapDef {
                name: name.to_string(),
                kind,
                key_size: key,
                value_size: value,
                max_entries: max,
                flags: 0,
            })
            .map_err(|e| CaptureError::Sys(format!("creating map {name}"), e))
        };
        let conns = mk(
            "http_conns",
            MapType::Hash,
            layout::CONN_KEY,
            layout::CONN_VALUE,
            cfg.max_connections,
        )?;
        let pending = mk(
            "http_pending",
            MapType::LruHash,
            8,
            layout::PENDING_VALUE,
            16_384,
        )?;
        let scratch = mk(
            "http_scratch",
            MapType::PerCpuArray,
            4,
            layout::HDR as u32 + cfg.capture_bytes,
            1,
        )?;
        let events = mk("http_events", MapType::RingBuf, 0, 0, cfg.ring_bytes)?;
        let lost = mk(
            "http_lost",
            MapType::PerCpuArray,
            4,
            8 * layout::lost::SLOTS,
            1,
        )?;
        let ring = kestrel_sys::RingBuf::new(&events)
            .map_err(|e| CaptureError::Sys("mapping the ring buffer".into(), e))?;
        let params = Params {
            capture_bytes: cfg.capture_bytes,
            pid: cfg.pid,
        };
        let kernel = LiveKernel::new();
        let mut programs = Vec::new();
        let mut links = Vec::new();
        for plan in program::plans() {
            let id = TracepointId::new(plan.category, plan.name.clone());
            let fmt = kernel
                .tracepoint_format(&id)
                .map_err(|e| CaptureError::Kernel(format!("{id}: {e}")))?;
            let g = program::build(plan.hook, &fmt, &params)?;
            let map_of = |m: CapMap| match m {
                CapMap::Conns => &conns,
                CapMap::Pending => &pending,
                CapMap::Scratch => &scratch,
                CapMap::Events => &events,
                CapMap::Lost => &lost,
            };
            let relocs: Vec<FdReloc<'_>> = g
                .relocs
                .iter()
                .map(|(insn, m)| FdReloc {
                    insn: *insn,
                    map: map_of(*m),
                })
                .collect();
            // The kernel keeps 15 bytes of a name: "h_" and the tracepoint's tail.
            let short: String = format!("h_{}", plan.name.trim_start_matches("sys_"))
                .chars()
                .take(15)
                .collect();
            let prog = Program::load(
                &ProgramLoad::new(ProgType::Tracepoint, &short, &g.insns).with_relocs(&relocs),
            )
            .map_err(|e| CaptureError::Sys(format!("loading the program for {id}"), e))?;
            let event = PerfEvent::tracepoint(u64::from(fmt.event_id), &id.to_string())
                .map_err(|e| CaptureError::Sys(format!("opening {id}"), e))?;
            let link = Link::attach_perf_event(&prog, event)
                .map_err(|e| CaptureError::Sys(format!("attaching to {id}"), e))?;
            links.push(link);
            programs.push(Loaded {
                tracepoint: id.to_string(),
                program: prog,
            });
        }
        let mut cap = Capture {
            conns,
            _pending: pending,
            _scratch: scratch,
            _events: events,
            lost,
            ring,
            programs,
            links,
            seeded: Vec::new(),
        };
        if cfg.seed {
            // After attaching, so a connection opened meanwhile is seen one way or the other.
            let found = seed::scan(std::path::Path::new("/proc"), cfg.pid);
            for s in &found {
                let role = match s.role {
                    kestrel_l7::Role::Server => layout::ROLE_SERVER,
                    kestrel_l7::Role::Client => layout::ROLE_CLIENT,
                };
                let mut key = [0u8; 8];
                key[..4].copy_from_slice(&s.pid.to_le_bytes());
                key[4..].copy_from_slice(&s.fd.to_le_bytes());
                let mut value = [0u8; 16];
                value[..4].copy_from_slice(&u32::from(role).to_le_bytes());
                // A full map is not fatal: the connection simply is not seen.
                let _ = cap.conns.update(&key, &value);
            }
            cap.seeded = found;
        }
        Ok(cap)
    }

    /// Connections found in /proc at start-up (already tracked in the kernel).
    pub fn seeded(&self) -> &[seed::Seeded] {
        &self.seeded
    }

    /// Hands every available record to `f`, decoded. Malformed records (which the
    /// programs never write) are counted by the caller through `Raw::Malformed`.
    pub fn drain(&mut self, mut f: impl FnMut(Raw<'_>)) -> usize {
        self.ring.read(|bytes| {
            f(decode::decode(bytes));
            true
        })
    }

    /// Sleeps until records arrive or `timeout_ms` passes.
    pub fn wait(&self, timeout_ms: i32) -> Result<bool, CaptureError> {
        self.ring
            .wait(timeout_ms)
            .map_err(|e| CaptureError::Sys("waiting on the ring buffer".into(), e))
    }

    /// Records the ring buffer had no room for, per CPU (counted in the kernel).
    pub fn lost_per_cpu(&self) -> Result<Vec<u64>, CaptureError> {
        let mut v = vec![0u8; self.lost.value_len()];
        let key = 0u32.to_le_bytes();
        self.lost
            .lookup(&key, &mut v)
            .map_err(|e| CaptureError::Sys("reading lost counters".into(), e))?;
        Ok(self
            .lost
            .per_cpu_values(&v)
            .iter()
            .map(|c| {
                c.get(..8)
                    .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
            })
            .collect())
    }

    /// The loaded programs (for `Program::info()`: run_time_ns / run_cnt).
    pub fn programs(&self) -> &[Loaded] {
        &self.programs
    }

    /// Number of attached links.
    pub fn links(&self) -> usize {
        self.links.len()
    }

    /// Forgets `(pid, fd)` in the kernel (used when /proc shows an unverified accepted
    /// socket is not TCP).
    pub fn untrack(&self, pid: u32, fd: u32) {
        let mut key = [0u8; 8];
        key[..4].copy_from_slice(&pid.to_le_bytes());
        key[4..].copy_from_slice(&fd.to_le_bytes());
        let _ = self.conns.delete(&key);
    }
}
