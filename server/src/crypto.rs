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

/// Constant-time equality for secrets.
pub fn secrets_equal(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

const NANOID_ALPHABET: &[u8; 64] =
    b"ModuleSymbhasOwnPr-0123456789ABCDEFGHNRVfgctiUvz_KqYTJkLxpZXIjQW";

/// A nanoid: 21 characters of `A-Za-z0-9_-` (126 bits).
pub fn new_id(random: &dyn Random) -> String {
    random_bytes::<21>(random)
        .iter()
        .map(|b| NANOID_ALPHABET[(b & 63) as usize] as char)
        .collect()
}

/// A session id or API token: 40 lowercase base32 characters (200 bits), as lucia makes them.
pub fn new_session_id(random: &dyn Random) -> String {
    BASE32_NOPAD
        .encode(&random_bytes::<25>(random))
        .to_ascii_lowercase()
}

/// An invitation, reset or confirmation token: 64 lowercase hex characters (256 bits).
pub fn new_token(random: &dyn Random) -> String {
    HEXLOWER.encode(&random_bytes::<32>(random))
}

/// A TOTP secret: base32 of 15 random bytes (24 characters).
pub fn new_totp_secret(random: &dyn Random) -> String {
    BASE32_NOPAD.encode(&random_bytes::<15>(random))
}

/// A number in `1..=n`, without modulo bias.
pub fn uniform_1_to(random: &dyn Random, n: u8) -> u8 {
    let limit = u8::MAX - (u8::MAX % n);
    loop {
        let [b] = random_bytes::<1>(random);
        if b < limit {
            return b % n + 1;
        }
    }
}

/// A bcrypt salt.
pub fn new_salt(random: &dyn Random) -> [u8; 16] {
    random_bytes::<16>(random)
}

#[cfg(test)]
mod tests {
    use super::*;

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
