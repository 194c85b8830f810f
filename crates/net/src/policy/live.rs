//! The policy in the kernel: maps filled, programs verified, bpf_links on the workloads'
//! cgroups; pinned (`up`) or held by the process (`up --no-pin`, `run`), swapped atomically
//! (`reload`), watched (`watch`) and removed (`down`); counters are read by [`super::status`].
//!
//! Pins, under `/sys/fs/bpf/kestrel/policy/`:
//! - `gen<N>/`: the maps of generation N (`peers4`, `peers6`, `ports`, `stats`, `events`,
//!   `limits`) and `meta`, a one-entry array holding the policy source and the attachments
//!   as JSON. The highest generation with a `meta` is the live one.
//! - `links/a<K>_<hook>`: one link per attachment (workload, cgroup) and hook.
//!
//! `reload` builds generation N+1 completely (maps filled, every program verified) before it
//! touches a link; then each link is swapped with `BPF_LINK_UPDATE`, so every hook runs the
//! old program or the new one, never none.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use kestrel_sys::{
    ensure_bpffs_dir, AttachType, FdReloc, Link, Map, MapDef, MapType, ProgType, Program,
    ProgramLoad, RingBuf, SysError,
};
use serde::{Deserialize, Serialize};

use super::cgroups::{self, ResolveError};
use super::compile::{self, PEER4_KEY, PEER6_KEY, PORT_KEY, PORT_VALUE};
use super::program::{Hook, PolMap, LIMITS_VALUE, STAT_VALUE};
use super::record::{self, VerdictRecord};
use super::spec::{Policy, PolicyError};
use super::status::{statuses, WorkloadStatus};
use super::{check, Compiled};

/// Root of the policy's pins.
pub const PIN_ROOT: &str = "/sys/fs/bpf/kestrel/policy";
/// Ring buffer size for verdict records.
pub const EVENTS_BYTES: u32 = 256 * 1024;

/// Everything that can go wrong with a live policy.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The policy file is invalid.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// A workload's cgroups cannot be found.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// `up` while a policy is up.
    #[error("a kestrel policy is already up (use `kestrel policy reload --file F` or `kestrel policy down`)")]
    AlreadyUp,
    /// An operation needing a policy found none.
    #[error("no kestrel policy is up (`kestrel policy up --file F`)")]
    NotUp,
    /// `run --workload` with a name the policy does not define.
    #[error("{file}: no workload named '{name}' (the policy defines: {known})")]
    UnknownWorkload {
        /// Policy file.
        file: String,
        /// The name asked for.
        name: String,
        /// Names it has.
        known: String,
    },
    /// A kernel operation failed.
    #[error("{context}")]
    Sys {
        /// What kestrel was doing.
        context: String,
        /// The failure.
        #[source]
        source: SysError,
    },
    /// A file operation failed.
    #[error("{context}")]
    Io {
        /// What kestrel was doing.
        context: String,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// The pinned state is not what kestrel wrote.
    #[error("{0}")]
    Corrupt(String),
}

pub(super) fn sys(context: impl Into<String>) -> impl FnOnce(SysError) -> LiveError {
    let context = context.into();
    move |source| LiveError::Sys { context, source }
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> LiveError {
    let context = context.into();
    move |source| LiveError::Io { context, source }
}

/// The maps of one generation.
pub struct Maps {
    peers4: Map,
    peers6: Map,
    ports: Map,
    pub(super) stats: Map,
    events: Map,
    pub(super) limits: Map,
}

const MAP_FILES: [&str; 6] = ["peers4", "peers6", "ports", "stats", "events", "limits"];

impl Maps {
    /// Creates and fills the maps of `c`.
    pub fn create(c: &Compiled) -> Result<Maps, LiveError> {
        let mk = |name: &str, kind, key: usize, value: u32, max: u32| {
            Map::create(&MapDef {
                name: format!("kpol_{name}"),
                kind,
                key_size: key as u32,
                value_size: value,
                max_entries: max.max(1),
                flags: 0,
            })
            .map_err(sys(format!("creating the {name} map")))
        };
        let t = &c.tables;
        let maps = Maps {
            peers4: mk(
                "peers4",
                MapType::LpmTrie,
                PEER4_KEY,
                4,
                t.peers4.len() as u32,
            )?,
            peers6: mk(
                "peers6",
                MapType::LpmTrie,
                PEER6_KEY,
                4,
                t.peers6.len() as u32,
            )?,
            ports: mk(
                "ports",
                MapType::LpmTrie,
                PORT_KEY,
                PORT_VALUE as u32,
                t.ports.len() as u32,
            )?,
            stats: mk(
                "stats",
                MapType::PerCpuArray,
                4,
                STAT_VALUE,
                compile::slot_count(&c.policy),
            )?,
            events: Map::create(&MapDef {
                name: "kpol_events".to_string(),
                kind: MapType::RingBuf,
                key_size: 0,
                value_size: 0,
                max_entries: EVENTS_BYTES,
                flags: 0,
            })
            .map_err(sys("creating the events ring buffer"))?,
            limits: mk("limits", MapType::PerCpuArray, 4, LIMITS_VALUE, 2)?,
        };
        for (k, class) in &t.peers4 {
            maps.peers4
                .update(k, &class.to_ne_bytes())
                .map_err(sys("filling the IPv4 peer trie"))?;
        }
        for (k, class) in &t.peers6 {
            maps.peers6
                .update(k, &class.to_ne_bytes())
                .map_err(sys("filling the IPv6 peer trie"))?;
        }
        for (k, v) in &t.ports {
            maps.ports
                .update(k, v)
                .map_err(sys("filling the port trie"))?;
        }
        Ok(maps)
    }

    /// Opens the maps pinned in `dir`, checking their shapes.
    pub fn open(dir: &Path) -> Result<Maps, LiveError> {
        let o =
            |n: &str| Map::from_pin(&dir.join(n)).map_err(sys(format!("opening pinned map {n}")));
        let maps = Maps {
            peers4: o("peers4")?,
            peers6: o("peers6")?,
            ports: o("ports")?,
            stats: o("stats")?,
            events: o("events")?,
            limits: o("limits")?,
        };
        let ok = maps.peers4.key_size() == PEER4_KEY
            && maps.peers6.key_size() == PEER6_KEY
            && maps.ports.key_size() == PORT_KEY
            && maps.stats.value_size() == STAT_VALUE as usize
            && maps.limits.value_size() == LIMITS_VALUE as usize
            && maps.events.kind() == Some(MapType::RingBuf);
        if !ok {
            return Err(LiveError::Corrupt(format!(
                "the maps pinned in {} are not a kestrel policy's",
                dir.display()
            )));
        }
        Ok(maps)
    }

    fn get(&self, m: PolMap) -> &Map {
        match m {
            PolMap::Peers4 => &self.peers4,
            PolMap::Peers6 => &self.peers6,
            PolMap::Ports => &self.ports,
            PolMap::Stats => &self.stats,
            PolMap::Events => &self.events,
            PolMap::Limits => &self.limits,
        }
    }

    fn all(&self) -> [&Map; 6] {
        [
            &self.peers4,
            &self.peers6,
            &self.ports,
            &self.stats,
            &self.events,
            &self.limits,
        ]
    }

    fn pin(&self, dir: &Path) -> Result<(), LiveError> {
        for (name, map) in MAP_FILES.iter().zip(self.all()) {
            map.pin(&dir.join(name))
                .map_err(sys(format!("pinning {name}")))?;
        }
        Ok(())
    }
}

fn attach_type(h: Hook) -> (ProgType, AttachType) {
    match h {
        Hook::Connect4 => (ProgType::CgroupSockAddr, AttachType::CgroupInet4Connect),
        Hook::Connect6 => (ProgType::CgroupSockAddr, AttachType::CgroupInet6Connect),
        Hook::Sendmsg4 => (ProgType::CgroupSockAddr, AttachType::CgroupUdp4Sendmsg),
        Hook::Sendmsg6 => (ProgType::CgroupSockAddr, AttachType::CgroupUdp6Sendmsg),
        Hook::Ingress => (ProgType::CgroupSkb, AttachType::CgroupInetIngress),
        Hook::Egress => (ProgType::CgroupSkb, AttachType::CgroupInetEgress),
    }
}

/// Loads (verifies) every program of workload `w` against `maps`.
fn load_workload(c: &Compiled, maps: &Maps, w: usize) -> Result<Vec<(Hook, Program)>, LiveError> {
    let mut out = Vec::new();
    let Some(progs) = c.programs.get(w) else {
        return Ok(out);
    };
    for (hook, p) in progs {
        let relocs: Vec<FdReloc<'_>> = p
            .relocs
            .iter()
            .map(|(insn, m)| FdReloc {
                insn: *insn,
                map: maps.get(*m),
            })
            .collect();
        let (kind, attach) = attach_type(*hook);
        let name = format!("kpol_{}", hook.name());
        let prog = Program::load(
            &ProgramLoad::new(kind, &name, &p.insns)
                .with_attach(attach)
                .with_relocs(&relocs),
        )
        .map_err(sys(format!(
            "loading the {} program of workload '{}'",
            hook.name(),
            c.policy.workloads[w].name
        )))?;
        out.push((*hook, prog));
    }
    Ok(out)
}

fn load_all(c: &Compiled, maps: &Maps) -> Result<Vec<Vec<(Hook, Program)>>, LiveError> {
    (0..c.policy.workloads.len())
        .map(|w| load_workload(c, maps, w))
        .collect()
}

/// Attaches one workload's programs to `cgroup`; on error the links made so far close.
fn attach(progs: &[(Hook, Program)], cgroup: &Path) -> Result<Vec<(Hook, Link)>, LiveError> {
    let dir =
        std::fs::File::open(cgroup).map_err(io(format!("opening cgroup {}", cgroup.display())))?;
    let mut out = Vec::new();
    for (hook, prog) in progs {
        let (_, at) = attach_type(*hook);
        let link = Link::attach_cgroup(prog, std::os::fd::AsFd::as_fd(&dir), at).map_err(sys(
            format!("attaching {} to {}", hook.name(), cgroup.display()),
        ))?;
        out.push((*hook, link));
    }
    Ok(out)
}

/// One workload attached to one cgroup (as recorded in `meta`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// Workload name.
    pub workload: String,
    /// cgroup directory.
    pub cgroup: String,
    /// Link pin prefix under `links/` (`a<K>`).
    pub pin: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Meta {
    pub(super) file: String,
    pub(super) source: String,
    pub(super) generation: u64,
    pub(super) next_pin: u64,
    pub(super) attachments: Vec<Attachment>,
}

fn meta_map(meta: &Meta) -> Result<Map, LiveError> {
    let json = serde_json::to_vec(meta).map_err(|e| LiveError::Corrupt(e.to_string()))?;
    let size = (json.len() + 4).next_multiple_of(8) as u32;
    let map = Map::create(&MapDef {
        name: "kpol_meta".to_string(),
        kind: MapType::Array,
        key_size: 4,
        value_size: size,
        max_entries: 1,
        flags: 0,
    })
    .map_err(sys("creating the meta map"))?;
    let mut value = vec![0u8; size as usize];
    value[..4].copy_from_slice(&(json.len() as u32).to_ne_bytes());
    value[4..4 + json.len()].copy_from_slice(&json);
    map.update(&0u32.to_ne_bytes(), &value)
        .map_err(sys("writing the meta map"))?;
    Ok(map)
}

pub(super) fn read_meta(dir: &Path) -> Result<Meta, LiveError> {
    let map = Map::from_pin(&dir.join("meta")).map_err(sys("opening pinned map meta"))?;
    let mut value = vec![0u8; map.value_len()];
    map.lookup(&0u32.to_ne_bytes(), &mut value)
        .map_err(sys("reading the meta map"))?;
    let len = value
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_ne_bytes)
        .unwrap_or(0) as usize;
    let json = value
        .get(4..4 + len)
        .ok_or_else(|| LiveError::Corrupt("the meta map is truncated".to_string()))?;
    serde_json::from_slice(json)
        .map_err(|e| LiveError::Corrupt(format!("the meta map is not kestrel's: {e}")))
}

fn root() -> PathBuf {
    PathBuf::from(PIN_ROOT)
}

fn gen_dir(g: u64) -> PathBuf {
    root().join(format!("gen{g}"))
}

/// The live generation: the highest `gen<N>` with a meta.
pub(super) fn current() -> Option<(u64, PathBuf)> {
    let rd = std::fs::read_dir(root()).ok()?;
    rd.filter_map(|e| e.ok())
        .filter_map(|e| {
            let n: u64 = e.file_name().to_str()?.strip_prefix("gen")?.parse().ok()?;
            e.path().join("meta").exists().then_some((n, e.path()))
        })
        .max_by_key(|(n, _)| *n)
}

/// True if a pinned policy is up.
pub fn is_up() -> bool {
    current().is_some()
}

fn link_pin(prefix: &str, hook: Hook) -> PathBuf {
    root()
        .join("links")
        .join(format!("{prefix}_{}", hook.name()))
}

fn remove_tree(dir: &Path) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.filter_map(|e| e.ok()) {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&p);
            } else {
                let _ = std::fs::remove_file(&p);
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

/// Parses, validates and compiles the file at `path`.
pub fn compile_file(path: &str) -> Result<Compiled, LiveError> {
    let src = std::fs::read_to_string(path).map_err(io(format!("cannot read {path}")))?;
    Ok(check(path, &src)?)
}

/// What `up` did.
#[derive(Clone, Debug, Serialize)]
pub struct UpReport {
    /// Attachments made.
    pub attachments: Vec<Attachment>,
    /// Programs attached (links).
    pub links: usize,
}

/// Brings a policy up and pins it: everything is built and verified before the first
/// attach; on any error nothing is left attached or pinned.
pub fn up(c: &Compiled) -> Result<UpReport, LiveError> {
    if is_up() {
        return Err(LiveError::AlreadyUp);
    }
    let targets = cgroups::resolve(&c.policy)?;
    let maps = Maps::create(c)?;
    let progs = load_all(c, &maps)?;
    ensure_bpffs_dir(&root().join("links")).map_err(sys("preparing the pin directory"))?;
    let result = (|| {
        let g = 1;
        let dir = gen_dir(g);
        ensure_bpffs_dir(&dir).map_err(sys("preparing the pin directory"))?;
        maps.pin(&dir)?;
        let mut attachments = Vec::new();
        let mut links = 0;
        for (k, (w, cg)) in targets.iter().enumerate() {
            let prefix = format!("a{k}");
            for (hook, link) in attach(&progs[*w], cg)? {
                link.pin(&link_pin(&prefix, hook))
                    .map_err(sys("pinning a link"))?;
                links += 1;
            }
            attachments.push(Attachment {
                workload: c.policy.workloads[*w].name.clone(),
                cgroup: cg.display().to_string(),
                pin: prefix,
            });
        }
        // meta last: once it exists the policy is up.
        let meta = meta_map(&Meta {
            file: c.policy.file.clone(),
            source: c.source.clone(),
            generation: g,
            next_pin: targets.len() as u64,
            attachments: attachments.clone(),
        })?;
        meta.pin(&dir.join("meta")).map_err(sys("pinning meta"))?;
        Ok(UpReport { attachments, links })
    })();
    if result.is_err() {
        let _ = down();
    }
    result
}

/// Detaches every link of the pinned policy and removes every pin. `Ok(false)` if none.
pub fn down() -> Result<bool, LiveError> {
    let r = root();
    if !r.exists() {
        return Ok(false);
    }
    if let Ok(rd) = std::fs::read_dir(r.join("links")) {
        for e in rd.filter_map(|e| e.ok()) {
            if let Ok(link) = Link::from_pin(&e.path()) {
                link.detach().map_err(sys("detaching"))?;
            }
        }
    }
    remove_tree(&r);
    let _ = std::fs::remove_dir(r.parent().unwrap_or(&r));
    if r.exists() {
        return Err(LiveError::Corrupt(format!(
            "{} still exists (unexpected files in it?)",
            r.display()
        )));
    }
    Ok(true)
}

/// What `reload` did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ReloadReport {
    /// Generation now live.
    pub generation: u64,
    /// Links swapped in place.
    pub swapped: usize,
    /// Links created for new (workload, cgroup) pairs.
    pub attached: usize,
    /// Links removed (pairs no longer selected).
    pub detached: usize,
}

/// Swaps in a new policy: generation N+1's maps are filled and every program verified
/// first; then each existing link is swapped with `BPF_LINK_UPDATE`, new cgroups are
/// attached and cgroups no longer selected detached. Counters start from zero.
pub fn reload(c: &Compiled) -> Result<ReloadReport, LiveError> {
    let (g, old_dir) = current().ok_or(LiveError::NotUp)?;
    let old = read_meta(&old_dir)?;
    let targets = cgroups::resolve(&c.policy)?;
    let maps = Maps::create(c)?;
    let progs = load_all(c, &maps)?;
    let new_g = g + 1;
    let dir = gen_dir(new_g);
    remove_tree(&dir);
    ensure_bpffs_dir(&dir).map_err(sys("preparing the pin directory"))?;
    if let Err(e) = maps.pin(&dir) {
        remove_tree(&dir);
        return Err(e);
    }
    let mut report = ReloadReport {
        generation: new_g,
        ..ReloadReport::default()
    };
    let mut next_pin = old.next_pin;
    let mut attachments = Vec::new();
    // New pairs first: a failure here detaches them and leaves the old policy untouched.
    let mut created: Vec<PathBuf> = Vec::new();
    let attach_new = (|| {
        for (w, cg) in &targets {
            let name = &c.policy.workloads[*w].name;
            let cgs = cg.display().to_string();
            if old
                .attachments
                .iter()
                .any(|a| a.workload == *name && a.cgroup == cgs)
            {
                continue;
            }
            let prefix = format!("a{next_pin}");
            next_pin += 1;
            for (hook, link) in attach(&progs[*w], cg)? {
                let pin = link_pin(&prefix, hook);
                link.pin(&pin).map_err(sys("pinning a link"))?;
                created.push(pin);
                report.attached += 1;
            }
            attachments.push(Attachment {
                workload: name.clone(),
                cgroup: cgs,
                pin: prefix,
            });
        }
        Ok::<(), LiveError>(())
    })();
    if let Err(e) = attach_new {
        for p in &created {
            if let Ok(l) = Link::from_pin(p) {
                let _ = l.detach();
            }
            let _ = std::fs::remove_file(p);
        }
        remove_tree(&dir);
        return Err(e);
    }
    // Existing pairs: swap each link's program atomically.
    for a in &old.attachments {
        let keep = targets.iter().find(|(w, cg)| {
            c.policy.workloads[*w].name == a.workload && cg.display().to_string() == a.cgroup
        });
        match keep {
            Some((w, _)) => {
                for (hook, prog) in &progs[*w] {
                    let link = Link::from_pin(&link_pin(&a.pin, *hook))
                        .map_err(sys("opening a pinned link"))?;
                    link.update(prog).map_err(sys(format!(
                        "swapping the {} program of workload '{}' on {}",
                        hook.name(),
                        a.workload,
                        a.cgroup
                    )))?;
                    report.swapped += 1;
                }
                attachments.push(a.clone());
            }
            None => {
                for hook in Hook::ALL {
                    let p = link_pin(&a.pin, hook);
                    if let Ok(l) = Link::from_pin(&p) {
                        let _ = l.detach();
                        report.detached += 1;
                    }
                    let _ = std::fs::remove_file(&p);
                }
            }
        }
    }
    let meta = meta_map(&Meta {
        file: c.policy.file.clone(),
        source: c.source.clone(),
        generation: new_g,
        next_pin,
        attachments,
    })?;
    meta.pin(&dir.join("meta")).map_err(sys("pinning meta"))?;
    remove_tree(&old_dir);
    Ok(report)
}

pub(super) fn policy_of(meta: &Meta) -> Result<Policy, LiveError> {
    Ok(super::spec::parse(&meta.file, &meta.source)?)
}

/// Turns a record's CLOCK_MONOTONIC time into wall-clock RFC 3339.
fn stamp(r: &mut VerdictRecord) {
    let now_mono = u128::from(kestrel_sys::monotonic_ns());
    let now_wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let t = now_wall.saturating_sub(now_mono.saturating_sub(u128::from(r.ktime_ns)));
    r.time = record::rfc3339(t);
}

/// Reads verdict records from `events` until `stop` is set, handing each to `f`.
fn pump(
    policy: &Policy,
    events: &Map,
    stop: &AtomicBool,
    mut until: impl FnMut() -> bool,
    f: &mut dyn FnMut(&VerdictRecord),
) -> Result<(), LiveError> {
    let mut ring = RingBuf::new(events).map_err(sys("mapping the events ring buffer"))?;
    // Records written while nobody watched are stale: a watch shows flows from its start.
    let since = kestrel_sys::monotonic_ns();
    while !stop.load(Ordering::Relaxed) && !until() {
        ring.wait(200).map_err(sys("waiting for verdict records"))?;
        ring.read(|b| {
            if let Some(mut r) = record::decode(policy, b).filter(|r| r.ktime_ns >= since) {
                stamp(&mut r);
                f(&r);
            }
            true
        });
    }
    Ok(())
}

/// Streams the pinned policy's verdict records to `f` until `stop` is set, following
/// reloads to the new generation's ring buffer.
pub fn watch(stop: &AtomicBool, f: &mut dyn FnMut(&VerdictRecord)) -> Result<(), LiveError> {
    while !stop.load(Ordering::Relaxed) {
        let (g, dir) = current().ok_or(LiveError::NotUp)?;
        let meta = read_meta(&dir)?;
        let policy = policy_of(&meta)?;
        let events =
            Map::from_pin(&dir.join("events")).map_err(sys("opening the events ring buffer"))?;
        let mut last_check = std::time::Instant::now();
        let moved = || {
            if last_check.elapsed().as_millis() < 500 {
                return false;
            }
            last_check = std::time::Instant::now();
            current().map(|(n, _)| n) != Some(g)
        };
        pump(&policy, &events, stop, moved, f)?;
    }
    Ok(())
}

/// One attachment's links, per hook.
type HookLinks = Vec<(Hook, Link)>;

/// A policy held by this process, nothing pinned: dropping it (or any exit, kill -9
/// included) detaches everything.
pub struct Session {
    compiled: Compiled,
    maps: Maps,
    progs: Vec<Vec<(Hook, Program)>>,
    links: Vec<(usize, PathBuf, HookLinks)>,
}

impl Session {
    /// Builds maps and verifies every program, attaching nothing yet.
    pub fn new(c: Compiled) -> Result<Session, LiveError> {
        let maps = Maps::create(&c)?;
        let progs = load_all(&c, &maps)?;
        Ok(Session {
            compiled: c,
            maps,
            progs,
            links: Vec::new(),
        })
    }

    /// Attaches every workload to the cgroups its selectors find (`up --no-pin`).
    pub fn attach_selected(&mut self) -> Result<usize, LiveError> {
        let targets = cgroups::resolve(&self.compiled.policy)?;
        for (w, cg) in targets {
            self.attach_to(w, &cg)?;
        }
        Ok(self.links.iter().map(|l| l.2.len()).sum())
    }

    /// Attaches workload `w` to `cgroup`.
    pub fn attach_to(&mut self, w: usize, cgroup: &Path) -> Result<(), LiveError> {
        let progs = self
            .progs
            .get(w)
            .ok_or_else(|| LiveError::Corrupt(format!("internal: no programs for workload {w}")))?;
        let links = attach(progs, cgroup)?;
        self.links.push((w, cgroup.to_path_buf(), links));
        Ok(())
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.compiled.policy
    }

    /// Counters per workload and rule.
    pub fn workloads(&self) -> Result<Vec<WorkloadStatus>, LiveError> {
        let meta = Meta {
            file: self.compiled.policy.file.clone(),
            source: String::new(),
            generation: 0,
            next_pin: 0,
            attachments: self
                .links
                .iter()
                .map(|(w, cg, _)| Attachment {
                    workload: self.compiled.policy.workloads[*w].name.clone(),
                    cgroup: cg.display().to_string(),
                    pin: String::new(),
                })
                .collect(),
        };
        statuses(&self.compiled.policy, &self.maps, &meta)
    }

    /// Streams verdict records until `stop` is set.
    pub fn watch(
        &self,
        stop: &AtomicBool,
        f: &mut dyn FnMut(&VerdictRecord),
    ) -> Result<(), LiveError> {
        pump(&self.compiled.policy, &self.maps.events, stop, || false, f)
    }
}

/// Programs of one workload loaded against the pinned policy's maps and attached to
/// `cgroup`, held by the caller (`kestrel policy run` without `--file`): counters and
/// records go to the pinned policy's maps.
pub struct PinnedJoin {
    _links: Vec<(Hook, Link)>,
    _progs: Vec<(Hook, Program)>,
}

/// Attaches workload `name` of the pinned policy to `cgroup` for as long as the result lives.
pub fn join_pinned(name: &str, cgroup: &Path) -> Result<PinnedJoin, LiveError> {
    let (_, dir) = current().ok_or(LiveError::NotUp)?;
    let meta = read_meta(&dir)?;
    let c = check(&meta.file, &meta.source)?;
    let w = workload_index(&c.policy, name)?;
    let maps = Maps::open(&dir)?;
    let progs = load_workload(&c, &maps, w)?;
    let links = attach(&progs, cgroup)?;
    Ok(PinnedJoin {
        _links: links,
        _progs: progs,
    })
}

/// Index of workload `name`, or an error listing the names the policy has.
pub fn workload_index(policy: &Policy, name: &str) -> Result<usize, LiveError> {
    policy
        .workload(name)
        .map(|(i, _)| i)
        .ok_or_else(|| LiveError::UnknownWorkload {
            file: policy.file.clone(),
            name: name.to_string(),
            known: policy
                .workloads
                .iter()
                .map(|w| w.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// The pinned policy's `root` (where `run` makes cgroups), when one is up.
pub fn pinned_policy() -> Result<Policy, LiveError> {
    let (_, dir) = current().ok_or(LiveError::NotUp)?;
    policy_of(&read_meta(&dir)?)
}
