//! Accounts: the first admin, accepting an invitation, login, reading and changing
//! one's own account, API tokens.

use super::records::{keys, Account, Read, SessionKind, Write};
use super::{Caller, CookieChange, Core, Credentials, Mode, Output};
use crate::crypto;
use crate::time::iso8601;
use specs::messages as msg;
use specs::wire::{
    AuthView, CreateAdminInput, CreateUserInput, IdInput, LoginInput, LoginOutput, Role,
    UpdateAuthInput,
};
use specs::{ApiError, ErrorCode};

/// bcrypt reads at most this many bytes of a password.
const BCRYPT_MAX_BYTES: usize = 72;

/// Dokploy's avatars: `/avatars/avatar-1.png` … `avatar-12.png`.
const AVATARS: u8 = 12;

impl Core {
    /// The contract's view of an account; `show_token` only for its owner.
    pub(crate) fn view(&self, account: &Account, show_token: bool) -> AuthView {
        AuthView {
            id: account.id.clone(),
            email: account.email.clone(),
            rol: account.role,
            image: account.image.clone(),
            secret: None,
            token: account.api_token.clone().filter(|_| show_token),
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
        let random = &*self.deps.random;
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
            created_at: self.now(),
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

    /// The one place a password is set: it must fit bcrypt's 72 bytes (a longer one
    /// would be cut silently, so it is refused).
    pub(crate) async fn hash_password(&self, password: String) -> Result<String, ApiError> {
        if password.len() > BCRYPT_MAX_BYTES {
            return Err(ApiError::bad_request(msg::PASSWORD_TOO_LONG));
        }
        let salt = crypto::new_salt(&*self.deps.random);
        self.deps
            .hasher
            .hash(password, salt)
            .await
            .map_err(super::internal)
    }

    pub(crate) async fn create_admin(&self, input: CreateAdminInput) -> Result<Output, ApiError> {
        if self.config.mode == Mode::Cloud {
            return self.sign_up(input).await;
        }
        let admin_exists = || ApiError::bad_request(msg::ADMIN_EXISTS);
        if self.store().get(keys::SELF_HOSTED_ADMIN)?.is_some() {
            return Err(admin_exists());
        }
        let hash = self.hash_password(input.password).await?;
        let mut account = self.new_account(&input.email, Role::Admin, Some(hash));
        account.admin_id = Some(crypto::new_id(&*self.deps.random));
        let (id, digest, session) = self.new_session(&account, SessionKind::Cookie);
        self.transaction(|tx| {
            if tx.get(keys::SELF_HOSTED_ADMIN)?.is_some()
                || tx.account_by_email(&account.email)?.is_some()
            {
                return Err(admin_exists().into());
            }
            tx.put_account(&account, None)?;
            tx.insert(keys::SELF_HOSTED_ADMIN, account.id.clone().into_bytes())?;
            tx.put_session(&digest, &session)?;
            Ok(())
        })?;
        Ok(Output::json(&true)?.with_cookie(CookieChange::Set(id)))
    }

    pub(crate) async fn create_user(&self, input: CreateUserInput) -> Result<Output, ApiError> {
        let invalid = || ApiError::bad_request(msg::INVALID_TOKEN);
        let token_digest = crypto::digest(&input.token);
        let pending = |member: Option<super::records::Member>| {
            member.filter(|m| {
                crypto::secrets_equal(m.auth_id.as_bytes(), input.id.as_bytes()) && !m.registered
            })
        };
        let store = self.store();
        let member = match store.text(&keys::invitation(&token_digest))? {
            Some(user_id) => pending(store.member(&user_id)?),
            None => None,
        }
        .ok_or_else(invalid)?;
        if self.now() > member.expires_at {
            return Err(ApiError::bad_request(msg::INVITATION_EXPIRED));
        }
        let hash = self.hash_password(input.password).await?;
        let id = self.transaction(|tx| {
            let mut member = pending(tx.member(&member.user_id)?).ok_or_else(invalid)?;
            let mut account = tx.account(&member.auth_id)?.ok_or_else(invalid)?;
            member.registered = true;
            account.password_hash = Some(hash.clone());
            let (id, digest, session) = self.new_session(&account, SessionKind::Cookie);
            tx.put_member(&member, &token_digest)?;
            tx.put_account(&account, None)?;
            tx.put_session(&digest, &session)?;
            Ok(id)
        })?;
        Ok(Output::json(&true)?.with_cookie(CookieChange::Set(id)))
    }

    pub(crate) async fn login(&self, input: LoginInput) -> Result<Output, ApiError> {
        let account = self.store().account_by_email(&input.email.to_lowercase())?;
        let stored_hash = account.as_ref().and_then(|a| a.password_hash.clone());
        // Always one bcrypt verification, so a miss takes as long as a hit.
        let hash = stored_hash
            .clone()
            .unwrap_or_else(|| self.dummy_hash.clone());
        // No password over 72 bytes was ever set: a longer one never matches.
        let fits = input.password.len() <= BCRYPT_MAX_BYTES;
        let matches = self.deps.hasher.verify(input.password.clone(), hash).await && fits;
        let account = match account {
            Some(account) if matches && stored_hash.is_some() => account,
            _ => return Err(ApiError::bad_request(msg::CREDENTIALS)),
        };
        self.strengthen_hash(&account, input.password).await?;
        if !account.email_confirmed {
            return self.resend_confirmation(&account).await;
        }
        if account.two_factor_enabled {
            let until = self.now() + specs::lifetimes::PENDING_2FA_MS;
            self.transaction(|tx| {
                if let Some(mut fresh) = tx.account(&account.id)? {
                    fresh.pending_2fa_until = Some(until);
                    tx.put_account(&fresh, None)?;
                }
                Ok(())
            })?;
            return Output::json(&LoginOutput {
                is_2fa_enabled: true,
                auth_id: account.id,
            });
        }
        let cookie = self.start_cookie_session(&account)?;
        Ok(Output::json(&LoginOutput {
            is_2fa_enabled: false,
            auth_id: account.id,
        })?
        .with_cookie(cookie))
    }

    /// Re-hashes a password whose hash is weaker than the configured cost (at a
    /// successful login, the only time the password is known).
    async fn strengthen_hash(&self, account: &Account, password: String) -> Result<(), ApiError> {
        let stored_cost = account
            .password_hash
            .as_deref()
            .and_then(|h| h.get(4..6))
            .and_then(|c| c.parse::<u32>().ok());
        if stored_cost.is_none_or(|cost| cost >= self.deps.hasher.cost()) {
            return Ok(());
        }
        let hash = self.hash_password(password).await?;
        let old = account.password_hash.clone();
        self.transaction(|tx| {
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

    /// Ends the session named by the request's cookie, if it is live.
    pub(crate) fn logout(&self, credentials: &Credentials) -> Result<Output, ApiError> {
        let Some(id) = &credentials.cookie else {
            return Output::json(&false);
        };
        let ended = match self.live_session(id)? {
            Some((_, digest)) => {
                self.transaction(|tx| Ok(tx.remove(&keys::session(&digest))?))?;
                true
            }
            None => false,
        };
        Ok(Output::json(&ended)?.with_cookie(CookieChange::Blank))
    }

    pub(crate) async fn update(
        &self,
        caller: &Caller,
        input: UpdateAuthInput,
    ) -> Result<Output, ApiError> {
        let non_empty = |v: Option<String>| v.filter(|s| !s.is_empty());
        let new_email = non_empty(input.email).map(|e| e.to_lowercase());
        let new_image = non_empty(input.image);
        let new_hash = match non_empty(input.password) {
            Some(password) => Some(self.hash_password(password).await?),
            None => None,
        };
        let account = self.transaction(|tx| {
            let mut account = tx
                .account(&caller.account().id)?
                .ok_or_else(ApiError::unauthorized)?;
            let previous_email = account.email.clone();
            if let Some(email) = &new_email {
                if *email != account.email && tx.account_by_email(email)?.is_some() {
                    return Err(ApiError::new(ErrorCode::Conflict, msg::EMAIL_IN_USE).into());
                }
                account.email = email.clone();
            }
            if let Some(image) = &new_image {
                account.image = image.clone();
            }
            if let Some(hash) = &new_hash {
                account.password_hash = Some(hash.clone());
                account.session_epoch += 1;
                // Every other cookie session ends; the one making the change stays.
                if caller.via_cookie {
                    self.restamp_session(tx, &caller.session_digest, account.session_epoch)?;
                }
            }
            tx.put_account(&account, Some(&previous_email))?;
            Ok(account)
        })?;
        Output::json(&self.view_own(&account))
    }

    pub(crate) fn generate_token(&self, caller: &Caller) -> Result<Output, ApiError> {
        let (token, digest, session) = self.new_session(caller.account(), SessionKind::ApiToken);
        let account = self.transaction(|tx| {
            let mut account = tx
                .account(&caller.account().id)?
                .ok_or_else(ApiError::unauthorized)?;
            if let Some(previous) = &account.api_token {
                tx.remove(&keys::session(&crypto::digest(previous)))?;
            }
            account.api_token = Some(token.clone());
            tx.put_account(&account, None)?;
            tx.put_session(&digest, &session)?;
            Ok(account)
        })?;
        Output::json(&self.view_own(&account))
    }

    pub(crate) fn one(&self, caller: &Caller, input: IdInput) -> Result<Output, ApiError> {
        let store = self.store();
        let not_found = || ApiError::not_found(msg::AUTH_NOT_FOUND);
        let account = store.account(&input.id)?.ok_or_else(not_found)?;
        let own = account.id == caller.account().id;
        if !own && !self.is_member_of(&account, caller)? {
            return Err(not_found());
        }
        Output::json(&self.view(&account, own))
    }
}

/// One line of `user list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSummary {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub two_factor: bool,
    pub created_at: String,
}

/// Operations for the operator's command line, outside the API.
impl Core {
    pub fn list_accounts(&self) -> Result<Vec<AccountSummary>, ApiError> {
        let mut accounts = Vec::new();
        for (_, bytes) in self.store().scan_prefix(keys::ACCOUNT_PREFIX)? {
            let account: Account = super::records::decode(&bytes)?;
            accounts.push(AccountSummary {
                id: account.id,
                email: account.email,
                role: account.role,
                two_factor: account.two_factor_enabled,
                created_at: iso8601(account.created_at),
            });
        }
        accounts.sort_by(|a, b| a.created_at.cmp(&b.created_at));
        Ok(accounts)
    }

    /// Sets a new password for `email` and ends its cookie sessions (for a
    /// locked-out admin). The password must meet the contract's rule.
    pub async fn set_password(&self, email: &str, password: String) -> Result<(), ApiError> {
        specs::procedures::schemas::RESET_PASSWORD
            .validate(Some(&serde_json::json!({
                "resetPasswordToken": "-", "password": password
            })))
            .map_err(ApiError::validation)?;
        let email = email.to_lowercase();
        let not_found = || ApiError::not_found(msg::USER_NOT_FOUND);
        self.store()
            .account_by_email(&email)?
            .ok_or_else(not_found)?;
        let hash = self.hash_password(password).await?;
        self.transaction(|tx| {
            let mut account = tx.account_by_email(&email)?.ok_or_else(not_found)?;
            account.password_hash = Some(hash.clone());
            account.session_epoch += 1;
            account.pending_2fa_until = None;
            Ok(tx.put_account(&account, None)?)
        })?;
        self.store().flush().await?;
        Ok(())
    }
}
