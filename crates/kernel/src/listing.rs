//! Listing tracepoints under a tracefs root and reading their formats.
//!
//! Listing only reads directories (never `format` files), so matching all 2,300 tracepoints
//! costs one `readdir` per category.

use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use crate::format::parse_format;
use crate::glob::{glob_match, has_glob};
use crate::{KernelError, TracepointFormat, TracepointId};

/// `ftrace/` holds the tracer's internal records (function, print, ...), which cannot be
/// attached to as tracepoints; `available_events` omits it too.
const SKIPPED_CATEGORIES: &[&str] = &["ftrace"];

/// Tracepoints under `root/events` whose `category:name` matches `pattern`, sorted.
pub(crate) fn list_tracepoints(
    root: &Path,
    pattern: &str,
) -> Result<Vec<TracepointId>, KernelError> {
    let events = root.join("events");
    if !has_glob(pattern) {
        // An exact name: one stat, no directory scan.
        let Some(id) = TracepointId::parse(pattern) else {
            return Ok(Vec::new());
        };
        let found = is_safe_component(&id.category)
            && is_safe_component(&id.name)
            && events.join(&id.category).join(&id.name).is_dir();
        return Ok(if found { vec![id] } else { Vec::new() });
    }
    // When the category part is a plain name, only that directory needs reading.
    let categories = match pattern.split_once(':') {
        Some((cat, _)) if !has_glob(cat) => {
            if is_safe_component(cat) && events.join(cat).is_dir() {
                vec![cat.to_string()]
            } else {
                Vec::new()
            }
        }
        _ => subdirectories(&events)?,
    };
    let mut out = Vec::new();
    let mut full = String::new();
    for category in categories {
        if SKIPPED_CATEGORIES.contains(&category.as_str()) {
            continue;
        }
        for name in subdirectories(&events.join(&category))? {
            full.clear();
            full.push_str(&category);
            full.push(':');
            full.push_str(&name);
            if glob_match(pattern, &full) {
                out.push(TracepointId::new(category.clone(), name));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Reads and parses `root/events/<category>/<name>/format`.
pub(crate) fn read_format(root: &Path, id: &TracepointId) -> Result<TracepointFormat, KernelError> {
    let unknown = || KernelError::UnknownTracepoint {
        category: id.category.clone(),
        name: id.name.clone(),
    };
    if !is_safe_component(&id.category) || !is_safe_component(&id.name) {
        return Err(unknown());
    }
    let path = root
        .join("events")
        .join(&id.category)
        .join(&id.name)
        .join("format");
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == ErrorKind::NotFound => return Err(unknown()),
        Err(source) => {
            return Err(KernelError::Read {
                path: path.display().to_string(),
                source,
            })
        }
    };
    parse_format(id, &text, &path.display().to_string())
}

/// Names the user typed become path components; refuse anything that could leave
/// `events/` (`..`, `/`) or is empty.
fn is_safe_component(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains('/') && !s.contains('\0')
}

/// Names of the subdirectories of `dir`, skipping files such as `enable` and `filter`.
fn subdirectories(dir: &Path) -> Result<Vec<String>, KernelError> {
    let read_err = |source| KernelError::Read {
        path: dir.display().to_string(),
        source,
    };
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(read_err)? {
        let entry = entry.map_err(read_err)?;
        // d_type is enough on tracefs/eventfs; stat only when the filesystem does not say.
        let is_dir = match entry.file_type() {
            Ok(t) if t.is_dir() => true,
            Ok(t) if t.is_file() || t.is_symlink() => false,
            _ => entry.path().is_dir(),
        };
        if !is_dir {
            continue;
        }
        if let Ok(name) = entry.file_name().into_string() {
            out.push(name);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A fake tracefs tree in a temp dir.
    fn fake_root(tag: &str) -> PathBuf {
        let root =
            std::env::temp_dir().join(format!("kestrel-kernel-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        for (cat, name) in [
            ("sched", "sched_switch"),
            ("sched", "sched_wakeup"),
            ("syscalls", "sys_enter_openat"),
            ("syscalls", "sys_exit_openat"),
            ("ftrace", "function"),
        ] {
            let d = root.join("events").join(cat).join(name);
            let _ = fs::create_dir_all(&d);
            let _ = fs::write(d.join("enable"), "0");
        }
        let _ = fs::write(root.join("events/enable"), "0");
        let _ = fs::write(root.join("events/header_page"), "");
        let _ = fs::write(root.join("events/sched/filter"), "");
        let _ = fs::write(
            root.join("events/sched/sched_switch/format"),
            "name: sched_switch\nID: 9\nformat:\n\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n",
        );
        root
    }

    fn names(v: &[TracepointId]) -> Vec<String> {
        v.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn lists_with_globs_and_skips_files() -> Result<(), KernelError> {
        let root = fake_root("list");
        assert_eq!(
            names(&list_tracepoints(&root, "sched:*")?),
            ["sched:sched_switch", "sched:sched_wakeup"]
        );
        assert_eq!(
            names(&list_tracepoints(&root, "*:*openat")?),
            ["syscalls:sys_enter_openat", "syscalls:sys_exit_openat"]
        );
        assert_eq!(list_tracepoints(&root, "*")?.len(), 4, "ftrace skipped");
        assert_eq!(
            names(&list_tracepoints(&root, "sched:sched_switch")?),
            ["sched:sched_switch"]
        );
        assert!(list_tracepoints(&root, "sched:nope")?.is_empty());
        assert!(list_tracepoints(&root, "nope:*")?.is_empty());
        assert!(list_tracepoints(&root, "../x:*")?.is_empty());
        assert!(list_tracepoints(&root, "sched")?.is_empty());
        let _ = fs::remove_dir_all(&root);
        Ok(())
    }

    #[test]
    fn reads_formats_and_rejects_escapes() {
        let root = fake_root("read");
        let ok = read_format(&root, &TracepointId::new("sched", "sched_switch"));
        assert!(matches!(ok, Ok(ref f) if f.event_id == 9), "{ok:?}");
        for (c, n) in [
            ("sched", "nope"),
            ("..", "x"),
            ("sched", "../sched/sched_switch"),
        ] {
            let r = read_format(&root, &TracepointId::new(c, n));
            assert!(
                matches!(r, Err(KernelError::UnknownTracepoint { .. })),
                "{c}:{n} {r:?}"
            );
        }
        let _ = fs::remove_dir_all(&root);
    }
}
