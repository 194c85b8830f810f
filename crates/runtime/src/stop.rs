//! [`StopFlag`]: how Ctrl-C and SIGTERM reach the event loop.
//!
//! The signal handler only stores `true` into a static `AtomicBool` — the one thing that is
//! async-signal-safe to do there. The event loop polls with a short timeout and checks the
//! flag, so a signal never interrupts a half-written line or leaves probes attached: the
//! loop returns and the normal teardown (detach, END, print maps) runs. nix's `sigaction`
//! is used rather than `signal-hook` because we need exactly this one flag and nix is
//! already a dependency. The handler is installed with `SA_RESETHAND`, so a second Ctrl-C
//! while teardown is running kills the process the usual way; FD-based links make even that
//! leave nothing attached.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};

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
        let action = SigAction::new(
            SigHandler::Handler(on_signal),
            // No SA_RESTART: poll(2) must return EINTR so the loop sees the flag at once.
            SaFlags::SA_RESETHAND,
            SigSet::empty(),
        );
        for signal in [Signal::SIGINT, Signal::SIGTERM] {
            // SAFETY: the handler only performs an atomic store to a static, which is
            // async-signal-safe; it touches no locks, allocation or other shared state.
            unsafe { sigaction(signal, &action) }.map_err(|e| RuntimeError::Sys {
                call: "sigaction",
                source: std::io::Error::from(e),
            })?;
        }
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
