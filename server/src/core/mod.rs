//! The domain core: every procedure of the contract, written against the narrow
//! traits of `ports`. No HTTP and no storage engine in here, so the server and the
//! mock run the very same code.

pub mod ports;
pub mod records;

mod accounts;
mod auth_cache;
mod cloud;
mod fixtures;
mod invitations;
mod sessions;
pub mod throttle;
mod two_factor;

pub use accounts::AccountSummary;
pub use fixtures::{AccountFixture, Fixtures};
pub use sessions::Credentials;
pub use two_factor::{totp_code, totp_uri};

use ports::{Abort, Clock, Mailer, Notifier, PasswordHasher, Random, Store, StoreError, Tx};
use records::Account;
use serde::Serialize;
use serde_json::Value;
use specs::{Access, ApiError, ErrorCode, Procedure};
use std::sync::Arc;

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
    /// Adds `Secure` to the session cookie.
    pub cookie_secure: bool,
    /// Limits on failed guesses; `None` turns throttling off (the mock's default).
    pub throttle: Option<throttle::ThrottleLimits>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mode: Mode::SelfHosted,
            public_url: "http://localhost:3000".to_string(),
            cookie_secure: false,
            throttle: Some(throttle::ThrottleLimits::default()),
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
}

/// What a call answers: the output as JSON text (`Ok(None)` is "no output") and
/// the `Set-Cookie` header to send, if any.
#[derive(Debug)]
pub struct Reply {
    pub result: Result<Option<String>, ApiError>,
    pub set_cookie: Option<String>,
}

/// A procedure's output (serialized once, here: both transports embed the text)
/// and what it does to the session cookie.
pub(crate) struct Output {
    value: Option<String>,
    cookie: Option<CookieChange>,
}

impl Output {
    fn json<T: Serialize>(value: &T) -> Result<Output, ApiError> {
        Output::text(to_json(value))
    }
    /// An output already serialized.
    fn text(json: String) -> Result<Output, ApiError> {
        Ok(Output {
            value: Some(json),
            cookie: None,
        })
    }
    fn nothing() -> Result<Output, ApiError> {
        Ok(Output {
            value: None,
            cookie: None,
        })
    }
    fn with_cookie(mut self, change: CookieChange) -> Output {
        self.cookie = Some(change);
        self
    }
}

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("outputs always serialize")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CookieChange {
    /// Send this session id (new or extended).
    Set(String),
    /// Tell the browser to forget its session.
    Blank,
}

/// The authenticated caller of a protected procedure.
pub(crate) struct Caller {
    found: Arc<auth_cache::Authenticated>,
    /// The digest of the session that authenticated the call.
    session_digest: String,
    /// Whether that session came from the cookie (not the Bearer token).
    via_cookie: bool,
}

impl Caller {
    fn account(&self) -> &Account {
        &self.found.account
    }
}

pub struct Core {
    deps: Deps,
    config: Config,
    /// Verified against when an email is unknown, so that a miss costs a bcrypt
    /// verification like a hit.
    dummy_hash: String,
    throttle: Option<throttle::Throttle>,
    auth_cache: auth_cache::AuthCache,
}

/// The message of every internal error on the wire; details go to the log.
const INTERNAL: &str = "Internal server error";

pub(crate) fn internal(error: impl std::fmt::Display) -> ApiError {
    tracing::error!(%error, "internal error");
    ApiError::new(ErrorCode::InternalServerError, INTERNAL)
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        internal(e)
    }
}

impl Core {
    pub async fn new(deps: Deps, config: Config) -> Result<Core, ports::HashError> {
        // Fixed input: the dummy hash only has to cost a verification, and making it
        // draws nothing from `Random`, so a seeded core starts in a known state.
        let dummy_hash = deps
            .hasher
            .hash("no password matches this".to_string(), [0x5a; 16])
            .await?;
        Ok(Core::with_dummy_hash(deps, config, dummy_hash))
    }

    /// A core with a given dummy hash, skipping the hash `new` makes (for tests
    /// whose hasher never answers).
    pub fn with_dummy_hash(deps: Deps, config: Config, dummy_hash: String) -> Core {
        let throttle = config.throttle.clone().map(throttle::Throttle::new);
        Core {
            deps,
            config,
            dummy_hash,
            throttle,
            auth_cache: auth_cache::AuthCache::default(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    fn now(&self) -> i64 {
        self.deps.clock.now_ms()
    }

    fn store(&self) -> &dyn Store {
        &*self.deps.store
    }

    /// Runs `work` as one transaction and maps its failures to contract errors.
    fn transaction<T>(
        &self,
        mut work: impl FnMut(&dyn Tx) -> Result<T, Abort>,
    ) -> Result<T, ApiError> {
        let mut out = None;
        let result = self.store().transaction(&mut |tx| {
            out = Some(work(tx)?);
            Ok(())
        });
        match result {
            Ok(()) => Ok(out.expect("a committed transaction ran its work")),
            Err(Abort::Refused(e)) => Err(e),
            Err(Abort::Store(e)) => Err(e.into()),
        }
    }

    /// Answers one call: authenticates, checks access, validates the input, runs the
    /// procedure, and makes a mutation's writes durable before answering.
    pub async fn call(&self, call: Call) -> Reply {
        let (caller, mut cookie) = match self.authenticate(&call.credentials) {
            Ok(found) => found,
            Err(e) => {
                return Reply {
                    result: Err(e),
                    set_cookie: None,
                }
            }
        };
        let result = self
            .dispatch(
                call.procedure,
                call.input,
                caller,
                &call.credentials,
                call.client,
            )
            .await;
        let result = match result {
            Ok(output) => {
                if let Some(change) = output.cookie {
                    cookie = Some(change);
                }
                if call.procedure.kind == specs::Kind::Mutation {
                    match self.store().flush().await {
                        Ok(()) => Ok(output.value),
                        Err(e) => Err(internal(e)),
                    }
                } else {
                    Ok(output.value)
                }
            }
            Err(e) => Err(e),
        };
        Reply {
            result,
            set_cookie: cookie.map(|c| self.render_cookie(&c)),
        }
    }

    fn render_cookie(&self, change: &CookieChange) -> String {
        let secure = self.config.cookie_secure;
        match change {
            CookieChange::Set(id) => {
                specs::cookie::session(id, specs::lifetimes::SESSION_MS / 1000, secure)
            }
            CookieChange::Blank => specs::cookie::blank(secure),
        }
    }

    async fn dispatch(
        &self,
        procedure: &'static Procedure,
        input: Option<Value>,
        caller: Option<Caller>,
        credentials: &Credentials,
        client: Option<std::net::IpAddr>,
    ) -> Result<Output, ApiError> {
        let caller = match (procedure.access, caller) {
            (Access::Public, caller) => caller,
            (_, None) => return Err(ApiError::unauthorized()),
            (Access::Admin, Some(c)) if c.account().role != specs::wire::Role::Admin => {
                return Err(ApiError::unauthorized())
            }
            (_, caller) => caller,
        };
        let input = input.as_ref();
        let schema = || {
            procedure
                .input
                .expect("the procedure table gives this procedure an input")
        };
        // Protected and admin procedures always have a caller past the check above.
        let me = || caller.as_ref().expect("checked above");
        match procedure.name {
            "auth.createAdmin" => self.create_admin(schema().parse(input)?).await,
            "auth.createUser" => {
                let guesses = self.token_guesses(client);
                self.throttled(guesses, self.create_user(schema().parse(input)?))
                    .await
            }
            "auth.login" => {
                let input: specs::wire::LoginInput = schema().parse(input)?;
                let guesses = self.guesses(Subject::Account(input.email.to_lowercase()), client);
                self.throttled(guesses, self.login(input)).await
            }
            "auth.get" => Output::text(
                me().found
                    .own_view
                    .get_or_init(|| to_json(&self.view_own(me().account())))
                    .clone(),
            ),
            "auth.verifyToken" => Output::json(&true),
            "auth.logout" => self.logout(credentials),
            "auth.update" => self.update(me(), schema().parse(input)?).await,
            "auth.generateToken" => self.generate_token(me()),
            "auth.one" => self.one(me(), schema().parse(input)?),
            "auth.generate2FASecret" => self.generate_2fa_secret(me()),
            "auth.verify2FASetup" => self.verify_2fa_setup(me(), schema().parse(input)?),
            "auth.verifyLogin2FA" => {
                let input: specs::wire::VerifyLogin2FAInput = schema().parse(input)?;
                let guesses = self.guesses(Subject::Account(input.id.clone()), client);
                self.throttled(guesses, async { self.verify_login_2fa(input) })
                    .await
            }
            "auth.disable2FA" => self.disable_2fa(me()),
            "auth.sendResetPasswordEmail" => {
                self.send_reset_password_email(schema().parse(input)?).await
            }
            "auth.resetPassword" => {
                let guesses = self.token_guesses(client);
                self.throttled(guesses, self.reset_password(schema().parse(input)?))
                    .await
            }
            "auth.confirmEmail" => {
                let guesses = self.token_guesses(client);
                let input = schema().parse(input)?;
                self.throttled(guesses, async { self.confirm_email(input) })
                    .await
            }
            "admin.createUserInvitation" => {
                self.create_user_invitation(me(), schema().parse(input)?)
            }
            "admin.getUserByToken" => {
                let guesses = self.token_guesses(client);
                let input = schema().parse(input)?;
                self.throttled(guesses, async { self.get_user_by_token(input) })
                    .await
            }
            "admin.removeUser" => self.remove_user(me(), schema().parse(input)?),
            "user.all" => self.all_members(me()),
            other => Err(internal(format!("procedure {other} has no implementation"))),
        }
    }
}

use throttle::Subject;

impl Core {
    /// What a password or pin guess counts against: the account and the address.
    fn guesses(&self, account: Subject, client: Option<std::net::IpAddr>) -> Vec<Subject> {
        let mut subjects = vec![account];
        subjects.extend(client.map(Subject::Address));
        subjects
    }

    /// What a token guess counts against: the address.
    fn token_guesses(&self, client: Option<std::net::IpAddr>) -> Vec<Subject> {
        client.map(Subject::TokenGuesses).into_iter().collect()
    }

    /// Runs `work` unless one of `subjects` must wait; counts its refusal as a failed
    /// guess and its success as clearing the account.
    async fn throttled(
        &self,
        subjects: Vec<Subject>,
        work: impl std::future::Future<Output = Result<Output, ApiError>>,
    ) -> Result<Output, ApiError> {
        let Some(throttle) = &self.throttle else {
            return work.await;
        };
        throttle.check(&subjects, self.now())?;
        let result = work.await;
        match &result {
            Ok(_) => {
                for subject in subjects.iter().filter(|s| matches!(s, Subject::Account(_))) {
                    throttle.succeeded(subject);
                }
            }
            // A wrong password, pin or token; not malformed input or a server fault.
            Err(e)
                if e.issues.is_none()
                    && matches!(e.code, ErrorCode::BadRequest | ErrorCode::NotFound) =>
            {
                throttle.failed(&subjects, self.now());
            }
            Err(_) => {}
        }
        result
    }
}
