//! Any JSON value or query string against every procedure's input schema: no
//! panic; every issue points at a field of the schema (or the root); the tRPC
//! renderings of the issues (pretty JSON, zod's flatten) always work.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let json: Option<serde_json::Value> = serde_json::from_slice(data).ok();
    let pairs: Vec<(String, String)> = data
        .split(|b| *b == b'&')
        .map(|pair| {
            let text = String::from_utf8_lossy(pair);
            match text.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (text.to_string(), String::new()),
            }
        })
        .collect();
    for procedure in specs::PROCEDURES {
        let Some(schema) = procedure.input else {
            continue;
        };
        let from_query = schema.input_from_query(&pairs);
        for input in [json.as_ref(), Some(&from_query), None] {
            if let Err(issues) = schema.validate(input) {
                assert!(!issues.is_empty());
                for issue in &issues {
                    if let Some(field) = issue.path().first() {
                        assert!(
                            schema.fields.iter().any(|f| f.name == field),
                            "issue at {field:?} in {}",
                            procedure.name
                        );
                    }
                }
                let _ = specs::validate::issues_pretty_json(&issues);
                let _ = specs::validate::flatten(&issues);
            }
        }
    }
});
