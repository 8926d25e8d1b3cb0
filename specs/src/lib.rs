//! The contract of the Dokploy auth API, as code. Every other crate depends on
//! this one; it depends on nothing of ours. The prose is in `CONTRACT.md`, the
//! REST transport in `openapi.yaml`.

pub mod error;
pub mod procedures;
pub mod profile;
pub mod trpc;
pub mod validate;
pub mod wire;

pub use error::{messages, ApiError, ErrorCode};
pub use procedures::{
    access, find, parse_input, Access, Definition, Id, Kind, NoInput, NoOutput, Procedure,
    PROCEDURES,
};
pub use profile::Profile;
pub use validate::{Issue, ObjectSchema};

/// The OpenAPI 3.1 document of the REST transport, as checked in.
pub const OPENAPI_YAML: &str = include_str!("../openapi.yaml");

/// The OpenAPI document as a JSON value (what `GET /api/openapi.json` serves).
pub fn openapi_json() -> serde_json::Value {
    serde_yaml_ng::from_str(OPENAPI_YAML).expect("specs/openapi.yaml is valid YAML (tested)")
}

/// Lifetimes of the contract, in milliseconds.
pub mod lifetimes {
    pub const HOUR_MS: i64 = 60 * 60 * 1000;
    pub const DAY_MS: i64 = 24 * HOUR_MS;
    /// A cookie session lasts a day ...
    pub const SESSION_MS: i64 = DAY_MS;
    /// ... and is extended to a full day when validated with this much or less left.
    pub const SESSION_REFRESH_BELOW_MS: i64 = SESSION_MS / 2;
    /// An API token (`auth.generateToken`) lasts 365 days and does not slide.
    pub const API_TOKEN_MS: i64 = 365 * DAY_MS;
    /// Invitations, reset and confirmation tokens.
    pub const INVITATION_MS: i64 = DAY_MS;
    pub const RESET_TOKEN_MS: i64 = DAY_MS;
    pub const CONFIRMATION_TOKEN_MS: i64 = DAY_MS;
    /// After a correct password on a 2FA account, a pin is accepted this long.
    pub const PENDING_2FA_MS: i64 = 5 * 60 * 1000;
}

/// The session cookie, byte for byte.
pub mod cookie {
    pub const NAME: &str = "auth_session";

    /// `auth_session=<id>; HttpOnly; Max-Age=86400; Path=/; SameSite=Lax[; Secure]`
    pub fn session(id: &str, max_age_secs: i64, secure: bool) -> String {
        let secure = if secure { "; Secure" } else { "" };
        format!("{NAME}={id}; HttpOnly; Max-Age={max_age_secs}; Path=/; SameSite=Lax{secure}")
    }

    /// The blank cookie that tells the browser to forget the session.
    pub fn blank(secure: bool) -> String {
        session("", 0, secure)
    }
}
