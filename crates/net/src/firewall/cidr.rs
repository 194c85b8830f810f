//! IPv4/IPv6 prefixes and their LPM-trie key encoding.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address prefix, host bits cleared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr {
    /// The network address.
    pub addr: IpAddr,
    /// Prefix length (≤ 32 for IPv4, ≤ 128 for IPv6).
    pub len: u8,
}

impl Cidr {
    /// Parses `A.B.C.D[/N]` or `X::Y[/N]` (no prefix = a single host). Host bits set beyond
    /// the prefix are an error, since they usually mean a typo.
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let s = s.trim();
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("'{s}' is not a valid IPv4 or IPv6 address/prefix"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match l {
            None => max,
            Some(l) => match l.parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => return Err(format!("'{s}': prefix length must be 0..={max}")),
            },
        };
        let c = Cidr { addr, len };
        if c.masked() != c.addr {
            return Err(format!(
                "'{s}' has host bits set beyond /{len} (did you mean {}/{len}?)",
                c.masked()
            ));
        }
        Ok(c)
    }

    fn masked(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => {
                let m = if self.len == 0 {
                    0
                } else {
                    u32::MAX << (32 - self.len)
                };
                IpAddr::V4(Ipv4Addr::from(u32::from(a) & m))
            }
            IpAddr::V6(a) => {
                let m = if self.len == 0 {
                    0
                } else {
                    u128::MAX << (128 - self.len)
                };
                IpAddr::V6(Ipv6Addr::from(u128::from(a) & m))
            }
        }
    }

    /// The LPM trie key: u32 prefix length (host order) then the address bytes.
    pub fn lpm_key(&self) -> Vec<u8> {
        let mut k = u32::from(self.len).to_ne_bytes().to_vec();
        match self.addr {
            IpAddr::V4(a) => k.extend_from_slice(&a.octets()),
            IpAddr::V6(a) => k.extend_from_slice(&a.octets()),
        }
        k
    }

    /// Decodes an LPM key made by [`Cidr::lpm_key`].
    pub fn from_lpm_key(k: &[u8]) -> Option<Cidr> {
        let len = u8::try_from(u32::from_ne_bytes(k.get(..4)?.try_into().ok()?)).ok()?;
        let addr = match k.len() {
            8 => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(&k[4..8]).ok()?)),
            20 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&k[4..20]).ok()?)),
            _ => return None,
        };
        Some(Cidr { addr, len })
    }

    /// True for IPv4.
    pub fn is_v4(&self) -> bool {
        self.addr.is_ipv4()
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// The mask of a `len`-bit prefix over `bytes` address bytes, as u32 words whose in-memory
/// (network order) bytes are the mask bytes — what an `and` on a raw packet load needs.
pub fn mask_words(len: u8, bytes: usize) -> Vec<u32> {
    let mut m = vec![0u8; bytes];
    for (i, b) in m.iter_mut().enumerate() {
        let bits = (usize::from(len)).saturating_sub(i * 8).min(8);
        *b = if bits == 0 { 0 } else { 0xffu8 << (8 - bits) };
    }
    m.chunks(4)
        .map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_keys() {
        let c = Cidr::parse("10.1.0.0/16").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.to_string(), "10.1.0.0/16");
        assert_eq!(Cidr::from_lpm_key(&c.lpm_key()), Some(c));
        let h = Cidr::parse("2001:db8::1").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(h.len, 128);
        assert_eq!(Cidr::from_lpm_key(&h.lpm_key()), Some(h));
        assert!(Cidr::parse("10.1.2.3/16").is_err());
        assert!(Cidr::parse("10.1.2.3/33").is_err());
        assert!(Cidr::parse("bogus").is_err());
    }

    #[test]
    fn masks() {
        assert_eq!(
            mask_words(24, 4),
            vec![u32::from_ne_bytes([255, 255, 255, 0])]
        );
        assert_eq!(mask_words(0, 4), vec![0]);
        let m = mask_words(68, 16);
        assert_eq!(m[2], u32::from_ne_bytes([0xf0, 0, 0, 0]));
    }
}
