//! The narrow traits the domain core is written against. The server plugs in sled,
//! the system clock, the OS generator, bcrypt and SMTP; the mock plugs in memory, a
//! manual clock, a seeded generator and an outbox.

use specs::ApiError;
use std::future::Future;
use std::pin::Pin;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An answer that an engine in this process has at once (`now`: no allocation, the
/// store's version is asked for on every authenticated request) and one in another
/// process later (`later`).
pub type Soon<'a, T> = futures_util::future::Either<std::future::Ready<T>, BoxFuture<'a, T>>;

/// An answer [`Soon`] that is ready.
pub fn now<'a, T>(answer: T) -> Soon<'a, T> {
    futures_util::future::Either::Left(std::future::ready(answer))
}

/// An answer [`Soon`] that comes later.
pub fn later<T>(answer: BoxFuture<'_, T>) -> Soon<'_, T> {
    futures_util::future::Either::Right(answer)
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("storage engine: {0}")]
    Engine(String),
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
    /// The transaction met a concurrent one; the engine retries it.
    #[error("transaction conflict")]
    Conflict,
    /// Writing is impossible for now (a full disk, a read-only file system); the
    /// same write can succeed later, without a restart.
    #[error("the store cannot write now: {0}")]
    Unavailable(String),
}

/// Why a transaction's work stopped: the procedure refused (nothing is written) or
/// the storage failed.
#[derive(Debug)]
pub enum Abort {
    Refused(ApiError),
    Store(StoreError),
}

impl From<StoreError> for Abort {
    fn from(e: StoreError) -> Self {
        Abort::Store(e)
    }
}

impl From<ApiError> for Abort {
    fn from(e: ApiError) -> Self {
        Abort::Refused(e)
    }
}

/// Key-value pairs in key order.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// Reads and writes inside one transaction.
pub trait Tx {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    fn insert(&self, key: &[u8], value: Vec<u8>) -> Result<(), StoreError>;
    fn remove(&self, key: &[u8]) -> Result<(), StoreError>;
}

/// An ordered key-value store with atomic multi-key transactions.
pub trait Store: Send + Sync + 'static {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// `get` without holding up the caller's thread, for the reads on every
    /// request's path (authentication): an engine whose data lives in another
    /// process answers when it has read.
    fn get_async(&self, key: &[u8]) -> BoxFuture<'_, Result<Option<Vec<u8>>, StoreError>> {
        Box::pin(std::future::ready(self.get(key)))
    }
    /// The values of `keys`, in their order: one round trip where the data lives
    /// in another process (a login at its account's session bound reads every
    /// session of the account; one read each was 200 round trips).
    fn get_many(&self, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        keys.iter().map(|key| self.get(key)).collect()
    }
    /// Every pair whose key starts with `prefix`, in key order.
    fn scan_prefix(&self, prefix: &[u8]) -> Result<Pairs, StoreError>;
    /// Runs `work` atomically: all of its writes happen or none. The engine may run
    /// `work` more than once (on conflict), so it must only touch the store.
    fn transaction(&self, work: &mut dyn FnMut(&dyn Tx) -> Result<(), Abort>) -> Result<(), Abort>;
    /// Resolves once every write made so far is durable.
    fn flush(&self) -> BoxFuture<'_, Result<(), StoreError>>;
    /// A number that grows whenever what reads see changes (a committed write): two
    /// equal readings mean nothing was written in between. Lets the core keep
    /// decoded records while it holds. An engine that cannot tell (its database
    /// is out of reach) says why. Asynchronous: an engine whose version lives in
    /// another process reads it without holding up the caller's thread.
    fn version(&self) -> Soon<'_, Result<u64, StoreError>>;
    /// Whether other processes read and write it too (several instances on one
    /// database): what each instance would otherwise keep in memory alone, such
    /// as counts of failed guesses, is then kept in the store.
    fn shared(&self) -> bool {
        false
    }
    /// Whether writes can succeed now (readiness); an engine that can fail to write
    /// says why, and recovers here once it can write again.
    fn writable(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

pub trait Random: Send + Sync + 'static {
    fn fill(&self, dest: &mut [u8]);
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("password hashing failed: {0}")]
    Failed(String),
    /// More hashing is queued than can finish in time (503 with `Retry-After`).
    #[error("password hashing is saturated: try again in {retry_after_secs} s")]
    Busy { retry_after_secs: u64 },
}

pub trait PasswordHasher: Send + Sync + 'static {
    /// A bcrypt hash (`$2b$…`) of `password` with this salt. May run on another thread.
    fn hash(
        &self,
        password: String,
        salt: [u8; 16],
    ) -> BoxFuture<'static, Result<String, HashError>>;
    /// Whether `password` matches `hash`; false for a malformed hash.
    fn verify(&self, password: String, hash: String)
        -> BoxFuture<'static, Result<bool, HashError>>;
    /// The cost new hashes are made with.
    fn cost(&self) -> u32;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug, thiserror::Error)]
#[error("mail not sent: {0}")]
pub struct MailError(pub String);

pub trait Mailer: Send + Sync + 'static {
    /// Sends `mail` before the answer: a failure can be answered.
    fn send(&self, mail: Mail) -> BoxFuture<'static, Result<(), MailError>>;

    /// Runs `make` and sends the mail it makes, if any, where the mailer can after the
    /// answer (the SMTP mailer on its own task), so that the answer tells nothing of
    /// whether a mail went. Failures are logged. By default at once, as an outbox
    /// wants, so that what was sent is known when the answer is.
    fn send_later(&self, make: BoxFuture<'static, Option<Mail>>) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Some(mail) = make.await {
                if let Err(error) = self.send(mail).await {
                    tracing::warn!(%error, "email not sent");
                }
            }
        })
    }
}

/// A mailer for self-hosted mode, which sends no email.
pub struct NoMail;

impl Mailer for NoMail {
    fn send(&self, _mail: Mail) -> BoxFuture<'static, Result<(), MailError>> {
        Box::pin(async { Err(MailError("no mail transport is configured".into())) })
    }
}

/// Announcements that must never fail what triggered them (the sign-up webhook).
pub trait Notifier: Send + Sync + 'static {
    /// An admin signed up (cloud mode). Returns at once; delivery happens elsewhere.
    fn admin_signed_up(&self, email: &str, at_ms: i64);
}

/// No announcements.
pub struct NoNotifier;

impl Notifier for NoNotifier {
    fn admin_signed_up(&self, _email: &str, _at_ms: i64) {}
}
