//! Ready-made state (accounts, invitations, 2FA secrets, sessions, API tokens) that
//! the mock loads so a frontend can start already logged in. Written here, with the
//! records, so fixtures obey the same invariants as the procedures.

use super::accounts::Passwords;
use super::handler::Request;
use super::records::{keys, Member, Read, SessionKind, Write};
use super::Core;
use crate::crypto;
use crate::time::iso8601;
use serde::{Deserialize, Serialize};
use specs::wire::Role;
use specs::ApiError;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fixtures {
    #[serde(default)]
    pub admins: Vec<AccountFixture>,
    #[serde(default)]
    pub members: Vec<AccountFixture>,
}

/// An admin (no `invitedBy`) or a member (`invitedBy` = an admin's email; without a
/// `password` the invitation is still pending).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccountFixture {
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// A bcrypt hash (`$2b$…`) to store instead of hashing `password`: thousands of
    /// accounts then load at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    /// The account id; generated when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// A base32 TOTP secret: 2FA is then enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub two_factor_secret: Option<String>,
    /// Cookie sessions that are logged in: ids (valid a day from the clock's now),
    /// or sessions as exported (by digest, with their times).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sessions: Vec<SessionFixture>,
    /// An API token (valid 365 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_token: Option<String>,
    /// Members only: the admin who invited them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invited_by: Option<String>,
    /// Members only: the invitation token; generated when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invitation_token: Option<String>,
    /// Members only: when the invitation expires (ISO-8601; default a week on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invitation_expires_at: Option<String>,
    /// Members only: what they may do (default: nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<specs::wire::Permissions>,
    /// When the account was made (ISO-8601; default the clock's now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Admins: Dokploy's `adminId`; members: its `userId` (generated when left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_id: Option<String>,
}

/// A logged-in cookie session of a fixture account.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum SessionFixture {
    /// The id a browser sends (valid a day from the clock's now).
    Id(String),
    /// A session as `GET /__mock/fixtures` exports it: the id is never stored, so
    /// its SHA-256 digest (hex), which the browser's cookie still matches.
    Stored(StoredSessionFixture),
}

impl From<&str> for SessionFixture {
    fn from(id: &str) -> SessionFixture {
        SessionFixture::Id(id.to_string())
    }
}

impl From<String> for SessionFixture {
    fn from(id: String) -> SessionFixture {
        SessionFixture::Id(id)
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StoredSessionFixture {
    pub digest: String,
    /// ISO-8601.
    pub created_at: String,
    /// ISO-8601.
    pub expires_at: String,
    /// ISO-8601; when it was made when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
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
        let now = self.ports.now();
        let time = |field: &str, value: &Option<String>| -> Result<Option<i64>, ApiError> {
            value
                .as_deref()
                .map(|text| {
                    crate::time::parse_iso8601(text).ok_or_else(|| {
                        refuse(format!(
                            "the {field} of {} is no ISO-8601 time",
                            fixture.email
                        ))
                    })
                })
                .transpose()
        };
        if let Some(created_at) = time("createdAt", &fixture.created_at)? {
            account.created_at = created_at;
        }
        let invitation_expires_at = time("invitationExpiresAt", &fixture.invitation_expires_at)?;
        let role_id = || {
            fixture
                .role_id
                .clone()
                .unwrap_or_else(|| crypto::new_id(random))
        };
        let member = admin_id.map(|admin_id| Member {
            user_id: role_id(),
            auth_id: account.id.clone(),
            admin_id,
            token: fixture
                .invitation_token
                .clone()
                .unwrap_or_else(|| crypto::new_token(random)),
            registered: account.password_hash.is_some(),
            expires_at: invitation_expires_at.unwrap_or(now + specs::lifetimes::INVITATION_MS),
            created_at: account.created_at,
            seq: self.invitations.next_seq(),
            permissions: fixture.permissions.clone().unwrap_or_default(),
        });
        if role == Role::Admin {
            account.admin_id = Some(role_id());
        }
        account.member_id = member.as_ref().map(|m| m.user_id.clone());
        // Sessions with the ids (or digests) the fixture gives.
        let with_id = |id: &str, kind| {
            let mut new = self.sessions.new_session(&account, kind, &Request::NOBODY);
            new.digest = crypto::digest(id);
            new.id = id.to_string();
            new
        };
        let mut sessions = Vec::new();
        for session in &fixture.sessions {
            sessions.push(match session {
                SessionFixture::Id(id) => with_id(id, SessionKind::Cookie),
                SessionFixture::Stored(stored) => {
                    let digest_ok = stored.digest.len() == 64
                        && stored.digest.bytes().all(|b| b.is_ascii_hexdigit());
                    if !digest_ok {
                        return Err(refuse(format!(
                            "a session digest of {} is not 64 hex digits",
                            fixture.email
                        )));
                    }
                    let mut new = with_id("", SessionKind::Cookie);
                    new.digest = stored.digest.to_ascii_lowercase();
                    new.id = String::new();
                    new.session.expires_at =
                        time("expiresAt", &Some(stored.expires_at.clone()))?.unwrap_or(now);
                    let created = time("createdAt", &Some(stored.created_at.clone()))?;
                    let used = time("lastUsedAt", &stored.last_used_at)?;
                    new.details.created_at = created.unwrap_or(now);
                    new.details.refreshed_at = used.or(created).unwrap_or(now);
                    new.details.client_address = stored.client_address.clone();
                    new.details.user_agent = stored.user_agent.clone();
                    new
                }
            });
        }
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

    /// The state as fixtures that load back to it (`GET /__mock/fixtures`): ids,
    /// hashes (or fixture passwords not hashed yet), 2FA secrets, cookie sessions
    /// by digest, API tokens, invitations, permissions and times.
    pub fn export_fixtures(&self) -> Result<Fixtures, ApiError> {
        let store = self.ports.store();
        let mut accounts = Vec::new();
        for (_, bytes) in store.scan_prefix(keys::ACCOUNT_PREFIX)? {
            accounts.push(super::records::decode::<super::records::Account>(&bytes)?);
        }
        let mut with_members = Vec::new();
        for account in accounts {
            let member = match &account.member_id {
                Some(user_id) => store.member(user_id)?,
                None => None,
            };
            with_members.push((account, member));
        }
        // In the order invitations were made, so that `user.all` lists the same.
        with_members.sort_by_key(|(a, m)| (a.created_at, m.as_ref().map(|m| m.seq), a.id.clone()));
        let admin_emails: HashMap<&str, &str> = with_members
            .iter()
            .filter_map(|(a, _)| Some((a.admin_id.as_deref()?, a.email.as_str())))
            .collect();
        let mut fixtures = Fixtures::default();
        for (account, member) in &with_members {
            let passwords = &self.accounts.passwords.fixture_hashes;
            let (password, password_hash) = match &account.password_hash {
                Some(stored) => match passwords.placeholder_password(stored) {
                    Some(password) => (Some(password), None),
                    None => (None, Some(stored.clone())),
                },
                None => (None, None),
            };
            let mut sessions: Vec<StoredSessionFixture> = self
                .sessions
                .live_sessions_of(account)?
                .into_iter()
                .filter(|(_, session, _)| session.kind == SessionKind::Cookie)
                .map(|(digest, session, details)| {
                    let view = self.sessions.view(&digest, &session, details, "");
                    StoredSessionFixture {
                        digest,
                        created_at: view.created_at,
                        expires_at: view.expires_at,
                        last_used_at: Some(view.last_used_at),
                        client_address: view.client_address,
                        user_agent: view.user_agent,
                    }
                })
                .collect();
            sessions.sort_by(|a, b| (&a.created_at, &a.digest).cmp(&(&b.created_at, &b.digest)));
            let fixture = AccountFixture {
                email: account.email.clone(),
                password,
                password_hash,
                id: Some(account.id.clone()),
                image: Some(account.image.clone()),
                two_factor_secret: account
                    .totp_secret
                    .clone()
                    .filter(|_| account.two_factor_enabled),
                sessions: sessions.into_iter().map(SessionFixture::Stored).collect(),
                api_token: account.api_token.clone(),
                invited_by: member
                    .as_ref()
                    .and_then(|m| admin_emails.get(m.admin_id.as_str()))
                    .map(|email| email.to_string()),
                invitation_token: member.as_ref().map(|m| m.token.clone()),
                invitation_expires_at: member.as_ref().map(|m| iso8601(m.expires_at)),
                permissions: member.as_ref().map(|m| m.permissions.clone()),
                created_at: Some(iso8601(account.created_at)),
                role_id: account.admin_id.clone().or(account.member_id.clone()),
            };
            match account.role {
                Role::Admin => fixtures.admins.push(fixture),
                Role::User => fixtures.members.push(fixture),
            }
        }
        Ok(fixtures)
    }

    /// Removes the account with this email, its sessions and its invitation (the
    /// mock's `DELETE /__mock/accounts`). An admin with members is refused: remove
    /// them first.
    pub async fn remove_account(&self, email: &str) -> Result<(), ApiError> {
        let store = self.ports.store();
        let not_found = || ApiError::not_found(specs::messages::USER_NOT_FOUND);
        let account = store
            .account_by_email(&email.to_lowercase())?
            .ok_or_else(not_found)?;
        if let Some(admin_id) = &account.admin_id {
            if !store.scan_prefix(&keys::members_of(admin_id))?.is_empty() {
                return Err(refuse(format!(
                    "{} has members: remove them first",
                    account.email
                )));
            }
        }
        self.sessions.end_all(&account.id)?;
        self.ports.transaction(|tx| {
            let account = tx.account(&account.id)?.ok_or_else(not_found)?;
            tx.delete_account(&account)?;
            if let Some(member) = match &account.member_id {
                Some(user_id) => tx.member(user_id)?,
                None => None,
            } {
                tx.delete_member(&member, &crypto::digest(&member.token))?;
            }
            if tx.get(keys::SELF_HOSTED_ADMIN)?.as_deref() == Some(account.id.as_bytes()) {
                tx.remove(keys::SELF_HOSTED_ADMIN)?;
            }
            Ok(())
        })?;
        self.ports.store().flush().await?;
        Ok(())
    }

    /// Marks the email of this account confirmed, as its confirmation link would
    /// (the mock's `POST /__mock/accounts/confirm-email`); whether it was not yet.
    pub async fn confirm_email(&self, email: &str) -> Result<bool, ApiError> {
        let email = email.to_lowercase();
        let not_found = || ApiError::not_found(specs::messages::USER_NOT_FOUND);
        let was_unconfirmed = self.ports.transaction(|tx| {
            let mut account = tx.account_by_email(&email)?.ok_or_else(not_found)?;
            let was_unconfirmed = !account.email_confirmed;
            account.email_confirmed = true;
            account.confirmation_expires_at = None;
            if let Some(digest) = account.confirmation_digest.take() {
                tx.remove(&keys::confirmation_token(&digest))?;
            }
            tx.put_account(&account, None)?;
            Ok(was_unconfirmed)
        })?;
        self.ports.store().flush().await?;
        Ok(was_unconfirmed)
    }

    /// The pins of a base32 secret, enabled or not, at the clock's now (the mock's
    /// `/__mock/totp?secret=`, for the 2FA set-up step); `None` for a bad secret.
    pub fn pins_for_secret(&self, secret: &str) -> Option<Pins> {
        self.pins(secret, None)
    }

    /// The pins of the account's 2FA secret (the mock's `/__mock/totp?email=`);
    /// `None` when it has no secret.
    pub fn pins_of(&self, email: &str) -> Result<Option<Pins>, ApiError> {
        let account = self.ports.store().account_by_email(&email.to_lowercase())?;
        Ok(account.and_then(|account| {
            let secret = account.totp_secret?;
            self.pins(&secret, account.last_totp_step)
        }))
    }

    fn pins(&self, secret: &str, last_accepted_step: Option<u64>) -> Option<Pins> {
        let now_ms = self.ports.now();
        let step = u64::try_from(now_ms / 1000).unwrap_or(0) / super::two_factor::STEP_SECS;
        let pin_at =
            |step: u64| super::two_factor::totp_code(secret, step * super::two_factor::STEP_SECS);
        let used = |step: u64| last_accepted_step.is_some_and(|last| last >= step);
        let step_start_ms = |step: u64| (step * super::two_factor::STEP_SECS * 1000) as i64;
        Some(Pins {
            current: Pin {
                pin: pin_at(step)?,
                used: used(step),
                valid_from_ms: step_start_ms(step),
            },
            next: Pin {
                pin: pin_at(step + 1)?,
                used: used(step + 1),
                valid_from_ms: step_start_ms(step + 1),
            },
            now_ms,
        })
    }
}

/// A TOTP pin and whether a login or set-up already spent it (a pin is accepted
/// once, one step early or late as well as in its own step).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    pub pin: String,
    pub used: bool,
    /// When its 30 s step begins (ms since the epoch, at the clock).
    pub valid_from_ms: i64,
}

/// The pin of the current step and of the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pins {
    pub current: Pin,
    pub next: Pin,
    pub now_ms: i64,
}

impl Pins {
    /// Seconds before the current pin's step ends.
    pub fn seconds_left(&self) -> i64 {
        (self.next.valid_from_ms - self.now_ms + 999) / 1000
    }
}
