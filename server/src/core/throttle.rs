//! Throttling of guesses: failed logins and pins per account from one client address,
//! per account across all addresses (a budget for distributed guessing only, so that
//! one attacking address cannot lock the owner out), and per client address; guesses
//! at invitation, reset and confirmation tokens per address. After a number
//! of free failures, each further one closes the door for an exponentially growing
//! wait (answered 429 with `Retry-After`); a success resets the account's count.

use specs::ApiError;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleLimits {
    /// Failed attempts at one account from one client address before the next one
    /// from that address must wait.
    pub free_per_account: u32,
    /// Failed attempts at one account from all addresses together before every next
    /// one must wait (higher: only guessing spread over many addresses reaches it).
    pub free_per_account_total: u32,
    /// Failed attempts a client address may make before the next one must wait
    /// (higher: many people can share one address).
    pub free_per_address: u32,
    /// The first wait, doubled at each further failure …
    pub first_wait_ms: i64,
    /// … up to this.
    pub longest_wait_ms: i64,
    /// A count with no failure for this long starts again from zero.
    pub forget_after_ms: i64,
}

impl Default for ThrottleLimits {
    fn default() -> Self {
        ThrottleLimits {
            free_per_account: 5,
            free_per_account_total: 100,
            free_per_address: 20,
            first_wait_ms: 1_000,
            longest_wait_ms: 15 * 60_000,
            forget_after_ms: 15 * 60_000,
        }
    }
}

/// What is counted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Subject {
    /// An account (by lowercased email or id) from one client address.
    AccountFrom(String, Option<IpAddr>),
    /// An account from every address together.
    Account(String),
    /// A client address guessing passwords or pins.
    Address(IpAddr),
    /// A client address guessing tokens (invitation, reset, confirmation).
    TokenGuesses(IpAddr),
    /// A client address asking for mails (sign-up, reset): every request counts.
    MailRequests(IpAddr),
}

#[derive(Debug, Clone, Copy, Default)]
struct Count {
    failures: u32,
    last_failure: i64,
    closed_until: i64,
}

/// Bound on remembered subjects; past it, forgotten counts are dropped.
const REMEMBERED: usize = 100_000;

pub(crate) struct Throttle {
    limits: ThrottleLimits,
    counts: Mutex<HashMap<Subject, Count>>,
}

impl Throttle {
    pub fn new(limits: ThrottleLimits) -> Throttle {
        Throttle {
            limits,
            counts: Mutex::new(HashMap::new()),
        }
    }

    fn free(&self, subject: &Subject) -> u32 {
        match subject {
            Subject::AccountFrom(..) => self.limits.free_per_account,
            Subject::Account(_) => self.limits.free_per_account_total,
            Subject::Address(_) | Subject::TokenGuesses(_) | Subject::MailRequests(_) => {
                self.limits.free_per_address
            }
        }
    }

    /// 429 when any of `subjects` must wait.
    pub fn check(&self, subjects: &[Subject], now: i64) -> Result<(), ApiError> {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let until = subjects
            .iter()
            .filter_map(|s| counts.get(s))
            .map(|c| c.closed_until)
            .max()
            .unwrap_or(0);
        if until > now {
            let secs = (until - now + 999) / 1000;
            return Err(ApiError::too_many_requests(secs as u64));
        }
        Ok(())
    }

    pub fn failed(&self, subjects: &[Subject], now: i64) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if counts.len() > REMEMBERED {
            let forget = self.limits.forget_after_ms;
            counts.retain(|_, c| c.closed_until > now || now - c.last_failure < forget);
        }
        for subject in subjects {
            let free = self.free(subject);
            let count = counts.entry(subject.clone()).or_default();
            if now - count.last_failure >= self.limits.forget_after_ms {
                count.failures = 0;
            }
            count.failures += 1;
            count.last_failure = now;
            // The `free`-th failure closes the door: the next attempt waits.
            if count.failures >= free {
                let doublings = (count.failures - free).min(30);
                let wait =
                    (self.limits.first_wait_ms << doublings).min(self.limits.longest_wait_ms);
                count.closed_until = now + wait;
            }
        }
    }

    /// Forgets every count.
    pub fn clear(&self) {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// A success: the account from that address starts again from zero.
    pub fn succeeded(&self, account: &Subject) {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(account);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_after_the_free_failures() {
        let throttle = Throttle::new(ThrottleLimits::default());
        let who = [Subject::AccountFrom("a@b.co".into(), None)];
        for _ in 0..4 {
            throttle.failed(&who, 0);
        }
        assert!(
            throttle.check(&who, 0).is_ok(),
            "the fifth attempt may be made"
        );
        throttle.failed(&who, 0); // the fifth failure: the sixth attempt waits
        assert_eq!(
            throttle.check(&who, 0).unwrap_err().retry_after_secs,
            Some(1)
        );
        throttle.failed(&who, 1000);
        assert_eq!(
            throttle.check(&who, 1000).unwrap_err().retry_after_secs,
            Some(2)
        );
        throttle.failed(&who, 3000);
        assert_eq!(
            throttle.check(&who, 3000).unwrap_err().retry_after_secs,
            Some(4)
        );
        assert!(throttle.check(&who, 7000).is_ok());
        throttle.succeeded(&who[0]);
        throttle.failed(&who, 7000);
        assert!(throttle.check(&who, 7000).is_ok(), "a success starts again");
        assert!(throttle
            .check(&[Subject::AccountFrom("other@b.co".into(), None)], 0)
            .is_ok());
    }

    #[test]
    fn one_address_cannot_close_an_account_for_the_others() {
        let limits = ThrottleLimits {
            free_per_account_total: 8,
            ..ThrottleLimits::default()
        };
        let throttle = Throttle::new(limits);
        let from = |n: u8| {
            let address = Some(IpAddr::from([198, 51, 100, n]));
            [
                Subject::AccountFrom("a@b.co".into(), address),
                Subject::Account("a@b.co".into()),
            ]
        };
        for _ in 0..5 {
            throttle.failed(&from(1), 0);
        }
        assert!(
            throttle.check(&from(1), 0).is_err(),
            "the guessing address waits"
        );
        assert!(
            throttle.check(&from(2), 0).is_ok(),
            "the owner elsewhere does not"
        );
        // Spread over addresses, the account's own budget runs out for everyone.
        for n in 2..5 {
            throttle.failed(&from(n), 0);
        }
        assert!(throttle.check(&from(9), 0).is_err());
    }
}
