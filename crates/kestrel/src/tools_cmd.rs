//! `kestrel tools` (the catalogue) and `kestrel tool NAME [flags]` (run one built-in tool).
//!
//! A tool is a script plus a renderer (crate kestrel-tools). This module builds the tool's
//! command line from its flag table, compiles its script through the normal pipeline, and
//! stands between the session and stdout: record lines printed by the script go to the
//! tool's renderer, which makes columns or JSON; maps go to it as JSON at each interval and
//! at exit.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::{Arg, ArgAction, Command};
use kestrel_runtime::{ExitReason, Flow, LoadOptions, OutputFormat, Session, StopFlag};
use kestrel_tools::{Options, Render, Table, Tool, SEP};

/// `kestrel tools`: one line per tool.
pub fn list_main(_argv: &[String]) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Built-in tools (run one with `kestrel tool NAME`, see `kestrel tool NAME --help`):"
    )?;
    for tool in kestrel_tools::registry() {
        writeln!(out, "  {:<14} {}", tool.name(), tool.about())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `kestrel tool NAME [flags] [DURATION]`. `argv[0]` is `tool`.
pub fn tool_main(argv: &[String]) -> anyhow::Result<ExitCode> {
    let Some(name) = argv.get(1) else {
        list_main(argv)?;
        return Ok(ExitCode::from(2));
    };
    let tool = kestrel_tools::find(name)?;
    let matches = command(tool).get_matches_from(&argv[1..]);
    let mut pairs: Vec<(String, String)> = Vec::new();
    for flag in tool.flags() {
        if flag.value.is_some() {
            if let Some(v) = matches.get_one::<String>(flag.key) {
                pairs.push((flag.key.to_string(), v.clone()));
            }
        } else if matches.get_flag(flag.key) {
            pairs.push((flag.key.to_string(), String::new()));
        }
    }
    let json = matches.get_flag("json");
    let opts = Options::new(pairs, json);
    let duration = matches
        .try_get_one::<u64>("duration")
        .ok()
        .flatten()
        .map(|s| Duration::from_secs(*s));
    let script = tool.script(&opts)?;
    if matches.get_flag("script") {
        print!("{script}");
        return Ok(ExitCode::SUCCESS);
    }
    run(tool, &opts, &script, duration)
}

/// The tool's clap command, from its flag table plus `--json`, `--script` and a duration.
fn command(tool: &dyn Tool) -> Command {
    let mut examples = String::from("EXAMPLES:\n");
    for e in tool.examples() {
        examples.push_str(&format!("  {:<44} # {}\n", e.command, e.does));
    }
    examples.push_str(&format!(
        "  {:<44} # print the kestrel script it runs (learn from it, adapt it)",
        format!("kestrel tool {} --script", tool.name())
    ));
    let mut cmd = Command::new(tool.name())
        .bin_name(format!("kestrel tool {}", tool.name()))
        .about(tool.about())
        .after_help(examples)
        .disable_version_flag(true);
    for flag in tool.flags() {
        let mut arg = Arg::new(flag.key).long(flag.key).help(flag.help);
        if let Some(c) = flag.short {
            arg = arg.short(c);
        }
        arg = match flag.value {
            Some(v) => arg.value_name(v).action(ArgAction::Set),
            None => arg.action(ArgAction::SetTrue),
        };
        cmd = cmd.arg(arg);
    }
    cmd = cmd
        .arg(
            Arg::new("json")
                .long("json")
                .action(ArgAction::SetTrue)
                .help("Print one JSON object per event instead of columns"),
        )
        .arg(
            Arg::new("script")
                .long("script")
                .action(ArgAction::SetTrue)
                .help("Print the kestrel script these flags make, then exit (no root needed)"),
        );
    if tool.takes_duration() {
        cmd = cmd.arg(
            Arg::new("duration")
                .value_name("DURATION")
                .value_parser(clap::value_parser!(u64))
                .help("Stop after this many seconds (default: until Ctrl-C)"),
        );
    }
    cmd
}

/// Compile and run the tool's script, rendering its output.
fn run(
    tool: &dyn Tool,
    opts: &Options,
    script: &str,
    duration: Option<Duration>,
) -> anyhow::Result<ExitCode> {
    let name = format!("<tool {}>", tool.name());
    if let Some(why) = crate::run::missing_privileges() {
        eprintln!("error: {why}");
        return Ok(ExitCode::from(1));
    }
    let kernel = crate::compile::kernel_facts(false, false)?;
    let Some(compiled) = crate::compile::compile(
        &name,
        script,
        kernel.as_ref(),
        &kestrel_lang::Options {
            str_len: tool.str_len(),
            ..Default::default()
        },
    )?
    else {
        return Ok(ExitCode::from(1));
    };
    let object = compiled.object;
    let stop = StopFlag::install()?;
    let options = LoadOptions {
        verbose_verifier: false,
        format: OutputFormat::Text,
        child_pid: None,
    };
    let loaded =
        Session::load(object.clone(), &options).and_then(|mut s| s.attach().map(|n| (s, n)));
    let mut session = match loaded {
        Ok((s, _)) => s,
        Err(e) => return Ok(crate::run::report(&e, &object, &name, script)),
    };
    let table = Table::new(tool.columns(opts), opts.has("timestamp"), opts.json);
    let mut sink = RecordSink {
        render: tool.renderer(opts),
        table,
        partial: Vec::new(),
        out: std::io::stdout(),
        header_done: false,
    };
    // Like libbpf-tools; on stderr so that stdout stays clean for --json.
    eprintln!("Tracing {}... Hit Ctrl-C to end.", tool.name());
    sink.header()?;
    let interval = tool.interval(opts)?.map(Duration::from_secs);
    let started = Instant::now();
    let mut flow = session.run_begin(&mut sink)?;
    while flow == Flow::Continue {
        let tick = ticker(&stop, interval, duration.map(|d| started + d));
        if session.poll(&mut sink, &tick)? == ExitReason::Exit || stop.is_set() {
            break;
        }
        if duration.is_some_and(|d| started.elapsed() >= d) {
            break;
        }
        // An interval passed: report the maps so far.
        sink.maps(&session)?;
        flow = Flow::Continue;
    }
    session.run_end(&mut sink)?;
    sink.maps(&session)?;
    sink.out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// A flag set when `stop` is, when the next interval ends, or at `deadline`.
fn ticker(stop: &StopFlag, interval: Option<Duration>, deadline: Option<Instant>) -> StopFlag {
    let tick = StopFlag::new();
    if interval.is_none() && deadline.is_none() {
        return stop.clone();
    }
    let next = interval.map(|i| Instant::now() + i);
    let end = match (next, deadline) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b).unwrap_or_else(Instant::now),
    };
    let (stop, set) = (stop.clone(), tick.clone());
    std::thread::spawn(move || {
        while !stop.is_set() && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(20));
        }
        set.stop();
    });
    tick
}

/// Collects the script's output, splits it into record lines, and prints the renderer's
/// rows. Lines that are not records (`Lost N events`) go to stderr as they are.
struct RecordSink {
    render: Box<dyn Render>,
    table: Table,
    partial: Vec<u8>,
    out: std::io::Stdout,
    header_done: bool,
}

impl RecordSink {
    fn header(&mut self) -> std::io::Result<()> {
        if !self.header_done {
            self.header_done = true;
            let h = self.table.header();
            self.out.write_all(h.as_bytes())?;
            self.out.flush()?;
        }
        Ok(())
    }

    fn line(&mut self, line: &str) -> std::io::Result<()> {
        if !line.contains(SEP) {
            if !line.is_empty() {
                eprintln!("{line}");
            }
            return Ok(());
        }
        let fields: Vec<&str> = line.split(SEP).collect();
        let rows = self.render.record(&fields);
        if rows.is_empty() {
            return Ok(());
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let time = kestrel_tools::table::hms(now);
        let mut text = String::new();
        for row in &rows {
            text.push_str(&self.table.row(row, &time));
        }
        self.out.write_all(text.as_bytes())?;
        self.out.flush()
    }

    /// Hands the session's maps to the renderer as JSON and prints what it makes of them.
    fn maps(&mut self, session: &Session) -> anyhow::Result<()> {
        let mut all = serde_json::Map::new();
        for line in session.maps_json()? {
            let parsed: serde_json::Value =
                serde_json::from_str(&line).context("map JSON from the runtime")?;
            if let Some(serde_json::Value::Object(data)) = parsed.get("data") {
                for (k, v) in data {
                    all.insert(k.clone(), v.clone());
                }
            }
        }
        let text = self.render.maps(&all);
        self.out.write_all(text.as_bytes())?;
        self.out.flush()?;
        Ok(())
    }
}

impl Write for RecordSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.partial.extend_from_slice(buf);
        while let Some(pos) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=pos).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
            self.line(&text)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}
