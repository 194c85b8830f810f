//! biolatency: block I/O latency histograms from the block tracepoints, like libbpf-tools'
//! biolatency: per disk (-D), per I/O flags (-F), for one disk (--disk).

use crate::hist::HistRender;
use crate::script::fill;
use crate::syslatency::{interval, INTERVAL, MILLI};
use crate::table::Column;
use crate::tool::{Example, Flag, Options, Render, Tool, ToolError, TIMESTAMP};

/// The biolatency tool.
#[derive(Debug)]
pub struct Biolatency;

const DISKS: Flag = Flag {
    key: "disk",
    short: Some('D'),
    value: None,
    help: "A histogram per disk",
};
const FLAGS: Flag = Flag {
    key: "flag",
    short: Some('F'),
    value: None,
    help: "A histogram per I/O flag set (rwbs: R read, W write, S sync, M metadata, ...)",
};
/// `--only-disk NAME`: one disk.
pub const ONE_DISK: Flag = Flag {
    key: "only-disk",
    short: Some('d'),
    value: Some("DISK"),
    help: "Trace this disk only (e.g. sda, loop0)",
};

/// The kernel's `dev_t` (major << 20 | minor) of disk `name`, from /sys/block/NAME/dev.
pub fn disk_dev(name: &str) -> Result<u64, ToolError> {
    let bad = |why| ToolError::BadValue {
        flag: "--only-disk".into(),
        value: name.into(),
        why,
    };
    if name.is_empty() || name.contains('/') || name.contains("..") {
        return Err(bad("expected a disk name such as sda"));
    }
    let text = std::fs::read_to_string(format!("/sys/class/block/{name}/dev"))
        .map_err(|_| bad("no such disk in /sys/class/block"))?;
    let (major, minor) = text
        .trim()
        .split_once(':')
        .ok_or(bad("unreadable device number"))?;
    let major: u64 = major.parse().map_err(|_| bad("unreadable device number"))?;
    let minor: u64 = minor.parse().map_err(|_| bad("unreadable device number"))?;
    Ok(major << 20 | minor)
}

/// The disk name of kernel `dev_t` `dev` (`loop0`), from /sys/dev/block, or `MAJ:MIN`.
pub fn disk_name(dev: u64) -> String {
    let (major, minor) = (dev >> 20, dev & 0xf_ffff);
    std::fs::read_to_string(format!("/sys/dev/block/{major}:{minor}/uevent"))
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("DEVNAME=").map(str::to_string))
        })
        .unwrap_or_else(|| format!("{major}:{minor}"))
}

/// The `--only-disk` predicate on `args->dev`, if asked for.
pub fn disk_filter(opts: &Options) -> Result<String, ToolError> {
    Ok(match opts.get("only-disk") {
        Some(d) => format!("args->dev == {}", disk_dev(d)?),
        None => "1".to_string(),
    })
}

fn disk_label(key: &str) -> String {
    format!(
        "disk = {}",
        key.parse().map_or_else(|_| key.to_string(), disk_name)
    )
}

fn flag_label(key: &str) -> String {
    format!("flags = {key}")
}

impl Tool for Biolatency {
    fn name(&self) -> &'static str {
        "biolatency"
    }
    fn about(&self) -> &'static str {
        "Histogram of block I/O latency, optionally per disk or per I/O flags"
    }
    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                command: "kestrel tool biolatency 10",
                does: "all disks, 10 seconds",
            },
            Example {
                command: "kestrel tool biolatency -D -m -i 1",
                does: "per disk, in ms, every second",
            },
            Example {
                command: "kestrel tool biolatency -F -d sda",
                does: "per flag set, disk sda only",
            },
        ]
    }
    fn flags(&self) -> &'static [Flag] {
        &[DISKS, FLAGS, ONE_DISK, MILLI, INTERVAL, TIMESTAMP]
    }
    fn takes_duration(&self) -> bool {
        true
    }
    fn interval(&self, opts: &Options) -> Result<Option<u64>, ToolError> {
        interval(opts)
    }
    fn script(&self, opts: &Options) -> Result<String, ToolError> {
        let milli = opts.has("milliseconds");
        let key = if opts.has("disk") {
            "[args->dev]"
        } else if opts.has("flag") {
            "[args->rwbs]"
        } else {
            ""
        };
        fill(
            include_str!("biolatency.bt"),
            &[
                ("filter", disk_filter(opts)?),
                ("key", key.to_string()),
                ("div", if milli { "1000000" } else { "1000" }.to_string()),
                ("unit", crate::hist::unit_name(opts).to_string()),
            ],
        )
    }
    fn columns(&self, _opts: &Options) -> Vec<Column> {
        Vec::new()
    }
    fn renderer(&self, opts: &Options) -> Box<dyn Render> {
        let unit = crate::hist::unit_name(opts);
        if opts.has("disk") {
            Box::new(HistRender::new("@dist", unit, "disk", disk_label, opts))
        } else {
            Box::new(HistRender::new("@dist", unit, "flags", flag_label, opts))
        }
    }
}
