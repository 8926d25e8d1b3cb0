//! Throttling of failed guesses: per account, per client address, with Retry-After.

mod common;
use common::*;
use server::core::{Config, Core, Deps};
use server::http::{Api, Limits};
use std::net::SocketAddr;
use std::sync::Arc;

/// A server behind a "proxy" on 127.0.0.1, so tests can speak from several addresses.
async fn behind_proxy() -> (SocketAddr, Arc<mock::ManualClock>) {
    behind_proxy_on("127.0.0.1:0").await
}

/// The same, listening on `bind` (`[::]:0`: the proxy's 127.0.0.1 arrives
/// IPv4-mapped).
async fn behind_proxy_on(bind: &str) -> (SocketAddr, Arc<mock::ManualClock>) {
    let clock = Arc::new(mock::ManualClock::new(START_MS));
    let deps = Deps {
        store: Arc::new(server::storage::MemoryStore::new()),
        clock: clock.clone(),
        random: Arc::new(server::crypto::OsRandom::new()),
        hasher: Arc::new(server::hashing::Bcrypt::new(4)),
        mailer: Arc::new(server::core::ports::NoMail),
        notifier: Arc::new(server::core::ports::NoNotifier),
    };
    let core = Arc::new(Core::new(deps, Config::default()).await.unwrap());
    let limits = Limits::default();
    let api = Api::new(core, &limits).with_trusted_proxies(vec!["127.0.0.1".parse().unwrap()]);
    let listener = tokio::net::TcpListener::bind(bind).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    tokio::spawn(server::http::serve(
        listener,
        server::app::stack(api, &limits),
        limits,
        std::future::pending(),
    ));
    (addr, clock)
}

async fn login_from(addr: SocketAddr, from: &str, email: &str, password: &str) -> Resp {
    let body = format!(r#"{{"email":"{email}","password":"{password}"}}"#);
    send(
        addr,
        "POST",
        "/api/auth.login",
        &[
            ("content-type", "application/json"),
            ("x-forwarded-for", from),
        ],
        &body,
    )
    .await
}

/// The admin `admin@example.com` (password `password123`), logged in.
async fn create_admin(addr: SocketAddr) -> Client {
    let mut admin = Client::new(addr);
    let r = admin
        .post(
            "/api/auth.createAdmin",
            r#"{"email":"admin@example.com","password":"password123"}"#,
        )
        .await;
    assert_eq!(r.status, 200);
    admin
}

const ATTACKER: &str = "198.51.100.7";
const SOMEONE_ELSE: &str = "203.0.113.9";

#[tokio::test]
async fn the_sixth_wrong_password_waits() {
    let (addr, clock) = behind_proxy().await;
    let mut admin = create_admin(addr).await;
    admin
        .post(
            "/api/admin.createUserInvitation",
            r#"{"email":"dev@example.com"}"#,
        )
        .await;
    let invitation = admin.get("/api/user.all").await.json()[0].clone();
    let accept = serde_json::json!({"password": "memberpass1", "id": invitation["authId"], "token": invitation["token"]});
    assert_eq!(
        Client::new(addr)
            .post("/api/auth.createUser", &accept.to_string())
            .await
            .status,
        200
    );

    for _ in 0..5 {
        assert_eq!(
            login_from(addr, ATTACKER, "admin@example.com", "wrongpass1")
                .await
                .status,
            400
        );
    }
    let r = login_from(addr, ATTACKER, "admin@example.com", "wrongpass1").await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (
            429,
            envelope(
                "TOO_MANY_REQUESTS",
                "Too many failed attempts, try again later"
            )
            .as_str()
        )
    );
    assert_eq!(r.header("retry-after").as_deref(), Some("1"));
    // The owner, from another address, is not locked out by the guessing one …
    assert_eq!(
        login_from(addr, SOMEONE_ELSE, "admin@example.com", "password123")
            .await
            .status,
        200
    );
    // … which keeps waiting, even with the right password, and longer each time.
    assert_eq!(
        login_from(addr, ATTACKER, "admin@example.com", "password123")
            .await
            .status,
        429
    );
    clock.advance(1000);
    assert_eq!(
        login_from(addr, ATTACKER, "admin@example.com", "wrongpass1")
            .await
            .status,
        400
    );
    assert_eq!(
        login_from(addr, ATTACKER, "admin@example.com", "wrongpass1")
            .await
            .header("retry-after")
            .as_deref(),
        Some("2")
    );
    // A success from an address starts that address again from zero.
    clock.advance(2000);
    assert_eq!(
        login_from(addr, ATTACKER, "admin@example.com", "password123")
            .await
            .status,
        200
    );
    assert_eq!(
        login_from(addr, ATTACKER, "admin@example.com", "wrongpass1")
            .await
            .status,
        400,
        "counted from zero"
    );
}

/// An attacker spread over many addresses meets the account's own budget.
#[tokio::test]
async fn guessing_spread_over_addresses_meets_the_accounts_budget() {
    let (addr, _) = behind_proxy().await;
    create_admin(addr).await;
    // 100 failures from 50 addresses, two each: none of them waits yet …
    for n in 0..100 {
        let from = format!("198.51.100.{}", n / 2);
        let r = login_from(addr, &from, "admin@example.com", "wrongpass1").await;
        assert_eq!(r.status, 400, "failure {n} from {from}");
    }
    // … and then the account waits, from any address.
    let r = login_from(addr, "203.0.113.200", "admin@example.com", "password123").await;
    assert_eq!(r.status, 429);
}

#[tokio::test]
async fn one_address_guessing_many_accounts_waits() {
    let (addr, _) = behind_proxy().await;
    for n in 0..20 {
        let r = login_from(
            addr,
            ATTACKER,
            &format!("nobody{n}@example.com"),
            "wrongpass1",
        )
        .await;
        assert_eq!(r.status, 400);
    }
    assert_eq!(
        login_from(addr, ATTACKER, "nobody99@example.com", "wrongpass1")
            .await
            .status,
        429
    );
    assert_eq!(
        login_from(addr, SOMEONE_ELSE, "nobody99@example.com", "wrongpass1")
            .await
            .status,
        400
    );
}

#[tokio::test]
async fn token_guesses_wait() {
    let (addr, _) = behind_proxy().await;
    let guess = |n: u32| async move {
        send(
            addr,
            "GET",
            &format!("/api/admin.getUserByToken?token=guess{n}"),
            &[("x-forwarded-for", ATTACKER)],
            "",
        )
        .await
        .status
    };
    for n in 0..20 {
        assert_eq!(guess(n).await, 404);
    }
    assert_eq!(guess(21).await, 429);
    let r = send(
        addr,
        "POST",
        "/api/auth.createUser",
        &[
            ("content-type", "application/json"),
            ("x-forwarded-for", ATTACKER),
        ],
        r#"{"password":"password123","id":"x","token":"guess"}"#,
    )
    .await;
    assert_eq!(
        r.status, 429,
        "the same address guessing invitation tokens another way"
    );
    let r = send(
        addr,
        "GET",
        "/api/admin.getUserByToken?token=guess",
        &[("x-forwarded-for", SOMEONE_ELSE)],
        "",
    )
    .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn x_forwarded_for_counts_only_behind_a_trusted_proxy() {
    // Harness's server trusts no proxy: the header changes nothing.
    let h = Harness::start().await;
    for n in 0..5 {
        login_from(
            h.addr(),
            &format!("198.51.100.{n}"),
            "nobody@example.com",
            "wrongpass1",
        )
        .await;
    }
    let r = login_from(
        h.addr(),
        "198.51.100.77",
        "nobody@example.com",
        "wrongpass1",
    )
    .await;
    assert_eq!(
        r.status, 429,
        "the account is counted whatever the header says"
    );
}

/// A failed login forwarded with raw `X-Forwarded-For` bytes (not always text).
async fn login_forwarded_bytes(addr: SocketAddr, forwarded: &[u8], email: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = format!(r#"{{"email":"{email}","password":"wrongpass1"}}"#);
    let mut request = format!(
        "POST /api/auth.login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\nx-forwarded-for: ",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(forwarded);
    request.extend_from_slice(b"\r\n\r\n");
    request.extend_from_slice(body.as_bytes());
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(&request).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer[9..12]).parse().unwrap()
}

/// nginx's `$proxy_add_x_forwarded_for` after a client sent `\xff`: the proxy's
/// address is added after it, and that one is the client, not the proxy.
#[tokio::test]
async fn an_unreadable_forwarded_entry_does_not_make_the_proxy_the_client() {
    let (addr, _) = behind_proxy().await;
    for n in 0..25 {
        let status =
            login_forwarded_bytes(addr, b"\xff, 198.51.100.7", &format!("x{n}@example.com")).await;
        assert_ne!(status, 500);
    }
    assert_eq!(
        login_forwarded_bytes(addr, b"\xff, 198.51.100.7", "y@example.com").await,
        429,
        "the attacker's address waits"
    );
    assert_eq!(
        login_forwarded_bytes(addr, b"198.51.100.8", "y@example.com").await,
        400,
        "another client behind the same proxy does not"
    );
}

/// The addresses of one IPv6 /64 are one client (a host is given a /64).
#[tokio::test]
async fn an_ipv6_prefix_is_one_client() {
    let (addr, _) = behind_proxy().await;
    for n in 1..=20 {
        let from = format!("2001:db8:0:7::{n:x}");
        login_from(addr, &from, &format!("x{n}@example.com"), "wrongpass1").await;
    }
    let same = login_from(addr, "2001:db8:0:7::ffff", "y@example.com", "wrongpass1").await;
    assert_eq!(same.status, 429, "a new address of the same /64");
    let other = login_from(addr, "2001:db8:0:8::1", "y@example.com", "wrongpass1").await;
    assert_eq!(other.status, 400, "another /64");
}

/// Listening on `[::]`, the proxy's 127.0.0.1 arrives as `::ffff:127.0.0.1`: still
/// the trusted proxy, whose `X-Forwarded-For` names each client.
#[tokio::test]
async fn a_trusted_proxy_is_known_when_ipv4_mapped() {
    let (addr, _) = behind_proxy_on("[::]:0").await;
    for n in 0..25 {
        let from = format!("198.51.100.{n}");
        let r = login_from(addr, &from, &format!("x{n}@example.com"), "wrongpass1").await;
        assert_eq!(r.status, 400, "each client has its own budget");
    }
}

/// Fails writes of failed-guess counts when `failing`.
struct CountsFailing<'a> {
    tx: &'a dyn server::core::ports::Tx,
    failing: bool,
}

impl server::core::ports::Tx for CountsFailing<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, server::core::ports::StoreError> {
        self.tx.get(key)
    }
    fn insert(&self, key: &[u8], value: Vec<u8>) -> Result<(), server::core::ports::StoreError> {
        if self.failing && key.starts_with(b"throttle/") {
            return Err(server::core::ports::StoreError::Unavailable(
                "no connection".into(),
            ));
        }
        self.tx.insert(key, value)
    }
    fn remove(&self, key: &[u8]) -> Result<(), server::core::ports::StoreError> {
        self.tx.remove(key)
    }
}

/// A store shared by instances (so guesses are counted in it) whose writes of
/// counts fail while `failing` is set, as PostgreSQL's did with its connections
/// exhausted.
struct FlakyShared {
    inner: server::storage::MemoryStore,
    failing: std::sync::atomic::AtomicBool,
}

impl server::core::ports::Store for FlakyShared {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, server::core::ports::StoreError> {
        self.inner.get(key)
    }
    fn scan_prefix(
        &self,
        prefix: &[u8],
    ) -> Result<server::core::ports::Pairs, server::core::ports::StoreError> {
        self.inner.scan_prefix(prefix)
    }
    fn transaction(
        &self,
        work: &mut dyn FnMut(
            &dyn server::core::ports::Tx,
        ) -> Result<(), server::core::ports::Abort>,
    ) -> Result<(), server::core::ports::Abort> {
        let failing = self.failing.load(std::sync::atomic::Ordering::SeqCst);
        self.inner
            .transaction(&mut |tx| work(&CountsFailing { tx, failing }))
    }
    fn flush(
        &self,
    ) -> server::core::ports::BoxFuture<'_, Result<(), server::core::ports::StoreError>> {
        self.inner.flush()
    }
    fn version(
        &self,
    ) -> server::core::ports::Soon<'_, Result<u64, server::core::ports::StoreError>> {
        self.inner.version()
    }
    fn shared(&self) -> bool {
        true
    }
}

/// Counts password verifications.
struct CountingHasher {
    inner: server::hashing::Bcrypt,
    verified: std::sync::atomic::AtomicUsize,
}

impl server::core::ports::PasswordHasher for CountingHasher {
    fn hash(
        &self,
        password: String,
        salt: [u8; 16],
    ) -> server::core::ports::BoxFuture<'static, Result<String, server::core::ports::HashError>>
    {
        self.inner.hash(password, salt)
    }
    fn verify(
        &self,
        password: String,
        hash: String,
    ) -> server::core::ports::BoxFuture<'static, Result<bool, server::core::ports::HashError>> {
        self.verified
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.verify(password, hash)
    }
    fn cost(&self) -> u32 {
        self.inner.cost()
    }
}

/// A failed guess the store cannot count is answered 503, not what it earned, and
/// owed: every later guess is refused with 503 before its password is verified
/// until the owed failure is written; then it counts like any other (here the
/// fifth, which closes the door).
#[tokio::test]
async fn a_guess_that_cannot_be_counted_is_answered_503_and_no_guess_goes_unverified_uncounted() {
    use std::sync::atomic::Ordering::SeqCst;
    let store = Arc::new(FlakyShared {
        inner: server::storage::MemoryStore::new(),
        failing: false.into(),
    });
    let hasher = Arc::new(CountingHasher {
        inner: server::hashing::Bcrypt::new(4),
        verified: 0.into(),
    });
    let deps = Deps {
        store: store.clone(),
        clock: Arc::new(mock::ManualClock::new(START_MS)),
        random: Arc::new(server::crypto::OsRandom::new()),
        hasher: hasher.clone(),
        mailer: Arc::new(server::core::ports::NoMail),
        notifier: Arc::new(server::core::ports::NoNotifier),
    };
    let core = Arc::new(Core::new(deps, Config::default()).await.unwrap());
    let limits = Limits::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let api = Api::new(core, &limits);
    tokio::spawn(server::http::serve(
        listener,
        server::app::stack(api, &limits),
        limits,
        std::future::pending(),
    ));
    create_admin(addr).await;
    let wrong = r#"{"email":"admin@example.com","password":"wrong-password"}"#;
    for _ in 0..4 {
        assert_eq!(post_status(addr, "/api/auth.login", wrong).await, 400);
    }
    store.failing.store(true, SeqCst);
    let before = hasher.verified.load(SeqCst);
    assert_eq!(post_status(addr, "/api/auth.login", wrong).await, 503);
    assert_eq!(hasher.verified.load(SeqCst), before + 1);
    for _ in 0..3 {
        assert_eq!(post_status(addr, "/api/auth.login", wrong).await, 503);
    }
    assert_eq!(
        hasher.verified.load(SeqCst),
        before + 1,
        "no guess verified while one is uncounted"
    );
    store.failing.store(false, SeqCst);
    let right = r#"{"email":"admin@example.com","password":"password123"}"#;
    assert_eq!(
        post_status(addr, "/api/auth.login", right).await,
        429,
        "the owed failure was the fifth: the door is closed"
    );
    assert_eq!(
        hasher.verified.load(SeqCst),
        before + 1,
        "refused unverified"
    );
}
