//! A flood of logins at bcrypt cost 10 while `auth.get` is called over and over:
//! `auth.get` keeps being answered, because bcrypt runs off the async workers.

mod common;
use common::*;
use server::core::{Config, Deps};
use server::http::Limits;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const LOGINS: usize = 40;
const GETS: usize = 20;

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

    // 40 logins at cost 10 take the hashing threads a few seconds; 20 auth.get,
    // one after another, are all answered while most of the logins still wait.
    // Counted, not timed: if bcrypt held the async workers, auth.get would be
    // answered only between logins, after most of them.
    let finished = Arc::new(AtomicUsize::new(0));
    let logins: Vec<_> = (0..LOGINS)
        .map(|_| {
            let addr = running.addr;
            let finished = finished.clone();
            tokio::spawn(async move {
                let body = r#"{"email":"admin@example.com","password":"password123"}"#;
                let status = send(
                    addr,
                    "POST",
                    "/api/auth.login",
                    &[("content-type", "application/json")],
                    body,
                )
                .await
                .status;
                finished.fetch_add(1, Ordering::SeqCst);
                status
            })
        })
        .collect();
    // The logins reach the server and queue for the hashing threads.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    for _ in 0..GETS {
        let r = admin.get("/api/auth.get").await;
        assert_eq!(r.status, 200);
    }
    let logins_done = finished.load(Ordering::SeqCst);
    for login in logins {
        assert_eq!(login.await.unwrap(), 200);
    }
    assert!(
        logins_done < LOGINS / 2,
        "{logins_done} of {LOGINS} logins finished before {GETS} auth.get were answered"
    );
}
