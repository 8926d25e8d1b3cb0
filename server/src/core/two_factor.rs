//! TOTP two-factor authentication (SHA1, 6 digits, 30 s steps, ±1 step accepted).

use super::audit::AuditKind;
use super::handler::{Answer, Answered, Caller, Handler, Request};
use super::records::{Account, Read, SessionKind, Write};
use super::sessions::CookieChange;
use super::{Core, Ports};
use crate::crypto;
use specs::messages as msg;
use specs::procedures::{Disable2FA, Generate2FASecret, Verify2FASetup, VerifyLogin2FA};
use specs::wire::{AuthView, TwoFactorSecret, Verify2FASetupInput, VerifyLogin2FAInput};
use specs::{wire::True, ApiError, NoInput};
use totp_rs::{Algorithm, Secret, TOTP};

const ISSUER: &str = "Dokploy";
pub(crate) const STEP_SECS: u64 = 30;

fn totp(secret: &str, email: &str) -> Option<TOTP> {
    let bytes = Secret::Encoded(secret.to_ascii_uppercase())
        .to_bytes()
        .ok()?;
    if bytes.is_empty() {
        return None;
    }
    Some(totp_of_key(bytes, email))
}

fn totp_of_key(bytes: Vec<u8>, email: &str) -> TOTP {
    // 15-byte secrets (Dokploy's) are below totp-rs's 128-bit minimum: unchecked.
    TOTP::new_unchecked(
        Algorithm::SHA1,
        6,
        1,
        STEP_SECS,
        bytes,
        Some(ISSUER.to_string()),
        email.to_string(),
    )
}

/// The pin for a base32 secret at a Unix time (seconds); `None` for a bad secret.
#[cfg(any(test, feature = "fixtures"))]
pub(crate) fn totp_code(secret: &str, unix_secs: u64) -> Option<String> {
    Some(totp(secret, "")?.generate(unix_secs))
}

/// The `otpauth://` URI an authenticator app reads from the QR code.
#[cfg(test)]
fn totp_uri(secret: &str, email: &str) -> Option<String> {
    Some(totp(secret, email)?.get_url())
}

/// The 30 s step at which `pin` is valid for `secret`, looking one step either side
/// of `now_ms`; `None` when it is valid at none.
fn matching_step(secret: &str, pin: &str, now_ms: i64) -> Option<u64> {
    step_of(&totp(secret, "")?, pin, now_ms)
}

/// As `matching_step`, for the empty secret Dokploy checks an account without 2FA
/// against (`auth.secret || ""`): its pins anyone can compute (difference 13).
fn matching_step_of_empty_secret(pin: &str, now_ms: i64) -> Option<u64> {
    step_of(&totp_of_key(Vec::new(), ""), pin, now_ms)
}

fn step_of(totp: &TOTP, pin: &str, now_ms: i64) -> Option<u64> {
    let now = u64::try_from(now_ms / 1000).unwrap_or(0);
    let mut matched = None;
    for time in [now.saturating_sub(STEP_SECS), now, now + STEP_SECS] {
        // No early exit: every candidate is compared, in constant time.
        if crypto::secrets_equal(totp.generate(time).as_bytes(), pin.as_bytes()) {
            matched = Some(time / STEP_SECS);
        }
    }
    matched
}

#[cfg(test)]
fn pin_matches(secret: &str, pin: &str, now_ms: i64) -> bool {
    matching_step(secret, pin, now_ms).is_some()
}

/// A pin is accepted once: only at a step later than the last one accepted.
fn fresh_step(account: &Account, step: u64) -> bool {
    account.last_totp_step.is_none_or(|last| step > last)
}

/// Whether a correct password was given recently enough for a pin to finish the login.
fn awaits_pin(account: &Account, now: i64) -> bool {
    account.pending_2fa_until.is_some_and(|until| until > now)
}

/// Pins: what the clock says now, and the pin a login waits for.
pub(crate) struct TwoFactor {
    ports: Ports,
}

impl TwoFactor {
    pub(crate) fn new(ports: Ports) -> TwoFactor {
        TwoFactor { ports }
    }

    /// Finishes a login with a pin: of two requests with the same pin, only one
    /// succeeds. The new session's id.
    fn finish_login(
        &self,
        core: &Core,
        input: &VerifyLogin2FAInput,
        request: &Request<'_>,
    ) -> Result<String, ApiError> {
        let invalid = || ApiError::bad_request(msg::INVALID_2FA);
        let now = self.ports.now();
        // Dokploy takes a pin without a password first (difference 13), and the
        // same pin again (difference 7).
        let dokploy = core.config().profile.is_dokploy();
        let awaits_pin = |account: &Account, now| dokploy || awaits_pin(account, now);
        let fresh_step = |account: &Account, step| dokploy || fresh_step(account, step);
        let account = self
            .ports
            .store()
            .account(&input.id)?
            .ok_or_else(|| match dokploy {
                true => ApiError::not_found(msg::AUTH_NOT_FOUND),
                false => invalid(),
            })?;
        let secret = account
            .totp_secret
            .as_deref()
            .filter(|_| account.two_factor_enabled);
        let step = match secret {
            Some(secret) if awaits_pin(&account, now) => {
                matching_step(secret, &input.pin, now).filter(|&step| fresh_step(&account, step))
            }
            // Dokploy checks the pin of an account without a secret against the empty
            // one (§6b): its id and a pin anyone computes log in.
            None if dokploy && account.totp_secret.is_none() => {
                matching_step_of_empty_secret(&input.pin, now)
            }
            _ => None,
        }
        .ok_or_else(invalid)?;
        self.ports
            .transaction(|tx| {
                // Checked again inside the transaction: of two requests with the same
                // pin, only one can succeed.
                let mut account = tx.account(&input.id)?.ok_or_else(invalid)?;
                if !awaits_pin(&account, now) || !fresh_step(&account, step) {
                    return Err(invalid().into());
                }
                account.pending_2fa_until = None;
                account.last_totp_step = Some(step);
                let new = core
                    .sessions
                    .new_session(&account, SessionKind::Cookie, request);
                tx.put_account(&account, None)?;
                new.store(tx)?;
                Ok(new.id)
            })
            .and_then(|id| {
                if let Some(account) = self.ports.store().account(&input.id)? {
                    core.sessions
                        .keep_within(&account, core.sessions.max_per_account)?;
                }
                Ok(id)
            })
    }
}

impl Handler for Generate2FASecret {
    async fn handle(
        core: &Core,
        caller: &Caller,
        _: NoInput,
        _: &Request<'_>,
    ) -> Answered<TwoFactorSecret> {
        let secret = crypto::new_totp_secret(core.two_factor.ports.random());
        let totp = totp(&secret, &caller.account().email)
            .ok_or_else(|| super::internal("a new TOTP secret did not decode"))?;
        let png = totp.get_qr_base64().map_err(super::internal)?;
        Ok(Answer::json(&TwoFactorSecret {
            qr_code_url: format!("data:image/png;base64,{png}"),
            secret,
        }))
    }
}

impl Handler for Verify2FASetup {
    async fn handle(
        core: &Core,
        caller: &Caller,
        input: Verify2FASetupInput,
        request: &Request<'_>,
    ) -> Answered<AuthView> {
        let now = core.two_factor.ports.now();
        let own_id = caller.account().id.as_str();
        let Some(step) = matching_step(&input.secret, &input.pin, now) else {
            core.audit(AuditKind::TwoFactorSetupFailed, Some(own_id), request);
            return Err(ApiError::bad_request(msg::INVALID_2FA));
        };
        let changed = core.accounts.change_own(caller, |_, account| {
            account.totp_secret = Some(input.secret.to_ascii_uppercase());
            account.two_factor_enabled = true;
            // The setup pin is spent: it cannot also open a login.
            account.last_totp_step = Some(step);
            Ok(())
        })?;
        core.audit(AuditKind::TwoFactorEnabled, Some(own_id), request);
        Ok(Answer::json(&core.view_changed(caller, &changed)))
    }
}

impl Handler for VerifyLogin2FA {
    async fn handle(
        core: &Core,
        _: (),
        input: VerifyLogin2FAInput,
        request: &Request<'_>,
    ) -> Answered<True> {
        let guesses = core.guesses(input.id.clone(), request.client);
        let refused = (AuditKind::LoginThrottled, request);
        let finished = core
            .throttled(guesses, refused, async {
                core.two_factor.finish_login(core, &input, request)
            })
            .await;
        let id = match finished {
            Ok(id) => id,
            Err(e) => {
                if e.code == specs::ErrorCode::BadRequest {
                    core.audit(AuditKind::PinFailed, Some(&input.id), request);
                }
                return Err(e);
            }
        };
        core.audit(AuditKind::LoginSucceeded, Some(&input.id), request);
        Ok(Answer::json(&True).with_cookie(CookieChange::Set(id)))
    }
}

impl Handler for Disable2FA {
    async fn handle(
        core: &Core,
        caller: &Caller,
        _: NoInput,
        request: &Request<'_>,
    ) -> Answered<AuthView> {
        let account = core.accounts.change_own(caller, |_, account| {
            account.totp_secret = None;
            account.two_factor_enabled = false;
            Ok(())
        })?;
        core.audit(AuditKind::TwoFactorDisabled, Some(&account.id), request);
        // Dokploy answers the record before the change, as for the set-up (difference 6).
        Ok(Answer::json(&core.view_changed(caller, &account)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vector() {
        // RFC 6238's SHA1 key "12345678901234567890", 6 digits, at T = 59 s.
        let secret = data_encoding::BASE32_NOPAD.encode(b"12345678901234567890");
        assert_eq!(totp_code(&secret, 59).unwrap(), "287082");
    }

    #[test]
    fn one_step_either_side() {
        let secret = "JBSWY3DPEHPK3PXPJBSWY3DP";
        let now_ms = 1_700_000_000_000;
        let at = |secs: i64| totp_code(secret, ((now_ms / 1000) + secs) as u64).unwrap();
        assert!(pin_matches(secret, &at(0), now_ms));
        assert!(pin_matches(secret, &at(-30), now_ms));
        assert!(pin_matches(secret, &at(30), now_ms));
        assert!(!pin_matches(secret, &at(-90), now_ms));
        assert!(!pin_matches(secret, &at(90), now_ms));
        assert!(!pin_matches("not base32!", "123456", now_ms));
    }

    #[test]
    fn uri_names_issuer_and_email() {
        let uri = totp_uri("JBSWY3DPEHPK3PXPJBSWY3DP", "a@b.co").unwrap();
        assert!(uri.starts_with("otpauth://totp/Dokploy:a%40b.co?"), "{uri}");
        assert!(uri.contains("issuer=Dokploy"), "{uri}");
    }
}
