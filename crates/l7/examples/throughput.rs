//! Parser cost per exchange: feeds keep-alive HTTP/1 exchanges (request and response, one
//! chunk each) and HTTP/2 streams through a tracker and prints ns per record.
//! `cargo run --release -p kestrel-l7 --example throughput` (wall time; on a busy machine
//! `perf stat -e task-clock target/release/examples/throughput` gives the CPU time).

use std::time::Instant;

use kestrel_l7::{Chunk, ConnId, Direction, Tracker};

fn main() {
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
