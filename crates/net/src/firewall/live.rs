//! The firewall on an interface: bring up, swap, inspect, tear down, and live list edits.
//!
//! Everything lives under `/sys/fs/bpf/kestrel/firewall/<iface>/`: the link (`link`), the
//! tries (`allow4`, `allow6`, `block4`, `block6`), the counters (`stats`), the token buckets
//! (`rate`) and `meta`, a one-entry array holding the rules file and mode as JSON so that
//! `status` can name the rules. `up` builds and verifies everything before it attaches;
//! `reload` verifies the new program against the pinned maps, then swaps it in with one
//! `BPF_LINK_UPDATE`.

use std::path::{Path, PathBuf};

use kestrel_sys::{
    ensure_bpffs_dir, ifindex, AttachType, FdReloc, Link, Map, MapDef, MapType, ProgType, Program,
    ProgramLoad, SysError, XdpMode,
};
use serde::{Deserialize, Serialize};

use super::cidr::Cidr;
use super::program::{self, FwMap, Hook};
use super::rules::{parse_rules, Action, RuleSet, RulesError, MAX_RULES};

/// Root of every firewall's pins.
pub const PIN_ROOT: &str = "/sys/fs/bpf/kestrel/firewall";
/// Capacity of each allow/block trie.
pub const LIST_CAPACITY: u32 = 262_144;
/// Capacity of the token-bucket LRU hash.
pub const RATE_CAPACITY: u32 = 65_536;

/// Where the program attaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// XDP in the driver.
    Native,
    /// XDP in the generic (skb) path.
    Generic,
    /// tcx ingress (sched_cls).
    Tc,
}

impl Mode {
    /// Parses `native` / `generic` / `tc`.
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "native" | "drv" => Some(Mode::Native),
            "generic" | "skb" => Some(Mode::Generic),
            "tc" => Some(Mode::Tc),
            _ => None,
        }
    }
    fn hook(self) -> Hook {
        match self {
            Mode::Tc => Hook::Tc,
            _ => Hook::Xdp,
        }
    }
    fn prog_type(self) -> (ProgType, AttachType) {
        match self {
            Mode::Tc => (ProgType::SchedCls, AttachType::TcxIngress),
            _ => (ProgType::Xdp, AttachType::Xdp),
        }
    }
}

/// Everything that can go wrong, naming the interface, rule or object.
#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    /// The rules file is invalid.
    #[error(transparent)]
    Rules(#[from] RulesError),
    /// A rule's match expression does not compile.
    #[error("{file}:{line}: rule {number} '{name}': match {expr:?}: {message}")]
    Match {
        /// Rules file.
        file: String,
        /// Line of the rule.
        line: usize,
        /// 1-based rule number.
        number: usize,
        /// Rule name.
        name: String,
        /// The expression.
        expr: String,
        /// Why.
        message: String,
    },
    /// No such network interface.
    #[error("no network interface named '{0}'")]
    NoInterface(String),
    /// `up` on an interface that already has a kestrel firewall.
    #[error("a kestrel firewall is already up on {0} (use `kestrel firewall reload` or `down`)")]
    AlreadyUp(String),
    /// An operation needing a running firewall found none.
    #[error("no kestrel firewall is up on {0}")]
    NotUp(String),
    /// `block`/`allow` without `--iface` while no firewall is up anywhere.
    #[error("no kestrel firewall is up on any interface")]
    NoneUp,
    /// The generated program is invalid before it reaches the kernel (a kestrel bug).
    #[error("cannot generate the firewall program: {0}")]
    Codegen(String),
    /// A kernel operation failed.
    #[error("{context}")]
    Bpf {
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

fn bpf(context: impl Into<String>) -> impl FnOnce(SysError) -> FirewallError {
    let context = context.into();
    move |source| FirewallError::Bpf { context, source }
}

/// The pin directory of `iface`.
pub fn pin_dir(iface: &str) -> PathBuf {
    Path::new(PIN_ROOT).join(iface)
}

/// A parsed and compiled rules file, ready to load. Building one touches nothing.
#[derive(Debug)]
pub struct Compiled {
    /// The rules.
    pub rules: RuleSet,
    /// The program.
    pub program: program::FwProgram,
    /// Source text (kept in the `meta` map).
    pub source: String,
    /// File name as given.
    pub file: String,
}

/// Parses, validates and generates code for a rules file. No kernel access.
pub fn compile(file: &str, source: &str, mode: Mode) -> Result<Compiled, FirewallError> {
    let rules = parse_rules(file, source)?;
    let mut fragments = Vec::with_capacity(rules.rules.len());
    for (i, r) in rules.rules.iter().enumerate() {
        let frag = crate::filter::compile_match(&r.expr).map_err(|e| FirewallError::Match {
            file: file.to_string(),
            line: r.line,
            number: i + 1,
            name: r.name.clone(),
            expr: r.expr.clone(),
            message: format!("column {}: {}", e.pos + 1, e.message),
        })?;
        fragments.push(frag);
    }
    let program =
        program::build(&rules, &fragments, mode.hook()).map_err(FirewallError::Codegen)?;
    Ok(Compiled {
        rules,
        program,
        source: source.to_string(),
        file: file.to_string(),
    })
}

#[derive(Serialize, Deserialize)]
struct Meta {
    iface: String,
    mode: Mode,
    rules_file: String,
    source: String,
}

/// The maps of one firewall.
struct Maps {
    allow4: Map,
    allow6: Map,
    block4: Map,
    block6: Map,
    stats: Map,
    rate: Map,
}

const MAP_FILES: [&str; 6] = ["allow4", "allow6", "block4", "block6", "stats", "rate"];

impl Maps {
    fn create() -> Result<Maps, FirewallError> {
        let mk = |name: &str, kind, key, value, max| {
            Map::create(&MapDef {
                name: format!("kfw_{name}"),
                kind,
                key_size: key,
                value_size: value,
                max_entries: max,
                flags: 0,
            })
            .map_err(bpf(format!("creating the {name} map")))
        };
        Ok(Maps {
            allow4: mk("allow4", MapType::LpmTrie, 8, 4, LIST_CAPACITY)?,
            allow6: mk("allow6", MapType::LpmTrie, 20, 4, LIST_CAPACITY)?,
            block4: mk("block4", MapType::LpmTrie, 8, 4, LIST_CAPACITY)?,
            block6: mk("block6", MapType::LpmTrie, 20, 4, LIST_CAPACITY)?,
            stats: mk(
                "stats",
                MapType::PerCpuArray,
                4,
                program::STAT_VALUE_SIZE,
                program::STAT_RULE0 + MAX_RULES as u32,
            )?,
            rate: mk(
                "rate",
                MapType::LruHash,
                program::RATE_KEY_SIZE,
                program::RATE_VALUE_SIZE,
                RATE_CAPACITY,
            )?,
        })
    }

    fn open(dir: &Path) -> Result<Maps, FirewallError> {
        let o =
            |n: &str| Map::from_pin(&dir.join(n)).map_err(bpf(format!("opening pinned map {n}")));
        let maps = Maps {
            allow4: o("allow4")?,
            allow6: o("allow6")?,
            block4: o("block4")?,
            block6: o("block6")?,
            stats: o("stats")?,
            rate: o("rate")?,
        };
        let ok = maps.allow4.key_size() == 8
            && maps.block4.key_size() == 8
            && maps.allow6.key_size() == 20
            && maps.block6.key_size() == 20
            && maps.stats.value_size() == program::STAT_VALUE_SIZE as usize
            && maps.rate.key_size() == program::RATE_KEY_SIZE as usize;
        if !ok {
            return Err(FirewallError::Corrupt(format!(
                "the maps pinned in {} are not a kestrel firewall's",
                dir.display()
            )));
        }
        Ok(maps)
    }

    fn get(&self, m: FwMap) -> &Map {
        match m {
            FwMap::Allow4 => &self.allow4,
            FwMap::Allow6 => &self.allow6,
            FwMap::Block4 => &self.block4,
            FwMap::Block6 => &self.block6,
            FwMap::Stats => &self.stats,
            FwMap::Rate => &self.rate,
        }
    }

    fn all(&self) -> [&Map; 6] {
        [
            &self.allow4,
            &self.allow6,
            &self.block4,
            &self.block6,
            &self.stats,
            &self.rate,
        ]
    }

    fn list(&self, allow: bool, v4: bool) -> &Map {
        match (allow, v4) {
            (true, true) => &self.allow4,
            (true, false) => &self.allow6,
            (false, true) => &self.block4,
            (false, false) => &self.block6,
        }
    }
}

fn load(c: &Compiled, maps: &Maps, mode: Mode) -> Result<Program, FirewallError> {
    let relocs: Vec<FdReloc<'_>> = c
        .program
        .relocs
        .iter()
        .map(|(insn, m)| FdReloc {
            insn: *insn,
            map: maps.get(*m),
        })
        .collect();
    let (kind, attach) = mode.prog_type();
    let load = ProgramLoad::new(kind, "kestrel_fw", &c.program.insns)
        .with_attach(attach)
        .with_relocs(&relocs);
    Program::load(&load).map_err(bpf("loading the firewall program"))
}

fn insert(map: &Map, c: &Cidr) -> Result<(), FirewallError> {
    map.update(&c.lpm_key(), &1u32.to_ne_bytes())
        .map_err(bpf(format!("adding {c}")))
}

fn meta_map(meta: &Meta) -> Result<Map, FirewallError> {
    let json = serde_json::to_vec(meta).map_err(|e| FirewallError::Codegen(e.to_string()))?;
    let size = (json.len() + 4).next_multiple_of(8) as u32;
    let map = Map::create(&MapDef {
        name: "kfw_meta".to_string(),
        kind: MapType::Array,
        key_size: 4,
        value_size: size,
        max_entries: 1,
        flags: 0,
    })
    .map_err(bpf("creating the meta map"))?;
    let mut value = vec![0u8; size as usize];
    value[..4].copy_from_slice(&(json.len() as u32).to_ne_bytes());
    value[4..4 + json.len()].copy_from_slice(&json);
    map.update(&0u32.to_ne_bytes(), &value)
        .map_err(bpf("writing the meta map"))?;
    Ok(map)
}

fn read_meta(dir: &Path) -> Result<Meta, FirewallError> {
    let map = Map::from_pin(&dir.join("meta")).map_err(bpf("opening pinned map meta"))?;
    let mut value = vec![0u8; map.value_len()];
    map.lookup(&0u32.to_ne_bytes(), &mut value)
        .map_err(bpf("reading the meta map"))?;
    let len = value
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_ne_bytes)
        .unwrap_or(0) as usize;
    let json = value
        .get(4..4 + len)
        .ok_or_else(|| FirewallError::Corrupt("the meta map is truncated".to_string()))?;
    serde_json::from_slice(json)
        .map_err(|e| FirewallError::Corrupt(format!("the meta map is not kestrel's: {e}")))
}

/// Attaches the firewall: creates maps, fills the initial lists, loads and verifies the
/// program, attaches it, and pins it all. On any error nothing is left behind.
pub fn up(iface: &str, c: &Compiled, mode: Mode) -> Result<(), FirewallError> {
    let idx = ifindex(iface).ok_or_else(|| FirewallError::NoInterface(iface.to_string()))?;
    let dir = pin_dir(iface);
    if dir.join("link").exists() {
        return Err(FirewallError::AlreadyUp(iface.to_string()));
    }
    let maps = Maps::create()?;
    for cidr in &c.rules.allow {
        insert(maps.list(true, cidr.is_v4()), cidr)?;
    }
    for cidr in &c.rules.block {
        insert(maps.list(false, cidr.is_v4()), cidr)?;
    }
    let meta = meta_map(&Meta {
        iface: iface.to_string(),
        mode,
        rules_file: c.file.clone(),
        source: c.source.clone(),
    })?;
    let prog = load(c, &maps, mode)?;
    ensure_bpffs_dir(&dir).map_err(bpf("preparing the pin directory"))?;
    let result = attach_and_pin(&dir, &prog, idx, mode, &maps, &meta);
    if result.is_err() {
        remove_pins(&dir);
    }
    result
}

fn attach_and_pin(
    dir: &Path,
    prog: &Program,
    idx: u32,
    mode: Mode,
    maps: &Maps,
    meta: &Map,
) -> Result<(), FirewallError> {
    for (name, map) in MAP_FILES.iter().zip(maps.all()) {
        map.pin(&dir.join(name))
            .map_err(bpf(format!("pinning {name}")))?;
    }
    meta.pin(&dir.join("meta")).map_err(bpf("pinning meta"))?;
    let link = match mode {
        Mode::Native => Link::attach_xdp(prog, idx, XdpMode::Native),
        Mode::Generic => Link::attach_xdp(prog, idx, XdpMode::Generic),
        Mode::Tc => Link::attach_tcx(prog, idx, AttachType::TcxIngress),
    }
    .map_err(bpf(format!("attaching in {mode:?} mode")))?;
    // The link is the last pin: once it exists the firewall is up (and `link` dropping here
    // does not detach it, the pin holds it).
    link.pin(&dir.join("link")).map_err(bpf("pinning the link"))
}

fn remove_pins(dir: &Path) {
    for name in MAP_FILES.iter().chain(["meta", "meta_new", "link"].iter()) {
        let _ = std::fs::remove_file(dir.join(name));
    }
    let _ = std::fs::remove_dir(dir);
}

/// Swaps in a new rule set atomically: the new program is verified against the pinned maps
/// first; until `BPF_LINK_UPDATE` succeeds the old one keeps running untouched. Counters of
/// the rules and their token buckets start from zero; live allow/block entries are kept and
/// the file's lists are added.
pub fn reload(iface: &str, c: &Compiled) -> Result<(), FirewallError> {
    let dir = pin_dir(iface);
    if !dir.join("link").exists() {
        return Err(FirewallError::NotUp(iface.to_string()));
    }
    let old = read_meta(&dir)?;
    let maps = Maps::open(&dir)?;
    let link = Link::from_pin(&dir.join("link")).map_err(bpf("opening the pinned link"))?;
    let prog = load(c, &maps, old.mode)?;
    let meta = meta_map(&Meta {
        iface: iface.to_string(),
        mode: old.mode,
        rules_file: c.file.clone(),
        source: c.source.clone(),
    })?;
    // Describe the new rules next to the old description first: if that fails, nothing
    // has changed. (bpffs refuses names with a dot.)
    let tmp = dir.join("meta_new");
    let _ = std::fs::remove_file(&tmp);
    meta.pin(&tmp).map_err(bpf("pinning meta"))?;
    let swapped = (|| {
        for cidr in &c.rules.allow {
            insert(maps.list(true, cidr.is_v4()), cidr)?;
        }
        for cidr in &c.rules.block {
            insert(maps.list(false, cidr.is_v4()), cidr)?;
        }
        link.update(&prog).map_err(bpf("swapping the program"))
    })();
    if let Err(e) = swapped {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // The new program runs; now replace its description and reset per-rule state.
    std::fs::rename(&tmp, dir.join("meta")).map_err(|source| FirewallError::Bpf {
        context: "replacing meta".to_string(),
        source: SysError::call("rename", tmp.display().to_string(), source),
    })?;
    reset_counters(&maps)?;
    for key in maps.rate.keys().map_err(bpf("listing token buckets"))? {
        let _ = maps.rate.delete(&key);
    }
    Ok(())
}

fn reset_counters(maps: &Maps) -> Result<(), FirewallError> {
    let zero = vec![0u8; maps.stats.value_len()];
    for i in 0..maps.stats.max_entries() {
        maps.stats
            .update(&i.to_ne_bytes(), &zero)
            .map_err(bpf("resetting counters"))?;
    }
    Ok(())
}

/// Detaches the firewall from `iface` and removes every pin. `Ok(false)` if none was up.
pub fn down(iface: &str) -> Result<bool, FirewallError> {
    let dir = pin_dir(iface);
    if !dir.exists() {
        return Ok(false);
    }
    if let Ok(link) = Link::from_pin(&dir.join("link")) {
        link.detach().map_err(bpf("detaching"))?;
    }
    remove_pins(&dir);
    crate::pins::remove_dir_and_roots(&dir, Path::new(PIN_ROOT)).map_err(FirewallError::Corrupt)?;
    Ok(true)
}

/// Interfaces with a kestrel firewall up.
pub fn interfaces() -> Vec<String> {
    crate::pins::interfaces(Path::new(PIN_ROOT))
}

fn targets(iface: Option<&str>) -> Result<Vec<String>, FirewallError> {
    match iface {
        Some(i) if pin_dir(i).join("link").exists() => Ok(vec![i.to_string()]),
        Some(i) => Err(FirewallError::NotUp(i.to_string())),
        None => {
            let all = interfaces();
            if all.is_empty() {
                Err(FirewallError::NoneUp)
            } else {
                Ok(all)
            }
        }
    }
}

/// Which live list edit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListOp {
    /// Add to the block list.
    Block,
    /// Remove from the block list (and from the allow list).
    Unblock,
    /// Add to the allow list.
    Allow,
}

/// Applies a list edit to `iface` (or every interface with a firewall up) through the maps;
/// the program is not reloaded. Returns the interfaces changed.
pub fn edit_list(
    iface: Option<&str>,
    op: ListOp,
    cidr: &Cidr,
) -> Result<Vec<String>, FirewallError> {
    let ifaces = targets(iface)?;
    for i in &ifaces {
        let maps = Maps::open(&pin_dir(i))?;
        let v4 = cidr.is_v4();
        match op {
            ListOp::Block => insert(maps.list(false, v4), cidr)?,
            ListOp::Allow => insert(maps.list(true, v4), cidr)?,
            ListOp::Unblock => {
                let key = cidr.lpm_key();
                maps.list(false, v4)
                    .delete(&key)
                    .map_err(bpf(format!("removing {cidr}")))?;
                maps.list(true, v4)
                    .delete(&key)
                    .map_err(bpf(format!("removing {cidr}")))?;
            }
        }
    }
    Ok(ifaces)
}

/// Counters of one slot, summed over CPUs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
    /// Dropped by the action (drop, block list, default drop).
    pub dropped: u64,
    /// Dropped by a rate limit.
    pub rate_limited: u64,
}

/// One rule's status.
#[derive(Clone, Debug, Serialize)]
pub struct RuleStatus {
    /// Name.
    pub name: String,
    /// Match expression.
    #[serde(rename = "match")]
    pub expr: String,
    /// `pass`, `drop` or `rate-limit`.
    pub action: String,
    /// Its counters.
    #[serde(flatten)]
    pub counters: Counters,
}

/// One interface's firewall.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    /// Interface.
    pub iface: String,
    /// Attach mode.
    pub mode: Mode,
    /// Rules file it was loaded from.
    pub rules_file: String,
    /// Allow-list hits.
    pub allowed: Counters,
    /// Block-list hits.
    pub blocked: Counters,
    /// Packets no rule matched.
    pub unmatched: Counters,
    /// Per rule, in order.
    pub rules: Vec<RuleStatus>,
    /// Allow list entries.
    pub allow_list: Vec<String>,
    /// Block list entries.
    pub block_list: Vec<String>,
}

fn counters(map: &Map, idx: u32) -> Result<Counters, FirewallError> {
    let mut v = vec![0u8; map.value_len()];
    map.lookup(&idx.to_ne_bytes(), &mut v)
        .map_err(bpf("reading counters"))?;
    let stride = map.value_size().next_multiple_of(8);
    let mut c = Counters::default();
    for cpu in v.chunks(stride) {
        let f = |i: usize| {
            cpu.get(i * 8..i * 8 + 8)
                .and_then(|b| b.try_into().ok())
                .map_or(0, u64::from_ne_bytes)
        };
        c.packets += f(0);
        c.bytes += f(1);
        c.dropped += f(2);
        c.rate_limited += f(3);
    }
    Ok(c)
}

fn list_entries(maps: &Maps, allow: bool) -> Result<Vec<String>, FirewallError> {
    let mut out = Vec::new();
    for v4 in [true, false] {
        for k in maps
            .list(allow, v4)
            .keys()
            .map_err(bpf("listing entries"))?
        {
            if let Some(c) = Cidr::from_lpm_key(&k) {
                out.push(c);
            }
        }
    }
    out.sort();
    Ok(out.into_iter().map(|c| c.to_string()).collect())
}

/// Status of `iface`, or of every interface with a firewall up.
pub fn status(iface: Option<&str>) -> Result<Vec<Status>, FirewallError> {
    let mut out = Vec::new();
    for i in targets(iface)? {
        let dir = pin_dir(&i);
        let meta = read_meta(&dir)?;
        let maps = Maps::open(&dir)?;
        let rules = parse_rules(&meta.rules_file, &meta.source)?;
        let mut rs = Vec::new();
        for (n, r) in rules.rules.iter().enumerate() {
            rs.push(RuleStatus {
                name: r.name.clone(),
                expr: r.expr.clone(),
                action: match r.action {
                    Action::Pass => "pass",
                    Action::Drop => "drop",
                    Action::RateLimit(_) => "rate-limit",
                }
                .to_string(),
                counters: counters(&maps.stats, program::STAT_RULE0 + n as u32)?,
            });
        }
        out.push(Status {
            iface: i,
            mode: meta.mode,
            rules_file: meta.rules_file,
            allowed: counters(&maps.stats, program::STAT_ALLOW)?,
            blocked: counters(&maps.stats, program::STAT_BLOCK)?,
            unmatched: counters(&maps.stats, program::STAT_DEFAULT)?,
            rules: rs,
            allow_list: list_entries(&maps, true)?,
            block_list: list_entries(&maps, false)?,
        });
    }
    Ok(out)
}

/// Loads `c` against fresh maps (holding the file's lists) without attaching it, and runs it
/// `repeat` times over `frame` with `BPF_PROG_TEST_RUN`: returns (verdict, ns per run).
pub fn test_run(c: &Compiled, frame: &[u8], repeat: u32) -> Result<(u32, u32), FirewallError> {
    let maps = Maps::create()?;
    for cidr in &c.rules.allow {
        insert(maps.list(true, cidr.is_v4()), cidr)?;
    }
    for cidr in &c.rules.block {
        insert(maps.list(false, cidr.is_v4()), cidr)?;
    }
    let prog = load(c, &maps, Mode::Native)?;
    prog.test_run(frame, repeat)
        .map_err(bpf("running the program (BPF_PROG_TEST_RUN)"))
}
