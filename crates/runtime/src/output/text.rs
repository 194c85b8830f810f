//! Maps as bpftrace's text output prints them.

use kestrel_obj::{UserMapLayout, ValueKind};

use super::decode::{decode_hist, decode_plain, KeyPart};
use super::hist::group_histogram;
use super::RawEntry;

/// The key inside `@m[...]`: components joined by `, `, strings unquoted.
pub(crate) fn key_text(key: &[KeyPart]) -> String {
    key.iter().map(KeyPart::text).collect::<Vec<_>>().join(", ")
}

fn malformed_marker(name: &str, n: usize) -> String {
    if n == 0 {
        String::new()
    } else {
        format!("{name}: <{n} malformed entries skipped>\n")
    }
}

/// One map as text, exactly as bpftrace's `print(@map)` prints it.
///
/// Plain maps print one `@m[k]: v` line per entry (`@x: v` without keys). Histograms print
/// a `@h[k]:` header, the rows, and a blank line per key. Entries whose bytes are too short
/// are skipped and counted in a final `@m: <N malformed entries skipped>` line.
pub fn render_map_text(layout: &UserMapLayout, entries: &[RawEntry]) -> String {
    render_map_text_top(layout, entries, 0, 0)
}

/// `print(@map, top, div)`: like [`render_map_text`], keeping only the `top` last entries in
/// print order (the largest; 0 keeps all) and dividing numeric values by `div` (0 or 1: as
/// is).
pub fn render_map_text_top(
    layout: &UserMapLayout,
    entries: &[RawEntry],
    top: u64,
    div: u64,
) -> String {
    let name = &layout.display;
    let scalar = layout.keys.is_empty();
    let mut out = String::new();
    if matches!(layout.value, ValueKind::Hist | ValueKind::Lhist { .. }) {
        let mut decoded = decode_hist(layout, entries);
        super::decode::keep_top(&mut decoded.groups, top);
        for group in decoded
            .groups
            .iter()
            .take(if scalar { 1 } else { usize::MAX })
        {
            if scalar {
                out.push_str(&format!("{name}:\n"));
            } else {
                out.push_str(&format!("{name}[{}]:\n", key_text(&group.key)));
            }
            out.push_str(&group_histogram(&layout.value, group).text());
            out.push('\n');
        }
        out.push_str(&malformed_marker(name, decoded.malformed));
        return out;
    }
    let mut decoded = decode_plain(layout, entries);
    super::decode::keep_top(&mut decoded.entries, top);
    super::decode::divide(&mut decoded.entries, div);
    for (key, value) in decoded
        .entries
        .iter()
        .take(if scalar { 1 } else { usize::MAX })
    {
        if scalar {
            out.push_str(&format!("{name}: {}\n", value.text()));
        } else {
            out.push_str(&format!("{name}[{}]: {}\n", key_text(key), value.text()));
        }
    }
    out.push_str(&malformed_marker(name, decoded.malformed));
    out
}

/// What bpftrace prints at exit: two newlines, then every non-empty map in lexicographic
/// order of name. Returns an empty string when the script has no maps at all.
pub fn render_all_maps_text(maps: &[(&UserMapLayout, Vec<RawEntry>)]) -> String {
    if maps.is_empty() {
        return String::new();
    }
    let mut sorted: Vec<&(&UserMapLayout, Vec<RawEntry>)> = maps.iter().collect();
    sorted.sort_by(|a, b| a.0.display.as_bytes().cmp(b.0.display.as_bytes()));
    let mut out = String::from("\n\n");
    for (layout, entries) in sorted {
        if !entries.is_empty() {
            out.push_str(&render_map_text(layout, entries));
        }
    }
    out
}
