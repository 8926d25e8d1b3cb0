//! Sessions beyond what the wire shows: the `Secure` flag a configuration adds, what
//! is stored, and the authentication cache. The rules of §2 on the wire are
//! conformance checks (`conformance/src/checks/sessions.rs`).

mod common;
use common::*;

#[tokio::test]
async fn secure_cookie_when_configured() {
    let config = server::core::Config {
        cookie_secure: true,
        ..Default::default()
    };
    let h = Harness::start_with(config, Default::default()).await;
    let r = h
        .client()
        .post(
            "/api/auth.createAdmin",
            r#"{"email":"a@example.com","password":"password123"}"#,
        )
        .await;
    assert!(r
        .set_cookie()
        .unwrap()
        .ends_with("; Path=/; SameSite=Lax; Secure"));
}

#[tokio::test]
async fn session_ids_are_not_stored() {
    let h = Harness::start().await;
    let mut admin = h.admin().await;
    let cookie = admin.cookie.clone().unwrap();
    admin.post_empty("/api/auth.generateToken").await;
    h.store.flush_blocking().unwrap();
    for (key, value) in h.store.export().unwrap() {
        let key = String::from_utf8_lossy(&key);
        let value = String::from_utf8_lossy(&value);
        assert!(
            !key.contains(&cookie) && !value.contains(&cookie),
            "session id stored in {key}"
        );
    }
}

/// Authentication is served from a cache of decoded sessions: every credential that
/// was just used (so is cached) must stop working the moment a write ends it.
#[tokio::test]
async fn credentials_just_used_end_at_once() {
    let h = Harness::start().await;
    let mut admin = h.admin().await;
    let get = |client: &Client| {
        let mut client = client.clone();
        async move { client.get("/api/auth.get").await.status }
    };

    // A replaced API token (clients with the token only: no cookie to fall back on).
    let first = h.client().with_bearer(&new_token(&admin).await);
    assert_eq!(get(&first).await, 200);
    let second = h.client().with_bearer(&new_token(&admin).await);
    assert_eq!(get(&first).await, 401, "the replaced token still worked");
    assert_eq!(get(&second).await, 200);

    // A logged-out cookie session.
    let mut other = h.admin_login().await;
    assert_eq!(get(&other).await, 200);
    let kept = other.clone();
    assert_eq!(other.post_empty("/api/auth.logout").await.status, 200);
    assert_eq!(get(&kept).await, 401, "the logged-out session still worked");

    // Another cookie session after a password change.
    let third = h.admin_login().await;
    assert_eq!(get(&third).await, 200);
    let r = admin
        .post(
            "/api/auth.update",
            r#"{"email":null,"password":"newpassword1"}"#,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(get(&third).await, 401, "a session older than the password");

    // A removed member, by cookie and by token.
    let (member, member_id) = h.member(&mut admin, "member@example.com").await;
    let member_token = h.client().with_bearer(&new_token(&member).await);
    assert_eq!(get(&member).await, 200);
    assert_eq!(get(&member_token).await, 200);
    let r = admin
        .post(
            "/api/admin.removeUser",
            &serde_json::json!({ "authId": member_id }).to_string(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(get(&member).await, 401, "a removed member's cookie");
    assert_eq!(get(&member_token).await, 401, "a removed member's token");
}

/// A script that logs in again and again makes no more than the limit of sessions:
/// the oldest end first; the API token stays.
#[tokio::test]
async fn an_account_keeps_at_most_its_limit_of_sessions() {
    let config = server::core::Config {
        max_sessions_per_account: 10,
        ..Default::default()
    };
    let h = Harness::start_with(config, Default::default()).await;
    let mut admin = h.admin().await;
    let token = h.client().with_bearer(&new_token(&admin).await);
    let credentials = r#"{"email":"admin@example.com","password":"password123"}"#;
    let mut browsers = Vec::new();
    for _ in 0..15 {
        h.clock.advance(1000);
        let mut browser = h.client();
        assert_eq!(
            browser.post("/api/auth.login", credentials).await.status,
            200
        );
        browsers.push(browser);
    }
    let listed = admin.get("/api/auth.listSessions").await;
    assert_eq!(
        admin.get("/api/auth.get").await.status,
        401,
        "the first session ended"
    );
    let sessions = browsers[14].get("/api/auth.listSessions").await.json();
    let cookies = sessions
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "cookie")
        .count();
    assert_eq!(cookies, 10, "{sessions} {}", listed.body);
    for (n, browser) in browsers.iter_mut().enumerate() {
        let expected = if n < 5 { 401 } else { 200 };
        assert_eq!(
            browser.get("/api/auth.get").await.status,
            expected,
            "login {n}"
        );
    }
    let mut token = token;
    assert_eq!(
        token.get("/api/auth.get").await.status,
        200,
        "the API token stays"
    );
}

/// Sessions nobody presents again are removed by the sweep, not kept for ever.
#[tokio::test]
async fn expired_sessions_are_swept() {
    let h = Harness::start().await;
    let admin = h.admin().await;
    let _token = new_token(&admin).await;
    let credentials = r#"{"email":"admin@example.com","password":"password123"}"#;
    for _ in 0..3 {
        h.client().post("/api/auth.login", credentials).await;
    }
    let core = &h.running.core;
    assert_eq!(
        core.sweep_expired_sessions().unwrap(),
        0,
        "none expired yet"
    );
    h.clock.advance(2 * 24 * HOUR);
    assert_eq!(
        core.sweep_expired_sessions().unwrap(),
        4,
        "the four cookie sessions"
    );
    h.store.flush_blocking().unwrap();
    let left = h
        .store
        .export()
        .unwrap()
        .into_iter()
        .filter(|(key, _)| key.starts_with(b"session/"))
        .count();
    assert_eq!(left, 1, "only the API token's session is left");
}
