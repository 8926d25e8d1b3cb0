//! The domain core: every procedure of the contract, written against the narrow
//! traits of `ports`. No HTTP and no storage engine in here, so the server and the
//! mock run the very same code.
//!
//! Each procedure is a type from `specs::procedures` (its name, kind, access, input
//! and output); its `Handler` lives in the module of its subject. `Core::call`
//! dispatches with an exhaustive `match` on `specs::Id`, so a procedure without a
//! handler does not build.

pub mod audit;
pub mod ports;
pub mod records;

mod accounts;
mod auth_cache;
mod cloud;
#[cfg(feature = "fixtures")]
mod fixtures;
mod handler;
mod invitations;
mod sessions;
pub mod throttle;
mod two_factor;

pub use accounts::AccountSummary;
#[cfg(feature = "fixtures")]
pub use fixtures::{AccountFixture, Fixtures, Pin, Pins};
pub use handler::{handler_exists, Admin, Answer, Answered, Caller, Handler, JsonText, Request};
pub use sessions::{CookieChange, Credentials};

use accounts::{Accounts, Passwords};
use cloud::Cloud;
use invitations::Invitations;
use ports::{Abort, Clock, Mailer, Notifier, PasswordHasher, Random, Store, StoreError, Tx};
use serde_json::Value;
use sessions::Sessions;
use specs::{ApiError, ErrorCode, Procedure};
use std::sync::Arc;
use two_factor::TwoFactor;

/// Self-hosted (one admin, Dokploy's default) or cloud (sign-up, email confirmation,
/// password reset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    SelfHosted,
    Cloud,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub mode: Mode,
    /// Where links in emails point, e.g. `https://dokploy.example.com`.
    pub public_url: String,
    /// Adds `Secure` to the session cookie (the HTTP layer renders it).
    pub cookie_secure: bool,
    /// Limits on failed guesses; `None` turns throttling off (the mock's default).
    pub throttle: Option<throttle::ThrottleLimits>,
    /// The contract, or Dokploy v0.14's behaviour where the contract differs (only
    /// the mock offers the latter: `--profile dokploy-0.14`).
    pub profile: specs::Profile,
    /// Live cookie sessions one account may have; a new login ends the oldest past it.
    pub max_sessions_per_account: usize,
}

/// The default of `Config::max_sessions_per_account`.
pub const MAX_SESSIONS_PER_ACCOUNT: usize = 100;

impl Default for Config {
    fn default() -> Self {
        Config {
            mode: Mode::SelfHosted,
            public_url: "http://localhost:3000".to_string(),
            cookie_secure: false,
            throttle: Some(throttle::ThrottleLimits::default()),
            profile: specs::Profile::Contract,
            max_sessions_per_account: MAX_SESSIONS_PER_ACCOUNT,
        }
    }
}

/// The parts the core runs on.
#[derive(Clone)]
pub struct Deps {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub random: Arc<dyn Random>,
    pub hasher: Arc<dyn PasswordHasher>,
    pub mailer: Arc<dyn Mailer>,
    pub notifier: Arc<dyn Notifier>,
}

/// One call of a procedure, whatever the transport.
pub struct Call {
    pub procedure: &'static Procedure,
    /// The raw input (`None` is JavaScript's `undefined`); validated here.
    pub input: Option<Value>,
    pub credentials: Credentials,
    /// The client's address, for throttling (`None`: not known).
    pub client: Option<std::net::IpAddr>,
    /// The `User-Agent` header, kept with a session the call makes.
    pub user_agent: Option<String>,
}

/// What a call answers: the output as JSON text (`Ok(None)` is "no output") and
/// what to do to the session cookie, if anything.
#[derive(Debug)]
pub struct Reply {
    pub result: Result<Option<JsonText>, ApiError>,
    pub cookie: Option<CookieChange>,
}

/// The store, the clock and the generator: what every subject reads and writes
/// through.
#[derive(Clone)]
pub(crate) struct Ports {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    random: Arc<dyn Random>,
}

impl Ports {
    fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    fn store(&self) -> &dyn Store {
        &*self.store
    }

    fn random(&self) -> &dyn Random {
        &*self.random
    }

    /// Runs `work` as one transaction and maps its failures to contract errors.
    fn transaction<T>(
        &self,
        mut work: impl FnMut(&dyn Tx) -> Result<T, Abort>,
    ) -> Result<T, ApiError> {
        let mut out = None;
        let result = self.store.transaction(&mut |tx| {
            out = Some(work(tx)?);
            Ok(())
        });
        match (result, out) {
            (Ok(()), Some(out)) => Ok(out),
            (Ok(()), None) => Err(internal("a committed transaction did not run its work")),
            (Err(Abort::Refused(e)), _) => Err(e),
            (Err(Abort::Store(e)), _) => Err(e.into()),
        }
    }
}

/// The core: one small service per subject, each holding the ports it needs.
pub struct Core {
    ports: Ports,
    config: Config,
    sessions: Sessions,
    accounts: Accounts,
    two_factor: TwoFactor,
    invitations: Invitations,
    /// Chosen once, at start: `Some` in cloud mode only.
    cloud: Option<Cloud>,
    throttle: Option<throttle::Throttle>,
    /// Where security events go.
    audit: Arc<dyn audit::Audit>,
}

/// The message of every internal error on the wire; details go to the log.
const INTERNAL: &str = "Internal server error";

pub(crate) fn internal(error: impl std::fmt::Display) -> ApiError {
    tracing::error!(%error, "internal error");
    ApiError::new(ErrorCode::InternalServerError, INTERNAL)
}

impl From<ports::HashError> for ApiError {
    fn from(e: ports::HashError) -> Self {
        match e {
            // Too many logins at once: refused at once rather than timed out later.
            ports::HashError::Busy { retry_after_secs } => ApiError {
                retry_after_secs: Some(retry_after_secs),
                ..ApiError::new(ErrorCode::ServiceUnavailable, specs::messages::HASHING_BUSY)
            },
            other => internal(other),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            // Not the server's fault, and over once the disk has room: try again.
            StoreError::Unavailable(why) => {
                tracing::warn!(%why, "a write was refused: the store cannot write now");
                ApiError::new(
                    ErrorCode::ServiceUnavailable,
                    specs::messages::STORE_UNAVAILABLE,
                )
            }
            other => internal(other),
        }
    }
}

/// Why a core could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Hash(#[from] ports::HashError),
    #[error("listing the sessions stored before sessions were listed: {0}")]
    SessionIndex(ApiError),
}

impl Core {
    pub async fn new(deps: Deps, config: Config) -> Result<Core, StartError> {
        let dummy_hash = Passwords::make_dummy_hash(&*deps.hasher).await?;
        let core = Core::with_dummy_hash(deps, config, dummy_hash);
        core.sessions
            .index_existing()
            .map_err(StartError::SessionIndex)?;
        Ok(core)
    }

    /// A core with a given dummy hash, skipping the hash `new` makes (for tests
    /// whose hasher never answers).
    pub fn with_dummy_hash(deps: Deps, config: Config, dummy_hash: String) -> Core {
        let ports = Ports {
            store: deps.store,
            clock: deps.clock,
            random: deps.random,
        };
        let passwords = Passwords::new(
            deps.hasher,
            ports.random.clone(),
            dummy_hash,
            config.profile,
        );
        let cloud = (config.mode == Mode::Cloud).then(|| {
            Cloud::new(
                ports.clone(),
                deps.mailer,
                deps.notifier,
                config.public_url.clone(),
            )
        });
        Core {
            sessions: Sessions::new(ports.clone(), &config),
            accounts: Accounts::new(ports.clone(), passwords, config.profile),
            two_factor: TwoFactor::new(ports.clone()),
            invitations: Invitations::new(ports.clone()),
            cloud,
            throttle: config
                .throttle
                .clone()
                .map(|limits| throttle::Throttle::new(limits, &ports.store)),
            audit: Arc::new(audit::NoAudit),
            ports,
            config,
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Removes every expired session: the binary runs it on a schedule, so that
    /// sessions nobody presents again do not pile up. How many.
    pub fn sweep_expired_sessions(&self) -> Result<u64, ApiError> {
        self.sessions.sweep_expired()
    }

    /// Forgets what is kept in memory beside the store: counts of failed guesses
    /// and requests, cached sessions and when each was last seen (the mock's reset,
    /// after which the same seed makes the same session ids).
    pub fn forget_memory(&self) {
        if let Some(throttle) = &self.throttle {
            throttle.clear();
        }
        self.sessions.forget_cache();
    }

    /// Answers one call: authenticates, checks access, validates the input, runs the
    /// procedure, and makes a mutation's writes durable before answering.
    // Not an `async fn`: its future would keep `call` twice (as it was given and as
    // a local), and copy it from one to the other when first polled.
    #[allow(clippy::manual_async_fn)]
    pub fn call(&self, call: Call) -> impl std::future::Future<Output = Reply> + Send + '_ {
        async move {
            let (caller, refreshed) = match self.sessions.authenticate(&call.credentials).await {
                Ok(found) => found,
                Err(e) => {
                    return Reply {
                        result: Err(e),
                        cookie: None,
                    }
                }
            };
            let request = Request {
                credentials: &call.credentials,
                client: call.client,
                user_agent: call.user_agent.as_deref(),
            };
            let (result, changed) = match handler::dispatch(
                self,
                call.procedure,
                caller.as_ref(),
                call.input.as_ref(),
                &request,
            )
            .await
            {
                Ok((json, change)) => (self.durable(call.procedure, json).await, change),
                Err(e) => (Err(e), None),
            };
            Reply {
                result,
                cookie: changed.or(refreshed),
            }
        }
    }

    /// Whether `credentials` name a live session (Dokploy's REST gate asks). Slides
    /// nothing: the call behind the gate does, and sends the cookie.
    pub async fn authenticates(&self, credentials: &Credentials) -> bool {
        let Ok(version) = self.ports.store().version().await else {
            return false;
        };
        for id in [&credentials.bearer, &credentials.cookie]
            .into_iter()
            .flatten()
        {
            if let Ok(Some(_)) = self.sessions.live_session(id, version).await {
                return true;
            }
        }
        false
    }

    /// The caller's record as a change of it answers: as it is after (the
    /// contract), or as it was before (Dokploy, difference 6).
    fn view_changed(&self, caller: &Caller, after: &records::Account) -> specs::wire::AuthView {
        match self.config.profile {
            specs::Profile::Contract => self.accounts.view_own(after),
            specs::Profile::Dokploy014 => self.accounts.view_own(caller.account()),
        }
    }

    /// Whether the store can write now (`GET /ready`): 503 while it cannot, saying why.
    pub fn ready(&self) -> Result<(), ApiError> {
        self.ports.store().writable().map_err(|e| match e {
            StoreError::Unavailable(why) => ApiError::new(
                ErrorCode::ServiceUnavailable,
                format!("{} ({why})", specs::messages::STORE_UNAVAILABLE),
            ),
            other => other.into(),
        })
    }

    /// A mutation answers only once its writes are durable.
    async fn durable(
        &self,
        procedure: &Procedure,
        json: Option<JsonText>,
    ) -> Result<Option<JsonText>, ApiError> {
        if procedure.kind == specs::Kind::Mutation {
            self.ports.store().flush().await?;
        }
        Ok(json)
    }

    /// Cloud mode's service, or the contract's 404 in self-hosted mode.
    fn cloud(&self) -> Result<&Cloud, ApiError> {
        self.cloud.as_ref().ok_or_else(cloud::cloud_only)
    }
}

use audit::{AuditEvent, AuditKind};
use throttle::Subject;

/// Security events (`audit.rs`).
impl Core {
    /// Sends security events to `audit` (default: nowhere).
    pub fn with_audit(mut self, audit: Arc<dyn audit::Audit>) -> Core {
        self.audit = audit;
        self
    }

    /// Records `kind` about `account`, from `request`'s client.
    fn audit(&self, kind: AuditKind, account: Option<&str>, request: &Request<'_>) {
        self.record(AuditEvent {
            account,
            client: request.client,
            ..self.event_now(kind)
        });
    }

    /// Records `kind` about `account`, done by another account `by` (an admin).
    fn audit_by(&self, kind: AuditKind, account: &str, by: &str, request: &Request<'_>) {
        self.record(AuditEvent {
            account: Some(account),
            by: Some(by),
            client: request.client,
            ..self.event_now(kind)
        });
    }

    /// Records that `count` sessions of `account` ended (none: no event).
    fn audit_ended(&self, account: &str, by: Option<&str>, count: u64, request: &Request<'_>) {
        if count == 0 {
            return;
        }
        self.record(AuditEvent {
            account: Some(account),
            by,
            client: request.client,
            count: Some(count),
            ..self.event_now(AuditKind::SessionsEnded)
        });
    }

    /// `kind` now, about nobody, from nowhere: what the helpers fill in.
    fn event_now(&self, kind: AuditKind) -> AuditEvent<'static> {
        AuditEvent {
            at_ms: self.ports.now(),
            kind,
            account: None,
            by: None,
            client: None,
            count: None,
        }
    }

    fn record(&self, event: AuditEvent<'_>) {
        self.audit.record(&event);
    }
}

/// Throttling of guesses (passwords, pins, tokens), around the handlers that take one.
impl Core {
    /// What a password or pin guess at `account` (a lowercased email or an id) counts
    /// against: the account from this address, the account from everywhere, the
    /// address.
    fn guesses(&self, account: String, client: Option<std::net::IpAddr>) -> Vec<Subject> {
        let mut subjects = vec![
            Subject::AccountFrom(account.clone(), client),
            Subject::Account(account),
        ];
        subjects.extend(client.map(Subject::Address));
        subjects
    }

    /// Counts a request that makes a mail (sign-up, reset) against its address:
    /// 429 past the address's free number, so that nobody floods mailboxes.
    fn count_mail_request(&self, request: &Request<'_>) -> Result<(), ApiError> {
        let (Some(throttle), Some(client)) = (&self.throttle, request.client) else {
            return Ok(());
        };
        let subject = [Subject::MailRequests(client)];
        throttle.check(&subject, self.ports.now())?;
        throttle.failed(&subject, self.ports.now())
    }

    /// Runs `work`, a guess at an emailed or invitation token, throttled per address.
    async fn guessing_token<T>(
        &self,
        request: &Request<'_>,
        work: impl std::future::Future<Output = Result<T, ApiError>>,
    ) -> Result<T, ApiError> {
        let guesses = request
            .client
            .map(Subject::TokenGuesses)
            .into_iter()
            .collect();
        self.throttled(guesses, (AuditKind::TokenGuessThrottled, request), work)
            .await
    }

    /// Runs `work` unless one of `subjects` must wait (then records `refused`);
    /// counts its refusal as a failed guess and its success as clearing the account.
    async fn throttled<T>(
        &self,
        subjects: Vec<Subject>,
        refused: (AuditKind, &Request<'_>),
        work: impl std::future::Future<Output = Result<T, ApiError>>,
    ) -> Result<T, ApiError> {
        let Some(throttle) = &self.throttle else {
            return work.await;
        };
        if let Err(wait) = throttle.check(&subjects, self.ports.now()) {
            let (kind, request) = refused;
            self.audit(kind, None, request);
            return Err(wait);
        }
        let result = work.await;
        match &result {
            Ok(_) => {
                // The account from this address starts again; what other addresses
                // failed still counts.
                for subject in subjects
                    .iter()
                    .filter(|s| matches!(s, Subject::AccountFrom(..)))
                {
                    throttle.succeeded(subject);
                }
            }
            // A wrong password, pin or token; not malformed input or a server fault.
            Err(e)
                if e.issues.is_none()
                    && matches!(e.code, ErrorCode::BadRequest | ErrorCode::NotFound) =>
            {
                // Not counted: the guess gets no answer of its own (a 503).
                throttle.failed(&subjects, self.ports.now())?;
            }
            Err(_) => {}
        }
        result
    }
}
