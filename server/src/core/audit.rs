//! Security events: one per login attempt, 2FA change, password change, token,
//! invitation, removal and ended session. The core says what happened, to which
//! account and from which address; where events go (the audit log, metrics) is the
//! `Audit` port's business. Never a secret: ids and addresses only.

use std::net::IpAddr;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditKind {
    /// A session was made: the password was right (no 2FA), or the pin after it.
    LoginSucceeded,
    /// The password was right and a pin is now asked for.
    LoginNeedsPin,
    /// Wrong email or password.
    LoginFailed,
    /// Refused unseen: too many failed guesses (a password or a pin).
    LoginThrottled,
    /// A wrong pin at login.
    PinFailed,
    /// Too many failed guesses at emailed or invitation tokens.
    TokenGuessThrottled,
    TwoFactorEnabled,
    TwoFactorDisabled,
    /// A wrong pin when enabling 2FA.
    TwoFactorSetupFailed,
    AdminCreated,
    /// By its owner (`auth.update`).
    PasswordChanged,
    /// By an emailed link (cloud) or the operator (`user reset-password`).
    PasswordReset,
    ApiTokenCreated,
    InvitationCreated,
    InvitationAccepted,
    MemberRemoved,
    /// Logout, an ended session, other sessions, a member's sessions (`count`).
    SessionsEnded,
}

impl AuditKind {
    pub const ALL: [AuditKind; 17] = [
        AuditKind::LoginSucceeded,
        AuditKind::LoginNeedsPin,
        AuditKind::LoginFailed,
        AuditKind::LoginThrottled,
        AuditKind::PinFailed,
        AuditKind::TokenGuessThrottled,
        AuditKind::TwoFactorEnabled,
        AuditKind::TwoFactorDisabled,
        AuditKind::TwoFactorSetupFailed,
        AuditKind::AdminCreated,
        AuditKind::PasswordChanged,
        AuditKind::PasswordReset,
        AuditKind::ApiTokenCreated,
        AuditKind::InvitationCreated,
        AuditKind::InvitationAccepted,
        AuditKind::MemberRemoved,
        AuditKind::SessionsEnded,
    ];

    /// The event's name in the audit log and in metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            AuditKind::LoginSucceeded => "login_succeeded",
            AuditKind::LoginNeedsPin => "login_needs_pin",
            AuditKind::LoginFailed => "login_failed",
            AuditKind::LoginThrottled => "login_throttled",
            AuditKind::PinFailed => "pin_failed",
            AuditKind::TokenGuessThrottled => "token_guess_throttled",
            AuditKind::TwoFactorEnabled => "2fa_enabled",
            AuditKind::TwoFactorDisabled => "2fa_disabled",
            AuditKind::TwoFactorSetupFailed => "2fa_setup_failed",
            AuditKind::AdminCreated => "admin_created",
            AuditKind::PasswordChanged => "password_changed",
            AuditKind::PasswordReset => "password_reset",
            AuditKind::ApiTokenCreated => "api_token_created",
            AuditKind::InvitationCreated => "invitation_created",
            AuditKind::InvitationAccepted => "invitation_accepted",
            AuditKind::MemberRemoved => "member_removed",
            AuditKind::SessionsEnded => "sessions_ended",
        }
    }
}

/// One event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent<'a> {
    /// By the core's clock.
    pub at_ms: i64,
    pub kind: AuditKind,
    /// The account it is about, when known (not for a login at an unknown email).
    pub account: Option<&'a str>,
    /// Who did it, when another account did (an admin removing a member).
    pub by: Option<&'a str>,
    /// The client's address (behind `--trusted-proxy`, the forwarded one).
    pub client: Option<IpAddr>,
    /// How many, for `SessionsEnded`.
    pub count: Option<u64>,
}

/// Where events go. Called in the request's task, after the event happened: it
/// must not block (hand the event to another thread if writing can wait).
pub trait Audit: Send + Sync {
    fn record(&self, event: &AuditEvent<'_>);
}

/// Drops every event (the default; the mock, tests).
pub struct NoAudit;

impl Audit for NoAudit {
    fn record(&self, _: &AuditEvent<'_>) {}
}

/// Several destinations (the audit log and metrics).
pub struct AuditTo(pub Vec<std::sync::Arc<dyn Audit>>);

impl Audit for AuditTo {
    fn record(&self, event: &AuditEvent<'_>) {
        for audit in &self.0 {
            audit.record(event);
        }
    }
}
