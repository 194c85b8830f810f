//! [`StopFlag`]: how Ctrl-C and SIGTERM reach the event loop.
//!
//! The signal handler only stores `true` into a static `AtomicBool` — the one thing that is
//! async-signal-safe to do there. The event loop polls with a short timeout and checks the
//! flag, so a signal never interrupts a half-written line or leaves probes attached: the
//! loop returns and the normal teardown (detach, END, print maps) runs. kestrel-sys installs
//! the handler (the one crate with `unsafe`). The handler is installed with `SA_RESETHAND`, so a second Ctrl-C
//! while teardown is running kills the process the usual way; FD-based links make even that
//! leave nothing attached.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::RuntimeError;

/// Set by the SIGINT/SIGTERM handler.
static SIGNALLED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    SIGNALLED.store(true, Ordering::SeqCst);
}

/// A request to stop the event loop, set by a signal or by [`StopFlag::stop`].
///
/// Clones share the same flag.
#[derive(Clone, Debug, Default)]
pub struct StopFlag {
    local: Arc<AtomicBool>,
    signals: bool,
}

impl StopFlag {
    /// A flag set only by [`StopFlag::stop`] (tests, timeouts, other threads).
    pub fn new() -> StopFlag {
        StopFlag::default()
    }

    /// A flag that SIGINT and SIGTERM also set. Installs the process-wide handlers.
    pub fn install() -> Result<StopFlag, RuntimeError> {
        kestrel_sys::os::install_signal_handler(&[libc::SIGINT, libc::SIGTERM], on_signal)
            .map_err(|e| RuntimeError::Sys {
                call: "sigaction",
                source: std::io::Error::other(e),
            })?;
        Ok(StopFlag {
            local: Arc::new(AtomicBool::new(false)),
            signals: true,
        })
    }

    /// Requests a stop.
    pub fn stop(&self) {
        self.local.store(true, Ordering::SeqCst);
    }

    /// True once a stop was requested (or, for [`StopFlag::install`], a signal arrived).
    pub fn is_set(&self) -> bool {
        self.local.load(Ordering::SeqCst) || (self.signals && SIGNALLED.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_flag() {
        let a = StopFlag::new();
        let b = a.clone();
        assert!(!b.is_set());
        a.stop();
        assert!(b.is_set());
    }
}
