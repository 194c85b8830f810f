//! Carrying out actions ([`ActionSpec`]) when their records arrive: printing, clearing and
//! zeroing maps, printing values and the time, `cat`, `system` and `join`.
//!
//! Records are handled in ring-buffer order, so an action happens after every `printf`
//! the kernel emitted before it, as in bpftrace.

use std::io::Write;

use kestrel_obj::{ActionKind, ActionSpec, MapRole, ObjectSpec, PrintfSpec, ScalarType};

use crate::maps::{self, LiveMap};
use crate::output::decode::{field_bytes, format_scalar, format_value, read_uint, string_bytes};
use crate::output::json::{json_int, json_string};
use crate::output::{timefmt, PrintfFormatter};
use crate::{OutputFormat, RuntimeError};

/// Every action of an object, with the formatters of `cat`/`system` parsed once.
pub(crate) struct Actions {
    specs: Vec<ActionSpec>,
    formatters: Vec<Option<PrintfFormatter>>,
    format: OutputFormat,
}

/// The maps an action may act on.
pub(crate) struct MapAccess<'a> {
    /// The object's maps.
    pub spec: &'a ObjectSpec,
    /// The script maps the session holds.
    pub live: &'a [LiveMap],
}

impl Actions {
    /// Prepares the actions of `spec`; a bad `cat`/`system` format is a compiler bug,
    /// reported before anything runs.
    pub(crate) fn new(spec: &ObjectSpec, format: OutputFormat) -> Result<Actions, RuntimeError> {
        let formatters = spec
            .actions
            .iter()
            .enumerate()
            .map(|(i, a)| match &a.kind {
                ActionKind::Cat { format } | ActionKind::System { format } => {
                    let printf = PrintfSpec {
                        format: format.clone(),
                        args: a.args.clone(),
                        record_size: a.record_size,
                    };
                    PrintfFormatter::new(&printf)
                        .map(Some)
                        .map_err(|source| RuntimeError::Printf {
                            id: kestrel_obj::EVENT_ACTION_BASE + i as u64,
                            source,
                        })
                }
                _ => Ok(None),
            })
            .collect::<Result<_, _>>()?;
        Ok(Actions {
            specs: spec.actions.clone(),
            formatters,
            format,
        })
    }

    /// Carries out action `index` for `record`.
    pub(crate) fn run(
        &self,
        index: usize,
        record: &[u8],
        maps: &MapAccess<'_>,
        out: &mut dyn Write,
    ) -> Result<(), RuntimeError> {
        let id = kestrel_obj::EVENT_ACTION_BASE + index as u64;
        let bad = |reason| RuntimeError::BadEvent {
            id,
            len: record.len(),
            reason,
        };
        let spec = self
            .specs
            .get(index)
            .ok_or_else(|| bad("no action has this id"))?;
        if record.len() < spec.record_size as usize {
            return Err(bad("shorter than its action's record size"));
        }
        let json = self.format == OutputFormat::Json;
        let text = match &spec.kind {
            ActionKind::PrintMap { map, top, div } => {
                let Some((layout, entries)) = read_map(maps, *map)? else {
                    return Ok(());
                };
                if json {
                    // bpftrace prints no JSON object for an empty map.
                    if entries.is_empty() {
                        return Ok(());
                    }
                    crate::output::json::render_map_json_top(layout, &entries, *top, *div)
                } else {
                    let s = crate::output::text::render_map_text_top(layout, &entries, *top, *div);
                    // bpftrace 0.17 prints an empty line for an empty map.
                    if s.is_empty() {
                        "\n".to_string()
                    } else {
                        s
                    }
                }
            }
            ActionKind::ClearMap { map } | ActionKind::ZeroMap { map } => {
                let zero = matches!(spec.kind, ActionKind::ZeroMap { .. });
                if let (Some(live), Some(map_spec)) = (
                    maps.live.iter().find(|l| l.index == *map),
                    maps.spec.maps.get(*map),
                ) {
                    maps::clear_entries(map_spec, &live.data, zero)?;
                }
                return Ok(());
            }
            ActionKind::PrintValue => {
                let Some(field) = spec.args.first() else {
                    return Err(bad("print() record without a value"));
                };
                let bytes = field_bytes(record, field).ok_or_else(|| bad("value out of range"))?;
                if json {
                    format!(
                        "{{\"type\": \"value\", \"data\": {}}}\n",
                        json_value(&field.ty, bytes)
                    )
                } else {
                    format!("{}\n", format_value(&field.ty, bytes))
                }
            }
            ActionKind::Time { format } => {
                let now = timefmt::now_local(format);
                if json {
                    typed("time", &now)
                } else {
                    now
                }
            }
            ActionKind::Cat { .. } | ActionKind::System { .. } => {
                let formatter = self
                    .formatters
                    .get(index)
                    .and_then(Option::as_ref)
                    .ok_or_else(|| bad("no formatter for this action"))?;
                let arg = formatter
                    .format(record)
                    .map_err(|source| RuntimeError::Printf { id, source })?;
                if matches!(spec.kind, ActionKind::Cat { .. }) {
                    match std::fs::read(&arg) {
                        Ok(bytes) => {
                            let content = String::from_utf8_lossy(&bytes).into_owned();
                            if json {
                                typed("cat", &content)
                            } else {
                                content
                            }
                        }
                        Err(e) => {
                            eprintln!("ERROR: failed to open file '{arg}': {e}");
                            return Ok(());
                        }
                    }
                } else {
                    let output = run_shell(&arg);
                    if json {
                        typed("syscall", &output)
                    } else {
                        output
                    }
                }
            }
            ActionKind::Join {
                sep,
                max_args,
                str_len,
            } => {
                let count = read_uint(record.get(8..16).unwrap_or(&[])).min(u64::from(*max_args));
                let parts: Vec<String> = (0..count as usize)
                    .map(|i| {
                        let start = 16 + i * *str_len as usize;
                        let raw = record.get(start..start + *str_len as usize).unwrap_or(&[]);
                        String::from_utf8_lossy(&string_bytes(raw)).into_owned()
                    })
                    .collect();
                let joined = parts.join(sep);
                if json {
                    typed("join", &joined)
                } else {
                    format!("{joined}\n")
                }
            }
        };
        out.write_all(text.as_bytes()).map_err(RuntimeError::Output)
    }
}

/// `{"type": KIND, "data": "TEXT"}` with its newline.
fn typed(kind: &str, text: &str) -> String {
    format!(
        "{{\"type\": \"{kind}\", \"data\": {}}}\n",
        json_string(text)
    )
}

/// A recorded value as JSON: numbers as numbers, tuples as arrays, everything else as text.
fn json_value(ty: &ScalarType, bytes: &[u8]) -> String {
    match ty {
        ScalarType::Int { size, signed } => {
            let raw = read_uint(bytes.get(..usize::from(*size)).unwrap_or(bytes));
            let arg = crate::output::format::IntArg {
                bits: raw,
                size: *size,
                signed: *signed,
            };
            json_int(arg.value())
        }
        ScalarType::Tuple { fields, .. } => {
            let parts: Vec<String> = fields
                .iter()
                .map(|f| match field_bytes(bytes, f) {
                    Some(b) => json_value(&f.ty, b),
                    None => "null".to_string(),
                })
                .collect();
            format!("[{}]", parts.join(","))
        }
        other => json_string(&format_scalar(other, bytes)),
    }
}

/// Runs `command` with `/bin/sh -c` and returns what it printed on stdout.
fn run_shell(command: &str) -> String {
    match std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output()
    {
        Ok(o) => String::from_utf8_lossy(&o.stdout).into_owned(),
        Err(e) => {
            eprintln!("ERROR: system(\"{command}\") failed: {e}");
            String::new()
        }
    }
}

type MapRead<'a> = Option<(&'a kestrel_obj::UserMapLayout, Vec<crate::output::RawEntry>)>;

fn read_map<'a>(maps: &MapAccess<'a>, index: usize) -> Result<MapRead<'a>, RuntimeError> {
    let (Some(live), Some(map_spec)) = (
        maps.live.iter().find(|l| l.index == index),
        maps.spec.maps.get(index),
    ) else {
        return Ok(None);
    };
    let MapRole::User(layout) = &map_spec.role else {
        return Ok(None);
    };
    let entries = maps::read_entries(map_spec, &live.data)?;
    Ok(Some((layout, entries)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use kestrel_obj::{Field, UserMapLayout, ValueKind};

    use crate::output::{render_map_json_top, render_map_text_top, RawEntry};

    fn entry(k: u64, v: u64) -> RawEntry {
        RawEntry {
            key: k.to_le_bytes().to_vec(),
            values: vec![v.to_le_bytes().to_vec()],
        }
    }

    #[test]
    fn top_keeps_the_largest_and_div_divides() {
        let layout = UserMapLayout {
            display: "@a".into(),
            keys: vec![Field {
                offset: 0,
                ty: ScalarType::Int {
                    size: 8,
                    signed: true,
                },
            }],
            value: ValueKind::Count,
        };
        let entries = [entry(1, 10), entry(2, 5), entry(3, 30)];
        assert_eq!(
            render_map_text_top(&layout, &entries, 0, 0),
            "@a[2]: 5\n@a[1]: 10\n@a[3]: 30\n"
        );
        assert_eq!(
            render_map_text_top(&layout, &entries, 2, 5),
            "@a[1]: 2\n@a[3]: 6\n"
        );
        assert_eq!(
            render_map_json_top(&layout, &entries, 1, 0),
            "{\"type\": \"map\", \"data\": {\"@a\": {\"3\": 30}}}\n"
        );
    }

    #[test]
    fn values_as_json() {
        let int = ScalarType::Int {
            size: 8,
            signed: true,
        };
        assert_eq!(json_value(&int, &(-3i64).to_le_bytes()), "-3");
        let tuple = ScalarType::Tuple {
            fields: vec![
                Field {
                    offset: 0,
                    ty: int.clone(),
                },
                Field {
                    offset: 8,
                    ty: ScalarType::Str { len: 8 },
                },
            ],
            size: 16,
        };
        let mut bytes = 7i64.to_le_bytes().to_vec();
        bytes.extend_from_slice(b"ab\0\0\0\0\0\0");
        assert_eq!(json_value(&tuple, &bytes), "[7,\"ab\"]");
    }

    #[test]
    fn shell_output_is_captured() {
        assert_eq!(run_shell("echo hi; echo there"), "hi\nthere\n");
    }
}
