//! Maglev consistent hashing (Eisenbud et al., NSDI 2016), with weights.
//!
//! Each backend gets a permutation of the table's M slots (M prime) from two hashes of its
//! name: `offset = h1 % M`, `skip = h2 % (M − 1) + 1`, slot j = `(offset + j·skip) % M`.
//! Backends take turns claiming their next free preferred slot until the table is full; a
//! backend of weight w claims w slots per turn, so its share of the table is w / Σw. Adding
//! or removing one backend moves only about its share of slots, which is what keeps flows
//! on their backends when the set changes (the connection table covers the rest).

/// Marks a slot with no backend (only when the list is empty).
pub const NO_BACKEND: u32 = u32::MAX;

/// 64-bit FNV-1a followed by a splitmix64 finaliser (seeded), so names that differ in one
/// byte land far apart. Stable across machines and releases: tables depend on it.
pub fn name_hash(name: &str, seed: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for b in name.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut z = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Builds the lookup table for `backends` (name, weight ≥ 1): `m` entries, each an index into
/// `backends`, or [`NO_BACKEND`] everywhere when the list is empty. `m` must be prime.
pub fn table(backends: &[(&str, u32)], m: u32) -> Vec<u32> {
    let mut entry = vec![NO_BACKEND; m as usize];
    if backends.is_empty() || m == 0 {
        return entry;
    }
    let m64 = u64::from(m);
    let perm: Vec<(u64, u64)> = backends
        .iter()
        .map(|(name, _)| {
            let offset = name_hash(name, 0x6d61_676c_6576_3031) % m64;
            let skip = if m > 1 {
                name_hash(name, 0x736b_6970_7365_6564) % (m64 - 1) + 1
            } else {
                1
            };
            (offset, skip)
        })
        .collect();
    let mut next = vec![0u64; backends.len()];
    let mut filled = 0u32;
    loop {
        for (i, (_, weight)) in backends.iter().enumerate() {
            let (offset, skip) = perm[i];
            for _ in 0..(*weight).max(1) {
                // Next preferred slot that is still free (a full cycle visits every slot
                // because skip < m and m is prime).
                let mut c = ((offset + next[i] * skip) % m64) as usize;
                while entry[c] != NO_BACKEND {
                    next[i] += 1;
                    c = ((offset + next[i] * skip) % m64) as usize;
                }
                entry[c] = i as u32;
                next[i] += 1;
                filled += 1;
                if filled == m {
                    return entry;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("10.204.{}.2:80", i + 1)).collect()
    }

    fn shares(t: &[u32], n: usize) -> Vec<f64> {
        let mut c = vec![0usize; n];
        for e in t {
            c[*e as usize] += 1;
        }
        c.iter().map(|x| *x as f64 / t.len() as f64).collect()
    }

    #[test]
    fn every_slot_is_filled_and_balanced() {
        let ns = names(3);
        let b: Vec<(&str, u32)> = ns.iter().map(|n| (n.as_str(), 1)).collect();
        let t = table(&b, 65_537);
        assert!(t.iter().all(|e| (*e as usize) < 3));
        for s in shares(&t, 3) {
            assert!((s - 1.0 / 3.0).abs() < 0.01, "{s}");
        }
    }

    #[test]
    fn weights_are_respected_within_a_few_percent() {
        let ns = names(4);
        let w = [1u32, 2, 3, 4];
        let b: Vec<(&str, u32)> = ns.iter().zip(w).map(|(n, w)| (n.as_str(), w)).collect();
        let t = table(&b, 65_537);
        for (s, w) in shares(&t, 4).iter().zip(w) {
            let want = f64::from(w) / 10.0;
            assert!((s - want).abs() / want < 0.03, "share {s} want {want}");
        }
    }

    #[test]
    fn adding_one_backend_to_ten_moves_little() {
        let ns = names(11);
        let ten: Vec<(&str, u32)> = ns[..10].iter().map(|n| (n.as_str(), 1)).collect();
        let eleven: Vec<(&str, u32)> = ns.iter().map(|n| (n.as_str(), 1)).collect();
        let (a, b) = (table(&ten, 65_537), table(&eleven, 65_537));
        // Indices of the first ten are the same in both lists, so equal entries are unmoved.
        let moved = a.iter().zip(&b).filter(|(x, y)| x != y).count();
        let frac = moved as f64 / a.len() as f64;
        assert!(frac <= 1.0 / 11.0 + 0.02, "moved {frac}");
        // And the newcomer got about its share.
        let new = b.iter().filter(|e| **e == 10).count() as f64 / b.len() as f64;
        assert!((new - 1.0 / 11.0).abs() < 0.01, "{new}");
    }

    #[test]
    fn removing_one_of_ten_moves_only_its_slots_mostly() {
        let ns = names(10);
        let all: Vec<(&str, u32)> = ns.iter().map(|n| (n.as_str(), 1)).collect();
        let mut rest = all.clone();
        rest.remove(4);
        let (a, b) = (table(&all, 65_537), table(&rest, 65_537));
        fn name_of<'a>(l: &[(&'a str, u32)], i: u32) -> &'a str {
            l[i as usize].0
        }
        let moved = a
            .iter()
            .zip(&b)
            .filter(|(x, y)| name_of(&all, **x) != name_of(&rest, **y))
            .count() as f64
            / a.len() as f64;
        assert!(moved <= 0.1 + 0.02, "moved {moved}");
    }

    #[test]
    fn empty_and_tiny() {
        assert!(table(&[], 7).iter().all(|e| *e == NO_BACKEND));
        assert_eq!(table(&[("a", 1)], 7), vec![0; 7]);
        let t = table(&[("a", 1), ("b", 1)], 7);
        assert!(t.contains(&0) && t.contains(&1));
    }

    #[test]
    fn stable_hash() {
        // Tables must not change between releases: pin the hash.
        assert_eq!(name_hash("10.204.1.2:80", 0), name_hash("10.204.1.2:80", 0));
        assert_ne!(name_hash("10.204.1.2:80", 0), name_hash("10.204.1.3:80", 0));
        assert_ne!(name_hash("x", 0), name_hash("x", 1));
    }
}
