//! Parser cost per exchange: feeds keep-alive HTTP/1 exchanges (request and response, one
//! chunk each) and HTTP/2 streams (HPACK with dynamic references) through a tracker and
//! prints the time per record.
//! `cargo run --release -p kestrel-l7 --example throughput [http1|http2]` (wall time; on a busy machine
//! `perf stat -e task-clock target/release/examples/throughput` gives the CPU time).

use std::time::Instant;

use kestrel_l7::{Chunk, ConnId, Direction, Tracker};

fn main() {
    let only = std::env::args().nth(1).unwrap_or_default();
    if only != "http2" {
        http1();
    }
    if only != "http1" {
        h2(250_000);
    }
}

fn http1() {
    let req = b"GET /api/users/42?x=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n";
    let resp = b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/html\r\nContent-Length: 612\r\n\r\n";
    let n = 1_000_000u64;
    let mut t = Tracker::default();
    let mut out = Vec::with_capacity(1024);
    let start = Instant::now();
    let mut records = 0;
    for i in 0..n {
        let c = ConnId(i % 50);
        t.feed(&Chunk::whole(c, Direction::Ingress, i * 10, req), &mut out);
        // The body is not captured: only the headers, total_len counts the 612 bytes.
        t.feed(
            &Chunk {
                conn: c,
                direction: Direction::Egress,
                role: None,
                timestamp_ns: i * 10 + 5,
                bytes: resp,
                total_len: resp.len() as u64 + 612,
                truncated: true,
            },
            &mut out,
        );
        records += out.len();
        out.clear();
    }
    let el = start.elapsed();
    println!(
        "http1: {records} records in {:?}: {:.0} ns per request+response",
        el,
        el.as_nanos() as f64 / n as f64
    );
}

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// One connection, `n` streams: the first request inserts :path and :authority, the others
/// reference them (what browsers and h2load send).
fn h2(n: u64) {
    let mut t = Tracker::default();
    let mut out = Vec::with_capacity(1024);
    let c = ConnId(1);
    let mut first = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    first.extend(frame(4, 0, 0, &[]));
    let mut block = vec![0x82, 0x86, 0x44, 10];
    block.extend_from_slice(b"/api/users");
    block.extend_from_slice(&[0x41, 11]);
    block.extend_from_slice(b"example.com");
    first.extend(frame(1, 5, 1, &block));
    t.feed(&Chunk::whole(c, Direction::Ingress, 1, &first), &mut out);
    t.feed(
        &Chunk::whole(c, Direction::Egress, 2, &frame(4, 0, 0, &[])),
        &mut out,
    );
    let start = Instant::now();
    let mut records = 0;
    for i in 0..n {
        let id = 1 + 2 * (i as u32 % 1_000_000_000);
        let id = if i == 0 { 1 } else { id + 2 };
        if i > 0 {
            let req = frame(1, 5, id, &[0x82, 0x86, 0xbf, 0xbe]);
            t.feed(&Chunk::whole(c, Direction::Ingress, 10 * i, &req), &mut out);
        }
        let mut resp = frame(1, 4, id, &[0x88]);
        resp.extend(frame(0, 1, id, &[b'x'; 100]));
        t.feed(
            &Chunk::whole(c, Direction::Egress, 10 * i + 5, &resp),
            &mut out,
        );
        records += out.len();
        out.clear();
    }
    let el = start.elapsed();
    println!(
        "http2: {records} records in {:?}: {:.0} ns per stream",
        el,
        el.as_nanos() as f64 / n as f64
    );
}
