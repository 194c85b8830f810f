//! DNS, Redis and PostgreSQL through the tracker.
#![allow(clippy::unwrap_used)]

mod common;

use common::{random_split, run, run_split, Rng, Step};
use kestrel_l7::{
    Chunk, ConnId, ConnMeta, Detail, Direction, DnsRecord, PgRecord, QueryKind, Record,
    RedisRecord, Role, Tracker, Transport,
};

use Direction::{Egress, Ingress};

// ---- DNS ----

fn dns_query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.push(0);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&[0, 1]);
    m
}

/// A response to `query` with rcode and one answer whose name is a compression pointer.
fn dns_response(query: &[u8], rcode: u8) -> Vec<u8> {
    let mut m = query.to_vec();
    m[2] = 0x81;
    m[3] = 0x80 | rcode;
    m[7] = 1; // ANCOUNT
    m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 1]);
    m
}

fn dns(r: &Record) -> &DnsRecord {
    match &r.detail {
        Detail::Dns(d) => d,
        other => panic!("not dns: {other:?}"),
    }
}

#[test]
fn dns_over_udp_matches_by_id_with_latency() {
    let udp = ConnMeta {
        transport: Transport::Udp,
        ..ConnMeta::default()
    };
    let q1 = dns_query(0x1234, "Example.COM", 1);
    let q2 = dns_query(0x9999, "nope.example", 28);
    let steps: Vec<Step> = vec![
        (Egress, q1.clone(), 1_000),
        (Egress, q2.clone(), 1_500),
        // Answers out of order.
        (Ingress, dns_response(&q2, 3), 4_000),
        (Ingress, dns_response(&q1, 0), 5_000),
    ];
    let (recs, _) = run(udp, &steps, None);
    assert_eq!(recs.len(), 2);
    let d = dns(&recs[0]);
    assert_eq!(
        (d.name.as_str(), d.qtype, d.rcode),
        ("nope.example", 28, Some(3))
    );
    assert_eq!(recs[0].duration_ns(), 2_500);
    let d = dns(&recs[1]);
    assert_eq!(
        (d.name.as_str(), d.qtype, d.rcode, d.answers),
        ("example.com", 1, Some(0), 1)
    );
    assert_eq!(recs[1].duration_ns(), 4_000);
    assert_eq!(recs[1].role, Role::Client);
}

#[test]
fn dns_over_tcp_with_length_prefix_any_chunking() {
    let meta = ConnMeta {
        remote_port: Some(53),
        ..ConnMeta::default()
    };
    let q = dns_query(7, "a.b.c", 16);
    let r = dns_response(&q, 0);
    let framed = |m: &[u8]| [&(m.len() as u16).to_be_bytes()[..], m].concat();
    let steps: Vec<Step> = vec![(Egress, framed(&q), 1), (Ingress, framed(&r), 2)];
    let (want, _) = run(meta, &steps, None);
    assert_eq!(want.len(), 1);
    assert_eq!(dns(&want[0]).name, "a.b.c");
    for seed in 0..50 {
        let mut rng = Rng(seed);
        let (got, _) = run_split(meta, &steps, None, |_, n| random_split(&mut rng, n));
        assert_eq!(got, want);
    }
}

#[test]
fn dns_name_compression_and_loops() {
    use kestrel_l7::proto::dns::{parse_message, read_name};
    // "www" + pointer to "example.com" at offset 12 + 4 ...
    let mut m = vec![0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(b"\x07example\x03com\x00");
    let www = m.len();
    m.extend_from_slice(b"\x03www\xc0\x0c");
    assert_eq!(
        read_name(&m, www),
        Some(("www.example.com".into(), www + 6))
    );
    // A pointer to itself, and a pointer forward: errors, not hangs.
    let mut l = m.clone();
    let at = l.len();
    l.extend_from_slice(&[0xc0, at as u8]);
    assert_eq!(read_name(&l, at), None);
    let mut f = m.clone();
    f.extend_from_slice(&[0xc0, 0x7f]);
    assert_eq!(read_name(&f, f.len() - 2), None);
    // Two pointers chasing each other.
    let mut two = vec![0u8; 12];
    two.extend_from_slice(&[0xc0, 14, 0xc0, 12]);
    assert_eq!(read_name(&two, 12), None);
    assert_eq!(read_name(b"\x00", 0), Some((".".into(), 1)));
    assert!(parse_message(&[0; 11]).is_none());
}

// ---- Redis ----

fn redis(r: &Record) -> &RedisRecord {
    match &r.detail {
        Detail::Redis(d) => d,
        other => panic!("not redis: {other:?}"),
    }
}

fn resp_cmd(args: &[&str]) -> Vec<u8> {
    let mut v = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        v.extend_from_slice(format!("${}\r\n{}\r\n", a.len(), a).as_bytes());
    }
    v
}

fn redis_exchange() -> Vec<Step> {
    let big = "v".repeat(5000);
    let cmds = [
        resp_cmd(&["set", "k", &big]),
        resp_cmd(&["GET", "k"]),
        resp_cmd(&["bogus"]),
        b"PING\r\n".to_vec(),
        b"echo hi\n".to_vec(),
        resp_cmd(&["LRANGE", "l", "0", "-1"]),
        resp_cmd(&["HGETALL", "h"]),
    ]
    .concat();
    let replies = [
        b"+OK\r\n".to_vec(),
        format!("${}\r\n{}\r\n", big.len(), big).into_bytes(),
        b"-ERR unknown command 'bogus'\r\n".to_vec(),
        b"+PONG\r\n".to_vec(),
        b"$2\r\nhi\r\n".to_vec(),
        b"*3\r\n$1\r\na\r\n*2\r\n:1\r\n$-1\r\n_\r\n".to_vec(),
        b"|1\r\n+ttl\r\n:3\r\n%1\r\n+f\r\n+v\r\n".to_vec(),
    ]
    .concat();
    vec![(Egress, cmds, 10), (Ingress, replies, 20)]
}

#[test]
fn redis_pipelined_commands_and_errors_in_order() {
    let meta = ConnMeta {
        remote_port: Some(6379),
        ..ConnMeta::default()
    };
    let (recs, t) = run(meta, &redis_exchange(), None);
    let got: Vec<(String, Option<String>)> = recs
        .iter()
        .map(|r| (redis(r).command.clone(), redis(r).error.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("SET".into(), None),
            ("GET".into(), None),
            ("BOGUS".into(), Some("ERR unknown command 'bogus'".into())),
            ("PING".into(), None),
            ("ECHO".into(), None),
            ("LRANGE".into(), None),
            ("HGETALL".into(), None),
        ]
    );
    assert!(recs
        .iter()
        .all(|r| r.role == Role::Client && r.duration_ns() == 10));
    assert_eq!(t.stats().parse_errors, 0);
    assert_eq!(recs[1].response_bytes, 5000 + 7 + 2);
    for seed in 0..100 {
        let mut rng = Rng(seed);
        let (again, _) = run_split(meta, &redis_exchange(), None, |_, n| {
            random_split(&mut rng, n)
        });
        assert_eq!(again, recs, "seed {seed}");
    }
}

#[test]
fn redis_big_values_are_skipped_when_not_captured() {
    let mut t = Tracker::default();
    let mut out = Vec::new();
    let c = ConnId(1);
    let set = resp_cmd(&["SET", "k", &"x".repeat(100_000)]);
    let cut = |b: &[u8]| b[..b.len().min(512)].to_vec();
    let send = |t: &mut Tracker, out: &mut Vec<Record>, dir, ts, b: &[u8]| {
        let head = cut(b);
        t.feed(
            &Chunk {
                conn: c,
                direction: dir,
                role: None,
                timestamp_ns: ts,
                bytes: &head,
                total_len: b.len() as u64,
                truncated: head.len() < b.len(),
            },
            out,
        );
    };
    send(&mut t, &mut out, Egress, 1, &set);
    send(&mut t, &mut out, Ingress, 2, b"+OK\r\n");
    send(&mut t, &mut out, Egress, 3, &resp_cmd(&["GET", "k"]));
    let mut reply = b"$100000\r\n".to_vec();
    reply.extend(std::iter::repeat_n(b'x', 100_000));
    reply.extend_from_slice(b"\r\n");
    send(&mut t, &mut out, Ingress, 4, &reply);
    send(&mut t, &mut out, Egress, 5, &resp_cmd(&["DEL", "k"]));
    send(&mut t, &mut out, Ingress, 6, b":1\r\n");
    let cmds: Vec<&str> = out.iter().map(|r| redis(r).command.as_str()).collect();
    assert_eq!(cmds, ["SET", "GET", "DEL"]);
    assert_eq!(out[0].request_bytes, set.len() as u64);
    assert_eq!(out[1].response_bytes, reply.len() as u64);
}

// ---- PostgreSQL ----

fn pg(r: &Record) -> &PgRecord {
    match &r.detail {
        Detail::Postgres(d) => d,
        other => panic!("not postgres: {other:?}"),
    }
}

fn msg(t: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![t];
    v.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    v.extend_from_slice(body);
    v
}

fn startup() -> Vec<u8> {
    let body = b"\x00\x03\x00\x00user\x00app\x00database\x00db\x00\x00";
    let mut v = (body.len() as u32 + 4).to_be_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

fn error_response(code: &str) -> Vec<u8> {
    let body = format!("SERROR\x00VERROR\x00C{code}\x00Mrelation \"nope\" does not exist\x00\x00");
    msg(b'E', body.as_bytes())
}

fn pg_exchange() -> Vec<Step> {
    let ssl = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
    let ready = msg(b'Z', b"I");
    let server_hello = [
        b"N".to_vec(),
        msg(b'R', &[0, 0, 0, 0]),
        msg(b'S', b"server_version\x0016\x00"),
        msg(b'K', &[0, 0, 0, 1, 0, 0, 0, 2]),
        ready.clone(),
    ];
    let q1 = msg(b'Q', b"  /* hi */ select * from t\x00");
    let q2 = msg(b'Q', b"SELECT * FROM nope\x00");
    let ext = [
        msg(b'P', b"s1\x00INSERT INTO t VALUES ($1)\x00\x00\x00"),
        msg(b'B', b"\x00s1\x00\x00\x00\x00\x01\x00\x00\x00\x011\x00\x00"),
        msg(b'D', b"P\x00"),
        msg(b'E', b"\x00\x00\x00\x00\x00"),
        msg(b'S', b""),
        // Pipelined: a second batch reusing s1 before any answer.
        msg(
            b'B',
            b"p2\x00s1\x00\x00\x00\x00\x01\x00\x00\x00\x012\x00\x00",
        ),
        msg(b'E', b"p2\x00\x00\x00\x00\x00"),
        msg(b'S', b""),
    ]
    .concat();
    let r1 = [
        msg(b'T', b"\x00\x01a\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x17\x00\x04\xff\xff\xff\xff\x00\x00"),
        msg(b'D', b"\x00\x01\x00\x00\x00\x011"),
        msg(b'C', b"SELECT 1\x00"),
        ready.clone(),
    ]
    .concat();
    let r2 = [error_response("42P01"), ready.clone()].concat();
    let r3 = [
        msg(b'1', b""),
        msg(b'2', b""),
        msg(b'n', b""),
        msg(b'C', b"INSERT 0 1\x00"),
        ready.clone(),
        msg(b'2', b""),
        msg(b'C', b"INSERT 0 1\x00"),
        ready,
    ]
    .concat();
    vec![
        (Ingress, ssl.to_vec(), 1),
        (Egress, server_hello[0].clone(), 2),
        (Ingress, startup(), 3),
        (Egress, server_hello[1..].concat(), 4),
        (Ingress, q1, 10),
        (Egress, r1, 15),
        (Ingress, q2, 20),
        (Egress, r2, 21),
        (Ingress, ext, 30),
        (Egress, r3, 40),
    ]
}

#[test]
fn postgres_simple_and_extended_queries_with_errors() {
    let (recs, t) = run(ConnMeta::default(), &pg_exchange(), Some(50));
    let got: Vec<(QueryKind, Option<String>, Option<String>, bool)> = recs
        .iter()
        .map(|r| {
            let p = pg(r);
            (
                p.kind,
                p.command_tag.clone(),
                p.error_code.clone(),
                p.extended,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (QueryKind::Select, Some("SELECT 1".into()), None, false),
            (QueryKind::Select, None, Some("42P01".into()), false),
            (QueryKind::Insert, Some("INSERT 0 1".into()), None, true),
            (QueryKind::Insert, Some("INSERT 0 1".into()), None, true),
        ]
    );
    assert_eq!(recs[0].role, Role::Server);
    assert_eq!((recs[0].start_ns, recs[0].end_ns), (10, 15));
    assert_eq!(t.stats().parse_errors, 0);
    assert_eq!(t.stats().unmatched_responses, 0);
    for seed in 0..100 {
        let mut rng = Rng(seed);
        let (again, _) = run_split(ConnMeta::default(), &pg_exchange(), Some(50), |_, n| {
            random_split(&mut rng, n)
        });
        assert_eq!(again, recs, "seed {seed}");
    }
}

#[test]
fn postgres_accepted_ssl_stops_parsing() {
    let steps: Vec<Step> = vec![
        (Ingress, vec![0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f], 1),
        (Egress, b"S".to_vec(), 2),
        (
            Ingress,
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec(),
            3,
        ),
    ];
    let (recs, t) = run(ConnMeta::default(), &steps, Some(4));
    assert!(recs.is_empty());
    assert_eq!(t.stats().upgraded, 1);
    assert_eq!(t.stats().parse_errors, 0);
}

#[test]
fn query_kinds_from_the_first_keyword() {
    for (sql, kind) in [
        ("select 1", QueryKind::Select),
        ("  -- c\n INSERT INTO x", QueryKind::Insert),
        ("(SELECT 1)", QueryKind::Select),
        ("update t set a=1", QueryKind::Update),
        ("DELETE FROM t", QueryKind::Delete),
        ("BEGIN", QueryKind::Begin),
        ("commit", QueryKind::Commit),
        ("ROLLBACK", QueryKind::Rollback),
        ("WITH x AS (SELECT 1) SELECT * FROM x", QueryKind::Other),
        ("/* unterminated", QueryKind::Other),
        ("", QueryKind::Other),
    ] {
        assert_eq!(QueryKind::of(sql), kind, "{sql}");
    }
}

#[test]
fn errors_by_the_otel_rules_and_close_all() {
    let mut t = Tracker::default();
    let mut out = Vec::new();
    let feed = |t: &mut Tracker, out: &mut Vec<Record>, c: u64, dir, b: &[u8]| {
        t.feed(&Chunk::whole(ConnId(c), dir, 1, b), out);
    };
    // Server side 404: not an error; client side 404: an error; 503 both.
    feed(&mut t, &mut out, 1, Ingress, b"GET / HTTP/1.1\r\n\r\n");
    feed(
        &mut t,
        &mut out,
        1,
        Egress,
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
    );
    feed(&mut t, &mut out, 2, Egress, b"GET / HTTP/1.1\r\n\r\n");
    feed(
        &mut t,
        &mut out,
        2,
        Ingress,
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
    );
    feed(&mut t, &mut out, 1, Ingress, b"GET / HTTP/1.1\r\n\r\n");
    feed(
        &mut t,
        &mut out,
        1,
        Egress,
        b"HTTP/1.1 503 Unavailable\r\nContent-Length: 0\r\n\r\n",
    );
    let errors: Vec<bool> = out.iter().map(Record::is_error).collect();
    assert_eq!(errors, [false, true, true]);
    // A request waiting at exit comes out as Closed.
    feed(&mut t, &mut out, 3, Ingress, b"GET /cut HTTP/1.1\r\n\r\n");
    t.close_all(9, &mut out);
    assert_eq!(t.connections(), 0);
    assert_eq!(
        out.last().map(|r| r.outcome),
        Some(kestrel_l7::Outcome::Closed)
    );
}

#[test]
fn replies_that_began_before_the_request_do_not_answer_it() {
    let meta = ConnMeta {
        remote_port: Some(6379),
        ..ConnMeta::default()
    };
    let mut t = Tracker::default();
    let mut out = Vec::new();
    let c = ConnId(4);
    t.open(c, meta);
    t.feed(
        &Chunk::whole(c, Egress, 10, &resp_cmd(&["GET", "k"])),
        &mut out,
    );
    t.feed(&Chunk::whole(c, Ingress, 5, b"-ERR stale\r\n"), &mut out);
    t.feed(&Chunk::whole(c, Ingress, 20, b"$1\r\nv\r\n"), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(
        (
            redis(&out[0]).command.as_str(),
            redis(&out[0]).error.as_deref()
        ),
        ("GET", None)
    );
    assert_eq!(t.stats().unmatched_responses, 1);
}
