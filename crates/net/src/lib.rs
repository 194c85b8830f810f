//! kestrel-net

pub mod filter;
pub mod firewall;
pub mod lb;
pub mod policy;
