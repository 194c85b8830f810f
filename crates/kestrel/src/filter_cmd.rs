//! `kestrel filter`: compile a tcpdump filter expression, show it, or run it over a pcap file
//! with BPF_PROG_TEST_RUN (no interface touched).

use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Parser, ValueEnum};
use kestrel_net::filter::{self, pcap, testrun::Tester, Target};

/// `kestrel filter`
#[derive(Parser, Debug)]
#[command(
    name = "kestrel filter",
    bin_name = "kestrel filter",
    about = "Compile a tcpdump (pcap-filter) expression to eBPF; show it or test it on a pcap file",
    after_help = "EXAMPLES:\n  kestrel filter --dump=insns 'tcp port 22 or udp port 53'\n  kestrel filter --target tc --dump=insns 'vlan 100 and tcp'\n  kestrel filter --pcap in.pcap -w syn.pcap 'tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn'"
)]
struct FilterCli {
    /// Print the compiled program instead of running it.
    #[arg(long, value_enum, value_name = "WHAT")]
    dump: Option<DumpWhat>,
    /// Program type to compile for.
    #[arg(long, value_enum, default_value = "xdp")]
    target: TargetArg,
    /// Run the filter over every packet of this pcap file (BPF_PROG_TEST_RUN) and print
    /// how many matched.
    #[arg(long, value_name = "FILE")]
    pcap: Option<String>,
    /// With --pcap: write the matching packets to this pcap file.
    #[arg(short = 'w', value_name = "FILE")]
    write: Option<String>,
    /// The filter expression (several words are joined with spaces, as tcpdump does).
    #[arg(required = true, num_args = 1..)]
    expr: Vec<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum DumpWhat {
    /// eBPF instructions, as `bpftool prog dump xlated` prints them.
    Insns,
    /// The syntax tree after qualifiers were resolved.
    Ast,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum TargetArg {
    /// XDP: XDP_PASS on match, XDP_DROP otherwise.
    Xdp,
    /// tc sched_cls: TC_ACT_OK on match, TC_ACT_SHOT otherwise.
    Tc,
}

/// Entry point (`args[0]` is "filter").
pub fn main(args: &[String]) -> anyhow::Result<ExitCode> {
    let cli = FilterCli::parse_from(args);
    let expr = cli.expr.join(" ");
    let target = match cli.target {
        TargetArg::Xdp => Target::Xdp,
        TargetArg::Tc => Target::Tc,
    };
    let fail = |e: filter::FilterError| anyhow::anyhow!("{}", e.render(&expr));
    if cli.write.is_some() && cli.pcap.is_none() {
        bail!("-w needs --pcap FILE (the packets to filter)");
    }
    if let Some(what) = cli.dump {
        match what {
            DumpWhat::Insns => {
                let p = filter::compile(&expr, target).map_err(fail)?;
                print!("{}", kestrel_isa::disassemble(&p.insns));
            }
            DumpWhat::Ast => {
                let ast = filter::parser::parse(&expr).map_err(fail)?;
                println!("{ast:#?}");
            }
        }
        if cli.pcap.is_none() {
            return Ok(ExitCode::SUCCESS);
        }
    }
    let Some(path) = &cli.pcap else {
        // Compile only: report errors, print the program size.
        let p = filter::compile(&expr, target).map_err(fail)?;
        println!(
            "{} instructions (use --dump=insns to see them, --pcap FILE to test)",
            p.insns.len()
        );
        return Ok(ExitCode::SUCCESS);
    };
    // Compile before touching files so a bad expression is reported first.
    filter::compile_for_test(&expr).map_err(fail)?;
    let cap = pcap::read(
        &mut std::fs::File::open(path).with_context(|| format!("cannot open '{path}'"))?,
    )
    .with_context(|| format!("cannot read '{path}'"))?;
    let tester = match Tester::new(&expr) {
        Ok(t) => t,
        Err(filter::testrun::TestRunError::Filter(e)) => return Err(fail(e)),
        Err(e) => {
            return Err(e).context("cannot load the filter (BPF_PROG_LOAD needs root or CAP_BPF)")
        }
    };
    let v = tester
        .run(&cap.packets)
        .context("BPF_PROG_TEST_RUN failed")?;
    println!("{} of {} packets matched", v.count(), cap.packets.len());
    if v.too_short > 0 {
        eprintln!(
            "warning: {} packets shorter than an Ethernet header could not be run and count as not matching",
            v.too_short
        );
    }
    if v.clipped > 0 {
        eprintln!(
            "warning: {} packets longer than {} bytes were tested on their first {} bytes only",
            v.clipped,
            filter::testrun::MAX_TEST_BYTES - 4,
            filter::testrun::MAX_TEST_BYTES - 4
        );
    }
    if let Some(out) = &cli.write {
        let hits = cap
            .packets
            .iter()
            .zip(&v.matched)
            .filter(|(_, m)| **m)
            .map(|(p, _)| p);
        let mut f = std::fs::File::create(out).with_context(|| format!("cannot create '{out}'"))?;
        pcap::write(&mut f, cap.nanos, cap.snaplen, hits)
            .with_context(|| format!("cannot write '{out}'"))?;
    }
    Ok(ExitCode::SUCCESS)
}
