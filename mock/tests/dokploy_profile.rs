//! The mock's `dokploy-0.14` profile, where the conformance suite's Dokploy profile
//! does not look: REST with a session, tRPC bodies past the contract's limit, cloud
//! mode's reset for an unknown email, and the contract profile left untouched.

use conformance::client::{send, Client, Transport};
use mock::{MockServer, Mode};
use specs::messages as msg;
use specs::Profile;

const ADMIN: &str = r#"{"email":"admin@example.com","password":"password123"}"#;
const JSON: [(&str, &str); 1] = [("content-type", "application/json")];

async fn dokploy(mode: Mode) -> MockServer {
    MockServer::builder()
        .profile(Profile::Dokploy014)
        .mode(mode)
        .start()
        .await
}

#[tokio::test]
async fn rest_works_behind_the_gate_with_a_session() {
    let mock = dokploy(Mode::SelfHosted).await;
    let addr = mock.address();
    let r = send(addr, "POST", "/api/auth.createAdmin", &JSON, ADMIN).await;
    assert_eq!((r.status, r.body.as_str()), (401, msg::dokploy::GATE));
    // Sign-up over tRPC, as Dokploy's frontend does; then REST with the cookie.
    let mut admin = Client::new(addr).over(Transport::Trpc);
    assert_eq!(admin.post("/api/auth.createAdmin", ADMIN).await.status, 200);
    let cookie = format!("auth_session={}", admin.cookie.clone().unwrap());
    let r = send(addr, "GET", "/api/auth.get", &[("cookie", &cookie)], "").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["email"], "admin@example.com");
    // The gate slides nothing itself: the call behind it extends the session and
    // sends the cookie again.
    mock.advance_clock(std::time::Duration::from_secs(13 * 3600));
    let r = send(addr, "GET", "/api/auth.get", &[("cookie", &cookie)], "").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.set_cookie().is_some_and(|c| c.contains("Max-Age=86400")),
        "{:?}",
        r.set_cookie()
    );
    // HEAD passes the gate with it.
    let r = send(addr, "HEAD", "/api/auth.get", &[("cookie", &cookie)], "").await;
    assert_eq!(r.status, 204);
    // A dead session is no session.
    let r = send(
        addr,
        "GET",
        "/api/auth.get",
        &[("cookie", "auth_session=x")],
        "",
    )
    .await;
    assert_eq!((r.status, r.body.as_str()), (401, msg::dokploy::GATE));
}

#[tokio::test]
async fn trpc_reads_bodies_past_the_contracts_limit_whatever_their_type() {
    let mock = dokploy(Mode::SelfHosted).await;
    let big = format!(
        r#"{{"json":{{"email":"admin@example.com","password":"password123","pad":"{}"}}}}"#,
        "x".repeat(2_000_000)
    );
    let plain = [("content-type", "text/plain")];
    let r = send(
        mock.address(),
        "POST",
        "/api/trpc/auth.createAdmin",
        &plain,
        &big,
    )
    .await;
    assert_eq!(r.status, 200, "{}", &r.body[..r.body.len().min(300)]);
    // The contract's mock refuses both the type and the size.
    let contract = MockServer::start().await;
    let r = send(
        contract.address(),
        "POST",
        "/api/trpc/auth.createAdmin",
        &plain,
        &big,
    )
    .await;
    assert_eq!(r.status, 415);
}

#[tokio::test]
async fn a_reset_for_an_unknown_email_says_so_in_cloud_mode() {
    let mock = dokploy(Mode::Cloud).await;
    let mut client = Client::new(mock.address()).over(Transport::Trpc);
    let r = client
        .post(
            "/api/auth.sendResetPasswordEmail",
            r#"{"email":"nobody@example.com"}"#,
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(r.body.contains(msg::USER_NOT_FOUND), "{}", r.body);
    assert!(mock.outbox().is_empty());
}

#[tokio::test]
async fn the_default_profile_is_the_contract() {
    let mock = MockServer::start().await;
    assert_eq!(mock.state().core.config().profile, Profile::Contract);
    let r = send(
        mock.address(),
        "POST",
        "/api/auth.createAdmin",
        &JSON,
        ADMIN,
    )
    .await;
    assert_eq!((r.status, r.body.as_str()), (200, "true"));
}

/// The binary: `--profile dokploy-0.14` (or `MOCK_PROFILE`) starts the Dokploy
/// profile; an unknown profile is refused with the names that exist.
#[tokio::test]
async fn the_binary_takes_the_profile_from_its_flag_or_environment() {
    let bin = env!("CARGO_BIN_EXE_dokploy-auth-mock");
    let bad = std::process::Command::new(bin)
        .args(["--profile", "dokploy"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("contract or dokploy-0.14"), "{stderr}");

    for by_env in [false, true] {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut command = tokio::process::Command::new(bin);
        command.args(["--listen", &format!("127.0.0.1:{port}")]);
        if by_env {
            command.env("MOCK_PROFILE", "dokploy-0.14");
        } else {
            command.args(["--profile", "dokploy-0.14"]);
        }
        let _child = command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut answer = None;
        for _ in 0..500 {
            answer = conformance::client::try_send(addr, "GET", "/api/auth.get", &[], "").await;
            if answer.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let r = answer.expect("the mock answers");
        assert_eq!((r.status, r.body.as_str()), (401, msg::dokploy::GATE));
    }
}

/// The binary's first line on standard output says where it listens, as JSON (logs
/// go to standard error): started on port 0, a test runner reads its address there.
#[tokio::test]
async fn the_binary_says_where_it_listens_on_its_first_line() {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_dokploy-auth-mock"))
        .args(["--listen", "127.0.0.1:0", "--seed", "42"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next_line().await.unwrap().expect("a ready line");
    let ready: serde_json::Value = serde_json::from_str(&first).unwrap();
    let url = ready["url"].as_str().unwrap();
    assert!(
        url.starts_with("http://127.0.0.1:") && !url.ends_with(":0"),
        "{first}"
    );
    assert_eq!(ready["inspector"], format!("{url}/__mock/"));
    assert_eq!(ready["seed"], 42);
    let addr = url.trim_start_matches("http://").parse().unwrap();
    let r = conformance::client::send(addr, "GET", "/health", &[], "").await;
    assert_eq!(r.status, 200);
}

/// A tRPC answer's data.
fn data(r: conformance::client::Resp) -> serde_json::Value {
    r.json()["result"]["data"]["json"].clone()
}

/// What the second run of a real Dokploy v0.14.0 measured (the reference's §6b),
/// where the suite does not look: `user.all`'s rows, `expirationDate`'s format, the
/// refusals' messages, and API tokens sliding.
#[tokio::test]
async fn what_the_second_run_of_dokploy_measured() {
    let mock = dokploy(Mode::SelfHosted).await;
    let addr = mock.address();
    let trpc = |client: Client| client.over(Transport::Trpc);
    let mut admin = trpc(Client::new(addr));
    assert_eq!(admin.post("/api/auth.createAdmin", ADMIN).await.status, 200);
    let invite = r#"{"email":"dev@example.com"}"#;
    assert_eq!(
        admin
            .post("/api/admin.createUserInvitation", invite)
            .await
            .status,
        200
    );
    let all = data(admin.get("/api/user.all").await);
    let member = &all[0];
    // `expirationDate` as PostgreSQL prints a timestamp without zone.
    let expiry = member["expirationDate"]
        .as_str()
        .unwrap_or_else(|| panic!("{all}"));
    assert_eq!(expiry, "2025-01-02 00:00:00", "{member}");
    // The row as stored: a `password` key (null until accepted), no `secret` key.
    let auth = member["auth"].as_object().unwrap();
    assert!(
        auth.contains_key("password") && !auth.contains_key("secret"),
        "{member}"
    );
    let keys: Vec<&str> = auth.keys().map(String::as_str).take(4).collect();
    assert_eq!(keys, ["id", "email", "password", "rol"]);

    // An accepted invitation used again.
    let token = member["token"].as_str().unwrap();
    let accept =
        serde_json::json!({"token": token, "id": member["authId"], "password": "memberpass1"});
    assert_eq!(
        trpc(Client::new(addr))
            .post("/api/auth.createUser", &accept.to_string())
            .await
            .status,
        200
    );
    let again = trpc(Client::new(addr))
        .post("/api/auth.createUser", &accept.to_string())
        .await;
    assert_eq!(again.status, 400);
    assert!(
        again.body.contains(msg::dokploy::CREATE_USER),
        "{}",
        again.body
    );
    let all = data(admin.get("/api/user.all").await);
    assert!(
        all[0]["auth"]["password"]
            .as_str()
            .unwrap()
            .starts_with("$2b$"),
        "{all}"
    );

    // An unknown id at the pin step; a self-hosted reset with a 1-character password.
    let pin = r#"{"id":"nobody","pin":"123456"}"#;
    let r = trpc(Client::new(addr))
        .post("/api/auth.verifyLogin2FA", pin)
        .await;
    assert_eq!(r.status, 404);
    assert!(r.body.contains(msg::AUTH_NOT_FOUND), "{}", r.body);
    let reset = r#"{"resetPasswordToken":"x","password":"a"}"#;
    let r = trpc(Client::new(addr))
        .post("/api/auth.resetPassword", reset)
        .await;
    assert_eq!(r.status, 404, "the mode is checked first: {}", r.body);

    // An API token slides to 365 days once fewer than 182.5 remain.
    let token = admin.post_empty("/api/auth.generateToken").await;
    assert_eq!(token.status, 200);
    let token = data(admin.get("/api/auth.get").await)["token"]
        .as_str()
        .unwrap()
        .to_string();
    let mut cli = trpc(Client::new(addr)).with_bearer(&token);
    mock.advance_clock(std::time::Duration::from_secs(265 * 86_400));
    assert_eq!(cli.get("/api/auth.get").await.status, 200, "100 days left");
    mock.advance_clock(std::time::Duration::from_secs(300 * 86_400));
    assert_eq!(
        cli.get("/api/auth.get").await.status,
        200,
        "slid to 365 days at 100 left"
    );
}
