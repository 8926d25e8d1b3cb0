//! Cloud mode: sign-up with email confirmation, password reset. In self-hosted mode
//! these procedures answer 404 `This feature is only available in the cloud version`.

use super::accounts::Accounts;
use super::audit::AuditKind;
use super::handler::{Answer, Answered, Handler, Request};
use super::ports::{Mail, Mailer, Notifier, Tx};
use super::records::{keys, Account, Read, Write};
use super::{Core, Ports};
use crate::crypto;
use specs::messages as msg;
use specs::procedures::{ConfirmEmail, ResetPassword, SendResetPasswordEmail};
use specs::wire::{ConfirmEmailInput, CreateAdminInput, EmailInput, ResetPasswordInput};
use specs::{wire::True, ApiError, ErrorCode, NoOutput};
use std::sync::Arc;

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
    /// When the account's token of this purpose expires, if it has one.
    fn expiry(self, account: &Account) -> Option<i64> {
        match self {
            Purpose::Confirmation => account.confirmation_expires_at,
            Purpose::Reset => account.reset_expires_at,
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

/// What self-hosted mode answers to a cloud procedure.
pub(crate) fn cloud_only() -> ApiError {
    ApiError::not_found(msg::CLOUD_ONLY)
}

fn mail_unavailable() -> ApiError {
    ApiError::new(ErrorCode::InternalServerError, msg::MAIL_UNAVAILABLE)
}

/// At most one mail of each kind to an account in this long.
const MAIL_COOLDOWN_MS: i64 = 5 * 60 * 1000;

/// Cloud mode's service: exists only in cloud mode (chosen at start). Cheap to
/// clone, for work done after the answer.
#[derive(Clone)]
pub(crate) struct Cloud {
    ports: Ports,
    mailer: Arc<dyn Mailer>,
    notifier: Arc<dyn Notifier>,
    /// Where links in emails point.
    public_url: String,
}

impl Cloud {
    pub(crate) fn new(
        ports: Ports,
        mailer: Arc<dyn Mailer>,
        notifier: Arc<dyn Notifier>,
        public_url: String,
    ) -> Cloud {
        Cloud {
            ports,
            mailer,
            notifier,
            public_url,
        }
    }

    /// Whether a token of `purpose` was issued to `account` in the last minutes (its
    /// mail went then): no second mail yet, so nobody can flood a mailbox.
    fn recently_mailed(&self, account: &Account, purpose: Purpose) -> bool {
        let issued_at = purpose.expiry(account).map(|at| at - purpose.lifetime());
        issued_at.is_some_and(|at| self.ports.now() - at < MAIL_COOLDOWN_MS)
    }

    /// Withdraws the token of `purpose` that `token` is (its mail was not delivered).
    fn withdraw_token(&self, account_id: &str, purpose: Purpose, token: &str) {
        let digest = crypto::digest(token);
        let withdrawn = self.ports.transaction(|tx| {
            if let Some(mut account) = tx.account(account_id)? {
                if Self::consume_token(tx, &mut account, purpose, &digest)? {
                    tx.put_account(&account, None)?;
                }
            }
            Ok(())
        });
        if let Err(error) = withdrawn {
            tracing::warn!(%error, "an undelivered token was not withdrawn");
        }
    }

    /// Issues a new token for `purpose` (replacing any previous one) and returns it.
    fn issue_token(&self, account_id: &str, purpose: Purpose) -> Result<String, ApiError> {
        let token = crypto::new_token(self.ports.random());
        let digest = crypto::digest(&token);
        let expires_at = self.ports.now() + purpose.lifetime();
        self.ports.transaction(|tx| {
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
        let store = self.ports.store();
        let id = store
            .text(&purpose.index(&crypto::digest(token)))?
            .ok_or_else(not_found)?;
        let account = store.account(&id)?.ok_or_else(not_found)?;
        if purpose
            .expiry(&account)
            .is_none_or(|at| self.ports.now() > at)
        {
            return Err(ApiError::not_found(purpose.expired_message()));
        }
        Ok(account)
    }

    /// Clears the token of `purpose` if it is still `digest`; false if it was used.
    fn consume_token(
        tx: &dyn Tx,
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
        self.mailer.send(mail).await.map_err(|e| {
            tracing::warn!(error = %e, "email not sent");
            mail_unavailable()
        })
    }

    fn link(&self, path: &str, token: &str) -> String {
        format!(
            "{}/{path}?token={token}",
            self.public_url.trim_end_matches('/')
        )
    }

    /// The mail that sends a token's link.
    fn token_mail(&self, account: &Account, purpose: Purpose, token: &str) -> Mail {
        let (page, subject, greeting, instruction) = purpose.email();
        let link = self.link(page, token);
        Mail {
            to: account.email.clone(),
            subject: subject.to_string(),
            text: format!("{greeting}\n\n{instruction}\n{link}\n"),
            html: format!(
                "<p>{greeting}</p><p>{instruction}</p><p><a href=\"{link}\">{link}</a></p>"
            ),
        }
    }

    /// Issues a new confirmation token and emails its link before answering (a
    /// failed delivery is answered, and can be retried by logging in), unless a mail
    /// went to the address in the last minutes.
    async fn email_confirmation(&self, account: &Account) -> Result<(), ApiError> {
        if self.recently_mailed(account, Purpose::Confirmation) {
            return Ok(());
        }
        let token = self.issue_token(&account.id, Purpose::Confirmation)?;
        let sent = self
            .send(self.token_mail(account, Purpose::Confirmation, &token))
            .await;
        if sent.is_err() {
            // Not delivered: the next login may send another at once.
            self.withdraw_token(&account.id, Purpose::Confirmation, &token);
        }
        sent
    }

    /// The reset mail for `email`, made after the answer: `None` when no account
    /// has it, a mail went there in the last minutes, or the token cannot be
    /// stored (logged).
    async fn reset_mail(self, email: String) -> Option<Mail> {
        // A storage failure is logged (as every internal error is) and sends nothing.
        let found = self.ports.store().account_by_email(&email);
        let account = found.map_err(ApiError::from).ok()??;
        if self.recently_mailed(&account, Purpose::Reset) {
            return None;
        }
        let token = self.issue_token(&account.id, Purpose::Reset).ok()?;
        // Durable before the link goes out.
        if let Err(error) = self.ports.store().flush().await {
            tracing::warn!(%error, "a reset token was not stored; no mail");
            return None;
        }
        Some(self.token_mail(&account, Purpose::Reset, &token))
    }

    /// Cloud `auth.createAdmin`: an unconfirmed admin and a confirmation email.
    pub(crate) async fn sign_up(
        &self,
        accounts: &Accounts,
        input: CreateAdminInput,
    ) -> Result<String, ApiError> {
        let in_use = || ApiError::bad_request(msg::EMAIL_IN_USE);
        let store = self.ports.store();
        if store
            .account_by_email(&input.email.to_lowercase())?
            .is_some()
        {
            return Err(in_use());
        }
        let hash = accounts.passwords.hash(input.password).await?;
        let mut account = accounts.new_admin(&input.email, hash);
        account.email_confirmed = false;
        self.ports.transaction(|tx| {
            if tx.account_by_email(&account.email)?.is_some() {
                return Err(in_use().into());
            }
            Ok(tx.put_account(&account, None)?)
        })?;
        self.notifier
            .admin_signed_up(&account.email, account.created_at);
        self.email_confirmation(&account).await?;
        Ok(account.id)
    }

    /// `auth.login` on an unconfirmed account: a new confirmation email, and the
    /// error to answer.
    pub(crate) async fn resend_confirmation(&self, account: &Account) -> ApiError {
        match self.email_confirmation(account).await {
            Ok(()) => ApiError::bad_request(msg::EMAIL_NOT_CONFIRMED),
            Err(e) => e,
        }
    }

    /// Consumes a live token of `purpose` and applies `change` to its account.
    fn redeem(
        &self,
        token: &str,
        purpose: Purpose,
        mut change: impl FnMut(&mut Account),
    ) -> Result<String, ApiError> {
        let account = self.account_for_token(token, purpose)?;
        let digest = crypto::digest(token);
        let not_found = || ApiError::not_found(msg::TOKEN_NOT_FOUND);
        self.ports.transaction(|tx| {
            let mut fresh = tx.account(&account.id)?.ok_or_else(not_found)?;
            if !Self::consume_token(tx, &mut fresh, purpose, &digest)? {
                return Err(not_found().into());
            }
            change(&mut fresh);
            tx.put_account(&fresh, None)?;
            Ok(fresh.id)
        })
    }
}

impl Handler for ConfirmEmail {
    async fn handle(
        core: &Core,
        _: (),
        input: ConfirmEmailInput,
        request: &Request<'_>,
    ) -> Answered<True> {
        let token = &input.confirmation_token;
        // Inside the throttle, as every refusal of a token guess is counted.
        core.guessing_token(request, async {
            let cloud = core.cloud().map_err(|only| match core.config().profile {
                specs::Profile::Dokploy014 => {
                    ApiError::not_found(msg::dokploy::CONFIRM_EMAIL_SELF_HOSTED)
                }
                specs::Profile::Contract => only,
            })?;
            cloud.redeem(token, Purpose::Confirmation, |account| {
                account.email_confirmed = true;
            })
        })
        .await?;
        Ok(Answer::json(&True))
    }
}

impl Handler for SendResetPasswordEmail {
    async fn handle(
        core: &Core,
        _: (),
        input: EmailInput,
        request: &Request<'_>,
    ) -> Answered<NoOutput> {
        let cloud = core.cloud()?;
        core.count_mail_request(request)?;
        let email = input.email.to_lowercase();
        if core.config().profile.is_dokploy()
            && core.ports.store().account_by_email(&email)?.is_none()
        {
            // Dokploy tells unknown emails apart (difference 16).
            return Err(ApiError::not_found(msg::USER_NOT_FOUND));
        }
        // Everything that depends on whether the email is known happens after the
        // answer, which is the same, as soon, for every email.
        let work = cloud.clone().reset_mail(email);
        cloud.mailer.send_later(Box::pin(work)).await;
        Ok(Answer::nothing())
    }
}

impl Handler for ResetPassword {
    async fn handle(
        core: &Core,
        _: (),
        input: ResetPasswordInput,
        request: &Request<'_>,
    ) -> Answered<True> {
        let id = core
            .guessing_token(request, async {
                let cloud = core.cloud()?;
                let token = &input.reset_password_token;
                // Refused before hashing when the token is unknown or expired.
                cloud.account_for_token(token, Purpose::Reset)?;
                let hash = core.accounts.passwords.hash(input.password).await?;
                cloud.redeem(token, Purpose::Reset, |account| {
                    account.password_hash = Some(hash.clone());
                    // Every cookie session of the account ends.
                    account.session_epoch += 1;
                })
            })
            .await?;
        core.audit(AuditKind::PasswordReset, Some(&id), request);
        Ok(Answer::json(&True))
    }
}
