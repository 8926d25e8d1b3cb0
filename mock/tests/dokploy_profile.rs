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
