//! The control plane in a frontend team's day: pins after a 2FA set-up, HEAD probes,
//! a journal that explains (arrival order equal to `x-request-id`, times, batches,
//! forced answers, filters), account operations, state exported and loaded back,
//! waiting for an email, and faults that match an input or break the connection.

use conformance::client::{send, try_send, Client, Resp};
use mock::{MockServer, Mode};
use serde_json::{json, Value};
use std::io::{Read, Write};

const FIXTURES: &str = r#"{
  "admins": [{"email": "admin@example.com", "password": "password123", "sessions": ["admin-session"]}],
  "members": [
    {"email": "dev@example.com", "password": "memberpass1", "invitedBy": "admin@example.com",
     "twoFactorSecret": "JBSWY3DPEHPK3PXPJBSWY3DP", "sessions": ["dev-session"]},
    {"email": "pending@example.com", "invitedBy": "admin@example.com", "invitationToken": "invite-me"}
  ]
}"#;

async fn with_fixtures() -> MockServer {
    MockServer::builder()
        .fixtures(serde_json::from_str(FIXTURES).unwrap())
        .start()
        .await
}

async fn control(mock: &MockServer, method: &str, path: &str, body: &str) -> Resp {
    let headers = [("content-type", "application/json")];
    send(
        mock.address(),
        method,
        &format!("/__mock/{path}"),
        &headers,
        body,
    )
    .await
}

fn login_body(email: &str, password: &str) -> String {
    json!({"email": email, "password": password}).to_string()
}

#[tokio::test]
async fn right_after_enabling_2fa_the_pin_is_used_and_the_next_one_logs_in() {
    let mock = with_fixtures().await;
    let mut admin = Client::new(mock.address());
    admin.cookie = Some("admin-session".into());
    let secret = admin.get("/api/auth.generate2FASecret").await.json()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let pins = control(&mock, "GET", &format!("totp?secret={secret}"), "")
        .await
        .json();
    assert_eq!(pins["used"], false, "{pins}");
    let setup = json!({"pin": pins["pin"], "secret": secret}).to_string();
    assert_eq!(
        admin.post("/api/auth.verify2FASetup", &setup).await.status,
        200
    );

    let pins = control(&mock, "GET", "totp?email=admin@example.com", "")
        .await
        .json();
    assert_eq!(pins["used"], true, "the set-up spent it: {pins}");
    assert_eq!(pins["next"]["used"], false);
    assert_eq!(pins["next"]["validFrom"], "2025-01-01T00:00:30.000Z");
    assert_ne!(pins["next"]["pin"], pins["pin"]);
    let accounts = control(&mock, "GET", "accounts", "").await.json();
    let shown = accounts["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["email"] == "admin@example.com")
        .unwrap();
    assert_eq!(
        (shown["pinUsed"].clone(), shown["nextPin"].clone()),
        (json!(true), pins["next"]["pin"].clone())
    );

    // The spent pin is refused; the next one is accepted at once.
    let mut browser = Client::new(mock.address());
    let login = browser
        .post(
            "/api/auth.login",
            &login_body("admin@example.com", "password123"),
        )
        .await
        .json();
    let with_pin = |pin: &Value| json!({"pin": pin, "id": login["authId"]}).to_string();
    let spent = browser
        .post("/api/auth.verifyLogin2FA", &with_pin(&pins["pin"]))
        .await;
    assert_eq!(spent.status, 400);
    let next = browser
        .post("/api/auth.verifyLogin2FA", &with_pin(&pins["next"]["pin"]))
        .await;
    assert_eq!((next.status, next.body.as_str()), (200, "true"));
    let after = control(&mock, "GET", "totp?email=admin@example.com", "")
        .await
        .json();
    assert_eq!(after["next"]["used"], true);
    assert_eq!(
        mock.next_totp_for("admin@example.com"),
        after["next"]["pin"].as_str().map(String::from)
    );
    // A parameter the route does not take is refused, not ignored.
    assert_eq!(
        control(&mock, "GET", "totp?email=admin@example.com&step=next", "")
            .await
            .status,
        400
    );
}

#[tokio::test]
async fn head_answers_like_get_without_a_body() {
    let mock = MockServer::start().await;
    for path in ["/health", "/__mock/info", "/__mock/", "/__mock/requests"] {
        let get = send(mock.address(), "GET", path, &[], "").await;
        let head = raw(
            mock.address(),
            &format!("HEAD {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n"),
        );
        let status = format!("HTTP/1.1 {}", get.status);
        assert!(head.starts_with(&status), "HEAD {path}: {head}");
        assert!(
            head.ends_with("\r\n\r\n"),
            "HEAD {path} has no body: {head:?}"
        );
    }
}

/// One request on a plain socket; everything that came back until the socket closed.
fn raw(addr: std::net::SocketAddr, request: &str) -> String {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn the_journal_explains_each_request() {
    let mock = with_fixtures().await;
    let addr = mock.address();
    let cookie = [("cookie", "auth_session=admin-session")];
    // A batch of queries, one of which fails: 207.
    let batch_input = r#"{"0":{"json":null},"1":{"json":{"token":"nope"}}}"#;
    let batch = format!(
        "/api/trpc/auth.get,admin.getUserByToken?batch=1&input={}",
        urlencode(batch_input)
    );
    let r = send(addr, "GET", &batch, &cookie, "").await;
    assert_eq!(r.status, 207, "{}", r.body);
    let batch_id = r.header("x-request-id").unwrap();
    let forced = send(
        addr,
        "GET",
        "/api/auth.get",
        &[("x-mock-fault", "FORBIDDEN")],
        "",
    )
    .await;
    let ok = send(addr, "GET", "/api/auth.get", &cookie, "").await;
    assert_eq!(ok.status, 200);

    let journal = control(&mock, "GET", "requests", "").await.json();
    let requests = journal["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 3);
    for (entry, answer) in requests.iter().zip([&r, &forced, &ok]) {
        assert_eq!(
            entry["seq"].to_string(),
            answer.header("x-request-id").unwrap()
        );
        assert_eq!(entry["time"], "2025-01-01T00:00:00.000Z");
        assert!(entry["wallTime"].as_str().unwrap().starts_with("20"));
        assert!(entry["durationMs"].as_f64().unwrap() >= 0.0);
    }
    let first = &requests[0];
    assert_eq!(first["seq"].to_string(), batch_id);
    assert_eq!(first["hasError"], true, "a 207 with an error inside");
    assert_eq!(first["calls"][0]["procedure"], "auth.get");
    assert_eq!(first["calls"][0]["status"], 200);
    assert_eq!(first["calls"][1]["procedure"], "admin.getUserByToken");
    assert_eq!(
        first["calls"][1]["input"],
        json!({"token": "nope"}),
        "decoded from the URL"
    );
    assert!(first["calls"][1]["status"].as_u64().unwrap() >= 400);
    assert_eq!(requests[1]["forced"], true);
    assert_eq!(requests[1]["calls"][0]["forced"], true);
    assert_eq!(requests[2]["forced"], false);
    assert_eq!(requests[2]["hasError"], false);

    let seqs = |view: Value| -> Vec<u64> {
        view["requests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["seq"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(
        seqs(
            control(&mock, "GET", "requests?error=true", "")
                .await
                .json()
        ),
        [1, 2]
    );
    assert_eq!(
        seqs(
            control(&mock, "GET", "requests?error=false", "")
                .await
                .json()
        ),
        [3]
    );
    assert_eq!(
        seqs(
            control(&mock, "GET", "requests?procedure=admin.getUserByToken", "")
                .await
                .json()
        ),
        [1]
    );
    assert_eq!(
        seqs(
            control(&mock, "GET", "requests?status=403", "")
                .await
                .json()
        ),
        [2]
    );
    assert_eq!(
        seqs(
            control(&mock, "GET", "requests?since=1&procedure=auth.get", "")
                .await
                .json()
        ),
        [2, 3]
    );
}

fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn a_request_in_flight_holds_its_place_and_number() {
    let mock = MockServer::start().await;
    let addr = mock.address();
    let slow = tokio::spawn(async move {
        send(
            addr,
            "GET",
            "/api/auth.get",
            &[("x-mock-fault", "delay=400ms")],
            "",
        )
        .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let fast = send(addr, "GET", "/api/auth.get", &[], "").await;
    assert_eq!(fast.header("x-request-id").as_deref(), Some("2"));
    let view = control(&mock, "GET", "requests", "").await.json();
    assert_eq!(
        (view["inFlight"].clone(), view["nextSeq"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(view["requests"][0]["seq"], 2);
    let slow = slow.await.unwrap();
    assert_eq!(slow.header("x-request-id").as_deref(), Some("1"));
    let view = control(&mock, "GET", "requests", "").await.json();
    assert_eq!(view["requests"][0]["seq"], 1, "listed in order of arrival");
    assert_eq!(view["nextSeq"], 3);
}

#[tokio::test]
async fn accounts_can_be_removed_logged_out_and_changed() {
    let mock = with_fixtures().await;
    let addr = mock.address();
    let dev = json!({"email": "dev@example.com"}).to_string();
    let as_dev = [("cookie", "auth_session=dev-session")];
    assert_eq!(
        send(addr, "GET", "/api/auth.get", &as_dev, "").await.status,
        200
    );
    let ended = control(&mock, "POST", "accounts/end-sessions", &dev).await;
    assert_eq!(ended.json(), json!({"ended": 1}));
    assert_eq!(
        send(addr, "GET", "/api/auth.get", &as_dev, "").await.status,
        401
    );

    // 2FA off: the password alone logs in.
    let off = control(&mock, "POST", "accounts/disable-2fa", &dev).await;
    assert_eq!(off.json(), json!({"wasOn": true}));
    let mut c = Client::new(addr);
    let login = c
        .post(
            "/api/auth.login",
            &login_body("dev@example.com", "memberpass1"),
        )
        .await;
    assert_eq!(login.status, 200);
    assert_eq!(c.get("/api/auth.get").await.json()["is2FAEnabled"], false);

    let removed = control(&mock, "DELETE", "accounts?email=Dev@example.com", "").await;
    assert_eq!(removed.json(), json!({"removed": "dev@example.com"}));
    assert_eq!(
        c.get("/api/auth.get").await.status,
        401,
        "its sessions ended"
    );
    let again = Client::new(addr)
        .post(
            "/api/auth.login",
            &login_body("dev@example.com", "memberpass1"),
        )
        .await;
    assert_ne!(again.status, 200);
    // An admin with members stays until they are gone; then self-hosted sign-up is open.
    let admin_out = control(&mock, "DELETE", "accounts?email=admin@example.com", "").await;
    assert_eq!(admin_out.status, 400);
    assert!(
        admin_out.body.contains("remove them first"),
        "{}",
        admin_out.body
    );
    control(&mock, "DELETE", "accounts?email=pending@example.com", "").await;
    assert_eq!(
        control(&mock, "DELETE", "accounts?email=admin@example.com", "")
            .await
            .status,
        200
    );
    let sign_up = Client::new(addr)
        .post(
            "/api/auth.createAdmin",
            &login_body("new@example.com", "password123"),
        )
        .await;
    assert_eq!(sign_up.status, 200, "{}", sign_up.body);
}

#[tokio::test]
async fn an_email_is_confirmed_and_waited_for() {
    let mock = MockServer::builder().mode(Mode::Cloud).start().await;
    let addr = mock.address();
    let sign_up = Client::new(addr)
        .post(
            "/api/auth.createAdmin",
            &login_body("a@example.com", "password123"),
        )
        .await;
    assert_eq!(sign_up.status, 200);
    let first = control(&mock, "GET", "outbox?to=A@example.com&wait=2s", "")
        .await
        .json();
    assert_eq!(first[0]["seq"], 1);
    let confirmed = control(
        &mock,
        "POST",
        "accounts/confirm-email",
        r#"{"email":"a@example.com"}"#,
    )
    .await;
    assert_eq!(confirmed.json(), json!({"wasUnconfirmed": true}));
    let token = first[0]["tokens"][0].as_str().unwrap();
    let spent = Client::new(addr)
        .post(
            "/api/auth.confirmEmail",
            &json!({"confirmationToken": token}).to_string(),
        )
        .await;
    assert_ne!(
        spent.status, 200,
        "the link's token is spent: {}",
        spent.body
    );

    // A reset asked for later: the outbox answers once it is sent.
    let waiting = tokio::spawn(async move {
        let headers = [("content-type", "application/json")];
        send(
            addr,
            "GET",
            "/__mock/outbox?to=a@example.com&after=1&wait=5s",
            &headers,
            "",
        )
        .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let asked = Client::new(addr)
        .post(
            "/api/auth.sendResetPasswordEmail",
            r#"{"email":"a@example.com"}"#,
        )
        .await;
    assert_eq!(asked.status, 200, "{}", asked.body);
    let waited = waiting.await.unwrap();
    assert_eq!(waited.status, 200, "{}", waited.body);
    assert_eq!(waited.json()[0]["seq"], 2);
    assert_eq!(waited.json().as_array().map(Vec::len), Some(1));
    let none = control(&mock, "GET", "outbox?to=b@example.com&wait=100ms", "").await;
    assert_eq!(none.status, 408);
    assert!(
        none.body.contains("no email to b@example.com"),
        "{}",
        none.body
    );
}

#[tokio::test]
async fn the_state_exported_loads_back_equal() {
    let mock = with_fixtures().await;
    let addr = mock.address();
    // A state made through the API too: a login, an invitation, a permission.
    let mut browser = Client::new(addr);
    browser
        .post(
            "/api/auth.login",
            &login_body("admin@example.com", "password123"),
        )
        .await;
    browser
        .post(
            "/api/admin.createUserInvitation",
            r#"{"email":"new@example.com"}"#,
        )
        .await;
    mock.advance_clock(std::time::Duration::from_secs(90));
    let user_all_before = browser.get("/api/user.all").await.json();

    let exported = control(&mock, "GET", "fixtures", "").await.json();
    let admin = &exported["admins"][0];
    assert!(admin["passwordHash"]
        .as_str()
        .unwrap()
        .starts_with("$2b$04$"));
    assert_eq!(
        admin["sessions"].as_array().map(Vec::len),
        Some(2),
        "{admin}"
    );
    assert_eq!(exported["members"].as_array().map(Vec::len), Some(3));

    let accounts_before = control(&mock, "GET", "accounts", "").await.json();
    let mut replace = exported.clone();
    replace["mode"] = "replace".into();
    let loaded = control(&mock, "POST", "fixtures", &replace.to_string()).await;
    assert_eq!(loaded.status, 200, "{}", loaded.body);
    assert_eq!(control(&mock, "GET", "fixtures", "").await.json(), exported);
    assert_eq!(
        control(&mock, "GET", "accounts", "").await.json(),
        accounts_before
    );
    // The browser's cookie still works, and the API shows the same members.
    assert_eq!(browser.get("/api/user.all").await.json(), user_all_before);
    let dev = Client::new(addr)
        .post(
            "/api/auth.login",
            &login_body("dev@example.com", "memberpass1"),
        )
        .await;
    assert_eq!(dev.status, 200);

    // Into another mock too.
    let other = MockServer::start().await;
    let headers = [("content-type", "application/json")];
    let r = send(
        other.address(),
        "POST",
        "/__mock/fixtures",
        &headers,
        &exported.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let again = send(other.address(), "GET", "/__mock/fixtures", &[], "")
        .await
        .json();
    assert_eq!(again, exported);
}

#[tokio::test]
async fn faults_match_an_input_count_always_and_break_the_connection() {
    let mock = with_fixtures().await;
    let addr = mock.address();
    let fault = r#"{"procedure": "auth.login", "error": "FORBIDDEN", "times": "always",
        "input": {"email": "dev@example.com"}}"#;
    assert_eq!(control(&mock, "POST", "faults", fault).await.status, 200);
    for _ in 0..3 {
        let r = Client::new(addr)
            .post(
                "/api/auth.login",
                &login_body("dev@example.com", "memberpass1"),
            )
            .await;
        assert_eq!(r.status, 403);
        assert_eq!(
            r.json()["message"],
            "FORBIDDEN forced by the mock (a fault armed on auth.login)"
        );
    }
    let other = Client::new(addr)
        .post(
            "/api/auth.login",
            &login_body("admin@example.com", "password123"),
        )
        .await;
    assert_eq!(other.status, 200, "another input is not matched");
    assert_eq!(
        control(&mock, "GET", "faults", "").await.json()[0]["times"],
        "always"
    );
    control(&mock, "DELETE", "faults", "").await;

    // Closed without an answer; the call did not run.
    let close = r#"{"procedure": "auth.login", "network": "close"}"#;
    control(&mock, "POST", "faults", close).await;
    let headers = [("content-type", "application/json")];
    let login = login_body("admin@example.com", "password123");
    assert!(try_send(addr, "POST", "/api/auth.login", &headers, &login)
        .await
        .is_none());
    // Half a body, then the connection ends.
    let cut = raw(
        addr,
        "GET /api/auth.get HTTP/1.1\r\nhost: x\r\ncookie: auth_session=admin-session\r\n\
         x-mock-fault: truncate\r\n\r\n",
    );
    let (head, body) = cut.split_once("\r\n\r\n").unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(body.len() < length, "{} of {length}", body.len());
    let journal = control(&mock, "GET", "requests?error=true", "")
        .await
        .json();
    let networks: Vec<&Value> = journal["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["network"])
        .collect();
    assert!(networks.contains(&&json!("closed-by-fault")), "{journal}");
    assert!(
        networks.contains(&&json!("truncated-by-fault")),
        "{journal}"
    );
}
