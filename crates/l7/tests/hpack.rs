//! HPACK: the RFC 7541 Appendix C examples decode exactly, table sizes included; a decoder
//! started mid-connection answers "unknown", never a wrong value.
#![allow(clippy::unwrap_used)]

use kestrel_l7::proto::http2::hpack::{Decoder, Field, HpackError, Slot};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn pairs(fields: &[Field]) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|f| {
            let s = |x: &Slot| String::from_utf8(x.known().expect("known").to_vec()).unwrap();
            (s(&f.name), s(&f.value))
        })
        .collect()
}

fn p(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn requests(blocks: [&str; 3]) {
    let mut d = Decoder::new(65536);
    let f = d.decode(&hex(blocks[0])).unwrap();
    assert_eq!(
        pairs(&f),
        p(&[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            (":authority", "www.example.com")
        ])
    );
    assert_eq!(d.table_size(), 57);
    let f = d.decode(&hex(blocks[1])).unwrap();
    assert_eq!(
        pairs(&f),
        p(&[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            (":authority", "www.example.com"),
            ("cache-control", "no-cache")
        ])
    );
    assert_eq!(d.table_size(), 110);
    let f = d.decode(&hex(blocks[2])).unwrap();
    assert_eq!(
        pairs(&f),
        p(&[
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/index.html"),
            (":authority", "www.example.com"),
            ("custom-key", "custom-value")
        ])
    );
    assert_eq!((d.table_size(), d.len()), (164, 3));
}

#[test]
fn rfc7541_c3_requests_without_huffman() {
    requests([
        "828684410f7777772e6578616d706c652e636f6d",
        "828684be58086e6f2d6361636865",
        "828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565",
    ]);
}

#[test]
fn rfc7541_c4_requests_with_huffman() {
    requests([
        "828684418cf1e3c2e5f23a6ba0ab90f4ff",
        "828684be5886a8eb10649cbf",
        "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf",
    ]);
}

fn responses(blocks: [&str; 3]) {
    let mut d = Decoder::with_table_size(65536, 256);
    let f = d.decode(&hex(blocks[0])).unwrap();
    assert_eq!(
        pairs(&f),
        p(&[
            (":status", "302"),
            ("cache-control", "private"),
            ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
            ("location", "https://www.example.com")
        ])
    );
    assert_eq!(d.table_size(), 222);
    let f = d.decode(&hex(blocks[1])).unwrap();
    assert_eq!(
        pairs(&f),
        p(&[
            (":status", "307"),
            ("cache-control", "private"),
            ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
            ("location", "https://www.example.com")
        ])
    );
    assert_eq!(d.table_size(), 222);
    let f = d.decode(&hex(blocks[2])).unwrap();
    assert_eq!(
        pairs(&f),
        p(&[
            (":status", "200"),
            ("cache-control", "private"),
            ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
            ("location", "https://www.example.com"),
            ("content-encoding", "gzip"),
            (
                "set-cookie",
                "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"
            )
        ])
    );
    assert_eq!((d.table_size(), d.len()), (215, 3));
}

#[test]
fn rfc7541_c5_responses_without_huffman_evict() {
    responses([
        "4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d546e1768747470733a2f2f7777772e6578616d706c652e636f6d",
        "4803333037c1c0bf",
        "88c1611d4d6f6e2c203231204f637420323031332032303a31333a323220474d54c05a04677a69707738666f6f3d4153444a4b48514b425a584f5157454f50495541585157454f49553b206d61782d6167653d333630303b2076657273696f6e3d31",
    ]);
}

#[test]
fn rfc7541_c6_responses_with_huffman_evict() {
    responses([
        "488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3",
        "4883640effc1c0bf",
        "88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007",
    ]);
}

#[test]
fn mid_stream_references_past_what_was_seen_are_unknown_not_wrong() {
    // C.3.2 and C.3.3 decoded without having seen C.3.1: `be` (62) and `bf` (63) point at
    // entries inserted before we started.
    let mut d = Decoder::mid_stream(65536);
    let f = d.decode(&hex("828684be58086e6f2d6361636865")).unwrap();
    assert_eq!(f[3].name, Slot::Unknown);
    assert_eq!(f[3].value, Slot::Unknown);
    assert_eq!(f[2].value, Slot::Known(b"/".to_vec()));
    // C.3.3: 62 is now "cache-control: no-cache" (inserted by the block we saw), 63 unknown.
    let f = d
        .decode(&hex(
            "828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565",
        ))
        .unwrap();
    assert_eq!(
        f[3].value,
        Slot::Unknown,
        "63 was inserted before we started"
    );
    // The same stream from its start: 63 is www.example.com — a decoder that guessed would
    // have been wrong about it, ours said unknown.
    let mut fresh = Decoder::mid_stream(65536);
    let f = fresh.decode(&hex("c0")).unwrap();
    assert_eq!(f[0].value, Slot::Unknown);
    // A complete decoder rejects the same reference.
    let mut strict = Decoder::new(65536);
    assert_eq!(strict.decode(&hex("c0")), Err(HpackError::BadIndex(64)));
}

#[test]
fn size_update_zero_makes_a_mid_stream_table_complete() {
    let mut d = Decoder::mid_stream(65536);
    assert!(!d.is_complete());
    d.decode(&hex("20")).unwrap();
    assert!(d.is_complete());
    // Size update back up, then an insertion that is referenced.
    let f = d
        .decode(&hex(
            "3fe11f 400a637573746f6d2d6b65790c637573746f6d2d76616c7565 be",
        ))
        .unwrap();
    assert_eq!(pairs(&f)[1], ("custom-key".into(), "custom-value".into()));
    // A size update after a field is an error; the decoder then forgets its table.
    assert_eq!(d.decode(&hex("82 20")), Err(HpackError::LateSizeUpdate));
    assert!(!d.is_complete());
    assert_eq!(d.len(), 0);
}

#[test]
fn size_update_above_the_settings_limit_is_an_error() {
    let mut d = Decoder::new(65536);
    assert!(matches!(
        d.decode(&hex("3fe21f")),
        Err(HpackError::SizeUpdate { .. })
    ));
    let mut d = Decoder::new(65536);
    d.set_limit(8192);
    assert!(
        d.decode(&hex("3fe13f")).is_ok(),
        "8192 allowed after SETTINGS"
    );
}

#[test]
fn garbage_blocks_never_panic() {
    let mut seed = 1u64;
    for _ in 0..5000 {
        let mut b = Vec::new();
        for _ in 0..(seed % 40) {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            b.push((seed >> 33) as u8);
        }
        let mut d = Decoder::new(4096);
        let _ = d.decode(&b);
        assert!(d.table_size() <= 4096);
        let mut m = Decoder::mid_stream(4096);
        let _ = m.decode(&b);
        assert!(m.table_size() <= 4096);
    }
}
