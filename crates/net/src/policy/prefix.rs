//! Prefix arithmetic the validator and the table compiler share.

use std::net::IpAddr;

use crate::firewall::Cidr;

/// The prefix `c` cut to `len` bits (`len` ≤ `c.len`).
pub fn ancestor(c: &Cidr, len: u8) -> Cidr {
    let addr = match c.addr {
        IpAddr::V4(a) => {
            let m = if len == 0 {
                0
            } else {
                u32::MAX << (32 - len.min(32))
            };
            IpAddr::V4((u32::from(a) & m).into())
        }
        IpAddr::V6(a) => {
            let m = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len.min(128))
            };
            IpAddr::V6((u128::from(a) & m).into())
        }
    };
    Cidr { addr, len }
}

/// True if prefix `outer` contains prefix `inner` (same family, shorter or equal, same bits).
pub fn cidr_contains(outer: &Cidr, inner: &Cidr) -> bool {
    outer.is_v4() == inner.is_v4()
        && outer.len <= inner.len
        && ancestor(inner, outer.len).addr == ancestor(outer, outer.len).addr
}

/// True if `addr` is inside `c`.
pub fn holds(c: &Cidr, addr: IpAddr) -> bool {
    let len = if addr.is_ipv4() { 32 } else { 128 };
    cidr_contains(c, &Cidr { addr, len })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains() {
        let c = |s: &str| Cidr::parse(s).unwrap_or_else(|e| panic!("{e}"));
        assert!(cidr_contains(&c("10.0.0.0/8"), &c("10.1.0.0/16")));
        assert!(!cidr_contains(&c("10.1.0.0/16"), &c("10.0.0.0/8")));
        assert!(!cidr_contains(&c("10.0.0.0/8"), &c("11.0.0.0/16")));
        assert!(cidr_contains(&c("0.0.0.0/0"), &c("1.2.3.4")));
        assert!(!cidr_contains(&c("0.0.0.0/0"), &c("::1")));
        assert!(cidr_contains(&c("2001:db8::/32"), &c("2001:db8:1::/48")));
        assert_eq!(ancestor(&c("10.1.2.0/24"), 8), c("10.0.0.0/8"));
    }
}
