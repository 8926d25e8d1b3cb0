//! Serde types for every input and output on the wire. Field order is the order
//! the JSON keys appear in (Dokploy's column order).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    User,
}

// ---------- inputs ----------

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateAdminInput {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateUserInput {
    pub password: String,
    pub id: String,
    pub token: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginInput {
    pub email: String,
    pub password: String,
}

/// `auth.update`: only `email`, `password` and `image` are used; `null` or `""`
/// leaves a field unchanged. The other keys are accepted (typed) and ignored.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateAuthInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub email: Option<String>,
    pub password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rol: Option<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub secret: Option<Option<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub token: Option<Option<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "is2FAEnabled"
    )]
    pub is_2fa_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub reset_password_token: Option<Option<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub reset_password_expires_at: Option<Option<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub confirmation_token: Option<Option<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub confirmation_expires_at: Option<Option<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdInput {
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verify2FASetupInput {
    pub pin: String,
    pub secret: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyLogin2FAInput {
    pub pin: String,
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailInput {
    pub email: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResetPasswordInput {
    pub reset_password_token: String,
    pub password: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmEmailInput {
    pub confirmation_token: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInput {
    pub token: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoveUserInput {
    pub auth_id: String,
}

/// `auth.endSession`: a handle from `auth.listSessions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandleInput {
    pub handle: String,
}

// ---------- outputs ----------

/// The output of a procedure that answers `true` or an error, never `false`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct True;

impl Serialize for True {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bool(true)
    }
}

impl<'de> Deserialize<'de> for True {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<True, D::Error> {
        match bool::deserialize(deserializer)? {
            true => Ok(True),
            false => Err(serde::de::Error::custom("expected true")),
        }
    }
}

/// The `auth` record as the contract shows it: never the password hash; `secret`,
/// `resetPasswordToken` and `confirmationToken` always `null`; `token` (the API
/// token) only to its owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthView {
    pub id: String,
    pub email: String,
    pub rol: Role,
    pub image: String,
    pub secret: Option<String>,
    pub token: Option<String>,
    #[serde(rename = "is2FAEnabled")]
    pub is_2fa_enabled: bool,
    pub created_at: String,
    pub reset_password_token: Option<String>,
    pub reset_password_expires_at: Option<String>,
    pub confirmation_token: Option<String>,
    pub confirmation_expires_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginOutput {
    #[serde(rename = "is2FAEnabled")]
    pub is_2fa_enabled: bool,
    pub auth_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TwoFactorSecret {
    pub qr_code_url: String,
    pub secret: String,
}

/// What kind of session: a browser's cookie or an API token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SessionKindView {
    Cookie,
    ApiToken,
}

/// One of the caller's sessions (`auth.listSessions`): never its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    /// Opaque; names the session to `auth.endSession`.
    pub handle: String,
    pub kind: SessionKindView,
    pub created_at: String,
    /// The last request it authenticated (as this instance saw it), or when it was
    /// made or extended.
    pub last_used_at: String,
    pub expires_at: String,
    /// The client address and `User-Agent` when it was made (`null` if not known).
    pub client_address: Option<String>,
    pub user_agent: Option<String>,
    /// The session this request came with.
    pub current: bool,
}

/// The keys of `Permissions`' flags on the wire, in order (Dokploy's column names).
pub const PERMISSION_FLAGS: [&str; 9] = [
    "canCreateProjects",
    "canAccessToSSHKeys",
    "canCreateServices",
    "canDeleteProjects",
    "canDeleteServices",
    "canAccessToDocker",
    "canAccessToAPI",
    "canAccessToGitProviders",
    "canAccessToTraefikFiles",
];

/// A member's permissions; all false for a new invitation.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Permissions {
    pub can_create_projects: bool,
    #[serde(rename = "canAccessToSSHKeys")]
    pub can_access_to_ssh_keys: bool,
    pub can_create_services: bool,
    pub can_delete_projects: bool,
    pub can_delete_services: bool,
    pub can_access_to_docker: bool,
    #[serde(rename = "canAccessToAPI")]
    pub can_access_to_api: bool,
    pub can_access_to_git_providers: bool,
    pub can_access_to_traefik_files: bool,
    /// Dokploy's spelling.
    pub accesed_projects: Vec<String>,
    /// Dokploy's spelling.
    pub accesed_services: Vec<String>,
}

/// A member (Dokploy's `user` record): the invitation and the account it made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberView {
    pub user_id: String,
    pub token: String,
    pub is_registered: bool,
    pub expiration_date: String,
    pub created_at: String,
    #[serde(flatten)]
    pub permissions: Permissions,
    pub admin_id: String,
    pub auth_id: String,
    pub auth: AuthView,
}

/// `admin.getUserByToken`: the member plus whether the invitation can still be used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvitationView {
    #[serde(flatten)]
    pub member: MemberView,
    pub is_expired: bool,
}

/// `Option<Option<T>>` that tells an absent key (`None`) from `null` (`Some(None)`).
mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T: Serialize, S: Serializer>(
        value: &Option<Option<T>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(inner) => inner.serialize(serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}
