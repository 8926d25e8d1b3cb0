//! Throttling of guesses: failed logins and pins per account from one client address,
//! per account across all addresses (a budget for distributed guessing only, so that
//! one attacking address cannot lock the owner out), and per client address; guesses
//! at invitation, reset and confirmation tokens per address. After a number
//! of free failures, each further one closes the door for an exponentially growing
//! wait (answered 429 with `Retry-After`); a success resets the account's count.

use super::ports::{Abort, Store, StoreError};
use specs::{ApiError, ErrorCode};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};
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
    /// An IPv6 client counts by this prefix (`net::bucket`).
    pub ipv6_prefix: u8,
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
            ipv6_prefix: crate::net::DEFAULT_IPV6_PREFIX,
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

/// Subjects remembered in this process, at most: two generations of half as many.
const REMEMBERED: usize = 100_000;

/// Counts in this process, in two generations: a subject is counted in the current
/// one; when it is full, it becomes the previous one and the one before is dropped.
/// Memory stays bounded, each operation is O(1) (a rotation frees a generation once
/// per `REMEMBERED / 2` new subjects), and what is forgotten first is what no
/// failure touched for longest, even when many addresses guess at once.
#[derive(Default)]
struct Generations {
    current: HashMap<Subject, Count>,
    previous: HashMap<Subject, Count>,
}

impl Generations {
    fn get(&self, subject: &Subject) -> Option<Count> {
        self.current
            .get(subject)
            .or_else(|| self.previous.get(subject))
            .copied()
    }

    fn put(&mut self, subject: Subject, count: Count) {
        self.previous.remove(&subject);
        if self.current.len() >= REMEMBERED / 2 && !self.current.contains_key(&subject) {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(subject, count);
    }

    fn remove(&mut self, subject: &Subject) {
        self.current.remove(subject);
        self.previous.remove(subject);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }
}

/// Where the counts live.
enum Counts {
    /// In this process: one instance sees every guess.
    Local(Mutex<Generations>),
    /// In the store several instances share: guesses spread over instances count
    /// as on one.
    Shared {
        store: Arc<dyn Store>,
        /// When forgotten counts were last purged (ms, the clock's).
        purged_at: AtomicI64,
        /// Failures the store did not take (subjects as counted, when): written
        /// before any other guess is let through (`check`), so that no guess is
        /// ever verified while an earlier failure is uncounted.
        owed: Mutex<Vec<(Vec<Subject>, i64)>>,
    },
}

/// Most failures owed to the store; past it the oldest are forgotten (every guess
/// meanwhile is refused with 503 anyway, since the owed ones cannot be written).
const MAX_OWED: usize = 10_000;

/// How often forgotten shared counts are purged, at most (checked on each failure).
const PURGE_EVERY_MS: i64 = 60_000;

pub(crate) struct Throttle {
    limits: ThrottleLimits,
    counts: Counts,
}

impl Subject {
    /// The subject as counted: its address by `net::bucket`.
    fn counted(&self, v6_prefix: u8) -> Subject {
        let bucket = |ip: &IpAddr| crate::net::bucket(*ip, v6_prefix);
        match self {
            Subject::AccountFrom(account, ip) => {
                Subject::AccountFrom(account.clone(), ip.as_ref().map(bucket))
            }
            Subject::Account(account) => Subject::Account(account.clone()),
            Subject::Address(ip) => Subject::Address(bucket(ip)),
            Subject::TokenGuesses(ip) => Subject::TokenGuesses(bucket(ip)),
            Subject::MailRequests(ip) => Subject::MailRequests(bucket(ip)),
        }
    }

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

/// The answer to a guess while failures cannot be counted.
fn cannot_count() -> ApiError {
    ApiError::new(
        ErrorCode::ServiceUnavailable,
        specs::messages::STORE_UNAVAILABLE,
    )
}

fn lock_owed(
    owed: &Mutex<Vec<(Vec<Subject>, i64)>>,
) -> std::sync::MutexGuard<'_, Vec<(Vec<Subject>, i64)>> {
    owed.lock().unwrap_or_else(|p| p.into_inner())
}

fn lock(counts: &Mutex<Generations>) -> std::sync::MutexGuard<'_, Generations> {
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
                purged_at: AtomicI64::new(0),
                owed: Mutex::new(Vec::new()),
            }
        } else {
            Counts::Local(Mutex::new(Generations::default()))
        };
        Throttle { limits, counts }
    }

    /// The counts of `subjects` that exist.
    fn read(&self, subjects: &[Subject]) -> Result<Vec<Count>, StoreError> {
        match &self.counts {
            Counts::Local(counts) => {
                let counts = lock(counts);
                Ok(subjects.iter().filter_map(|s| counts.get(s)).collect())
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

    /// The subjects as counted (IPv6 addresses by prefix).
    fn counted(&self, subjects: &[Subject]) -> Vec<Subject> {
        let prefix = self.limits.ipv6_prefix;
        subjects.iter().map(|s| s.counted(prefix)).collect()
    }

    /// 429 when any of `subjects` must wait; 503 while failures owed to the store
    /// cannot be written (the guess is then not verified).
    pub fn check(&self, subjects: &[Subject], now: i64) -> Result<(), ApiError> {
        if let Counts::Shared { store, owed, .. } = &self.counts {
            self.settle(store.as_ref(), owed, None)
                .map_err(|_| cannot_count())?;
        }
        let until = self
            .read(&self.counted(subjects))?
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

    /// Counts a failure of `subjects` at `now`. An error when the store did not
    /// take it: it is then owed, written before the next guess is verified, and the
    /// caller answers 503 instead of what the guess earned.
    pub fn failed(&self, subjects: &[Subject], now: i64) -> Result<(), ApiError> {
        let subjects = self.counted(subjects);
        match &self.counts {
            Counts::Local(counts) => {
                let mut counts = lock(counts);
                for subject in subjects {
                    let count = counts.get(&subject).unwrap_or_default();
                    let next = self.after_failure(&subject, count, now);
                    counts.put(subject, next);
                }
            }
            Counts::Shared {
                store,
                purged_at,
                owed,
            } => {
                if let Err(error) = self.settle(store.as_ref(), owed, Some((subjects, now))) {
                    tracing::warn!(
                        ?error,
                        "a failed guess could not be counted yet: it is answered 503, and \
                         guesses wait (503) until it is"
                    );
                    return Err(cannot_count());
                }
                let last = purged_at.load(Ordering::Relaxed);
                let due = now - last >= PURGE_EVERY_MS;
                // One instance's one request purges; the others go on.
                if due
                    && purged_at
                        .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                {
                    self.purge(store.as_ref(), now);
                }
            }
        }
        Ok(())
    }

    /// Writes the owed failures and `failure`, in one transaction; they are owed if
    /// it fails. The lock is held only to take them and to put them back: failures
    /// on one instance are written side by side, as before anything was owed.
    fn settle(
        &self,
        store: &dyn Store,
        owed: &Mutex<Vec<(Vec<Subject>, i64)>>,
        failure: Option<(Vec<Subject>, i64)>,
    ) -> Result<(), Abort> {
        let mut batch = std::mem::take(&mut *lock_owed(owed));
        batch.extend(failure);
        if batch.is_empty() {
            return Ok(());
        }
        let written = store.transaction(&mut |tx| {
            for (subjects, at) in &batch {
                for subject in subjects {
                    let key = subject.key();
                    let count = match tx.get(&key)? {
                        Some(bytes) => super::records::decode::<Count>(&bytes)?,
                        None => Count::default(),
                    };
                    let next = self.after_failure(subject, count, *at);
                    tx.insert(&key, super::records::encode(&next))?;
                }
            }
            Ok(())
        });
        if written.is_err() {
            let mut owed = lock_owed(owed);
            owed.extend(batch);
            let excess = owed.len().saturating_sub(MAX_OWED);
            owed.drain(..excess);
        }
        written
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
            Counts::Local(counts) => *lock(counts) = Generations::default(),
            Counts::Shared { store, .. } => remove_shared(store.as_ref(), |_| true),
        }
    }

    /// A success: the account from that address starts again from zero.
    pub fn succeeded(&self, account: &Subject) {
        let account = &account.counted(self.limits.ipv6_prefix);
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
            throttle.failed(&who, 0).unwrap();
        }
        assert!(
            throttle.check(&who, 0).is_ok(),
            "the fifth attempt may be made"
        );
        throttle.failed(&who, 0).unwrap(); // the fifth failure: the sixth attempt waits
        assert_eq!(
            throttle.check(&who, 0).unwrap_err().retry_after_secs,
            Some(1)
        );
        throttle.failed(&who, 1000).unwrap();
        assert_eq!(
            throttle.check(&who, 1000).unwrap_err().retry_after_secs,
            Some(2)
        );
        throttle.failed(&who, 3000).unwrap();
        assert_eq!(
            throttle.check(&who, 3000).unwrap_err().retry_after_secs,
            Some(4)
        );
        assert!(throttle.check(&who, 7000).is_ok());
        throttle.succeeded(&who[0]);
        throttle.failed(&who, 7000).unwrap();
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
            throttle.failed(&from(1), 0).unwrap();
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
            throttle.failed(&from(n), 0).unwrap();
        }
        assert!(throttle.check(&from(9), 0).is_err());
    }

    #[test]
    fn an_ipv6_client_counts_by_its_prefix() {
        let throttle = Throttle::new(ThrottleLimits::default(), &local());
        let from = |address: &str| [Subject::Address(address.parse().unwrap())];
        // Twenty addresses of one /64, each guessing once, are one client.
        for n in 1..=20 {
            throttle
                .failed(&from(&format!("2001:db8:1:2::{n:x}")), 0)
                .unwrap();
        }
        assert!(throttle.check(&from("2001:db8:1:2::ffff"), 0).is_err());
        assert!(
            throttle.check(&from("2001:db8:1:3::1"), 0).is_ok(),
            "another /64"
        );
        // An IPv4-mapped address is the IPv4 one.
        for _ in 0..20 {
            throttle.failed(&from("::ffff:192.0.2.1"), 0).unwrap();
        }
        assert!(throttle.check(&from("192.0.2.1"), 0).is_err());
    }

    #[test]
    fn memory_stays_bounded_and_recent_doors_stay_closed() {
        let throttle = Throttle::new(ThrottleLimits::default(), &local());
        let target = [Subject::AccountFrom("a@b.co".into(), None)];
        for n in 0..300_000u32 {
            let address = IpAddr::from(n.to_be_bytes());
            throttle.failed(&[Subject::Address(address)], 0).unwrap();
            if n == 250_000 {
                for _ in 0..5 {
                    throttle.failed(&target, 0).unwrap();
                }
            }
        }
        let Counts::Local(counts) = &throttle.counts else {
            unreachable!("a local store")
        };
        assert!(lock(counts).len() <= REMEMBERED);
        assert!(
            throttle.check(&target, 0).is_err(),
            "closed 50,000 subjects ago"
        );
    }
}
