//! The contract's checks: one per procedure and outcome (success and each error),
//! each from a fresh instance, over HTTP only. Expectations come from `specs`.

use crate::client::{envelope, send, Client, Resp};
use crate::target::{BoxFuture, Target};
use serde_json::{json, Value};
use specs::messages as msg;
use std::net::SocketAddr;
use std::sync::Arc;

/// What a check gets: the fresh instance and the target (for its clock).
#[derive(Clone)]
pub struct Ctx {
    pub addr: SocketAddr,
    pub target: Arc<dyn Target>,
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
    pub run: fn(Ctx) -> BoxFuture<'static, Outcome>,
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
}

const ADMIN_EMAIL: &str = "admin@example.com";
const ADMIN: &str = r#"{"email":"admin@example.com","password":"password123"}"#;
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
    Ok(id)
}

impl Ctx {
    fn client(&self) -> Client {
        Client::new(self.addr)
    }

    /// The token after `marker` in the newest email the target sent.
    async fn email_token(&self, marker: &str) -> Result<String, String> {
        let emails = self
            .target
            .emails()
            .await
            .ok_or("the suite cannot read this target's emails (the mock's outbox, or --spawn with {smtp_port})")?;
        crate::smtp::token_after(&emails, marker)
            .ok_or_else(|| format!("no email with {marker}<token> among {} sent", emails.len()))
    }

    /// A cloud admin who signed up, confirmed and logged in (by cookie).
    async fn confirmed_cloud_admin(&self) -> Result<Client, String> {
        expect(
            &self.client().post("/api/auth.createAdmin", ADMIN).await,
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
        expect_status(&admin.post("/api/auth.login", ADMIN).await, 200)?;
        Ok(admin)
    }

    async fn admin(&self) -> Result<Client, String> {
        let mut admin = self.client();
        let r = admin.post("/api/auth.createAdmin", ADMIN).await;
        expect(&r, 200, "true")?;
        Ok(admin)
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
        all.as_array()
            .and_then(|a| a.iter().find(|m| m["auth"]["email"] == email).cloned())
            .ok_or_else(|| format!("{email} not in user.all: {all}"))
    }

    /// A member who accepted the invitation, logged in by cookie; and its id.
    async fn member(&self, admin: &mut Client, email: &str) -> Result<(Client, String), String> {
        let invitation = self.invite(admin, email).await?;
        let mut member = self.client();
        let accept = json!({"password": "memberpass1", "id": invitation["authId"], "token": invitation["token"]});
        expect(
            &member
                .post("/api/auth.createUser", &accept.to_string())
                .await,
            200,
            "true",
        )?;
        Ok((
            member,
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

macro_rules! check {
    ($procedure:literal, $outcome:literal, |$ctx:ident| $body:block) => {
        check!(@make $procedure, $outcome, false, false, Only::SelfHosted, |$ctx| $body)
    };
    ($procedure:literal, $outcome:literal, clock, |$ctx:ident| $body:block) => {
        check!(@make $procedure, $outcome, true, false, Only::SelfHosted, |$ctx| $body)
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
    (@make $procedure:literal, $outcome:literal, $clock:expr, $stateless:expr, $mode:expr, |$ctx:ident| $body:block) => {
        Check {
            procedure: $procedure,
            outcome: $outcome,
            moves_clock: $clock,
            stateless: $stateless,
            mode: $mode,
            run: |$ctx| Box::pin(async move { $body }),
        }
    };
}

/// Every check of the suite, in the contract's order.
pub fn all() -> Vec<Check> {
    vec![
        check!(
            "transport",
            "415 without a JSON content type",
            stateless,
            |ctx| {
                let body = r#"{"email":"a@b.co","password":"password1"}"#;
                let r = send(ctx.addr, "POST", "/api/auth.login", &[], body).await;
                expect_error(&r, "UNSUPPORTED_MEDIA_TYPE", msg::MISSING_CONTENT_TYPE)?;
                let r = send(
                    ctx.addr,
                    "POST",
                    "/api/auth.login",
                    &[("content-type", "text/plain")],
                    body,
                )
                .await;
                expect_error(
                    &r,
                    "UNSUPPORTED_MEDIA_TYPE",
                    &msg::unsupported_content_type("text/plain"),
                )
            }
        ),
        check!("transport", "413 over 100,000 bytes", stateless, |ctx| {
            let big = format!(
                r#"{{"email":"{}@b.co","password":"password1"}}"#,
                "a".repeat(100_001)
            );
            let r = send(
                ctx.addr,
                "POST",
                "/api/auth.login",
                &[("content-type", "application/json")],
                &big,
            )
            .await;
            expect_error(&r, "PAYLOAD_TOO_LARGE", msg::BODY_TOO_LARGE)
        }),
        check!(
            "transport",
            "400 PARSE_ERROR for a body that is not JSON",
            stateless,
            |ctx| {
                let r = send(
                    ctx.addr,
                    "POST",
                    "/api/auth.login",
                    &[("content-type", "application/json")],
                    "{nope",
                )
                .await;
                expect_error(&r, "PARSE_ERROR", msg::PARSE_BODY)
            }
        ),
        check!(
            "transport",
            "404 for unknown paths, wrong methods, wrong case",
            stateless,
            |ctx| {
                for (method, path) in [
                    ("GET", "/api/auth.nope"),
                    ("POST", "/api/auth.get"),
                    ("GET", "/api/auth.login"),
                    ("GET", "/api/Auth.get"),
                    ("GET", "/api/authXget"),
                ] {
                    let r = send(ctx.addr, method, path, &[], "").await;
                    expect_error(&r, "NOT_FOUND", msg::NOT_FOUND)
                        .map_err(|e| format!("{method} {path}: {e}"))?;
                }
                Ok(())
            }
        ),
        check!("transport", "204 for HEAD", stateless, |ctx| {
            expect(
                &send(ctx.addr, "HEAD", "/api/anything", &[], "").await,
                204,
                "",
            )
        }),
        check!(
            "transport",
            "zod issues, every field, schema order",
            stateless,
            |ctx| {
                let r = ctx
                    .client()
                    .post(
                        "/api/auth.login",
                        r#"{"password":"short","email":"bad","extra":1}"#,
                    )
                    .await;
                expect(
                    &r,
                    400,
                    r#"{"message":"Input validation failed","code":"BAD_REQUEST","issues":[{"validation":"email","code":"invalid_string","message":"Invalid email","path":["email"]},{"code":"too_small","minimum":8,"type":"string","inclusive":true,"exact":false,"message":"String must contain at least 8 character(s)","path":["password"]}]}"#,
                )
            }
        ),
        check!(
            "trpc",
            "a batch answers its items in call order, 207 when statuses differ",
            stateless,
            |ctx| {
                let input = r#"{"0":{"json":null,"meta":{"values":["undefined"]}},"1":{"json":{"id":"x"}}}"#;
                let encoded: String = form_urlencoded::byte_serialize(input.as_bytes()).collect();
                let path =
                    format!("/api/trpc/auth.get,auth.nope,auth.login?batch=1&input={encoded}");
                let r = send(ctx.addr, "GET", &path, &[], "").await;
                expect(
                    &r,
                    207,
                    &json!([
                        {"error": {"json": {"message": msg::UNAUTHORIZED, "code": -32001,
                            "data": {"code": "UNAUTHORIZED", "httpStatus": 401, "path": "auth.get", "zodError": null}}}},
                        {"error": {"json": {"message": "No \"query\"-procedure on path \"auth.nope\"", "code": -32004,
                            "data": {"code": "NOT_FOUND", "httpStatus": 404, "path": "auth.nope", "zodError": null}}}},
                        {"error": {"json": {"message": "No \"query\"-procedure on path \"auth.login\"", "code": -32004,
                            "data": {"code": "NOT_FOUND", "httpStatus": 404, "path": "auth.login", "zodError": null}}}},
                    ])
                    .to_string(),
                )
            }
        ),
        check!(
            "trpc",
            "a validation error: the issues as message, zodError as flatten()",
            stateless,
            |ctx| {
                let r = send(
                    ctx.addr,
                    "POST",
                    "/api/trpc/auth.login",
                    &[("content-type", "application/json")],
                    r#"{"json":{"email":"bad","password":"short"}}"#,
                )
                .await;
                let issues = r#"[{"validation":"email","code":"invalid_string","message":"Invalid email","path":["email"]},{"code":"too_small","minimum":8,"type":"string","inclusive":true,"exact":false,"message":"String must contain at least 8 character(s)","path":["password"]}]"#;
                let pretty = serde_json::to_string_pretty(
                    &serde_json::from_str::<Value>(issues).expect("valid JSON"),
                )
                .expect("serializes");
                expect(
                    &r,
                    400,
                    &json!({"error": {"json": {"message": pretty, "code": -32600, "data": {
                        "code": "BAD_REQUEST", "httpStatus": 400, "path": "auth.login",
                        "zodError": {"formErrors": [], "fieldErrors": {
                            "email": ["Invalid email"],
                            "password": ["String must contain at least 8 character(s)"]}}}}}})
                    .to_string(),
                )
            }
        ),
        check!(
            "trpc",
            "an unreadable request: one error item without a path",
            stateless,
            |ctx| {
                let item = |status: u16, code: &str, number: i32, message: &str| {
                    json!({"error": {"json": {"message": message, "code": number,
                        "data": {"code": code, "httpStatus": status, "zodError": null}}}})
                    .to_string()
                };
                let r = send(ctx.addr, "GET", "/api/trpc/auth.get?batch=1", &[], "").await;
                let message = r#""input" needs to be an object when doing a batch call"#;
                expect(&r, 400, &item(400, "BAD_REQUEST", -32600, message))?;
                let r = send(
                    ctx.addr,
                    "POST",
                    "/api/trpc/auth.login?batch=1",
                    &[("content-type", "application/json")],
                    "{nope",
                )
                .await;
                expect(&r, 400, &item(400, "PARSE_ERROR", -32700, msg::PARSE_BODY))?;
                let r = send(ctx.addr, "PUT", "/api/trpc/auth.get", &[], "").await;
                let message = "Unexpected request method PUT";
                expect(&r, 405, &item(405, "METHOD_NOT_SUPPORTED", -32005, message))
            }
        ),
        check!("trpc", "each call of a batch sets its own cookie", |ctx| {
            let body = format!(r#"{{"0":{{"json":{ADMIN}}},"1":{{"json":{ADMIN}}}}}"#);
            let r = send(
                ctx.addr,
                "POST",
                "/api/trpc/auth.createAdmin,auth.login?batch=1",
                &[("content-type", "application/json")],
                &body,
            )
            .await;
            expect_status(&r, 200)?;
            let items = r.json();
            ensure!(
                items[0] == json!({"result": {"data": {"json": true}}})
                    && items[1]["result"]["data"]["json"]["is2FAEnabled"] == false,
                "items {items}"
            );
            let cookies = r.headers.get_all("set-cookie").iter().count();
            ensure!(cookies == 2, "{cookies} Set-Cookie headers, expected 2");
            Ok(())
        }),
        check!(
            "auth.createAdmin",
            "success: true and a session cookie",
            |ctx| {
                let r = ctx
                    .client()
                    .post(
                        "/api/auth.createAdmin",
                        r#"{"email":"Admin@Example.com","password":"password123"}"#,
                    )
                    .await;
                expect(&r, 200, "true")?;
                let id = expect_session_cookie(&r)?;
                let me = send(
                    ctx.addr,
                    "GET",
                    "/api/auth.get",
                    &[("cookie", &format!("auth_session={id}"))],
                    "",
                )
                .await;
                expect_auth_shape(&me.json(), ADMIN_EMAIL)?;
                ensure!(me.json()["rol"] == "admin", "rol {}", me.json()["rol"]);
                Ok(())
            }
        ),
        check!("auth.createAdmin", "400 once an admin exists", |ctx| {
            ctx.admin().await?;
            let r = ctx
                .client()
                .post(
                    "/api/auth.createAdmin",
                    r#"{"email":"other@example.com","password":"password123"}"#,
                )
                .await;
            expect_error(&r, "BAD_REQUEST", msg::ADMIN_EXISTS)?;
            ensure!(r.set_cookie().is_none(), "a cookie on a refusal");
            Ok(())
        }),
        check!(
            "auth.createUser",
            "success: the invited account logs in",
            |ctx| {
                let mut admin = ctx.admin().await?;
                let invitation = ctx.invite(&mut admin, "dev@example.com").await?;
                let mut member = ctx.client();
                let r = member.post("/api/auth.createUser", &json!({"password": "memberpass1", "id": invitation["authId"], "token": invitation["token"]}).to_string()).await;
                expect(&r, 200, "true")?;
                expect_session_cookie(&r)?;
                let me = member.get("/api/auth.get").await.json();
                ensure!(me["rol"] == "user", "rol {}", me["rol"]);
                Ok(())
            }
        ),
        check!(
            "auth.createUser",
            "400 for a token of another account or used twice",
            |ctx| {
                let mut admin = ctx.admin().await?;
                let admin_id = admin.get("/api/auth.get").await.json()["id"].clone();
                let invitation = ctx.invite(&mut admin, "dev@example.com").await?;
                let hijack =
                    json!({"password": "hijacked1", "id": admin_id, "token": invitation["token"]});
                expect_error(
                    &ctx.client()
                        .post("/api/auth.createUser", &hijack.to_string())
                        .await,
                    "BAD_REQUEST",
                    msg::INVALID_TOKEN,
                )?;
                let accept = json!({"password": "memberpass1", "id": invitation["authId"], "token": invitation["token"]}).to_string();
                expect(
                    &ctx.client().post("/api/auth.createUser", &accept).await,
                    200,
                    "true",
                )?;
                expect_error(
                    &ctx.client().post("/api/auth.createUser", &accept).await,
                    "BAD_REQUEST",
                    msg::INVALID_TOKEN,
                )
            }
        ),
        check!(
            "auth.createUser",
            "400 for an invitation over 24 h old",
            clock,
            |ctx| {
                let mut admin = ctx.admin().await?;
                let invitation = ctx.invite(&mut admin, "dev@example.com").await?;
                ctx.advance(24 * 3_600_000 + 1000).await?;
                let accept = json!({"password": "memberpass1", "id": invitation["authId"], "token": invitation["token"]});
                expect_error(
                    &ctx.client()
                        .post("/api/auth.createUser", &accept.to_string())
                        .await,
                    "BAD_REQUEST",
                    msg::INVITATION_EXPIRED,
                )
            }
        ),
        check!("auth.login", "success without 2FA", |ctx| {
            let mut admin = ctx.admin().await?;
            let id = admin.get("/api/auth.get").await.json()["id"].clone();
            let r = ctx
                .client()
                .post(
                    "/api/auth.login",
                    r#"{"email":"ADMIN@example.com","password":"password123"}"#,
                )
                .await;
            expect(
                &r,
                200,
                &json!({"is2FAEnabled": false, "authId": id}).to_string(),
            )?;
            expect_session_cookie(&r).map(|_| ())
        }),
        check!(
            "auth.login",
            "one message for a wrong password and an unknown email",
            |ctx| {
                ctx.admin().await?;
                for body in [
                    r#"{"email":"admin@example.com","password":"wrongpass1"}"#,
                    r#"{"email":"nobody@example.com","password":"password123"}"#,
                ] {
                    let r = ctx.client().post("/api/auth.login", body).await;
                    expect_error(&r, "BAD_REQUEST", msg::CREDENTIALS)?;
                    ensure!(r.set_cookie().is_none(), "a cookie on a failed login");
                }
                Ok(())
            }
        ),
        check!("auth.get", "the caller's record, shaped", |ctx| {
            let mut admin = ctx.admin().await?;
            expect_auth_shape(&admin.get("/api/auth.get").await.json(), ADMIN_EMAIL)
        }),
        check!(
            "auth.get",
            "401 without a session, blank cookie for a dead one",
            stateless,
            |ctx| {
                expect_error(
                    &ctx.client().get("/api/auth.get").await,
                    "UNAUTHORIZED",
                    msg::UNAUTHORIZED,
                )?;
                let r = send(
                    ctx.addr,
                    "GET",
                    "/api/auth.get",
                    &[("cookie", "auth_session=nosuchsession")],
                    "",
                )
                .await;
                expect_error(&r, "UNAUTHORIZED", msg::UNAUTHORIZED)?;
                ensure!(
                    r.set_cookie().as_deref() == Some(BLANK),
                    "cookie {:?}",
                    r.set_cookie()
                );
                let r = send(
                    ctx.addr,
                    "GET",
                    "/api/auth.get",
                    &[("authorization", "bearer x")],
                    "",
                )
                .await;
                expect_status(&r, 401)
            }
        ),
        check!("auth.get", "sliding cookie sessions", clock, |ctx| {
            let mut admin = ctx.admin().await?;
            ctx.advance(13 * 3_600_000).await?;
            let r = admin.get("/api/auth.get").await;
            expect_status(&r, 200)?;
            expect_session_cookie(&r)?;
            // Extended to a full day from then: dead a day and a bit later.
            ctx.advance(24 * 3_600_000 + 1000).await?;
            let r = admin.get("/api/auth.get").await;
            expect_status(&r, 401)?;
            ensure!(
                r.set_cookie().as_deref() == Some(BLANK),
                "cookie {:?}",
                r.set_cookie()
            );
            Ok(())
        }),
        check!(
            "auth.verifyToken",
            "true with a session, 401 without",
            |ctx| {
                let mut admin = ctx.admin().await?;
                expect(
                    &admin.post_empty("/api/auth.verifyToken").await,
                    200,
                    "true",
                )?;
                expect_error(
                    &ctx.client().post_empty("/api/auth.verifyToken").await,
                    "UNAUTHORIZED",
                    msg::UNAUTHORIZED,
                )
            }
        ),
        check!(
            "auth.logout",
            "ends the cookie session; false for a Bearer token",
            |ctx| {
                let mut admin = ctx.admin().await?;
                let token = admin.post_empty("/api/auth.generateToken").await.json()["token"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                expect(
                    &admin
                        .with_bearer(&token)
                        .post_empty("/api/auth.logout")
                        .await,
                    200,
                    "false",
                )?;
                let cookie = format!("auth_session={}", admin.cookie.clone().unwrap_or_default());
                let r = admin.post_empty("/api/auth.logout").await;
                expect(&r, 200, "true")?;
                ensure!(
                    r.set_cookie().as_deref() == Some(BLANK),
                    "cookie {:?}",
                    r.set_cookie()
                );
                expect_status(
                    &send(ctx.addr, "GET", "/api/auth.get", &[("cookie", &cookie)], "").await,
                    401,
                )
            }
        ),
        check!(
            "auth.update",
            "returns the record after, email lowercased",
            |ctx| {
                let mut admin = ctx.admin().await?;
                let r = admin.post("/api/auth.update", r#"{"email":"New@Example.com","password":null,"image":"/avatars/avatar-2.png","rol":"user"}"#).await;
                expect_status(&r, 200)?;
                expect_auth_shape(&r.json(), "new@example.com")?;
                ensure!(
                    r.json()["image"] == "/avatars/avatar-2.png" && r.json()["rol"] == "admin",
                    "{}",
                    r.body
                );
                Ok(())
            }
        ),
        check!("auth.update", "409 for another account's email", |ctx| {
            let mut admin = ctx.admin().await?;
            ctx.invite(&mut admin, "dev@example.com").await?;
            let r = admin
                .post(
                    "/api/auth.update",
                    r#"{"email":"dev@example.com","password":null}"#,
                )
                .await;
            expect_error(&r, "CONFLICT", msg::EMAIL_IN_USE)
        }),
        check!(
            "auth.update",
            "a new password ends the other sessions",
            |ctx| {
                let mut admin = ctx.admin().await?;
                let mut other = ctx.client();
                expect_status(&other.post("/api/auth.login", ADMIN).await, 200)?;
                expect_status(
                    &admin
                        .post(
                            "/api/auth.update",
                            r#"{"email":null,"password":"newpassword1"}"#,
                        )
                        .await,
                    200,
                )?;
                expect_status(&admin.get("/api/auth.get").await, 200)?;
                expect_status(&other.get("/api/auth.get").await, 401)
            }
        ),
        check!(
            "auth.generateToken",
            "a new token; the old one is refused",
            |ctx| {
                let mut admin = ctx.admin().await?;
                let first =
                    admin.post_empty("/api/auth.generateToken").await.json()["token"].clone();
                let second = admin.post_empty("/api/auth.generateToken").await.json();
                expect_auth_shape(&second, ADMIN_EMAIL)?;
                let second = second["token"].as_str().unwrap_or_default().to_string();
                ensure!(
                    second.len() == 40 && first != second.as_str(),
                    "tokens {first} {second}"
                );
                expect_status(
                    &admin
                        .with_bearer(first.as_str().unwrap_or_default())
                        .get("/api/auth.get")
                        .await,
                    401,
                )?;
                expect_status(&admin.with_bearer(&second).get("/api/auth.get").await, 200)
            }
        ),
        check!(
            "auth.one",
            "own account and members; 404; 401 for members",
            |ctx| {
                let mut admin = ctx.admin().await?;
                let (mut member, member_id) = ctx.member(&mut admin, "dev@example.com").await?;
                let r = admin.get(&format!("/api/auth.one?id={member_id}")).await;
                expect_auth_shape(&r.json(), "dev@example.com")?;
                ensure!(r.json()["token"].is_null(), "another account's token shown");
                expect_error(
                    &admin.get("/api/auth.one?id=nobody").await,
                    "NOT_FOUND",
                    msg::AUTH_NOT_FOUND,
                )?;
                expect_error(
                    &member.get(&format!("/api/auth.one?id={member_id}")).await,
                    "UNAUTHORIZED",
                    msg::UNAUTHORIZED,
                )
            }
        ),
        check!(
            "auth.generate2FASecret",
            "a base32 secret and a PNG QR code",
            |ctx| {
                let mut admin = ctx.admin().await?;
                let out = admin.get("/api/auth.generate2FASecret").await.json();
                let secret = out["secret"].as_str().unwrap_or_default();
                ensure!(
                    secret.len() == 24
                        && secret
                            .bytes()
                            .all(|c| c.is_ascii_uppercase() || (b'2'..=b'7').contains(&c)),
                    "secret {secret:?}"
                );
                ensure!(
                    out["qrCodeUrl"]
                        .as_str()
                        .unwrap_or_default()
                        .starts_with("data:image/png;base64,"),
                    "qrCodeUrl"
                );
                Ok(())
            }
        ),
        check!(
            "auth.verify2FASetup",
            "wrong pin 400; right pin enables 2FA",
            |ctx| {
                let mut admin = ctx.admin().await?;
                let secret = admin.get("/api/auth.generate2FASecret").await.json()["secret"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let right = ctx.pin(&secret, 0).await;
                let wrong = if right == "000000" {
                    "111111"
                } else {
                    "000000"
                };
                let r = admin
                    .post(
                        "/api/auth.verify2FASetup",
                        &json!({"pin": wrong, "secret": secret}).to_string(),
                    )
                    .await;
                expect_error(&r, "BAD_REQUEST", msg::INVALID_2FA)?;
                let r = admin
                    .post(
                        "/api/auth.verify2FASetup",
                        &json!({"pin": right, "secret": secret}).to_string(),
                    )
                    .await;
                expect_status(&r, 200)?;
                ensure!(
                    r.json()["is2FAEnabled"] == true && r.json()["secret"].is_null(),
                    "{}",
                    r.body
                );
                Ok(())
            }
        ),
        check!(
            "auth.verifyLogin2FA",
            "password, then pin, then a session",
            |ctx| {
                let mut admin = ctx.admin().await?;
                let (secret, _) = ctx.enable_2fa(&mut admin).await?;
                let mut c = ctx.client();
                let r = c.post("/api/auth.login", ADMIN).await;
                ensure!(
                    r.json()["is2FAEnabled"] == true && r.set_cookie().is_none(),
                    "login with 2FA: {} {:?}",
                    r.body,
                    r.set_cookie()
                );
                let id = r.json()["authId"].clone();
                // The setup spent this step's pin: the next step's is accepted (±1 step).
                let right = ctx.pin(&secret, 1).await;
                let wrong = if right == "000000" {
                    "111111"
                } else {
                    "000000"
                };
                expect_error(
                    &c.post(
                        "/api/auth.verifyLogin2FA",
                        &json!({"pin": wrong, "id": id}).to_string(),
                    )
                    .await,
                    "BAD_REQUEST",
                    msg::INVALID_2FA,
                )?;
                let r = c
                    .post(
                        "/api/auth.verifyLogin2FA",
                        &json!({"pin": right, "id": id}).to_string(),
                    )
                    .await;
                expect(&r, 200, "true")?;
                expect_session_cookie(&r)?;
                expect_status(&c.get("/api/auth.get").await, 200)
            }
        ),
        check!("auth.verifyLogin2FA", "a pin is accepted once", |ctx| {
            let mut admin = ctx.admin().await?;
            let (secret, setup_pin) = ctx.enable_2fa(&mut admin).await?;
            let login = || async {
                ctx.client().post("/api/auth.login", ADMIN).await.json()["authId"].clone()
            };
            let id = login().await;
            let r = ctx
                .client()
                .post(
                    "/api/auth.verifyLogin2FA",
                    &json!({"pin": setup_pin, "id": id}).to_string(),
                )
                .await;
            expect_error(&r, "BAD_REQUEST", msg::INVALID_2FA)
                .map_err(|e| format!("the setup pin again: {e}"))?;
            let next = json!({"pin": ctx.pin(&secret, 1).await, "id": id}).to_string();
            expect(
                &ctx.client().post("/api/auth.verifyLogin2FA", &next).await,
                200,
                "true",
            )?;
            login().await;
            let r = ctx.client().post("/api/auth.verifyLogin2FA", &next).await;
            expect_error(&r, "BAD_REQUEST", msg::INVALID_2FA)
                .map_err(|e| format!("a replayed pin: {e}"))
        }),
        check!("auth.disable2FA", "turns 2FA off", |ctx| {
            let mut admin = ctx.admin().await?;
            ctx.enable_2fa(&mut admin).await?;
            let r = admin.post_empty("/api/auth.disable2FA").await;
            ensure!(
                r.status == 200 && r.json()["is2FAEnabled"] == false,
                "{}",
                r.body
            );
            let r = ctx.client().post("/api/auth.login", ADMIN).await;
            ensure!(r.json()["is2FAEnabled"] == false, "{}", r.body);
            Ok(())
        }),
        check!(
            "auth.sendResetPasswordEmail",
            "404 in self-hosted mode",
            stateless_self_hosted,
            |ctx| {
                let r = ctx
                    .client()
                    .post(
                        "/api/auth.sendResetPasswordEmail",
                        r#"{"email":"a@example.com"}"#,
                    )
                    .await;
                expect_error(&r, "NOT_FOUND", msg::CLOUD_ONLY)
            }
        ),
        check!(
            "auth.resetPassword",
            "404 in self-hosted mode",
            stateless_self_hosted,
            |ctx| {
                let r = ctx
                    .client()
                    .post(
                        "/api/auth.resetPassword",
                        r#"{"resetPasswordToken":"x","password":"password123"}"#,
                    )
                    .await;
                expect_error(&r, "NOT_FOUND", msg::CLOUD_ONLY)
            }
        ),
        check!(
            "auth.confirmEmail",
            "404 in self-hosted mode",
            stateless_self_hosted,
            |ctx| {
                let r = ctx
                    .client()
                    .post("/api/auth.confirmEmail", r#"{"confirmationToken":"x"}"#)
                    .await;
                expect_error(&r, "NOT_FOUND", msg::CLOUD_ONLY)
            }
        ),
        check!(
            "admin.createUserInvitation",
            "success; duplicate 400; members 401",
            |ctx| {
                let mut admin = ctx.admin().await?;
                let (mut member, _) = ctx.member(&mut admin, "dev@example.com").await?;
                let r = admin
                    .post(
                        "/api/admin.createUserInvitation",
                        r#"{"email":"DEV@example.com"}"#,
                    )
                    .await;
                expect_error(&r, "BAD_REQUEST", msg::INVITATION_DUPLICATE)?;
                let r = member
                    .post(
                        "/api/admin.createUserInvitation",
                        r#"{"email":"x@example.com"}"#,
                    )
                    .await;
                expect_error(&r, "UNAUTHORIZED", msg::UNAUTHORIZED)
            }
        ),
        check!(
            "admin.getUserByToken",
            "the invitation; 404 for an unknown token",
            |ctx| {
                let mut admin = ctx.admin().await?;
                let invitation = ctx.invite(&mut admin, "dev@example.com").await?;
                let token = invitation["token"].as_str().unwrap_or_default();
                ensure!(token.len() == 64, "token {token:?}");
                let r = send(
                    ctx.addr,
                    "GET",
                    &format!("/api/admin.getUserByToken?token={token}"),
                    &[],
                    "",
                )
                .await;
                expect_status(&r, 200)?;
                ensure!(
                    r.json()["isExpired"] == false
                        && r.json()["auth"]["email"] == "dev@example.com",
                    "{}",
                    r.body
                );
                let r = send(
                    ctx.addr,
                    "GET",
                    "/api/admin.getUserByToken?token=unknown",
                    &[],
                    "",
                )
                .await;
                expect_error(&r, "NOT_FOUND", msg::INVITATION_NOT_FOUND)
            }
        ),
        check!(
            "admin.removeUser",
            "removes a member and its sessions; 404 for oneself",
            |ctx| {
                let mut admin = ctx.admin().await?;
                let me = admin.get("/api/auth.get").await.json()["id"].clone();
                let (mut member, member_id) = ctx.member(&mut admin, "dev@example.com").await?;
                expect_error(
                    &admin
                        .post("/api/admin.removeUser", &json!({"authId": me}).to_string())
                        .await,
                    "NOT_FOUND",
                    msg::USER_NOT_MEMBER,
                )?;
                expect(
                    &admin
                        .post(
                            "/api/admin.removeUser",
                            &json!({"authId": member_id}).to_string(),
                        )
                        .await,
                    200,
                    "",
                )?;
                expect_status(&member.get("/api/auth.get").await, 401)
            }
        ),
        check!(
            "user.all",
            "the members with their accounts; 401 for members",
            |ctx| {
                let mut admin = ctx.admin().await?;
                let (mut member, _) = ctx.member(&mut admin, "dev@example.com").await?;
                ctx.invite(&mut admin, "pending@example.com").await?;
                let all = admin.get("/api/user.all").await.json();
                let emails: Vec<&str> = all
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|m| m["auth"]["email"].as_str())
                            .collect()
                    })
                    .unwrap_or_default();
                ensure!(
                    emails == ["dev@example.com", "pending@example.com"],
                    "members {emails:?}"
                );
                ensure!(
                    all[0]["isRegistered"] == true && all[1]["isRegistered"] == false,
                    "{all}"
                );
                for m in all.as_array().into_iter().flatten() {
                    expect_auth_shape(&m["auth"], m["auth"]["email"].as_str().unwrap_or_default())?;
                    ensure!(
                        m["auth"]["token"].is_null(),
                        "a member's token shown to the admin"
                    );
                }
                expect_error(
                    &member.get("/api/user.all").await,
                    "UNAUTHORIZED",
                    msg::UNAUTHORIZED,
                )
            }
        ),
        check!(
            "auth.createAdmin",
            "cloud: sign-up without a cookie, confirmation by email, then login",
            cloud,
            |ctx| {
                let r = ctx.client().post("/api/auth.createAdmin", ADMIN).await;
                expect(&r, 200, "true")?;
                ensure!(
                    r.set_cookie().is_none(),
                    "a cookie before confirmation: {:?}",
                    r.set_cookie()
                );
                let first = ctx.email_token("confirm-email?token=").await?;
                let r = ctx.client().post("/api/auth.login", ADMIN).await;
                expect_error(&r, "BAD_REQUEST", msg::EMAIL_NOT_CONFIRMED)?;
                let resent = ctx.email_token("confirm-email?token=").await?;
                ensure!(
                    resent != first,
                    "login did not send a new confirmation token"
                );
                let confirm = |token: &str| json!({"confirmationToken": token}).to_string();
                let r = ctx
                    .client()
                    .post("/api/auth.confirmEmail", &confirm(&first))
                    .await;
                expect_error(&r, "NOT_FOUND", msg::TOKEN_NOT_FOUND)
                    .map_err(|e| format!("the replaced token: {e}"))?;
                let r = ctx
                    .client()
                    .post("/api/auth.confirmEmail", &confirm(&resent))
                    .await;
                expect(&r, 200, "true")?;
                let r = ctx
                    .client()
                    .post("/api/auth.confirmEmail", &confirm(&resent))
                    .await;
                expect_error(&r, "NOT_FOUND", msg::TOKEN_NOT_FOUND)
                    .map_err(|e| format!("a used token: {e}"))?;
                let r = ctx.client().post("/api/auth.login", ADMIN).await;
                expect_status(&r, 200)?;
                expect_session_cookie(&r).map(|_| ())
            }
        ),
        check!(
            "auth.createAdmin",
            "cloud: many admins; 400 for an email in use",
            cloud,
            |ctx| {
                expect(
                    &ctx.client().post("/api/auth.createAdmin", ADMIN).await,
                    200,
                    "true",
                )?;
                let other = r#"{"email":"second@example.com","password":"password123"}"#;
                expect(
                    &ctx.client().post("/api/auth.createAdmin", other).await,
                    200,
                    "true",
                )?;
                let shouted = r#"{"email":"ADMIN@example.com","password":"password123"}"#;
                let r = ctx.client().post("/api/auth.createAdmin", shouted).await;
                expect_error(&r, "BAD_REQUEST", msg::EMAIL_IN_USE)
            }
        ),
        check!(
            "auth.resetPassword",
            "cloud: a reset by email sets the password once and ends the sessions",
            cloud,
            |ctx| {
                let mut admin = ctx.confirmed_cloud_admin().await?;
                let sent_before = ctx.target.emails().await.map_or(0, |e| e.len());
                let unknown = r#"{"email":"nobody@example.com"}"#;
                let r = ctx
                    .client()
                    .post("/api/auth.sendResetPasswordEmail", unknown)
                    .await;
                expect(&r, 200, "")?;
                let sent_after = ctx.target.emails().await.map_or(0, |e| e.len());
                ensure!(
                    sent_after == sent_before,
                    "an email sent to an unknown address"
                );
                let known = json!({"email": ADMIN_EMAIL}).to_string();
                let r = ctx
                    .client()
                    .post("/api/auth.sendResetPasswordEmail", &known)
                    .await;
                expect(&r, 200, "")?;
                let token = ctx.email_token("reset-password?token=").await?;
                let reset =
                    json!({"resetPasswordToken": token, "password": "a new password"}).to_string();
                let r = ctx.client().post("/api/auth.resetPassword", &reset).await;
                expect(&r, 200, "true")?;
                expect_error(
                    &admin.get("/api/auth.get").await,
                    "UNAUTHORIZED",
                    msg::UNAUTHORIZED,
                )
                .map_err(|e| format!("the old session after a reset: {e}"))?;
                let r = ctx.client().post("/api/auth.resetPassword", &reset).await;
                expect_error(&r, "NOT_FOUND", msg::TOKEN_NOT_FOUND)
                    .map_err(|e| format!("a used reset token: {e}"))?;
                let r = ctx.client().post("/api/auth.login", ADMIN).await;
                expect_error(&r, "BAD_REQUEST", msg::CREDENTIALS)?;
                let new = json!({"email": ADMIN_EMAIL, "password": "a new password"}).to_string();
                expect_status(&ctx.client().post("/api/auth.login", &new).await, 200)
            }
        ),
    ]
}
