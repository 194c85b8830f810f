//! kestrel-tools
