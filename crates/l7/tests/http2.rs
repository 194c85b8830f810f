//! HTTP/2 and gRPC through the tracker: h2c with preface, every split point, gRPC status
//! from trailers and trailers-only, CONTINUATION/padding/priority, RST_STREAM, and a
//! connection first seen mid-stream (undecodable, never wrong).
#![allow(clippy::unwrap_used)]

mod common;

use common::{random_split, run, run_split, Rng, Step};
use kestrel_l7::{
    Chunk, ConnId, ConnMeta, Detail, Direction, HttpRecord, HttpVersion, Outcome, Record, Role,
    Tracker,
};

use Direction::{Egress, Ingress};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let n = payload.len() as u32;
    let mut f = vec![(n >> 16) as u8, (n >> 8) as u8, n as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// Indexed field.
fn idx(i: u8) -> Vec<u8> {
    assert!(i < 127);
    vec![0x80 | i]
}

/// Literal with incremental indexing, indexed name (`name` < 63) or new name (0).
fn inc(name: u8, new_name: &str, value: &str) -> Vec<u8> {
    let mut v = vec![0x40 | name];
    if name == 0 {
        v.push(new_name.len() as u8);
        v.extend_from_slice(new_name.as_bytes());
    }
    v.push(value.len() as u8);
    v.extend_from_slice(value.as_bytes());
    v
}

/// Literal without indexing, new name.
fn lit(name: &str, value: &str) -> Vec<u8> {
    let mut v = vec![0x00, name.len() as u8];
    v.extend_from_slice(name.as_bytes());
    v.push(value.len() as u8);
    v.extend_from_slice(value.as_bytes());
    v
}

const HEADERS: u8 = 1;
const DATA: u8 = 0;
const SETTINGS: u8 = 4;
const RST: u8 = 3;
const CONT: u8 = 9;
const END_STREAM: u8 = 1;
const END_HEADERS: u8 = 4;

fn http(r: &Record) -> &HttpRecord {
    match &r.detail {
        Detail::Http(h) => h,
        other => panic!("not http: {other:?}"),
    }
}

/// Client: preface, SETTINGS, GET /api/x?q=1 on stream 1 (inserting :path and :authority),
/// then on stream 3 the same request by dynamic references 62 and 63.
fn client_frames() -> (Vec<u8>, Vec<u8>) {
    let mut first = PREFACE.to_vec();
    first.extend(frame(SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 100]));
    let block: Vec<u8> = [
        idx(2),
        idx(6),
        inc(4, "", "/api/x?q=1"),
        inc(1, "", "example.com"),
    ]
    .concat();
    first.extend(frame(HEADERS, END_STREAM | END_HEADERS, 1, &block));
    // Stream 3: 62 = :authority example.com (newest), 63 = :path /api/x?q=1.
    let block3: Vec<u8> = [idx(2), idx(6), idx(63), idx(62)].concat();
    let second = frame(HEADERS, END_STREAM | END_HEADERS, 3, &block3);
    (first, second)
}

fn server_frames() -> (Vec<u8>, Vec<u8>) {
    let mut first = frame(SETTINGS, 0, 0, &[]);
    first.extend(frame(SETTINGS, 1, 0, &[]));
    let block: Vec<u8> = [idx(8), inc(31, "", "text/plain")].concat();
    first.extend(frame(HEADERS, END_HEADERS, 1, &block));
    first.extend(frame(DATA, END_STREAM, 1, b"hello"));
    // Stream 3: 404 (static 13), content-type by reference (62).
    let mut second = frame(HEADERS, END_HEADERS, 3, &[idx(13), idx(62)].concat());
    second.extend(frame(DATA, 0, 3, b"nope"));
    second.extend(frame(DATA, END_STREAM, 3, b""));
    (first, second)
}

fn exchange() -> Vec<Step> {
    let (c1, c2) = client_frames();
    let (s1, s2) = server_frames();
    vec![
        (Ingress, c1, 10),
        (Egress, s1, 20),
        (Ingress, c2, 30),
        (Egress, s2, 40),
    ]
}

/// (stream, method, path, status, undecodable)
type Summary = (u32, Option<String>, Option<String>, Option<u16>, bool);

fn summary(recs: &[Record]) -> Vec<Summary> {
    recs.iter()
        .map(|r| {
            let h = http(r);
            (
                h.stream_id,
                h.method.clone(),
                h.path.clone(),
                h.status,
                h.undecodable,
            )
        })
        .collect()
}

#[test]
fn h2c_with_preface_decodes_dynamic_references() {
    let (recs, t) = run(ConnMeta::default(), &exchange(), None);
    assert_eq!(
        summary(&recs),
        vec![
            (
                1,
                Some("GET".into()),
                Some("/api/x".into()),
                Some(200),
                false
            ),
            (
                3,
                Some("GET".into()),
                Some("/api/x".into()),
                Some(404),
                false
            ),
        ]
    );
    let h = http(&recs[0]);
    assert_eq!(h.version, HttpVersion::Http2);
    assert_eq!(h.host.as_deref(), Some("example.com"));
    assert_eq!(h.content_type.as_deref(), Some("text/plain"));
    assert_eq!(http(&recs[1]).content_type.as_deref(), Some("text/plain"));
    assert_eq!(recs[0].role, Role::Server);
    assert_eq!((recs[0].start_ns, recs[0].end_ns), (10, 20));
    assert_eq!((recs[1].start_ns, recs[1].end_ns), (30, 40));
    assert_eq!(recs[0].outcome, Outcome::Complete);
    assert_eq!(recs[1].response_bytes, exchange()[3].1.len() as u64);
    assert_eq!(t.stats().hpack_failures, 0);
    assert_eq!(t.stats().parse_errors, 0);
}

#[test]
fn every_split_point_gives_the_same_h2_records() {
    let steps = exchange();
    let (want, _) = run(ConnMeta::default(), &steps, None);
    assert_eq!(want.len(), 2);
    for step in 0..steps.len() {
        for at in 0..=steps[step].1.len() {
            let (got, _) = run_split(ConnMeta::default(), &steps, None, |i, n| {
                if i == step {
                    vec![at, n - at]
                } else {
                    vec![n]
                }
            });
            assert_eq!(got, want, "step {step} split at {at}");
        }
    }
    for seed in 0..200 {
        let mut rng = Rng(seed);
        let (got, _) = run_split(ConnMeta::default(), &steps, None, |_, n| {
            random_split(&mut rng, n)
        });
        assert_eq!(got, want, "seed {seed}");
    }
}

#[test]
fn mid_stream_connection_is_undecodable_never_wrong() {
    // Capture starts at the second exchange: 62/63 point at entries we never saw.
    let steps = exchange();
    let (recs, t) = run(ConnMeta::default(), &steps[2..], None);
    assert_eq!(recs.len(), 1, "{recs:?}");
    let h = http(&recs[0]);
    assert!(h.undecodable);
    assert_eq!(h.path, None, "never a guessed path");
    // What is knowable is right: the method (static 2) and the status (static 13).
    assert_eq!(h.method.as_deref(), Some("GET"));
    assert_eq!(h.status, Some(404));
    assert_eq!(recs[0].outcome, Outcome::Partial);
    assert_eq!(t.stats().undecodable, 1);
}

#[test]
fn mid_stream_then_new_insertions_decode() {
    // Seen mid-stream, but the request inserts its own :path first and then references it.
    let mut t = Tracker::default();
    let mut out = Vec::new();
    let c = ConnId(9);
    let block = [
        idx(3),
        idx(6),
        inc(4, "", "/v1/items"),
        lit("content-type", "application/json"),
    ]
    .concat();
    t.feed(
        &Chunk::whole(
            c,
            Ingress,
            1,
            &frame(HEADERS, END_STREAM | END_HEADERS, 101, &block),
        ),
        &mut out,
    );
    t.feed(
        &Chunk::whole(
            c,
            Egress,
            2,
            &frame(HEADERS, END_STREAM | END_HEADERS, 101, &idx(8)),
        ),
        &mut out,
    );
    let block = [idx(3), idx(6), idx(62)].concat();
    t.feed(
        &Chunk::whole(
            c,
            Ingress,
            3,
            &frame(HEADERS, END_STREAM | END_HEADERS, 103, &block),
        ),
        &mut out,
    );
    t.feed(
        &Chunk::whole(
            c,
            Egress,
            4,
            &frame(HEADERS, END_STREAM | END_HEADERS, 103, &idx(14)),
        ),
        &mut out,
    );
    assert_eq!(
        summary(&out),
        vec![
            (
                101,
                Some("POST".into()),
                Some("/v1/items".into()),
                Some(200),
                false
            ),
            (
                103,
                Some("POST".into()),
                Some("/v1/items".into()),
                Some(500),
                false
            ),
        ]
    );
    assert_eq!(t.role(c), Some(Role::Server));
}

fn grpc_request(stream: u32) -> Vec<u8> {
    let block = [
        idx(3),
        idx(6),
        inc(4, "", "/helloworld.Greeter/SayHello"),
        lit("content-type", "application/grpc"),
        lit("te", "trailers"),
    ]
    .concat();
    let mut f = frame(HEADERS, END_HEADERS, stream, &block);
    f.extend(frame(
        DATA,
        END_STREAM,
        stream,
        &[0, 0, 0, 0, 3, 10, 1, b'x'],
    ));
    f
}

#[test]
fn grpc_status_from_trailers_and_trailers_only() {
    let mut client = PREFACE.to_vec();
    client.extend(frame(SETTINGS, 0, 0, &[]));
    client.extend(grpc_request(1));
    let mut server = frame(SETTINGS, 0, 0, &[]);
    server.extend(frame(
        HEADERS,
        END_HEADERS,
        1,
        &[idx(8), lit("content-type", "application/grpc")].concat(),
    ));
    server.extend(frame(DATA, 0, 1, &[0, 0, 0, 0, 0]));
    server.extend(frame(
        HEADERS,
        END_STREAM | END_HEADERS,
        1,
        &[lit("grpc-status", "5"), lit("grpc-message", "not found")].concat(),
    ));
    // Trailers-only on stream 3.
    let client2 = grpc_request(3);
    let server2 = frame(
        HEADERS,
        END_STREAM | END_HEADERS,
        3,
        &[
            idx(8),
            lit("content-type", "application/grpc"),
            lit("grpc-status", "0"),
        ]
        .concat(),
    );
    let steps: Vec<Step> = vec![
        (Ingress, client, 1),
        (Egress, server, 2),
        (Ingress, client2, 3),
        (Egress, server2, 4),
    ];
    let (recs, _) = run(ConnMeta::default(), &steps, None);
    assert_eq!(recs.len(), 2);
    let g = http(&recs[0]).grpc.clone().expect("grpc");
    assert_eq!(g.service.as_deref(), Some("helloworld.Greeter"));
    assert_eq!(g.method.as_deref(), Some("SayHello"));
    assert_eq!(g.status, Some(5));
    assert_eq!(http(&recs[0]).status, Some(200));
    assert_eq!(http(&recs[1]).grpc.as_ref().and_then(|g| g.status), Some(0));
    assert!(!http(&recs[1]).undecodable);
}

#[test]
fn continuation_padding_and_priority() {
    let block = [
        idx(2),
        idx(7),
        inc(4, "", "/cont/1"),
        inc(1, "", "h.example"),
    ]
    .concat();
    let (a, b) = block.split_at(3);
    // HEADERS with PADDED (3 bytes of padding) and PRIORITY, no END_HEADERS.
    let mut payload = vec![3];
    payload.extend_from_slice(&[0x80, 0, 0, 1, 15]);
    payload.extend_from_slice(a);
    payload.extend_from_slice(&[0, 0, 0]);
    let mut client = PREFACE.to_vec();
    client.extend(frame(SETTINGS, 0, 0, &[]));
    client.extend(frame(HEADERS, END_STREAM | 0x08 | 0x20, 1, &payload));
    client.extend(frame(CONT, 0, 1, &b[..2]));
    client.extend(frame(CONT, END_HEADERS, 1, &b[2..]));
    let mut server = frame(SETTINGS, 0, 0, &[]);
    // Padded DATA.
    server.extend(frame(HEADERS, END_HEADERS, 1, &idx(9)));
    server.extend(frame(DATA, END_STREAM | 0x08, 1, &[2, b'o', b'k', 0, 0]));
    let steps: Vec<Step> = vec![(Ingress, client, 1), (Egress, server, 2)];
    let (recs, t) = run(ConnMeta::default(), &steps, None);
    assert_eq!(
        summary(&recs),
        vec![(
            1,
            Some("GET".into()),
            Some("/cont/1".into()),
            Some(204),
            false
        )]
    );
    assert_eq!(http(&recs[0]).host.as_deref(), Some("h.example"));
    assert_eq!(t.stats().parse_errors, 0);
}

#[test]
fn rst_stream_gives_a_reset_record() {
    let (c1, _) = client_frames();
    let mut server = frame(SETTINGS, 0, 0, &[]);
    server.extend(frame(RST, 0, 1, &8u32.to_be_bytes()));
    let steps: Vec<Step> = vec![(Ingress, c1, 1), (Egress, server, 2)];
    let (recs, _) = run(ConnMeta::default(), &steps, None);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].outcome, Outcome::Reset);
    assert_eq!(http(&recs[0]).reset_code, Some(8));
    assert_eq!(http(&recs[0]).path.as_deref(), Some("/api/x"));
}

#[test]
fn table_size_update_and_settings() {
    // The server lowers its decoder table to 0 by SETTINGS; the client's next block starts
    // with a size update to 0, then one back to 4096.
    let mut client = PREFACE.to_vec();
    client.extend(frame(SETTINGS, 0, 0, &[]));
    let block = [
        vec![0x20, 0x3f, 0xe1, 0x1f],
        idx(2),
        idx(6),
        inc(4, "", "/sz"),
        idx(62),
    ]
    .concat();
    client.extend(frame(HEADERS, END_STREAM | END_HEADERS, 1, &block));
    let mut server = frame(SETTINGS, 0, 0, &[0, 1, 0, 0, 0x10, 0]);
    server.extend(frame(HEADERS, END_STREAM | END_HEADERS, 1, &idx(8)));
    let steps: Vec<Step> = vec![(Ingress, client, 1), (Egress, server, 2)];
    let (recs, t) = run(ConnMeta::default(), &steps, None);
    assert_eq!(
        summary(&recs),
        vec![(1, Some("GET".into()), Some("/sz".into()), Some(200), false)]
    );
    assert_eq!(t.stats().hpack_failures, 0);
}

#[test]
fn truncated_data_frames_are_skipped_by_length() {
    let mut t = Tracker::default();
    let mut out = Vec::new();
    let c = ConnId(7);
    let (c1, c2) = client_frames();
    t.feed(&Chunk::whole(c, Ingress, 1, &c1), &mut out);
    let (s1, _) = server_frames();
    let mut big = s1.clone();
    // Replace the server's last DATA by a 20 000-byte one in the same write.
    big.truncate(s1.len() - (9 + 5));
    big.extend(frame(DATA, END_STREAM, 1, &vec![b'x'; 20_000]));
    t.feed(
        &Chunk {
            conn: c,
            direction: Egress,
            role: None,
            timestamp_ns: 2,
            bytes: &big[..1024],
            total_len: big.len() as u64,
            truncated: true,
        },
        &mut out,
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].response_bytes, (big.len() - 18) as u64);
    t.feed(&Chunk::whole(c, Ingress, 3, &c2), &mut out);
    let (_, s2) = server_frames();
    t.feed(&Chunk::whole(c, Egress, 4, &s2), &mut out);
    assert_eq!(out.len(), 2);
    assert_eq!(http(&out[1]).path.as_deref(), Some("/api/x"));
    assert!(!http(&out[1]).undecodable);
}

#[test]
fn garbage_is_not_taken_for_http2() {
    let mut rng = Rng(42);
    let mut t = Tracker::default();
    let mut out = Vec::new();
    for i in 0..2000u64 {
        let bytes: Vec<u8> = (0..64).map(|_| rng.next() as u8).collect();
        t.feed(&Chunk::whole(ConnId(i), Ingress, i, &bytes), &mut out);
        assert_eq!(t.protocol(ConnId(i)), None, "{bytes:?}");
    }
    assert!(out.is_empty());
}

#[test]
fn pushed_streams_keep_the_table_in_step_but_are_not_records() {
    let (c1, c2) = client_frames();
    let (s1, s2) = server_frames();
    // The server pushes /style.css on stream 2 (PUSH_PROMISE on 1), inserting into its
    // table, then answers stream 2; stream 3's response references the pushed insertion.
    let mut push = frame(
        5,
        END_HEADERS,
        1,
        &[&2u32.to_be_bytes()[..], &[0x82], &inc(4, "", "/style.css")].concat(),
    );
    push.extend(frame(
        HEADERS,
        END_HEADERS,
        2,
        &[idx(8), inc(0, "x-pushed", "1")].concat(),
    ));
    push.extend(frame(DATA, END_STREAM, 2, b"css"));
    let mut server = s1.clone();
    server.extend(push);
    let steps: Vec<Step> = vec![
        (Ingress, c1, 10),
        (Egress, server, 20),
        (Ingress, c2, 30),
        (Egress, s2, 40),
    ];
    let (recs, t) = run(ConnMeta::default(), &steps, None);
    assert_eq!(
        summary(&recs),
        vec![
            (
                1,
                Some("GET".into()),
                Some("/api/x".into()),
                Some(200),
                false
            ),
            (
                3,
                Some("GET".into()),
                Some("/api/x".into()),
                Some(404),
                false
            ),
        ]
    );
    assert_eq!(t.stats().undecodable, 0);
}

#[test]
fn http1_upgrade_to_h2c_continues_as_http2() {
    let req = b"GET /up HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n".to_vec();
    let mut resp =
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n".to_vec();
    resp.extend(frame(SETTINGS, 0, 0, &[]));
    resp.extend(frame(
        HEADERS,
        END_HEADERS,
        1,
        &[idx(8), inc(31, "", "text/plain")].concat(),
    ));
    resp.extend(frame(DATA, END_STREAM, 1, b"upgraded"));
    let mut client = PREFACE.to_vec();
    client.extend(frame(SETTINGS, 0, 0, &[]));
    client.extend(frame(
        HEADERS,
        END_STREAM | END_HEADERS,
        3,
        &[idx(2), idx(6), inc(4, "", "/next")].concat(),
    ));
    let server = frame(
        HEADERS,
        END_STREAM | END_HEADERS,
        3,
        &[idx(13), idx(62)].concat(),
    );
    let steps: Vec<Step> = vec![
        (Ingress, req, 1),
        (Egress, resp, 2),
        (Ingress, client, 3),
        (Egress, server, 4),
    ];
    let (want, t) = run(ConnMeta::default(), &steps, None);
    assert_eq!(
        summary(&want),
        vec![
            (1, Some("GET".into()), Some("/up".into()), Some(200), false),
            (
                3,
                Some("GET".into()),
                Some("/next".into()),
                Some(404),
                false
            ),
        ]
    );
    assert_eq!(http(&want[0]).host.as_deref(), Some("h"));
    assert_eq!(http(&want[1]).content_type.as_deref(), Some("text/plain"));
    assert_eq!((want[0].start_ns, want[0].end_ns), (1, 2));
    assert_eq!(t.stats().upgraded, 1);
    assert_eq!(t.stats().parse_errors, 0);
    for seed in 0..100 {
        let mut rng = Rng(seed);
        let (got, _) = run_split(ConnMeta::default(), &steps, None, |_, n| {
            random_split(&mut rng, n)
        });
        assert_eq!(got, want, "seed {seed}");
    }
}

#[test]
fn settings_seen_before_the_preface_still_allow_a_bigger_table() {
    // Server side: the server's SETTINGS (table 8192) is written before the client's preface
    // is read; the client then grows its table to 8192 in its first block.
    let server_settings = frame(SETTINGS, 0, 0, &[0, 1, 0, 0, 0x20, 0]);
    let mut client = PREFACE.to_vec();
    client.extend(frame(SETTINGS, 0, 0, &[]));
    let block = [
        vec![0x3f, 0xe1, 0x3f],
        idx(2),
        idx(6),
        inc(4, "", "/big-table"),
    ]
    .concat();
    client.extend(frame(HEADERS, END_STREAM | END_HEADERS, 1, &block));
    let server = frame(HEADERS, END_STREAM | END_HEADERS, 1, &idx(8));
    let meta = ConnMeta {
        role: Some(Role::Server),
        ..ConnMeta::default()
    };
    let steps: Vec<Step> = vec![
        (Egress, server_settings, 1),
        (Ingress, client, 2),
        (Egress, server, 3),
    ];
    let (recs, t) = run(meta, &steps, None);
    assert_eq!(
        summary(&recs),
        vec![(
            1,
            Some("GET".into()),
            Some("/big-table".into()),
            Some(200),
            false
        )]
    );
    assert_eq!(t.stats().hpack_failures, 0);
}

#[test]
fn decoded_pseudo_headers_beat_a_wrong_role_hint() {
    // Mid-stream (no preface), hinted Server although the process is the client.
    let meta = ConnMeta {
        role: Some(Role::Server),
        ..ConnMeta::default()
    };
    let req = frame(
        HEADERS,
        END_STREAM | END_HEADERS,
        5,
        &[idx(2), idx(6), inc(4, "", "/c")].concat(),
    );
    let resp = frame(HEADERS, END_STREAM | END_HEADERS, 5, &idx(8));
    let steps: Vec<Step> = vec![(Egress, req, 1), (Ingress, resp, 2)];
    let (recs, t) = run(meta, &steps, None);
    assert_eq!(
        summary(&recs),
        vec![(5, Some("GET".into()), Some("/c".into()), Some(200), false)]
    );
    assert_eq!(recs[0].role, Role::Client);
    assert_eq!(t.stats().role_conflicts, 1);
}
