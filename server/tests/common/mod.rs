//! A server on a real socket for the integration tests, and a small HTTP client.
#![allow(dead_code)]

pub mod binary;
pub mod busy;
pub mod postgres;

use mock::ManualClock;
use server::app::{start, Running};
use server::core::ports::{BoxFuture, Mail, MailError, Mailer};
use server::core::{Config, Deps};
use server::crypto::OsRandom;
use server::hashing::Bcrypt;
use server::http::Limits;
use server::storage::SledStore;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// 2024-10-28T09:15:02.123Z: the tests' clock starts here.
pub const START_MS: i64 = 1_730_106_902_123;
pub const HOUR: i64 = 3_600_000;

/// Captures what the core sends, or fails every send.
#[derive(Default)]
pub struct Outbox {
    pub sent: Mutex<Vec<Mail>>,
    pub failing: std::sync::atomic::AtomicBool,
}

pub struct OutboxMailer(pub Arc<Outbox>);

impl Mailer for OutboxMailer {
    fn send(&self, mail: Mail) -> BoxFuture<'static, Result<(), MailError>> {
        let this = self.0.clone();
        Box::pin(async move {
            if this.failing.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(MailError("refused".into()));
            }
            this.sent.lock().unwrap().push(mail);
            Ok(())
        })
    }
}

pub struct Harness {
    pub running: Running,
    pub clock: Arc<ManualClock>,
    pub outbox: Arc<Outbox>,
    pub store: Arc<SledStore>,
    pub dir: tempfile::TempDir,
}

impl Harness {
    pub async fn start() -> Harness {
        Harness::start_with(Config::default(), Limits::default()).await
    }

    pub async fn start_with(config: Config, limits: Limits) -> Harness {
        Harness::start_on(config, limits, false).await
    }

    /// As the binary stores: every value sealed, the key file beside the data.
    pub async fn start_sealed(config: Config) -> Harness {
        Harness::start_on(config, Limits::default(), true).await
    }

    async fn start_on(config: Config, limits: Limits, sealed: bool) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        let store = Arc::new(SledStore::open(&data_dir).unwrap());
        let core_store: Arc<dyn server::core::ports::Store> = if sealed {
            server::keyfile::seal(
                store.clone(),
                &data_dir.display().to_string(),
                &server::keyfile::default_path(&data_dir),
                Arc::new(OsRandom::new()),
            )
            .unwrap()
            .0
        } else {
            store.clone()
        };
        let clock = Arc::new(ManualClock::new(START_MS));
        let outbox = Arc::new(Outbox::default());
        let deps = Deps {
            store: core_store,
            clock: clock.clone(),
            random: Arc::new(OsRandom::new()),
            hasher: Arc::new(Bcrypt::new(4)),
            mailer: Arc::new(OutboxMailer(outbox.clone())),
            notifier: Arc::new(server::core::ports::NoNotifier),
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let running = start(listener, deps, config, limits).await.unwrap();
        Harness {
            running,
            clock,
            outbox,
            store,
            dir,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.running.addr
    }

    pub fn client(&self) -> Client {
        Client {
            addr: self.addr(),
            cookie: None,
            bearer: None,
            transport: Default::default(),
            rest_view: false,
        }
    }

    pub fn now_secs(&self) -> u64 {
        use server::core::ports::Clock;
        (self.clock.now_ms() / 1000) as u64
    }

    /// The first admin, logged in by cookie.
    pub async fn admin(&self) -> Client {
        let mut admin = self.client();
        let r = admin
            .post(
                "/api/auth.createAdmin",
                r#"{"email":"admin@example.com","password":"password123"}"#,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        admin
    }

    /// Another cookie session of the admin that `admin` made.
    pub async fn admin_login(&self) -> Client {
        let mut admin = self.client();
        let r = admin
            .post(
                "/api/auth.login",
                r#"{"email":"admin@example.com","password":"password123"}"#,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        admin
    }

    /// A member invited by `admin` who accepted; logged in by cookie.
    pub async fn member(&self, admin: &mut Client, email: &str) -> (Client, String) {
        let r = admin
            .post(
                "/api/admin.createUserInvitation",
                &format!(r#"{{"email":"{email}"}}"#),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let all = admin.get("/api/user.all").await.json();
        let invitation = all
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["auth"]["email"] == email)
            .unwrap()
            .clone();
        let mut member = self.client();
        let body = serde_json::json!({"password": "memberpass1", "id": invitation["authId"], "token": invitation["token"]});
        let r = member.post("/api/auth.createUser", &body.to_string()).await;
        assert_eq!(r.status, 200, "{}", r.body);
        (member, invitation["authId"].as_str().unwrap().to_string())
    }
}

/// A new API token for `owner` (it replaces the one before).
pub async fn new_token(owner: &Client) -> String {
    let mut owner = owner.clone();
    owner.post_empty("/api/auth.generateToken").await.json()["token"]
        .as_str()
        .expect("a token")
        .to_string()
}

#[allow(unused_imports)]
pub use conformance::client::{envelope, send, try_send, Client, Resp};

/// The status of one POST from a new client (no cookie, no token).
pub async fn post_status(addr: SocketAddr, path: &str, body: &str) -> u16 {
    Client::new(addr).post(path, body).await.status
}

/// Logins as `login` (JSON) on `write_on`, each session's `auth.get` then read on
/// `read_on`, in `tasks` loops until `finish`: a load of writes and reads that
/// counts every failed request.
pub struct LoginLoad {
    stop: Arc<std::sync::atomic::AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<(Vec<Client>, Vec<Failed>)>>,
}

/// A failed pair: the login's status, the read's status and body.
type Failed = (u16, u16, String);

impl LoginLoad {
    pub fn start(pairs: &[(SocketAddr, SocketAddr)], login: &'static str) -> LoginLoad {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let tasks = pairs
            .iter()
            .map(|&(write_on, read_on)| {
                let stop = stop.clone();
                tokio::spawn(async move {
                    let (mut sessions, mut failures) = (Vec::new(), Vec::new());
                    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                        let mut client = Client::new(write_on);
                        let made = client.post("/api/auth.login", login).await;
                        client.addr = read_on;
                        let read = client.get("/api/auth.get").await;
                        if (made.status, read.status) == (200, 200) {
                            sessions.push(client);
                        } else {
                            failures.push((made.status, read.status, read.body));
                        }
                    }
                    (sessions, failures)
                })
            })
            .collect();
        LoginLoad { stop, tasks }
    }

    /// Stops the load: asserts that no request failed, and returns the sessions
    /// still live (past an account's most sessions the oldest end).
    pub async fn finish(self) -> Vec<Client> {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let mut live = Vec::new();
        for task in self.tasks {
            let (sessions, failures) = task.await.unwrap();
            assert!(failures.is_empty(), "failed requests: {failures:?}");
            for mut session in sessions {
                if session.get("/api/auth.get").await.status == 200 {
                    live.push(session);
                }
            }
        }
        assert!(live.len() > 10, "too little load: {}", live.len());
        live
    }
}

/// Reads until `count` answers have arrived (by their status lines) or the peer closes.
pub async fn answers(stream: &mut tokio::net::TcpStream, count: usize) -> Vec<String> {
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while String::from_utf8_lossy(&seen).matches("HTTP/1.1 ").count() < count {
        let read =
            tokio::time::timeout_at(deadline, tokio::io::AsyncReadExt::read(stream, &mut buffer))
                .await;
        match read {
            Ok(Ok(n)) if n > 0 => seen.extend_from_slice(&buffer[..n]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&seen)
        .split("HTTP/1.1 ")
        .skip(1)
        .map(|answer| answer[..3].to_string())
        .collect()
}
