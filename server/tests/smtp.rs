//! Cloud mode over real SMTP (lettre, to an SMTP server these tests run) and the
//! sign-up webhook (checked against wiremock).

mod common;
use common::*;
use conformance::smtp::{unfold, SmtpSink};
use serde_json::{json, Value};
use server::core::{Config, Deps, Mode};
use server::mail::{Security, SmtpMailer, SmtpSettings};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn token_after(message: &str, marker: &str) -> String {
    conformance::smtp::token_after(&[message.to_string()], marker)
        .unwrap_or_else(|| panic!("no {marker} in {}", unfold(message)))
}

/// A cloud-mode server sending through SMTP on `smtp_port`; its data directory lives
/// as long as the returned guard.
async fn cloud_server(
    smtp_port: u16,
    webhook: Option<String>,
) -> (server::app::Running, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mailer = SmtpMailer::new(&SmtpSettings {
        host: "127.0.0.1".into(),
        port: smtp_port,
        username: None,
        password: None,
        from: "Dokploy <no-reply@example.com>".into(),
        security: Security::Plain,
        timeout: Duration::from_secs(5),
    })
    .unwrap();
    let notifier: Arc<dyn server::core::ports::Notifier> = match webhook {
        Some(url) => Arc::new(server::webhook::DiscordWebhook::new(&url).unwrap()),
        None => Arc::new(server::core::ports::NoNotifier),
    };
    let deps = Deps {
        store: Arc::new(server::storage::SledStore::open(dir.path()).unwrap()),
        clock: Arc::new(server::time::SystemClock),
        random: Arc::new(server::crypto::OsRandom::new()),
        hasher: Arc::new(server::hashing::Bcrypt::new(4)),
        mailer: Arc::new(mailer),
        notifier,
    };
    let config = Config {
        mode: Mode::Cloud,
        public_url: "https://dokploy.example.com".into(),
        ..Config::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    (
        server::app::start(listener, deps, config, Default::default())
            .await
            .unwrap(),
        dir,
    )
}

const ADMIN: &str = r#"{"email":"owner@example.com","password":"password123"}"#;

#[tokio::test]
async fn confirmation_and_reset_by_real_email() {
    let sink = SmtpSink::start().await.unwrap();
    let (server, _dir) = cloud_server(sink.addr.port(), None).await;
    let r = Client::new(server.addr)
        .post("/api/auth.createAdmin", ADMIN)
        .await;
    assert_eq!((r.status, r.body.as_str()), (200, "true"));
    assert!(r.set_cookie().is_none());

    let message = sink.messages()[0].clone();
    assert!(message.contains("To: owner@example.com"), "{message}");
    assert!(
        message.contains("Subject: Confirm your email address"),
        "{message}"
    );
    assert!(message.contains("multipart/alternative"), "{message}");
    assert!(
        message.contains("text/plain") && message.contains("text/html"),
        "{message}"
    );
    let token = token_after(&message, "https://dokploy.example.com/confirm-email?token=");
    assert!(
        unfold(&message).contains(&format!(
            "href=\"https://dokploy.example.com/confirm-email?token={token}\""
        )),
        "the HTML part carries the link"
    );

    let confirm = json!({"confirmationToken": token}).to_string();
    assert_eq!(
        post_status(server.addr, "/api/auth.confirmEmail", &confirm).await,
        200
    );
    assert_eq!(
        post_status(server.addr, "/api/auth.login", ADMIN).await,
        200
    );

    let r = Client::new(server.addr)
        .post(
            "/api/auth.sendResetPasswordEmail",
            r#"{"email":"owner@example.com"}"#,
        )
        .await;
    assert_eq!(r.status, 200);
    // The reset mail goes after the answer.
    let deadline = Instant::now() + Duration::from_secs(5);
    while sink.messages().len() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let message = sink.messages()[1].clone();
    assert!(
        message.contains("Subject: Reset your password"),
        "{message}"
    );
    let token = token_after(
        &message,
        "https://dokploy.example.com/reset-password?token=",
    );
    let reset = json!({"resetPasswordToken": token, "password": "brandnew123"}).to_string();
    assert_eq!(
        post_status(server.addr, "/api/auth.resetPassword", &reset).await,
        200
    );
    let r = Client::new(server.addr)
        .post(
            "/api/auth.login",
            r#"{"email":"owner@example.com","password":"brandnew123"}"#,
        )
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn a_mail_server_that_is_down_or_refuses() {
    let unavailable = envelope(
        "INTERNAL_SERVER_ERROR",
        "The email could not be sent, please try again later",
    );
    // Down: nothing listens on that port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (server, _dir) = cloud_server(closed, None).await;
    let r = Client::new(server.addr)
        .post("/api/auth.createAdmin", ADMIN)
        .await;
    assert_eq!((r.status, r.body), (500, unavailable.clone()));

    // Refusing, then accepting: the request is simply made again.
    let sink = SmtpSink::start().await.unwrap();
    sink.set_refusing(true);
    let (server, _dir) = cloud_server(sink.addr.port(), None).await;
    let r = Client::new(server.addr)
        .post("/api/auth.createAdmin", ADMIN)
        .await;
    assert_eq!((r.status, r.body), (500, unavailable.clone()));
    let r = Client::new(server.addr)
        .post("/api/auth.login", ADMIN)
        .await;
    assert_eq!(
        r.status, 500,
        "login re-sends the confirmation, which fails again"
    );
    sink.set_refusing(false);
    let r = Client::new(server.addr)
        .post("/api/auth.login", ADMIN)
        .await;
    assert_eq!(r.json()["message"], "Error: Email not confirmed, we have sent you a confirmation email please check your inbox.");
    let token = token_after(&sink.messages()[0], "confirm-email?token=");
    assert_eq!(
        Client::new(server.addr)
            .post(
                "/api/auth.confirmEmail",
                &json!({"confirmationToken": token}).to_string()
            )
            .await
            .status,
        200
    );
}

async fn sign_up_with_webhook(webhook: &MockServer) -> (Resp, Duration) {
    let sink = SmtpSink::start().await.unwrap();
    let (server, _dir) =
        cloud_server(sink.addr.port(), Some(format!("{}/hook", webhook.uri()))).await;
    let started = Instant::now();
    let r = Client::new(server.addr)
        .post("/api/auth.createAdmin", ADMIN)
        .await;
    (r, started.elapsed())
}

#[tokio::test]
async fn the_signup_webhook_in_discord_format() {
    let webhook = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&webhook)
        .await;
    let (r, _) = sign_up_with_webhook(&webhook).await;
    assert_eq!(r.status, 200);
    let mut requests = Vec::new();
    for _ in 0..100 {
        requests = webhook.received_requests().await.unwrap_or_default();
        if !requests.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let payload: Value = serde_json::from_slice(&requests[0].body).unwrap();
    let embed = &payload["embeds"][0];
    assert_eq!(embed["title"], "✅ New User Registered");
    assert_eq!(embed["color"], 0x00ff00);
    assert_eq!(
        embed["fields"],
        json!([{"name": "Email", "value": "owner@example.com", "inline": true}])
    );
    assert!(server::time::parse_iso8601(embed["timestamp"].as_str().unwrap()).is_some());
    assert_eq!(
        embed["footer"]["text"],
        "Dokploy User Registration Notification"
    );
    assert_eq!(requests[0].headers["content-type"], "application/json");
}

#[tokio::test]
async fn a_failing_or_silent_webhook_never_fails_the_signup() {
    let failing = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&failing)
        .await;
    let (r, _) = sign_up_with_webhook(&failing).await;
    assert_eq!(r.status, 200);

    let silent = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(60)))
        .mount(&silent)
        .await;
    let (r, took) = sign_up_with_webhook(&silent).await;
    assert_eq!(r.status, 200);
    assert!(
        took < Duration::from_secs(5),
        "the sign-up waited for the webhook: {took:?}"
    );
}
