//! `kestrel lb ...`: argument parsing and printing for the XDP load balancer in kestrel-net.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use kestrel_net::lb::{self, health, live, BackendOp, Status};

/// `kestrel lb`
#[derive(Parser, Debug)]
#[command(
    name = "kestrel lb",
    bin_name = "kestrel lb",
    about = "XDP layer-4 load balancer: Maglev hashing, connection affinity, live backends"
)]
struct LbCli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Attach the load balancer to the interface clients' traffic arrives on (it stays after
    /// kestrel exits).
    Up {
        /// Interface.
        #[arg(long)]
        iface: String,
        /// Config file (TOML).
        #[arg(long)]
        config: String,
    },
    /// Detach and remove every pin.
    Down {
        /// Interface.
        #[arg(long)]
        iface: String,
    },
    /// Services, backends, their counters and flows.
    Status {
        /// Interface (default: all with an lb up).
        #[arg(long)]
        iface: Option<String>,
        /// One JSON array for machines.
        #[arg(long)]
        json: bool,
    },
    /// Add, drain or remove a backend live (no reload).
    Backend {
        /// add | drain | remove
        op: String,
        /// Service name.
        service: String,
        /// Backend IP:PORT.
        backend: String,
        /// Weight (add only; default 1).
        #[arg(long)]
        weight: Option<u32>,
        /// Interface (default: the only one with an lb up).
        #[arg(long)]
        iface: Option<String>,
    },
    /// Replace the config atomically (the new program is verified before the swap).
    Reload {
        /// Interface (default: the only one with an lb up).
        #[arg(long)]
        iface: Option<String>,
        /// Config file (TOML).
        #[arg(long)]
        config: String,
    },
    /// Check a config file, touching nothing (no root needed).
    Check {
        /// Config file (TOML).
        file: String,
        /// Print the ingress program's instructions.
        #[arg(long)]
        dump: bool,
    },
    /// Probe every backend over TCP and drain the dead ones (restoring them when they
    /// answer again), in the foreground.
    Health {
        /// Interface (default: the only one with an lb up).
        #[arg(long)]
        iface: Option<String>,
        /// Run this many rounds, then exit (default: until killed).
        #[arg(long)]
        rounds: Option<u64>,
    },
    /// ns per packet of the ingress program under BPF_PROG_TEST_RUN (no interface).
    BenchNs {
        /// Backends of the one service.
        #[arg(long, default_value_t = 3)]
        backends: u32,
        /// Connections pre-loaded into the connection table.
        #[arg(long, default_value_t = 1)]
        conns: u32,
        /// Runs.
        #[arg(long, default_value_t = 1_000_000)]
        repeat: u32,
        /// nat, dsr or ipip.
        #[arg(long, default_value = "nat")]
        mode: String,
    },
    /// Inject UDP frames into an interface (BPF_PROG_TEST_RUN live frames), restoring the
    /// header before every send so a rewriting receiver always sees the original.
    BenchGen {
        /// Interface to transmit on (frames arrive at its veth peer).
        #[arg(long)]
        iface: String,
        /// Destination MAC (the receiver's).
        #[arg(long)]
        dst_mac: String,
        /// Source IPv4:port.
        #[arg(long, default_value = "198.18.0.1:12345")]
        src: String,
        /// Destination IPv4:port (the VIP).
        #[arg(long)]
        dst: String,
        /// Seconds to run.
        #[arg(long, default_value_t = 5.0)]
        duration: f64,
    },
    /// Hold an empty XDP_DROP program on interfaces for a while (a benchmark's receivers).
    BenchSink {
        /// Interfaces (repeat the flag).
        #[arg(long = "iface", required = true)]
        ifaces: Vec<String>,
        /// Seconds to hold them.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
    },
}

/// Runs `kestrel lb ARGS` (`args` starts with "lb").
pub fn main(args: &[String]) -> anyhow::Result<ExitCode> {
    let cli = LbCli::parse_from(args);
    match cli.cmd {
        Cmd::Up { iface, config } => {
            let src = read(&config)?;
            let st = lb::up(&iface, &config, &src)?;
            println!(
                "lb up on {iface} ({} mode): {} services, {} backends; pinned in {}",
                st.config.mode.name(),
                st.services.len(),
                st.slots.len(),
                live::pin_dir(&iface).display()
            );
        }
        Cmd::Down { iface } => {
            if lb::down(&iface)? {
                println!("lb down on {iface}");
            } else {
                println!("no kestrel lb on {iface}");
            }
        }
        Cmd::Status { iface, json } => {
            let st = lb::status(iface.as_deref())?;
            if json {
                println!("{}", serde_json::to_string(&st)?);
            } else if st.is_empty() {
                println!("no kestrel lb is up");
            } else {
                print_status(&st);
            }
        }
        Cmd::Backend {
            op,
            service,
            backend,
            weight,
            iface,
        } => {
            let o = match op.as_str() {
                "add" => BackendOp::Add,
                "drain" => BackendOp::Drain,
                "remove" => BackendOp::Remove,
                other => bail!("backend operation must be add, drain or remove, not '{other}'"),
            };
            let iface = lb::resolve_iface(iface.as_deref())?;
            lb::backend(&iface, &service, &backend, o, weight)?;
            let done = match o {
                BackendOp::Add => "added to",
                BackendOp::Drain => "draining from",
                BackendOp::Remove => "removed from",
            };
            println!("{backend} {done} service '{service}' on {iface}");
        }
        Cmd::Reload { iface, config } => {
            let iface = lb::resolve_iface(iface.as_deref())?;
            let src = read(&config)?;
            let st = lb::reload(&iface, &config, &src)?;
            println!(
                "lb on {iface} reloaded: {} services, {} active backends",
                st.services.len(),
                st.slots
                    .iter()
                    .filter(|s| s.state == lb::SlotState::Active)
                    .count()
            );
        }
        Cmd::Check { file, dump } => {
            let src = read(&file)?;
            let cfg = lb::check(&file, &src)?;
            let prog = lb::program::build_ingress(&lb::program::Params {
                mode: cfg.mode,
                table_size: cfg.table_size,
                iface_mac: [0; 6],
                ipip_source: cfg.ipip_source,
                forward: cfg.forward,
            })
            .map_err(anyhow::Error::msg)?;
            println!(
                "{file}: ok, {} mode, {} services, {} backends, Maglev table {} entries, {} instructions",
                cfg.mode.name(),
                cfg.services.len(),
                cfg.services.iter().map(|s| s.backends.len()).sum::<usize>(),
                cfg.table_size,
                prog.insns.len()
            );
            if dump {
                print!("{}", kestrel_isa::disassemble(&prog.insns));
            }
        }
        Cmd::Health { iface, rounds } => {
            let iface = lb::resolve_iface(iface.as_deref())?;
            let interval = Duration::from_millis(lb::read_state(&iface)?.config.health.interval_ms);
            let mut t = health::Tracker::default();
            let mut n = 0u64;
            loop {
                let start = Instant::now();
                for c in health::round(&iface, &mut t)? {
                    let what = if c.healthy {
                        "restored"
                    } else {
                        "drained (not answering)"
                    };
                    println!("{}: backend {} {what}", c.service, c.backend);
                }
                n += 1;
                if rounds.is_some_and(|r| n >= r) {
                    break;
                }
                if let Some(wait) = interval.checked_sub(start.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
        }
        Cmd::BenchNs {
            backends,
            conns,
            repeat,
            mode,
        } => bench_ns(backends, conns, repeat, &mode)?,
        Cmd::BenchGen {
            iface,
            dst_mac,
            src,
            dst,
            duration,
        } => {
            let mac =
                lb::config::parse_mac(&dst_mac).with_context(|| format!("--dst-mac {dst_mac}"))?;
            let mut frame = lb::packet::udp_frame(
                src.parse().context("--src")?,
                dst.parse().context("--dst")?,
                &[0u8; 18],
                false,
            );
            frame[..6].copy_from_slice(&mac);
            let g = lb::gen::Generator::new(&iface, &frame)?;
            let start = Instant::now();
            let mut sent = 0u64;
            while start.elapsed().as_secs_f64() < duration {
                g.send(1 << 18)?;
                sent += 1 << 18;
            }
            let secs = start.elapsed().as_secs_f64();
            println!(
                "{{\"sent\": {sent}, \"seconds\": {secs:.3}, \"pps\": {:.0}}}",
                sent as f64 / secs
            );
        }
        Cmd::BenchSink { ifaces, seconds } => {
            let mut held = Vec::new();
            for i in &ifaces {
                held.push(kestrel_net::firewall::xdpgen::attach_drop(i)?);
            }
            println!("XDP_DROP on {}", ifaces.join(", "));
            std::thread::sleep(Duration::from_secs_f64(seconds.max(0.0)));
            drop(held);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn read(path: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))
}

fn bench_ns(backends: u32, conns: u32, repeat: u32, mode: &str) -> anyhow::Result<()> {
    let list: Vec<String> = (0..backends)
        .map(|i| {
            format!(
                "{{ addr = \"10.{}.{}.{}:80\", mac = \"02:00:00:00:00:01\" }}",
                100 + i / 62_500,
                (i / 250) % 250,
                i % 250 + 1
            )
        })
        .collect();
    let extra = if mode == "ipip" {
        "ipip_source = \"10.0.0.1\"\n"
    } else {
        ""
    };
    let src = format!(
        "mode = \"{mode}\"\n{extra}max_connections = {}\n[[service]]\nname = \"bench\"\nvip = \"10.203.0.100\"\nport = 80\nbackends = [{}]\n",
        conns.max(1) + conns / 4 + 1024,
        list.join(", ")
    );
    let mut cfg = lb::check("bench.toml", &src)?;
    // BPF_PROG_TEST_RUN repeats the program over the frame it has just rewritten. With the
    // measured flow's backend (slot 0) at the VIP itself, the rewrite leaves the frame as it
    // was and every repeat takes the whole path: service lookup, connection hit, backend
    // check, rewrite and both checksums (deltas of zero cost the same instructions).
    if let Some(b) = cfg
        .services
        .first_mut()
        .and_then(|s| s.backends.first_mut())
    {
        b.addr = "10.203.0.100:80".parse()?;
    }
    let st = lb::State::new("bench", "bench.toml", &src, cfg, [2, 0, 0, 0, 0, 9]);
    let loaded = lb::Loaded::new(&st)?;
    let vip: std::net::SocketAddrV4 = "10.203.0.100:80".parse()?;
    // Pre-load `conns` flows from distinct clients (the measured flow is the first one).
    let value = |slot: u32| {
        let mut v = [0u8; 16];
        v[..4].copy_from_slice(&slot.to_ne_bytes());
        v
    };
    let t0 = Instant::now();
    for i in 0..conns {
        let c = std::net::SocketAddrV4::new(
            std::net::Ipv4Addr::from(0x0b00_0000u32 + i / 50_000),
            (10_000 + i % 50_000) as u16,
        );
        let key = lb::layout::flow_key(c, vip, 6);
        loaded
            .maps
            .conns()
            .update(&key, &value(i % backends.max(1)))
            .context("filling the connection table")?;
    }
    let fill = t0.elapsed().as_secs_f64();
    let client: std::net::SocketAddrV4 = "11.0.0.0:10000".parse()?;
    let frame = lb::packet::tcp_frame(client, vip, 0x10, &[0u8; 10]);
    if mode == "ipip" {
        bail!("ipip pushes a header onto its own input, so repeated runs would not measure it: use nat or dsr");
    }
    let (verdict, ns) = loaded.bench_ingress(&frame, repeat)?;
    println!(
        "{{\"mode\": \"{mode}\", \"backends\": {backends}, \"tracked_connections\": {conns}, \"ns_per_packet\": {ns}, \"verdict\": {verdict}, \"repeat\": {repeat}, \"fill_seconds\": {fill:.2}}}"
    );
    Ok(())
}

fn print_status(all: &[Status]) {
    for s in all {
        println!(
            "{} ({} mode, config {}, Maglev table {}, connection table {})",
            s.iface,
            s.mode.name(),
            s.config_file,
            s.table_size,
            s.max_connections
        );
        for svc in &s.services {
            println!(
                "  service {} {}: {} packets, {} bytes, {} new flows, {} active / {} tracked flows",
                svc.name,
                svc.vip,
                svc.counters.packets,
                svc.counters.bytes,
                svc.counters.new_flows,
                svc.counters.active_flows,
                svc.counters.tracked_flows
            );
            println!(
                "    {:<22} {:<9} {:>6} {:>7} {:>12} {:>14} {:>10} {:>8} {:>8}",
                "BACKEND",
                "STATE",
                "WEIGHT",
                "TABLE",
                "PACKETS",
                "BYTES",
                "NEW",
                "ACTIVE",
                "TRACKED"
            );
            for b in &svc.backends {
                let state = match (b.state, b.by_health) {
                    (lb::SlotState::Active, _) => "active",
                    (lb::SlotState::Draining, true) => "unhealthy",
                    (lb::SlotState::Draining, false) => "draining",
                    (lb::SlotState::Removed, _) => "removed",
                };
                println!(
                    "    {:<22} {:<9} {:>6} {:>6.1}% {:>12} {:>14} {:>10} {:>8} {:>8}",
                    b.addr,
                    state,
                    b.weight,
                    b.table_share * 100.0,
                    b.counters.packets,
                    b.counters.bytes,
                    b.counters.new_flows,
                    b.counters.active_flows,
                    b.counters.tracked_flows
                );
            }
        }
        let g = &s.global;
        println!(
            "  replies translated {}, fragments passed {}, ICMP errors (known flow / other) {} / {}, no-backend drops {}, flows moved {}, IP options passed {}",
            g.replies_translated,
            g.fragments_passed,
            g.icmp_errors_known,
            g.icmp_errors_other,
            g.no_backend_drops,
            g.moved_flows,
            g.ip_options_passed
        );
    }
}
