//! Wall-clock time as `time()` and `strftime()` print it.
//!
//! `strftime(fmt, nsecs)` records nanoseconds of the kernel's monotonic clock (what `nsecs`
//! reads); they become wall-clock time by adding the current offset between
//! `CLOCK_REALTIME` and `CLOCK_MONOTONIC`, as bpftrace does with its boot-time offset.
//! Formats follow strftime(3) in the local time zone, plus bpftrace's `%f` (microseconds,
//! six digits). The formats of a script are made current on a thread with [`set_formats`],
//! so the formatting functions keep their signatures.

use std::cell::RefCell;

use nix::time::{clock_gettime, ClockId};

thread_local! {
    static FORMATS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Makes `formats` (a script's `strftime()` formats, by id) current on this thread.
pub fn set_formats(formats: &[String]) {
    FORMATS.with(|f| *f.borrow_mut() = formats.to_vec());
}

/// Nanoseconds to add to a `CLOCK_MONOTONIC` reading to get wall-clock time.
fn monotonic_to_realtime_ns() -> i128 {
    let ns = |id| {
        clock_gettime(id)
            .map(|t| i128::from(t.tv_sec()) * 1_000_000_000 + i128::from(t.tv_nsec()))
            .unwrap_or(0)
    };
    ns(ClockId::CLOCK_REALTIME) - ns(ClockId::CLOCK_MONOTONIC)
}

/// `strftime()` value `nsecs` (monotonic nanoseconds) with format number `id`.
pub(crate) fn render_timestamp(id: u32, nsecs: u64) -> String {
    let format = FORMATS.with(|f| f.borrow().get(id as usize).cloned());
    let Some(format) = format else {
        return nsecs.to_string();
    };
    let wall = i128::from(nsecs) + monotonic_to_realtime_ns();
    let secs = wall.div_euclid(1_000_000_000) as i64;
    let nanos = wall.rem_euclid(1_000_000_000) as u32;
    format_local(&format, secs, nanos)
}

/// The current local time with `format` (what `time(fmt)` prints).
pub fn now_local(format: &str) -> String {
    let now = clock_gettime(ClockId::CLOCK_REALTIME)
        .map(|t| (t.tv_sec(), t.tv_nsec() as u32))
        .unwrap_or((0, 0));
    format_local(format, now.0, now.1)
}

/// `secs.nanos` since the epoch, in local time, with a strftime(3) format plus `%f`.
pub fn format_local(format: &str, secs: i64, nanos: u32) -> String {
    // %f is not strftime's: replace it (but not %%f) with the microseconds first.
    let mut expanded = String::with_capacity(format.len() + 8);
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            expanded.push(c);
            continue;
        }
        match chars.next() {
            Some('f') => expanded.push_str(&format!("{:06}", nanos / 1000)),
            Some(other) => {
                expanded.push('%');
                expanded.push(other);
            }
            None => expanded.push('%'),
        }
    }
    let Ok(cformat) = std::ffi::CString::new(expanded) else {
        return String::new();
    };
    kestrel_sys::os::strftime_local(&cformat, secs).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros_and_escaped_percent() {
        std::env::set_var("TZ", "UTC");
        let s = format_local("%Y-%m-%d %H:%M:%S.%f %%f", 86_400 + 3_661, 123_456_789);
        assert_eq!(s, "1970-01-02 01:01:01.123456 %f");
    }
}
