//! HTTP/1 through the tracker: pipelining, bodies by length, truncation, close, 1xx, HEAD.
#![allow(clippy::unwrap_used)]

mod common;

use common::{feed_truncated, random_split, run, run_split, Rng, Step};
use kestrel_l7::{
    Config, ConnId, ConnMeta, Detail, Direction, HttpRecord, HttpVersion, Outcome, Record, Role,
    Tracker,
};

use Direction::{Egress, Ingress};

fn http(r: &Record) -> &HttpRecord {
    match &r.detail {
        Detail::Http(h) => h,
        other => panic!("not http: {other:?}"),
    }
}

fn summary(recs: &[Record]) -> Vec<(String, String, Option<u16>, Outcome)> {
    recs.iter()
        .map(|r| {
            let h = http(r);
            (
                h.method.clone().unwrap_or_default(),
                h.path.clone().unwrap_or_default(),
                h.status,
                r.outcome,
            )
        })
        .collect()
}

fn resp(status: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\r\n{body}",
        body.len()
    )
}

fn pipelined() -> Vec<Step> {
    let reqs = "GET / HTTP/1.1\r\nHost: h\r\n\r\nGET /missing HTTP/1.1\r\nHost: h\r\n\r\nGET /index.html HTTP/1.1\r\nHost: h\r\nUser-Agent: t/1\r\n\r\n";
    let resps = format!(
        "{}{}{}",
        resp("200 OK", "hello"),
        resp("404 Not Found", "nope!!"),
        resp("200 OK", "<html></html>")
    );
    vec![
        (Ingress, reqs.as_bytes().to_vec(), 100),
        (Egress, resps.into_bytes(), 300),
    ]
}

#[test]
fn three_pipelined_gets_in_one_chunk_give_three_records_in_order() {
    let (recs, t) = run(ConnMeta::default(), &pipelined(), None);
    assert_eq!(
        summary(&recs),
        vec![
            ("GET".into(), "/".into(), Some(200), Outcome::Complete),
            (
                "GET".into(),
                "/missing".into(),
                Some(404),
                Outcome::Complete
            ),
            (
                "GET".into(),
                "/index.html".into(),
                Some(200),
                Outcome::Complete
            ),
        ]
    );
    for r in &recs {
        assert_eq!(r.role, Role::Server);
        assert_eq!((r.start_ns, r.end_ns, r.duration_ns()), (100, 300, 200));
        assert_eq!(http(r).host.as_deref(), Some("h"));
    }
    assert_eq!(http(&recs[2]).user_agent.as_deref(), Some("t/1"));
    assert_eq!(recs[0].request_bytes, 27);
    assert_eq!(recs[0].response_bytes, resp("200 OK", "hello").len() as u64);
    assert_eq!(t.stats().records, 3);
    assert_eq!(t.stats().parse_errors, 0);
}

#[test]
fn every_split_point_of_a_pipelined_exchange_gives_the_same_records() {
    let steps = pipelined();
    let (want, _) = run(ConnMeta::default(), &steps, None);
    for side in 0..2 {
        let len = steps[side].1.len();
        for at in 0..=len {
            let (got, t) = run_split(ConnMeta::default(), &steps, None, |i, n| {
                if i == side {
                    vec![at, n - at]
                } else {
                    vec![n]
                }
            });
            assert_eq!(got, want, "side {side} split at {at}");
            assert_eq!(t.stats().parse_errors, 0);
        }
    }
}

#[test]
fn random_chunking_gives_identical_records() {
    let mut steps = pipelined();
    // A chunked response and a POST with a body too.
    steps.push((
        Ingress,
        b"POST /api/items?token=s HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world"
            .to_vec(),
        400,
    ));
    steps.push((
        Egress,
        b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nabcde\r\n10\r\n0123456789abcdef\r\n0\r\nX-Trailer: 1\r\n\r\n".to_vec(),
        500,
    ));
    let (want, _) = run(ConnMeta::default(), &steps, None);
    assert_eq!(want.len(), 4);
    assert_eq!(http(&want[3]).status, Some(201));
    assert_eq!(http(&want[3]).path.as_deref(), Some("/api/items"));
    assert_eq!(want[3].request_bytes, steps[2].1.len() as u64);
    assert_eq!(want[3].response_bytes, steps[3].1.len() as u64);
    for seed in 0..300 {
        let mut rng = Rng(seed);
        let (got, _) = run_split(ConnMeta::default(), &steps, None, |_, n| {
            random_split(&mut rng, n)
        });
        assert_eq!(got, want, "seed {seed}");
    }
}

#[test]
fn bodies_are_skipped_by_the_syscall_length_not_the_captured_bytes() {
    let mut t = Tracker::default();
    let mut out = Vec::new();
    let body = vec![b'x'; 100_000];
    let mut post = b"POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n".to_vec();
    post.extend_from_slice(&body);
    // Only the first 1 KiB of the 100 KB write is captured; the body ends inside the gap.
    feed_truncated(&mut t, &mut out, Ingress, 10, &post, 1024);
    let mut big = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n".to_vec();
    big.extend_from_slice(&body);
    // The response is written in two syscalls, each captured only partly.
    feed_truncated(&mut t, &mut out, Egress, 20, &big[..60_000], 1024);
    assert!(out.is_empty());
    feed_truncated(&mut t, &mut out, Egress, 30, &big[60_000..], 1024);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].request_bytes, post.len() as u64);
    assert_eq!(out[0].response_bytes, big.len() as u64);
    assert_eq!((out[0].start_ns, out[0].end_ns), (10, 30));
    assert_eq!(out[0].outcome, Outcome::Complete);
    // The connection stays in sync: the next exchange parses.
    feed_truncated(
        &mut t,
        &mut out,
        Ingress,
        40,
        b"GET /next HTTP/1.1\r\n\r\n",
        1024,
    );
    feed_truncated(
        &mut t,
        &mut out,
        Egress,
        50,
        resp("404 Not Found", "").as_bytes(),
        1024,
    );
    assert_eq!(
        summary(&out)[1],
        ("GET".into(), "/next".into(), Some(404), Outcome::Complete)
    );
    assert_eq!(t.stats().parse_errors, 0);
}

#[test]
fn chunked_body_with_uncaptured_chunk_data_stays_in_sync() {
    let mut t = Tracker::default();
    let mut out = Vec::new();
    feed_truncated(
        &mut t,
        &mut out,
        Ingress,
        1,
        b"GET /big HTTP/1.1\r\n\r\n",
        1024,
    );
    let chunk = vec![b'z'; 5000];
    let mut w1 = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1388\r\n".to_vec();
    w1.extend_from_slice(&chunk);
    w1.extend_from_slice(b"\r\n");
    feed_truncated(&mut t, &mut out, Egress, 2, &w1, 100);
    feed_truncated(&mut t, &mut out, Egress, 3, b"0\r\n\r\n", 100);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].outcome, Outcome::Complete);
    assert_eq!(out[0].response_bytes, (w1.len() + 5) as u64);
    assert_eq!(out[0].end_ns, 3);
}

#[test]
fn http10_close_delimited_response_finishes_at_close() {
    let steps: Vec<Step> = vec![
        (Ingress, b"GET /file HTTP/1.0\r\n\r\n".to_vec(), 5),
        (
            Egress,
            b"HTTP/1.0 200 OK\r\nServer: SimpleHTTP\r\n\r\nabc".to_vec(),
            6,
        ),
        (Egress, b"defgh".to_vec(), 7),
    ];
    let (recs, t) = run(ConnMeta::default(), &steps, Some(9));
    assert_eq!(recs.len(), 1);
    let h = http(&recs[0]);
    assert_eq!((h.version, h.status), (HttpVersion::Http10, Some(200)));
    assert_eq!(recs[0].outcome, Outcome::Complete);
    assert_eq!(recs[0].end_ns, 9);
    assert_eq!(recs[0].response_bytes, steps[1].1.len() as u64 + 5);
    assert_eq!(t.connections(), 0);
}

#[test]
fn continue_and_other_1xx_are_not_final() {
    let steps: Vec<Step> = vec![
        (
            Ingress,
            b"PUT /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n".to_vec(),
            1,
        ),
        (Egress, b"HTTP/1.1 100 Continue\r\n\r\n".to_vec(), 2),
        (Ingress, b"data".to_vec(), 3),
        (
            Egress,
            b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n".to_vec(),
            4,
        ),
        (Egress, resp("201 Created", "").into_bytes(), 5),
    ];
    let (recs, _) = run(ConnMeta::default(), &steps, None);
    assert_eq!(
        summary(&recs),
        vec![("PUT".into(), "/x".into(), Some(201), Outcome::Complete)]
    );
    assert_eq!(recs[0].end_ns, 5);
    let resp_total: usize = [1, 3, 4].iter().map(|i| steps[*i].1.len()).sum();
    assert_eq!(recs[0].response_bytes, resp_total as u64);
    assert_eq!(recs[0].request_bytes, (steps[0].1.len() + 4) as u64);
}

#[test]
fn head_204_and_304_have_no_body() {
    let steps: Vec<Step> = vec![
        (
            Ingress,
            b"HEAD /a HTTP/1.1\r\n\r\nDELETE /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\nIf-None-Match: x\r\n\r\nGET /d HTTP/1.1\r\n\r\n".to_vec(),
            1,
        ),
        (
            Egress,
            b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\nHTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n!".to_vec(),
            2,
        ),
    ];
    let (recs, t) = run(ConnMeta::default(), &steps, None);
    assert_eq!(
        summary(&recs)
            .iter()
            .map(|s| (s.1.clone(), s.2))
            .collect::<Vec<_>>(),
        vec![
            ("/a".into(), Some(200)),
            ("/b".into(), Some(204)),
            ("/c".into(), Some(304)),
            ("/d".into(), Some(200))
        ]
    );
    assert_eq!(t.stats().parse_errors, 0);
}

#[test]
fn client_role_is_inferred_from_written_requests() {
    let steps: Vec<Step> = vec![
        (
            Egress,
            b"GET /c HTTP/1.1\r\nHost: api:8080\r\n\r\n".to_vec(),
            1,
        ),
        (
            Ingress,
            resp("500 Internal Server Error", "x").into_bytes(),
            2,
        ),
    ];
    let (recs, _) = run(ConnMeta::default(), &steps, None);
    assert_eq!(recs[0].role, Role::Client);
    assert_eq!(http(&recs[0]).status, Some(500));
    assert_eq!(http(&recs[0]).host.as_deref(), Some("api:8080"));
}

#[test]
fn query_authorization_and_cookie_are_kept_only_when_sensitive() {
    let req = b"GET /p?token=secret HTTP/1.1\r\nAuthorization: Bearer abc\r\nCookie: sid=1\r\n\r\n";
    for sensitive in [false, true] {
        let mut t = Tracker::new(Config {
            capture_sensitive: sensitive,
            ..Config::default()
        });
        let mut out = Vec::new();
        let c = ConnId(1);
        t.feed(&kestrel_l7::Chunk::whole(c, Ingress, 1, req), &mut out);
        t.feed(
            &kestrel_l7::Chunk::whole(c, Egress, 2, resp("200 OK", "").as_bytes()),
            &mut out,
        );
        let h = http(&out[0]);
        let text = format!("{out:?}");
        if sensitive {
            assert_eq!(h.path.as_deref(), Some("/p?token=secret"));
            assert_eq!(h.authorization.as_deref(), Some("Bearer abc"));
            assert_eq!(h.cookie.as_deref(), Some("sid=1"));
        } else {
            assert_eq!(h.path.as_deref(), Some("/p"));
            for secret in ["secret", "Bearer", "sid=1"] {
                assert!(!text.contains(secret), "{secret} leaked: {text}");
            }
        }
    }
}

#[test]
fn truncated_request_header_keeps_method_and_path() {
    let mut t = Tracker::default();
    let mut out = Vec::new();
    let mut req = b"GET /long HTTP/1.1\r\nX-Pad: ".to_vec();
    req.extend(std::iter::repeat_n(b'p', 3000));
    req.extend_from_slice(b"\r\n\r\n");
    feed_truncated(&mut t, &mut out, Ingress, 1, &req, 1024);
    feed_truncated(
        &mut t,
        &mut out,
        Egress,
        2,
        resp("200 OK", "ok").as_bytes(),
        1024,
    );
    assert_eq!(
        summary(&out),
        vec![("GET".into(), "/long".into(), Some(200), Outcome::Partial)]
    );
    assert_eq!(out[0].request_bytes, req.len() as u64);
    assert_eq!(t.stats().truncated_headers, 1);
}

#[test]
fn a_64k_header_is_counted_not_buffered_without_bound() {
    let mut t = Tracker::default();
    let mut out = Vec::new();
    let mut req = b"GET /huge HTTP/1.1\r\nX-Big: ".to_vec();
    req.extend(std::iter::repeat_n(b'a', 64 * 1024));
    req.extend_from_slice(b"\r\n\r\n");
    // Written in small pieces, all captured.
    for piece in req.chunks(700) {
        t.feed(
            &kestrel_l7::Chunk::whole(ConnId(7), Ingress, 1, piece),
            &mut out,
        );
        assert!(t.memory() < 64 * 1024, "memory {}", t.memory());
    }
    assert_eq!(t.stats().oversized, 1);
    assert!(t.stats().unparsed_bytes > 0);
    // The connection recovers at the next request and gives the big buffer back.
    t.feed(
        &kestrel_l7::Chunk::whole(ConnId(7), Ingress, 2, b"GET /ok HTTP/1.1\r\n\r\n"),
        &mut out,
    );
    // The oversized request was still a request: it gets the first response. What its
    // unparsed rest held is unknown (maybe more requests), so /ok, queued behind it, is not
    // paired with the next response.
    let both = format!("{}{}", resp("431 Too Large", ""), resp("200 OK", ""));
    t.feed(
        &kestrel_l7::Chunk::whole(ConnId(7), Egress, 3, both.as_bytes()),
        &mut out,
    );
    let s = summary(&out);
    assert_eq!(
        (s[0].1.as_str(), s[0].2, s[0].3, s[1].1.as_str(), s[1].2),
        ("/huge", Some(431), Outcome::Partial, "/ok", None)
    );
    let m = t.conn_memory(ConnId(7)).unwrap();
    assert!(m < 2048, "idle keep-alive connection holds {m} bytes");
}

#[test]
fn pending_queue_is_capped_and_counted() {
    let mut t = Tracker::new(Config {
        max_pending: 4,
        ..Config::default()
    });
    let mut out = Vec::new();
    for i in 0..10 {
        let req = format!("GET /{i} HTTP/1.1\r\n\r\n");
        t.feed(
            &kestrel_l7::Chunk::whole(ConnId(1), Ingress, i, req.as_bytes()),
            &mut out,
        );
    }
    assert_eq!(t.stats().dropped_requests, 6);
    assert_eq!(out.len(), 6);
    assert!(out.iter().all(|r| r.outcome == Outcome::Dropped));
    t.close(ConnId(1), 99, &mut out);
    assert_eq!(out.len(), 10);
    assert!(out[6..].iter().all(|r| r.outcome == Outcome::Closed));
}

#[test]
fn upgrade_stops_parsing() {
    let steps: Vec<Step> = vec![
        (
            Ingress,
            b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n".to_vec(),
            1,
        ),
        (
            Egress,
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello".to_vec(),
            2,
        ),
        (Ingress, b"\x81\x85garbage".to_vec(), 3),
    ];
    let (recs, t) = run(ConnMeta::default(), &steps, Some(4));
    assert_eq!(
        summary(&recs),
        vec![("GET".into(), "/ws".into(), Some(101), Outcome::Complete)]
    );
    assert_eq!(t.stats().upgraded, 1);
    assert_eq!(t.stats().parse_errors, 0);
}

#[test]
fn lost_chunks_flush_pending_and_resync() {
    let mut t = Tracker::default();
    let mut out = Vec::new();
    let c = ConnId(3);
    t.feed(
        &kestrel_l7::Chunk::whole(c, Ingress, 1, b"GET /a HTTP/1.1\r\n\r\n"),
        &mut out,
    );
    t.lost(c, 2, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].outcome, Outcome::Dropped);
    t.feed(
        &kestrel_l7::Chunk::whole(c, Ingress, 5, b"GET /b HTTP/1.1\r\n\r\n"),
        &mut out,
    );
    t.feed(
        &kestrel_l7::Chunk::whole(c, Egress, 6, resp("200 OK", "").as_bytes()),
        &mut out,
    );
    assert_eq!(
        summary(&out)[1],
        ("GET".into(), "/b".into(), Some(200), Outcome::Complete)
    );
    assert_eq!(t.stats().lost_chunks, 2);
}

#[test]
fn role_hint_wins_over_nothing_and_responses_without_requests_are_counted() {
    let meta = ConnMeta {
        role: Some(Role::Server),
        ..ConnMeta::default()
    };
    let steps: Vec<Step> = vec![(Egress, resp("200 OK", "x").into_bytes(), 1)];
    let (recs, t) = run(meta, &steps, None);
    assert!(recs.is_empty());
    assert_eq!(t.stats().unmatched_responses, 1);
}

#[test]
fn bodies_sent_by_sendfile_do_not_break_pairing() {
    let mut t = Tracker::default();
    let mut out = Vec::new();
    let c = ConnId(5);
    let hdr = b"HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n";
    // Unseen body: the next request arrives and proves the response was delivered.
    t.feed(
        &kestrel_l7::Chunk::whole(c, Ingress, 1, b"GET /big HTTP/1.1\r\n\r\n"),
        &mut out,
    );
    t.feed(&kestrel_l7::Chunk::whole(c, Egress, 2, hdr), &mut out);
    t.feed(
        &kestrel_l7::Chunk::whole(c, Ingress, 9, b"GET /next HTTP/1.1\r\n\r\n"),
        &mut out,
    );
    t.feed(
        &kestrel_l7::Chunk::whole(c, Egress, 10, resp("404 Not Found", "").as_bytes()),
        &mut out,
    );
    // Reported sendfile: an empty chunk whose length is what sendfile moved.
    t.feed(
        &kestrel_l7::Chunk::whole(c, Ingress, 11, b"GET /big2 HTTP/1.1\r\n\r\n"),
        &mut out,
    );
    t.feed(&kestrel_l7::Chunk::whole(c, Egress, 12, hdr), &mut out);
    t.feed(
        &kestrel_l7::Chunk {
            conn: c,
            direction: Egress,
            role: None,
            timestamp_ns: 20,
            bytes: b"",
            total_len: 1_048_576,
            truncated: true,
        },
        &mut out,
    );
    let s = summary(&out);
    assert_eq!(
        s.iter().map(|x| (x.1.as_str(), x.2)).collect::<Vec<_>>(),
        vec![
            ("/big", Some(200)),
            ("/next", Some(404)),
            ("/big2", Some(200))
        ]
    );
    assert_eq!(out[0].end_ns, 2, "ends at the last visible write");
    assert_eq!(out[0].response_bytes, hdr.len() as u64 + 1_048_576);
    assert_eq!(out[2].end_ns, 20);
    assert_eq!(t.stats().unseen_bodies, 1);
    assert_eq!(t.stats().parse_errors, 0);
}

#[test]
fn idle_connections_expire_and_the_connection_cap_holds() {
    let mut t = Tracker::new(Config {
        max_connections: 3,
        ..Config::default()
    });
    let mut out = Vec::new();
    for i in 0..5u64 {
        t.feed(
            &kestrel_l7::Chunk::whole(ConnId(i), Ingress, 100 * i, b"GET /a HTTP/1.1\r\n\r\n"),
            &mut out,
        );
    }
    assert_eq!(t.connections(), 3);
    assert_eq!(t.stats().untracked_connections, 2);
    // Connections 0..=2 were last seen at 0, 100, 200: at 1000 with 850 idle, 0 and 100 go.
    assert_eq!(t.expire_idle(1000, 850, &mut out), 2);
    assert_eq!(t.connections(), 1);
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|r| r.outcome == Outcome::Closed));
}

#[test]
fn responses_hidden_in_a_gap_never_pair_with_the_wrong_request() {
    let reqs = "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n";
    let body = "x".repeat(900);
    let all = format!(
        "{}{}{}",
        resp("200 OK", "a"),
        resp("201 Created", &body),
        resp("202 Accepted", "c")
    );
    let first = resp("200 OK", "a").len();
    for (captured, second) in [(first, None), (first + 37, Some(201))] {
        let mut t = Tracker::default();
        let mut out = Vec::new();
        feed_truncated(&mut t, &mut out, Ingress, 1, reqs.as_bytes(), 1024);
        // Only the first response is captured whole; the second's header is cut, or not
        // seen at all.
        feed_truncated(&mut t, &mut out, Egress, 2, all.as_bytes(), captured);
        feed_truncated(
            &mut t,
            &mut out,
            Ingress,
            3,
            b"GET /4 HTTP/1.1\r\n\r\n",
            1024,
        );
        let r4 = resp("404 Not Found", "");
        feed_truncated(&mut t, &mut out, Egress, 4, r4.as_bytes(), 1024);
        let s = summary(&out);
        assert_eq!(s.len(), 4, "{s:?}");
        assert_eq!(
            s[0],
            ("GET".into(), "/1".into(), Some(200), Outcome::Complete)
        );
        // /2 keeps what its cut header said; /3 has no status: never the 404 of /4.
        assert_eq!((s[1].2, s[1].3), (second, Outcome::Partial), "{s:?}");
        assert_eq!(
            (s[2].1.as_str(), s[2].2, s[2].3),
            ("/3", None, Outcome::Partial)
        );
        assert_eq!(
            s[3],
            ("GET".into(), "/4".into(), Some(404), Outcome::Complete)
        );
    }
}

#[test]
fn absurd_lengths_do_not_overflow() {
    let steps: Vec<Step> = vec![
        (
            Ingress,
            b"POST /x HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\nab".to_vec(),
            1,
        ),
        (
            Egress,
            b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\nabc".to_vec(),
            2,
        ),
        (
            Egress,
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffff\r\n".to_vec(),
            3,
        ),
    ];
    let (recs, t) = run(ConnMeta::default(), &steps, Some(4));
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].request_bytes, u64::MAX);
    assert_eq!(t.stats().records, 1);
}

#[test]
fn a_connection_joined_mid_body_is_found_again_later() {
    let mut t = Tracker::default();
    let mut out = Vec::new();
    let c = ConnId(11);
    // Joined in the middle of a long upload: body bytes only, for a while.
    for i in 0..100 {
        t.feed(
            &kestrel_l7::Chunk::whole(c, Ingress, i, &[b'z'; 100]),
            &mut out,
        );
    }
    assert_eq!(t.protocol(c), None);
    assert_eq!(t.stats().undetected_connections, 1);
    // Requests start again; detection looks every 64 chunks.
    for i in 100..164 {
        t.feed(
            &kestrel_l7::Chunk::whole(c, Ingress, i, b"GET /again HTTP/1.1\r\n\r\n"),
            &mut out,
        );
        t.feed(
            &kestrel_l7::Chunk::whole(c, Egress, i, resp("200 OK", "").as_bytes()),
            &mut out,
        );
    }
    assert_eq!(t.protocol(c), Some(kestrel_l7::Protocol::Http1));
    assert!(!out.is_empty());
    assert!(out
        .iter()
        .all(|r| http(r).path.as_deref() == Some("/again")));
    assert_eq!(t.stats().undetected_connections, 1);
}

#[test]
fn a_response_never_pairs_with_a_request_seen_after_it_began() {
    let mut t = Tracker::default();
    let mut out = Vec::new();
    let c = ConnId(12);
    t.feed(
        &kestrel_l7::Chunk::whole(c, Ingress, 10, b"GET /late HTTP/1.1\r\n\r\n"),
        &mut out,
    );
    // A response written at 5 answers something the capture missed, not /late.
    t.feed(
        &kestrel_l7::Chunk::whole(c, Egress, 5, resp("500 Oops", "").as_bytes()),
        &mut out,
    );
    t.feed(
        &kestrel_l7::Chunk::whole(c, Egress, 20, resp("200 OK", "").as_bytes()),
        &mut out,
    );
    assert_eq!(
        summary(&out),
        vec![("GET".into(), "/late".into(), Some(200), Outcome::Complete)]
    );
    assert_eq!(t.stats().unmatched_responses, 1);
}

#[test]
fn a_thousand_pipelining_connections_fed_per_iovec() {
    // The pipelining test as the capture would report it: 3 GETs in one write per
    // connection; the server answers with one writev of header and body iovecs, each reported
    // as its own chunk with the first 1 KiB captured.
    let mut t = Tracker::default();
    let mut out = Vec::new();
    let reqs = b"GET / HTTP/1.1\r\nHost: h\r\n\r\nGET /missing HTTP/1.1\r\nHost: h\r\n\r\nGET /index.html HTTP/1.1\r\nHost: h\r\n\r\n";
    let page = vec![b'p'; 612];
    let missing = vec![b'm'; 153];
    let answers: [(&str, &[u8]); 3] = [
        ("200 OK", &page),
        ("404 Not Found", &missing),
        ("200 OK", &page),
    ];
    for conn in 0..1000u64 {
        let c = ConnId(conn);
        t.feed(
            &kestrel_l7::Chunk::whole(c, Ingress, conn * 10, reqs),
            &mut out,
        );
        for (status, body) in answers {
            let head = format!(
                "HTTP/1.1 {status}\r\nServer: nginx\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            t.feed(
                &kestrel_l7::Chunk::whole(c, Egress, conn * 10 + 5, head.as_bytes()),
                &mut out,
            );
            let chunk = kestrel_l7::Chunk {
                conn: c,
                direction: Egress,
                role: None,
                timestamp_ns: conn * 10 + 5,
                bytes: &body[..body.len().min(1024)],
                total_len: body.len() as u64,
                truncated: false,
            };
            t.feed(&chunk, &mut out);
        }
    }
    assert_eq!(out.len(), 3000);
    for (i, r) in out.iter().enumerate() {
        let want = [Some(200), Some(404), Some(200)][i % 3];
        assert_eq!(http(r).status, want, "record {i}");
        assert_eq!(r.conn, ConnId(i as u64 / 3));
        assert_eq!(r.outcome, Outcome::Complete);
    }
}

#[test]
fn request_lines_beat_a_wrong_role_hint() {
    let meta = ConnMeta {
        role: Some(Role::Server),
        ..ConnMeta::default()
    };
    let steps: Vec<Step> = vec![
        (Egress, b"GET /out HTTP/1.1\r\n\r\n".to_vec(), 1),
        (Ingress, resp("200 OK", "").into_bytes(), 2),
    ];
    let (recs, t) = run(meta, &steps, None);
    assert_eq!(
        summary(&recs),
        vec![("GET".into(), "/out".into(), Some(200), Outcome::Complete)]
    );
    assert_eq!(recs[0].role, Role::Client);
    assert_eq!(t.stats().role_conflicts, 1);
}
