//! TOTP (RFC 6238: HMAC-SHA1, 6 digits, 30 s), to compute the pins a target expects.

use ring::hmac;

/// The pin for a base32 secret at a Unix time in seconds; `None` for a bad secret.
pub fn pin(secret_base32: &str, unix_secs: u64) -> Option<String> {
    let key = data_encoding::BASE32_NOPAD
        .decode(
            secret_base32
                .trim_end_matches('=')
                .to_ascii_uppercase()
                .as_bytes(),
        )
        .ok()?;
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &key);
    let tag = hmac::sign(&key, &(unix_secs / 30).to_be_bytes());
    let digest = tag.as_ref();
    let offset = (digest[19] & 0x0f) as usize;
    let code = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    Some(format!("{:06}", code % 1_000_000))
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc6238_vector() {
        let secret = data_encoding::BASE32_NOPAD.encode(b"12345678901234567890");
        assert_eq!(super::pin(&secret, 59).unwrap(), "287082");
        assert_eq!(super::pin(&secret, 1_111_111_109).unwrap(), "081804");
    }
}
