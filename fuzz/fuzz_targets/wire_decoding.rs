//! The small decoders at the edge: superjson inputs (also inside a batch object),
//! and the `Authorization` and `Cookie` headers. No panic; a decoded superjson input
//! never holds more keys than the payload's `json`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use server::core::Credentials;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (authorization, cookie) = text.split_once('\n').unwrap_or((&text, ""));
    let credentials = Credentials::from_headers(Some(authorization), cookie.split('\n'));
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
