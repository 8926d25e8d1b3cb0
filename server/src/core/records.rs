//! What is stored, and under which keys. Every index lives here, next to the record
//! it points at, so records and indexes are always written together.

use super::ports::{Store, StoreError, Tx};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use specs::wire::{Permissions, Role};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: String,
    /// Lowercased.
    pub email: String,
    pub role: Role,
    pub image: String,
    /// `None` for an invited member who has not set a password yet.
    pub password_hash: Option<String>,
    pub totp_secret: Option<String>,
    pub two_factor_enabled: bool,
    /// The current API token, shown to its owner by `auth.get`.
    pub api_token: Option<String>,
    pub created_at: i64,
    /// Cookie sessions made before the last password change carry a lower epoch
    /// and are no longer valid.
    pub session_epoch: u64,
    /// The 30 s step of the last TOTP pin accepted (a pin is accepted once).
    #[serde(default)]
    pub last_totp_step: Option<u64>,
    /// Until when a 2FA pin is accepted after a correct password.
    pub pending_2fa_until: Option<i64>,
    /// Set for admins (Dokploy's `admin.adminId`).
    pub admin_id: Option<String>,
    /// Set for invited members (Dokploy's `user.userId`).
    pub member_id: Option<String>,
    pub email_confirmed: bool,
    /// Digest of the pending password-reset token (cloud mode).
    pub reset_digest: Option<String>,
    pub reset_expires_at: Option<i64>,
    /// Digest of the pending email-confirmation token (cloud mode).
    pub confirmation_digest: Option<String>,
    pub confirmation_expires_at: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionKind {
    /// A browser session: one day, sliding.
    Cookie,
    /// An API token: 365 days, fixed.
    ApiToken,
}

impl SessionKind {
    /// How long a session of this kind lives (from when it is made or extended).
    pub fn lifetime(self) -> i64 {
        match self {
            SessionKind::Cookie => specs::lifetimes::SESSION_MS,
            SessionKind::ApiToken => specs::lifetimes::API_TOKEN_MS,
        }
    }
}

/// Stored under the SHA-256 digest of its id; the id itself is never stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub account_id: String,
    pub kind: SessionKind,
    pub expires_at: i64,
    pub epoch: u64,
}

/// What is known of a session beyond what authenticates it, stored under its digest
/// beside it: when and from where it was made, and when it was last extended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionDetails {
    pub created_at: i64,
    /// When it was made or last extended (sliding cookie sessions).
    pub refreshed_at: i64,
    pub client_address: Option<String>,
    pub user_agent: Option<String>,
}

/// An invited member (Dokploy's `user` record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub user_id: String,
    pub auth_id: String,
    pub admin_id: String,
    pub token: String,
    pub registered: bool,
    pub expires_at: i64,
    pub created_at: i64,
    /// Order of invitation (invitations in the same millisecond stay in order).
    #[serde(default)]
    pub seq: u64,
    pub permissions: Permissions,
}

/// The key layout of the one ordered keyspace.
pub(crate) mod keys {
    pub fn account(id: &str) -> Vec<u8> {
        format!("account/{id}").into_bytes()
    }
    pub const ACCOUNT_PREFIX: &[u8] = b"account/";
    pub fn email(email: &str) -> Vec<u8> {
        format!("email/{email}").into_bytes()
    }
    pub fn session(digest: &str) -> Vec<u8> {
        format!("session/{digest}").into_bytes()
    }
    pub const SESSION_PREFIX: &[u8] = b"session/";
    pub fn session_details(digest: &str) -> Vec<u8> {
        format!("session-details/{digest}").into_bytes()
    }
    /// Every session of an account, by digest (an index: empty values).
    pub fn sessions_of(account_id: &str) -> Vec<u8> {
        format!("sessions-of/{account_id}/").into_bytes()
    }
    pub fn session_of(account_id: &str, digest: &str) -> Vec<u8> {
        format!("sessions-of/{account_id}/{digest}").into_bytes()
    }
    pub fn member(user_id: &str) -> Vec<u8> {
        format!("member/{user_id}").into_bytes()
    }
    pub fn invitation(token_digest: &str) -> Vec<u8> {
        format!("invitation/{token_digest}").into_bytes()
    }
    pub fn members_of(admin_id: &str) -> Vec<u8> {
        format!("members-of/{admin_id}/").into_bytes()
    }
    pub fn member_of(admin_id: &str, user_id: &str) -> Vec<u8> {
        format!("members-of/{admin_id}/{user_id}").into_bytes()
    }
    pub fn reset_token(digest: &str) -> Vec<u8> {
        format!("reset/{digest}").into_bytes()
    }
    pub fn confirmation_token(digest: &str) -> Vec<u8> {
        format!("confirm/{digest}").into_bytes()
    }
    /// Present once every session is listed under its account (`sessions-of/`).
    pub const SESSIONS_LISTED: &[u8] = b"sessions-listed";
    // `member-seq` (a global invitation counter) was written before 2026-12-03;
    // nothing reads it now.
    /// The account id of the one admin of a self-hosted instance.
    pub const SELF_HOSTED_ADMIN: &[u8] = b"self-hosted-admin";
}

/// The first byte of a record in the binary format: postcard (fields in declaration
/// order, no names; under half the size of JSON, which sled holds about twice over
/// in memory). Changing a record's fields means a new format byte, and decoding the
/// old one, since postcard cannot tell which fields a record was written with.
const BINARY_V1: u8 = 0x01;

pub fn encode<T: Serialize>(record: &T) -> Vec<u8> {
    postcard::to_extend(record, vec![BINARY_V1]).expect("records always serialize")
}

/// Decodes a record in the binary format, or in JSON (a `{` first: records written
/// before the binary format, until they are next written).
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt(e.to_string());
    match bytes.split_first() {
        Some((&BINARY_V1, rest)) => postcard::from_bytes(rest).map_err(|e| corrupt(&e)),
        Some((b'{', _)) => serde_json::from_slice(bytes).map_err(|e| corrupt(&e)),
        _ => Err(corrupt(&"a record in an unknown format")),
    }
}

/// The last segment of a stored key (a digest: a sealed store keeps those as they
/// are, see `storage::sealed`).
pub(crate) fn last_segment(key: &[u8]) -> String {
    let last = key.rsplit(|&b| b == b'/').next().unwrap_or(key);
    String::from_utf8_lossy(last).into_owned()
}

/// Typed reads, inside a transaction or outside one.
pub trait Read {
    fn raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    fn record<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StoreError> {
        self.raw(key)?.map(|b| decode(&b)).transpose()
    }

    fn text(&self, key: &[u8]) -> Result<Option<String>, StoreError> {
        Ok(self
            .raw(key)?
            .map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    fn account(&self, id: &str) -> Result<Option<Account>, StoreError> {
        self.record(&keys::account(id))
    }

    fn account_by_email(&self, email: &str) -> Result<Option<Account>, StoreError> {
        match self.text(&keys::email(email))? {
            Some(id) => self.account(&id),
            None => Ok(None),
        }
    }

    fn member(&self, user_id: &str) -> Result<Option<Member>, StoreError> {
        self.record(&keys::member(user_id))
    }
}

impl Read for dyn Tx + '_ {
    fn raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(key)
    }
}

impl Read for dyn Store {
    fn raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(key)
    }
}

/// `Read::record` through `Store::get_async`, for the reads on every request's path.
pub(crate) async fn record_async<T: DeserializeOwned>(
    store: &dyn Store,
    key: &[u8],
) -> Result<Option<T>, StoreError> {
    store.get_async(key).await?.map(|b| decode(&b)).transpose()
}

/// Writes that keep the indexes with their records.
pub trait Write {
    fn tx(&self) -> &dyn Tx;

    /// Stores `account`, moving the email index if the email changed.
    fn put_account(
        &self,
        account: &Account,
        previous_email: Option<&str>,
    ) -> Result<(), StoreError> {
        let tx = self.tx();
        if let Some(previous) = previous_email.filter(|p| *p != account.email) {
            tx.remove(&keys::email(previous))?;
        }
        tx.insert(
            &keys::email(&account.email),
            account.id.clone().into_bytes(),
        )?;
        tx.insert(&keys::account(&account.id), encode(account))
    }

    fn delete_account(&self, account: &Account) -> Result<(), StoreError> {
        let tx = self.tx();
        tx.remove(&keys::email(&account.email))?;
        tx.remove(&keys::account(&account.id))
    }

    fn put_member(&self, member: &Member, token_digest: &str) -> Result<(), StoreError> {
        let tx = self.tx();
        tx.insert(&keys::member(&member.user_id), encode(member))?;
        tx.insert(
            &keys::invitation(token_digest),
            member.user_id.clone().into_bytes(),
        )?;
        // The user id in the value too: a sealed store's keys do not show it.
        tx.insert(
            &keys::member_of(&member.admin_id, &member.user_id),
            member.user_id.clone().into_bytes(),
        )
    }

    fn delete_member(&self, member: &Member, token_digest: &str) -> Result<(), StoreError> {
        let tx = self.tx();
        tx.remove(&keys::member(&member.user_id))?;
        tx.remove(&keys::invitation(token_digest))?;
        tx.remove(&keys::member_of(&member.admin_id, &member.user_id))
    }

    /// Stores a session (new or changed), listed under its account.
    fn put_session(&self, digest: &str, session: &Session) -> Result<(), StoreError> {
        let tx = self.tx();
        tx.insert(
            &keys::session_of(&session.account_id, digest),
            digest.as_bytes().to_vec(),
        )?;
        tx.insert(&keys::session(digest), encode(session))
    }

    /// Stores a new session with what is known of it.
    fn put_new_session(
        &self,
        digest: &str,
        session: &Session,
        details: &SessionDetails,
    ) -> Result<(), StoreError> {
        self.tx()
            .insert(&keys::session_details(digest), encode(details))?;
        self.put_session(digest, session)
    }

    /// Removes a session, its details and its place in its account's list.
    fn remove_session(&self, digest: &str, account_id: &str) -> Result<(), StoreError> {
        let tx = self.tx();
        tx.remove(&keys::session_of(account_id, digest))?;
        tx.remove(&keys::session_details(digest))?;
        tx.remove(&keys::session(digest))
    }
}

impl Write for dyn Tx + '_ {
    fn tx(&self) -> &dyn Tx {
        self
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An invited member with a password and 2FA: most fields set.
    pub(crate) fn member_account(id: &str) -> Account {
        Account {
            id: id.into(),
            email: "member1@example.com".into(),
            role: Role::User,
            image: "/avatars/avatar-3.png".into(),
            password_hash: Some(
                "$2b$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234".into(),
            ),
            totp_secret: Some("JBSWY3DPEHPK3PXP".into()),
            two_factor_enabled: true,
            api_token: None,
            created_at: 1_730_106_902_123,
            session_epoch: 2,
            last_totp_step: Some(57_670_230),
            pending_2fa_until: None,
            admin_id: None,
            member_id: Some("Qm9iIGlzIGEgbWVtYmVy0".into()),
            email_confirmed: true,
            reset_digest: None,
            reset_expires_at: Some(-1),
            confirmation_digest: None,
            confirmation_expires_at: None,
        }
    }

    #[test]
    fn records_round_trip_in_under_half_of_json() {
        let account = member_account("dtrYY17g9DHYtBiWYZC-K");
        let binary = encode(&account);
        assert_eq!(binary[0], BINARY_V1);
        assert_eq!(decode::<Account>(&binary).unwrap(), account);
        let json = serde_json::to_vec(&account).unwrap();
        assert!(
            binary.len() * 2 < json.len(),
            "{} vs {}",
            binary.len(),
            json.len()
        );
        let session = Session {
            account_id: account.id.clone(),
            kind: SessionKind::ApiToken,
            expires_at: i64::MAX,
            epoch: u64::MAX,
        };
        assert_eq!(decode::<Session>(&encode(&session)).unwrap(), session);
        let member = Member {
            user_id: "u".into(),
            auth_id: account.id.clone(),
            admin_id: "a".into(),
            token: "t".into(),
            registered: false,
            expires_at: 5,
            created_at: 4,
            seq: 3,
            permissions: Permissions {
                can_create_projects: true,
                ..Permissions::default()
            },
        };
        assert_eq!(decode::<Member>(&encode(&member)).unwrap(), member);
    }

    #[test]
    fn records_written_as_json_still_decode() {
        // As stored before the binary format (without `last_totp_step`, older still).
        let stored = br#"{"id":"x","email":"a@example.com","role":"admin","image":"/avatars/avatar-1.png","password_hash":null,"totp_secret":null,"two_factor_enabled":false,"api_token":"tok","created_at":0,"session_epoch":0,"pending_2fa_until":null,"admin_id":"adm","member_id":null,"email_confirmed":true,"reset_digest":null,"reset_expires_at":null,"confirmation_digest":null,"confirmation_expires_at":null}"#;
        let account: Account = decode(stored).unwrap();
        assert_eq!(account.role, Role::Admin);
        assert_eq!(account.api_token.as_deref(), Some("tok"));
        assert_eq!(account.last_totp_step, None);
        let session: Session =
            decode(br#"{"account_id":"x","kind":"Cookie","expires_at":9,"epoch":1}"#).unwrap();
        assert_eq!(session.kind, SessionKind::Cookie);
    }

    #[test]
    fn anything_else_is_corrupt_not_a_panic() {
        for bytes in [
            &b""[..],
            b"\x02abc",
            b"\x01",
            b"\x01\xff\xff\xff",
            b"[1]",
            b"{",
        ] {
            assert!(
                matches!(decode::<Account>(bytes), Err(StoreError::Corrupt(_))),
                "{bytes:?}"
            );
        }
    }
}
