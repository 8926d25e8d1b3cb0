//! The mock's clock: it moves only when told (the control plane's `/__mock/clock`),
//! so that expiry, sliding sessions and TOTP pins are reproducible.

use server::core::ports::Clock;
use std::sync::atomic::{AtomicI64, Ordering};

/// A clock that moves only when told.
///
/// ```
/// use server::core::ports::Clock;
/// let clock = mock::ManualClock::new(1_000);
/// assert_eq!(clock.advance(500), 1_500);
/// clock.set(42);
/// assert_eq!(clock.now_ms(), 42);
/// ```
#[derive(Debug)]
pub struct ManualClock {
    now_ms: AtomicI64,
}

impl ManualClock {
    pub fn new(start_ms: i64) -> ManualClock {
        ManualClock {
            now_ms: AtomicI64::new(start_ms),
        }
    }

    pub fn set(&self, ms: i64) {
        self.now_ms.store(ms, Ordering::SeqCst);
    }

    /// Moves the clock by `ms` and returns the new time.
    pub fn advance(&self, ms: i64) -> i64 {
        self.now_ms.fetch_add(ms, Ordering::SeqCst) + ms
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now_ms.load(Ordering::SeqCst)
    }
}
