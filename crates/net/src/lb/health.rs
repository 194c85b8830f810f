//! The optional active health check: a TCP connect to every backend each interval; after
//! `fails` consecutive failures a backend is drained (its open flows stay), after `passes`
//! consecutive successes it is restored. Backends drained or removed by hand are left alone.
//! Runs in the foreground (`kestrel lb health`); nothing in the kernel depends on it.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::live::{read_state, set_health, LbError, SlotState};

/// What one probe round changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// Service name.
    pub service: String,
    /// Backend address.
    pub backend: String,
    /// True: restored; false: drained.
    pub healthy: bool,
}

/// Consecutive results per slot.
#[derive(Clone, Debug, Default)]
pub struct Tracker {
    fails: Vec<u32>,
    passes: Vec<u32>,
}

/// Is `addr` accepting TCP connections within `timeout`?
pub fn probe(addr: SocketAddr, timeout: Duration) -> bool {
    TcpStream::connect_timeout(&addr, timeout).is_ok()
}

/// Probes every backend of `iface` once and applies the verdicts.
pub fn round(iface: &str, t: &mut Tracker) -> Result<Vec<Change>, LbError> {
    let st = read_state(iface)?;
    let h = st.config.health;
    let n = st.slots.len();
    t.fails.resize(n, 0);
    t.passes.resize(n, 0);
    let mut changes = Vec::new();
    for (i, slot) in st.slots.iter().enumerate() {
        let tcp = st
            .services
            .iter()
            .any(|s| s.index == slot.service && s.proto == super::config::Proto::Tcp);
        let watched = tcp
            && match slot.state {
                SlotState::Active => true,
                SlotState::Draining => slot.by_health,
                SlotState::Removed => false,
            };
        if !watched {
            t.fails[i] = 0;
            t.passes[i] = 0;
            continue;
        }
        let ok = probe(
            SocketAddr::V4(slot.backend.addr),
            Duration::from_millis(h.timeout_ms),
        );
        if ok {
            t.passes[i] += 1;
            t.fails[i] = 0;
        } else {
            t.fails[i] += 1;
            t.passes[i] = 0;
        }
        let verdict = if t.fails[i] >= h.fails {
            Some(false)
        } else if t.passes[i] >= h.passes {
            Some(true)
        } else {
            None
        };
        if let Some(healthy) = verdict {
            if set_health(iface, i, healthy)? {
                let service = st
                    .services
                    .iter()
                    .find(|s| s.index == slot.service)
                    .map_or_else(String::new, |s| s.name.clone());
                changes.push(Change {
                    service,
                    backend: slot.backend.addr.to_string(),
                    healthy,
                });
            }
        }
    }
    Ok(changes)
}
