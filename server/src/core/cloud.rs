//! Cloud mode: sign-up with email confirmation, password reset. In self-hosted mode
//! these procedures answer 404 `This feature is only available in the cloud version`.

use super::ports::Mail;
use super::records::{keys, Account, Read, Write};
use super::{Core, Mode, Output};
use crate::crypto;
use specs::messages as msg;
use specs::wire::{ConfirmEmailInput, CreateAdminInput, EmailInput, ResetPasswordInput, Role};
use specs::{ApiError, ErrorCode};

/// Which single-use emailed token.
#[derive(Clone, Copy)]
enum Purpose {
    Confirmation,
    Reset,
}

impl Purpose {
    fn index(self, digest: &str) -> Vec<u8> {
        match self {
            Purpose::Confirmation => keys::confirmation_token(digest),
            Purpose::Reset => keys::reset_token(digest),
        }
    }
    fn slot(self, account: &mut Account) -> (&mut Option<String>, &mut Option<i64>) {
        match self {
            Purpose::Confirmation => (
                &mut account.confirmation_digest,
                &mut account.confirmation_expires_at,
            ),
            Purpose::Reset => (&mut account.reset_digest, &mut account.reset_expires_at),
        }
    }
    fn lifetime(self) -> i64 {
        match self {
            Purpose::Confirmation => specs::lifetimes::CONFIRMATION_TOKEN_MS,
            Purpose::Reset => specs::lifetimes::RESET_TOKEN_MS,
        }
    }
    /// The page the emailed link opens, and the email's subject and wording.
    fn email(self) -> (&'static str, &'static str, &'static str, &'static str) {
        match self {
            Purpose::Confirmation => (
                "confirm-email",
                "Confirm your email address",
                "Welcome to Dokploy.",
                "Confirm your email address by opening this link within 24 hours:",
            ),
            Purpose::Reset => (
                "reset-password",
                "Reset your password",
                "Someone asked to reset the password of your Dokploy account. If it was not you, ignore this email.",
                "Set a new password within 24 hours with this link:",
            ),
        }
    }
    fn expired_message(self) -> &'static str {
        match self {
            Purpose::Confirmation => msg::CONFIRMATION_EXPIRED,
            Purpose::Reset => msg::TOKEN_EXPIRED,
        }
    }
}

fn cloud_only() -> ApiError {
    ApiError::not_found(msg::CLOUD_ONLY)
}

fn mail_unavailable() -> ApiError {
    ApiError::new(ErrorCode::InternalServerError, msg::MAIL_UNAVAILABLE)
}

impl Core {
    fn require_cloud(&self) -> Result<(), ApiError> {
        match self.config.mode {
            Mode::Cloud => Ok(()),
            Mode::SelfHosted => Err(cloud_only()),
        }
    }

    /// Issues a new token for `purpose` (replacing any previous one) and returns it.
    fn issue_token(&self, account_id: &str, purpose: Purpose) -> Result<String, ApiError> {
        let token = crypto::new_token(&*self.deps.random);
        let digest = crypto::digest(&token);
        let expires_at = self.now() + purpose.lifetime();
        self.transaction(|tx| {
            let Some(mut account) = tx.account(account_id)? else {
                return Err(ApiError::not_found(msg::USER_NOT_FOUND).into());
            };
            let (slot_digest, slot_expiry) = purpose.slot(&mut account);
            if let Some(previous) = slot_digest.replace(digest.clone()) {
                tx.remove(&purpose.index(&previous))?;
            }
            *slot_expiry = Some(expires_at);
            tx.insert(&purpose.index(&digest), account.id.clone().into_bytes())?;
            tx.put_account(&account, None)?;
            Ok(())
        })?;
        Ok(token)
    }

    /// The account a live token names, consuming nothing.
    fn account_for_token(&self, token: &str, purpose: Purpose) -> Result<Account, ApiError> {
        let not_found = || ApiError::not_found(msg::TOKEN_NOT_FOUND);
        let store = self.store();
        let id = store
            .text(&purpose.index(&crypto::digest(token)))?
            .ok_or_else(not_found)?;
        let mut account = store.account(&id)?.ok_or_else(not_found)?;
        let (_, expiry) = purpose.slot(&mut account);
        if expiry.is_none_or(|at| self.now() > at) {
            return Err(ApiError::not_found(purpose.expired_message()));
        }
        Ok(account)
    }

    /// Clears the token of `purpose` if it is still `digest`; false if it was used.
    fn consume_token(
        tx: &dyn super::ports::Tx,
        account: &mut Account,
        purpose: Purpose,
        digest: &str,
    ) -> Result<bool, super::ports::StoreError> {
        let (slot_digest, slot_expiry) = purpose.slot(account);
        if slot_digest.as_deref() != Some(digest) {
            return Ok(false);
        }
        *slot_digest = None;
        *slot_expiry = None;
        tx.remove(&purpose.index(digest))?;
        Ok(true)
    }

    async fn send(&self, mail: Mail) -> Result<(), ApiError> {
        self.deps.mailer.send(mail).await.map_err(|e| {
            tracing::warn!(error = %e, "email not sent");
            mail_unavailable()
        })
    }

    fn link(&self, path: &str, token: &str) -> String {
        format!(
            "{}/{path}?token={token}",
            self.config.public_url.trim_end_matches('/')
        )
    }

    /// Issues a new token for `purpose` and emails its link to the account.
    async fn email_token(&self, account: &Account, purpose: Purpose) -> Result<(), ApiError> {
        let token = self.issue_token(&account.id, purpose)?;
        let (page, subject, greeting, instruction) = purpose.email();
        let link = self.link(page, &token);
        self.send(Mail {
            to: account.email.clone(),
            subject: subject.to_string(),
            text: format!("{greeting}\n\n{instruction}\n{link}\n"),
            html: format!(
                "<p>{greeting}</p><p>{instruction}</p><p><a href=\"{link}\">{link}</a></p>"
            ),
        })
        .await
    }

    /// Cloud `auth.createAdmin`: an unconfirmed admin and a confirmation email.
    pub(crate) async fn sign_up(&self, input: CreateAdminInput) -> Result<Output, ApiError> {
        let in_use = || ApiError::bad_request(msg::EMAIL_IN_USE);
        if self
            .store()
            .account_by_email(&input.email.to_lowercase())?
            .is_some()
        {
            return Err(in_use());
        }
        let hash = self.hash_password(input.password).await?;
        let mut account = self.new_account(&input.email, Role::Admin, Some(hash));
        account.admin_id = Some(crypto::new_id(&*self.deps.random));
        account.email_confirmed = false;
        self.transaction(|tx| {
            if tx.account_by_email(&account.email)?.is_some() {
                return Err(in_use().into());
            }
            Ok(tx.put_account(&account, None)?)
        })?;
        self.deps
            .notifier
            .admin_signed_up(&account.email, account.created_at);
        self.email_token(&account, Purpose::Confirmation).await?;
        Output::json(&true)
    }

    /// `auth.login` on an unconfirmed account: a new confirmation email.
    pub(crate) async fn resend_confirmation(&self, account: &Account) -> Result<Output, ApiError> {
        self.email_token(account, Purpose::Confirmation).await?;
        Err(ApiError::bad_request(msg::EMAIL_NOT_CONFIRMED))
    }

    pub(crate) fn confirm_email(&self, input: ConfirmEmailInput) -> Result<Output, ApiError> {
        self.require_cloud()?;
        let purpose = Purpose::Confirmation;
        let account = self.account_for_token(&input.confirmation_token, purpose)?;
        let digest = crypto::digest(&input.confirmation_token);
        self.transaction(|tx| {
            let mut fresh = tx
                .account(&account.id)?
                .ok_or_else(|| ApiError::not_found(msg::TOKEN_NOT_FOUND))?;
            if !Self::consume_token(tx, &mut fresh, purpose, &digest)? {
                return Err(ApiError::not_found(msg::TOKEN_NOT_FOUND).into());
            }
            fresh.email_confirmed = true;
            Ok(tx.put_account(&fresh, None)?)
        })?;
        Output::json(&true)
    }

    pub(crate) async fn send_reset_password_email(
        &self,
        input: EmailInput,
    ) -> Result<Output, ApiError> {
        self.require_cloud()?;
        // An unknown email gets the same answer and no email.
        let Some(account) = self.store().account_by_email(&input.email.to_lowercase())? else {
            return Output::nothing();
        };
        self.email_token(&account, Purpose::Reset).await?;
        Output::nothing()
    }

    pub(crate) async fn reset_password(
        &self,
        input: ResetPasswordInput,
    ) -> Result<Output, ApiError> {
        self.require_cloud()?;
        let purpose = Purpose::Reset;
        let account = self.account_for_token(&input.reset_password_token, purpose)?;
        let digest = crypto::digest(&input.reset_password_token);
        let hash = self.hash_password(input.password).await?;
        self.transaction(|tx| {
            let mut fresh = tx
                .account(&account.id)?
                .ok_or_else(|| ApiError::not_found(msg::TOKEN_NOT_FOUND))?;
            if !Self::consume_token(tx, &mut fresh, purpose, &digest)? {
                return Err(ApiError::not_found(msg::TOKEN_NOT_FOUND).into());
            }
            fresh.password_hash = Some(hash.clone());
            // Every cookie session of the account ends.
            fresh.session_epoch += 1;
            Ok(tx.put_account(&fresh, None)?)
        })?;
        Output::json(&true)
    }
}
