//! Reading a script's maps from userspace, whatever their key and value sizes.
//!
//! aya's typed maps need `Pod` key/value types known at compile time; ours are known only
//! at run time, so entries are read as bytes with raw `BPF_MAP_GET_NEXT_KEY` /
//! `BPF_MAP_LOOKUP_ELEM` (see `sys.rs`) and handed to the output module to decode.

use std::os::fd::AsFd;

use aya::maps::{Map, MapData};
use kestrel_obj::{MapKind, MapSpec};

use crate::output::RawEntry;
use crate::{sys::RawMap, RuntimeError};

/// Upper bound on iteration steps, so a map mutated under us (hash iteration restarts from
/// the first key when the current key is deleted) cannot keep us looping forever.
const MAX_STEPS_PER_ENTRY: usize = 4;

/// A map taken out of aya's object, with the spec it was created from.
pub(crate) struct LiveMap {
    /// Index into `ObjectSpec::maps`.
    pub index: usize,
    /// The kernel map.
    pub data: MapData,
}

/// Extracts the [`MapData`] of the map kinds kestrel creates.
pub(crate) fn map_data(map: Map) -> Option<MapData> {
    match map {
        Map::HashMap(d)
        | Map::PerCpuHashMap(d)
        | Map::Array(d)
        | Map::PerCpuArray(d)
        | Map::RingBuf(d)
        | Map::StackTraceMap(d) => Some(d),
        _ => None,
    }
}

/// The number of possible CPUs (the number of per-CPU value copies the kernel returns).
pub(crate) fn possible_cpus() -> Result<usize, RuntimeError> {
    aya::util::nr_cpus().map_err(|(path, source)| RuntimeError::Sys { call: path, source })
}

/// Reads every entry of `map`. Per-CPU values are split into one `Vec` per possible CPU,
/// each `value_size` bytes long.
pub(crate) fn read_entries(
    spec: &MapSpec,
    data: &MapData,
    cpus: usize,
) -> Result<Vec<RawEntry>, RuntimeError> {
    let read_err = |op: &'static str| {
        move |source| RuntimeError::MapRead {
            map: spec.name.clone(),
            op,
            source,
        }
    };
    if spec.kind == MapKind::RingBuf {
        return Ok(Vec::new());
    }
    // Buffer sizes come from the kernel's view of the map, not from the spec, so that a
    // mismatch can never make the kernel write past a buffer.
    let info = data.info().map_err(|e| RuntimeError::MapRead {
        map: spec.name.clone(),
        op: "BPF_OBJ_GET_INFO_BY_FD",
        source: std::io::Error::other(e),
    })?;
    if info.key_size() != spec.key_size || info.value_size() != spec.value_size {
        return Err(RuntimeError::MapRead {
            map: spec.name.clone(),
            op: "BPF_OBJ_GET_INFO_BY_FD",
            source: std::io::Error::other(format!(
                "kernel map has key/value sizes {}/{}, object says {}/{}",
                info.key_size(),
                info.value_size(),
                spec.key_size,
                spec.value_size
            )),
        });
    }
    let per_cpu = spec.kind.is_per_cpu();
    let raw = RawMap::new(
        data.fd().as_fd(),
        info.key_size(),
        info.value_size(),
        per_cpu,
        cpus,
    );

    let mut entries = Vec::new();
    let mut key: Option<Vec<u8>> = None;
    let mut next = vec![0u8; raw.key_size()];
    let mut value = vec![0u8; raw.value_len()];
    let max_steps = (spec.max_entries as usize + 1).saturating_mul(MAX_STEPS_PER_ENTRY);
    for _ in 0..max_steps {
        if !raw
            .next_key(key.as_deref(), &mut next)
            .map_err(read_err("BPF_MAP_GET_NEXT_KEY"))?
        {
            break;
        }
        // The entry may vanish between the two calls; skip it then.
        if raw
            .lookup(&next, &mut value)
            .map_err(read_err("BPF_MAP_LOOKUP_ELEM"))?
        {
            entries.push(RawEntry {
                key: next.clone(),
                values: split_values(&value, spec.value_size as usize, per_cpu),
            });
        }
        key = Some(next.clone());
    }
    Ok(entries)
}

/// How many elements `data` holds, counting at most `limit` (key iteration only).
pub(crate) fn count_keys(
    spec: &MapSpec,
    data: &MapData,
    limit: usize,
) -> Result<usize, RuntimeError> {
    let raw = RawMap::new(data.fd().as_fd(), spec.key_size, spec.value_size, false, 1);
    let mut key: Option<Vec<u8>> = None;
    let mut next = vec![0u8; raw.key_size()];
    let mut n = 0;
    while n < limit {
        let more =
            raw.next_key(key.as_deref(), &mut next)
                .map_err(|source| RuntimeError::MapRead {
                    map: spec.name.clone(),
                    op: "BPF_MAP_GET_NEXT_KEY",
                    source,
                })?;
        if !more {
            break;
        }
        n += 1;
        key = Some(next.clone());
    }
    Ok(n)
}

/// Deletes every element of `data` (`clear(@map)`); with `zero`, stores a zero value under
/// every key instead (`zero(@map)`), keeping the keys.
pub(crate) fn clear_entries(
    spec: &MapSpec,
    data: &MapData,
    cpus: usize,
    zero: bool,
) -> Result<(), RuntimeError> {
    let err = |op: &'static str| {
        move |source| RuntimeError::MapRead {
            map: spec.name.clone(),
            op,
            source,
        }
    };
    let raw = RawMap::new(
        data.fd().as_fd(),
        spec.key_size,
        spec.value_size,
        spec.kind.is_per_cpu(),
        cpus,
    );
    // Collect the keys first: deleting while iterating restarts hash iteration.
    let mut keys = Vec::new();
    let mut key: Option<Vec<u8>> = None;
    let mut next = vec![0u8; raw.key_size()];
    let max_steps = (spec.max_entries as usize + 1).saturating_mul(MAX_STEPS_PER_ENTRY);
    for _ in 0..max_steps {
        if !raw
            .next_key(key.as_deref(), &mut next)
            .map_err(err("BPF_MAP_GET_NEXT_KEY"))?
        {
            break;
        }
        keys.push(next.clone());
        key = Some(next.clone());
    }
    let zeros = vec![0u8; raw.value_len()];
    for k in &keys {
        if zero {
            raw.update(k, &zeros).map_err(err("BPF_MAP_UPDATE_ELEM"))?;
        } else {
            raw.delete(k).map_err(err("BPF_MAP_DELETE_ELEM"))?;
        }
    }
    Ok(())
}

/// One value per CPU for per-CPU maps (each CPU's slot is rounded up to 8 bytes), else one.
fn split_values(value: &[u8], value_size: usize, per_cpu: bool) -> Vec<Vec<u8>> {
    if !per_cpu {
        return vec![value.to_vec()];
    }
    let stride = value_size.next_multiple_of(8);
    if stride == 0 {
        return Vec::new();
    }
    value
        .chunks_exact(stride)
        .map(|slot| slot[..value_size].to_vec())
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn per_cpu_values_are_split_on_8_byte_strides() {
        let value: Vec<u8> = (0..16).collect();
        assert_eq!(
            split_values(&value, 4, true),
            vec![vec![0, 1, 2, 3], vec![8, 9, 10, 11]]
        );
        assert_eq!(split_values(&value, 16, false), vec![value.clone()]);
        assert_eq!(
            split_values(&value, 8, true),
            vec![value[..8].to_vec(), value[8..].to_vec()]
        );
    }
}
