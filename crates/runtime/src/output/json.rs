//! Maps and events as bpftrace's `-f json` lines.

use kestrel_obj::{UserMapLayout, ValueKind};

use super::decode::{average, decode_hist, decode_plain, Folded, KeyPart};
use super::hist::group_histogram;
pub(crate) use super::hist::json_int;
use super::RawEntry;

/// A JSON string literal, escaped as bpftrace does (`\"`, `\\`, `\n`, `\r`, `\t`, other
/// control characters as `\u00XX`).
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) <= 0x1f => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The object key of a map entry: components joined by `,` without spaces.
fn json_key(key: &[KeyPart]) -> String {
    json_string(&key.iter().map(KeyPart::text).collect::<Vec<_>>().join(","))
}

fn json_value(v: &Folded) -> String {
    match v {
        Folded::Unsigned(n) => json_int(i128::from(*n)),
        Folded::Signed(n) => json_int(i128::from(*n)),
        Folded::Str(s) => json_string(&String::from_utf8_lossy(s)),
        Folded::Avg { total, count } => json_int(i128::from(average(*total, *count))),
        Folded::Stats { total, count } => format!(
            "{{\"count\": {}, \"average\": {}, \"total\": {}}}",
            json_int(i128::from(*count)),
            json_int(i128::from(average(*total, *count))),
            json_int(i128::from(*total))
        ),
    }
}

fn line(kind: &str, name: &str, data: &str) -> String {
    format!(
        "{{\"type\": \"{kind}\", \"data\": {{{}: {data}}}}}\n",
        json_string(name)
    )
}

/// One map as a bpftrace JSON line (with its newline): type `map`, `hist` (hist/lhist) or
/// `stats` (avg/stats); `data` holds `{"@name": value}`, where value is the bare value for
/// a map without keys and an object keyed by the joined key otherwise.
pub fn render_map_json(layout: &UserMapLayout, entries: &[RawEntry]) -> String {
    render_map_json_top(layout, entries, 0, 0)
}

/// `print(@map, top, div)` as a JSON line; see [`super::text::render_map_text_top`].
pub fn render_map_json_top(
    layout: &UserMapLayout,
    entries: &[RawEntry],
    top: u64,
    div: u64,
) -> String {
    let name = &layout.display;
    let scalar = layout.keys.is_empty();
    let mut items: Vec<(String, String)> = Vec::new();
    let mut kind = "map";
    if matches!(layout.value, ValueKind::Hist | ValueKind::Lhist { .. }) {
        let mut groups = decode_hist(layout, entries).groups;
        super::decode::keep_top(&mut groups, top);
        for group in groups {
            let h = group_histogram(&layout.value, &group).json();
            items.push((json_key(&group.key), h));
        }
        if !items.is_empty() {
            kind = "hist";
        }
    } else {
        let mut plain = decode_plain(layout, entries).entries;
        super::decode::keep_top(&mut plain, top);
        super::decode::divide(&mut plain, div);
        for (key, value) in plain {
            items.push((json_key(&key), json_value(&value)));
        }
        if !items.is_empty() && matches!(layout.value, ValueKind::Avg | ValueKind::Stats) {
            kind = "stats";
        }
    }
    let data = match items.first() {
        Some((_, v)) if scalar => v.clone(),
        _ => {
            let body: Vec<String> = items.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            format!("{{{}}}", body.join(", "))
        }
    };
    line(kind, name, &data)
}

/// The JSON lines of every non-empty map, in lexicographic order of name.
pub fn render_all_maps_json(maps: &[(&UserMapLayout, Vec<RawEntry>)]) -> String {
    let mut sorted: Vec<&(&UserMapLayout, Vec<RawEntry>)> = maps.iter().collect();
    sorted.sort_by(|a, b| a.0.display.as_bytes().cmp(b.0.display.as_bytes()));
    sorted
        .into_iter()
        .filter(|(_, entries)| !entries.is_empty())
        .map(|(layout, entries)| render_map_json(layout, entries))
        .collect()
}

/// A printf event as a JSON line (with its newline): `{"type": "printf", "data": "..."}`.
pub fn printf_json(text: &str) -> String {
    format!(
        "{{\"type\": \"printf\", \"data\": {}}}\n",
        json_string(text)
    )
}
