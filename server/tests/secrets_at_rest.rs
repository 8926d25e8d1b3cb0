//! Secrets at rest: after a session that issues every kind of secret, none of them,
//! nor any email or account id, appears anywhere in the raw bytes of the data
//! directory.

mod common;
use common::*;
use serde_json::json;
use server::core::{Config, Mode};

fn token_in(text: &str, path: &str) -> String {
    let marker = format!("{path}?token=");
    let start = text.find(&marker).expect("a link") + marker.len();
    text[start..start + 64].to_string()
}

/// Every byte of every file under `dir`.
fn all_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            bytes.extend(all_bytes(&path));
        } else if let Ok(content) = std::fs::read(&path) {
            bytes.extend(content);
        }
    }
    bytes
}

#[tokio::test]
async fn no_secret_reaches_the_data_directory() {
    let h = Harness::start_sealed(Config {
        mode: Mode::Cloud,
        public_url: "https://dokploy.example.com".into(),
        ..Config::default()
    })
    .await;
    let mut secrets: Vec<(&str, String)> = Vec::new();
    let admin_body = r#"{"email":"owner@example.com","password":"password123"}"#;

    // Sign-up and confirmation token.
    assert_eq!(
        h.client()
            .post("/api/auth.createAdmin", admin_body)
            .await
            .status,
        200
    );
    let confirmation = token_in(&h.outbox.sent.lock().unwrap()[0].text, "confirm-email");
    secrets.push(("confirmation token", confirmation.clone()));
    let r = h
        .client()
        .post(
            "/api/auth.confirmEmail",
            &json!({"confirmationToken": confirmation}).to_string(),
        )
        .await;
    assert_eq!(r.status, 200);

    // Cookie sessions and an API token.
    let mut admin = h.client();
    let r = admin.post("/api/auth.login", admin_body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    secrets.push(("session id", admin.cookie.clone().unwrap()));
    let token = admin.post_empty("/api/auth.generateToken").await.json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    secrets.push(("API token", token));

    // An invitation token.
    let r = admin
        .post(
            "/api/admin.createUserInvitation",
            r#"{"email":"dev@example.com"}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let invitation = admin.get("/api/user.all").await.json()[0]["token"]
        .as_str()
        .unwrap()
        .to_string();
    secrets.push(("invitation token", invitation));

    // A TOTP secret, enabled.
    let secret = admin.get("/api/auth.generate2FASecret").await.json()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let pin = conformance::totp::pin(&secret, h.now_secs()).unwrap();
    let r = admin
        .post(
            "/api/auth.verify2FASetup",
            &json!({"pin": pin, "secret": secret}).to_string(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    secrets.push(("TOTP secret", secret));

    // A pending reset token.
    let r = h
        .client()
        .post(
            "/api/auth.sendResetPasswordEmail",
            r#"{"email":"owner@example.com"}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let reset = token_in(
        &h.outbox.sent.lock().unwrap().last().unwrap().text,
        "reset-password",
    );
    secrets.push(("reset token", reset));

    // Everything durable, then read the files as an attacker with a copy would.
    h.store.flush_blocking().unwrap();
    let raw = all_bytes(&h.dir.path().join("data"));
    assert!(raw.len() > 1000, "the data directory holds the data");
    for (what, secret) in &secrets {
        for form in [secret.clone(), secret.to_uppercase(), secret.to_lowercase()] {
            assert!(
                !raw.windows(form.len()).any(|w| w == form.as_bytes()),
                "the {what} appears in the data directory"
            );
        }
    }
    // Nor does an email or an account id, in a key or anywhere else.
    let member = &admin.get("/api/user.all").await.json()[0];
    let mut names = vec![
        "owner@example.com".to_string(),
        "dev@example.com".to_string(),
    ];
    for id in [
        admin.get("/api/auth.get").await.json()["id"].clone(),
        member["authId"].clone(),
        member["userId"].clone(),
        member["adminId"].clone(),
    ] {
        names.push(id.as_str().unwrap().to_string());
    }
    for name in &names {
        assert!(
            !raw.windows(name.len()).any(|w| w == name.as_bytes()),
            "{name} appears in the data directory"
        );
    }
    // The digest of a session id (one-way, kept in keys) is there, so the search
    // itself can find things.
    let digest = server::crypto::digest(&admin.cookie.clone().unwrap());
    assert!(raw.windows(64).any(|w| w == digest.as_bytes()));
}
