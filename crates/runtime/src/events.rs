//! The event stream: ring-buffer records → printed lines.
//!
//! A record starts with a little-endian u64 event id. [`EVENT_EXIT`] means the script called
//! `exit()`; any other id indexes `ObjectSpec::printfs`, whose entry says how to decode and
//! format the rest of the record.

use std::io::Write;

use kestrel_obj::{PrintfSpec, EVENT_ACTION_BASE, EVENT_EXIT};
use kestrel_sys::RingBuf;

use crate::output::{printf_json, PrintfFormatter};
use crate::{OutputFormat, RuntimeError};

/// Every printf of an object, parsed once, plus how to print events.
pub(crate) struct Printer {
    formatters: Vec<PrintfFormatter>,
    sizes: Vec<u32>,
    format: OutputFormat,
}

impl Printer {
    /// Parses every printf format; a bad one is a compiler bug, reported before anything runs.
    pub(crate) fn new(
        printfs: &[PrintfSpec],
        format: OutputFormat,
    ) -> Result<Printer, RuntimeError> {
        let formatters = printfs
            .iter()
            .enumerate()
            .map(|(id, spec)| {
                PrintfFormatter::new(spec).map_err(|source| RuntimeError::Printf {
                    id: id as u64,
                    source,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Printer {
            formatters,
            sizes: printfs.iter().map(|p| p.record_size).collect(),
            format,
        })
    }
}

/// What one record asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Record {
    /// A line was printed.
    Printed,
    /// The script called `exit()`.
    Exit,
    /// Action number `.0` of `ObjectSpec::actions` is to be carried out for this record.
    Action(usize),
}

/// Decodes and prints one record.
pub(crate) fn handle_record(
    printer: &Printer,
    record: &[u8],
    out: &mut dyn Write,
) -> Result<Record, RuntimeError> {
    let bad = |id, reason| RuntimeError::BadEvent {
        id,
        len: record.len(),
        reason,
    };
    let Some(id_bytes) = record.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()) else {
        return Err(bad(0, "shorter than its 8-byte event id"));
    };
    let id = u64::from_le_bytes(id_bytes);
    if id == EVENT_EXIT {
        return Ok(Record::Exit);
    }
    if id >= EVENT_ACTION_BASE {
        return usize::try_from(id - EVENT_ACTION_BASE)
            .map(Record::Action)
            .map_err(|_| bad(id, "no action has this id"));
    }
    let index = usize::try_from(id)
        .ok()
        .filter(|&i| i < printer.formatters.len())
        .ok_or_else(|| bad(id, "no printf has this id"))?;
    if record.len() < printer.sizes[index] as usize {
        return Err(bad(id, "shorter than its printf's record size"));
    }
    let text = printer.formatters[index]
        .format(record)
        .map_err(|source| RuntimeError::Printf { id, source })?;
    let text = match printer.format {
        OutputFormat::Text => text,
        OutputFormat::Json => printf_json(&text),
    };
    out.write_all(text.as_bytes())
        .map_err(RuntimeError::Output)?;
    Ok(Record::Printed)
}

/// Carries out action number `index` for `record` (see `crate::actions`).
pub(crate) type ActionHandler<'a> =
    dyn FnMut(usize, &[u8], &mut dyn Write) -> Result<(), RuntimeError> + 'a;

/// The script's event ring buffer.
pub(crate) struct EventRing {
    /// The mapped ring.
    pub ring: RingBuf,
}

impl EventRing {
    /// Prints every record available now. Stops early at an exit record, leaving later
    /// records unread (they were produced after `exit()`), and returns whether it saw one.
    /// Action records go to `on_action` (with the action's index and the record).
    pub(crate) fn drain(
        &mut self,
        printer: &Printer,
        out: &mut dyn Write,
        on_action: &mut ActionHandler<'_>,
    ) -> Result<bool, RuntimeError> {
        let mut exit = false;
        let mut failure = None;
        self.ring.read(|item| {
            let step = match handle_record(printer, item, out) {
                Ok(Record::Exit) => {
                    exit = true;
                    return false;
                }
                Ok(Record::Action(index)) => on_action(index, item, out),
                Ok(Record::Printed) => Ok(()),
                Err(e) => Err(e),
            };
            match step {
                Ok(()) => true,
                Err(e) => {
                    failure = Some(e);
                    false
                }
            }
        });
        if let Some(e) = failure {
            return Err(e);
        }
        out.flush().map_err(RuntimeError::Output)?;
        Ok(exit)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn exit_and_malformed_records() {
        let spec = PrintfSpec {
            format: "hi %d\n".into(),
            args: vec![kestrel_obj::Field {
                offset: 8,
                ty: kestrel_obj::ScalarType::Int {
                    size: 8,
                    signed: true,
                },
            }],
            record_size: 16,
        };
        let text = Printer::new(std::slice::from_ref(&spec), OutputFormat::Text).unwrap();
        let mut out = Vec::new();
        let exit = EVENT_EXIT.to_le_bytes();
        assert_eq!(handle_record(&text, &exit, &mut out).unwrap(), Record::Exit);
        assert!(matches!(
            handle_record(&text, &[1, 2, 3], &mut out),
            Err(RuntimeError::BadEvent { id: 0, len: 3, .. })
        ));
        assert!(matches!(
            handle_record(&text, &5u64.to_le_bytes(), &mut out),
            Err(RuntimeError::BadEvent { id: 5, .. })
        ));
        assert!(matches!(
            handle_record(&text, &0u64.to_le_bytes(), &mut out),
            Err(RuntimeError::BadEvent { id: 0, len: 8, .. })
        ));
        assert!(out.is_empty());

        let record: Vec<u8> = [0u64.to_le_bytes(), (-3i64).to_le_bytes()].concat();
        handle_record(&text, &record, &mut out).unwrap();
        let json = Printer::new(std::slice::from_ref(&spec), OutputFormat::Json).unwrap();
        handle_record(&json, &record, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "hi -3\n{\"type\": \"printf\", \"data\": \"hi -3\\n\"}\n"
        );
    }
}
