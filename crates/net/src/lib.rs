//! kestrel-net

pub mod firewall;
