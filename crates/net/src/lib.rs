//! kestrel-net

pub mod filter;
pub mod firewall;
pub mod lb;
mod pins;
pub mod policy;
