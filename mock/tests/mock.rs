//! The mock: determinism, every control-plane endpoint, every library method, CORS.

use conformance::client::{envelope, send, Client, Resp};
use mock::{CorsOrigins, Fixtures, MockServer, Mode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const ADMIN: &str = r#"{"email":"admin@example.com","password":"password123"}"#;

fn json_headers() -> [(&'static str, &'static str); 1] {
    [("content-type", "application/json")]
}

async fn control(mock: &MockServer, method: &str, path: &str, body: &str) -> Resp {
    send(
        mock.address(),
        method,
        &format!("/__mock/{path}"),
        &json_headers(),
        body,
    )
    .await
}

/// A frontend's first minutes, as raw requests; each answer in full.
async fn script(mock: &MockServer) -> Vec<String> {
    let addr = mock.address();
    let mut transcript = Vec::new();
    let mut record = |r: &Resp| {
        let mut headers: Vec<String> = r
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap()))
            .collect();
        headers.sort();
        transcript.push(format!("{}\n{}\n{}", r.status, headers.join("\n"), r.body));
    };
    let mut admin = Client::new(addr);
    record(&admin.post("/api/auth.createAdmin", ADMIN).await);
    record(&admin.get("/api/auth.get").await);
    record(&admin.post_empty("/api/auth.generateToken").await);
    record(&admin.get("/api/auth.generate2FASecret").await);
    record(
        &admin
            .post(
                "/api/admin.createUserInvitation",
                r#"{"email":"dev@example.com"}"#,
            )
            .await,
    );
    let all = admin.get("/api/user.all").await;
    record(&all);
    let token = all.json()[0]["token"].as_str().unwrap().to_string();
    record(
        &send(
            addr,
            "GET",
            &format!("/api/admin.getUserByToken?token={token}"),
            &[],
            "",
        )
        .await,
    );
    let mut member = Client::new(addr);
    let accept = json!({"password": "memberpass1", "id": all.json()[0]["authId"], "token": token});
    record(
        &member
            .post("/api/auth.createUser", &accept.to_string())
            .await,
    );
    record(
        &Client::new(addr)
            .post(
                "/api/auth.login",
                r#"{"email":"admin@example.com","password":"wrongpass1"}"#,
            )
            .await,
    );
    record(&send(addr, "POST", "/api/auth.login", &json_headers(), "{oops").await);
    transcript
}

#[tokio::test]
async fn same_seed_same_bytes_other_seed_other_ids() {
    let (a, b, c) = (
        MockServer::builder().seed(42).start().await,
        MockServer::builder().seed(42).start().await,
        MockServer::builder().seed(43).start().await,
    );
    let (ta, tb, tc) = (script(&a).await, script(&b).await, script(&c).await);
    assert_eq!(ta, tb, "same seed, same script: byte-identical answers");
    assert!(!ta[0].contains("\ndate: "), "no date header to differ");
    let id = |t: &Vec<String>| {
        serde_json::from_str::<Value>(t[1].rsplit('\n').next().unwrap()).unwrap()["id"].clone()
    };
    assert_ne!(id(&ta), id(&tc), "another seed gives other ids");
    // A reset replays the same bytes.
    a.reset();
    assert_eq!(script(&a).await, tb);
}

#[tokio::test]
async fn reset_endpoint() {
    let mock = MockServer::start().await;
    let mut admin = Client::new(mock.address());
    admin.post("/api/auth.createAdmin", ADMIN).await;
    let first_id = admin.get("/api/auth.get").await.json()["id"].clone();
    mock.advance_clock(Duration::from_secs(60));
    let r = control(&mock, "POST", "reset", r#"{"seed": 99}"#).await;
    assert_eq!(r.json(), json!({"seed": 99}));
    assert_eq!(mock.seed(), 99);
    assert_eq!(mock.now_ms(), mock::START_MS);
    assert_eq!(
        admin.get("/api/auth.get").await.status,
        401,
        "everything forgotten"
    );
    let mut again = Client::new(mock.address());
    assert_eq!(again.post("/api/auth.createAdmin", ADMIN).await.status, 200);
    assert_ne!(
        again.get("/api/auth.get").await.json()["id"],
        first_id,
        "the new seed's ids"
    );
    assert_eq!(
        control(&mock, "POST", "reset", r#"{"seed": "x"}"#)
            .await
            .status,
        400
    );
    // A plain reset goes back to the seed the mock started with.
    let r = control(&mock, "POST", "reset", "").await;
    assert_eq!(r.json(), json!({"seed": 0}));
    let mut fresh = Client::new(mock.address());
    assert_eq!(fresh.post("/api/auth.createAdmin", ADMIN).await.status, 200);
    assert_eq!(fresh.get("/api/auth.get").await.json()["id"], first_id);
}

const FIXTURES: &str = r#"{
  "admins": [{"email": "admin@example.com", "password": "password123", "id": "admin-id-000000000001",
              "sessions": ["frontend-session-0000000000000000000001"], "apiToken": "frontend-token-00000000000000000000001"}],
  "members": [
    {"email": "dev@example.com", "password": "memberpass1", "invitedBy": "admin@example.com",
     "twoFactorSecret": "JBSWY3DPEHPK3PXPJBSWY3DP"},
    {"email": "pending@example.com", "invitedBy": "admin@example.com", "invitationToken": "invite-me"}
  ]
}"#;

#[tokio::test]
async fn fixtures_start_logged_in() {
    let fixtures: Fixtures = serde_json::from_str(FIXTURES).unwrap();
    let mock = MockServer::builder().fixtures(fixtures).start().await;
    let mut browser = Client::new(mock.address());
    browser.cookie = Some("frontend-session-0000000000000000000001".into());
    let me = browser.get("/api/auth.get").await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["id"], "admin-id-000000000001");
    assert_eq!(me.json()["token"], "frontend-token-00000000000000000000001");
    let mut api = browser.with_bearer("frontend-token-00000000000000000000001");
    let members = api.get("/api/user.all").await.json();
    assert_eq!(members.as_array().unwrap().len(), 2);
    let r = send(
        mock.address(),
        "GET",
        "/api/admin.getUserByToken?token=invite-me",
        &[],
        "",
    )
    .await;
    assert_eq!(r.json()["isRegistered"], false);
    // The reset goes back to the fixtures.
    mock.reset();
    assert_eq!(browser.get("/api/auth.get").await.status, 200);
}

#[tokio::test]
async fn fixtures_endpoint() {
    let mock = MockServer::start().await;
    let r = control(&mock, "POST", "fixtures", FIXTURES).await;
    assert_eq!(
        (r.status, r.json()),
        (200, json!({"admins": 1, "members": 2, "mode": "add"}))
    );
    let r = control(&mock, "POST", "fixtures", FIXTURES).await;
    assert_eq!(r.status, 400, "loaded twice: {}", r.body);
    let r = control(
        &mock,
        "POST",
        "fixtures",
        r#"{"admins":[{"emial":"typo"}]}"#,
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .starts_with("not a fixtures document"));
    let r = Client::new(mock.address())
        .post(
            "/api/auth.login",
            r#"{"email":"dev@example.com","password":"memberpass1"}"#,
        )
        .await;
    assert_eq!(r.json()["is2FAEnabled"], true);
}

#[tokio::test]
async fn clock_endpoint_drives_expiry() {
    let mock = MockServer::start().await;
    let r = control(&mock, "GET", "clock", "").await;
    assert_eq!(
        r.json(),
        json!({"now": "2025-01-01T00:00:00.000Z", "nowMs": 1_735_689_600_000i64, "follows": "manual"})
    );
    let mut admin = Client::new(mock.address());
    admin.post("/api/auth.createAdmin", ADMIN).await;
    let r = control(&mock, "POST", "clock", r#"{"advance": "23h"}"#).await;
    assert_eq!(r.json()["now"], "2025-01-01T23:00:00.000Z");
    let r = admin.get("/api/auth.get").await;
    assert!(r.session_id().is_some(), "an hour left: the session slides");
    let r = control(
        &mock,
        "POST",
        "clock",
        r#"{"set": "2025-03-01T00:00:00.000Z"}"#,
    )
    .await;
    assert_eq!(r.json()["now"], "2025-03-01T00:00:00.000Z");
    assert_eq!(admin.get("/api/auth.get").await.status, 401, "expired");
    assert_eq!(
        control(&mock, "POST", "clock", r#"{"advance": "soon"}"#)
            .await
            .status,
        400
    );
    assert_eq!(
        control(&mock, "POST", "clock", r#"{"advance": 1000}"#)
            .await
            .json()["now"],
        "2025-03-01T00:00:01.000Z"
    );
}

#[tokio::test]
async fn the_clock_can_follow_real_time() {
    let real_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    };
    let mock = MockServer::start().await;
    let r = control(&mock, "POST", "clock", r#"{"follow": "real"}"#).await;
    assert_eq!(r.json()["follows"], "real");
    assert!((r.json()["nowMs"].as_i64().unwrap() - real_ms()).abs() < 5_000);
    // While following, advance shifts it from real time.
    let r = control(&mock, "POST", "clock", r#"{"advance": "1d"}"#).await;
    let ahead = r.json()["nowMs"].as_i64().unwrap() - real_ms();
    assert!((86_395_000..86_405_000).contains(&ahead), "{ahead}");
    let r = control(&mock, "POST", "clock", r#"{"follow": "manual"}"#).await;
    assert_eq!(r.json()["follows"], "manual");
    let stopped = r.json()["nowMs"].clone();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        control(&mock, "GET", "clock", "").await.json()["nowMs"],
        stopped
    );
    let r = control(&mock, "POST", "clock", r#"{"follow": "sometimes"}"#).await;
    assert_eq!(r.status, 400);
    // Started following real time: a reset goes back to following.
    let mock = MockServer::builder()
        .clock(mock::ClockStart::Real)
        .start()
        .await;
    control(&mock, "POST", "clock", r#"{"follow": "manual"}"#).await;
    control(&mock, "POST", "reset", "").await;
    let r = control(&mock, "GET", "clock", "").await;
    assert_eq!(r.json()["follows"], "real");
}

#[tokio::test]
async fn outbox_endpoint_in_cloud_mode() {
    let mock = MockServer::builder().mode(Mode::Cloud).start().await;
    let r = Client::new(mock.address())
        .post("/api/auth.createAdmin", ADMIN)
        .await;
    assert_eq!(r.status, 200);
    let outbox = control(&mock, "GET", "outbox", "").await.json();
    let email = &outbox[0];
    assert_eq!(email["to"], "admin@example.com");
    assert_eq!(email["sentAt"], "2025-01-01T00:00:00.000Z");
    let token = email["tokens"][0].as_str().unwrap();
    assert!(email["links"][0]
        .as_str()
        .unwrap()
        .ends_with(&format!("/confirm-email?token={token}")));
    assert_eq!(mock.outbox().len(), 1);
    let r = Client::new(mock.address())
        .post(
            "/api/auth.confirmEmail",
            &json!({"confirmationToken": token}).to_string(),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        control(&mock, "DELETE", "outbox", "").await.json(),
        json!({"cleared": 1})
    );
    assert!(mock.outbox().is_empty());
}

#[tokio::test]
async fn totp_endpoint_gives_the_pin() {
    let mock = MockServer::builder()
        .fixtures(serde_json::from_str(FIXTURES).unwrap())
        .start()
        .await;
    let mut c = Client::new(mock.address());
    let login = c
        .post(
            "/api/auth.login",
            r#"{"email":"dev@example.com","password":"memberpass1"}"#,
        )
        .await
        .json();
    let r = control(&mock, "GET", "totp?email=Dev@Example.com", "").await;
    let pin = r.json()["pin"].as_str().unwrap().to_string();
    assert_eq!(Some(pin.clone()), mock.totp_for("dev@example.com"));
    assert_eq!(r.json()["validForSeconds"], 30);
    let r = c
        .post(
            "/api/auth.verifyLogin2FA",
            &json!({"pin": pin, "id": login["authId"]}).to_string(),
        )
        .await;
    assert_eq!((r.status, r.body.as_str()), (200, "true"));
    assert_eq!(
        control(&mock, "GET", "totp?email=admin@example.com", "")
            .await
            .status,
        404
    );
    assert_eq!(control(&mock, "GET", "totp", "").await.status, 400);
    // The set-up step: a pin for a secret not enabled yet, at the mock's clock.
    let mut admin = Client::new(mock.address());
    admin
        .post(
            "/api/auth.login",
            r#"{"email":"admin@example.com","password":"password123"}"#,
        )
        .await;
    let secret = admin.get("/api/auth.generate2FASecret").await.json()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let r = control(&mock, "GET", &format!("totp?secret={secret}"), "").await;
    let pin = r.json()["pin"].as_str().unwrap().to_string();
    let setup = json!({"pin": pin, "secret": secret}).to_string();
    let r = admin.post("/api/auth.verify2FASetup", &setup).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["is2FAEnabled"], true);
    assert_eq!(
        control(&mock, "GET", "totp?secret=not%20base32!", "")
            .await
            .status,
        400
    );
}

#[tokio::test]
async fn requests_endpoint_is_a_bounded_ring() {
    let mock = MockServer::builder().journal_capacity(5).start().await;
    for _ in 0..20 {
        send(
            mock.address(),
            "GET",
            "/api/auth.get?x=1",
            &[("x-test", "yes")],
            "",
        )
        .await;
    }
    send(
        mock.address(),
        "POST",
        "/api/auth.login",
        &json_headers(),
        r#"{"email":"a@b.co"}"#,
    )
    .await;
    let view = control(&mock, "GET", "requests", "").await.json();
    assert_eq!(view["capacity"], 5);
    assert_eq!(view["dropped"], 16);
    let requests = view["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 5);
    let last = &requests[4];
    assert_eq!(
        (
            last["seq"].clone(),
            last["method"].clone(),
            last["path"].clone(),
            last["status"].clone()
        ),
        (
            json!(21),
            json!("POST"),
            json!("/api/auth.login"),
            json!(400)
        )
    );
    assert_eq!(last["body"], r#"{"email":"a@b.co"}"#);
    assert_eq!(requests[0]["query"], "x=1");
    assert!(requests[0]["headers"]
        .as_array()
        .unwrap()
        .contains(&json!(["x-test", "yes"])));
    assert_eq!(mock.received_requests().len(), 5);
    assert_eq!(
        control(&mock, "DELETE", "requests", "").await.json(),
        json!({"cleared": 5}),
        "every clearing answers how many it cleared"
    );
    assert!(
        mock.received_requests().is_empty(),
        "control-plane calls are not journaled"
    );
}

#[tokio::test]
async fn requests_since_a_seq_with_their_answers() {
    let mock = MockServer::start().await;
    for _ in 0..3 {
        send(mock.address(), "GET", "/api/auth.get", &[], "").await;
    }
    let view = control(&mock, "GET", "requests?since=2", "").await.json();
    assert_eq!(
        (view["nextSeq"].clone(), view["generation"].clone()),
        (json!(4), json!(0))
    );
    let requests = view["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0]["seq"], 3);
    assert_eq!(requests[0]["status"], 401);
    let body: Value = serde_json::from_str(requests[0]["responseBody"].as_str().unwrap()).unwrap();
    assert_eq!(body["code"], "UNAUTHORIZED");
    assert!(requests[0]["responseHeaders"]
        .as_array()
        .unwrap()
        .contains(&json!(["content-type", "application/json"])));
    let view = control(&mock, "GET", "requests?since=3", "").await.json();
    assert_eq!(view["requests"], json!([]));
    assert_eq!(
        control(&mock, "GET", "requests?since=x", "").await.status,
        400
    );
    control(&mock, "DELETE", "requests", "").await;
    let view = control(&mock, "GET", "requests", "").await.json();
    assert_eq!(
        (view["nextSeq"].clone(), view["generation"].clone()),
        (json!(1), json!(1))
    );
    // The answer as sent, CORS headers included.
    let page = [("origin", "http://localhost:5173")];
    send(mock.address(), "GET", "/api/auth.get", &page, "").await;
    let view = control(&mock, "GET", "requests", "").await.json();
    assert!(view["requests"][0]["responseHeaders"]
        .as_array()
        .unwrap()
        .contains(&json!([
            "access-control-allow-origin",
            "http://localhost:5173"
        ])));
}

#[tokio::test]
async fn accounts_endpoint_shows_roles_pins_and_sessions() {
    let fixtures: Fixtures = serde_json::from_value(json!({
        "admins": [{"email": "admin@example.com", "password": "password123",
            "twoFactorSecret": "JBSWY3DPEHPK3PXP", "sessions": ["s-1"], "apiToken": "t-1"}],
        "members": [{"email": "pending@example.com", "invitedBy": "admin@example.com"}],
    }))
    .unwrap();
    let mock = MockServer::builder().fixtures(fixtures).start().await;
    let view = control(&mock, "GET", "accounts", "").await.json();
    assert_eq!(view["validForSeconds"], 30);
    let accounts = view["accounts"].as_array().unwrap();
    let admin = accounts
        .iter()
        .find(|a| a["email"] == "admin@example.com")
        .unwrap();
    let pending = accounts
        .iter()
        .find(|a| a["email"] == "pending@example.com")
        .unwrap();
    assert_eq!(
        (
            admin["role"].clone(),
            admin["twoFactor"].clone(),
            admin["pending"].clone()
        ),
        (json!("admin"), json!(true), json!(false))
    );
    assert_eq!(
        admin["pin"].as_str(),
        mock.totp_for("admin@example.com").as_deref()
    );
    let kinds: Vec<&Value> = admin["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["kind"])
        .collect();
    assert_eq!(kinds, [&json!("cookie"), &json!("apiToken")]);
    assert_eq!(
        (
            pending["role"].clone(),
            pending["pending"].clone(),
            pending["pin"].clone()
        ),
        (json!("user"), json!(true), Value::Null)
    );
    // A session logged out is no longer listed.
    send(
        mock.address(),
        "POST",
        "/api/auth.logout",
        &[
            ("cookie", "auth_session=s-1"),
            ("content-type", "application/json"),
        ],
        "{}",
    )
    .await;
    let view = control(&mock, "GET", "accounts", "").await.json();
    assert_eq!(view["accounts"][0]["sessions"].as_array().unwrap().len(), 1);
    let info = control(&mock, "GET", "info", "").await.json();
    assert_eq!(
        (info["mode"].clone(), info["seed"].clone()),
        (json!("self-hosted"), json!(0))
    );
    assert!(info["procedures"]
        .as_array()
        .unwrap()
        .contains(&json!("auth.login")));
    assert!(info["errorCodes"]
        .as_array()
        .unwrap()
        .contains(&json!("TOO_MANY_REQUESTS")));
}

#[tokio::test]
async fn the_inspector_page_is_served_with_a_strict_policy() {
    let mock = MockServer::start().await;
    let page = send(mock.address(), "GET", "/__mock/", &[], "").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type").as_deref(),
        Some("text/html; charset=utf-8")
    );
    let policy = page.header("content-security-policy").unwrap_or_default();
    assert!(policy.contains("script-src 'self'") && !policy.contains("unsafe-inline"));
    assert!(page.body.contains(r#"<script src="inspector.js""#));
    let script = send(mock.address(), "GET", "/__mock/inspector.js", &[], "").await;
    assert_eq!(
        script.header("content-type").as_deref(),
        Some("text/javascript; charset=utf-8")
    );
    assert!(
        !script.body.contains("innerHTML"),
        "text only: journal bodies come from anyone"
    );
    let style = send(mock.address(), "GET", "/__mock/inspector.css", &[], "").await;
    assert_eq!(
        style.header("content-type").as_deref(),
        Some("text/css; charset=utf-8")
    );
    let bare = send(mock.address(), "GET", "/__mock", &[], "").await;
    assert_eq!(
        (bare.status, bare.header("location").as_deref()),
        (308, Some("/__mock/"))
    );
    assert!(
        mock.received_requests().is_empty(),
        "the page is not journaled"
    );
}

#[tokio::test]
async fn faults_endpoint_and_header() {
    let mock = MockServer::start().await;
    let mut admin = Client::new(mock.address());
    admin.post("/api/auth.createAdmin", ADMIN).await;
    let r = control(
        &mock,
        "POST",
        "faults",
        r#"{"procedure":"auth.get","error":"INTERNAL_SERVER_ERROR","message":"boom","times":2}"#,
    )
    .await;
    assert_eq!(r.status, 200);
    for _ in 0..2 {
        let r = admin.get("/api/auth.get").await;
        assert_eq!(
            (r.status, r.body),
            (500, envelope("INTERNAL_SERVER_ERROR", "boom"))
        );
    }
    assert_eq!(admin.get("/api/auth.get").await.status, 200, "used up");
    control(
        &mock,
        "POST",
        "faults",
        r#"{"procedure":"auth.get","delayMs":300}"#,
    )
    .await;
    let started = Instant::now();
    assert_eq!(admin.get("/api/auth.get").await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(
        control(
            &mock,
            "POST",
            "faults",
            r#"{"procedure":"auth.nope","error":"FORBIDDEN"}"#
        )
        .await
        .status,
        400
    );
    assert_eq!(
        control(
            &mock,
            "POST",
            "faults",
            r#"{"procedure":"auth.get","error":"TEAPOT"}"#
        )
        .await
        .status,
        400
    );
    control(
        &mock,
        "POST",
        "faults",
        r#"{"procedure":"auth.get","error":"FORBIDDEN","times":5}"#,
    )
    .await;
    assert_eq!(
        control(&mock, "GET", "faults", "").await.json()[0]["times"],
        5
    );
    assert_eq!(
        control(&mock, "DELETE", "faults", "").await.json(),
        json!({"cleared": 1})
    );
    assert_eq!(control(&mock, "GET", "faults", "").await.json(), json!([]));

    let cookie = format!("auth_session={}", admin.cookie.clone().unwrap());
    let r = send(
        mock.address(),
        "GET",
        "/api/auth.get",
        &[("cookie", &cookie), ("x-mock-fault", "UNAUTHORIZED")],
        "",
    )
    .await;
    // Its message says it was forced, so that nobody takes it for a real one.
    assert_eq!(
        (r.status, r.body),
        (
            401,
            envelope(
                "UNAUTHORIZED",
                "UNAUTHORIZED forced by the mock (x-mock-fault header)"
            )
        )
    );
    let started = Instant::now();
    let r = send(
        mock.address(),
        "GET",
        "/api/auth.get",
        &[("cookie", &cookie), ("x-mock-fault", "delay=200ms")],
        "",
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(
        send(
            mock.address(),
            "GET",
            "/api/auth.get",
            &[("x-mock-fault", "teapot")],
            ""
        )
        .await
        .status,
        400
    );
    assert_eq!(
        send(
            mock.address(),
            "GET",
            "/api/auth.get",
            &[("cookie", &cookie)],
            ""
        )
        .await
        .status,
        200,
        "only that request"
    );
    mock.add_fault(mock::Fault {
        times: mock::faults::Times::Count(2),
        ..mock::Fault::error("auth.login", "TOO_MANY_REQUESTS")
    })
    .unwrap();
    // A forced 429 says when to try again, as a real one does, on both transports.
    let r = Client::new(mock.address())
        .post("/api/auth.login", ADMIN)
        .await;
    assert_eq!(
        (r.status, r.header("retry-after").as_deref()),
        (429, Some("1"))
    );
    let r = Client::new(mock.address())
        .over(conformance::client::Transport::Trpc)
        .post("/api/auth.login", ADMIN)
        .await;
    assert_eq!(
        (r.status, r.header("retry-after").as_deref()),
        (429, Some("1"))
    );
}

#[tokio::test]
async fn cors_for_a_frontend_on_another_port() {
    let origin = "http://localhost:5173";
    let mock = MockServer::builder()
        .cors(CorsOrigins::List(vec![origin.into()]))
        .start()
        .await;
    let addr = mock.address();
    let preflight = send(
        addr,
        "OPTIONS",
        "/api/auth.login",
        &[
            ("origin", origin),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "content-type"),
        ],
        "",
    )
    .await;
    assert_eq!(preflight.status, 204);
    assert_eq!(
        preflight.header("access-control-allow-origin").as_deref(),
        Some(origin)
    );
    assert_eq!(
        preflight
            .header("access-control-allow-credentials")
            .as_deref(),
        Some("true")
    );
    let methods = preflight.header("access-control-allow-methods").unwrap();
    assert!(
        methods.contains("POST") && methods.contains("DELETE"),
        "the control plane's DELETE too: {methods}"
    );
    assert_eq!(
        preflight.header("access-control-allow-headers").as_deref(),
        Some("content-type")
    );

    // The browser's credentialed calls: the cookie set by one is sent by the next.
    let r = send(
        addr,
        "POST",
        "/api/auth.createAdmin",
        &[("origin", origin), ("content-type", "application/json")],
        ADMIN,
    )
    .await;
    assert_eq!(
        r.header("access-control-allow-origin").as_deref(),
        Some(origin),
        "echoed, never *"
    );
    assert_eq!(r.header("vary").as_deref(), Some("Origin"));
    let exposed = r.header("access-control-expose-headers").unwrap();
    assert!(
        exposed.contains("retry-after") && exposed.contains("x-request-id"),
        "page code can read them: {exposed}"
    );
    let cookie = format!("auth_session={}", r.session_id().unwrap());
    let r = send(
        addr,
        "GET",
        "/api/auth.get",
        &[("origin", origin), ("cookie", &cookie)],
        "",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-credentials").as_deref(),
        Some("true")
    );

    let other = send(
        addr,
        "OPTIONS",
        "/api/auth.login",
        &[
            ("origin", "http://evil.example"),
            ("access-control-request-method", "POST"),
        ],
        "",
    )
    .await;
    assert_eq!(other.header("access-control-allow-origin"), None);
    let other = send(
        addr,
        "GET",
        "/health",
        &[("origin", "http://evil.example")],
        "",
    )
    .await;
    assert_eq!(other.header("access-control-allow-origin"), None);
}

#[test]
fn works_from_a_sync_test() {
    let mock = MockServer::builder().seed(3).start_blocking();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut admin = Client::new(mock.address());
    let r = runtime.block_on(admin.post("/api/auth.createAdmin", ADMIN));
    assert_eq!(r.status, 200);
    mock.set_clock(mock::START_MS + 25 * 3_600_000);
    assert_eq!(runtime.block_on(admin.get("/api/auth.get")).status, 401);
    mock.reset();
    assert_eq!(mock.received_requests().len(), 0);
    assert_eq!(mock.now_ms(), mock::START_MS);
}

#[tokio::test]
async fn many_mocks_in_parallel_each_on_its_own_port() {
    let mocks: Vec<MockServer> = futures_join(8).await;
    let mut ports: Vec<u16> = mocks.iter().map(|m| m.address().port()).collect();
    ports.sort();
    ports.dedup();
    assert_eq!(ports.len(), 8);
    for m in &mocks {
        assert_eq!(
            send(m.address(), "GET", "/health", &[], "").await.status,
            200
        );
    }
}

async fn futures_join(n: usize) -> Vec<MockServer> {
    let handles: Vec<_> = (0..n)
        .map(|i| tokio::spawn(MockServer::builder().seed(i as u64).start()))
        .collect();
    let mut mocks = Vec::new();
    for h in handles {
        mocks.push(h.await.unwrap());
    }
    mocks
}

#[tokio::test]
async fn throttling_is_off_unless_asked() {
    let wrong = r#"{"email":"admin@example.com","password":"wrongpass1"}"#;
    let off = MockServer::start().await;
    Client::new(off.address())
        .post("/api/auth.createAdmin", ADMIN)
        .await;
    for _ in 0..10 {
        assert_eq!(
            Client::new(off.address())
                .post("/api/auth.login", wrong)
                .await
                .status,
            400
        );
    }
    let on = MockServer::builder()
        .throttle(Default::default())
        .start()
        .await;
    Client::new(on.address())
        .post("/api/auth.createAdmin", ADMIN)
        .await;
    for _ in 0..5 {
        Client::new(on.address())
            .post("/api/auth.login", wrong)
            .await;
    }
    let r = Client::new(on.address())
        .post("/api/auth.login", wrong)
        .await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after").as_deref(), Some("1"));
    on.advance_clock(Duration::from_secs(1));
    assert_eq!(
        Client::new(on.address())
            .post("/api/auth.login", ADMIN)
            .await
            .status,
        200,
        "the mock's clock drives the waits"
    );
}

/// The fixtures file the README uses loads, and what it promises works.
/// The README shows `fixtures.example.json` as it is, and calls it a ready one.
#[test]
fn the_readme_shows_the_example_fixtures_file() {
    let readme = include_str!("../README.md");
    let fixtures = &readme[readme.find("## Fixtures").unwrap()..];
    let block = fixtures.split("```json\n").nth(1).unwrap();
    let block = &block[..block.find("```").unwrap()];
    assert_eq!(block, include_str!("../fixtures.example.json"));
}

#[tokio::test]
async fn the_example_fixtures_file() {
    let fixtures: Fixtures =
        serde_json::from_str(include_str!("../fixtures.example.json")).unwrap();
    let mock = MockServer::builder().fixtures(fixtures).start().await;
    let mut admin = Client::new(mock.address());
    admin.cookie = Some("example-admin-session-00000000000000001".into());
    let all = admin.get("/api/user.all").await.json();
    assert_eq!(all.as_array().map(Vec::len), Some(3), "{all}");
    let mut ops = Client::new(mock.address());
    let login = r#"{"email":"ops@example.com","password":"memberpass1"}"#;
    assert_eq!(ops.post("/api/auth.login", login).await.status, 200);
    let r = Client::new(mock.address())
        .get("/api/admin.getUserByToken?token=example-invitation")
        .await;
    assert_eq!(r.status, 200);
}

/// A precomputed hash is stored as given; a password is hashed once, with a salt of
/// its own, so a reset or many accounts with one password cost one hash.
#[tokio::test]
async fn fixtures_take_a_password_hash() {
    use server::core::{ports::Store, records::Read};
    let one = |extra: &str| {
        serde_json::from_str::<Fixtures>(&format!(
            r#"{{"admins":[{{"email":"admin@example.com",{extra}}}]}}"#
        ))
        .unwrap()
    };
    let stored_hash = |mock: &MockServer| {
        let store: &dyn Store = &*mock.state().store;
        let admin = store
            .account_by_email("admin@example.com")
            .unwrap()
            .unwrap();
        admin.password_hash.unwrap()
    };
    let first = MockServer::builder()
        .fixtures(one(r#""password":"password123""#))
        .start()
        .await;
    let hash = stored_hash(&first);
    first.reset();
    assert_eq!(stored_hash(&first), hash, "the same hash after a reset");
    let given = format!(r#""passwordHash":"{hash}""#);
    let second = MockServer::builder().fixtures(one(&given)).start().await;
    assert_eq!(stored_hash(&second), hash);
    let mut admin = Client::new(second.address());
    assert_eq!(admin.post("/api/auth.login", ADMIN).await.status, 200);
    let bad = MockServer::builder().start().await;
    let r = control(
        &bad,
        "POST",
        "fixtures",
        r#"{"admins":[{"email":"a@b.co","passwordHash":"nope"}]}"#,
    )
    .await;
    assert_eq!(r.status, 400);
}

/// A thousand fixture accounts with distinct passwords, hashed later (the binary's
/// way): loading returns with placeholders stored (counted, not timed), logins made
/// at once work (right password 200, wrong 400), and the background then stores a
/// bcrypt hash for every account; a reset puts those hashes back without hashing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distinct_fixture_passwords_are_hashed_after_loading() {
    use server::core::{ports::Store, records::Read};
    let members: Vec<Value> = (0..999)
        .map(|n| {
            json!({"email": format!("m{n}@example.com"), "password": format!("secret-{n}"),
                   "invitedBy": "admin@example.com"})
        })
        .collect();
    let fixtures: Fixtures = serde_json::from_value(json!({
        "admins": [{"email": "admin@example.com", "password": "password123"}],
        "members": members,
    }))
    .unwrap();
    let mock = MockServer::builder()
        .hash_fixtures_later(true)
        .fixtures(fixtures)
        .start()
        .await;
    let store = mock.state().store.clone();
    let stored = |email: &str| {
        let store: &dyn Store = &*store;
        store
            .account_by_email(email)
            .unwrap()
            .unwrap()
            .password_hash
            .unwrap()
    };
    assert!(
        stored("m998@example.com").starts_with("$fixture$"),
        "the last account's hash was made before loading returned"
    );
    let login = |email: &str, password: &str| {
        let body = json!({"email": email, "password": password}).to_string();
        let addr = mock.address();
        async move {
            send(addr, "POST", "/api/auth.login", &json_headers(), &body)
                .await
                .status
        }
    };
    assert_eq!(login("m998@example.com", "secret-998").await, 200);
    assert_eq!(login("m997@example.com", "secret-996").await, 400);
    let deadline = Instant::now() + Duration::from_secs(60);
    while stored("m998@example.com").starts_with("$fixture$") {
        assert!(Instant::now() < deadline, "the background never stored it");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for n in [0, 500, 998] {
        let hash = stored(&format!("m{n}@example.com"));
        assert!(hash.starts_with("$2b$04$"), "{hash}");
        assert!(bcrypt::verify(format!("secret-{n}"), &hash).unwrap());
    }
    assert_eq!(login("m500@example.com", "secret-500").await, 200);
    control(&mock, "POST", "reset", "{}").await;
    assert!(stored("m998@example.com").starts_with("$2b$04$"));
    // A password bcrypt would cut is refused when loaded, as when hashed first.
    let long = json!({"members": [{"email": "long@example.com", "password": "x".repeat(73),
                                    "invitedBy": "admin@example.com"}]});
    let refused = control(&mock, "POST", "fixtures", &long.to_string()).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
}

/// The control plane answers only loopback hosts, no page of another origin unless
/// `--cors-origin` lists it, and changes only as JSON; the API keeps its CORS.
#[tokio::test]
async fn a_page_of_another_site_cannot_use_the_control_plane() {
    let mock = MockServer::start().await;
    let addr = mock.address();
    let json = ("content-type", "application/json");
    let fault = r#"{"procedure": "auth.get", "error": "INTERNAL_SERVER_ERROR"}"#;

    // DNS rebinding: a page of attacker.example that resolves to 127.0.0.1.
    let r = send(
        addr,
        "GET",
        "/__mock/info",
        &[("host", "attacker.example:4000")],
        "",
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.body.contains("--control-host attacker.example"),
        "{}",
        r.body
    );
    for host in ["localhost:4000", "127.0.0.1", "[::1]:4000", "app.localhost"] {
        let r = send(addr, "GET", "/__mock/info", &[("host", host)], "").await;
        assert_eq!(r.status, 200, "{host}: {}", r.body);
    }
    // The inspector page too.
    let r = send(addr, "GET", "/__mock/", &[("host", "attacker.example")], "").await;
    assert_eq!(r.status, 403);

    // A page of another origin: refused, and given no CORS headers.
    let other = ("origin", "http://evil.example");
    let r = send(addr, "GET", "/__mock/requests", &[other], "").await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.header("access-control-allow-origin").is_none());
    let preflight = send(
        addr,
        "OPTIONS",
        "/__mock/faults",
        &[other, ("access-control-request-method", "DELETE")],
        "",
    )
    .await;
    assert!(preflight.header("access-control-allow-origin").is_none());
    // A simple request (text/plain, no preflight) arms nothing.
    let r = send(
        addr,
        "POST",
        "/__mock/faults",
        &[("content-type", "text/plain")],
        fault,
    )
    .await;
    assert_eq!(r.status, 415, "{}", r.body);
    let r = send(addr, "POST", "/__mock/faults", &[other, json], fault).await;
    assert_eq!(r.status, 403);
    assert_eq!(control(&mock, "GET", "faults", "").await.body, "[]");

    // Its own origin (the inspector, a dev server's proxy) is served.
    let own = format!("http://{addr}");
    let r = send(
        addr,
        "POST",
        "/__mock/faults",
        &[("origin", own.as_str()), json],
        fault,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The API keeps answering any origin with credentials (dev servers).
    let r = send(addr, "GET", "/api/auth.get", &[other], "").await;
    assert_eq!(
        r.header("access-control-allow-origin").as_deref(),
        Some("http://evil.example")
    );
}

/// An origin `--cors-origin` lists may drive the control plane from its page, and a
/// host `--control-host` names is served.
#[tokio::test]
async fn listed_origins_and_hosts_may_use_the_control_plane() {
    let mock = MockServer::builder()
        .cors(mock::CorsOrigins::List(
            vec!["http://localhost:5173".into()],
        ))
        .control_host("mock")
        .start()
        .await;
    let addr = mock.address();
    let listed = ("origin", "http://localhost:5173");
    let r = send(addr, "GET", "/__mock/requests", &[listed], "").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.header("access-control-allow-origin").as_deref(),
        Some("http://localhost:5173")
    );
    let preflight = send(
        addr,
        "OPTIONS",
        "/__mock/requests",
        &[listed, ("access-control-request-method", "DELETE")],
        "",
    )
    .await;
    assert_eq!(
        preflight.header("access-control-allow-origin").as_deref(),
        Some("http://localhost:5173")
    );
    let r = send(addr, "GET", "/__mock/info", &[("host", "mock:4000")], "").await;
    assert_eq!(r.status, 200, "{}", r.body);
}
