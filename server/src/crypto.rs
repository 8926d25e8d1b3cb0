//! Every cryptographic primitive and secret encoding in one place: where randomness
//! comes from, how secrets are digested and compared, how ids and tokens look.

use crate::core::ports::Random;
use data_encoding::{BASE32_NOPAD, HEXLOWER};

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

/// Constant-time equality for secrets: every byte is compared whatever the first
/// difference (only the lengths, which are not secret, end it early). Eight bytes
/// at a time, the running difference hidden from the optimizer at each step so
/// that it cannot stop at the first one. (`subtle` hid each byte behind a call:
/// ~190 instructions for a session id on every request, callgrind.)
pub(crate) fn secrets_equal(a: &[u8], b: &[u8]) -> bool {
    use std::hint::black_box;
    if a.len() != b.len() {
        return false;
    }
    let word = |bytes: &[u8]| u64::from_ne_bytes(bytes.try_into().expect("chunks of 8"));
    let (mut a_words, mut b_words) = (a.chunks_exact(8), b.chunks_exact(8));
    let mut difference = 0u64;
    for (x, y) in (&mut a_words).zip(&mut b_words) {
        difference = black_box(difference | (word(x) ^ word(y)));
    }
    for (x, y) in a_words.remainder().iter().zip(b_words.remainder()) {
        difference = black_box(difference | u64::from(x ^ y));
    }
    difference == 0
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

/// One AES-256-GCM key of the key file's ring: how stored records are sealed.
pub struct SealingKey {
    aead: ring::aead::LessSafeKey,
    id: KeyId,
}

/// Names a sealing key without telling anything of it: the first 4 bytes of a
/// SHA-256 of the key, written in each value it seals (8 hex characters in
/// messages).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct KeyId(pub [u8; 4]);

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&HEXLOWER.encode(&self.0))
    }
}

/// Unnamed: `magic ‖ nonce ‖ ciphertext ‖ tag`, under a ring's only key (as every
/// version before key rings sealed, so one of those, beside this one during a
/// rolling upgrade, opens what this one seals until the first rotation).
const SEALED_MAGIC_V1: [u8; 2] = [0x00, 0x01];
/// `magic ‖ key id ‖ nonce ‖ ciphertext ‖ tag`. A JSON record never starts with 0x00.
const SEALED_MAGIC: [u8; 2] = [0x00, 0x02];
const NONCE_LEN: usize = ring::aead::NONCE_LEN;

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("a sealed value does not open with this key (wrong key, or damaged)")]
    Damaged,
    #[error(
        "a value is sealed under key {0}, which the key file does not hold (a retired \
         key, or another instance's key file: give every instance the same key file)"
    )]
    UnknownKey(KeyId),
}

impl SealingKey {
    pub const LEN: usize = 32;

    pub fn from_bytes(bytes: &[u8; SealingKey::LEN]) -> SealingKey {
        let unbound = ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, bytes)
            .expect("32 bytes is an AES-256 key");
        let mut named = ring::digest::Context::new(&ring::digest::SHA256);
        named.update(b"dokploy-auth key id/");
        named.update(bytes);
        let digest = named.finish();
        SealingKey {
            aead: ring::aead::LessSafeKey::new(unbound),
            id: KeyId(digest.as_ref()[..4].try_into().expect("4 bytes")),
        }
    }

    pub fn id(&self) -> KeyId {
        self.id
    }

    /// New key bytes from the OS generator.
    pub fn generate(random: &dyn Random) -> [u8; SealingKey::LEN] {
        random_bytes::<{ SealingKey::LEN }>(random)
    }

    /// Sealed and bound to `context` (the record's key), so a sealed value moved
    /// under another key does not open. The 96-bit nonce is random: far from a
    /// collision at any number of writes this server makes.
    fn seal(&self, random: &dyn Random, context: &[u8], plaintext: &[u8], named: bool) -> Vec<u8> {
        let nonce = random_bytes::<NONCE_LEN>(random);
        let mut in_out = plaintext.to_vec();
        self.aead
            .seal_in_place_append_tag(
                ring::aead::Nonce::assume_unique_for_key(nonce),
                ring::aead::Aad::from(context),
                &mut in_out,
            )
            .expect("AES-GCM seals any length a record has");
        let mut sealed = Vec::with_capacity(SEALED_MAGIC.len() + 4 + NONCE_LEN + in_out.len());
        if named {
            sealed.extend_from_slice(&SEALED_MAGIC);
            sealed.extend_from_slice(&self.id.0);
        } else {
            sealed.extend_from_slice(&SEALED_MAGIC_V1);
        }
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&in_out);
        sealed
    }

    /// Opens `nonce ‖ ciphertext ‖ tag`.
    fn open(&self, context: &[u8], rest: &[u8]) -> Result<Vec<u8>, OpenError> {
        if rest.len() < NONCE_LEN {
            return Err(OpenError::Damaged);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce =
            ring::aead::Nonce::try_assume_unique_for_key(nonce).map_err(|_| OpenError::Damaged)?;
        let mut in_out = ciphertext.to_vec();
        let plaintext = self
            .aead
            .open_in_place(nonce, ring::aead::Aad::from(context), &mut in_out)
            .map_err(|_| OpenError::Damaged)?;
        Ok(plaintext.to_vec())
    }
}

/// The HMAC key for the index keys that would name an email or an id. It is kept
/// in the data, sealed like any value (so a rotation seals it again and the key
/// file holds sealing keys alone), and never changes: every stored key is named
/// with it.
pub struct IndexKey(ring::hmac::Key);

impl IndexKey {
    pub const LEN: usize = 32;

    pub fn from_secret(secret: &[u8; IndexKey::LEN]) -> IndexKey {
        IndexKey(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret))
    }

    /// The index secret of data from before it was stored: derived from the one
    /// key that sealed the data then.
    pub fn secret_derived_from(key: &[u8; SealingKey::LEN]) -> [u8; IndexKey::LEN] {
        let derive = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
        let derived = ring::hmac::sign(&derive, b"dokploy-auth index keys");
        derived
            .as_ref()
            .try_into()
            .expect("HMAC-SHA256 is 32 bytes")
    }

    /// What stands in a stored key for `segment` (an email or an id) of the index
    /// `name`: 32 hex characters of HMAC-SHA256, the same every time, telling
    /// nothing without the key file.
    pub fn name(&self, name: &[u8], segment: &[u8]) -> String {
        let mut context = ring::hmac::Context::with_key(&self.0);
        context.update(name);
        context.update(b"/");
        context.update(segment);
        HEXLOWER.encode(&context.sign().as_ref()[..16])
    }
}

/// The keys of a key file: one seals new values, the others (older, or staged for
/// the next rotation) still open what they sealed.
pub struct KeyRing {
    sealing: SealingKey,
    others: Vec<SealingKey>,
    /// The sealing key's bytes: what the index key of data from before it was
    /// stored derives from.
    sealing_bytes: [u8; SealingKey::LEN],
}

impl KeyRing {
    pub fn new(sealing: &[u8; SealingKey::LEN], others: &[[u8; SealingKey::LEN]]) -> KeyRing {
        KeyRing {
            sealing: SealingKey::from_bytes(sealing),
            others: others.iter().map(SealingKey::from_bytes).collect(),
            sealing_bytes: *sealing,
        }
    }

    /// A ring of one key.
    pub fn single(bytes: &[u8; SealingKey::LEN]) -> KeyRing {
        KeyRing::new(bytes, &[])
    }

    /// The index key of data from before the index key was stored in it.
    pub fn derived_index_secret(&self) -> [u8; IndexKey::LEN] {
        IndexKey::secret_derived_from(&self.sealing_bytes)
    }

    /// The id of the key that seals.
    pub fn sealing_id(&self) -> KeyId {
        self.sealing.id
    }

    /// Sealed under the sealing key: named by its id while the ring holds other
    /// keys (a rotation under way), unnamed while it is the only one.
    pub fn seal(&self, random: &dyn Random, context: &[u8], plaintext: &[u8]) -> Vec<u8> {
        self.sealing
            .seal(random, context, plaintext, !self.others.is_empty())
    }

    /// How what this ring seals shows (`sealed_by`): what a re-sealing leaves as
    /// it is.
    pub fn sealer(&self) -> Sealer {
        match self.others.is_empty() {
            true => Sealer::Unnamed,
            false => Sealer::Key(self.sealing.id),
        }
    }

    /// Opens a value sealed under any key of the ring; an unnamed one is tried with
    /// each key.
    pub fn open(&self, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        match sealed_by(sealed) {
            Some(Sealer::Key(id)) => {
                let key = self.key(id).ok_or(OpenError::UnknownKey(id))?;
                key.open(context, &sealed[SEALED_MAGIC.len() + 4..])
            }
            Some(Sealer::Unnamed) => {
                let rest = &sealed[SEALED_MAGIC_V1.len()..];
                std::iter::once(&self.sealing)
                    .chain(&self.others)
                    .find_map(|key| key.open(context, rest).ok())
                    .ok_or(OpenError::Damaged)
            }
            None => Err(OpenError::Damaged),
        }
    }

    fn key(&self, id: KeyId) -> Option<&SealingKey> {
        std::iter::once(&self.sealing)
            .chain(&self.others)
            .find(|key| key.id == id)
    }
}

/// Which key sealed a value.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Sealer {
    /// Unnamed: the only key of its ring (before key rings, or between rotations).
    Unnamed,
    Key(KeyId),
}

/// Which key sealed `value`; `None` if it is not sealed.
pub fn sealed_by(value: &[u8]) -> Option<Sealer> {
    if value.starts_with(&SEALED_MAGIC_V1) {
        Some(Sealer::Unnamed)
    } else if value.starts_with(&SEALED_MAGIC) && value.len() >= SEALED_MAGIC.len() + 4 {
        let id: [u8; 4] = value[2..6].try_into().expect("4 bytes");
        Some(Sealer::Key(KeyId(id)))
    } else {
        None
    }
}

/// Whether `value` was sealed (and not written before sealing began).
pub fn is_sealed(value: &[u8]) -> bool {
    sealed_by(value).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealing_round_trips_and_binds_its_context() {
        let r = OsRandom::new();
        // A ring that holds another key names the sealing key in what it seals.
        let ring = KeyRing::new(&SealingKey::generate(&r), &[SealingKey::generate(&r)]);
        let sealed = ring.seal(&r, b"account/1", br#"{"token":"secret"}"#);
        assert_eq!(sealed_by(&sealed), Some(Sealer::Key(ring.sealing_id())));
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(
            ring.open(b"account/1", &sealed).unwrap(),
            br#"{"token":"secret"}"#
        );
        assert!(
            ring.open(b"account/2", &sealed).is_err(),
            "moved to another key"
        );
        let other = KeyRing::single(&SealingKey::generate(&r));
        assert!(matches!(
            other.open(b"account/1", &sealed),
            Err(OpenError::UnknownKey(id)) if id == ring.sealing_id()
        ));
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(ring.open(b"account/1", &tampered).is_err());
        assert!(ring.open(b"account/1", b"{}").is_err());
        assert_ne!(
            sealed,
            ring.seal(&r, b"account/1", br#"{"token":"secret"}"#)
        );
    }

    #[test]
    fn a_ring_opens_under_each_of_its_keys_and_seals_under_one() {
        let r = OsRandom::new();
        let (old, new) = (SealingKey::generate(&r), SealingKey::generate(&r));
        let before = KeyRing::single(&old);
        let after = KeyRing::new(&new, &[old]);
        // A ring of one key seals unnamed, as every version before key rings did
        // (such a version, beside this one in a rolling upgrade, opens it).
        let sealed_before = before.seal(&r, b"k", b"v");
        assert_eq!(sealed_by(&sealed_before), Some(Sealer::Unnamed));
        assert_eq!(
            sealed_before.len(),
            2 + NONCE_LEN + 1 + 16,
            "magic, nonce, text, tag"
        );
        assert_eq!(after.open(b"k", &sealed_before).unwrap(), b"v");
        let sealed_after = after.seal(&r, b"k", b"v");
        assert_eq!(
            sealed_by(&sealed_after),
            Some(Sealer::Key(after.sealing_id()))
        );
        assert_ne!(before.sealing_id(), after.sealing_id());
        assert!(matches!(
            before.open(b"k", &sealed_after),
            Err(OpenError::UnknownKey(_))
        ));
        // Unnamed: tried with each key.
        assert!(KeyRing::single(&new).open(b"k", &sealed_before).is_err());
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

    #[test]
    fn secrets_differing_anywhere_are_unequal() {
        assert!(secrets_equal(b"", b""));
        // Lengths across whole words and remainders; a difference in each byte.
        for len in [1, 7, 8, 9, 16, 40, 41] {
            let secret: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            assert!(secrets_equal(&secret, &secret.clone()));
            for at in 0..len {
                for flip in [0x01, 0x80] {
                    let mut other = secret.clone();
                    other[at] ^= flip;
                    assert!(!secrets_equal(&secret, &other), "len {len}, byte {at}");
                }
            }
            assert!(!secrets_equal(&secret, &secret[..len - 1]));
        }
    }
}
