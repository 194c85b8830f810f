//! Service names for `port NAME` / `portrange A-B`, from /etc/services as libpcap reads them:
//! a name listed for both TCP and UDP with the same number means any transport; listed only
//! for TCP (or UDP), it means that protocol only (`port ssh` is `tcp port 22` on Debian).

use std::collections::HashMap;
use std::sync::OnceLock;

use super::ast::Proto;

/// Port numbers of one name: (tcp, udp).
type Entry = (Option<u16>, Option<u16>);

fn table() -> &'static HashMap<String, Entry> {
    static TABLE: OnceLock<HashMap<String, Entry>> = OnceLock::new();
    TABLE.get_or_init(|| {
        std::fs::read_to_string("/etc/services")
            .map(|s| parse(&s))
            .unwrap_or_default()
    })
}

/// Parses services(5) text.
pub fn parse(text: &str) -> HashMap<String, Entry> {
    let mut map: HashMap<String, Entry> = HashMap::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_whitespace();
        let (Some(name), Some(pp)) = (words.next(), words.next()) else {
            continue;
        };
        let Some((port, proto)) = pp.split_once('/') else {
            continue;
        };
        let Ok(port) = port.parse::<u16>() else {
            continue;
        };
        for n in std::iter::once(name).chain(words) {
            let e = map.entry(n.to_string()).or_default();
            // The first entry wins, as with getservbyname.
            match proto {
                "tcp" if e.0.is_none() => e.0 = Some(port),
                "udp" if e.1.is_none() => e.1 = Some(port),
                _ => {}
            }
        }
    }
    map
}

/// Resolves `name` to a port and the transport it implies (None: any).
pub fn lookup(name: &str) -> Option<(u16, Option<Proto>)> {
    resolve(table().get(name).copied()?)
}

/// The libpcap rule for one entry.
pub fn resolve((tcp, udp): Entry) -> Option<(u16, Option<Proto>)> {
    match (tcp, udp) {
        (Some(t), Some(u)) if t == u => Some((t, None)),
        (Some(t), _) => Some((t, Some(Proto::Tcp))),
        (None, Some(u)) => Some((u, Some(Proto::Udp))),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_only_udp_only_and_both() {
        let m = parse(
            "ssh 22/tcp # SSH\ndomain 53/tcp\ndomain 53/udp\nntp 123/udp\nhttp 80/tcp www\nbad x/tcp\n",
        );
        let r = |n: &str| m.get(n).copied().and_then(resolve);
        assert_eq!(r("ssh"), Some((22, Some(Proto::Tcp))));
        assert_eq!(r("domain"), Some((53, None)));
        assert_eq!(r("ntp"), Some((123, Some(Proto::Udp))));
        assert_eq!(r("www"), Some((80, Some(Proto::Tcp))));
        assert_eq!(r("bad"), None);
    }
}
