//! The few libc calls outside bpf(2) that kestrel needs and that have no safe wrapper in its
//! dependencies: signal handlers and local-time formatting. They live here so that `unsafe`
//! stays in this one crate.

use std::ffi::CStr;

use crate::error::SysError;

/// Installs `handler` for each of `signals` with `SA_RESETHAND` (a second signal acts as
/// if no handler were installed) and without `SA_RESTART` (blocking calls return EINTR so
/// loops see a flag the handler sets). `handler` must be async-signal-safe: in kestrel it
/// only stores into an atomic.
pub fn install_signal_handler(
    signals: &[libc::c_int],
    handler: extern "C" fn(libc::c_int),
) -> Result<(), SysError> {
    for &signal in signals {
        // SAFETY: `action` is a zeroed sigaction (a valid value) whose handler is a plain
        // extern "C" function; sigemptyset initializes its mask; sigaction reads `action`
        // and writes nothing back (old action pointer is null).
        let rc = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler as usize;
            action.sa_flags = libc::SA_RESETHAND;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut())
        };
        if rc != 0 {
            return Err(SysError::call(
                "sigaction",
                format!("signal {signal}"),
                std::io::Error::last_os_error(),
            ));
        }
    }
    Ok(())
}

/// `strftime(format, localtime(secs))`, at most 512 bytes; None if the time cannot be
/// converted.
pub fn strftime_local(format: &CStr, secs: i64) -> Option<String> {
    let t: libc::time_t = secs;
    // SAFETY: `tm` is a plain C struct for which all-zero bytes are a valid value.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers refer to live, properly aligned values for the whole call;
    // localtime_r writes only into `tm`.
    if unsafe { libc::localtime_r(&t, &mut tm).is_null() } {
        return None;
    }
    let mut buf = vec![0u8; 512];
    // SAFETY: `buf` has `buf.len()` writable bytes, `format` is NUL-terminated and `tm`
    // was filled in by localtime_r; strftime writes at most `buf.len()` bytes.
    let n = unsafe {
        libc::strftime(
            buf.as_mut_ptr().cast::<libc::c_char>(),
            buf.len(),
            format.as_ptr(),
            &tm,
        )
    };
    buf.truncate(n);
    Some(String::from_utf8_lossy(&buf).into_owned())
}
