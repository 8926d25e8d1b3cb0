//! The wire rules of the tRPC transport (§1b of the contract), over real sockets.

mod common;
use common::*;
use serde_json::{json, Value};

const JSON: [(&str, &str); 1] = [("content-type", "application/json")];

/// `?batch=1&input=<url-encoded JSON>`
fn batch_query(input: &Value) -> String {
    let encoded: String = form_urlencoded::byte_serialize(input.to_string().as_bytes()).collect();
    format!("batch=1&input={encoded}")
}

fn error_json(item: &Value) -> &Value {
    &item["error"]["json"]
}

#[tokio::test]
async fn a_batch_answers_in_call_order_with_each_cookie() {
    let h = Harness::start().await;
    let body = json!({
        "0": {"json": {"email": "admin@example.com", "password": "password123"}},
        "1": {"json": {"email": "admin@example.com", "password": "password123"}},
    });
    let r = send(
        h.addr(),
        "POST",
        "/api/trpc/auth.createAdmin,auth.login?batch=1",
        &JSON,
        &body.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let items = r.json();
    assert_eq!(items[0], json!({"result": {"data": {"json": true}}}));
    assert_eq!(items[1]["result"]["data"]["json"]["is2FAEnabled"], false);
    let cookies: Vec<_> = r.headers.get_all("set-cookie").iter().collect();
    assert_eq!(cookies.len(), 2, "both calls set a session cookie");
    assert_ne!(cookies[0], cookies[1]);

    // Mixed outcomes answer 207; an undefined input is superjson's undefined.
    let session = r.session_id().unwrap();
    let cookie = format!("auth_session={session}");
    let input = json!({
        "0": {"json": null, "meta": {"values": ["undefined"]}},
        "1": {"json": {}},
    });
    let r = send(
        h.addr(),
        "GET",
        &format!("/api/trpc/auth.get,auth.one?{}", batch_query(&input)),
        &[("cookie", &cookie)],
        "",
    )
    .await;
    assert_eq!(r.status, 207, "{}", r.body);
    let items = r.json();
    assert_eq!(
        items[0]["result"]["data"]["json"]["email"],
        "admin@example.com"
    );
    let error = error_json(&items[1]);
    assert_eq!(error["code"], -32600);
    assert_eq!(
        error["data"],
        json!({"code": "BAD_REQUEST", "httpStatus": 400, "path": "auth.one",
               "zodError": {"formErrors": [], "fieldErrors": {"id": ["Required"]}}})
    );
    let issues: Value = serde_json::from_str(error["message"].as_str().unwrap()).unwrap();
    assert_eq!(issues[0]["code"], "invalid_type");
    assert!(error["message"]
        .as_str()
        .unwrap()
        .starts_with("[\n  {\n    \""));

    // Commas may arrive percent-encoded.
    let r = send(
        h.addr(),
        "GET",
        &format!("/api/trpc/auth.get%2Cauth.get?{}", batch_query(&json!({}))),
        &[("cookie", &cookie)],
        "",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json().as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn unbatched_calls_answer_one_item() {
    let h = Harness::start().await;
    let mut admin = h.admin().await;
    let token = admin.post_empty("/api/auth.generateToken").await.json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    // What Dokploy's CLI 0.2.6 sends.
    let bearer = format!("Bearer {token}");
    let r = send(
        h.addr(),
        "POST",
        "/api/trpc/auth.verifyToken",
        &[
            ("content-type", "application/json"),
            ("authorization", &bearer),
        ],
        "{}",
    )
    .await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, r#"{"result":{"data":{"json":true}}}"#)
    );
    // No output is superjson's undefined.
    let r = send(
        h.addr(),
        "POST",
        "/api/trpc/auth.logout",
        &[("authorization", &bearer)],
        "",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), json!({"result": {"data": {"json": false}}}));
    // A key whose superjson meta says undefined counts as missing.
    let input = json!({"json": {"id": null}, "meta": {"values": {"id": ["undefined"]}}});
    let encoded: String = form_urlencoded::byte_serialize(input.to_string().as_bytes()).collect();
    let r = send(
        h.addr(),
        "GET",
        &format!("/api/trpc/auth.one?input={encoded}"),
        &[("authorization", &bearer)],
        "",
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        error_json(&r.json())["data"]["zodError"]["fieldErrors"]["id"],
        json!(["Required"])
    );
}

#[tokio::test]
async fn unknown_procedures_and_wrong_kinds() {
    let h = Harness::start().await;
    let r = send(h.addr(), "GET", "/api/trpc/auth.login", &[], "").await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json(),
        json!({"error": {"json": {"message": "No \"query\"-procedure on path \"auth.login\"",
            "code": -32004, "data": {"code": "NOT_FOUND", "httpStatus": 404,
            "path": "auth.login", "zodError": null}}}})
    );
    let r = send(h.addr(), "POST", "/api/trpc/auth.nope", &JSON, "{}").await;
    assert_eq!(r.status, 404);
    assert_eq!(
        error_json(&r.json())["message"],
        "No \"mutation\"-procedure on path \"auth.nope\""
    );
    // REST names are case-sensitive; so are tRPC's.
    let r = send(h.addr(), "GET", "/api/trpc/AUTH.GET", &[], "").await;
    assert_eq!(r.status, 404);
    let r = send(h.addr(), "PUT", "/api/trpc/auth.get", &[], "").await;
    assert_eq!(r.status, 405);
    assert_eq!(
        r.json(),
        json!({"error": {"json": {"message": "Unexpected request method PUT", "code": -32005,
            "data": {"code": "METHOD_NOT_SUPPORTED", "httpStatus": 405, "zodError": null}}}})
    );
    let r = send(h.addr(), "HEAD", "/api/trpc/auth.get", &[], "").await;
    assert_eq!((r.status, r.body.as_str()), (204, ""));
}

#[tokio::test]
async fn requests_that_cannot_be_read() {
    let h = Harness::start().await;
    let whole = |r: &Resp, status: u16, code: &str, message: &str| {
        assert_eq!(r.status, status, "{}", r.body);
        let body = r.json();
        assert!(body.is_object(), "one item, even for a batch: {body}");
        let error = error_json(&body);
        assert_eq!(error["data"]["code"], code);
        assert_eq!(error["message"], message);
        assert!(error["data"].get("path").is_none(), "no path: {body}");
    };
    let r = send(h.addr(), "GET", "/api/trpc/auth.get?batch=1", &[], "").await;
    whole(
        &r,
        400,
        "BAD_REQUEST",
        "\"input\" needs to be an object when doing a batch call",
    );
    let r = send(
        h.addr(),
        "GET",
        "/api/trpc/auth.get?batch=1&input=%7B",
        &[],
        "",
    )
    .await;
    whole(&r, 400, "PARSE_ERROR", "Failed to parse request body");
    let r = send(
        h.addr(),
        "POST",
        "/api/trpc/auth.login?batch=1",
        &JSON,
        "{nope",
    )
    .await;
    whole(&r, 400, "PARSE_ERROR", "Failed to parse request body");
    let r = send(
        h.addr(),
        "POST",
        "/api/trpc/auth.login?batch=1",
        &JSON,
        "[1]",
    )
    .await;
    whole(
        &r,
        400,
        "BAD_REQUEST",
        "\"input\" needs to be an object when doing a batch call",
    );
    let r = send(
        h.addr(),
        "POST",
        "/api/trpc/auth.login",
        &[("content-type", "text/plain")],
        "{}",
    )
    .await;
    whole(
        &r,
        415,
        "UNSUPPORTED_MEDIA_TYPE",
        "Unsupported content-type \"text/plain",
    );
    let big = format!(r#"{{"json":{{"email":"{}"}}}}"#, "a".repeat(100_001));
    let r = send(h.addr(), "POST", "/api/trpc/auth.login", &JSON, &big).await;
    whole(&r, 413, "PAYLOAD_TOO_LARGE", "Request body too large");
    let names = vec!["auth.get"; 51].join(",");
    let r = send(
        h.addr(),
        "GET",
        &format!("/api/trpc/{names}?{}", batch_query(&json!({}))),
        &[],
        "",
    )
    .await;
    whole(
        &r,
        400,
        "BAD_REQUEST",
        "A batch may hold at most 50 calls, this one has 51",
    );
    // Fifty is allowed, and each call is answered.
    let names = vec!["auth.get"; 50].join(",");
    let r = send(
        h.addr(),
        "GET",
        &format!("/api/trpc/{names}?{}", batch_query(&json!({}))),
        &[],
        "",
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json().as_array().unwrap().len(), 50);
}

#[tokio::test]
async fn throttling_answers_retry_after_on_this_transport_too() {
    let h = Harness::start().await;
    h.admin().await;
    let wrong = json!({"json": {"email": "admin@example.com", "password": "wrong-password"}});
    let mut last = None;
    for _ in 0..6 {
        last = Some(
            send(
                h.addr(),
                "POST",
                "/api/trpc/auth.login",
                &JSON,
                &wrong.to_string(),
            )
            .await,
        );
    }
    let r = last.unwrap();
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.header("retry-after").is_some());
    assert_eq!(error_json(&r.json())["code"], -32029);
}
