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
