//! Sessions and credentials (§2 of the contract).

mod common;
use common::*;

const BLANK: &str = "auth_session=; HttpOnly; Max-Age=0; Path=/; SameSite=Lax";

#[tokio::test]
async fn the_session_cookie_byte_for_byte() {
    let h = Harness::start().await;
    let r = h
        .client()
        .post(
            "/api/auth.createAdmin",
            r#"{"email":"Admin@Example.com","password":"password123"}"#,
        )
        .await;
    assert_eq!((r.status, r.body.as_str()), (200, "true"));
    let cookie = r.set_cookie().unwrap();
    let id = r.session_id().unwrap();
    assert_eq!(
        cookie,
        format!("auth_session={id}; HttpOnly; Max-Age=86400; Path=/; SameSite=Lax")
    );
    assert_eq!(id.len(), 40);
    assert!(id
        .bytes()
        .all(|c| c.is_ascii_lowercase() || (b'2'..=b'7').contains(&c)));
    let r = send(
        h.addr(),
        "GET",
        "/api/auth.get",
        &[("cookie", &format!("theme=dark; auth_session={id}"))],
        "",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["email"], "admin@example.com");
    assert_eq!(r.set_cookie(), None, "a fresh session is not sent again");
}

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
async fn unknown_cookie_gets_the_blank_cookie() {
    let h = Harness::start().await;
    let r = send(
        h.addr(),
        "GET",
        "/api/auth.get",
        &[("cookie", "auth_session=doesnotexist")],
        "",
    )
    .await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (401, envelope("UNAUTHORIZED", "UNAUTHORIZED").as_str())
    );
    assert_eq!(r.set_cookie().as_deref(), Some(BLANK));
    // Also on public procedures.
    let r = send(
        h.addr(),
        "GET",
        "/api/admin.getUserByToken?token=x",
        &[("cookie", "auth_session=nope")],
        "",
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.set_cookie().as_deref(), Some(BLANK));
}

#[tokio::test]
async fn cookie_sessions_slide() {
    let h = Harness::start().await;
    let mut admin = h.admin().await;
    let id = admin.cookie.clone().unwrap();
    h.clock.advance(11 * HOUR);
    let r = admin.get("/api/auth.get").await;
    assert_eq!(
        (r.status, r.set_cookie()),
        (200, None),
        "13 h left: not extended"
    );
    h.clock.advance(HOUR + 1);
    let r = admin.get("/api/auth.get").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.set_cookie().unwrap(),
        format!("auth_session={id}; HttpOnly; Max-Age=86400; Path=/; SameSite=Lax")
    );
    // Extended to a full day from now: alive 23 h later, dead a day and a bit later.
    h.clock.advance(23 * HOUR);
    assert_eq!(admin.get("/api/auth.get").await.status, 200);
    h.clock.advance(25 * HOUR);
    let r = admin.get("/api/auth.get").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.set_cookie().as_deref(), Some(BLANK));
}

#[tokio::test]
async fn api_tokens_last_a_year_and_do_not_slide() {
    let h = Harness::start().await;
    let mut admin = h.admin().await;
    let r = admin.post_empty("/api/auth.generateToken").await;
    let token = r.json()["token"].as_str().unwrap().to_string();
    assert_eq!(token.len(), 40);
    let mut api = admin.with_bearer(&token);
    h.clock.advance(364 * 24 * HOUR);
    let r = api.get("/api/auth.get").await;
    assert_eq!((r.status, r.set_cookie()), (200, None));
    assert_eq!(r.json()["token"], token.as_str());
    h.clock.advance(24 * HOUR + 1);
    assert_eq!(api.get("/api/auth.get").await.status, 401);
}

#[tokio::test]
async fn bearer_rules() {
    let h = Harness::start().await;
    let mut admin = h.admin().await;
    let token = admin.post_empty("/api/auth.generateToken").await.json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let addr = h.addr();
    let get = |auth: String| async move {
        send(
            addr,
            "GET",
            "/api/auth.get",
            &[("authorization", &auth)],
            "",
        )
        .await
    };
    assert_eq!(get(format!("Bearer {token}")).await.status, 200);
    assert_eq!(
        get(format!("bearer {token}")).await.status,
        401,
        "the scheme is case-sensitive"
    );
    assert_eq!(
        get(format!("Bearer  {token}")).await.status,
        401,
        "the token is the text after the first space"
    );
    assert_eq!(get(token.clone()).await.status, 401);
    // Bearer first, then the cookie: a bad token falls back to a good cookie.
    let cookie = format!("auth_session={}", admin.cookie.clone().unwrap());
    let r = send(
        h.addr(),
        "GET",
        "/api/auth.get",
        &[("authorization", "Bearer wrong"), ("cookie", &cookie)],
        "",
    )
    .await;
    assert_eq!(r.status, 200);
    // Any session id works as a Bearer token.
    let r = send(
        h.addr(),
        "GET",
        "/api/auth.get",
        &[(
            "authorization",
            &format!("Bearer {}", admin.cookie.clone().unwrap()),
        )],
        "",
    )
    .await;
    assert_eq!(r.status, 200);
    // Public procedures accept and ignore a session.
    let r = send(
        h.addr(),
        "POST",
        "/api/auth.login",
        &[
            ("authorization", "Bearer whatever"),
            ("content-type", "application/json"),
        ],
        r#"{"email":"admin@example.com","password":"password123"}"#,
    )
    .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn logout_ends_the_cookie_session_only() {
    let h = Harness::start().await;
    let mut admin = h.admin().await;
    let token = admin.post_empty("/api/auth.generateToken").await.json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = admin
        .with_bearer(&token)
        .post_empty("/api/auth.logout")
        .await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, "false"),
        "a Bearer-only logout ends nothing"
    );
    let old_cookie = admin.cookie.clone().unwrap();
    let r = admin.post_empty("/api/auth.logout").await;
    assert_eq!((r.status, r.body.as_str()), (200, "true"));
    assert_eq!(r.set_cookie().as_deref(), Some(BLANK));
    let r = send(
        h.addr(),
        "GET",
        "/api/auth.get",
        &[("cookie", &format!("auth_session={old_cookie}"))],
        "",
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(
        admin.with_bearer(&token).get("/api/auth.get").await.status,
        200,
        "the API token lives on"
    );
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
