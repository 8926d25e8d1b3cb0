//! Cloud mode with a mail server that fails: what the conformance suite cannot
//! arrange from outside. Sign-up, confirmation and reset by email are conformance
//! checks (`conformance/src/checks/cloud.rs`), run against this server and the mock.

mod common;
use common::*;
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

const ADMIN: &str = r#"{"email":"Owner@Example.com","password":"password123"}"#;

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

/// Every sign-up and reset request counts against its address (each sends a mail),
/// so nobody floods mailboxes or tries email after email.
#[tokio::test]
async fn mail_requests_are_counted_per_address() {
    let h = cloud().await;
    for n in 0..20 {
        let body = format!(r#"{{"email":"person{n}@example.com"}}"#);
        let r = h
            .client()
            .post("/api/auth.sendResetPasswordEmail", &body)
            .await;
        assert_eq!(r.status, 200, "request {n}");
    }
    let r = h.client().post("/api/auth.createAdmin", ADMIN).await;
    assert_eq!(r.status, 429, "sign-ups count with reset requests");
    assert!(r.header("retry-after").is_some());
}

/// The reset answer comes before any mail work: with a mail server that accepts the
/// connection and never speaks, a known email is answered at once, like an unknown
/// one, and not after the SMTP timeout.
#[tokio::test]
async fn the_reset_answer_does_not_wait_for_the_mail() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let smtp_port = silent.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            open.push(stream);
        }
    });
    let mailer = server::mail::SmtpMailer::new(&server::mail::SmtpSettings {
        host: "127.0.0.1".into(),
        port: smtp_port,
        username: None,
        password: None,
        from: "no-reply@example.com".into(),
        security: server::mail::Security::Plain,
        timeout: std::time::Duration::from_secs(20),
    })
    .unwrap();
    let config = Config {
        mode: Mode::Cloud,
        ..Config::default()
    };
    let store = std::sync::Arc::new(server::storage::MemoryStore::new());
    let deps = server::core::Deps {
        store: store.clone(),
        clock: std::sync::Arc::new(server::time::SystemClock),
        random: std::sync::Arc::new(server::crypto::OsRandom::new()),
        hasher: std::sync::Arc::new(server::hashing::Bcrypt::new(4)),
        mailer: std::sync::Arc::new(mailer),
        notifier: std::sync::Arc::new(server::core::ports::NoNotifier),
    };
    let core = server::core::Core::new(deps, config).await.unwrap();
    // An account exists (made directly: its sign-up mail would wait too).
    let seed = serde_json::from_value(serde_json::json!({
        "admins": [{"email": "owner@example.com", "password": "password123"}]
    }))
    .unwrap();
    core.load_fixtures(&seed).await.unwrap();
    let reset = |email: &str| server::core::Call {
        procedure: specs::find("auth.sendResetPasswordEmail").unwrap(),
        input: Some(serde_json::json!({ "email": email })),
        credentials: Default::default(),
        client: None,
        user_agent: None,
    };
    for email in ["owner@example.com", "nobody@example.com"] {
        let asked = std::time::Instant::now();
        let reply = core.call(reset(email)).await;
        assert_eq!(reply.result.unwrap(), None, "{email}: the empty answer");
        assert!(
            asked.elapsed() < std::time::Duration::from_secs(10),
            "{email} waited for the mail server"
        );
    }
    held.abort();
}
