//! `kestrel filter` as a user runs it: dumps without root, errors with a column and a caret,
//! and `--pcap`/`-w` over a capture the test writes (root).

mod common;

use common::{kernel_available, kestrel, TempDir};

fn out(args: &[&str]) -> (Option<i32>, String, String) {
    let o = kestrel()
        .arg("filter")
        .args(args)
        .output()
        .expect("run kestrel");
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn dump_insns_needs_no_root() {
    let (code, stdout, stderr) = out(&["--dump=insns", "tcp port 22 or udp port 53"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("r6 = *(u32 *)(r1 +0)"), "{stdout}");
    assert!(
        stdout.contains("if w2 == 0x16 goto"),
        "port 22 compare: {stdout}"
    );
    assert!(stdout.trim_end().ends_with("exit"), "{stdout}");
    let (code, stdout, _) = out(&["--target", "tc", "--dump=insns", "vlan 100 and tcp"]);
    assert_eq!(code, Some(0));
    assert!(
        stdout.contains("r6 = *(u32 *)(r1 +76)"),
        "tc reads skb->data: {stdout}"
    );
    assert!(stdout.contains("call bpf_skb_pull_data"), "{stdout}");
    // Several words are joined like tcpdump does.
    let (code, stdout, _) = out(&["--dump=ast", "host", "10.0.0.1", "and", "not", "10.0.0.2"]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("Not("), "{stdout}");
}

#[test]
fn errors_have_a_column_and_a_caret() {
    let (code, _, stderr) = out(&["--dump=insns", "tcp port 80 and gateway router"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("column 17"), "{stderr}");
    assert!(stderr.contains("'gateway' is not supported"), "{stderr}");
    assert!(stderr.contains("\n                  ^"), "{stderr}");
    let (code, _, stderr) = out(&["host example.com"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("host names are not resolved"), "{stderr}");
    let (code, _, stderr) = out(&["-w", "x.pcap", "tcp"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("-w needs --pcap"), "{stderr}");
    assert!(!stderr.contains("panicked"));
}

fn frame(proto: u8, dport: u16) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    let ip = [
        0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    f.extend_from_slice(&ip);
    f.extend_from_slice(&[0x04, 0xd2]);
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&[0; 16]);
    f
}

#[test]
fn pcap_run_counts_and_writes_matches() {
    if !kernel_available("pcap_run_counts_and_writes_matches") {
        return;
    }
    let dir = TempDir::new("filter-cli");
    let input = dir.0.join("in.pcap");
    let output = dir.0.join("out.pcap");
    let mut bytes = Vec::new();
    for w in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
        bytes.extend_from_slice(&w.to_le_bytes());
    }
    let frames = [frame(6, 22), frame(17, 53), frame(6, 80), frame(6, 22)];
    for (i, f) in frames.iter().enumerate() {
        for w in [i as u32, 0, f.len() as u32, f.len() as u32] {
            bytes.extend_from_slice(&w.to_le_bytes());
        }
        bytes.extend_from_slice(f);
    }
    std::fs::write(&input, &bytes).expect("write pcap");
    let (code, stdout, stderr) = out(&[
        "--pcap",
        input.to_str().unwrap_or_default(),
        "-w",
        output.to_str().unwrap_or_default(),
        "tcp port 22 or udp port 53",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout.trim(), "3 of 4 packets matched");
    let written = std::fs::read(&output).expect("read out.pcap");
    // Header + three records of 16 + 54 bytes.
    assert_eq!(written.len(), 24 + 3 * (16 + 54));
    assert_eq!(&written[24 + 16..24 + 16 + 54], frames[0].as_slice());
    assert_eq!(&written[24 + 2 * 70 + 16..], frames[3].as_slice());
}
