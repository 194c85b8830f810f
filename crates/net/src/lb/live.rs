//! The load balancer on an interface: bring up, change backends, swap configs, inspect, tear
//! down.
//!
//! Everything lives under `/sys/fs/bpf/kestrel/lb/<iface>/`: the maps (`services`,
//! `backends`, `maglev`, `conns`, `rnat`, `stats`), `meta` (a one-entry array holding the
//! [`State`] as JSON: config source, services and backend slots) and the links (`link` for
//! XDP, `link_egress` for the nat reply translator). `up` builds and verifies everything
//! before it attaches; on any error nothing is left behind. `reload` builds new service,
//! backend and Maglev maps, verifies a new ingress program against them and the kept
//! connection table, and swaps it in with one `BPF_LINK_UPDATE`.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};

use kestrel_sys::{
    ensure_bpffs_dir, ifindex, AttachType, FdReloc, Link, Map, MapDef, MapType, ProgType, Program,
    ProgramLoad, SysError, XdpMode,
};
use serde::{Deserialize, Serialize};

use super::config::{Backend, LbConfig, LbConfigError, LbMode, Proto, MAX_BACKENDS, MAX_SERVICES};
use super::layout::{
    self, BackendValue, Global, STATE_ACTIVE, STATE_DRAINING, STATE_REMOVED, STAT_ENTRIES,
};
use super::maglev;
use super::program::{self, LbMap, LbProgram, Params};
use super::{check, CheckError};

/// Root of every lb's pins.
pub const PIN_ROOT: &str = "/sys/fs/bpf/kestrel/lb";
/// A flow counts as active when it sent a packet within this many seconds.
pub const ACTIVE_WINDOW_S: u64 = 60;

/// Everything that can go wrong, naming the interface, service, backend or object.
#[derive(Debug, thiserror::Error)]
pub enum LbError {
    /// The config file is invalid.
    #[error(transparent)]
    Config(#[from] LbConfigError),
    /// No such network interface.
    #[error("no network interface named '{0}'")]
    NoInterface(String),
    /// `up` on an interface that already has a kestrel lb.
    #[error("a kestrel lb is already up on {0} (use `kestrel lb reload` or `down`)")]
    AlreadyUp(String),
    /// An operation needing a running lb found none.
    #[error("no kestrel lb is up on {0}")]
    NotUp(String),
    /// No interface given and none or several have an lb.
    #[error("{0}")]
    Ambiguous(String),
    /// A request that cannot be carried out as asked.
    #[error("{0}")]
    Invalid(String),
    /// The generated program is invalid before it reaches the kernel (a kestrel bug).
    #[error("cannot generate the lb program: {0}")]
    Codegen(String),
    /// A kernel operation failed.
    #[error("{context}: {source}")]
    Sys {
        /// What kestrel was doing.
        context: String,
        /// The failure.
        #[source]
        source: SysError,
    },
    /// The pinned state is not what kestrel wrote.
    #[error("{0}")]
    Corrupt(String),
}

impl LbError {
    fn from_check(e: CheckError) -> LbError {
        match e {
            CheckError::Config(c) => LbError::Config(c),
            CheckError::Codegen(m) => LbError::Codegen(m),
        }
    }
}

fn sys(context: impl Into<String>) -> impl FnOnce(SysError) -> LbError {
    let context = context.into();
    move |source| LbError::Sys { context, source }
}

/// A backend slot's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SlotState {
    /// In the Maglev table.
    Active,
    /// Out of the table, keeps its flows.
    Draining,
    /// Gone; its flows move at their next packet.
    Removed,
}

impl SlotState {
    fn code(self) -> u8 {
        match self {
            SlotState::Active => STATE_ACTIVE,
            SlotState::Draining => STATE_DRAINING,
            SlotState::Removed => STATE_REMOVED,
        }
    }
}

/// One backend slot (its index is the slot number the maps use).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    /// Index of its service.
    pub service: u32,
    /// The backend.
    pub backend: Backend,
    /// Its state.
    pub state: SlotState,
    /// Drained by the health checker (which may restore it), not by hand.
    #[serde(default)]
    pub by_health: bool,
}

/// One service as the maps know it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SvcState {
    /// Stable index (row of the Maglev map, counter slot).
    pub index: u32,
    /// Name.
    pub name: String,
    /// VIP.
    pub vip: Ipv4Addr,
    /// Port.
    pub port: u16,
    /// Protocol.
    pub proto: Proto,
}

/// What `meta` holds: enough to rebuild every table and to name everything in `status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Interface.
    pub iface: String,
    /// Config file as given to `up`/`reload`.
    pub file: String,
    /// Its text.
    pub source: String,
    /// The parsed config.
    pub config: LbConfig,
    /// MAC of the interface.
    pub iface_mac: [u8; 6],
    /// Services.
    pub services: Vec<SvcState>,
    /// Backend slots.
    pub slots: Vec<Slot>,
}

impl State {
    /// The state for a fresh `up` of `config`.
    pub fn new(iface: &str, file: &str, source: &str, config: LbConfig, mac: [u8; 6]) -> State {
        let mut st = State {
            iface: iface.to_string(),
            file: file.to_string(),
            source: source.to_string(),
            config: config.clone(),
            iface_mac: mac,
            services: Vec::new(),
            slots: Vec::new(),
        };
        for (i, s) in config.services.iter().enumerate() {
            st.services.push(SvcState {
                index: i as u32,
                name: s.name.clone(),
                vip: s.vip,
                port: s.port,
                proto: s.proto,
            });
            for b in &s.backends {
                st.slots.push(Slot {
                    service: i as u32,
                    backend: b.clone(),
                    state: SlotState::Active,
                    by_health: false,
                });
            }
        }
        st
    }

    /// The state after reloading `config`: services and backends that survive (by name, and
    /// by service and address) keep their indices, so their flows stay where they are.
    fn reloaded(&self, file: &str, source: &str, config: LbConfig) -> Result<State, LbError> {
        let mut st = State {
            iface: self.iface.clone(),
            file: file.to_string(),
            source: source.to_string(),
            config: config.clone(),
            iface_mac: self.iface_mac,
            services: Vec::new(),
            slots: self.slots.clone(),
        };
        let mut used: Vec<u32> = Vec::new();
        let mut index_of = Vec::new();
        for s in &config.services {
            let idx = self
                .services
                .iter()
                .find(|o| o.name == s.name)
                .map(|o| o.index);
            index_of.push(idx);
            if let Some(i) = idx {
                used.push(i);
            }
        }
        for (s, idx) in config.services.iter().zip(index_of) {
            let index = match idx {
                Some(i) => i,
                None => {
                    let free = (0..MAX_SERVICES)
                        .find(|i| !used.contains(i))
                        .ok_or_else(|| LbError::Invalid("no free service index".to_string()))?;
                    used.push(free);
                    free
                }
            };
            st.services.push(SvcState {
                index,
                name: s.name.clone(),
                vip: s.vip,
                port: s.port,
                proto: s.proto,
            });
        }
        // Every old slot is removed unless the new config lists it again.
        for slot in &mut st.slots {
            slot.state = SlotState::Removed;
            slot.by_health = false;
        }
        for (s, svc) in config.services.iter().zip(st.services.clone()) {
            for b in &s.backends {
                let old = st
                    .slots
                    .iter_mut()
                    .find(|x| x.service == svc.index && x.backend.addr == b.addr);
                match old {
                    Some(slot) => {
                        slot.backend = b.clone();
                        slot.state = SlotState::Active;
                    }
                    None => st.slots.push(Slot {
                        service: svc.index,
                        backend: b.clone(),
                        state: SlotState::Active,
                        by_health: false,
                    }),
                }
            }
        }
        if st.slots.len() > MAX_BACKENDS as usize {
            return Err(LbError::Invalid(format!(
                "more than {MAX_BACKENDS} backend slots (removed backends keep theirs until `down`)"
            )));
        }
        Ok(st)
    }

    fn service(&self, name: &str) -> Result<&SvcState, LbError> {
        self.services
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| {
                LbError::Invalid(format!(
                    "no service '{name}' (services: {})",
                    self.services
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
    }

    /// The Maglev row of service `index`: slot numbers.
    pub fn row(&self, index: u32) -> Vec<u32> {
        let active: Vec<(u32, &Slot)> = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.service == index && s.state == SlotState::Active)
            .map(|(i, s)| (i as u32, s))
            .collect();
        let names: Vec<(&str, u32)> = active
            .iter()
            .map(|(_, s)| (s.backend.name.as_str(), s.backend.weight))
            .collect();
        maglev::table(&names, self.config.table_size)
            .into_iter()
            .map(|e| {
                if e == maglev::NO_BACKEND {
                    e
                } else {
                    active[e as usize].0
                }
            })
            .collect()
    }

    fn params(&self) -> Params {
        Params {
            mode: self.config.mode,
            table_size: self.config.table_size,
            iface_mac: self.iface_mac,
            ipip_source: self.config.ipip_source,
            forward: self.config.forward,
        }
    }

    fn backend_value(&self, slot: &Slot) -> Result<BackendValue, LbError> {
        let svc = self
            .services
            .iter()
            .find(|s| s.index == slot.service)
            .ok_or_else(|| LbError::Corrupt(format!("slot of unknown service {}", slot.service)))?;
        let mac = match (self.config.mode, slot.backend.mac) {
            (_, Some(m)) => m,
            (LbMode::Nat, None) => [0; 6],
            (_, None) => arp_lookup(*slot.backend.addr.ip()).ok_or_else(|| {
                LbError::Invalid(format!(
                    "backend {}: no MAC address (give mac = \"..\" in the config, or make sure the ARP table has it: ping it once)",
                    slot.backend.addr
                ))
            })?,
        };
        Ok(BackendValue::new(
            slot.backend.addr,
            slot.state.code(),
            slot.service,
            SocketAddrV4::new(svc.vip, svc.port),
            mac,
            self.config.ipip_source,
        ))
    }
}

/// The MAC of `ip` in the kernel's ARP table, if known.
pub fn arp_lookup(ip: Ipv4Addr) -> Option<[u8; 6]> {
    let text = std::fs::read_to_string("/proc/net/arp").ok()?;
    text.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.first()? == &ip.to_string().as_str() && f.get(2)? != &"0x0" {
            super::config::parse_mac(f.get(3)?)
        } else {
            None
        }
    })
}

/// The MAC of interface `iface`.
pub fn iface_mac(iface: &str) -> Option<[u8; 6]> {
    let s = std::fs::read_to_string(format!("/sys/class/net/{iface}/address")).ok()?;
    super::config::parse_mac(s.trim())
}

/// The pin directory of `iface`.
pub fn pin_dir(iface: &str) -> PathBuf {
    Path::new(PIN_ROOT).join(iface)
}

/// The maps of one lb.
pub struct Maps {
    services: Map,
    backends: Map,
    maglev: Map,
    conns: Map,
    rnat: Map,
    stats: Map,
}

fn def(name: &str, kind: MapType, key: u32, value: u32, max: u32) -> MapDef {
    MapDef {
        name: format!("klb_{name}"),
        kind,
        key_size: key,
        value_size: value,
        max_entries: max,
        flags: 0,
    }
}

/// The three maps a reload replaces.
fn table_defs(table_size: u32) -> [(&'static str, MapDef); 3] {
    [
        (
            "services",
            def(
                "services",
                MapType::Hash,
                layout::SVC_KEY_SIZE,
                layout::SVC_VALUE_SIZE,
                MAX_SERVICES,
            ),
        ),
        (
            "backends",
            def(
                "backends",
                MapType::Array,
                4,
                layout::BACKEND_VALUE_SIZE,
                MAX_BACKENDS,
            ),
        ),
        (
            "maglev",
            def("maglev", MapType::Array, 4, 4, MAX_SERVICES * table_size),
        ),
    ]
}

/// The three maps a reload keeps.
fn kept_defs(max_connections: u32) -> [(&'static str, MapDef); 3] {
    [
        (
            "conns",
            def(
                "conns",
                MapType::LruHash,
                layout::FLOW_KEY_SIZE,
                layout::CONN_VALUE_SIZE,
                max_connections,
            ),
        ),
        (
            "rnat",
            def(
                "rnat",
                MapType::LruHash,
                layout::FLOW_KEY_SIZE,
                layout::RNAT_VALUE_SIZE,
                max_connections,
            ),
        ),
        (
            "stats",
            def(
                "stats",
                MapType::PerCpuArray,
                4,
                layout::STAT_VALUE_SIZE,
                STAT_ENTRIES,
            ),
        ),
    ]
}

const MAP_FILES: [&str; 6] = ["services", "backends", "maglev", "conns", "rnat", "stats"];

impl Maps {
    /// Creates empty maps for `cfg`.
    pub fn create(cfg: &LbConfig) -> Result<Maps, LbError> {
        let mk =
            |(n, d): &(&str, MapDef)| Map::create(d).map_err(sys(format!("creating the {n} map")));
        let [s, b, m] = table_defs(cfg.table_size);
        let [c, r, st] = kept_defs(cfg.max_connections);
        Ok(Maps {
            services: mk(&s)?,
            backends: mk(&b)?,
            maglev: mk(&m)?,
            conns: mk(&c)?,
            rnat: mk(&r)?,
            stats: mk(&st)?,
        })
    }

    fn open(dir: &Path, cfg: &LbConfig) -> Result<Maps, LbError> {
        let o = |(n, d): &(&str, MapDef)| {
            Map::from_pin_checked(&dir.join(n), d).map_err(sys(format!("opening pinned map {n}")))
        };
        let [s, b, m] = table_defs(cfg.table_size);
        let [c, r, st] = kept_defs(cfg.max_connections);
        Ok(Maps {
            services: o(&s)?,
            backends: o(&b)?,
            maglev: o(&m)?,
            conns: o(&c)?,
            rnat: o(&r)?,
            stats: o(&st)?,
        })
    }

    fn get(&self, m: LbMap) -> &Map {
        match m {
            LbMap::Services => &self.services,
            LbMap::Backends => &self.backends,
            LbMap::Maglev => &self.maglev,
            LbMap::Conns => &self.conns,
            LbMap::Rnat => &self.rnat,
            LbMap::Stats => &self.stats,
        }
    }

    fn all(&self) -> [&Map; 6] {
        [
            &self.services,
            &self.backends,
            &self.maglev,
            &self.conns,
            &self.rnat,
            &self.stats,
        ]
    }

    /// The connection table (for tests and benchmarks that pre-fill it).
    pub fn conns(&self) -> &Map {
        &self.conns
    }

    /// The reverse-NAT table.
    pub fn rnat(&self) -> &Map {
        &self.rnat
    }

    /// Fills services, backends and every Maglev row from `st`.
    fn fill(&self, st: &State) -> Result<(), LbError> {
        for s in &st.services {
            self.services
                .update(
                    &layout::svc_key(s.vip, s.port, s.proto.number()),
                    &layout::svc_value(s.index),
                )
                .map_err(sys(format!("adding service '{}'", s.name)))?;
        }
        for (i, slot) in st.slots.iter().enumerate() {
            self.write_slot(st, i as u32, slot)?;
        }
        for s in &st.services {
            self.write_row(st, s.index, None)?;
        }
        Ok(())
    }

    fn write_slot(&self, st: &State, i: u32, slot: &Slot) -> Result<(), LbError> {
        let v = st.backend_value(slot)?;
        self.backends
            .update(&i.to_ne_bytes(), &v.encode())
            .map_err(sys(format!("writing backend {}", slot.backend.addr)))
    }

    /// Writes service `index`'s row; with `old`, only the entries that differ.
    fn write_row(&self, st: &State, index: u32, old: Option<&[u32]>) -> Result<(), LbError> {
        let row = st.row(index);
        let base = index * st.config.table_size;
        for (j, e) in row.iter().enumerate() {
            if old.and_then(|o| o.get(j)) == Some(e) {
                continue;
            }
            self.maglev
                .update(&(base + j as u32).to_ne_bytes(), &e.to_ne_bytes())
                .map_err(sys("writing the Maglev table"))?;
        }
        Ok(())
    }
}

/// The loaded programs of one lb (not attached).
pub struct Loaded {
    /// Maps.
    pub maps: Maps,
    /// Ingress XDP program.
    pub ingress: Program,
    /// Egress tcx program (nat mode).
    pub egress: Option<Program>,
}

fn load(
    p: &LbProgram,
    maps: &Maps,
    kind: ProgType,
    attach: AttachType,
    name: &str,
) -> Result<Program, LbError> {
    let relocs: Vec<FdReloc<'_>> = p
        .relocs
        .iter()
        .map(|(insn, m)| FdReloc {
            insn: *insn,
            map: maps.get(*m),
        })
        .collect();
    Program::load(
        &ProgramLoad::new(kind, name, &p.insns)
            .with_attach(attach)
            .with_relocs(&relocs),
    )
    .map_err(sys(format!("loading the {name} program")))
}

fn programs(st: &State, maps: &Maps) -> Result<(Program, Option<Program>), LbError> {
    let ing = program::build_ingress(&st.params()).map_err(LbError::Codegen)?;
    let ingress = load(&ing, maps, ProgType::Xdp, AttachType::Xdp, "kestrel_lb")?;
    let egress = if st.config.mode == LbMode::Nat {
        let eg = program::build_egress().map_err(LbError::Codegen)?;
        Some(load(
            &eg,
            maps,
            ProgType::SchedCls,
            AttachType::TcxEgress,
            "kestrel_lb_rnat",
        )?)
    } else {
        None
    };
    Ok((ingress, egress))
}

impl Loaded {
    /// Creates and fills the maps for `st` and loads (verifies) its programs.
    pub fn new(st: &State) -> Result<Loaded, LbError> {
        let maps = Maps::create(&st.config)?;
        maps.fill(st)?;
        let (ingress, egress) = programs(st, &maps)?;
        Ok(Loaded {
            maps,
            ingress,
            egress,
        })
    }

    /// Runs the ingress program once over `frame`: (verdict, frame after).
    pub fn run_ingress(&self, frame: &[u8]) -> Result<(u32, Vec<u8>), LbError> {
        self.ingress
            .test_run_output(frame, frame.len() + 256)
            .map_err(sys("running the ingress program (BPF_PROG_TEST_RUN)"))
    }

    /// Runs the egress program once over `frame`: (verdict, frame after).
    pub fn run_egress(&self, frame: &[u8]) -> Result<(u32, Vec<u8>), LbError> {
        let p = self
            .egress
            .as_ref()
            .ok_or_else(|| LbError::Invalid("no egress program outside nat mode".to_string()))?;
        p.test_run_output(frame, frame.len() + 256)
            .map_err(sys("running the egress program (BPF_PROG_TEST_RUN)"))
    }

    /// ns per run of the ingress program over `frame` (`repeat` runs).
    pub fn bench_ingress(&self, frame: &[u8], repeat: u32) -> Result<(u32, u32), LbError> {
        self.ingress
            .test_run(frame, repeat)
            .map_err(sys("running the ingress program (BPF_PROG_TEST_RUN)"))
    }

    /// Counters of a stats slot, summed over CPUs: packets, bytes, new flows, other.
    pub fn counters(&self, slot: u32) -> Result<[u64; 4], LbError> {
        read_counters(&self.maps.stats, slot)
    }
}

fn read_counters(map: &Map, slot: u32) -> Result<[u64; 4], LbError> {
    let mut v = vec![0u8; map.value_len()];
    map.lookup(&slot.to_ne_bytes(), &mut v)
        .map_err(sys("reading counters"))?;
    Ok(layout::sum_counters(&v, map.value_size()))
}

fn meta_map(st: &State) -> Result<Map, LbError> {
    let json = serde_json::to_vec(st).map_err(|e| LbError::Codegen(e.to_string()))?;
    let size = (json.len() + 4).next_multiple_of(8) as u32;
    let map = Map::create(&def("meta", MapType::Array, 4, size, 1))
        .map_err(sys("creating the meta map"))?;
    let mut value = vec![0u8; size as usize];
    value[..4].copy_from_slice(&(json.len() as u32).to_ne_bytes());
    value[4..4 + json.len()].copy_from_slice(&json);
    map.update(&0u32.to_ne_bytes(), &value)
        .map_err(sys("writing the meta map"))?;
    Ok(map)
}

/// Reads the state pinned for `iface`.
pub fn read_state(iface: &str) -> Result<State, LbError> {
    let dir = pin_dir(iface);
    if !dir.join("link").exists() {
        return Err(LbError::NotUp(iface.to_string()));
    }
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
        .ok_or_else(|| LbError::Corrupt("the meta map is truncated".to_string()))?;
    serde_json::from_slice(json)
        .map_err(|e| LbError::Corrupt(format!("the meta map is not kestrel's: {e}")))
}

/// Replaces the pinned meta: the new map is pinned beside the old one, then renamed over
/// it (one rename, so a reader sees the old or the new state, never none).
fn write_state(dir: &Path, st: &State) -> Result<(), LbError> {
    let meta = meta_map(st)?;
    let tmp = dir.join("meta_new");
    let _ = std::fs::remove_file(&tmp);
    meta.pin(&tmp).map_err(sys("pinning meta"))?;
    std::fs::rename(&tmp, dir.join("meta")).map_err(|e| LbError::Sys {
        context: "replacing meta".to_string(),
        source: SysError::call("rename", tmp.display().to_string(), e),
    })
}

/// Brings the lb up on `iface`: creates and fills the maps, loads and verifies the programs,
/// attaches XDP (native mode) and, in nat mode, the tcx egress translator, and pins it all.
/// On any error nothing is left behind.
pub fn up(iface: &str, file: &str, source: &str) -> Result<State, LbError> {
    let cfg = check(file, source).map_err(LbError::from_check)?;
    let idx = ifindex(iface).ok_or_else(|| LbError::NoInterface(iface.to_string()))?;
    let dir = pin_dir(iface);
    if dir.join("link").exists() {
        return Err(LbError::AlreadyUp(iface.to_string()));
    }
    let mac = iface_mac(iface).unwrap_or([0; 6]);
    let st = State::new(iface, file, source, cfg, mac);
    let loaded = Loaded::new(&st)?;
    let meta = meta_map(&st)?;
    ensure_bpffs_dir(&dir).map_err(sys("preparing the pin directory"))?;
    let result = attach_and_pin(&dir, &loaded, idx, &meta);
    if result.is_err() {
        remove_pins(&dir);
    }
    result.map(|_| st)
}

fn attach_and_pin(dir: &Path, l: &Loaded, idx: u32, meta: &Map) -> Result<(), LbError> {
    for (name, map) in MAP_FILES.iter().zip(l.maps.all()) {
        map.pin(&dir.join(name))
            .map_err(sys(format!("pinning {name}")))?;
    }
    meta.pin(&dir.join("meta")).map_err(sys("pinning meta"))?;
    // Egress first: replies must be translated from the first forwarded packet on.
    let egress = match &l.egress {
        Some(p) => Some(
            Link::attach_tcx(p, idx, AttachType::TcxEgress)
                .map_err(sys("attaching the reply translator at tcx egress"))?,
        ),
        None => None,
    };
    let link = Link::attach_xdp(&l.ingress, idx, XdpMode::Native)
        .map_err(sys("attaching the XDP program (native mode)"))?;
    if let Some(e) = &egress {
        e.pin(&dir.join("link_egress"))
            .map_err(sys("pinning the egress link"))?;
    }
    // The XDP link is the last pin: once it exists the lb is up (the links dropping here do
    // not detach them, the pins hold them).
    link.pin(&dir.join("link")).map_err(sys("pinning the link"))
}

fn remove_pins(dir: &Path) {
    let extra = ["meta", "meta_new", "link", "link_egress"];
    for name in MAP_FILES.iter().chain(extra.iter()) {
        let _ = std::fs::remove_file(dir.join(name));
        let _ = std::fs::remove_file(dir.join(format!("{name}_new")));
    }
    let _ = std::fs::remove_dir(dir);
}

/// Detaches the lb from `iface` and removes every pin. `Ok(false)` if none was up.
pub fn down(iface: &str) -> Result<bool, LbError> {
    let dir = pin_dir(iface);
    if !dir.exists() {
        return Ok(false);
    }
    for l in ["link", "link_egress"] {
        if let Ok(link) = Link::from_pin(&dir.join(l)) {
            link.detach().map_err(sys(format!("detaching {l}")))?;
        }
    }
    remove_pins(&dir);
    crate::pins::remove_dir_and_roots(&dir, Path::new(PIN_ROOT)).map_err(LbError::Corrupt)?;
    Ok(true)
}

/// Interfaces with a kestrel lb up.
pub fn interfaces() -> Vec<String> {
    crate::pins::interfaces(Path::new(PIN_ROOT))
}

/// `iface`, or the only interface with an lb up.
pub fn resolve_iface(iface: Option<&str>) -> Result<String, LbError> {
    match iface {
        Some(i) => Ok(i.to_string()),
        None => {
            let all = interfaces();
            match all.as_slice() {
                [one] => Ok(one.clone()),
                [] => Err(LbError::Ambiguous(
                    "no kestrel lb is up on any interface".to_string(),
                )),
                _ => Err(LbError::Ambiguous(format!(
                    "kestrel lb is up on {}: say which with --iface",
                    all.join(", ")
                ))),
            }
        }
    }
}

/// Swaps in a new config atomically: new service, backend and Maglev maps are filled and a
/// new program verified against them and the kept connection table; until
/// `BPF_LINK_UPDATE` succeeds the old program runs untouched. Surviving backends keep their
/// flows; backends the new config drops are removed (their flows move).
pub fn reload(iface: &str, file: &str, source: &str) -> Result<State, LbError> {
    let cfg = check(file, source).map_err(LbError::from_check)?;
    let dir = pin_dir(iface);
    let old = read_state(iface)?;
    if cfg.mode != old.config.mode {
        return Err(LbError::Invalid(format!(
            "reload cannot change the mode ({} → {}): use `kestrel lb down` and `up`",
            old.config.mode.name(),
            cfg.mode.name()
        )));
    }
    if cfg.max_connections != old.config.max_connections {
        return Err(LbError::Invalid(
            "reload cannot resize the connection table (max_connections): use `down` and `up`"
                .to_string(),
        ));
    }
    let st = old.reloaded(file, source, cfg)?;
    let kept = Maps::open(&dir, &old.config)?;
    let mk = |(n, d): &(&str, MapDef)| Map::create(d).map_err(sys(format!("creating the {n} map")));
    let [s, b, m] = table_defs(st.config.table_size);
    let maps = Maps {
        services: mk(&s)?,
        backends: mk(&b)?,
        maglev: mk(&m)?,
        conns: kept.conns,
        rnat: kept.rnat,
        stats: kept.stats,
    };
    maps.fill(&st)?;
    let (ingress, _) = programs(&st, &maps)?;
    let link = Link::from_pin(&dir.join("link")).map_err(sys("opening the pinned link"))?;
    // Pin the new tables beside the old ones; only after the swap do they replace them.
    let fresh = [
        ("services", &maps.services),
        ("backends", &maps.backends),
        ("maglev", &maps.maglev),
    ];
    let cleanup = |dir: &Path| {
        for (n, _) in fresh {
            let _ = std::fs::remove_file(dir.join(format!("{n}_new")));
        }
    };
    cleanup(&dir);
    for (n, map) in fresh {
        if let Err(e) = map.pin(&dir.join(format!("{n}_new"))) {
            cleanup(&dir);
            return Err(sys(format!("pinning {n}"))(e));
        }
    }
    if let Err(e) = link.update(&ingress) {
        cleanup(&dir);
        return Err(sys("swapping the program")(e));
    }
    for (n, _) in fresh {
        std::fs::rename(dir.join(format!("{n}_new")), dir.join(n)).map_err(|e| LbError::Sys {
            context: format!("replacing {n}"),
            source: SysError::call("rename", n, e),
        })?;
    }
    write_state(&dir, &st)?;
    Ok(st)
}

/// A live backend change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendOp {
    /// Add (or bring back) a backend: it takes new flows.
    Add,
    /// Take it out of the table; its open flows stay until they end.
    Drain,
    /// Take it out at once: its flows move to other backends at their next packet.
    Remove,
}

/// Applies a backend change to the live maps (no program reload): the backend slot first,
/// then the entries of the Maglev row that differ, then the pinned state.
pub fn backend(
    iface: &str,
    service: &str,
    addr: &str,
    op: BackendOp,
    weight: Option<u32>,
) -> Result<State, LbError> {
    let addr = super::config::parse_backend_addr(addr).map_err(LbError::Invalid)?;
    let mut st = read_state(iface)?;
    let dir = pin_dir(iface);
    let maps = Maps::open(&dir, &st.config)?;
    let svc = st.service(service)?.clone();
    let old_row = st.row(svc.index);
    let pos = st
        .slots
        .iter()
        .position(|s| s.service == svc.index && s.backend.addr == addr);
    let i = match (op, pos) {
        (BackendOp::Add, Some(i)) => {
            if let Some(w) = weight {
                st.slots[i].backend.weight = w.max(1);
            }
            st.slots[i].state = SlotState::Active;
            st.slots[i].by_health = false;
            i
        }
        (BackendOp::Add, None) => {
            if st.slots.len() >= MAX_BACKENDS as usize {
                return Err(LbError::Invalid(format!(
                    "all {MAX_BACKENDS} backend slots are used (removed backends keep theirs until `reload` or `down`)"
                )));
            }
            st.slots.push(Slot {
                service: svc.index,
                backend: Backend {
                    name: addr.to_string(),
                    addr,
                    weight: weight.unwrap_or(1).max(1),
                    mac: None,
                },
                state: SlotState::Active,
                by_health: false,
            });
            st.slots.len() - 1
        }
        (_, None) => {
            return Err(LbError::Invalid(format!(
                "service '{service}' has no backend {addr}"
            )))
        }
        (BackendOp::Drain, Some(i)) => {
            st.slots[i].state = SlotState::Draining;
            st.slots[i].by_health = false;
            i
        }
        (BackendOp::Remove, Some(i)) => {
            st.slots[i].state = SlotState::Removed;
            st.slots[i].by_health = false;
            i
        }
    };
    apply_slot(&maps, &st, i, &old_row)?;
    write_state(&dir, &st)?;
    Ok(st)
}

/// Writes slot `i` and the changed entries of its service's row.
fn apply_slot(maps: &Maps, st: &State, i: usize, old_row: &[u32]) -> Result<(), LbError> {
    let slot = &st.slots[i];
    // A backend joining is written before the table points at it; one leaving leaves the
    // table before it is marked, so no new flow is pinned to a backend on its way out.
    if slot.state == SlotState::Active {
        maps.write_slot(st, i as u32, slot)?;
        maps.write_row(st, slot.service, Some(old_row))
    } else {
        maps.write_row(st, slot.service, Some(old_row))?;
        maps.write_slot(st, i as u32, slot)
    }
}

/// Sets the health-checker's verdict for slot `i` (drain when down, restore when up), unless
/// someone drained or removed it by hand. Returns whether anything changed.
pub fn set_health(iface: &str, i: usize, healthy: bool) -> Result<bool, LbError> {
    let mut st = read_state(iface)?;
    let dir = pin_dir(iface);
    let Some(slot) = st.slots.get(i) else {
        return Ok(false);
    };
    let next = match (slot.state, slot.by_health, healthy) {
        (SlotState::Active, _, false) => (SlotState::Draining, true),
        (SlotState::Draining, true, true) => (SlotState::Active, false),
        _ => return Ok(false),
    };
    let maps = Maps::open(&dir, &st.config)?;
    let old_row = st.row(slot.service);
    st.slots[i].state = next.0;
    st.slots[i].by_health = next.1;
    apply_slot(&maps, &st, i, &old_row)?;
    write_state(&dir, &st)?;
    Ok(true)
}

/// Counters of one service or backend.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Packets forwarded.
    pub packets: u64,
    /// Bytes forwarded.
    pub bytes: u64,
    /// Flows started.
    pub new_flows: u64,
    /// Flows in the connection table that sent a packet in the last [`ACTIVE_WINDOW_S`].
    pub active_flows: u64,
    /// Flows in the connection table.
    pub tracked_flows: u64,
}

/// One backend's status.
#[derive(Clone, Debug, Serialize)]
pub struct BackendStatus {
    /// Slot number.
    pub slot: u32,
    /// Name (Maglev hashes it).
    pub name: String,
    /// Address.
    pub addr: String,
    /// Weight.
    pub weight: u32,
    /// `active`, `draining` or `removed`.
    pub state: SlotState,
    /// Drained by the health checker.
    pub by_health: bool,
    /// Share of the Maglev table (0..1).
    pub table_share: f64,
    /// Counters.
    #[serde(flatten)]
    pub counters: Counters,
}

/// One service's status.
#[derive(Clone, Debug, Serialize)]
pub struct ServiceStatus {
    /// Name.
    pub name: String,
    /// `vip:port/proto`.
    pub vip: String,
    /// Counters.
    #[serde(flatten)]
    pub counters: Counters,
    /// Backends (removed ones too, while they have counters).
    pub backends: Vec<BackendStatus>,
}

/// Global counters.
#[derive(Clone, Debug, Default, Serialize)]
pub struct GlobalStatus {
    /// IPv4 fragments passed to the stack untranslated.
    pub fragments_passed: u64,
    /// ICMP errors about a known flow (passed).
    pub icmp_errors_known: u64,
    /// Other ICMP errors (passed).
    pub icmp_errors_other: u64,
    /// Packets dropped because a service had no backend.
    pub no_backend_drops: u64,
    /// Flows moved off a removed backend.
    pub moved_flows: u64,
    /// IPv4 packets with options, passed untranslated.
    pub ip_options_passed: u64,
    /// Replies translated back to the VIP (nat).
    pub replies_translated: u64,
}

/// One interface's lb.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    /// Interface.
    pub iface: String,
    /// Mode.
    pub mode: LbMode,
    /// Config file.
    pub config_file: String,
    /// Maglev table size.
    pub table_size: u32,
    /// Connection table capacity.
    pub max_connections: u32,
    /// Services.
    pub services: Vec<ServiceStatus>,
    /// Global counters.
    #[serde(flatten)]
    pub global: GlobalStatus,
}

/// Seconds since boot (CLOCK_BOOTTIME from /proc/uptime: equal to the programs'
/// CLOCK_MONOTONIC where the machine never suspended; only the active-flow window uses it).
fn uptime_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/uptime").ok()?;
    let secs: f64 = s.split_whitespace().next()?.parse().ok()?;
    Some((secs * 1e9) as u64)
}

/// Status of `iface`, or of every interface with an lb up.
pub fn status(iface: Option<&str>) -> Result<Vec<Status>, LbError> {
    let ifaces = match iface {
        Some(i) => vec![i.to_string()],
        None => interfaces(),
    };
    let mut out = Vec::new();
    for i in ifaces {
        let st = read_state(&i)?;
        let maps = Maps::open(&pin_dir(&i), &st.config)?;
        out.push(status_of(&st, &maps)?);
    }
    Ok(out)
}

fn status_of(st: &State, maps: &Maps) -> Result<Status, LbError> {
    // Flows per slot from the connection table.
    let now = uptime_ns().unwrap_or(0);
    let window = ACTIVE_WINDOW_S * 1_000_000_000;
    let mut tracked: HashMap<u32, (u64, u64)> = HashMap::new();
    for (_, v) in maps
        .conns
        .entries_batch()
        .map_err(sys("reading the connection table"))?
    {
        if let Some((slot, _, ts)) = layout::parse_conn_value(&v) {
            let e = tracked.entry(slot).or_default();
            e.0 += 1;
            if now.saturating_sub(ts) <= window {
                e.1 += 1;
            }
        }
    }
    let counters = |slot: u32, flows: (u64, u64)| -> Result<Counters, LbError> {
        let c = read_counters(&maps.stats, slot)?;
        Ok(Counters {
            packets: c[0],
            bytes: c[1],
            new_flows: c[2],
            tracked_flows: flows.0,
            active_flows: flows.1,
        })
    };
    let mut services = Vec::new();
    for svc in &st.services {
        let row = st.row(svc.index);
        let mut backends = Vec::new();
        let mut flows = (0, 0);
        for (i, slot) in st.slots.iter().enumerate() {
            if slot.service != svc.index {
                continue;
            }
            let f = tracked.get(&(i as u32)).copied().unwrap_or((0, 0));
            flows.0 += f.0;
            flows.1 += f.1;
            let share =
                row.iter().filter(|e| **e == i as u32).count() as f64 / row.len().max(1) as f64;
            backends.push(BackendStatus {
                slot: i as u32,
                name: slot.backend.name.clone(),
                addr: slot.backend.addr.to_string(),
                weight: slot.backend.weight,
                state: slot.state,
                by_health: slot.by_health,
                table_share: share,
                counters: counters(layout::stat_backend(i as u32), f)?,
            });
        }
        services.push(ServiceStatus {
            name: svc.name.clone(),
            vip: format!("{}:{}/{}", svc.vip, svc.port, svc.proto.name()),
            counters: counters(layout::stat_service(svc.index), flows)?,
            backends,
        });
    }
    let g = |x: Global| read_counters(&maps.stats, layout::stat_global(x)).map(|c| c[0]);
    Ok(Status {
        iface: st.iface.clone(),
        mode: st.config.mode,
        config_file: st.file.clone(),
        table_size: st.config.table_size,
        max_connections: st.config.max_connections,
        services,
        global: GlobalStatus {
            fragments_passed: g(Global::Fragments)?,
            icmp_errors_known: g(Global::IcmpKnown)?,
            icmp_errors_other: g(Global::IcmpOther)?,
            no_backend_drops: g(Global::NoBackend)?,
            moved_flows: g(Global::Moved)?,
            ip_options_passed: g(Global::IpOptions)?,
            replies_translated: g(Global::Replies)?,
        },
    })
}

/// Empties the connection and reverse-NAT tables of `iface`: every flow is chosen afresh
/// from the Maglev table at its next packet (established TCP flows whose choice changed
/// are reset by their new backend). Returns the number of flows forgotten.
pub fn flush_connections(iface: &str) -> Result<usize, LbError> {
    let st = read_state(iface)?;
    let maps = Maps::open(&pin_dir(iface), &st.config)?;
    let mut n = 0;
    for key in maps.conns.keys().map_err(sys("listing connections"))? {
        if maps
            .conns
            .delete(&key)
            .map_err(sys("forgetting a connection"))?
        {
            n += 1;
        }
    }
    for key in maps
        .rnat
        .keys()
        .map_err(sys("listing reverse-NAT entries"))?
    {
        let _ = maps.rnat.delete(&key);
    }
    Ok(n)
}

impl Loaded {
    /// Changes slot `i` of `st` to `state` in these (unpinned) maps, as `backend` does for a
    /// live lb: for tests of the programs.
    pub fn set_slot_state(
        &self,
        st: &mut State,
        i: usize,
        state: SlotState,
    ) -> Result<(), LbError> {
        let Some(slot) = st.slots.get(i) else {
            return Err(LbError::Invalid(format!("no slot {i}")));
        };
        let old_row = st.row(slot.service);
        st.slots[i].state = state;
        apply_slot(&self.maps, st, i, &old_row)
    }

    /// Adds a backend to service `service` (index) in these maps; returns its slot.
    pub fn add_slot(
        &self,
        st: &mut State,
        service: u32,
        backend: Backend,
    ) -> Result<usize, LbError> {
        let old_row = st.row(service);
        st.slots.push(Slot {
            service,
            backend,
            state: SlotState::Active,
            by_health: false,
        });
        let i = st.slots.len() - 1;
        apply_slot(&self.maps, st, i, &old_row)?;
        Ok(i)
    }
}
