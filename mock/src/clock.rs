//! The mock's clock: by default it moves only when told (the control plane's
//! `/__mock/clock`), so that expiry, sliding sessions and TOTP pins are
//! reproducible. It can also follow real time (`--clock real`, or
//! `{"follow": "real"}`), so that a phone's authenticator app gives pins the mock
//! accepts; set and advance then shift it from real time.

use server::core::ports::Clock;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

/// A clock that moves only when told, or follows real time with an offset.
///
/// ```
/// use server::core::ports::Clock;
/// let clock = mock::ManualClock::new(1_000);
/// assert_eq!(clock.advance(500), 1_500);
/// clock.set(42);
/// assert_eq!(clock.now_ms(), 42);
/// assert!(!clock.follows_real_time());
/// ```
#[derive(Debug)]
pub struct ManualClock {
    /// The time itself (manual), or what is added to real time (following).
    value_ms: AtomicI64,
    following: AtomicBool,
}

fn real_ms() -> i64 {
    server::time::SystemClock.now_ms()
}

impl ManualClock {
    pub fn new(start_ms: i64) -> ManualClock {
        ManualClock {
            value_ms: AtomicI64::new(start_ms),
            following: AtomicBool::new(false),
        }
    }

    pub fn set(&self, ms: i64) {
        let base = if self.follows_real_time() {
            real_ms()
        } else {
            0
        };
        self.value_ms.store(ms - base, Ordering::SeqCst);
    }

    /// Moves the clock by `ms` and returns the new time.
    pub fn advance(&self, ms: i64) -> i64 {
        self.value_ms.fetch_add(ms, Ordering::SeqCst);
        self.now_ms()
    }

    /// From now on, the clock is real time (no offset).
    ///
    /// ```
    /// use server::core::ports::Clock;
    /// let clock = mock::ManualClock::new(0);
    /// clock.follow_real_time();
    /// let real = std::time::SystemTime::now()
    ///     .duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    /// assert!((clock.now_ms() - real).abs() < 5_000);
    /// clock.advance(60_000);
    /// assert!(clock.now_ms() - real >= 60_000);
    /// clock.stop();
    /// let stopped = clock.now_ms();
    /// std::thread::sleep(std::time::Duration::from_millis(5));
    /// assert_eq!(clock.now_ms(), stopped);
    /// ```
    pub fn follow_real_time(&self) {
        self.value_ms.store(0, Ordering::SeqCst);
        self.following.store(true, Ordering::SeqCst);
    }

    /// Stops the clock where it is: it moves only when told again.
    pub fn stop(&self) {
        let now = self.now_ms();
        self.following.store(false, Ordering::SeqCst);
        self.value_ms.store(now, Ordering::SeqCst);
    }

    pub fn follows_real_time(&self) -> bool {
        self.following.load(Ordering::SeqCst)
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        let value = self.value_ms.load(Ordering::SeqCst);
        if self.following.load(Ordering::Relaxed) {
            real_ms() + value
        } else {
            value
        }
    }
}
