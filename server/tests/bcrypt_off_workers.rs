//! 50 logins at bcrypt cost 10 while `auth.get` is called over and over:
//! `auth.get` keeps being answered, because bcrypt runs off the async workers.

mod common;
use common::*;
use server::core::{Config, Deps};
use server::http::Limits;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Generous: a stalled worker pool shows up as seconds, not milliseconds.
const BOUND: Duration = Duration::from_millis(750);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_get_is_answered_during_a_login_flood() {
    let dir = tempfile::tempdir().unwrap();
    let deps = Deps {
        store: Arc::new(server::storage::SledStore::open(dir.path()).unwrap()),
        clock: Arc::new(server::time::SystemClock),
        random: Arc::new(server::crypto::OsRandom::new()),
        hasher: Arc::new(server::hashing::Bcrypt::new(10)),
        mailer: Arc::new(server::core::ports::NoMail),
        notifier: Arc::new(server::core::ports::NoNotifier),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = server::app::start(listener, deps, Config::default(), Limits::default())
        .await
        .unwrap();
    let mut admin = Client {
        addr: running.addr,
        cookie: None,
        bearer: None,
        transport: Default::default(),
        rest_view: false,
    };
    let r = admin
        .post(
            "/api/auth.createAdmin",
            r#"{"email":"admin@example.com","password":"password123"}"#,
        )
        .await;
    assert_eq!(r.status, 200);

    let started = Instant::now();
    let logins: Vec<_> = (0..50)
        .map(|_| {
            let addr = running.addr;
            tokio::spawn(async move {
                let body = r#"{"email":"admin@example.com","password":"password123"}"#;
                send(
                    addr,
                    "POST",
                    "/api/auth.login",
                    &[("content-type", "application/json")],
                    body,
                )
                .await
                .status
            })
        })
        .collect();
    let mut latencies = Vec::new();
    while !logins.iter().all(|l| l.is_finished()) {
        let asked = Instant::now();
        let r = tokio::time::timeout(10 * BOUND, admin.get("/api/auth.get"))
            .await
            .expect("auth.get stalled completely during the login flood");
        latencies.push(asked.elapsed());
        assert_eq!(r.status, 200);
    }
    let flood = started.elapsed();
    for login in logins {
        assert_eq!(login.await.unwrap(), 200);
    }
    let worst = latencies.iter().max().copied().unwrap_or_default();
    assert!(
        latencies.len() >= 5,
        "only {} auth.get answered during a {flood:?} flood",
        latencies.len()
    );
    assert!(
        worst < BOUND,
        "auth.get stalled for {worst:?} during the login flood ({} calls, flood {flood:?})",
        latencies.len()
    );
}
