//! Checks on a live instance, one that cannot be reset (a staging server, `make
//! run`): given the admin's credentials, the checks work beside what is there. Each
//! makes its own members under emails no one else uses, acts as one of them where
//! the contract's check acted as the admin, and is tidied after: its members removed
//! (their sessions with them), the admin's sessions it opened logged out. The
//! admin's own record is never changed.

use crate::client::{send, Client};
use serde_json::json;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// How the suite acts as a live target's admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminCredential {
    /// `EMAIL:PASSWORD`: logs in (the account must not have 2FA on).
    Password { email: String, password: String },
    /// An API token of the admin (`auth.generateToken`): works with 2FA on too.
    Token(String),
}

impl FromStr for AdminCredential {
    type Err = String;

    /// `EMAIL:PASSWORD` (the password may contain `:`).
    fn from_str(text: &str) -> Result<AdminCredential, String> {
        match text.split_once(':') {
            Some((email, password)) if email.contains('@') && !password.is_empty() => {
                Ok(AdminCredential::Password {
                    email: email.to_string(),
                    password: password.to_string(),
                })
            }
            _ => Err("expected EMAIL:PASSWORD".into()),
        }
    }
}

/// What a run on a live target must undo.
enum Leftover {
    /// A member (or pending invitation) a check made: removed by the admin.
    Member(String),
    /// A cookie session of the admin that a check opened: logged out.
    AdminSession(String),
}

/// One run of the suite on a live target.
pub struct LiveRun {
    pub admin: AdminCredential,
    /// Starts every email the run makes, so that two runs, or a run and the
    /// instance's real people, never meet.
    prefix: String,
    next: AtomicU64,
    leftovers: Mutex<Vec<Leftover>>,
}

impl LiveRun {
    pub fn new(admin: AdminCredential) -> LiveRun {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        LiveRun {
            admin,
            prefix: format!("conformance-{:x}-{}", nanos, std::process::id()),
            next: AtomicU64::new(0),
            leftovers: Mutex::new(Vec::new()),
        }
    }

    /// A new email no account of the instance has, named after `label`.
    pub fn email(&self, label: &str) -> String {
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        format!("{}-{n}-{label}@example.com", self.prefix)
    }

    /// The admin, as a client of `base` (its transport kept): by token, or by a new
    /// cookie session, which the tidy-up logs out.
    pub async fn admin(&self, base: &Client) -> Result<Client, String> {
        match &self.admin {
            AdminCredential::Token(token) => Ok(base.with_bearer(token)),
            AdminCredential::Password { email, password } => {
                let mut admin = base.clone();
                let body = json!({"email": email, "password": password}).to_string();
                let r = admin.post("/api/auth.login", &body).await;
                if r.status != 200 {
                    return Err(format!(
                        "the admin's login was refused: {} {}",
                        r.status, r.body
                    ));
                }
                let cookie = admin.cookie.clone().ok_or_else(|| {
                    if r.body.contains("\"is2FAEnabled\":true") {
                        "the admin has 2FA on: give an API token (--admin-token) instead".into()
                    } else {
                        format!("the admin's login set no cookie: {}", r.body)
                    }
                })?;
                self.leftover(Leftover::AdminSession(cookie));
                Ok(admin)
            }
        }
    }

    /// A cookie session of the admin that a check opened, to be logged out after it.
    pub fn opened_admin_session(&self, cookie: &str) {
        self.leftover(Leftover::AdminSession(cookie.to_string()));
    }

    /// A member or invitation a check made, to be removed after it.
    pub fn made_member(&self, auth_id: &str) {
        self.leftover(Leftover::Member(auth_id.to_string()));
    }

    fn leftover(&self, leftover: Leftover) {
        self.leftovers().push(leftover);
    }

    fn leftovers(&self) -> std::sync::MutexGuard<'_, Vec<Leftover>> {
        self.leftovers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Undoes what the checks so far left: members removed, then the admin's
    /// sessions logged out. Why it could not, if it could not.
    pub async fn tidy(&self, addr: SocketAddr) -> Result<(), String> {
        if self.leftovers().is_empty() {
            return Ok(());
        }
        let mut admin = self.admin(&Client::new(addr)).await?;
        // The session the tidy-up itself opened is the last one logged out.
        let leftovers = std::mem::take(&mut *self.leftovers());
        let mut problems = Vec::new();
        for leftover in &leftovers {
            let Leftover::Member(id) = leftover else {
                continue;
            };
            let body = json!({ "authId": id }).to_string();
            let r = admin.post("/api/admin.removeUser", &body).await;
            // 404: the check removed it itself.
            if r.status != 200 && r.status != 404 {
                problems.push(format!("removing {id}: {} {}", r.status, r.body));
            }
        }
        for leftover in &leftovers {
            let Leftover::AdminSession(cookie) = leftover else {
                continue;
            };
            let headers = [
                ("cookie", format!("auth_session={cookie}")),
                ("content-type", "application/json".to_string()),
            ];
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let r = send(addr, "POST", "/api/auth.logout", &headers, "").await;
            // 401: the session had already ended.
            if r.status != 200 && r.status != 401 {
                problems.push(format!("logging the admin out: {} {}", r.status, r.body));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!("the tidy-up failed: {}", problems.join("; ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_admin_credential_is_email_colon_password() {
        assert_eq!(
            "a@b.co:pa:ss".parse(),
            Ok(AdminCredential::Password {
                email: "a@b.co".into(),
                password: "pa:ss".into()
            })
        );
        assert!("a@b.co".parse::<AdminCredential>().is_err());
        assert!("ab.co:secret".parse::<AdminCredential>().is_err());
        assert!("a@b.co:".parse::<AdminCredential>().is_err());
    }

    #[test]
    fn each_email_is_new() {
        let run = LiveRun::new(AdminCredential::Token("t".into()));
        let (a, b) = (run.email("dev"), run.email("dev"));
        assert_ne!(a, b);
        assert!(a.ends_with("-dev@example.com"), "{a}");
    }
}
