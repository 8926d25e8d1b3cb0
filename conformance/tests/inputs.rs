//! Arbitrary input for every procedure: always an answer in the contract's envelope,
//! never a 5xx or a dropped connection, and validation issues exactly as the `specs`
//! crate predicts.

mod common;
use common::InProcessServer;
use conformance::client::{try_send, Client};
use conformance::target::Target;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Map, Value};
use specs::{Access, Kind, Procedure, PROCEDURES};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| n.into()),
        prop_oneof![
            ".{0,12}",
            "[a-z]{1,6}@[a-z]{1,6}\\.(com|io)",
            Just(String::new())
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z]{1,8}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A body: often an object with the procedure's own field names, sometimes anything.
fn body_for(procedure: &'static Procedure) -> BoxedStrategy<Value> {
    let names: Vec<&'static str> = procedure
        .input
        .map(|s| s.fields.iter().map(|f| f.name).collect())
        .unwrap_or_default();
    let shaped = prop::collection::vec((prop::sample::select(names.clone()), json_value()), 0..4)
        .prop_map(|pairs| {
            Value::Object(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect::<Map<_, _>>(),
            )
        });
    if names.is_empty() {
        json_value().boxed()
    } else {
        prop_oneof![3 => shaped, 1 => json_value()].boxed()
    }
}

fn procedure() -> impl Strategy<Value = &'static Procedure> {
    prop::sample::select(
        PROCEDURES
            .iter()
            .filter(|p| p.input.is_some())
            .collect::<Vec<_>>(),
    )
}

fn check(runtime: &tokio::runtime::Runtime, target: &dyn Target) {
    let addr = runtime.block_on(target.fresh()).unwrap();
    let mut admin = Client::new(addr);
    let r = runtime.block_on(admin.post(
        "/api/auth.createAdmin",
        r#"{"email":"admin@example.com","password":"password123"}"#,
    ));
    assert_eq!(r.status, 200);
    let cookie = format!("auth_session={}", admin.cookie.clone().unwrap());

    let strategy = procedure().prop_flat_map(|p| {
        (
            Just(p),
            body_for(p),
            prop::collection::vec(("[a-zA-Z]{1,6}", ".{0,8}"), 0..4),
        )
    });
    let mut runner = TestRunner::new(Config {
        cases: 128,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&strategy, |(procedure, body, query)| {
        let schema = procedure.input.unwrap();
        let (path, text, predicted_input) = match procedure.kind {
            Kind::Mutation => {
                let text = body.to_string();
                // Dokploy spreads a JSON body into an object: anything else counts as {}.
                let input = if body.is_object() {
                    body.clone()
                } else {
                    Value::Object(Map::new())
                };
                (procedure.rest_path(), text, input)
            }
            Kind::Query => {
                let pairs: Vec<(String, String)> = match &body {
                    Value::Object(o) => o
                        .iter()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                v.as_str()
                                    .map(String::from)
                                    .unwrap_or_else(|| v.to_string()),
                            )
                        })
                        .collect(),
                    _ => query.clone(),
                };
                let encoded: String = form_urlencoded_pairs(&pairs);
                (
                    format!("{}?{encoded}", procedure.rest_path()),
                    String::new(),
                    schema.input_from_query(&pairs),
                )
            }
        };
        let mut headers = vec![("content-type", "application/json")];
        if procedure.access != Access::Public {
            headers.push(("cookie", cookie.as_str()));
        }
        let r = runtime
            .block_on(try_send(
                addr,
                procedure.kind.http_method(),
                &path,
                &headers,
                &text,
            ))
            .ok_or_else(|| {
                TestCaseError::fail(format!("{} {path}: the connection dropped", procedure.name))
            })?;
        prop_assert!(
            r.status < 500,
            "{} {path} {text}: {} {}",
            procedure.name,
            r.status,
            r.body
        );
        if r.status != 200 {
            let envelope: Value = serde_json::from_str(&r.body)
                .map_err(|_| TestCaseError::fail(format!("not JSON: {}", r.body)))?;
            let keys: Vec<&str> = envelope
                .as_object()
                .map(|o| o.keys().map(String::as_str).collect())
                .unwrap_or_default();
            prop_assert!(
                keys == ["message", "code"] || keys == ["message", "code", "issues"],
                "not the envelope: {}",
                r.body
            );
        }
        match schema.validate(Some(&predicted_input)) {
            Err(issues) => {
                let expected = specs::ApiError::validation(issues).to_json();
                prop_assert_eq!(&r.body, &expected, "{} {} {}", procedure.name, path, text);
            }
            Ok(_) => prop_assert!(
                !r.body.contains("Input validation failed"),
                "{} {path} {text}: {}",
                procedure.name,
                r.body
            ),
        }
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{}: {failure}", target.name());
    }
}

fn form_urlencoded_pairs(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn the_server_answers_any_input_in_the_envelope() {
    let runtime = common::runtime();
    check(&runtime, &InProcessServer::default());
}

#[test]
fn the_mock_answers_any_input_in_the_envelope() {
    let runtime = common::runtime();
    check(&runtime, &common::mock_on(&runtime));
}
