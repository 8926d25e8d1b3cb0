//! A server on a real socket for the integration tests, and a small HTTP client.
#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use serde_json::Value;
use server::app::{start, Running};
use server::core::ports::{BoxFuture, Mail, MailError, Mailer};
use server::core::{Config, Deps};
use server::crypto::OsRandom;
use server::hashing::Bcrypt;
use server::http::Limits;
use server::storage::SledStore;
use server::time::ManualClock;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};

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
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SledStore::open(dir.path()).unwrap());
        let clock = Arc::new(ManualClock::new(START_MS));
        let outbox = Arc::new(Outbox::default());
        let deps = Deps {
            store: store.clone(),
            clock: clock.clone(),
            random: Arc::new(OsRandom::new()),
            hasher: Arc::new(Bcrypt::new(4)),
            mailer: Arc::new(OutboxMailer(outbox.clone())),
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

#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
    pub fn set_cookie(&self) -> Option<String> {
        self.headers
            .get("set-cookie")
            .map(|v| v.to_str().unwrap().to_string())
    }
    /// The session id of the `Set-Cookie` header, if one was set (not blanked).
    pub fn session_id(&self) -> Option<String> {
        let cookie = self.set_cookie()?;
        let value = cookie.strip_prefix("auth_session=")?.split(';').next()?;
        (!value.is_empty()).then(|| value.to_string())
    }
}

/// One request on a new connection.
pub async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Resp {
    try_send(addr, method, path, headers, body)
        .await
        .expect("the server answers")
}

/// One request on a new connection; `None` when the connection fails.
pub async fn try_send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<Resp> {
    let stream = TcpStream::connect(addr).await.ok()?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .ok()?;
    tokio::spawn(connection);
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let request = builder
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let response = sender.send_request(request).await.ok()?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.ok()?.to_bytes();
    Some(Resp {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// A client that keeps the session cookie like a browser, or sends a Bearer token.
#[derive(Debug, Clone)]
pub struct Client {
    pub addr: SocketAddr,
    pub cookie: Option<String>,
    pub bearer: Option<String>,
}

impl Client {
    pub fn with_bearer(&self, token: &str) -> Client {
        Client {
            addr: self.addr,
            cookie: None,
            bearer: Some(token.to_string()),
        }
    }

    async fn call(&mut self, method: &str, path: &str, body: Option<&str>) -> Resp {
        let cookie = self.cookie.as_ref().map(|c| format!("auth_session={c}"));
        let bearer = self.bearer.as_ref().map(|b| format!("Bearer {b}"));
        let mut headers = Vec::new();
        if let Some(c) = &cookie {
            headers.push(("cookie", c.as_str()));
        }
        if let Some(b) = &bearer {
            headers.push(("authorization", b.as_str()));
        }
        if body.is_some() {
            headers.push(("content-type", "application/json"));
        }
        let r = send(self.addr, method, path, &headers, body.unwrap_or("")).await;
        if let Some(set) = r.set_cookie() {
            self.cookie = r.session_id();
            let _ = set;
        }
        r
    }

    pub async fn get(&mut self, path: &str) -> Resp {
        self.call("GET", path, None).await
    }
    pub async fn post(&mut self, path: &str, body: &str) -> Resp {
        self.call("POST", path, Some(body)).await
    }
    pub async fn post_empty(&mut self, path: &str) -> Resp {
        self.call("POST", path, None).await
    }
}

/// The error envelope, as a string, for comparisons.
pub fn envelope(code: &str, message: &str) -> String {
    serde_json::json!({"message": message, "code": code}).to_string()
}
