//! Model-based testing: a reference model of the auth state (accounts, passwords,
//! cookie sessions with sliding expiry, API tokens, invitations, 2FA secrets with
//! the pending login and the last pin used) and random
//! sequences of calls, each answer checked against what the model predicts. A
//! failing sequence is printed as `curl` commands. Each call goes over REST or tRPC
//! at random, so one sequence mixes both transports over the same sessions.
//!
//! In the `dokploy-0.14` profile the model predicts what Dokploy v0.14 answers
//! (CONTRACT §5): calls without a session go over tRPC (its REST gate refuses them),
//! emails are looked up as typed, a new password ends no other session, invitations
//! never expire, a pin is accepted for the id alone and again within its window,
//! API tokens slide, answers of `generateToken` and `verify2FASetup` are the record
//! before; what Dokploy answers for a step the model leaves out there (an invitation
//! accepted with another account's id) is checked by the profile's checks.
//!
//! On a live instance (`--admin`, no reset) each sequence runs beside what the
//! instance holds, as its admin, on members it invites under new emails: the
//! admin's password, API token and 2FA are never changed, and no step the model
//! expects to fail a guess (a wrong password, pin or invitation) is sent, so the
//! instance's throttling never counts the suite against its admin or its address.
//! Each sequence's members are removed after it, and the admin's sessions it
//! opened logged out.

use crate::client::{curl, send, Resp, Transport};
use crate::live::{AdminCredential, LiveRun};
use crate::target::Target;
use proptest::prelude::*;
use serde_json::{json, Value};
use specs::lifetimes::{
    API_TOKEN_MS, HOUR_MS, INVITATION_MS, SESSION_MS, SESSION_REFRESH_BELOW_MS,
};
use specs::messages as msg;
use specs::Profile;
use std::net::SocketAddr;

const EMAILS: [&str; 3] = ["m0@example.com", "m1@example.com", "m2@example.com"];
const ADMIN_EMAIL: &str = "admin@example.com";
/// An API token's session in the model that outlives any sequence.
const FOREVER_MS: i64 = i64::MAX / 4;

/// One step. Indices pick among what exists when the step runs.
#[derive(Debug, Clone)]
pub enum Op {
    Login {
        who: usize,
        right_password: bool,
        shout: bool,
    },
    Get {
        session: usize,
    },
    Logout {
        session: usize,
    },
    GenerateToken {
        session: usize,
    },
    ChangePassword {
        session: usize,
    },
    Invite {
        session: usize,
        email: usize,
    },
    Accept {
        member: usize,
        right_id: bool,
    },
    Remove {
        session: usize,
        member: usize,
    },
    Advance {
        hours: u32,
    },
    BadLogin,
    /// Turns 2FA on for the session's account (a new secret and a pin from it).
    Enable2FA {
        session: usize,
    },
    /// Finishes a 2FA login with the pin of now, or a wrong pin; a second pin in the
    /// same 30 s step is a replay.
    Pin {
        who: usize,
        right: bool,
    },
}

pub fn op() -> impl Strategy<Value = Op> {
    let i = || 0..8usize;
    prop_oneof![
        3 => (i(), any::<bool>(), any::<bool>()).prop_map(|(who, right_password, shout)| Op::Login { who, right_password, shout }),
        4 => i().prop_map(|session| Op::Get { session }),
        1 => i().prop_map(|session| Op::Logout { session }),
        1 => i().prop_map(|session| Op::GenerateToken { session }),
        1 => i().prop_map(|session| Op::ChangePassword { session }),
        2 => (i(), 0..EMAILS.len()).prop_map(|(session, email)| Op::Invite { session, email }),
        2 => (i(), any::<bool>()).prop_map(|(member, right_id)| Op::Accept { member, right_id }),
        1 => (i(), i()).prop_map(|(session, member)| Op::Remove { session, member }),
        1 => (1u32..30).prop_map(|hours| Op::Advance { hours }),
        // Past every lifetime, API tokens' 365 days included.
        1 => Just(Op::Advance { hours: 366 * 24 }),
        1 => Just(Op::BadLogin),
        2 => i().prop_map(|session| Op::Enable2FA { session }),
        3 => (i(), any::<bool>()).prop_map(|(who, right)| Op::Pin { who, right }),
    ]
}

#[derive(Debug, Clone)]
struct Account {
    email: String,
    id: String,
    password: Option<String>,
    admin: bool,
    /// Members: the invitation.
    invitation: Option<(String, i64)>,
    removed: bool,
    /// The TOTP secret once 2FA is on.
    totp_secret: Option<String>,
    /// The 30 s step of the last pin accepted.
    last_step: Option<i64>,
    /// Until when a pin finishes a login (after a correct password).
    pending_until: Option<i64>,
}

impl Account {
    /// The admin, as `auth.get` (`me`) shows it.
    fn admin(email: &str, me: &Value, password: Option<String>) -> Account {
        Account {
            email: email.to_string(),
            id: me["id"].as_str().unwrap_or_default().to_string(),
            password,
            admin: true,
            invitation: None,
            removed: false,
            totp_secret: None,
            last_step: None,
            pending_until: None,
        }
    }
}

#[derive(Debug, Clone)]
struct Session {
    owner: usize,
    id: String,
    token: bool,
    expires_at: i64,
    alive: bool,
}

struct Model {
    now: i64,
    accounts: Vec<Account>,
    sessions: Vec<Session>,
    /// Each request as a curl command, for the failure report.
    transcript: Vec<String>,
    addr: SocketAddr,
    /// The transport of the step being run.
    transport: Transport,
    /// The target's clock when the step began (for TOTP pins): the same as `now` on
    /// a target whose clock the suite moves, the system's otherwise.
    clock_ms: i64,
    /// The emails members are invited under.
    emails: Vec<String>,
    /// A live instance: what the sequence made, to tidy after it.
    live: Option<std::sync::Arc<LiveRun>>,
    /// Dokploy v0.14's answers are expected (`--profile dokploy-0.14`).
    dokploy: bool,
}

const PENDING_2FA_MS: i64 = specs::lifetimes::PENDING_2FA_MS;

fn step_of(ms: i64) -> i64 {
    ms.div_euclid(30_000)
}

fn pin_at(secret: &str, ms: i64) -> String {
    crate::totp::pin(secret, u64::try_from(ms / 1000).unwrap_or(0)).unwrap_or_default()
}

pub fn transport() -> impl Strategy<Value = Transport> {
    one_of(crate::runner::BOTH)
}

/// One of `transports`, at random.
fn one_of(transports: &[Transport]) -> impl Strategy<Value = Transport> {
    prop::sample::select(transports.to_vec())
}

type Step = Result<(), String>;

fn expect(r: &Resp, status: u16, body: Option<&str>, what: &str) -> Step {
    let body_ok = body.is_none_or(|b| r.body == b);
    if r.status == status && body_ok {
        Ok(())
    } else {
        Err(format!(
            "{what}: expected {status} {}\n  got {} {}",
            body.unwrap_or("…"),
            r.status,
            r.body
        ))
    }
}

fn error(code: &str, message: &str) -> String {
    crate::client::envelope(code, message)
}

impl Model {
    /// A 401: with the contract's envelope, or in the Dokploy profile whichever its
    /// gate or procedure gives (the gate answers REST, the procedure tRPC).
    fn expect_unauthorized(&self, r: &Resp, what: &str) -> Step {
        let body = error("UNAUTHORIZED", msg::UNAUTHORIZED);
        expect(r, 401, (!self.dokploy).then_some(body.as_str()), what)
    }
}

impl Model {
    async fn call(
        &mut self,
        method: &str,
        path: &str,
        session: Option<usize>,
        body: Option<&str>,
    ) -> Resp {
        let credential = session.map(|s| {
            let s = &self.sessions[s];
            if s.token {
                ("authorization", format!("Bearer {}", s.id))
            } else {
                ("cookie", format!("auth_session={}", s.id))
            }
        });
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some((name, value)) = &credential {
            headers.push((name, value.as_str()));
        }
        // A cookie session's change declares JSON, as a page's `fetch` does (the
        // contract refuses it otherwise, difference 22).
        let by_cookie = matches!(credential, Some(("cookie", _)));
        if body.is_some() || (method == "POST" && by_cookie) {
            headers.push(("content-type", "application/json"));
        }
        // Dokploy's REST gate refuses what has no session: such calls go over tRPC.
        let transport = match (self.dokploy, session) {
            (true, None) => Transport::Trpc,
            _ => self.transport,
        };
        let (path, body) = transport.request(method, path, body.unwrap_or(""));
        self.transcript
            .push(curl(self.addr, method, &path, &headers, &body));
        let r = transport.as_rest(send(self.addr, method, &path, &headers, &body).await);
        // The model's side of authentication: a live cookie session slides.
        if let Some(s) = session {
            self.touch(s);
        }
        r
    }

    fn pick(&self, session: usize) -> Option<usize> {
        (!self.sessions.is_empty()).then(|| session % self.sessions.len())
    }

    /// Whether session `s` is live now (expiring it in the model if not).
    fn live(&mut self, s: usize) -> bool {
        let now = self.now;
        let session = &mut self.sessions[s];
        if session.alive && (session.expires_at <= now || self.accounts[session.owner].removed) {
            session.alive = false;
        }
        self.sessions[s].alive
    }

    fn touch(&mut self, s: usize) {
        if self.live(s) {
            let now = self.now;
            let session = &mut self.sessions[s];
            if !session.token && session.expires_at - now <= SESSION_REFRESH_BELOW_MS {
                session.expires_at = now + SESSION_MS;
            }
            // Dokploy's API tokens slide too, to 365 days once fewer than half are
            // left (difference 18).
            if session.token && self.dokploy && session.expires_at - now < API_TOKEN_MS / 2 {
                session.expires_at = now + API_TOKEN_MS;
            }
        }
    }

    fn new_session(&mut self, owner: usize, r: &Resp) -> Step {
        let id = r
            .session_id()
            .ok_or_else(|| format!("no session cookie: {:?}", r.set_cookie()))?;
        if let (Some(run), true) = (&self.live, self.accounts[owner].admin) {
            run.opened_admin_session(&id);
        }
        self.sessions.push(Session {
            owner,
            id,
            token: false,
            expires_at: self.now + SESSION_MS,
            alive: true,
        });
        Ok(())
    }

    /// The `n`th (modulo) of the accounts `which` picks.
    fn nth_account(&self, n: usize, which: impl Fn(&Account) -> bool) -> Option<usize> {
        let picked: Vec<usize> = (0..self.accounts.len())
            .filter(|&i| which(&self.accounts[i]))
            .collect();
        picked.get(n % picked.len().max(1)).copied()
    }

    /// The account `Op::Accept { member }` acts on: one with an invitation.
    fn invited(&self, member: usize) -> Option<usize> {
        self.nth_account(member, |a| a.invitation.is_some())
    }

    /// The account `Op::Pin { who }` acts on: one with 2FA on.
    fn enrolled(&self, who: usize) -> Option<usize> {
        self.nth_account(who, |a| a.totp_secret.is_some())
    }

    /// Whether account `m`'s invitation, with its own id, makes the account now:
    /// not used, not removed, not expired (Dokploy's never expire, difference 2).
    fn invitation_opens(&self, m: usize) -> bool {
        let account = &self.accounts[m];
        let expires_at = account.invitation.as_ref().map_or(0, |i| i.1);
        account.password.is_none() && !account.removed && (self.dokploy || self.now <= expires_at)
    }

    /// Whether the pin of now for account `a` logs in: after its password, in a
    /// later step than the last pin accepted; in Dokploy for the id alone, and
    /// again within its window (differences 7 and 13).
    fn pin_accepted(&self, a: usize) -> bool {
        let account = &self.accounts[a];
        let step = step_of(self.clock_ms);
        !account.removed
            && (self.dokploy
                || (account.pending_until.is_some_and(|until| until > self.now)
                    && account.last_step.is_none_or(|last| step > last)))
    }

    /// Whether `op` may run on a live instance: it changes nothing of the admin's
    /// own (password, API token, 2FA), and it is no guess the model expects to fail
    /// (the instance's throttling would count it against the admin or the address).
    fn safe_on_a_live_instance(&self, op: &Op) -> bool {
        let owner = |session: usize| self.pick(session).map(|s| self.sessions[s].owner);
        let not_the_admin = |session| owner(session).is_some_and(|o| !self.accounts[o].admin);
        match *op {
            Op::Login {
                who,
                right_password,
                ..
            } => {
                let account = &self.accounts[who % self.accounts.len()];
                right_password && account.password.is_some() && !account.removed
            }
            Op::GenerateToken { session }
            | Op::ChangePassword { session }
            | Op::Enable2FA { session } => not_the_admin(session),
            Op::Accept { member, right_id } => {
                right_id
                    && self
                        .invited(member)
                        .is_some_and(|m| self.invitation_opens(m))
            }
            Op::Pin { who, right } => {
                right && self.enrolled(who).is_some_and(|a| self.pin_accepted(a))
            }
            Op::Get { .. }
            | Op::Logout { .. }
            | Op::Invite { .. }
            | Op::Remove { .. }
            | Op::Advance { .. }
            | Op::BadLogin => true,
        }
    }

    /// Whether the model predicts Dokploy's answer to `op`. Left out: an invitation
    /// accepted with another account's id (it sets that account's password,
    /// difference 1: its own check covers it), and a token that replaces itself (the
    /// answer is the record before, difference 6: the model reads the new token with
    /// the session after, which that ends).
    fn modelled_in_dokploy(&self, op: &Op) -> bool {
        match *op {
            Op::Accept { right_id, .. } => right_id,
            Op::GenerateToken { session } => {
                self.pick(session).is_none_or(|s| !self.sessions[s].token)
            }
            _ => true,
        }
    }

    /// Runs one step: one call (or a move of the clock), checked against the model.
    async fn step(&mut self, op: &Op) -> Step {
        match *op {
            Op::Login {
                who,
                right_password,
                shout,
            } => self.login(who, right_password, shout).await,
            Op::Get { session } => self.get(session).await,
            Op::Logout { session } => self.logout(session).await,
            Op::GenerateToken { session } => self.generate_token(session).await,
            Op::ChangePassword { session } => self.change_password(session).await,
            Op::Invite { session, email } => self.invite(session, email).await,
            Op::Accept { member, right_id } => self.accept(member, right_id).await,
            Op::Remove { session, member } => self.remove(session, member).await,
            Op::Advance { hours } => self.advance(hours).await,
            Op::Enable2FA { session } => self.enable_2fa(session).await,
            Op::Pin { who, right } => self.pin(who, right).await,
            Op::BadLogin => self.bad_login().await,
        }
    }

    /// `auth.login` with the right or a wrong password, the email as typed or shouted.
    async fn login(&mut self, who: usize, right_password: bool, shout: bool) -> Step {
        let who = who % self.accounts.len();
        let account = self.accounts[who].clone();
        let email = if shout {
            account.email.to_uppercase()
        } else {
            account.email.clone()
        };
        let password = match (&account.password, right_password) {
            (Some(p), true) => p.clone(),
            _ => "wrong-password".to_string(),
        };
        let body = json!({"email": email, "password": password}).to_string();
        let r = self
            .call("POST", "/api/auth.login", None, Some(&body))
            .await;
        // The account the email names now: a removed member's email may have been
        // invited again. Dokploy looks it up as typed (difference 4).
        let found = self
            .accounts
            .iter()
            .position(|a| a.email == account.email && !a.removed)
            .filter(|_| !(self.dokploy && shout));
        let Some(who) = found else {
            let message = match self.dokploy {
                true => msg::dokploy::LOGIN_UNKNOWN_EMAIL,
                false => msg::CREDENTIALS,
            };
            return expect(
                &r,
                400,
                Some(&error("BAD_REQUEST", message)),
                "a login with an email no account has",
            );
        };
        let account = self.accounts[who].clone();
        let can = account.password.as_deref() == Some(password.as_str());
        if can && account.totp_secret.is_some() {
            let expected = json!({"is2FAEnabled": true, "authId": account.id}).to_string();
            expect(&r, 200, Some(&expected), "login of a 2FA account")?;
            if r.set_cookie().is_some() {
                return Err(format!(
                    "a 2FA login set a cookie before the pin: {:?}",
                    r.set_cookie()
                ));
            }
            self.accounts[who].pending_until = Some(self.now + PENDING_2FA_MS);
            Ok(())
        } else if can {
            let expected = json!({"is2FAEnabled": false, "authId": account.id}).to_string();
            expect(&r, 200, Some(&expected), "login")?;
            self.new_session(who, &r)
        } else {
            expect(
                &r,
                400,
                Some(&error("BAD_REQUEST", msg::CREDENTIALS)),
                "failed login",
            )
        }
    }

    /// `auth.get` on a session, live or not.
    async fn get(&mut self, session: usize) -> Step {
        let Some(s) = self.pick(session) else {
            return Ok(());
        };
        let live = self.live(s);
        let r = self.call("GET", "/api/auth.get", Some(s), None).await;
        if live {
            expect(&r, 200, None, "auth.get")?;
            let email = &self.accounts[self.sessions[s].owner].email;
            if r.json()["email"] != email.as_str() {
                return Err(format!(
                    "auth.get: email {} instead of {email}",
                    r.json()["email"]
                ));
            }
            Ok(())
        } else {
            self.expect_unauthorized(&r, "auth.get on a dead session")
        }
    }

    /// `auth.logout` of a session.
    async fn logout(&mut self, session: usize) -> Step {
        let Some(s) = self.pick(session) else {
            return Ok(());
        };
        let live = self.live(s);
        let r = self.call("POST", "/api/auth.logout", Some(s), None).await;
        match (live, self.sessions[s].token) {
            (false, _) => expect(&r, 401, None, "logout on a dead session"),
            (true, true) => expect(&r, 200, Some("false"), "logout with a token"),
            (true, false) => {
                self.sessions[s].alive = false;
                expect(&r, 200, Some("true"), "logout")
            }
        }
    }

    /// `auth.generateToken`: a new API token replaces the old one.
    async fn generate_token(&mut self, session: usize) -> Step {
        let Some(s) = self.pick(session) else {
            return Ok(());
        };
        let live = self.live(s);
        let r = self
            .call("POST", "/api/auth.generateToken", Some(s), None)
            .await;
        if !live {
            return expect(&r, 401, None, "generateToken on a dead session");
        }
        expect(&r, 200, None, "generateToken")?;
        let owner = self.sessions[s].owner;
        for other in self
            .sessions
            .iter_mut()
            .filter(|x| x.owner == owner && x.token)
        {
            other.alive = false;
        }
        let answer = match self.dokploy {
            // The answer is the record before the change (difference 6).
            true => self.call("GET", "/api/auth.get", Some(s), None).await,
            false => r,
        };
        let id = answer.json()["token"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        self.sessions.push(Session {
            owner,
            id,
            token: true,
            expires_at: self.now + API_TOKEN_MS,
            alive: true,
        });
        Ok(())
    }

    /// `auth.update` with a new password: other cookie sessions end.
    async fn change_password(&mut self, session: usize) -> Step {
        let Some(s) = self.pick(session) else {
            return Ok(());
        };
        let live = self.live(s);
        let password = format!("changed-{}", self.transcript.len());
        let body = json!({"email": null, "password": password}).to_string();
        let r = self
            .call("POST", "/api/auth.update", Some(s), Some(&body))
            .await;
        if !live {
            return expect(&r, 401, None, "update on a dead session");
        }
        expect(&r, 200, None, "update")?;
        let owner = self.sessions[s].owner;
        self.accounts[owner].password = Some(password);
        if self.dokploy {
            // Dokploy ends no other session.
            return Ok(());
        }
        for (i, other) in self.sessions.iter_mut().enumerate() {
            if other.owner == owner && !other.token && i != s {
                other.alive = false;
            }
        }
        Ok(())
    }

    /// `admin.createUserInvitation`.
    async fn invite(&mut self, session: usize, email: usize) -> Step {
        let Some(s) = self.pick(session) else {
            return Ok(());
        };
        let live = self.live(s);
        let is_admin = self.accounts[self.sessions[s].owner].admin;
        let email = self.emails[email % self.emails.len()].clone();
        let email = email.as_str();
        let body = json!({"email": email}).to_string();
        let r = self
            .call(
                "POST",
                "/api/admin.createUserInvitation",
                Some(s),
                Some(&body),
            )
            .await;
        if !live || !is_admin {
            return self.expect_unauthorized(&r, "invite without an admin session");
        }
        if self.accounts.iter().any(|a| a.email == email && !a.removed) {
            return expect(
                &r,
                400,
                Some(&error("BAD_REQUEST", msg::INVITATION_DUPLICATE)),
                "duplicate invite",
            );
        }
        expect(&r, 200, Some(""), "invite")?;
        let all = self
            .call("GET", "/api/user.all", Some(s), None)
            .await
            .json();
        let member = all
            .as_array()
            .and_then(|a| a.iter().find(|m| m["auth"]["email"] == email))
            .cloned()
            .unwrap_or(Value::Null);
        let id = member["authId"].as_str().unwrap_or_default().to_string();
        if let Some(run) = &self.live {
            run.made_member(&id);
        }
        self.accounts.push(Account {
            email: email.to_string(),
            id,
            password: None,
            admin: false,
            invitation: Some((
                member["token"].as_str().unwrap_or_default().to_string(),
                self.now + INVITATION_MS,
            )),
            removed: false,
            totp_secret: None,
            last_step: None,
            pending_until: None,
        });
        Ok(())
    }

    /// `auth.createUser` with an invitation, with the right or a wrong id.
    async fn accept(&mut self, member: usize, right_id: bool) -> Step {
        let Some(m) = self.invited(member) else {
            return Ok(());
        };
        let account = self.accounts[m].clone();
        let (token, _) = account.invitation.clone().unwrap_or_default();
        let id = if right_id {
            account.id.clone()
        } else {
            self.accounts[0].id.clone()
        };
        let body = json!({"password": "memberpass1", "id": id, "token": token}).to_string();
        let r = self
            .call("POST", "/api/auth.createUser", None, Some(&body))
            .await;
        let pending = account.password.is_none() && !account.removed;
        if self.dokploy && account.password.is_some() && !account.removed {
            return expect(
                &r,
                400,
                Some(&error("BAD_REQUEST", msg::dokploy::CREATE_USER)),
                "accepting a used invitation",
            );
        }
        if !right_id || !pending {
            return expect(
                &r,
                400,
                Some(&error("BAD_REQUEST", msg::INVALID_TOKEN)),
                "accepting with a wrong id or used token",
            );
        }
        if !self.invitation_opens(m) {
            return expect(
                &r,
                400,
                Some(&error("BAD_REQUEST", msg::INVITATION_EXPIRED)),
                "accepting an expired invitation",
            );
        }
        expect(&r, 200, Some("true"), "accepting an invitation")?;
        self.accounts[m].password = Some("memberpass1".into());
        self.new_session(m, &r)
    }

    /// `admin.removeUser`.
    async fn remove(&mut self, session: usize, member: usize) -> Step {
        let Some(s) = self.pick(session) else {
            return Ok(());
        };
        let members: Vec<usize> = (0..self.accounts.len())
            .filter(|&i| !self.accounts[i].admin)
            .collect();
        let Some(&m) = members.get(member % members.len().max(1)) else {
            return Ok(());
        };
        let live = self.live(s);
        let is_admin = self.accounts[self.sessions[s].owner].admin;
        let body = json!({"authId": self.accounts[m].id}).to_string();
        let r = self
            .call("POST", "/api/admin.removeUser", Some(s), Some(&body))
            .await;
        if !live || !is_admin {
            return expect(&r, 401, None, "remove without an admin session");
        }
        if self.accounts[m].removed {
            let (status, code, message) = match self.dokploy {
                true => (400, "BAD_REQUEST", msg::dokploy::REMOVE_USER),
                false => (404, "NOT_FOUND", msg::USER_NOT_MEMBER),
            };
            return expect(&r, status, Some(&error(code, message)), "removing twice");
        }
        expect(&r, 200, Some(""), "remove")?;
        self.accounts[m].removed = true;
        Ok(())
    }

    /// Moves the clock.
    async fn advance(&mut self, hours: u32) -> Step {
        let ms = i64::from(hours) * HOUR_MS;
        self.now += ms;
        self.transcript.push(format!("# the clock moves {hours} h"));
        Ok(())
    }

    /// `auth.generate2FASecret` then `auth.verify2FASetup`.
    async fn enable_2fa(&mut self, session: usize) -> Step {
        let Some(s) = self.pick(session) else {
            return Ok(());
        };
        let owner = self.sessions[s].owner;
        if self.accounts[owner].totp_secret.is_some() {
            return Ok(());
        }
        let live = self.live(s);
        let r = self
            .call("GET", "/api/auth.generate2FASecret", Some(s), None)
            .await;
        if !live {
            return expect(&r, 401, None, "generate2FASecret on a dead session");
        }
        expect(&r, 200, None, "generate2FASecret")?;
        let secret = r.json()["secret"].as_str().unwrap_or_default().to_string();
        let pin = pin_at(&secret, self.clock_ms);
        let body = json!({"pin": pin, "secret": secret}).to_string();
        let r = self
            .call("POST", "/api/auth.verify2FASetup", Some(s), Some(&body))
            .await;
        expect(&r, 200, None, "verify2FASetup")?;
        // Dokploy answers the record before the change (difference 6).
        if r.json()["is2FAEnabled"] != !self.dokploy {
            return Err(format!("verify2FASetup's answer: {}", r.body));
        }
        let account = &mut self.accounts[owner];
        account.totp_secret = Some(secret);
        account.last_step = Some(step_of(self.clock_ms));
        Ok(())
    }

    /// `auth.verifyLogin2FA` with the pin of now or a wrong one.
    async fn pin(&mut self, who: usize, right: bool) -> Step {
        let Some(a) = self.enrolled(who) else {
            return Ok(());
        };
        let account = self.accounts[a].clone();
        let secret = account.totp_secret.clone().unwrap_or_default();
        let step = step_of(self.clock_ms);
        let pin = if right {
            pin_at(&secret, self.clock_ms)
        } else {
            // A pin valid at no step the target accepts now.
            let valid: Vec<String> = [-30_000, 0, 30_000]
                .iter()
                .map(|d| pin_at(&secret, self.clock_ms + d))
                .collect();
            (0..4)
                .map(|n| format!("{n}{n}{n}{n}{n}{n}"))
                .find(|p| !valid.contains(p))
                .unwrap_or_default()
        };
        let body = json!({"pin": pin, "id": account.id}).to_string();
        let r = self
            .call("POST", "/api/auth.verifyLogin2FA", None, Some(&body))
            .await;
        if self.dokploy && account.removed {
            return expect(
                &r,
                404,
                Some(&error("NOT_FOUND", msg::AUTH_NOT_FOUND)),
                "a pin for a removed account",
            );
        }
        let accepted = right && self.pin_accepted(a);
        if accepted {
            expect(&r, 200, Some("true"), "a fresh pin after the password")?;
            self.accounts[a].pending_until = None;
            self.accounts[a].last_step = Some(step);
            self.new_session(a, &r)
        } else {
            expect(
                &r,
                400,
                Some(&error("BAD_REQUEST", msg::INVALID_2FA)),
                "a wrong, replayed or unexpected pin",
            )
        }
    }

    /// `auth.login` with invalid input.
    async fn bad_login(&mut self) -> Step {
        let r = self
            .call("POST", "/api/auth.login", None, Some(r#"{"email":"nope"}"#))
            .await;
        expect(
            &r,
            400,
            Some(
                r#"{"message":"Input validation failed","code":"BAD_REQUEST","issues":[{"validation":"email","code":"invalid_string","message":"Invalid email","path":["email"]},{"code":"invalid_type","expected":"string","received":"undefined","path":["password"],"message":"Required"}]}"#,
            ),
            "bad input",
        )
    }
}

/// Runs `ops` on a fresh instance of `target` (or, with `live`, beside what a live
/// instance holds, tidied after); on a mismatch, the failure and the requests that
/// led to it as `curl` commands.
pub async fn run_case(
    target: &dyn Target,
    ops: &[(Op, Transport)],
    can_move_clock: bool,
    live: Option<std::sync::Arc<LiveRun>>,
    profile: Profile,
) -> Result<(), String> {
    let addr = match live {
        Some(_) => target.shared().await?,
        None => target.fresh().await?,
    };
    let mut model = Model {
        now: target.now_ms().await,
        accounts: Vec::new(),
        sessions: Vec::new(),
        transcript: Vec::new(),
        addr,
        // The set-up too goes over a transport the run was given (a Dokploy answers
        // REST without a session only with its gate).
        transport: ops.first().map_or(Transport::Rest, |(_, t)| *t),
        clock_ms: 0,
        emails: EMAILS.iter().map(|e| e.to_string()).collect(),
        live: live.clone(),
        dokploy: profile.is_dokploy(),
    };
    let outcome = match &live {
        Some(run) => {
            model.emails = EMAILS.iter().map(|e| run.email(&e[..2])).collect();
            model.run_live(target, run, ops, can_move_clock).await
        }
        None => model.run_fresh(target, ops, can_move_clock).await,
    };
    let outcome = outcome.map_err(|why| {
        format!(
            "{why}\n\nthe requests, as curl:\n{}",
            model.transcript.join("\n")
        )
    });
    if let Some(run) = &live {
        run.tidy(addr).await?;
    }
    outcome
}

impl Model {
    /// A fresh instance: its first admin made by the sequence, then `ops`.
    async fn run_fresh(
        &mut self,
        target: &dyn Target,
        ops: &[(Op, Transport)],
        can_move_clock: bool,
    ) -> Step {
        let body = json!({"email": ADMIN_EMAIL, "password": "password123"}).to_string();
        let r = self
            .call("POST", "/api/auth.createAdmin", None, Some(&body))
            .await;
        expect(&r, 200, Some("true"), "createAdmin")?;
        let cookie = format!("auth_session={}", r.session_id().unwrap_or_default());
        let me = self.get_as(&[("cookie", &cookie)]).await;
        self.accounts
            .push(Account::admin(ADMIN_EMAIL, &me, Some("password123".into())));
        self.new_session(0, &r)?;
        self.run_ops(target, ops, can_move_clock).await
    }

    /// A live instance: as its admin (a new cookie session, or its API token).
    async fn run_live(
        &mut self,
        target: &dyn Target,
        run: &LiveRun,
        ops: &[(Op, Transport)],
        can_move_clock: bool,
    ) -> Step {
        match &run.admin {
            AdminCredential::Password { email, password } => {
                let body = json!({"email": email, "password": password}).to_string();
                let r = self
                    .call("POST", "/api/auth.login", None, Some(&body))
                    .await;
                expect(&r, 200, None, "the admin's login")?;
                let cookie = format!("auth_session={}", r.session_id().unwrap_or_default());
                let me = self.get_as(&[("cookie", &cookie)]).await;
                self.accounts
                    .push(Account::admin(email, &me, Some(password.clone())));
                self.new_session(0, &r)?;
            }
            AdminCredential::Token(token) => {
                let bearer = format!("Bearer {token}");
                let me = self.get_as(&[("authorization", &bearer)]).await;
                let email = me["email"].as_str().unwrap_or_default().to_string();
                self.accounts.push(Account::admin(&email, &me, None));
                self.sessions.push(Session {
                    owner: 0,
                    id: token.clone(),
                    token: true,
                    expires_at: FOREVER_MS,
                    alive: true,
                });
            }
        }
        self.run_ops(target, ops, can_move_clock).await
    }

    /// Each of `ops` over its transport, checked against the model; a move of the
    /// clock only where the target's clock moves, and on a live instance only what
    /// is safe there.
    async fn run_ops(
        &mut self,
        target: &dyn Target,
        ops: &[(Op, Transport)],
        can_move_clock: bool,
    ) -> Step {
        for (op, transport) in ops {
            self.transport = *transport;
            if let Op::Advance { hours } = op {
                if !can_move_clock || !target.advance_clock(i64::from(*hours) * HOUR_MS).await {
                    continue;
                }
            }
            self.clock_ms = target.now_ms().await;
            if self.live.is_some() && !self.safe_on_a_live_instance(op) {
                continue;
            }
            if self.dokploy && !self.modelled_in_dokploy(op) {
                continue;
            }
            self.step(op).await?;
        }
        Ok(())
    }

    /// `auth.get` with `headers`, over the step's transport, as JSON.
    async fn get_as(&mut self, headers: &[(&str, &str)]) -> Value {
        let (path, query_body) = self.transport.request("GET", "/api/auth.get", "");
        self.transport
            .as_rest(send(self.addr, "GET", &path, headers, &query_body).await)
            .json()
    }
}

/// Runs `cases` random call sequences (from `seed`) against `target`, each on a fresh
/// instance, each call over one of `transports` (`--transport`); on a disagreement,
/// the minimal failing sequence and its `curl` commands. Needs a multi-threaded
/// tokio runtime.
pub async fn property(
    target: &dyn Target,
    cases: u32,
    seed: u64,
    transports: &[Transport],
    profile: Profile,
) -> Result<(), String> {
    if transports.is_empty() {
        return Err("no transport to run the model over".into());
    }
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let can_move_clock = target.advance_clock(0).await;
    let live = target
        .live_admin()
        .map(|admin| std::sync::Arc::new(LiveRun::new(admin)));
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(
        config,
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    let handle = tokio::runtime::Handle::current();
    tokio::task::block_in_place(|| {
        runner
            .run(
                &prop::collection::vec((op(), one_of(transports)), 1..30),
                |ops| {
                    handle
                        .block_on(run_case(
                            target,
                            &ops,
                            can_move_clock,
                            live.clone(),
                            profile,
                        ))
                        .map_err(TestCaseError::fail)
                },
            )
            .map_err(|failure| failure.to_string())
    })
}
