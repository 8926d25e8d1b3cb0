//! How a procedure is answered: one `Handler` per `specs` procedure type, with the
//! caller its access level guarantees as a type, and the dispatch from `specs::Id`.
//!
//! A handler that matches its definition builds:
//!
//! ```
//! use server::core::{Answer, Answered, Caller, Core, Handler, Request};
//! use specs::{access, ApiError, Definition, Id, Kind, NoInput, Procedure};
//!
//! struct Ping;
//! impl Definition for Ping {
//!     const PROCEDURE: Procedure = Procedure {
//!         id: Id::VerifyToken, name: "test.ping", kind: Kind::Query,
//!         access: specs::Access::Protected, input: None,
//!     };
//!     type Input = NoInput;
//!     type Output = bool;
//!     type Access = access::Protected;
//! }
//! impl Handler for Ping {
//!     async fn handle(_: &Core, _caller: &Caller, _: NoInput, _: &Request<'_>)
//!         -> Answered<bool> {
//!         Ok(Answer::json(&true))
//!     }
//! }
//! server::core::handler_exists::<Ping>();
//! ```
//!
//! A protected handler that asks for no caller does not:
//!
//! ```compile_fail,E0053
//! use server::core::{Answer, Answered, Core, Handler, Request};
//! use specs::{access, ApiError, Definition, Id, Kind, NoInput, Procedure};
//!
//! struct Ping;
//! impl Definition for Ping {
//!     const PROCEDURE: Procedure = Procedure {
//!         id: Id::VerifyToken, name: "test.ping", kind: Kind::Query,
//!         access: specs::Access::Protected, input: None,
//!     };
//!     type Input = NoInput;
//!     type Output = bool;
//!     type Access = access::Protected;
//! }
//! impl Handler for Ping {
//!     async fn handle(_: &Core, _caller: (), _: NoInput, _: &Request<'_>)
//!         -> Answered<bool> {
//!         Ok(Answer::json(&true))
//!     }
//! }
//! ```
//!
//! Nor does a procedure without a handler (the dispatch asks for one per procedure):
//!
//! ```compile_fail,E0277
//! use specs::{access, Definition, Id, Kind, NoInput, Procedure};
//!
//! struct Ping;
//! impl Definition for Ping {
//!     const PROCEDURE: Procedure = Procedure {
//!         id: Id::VerifyToken, name: "test.ping", kind: Kind::Query,
//!         access: specs::Access::Protected, input: None,
//!     };
//!     type Input = NoInput;
//!     type Output = bool;
//!     type Access = access::Protected;
//! }
//! server::core::handler_exists::<Ping>();
//! ```

use super::auth_cache::Authenticated;
use super::records::Account;
use super::sessions::{CookieChange, Credentials};
use super::Core;
use serde::Serialize;
use serde_json::Value;
use specs::procedures as def;
use specs::wire::Role;
use specs::{access, ApiError, Definition, Id, NoOutput, Procedure};
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

/// Answers one procedure. The caller's type follows from the procedure's access:
/// `()` for a public one, `&Caller` for a protected one, `Admin` for an admin one.
pub trait Handler: Definition<Access: Admit> {
    fn handle<'a>(
        core: &'a Core,
        caller: <Self::Access as Admit>::Caller<'a>,
        input: Self::Input,
        request: &'a Request<'a>,
    ) -> impl Future<Output = Answered<Self::Output>> + Send + 'a;
}

/// What an access level lets through, and as which caller type.
pub trait Admit: access::Level {
    type Caller<'a>: Send;
    fn admit(caller: Option<&Caller>) -> Result<Self::Caller<'_>, ApiError>;
}

impl Admit for access::Public {
    type Caller<'a> = ();
    fn admit(_: Option<&Caller>) -> Result<(), ApiError> {
        Ok(())
    }
}

impl Admit for access::Protected {
    type Caller<'a> = &'a Caller;
    fn admit(caller: Option<&Caller>) -> Result<&Caller, ApiError> {
        caller.ok_or_else(ApiError::unauthorized)
    }
}

impl Admit for access::Admin {
    type Caller<'a> = Admin<'a>;
    fn admit(caller: Option<&Caller>) -> Result<Admin<'_>, ApiError> {
        match caller {
            Some(caller) if caller.account().role == Role::Admin => Ok(Admin(caller)),
            _ => Err(ApiError::unauthorized()),
        }
    }
}

/// The authenticated caller of a protected procedure.
pub struct Caller {
    pub(crate) found: Arc<Authenticated>,
    /// Whether the session came from the cookie (not the Bearer token).
    pub(crate) via_cookie: bool,
}

impl Caller {
    pub(crate) fn new(found: Arc<Authenticated>, via_cookie: bool) -> Caller {
        Caller { found, via_cookie }
    }

    pub(crate) fn account(&self) -> &Account {
        &self.found.account
    }

    /// The digest of the session that authenticated the call.
    pub(crate) fn session_digest(&self) -> &str {
        &self.found.digest
    }
}

/// A caller whose account is an admin's (made only by `Admit`).
pub struct Admin<'a>(&'a Caller);

impl std::ops::Deref for Admin<'_> {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        self.0
    }
}

/// What a handler may need of the request besides its input.
pub struct Request<'a> {
    pub credentials: &'a Credentials,
    /// The client's address, for throttling and a new session's details.
    pub client: Option<std::net::IpAddr>,
    /// The `User-Agent`, kept with a new session.
    pub user_agent: Option<&'a str>,
}

#[cfg(feature = "fixtures")]
impl Request<'static> {
    /// No request: what the core does on its own (the mock's fixtures).
    pub(crate) const NOBODY: Request<'static> = Request {
        credentials: &Credentials {
            bearer: None,
            cookie: None,
        },
        client: None,
        user_agent: None,
    };
}

/// What a handler answers.
pub type Answered<T> = Result<Answer<T>, ApiError>;

/// A procedure's output, serialized once here (both transports embed the text), and
/// what it does to the session cookie. Typed by the procedure's `Output`.
pub struct Answer<T> {
    json: Option<JsonText>,
    cookie: Option<CookieChange>,
    output: PhantomData<fn() -> T>,
}

impl<T: Serialize> Answer<T> {
    pub fn json(value: &T) -> Answer<T> {
        Answer::text(to_json(value))
    }

    /// An output already serialized from a `T`.
    pub(crate) fn text(json: JsonText) -> Answer<T> {
        Answer {
            json: Some(json),
            cookie: None,
            output: PhantomData,
        }
    }
}

impl Answer<NoOutput> {
    /// The empty answer.
    pub fn nothing() -> Answer<NoOutput> {
        Answer {
            json: None,
            cookie: None,
            output: PhantomData,
        }
    }
}

impl<T> Answer<T> {
    pub fn with_cookie(mut self, change: CookieChange) -> Answer<T> {
        self.cookie = Some(change);
        self
    }
}

/// An output as JSON text.
pub(crate) fn to_json<T: Serialize>(value: &T) -> JsonText {
    // Outputs are plain structs of strings, numbers, booleans and lists, which
    // always serialize.
    JsonText::from(serde_json::to_string(value).unwrap_or_else(|e| {
        super::internal(format!("an output did not serialize: {e}"));
        "null".to_string()
    }))
}

/// An output's JSON text, shared: a clone (of the cached `auth.get` answer, on
/// every call) copies nothing, and a REST answer's body is this text itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonText(bytes::Bytes);

impl JsonText {
    pub fn as_str(&self) -> &str {
        // SAFETY: made only from a `String` (below), so UTF-8.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }

    pub fn into_bytes(self) -> bytes::Bytes {
        self.0
    }
}

impl From<String> for JsonText {
    fn from(text: String) -> JsonText {
        JsonText(bytes::Bytes::from(text))
    }
}

/// Compiles only for a procedure type that has a handler (see the module's tests).
pub fn handler_exists<P: Handler>() {}

/// Admits the caller, parses the input and runs `P`'s handler.
async fn run<P: Handler>(
    core: &Core,
    caller: Option<&Caller>,
    input: Option<&Value>,
    request: &Request<'_>,
) -> Result<(Option<JsonText>, Option<CookieChange>), ApiError> {
    if core.config().profile.access(&P::PROCEDURE) != P::PROCEDURE.access {
        // Dokploy asks more of this one (the mock's Dokploy profile).
        <access::Admin as Admit>::admit(caller)?;
    }
    let caller = <P::Access as Admit>::admit(caller)?;
    // Dokploy checks the mode before the input here (§6b: a self-hosted reset with a
    // 1-character password is a 404).
    if P::PROCEDURE.id == Id::ResetPassword && core.config().profile.is_dokploy() {
        core.cloud()?;
    }
    let input = specs::parse_input::<P>(input, core.config().profile)?;
    // Boxed: the dispatch's future is then a pointer wide instead of as large as
    // the largest handler's (3 KB), which every call, however small, copied
    // several times on its way to the connection's task.
    let answer = Box::pin(P::handle(core, caller, input, request)).await?;
    Ok((answer.json, answer.cookie))
}

/// The variant of `Id` and the procedure type share one name, so no procedure can
/// be sent to another's handler; the list comes from `specs`, and the `match` is
/// exhaustive, so none is left out.
macro_rules! dispatch {
    ($procedure:expr, $core:expr, $caller:expr, $input:expr, $request:expr, [$($name:ident),*]) => {
        match $procedure.id {
            $(Id::$name => run::<def::$name>($core, $caller, $input, $request).await,)*
        }
    };
}

pub(super) async fn dispatch(
    core: &Core,
    procedure: &'static Procedure,
    caller: Option<&Caller>,
    input: Option<&Value>,
    request: &Request<'_>,
) -> Result<(Option<JsonText>, Option<CookieChange>), ApiError> {
    specs::with_every_procedure!(dispatch!(procedure, core, caller, input, request,))
}
