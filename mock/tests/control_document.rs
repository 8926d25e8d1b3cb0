//! `mock/openapi.yaml` describes the control plane as it is: it lists exactly the
//! routes `mock::control::ROUTES` names, the mock serves it at
//! `/__mock/openapi.json`, and a session that calls every route, rightly and
//! wrongly, gets only answers the document allows (status, content type, body).

use conformance::client::{send, Resp};
use mock::control::{openapi_json, ROUTES};
use mock::MockServer;
use serde_json::Value;
use specs::document_check::{check_answer, Answer};
use std::collections::BTreeSet;

#[test]
fn the_document_lists_exactly_the_routes() {
    let document = openapi_json();
    assert_eq!(document["openapi"], "3.1.0");
    let documented: BTreeSet<(String, String)> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect();
    let routes: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, routes);
}

/// No key holds a space: in YAML's `{…}` a comma inside an unquoted description
/// ends the entry and makes the rest a key (openapi-spec-validator refuses it).
#[test]
fn no_description_spills_into_a_key() {
    fn keys_with_spaces(value: &Value, at: &str, found: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, inner) in map {
                    if key.contains(' ') && !key.starts_with('/') {
                        found.push(format!("{at}/{key}"));
                    }
                    keys_with_spaces(inner, &format!("{at}/{key}"), found);
                }
            }
            Value::Array(items) => {
                for (n, inner) in items.iter().enumerate() {
                    keys_with_spaces(inner, &format!("{at}/{n}"), found);
                }
            }
            _ => {}
        }
    }
    let mut found = Vec::new();
    keys_with_spaces(&openapi_json(), "", &mut found);
    assert!(found.is_empty(), "{found:#?}");
}

/// Sends a control request and checks its answer against the document.
async fn call(mock: &MockServer, method: &str, path_and_query: &str, body: &str) -> Resp {
    let headers = [("content-type", "application/json")];
    let r = send(
        mock.address(),
        method,
        &format!("/__mock{path_and_query}"),
        &headers,
        body,
    )
    .await;
    let path = path_and_query.split('?').next().unwrap();
    let content_type = r.header("content-type");
    let answer = Answer {
        method,
        path,
        status: r.status,
        content_type: content_type.as_deref(),
        body: &r.body,
    };
    if let Err(why) = check_answer(&openapi_json(), &answer) {
        panic!("{why}\n{method} /__mock{path_and_query} {body}");
    }
    assert!(
        openapi_json()["paths"][path][method.to_lowercase()]["responses"]
            .get(r.status.to_string())
            .is_some(),
        "{method} {path} answered {}",
        r.status
    );
    r
}

#[tokio::test]
async fn every_route_answers_as_documented() {
    let mock = MockServer::start().await;
    let served = call(&mock, "GET", "/openapi.json", "").await;
    assert_eq!(served.json(), openapi_json());

    call(&mock, "POST", "/reset", r#"{"seed": 7}"#).await;
    assert_eq!(
        call(&mock, "POST", "/reset", r#"{"seed": -1}"#)
            .await
            .status,
        400
    );
    let fixtures = r#"{"admins": [{"email": "admin@example.com", "password": "password123",
        "twoFactorSecret": "JBSWY3DPEHPK3PXPJBSWY3DP", "sessions": ["s1"]}],
        "members": [{"email": "member@example.com", "password": "password123", "invitedBy": "admin@example.com"}]}"#;
    call(&mock, "POST", "/fixtures", fixtures).await;
    assert_eq!(
        call(&mock, "POST", "/fixtures", r#"{"admins": [{}]}"#)
            .await
            .status,
        400
    );

    call(&mock, "GET", "/clock", "").await;
    call(
        &mock,
        "POST",
        "/clock",
        r#"{"follow": "manual", "set": "2025-01-01T00:00:00.000Z", "advance": "90s"}"#,
    )
    .await;
    assert_eq!(
        call(&mock, "POST", "/clock", r#"{"advance": true}"#)
            .await
            .status,
        400
    );

    call(&mock, "GET", "/totp?email=admin@example.com", "").await;
    call(&mock, "GET", "/totp?secret=JBSWY3DPEHPK3PXP", "").await;
    assert_eq!(
        call(&mock, "GET", "/totp?email=nobody@example.com", "")
            .await
            .status,
        404
    );
    assert_eq!(call(&mock, "GET", "/totp", "").await.status, 400);
    let accounts = call(&mock, "GET", "/accounts", "").await.json();
    assert_eq!(accounts["accounts"].as_array().unwrap().len(), 2);
    call(&mock, "GET", "/info", "").await;

    // An API call, which lands in the journal.
    let invite = send(
        mock.address(),
        "POST",
        "/api/admin.createUserInvitation",
        &[
            ("content-type", "application/json"),
            ("cookie", "auth_session=s1"),
        ],
        r#"{"email": "new@example.com"}"#,
    )
    .await;
    assert_eq!(invite.status, 200, "{}", invite.body);
    // Self-hosted, an invitation is a link the admin passes on: no email.
    call(&mock, "GET", "/outbox", "").await;
    call(&mock, "DELETE", "/outbox", "").await;
    let journal = call(&mock, "GET", "/requests?since=0", "").await.json();
    assert!(!journal["requests"].as_array().unwrap().is_empty());
    assert_eq!(
        call(&mock, "GET", "/requests?since=x", "").await.status,
        400
    );
    call(&mock, "DELETE", "/requests", "").await;

    let faults = call(
        &mock,
        "POST",
        "/faults",
        r#"{"procedure": "auth.login", "error": "TOO_MANY_REQUESTS", "times": 2}"#,
    )
    .await;
    assert_eq!(faults.json().as_array().map(Vec::len), Some(1));
    assert_eq!(
        call(
            &mock,
            "POST",
            "/faults",
            r#"{"procedure": "auth.login", "oops": 1}"#
        )
        .await
        .status,
        400
    );
    call(&mock, "GET", "/faults", "").await;
    let cleared: Value = call(&mock, "DELETE", "/faults", "").await.json();
    assert_eq!(cleared["cleared"], 1);
    let network = r#"{"procedure": "auth.get", "network": "truncate", "times": "always",
        "input": {"x": 1}}"#;
    assert_eq!(call(&mock, "POST", "/faults", network).await.status, 200);
    assert_eq!(
        call(
            &mock,
            "POST",
            "/faults",
            r#"{"procedure": "auth.get", "error": "FORBIDDEN", "times": 0}"#
        )
        .await
        .status,
        400
    );

    // The journal's filters, and a parameter it does not take.
    let only = call(
        &mock,
        "GET",
        "/requests?procedure=auth.get&status=401&error=true",
        "",
    )
    .await;
    assert_eq!(only.status, 200);
    assert_eq!(
        call(&mock, "GET", "/requests?error=maybe", "").await.status,
        400
    );
    assert_eq!(
        call(&mock, "GET", "/requests?sinse=1", "").await.status,
        400
    );

    // The state as fixtures, loaded back in its place.
    let exported = call(&mock, "GET", "/fixtures", "").await.json();
    let mut replace = exported.clone();
    replace["mode"] = "replace".into();
    let loaded = call(&mock, "POST", "/fixtures", &replace.to_string())
        .await
        .json();
    assert_eq!(loaded["mode"], "replace");
    assert_eq!(call(&mock, "GET", "/fixtures", "").await.json(), exported);
    assert_eq!(
        call(&mock, "POST", "/fixtures", r#"{"mode": "merge"}"#)
            .await
            .status,
        400
    );

    // Account operations, each refused for an unknown account.
    let member = r#"{"email": "member@example.com"}"#;
    let nobody = r#"{"email": "nobody@example.com"}"#;
    for action in ["end-sessions", "disable-2fa", "confirm-email"] {
        let path = format!("/accounts/{action}");
        assert_eq!(call(&mock, "POST", &path, member).await.status, 200);
        assert_eq!(call(&mock, "POST", &path, nobody).await.status, 404);
        assert_eq!(call(&mock, "POST", &path, "{}").await.status, 400);
    }
    assert_eq!(
        call(&mock, "DELETE", "/accounts?email=admin@example.com", "")
            .await
            .status,
        400,
        "an admin with members"
    );
    call(&mock, "DELETE", "/accounts?email=member@example.com", "").await;
    call(&mock, "DELETE", "/accounts?email=new@example.com", "").await;
    call(&mock, "DELETE", "/accounts?email=admin@example.com", "").await;
    assert_eq!(
        call(&mock, "DELETE", "/accounts?email=admin@example.com", "")
            .await
            .status,
        404
    );

    // The outbox: filtered, and waited on (none comes self-hosted).
    call(&mock, "GET", "/outbox?to=a@example.com&after=0", "").await;
    assert_eq!(
        call(&mock, "GET", "/outbox?wait=50ms", "").await.status,
        408
    );
    assert_eq!(
        call(&mock, "GET", "/outbox?wait=soon", "").await.status,
        400
    );
}
