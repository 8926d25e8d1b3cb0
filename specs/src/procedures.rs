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
const EMAIL: Type = string(&[Check::Email]);
const PASSWORD: Type = string(&[Check::Min(8)]);
const NON_EMPTY: Type = string(&[Check::Min(1)]);

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
            Field::required("email", string(&[Check::EmailUnlessEmpty])).nullable(),
            Field::required("password", string(&[Check::MinUnlessEmpty(8)])).nullable(),
            Field::optional("rol", Type::Enum(&["admin", "user"])),
            Field::optional("image", PLAIN),
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
            string(&[Check::Min(1), Check::Email]),
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
}

const fn procedure(
    name: &'static str,
    kind: Kind,
    access: Access,
    input: Option<&'static ObjectSchema>,
) -> Procedure {
    Procedure {
        name,
        kind,
        access,
        input,
    }
}

use Access::{Admin, Protected, Public};
use Kind::{Mutation, Query};

/// Every procedure of the contract, in the order of `specs/CONTRACT.md`.
pub static PROCEDURES: &[Procedure] = &[
    procedure(
        "auth.createAdmin",
        Mutation,
        Public,
        Some(&schemas::CREATE_ADMIN),
    ),
    procedure(
        "auth.createUser",
        Mutation,
        Public,
        Some(&schemas::CREATE_USER),
    ),
    procedure("auth.login", Mutation, Public, Some(&schemas::LOGIN)),
    procedure("auth.get", Query, Protected, None),
    procedure("auth.verifyToken", Mutation, Protected, None),
    procedure("auth.logout", Mutation, Protected, None),
    procedure("auth.update", Mutation, Protected, Some(&schemas::UPDATE)),
    procedure("auth.generateToken", Mutation, Protected, None),
    procedure("auth.one", Query, Admin, Some(&schemas::ONE)),
    procedure("auth.generate2FASecret", Query, Protected, None),
    procedure(
        "auth.verify2FASetup",
        Mutation,
        Protected,
        Some(&schemas::VERIFY_2FA_SETUP),
    ),
    procedure(
        "auth.verifyLogin2FA",
        Mutation,
        Public,
        Some(&schemas::VERIFY_LOGIN_2FA),
    ),
    procedure("auth.disable2FA", Mutation, Protected, None),
    procedure(
        "auth.sendResetPasswordEmail",
        Mutation,
        Public,
        Some(&schemas::SEND_RESET_PASSWORD_EMAIL),
    ),
    procedure(
        "auth.resetPassword",
        Mutation,
        Public,
        Some(&schemas::RESET_PASSWORD),
    ),
    procedure(
        "auth.confirmEmail",
        Mutation,
        Public,
        Some(&schemas::CONFIRM_EMAIL),
    ),
    procedure(
        "admin.createUserInvitation",
        Mutation,
        Admin,
        Some(&schemas::CREATE_USER_INVITATION),
    ),
    procedure(
        "admin.getUserByToken",
        Query,
        Public,
        Some(&schemas::GET_USER_BY_TOKEN),
    ),
    procedure(
        "admin.removeUser",
        Mutation,
        Admin,
        Some(&schemas::REMOVE_USER),
    ),
    procedure("user.all", Query, Admin, None),
];

/// The procedure with this exact (case-sensitive) name.
pub fn find(name: &str) -> Option<&'static Procedure> {
    PROCEDURES.iter().find(|p| p.name == name)
}
