//! Ready-made state (accounts, invitations, 2FA secrets, sessions, API tokens) that
//! the mock loads so a frontend can start already logged in. Written here, with the
//! records, so fixtures obey the same invariants as the procedures.

use super::accounts::Passwords;
use super::handler::Request;
use super::records::{keys, Member, Read, SessionKind, Write};
use super::Core;
use crate::crypto;
use serde::Deserialize;
use specs::wire::Role;
use specs::ApiError;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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

/// A fixture account's password hash as stored now.
enum StoredHash {
    Made(Option<String>),
    Later(String),
}

/// The distinct passwords of `fixtures` that are to be hashed (not given as hashes).
fn fixture_passwords(fixtures: &Fixtures) -> Vec<&String> {
    let mut passwords: Vec<&String> = fixtures
        .admins
        .iter()
        .chain(&fixtures.members)
        .filter(|f| f.password_hash.is_none())
        .filter_map(|f| f.password.as_ref())
        .collect();
    passwords.sort();
    passwords.dedup();
    passwords
}

fn refuse(message: String) -> ApiError {
    ApiError::bad_request(message)
}

/// The start of a stored password hash that stands for a fixture password whose
/// bcrypt hash is still being made in the background; never a bcrypt hash.
const PLACEHOLDER: &str = "$fixture$";

/// Fixture passwords' hashes. Each is made with a salt derived from the password, so
/// that it is the same every time (the mock's determinism draws nothing for it) and
/// made once per password (a reset, or a thousand accounts with one password, cost
/// one).
#[derive(Default)]
pub(crate) struct FixtureHashes {
    /// password → its bcrypt hash.
    made: Mutex<HashMap<String, String>>,
    /// placeholder → password, for accounts stored before their hash was made.
    placeholders: Mutex<HashMap<String, String>>,
}

impl FixtureHashes {
    fn made(&self, password: &str) -> Option<String> {
        let made = self.made.lock().unwrap_or_else(|p| p.into_inner());
        made.get(password).cloned()
    }

    /// The placeholder stored for `password` until its hash is made.
    fn placeholder(&self, password: &str) -> String {
        let salt = crypto::fixture_salt(password);
        let placeholder = format!("{PLACEHOLDER}{}", data_encoding::HEXLOWER.encode(&salt));
        self.placeholders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(placeholder.clone(), password.to_string());
        placeholder
    }

    /// The fixture password a stored placeholder stands for; `None` for anything
    /// else (a bcrypt hash).
    pub(crate) fn placeholder_password(&self, stored: &str) -> Option<String> {
        if !stored.starts_with(PLACEHOLDER) {
            return None;
        }
        let placeholders = self.placeholders.lock().unwrap_or_else(|p| p.into_inner());
        placeholders.get(stored).cloned()
    }
}

impl Passwords {
    /// A fixture password's hash: the one made before, or one made now.
    pub(crate) async fn fixture_hash(&self, password: String) -> Result<String, ApiError> {
        if let Some(hash) = self.fixture_hashes.made(&password) {
            return Ok(hash);
        }
        let salt = crypto::fixture_salt(&password);
        let hash = self.hash_with_salt(password.clone(), salt).await?;
        self.fixture_hashes
            .made
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(password, hash.clone());
        Ok(hash)
    }
}

/// An account stored with a placeholder, to be given its hash.
struct Unhashed {
    account_id: String,
    placeholder: String,
    password: String,
}

impl Core {
    /// Loads `fixtures`, hashing every password first (all at once: the hashing
    /// pool works through them on every core).
    pub async fn load_fixtures(&self, fixtures: &Fixtures) -> Result<(), ApiError> {
        let passwords = fixture_passwords(fixtures);
        let hashing = passwords
            .iter()
            .map(|&p| self.accounts.passwords.fixture_hash(p.clone()));
        for made in futures_util::future::join_all(hashing).await {
            made?;
        }
        self.load_fixtures_as_they_are(fixtures).await.map(drop)
    }

    /// Loads `fixtures` without waiting for their passwords' hashes: an account
    /// whose password was never hashed before is stored with a placeholder, which
    /// tasks in the background replace with the hash, a few at a time (so that a
    /// login's own bcrypt job waits behind a few, not all); a login that meets a
    /// placeholder first makes that hash itself. A thousand distinct passwords load
    /// in milliseconds instead of the second or two of CPU their hashes take (the
    /// mock's binary).
    pub async fn load_fixtures_hashing_later(
        self: &Arc<Self>,
        fixtures: &Fixtures,
    ) -> Result<(), ApiError> {
        let unhashed = self.load_fixtures_as_they_are(fixtures).await?;
        if unhashed.is_empty() {
            return Ok(());
        }
        let core = self.clone();
        tokio::spawn(async move {
            let at_once = crate::hashing::default_threads();
            for batch in unhashed.chunks(at_once) {
                let replaced = batch
                    .iter()
                    .map(|account| core.replace_placeholder(account));
                for result in futures_util::future::join_all(replaced).await {
                    if let Err(error) = result {
                        tracing::warn!(%error, "a fixture password's hash was not stored");
                    }
                }
            }
            if let Err(error) = core.ports.store().flush().await {
                tracing::warn!(%error, "fixture passwords' hashes not flushed");
            }
        });
        Ok(())
    }

    async fn replace_placeholder(&self, unhashed: &Unhashed) -> Result<(), ApiError> {
        let hash = self
            .accounts
            .passwords
            .fixture_hash(unhashed.password.clone())
            .await?;
        self.ports.transaction(|tx| {
            if let Some(mut account) = tx.account(&unhashed.account_id)? {
                // Only if nothing set a password meanwhile.
                if account.password_hash.as_deref() == Some(unhashed.placeholder.as_str()) {
                    account.password_hash = Some(hash.clone());
                    tx.put_account(&account, None)?;
                }
            }
            Ok(())
        })
    }

    /// Stores the accounts with the hashes made so far, and placeholders for the
    /// others (returned).
    async fn load_fixtures_as_they_are(
        &self,
        fixtures: &Fixtures,
    ) -> Result<Vec<Unhashed>, ApiError> {
        if self.cloud.is_none() && fixtures.admins.len() > 1 {
            return Err(refuse("self-hosted mode has one admin".into()));
        }
        let mut unhashed = Vec::new();
        for fixture in &fixtures.admins {
            if fixture.password.is_none() && fixture.password_hash.is_none() {
                return Err(refuse(format!("admin {} needs a password", fixture.email)));
            }
            self.load_account(fixture, Role::Admin, None, &mut unhashed)
                .await?;
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
            self.load_account(fixture, Role::User, Some(admin), &mut unhashed)
                .await?;
        }
        self.ports.store().flush().await?;
        Ok(unhashed)
    }

    /// The stored hash of a fixture's password: the one it gives, the one made
    /// from its password, or a placeholder until that is made.
    fn stored_hash(&self, fixture: &AccountFixture) -> Result<StoredHash, ApiError> {
        if let Some(hash) = &fixture.password_hash {
            let bcrypt = hash.len() == 60 && hash.starts_with("$2");
            if !bcrypt {
                return Err(refuse(format!(
                    "the passwordHash of {} is no bcrypt hash",
                    fixture.email
                )));
            }
            return Ok(StoredHash::Made(Some(hash.clone())));
        }
        let Some(password) = &fixture.password else {
            return Ok(StoredHash::Made(None));
        };
        let passwords = &self.accounts.passwords;
        Ok(match passwords.fixture_hashes.made(password) {
            Some(hash) => StoredHash::Made(Some(hash)),
            None => {
                // Refused now, as hashing it first would have refused it.
                passwords.settable(password)?;
                StoredHash::Later(passwords.fixture_hashes.placeholder(password))
            }
        })
    }

    async fn load_account(
        &self,
        fixture: &AccountFixture,
        role: Role,
        admin_id: Option<String>,
        unhashed: &mut Vec<Unhashed>,
    ) -> Result<(), ApiError> {
        let (hash, placeholder) = match self.stored_hash(fixture)? {
            StoredHash::Made(hash) => (hash, None),
            StoredHash::Later(placeholder) => (Some(placeholder.clone()), Some(placeholder)),
        };
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
        })?;
        if let (Some(placeholder), Some(password)) = (placeholder, &fixture.password) {
            unhashed.push(Unhashed {
                account_id: account.id.clone(),
                placeholder,
                password: password.clone(),
            });
        }
        Ok(())
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
