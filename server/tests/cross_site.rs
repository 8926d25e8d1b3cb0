//! Cross-site request refusal (contract difference 22), which depends on the
//! deployment's allowed origins and so is tested here rather than in conformance:
//! a mutation authenticated by the session cookie is refused from another site,
//! on both transports; a Bearer token alone is not a browser's ambient credential.

mod common;
use common::*;

/// A POST to `path` with the admin's cookie and these extra headers; the status.
async fn post(h: &Harness, cookie: &str, path: &str, extra: &[(&str, &str)]) -> u16 {
    let cookie = format!("auth_session={cookie}");
    let mut headers = vec![
        ("cookie", cookie.as_str()),
        ("content-type", "application/json"),
    ];
    headers.extend_from_slice(extra);
    send(h.addr(), "POST", path, &headers, "").await.status
}

#[tokio::test]
async fn a_cookie_mutation_from_another_site_is_refused_on_both_transports() {
    let h = Harness::start().await;
    let admin = h.admin().await;
    let cookie = admin.cookie.clone().unwrap();
    for path in ["/api/auth.generateToken", "/api/trpc/auth.generateToken"] {
        let evil = [("origin", "https://evil.example")];
        assert_eq!(post(&h, &cookie, path, &evil).await, 403, "{path}");
        // A sibling subdomain is same-site, not same-origin: refused unless listed.
        let sibling = [("sec-fetch-site", "same-site")];
        assert_eq!(post(&h, &cookie, path, &sibling).await, 403, "{path}");
        let sandboxed = [("origin", "null")];
        assert_eq!(post(&h, &cookie, path, &sandboxed).await, 403, "{path}");
    }
    let r = send(
        h.addr(),
        "POST",
        "/api/auth.logout",
        &[
            ("cookie", &format!("auth_session={cookie}")),
            ("content-type", "application/json"),
            ("origin", "https://evil.example"),
        ],
        "",
    )
    .await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (
            403,
            envelope("FORBIDDEN", "Cross-site request refused").as_str()
        )
    );
    let mut still = h.client();
    still.cookie = Some(cookie.clone());
    assert_eq!(
        still.get("/api/auth.get").await.status,
        200,
        "nothing ended"
    );
}

#[tokio::test]
async fn the_public_url_and_the_servers_own_host_are_allowed() {
    let h = Harness::start().await;
    let admin = h.admin().await;
    let cookie = admin.cookie.clone().unwrap();
    // The default public URL's origin.
    let listed = [
        ("origin", "http://localhost:3000"),
        ("sec-fetch-site", "same-site"),
    ];
    assert_eq!(
        post(&h, &cookie, "/api/auth.verifyToken", &listed).await,
        200
    );
    // The host the request was sent to (`send` names it in `host`).
    let own = format!("http://{}", h.addr());
    let same = [("origin", own.as_str()), ("sec-fetch-site", "same-origin")];
    assert_eq!(
        post(&h, &cookie, "/api/trpc/auth.verifyToken", &same).await,
        200
    );
    // No browser headers (curl, scripts): the JSON content type is enough.
    assert_eq!(post(&h, &cookie, "/api/auth.verifyToken", &[]).await, 200);
}

#[tokio::test]
async fn a_bearer_token_is_not_checked() {
    let h = Harness::start().await;
    let admin = h.admin().await;
    let token = new_token(&admin).await;
    let bearer = format!("Bearer {token}");
    let r = send(
        h.addr(),
        "POST",
        "/api/auth.verifyToken",
        &[
            ("authorization", &bearer),
            ("origin", "https://evil.example"),
        ],
        "",
    )
    .await;
    assert_eq!((r.status, r.body.as_str()), (200, "true"));
}

/// A request that carries the cookie is checked whatever else it carries: a Bearer
/// header (valid or not) does not switch the check off, and a bad token is not
/// followed by the cookie (difference 31).
#[tokio::test]
async fn a_bearer_header_beside_the_cookie_changes_nothing() {
    let h = Harness::start().await;
    let admin = h.admin().await;
    let cookie = format!("auth_session={}", admin.cookie.clone().unwrap());
    let token = format!("Bearer {}", new_token(&admin).await);
    for bearer in ["Bearer x", token.as_str()] {
        let r = send(
            h.addr(),
            "POST",
            "/api/auth.logout",
            &[
                ("cookie", &cookie),
                ("authorization", bearer),
                ("content-type", "text/plain"),
                ("origin", "http://evil.example"),
            ],
            "",
        )
        .await;
        assert_eq!(r.status, 415, "{bearer}: {}", r.body);
    }
    let bad_token = [("cookie", cookie.as_str()), ("authorization", "Bearer x")];
    let r = send(h.addr(), "GET", "/api/auth.get", &bad_token, "").await;
    assert_eq!(r.status, 401, "the bad token is not followed by the cookie");
    let mut still = h.client();
    still.cookie = admin.cookie.clone();
    assert_eq!(
        still.get("/api/auth.get").await.status,
        200,
        "nothing ended"
    );
}

/// `Origin` is the scheme, the host and the port: the same host and port over
/// another scheme is another origin.
#[tokio::test]
async fn an_origin_with_another_scheme_is_another_site() {
    let h = Harness::start().await;
    let admin = h.admin().await;
    let cookie = admin.cookie.clone().unwrap();
    let https = format!("https://{}", h.addr());
    let other_scheme = [("origin", https.as_str())];
    assert_eq!(
        post(&h, &cookie, "/api/auth.verifyToken", &other_scheme).await,
        403
    );
    let http = format!("http://{}", h.addr());
    let own = [("origin", http.as_str())];
    assert_eq!(post(&h, &cookie, "/api/auth.verifyToken", &own).await, 200);
}
