//! Accounts: the first admin, accepting an invitation, login, reading and changing
//! one's own account, API tokens; and passwords, the one place bcrypt is called.

use super::audit::{AuditEvent, AuditKind};
use super::handler::{Admin, Answer, Answered, Caller, Handler, Request};
use super::ports::{HashError, PasswordHasher, Random};
use super::records::{keys, Account, Member, Read, SessionKind, Write};
use super::sessions::CookieChange;
use super::{Core, Ports};
use crate::crypto;
use crate::time::iso8601;
use specs::messages as msg;
use specs::procedures::{CreateAdmin, CreateUser, GenerateToken, Login, One, Update};
use specs::wire::{
    AuthView, CreateAdminInput, CreateUserInput, IdInput, LoginInput, LoginOutput, Role,
    SessionView, UpdateAuthInput,
};
use specs::{wire::True, ApiError, ErrorCode, NoInput};
use std::sync::Arc;

/// bcrypt reads at most this many bytes of a password.
const BCRYPT_MAX_BYTES: usize = 72;

/// Dokploy's avatars: `/avatars/avatar-1.png` … `avatar-12.png`.
const AVATARS: u8 = 12;

/// Setting and checking passwords.
pub(crate) struct Passwords {
    hasher: Arc<dyn PasswordHasher>,
    random: Arc<dyn Random>,
    /// Verified against when an email is unknown, so that a miss costs a bcrypt
    /// verification like a hit.
    dummy_hash: String,
    /// Takes passwords over 72 bytes and lets bcrypt compare their first 72, as
    /// Dokploy does (difference 28; the mock's Dokploy profile only).
    cuts_long_passwords: bool,
    /// Fixture passwords' hashes, made or still to be made (the mock's).
    #[cfg(feature = "fixtures")]
    pub(crate) fixture_hashes: super::fixtures::FixtureHashes,
}

impl Passwords {
    pub(crate) fn new(
        hasher: Arc<dyn PasswordHasher>,
        random: Arc<dyn Random>,
        dummy_hash: String,
        profile: specs::Profile,
    ) -> Passwords {
        Passwords {
            hasher,
            random,
            dummy_hash,
            cuts_long_passwords: profile.is_dokploy(),
            #[cfg(feature = "fixtures")]
            fixture_hashes: Default::default(),
        }
    }

    /// Fixed input: the dummy hash only has to cost a verification, and making it
    /// draws nothing from `Random`, so a seeded core starts in a known state.
    pub(crate) async fn make_dummy_hash(hasher: &dyn PasswordHasher) -> Result<String, HashError> {
        hasher
            .hash("no password matches this".to_string(), [0x5a; 16])
            .await
    }

    /// The one place a password is set: it must fit bcrypt's 72 bytes (a longer one
    /// would be cut silently, so it is refused).
    pub(crate) async fn hash(&self, password: String) -> Result<String, ApiError> {
        let salt = crypto::new_salt(&*self.random);
        self.hash_with_salt(password, salt).await
    }

    /// `hash` with a given salt.
    pub(crate) async fn hash_with_salt(
        &self,
        password: String,
        salt: [u8; 16],
    ) -> Result<String, ApiError> {
        self.settable(&password)?;
        Ok(self.hasher.hash(password, salt).await?)
    }

    /// Whether `password` may be set: it must fit bcrypt's 72 bytes.
    pub(crate) fn settable(&self, password: &str) -> Result<(), ApiError> {
        if password.len() > BCRYPT_MAX_BYTES && !self.cuts_long_passwords {
            return Err(ApiError::bad_request(msg::PASSWORD_TOO_LONG));
        }
        Ok(())
    }

    /// Whether `password` matches `stored`; always one bcrypt verification, so a
    /// missing hash takes as long as a wrong password. 503 when the hasher is
    /// saturated.
    async fn matches(&self, password: &str, stored: Option<&str>) -> Result<bool, ApiError> {
        let hash = stored.unwrap_or(&self.dummy_hash).to_string();
        // A fixture account stored before its hash was made: made now if need be.
        #[cfg(feature = "fixtures")]
        let hash = match self.fixture_hashes.placeholder_password(&hash) {
            Some(fixture_password) => self.fixture_hash(fixture_password).await?,
            None => hash,
        };
        // No password over 72 bytes was ever set: a longer one never matches.
        let fits = password.len() <= BCRYPT_MAX_BYTES || self.cuts_long_passwords;
        let matches = self.hasher.verify(password.to_string(), hash).await?;
        if self.weaker_than_configured(stored) {
            // A hash made at a lower cost verifies faster, which would tell that the
            // email exists: one more verification at the configured cost evens it.
            let _ = self
                .hasher
                .verify(password.to_string(), self.dummy_hash.clone())
                .await;
        }
        Ok(matches && fits && stored.is_some())
    }

    /// Whether `hash` was made at a lower cost than new hashes are.
    fn weaker_than_configured(&self, hash: Option<&str>) -> bool {
        let stored_cost = hash
            .and_then(|h| h.get(4..6))
            .and_then(|c| c.parse::<u32>().ok());
        stored_cost.is_some_and(|cost| cost < self.hasher.cost())
    }
}

/// Account records and their views.
pub(crate) struct Accounts {
    ports: Ports,
    pub(crate) passwords: Passwords,
    /// Views carry the TOTP secret and every API token, as Dokploy's do
    /// (differences 5 and 19; the mock's Dokploy profile only).
    shows_secrets: bool,
}

impl Accounts {
    pub(crate) fn new(ports: Ports, passwords: Passwords, profile: specs::Profile) -> Accounts {
        Accounts {
            ports,
            passwords,
            shows_secrets: profile.is_dokploy(),
        }
    }

    /// The contract's view of an account; `show_token` only for its owner.
    pub(crate) fn view(&self, account: &Account, show_token: bool) -> AuthView {
        AuthView {
            id: account.id.clone(),
            email: account.email.clone(),
            rol: account.role,
            image: account.image.clone(),
            secret: account.totp_secret.clone().filter(|_| self.shows_secrets),
            token: account
                .api_token
                .clone()
                .filter(|_| show_token || self.shows_secrets),
            is_2fa_enabled: account.two_factor_enabled,
            created_at: iso8601(account.created_at),
            reset_password_token: None,
            reset_password_expires_at: account.reset_expires_at.map(iso8601),
            confirmation_token: None,
            confirmation_expires_at: account.confirmation_expires_at.map(iso8601),
        }
    }

    pub(crate) fn view_own(&self, account: &Account) -> AuthView {
        self.view(account, true)
    }

    /// A new account record (not stored).
    pub(crate) fn new_account(
        &self,
        email: &str,
        role: Role,
        password_hash: Option<String>,
    ) -> Account {
        let random = self.ports.random();
        Account {
            id: crypto::new_id(random),
            email: email.to_lowercase(),
            role,
            image: format!(
                "/avatars/avatar-{}.png",
                crypto::uniform_1_to(random, AVATARS)
            ),
            password_hash,
            totp_secret: None,
            two_factor_enabled: false,
            api_token: None,
            created_at: self.ports.now(),
            session_epoch: 0,
            last_totp_step: None,
            pending_2fa_until: None,
            admin_id: None,
            member_id: None,
            email_confirmed: true,
            reset_digest: None,
            reset_expires_at: None,
            confirmation_digest: None,
            confirmation_expires_at: None,
        }
    }

    /// A new admin account with its organisation id (not stored).
    pub(crate) fn new_admin(&self, email: &str, password_hash: String) -> Account {
        let mut account = self.new_account(email, Role::Admin, Some(password_hash));
        account.admin_id = Some(crypto::new_id(self.ports.random()));
        account
    }

    /// Re-hashes a password whose hash is weaker than the configured cost (at a
    /// successful login, the only time the password is known).
    async fn strengthen_hash(&self, account: &Account, password: String) -> Result<(), ApiError> {
        if !self
            .passwords
            .weaker_than_configured(account.password_hash.as_deref())
        {
            return Ok(());
        }
        let hash = self.passwords.hash(password).await?;
        let old = account.password_hash.clone();
        self.ports.transaction(|tx| {
            if let Some(mut fresh) = tx.account(&account.id)? {
                // Only if the password did not change meanwhile.
                if fresh.password_hash == old {
                    fresh.password_hash = Some(hash.clone());
                    tx.put_account(&fresh, None)?;
                }
            }
            Ok(())
        })
    }

    /// The caller's account as stored now (it may have changed since it was read).
    fn fresh(&self, tx: &dyn super::ports::Tx, caller: &Caller) -> Result<Account, ApiError> {
        tx.account(&caller.account().id)?
            .ok_or_else(ApiError::unauthorized)
    }

    /// Writes `change` to the caller's account in one transaction; the result.
    pub(crate) fn change_own(
        &self,
        caller: &Caller,
        mut change: impl FnMut(&dyn super::ports::Tx, &mut Account) -> Result<(), super::ports::Abort>,
    ) -> Result<Account, ApiError> {
        self.ports.transaction(|tx| {
            let mut account = self.fresh(tx, caller)?;
            change(tx, &mut account)?;
            tx.put_account(&account, None)?;
            Ok(account)
        })
    }
}

impl Handler for CreateAdmin {
    async fn handle(
        core: &Core,
        _: (),
        input: CreateAdminInput,
        request: &Request<'_>,
    ) -> Answered<True> {
        if let Some(cloud) = &core.cloud {
            // Each sign-up sends a mail and tells whether an email is in use.
            core.count_mail_request(request)?;
            let id = cloud.sign_up(&core.accounts, input).await?;
            core.audit(AuditKind::AdminCreated, Some(&id), request);
            return Ok(Answer::json(&True));
        }
        let admin_exists = || match core.config().profile {
            specs::Profile::Contract => ApiError::bad_request(msg::ADMIN_EXISTS),
            specs::Profile::Dokploy014 => ApiError::bad_request(msg::dokploy::ADMIN_EXISTS),
        };
        if core.ports.store().get(keys::SELF_HOSTED_ADMIN)?.is_some() {
            return Err(admin_exists());
        }
        let accounts = &core.accounts;
        let hash = accounts.passwords.hash(input.password).await?;
        let account = accounts.new_admin(&input.email, hash);
        let new = core
            .sessions
            .new_session(&account, SessionKind::Cookie, request);
        core.ports.transaction(|tx| {
            if tx.get(keys::SELF_HOSTED_ADMIN)?.is_some()
                || tx.account_by_email(&account.email)?.is_some()
            {
                return Err(admin_exists().into());
            }
            tx.put_account(&account, None)?;
            tx.insert(keys::SELF_HOSTED_ADMIN, account.id.clone().into_bytes())?;
            new.store(tx)
        })?;
        core.audit(AuditKind::AdminCreated, Some(&account.id), request);
        Ok(Answer::json(&True).with_cookie(CookieChange::Set(new.id)))
    }
}

impl Handler for CreateUser {
    async fn handle(
        core: &Core,
        _: (),
        input: CreateUserInput,
        request: &Request<'_>,
    ) -> Answered<True> {
        core.guessing_token(request, create_user(core, input, request))
            .await
    }
}

async fn create_user(core: &Core, input: CreateUserInput, request: &Request<'_>) -> Answered<True> {
    let invalid = || ApiError::bad_request(msg::INVALID_TOKEN);
    let token_digest = crypto::digest(&input.token);
    // Dokploy never checks that the invitation is the account's (difference 1):
    // any pending invitation sets the password of the account `id` names.
    let dokploy = core.config().profile.is_dokploy();
    let pending = |member: Option<Member>| {
        member.filter(|m| {
            (dokploy || crypto::secrets_equal(m.auth_id.as_bytes(), input.id.as_bytes()))
                && !m.registered
        })
    };
    let store = core.ports.store();
    let invited = match store.text(&keys::invitation(&token_digest))? {
        Some(user_id) => store.member(&user_id)?,
        None => None,
    };
    if dokploy && invited.as_ref().is_some_and(|m| m.registered) {
        // An invitation already accepted (§6b).
        return Err(ApiError::bad_request(msg::dokploy::CREATE_USER));
    }
    let member = pending(invited).ok_or_else(invalid)?;
    // Dokploy's invitations never expire (difference 2).
    if core.ports.now() > member.expires_at && !dokploy {
        return Err(ApiError::bad_request(msg::INVITATION_EXPIRED));
    }
    let hash = core.accounts.passwords.hash(input.password).await?;
    let id = core.ports.transaction(|tx| {
        let mut member = pending(tx.member(&member.user_id)?).ok_or_else(invalid)?;
        let mut account = tx.account(&input.id)?.ok_or_else(invalid)?;
        member.registered = true;
        account.password_hash = Some(hash.clone());
        let new = core
            .sessions
            .new_session(&account, SessionKind::Cookie, request);
        tx.put_member(&member, &token_digest)?;
        tx.put_account(&account, None)?;
        new.store(tx)?;
        Ok(new.id)
    })?;
    core.audit(
        AuditKind::InvitationAccepted,
        Some(&member.auth_id),
        request,
    );
    Ok(Answer::json(&True).with_cookie(CookieChange::Set(id)))
}

impl Handler for Login {
    async fn handle(
        core: &Core,
        _: (),
        input: LoginInput,
        request: &Request<'_>,
    ) -> Answered<LoginOutput> {
        let guesses = core.guesses(input.email.to_lowercase(), request.client);
        let refused = (AuditKind::LoginThrottled, request);
        core.throttled(guesses, refused, login(core, input, request))
            .await
    }
}

async fn login(core: &Core, input: LoginInput, request: &Request<'_>) -> Answered<LoginOutput> {
    let accounts = &core.accounts;
    // Dokploy looks the email up as typed, though it stored it lowercased
    // (difference 4).
    let email = match core.config().profile {
        specs::Profile::Contract => input.email.to_lowercase(),
        specs::Profile::Dokploy014 => input.email.clone(),
    };
    let account = core.ports.store().account_by_email(&email)?;
    let stored_hash = account.as_ref().and_then(|a| a.password_hash.as_deref());
    let matches = accounts
        .passwords
        .matches(&input.password, stored_hash)
        .await?;
    let account = match account {
        Some(account) if matches => account,
        other => {
            let id = other.as_ref().map(|a| a.id.as_str());
            core.audit(AuditKind::LoginFailed, id, request);
            if other.is_none() && core.config().profile.is_dokploy() {
                // Dokploy tells unknown emails apart (difference 3).
                return Err(ApiError::bad_request(msg::dokploy::LOGIN_UNKNOWN_EMAIL));
            }
            return Err(ApiError::bad_request(msg::CREDENTIALS));
        }
    };
    accounts.strengthen_hash(&account, input.password).await?;
    if !account.email_confirmed {
        return Err(core.cloud()?.resend_confirmation(&account).await);
    }
    if account.two_factor_enabled {
        let until = core.ports.now() + specs::lifetimes::PENDING_2FA_MS;
        core.ports.transaction(|tx| {
            if let Some(mut fresh) = tx.account(&account.id)? {
                fresh.pending_2fa_until = Some(until);
                tx.put_account(&fresh, None)?;
            }
            Ok(())
        })?;
        core.audit(AuditKind::LoginNeedsPin, Some(&account.id), request);
        return Ok(Answer::json(&LoginOutput {
            is_2fa_enabled: true,
            auth_id: account.id,
        }));
    }
    let cookie = core.sessions.start_cookie_session(&account, request)?;
    core.audit(AuditKind::LoginSucceeded, Some(&account.id), request);
    Ok(Answer::json(&LoginOutput {
        is_2fa_enabled: false,
        auth_id: account.id,
    })
    .with_cookie(cookie))
}

impl Handler for Update {
    async fn handle(
        core: &Core,
        caller: &Caller,
        input: UpdateAuthInput,
        request: &Request<'_>,
    ) -> Answered<AuthView> {
        let accounts = &core.accounts;
        let non_empty = |v: Option<String>| v.filter(|s| !s.is_empty());
        let new_email = non_empty(input.email).map(|e| e.to_lowercase());
        let new_image = non_empty(input.image);
        let new_hash = match non_empty(input.password) {
            Some(password) => Some(accounts.passwords.hash(password).await?),
            None => None,
        };
        let account = core.ports.transaction(|tx| {
            let mut account = accounts.fresh(tx, caller)?;
            let previous_email = account.email.clone();
            if let Some(email) = &new_email {
                if *email != account.email && tx.account_by_email(email)?.is_some() {
                    if core.config().profile.is_dokploy() {
                        // Dokploy's database refuses it (difference 14).
                        return Err(ApiError::new(
                            ErrorCode::InternalServerError,
                            msg::dokploy::EMAIL_UNIQUE_VIOLATION,
                        )
                        .into());
                    }
                    return Err(ApiError::new(ErrorCode::Conflict, msg::EMAIL_IN_USE).into());
                }
                account.email = email.clone();
            }
            if let Some(image) = &new_image {
                account.image = image.clone();
            }
            if let Some(hash) = &new_hash {
                account.password_hash = Some(hash.clone());
            }
            // Every other cookie session ends; the one making the change stays.
            // (Dokploy leaves them all alive: difference 9.)
            if new_hash.is_some() && !core.config().profile.is_dokploy() {
                account.session_epoch += 1;
                if caller.via_cookie {
                    core.sessions.restamp_session(
                        tx,
                        caller.session_digest(),
                        account.session_epoch,
                    )?;
                }
            }
            tx.put_account(&account, Some(&previous_email))?;
            Ok(account)
        })?;
        if new_hash.is_some() {
            core.audit(AuditKind::PasswordChanged, Some(&account.id), request);
        }
        Ok(Answer::json(&accounts.view_own(&account)))
    }
}

impl Handler for GenerateToken {
    async fn handle(
        core: &Core,
        caller: &Caller,
        _: NoInput,
        request: &Request<'_>,
    ) -> Answered<AuthView> {
        let new = core
            .sessions
            .new_session(caller.account(), SessionKind::ApiToken, request);
        let changed = core.accounts.change_own(caller, |tx, account| {
            if let Some(previous) = &account.api_token {
                tx.remove_session(&crypto::digest(previous), &account.id)?;
            }
            account.api_token = Some(new.id.clone());
            new.store(tx)
        })?;
        core.audit(AuditKind::ApiTokenCreated, Some(&changed.id), request);
        Ok(Answer::json(&core.view_changed(caller, &changed)))
    }
}

impl Handler for One {
    async fn handle(
        core: &Core,
        admin: Admin<'_>,
        input: IdInput,
        _: &Request<'_>,
    ) -> Answered<AuthView> {
        let not_found = || ApiError::not_found(msg::AUTH_NOT_FOUND);
        let account = core
            .ports
            .store()
            .account(&input.id)?
            .ok_or_else(not_found)?;
        let own = account.id == admin.account().id;
        if !own && core.invitations.membership(&account, &admin)?.is_none() {
            return Err(not_found());
        }
        Ok(Answer::json(&core.accounts.view(&account, own)))
    }
}

/// One line of `user list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSummary {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub two_factor: bool,
    /// An invited member who has not set a password yet.
    pub pending: bool,
    pub created_at: String,
}

/// Operations for the operator's command line, outside the API.
impl Core {
    pub fn list_accounts(&self) -> Result<Vec<AccountSummary>, ApiError> {
        let mut accounts = Vec::new();
        for (_, bytes) in self.ports.store().scan_prefix(keys::ACCOUNT_PREFIX)? {
            let account: Account = super::records::decode(&bytes)?;
            accounts.push(AccountSummary {
                id: account.id,
                email: account.email,
                role: account.role,
                two_factor: account.two_factor_enabled,
                pending: account.password_hash.is_none(),
                created_at: iso8601(account.created_at),
            });
        }
        accounts.sort_by(|a, b| a.created_at.cmp(&b.created_at));
        Ok(accounts)
    }

    /// The live sessions of the account with this email, newest first (`None`:
    /// no such account).
    pub fn sessions_of_email(&self, email: &str) -> Result<Option<Vec<SessionView>>, ApiError> {
        let Some(account) = self.ports.store().account_by_email(&email.to_lowercase())? else {
            return Ok(None);
        };
        Ok(Some(self.sessions.views_of(&account, "")?))
    }

    /// An event of the operator's command line: no client, no request.
    fn operator_event(&self, kind: AuditKind, account: &str, count: Option<u64>) {
        self.record(AuditEvent {
            account: Some(account),
            count,
            ..self.event_now(kind)
        });
    }

    /// The account with this email, or the contract's "user not found".
    fn operated_on(&self, email: &str) -> Result<Account, ApiError> {
        self.ports
            .store()
            .account_by_email(&email.to_lowercase())?
            .ok_or_else(|| ApiError::not_found(msg::USER_NOT_FOUND))
    }

    /// Turns 2FA off for `email` (an account whose authenticator is lost);
    /// whether it was on. The account's sessions stay.
    pub async fn disable_two_factor(&self, email: &str) -> Result<bool, ApiError> {
        let id = self.operated_on(email)?.id;
        let was_on = self.ports.transaction(|tx| {
            let mut account = tx
                .account(&id)?
                .ok_or_else(|| ApiError::not_found(msg::USER_NOT_FOUND))?;
            let was_on = account.two_factor_enabled;
            account.totp_secret = None;
            account.two_factor_enabled = false;
            account.pending_2fa_until = None;
            tx.put_account(&account, None)?;
            Ok(was_on)
        })?;
        self.ports.store().flush().await?;
        if was_on {
            self.operator_event(AuditKind::TwoFactorDisabled, &id, None);
        }
        Ok(was_on)
    }

    /// Ends every session of `email`, browser and API token alike; how many.
    pub async fn end_sessions_of_email(&self, email: &str) -> Result<u64, ApiError> {
        let account = self.operated_on(email)?;
        let ended = self.sessions.end_all(&account.id)?;
        self.ports.store().flush().await?;
        self.operator_event(AuditKind::SessionsEnded, &account.id, Some(ended));
        Ok(ended)
    }

    /// Sets a new password for `email` and ends its cookie sessions (for a
    /// locked-out admin). The password must meet the contract's rule. Refused for
    /// an invitation not yet accepted: a password set here would log in while
    /// the invitation still showed as open; the invitee accepts it instead.
    pub async fn set_password(&self, email: &str, password: String) -> Result<(), ApiError> {
        specs::procedures::check_password(&password).map_err(ApiError::validation)?;
        let email = email.to_lowercase();
        let not_found = || ApiError::not_found(msg::USER_NOT_FOUND);
        if self.operated_on(&email)?.password_hash.is_none() {
            return Err(ApiError::bad_request(format!(
                "{email} has not accepted their invitation yet: they set their password \
                 through the invitation link (or remove the invitation and invite again)"
            )));
        }
        let hash = self.accounts.passwords.hash(password).await?;
        let id = self.ports.transaction(|tx| {
            let mut account = tx.account_by_email(&email)?.ok_or_else(not_found)?;
            account.password_hash = Some(hash.clone());
            account.session_epoch += 1;
            account.pending_2fa_until = None;
            tx.put_account(&account, None)?;
            Ok(account.id)
        })?;
        self.ports.store().flush().await?;
        self.operator_event(AuditKind::PasswordReset, &id, None);
        Ok(())
    }
}
