//! kestrel-net
