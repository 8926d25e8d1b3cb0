//! The error envelope `{"message", "code", "issues"?}` and the code → status table.

use crate::validate::Issue;
use serde::Serialize;
use std::fmt;

/// tRPC's error codes, with their HTTP status and JSON-RPC number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    ParseError,
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotSupported,
    Timeout,
    Conflict,
    PreconditionFailed,
    PayloadTooLarge,
    UnsupportedMediaType,
    UnprocessableContent,
    TooManyRequests,
    ClientClosedRequest,
    InternalServerError,
    NotImplemented,
    /// The store cannot write now (a full disk, a read-only file system): try later.
    ServiceUnavailable,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 17] = [
        ErrorCode::ParseError,
        ErrorCode::BadRequest,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::MethodNotSupported,
        ErrorCode::Timeout,
        ErrorCode::Conflict,
        ErrorCode::PreconditionFailed,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::UnprocessableContent,
        ErrorCode::TooManyRequests,
        ErrorCode::ClientClosedRequest,
        ErrorCode::InternalServerError,
        ErrorCode::NotImplemented,
        ErrorCode::ServiceUnavailable,
    ];

    /// (name on the wire, HTTP status, JSON-RPC number)
    const fn facts(self) -> (&'static str, u16, i32) {
        match self {
            ErrorCode::ParseError => ("PARSE_ERROR", 400, -32700),
            ErrorCode::BadRequest => ("BAD_REQUEST", 400, -32600),
            ErrorCode::Unauthorized => ("UNAUTHORIZED", 401, -32001),
            ErrorCode::Forbidden => ("FORBIDDEN", 403, -32003),
            ErrorCode::NotFound => ("NOT_FOUND", 404, -32004),
            ErrorCode::MethodNotSupported => ("METHOD_NOT_SUPPORTED", 405, -32005),
            ErrorCode::Timeout => ("TIMEOUT", 408, -32008),
            ErrorCode::Conflict => ("CONFLICT", 409, -32009),
            ErrorCode::PreconditionFailed => ("PRECONDITION_FAILED", 412, -32012),
            ErrorCode::PayloadTooLarge => ("PAYLOAD_TOO_LARGE", 413, -32013),
            ErrorCode::UnsupportedMediaType => ("UNSUPPORTED_MEDIA_TYPE", 415, -32015),
            ErrorCode::UnprocessableContent => ("UNPROCESSABLE_CONTENT", 422, -32022),
            ErrorCode::TooManyRequests => ("TOO_MANY_REQUESTS", 429, -32029),
            ErrorCode::ClientClosedRequest => ("CLIENT_CLOSED_REQUEST", 499, -32099),
            ErrorCode::InternalServerError => ("INTERNAL_SERVER_ERROR", 500, -32603),
            ErrorCode::NotImplemented => ("NOT_IMPLEMENTED", 501, -32603),
            // tRPC 11's code; 10 has none for 503.
            ErrorCode::ServiceUnavailable => ("SERVICE_UNAVAILABLE", 503, -32603),
        }
    }

    pub const fn as_str(self) -> &'static str {
        self.facts().0
    }
    pub const fn http_status(self) -> u16 {
        self.facts().1
    }
    pub const fn json_rpc_code(self) -> i32 {
        self.facts().2
    }
    pub fn from_name(name: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Every error a procedure or the transport answers. Serializes as the REST
/// envelope: `{"message": …, "code": …}` plus `"issues"` on validation failures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiError {
    pub message: String,
    pub code: ErrorCode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issues: Option<Vec<Issue>>,
    /// Seconds before trying again (`Retry-After`), on `TOO_MANY_REQUESTS` and a
    /// saturated password hasher's `SERVICE_UNAVAILABLE`.
    #[serde(skip)]
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            message: message.into(),
            code,
            issues: None,
            retry_after_secs: None,
        }
    }

    pub fn validation(issues: Vec<Issue>) -> ApiError {
        ApiError {
            message: messages::INPUT_VALIDATION_FAILED.to_string(),
            code: ErrorCode::BadRequest,
            issues: Some(issues),
            retry_after_secs: None,
        }
    }

    /// 429, with the seconds to wait before trying again.
    pub fn too_many_requests(retry_after_secs: u64) -> ApiError {
        ApiError {
            retry_after_secs: Some(retry_after_secs.max(1)),
            ..ApiError::new(ErrorCode::TooManyRequests, messages::TOO_MANY_ATTEMPTS)
        }
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(ErrorCode::Unauthorized, messages::UNAUTHORIZED)
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::BadRequest, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::NotFound, message)
    }

    pub fn http_status(&self) -> u16 {
        self.code.http_status()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("errors always serialize")
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

/// Every message of the contract, in one place (see `specs/CONTRACT.md`).
pub mod messages {
    /// Dokploy v0.14's own messages where the contract deliberately says another
    /// (CONTRACT.md §5), for the mock's and the suite's `dokploy-0.14` profile.
    pub mod dokploy {
        /// A second `createAdmin` (a catch block rewrites `Admin already exists`).
        pub const ADMIN_EXISTS: &str = "Error: Error to create admin";
        /// `login` with an unknown email (difference 3).
        pub const LOGIN_UNKNOWN_EMAIL: &str = "Error: User not found";
        /// `confirmEmail` on a self-hosted instance, inverted (difference 8).
        pub const CONFIRM_EMAIL_SELF_HOSTED: &str = "Functionality not available in cloud version";
        /// `update` to another account's email: the database's unique constraint
        /// (a 500; difference 14). The driver's words, as PostgreSQL puts them.
        pub const EMAIL_UNIQUE_VIOLATION: &str =
            "duplicate key value violates unique constraint \"auth_email_unique\"";
        /// The REST gate's body (difference 12).
        pub const GATE: &str = r#"{"message":"Unauthorized"}"#;
        /// Next.js's answer to a REST body that is not JSON (plain text, status 400).
        pub const INVALID_JSON: &str = "Invalid JSON";
        /// Next.js's answer to a REST body over 1 MB (plain text, status 413).
        pub const BODY_OVER_1MB: &str = "Body exceeded 1mb limit";
        /// `removeUser` of an id that is not the caller's member (an unknown id, the
        /// admin's own): 400, and nothing is deleted (the reference's §6b).
        pub const REMOVE_USER: &str = "Error to delete this user";
        /// `createUser` with an invitation already accepted (a catch block rewrites
        /// the message, as for `createAdmin`; §6b).
        pub const CREATE_USER: &str = "Error to create the user";
    }

    pub const INPUT_VALIDATION_FAILED: &str = "Input validation failed";
    pub const UNAUTHORIZED: &str = "UNAUTHORIZED";
    pub const NOT_FOUND: &str = "Not found";
    /// More password checks are queued than can finish before the request timeout.
    pub const HASHING_BUSY: &str = "Too many logins at once; try again shortly";
    /// `/ready` once the server was told to stop (it still answers the API a while).
    pub const SHUTTING_DOWN: &str = "Shutting down";
    pub const STORE_UNAVAILABLE: &str =
        "The server cannot store changes right now; try again later";
    pub const PARSE_BODY: &str = "Failed to parse request body";
    pub const BODY_TOO_LARGE: &str = "Request body too large";
    pub const MISSING_CONTENT_TYPE: &str = "Missing content-type header";
    pub const ADMIN_EXISTS: &str = "Admin already exists";
    pub const INVALID_TOKEN: &str = "Invalid token";
    pub const CREDENTIALS: &str = "Error: Credentials do not match";
    pub const EMAIL_NOT_CONFIRMED: &str =
        "Error: Email not confirmed, we have sent you a confirmation email please check your inbox.";
    pub const AUTH_NOT_FOUND: &str = "Auth not found";
    pub const INVALID_2FA: &str = "Invalid 2FA code";
    pub const CLOUD_ONLY: &str = "This feature is only available in the cloud version";
    pub const USER_NOT_FOUND: &str = "User not found";
    pub const TOKEN_NOT_FOUND: &str = "Token not found";
    pub const TOKEN_EXPIRED: &str = "Token expired";
    pub const CONFIRMATION_EXPIRED: &str = "Confirmation Token expired";
    pub const INVITATION_DUPLICATE: &str =
        "Error to create this user\ncheck if the email is not registered";
    pub const INVITATION_NOT_FOUND: &str = "Invitation not found";
    pub const INVITATION_EXPIRED: &str = "Invitation expired";
    pub const EMAIL_IN_USE: &str = "Email already in use";
    pub const USER_NOT_MEMBER: &str = "User not found";
    pub const CANNOT_REMOVE_SELF: &str = "You cannot remove yourself";
    pub const TWO_FA_NOT_ENABLED: &str = "2FA is not enabled";
    pub const PASSWORD_TOO_LONG: &str = "Password must be at most 72 bytes";
    pub const TOO_MANY_ATTEMPTS: &str = "Too many failed attempts, try again later";
    pub const MAIL_UNAVAILABLE: &str = "The email could not be sent, please try again later";
    pub const SESSION_NOT_FOUND: &str = "Session not found";
    /// A mutation made with the session cookie from another site (difference 22).
    pub const CROSS_SITE: &str = "Cross-site request refused";

    /// `Unsupported content-type "<type>` (sic: Dokploy leaves the quote open).
    pub fn unsupported_content_type(content_type: &str) -> String {
        format!("Unsupported content-type \"{content_type}")
    }
}
