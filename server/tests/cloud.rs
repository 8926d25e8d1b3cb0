//! Cloud mode's core logic with a captured outbox (SMTP itself is issue 4's).

mod common;
use common::*;
use serde_json::json;
use server::core::{Config, Mode};
use std::sync::atomic::Ordering;

async fn cloud() -> Harness {
    let config = Config {
        mode: Mode::Cloud,
        public_url: "https://dokploy.example.com/".into(),
        ..Config::default()
    };
    Harness::start_with(config, Default::default()).await
}

fn token_in(link_text: &str, path: &str) -> String {
    let start = link_text
        .find(&format!("https://dokploy.example.com/{path}?token="))
        .expect("a link")
        + path.len()
        + 35;
    link_text[start..start + 64].to_string()
}

const ADMIN: &str = r#"{"email":"Owner@Example.com","password":"password123"}"#;

#[tokio::test]
async fn sign_up_confirm_and_log_in() {
    let h = cloud().await;
    let r = h.client().post("/api/auth.createAdmin", ADMIN).await;
    assert_eq!(
        (r.status, r.body.as_str(), r.set_cookie()),
        (200, "true", None)
    );
    let r = h.client().post("/api/auth.createAdmin", ADMIN).await;
    assert_eq!(
        (r.status, r.body.clone()),
        (400, envelope("BAD_REQUEST", "Email already in use"))
    );
    let mail = h.outbox.sent.lock().unwrap()[0].clone();
    assert_eq!(mail.to, "owner@example.com");
    let token = token_in(&mail.text, "confirm-email");
    assert!(mail.html.contains(&token));

    // Unconfirmed: login re-sends with a new token, the old one is replaced.
    let r = h.client().post("/api/auth.login", ADMIN).await;
    assert_eq!(r.json()["message"], "Error: Email not confirmed, we have sent you a confirmation email please check your inbox.");
    let resent = token_in(&h.outbox.sent.lock().unwrap()[1].text, "confirm-email");
    assert_ne!(resent, token);
    let r = h
        .client()
        .post(
            "/api/auth.confirmEmail",
            &json!({"confirmationToken": token}).to_string(),
        )
        .await;
    assert_eq!(
        (r.status, r.body.clone()),
        (404, envelope("NOT_FOUND", "Token not found"))
    );
    let r = h
        .client()
        .post(
            "/api/auth.confirmEmail",
            &json!({"confirmationToken": resent}).to_string(),
        )
        .await;
    assert_eq!((r.status, r.body.as_str()), (200, "true"));
    let r = h
        .client()
        .post(
            "/api/auth.confirmEmail",
            &json!({"confirmationToken": resent}).to_string(),
        )
        .await;
    assert_eq!(r.status, 404, "single use");
    let r = h.client().post("/api/auth.login", ADMIN).await;
    assert_eq!(r.status, 200);
    // Many admins in cloud mode.
    let r = h
        .client()
        .post(
            "/api/auth.createAdmin",
            r#"{"email":"second@example.com","password":"password123"}"#,
        )
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn confirmation_expires() {
    let h = cloud().await;
    h.client().post("/api/auth.createAdmin", ADMIN).await;
    let token = token_in(&h.outbox.sent.lock().unwrap()[0].text, "confirm-email");
    h.clock.advance(24 * HOUR + 1000);
    let r = h
        .client()
        .post(
            "/api/auth.confirmEmail",
            &json!({"confirmationToken": token}).to_string(),
        )
        .await;
    assert_eq!(
        (r.status, r.body.clone()),
        (404, envelope("NOT_FOUND", "Confirmation Token expired"))
    );
}

#[tokio::test]
async fn password_reset() {
    let h = cloud().await;
    h.client().post("/api/auth.createAdmin", ADMIN).await;
    let confirm = token_in(&h.outbox.sent.lock().unwrap()[0].text, "confirm-email");
    h.client()
        .post(
            "/api/auth.confirmEmail",
            &json!({"confirmationToken": confirm}).to_string(),
        )
        .await;
    let mut session = h.client();
    session.post("/api/auth.login", ADMIN).await;

    let r = h
        .client()
        .post(
            "/api/auth.sendResetPasswordEmail",
            r#"{"email":"nobody@example.com"}"#,
        )
        .await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, ""),
        "unknown emails get the same answer"
    );
    assert_eq!(h.outbox.sent.lock().unwrap().len(), 1, "and no email");
    let r = h
        .client()
        .post(
            "/api/auth.sendResetPasswordEmail",
            r#"{"email":"owner@example.com"}"#,
        )
        .await;
    assert_eq!((r.status, r.body.as_str()), (200, ""));
    let token = token_in(&h.outbox.sent.lock().unwrap()[1].text, "reset-password");
    let me = session.get("/api/auth.get").await.json();
    assert!(me["resetPasswordExpiresAt"].is_string());
    assert_eq!(me["resetPasswordToken"], serde_json::Value::Null);

    let reset = json!({"resetPasswordToken": token, "password": "brandnew123"}).to_string();
    let r = h.client().post("/api/auth.resetPassword", &reset).await;
    assert_eq!((r.status, r.body.as_str()), (200, "true"));
    assert_eq!(
        session.get("/api/auth.get").await.status,
        401,
        "every session ended"
    );
    let r = h.client().post("/api/auth.resetPassword", &reset).await;
    assert_eq!(
        (r.status, r.body.clone()),
        (404, envelope("NOT_FOUND", "Token not found")),
        "single use"
    );
    let r = h
        .client()
        .post(
            "/api/auth.login",
            r#"{"email":"owner@example.com","password":"brandnew123"}"#,
        )
        .await;
    assert_eq!(r.status, 200);

    h.client()
        .post(
            "/api/auth.sendResetPasswordEmail",
            r#"{"email":"owner@example.com"}"#,
        )
        .await;
    let late = token_in(&h.outbox.sent.lock().unwrap()[2].text, "reset-password");
    h.clock.advance(24 * HOUR + 1000);
    let r = h
        .client()
        .post(
            "/api/auth.resetPassword",
            &json!({"resetPasswordToken": late, "password": "another123"}).to_string(),
        )
        .await;
    assert_eq!(
        (r.status, r.body.clone()),
        (404, envelope("NOT_FOUND", "Token expired"))
    );
}

#[tokio::test]
async fn a_failing_mail_server_is_a_clear_error_and_can_be_retried() {
    let h = cloud().await;
    h.outbox.failing.store(true, Ordering::SeqCst);
    let r = h.client().post("/api/auth.createAdmin", ADMIN).await;
    assert_eq!(
        (r.status, r.body.clone()),
        (
            500,
            envelope(
                "INTERNAL_SERVER_ERROR",
                "The email could not be sent, please try again later"
            )
        )
    );
    h.outbox.failing.store(false, Ordering::SeqCst);
    // The account exists; logging in sends the confirmation again.
    let r = h.client().post("/api/auth.login", ADMIN).await;
    assert_eq!(r.json()["message"], "Error: Email not confirmed, we have sent you a confirmation email please check your inbox.");
    assert_eq!(h.outbox.sent.lock().unwrap().len(), 1);
}
