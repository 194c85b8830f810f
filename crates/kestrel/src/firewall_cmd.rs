//! `kestrel firewall ...` and `kestrel bench xdp-gen`: argument parsing and printing for the
//! XDP firewall in kestrel-net.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use kestrel_net::firewall::{self, xdpgen, Cidr, Counters, ListOp, Mode, Status};

/// `kestrel firewall`
#[derive(Parser, Debug)]
#[command(
    name = "kestrel firewall",
    bin_name = "kestrel firewall",
    about = "XDP firewall: drop, count and rate-limit at the driver"
)]
struct FirewallCli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Attach the firewall to an interface (it stays after kestrel exits).
    Up {
        /// Interface.
        #[arg(long)]
        iface: String,
        /// Rules file (TOML).
        #[arg(long)]
        rules: String,
        /// native (XDP in the driver), generic (XDP, skb path) or tc (tcx ingress).
        #[arg(long, default_value = "native")]
        mode: String,
    },
    /// Detach and remove every pin.
    Down {
        /// Interface.
        #[arg(long)]
        iface: String,
    },
    /// Counters per rule, drops, rate-limited, lists.
    Status {
        /// Interface (default: all with a firewall up).
        #[arg(long)]
        iface: Option<String>,
        /// One JSON object for machines.
        #[arg(long)]
        json: bool,
    },
    /// Add a prefix to the block list (live, no reload).
    Block {
        /// IPv4 or IPv6 address or prefix.
        cidr: String,
        /// Interface (default: all with a firewall up).
        #[arg(long)]
        iface: Option<String>,
    },
    /// Remove a prefix from the block and allow lists.
    Unblock {
        /// IPv4 or IPv6 address or prefix.
        cidr: String,
        /// Interface (default: all with a firewall up).
        #[arg(long)]
        iface: Option<String>,
    },
    /// Add a prefix to the allow list (checked before the block list).
    Allow {
        /// IPv4 or IPv6 address or prefix.
        cidr: String,
        /// Interface (default: all with a firewall up).
        #[arg(long)]
        iface: Option<String>,
    },
    /// Replace the rules atomically (the new program is verified before the swap).
    Reload {
        /// Interface (default: the only one with a firewall up).
        #[arg(long)]
        iface: Option<String>,
        /// Rules file (TOML).
        #[arg(long)]
        rules: String,
    },
    /// Check a rules file and show the program, touching nothing.
    Check {
        /// Rules file (TOML).
        #[arg(long)]
        rules: String,
        /// Print the instructions.
        #[arg(long)]
        dump: bool,
    },
}

/// Runs `kestrel firewall ARGS` (`args` starts with "firewall").
pub fn main(args: &[String]) -> anyhow::Result<ExitCode> {
    let cli = FirewallCli::parse_from(args);
    match cli.cmd {
        Cmd::Up { iface, rules, mode } => {
            let mode = Mode::parse(&mode)
                .with_context(|| format!("--mode must be native, generic or tc, not '{mode}'"))?;
            let c = compile(&rules, mode)?;
            firewall::up(&iface, &c, mode)?;
            println!(
                "firewall up on {iface} ({mode:?} mode): {} rules, {} allowed and {} blocked prefixes; pinned in {}",
                c.rules.rules.len(),
                c.rules.allow.len(),
                c.rules.block.len(),
                firewall::pin_dir(&iface).display()
            );
        }
        Cmd::Down { iface } => {
            if firewall::down(&iface)? {
                println!("firewall down on {iface}");
            } else {
                println!("no kestrel firewall on {iface}");
            }
        }
        Cmd::Status { iface, json } => {
            let st = firewall::status(iface.as_deref())?;
            if json {
                println!("{}", serde_json::to_string(&st)?);
            } else {
                print_status(&st);
            }
        }
        Cmd::Block { cidr, iface } => list(ListOp::Block, &cidr, iface.as_deref())?,
        Cmd::Unblock { cidr, iface } => list(ListOp::Unblock, &cidr, iface.as_deref())?,
        Cmd::Allow { cidr, iface } => list(ListOp::Allow, &cidr, iface.as_deref())?,
        Cmd::Reload { iface, rules } => {
            let iface = match iface {
                Some(i) => i,
                None => {
                    let all = firewall::interfaces();
                    match all.as_slice() {
                        [one] => one.clone(),
                        [] => bail!("no kestrel firewall is up on any interface"),
                        _ => bail!(
                            "firewalls are up on {}: pick one with --iface",
                            all.join(", ")
                        ),
                    }
                }
            };
            let mode = firewall::status(Some(&iface))?
                .first()
                .map(|s| s.mode)
                .unwrap_or(Mode::Native);
            let c = compile(&rules, mode)?;
            firewall::reload(&iface, &c)?;
            println!(
                "firewall on {iface} reloaded: {} rules",
                c.rules.rules.len()
            );
        }
        Cmd::Check { rules, dump } => {
            let c = compile(&rules, Mode::Native)?;
            println!(
                "{rules}: ok, {} rules, {} instructions",
                c.rules.rules.len(),
                c.program.insns.len()
            );
            if dump {
                print!("{}", kestrel_isa::disassemble(&c.program.insns));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn compile(path: &str, mode: Mode) -> anyhow::Result<firewall::Compiled> {
    let src = std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?;
    Ok(firewall::compile(path, &src, mode)?)
}

fn list(op: ListOp, cidr: &str, iface: Option<&str>) -> anyhow::Result<()> {
    let c = Cidr::parse(cidr).map_err(anyhow::Error::msg)?;
    let done = firewall::edit_list(iface, op, &c)?;
    let verb = match op {
        ListOp::Block => "blocked",
        ListOp::Unblock => "unblocked",
        ListOp::Allow => "allowed",
    };
    println!("{verb} {c} on {}", done.join(", "));
    Ok(())
}

fn row(name: &str, action: &str, c: &Counters) {
    println!(
        "  {name:<24} {action:<11} {:>12} {:>14} {:>12} {:>12}",
        c.packets, c.bytes, c.dropped, c.rate_limited
    );
}

fn print_status(all: &[Status]) {
    for s in all {
        println!(
            "{} ({:?} mode, rules from {})",
            s.iface, s.mode, s.rules_file
        );
        println!(
            "  {:<24} {:<11} {:>12} {:>14} {:>12} {:>12}",
            "RULE", "ACTION", "PACKETS", "BYTES", "DROPPED", "RATE-LIMITED"
        );
        row("allow list", "pass", &s.allowed);
        row("block list", "drop", &s.blocked);
        for r in &s.rules {
            row(&r.name, &r.action, &r.counters);
        }
        row("(no rule matched)", "default", &s.unmatched);
        println!("  allow: {}", join_or_none(&s.allow_list));
        println!("  block: {}", join_or_none(&s.block_list));
    }
}

fn join_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "(none)".to_string()
    } else if v.len() > 20 {
        format!("{} ... ({} prefixes)", v[..20].join(", "), v.len())
    } else {
        v.join(", ")
    }
}

/// `kestrel bench xdp-gen`
#[derive(Parser, Debug)]
#[command(
    name = "kestrel bench xdp-gen",
    bin_name = "kestrel bench xdp-gen",
    about = "Inject frames into an interface with BPF_PROG_TEST_RUN live frames"
)]
struct XdpGenCli {
    /// Interface to transmit on (frames arrive at its veth peer's XDP).
    #[arg(long)]
    iface: String,
    /// Target packets per second (0 = as fast as possible).
    #[arg(long, default_value_t = 0)]
    pps: u64,
    /// Seconds to run.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Source IPv4 address of the frames.
    #[arg(long, default_value = "198.18.0.1")]
    src: String,
    /// Destination IPv4 address.
    #[arg(long, default_value = "198.19.0.1")]
    dst: String,
    /// UDP destination port.
    #[arg(long, default_value_t = 9)]
    port: u16,
    /// Frame size in bytes (≥ 60).
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Destination MAC (the receiver's, so the stack accepts the frames).
    #[arg(long)]
    dst_mac: Option<String>,
    /// Attach an empty XDP_DROP program to this interface for the run (the ceiling).
    #[arg(long)]
    sink_drop: Option<String>,
}

/// `kestrel bench xdp-ns`
#[derive(Parser, Debug)]
#[command(
    name = "kestrel bench xdp-ns",
    bin_name = "kestrel bench xdp-ns",
    about = "ns per packet of a firewall rule set (or the empty XDP_DROP) with BPF_PROG_TEST_RUN"
)]
struct XdpNsCli {
    /// Rules file; without it, the empty XDP_DROP program.
    #[arg(long)]
    rules: Option<String>,
    /// Runs.
    #[arg(long, default_value_t = 1_000_000)]
    repeat: u32,
    /// Source IPv4 address of the frame.
    #[arg(long, default_value = "198.18.0.1")]
    src: String,
}

/// Runs `kestrel bench xdp-gen ARGS` (`args` starts with "bench").
pub fn bench_main(args: &[String]) -> anyhow::Result<ExitCode> {
    match args.get(1).map(String::as_str) {
        Some("xdp-gen") => {}
        Some("xdp-ns") => return xdp_ns(&args[1..]),
        _ => bail!(
            "usage: kestrel bench xdp-gen --iface IF [--pps N] [--duration S]\n       kestrel bench xdp-ns [--rules FILE] [--repeat N]"
        ),
    }
    let cli = XdpGenCli::parse_from(&args[1..]);
    let src: std::net::Ipv4Addr = cli.src.parse().context("--src")?;
    let dst: std::net::Ipv4Addr = cli.dst.parse().context("--dst")?;
    let mut frame = xdpgen::udp_frame(src, dst, cli.port, cli.size);
    if let Some(m) = &cli.dst_mac {
        let mac = xdpgen::parse_mac(m).with_context(|| format!("--dst-mac {m}"))?;
        frame[..6].copy_from_slice(&mac);
    }
    let gen = xdpgen::Generator::new(&cli.iface, &frame)?;
    // Held until the end of the run; dropping it detaches.
    let _sink = match &cli.sink_drop {
        Some(i) => Some(xdpgen::attach_drop(i)?),
        None => None,
    };
    let start = Instant::now();
    let deadline = Duration::from_secs_f64(cli.duration.max(0.0));
    let mut sent: u64 = 0;
    // Send in chunks; with a target rate, sleep to keep `sent` on the line pps × elapsed.
    let chunk: u32 = if cli.pps == 0 {
        1 << 20
    } else {
        (cli.pps / 100).clamp(64, 1 << 20) as u32
    };
    while start.elapsed() < deadline {
        gen.send(chunk)?;
        sent += u64::from(chunk);
        if cli.pps > 0 {
            let due = Duration::from_secs_f64(sent as f64 / cli.pps as f64);
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{{\"sent\": {sent}, \"seconds\": {secs:.3}, \"pps\": {:.0}}}",
        sent as f64 / secs
    );
    Ok(ExitCode::SUCCESS)
}

fn xdp_ns(args: &[String]) -> anyhow::Result<ExitCode> {
    let cli = XdpNsCli::parse_from(args);
    let src: std::net::Ipv4Addr = cli.src.parse().context("--src")?;
    let frame = xdpgen::udp_frame(src, std::net::Ipv4Addr::new(198, 19, 0, 1), 9, 64);
    let (verdict, ns) = match &cli.rules {
        None => (1, xdpgen::empty_drop_ns(&frame, cli.repeat)?),
        Some(path) => firewall::test_run(&compile(path, Mode::Native)?, &frame, cli.repeat)?,
    };
    let verdict = match verdict {
        1 => "drop",
        2 => "pass",
        _ => "other",
    };
    println!(
        "{{\"ns_per_packet\": {ns}, \"verdict\": \"{verdict}\", \"repeat\": {}}}",
        cli.repeat
    );
    Ok(ExitCode::SUCCESS)
}
