//! Ready-made state (accounts, invitations, 2FA secrets, sessions, API tokens) that
//! the mock loads so a frontend can start already logged in. Written here, with the
//! records, so fixtures obey the same invariants as the procedures.

use super::handler::Request;
use super::records::{keys, Member, Read, SessionKind, Write};
use super::Core;
use crate::crypto;
use serde::Deserialize;
use specs::wire::Role;
use specs::ApiError;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fixtures {
    #[serde(default)]
    pub admins: Vec<AccountFixture>,
    #[serde(default)]
    pub members: Vec<AccountFixture>,
}

/// An admin (no `invitedBy`) or a member (`invitedBy` = an admin's email; without a
/// `password` the invitation is still pending).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccountFixture {
    pub email: String,
    #[serde(default)]
    pub password: Option<String>,
    /// A bcrypt hash (`$2b$…`) to store instead of hashing `password`: thousands of
    /// accounts then load at once.
    #[serde(default)]
    pub password_hash: Option<String>,
    /// The account id; generated when left out.
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub image: Option<String>,
    /// A base32 TOTP secret: 2FA is then enabled.
    #[serde(default)]
    pub two_factor_secret: Option<String>,
    /// Cookie session ids that are logged in (valid a day from the clock's now).
    #[serde(default)]
    pub sessions: Vec<String>,
    /// An API token (valid 365 days).
    #[serde(default)]
    pub api_token: Option<String>,
    /// Members only: the admin who invited them.
    #[serde(default)]
    pub invited_by: Option<String>,
    /// Members only: the invitation token; generated when left out.
    #[serde(default)]
    pub invitation_token: Option<String>,
}

fn refuse(message: String) -> ApiError {
    ApiError::bad_request(message)
}

impl Core {
    pub async fn load_fixtures(&self, fixtures: &Fixtures) -> Result<(), ApiError> {
        if self.cloud.is_none() && fixtures.admins.len() > 1 {
            return Err(refuse("self-hosted mode has one admin".into()));
        }
        self.hash_fixture_passwords(fixtures).await?;
        for fixture in &fixtures.admins {
            if fixture.password.is_none() && fixture.password_hash.is_none() {
                return Err(refuse(format!("admin {} needs a password", fixture.email)));
            }
            self.load_account(fixture, Role::Admin, None).await?;
        }
        for fixture in &fixtures.members {
            let inviter = fixture
                .invited_by
                .as_deref()
                .ok_or_else(|| refuse(format!("member {} needs invitedBy", fixture.email)))?;
            let admin = self
                .ports
                .store()
                .account_by_email(&inviter.to_lowercase())?
                .and_then(|a| a.admin_id)
                .ok_or_else(|| refuse(format!("invitedBy {inviter} is no admin")))?;
            self.load_account(fixture, Role::User, Some(admin)).await?;
        }
        self.ports.store().flush().await?;
        Ok(())
    }

    /// Hashes every fixture password not hashed yet, all at once: the hashing pool
    /// works through them on every core (one after another they took a core each
    /// in turn). Each is made with a salt derived from the password, so that it is
    /// the same every time (the mock's determinism draws nothing for it) and made
    /// once per password (a reset, or a thousand accounts with one password, cost one).
    async fn hash_fixture_passwords(&self, fixtures: &Fixtures) -> Result<(), ApiError> {
        let mut missing: Vec<&String> = {
            let known = self
                .fixture_hashes
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            fixtures
                .admins
                .iter()
                .chain(&fixtures.members)
                .filter(|f| f.password_hash.is_none())
                .filter_map(|f| f.password.as_ref())
                .filter(|p| !known.contains_key(*p))
                .collect()
        };
        missing.sort();
        missing.dedup();
        let jobs: Vec<_> = missing
            .iter()
            .map(|password| {
                let salt = crypto::fixture_salt(password);
                self.accounts
                    .passwords
                    .hash_with_salt((*password).clone(), salt)
            })
            .collect();
        let hashes = futures_util::future::join_all(jobs).await;
        let mut known = self
            .fixture_hashes
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for (password, hash) in missing.into_iter().zip(hashes) {
            known.insert(password.clone(), hash?);
        }
        Ok(())
    }

    /// The stored hash of a fixture's password: the one it gives, or the one
    /// `hash_fixture_passwords` made from its password.
    fn fixture_hash(&self, fixture: &AccountFixture) -> Result<Option<String>, ApiError> {
        if let Some(hash) = &fixture.password_hash {
            let bcrypt = hash.len() == 60 && hash.starts_with("$2");
            if !bcrypt {
                return Err(refuse(format!(
                    "the passwordHash of {} is no bcrypt hash",
                    fixture.email
                )));
            }
            return Ok(Some(hash.clone()));
        }
        let Some(password) = &fixture.password else {
            return Ok(None);
        };
        let known = self
            .fixture_hashes
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let hash = known
            .get(password)
            .cloned()
            .ok_or_else(|| super::internal(format!("no hash was made for {}", fixture.email)))?;
        Ok(Some(hash))
    }

    async fn load_account(
        &self,
        fixture: &AccountFixture,
        role: Role,
        admin_id: Option<String>,
    ) -> Result<(), ApiError> {
        let hash = self.fixture_hash(fixture)?;
        let random = self.ports.random();
        let mut account = self.accounts.new_account(&fixture.email, role, hash);
        if let Some(id) = &fixture.id {
            account.id = id.clone();
        }
        if let Some(image) = &fixture.image {
            account.image = image.clone();
        }
        if let Some(secret) = &fixture.two_factor_secret {
            if super::two_factor::totp_code(secret, 0).is_none() {
                return Err(refuse(format!(
                    "the 2FA secret of {} is not base32",
                    fixture.email
                )));
            }
            account.totp_secret = Some(secret.to_ascii_uppercase());
            account.two_factor_enabled = true;
        }
        account.api_token = fixture.api_token.clone();
        let member = admin_id.map(|admin_id| {
            let now = self.ports.now();
            Member {
                user_id: crypto::new_id(random),
                auth_id: account.id.clone(),
                admin_id,
                token: fixture
                    .invitation_token
                    .clone()
                    .unwrap_or_else(|| crypto::new_token(random)),
                registered: account.password_hash.is_some(),
                expires_at: now + specs::lifetimes::INVITATION_MS,
                created_at: now,
                seq: self.invitations.next_seq(),
                permissions: Default::default(),
            }
        });
        if role == Role::Admin {
            account.admin_id = Some(crypto::new_id(random));
        }
        account.member_id = member.as_ref().map(|m| m.user_id.clone());
        // Sessions with the ids the fixture gives.
        let with_id = |id: &str, kind| {
            let mut new = self.sessions.new_session(&account, kind, &Request::NOBODY);
            new.digest = crypto::digest(id);
            new.id = id.to_string();
            new
        };
        let mut sessions: Vec<_> = fixture
            .sessions
            .iter()
            .map(|id| with_id(id, SessionKind::Cookie))
            .collect();
        sessions.extend(
            fixture
                .api_token
                .as_deref()
                .map(|token| with_id(token, SessionKind::ApiToken)),
        );
        let self_hosted = self.cloud.is_none();
        self.ports.transaction(|tx| {
            if tx.account_by_email(&account.email)?.is_some() || tx.account(&account.id)?.is_some()
            {
                return Err(refuse(format!("{} already exists", account.email)).into());
            }
            if role == Role::Admin && self_hosted {
                if tx.get(keys::SELF_HOSTED_ADMIN)?.is_some() {
                    return Err(refuse("self-hosted mode has one admin".into()).into());
                }
                tx.insert(keys::SELF_HOSTED_ADMIN, account.id.clone().into_bytes())?;
            }
            tx.put_account(&account, None)?;
            if let Some(member) = &member {
                tx.put_member(member, &crypto::digest(&member.token))?;
            }
            for new in &sessions {
                new.store(tx)?;
            }
            Ok(())
        })
    }

    /// The pin valid now for a base32 secret, enabled or not (the mock's
    /// `/__mock/totp?secret=`, for the 2FA set-up step); `None` for a bad secret.
    pub fn pin_for_secret(&self, secret: &str) -> Option<String> {
        let now_secs = u64::try_from(self.ports.now() / 1000).unwrap_or(0);
        super::two_factor::totp_code(secret, now_secs)
    }

    /// The pin valid now for the account's 2FA secret (the mock's `/__mock/totp`).
    pub fn current_pin(&self, email: &str) -> Result<Option<String>, ApiError> {
        let account = self.ports.store().account_by_email(&email.to_lowercase())?;
        Ok(account
            .and_then(|a| a.totp_secret)
            .and_then(|secret| self.pin_for_secret(&secret)))
    }
}
