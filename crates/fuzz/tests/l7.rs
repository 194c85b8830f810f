//! The l7 target's generator reaches every protocol, and its memory property has teeth.

use kestrel_fuzz::l7::{input, run_measured, tape, MEMORY_BOUND};
use kestrel_fuzz::rng::Rng;
use kestrel_l7::{Direction, Protocol};

#[test]
fn generated_inputs_reach_every_protocol_within_the_memory_bound() {
    let mut rng = Rng::new(7);
    let mut seen = std::collections::HashSet::new();
    let mut peak = 0;
    let mut undecodable = 0;
    for _ in 0..3000 {
        let t = input(&mut rng);
        let o = run_measured(&t).unwrap_or_else(|e| panic!("{e}\ninput: {t:?}"));
        peak = peak.max(o.peak_memory);
        undecodable += o.stats.undecodable;
        for r in &o.records {
            seen.insert(r.protocol());
        }
    }
    for p in [
        Protocol::Http1,
        Protocol::Http2,
        Protocol::Dns,
        Protocol::Redis,
        Protocol::Postgres,
    ] {
        assert!(
            seen.contains(&p),
            "no {} records from 3000 inputs",
            p.name()
        );
    }
    assert!(undecodable > 0, "mid-stream HTTP/2 never generated");
    eprintln!("peak per-connection memory over 3000 inputs: {peak} bytes");
    assert!(peak > 1024 && peak <= MEMORY_BOUND, "peak {peak}");
}

#[test]
fn a_long_header_in_small_writes_stays_bounded() {
    let mut rng = Rng::new(1);
    let mut req = b"GET /x HTTP/1.1\r\nX: ".to_vec();
    req.extend(std::iter::repeat_n(b'a', 200_000));
    let t = tape(&mut rng, 0, &vec![(Direction::Ingress, req)]);
    let o = run_measured(&t).unwrap_or_else(|e| panic!("{e}"));
    assert!(o.peak_memory <= MEMORY_BOUND);
    assert!(o.stats.oversized + o.stats.unparsed_bytes > 0);
}

#[test]
fn saved_l7_regression_still_pairs_what_it_can() {
    let path = kestrel_fuzz::seeds::repo_root()
        .join("crates/fuzz/regressions/l7-pipelined-cut-in-header-then-loss.tape");
    let bytes = std::fs::read(path).unwrap_or_default();
    let o = run_measured(&bytes).unwrap_or_else(|e| panic!("{e}"));
    let first = o.records.first().map(|r| match &r.detail {
        kestrel_l7::Detail::Http(h) => (h.path.clone(), h.status),
        _ => (None, None),
    });
    assert_eq!(
        first,
        Some((Some("/".to_string()), Some(200))),
        "{:?}",
        o.records
    );
    assert!(
        o.stats.lost_chunks == 2 && o.stats.truncated_headers >= 1,
        "{:?}",
        o.stats
    );
}
