//! `kestrel lb`: an XDP layer-4 load balancer with Maglev consistent hashing, an LRU
//! connection table and live backend changes.
//!
//! Flow: a TOML config ([`config`]) → one Maglev row per service ([`maglev`]) → the ingress
//! XDP program and, in nat mode, the tcx egress program that translates replies back
//! ([`program`], maps laid out in [`layout`]).
//!
//! ```
//! use kestrel_net::lb::config::parse_config;
//! let cfg = parse_config("lb.toml", "[[service]]\nname = \"web\"\nvip = \"10.203.0.100\"\nport = 80\nbackends = [\"10.204.1.2:80\"]\n").unwrap();
//! assert_eq!(cfg.services[0].backends.len(), 1);
//! ```

pub mod config;
pub mod gen;
pub mod health;
pub mod layout;
pub mod live;
pub mod maglev;
pub mod packet;
pub mod program;

pub use config::{parse_config, LbConfig, LbConfigError, LbMode, Proto};
pub use live::{
    backend, down, flush_connections, interfaces, read_state, reload, resolve_iface, status, up,
    BackendOp, LbError, Loaded, SlotState, State, Status, PIN_ROOT,
};

/// Why a config cannot be used (no kernel access involved).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The file is invalid.
    #[error(transparent)]
    Config(#[from] LbConfigError),
    /// The program for it cannot be generated (a kestrel bug).
    #[error("cannot generate the lb program: {0}")]
    Codegen(String),
}

/// Parses and validates a config's text and generates its program (`kestrel lb check`).
pub fn check(file: &str, source: &str) -> Result<LbConfig, CheckError> {
    let cfg = parse_config(file, source)?;
    program::build_ingress(&program::Params {
        mode: cfg.mode,
        table_size: cfg.table_size,
        iface_mac: [0; 6],
        ipip_source: cfg.ipip_source,
        forward: cfg.forward,
    })
    .map_err(CheckError::Codegen)?;
    Ok(cfg)
}
