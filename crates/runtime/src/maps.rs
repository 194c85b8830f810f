//! Reading a script's maps from userspace, whatever their key and value sizes.
//!
//! Key and value layouts are known only at run time, so entries are read as bytes through
//! kestrel-sys (batch lookups for hash maps) and handed to the output module to decode.

use kestrel_obj::{MapKind, MapSpec};
use kestrel_sys::{Map, SysError};

use crate::output::RawEntry;
use crate::RuntimeError;

/// A live map of the object, with the index of the spec it was created from.
pub(crate) struct LiveMap {
    /// Index into `ObjectSpec::maps`.
    pub index: usize,
    /// The kernel map.
    pub data: Map,
}

fn read_error(map: &str, op: &'static str) -> impl FnOnce(SysError) -> RuntimeError {
    let map = map.to_string();
    move |source| RuntimeError::MapRead {
        map,
        op,
        source: std::io::Error::other(source),
    }
}

/// Reads every entry of `map`. Per-CPU values are split into one `Vec` per possible CPU,
/// each `value_size` bytes long.
pub(crate) fn read_entries(spec: &MapSpec, data: &Map) -> Result<Vec<RawEntry>, RuntimeError> {
    if spec.kind == MapKind::RingBuf {
        return Ok(Vec::new());
    }
    // Buffer sizes come from the kernel's view of the map (sys checks every buffer against
    // it); a spec that disagrees is a bug worth saying so.
    if data.key_size() != spec.key_size as usize || data.value_size() != spec.value_size as usize {
        return Err(RuntimeError::MapRead {
            map: spec.name.clone(),
            op: "BPF_OBJ_GET_INFO_BY_FD",
            source: std::io::Error::other(format!(
                "kernel map has key/value sizes {}/{}, object says {}/{}",
                data.key_size(),
                data.value_size(),
                spec.key_size,
                spec.value_size
            )),
        });
    }
    // Hash maps are read in batches (a few syscalls for the whole map); arrays key by key.
    let raw = match spec.kind {
        MapKind::Hash | MapKind::PerCpuHash => data.entries_batch(),
        _ => data.entries(),
    }
    .map_err(read_error(&spec.name, "BPF_MAP_LOOKUP"))?;
    Ok(raw
        .into_iter()
        .map(|(key, value)| RawEntry {
            values: data
                .per_cpu_values(&value)
                .into_iter()
                .map(<[u8]>::to_vec)
                .collect(),
            key,
        })
        .collect())
}

/// How many elements `data` holds, counting at most `limit` (key iteration only).
pub(crate) fn count_keys(spec: &MapSpec, data: &Map, limit: usize) -> Result<usize, RuntimeError> {
    data.keys_limited(limit)
        .map(|k| k.len())
        .map_err(read_error(&spec.name, "BPF_MAP_GET_NEXT_KEY"))
}

/// Deletes every element of `data` (`clear(@map)`); with `zero`, stores a zero value under
/// every key instead (`zero(@map)`), keeping the keys.
pub(crate) fn clear_entries(spec: &MapSpec, data: &Map, zero: bool) -> Result<(), RuntimeError> {
    // Collect the keys first: deleting while iterating restarts hash iteration.
    let keys = data
        .keys()
        .map_err(read_error(&spec.name, "BPF_MAP_GET_NEXT_KEY"))?;
    let zeros = vec![0u8; data.value_len()];
    for k in &keys {
        if zero {
            data.update(k, &zeros)
                .map_err(read_error(&spec.name, "BPF_MAP_UPDATE_ELEM"))?;
        } else {
            data.delete(k)
                .map_err(read_error(&spec.name, "BPF_MAP_DELETE_ELEM"))?;
        }
    }
    Ok(())
}
