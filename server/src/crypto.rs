//! Every cryptographic primitive and secret encoding in one place: where randomness
//! comes from, how secrets are digested and compared, how ids and tokens look.

use crate::core::ports::Random;
use data_encoding::{BASE32_NOPAD, HEXLOWER};
use subtle::ConstantTimeEq;

/// The OS generator (through ring). The only randomness the server uses.
pub struct OsRandom(ring::rand::SystemRandom);

impl OsRandom {
    pub fn new() -> OsRandom {
        OsRandom(ring::rand::SystemRandom::new())
    }
}

impl Default for OsRandom {
    fn default() -> Self {
        OsRandom::new()
    }
}

impl Random for OsRandom {
    fn fill(&self, dest: &mut [u8]) {
        use ring::rand::SecureRandom;
        // The OS generator failing is not something a request can recover from.
        self.0.fill(dest).expect("the OS random generator failed");
    }
}

pub fn random_bytes<const N: usize>(random: &dyn Random) -> [u8; N] {
    let mut bytes = [0u8; N];
    random.fill(&mut bytes);
    bytes
}

/// SHA-256 as lowercase hex: how secrets that are only compared are stored.
pub fn digest(secret: &str) -> String {
    HEXLOWER.encode(ring::digest::digest(&ring::digest::SHA256, secret.as_bytes()).as_ref())
}

/// A salt derived from `password`, the same every time: the mock's fixture
/// passwords, hashed once and without drawing from its seeded generator. Never for
/// passwords users set, which get `new_salt`.
#[cfg(feature = "fixtures")]
pub(crate) fn fixture_salt(password: &str) -> [u8; 16] {
    let label = format!("fixture-salt/{password}");
    let digest = ring::digest::digest(&ring::digest::SHA256, label.as_bytes());
    let mut salt = [0u8; 16];
    salt.copy_from_slice(&digest.as_ref()[..16]);
    salt
}

/// The opaque handle that names a session to its owner (`auth.listSessions`): a
/// digest of its digest, so it neither is nor leads to anything stored.
pub(crate) fn session_handle(session_digest: &str) -> String {
    digest(&format!("session-handle/{session_digest}"))[..32].to_string()
}

/// Constant-time equality for secrets.
pub(crate) fn secrets_equal(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

const NANOID_ALPHABET: &[u8; 64] =
    b"ModuleSymbhasOwnPr-0123456789ABCDEFGHNRVfgctiUvz_KqYTJkLxpZXIjQW";

/// A nanoid: 21 characters of `A-Za-z0-9_-` (126 bits).
pub(crate) fn new_id(random: &dyn Random) -> String {
    random_bytes::<21>(random)
        .iter()
        .map(|b| NANOID_ALPHABET[(b & 63) as usize] as char)
        .collect()
}

/// A session id or API token: 40 lowercase base32 characters (200 bits), as lucia makes them.
pub(crate) fn new_session_id(random: &dyn Random) -> String {
    BASE32_NOPAD
        .encode(&random_bytes::<25>(random))
        .to_ascii_lowercase()
}

/// An invitation, reset or confirmation token: 64 lowercase hex characters (256 bits).
pub fn new_token(random: &dyn Random) -> String {
    HEXLOWER.encode(&random_bytes::<32>(random))
}

/// A TOTP secret: base32 of 15 random bytes (24 characters).
pub(crate) fn new_totp_secret(random: &dyn Random) -> String {
    BASE32_NOPAD.encode(&random_bytes::<15>(random))
}

/// A number in `1..=n`, without modulo bias.
pub(crate) fn uniform_1_to(random: &dyn Random, n: u8) -> u8 {
    let limit = u8::MAX - (u8::MAX % n);
    loop {
        let [b] = random_bytes::<1>(random);
        if b < limit {
            return b % n + 1;
        }
    }
}

/// A bcrypt salt.
pub(crate) fn new_salt(random: &dyn Random) -> [u8; 16] {
    random_bytes::<16>(random)
}

/// AES-256-GCM under the key file's key: how stored records are sealed; and an
/// HMAC key derived from it, for the index keys that would name an email or an id.
pub struct SealingKey {
    aead: ring::aead::LessSafeKey,
    index: ring::hmac::Key,
}

/// A sealed value starts with these bytes (a JSON record never starts with 0x00).
const SEALED_MAGIC: [u8; 2] = [0x00, 0x01];
const NONCE_LEN: usize = ring::aead::NONCE_LEN;

#[derive(Debug, thiserror::Error)]
#[error("a sealed value does not open with this key (wrong key, or damaged)")]
pub struct OpenError;

impl SealingKey {
    pub const LEN: usize = 32;

    pub fn from_bytes(bytes: &[u8; SealingKey::LEN]) -> SealingKey {
        let unbound = ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, bytes)
            .expect("32 bytes is an AES-256 key");
        // A key of its own for the index, derived so that one key file serves both.
        let derive = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, bytes);
        let derived = ring::hmac::sign(&derive, b"dokploy-auth index keys");
        SealingKey {
            aead: ring::aead::LessSafeKey::new(unbound),
            index: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, derived.as_ref()),
        }
    }

    /// What stands in a stored key for `segment` (an email or an id) of the index
    /// `name`: 32 hex characters of HMAC-SHA256, the same every time, telling
    /// nothing without the key file.
    pub fn index_name(&self, name: &[u8], segment: &[u8]) -> String {
        let mut context = ring::hmac::Context::with_key(&self.index);
        context.update(name);
        context.update(b"/");
        context.update(segment);
        HEXLOWER.encode(&context.sign().as_ref()[..16])
    }

    /// A new key from the OS generator.
    pub fn generate(random: &dyn Random) -> ([u8; SealingKey::LEN], SealingKey) {
        let bytes = random_bytes::<{ SealingKey::LEN }>(random);
        (bytes, SealingKey::from_bytes(&bytes))
    }

    /// `magic ‖ nonce ‖ ciphertext ‖ tag`, bound to `context` (the record's key), so
    /// a sealed value moved under another key does not open. The 96-bit nonce is
    /// random: far from a collision at any number of writes this server makes.
    pub fn seal(&self, random: &dyn Random, context: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let nonce = random_bytes::<NONCE_LEN>(random);
        let mut in_out = plaintext.to_vec();
        self.aead
            .seal_in_place_append_tag(
                ring::aead::Nonce::assume_unique_for_key(nonce),
                ring::aead::Aad::from(context),
                &mut in_out,
            )
            .expect("AES-GCM seals any length a record has");
        let mut sealed = Vec::with_capacity(SEALED_MAGIC.len() + NONCE_LEN + in_out.len());
        sealed.extend_from_slice(&SEALED_MAGIC);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&in_out);
        sealed
    }

    pub fn open(&self, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        let rest = sealed.strip_prefix(&SEALED_MAGIC).ok_or(OpenError)?;
        if rest.len() < NONCE_LEN {
            return Err(OpenError);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = ring::aead::Nonce::try_assume_unique_for_key(nonce).map_err(|_| OpenError)?;
        let mut in_out = ciphertext.to_vec();
        let plaintext = self
            .aead
            .open_in_place(nonce, ring::aead::Aad::from(context), &mut in_out)
            .map_err(|_| OpenError)?;
        Ok(plaintext.to_vec())
    }
}

/// Whether `value` was written by `SealingKey::seal` (and not before sealing began).
pub fn is_sealed(value: &[u8]) -> bool {
    value.starts_with(&SEALED_MAGIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealing_round_trips_and_binds_its_context() {
        let r = OsRandom::new();
        let (_, key) = SealingKey::generate(&r);
        let sealed = key.seal(&r, b"account/1", br#"{"token":"secret"}"#);
        assert!(is_sealed(&sealed));
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(
            key.open(b"account/1", &sealed).unwrap(),
            br#"{"token":"secret"}"#
        );
        assert!(
            key.open(b"account/2", &sealed).is_err(),
            "moved to another key"
        );
        let (_, other) = SealingKey::generate(&r);
        assert!(other.open(b"account/1", &sealed).is_err(), "another key");
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(key.open(b"account/1", &tampered).is_err());
        assert!(key.open(b"account/1", b"{}").is_err());
        assert_ne!(sealed, key.seal(&r, b"account/1", br#"{"token":"secret"}"#));
    }

    #[test]
    fn shapes() {
        let r = OsRandom::new();
        let id = new_id(&r);
        assert_eq!(id.len(), 21);
        assert!(id
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-'));
        let s = new_session_id(&r);
        assert_eq!(s.len(), 40);
        assert!(s
            .bytes()
            .all(|c| c.is_ascii_lowercase() || (b'2'..=b'7').contains(&c)));
        assert_eq!(new_token(&r).len(), 64);
        assert_eq!(new_totp_secret(&r).len(), 24);
        assert_ne!(new_session_id(&r), new_session_id(&r));
        for _ in 0..200 {
            assert!((1..=12).contains(&uniform_1_to(&r, 12)));
        }
        assert_eq!(
            digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(secrets_equal(b"abc", b"abc"));
        assert!(!secrets_equal(b"abc", b"abd"));
        assert!(!secrets_equal(b"abc", b"ab"));
    }
}
