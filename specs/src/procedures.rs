//! The procedure table: every procedure's name, kind, access and input schema.

use crate::validate::{Check, Field, ObjectSchema, Type};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A read: `GET /api/<name>` with the input in the query string.
    Query,
    /// A write: `POST /api/<name>` with the input as the JSON body.
    Mutation,
}

impl Kind {
    pub fn http_method(self) -> &'static str {
        match self {
            Kind::Query => "GET",
            Kind::Mutation => "POST",
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Query => "query",
            Kind::Mutation => "mutation",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No session needed (a valid one is accepted and ignored).
    Public,
    /// Needs a valid session (cookie or Bearer token).
    Protected,
    /// Needs a valid session of an account with `rol = "admin"`.
    Admin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Procedure {
    pub id: Id,
    pub name: &'static str,
    pub kind: Kind,
    pub access: Access,
    /// `None`: the procedure takes no input (whatever is sent is ignored).
    pub input: Option<&'static ObjectSchema>,
}

impl Procedure {
    pub fn rest_path(&self) -> String {
        format!("/api/{}", self.name)
    }
}

const fn string(checks: &'static [Check]) -> Type {
    Type::String(checks)
}
const PLAIN: Type = string(&[]);
/// The longest email (RFC 5321's path limit); longer ones are refused (difference 23).
pub const MAX_EMAIL_CHARS: usize = 254;
const EMAIL: Type = string(&[Check::Email, Check::Max(MAX_EMAIL_CHARS)]);
const PASSWORD_CHECKS: &[Check] = &[Check::Min(8)];
const PASSWORD: Type = string(PASSWORD_CHECKS);
const NON_EMPTY: Type = string(&[Check::Min(1)]);

/// The contract's rule for a new password, outside any procedure (the operator's
/// `user reset-password`): zod's issues on the path `password`.
pub fn check_password(password: &str) -> Result<(), Vec<crate::Issue>> {
    let mut issues = Vec::new();
    let path = ["password".to_string()];
    crate::validate::check_string(password, PASSWORD_CHECKS, &path, &mut issues);
    if issues.is_empty() {
        Ok(())
    } else {
        Err(issues)
    }
}

pub mod schemas {
    use super::*;

    pub static CREATE_ADMIN: ObjectSchema = ObjectSchema {
        fields: &[
            Field::required("email", EMAIL),
            Field::required("password", PASSWORD),
        ],
    };
    pub static CREATE_USER: ObjectSchema = ObjectSchema {
        fields: &[
            Field::required("password", PASSWORD),
            Field::required("id", PLAIN),
            Field::required("token", NON_EMPTY),
        ],
    };
    pub static LOGIN: ObjectSchema = ObjectSchema {
        fields: &[
            Field::required("email", EMAIL),
            Field::required("password", PASSWORD),
        ],
    };
    pub static UPDATE: ObjectSchema = ObjectSchema {
        fields: &[
            Field::optional("id", PLAIN),
            Field::required(
                "email",
                string(&[Check::EmailUnlessEmpty, Check::Max(MAX_EMAIL_CHARS)]),
            )
            .nullable(),
            Field::required("password", string(&[Check::MinUnlessEmpty(8)])).nullable(),
            Field::optional("rol", Type::Enum(&["admin", "user"])),
            Field::optional("image", string(&[Check::Image])),
            Field::optional("secret", PLAIN).nullable(),
            Field::optional("token", PLAIN).nullable(),
            Field::optional("is2FAEnabled", Type::Boolean),
            Field::optional("createdAt", PLAIN),
            Field::optional("resetPasswordToken", PLAIN).nullable(),
            Field::optional("resetPasswordExpiresAt", PLAIN).nullable(),
            Field::optional("confirmationToken", PLAIN).nullable(),
            Field::optional("confirmationExpiresAt", PLAIN).nullable(),
        ],
    };
    pub static ONE: ObjectSchema = ObjectSchema {
        fields: &[Field::required("id", PLAIN)],
    };
    pub static VERIFY_2FA_SETUP: ObjectSchema = ObjectSchema {
        fields: &[
            Field::required("pin", string(&[Check::Min(6)])),
            Field::required("secret", NON_EMPTY),
        ],
    };
    pub static VERIFY_LOGIN_2FA: ObjectSchema = ObjectSchema {
        fields: &[
            Field::required("pin", string(&[Check::Min(6)])),
            Field::required("id", PLAIN),
        ],
    };
    pub static SEND_RESET_PASSWORD_EMAIL: ObjectSchema = ObjectSchema {
        fields: &[Field::required(
            "email",
            string(&[Check::Min(1), Check::Email, Check::Max(MAX_EMAIL_CHARS)]),
        )],
    };
    pub static RESET_PASSWORD: ObjectSchema = ObjectSchema {
        fields: &[
            Field::required("resetPasswordToken", NON_EMPTY),
            Field::required("password", PASSWORD),
        ],
    };
    pub static CONFIRM_EMAIL: ObjectSchema = ObjectSchema {
        fields: &[Field::required("confirmationToken", NON_EMPTY)],
    };
    pub static CREATE_USER_INVITATION: ObjectSchema = ObjectSchema {
        fields: &[Field::required("email", EMAIL)],
    };
    pub static GET_USER_BY_TOKEN: ObjectSchema = ObjectSchema {
        fields: &[Field::required("token", NON_EMPTY)],
    };
    pub static REMOVE_USER: ObjectSchema = ObjectSchema {
        fields: &[Field::required("authId", NON_EMPTY)],
    };
    pub static END_SESSION: ObjectSchema = ObjectSchema {
        fields: &[Field::required("handle", NON_EMPTY)],
    };
    pub static END_MEMBER_SESSIONS: ObjectSchema = ObjectSchema {
        fields: &[Field::required("authId", NON_EMPTY)],
    };
}

/// Who may call a procedure, as a type, so that a handler's signature can require
/// the caller its access level guarantees (see `Definition::Access`).
pub mod access {
    use super::Access;

    /// Implemented by exactly the three markers below.
    pub trait Level: Send + Sync + 'static {
        const ACCESS: Access;
    }
    /// No session needed.
    pub struct Public;
    /// A valid session.
    pub struct Protected;
    /// A valid session of an admin.
    pub struct Admin;

    impl Level for Public {
        const ACCESS: Access = Access::Public;
    }
    impl Level for Protected {
        const ACCESS: Access = Access::Protected;
    }
    impl Level for Admin {
        const ACCESS: Access = Access::Admin;
    }
}

/// A procedure's input when it takes none (whatever is sent is ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct NoInput;

/// A procedure's output when it answers an empty 200 (`admin.createUserInvitation`,
/// `auth.sendResetPasswordEmail`); it has no JSON form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NoOutput;

/// A procedure of the contract as a type: everything about it but its handler. An
/// implementation writes one handler per `Definition` (the server's `Handler`), and
/// dispatches on `Id` with an exhaustive `match`, so a procedure added here without
/// a handler does not build.
pub trait Definition: Send + Sync + 'static {
    /// Name, kind, access and input schema, as the table lists them.
    const PROCEDURE: Procedure;
    /// The validated input (`NoInput` for none).
    type Input: serde::de::DeserializeOwned + serde::Serialize + Send + 'static;
    /// The output on success (`NoOutput` for an empty answer).
    type Output: 'static;
    /// Who may call it: `access::Public`, `access::Protected` or `access::Admin`.
    type Access: access::Level;
}

/// Validates `input` against `P`'s schema and converts it to `P::Input`: the
/// contract's 400 `Input validation failed` with zod's issues when it does not fit.
/// A procedure without a schema takes `NoInput`, whatever was sent.
pub fn parse_input<P: Definition>(
    input: Option<&serde_json::Value>,
    profile: crate::Profile,
) -> Result<P::Input, crate::ApiError> {
    match P::PROCEDURE.input {
        Some(schema) => schema.parse(input, profile),
        // `NoInput` reads from anything; the table and the type agree (tested).
        None => serde_json::from_value(serde_json::Value::Null).map_err(|e| {
            crate::ApiError::new(
                crate::ErrorCode::InternalServerError,
                format!("{} has no schema but an input type: {e}", P::PROCEDURE.name),
            )
        }),
    }
}

impl<'de> serde::Deserialize<'de> for NoInput {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<NoInput, D::Error> {
        Ok(NoInput)
    }
}

/// Declares every procedure once: its type (implementing `Definition`), its `Id`,
/// and its row in `PROCEDURES`.
macro_rules! procedures {
    // `$` handed to the arm below, so that it can define a macro of its own.
    (@with_dollar ($d:tt) $($rows:tt)*) => { procedures!(@rows ($d) $($rows)*); };
    (@schema) => { None };
    (@schema $schema:expr) => { Some(&$schema) };
    (@input) => { NoInput };
    (@input $input:ty) => { $input };
    (@rows ($d:tt) $(
        $(#[$doc:meta])*
        $ty:ident = $name:literal, $kind:ident, $access:ident,
        ($($input:ty = $schema:expr)?) => $output:ty;
    )*) => {
        /// Calls `callback!(args… [Procedure, …])` with every procedure type of
        /// the contract, so an implementation can generate its dispatch from the
        /// one list (see the server's `core/handler.rs`).
        #[macro_export]
        macro_rules! with_every_procedure {
            ($d callback:ident ! ($d ($d args:tt)*)) => {
                $d callback!($d ($d args)* [$($ty),*])
            };
        }

        /// Every procedure, as a value to `match` on (exhaustively).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Id {
            $($ty,)*
        }

        $(
            $(#[$doc])*
            pub struct $ty;

            impl Definition for $ty {
                const PROCEDURE: Procedure = Procedure {
                    id: Id::$ty,
                    name: $name,
                    kind: Kind::$kind,
                    access: <access::$access as access::Level>::ACCESS,
                    input: procedures!(@schema $($schema)?),
                };
                type Input = procedures!(@input $($input)?);
                type Output = $output;
                type Access = access::$access;
            }
        )*

        /// Every procedure of the contract, in the order of `specs/CONTRACT.md`.
        pub static PROCEDURES: &[Procedure] = &[$(<$ty as Definition>::PROCEDURE,)*];
    };
}

use crate::wire::*;

procedures! {
    @with_dollar ($)
    /// `auth.createAdmin`: the first admin (self-hosted) or a sign-up (cloud).
    CreateAdmin = "auth.createAdmin", Mutation, Public,
        (CreateAdminInput = schemas::CREATE_ADMIN) => True;
    /// `auth.createUser`: an invited member sets a password.
    CreateUser = "auth.createUser", Mutation, Public,
        (CreateUserInput = schemas::CREATE_USER) => True;
    /// `auth.login`
    Login = "auth.login", Mutation, Public,
        (LoginInput = schemas::LOGIN) => LoginOutput;
    /// `auth.get`: the caller's own account.
    Get = "auth.get", Query, Protected, () => AuthView;
    /// `auth.verifyToken`
    VerifyToken = "auth.verifyToken", Mutation, Protected, () => True;
    /// `auth.logout`: ends the cookie session.
    Logout = "auth.logout", Mutation, Protected, () => bool;
    /// `auth.update`: email, password, avatar.
    Update = "auth.update", Mutation, Protected,
        (UpdateAuthInput = schemas::UPDATE) => AuthView;
    /// `auth.generateToken`: a new API token.
    GenerateToken = "auth.generateToken", Mutation, Protected, () => AuthView;
    /// `auth.one`: an account of the admin's organisation.
    One = "auth.one", Query, Admin, (IdInput = schemas::ONE) => AuthView;
    /// `auth.generate2FASecret`
    Generate2FASecret = "auth.generate2FASecret", Query, Protected, () => TwoFactorSecret;
    /// `auth.verify2FASetup`: enables 2FA.
    Verify2FASetup = "auth.verify2FASetup", Mutation, Protected,
        (Verify2FASetupInput = schemas::VERIFY_2FA_SETUP) => AuthView;
    /// `auth.verifyLogin2FA`: the pin that finishes a login.
    VerifyLogin2FA = "auth.verifyLogin2FA", Mutation, Public,
        (VerifyLogin2FAInput = schemas::VERIFY_LOGIN_2FA) => True;
    /// `auth.disable2FA`
    Disable2FA = "auth.disable2FA", Mutation, Protected, () => AuthView;
    /// `auth.sendResetPasswordEmail` (cloud).
    SendResetPasswordEmail = "auth.sendResetPasswordEmail", Mutation, Public,
        (EmailInput = schemas::SEND_RESET_PASSWORD_EMAIL) => NoOutput;
    /// `auth.resetPassword` (cloud).
    ResetPassword = "auth.resetPassword", Mutation, Public,
        (ResetPasswordInput = schemas::RESET_PASSWORD) => True;
    /// `auth.confirmEmail` (cloud).
    ConfirmEmail = "auth.confirmEmail", Mutation, Public,
        (ConfirmEmailInput = schemas::CONFIRM_EMAIL) => True;
    /// `admin.createUserInvitation`
    CreateUserInvitation = "admin.createUserInvitation", Mutation, Admin,
        (EmailInput = schemas::CREATE_USER_INVITATION) => NoOutput;
    /// `admin.getUserByToken`: the invitation behind a link.
    GetUserByToken = "admin.getUserByToken", Query, Public,
        (TokenInput = schemas::GET_USER_BY_TOKEN) => InvitationView;
    /// `admin.removeUser`
    RemoveUser = "admin.removeUser", Mutation, Admin,
        (RemoveUserInput = schemas::REMOVE_USER) => NoOutput;
    /// `user.all`: the admin's members.
    All = "user.all", Query, Admin, () => Vec<MemberView>;
    /// `auth.listSessions` (beyond Dokploy): the caller's sessions.
    ListSessions = "auth.listSessions", Query, Protected, () => Vec<SessionView>;
    /// `auth.endSession` (beyond Dokploy): ends one of the caller's sessions.
    EndSession = "auth.endSession", Mutation, Protected,
        (HandleInput = schemas::END_SESSION) => True;
    /// `auth.endOtherSessions` (beyond Dokploy): "log out my other devices"; how many.
    EndOtherSessions = "auth.endOtherSessions", Mutation, Protected, () => u64;
    /// `admin.endMemberSessions` (beyond Dokploy): ends every session of a member.
    EndMemberSessions = "admin.endMemberSessions", Mutation, Admin,
        (RemoveUserInput = schemas::END_MEMBER_SESSIONS) => u64;
}

/// The procedure with this exact (case-sensitive) name.
pub fn find(name: &str) -> Option<&'static Procedure> {
    PROCEDURES.iter().find(|p| p.name == name)
}
