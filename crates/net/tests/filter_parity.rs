//! Verdict parity with libpcap: kestrel's compiled filters and `tcpdump -r in.pcap -w out.pcap
//! EXPR` must select exactly the same packets, for well over 100 expressions, over a capture
//! the test builds itself (every supported protocol, VLAN and QinQ tags, IPv4 options,
//! fragments, IPv6 extension headers, truncated packets) plus traffic it records with tcpdump
//! on loopback while it runs (filtered on its own ports).
//!
//! Needs root (BPF_PROG_TEST_RUN) and tcpdump; skipped with a reason otherwise, unless
//! CI=true or KESTREL_REQUIRE_KERNEL=1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kestrel_net::filter::pcap::{self, Packet};
use kestrel_net::filter::testrun::Tester;
use kestrel_net::filter::{compile, compile_match, FilterError, Target};
use kestrel_sys::{AttachType, ProgType, Program, ProgramLoad};

fn required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var("KESTREL_REQUIRE_KERNEL").is_ok_and(|v| v == "1")
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

fn can_run(test: &str) -> bool {
    let tcpdump = Command::new("tcpdump").arg("--version").output().is_ok();
    let why = match (is_root(), tcpdump) {
        (true, true) => return true,
        (false, _) => "needs root",
        (true, false) => "needs tcpdump",
    };
    assert!(
        !required(),
        "{test}: {why} (required by CI/KESTREL_REQUIRE_KERNEL)"
    );
    eprintln!("skipping {test}: {why}");
    false
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("kestrel-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        if let Err(e) = std::fs::create_dir_all(&p) {
            panic!("{}: {e}", p.display());
        }
        Scratch(p)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// ---- packet builders -------------------------------------------------------------------

const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];
const BCAST: [u8; 6] = [0xff; 6];

fn csum(b: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for c in b.chunks(2) {
        s += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// L2 header: MACs plus tags (TPID, VID) then the EtherType.
fn eth(dst: [u8; 6], src: [u8; 6], tags: &[(u16, u16)], ty: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    for (tpid, vid) in tags {
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&vid.to_be_bytes());
    }
    f.extend_from_slice(&ty.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn ipv4(proto: u8, src: [u8; 4], dst: [u8; 4], opts: &[u8], frag: u16, payload: &[u8]) -> Vec<u8> {
    let mut o = opts.to_vec();
    while !o.len().is_multiple_of(4) {
        o.push(0);
    }
    let hl = 20 + o.len();
    let mut h = vec![0u8; hl];
    h[0] = 0x40 | (hl / 4) as u8;
    h[2..4].copy_from_slice(&((hl + payload.len()) as u16).to_be_bytes());
    h[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
    h[6..8].copy_from_slice(&frag.to_be_bytes());
    h[8] = 64;
    h[9] = proto;
    h[12..16].copy_from_slice(&src);
    h[16..20].copy_from_slice(&dst);
    h[20..].copy_from_slice(&o);
    let c = csum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

fn ipv6(nh: u8, src: &str, dst: &str, payload: &[u8]) -> Vec<u8> {
    let s: std::net::Ipv6Addr = src.parse().unwrap_or(std::net::Ipv6Addr::LOCALHOST);
    let d: std::net::Ipv6Addr = dst.parse().unwrap_or(std::net::Ipv6Addr::LOCALHOST);
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    h.push(nh);
    h.push(64);
    h.extend_from_slice(&s.octets());
    h.extend_from_slice(&d.octets());
    h.extend_from_slice(payload);
    h
}

fn tcp(sport: u16, dport: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0u8; 20];
    h[0..2].copy_from_slice(&sport.to_be_bytes());
    h[2..4].copy_from_slice(&dport.to_be_bytes());
    h[4..8].copy_from_slice(&1000u32.to_be_bytes());
    h[12] = 0x50;
    h[13] = flags;
    h[14..16].copy_from_slice(&512u16.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0u8; 8];
    h[0..2].copy_from_slice(&sport.to_be_bytes());
    h[2..4].copy_from_slice(&dport.to_be_bytes());
    h[4..6].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    h.extend_from_slice(payload);
    h
}

fn sctp(sport: u16, dport: u16) -> Vec<u8> {
    let mut h = vec![0u8; 16];
    h[0..2].copy_from_slice(&sport.to_be_bytes());
    h[2..4].copy_from_slice(&dport.to_be_bytes());
    h
}

fn icmp(ty: u8, code: u8) -> Vec<u8> {
    let mut h = vec![ty, code, 0, 0, 0, 1, 0, 1];
    h.extend_from_slice(b"abcdefghijklmnop");
    h
}

fn arp(op: u16, spa: [u8; 4], tpa: [u8; 4]) -> Vec<u8> {
    let mut h = vec![0, 1, 8, 0, 6, 4];
    h.extend_from_slice(&op.to_be_bytes());
    h.extend_from_slice(&MAC_A);
    h.extend_from_slice(&spa);
    h.extend_from_slice(&[0; 6]);
    h.extend_from_slice(&tpa);
    h
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const FIN: u8 = 0x01;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;

/// Layer-3 payloads with their EtherType.
fn l3_set() -> Vec<(u16, Vec<u8>)> {
    let a = [10, 0, 0, 1];
    let b = [10, 0, 0, 2];
    let c = [192, 168, 1, 7];
    let rr = [7u8, 11, 4, 10, 0, 0, 1, 0, 0, 0, 0]; // record-route option
    let mut v = vec![
        (0x0800, ipv4(6, a, b, &[], 0x4000, &tcp(1234, 80, SYN, &[]))),
        (
            0x0800,
            ipv4(6, b, a, &[], 0x4000, &tcp(80, 1234, SYN | ACK, &[])),
        ),
        (
            0x0800,
            ipv4(
                6,
                a,
                b,
                &[],
                0x4000,
                &tcp(40000, 22, ACK | PSH, b"SSH-2.0-test"),
            ),
        ),
        (
            0x0800,
            ipv4(6, c, a, &[], 0, &tcp(443, 5555, FIN | ACK, &[])),
        ),
        (0x0800, ipv4(6, a, c, &[], 0, &tcp(5555, 443, RST, &[]))),
        (
            0x0800,
            ipv4(17, a, [8, 8, 8, 8], &[], 0, &udp(3333, 53, b"query")),
        ),
        (
            0x0800,
            ipv4(17, [8, 8, 8, 8], a, &[], 0, &udp(53, 3333, b"answer")),
        ),
        (
            0x0800,
            ipv4(17, a, [224, 0, 0, 251], &[], 0, &udp(5353, 5353, b"mdns")),
        ),
        (
            0x0800,
            ipv4(
                17,
                [0, 0, 0, 0],
                [255, 255, 255, 255],
                &[],
                0,
                &udp(68, 67, b"dhcp"),
            ),
        ),
        (0x0800, ipv4(1, [10, 1, 2, 3], c, &[], 0, &icmp(8, 0))),
        (0x0800, ipv4(1, c, [10, 1, 2, 3], &[], 0, &icmp(0, 0))),
        (0x0800, ipv4(1, c, a, &[], 0, &icmp(3, 3))),
        (0x0800, ipv4(132, a, b, &[], 0, &sctp(9, 8080))),
        (
            0x0800,
            ipv4(2, a, [224, 0, 0, 1], &[], 0, &[0x11, 0, 0, 0, 0, 0, 0, 0]),
        ),
        // IPv4 options: the transport header moves.
        (0x0800, ipv4(6, a, b, &rr, 0, &tcp(2000, 443, SYN, &[]))),
        (
            0x0800,
            ipv4(
                17,
                c,
                b,
                &[1, 1, 1, 1, 1, 1, 1, 1, 0],
                0,
                &udp(1000, 2000, b"x"),
            ),
        ),
        // Fragments: first (MF, offset 0) and a later one whose payload looks like ports.
        (
            0x0800,
            ipv4(17, a, b, &[], 0x2000, &udp(4000, 53, &[0; 24])),
        ),
        (0x0800, ipv4(17, a, b, &[], 185, &udp(4000, 53, &[0; 8]))),
        (
            0x0800,
            ipv4(6, a, b, &[], 0x2000 | 3, &tcp(80, 80, SYN, &[])),
        ),
        (
            0x86dd,
            ipv6(6, "2001:db8::1", "2001:db8::2", &tcp(1234, 80, SYN, &[])),
        ),
        (
            0x86dd,
            ipv6(
                6,
                "2001:db8::2",
                "2001:db8::1",
                &tcp(80, 1234, SYN | ACK, &[]),
            ),
        ),
        (
            0x86dd,
            ipv6(
                17,
                "2001:db8:1::5",
                "2001:4860::8888",
                &udp(3333, 53, b"q6"),
            ),
        ),
        (0x86dd, ipv6(58, "fe80::1", "ff02::1:ff00:2", &icmp(135, 0))),
        (
            0x86dd,
            ipv6(58, "2001:db8::1", "2001:db8::2", &icmp(128, 0)),
        ),
        (
            0x86dd,
            ipv6(58, "2001:db8::2", "2001:db8::1", &icmp(129, 0)),
        ),
        (
            0x86dd,
            ipv6(132, "2001:db8::1", "2001:db8::9", &sctp(9, 8080)),
        ),
    ];
    // IPv6 fragment header (44) then TCP; hop-by-hop (0) then UDP (not chased by libpcap).
    let mut frag = vec![6, 0, 0, 1, 0, 0, 0, 7];
    frag.extend_from_slice(&tcp(1234, 22, SYN, &[]));
    v.push((0x86dd, ipv6(44, "2001:db8::1", "2001:db8::2", &frag)));
    let mut hbh = vec![17, 0, 5, 2, 0, 0, 1, 0];
    hbh.extend_from_slice(&udp(1111, 53, b"h"));
    v.push((0x86dd, ipv6(0, "2001:db8::1", "ff02::16", &hbh)));
    v.push((0x0806, arp(1, a, b)));
    v.push((0x0806, arp(2, b, a)));
    v.push((0x8035, arp(3, c, a)));
    v.push((0x88cc, vec![2, 7, 4, 1, 2, 3, 4, 5, 6, 0, 0]));
    v
}

fn frame(ts: u32, data: Vec<u8>, wire_len: Option<u32>) -> Packet {
    Packet {
        ts_sec: ts,
        ts_frac: 0,
        wire_len: wire_len.unwrap_or(data.len() as u32),
        data,
    }
}

/// The generated part of the capture.
fn generated() -> Vec<Packet> {
    let tag_sets: [&[(u16, u16)]; 5] = [
        &[],
        &[(0x8100, 100)],
        &[(0x8100, 0x2000 | 200)], // priority bits set, VID 200
        &[(0x88a8, 300), (0x8100, 100)],
        &[(0x9100, 42)],
    ];
    let mut out = Vec::new();
    let mut ts = 1_000;
    for tags in tag_sets {
        for (i, (ty, l3)) in l3_set().into_iter().enumerate() {
            let (dst, src) = match (ty, i % 3) {
                (0x0806, _) => (BCAST, MAC_A),
                (0x88cc, _) => ([0x01, 0x80, 0xc2, 0, 0, 0x0e], MAC_B),
                (_, 0) => (MAC_B, MAC_A),
                (_, 1) => (MAC_A, MAC_B),
                _ => ([0x01, 0, 0x5e, 0, 0, 0xfb], MAC_A),
            };
            ts += 1;
            out.push(frame(ts, eth(dst, src, tags, ty, &l3), None));
        }
    }
    // Truncated captures (caplen < wire length) at interesting points, and tiny frames.
    for (ty, l3) in l3_set().into_iter().take(26) {
        let full = eth(MAC_B, MAC_A, &[], ty, &l3);
        for cut in [14usize, 20, 24, 34, 38, 40, 54, 60] {
            if cut < full.len() {
                ts += 1;
                out.push(frame(ts, full[..cut].to_vec(), Some(full.len() as u32)));
            }
        }
    }
    let tagged = eth(MAC_B, MAC_A, &[(0x8100, 100)], 0x0800, &l3_set()[0].1);
    for cut in [16usize, 18, 30, 40] {
        ts += 1;
        out.push(frame(ts, tagged[..cut].to_vec(), Some(tagged.len() as u32)));
    }
    // Frames padded to the Ethernet minimum and a jumbo-ish one.
    let mut padded = eth(
        MAC_B,
        MAC_A,
        &[],
        0x0806,
        &arp(1, [10, 9, 9, 9], [10, 9, 9, 1]),
    );
    padded.resize(60, 0);
    out.push(frame(ts + 1, padded, None));
    let big = eth(
        MAC_B,
        MAC_A,
        &[],
        0x0800,
        &ipv4(
            17,
            [10, 0, 0, 1],
            [10, 0, 0, 2],
            &[],
            0,
            &udp(9999, 9000, &[0x5a; 1400]),
        ),
    );
    out.push(frame(ts + 2, big, None));
    out
}

/// Records loopback traffic on ports the test owns; returns the packets and the ports
/// (TCP v4, UDP v4, TCP v6).
fn record_loopback(dir: &Scratch) -> (Vec<Packet>, [u16; 3]) {
    let l4 = TcpListener::bind("127.0.0.1:0").expect("bind tcp4");
    let u4 = UdpSocket::bind("127.0.0.1:0").expect("bind udp4");
    let l6 = TcpListener::bind("[::1]:0").ok();
    let ports = [
        l4.local_addr().map(|a| a.port()).unwrap_or(0),
        u4.local_addr().map(|a| a.port()).unwrap_or(0),
        l6.as_ref()
            .and_then(|l| l.local_addr().ok())
            .map_or(0, |a| a.port()),
    ];
    let file = dir.path("lo.pcap");
    let filter = format!(
        "port {} or port {} or port {}",
        ports[0], ports[1], ports[2]
    );
    let mut child = Command::new("tcpdump")
        .args([
            "-i",
            "lo",
            "--immediate-mode",
            "-U",
            "-n",
            "-s",
            "3000",
            "-Z",
            "root",
            "-w",
        ])
        .arg(&file)
        .arg(&filter)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tcpdump");
    // Wait for "listening on lo".
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        line.clear();
        if stderr.read_line(&mut line).unwrap_or(0) == 0 || line.contains("listening on") {
            break;
        }
    }
    assert!(
        line.contains("listening on"),
        "tcpdump did not start: {line}"
    );

    // TCP over IPv4: connect, both sides write, close.
    let server = std::thread::spawn(move || {
        if let Ok((mut s, _)) = l4.accept() {
            let mut buf = [0u8; 64];
            let n = s.read(&mut buf).unwrap_or(0);
            let _ = s.write_all(&buf[..n]);
            let _ = s.write_all(&[b'z'; 300]);
        }
    });
    if let Ok(mut c) = TcpStream::connect(("127.0.0.1", ports[0])) {
        let _ = c.write_all(b"hello kestrel");
        let mut buf = Vec::new();
        let _ = c.read_to_end(&mut buf);
    }
    let _ = server.join();
    // UDP datagrams of several sizes.
    for n in [1usize, 50, 200, 1000] {
        let _ = u4.send_to(&vec![b'u'; n], ("127.0.0.1", ports[1]));
    }
    // TCP over IPv6.
    if let Some(l6) = l6 {
        let server = std::thread::spawn(move || {
            if let Ok((mut s, _)) = l6.accept() {
                let _ = s.write_all(b"v6 hello");
            }
        });
        if let Ok(mut c) = TcpStream::connect(("::1", ports[2])) {
            let mut buf = Vec::new();
            let _ = c.read_to_end(&mut buf);
        }
        let _ = server.join();
    }
    std::thread::sleep(Duration::from_millis(500));
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let mut rest = String::new();
    let _ = stderr.read_to_string(&mut rest);
    let cap = match pcap::read(&mut std::fs::File::open(&file).expect("open lo.pcap")) {
        Ok(c) => c,
        Err(e) => panic!("lo.pcap: {e}"),
    };
    (cap.packets, ports)
}

/// What tcpdump selects: (wire length, bytes) of each packet, in order.
fn tcpdump_select(input: &Path, out: &Path, expr: &str) -> Result<Vec<(u32, Vec<u8>)>, String> {
    tcpdump_select_with(&[], input, out, expr)
}

/// Like [`tcpdump_select`] with extra tcpdump flags (`-O`: no optimizer).
fn tcpdump_select_with(
    flags: &[&str],
    input: &Path,
    out: &Path,
    expr: &str,
) -> Result<Vec<(u32, Vec<u8>)>, String> {
    let o = Command::new("tcpdump")
        .args(flags)
        .args(["-n", "-Z", "root", "-r"])
        .arg(input)
        .arg("-w")
        .arg(out)
        .arg(expr)
        .output()
        .map_err(|e| e.to_string())?;
    if !o.status.success() {
        return Err(String::from_utf8_lossy(&o.stderr).into_owned());
    }
    let cap = pcap::read(&mut std::fs::File::open(out).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    Ok(cap
        .packets
        .into_iter()
        .map(|p| (p.wire_len, p.data))
        .collect())
}

/// The expressions (≥ 100). `{P0}`, `{P1}`, `{P2}` are the loopback ports.
const EXPRS: &[&str] = &[
    // protocols
    "ip",
    "ip6",
    "arp",
    "rarp",
    "tcp",
    "udp",
    "icmp",
    "icmp6",
    "sctp",
    "igmp",
    "not ip",
    "not tcp",
    "ip and not tcp",
    "tcp or udp",
    "icmp or icmp6",
    "arp or rarp",
    "ether proto 0x88cc",
    "ether proto \\arp",
    "ether proto 0x0800",
    "proto 17",
    "ip proto 6",
    "ip6 proto 58",
    "ip proto \\udp",
    "ip6 proto 6",
    "proto 132",
    // hosts and nets
    "host 10.0.0.1",
    "src host 10.0.0.1",
    "dst host 10.0.0.2",
    "host 10.1.2.3",
    "src and dst net 10.0.0.0/8",
    "src or dst host 192.168.1.7",
    "ip host 10.0.0.2",
    "arp host 10.0.0.2",
    "rarp src host 192.168.1.7",
    "net 10.0.0.0/24",
    "net 192.168",
    "dst net 224.0.0.0/4",
    "net 10.0.0.0 mask 255.0.0.0",
    "not net 10.0.0.0/8",
    "host 10.0.0.1 and 10.0.0.2",
    "host 10.0.0.1 and not 10.0.0.2",
    "host 8.8.8.8 or 10.1.2.3",
    "ip6 host 2001:db8::1",
    "src host 2001:db8::2",
    "dst net 2001:db8::/32",
    "net ff02::/16",
    "ip6 dst net 2001:4860::/32",
    "host ::1",
    "ether host 02:00:00:00:00:0a",
    "ether src 02:00:00:00:00:0b",
    "ether dst ff:ff:ff:ff:ff:ff",
    "ether broadcast",
    "broadcast",
    "ether multicast",
    "multicast",
    "ip multicast",
    "ip6 multicast",
    "not ether broadcast and arp",
    // ports
    "port 80",
    "tcp port 80",
    "udp port 53",
    "src port 1234",
    "dst port 80",
    "tcp dst port 22",
    "tcp port 22 or udp port 53",
    "port 80 and host 10.0.0.1",
    "port 80 or 443",
    "tcp port 443 or 22",
    "sctp port 8080",
    "udp port 5353 or 67",
    "not port 53",
    "portrange 1-1024",
    "tcp portrange 400-500",
    "udp dst portrange 50-60",
    "src or dst port 53",
    "src and dst port 5353",
    "ip and port 53",
    "ip6 and port 53",
    "ip6 and tcp port 22",
    "port 2000",
    "udp port 2000",
    // vlan
    "vlan",
    "vlan 100",
    "vlan 200",
    "vlan 100 and tcp",
    "vlan and ip",
    "vlan 300 and vlan 100",
    "vlan 300 and vlan 100 and tcp port 80",
    "vlan and vlan and udp",
    "vlan 42 and arp",
    "vlan and host 10.0.0.1",
    "not vlan",
    "tcp or vlan",
    "vlan 100 and not tcp",
    // lengths
    "less 60",
    "greater 100",
    "len > 80",
    "len >= 64 and len <= 128",
    "len - 14 > 50",
    "less 100 and tcp",
    "greater 1000",
    // byte offsets
    "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn",
    "tcp[tcpflags] & tcp-syn != 0",
    "tcp[13] = 18",
    "tcp[tcpflags] & (tcp-fin|tcp-rst) != 0",
    "ip[8] < 65",
    "ip[0] & 0xf > 5",
    "ip[6:2] & 0x1fff != 0",
    "ip[6] & 0x20 != 0",
    "ether[0] & 1 != 0",
    "ether[12:2] = 0x8100",
    "icmp[icmptype] = icmp-echo",
    "icmp[icmptype] != icmp-echo and icmp[icmptype] != icmp-echoreply",
    "icmp6[icmp6type] = icmp6-echo",
    "icmp6[0] = 135",
    "udp[0:2] = 53 or udp[2:2] = 53",
    "tcp[2:2] > 1000",
    "ip6[6] = 44",
    "ip6[40] = 6",
    "arp[7] = 2",
    "tcp[12] >> 4 = 5",
    "udp[4:2] - 8 > 10",
    "ip[2:2] * 2 > 100",
    "ip[9] % 5 = 1",
    "ip[9] / 2 = 3",
    "ip[1:1] | 1 = 1",
    "ip[16] ^ 0xff = 0xf5",
    "ether[6:4] << 8 != 0",
    "tcp[tcp[12] >> 4] = 0",
    "ip[ip[0] & 0xf] = 0",
    "ether[len - 1] = 0",
    "sctp[2:2] = 8080",
    "udp[8] = 0x71",
    "ip[40:4] = 0",
    "ether[1000] = 0",
    "not ether[1000] = 0",
    "ether[1000] = 0 or tcp",
    "tcp or ether[1000] = 0",
    "(tcp[13] & 2) != 0",
    "(ip[0] & 0xf) * 4 = 24",
    // structure
    "tcp or udp and not port 53",
    "not (tcp or udp)",
    "! tcp && ! udp",
    "(tcp || udp) && ip6",
    "not not tcp",
    "tcp and (port 80 or port 22) and not src host 10.0.0.2",
    "(host 10.0.0.1 or host 10.0.0.2) and (tcp or icmp)",
    "host 10.0.0.1 and (10.0.0.2 or 192.168.1.7)",
    "not host 10.0.0.1 and 10.0.0.2",
    "src host 10.0.0.1 or 10.1.2.3",
    "tcp dst port 80 or 22 or 443",
    "port 53 and not 5353",
    "ip6 src host 2001:db8::1 or 2001:db8::2",
    "ether src 02:00:00:00:00:0a or 02:00:00:00:00:0b",
    "udp or tcp and port 80",
    "tcp and port 80 or udp",
    "icmp or not ip and not ip6",
    "vlan 100 or vlan 200",
    "ip6 or vlan 42 and arp",
    "not vlan 100 and tcp",
    "ether[12:2] = 0x88a8 and ether[16:2] = 0x8100",
    "ip[0] = 0x46 or ip[0] = 0x47",
    "ip[6:2] & 0x3fff != 0 and udp",
    "tcp[0:4] = 0x04d20050",
    "ip6[24:4] = 0x20010db8",
    "port domain",
    "port http",
    "port https or port ntp",
    "tcp port domain",
    "portrange ssh-http",
    "src port www",
    // loopback traffic
    "tcp port {P0}",
    "udp dst port {P1}",
    "ip6 and tcp port {P2}",
    "tcp port {P0} and tcp[tcpflags] & tcp-fin != 0",
    "greater 200 and port {P0}",
    "udp port {P1} and len > 100",
    "host 127.0.0.1 and port {P0}",
    "host ::1",
    "tcp[tcpflags] & tcp-push != 0 and port {P0}",
    "src port {P0}",
];

/// Expressions kestrel must refuse with a clear message (never a silent mismatch).
const UNSUPPORTED: &[&str] = &[
    "gateway foo",
    "host example.com",
    "port no-such-service",
    "ip broadcast",
    "mpls",
    "pppoes",
    "inbound",
    "ip protochain 6",
    "decnet host 1.2",
    "wlan addr1 00:00:00:00:00:01",
    "ether proto 100",
    "tcp and",
    "tcp[0:3] = 1",
    "ip[0] / 0 = 1",
];

#[test]
fn verdicts_match_tcpdump() {
    if !can_run("verdicts_match_tcpdump") {
        return;
    }
    let dir = Scratch::new("filter-parity");
    let (lo, ports) = record_loopback(&dir);
    assert!(
        lo.len() >= 10,
        "loopback capture has only {} packets",
        lo.len()
    );
    let mut packets = generated();
    packets.extend(lo);
    let input = dir.path("in.pcap");
    if let Err(e) = std::fs::write(&input, pcap::to_bytes(false, 262_144, &packets)) {
        panic!("write in.pcap: {e}");
    }
    assert!(EXPRS.len() >= 100, "only {} expressions", EXPRS.len());
    let mut failures = Vec::new();
    let mut total_matches = 0;
    for (i, e) in EXPRS.iter().enumerate() {
        let expr = e
            .replace("{P0}", &ports[0].to_string())
            .replace("{P1}", &ports[1].to_string())
            .replace("{P2}", &ports[2].to_string());
        let want = match tcpdump_select(&input, &dir.path(&format!("out{i}.pcap")), &expr) {
            Ok(w) => w,
            Err(err) => {
                failures.push(format!("{expr}: tcpdump refused it: {err}"));
                continue;
            }
        };
        let tester = match Tester::new(&expr) {
            Ok(t) => t,
            Err(err) => {
                failures.push(format!("{expr}: kestrel: {err}"));
                continue;
            }
        };
        let v = match tester.run(&packets) {
            Ok(v) => v,
            Err(err) => panic!("{expr}: test run: {err}"),
        };
        assert_eq!(
            v.too_short, 0,
            "the capture has frames shorter than 14 bytes"
        );
        let got: Vec<(u32, Vec<u8>)> = packets
            .iter()
            .zip(&v.matched)
            .filter(|(_, m)| **m)
            .map(|(p, _)| (p.wire_len, p.data.clone()))
            .collect();
        total_matches += got.len();
        if got != want {
            let idx: Vec<usize> = v
                .matched
                .iter()
                .enumerate()
                .filter(|(_, m)| **m)
                .map(|(i, _)| i + 1)
                .collect();
            failures.push(format!(
                "{expr}: kestrel matched {} packets {:?}, tcpdump {}",
                got.len(),
                &idx[..idx.len().min(20)],
                want.len()
            ));
        }
    }
    assert!(
        total_matches > 500,
        "suspiciously few matches: {total_matches}"
    );
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The tc (sched_cls) program gives the XDP program's verdicts on whole packets (the
/// kernel's test run makes skb->len the captured length, so truncated captures are left out).
#[test]
fn tc_programs_agree_with_xdp() {
    if !can_run("tc_programs_agree_with_xdp") {
        return;
    }
    let packets: Vec<Packet> = generated()
        .into_iter()
        .filter(|p| p.data.len() as u32 == p.wire_len)
        .collect();
    let mut checked = 0;
    for e in EXPRS.iter().filter(|e| !e.contains('{')) {
        let tc = match compile(e, Target::Tc) {
            Ok(p) => p,
            Err(err) => panic!("{e}: {err}"),
        };
        let prog = match Program::load(
            &ProgramLoad::new(ProgType::SchedCls, "kestrel_tc", &tc.insns)
                .with_attach(AttachType::TcxIngress),
        ) {
            Ok(p) => p,
            Err(err) => panic!("{e}: tc program rejected: {err}"),
        };
        let xdp = match Tester::new(e) {
            Ok(t) => t,
            Err(err) => panic!("{e}: {err}"),
        };
        for (i, p) in packets.iter().enumerate() {
            let tc_hit = match prog.test_run(&p.data, 1) {
                Ok((ret, _)) => ret == Target::Tc.on_match(),
                Err(err) => panic!("{e}: tc test run: {err}"),
            };
            let xdp_hit = matches!(xdp.matches(p), Ok(Some(true)));
            assert_eq!(
                tc_hit,
                xdp_hit,
                "{e}: packet {} differs between tc and XDP",
                i + 1
            );
            checked += 1;
        }
    }
    assert!(checked > 10_000, "only {checked} verdicts compared");
}

#[test]
fn unsupported_syntax_fails_at_compile_time_with_a_position() {
    for e in UNSUPPORTED {
        match compile_match(e) {
            Ok(_) => panic!("'{e}' compiled but kestrel does not support it"),
            Err(FilterError { pos, message }) => {
                assert!(pos <= e.len(), "{e}: position {pos}");
                assert!(!message.is_empty());
            }
        }
    }
}

/// A small deterministic PRNG (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[self.below(v.len())]
    }
}

/// A random primitive or relation over the values the generated capture contains.
fn random_prim(r: &mut Rng) -> String {
    let ports = [
        "22", "53", "80", "443", "1234", "5353", "8080", "9", "2000", "67",
    ];
    let hosts = [
        "10.0.0.1",
        "10.0.0.2",
        "192.168.1.7",
        "8.8.8.8",
        "10.1.2.3",
        "224.0.0.251",
    ];
    let hosts6 = ["2001:db8::1", "2001:db8::2", "ff02::1:ff00:2", "fe80::1"];
    let dirs = ["", "src ", "dst ", "src or dst ", "src and dst "];
    match r.below(17) {
        0 => r
            .pick(&[
                "ip", "ip6", "arp", "rarp", "tcp", "udp", "icmp", "icmp6", "sctp", "igmp",
            ])
            .to_string(),
        1 => format!("{}host {}", r.pick(&dirs), r.pick(&hosts)),
        2 => format!("{}host {}", r.pick(&dirs), r.pick(&hosts6)),
        3 => format!(
            "{}{}net {}",
            r.pick(&["", "ip ", "arp "]),
            r.pick(&dirs),
            r.pick(&[
                "10.0.0.0/8",
                "10.0.0.0/24",
                "192.168.0.0/16",
                "224.0.0.0/4",
                "0.0.0.0/0"
            ])
        ),
        4 => format!(
            "{}{}port {}",
            r.pick(&["", "tcp ", "udp ", "sctp "]),
            r.pick(&dirs),
            r.pick(&ports)
        ),
        5 => format!(
            "{}portrange {}",
            r.pick(&["", "tcp ", "udp "]),
            r.pick(&["1-100", "50-60", "1000-9000", "0-65535"])
        ),
        6 => r
            .pick(&["vlan", "vlan 100", "vlan 200", "vlan 300", "vlan 42"])
            .to_string(),
        7 => format!(
            "{} {}",
            r.pick(&["less", "greater"]),
            r.pick(&["40", "60", "64", "80", "100", "1000"])
        ),
        8 => r
            .pick(&[
                "ether broadcast",
                "ether multicast",
                "ip multicast",
                "ip6 multicast",
                "ether src 02:00:00:00:00:0a",
                "ether dst 02:00:00:00:00:0b",
            ])
            .to_string(),
        9 => format!(
            "{} {}",
            r.pick(&["ip proto", "ip6 proto", "proto"]),
            r.pick(&["1", "2", "6", "17", "58", "132", "44", "0"])
        ),
        10 => format!(
            "tcp[tcpflags] & {} {} {}",
            r.pick(&[
                "tcp-syn",
                "tcp-ack",
                "(tcp-syn|tcp-ack)",
                "tcp-fin|tcp-rst",
                "0xff"
            ]),
            r.pick(&["!=", "=", ">"]),
            r.pick(&["0", "2", "18", "tcp-syn"])
        ),
        11 => format!(
            "{}[{}] {} {}",
            r.pick(&["ip", "ether", "udp", "icmp", "ip6", "arp", "icmp6", "tcp", "sctp"]),
            r.pick(&["0", "1", "6", "8", "9", "12", "13", "20:2", "2:2", "0:4", "40"]),
            r.pick(&["=", "!=", "<", ">=", "&"]).replace('&', "& 1 !="),
            r.pick(&["0", "1", "6", "17", "53", "64", "128", "0x45"])
        ),
        12 => format!(
            "len {} {}",
            r.pick(&["<", "<=", ">", ">=", "=", "!="]),
            r.pick(&["42", "60", "64", "100", "1456"])
        ),
        13 => format!(
            "{} {} {}",
            random_arith(r, 2),
            r.pick(&["=", "!=", "<", "<=", ">", ">="]),
            random_arith(r, 1)
        ),
        14 => r
            .pick(&[
                "ether proto 0x88cc",
                "ip proto \\tcp",
                "ip6 proto \\udp",
                "port domain",
                "tcp port http",
                "portrange ssh-http",
                "net 10.0.0.0 mask 255.255.0.0",
                "host 10.0",
                "icmp6[icmp6type] = icmp6-echo",
                "icmp[icmptype] = icmp-echoreply",
                "arp host 10.0.0.2",
                "rarp src host 192.168.1.7",
                "ether proto \\ip6",
                "net 10",
            ])
            .to_string(),
        15 => format!(
            "({} or {})",
            r.pick(&["10.0.0.2", "53", "80", "not 10.0.0.1"]),
            r.pick(&["192.168.1.7", "22", "not 443", "(5353 and 67)"])
        ),
        _ => r.pick(&["10.0.0.2", "53", "80", "2001:db8::1"]).to_string(),
    }
}

/// Random arithmetic: constants, `len`, loads with constant or computed indexes, operators.
fn random_arith(r: &mut Rng, depth: u32) -> String {
    if depth == 0 || r.below(10) < 4 {
        return match r.below(5) {
            0 => r
                .pick(&[
                    "0",
                    "1",
                    "2",
                    "4",
                    "6",
                    "13",
                    "20",
                    "0x45",
                    "255",
                    "1000",
                    "0xffffffff",
                ])
                .to_string(),
            1 => "len".to_string(),
            2 => r
                .pick(&["tcpflags", "tcp-syn", "tcp-ack", "icmptype"])
                .to_string(),
            3 => format!(
                "{}[{}{}]",
                r.pick(&["ether", "ip", "tcp", "udp", "ip6", "icmp", "arp", "sctp", "icmp6"]),
                r.pick(&["0", "1", "2", "6", "9", "12", "13", "16", "40"]),
                r.pick(&["", ":1", ":2", ":4"])
            ),
            _ => format!(
                "{}[{}]",
                r.pick(&["ether", "ip", "tcp", "udp"]),
                random_arith(r, depth.saturating_sub(1))
            ),
        };
    }
    let op = r.pick(&["+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>"]);
    let rhs = if op == "<<" || op == ">>" {
        r.pick(&["0", "1", "4", "8", "31"]).to_string()
    } else {
        random_arith(r, depth - 1)
    };
    let lhs = random_arith(r, depth - 1);
    if r.below(2) == 0 {
        format!("({lhs} {op} {rhs})")
    } else {
        format!("{lhs} {op} {rhs}")
    }
}

fn random_expr(r: &mut Rng, depth: u32) -> String {
    if depth == 0 || r.below(10) < 3 {
        return random_prim(r);
    }
    match r.below(7) {
        0 => format!("not {}", random_expr(r, depth - 1)),
        1 => format!("({})", random_expr(r, depth - 1)),
        2 | 3 => format!(
            "{} and {}",
            random_expr(r, depth - 1),
            random_expr(r, depth - 1)
        ),
        4 | 5 => format!(
            "{} or {}",
            random_expr(r, depth - 1),
            random_expr(r, depth - 1)
        ),
        _ => format!(
            "{} && !{}",
            random_expr(r, depth - 1),
            random_expr(r, depth - 1)
        ),
    }
}

/// What kestrel selects from `packets`.
fn kestrel_select(t: &Tester, packets: &[Packet]) -> Vec<(u32, Vec<u8>)> {
    let v = match t.run(packets) {
        Ok(v) => v,
        Err(e) => panic!("test run: {e}"),
    };
    packets
        .iter()
        .zip(&v.matched)
        .filter(|(_, m)| **m)
        .map(|(p, _)| (p.wire_len, p.data.clone()))
        .collect()
}

/// Differential test: 300 random expressions (fixed seed) over the generated capture,
/// against unoptimized libpcap (`tcpdump -O`): exact, on every packet. An expression libpcap
/// refuses must not compile in kestrel; kestrel may refuse only with its documented
/// "not supported" errors.
///
/// tcpdump's default (optimized) filter is compared too but only reported: its optimizer
/// deletes loads whose value cannot change the verdict (`net 0.0.0.0/0`,
/// `tcp[13] & 0x10 != 2`), so a packet that such a read past its end would have rejected is
/// accepted; kestrel keeps the unoptimized meaning (docs/FILTER.md). The fixed list in
/// `verdicts_match_tcpdump` is exact against the optimized filter.
#[test]
fn random_expressions_match_tcpdump() {
    if !can_run("random_expressions_match_tcpdump") {
        return;
    }
    let dir = Scratch::new("filter-random");
    let packets = generated();
    let whole: Vec<Packet> = packets
        .iter()
        .filter(|p| p.data.len() as u32 == p.wire_len)
        .cloned()
        .collect();
    let input = dir.path("in.pcap");
    let input_whole = dir.path("whole.pcap");
    for (path, set) in [(&input, &packets), (&input_whole, &whole)] {
        if let Err(e) = std::fs::write(path, pcap::to_bytes(false, 262_144, set)) {
            panic!("write {}: {e}", path.display());
        }
    }
    if let Ok(keep) = std::env::var("KESTREL_KEEP_PCAP") {
        let _ = std::fs::copy(&input, keep);
    }
    // KESTREL_FILTER_SEED / KESTREL_FILTER_CASES explore beyond the fixed CI set.
    let seed = std::env::var("KESTREL_FILTER_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x6b65_7374_7265_6c21u64);
    let cases: usize = std::env::var("KESTREL_FILTER_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let mut rng = Rng(seed.max(1));
    let mut failures = Vec::new();
    let mut compared = 0;
    let (mut optimizer_differences, mut optimizer_refusals) = (0, 0);
    for i in 0..cases {
        let expr = random_expr(&mut rng, 3);
        let out = dir.path(&format!("r{i}.pcap"));
        let unoptimized = tcpdump_select_with(&["-O"], &input, &out, &expr);
        let ours = Tester::new(&expr);
        let (want, t) = match (unoptimized, ours) {
            (Err(_), Err(_)) => continue,
            (Err(e), Ok(_)) => {
                let why = e.lines().last().unwrap_or("").to_string();
                failures.push(format!(
                    "{expr}: tcpdump refuses ({why}) but kestrel compiles it"
                ));
                continue;
            }
            (Ok(_), Err(e)) => {
                let msg = e.to_string();
                if !msg.contains("supported") {
                    failures.push(format!("{expr}: kestrel refuses: {msg}"));
                }
                continue;
            }
            (Ok(w), Ok(t)) => (w, t),
        };
        compared += 1;
        let got = kestrel_select(&t, &packets);
        if got != want {
            failures.push(format!(
                "{expr}: kestrel matched {}, tcpdump -O {}",
                got.len(),
                want.len()
            ));
        }
        match tcpdump_select(&input_whole, &out, &expr) {
            Ok(w) if w != kestrel_select(&t, &whole) => optimizer_differences += 1,
            Ok(_) => {}
            Err(_) => optimizer_refusals += 1,
        }
    }
    eprintln!(
        "{compared} random expressions compared with tcpdump -O; the optimized tcpdump differed on \
         complete packets for {optimizer_differences} and refused {optimizer_refusals} (see docs/FILTER.md)"
    );
    assert!(
        compared >= cases / 2,
        "only {compared} of {cases} random expressions were comparable"
    );
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
