//! Socket addresses from the raw integers tool scripts print (`ntop` needs a typed array;
//! raw words work for any `struct sockaddr` read from user or kernel memory).

use std::net::{Ipv4Addr, Ipv6Addr};

/// An IPv4 address from its in-memory `u32` (network order bytes read as little endian).
pub fn v4(raw: u64) -> Ipv4Addr {
    let b = (raw as u32).to_le_bytes();
    Ipv4Addr::new(b[0], b[1], b[2], b[3])
}

/// An IPv6 address from its 16 bytes read as two little-endian `u64`s.
pub fn v6(first: u64, second: u64) -> Ipv6Addr {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&first.to_le_bytes());
    b[8..].copy_from_slice(&second.to_le_bytes());
    Ipv6Addr::from(b)
}

/// The address of family `family` (2 = AF_INET, 10 = AF_INET6) as text; other families
/// print as `family N`.
pub fn addr(family: u64, a4: u64, a6: (u64, u64)) -> String {
    match family {
        2 => v4(a4).to_string(),
        10 => v6(a6.0, a6.1).to_string(),
        f => format!("family {f}"),
    }
}

/// The IP protocol name for `proto` (`TCP`, `UDP`, ...).
pub fn proto(proto: u64) -> String {
    match proto {
        6 => "TCP".into(),
        17 => "UDP".into(),
        1 => "ICMP".into(),
        58 => "ICMPv6".into(),
        132 => "SCTP".into(),
        p => p.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_words_to_addresses() {
        assert_eq!(v4(16_777_343).to_string(), "127.0.0.1");
        assert_eq!(v6(33_022, 144_116_287_587_483_648).to_string(), "fe80::1:2");
        assert_eq!(addr(7, 0, (0, 0)), "family 7");
    }
}
