//! The contract's checks: one per procedure and outcome (success and each error),
//! each from a fresh instance, over HTTP only. Expectations come from `specs`.

use crate::client::{envelope, send, send_over, Client, Resp, Transport};
use crate::live::LiveRun;
use crate::target::{BoxFuture, Target};
use serde_json::{json, Value};
use specs::messages as msg;
use specs::Profile;
use std::net::SocketAddr;
use std::sync::Arc;

/// What a check gets: the instance, the target (for its clock), the transport its
/// calls go over, and, on a live instance, the run that knows its admin and what
/// to tidy up.
#[derive(Clone)]
pub struct Ctx {
    pub addr: SocketAddr,
    pub target: Arc<dyn Target>,
    pub transport: Transport,
    /// `None`: a fresh instance, with no account, that the check may fill.
    pub live: Option<Arc<LiveRun>>,
    /// The target runs in cloud mode (its admins sign up and confirm by email).
    pub cloud: bool,
    /// Whose behaviour is expected where the contract differs from Dokploy.
    pub profile: Profile,
}

pub type Outcome = Result<(), String>;

pub struct Check {
    pub procedure: &'static str,
    pub outcome: &'static str,
    /// Needs to move the target's clock (skipped where it cannot).
    pub moves_clock: bool,
    /// Changes nothing and needs no account: runs on any instance, fresh or not.
    pub stateless: bool,
    /// The mode the target must run in.
    pub mode: Only,
    /// About one transport itself, run once over it: REST's content types, paths
    /// and query strings; tRPC's batches and envelopes (raw requests of its own).
    pub only_over: Option<Transport>,
    /// Needs an instance without an admin (the first sign-up): not run live.
    pub needs_empty: bool,
    /// How the check runs in the `dokploy-0.14` profile.
    pub in_dokploy: InDokploy,
    /// Why, in the `dokploy-0.14` profile, it runs over tRPC only (its procedure
    /// checks otherwise run over REST too, with sessions made over tRPC).
    pub trpc_only_in_dokploy: Option<&'static str>,
    pub run: fn(Ctx) -> BoxFuture<'static, Outcome>,
}

/// How a check runs in the `dokploy-0.14` profile (its expectations choose by
/// `Ctx::dokploy` inside).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InDokploy {
    /// As in the contract profile.
    Same,
    /// Needs a fresh instance there (a session, where Dokploy's REST gate asks for one).
    Stateful,
    /// Not run, and why: Dokploy's behaviour here is not known well enough to
    /// expect, or the check is about something Dokploy does not have.
    NotChecked(&'static str),
}

/// Which targets a check applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Only {
    Any,
    SelfHosted,
    Cloud,
}

impl Only {
    pub fn applies(self, cloud: bool) -> bool {
        match self {
            Only::Any => true,
            Only::SelfHosted => !cloud,
            Only::Cloud => cloud,
        }
    }
}

impl Check {
    pub fn name(&self) -> String {
        format!("{} / {}", self.procedure, self.outcome)
    }

    /// The same check, with `how` in the `dokploy-0.14` profile.
    fn in_dokploy(self, how: InDokploy) -> Check {
        Check {
            in_dokploy: how,
            ..self
        }
    }

    /// Not run in the `dokploy-0.14` profile, for `why`.
    fn not_in_dokploy(self, why: &'static str) -> Check {
        self.in_dokploy(InDokploy::NotChecked(why))
    }

    /// Over tRPC only in the `dokploy-0.14` profile, for `why`.
    fn trpc_only_in_dokploy(self, why: &'static str) -> Check {
        Check {
            trpc_only_in_dokploy: Some(why),
            ..self
        }
    }

    /// Whether it changes nothing (and so runs on any instance) in `profile`.
    pub fn stateless_in(&self, profile: Profile) -> bool {
        self.stateless && !(profile.is_dokploy() && self.in_dokploy == InDokploy::Stateful)
    }

    /// How many times a run over both transports runs it.
    pub fn runs_over_both(&self) -> usize {
        if self.only_over.is_some() {
            1
        } else {
            2
        }
    }
}

/// Why a check runs over tRPC only in the Dokploy profile.
const DOKPLOY_REST_GATE: &str = "its calls include ones without a live session (none yet, a dead one, a wrong token), which Dokploy's REST gate answers before the procedure (difference 12; the gate has checks of its own)";

const ADMIN_EMAIL: &str = "admin@example.com";
const ADMIN_PASSWORD: &str = "password123";
const ADMIN: &str = r#"{"email":"admin@example.com","password":"password123"}"#;
const MEMBER_PASSWORD: &str = "memberpass1";

/// An account a check acts as, and how it logs in.
pub(crate) struct Account {
    pub email: String,
    pub password: String,
}

impl Account {
    /// The body of a login with the right password.
    fn credentials(&self) -> String {
        json!({"email": self.email, "password": self.password}).to_string()
    }
}
const BLANK: &str = "auth_session=; HttpOnly; Max-Age=0; Path=/; SameSite=Lax";
const AUTH_KEYS: [&str; 12] = [
    "id",
    "email",
    "rol",
    "image",
    "secret",
    "token",
    "is2FAEnabled",
    "createdAt",
    "resetPasswordToken",
    "resetPasswordExpiresAt",
    "confirmationToken",
    "confirmationExpiresAt",
];

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

/// A form post's content type.
const FORM: &str = "application/x-www-form-urlencoded";

/// Dokploy's answer to a call whose input reads as missing: 400, `Input validation
/// failed`, with zod's issues (their detail is not checked).
fn expect_input_missing(r: &Resp) -> Outcome {
    let body: Value = serde_json::from_str(&r.body).unwrap_or_default();
    ensure!(
        r.status == 400
            && body["message"] == msg::INPUT_VALIDATION_FAILED
            && body["code"] == "BAD_REQUEST"
            && body["issues"].as_array().is_some_and(|i| !i.is_empty()),
        "expected 400 Input validation failed with issues\n     got {} {}",
        r.status,
        r.body
    );
    Ok(())
}

/// Status and exact body.
fn expect(r: &Resp, status: u16, body: &str) -> Outcome {
    ensure!(
        r.status == status && r.body == body,
        "expected {status} {body}\n     got {} {}",
        r.status,
        r.body
    );
    Ok(())
}

fn expect_error(r: &Resp, code: &str, message: &str) -> Outcome {
    let status = specs::ErrorCode::from_name(code).map_or(0, |c| c.http_status());
    expect(r, status, &envelope(code, message))
}

fn expect_status(r: &Resp, status: u16) -> Outcome {
    ensure!(
        r.status == status,
        "expected status {status}, got {} {}",
        r.status,
        r.body
    );
    Ok(())
}

/// An `auth` record as the contract shapes it.
fn expect_auth_shape(value: &Value, email: &str) -> Outcome {
    let keys: Vec<&str> = value
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    ensure!(
        keys == AUTH_KEYS,
        "auth keys {keys:?}, expected {AUTH_KEYS:?}"
    );
    ensure!(
        value["email"] == email,
        "email {} instead of {email}",
        value["email"]
    );
    for always_null in ["secret", "resetPasswordToken", "confirmationToken"] {
        ensure!(
            value[always_null].is_null(),
            "{always_null} must be null, is {}",
            value[always_null]
        );
    }
    let id = value["id"].as_str().unwrap_or("");
    ensure!(
        id.len() == 21
            && id
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-'),
        "id {id:?} is no nanoid"
    );
    ensure!(
        !value.to_string().contains("$2"),
        "a password hash in the output"
    );
    Ok(())
}

/// The answer tells the browser to forget its session.
fn expect_blank_cookie(r: &Resp) -> Outcome {
    ensure!(
        r.set_cookie().as_deref() == Some(BLANK),
        "cookie {:?}, not the blank one",
        r.set_cookie()
    );
    Ok(())
}

/// A new API token for `client` (`auth.generateToken`).
async fn new_token(client: &mut Client) -> Result<String, String> {
    expect_status(&client.post_empty("/api/auth.generateToken").await, 200)?;
    // Read back: Dokploy answers with the record before the change (difference 6).
    let r = client.get("/api/auth.get").await;
    r.json()["token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("no token in {}", r.body))
}

fn expect_session_cookie(r: &Resp) -> Result<String, String> {
    let id = r
        .session_id()
        .ok_or_else(|| format!("no session cookie: {:?}", r.set_cookie()))?;
    let expected = format!("auth_session={id}; HttpOnly; Max-Age=86400; Path=/; SameSite=Lax");
    let cookie = r.set_cookie().unwrap_or_default();
    ensure!(
        cookie == expected || cookie == format!("{expected}; Secure"),
        "cookie {cookie:?}"
    );
    ensure!(id.len() == 40, "session id of {} characters", id.len());
    ensure!(
        id.bytes()
            .all(|c| c.is_ascii_lowercase() || (b'2'..=b'7').contains(&c)),
        "session id not lowercase base32: {id}"
    );
    Ok(id)
}

impl Ctx {
    /// One request with these exact headers, over the check's transport; the answer
    /// read as REST's.
    async fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Resp {
        let r = send_over(self.transport, self.addr, method, path, headers, body).await;
        self.transport.as_rest(r)
    }

    /// A new client, over the check's transport (always tRPC in the Dokploy
    /// profile, as Dokploy's REST gate refuses whatever has no session yet).
    fn client(&self) -> Client {
        Client::new(self.addr).speaking(self.setup_transport())
    }

    /// What makes sessions: tRPC in the Dokploy profile, else the check's transport.
    fn setup_transport(&self) -> Transport {
        if self.dokploy() {
            Transport::Trpc
        } else {
            self.transport
        }
    }

    /// `client`, logged in, over the check's transport: in the Dokploy profile the
    /// session is made over tRPC (its REST gate refuses a login), and the calls under
    /// test with it then go over the check's transport, REST included.
    fn logged_in(&self, client: Client) -> Client {
        client.speaking(self.transport)
    }

    /// Whether Dokploy v0.14's behaviour is expected (`--profile dokploy-0.14`).
    fn dokploy(&self) -> bool {
        self.profile.is_dokploy()
    }

    /// The token after `marker` in the newest email the target sent.
    /// The token of the last email sent with `marker` before it. Waits up to 5 s for
    /// one: a mail may go after the answer (the reset mail does).
    async fn email_token(&self, marker: &str) -> Result<String, String> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let emails = self
                .target
                .emails()
                .await
                .ok_or("the suite cannot read this target's emails (the mock's outbox, or --spawn with {smtp_port})")?;
            if let Some(token) = crate::smtp::token_after(&emails, marker) {
                return Ok(token);
            }
            if std::time::Instant::now() > deadline {
                return Err(format!(
                    "no email with {marker}<token> among {} sent",
                    emails.len()
                ));
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// A `Cookie` header with a session of the admin, made over tRPC: what a REST
    /// call behind Dokploy's gate needs.
    async fn rest_session(&self) -> Result<String, String> {
        let admin = self.admin().await?;
        let id = admin.cookie.ok_or("the admin has no cookie session")?;
        Ok(format!("auth_session={id}"))
    }

    /// Whether the instance is live: an admin is there, and the check works beside
    /// what the instance holds.
    fn is_live(&self) -> bool {
        self.live.is_some()
    }

    /// An email for an account the check makes: `label@example.com` on a fresh
    /// instance, one no account has on a live one.
    fn email(&self, label: &str) -> String {
        match &self.live {
            Some(live) => live.email(label),
            None => format!("{label}@example.com"),
        }
    }

    /// Another cookie session of `account`, made by a login from a client that
    /// names itself `user_agent`.
    async fn login_as(&self, account: &Account, user_agent: &str) -> Result<Client, String> {
        let headers = [
            ("content-type", "application/json"),
            ("user-agent", user_agent),
        ];
        let transport = self.setup_transport();
        let r = send_over(
            transport,
            self.addr,
            "POST",
            "/api/auth.login",
            &headers,
            &account.credentials(),
        )
        .await;
        let r = transport.as_rest(r);
        expect_status(&r, 200)?;
        let mut client = self.client();
        client.cookie = Some(expect_session_cookie(&r)?);
        Ok(self.logged_in(client))
    }

    /// Dokploy has none of the contract's session procedures (difference 26): a
    /// call of `procedure` (a `kind`) answers tRPC's 404 for an unknown procedure.
    async fn expect_absent(&self, procedure: &str, kind: &str) -> Outcome {
        let path = format!("/api/{procedure}");
        let r = match kind {
            "query" => self.client().get(&path).await,
            _ => self.client().post(&path, "{}").await,
        };
        expect_error(&r, "NOT_FOUND", &specs::trpc::no_procedure(kind, procedure))
    }

    /// `procedure` with `body` answers self-hosted mode's 404.
    async fn cloud_only(&self, procedure: &str, body: &str) -> Outcome {
        let r = self.client().post(&format!("/api/{procedure}"), body).await;
        expect_error(&r, "NOT_FOUND", msg::CLOUD_ONLY)
    }

    /// How many emails the target has sent (0 when the suite cannot read them).
    async fn emails_sent(&self) -> usize {
        self.target.emails().await.map_or(0, |e| e.len())
    }

    /// A cloud admin who signed up, confirmed and logged in (by cookie).
    async fn confirmed_cloud_admin(&self) -> Result<Client, String> {
        self.confirmed_cloud_admin_as(ADMIN).await
    }

    /// A cloud admin who signed up with `credentials` (a JSON body), confirmed and
    /// logged in (by cookie).
    async fn confirmed_cloud_admin_as(&self, credentials: &str) -> Result<Client, String> {
        expect(
            &self
                .client()
                .post("/api/auth.createAdmin", credentials)
                .await,
            200,
            "true",
        )?;
        let token = self.email_token("confirm-email?token=").await?;
        let body = json!({"confirmationToken": token}).to_string();
        expect(
            &self.client().post("/api/auth.confirmEmail", &body).await,
            200,
            "true",
        )?;
        let mut admin = self.client();
        expect_status(&admin.post("/api/auth.login", credentials).await, 200)?;
        Ok(self.logged_in(admin))
    }

    /// An admin, logged in: made by `createAdmin` on a fresh instance (in cloud
    /// mode confirmed by email first), the instance's own on a live one.
    async fn admin(&self) -> Result<Client, String> {
        if let Some(live) = &self.live {
            return live.admin(&self.client()).await.map(|a| self.logged_in(a));
        }
        if self.cloud {
            return self.confirmed_cloud_admin().await;
        }
        let mut admin = self.client();
        let r = admin.post("/api/auth.createAdmin", ADMIN).await;
        expect(&r, 200, "true")?;
        Ok(self.logged_in(admin))
    }

    /// The admin, for a check that acts as `account` (from [`Ctx::account`]) too:
    /// on a fresh instance that account is the admin.
    async fn admin_beside(&self, account: &Client) -> Result<Client, String> {
        if self.is_live() {
            self.admin().await
        } else {
            Ok(account.clone())
        }
    }

    /// An account to act as, logged in by cookie, where the check is about an
    /// account's own doings (its record, password, sessions, tokens, 2FA): the
    /// admin on a fresh instance; on a live one a new member, so that the
    /// instance's admin is never changed.
    async fn account(&self) -> Result<(Client, Account), String> {
        if self.is_live() {
            let email = self.email("account");
            let mut admin = self.admin().await?;
            let (member, _) = self.member(&mut admin, &email).await?;
            let password = MEMBER_PASSWORD.to_string();
            return Ok((member, Account { email, password }));
        }
        let admin = self.admin().await?;
        let (email, password) = (ADMIN_EMAIL.to_string(), ADMIN_PASSWORD.to_string());
        Ok((admin, Account { email, password }))
    }

    /// Invites `email` and returns the member record from `user.all`.
    async fn invite(&self, admin: &mut Client, email: &str) -> Result<Value, String> {
        let r = admin
            .post(
                "/api/admin.createUserInvitation",
                &json!({"email": email}).to_string(),
            )
            .await;
        expect(&r, 200, "")?;
        let all = admin.get("/api/user.all").await.json();
        let invitation = all
            .as_array()
            .and_then(|a| a.iter().find(|m| m["auth"]["email"] == email).cloned())
            .ok_or_else(|| format!("{email} not in user.all: {all}"))?;
        if let (Some(live), Some(id)) = (&self.live, invitation["authId"].as_str()) {
            live.made_member(id);
        }
        Ok(invitation)
    }

    /// A member who accepted the invitation, logged in by cookie; and its id.
    async fn member(&self, admin: &mut Client, email: &str) -> Result<(Client, String), String> {
        let invitation = self.invite(admin, email).await?;
        let mut member = self.client();
        let accept = json!({"password": MEMBER_PASSWORD, "id": invitation["authId"], "token": invitation["token"]});
        expect(
            &member
                .post("/api/auth.createUser", &accept.to_string())
                .await,
            200,
            "true",
        )?;
        Ok((
            self.logged_in(member),
            invitation["authId"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        ))
    }

    async fn pin(&self, secret: &str, offset_steps: i64) -> String {
        let now = self.target.now_ms().await / 1000 + offset_steps * 30;
        crate::totp::pin(secret, now.max(0) as u64).unwrap_or_default()
    }

    async fn advance(&self, ms: i64) -> Outcome {
        ensure!(
            self.target.advance_clock(ms).await,
            "the target's clock cannot be moved"
        );
        Ok(())
    }

    /// Enables 2FA for `client`; the secret and the pin that enabled it (kept: on a
    /// real clock the step may change before the pin is tried again).
    async fn enable_2fa(&self, client: &mut Client) -> Result<(String, String), String> {
        let out = client.get("/api/auth.generate2FASecret").await.json();
        let secret = out["secret"].as_str().ok_or("no secret")?.to_string();
        let pin = self.pin(&secret, 0).await;
        let body = json!({"pin": pin, "secret": secret});
        expect_status(
            &client
                .post("/api/auth.verify2FASetup", &body.to_string())
                .await,
            200,
        )?;
        Ok((secret, pin))
    }
}

/// A check: `check!(procedure, outcome, [kind,] |ctx| { … })`. Without a kind it
/// needs an instance of its own (fresh, or live beside what is there) in either
/// mode; `self_hosted` and `empty` (needs no admin yet) only in self-hosted mode;
/// `clock` moves the target's clock; `stateless` changes nothing; `cloud…` only in
/// cloud mode.
macro_rules! check {
    ($procedure:literal, $outcome:literal, |$ctx:ident| $body:block) => {
        check!(@make $procedure, $outcome, false, false, Only::Any, |$ctx| $body)
    };
    ($procedure:literal, $outcome:literal, self_hosted, |$ctx:ident| $body:block) => {
        check!(@make $procedure, $outcome, false, false, Only::SelfHosted, |$ctx| $body)
    };
    ($procedure:literal, $outcome:literal, empty, |$ctx:ident| $body:block) => {
        Check {
            needs_empty: true,
            ..check!(@make $procedure, $outcome, false, false, Only::SelfHosted, |$ctx| $body)
        }
    };
    ($procedure:literal, $outcome:literal, clock, |$ctx:ident| $body:block) => {
        check!(@make $procedure, $outcome, true, false, Only::Any, |$ctx| $body)
    };
    ($procedure:literal, $outcome:literal, stateless, |$ctx:ident| $body:block) => {
        check!(@make $procedure, $outcome, false, true, Only::Any, |$ctx| $body)
    };
    ($procedure:literal, $outcome:literal, stateless_self_hosted, |$ctx:ident| $body:block) => {
        check!(@make $procedure, $outcome, false, true, Only::SelfHosted, |$ctx| $body)
    };
    ($procedure:literal, $outcome:literal, cloud, |$ctx:ident| $body:block) => {
        check!(@make $procedure, $outcome, false, false, Only::Cloud, |$ctx| $body)
    };
    ($procedure:literal, $outcome:literal, cloud_clock, |$ctx:ident| $body:block) => {
        check!(@make $procedure, $outcome, true, false, Only::Cloud, |$ctx| $body)
    };
    (@make $procedure:literal, $outcome:literal, $clock:expr, $stateless:expr, $mode:expr, |$ctx:ident| $body:block) => {
        Check {
            procedure: $procedure,
            outcome: $outcome,
            moves_clock: $clock,
            stateless: $stateless,
            mode: $mode,
            only_over: None,
            needs_empty: false,
            in_dokploy: InDokploy::Same,
            trpc_only_in_dokploy: None,
            run: |$ctx| Box::pin(async move { $body }),
        }
    };
}

mod accounts;
mod cloud;
mod invitations;
mod sessions;
mod transport;
mod two_factor;

/// Every check of the suite, by subject in the contract's order.
pub fn all() -> Vec<Check> {
    let rest = transport::checks()
        .into_iter()
        .map(|check| Check {
            only_over: Some(match check.procedure {
                "trpc" => Transport::Trpc,
                _ => Transport::Rest,
            }),
            ..check
        })
        .collect();
    [
        rest,
        accounts::checks(),
        sessions::checks(),
        two_factor::checks(),
        invitations::checks(),
        cloud::checks(),
    ]
    .into_iter()
    .flatten()
    .collect()
}
