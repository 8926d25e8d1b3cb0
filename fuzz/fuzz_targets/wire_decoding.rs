//! The small decoders at the edge: superjson inputs (also inside a batch object),
//! the `Authorization` and `Cookie` headers, and stored records (binary or JSON, as
//! a damaged disk could hand them back). No panic; a decoded superjson input never
//! holds more keys than the payload's `json`; a decoded record encodes back to a
//! record that decodes the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use server::core::records::{decode, encode, Account, Member, Session};
use server::http::parse_credentials;

fuzz_target!(|data: &[u8]| {
    if let Ok(account) = decode::<Account>(data) {
        assert_eq!(decode::<Account>(&encode(&account)).ok(), Some(account));
    }
    if let Ok(member) = decode::<Member>(data) {
        assert_eq!(decode::<Member>(&encode(&member)).ok(), Some(member));
    }
    if let Ok(session) = decode::<Session>(data) {
        assert_eq!(decode::<Session>(&encode(&session)).ok(), Some(session));
    }

    let text = String::from_utf8_lossy(data);
    let (authorization, cookie) = text.split_once('\n').unwrap_or((&text, ""));
    let credentials = parse_credentials(Some(authorization), cookie.split('\n'));
    if let Some(bearer) = &credentials.bearer {
        assert!(authorization.starts_with("Bearer ") && !bearer.is_empty());
    }
    if let Some(cookie) = &credentials.cookie {
        assert!(!cookie.is_empty());
    }

    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let decoded = specs::trpc::decode_superjson(&value);
    if let (Some(serde_json::Value::Object(out)), Some(serde_json::Value::Object(json))) =
        (&decoded, value.get("json"))
    {
        assert!(out.len() <= json.len());
    }
    if let serde_json::Value::Object(batch) = &value {
        for item in batch.values() {
            let _ = specs::trpc::decode_superjson(item);
        }
    }
});
