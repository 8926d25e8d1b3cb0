//! Throttling of guesses: failed logins and pins per account from one client address,
//! per account across all addresses (a budget for distributed guessing only, so that
//! one attacking address cannot lock the owner out), and per client address; guesses
//! at invitation, reset and confirmation tokens per address. After a number
//! of free failures, each further one closes the door for an exponentially growing
//! wait (answered 429 with `Retry-After`); a success resets the account's count.

use super::ports::{Store, StoreError};
use specs::ApiError;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

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

#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
struct Count {
    failures: u32,
    last_failure: i64,
    closed_until: i64,
}

/// Bound on remembered subjects; past it, forgotten counts are dropped.
const REMEMBERED: usize = 100_000;

/// Where the counts live.
enum Counts {
    /// In this process: one instance sees every guess.
    Local(Mutex<HashMap<Subject, Count>>),
    /// In the store several instances share: guesses spread over instances count
    /// as on one.
    Shared {
        store: Arc<dyn Store>,
        /// Failures recorded here, to purge forgotten counts now and then.
        recorded: AtomicU64,
    },
}

/// How many recorded failures between two purges of forgotten shared counts.
const PURGE_EVERY: u64 = 1_000;

pub(crate) struct Throttle {
    limits: ThrottleLimits,
    counts: Counts,
}

impl Subject {
    /// The store key of its shared count.
    fn key(&self) -> Vec<u8> {
        let text = match self {
            Subject::AccountFrom(account, Some(address)) => format!("from/{address}/{account}"),
            Subject::AccountFrom(account, None) => format!("from/-/{account}"),
            Subject::Account(account) => format!("account/{account}"),
            Subject::Address(address) => format!("address/{address}"),
            Subject::TokenGuesses(address) => format!("tokens/{address}"),
            Subject::MailRequests(address) => format!("mails/{address}"),
        };
        format!("{SHARED_PREFIX}{text}").into_bytes()
    }
}

const SHARED_PREFIX: &str = "throttle/";

fn lock(
    counts: &Mutex<HashMap<Subject, Count>>,
) -> std::sync::MutexGuard<'_, HashMap<Subject, Count>> {
    // Counts are whole values: a panic elsewhere cannot leave one half-written.
    counts.lock().unwrap_or_else(|p| p.into_inner())
}

/// Removes the shared counts `which` picks (given the count, if it decodes).
/// Best effort: a count left behind is forgotten in time anyway.
fn remove_shared(store: &dyn Store, which: impl Fn(Option<Count>) -> bool) {
    let Ok(pairs) = store.scan_prefix(SHARED_PREFIX.as_bytes()) else {
        return;
    };
    let keys: Vec<Vec<u8>> = pairs
        .into_iter()
        .filter(|(_, v)| which(super::records::decode::<Count>(v).ok()))
        .map(|(k, _)| k)
        .collect();
    let _ = store.transaction(&mut |tx| {
        for key in &keys {
            tx.remove(key)?;
        }
        Ok(())
    });
}

impl Throttle {
    /// Counts kept in this process, or, when `store` is shared by several instances
    /// (`Store::shared`), in it.
    pub fn new(limits: ThrottleLimits, store: &Arc<dyn Store>) -> Throttle {
        let counts = if store.shared() {
            Counts::Shared {
                store: store.clone(),
                recorded: AtomicU64::new(0),
            }
        } else {
            Counts::Local(Mutex::new(HashMap::new()))
        };
        Throttle { limits, counts }
    }

    /// The counts of `subjects` that exist.
    fn read(&self, subjects: &[Subject]) -> Result<Vec<Count>, StoreError> {
        match &self.counts {
            Counts::Local(counts) => {
                let counts = lock(counts);
                Ok(subjects
                    .iter()
                    .filter_map(|s| counts.get(s).copied())
                    .collect())
            }
            Counts::Shared { store, .. } => {
                let mut found = Vec::new();
                for subject in subjects {
                    if let Some(bytes) = store.get(&subject.key())? {
                        found.push(super::records::decode::<Count>(&bytes)?);
                    }
                }
                Ok(found)
            }
        }
    }

    /// The next count of a subject after a failure at `now`.
    fn after_failure(&self, subject: &Subject, mut count: Count, now: i64) -> Count {
        let free = self.free(subject);
        if now - count.last_failure >= self.limits.forget_after_ms {
            count.failures = 0;
        }
        count.failures += 1;
        count.last_failure = now;
        // The `free`-th failure closes the door: the next attempt waits.
        if count.failures >= free {
            let doublings = (count.failures - free).min(30);
            let wait = (self.limits.first_wait_ms << doublings).min(self.limits.longest_wait_ms);
            count.closed_until = now + wait;
        }
        count
    }

    /// Whether a count says nothing any more.
    fn forgotten(&self, count: &Count, now: i64) -> bool {
        count.closed_until <= now && now - count.last_failure >= self.limits.forget_after_ms
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
        let until = self
            .read(subjects)?
            .iter()
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
        match &self.counts {
            Counts::Local(counts) => {
                let mut counts = lock(counts);
                if counts.len() > REMEMBERED {
                    counts.retain(|_, c| !self.forgotten(c, now));
                }
                for subject in subjects {
                    let count = counts.get(subject).copied().unwrap_or_default();
                    counts.insert(subject.clone(), self.after_failure(subject, count, now));
                }
            }
            Counts::Shared { store, recorded } => {
                let counted = store.transaction(&mut |tx| {
                    for subject in subjects {
                        let key = subject.key();
                        let count = match tx.get(&key)? {
                            Some(bytes) => super::records::decode::<Count>(&bytes)?,
                            None => Count::default(),
                        };
                        let next = self.after_failure(subject, count, now);
                        tx.insert(&key, super::records::encode(&next))?;
                    }
                    Ok(())
                });
                if let Err(error) = counted {
                    tracing::warn!(?error, "a failed guess was not counted");
                }
                if recorded.fetch_add(1, Ordering::Relaxed) % PURGE_EVERY == PURGE_EVERY - 1 {
                    self.purge(store.as_ref(), now);
                }
            }
        }
    }

    /// Removes the shared counts that say nothing any more.
    fn purge(&self, store: &dyn Store, now: i64) {
        remove_shared(store, |count| {
            count.is_some_and(|c| self.forgotten(&c, now))
        });
    }

    /// Forgets every count.
    pub fn clear(&self) {
        match &self.counts {
            Counts::Local(counts) => lock(counts).clear(),
            Counts::Shared { store, .. } => remove_shared(store.as_ref(), |_| true),
        }
    }

    /// A success: the account from that address starts again from zero.
    pub fn succeeded(&self, account: &Subject) {
        match &self.counts {
            Counts::Local(counts) => {
                lock(counts).remove(account);
            }
            Counts::Shared { store, .. } => {
                let key = account.key();
                // Most successes follow no failure: nothing to write then.
                if matches!(store.get(&key), Ok(None)) {
                    return;
                }
                if let Err(error) = store.transaction(&mut |tx| Ok(tx.remove(&key)?)) {
                    tracing::warn!(?error, "a success did not clear its count");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> Arc<dyn Store> {
        Arc::new(crate::storage::MemoryStore::new())
    }

    #[test]
    fn waits_grow_after_the_free_failures() {
        let throttle = Throttle::new(ThrottleLimits::default(), &local());
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
        let throttle = Throttle::new(limits, &local());
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
