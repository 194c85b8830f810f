//! kestrel-net

pub mod filter;
pub mod firewall;
