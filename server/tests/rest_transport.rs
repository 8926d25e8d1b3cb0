//! The wire rules of the REST transport (§1 of the contract), over real sockets.

mod common;
use common::*;

#[tokio::test]
async fn content_type_rules() {
    let h = Harness::start().await;
    let body = r#"{"email":"a@b.co","password":"password1"}"#;
    let r = send(h.addr(), "POST", "/api/auth.login", &[], body).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (
            415,
            envelope("UNSUPPORTED_MEDIA_TYPE", "Missing content-type header").as_str()
        )
    );
    let r = send(
        h.addr(),
        "POST",
        "/api/auth.login",
        &[("content-type", "text/plain")],
        body,
    )
    .await;
    assert_eq!(r.status, 415);
    assert_eq!(r.json()["message"], "Unsupported content-type \"text/plain");
    let r = send(
        h.addr(),
        "POST",
        "/api/auth.login",
        &[("content-type", "application/json; charset=utf-8")],
        body,
    )
    .await;
    assert_eq!(
        r.status, 400,
        "a JSON content type with parameters is accepted"
    );
    assert_eq!(r.json()["message"], "Error: Credentials do not match");
    // A procedure without input does not look at the content type.
    let r = send(h.addr(), "POST", "/api/auth.logout", &[], "").await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (401, envelope("UNAUTHORIZED", "UNAUTHORIZED").as_str())
    );
}

#[tokio::test]
async fn body_limits_and_parse_errors() {
    let h = Harness::start().await;
    let json = [("content-type", "application/json")];
    let big = format!(
        r#"{{"email":"{}@b.co","password":"password1"}}"#,
        "a".repeat(100_001)
    );
    let r = send(h.addr(), "POST", "/api/auth.login", &json, &big).await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (
            413,
            envelope("PAYLOAD_TOO_LARGE", "Request body too large").as_str()
        )
    );
    let exactly = format!(r#"{{"x":"{}"}}"#, "a".repeat(100_000 - 8));
    assert_eq!(exactly.len(), 100_000);
    let r = send(h.addr(), "POST", "/api/auth.login", &json, &exactly).await;
    assert_eq!(r.status, 400, "100,000 bytes are accepted: {}", r.body);
    assert_eq!(r.json()["message"], "Input validation failed");
    let r = send(h.addr(), "POST", "/api/auth.login", &json, "{not json").await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (
            400,
            envelope("PARSE_ERROR", "Failed to parse request body").as_str()
        )
    );
    // Not an object, or empty: counts as {} and every field is Required.
    for body in ["", "[1,2]", "\"text\"", "42", "null"] {
        let r = send(h.addr(), "POST", "/api/auth.login", &json, body).await;
        assert_eq!(r.status, 400, "{body:?}");
        assert_eq!(
            r.body,
            r#"{"message":"Input validation failed","code":"BAD_REQUEST","issues":[{"code":"invalid_type","expected":"string","received":"undefined","path":["email"],"message":"Required"},{"code":"invalid_type","expected":"string","received":"undefined","path":["password"],"message":"Required"}]}"#,
            "{body:?}"
        );
    }
}

#[tokio::test]
async fn paths_methods_and_head() {
    let h = Harness::start().await;
    let not_found = envelope("NOT_FOUND", "Not found");
    for (method, path) in [
        ("GET", "/api/auth.nope"),
        ("GET", "/api/Auth.get"),
        ("GET", "/api/authXget"),
        ("POST", "/api/auth.get"),
        ("GET", "/api/auth.login"),
        ("GET", "/api/"),
        ("GET", "/elsewhere"),
        ("DELETE", "/api/auth.logout"),
    ] {
        let r = send(h.addr(), method, path, &[], "").await;
        assert_eq!(
            (r.status, r.body.as_str()),
            (404, not_found.as_str()),
            "{method} {path}"
        );
    }
    for path in ["/api/unknown", "/api/auth.get"] {
        let r = send(h.addr(), "HEAD", path, &[], "").await;
        assert_eq!((r.status, r.body.as_str()), (204, ""), "{path}");
    }
    let r = send(h.addr(), "GET", "/health", &[], "").await;
    assert_eq!((r.status, r.body.as_str()), (200, r#"{"status":"ok"}"#));
    let r = send(h.addr(), "GET", "/api/openapi.json", &[], "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["openapi"], "3.1.0");
    assert!(r.json()["paths"]["/auth.login"]["post"].is_object());
}

#[tokio::test]
async fn every_answer_is_json_and_not_cached() {
    let h = Harness::start().await;
    for (method, path) in [
        ("GET", "/api/auth.get"),
        ("GET", "/health"),
        ("GET", "/nope"),
    ] {
        let r = send(h.addr(), method, path, &[], "").await;
        assert_eq!(r.headers["content-type"], "application/json");
        assert_eq!(r.headers["cache-control"], "no-store");
        assert_eq!(r.headers["x-content-type-options"], "nosniff");
        assert!(r.headers.contains_key("x-request-id"));
        assert!(
            !r.headers.contains_key("strict-transport-security"),
            "not over http"
        );
    }
}

/// A client's `X-Request-Id` (a proxy's, a tracer's) is kept and echoed when it is
/// short and printable; otherwise, and without one, the id is made here,
/// `<instance>-<count>`, the instance part differing between servers.
#[tokio::test]
async fn a_request_id_is_the_clients_or_unique_across_instances() {
    let (one, other) = (Harness::start().await, Harness::start().await);
    let id =
        |r: &conformance::client::Resp| r.headers["x-request-id"].to_str().unwrap().to_string();
    let given = send(
        one.addr(),
        "GET",
        "/api/auth.get",
        &[("x-request-id", "my-trace-1")],
        "",
    )
    .await;
    assert_eq!(id(&given), "my-trace-1");
    let longest = "t".repeat(server::http::MAX_GIVEN_REQUEST_ID);
    let kept = send(
        one.addr(),
        "GET",
        "/health",
        &[("x-request-id", &longest)],
        "",
    )
    .await;
    assert_eq!(id(&kept), longest);

    let made = |id: &str| -> (String, u64) {
        let (instance, count) = id.split_once('-').unwrap_or_else(|| panic!("{id}"));
        assert!(
            instance.len() == 8 && instance.bytes().all(|b| b.is_ascii_hexdigit()),
            "{id}"
        );
        (instance.to_string(), count.parse().unwrap())
    };
    let too_long = "t".repeat(server::http::MAX_GIVEN_REQUEST_ID + 1);
    let mut ids = Vec::new();
    for header in [
        None,
        Some(&too_long[..]),
        Some("two words"),
        Some("a\"b"),
        Some(""),
    ] {
        let headers: Vec<(&str, &str)> = header.map(|h| ("x-request-id", h)).into_iter().collect();
        let r = send(one.addr(), "GET", "/api/auth.get", &headers, "").await;
        ids.push(made(&id(&r)));
    }
    assert!(
        ids.iter().all(|(instance, _)| *instance == ids[0].0),
        "{ids:?}"
    );
    assert!(ids.windows(2).all(|w| w[0].1 < w[1].1), "counted: {ids:?}");
    let elsewhere = send(other.addr(), "GET", "/api/auth.get", &[], "").await;
    assert_ne!(
        made(&id(&elsewhere)).0,
        ids[0].0,
        "another instance, another id"
    );
}

#[tokio::test]
async fn an_https_public_url_adds_hsts() {
    let config = server::core::Config {
        public_url: "https://dokploy.example.com".into(),
        ..Default::default()
    };
    let h = Harness::start_with(config, Default::default()).await;
    for path in ["/api/auth.get", "/api/trpc/auth.get", "/health"] {
        let r = send(h.addr(), "GET", path, &[], "").await;
        assert_eq!(
            r.headers["strict-transport-security"], "max-age=31536000",
            "{path}"
        );
    }
}

#[tokio::test]
async fn query_inputs() {
    let h = Harness::start().await;
    let mut admin = h.admin().await;
    let r = admin.get("/api/auth.one?id=a&id=b").await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["issues"],
        serde_json::json!([{"code":"invalid_type","expected":"string","received":"array","path":["id"],"message":"Expected string, received array"}])
    );
    let r = admin.get("/api/auth.one").await;
    assert_eq!(r.json()["issues"][0]["message"], "Required");
    let me = admin.get("/api/auth.get").await.json();
    // Percent-encoding is decoded.
    let encoded = me["id"].as_str().unwrap().replace('-', "%2D");
    let r = admin
        .get(&format!("/api/auth.one?id={encoded}&extra=1"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["id"], me["id"]);
    let r = send(h.addr(), "GET", "/api/admin.getUserByToken?token=", &[], "").await;
    assert_eq!(r.json()["issues"][0]["code"], "too_small");
}
