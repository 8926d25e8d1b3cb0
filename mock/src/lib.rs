//! An in-memory, deterministic Dokploy auth server, for frontend developers and for
//! tests. It runs the production server's own core and HTTP layer over in-memory
//! storage, a manual clock, seeded randomness and an outbox, and adds a control
//! plane under `/__mock/` (see `mock/README.md`).
//!
//! In a test, one line starts it on its own runtime thread, on its own port:
//!
//! ```
//! # #[tokio::main] async fn main() {
//! let mock = mock::MockServer::start().await;
//! assert!(mock.uri().starts_with("http://127.0.0.1:"));
//! # }
//! ```

mod clock;
pub mod control;
pub mod faults;
mod guard;
mod inspector;
pub mod journal;
pub mod outbox;
pub mod random;
mod service;
pub mod state;
mod tee;

pub use clock::ManualClock;
pub use faults::Fault;
pub use journal::ReceivedRequest;
pub use outbox::SentEmail;
pub use server::core::{AccountFixture, Fixtures, Mode};
pub use service::{MockBody, MockResponse, MockService};
pub use state::{ClockStart, CorsOrigins, MockState, Settings, START_MS};

use server::http::Limits;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The limits the mock serves with: the server's, with no `date` header so that
/// answers are byte-for-byte repeatable.
pub fn limits() -> Limits {
    Limits {
        date_header: false,
        ..Limits::default()
    }
}

/// Serves a mock on `listener` until `shutdown` resolves (what the binary runs).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<MockState>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let limits = limits();
    let service = MockService::new(state, &limits);
    server::http::serve(listener, service, limits, shutdown).await;
}

/// A running mock. Stops when dropped.
///
/// ```
/// # fn http(addr: std::net::SocketAddr, request: &str) -> String {
/// #     use std::io::{Read, Write};
/// #     let mut stream = std::net::TcpStream::connect(addr).unwrap();
/// #     stream.write_all(request.as_bytes()).unwrap();
/// #     let mut answer = String::new();
/// #     stream.read_to_string(&mut answer).unwrap();
/// #     answer
/// # }
/// let mock = mock::MockServer::builder().start_blocking();
/// let addr = mock.address();
/// let answer = http(addr, "GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
/// assert!(answer.starts_with("HTTP/1.1 200"));
/// drop(mock); // stops the server and its thread
/// assert!(std::net::TcpStream::connect(addr).is_err());
/// ```
pub struct MockServer {
    addr: SocketAddr,
    state: Arc<MockState>,
    runtime: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Settings for a mock, then `start`.
///
/// ```
/// # #[tokio::main] async fn main() {
/// let mock = mock::MockServer::builder().seed(7).mode(mock::Mode::Cloud).start().await;
/// assert_eq!(mock.seed(), 7);
/// # }
/// ```
#[derive(Default)]
pub struct MockBuilder {
    settings: Settings,
    listener: Option<std::net::TcpListener>,
}

impl MockBuilder {
    /// The seed every id, token and secret derives from (default 0).
    ///
    /// ```
    /// let mock = mock::MockServer::builder().seed(42).start_blocking();
    /// assert_eq!(mock.seed(), 42);
    /// ```
    pub fn seed(mut self, seed: u64) -> MockBuilder {
        self.settings.seed = seed;
        self
    }

    /// Self-hosted (default) or cloud.
    ///
    /// ```
    /// let mock = mock::MockServer::builder().mode(mock::Mode::Cloud).start_blocking();
    /// assert_eq!(mock.state().core.config().mode, mock::Mode::Cloud);
    /// ```
    pub fn mode(mut self, mode: Mode) -> MockBuilder {
        self.settings.mode = mode;
        self
    }

    /// A clock stopped at [`START_MS`] (default) or following real time.
    ///
    /// ```
    /// let mock = mock::MockServer::builder().clock(mock::ClockStart::Real).start_blocking();
    /// let real = std::time::SystemTime::now()
    ///     .duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    /// assert!((mock.now_ms() - real).abs() < 60_000);
    /// ```
    pub fn clock(mut self, clock: ClockStart) -> MockBuilder {
        self.settings.clock = clock;
        self
    }

    /// State to start with, and to go back to on reset.
    ///
    /// ```
    /// let fixtures: mock::Fixtures = serde_json::from_str(
    ///     r#"{"admins":[{"email":"admin@example.com","password":"password123",
    ///         "twoFactorSecret":"JBSWY3DPEHPK3PXP","sessions":["s1"]}]}"#,
    /// ).unwrap();
    /// let mock = mock::MockServer::builder().fixtures(fixtures).start_blocking();
    /// assert_eq!(mock.totp_for("admin@example.com").map(|pin| pin.len()), Some(6));
    /// assert_eq!(mock.totp_for("nobody@example.com"), None);
    /// ```
    pub fn fixtures(mut self, fixtures: Fixtures) -> MockBuilder {
        self.settings.fixtures = Some(fixtures);
        self
    }

    /// bcrypt's cost (default 4: fast).
    ///
    /// ```
    /// use server::core::{ports::Store, records::Read};
    /// let fixtures: mock::Fixtures = serde_json::from_str(
    ///     r#"{"admins":[{"email":"admin@example.com","password":"password123"}]}"#,
    /// ).unwrap();
    /// let mock = mock::MockServer::builder().bcrypt_cost(5).fixtures(fixtures).start_blocking();
    /// let store: &dyn Store = &*mock.state().store;
    /// let admin = store.account_by_email("admin@example.com").unwrap().unwrap();
    /// assert!(admin.password_hash.unwrap().starts_with("$2b$05$"));
    /// ```
    pub fn bcrypt_cost(mut self, cost: u32) -> MockBuilder {
        self.settings.bcrypt_cost = cost;
        self
    }

    /// Hash fixture passwords after loading, in the background (what the binary
    /// does): a thousand distinct passwords load in milliseconds instead of the second
    /// or two of CPU their bcrypt hashes take. Until its hash is made, an account's
    /// stored hash is a `$fixture$…` placeholder that a login resolves (making that
    /// hash at once if need be). Off by default: the store then holds every hash when
    /// `start` returns.
    ///
    /// ```
    /// use server::core::{ports::Store, records::Read};
    /// let fixtures: mock::Fixtures = serde_json::from_str(
    ///     r#"{"admins":[{"email":"admin@example.com","password":"password123"}]}"#,
    /// ).unwrap();
    /// let mock = mock::MockServer::builder()
    ///     .hash_fixtures_later(true)
    ///     .fixtures(fixtures)
    ///     .start_blocking();
    /// let store: &dyn Store = &*mock.state().store;
    /// let stored = store.account_by_email("admin@example.com").unwrap().unwrap();
    /// let hash = stored.password_hash.unwrap();
    /// assert!(hash.starts_with("$fixture$") || hash.starts_with("$2b$04$"));
    /// ```
    pub fn hash_fixtures_later(mut self, later: bool) -> MockBuilder {
        self.settings.hash_fixtures_later = later;
        self
    }

    /// How many requests the journal keeps (default 2000).
    ///
    /// ```
    /// # fn http(addr: std::net::SocketAddr, request: &str) -> String {
    /// #     use std::io::{Read, Write};
    /// #     let mut stream = std::net::TcpStream::connect(addr).unwrap();
    /// #     stream.write_all(request.as_bytes()).unwrap();
    /// #     let mut answer = String::new();
    /// #     stream.read_to_string(&mut answer).unwrap();
    /// #     answer
    /// # }
    /// let mock = mock::MockServer::builder().journal_capacity(2).start_blocking();
    /// for _ in 0..3 {
    ///     http(mock.address(), "GET /api/auth.get HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    /// }
    /// assert_eq!(mock.received_requests().len(), 2);
    /// ```
    pub fn journal_capacity(mut self, capacity: usize) -> MockBuilder {
        self.settings.journal_capacity = capacity;
        self
    }

    /// Origins allowed to call with credentials from a browser (default: any).
    ///
    /// ```
    /// # fn http(addr: std::net::SocketAddr, request: &str) -> String {
    /// #     use std::io::{Read, Write};
    /// #     let mut stream = std::net::TcpStream::connect(addr).unwrap();
    /// #     stream.write_all(request.as_bytes()).unwrap();
    /// #     let mut answer = String::new();
    /// #     stream.read_to_string(&mut answer).unwrap();
    /// #     answer
    /// # }
    /// let mock = mock::MockServer::builder()
    ///     .cors(mock::CorsOrigins::List(vec!["http://localhost:5173".into()]))
    ///     .start_blocking();
    /// let from = |origin: &str| http(mock.address(), &format!(
    ///     "GET /api/auth.get HTTP/1.1\r\nhost: x\r\norigin: {origin}\r\nconnection: close\r\n\r\n"));
    /// let allowed = "access-control-allow-origin: http://localhost:5173";
    /// assert!(from("http://localhost:5173").contains(allowed));
    /// assert!(!from("http://evil.example").contains("access-control-allow-origin"));
    /// ```
    pub fn cors(mut self, origins: CorsOrigins) -> MockBuilder {
        self.settings.cors = origins;
        self
    }

    /// A host name the control plane answers to besides loopback ones (it refuses
    /// any other `Host`, so that a page reached through DNS rebinding cannot use it):
    /// the name a container network gives the mock, say.
    pub fn control_host(mut self, host: impl Into<String>) -> MockBuilder {
        self.settings.control_hosts.push(host.into());
        self
    }

    /// Throttle failed guesses as the server does (off by default in the mock).
    ///
    /// ```
    /// # fn http(addr: std::net::SocketAddr, request: &str) -> String {
    /// #     use std::io::{Read, Write};
    /// #     let mut stream = std::net::TcpStream::connect(addr).unwrap();
    /// #     stream.write_all(request.as_bytes()).unwrap();
    /// #     let mut answer = String::new();
    /// #     stream.read_to_string(&mut answer).unwrap();
    /// #     answer
    /// # }
    /// let mock = mock::MockServer::builder().throttle(Default::default()).start_blocking();
    /// let body = r#"{"email":"a@example.com","password":"wrong-password"}"#;
    /// let login = format!("POST /api/auth.login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
    ///     content-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
    /// let statuses: Vec<String> = (0..7).map(|_| http(mock.address(), &login)[9..12].to_string()).collect();
    /// assert_eq!(statuses.first().map(String::as_str), Some("400"));
    /// assert_eq!(statuses.last().map(String::as_str), Some("429"));
    /// ```
    pub fn throttle(mut self, limits: server::core::throttle::ThrottleLimits) -> MockBuilder {
        self.settings.throttle = Some(limits);
        self
    }

    /// Answer as Dokploy v0.14 does where the contract deliberately differs
    /// (`Profile::Dokploy014`), or by the contract (the default).
    ///
    /// ```
    /// # fn http(addr: std::net::SocketAddr, request: &str) -> String {
    /// #     use std::io::{Read, Write};
    /// #     let mut stream = std::net::TcpStream::connect(addr).unwrap();
    /// #     stream.write_all(request.as_bytes()).unwrap();
    /// #     let mut answer = String::new();
    /// #     stream.read_to_string(&mut answer).unwrap();
    /// #     answer
    /// # }
    /// let mock = mock::MockServer::builder()
    ///     .profile(specs::Profile::Dokploy014)
    ///     .start_blocking();
    /// // Dokploy's REST gate: without a session even sign-up is refused (over tRPC
    /// // it works, as Dokploy's own frontend calls it).
    /// let body = r#"{"email":"a@example.com","password":"password1"}"#;
    /// let sign_up = format!("POST /api/auth.createAdmin HTTP/1.1\r\nhost: x\r\n\
    ///     content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
    ///     body.len());
    /// let answer = http(mock.address(), &sign_up);
    /// assert!(answer.starts_with("HTTP/1.1 401"));
    /// assert!(answer.ends_with(r#"{"message":"Unauthorized"}"#));
    /// ```
    pub fn profile(mut self, profile: specs::Profile) -> MockBuilder {
        self.settings.profile = profile;
        self
    }

    /// Where email links point: the frontend's address (default
    /// `http://localhost:3000`).
    ///
    /// ```
    /// let mock = mock::MockServer::builder()
    ///     .mode(mock::Mode::Cloud)
    ///     .public_url("http://localhost:5173")
    ///     .start_blocking();
    /// # fn http(addr: std::net::SocketAddr, request: &str) -> String {
    /// #     use std::io::{Read, Write};
    /// #     let mut stream = std::net::TcpStream::connect(addr).unwrap();
    /// #     stream.write_all(request.as_bytes()).unwrap();
    /// #     let mut answer = String::new();
    /// #     stream.read_to_string(&mut answer).unwrap();
    /// #     answer
    /// # }
    /// let body = r#"{"email":"a@example.com","password":"password123"}"#;
    /// http(mock.address(), &format!("POST /api/auth.createAdmin HTTP/1.1\r\nhost: x\r\n\
    ///     content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
    ///     body.len()));
    /// assert!(mock.outbox()[0].links[0].starts_with("http://localhost:5173/confirm-email?token="));
    /// ```
    pub fn public_url(mut self, url: impl Into<String>) -> MockBuilder {
        self.settings.public_url = url.into();
        self
    }

    /// Serve on this listener instead of a new one on `127.0.0.1:0`.
    ///
    /// ```
    /// let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let addr = listener.local_addr().unwrap();
    /// let mock = mock::MockServer::builder().listener(listener).start_blocking();
    /// assert_eq!(mock.address(), addr);
    /// ```
    pub fn listener(mut self, listener: std::net::TcpListener) -> MockBuilder {
        self.listener = Some(listener);
        self
    }

    /// Starts the mock on its own runtime thread.
    ///
    /// ```
    /// # #[tokio::main] async fn main() {
    /// let mock = mock::MockServer::builder().seed(1).start().await;
    /// assert_eq!(mock.seed(), 1);
    /// # }
    /// ```
    pub async fn start(self) -> MockServer {
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let thread = self.spawn(sender);
        let started = receiver.await.expect("the mock's thread started");
        started.into_server(thread)
    }

    /// Starts the mock from synchronous code.
    ///
    /// ```
    /// let mock = mock::MockServer::builder().start_blocking();
    /// assert!(mock.uri().starts_with("http://"));
    /// ```
    pub fn start_blocking(self) -> MockServer {
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let thread = self.spawn(sender);
        let started = receiver.blocking_recv().expect("the mock's thread started");
        started.into_server(thread)
    }

    fn spawn(self, ready: tokio::sync::oneshot::Sender<Started>) -> std::thread::JoinHandle<()> {
        std::thread::Builder::new()
            .name("dokploy-auth-mock".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("a tokio runtime for the mock");
                runtime.block_on(async move {
                    let listener = match self.listener {
                        Some(listener) => {
                            listener
                                .set_nonblocking(true)
                                .expect("a non-blocking listener");
                            tokio::net::TcpListener::from_std(listener).expect("a tokio listener")
                        }
                        None => tokio::net::TcpListener::bind("127.0.0.1:0")
                            .await
                            .expect("a free port on 127.0.0.1"),
                    };
                    let addr = listener.local_addr().expect("a bound address");
                    let state = Arc::new(
                        MockState::new(self.settings)
                            .await
                            .expect("the mock's settings are valid"),
                    );
                    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
                    let _ = ready.send(Started {
                        addr,
                        state: state.clone(),
                        runtime: tokio::runtime::Handle::current(),
                        stop,
                    });
                    serve(listener, state, async {
                        let _ = stopped.await;
                    })
                    .await;
                });
            })
            .expect("the mock's thread starts")
    }
}

struct Started {
    addr: SocketAddr,
    state: Arc<MockState>,
    runtime: tokio::runtime::Handle,
    stop: tokio::sync::oneshot::Sender<()>,
}

impl Started {
    fn into_server(self, thread: std::thread::JoinHandle<()>) -> MockServer {
        MockServer {
            addr: self.addr,
            state: self.state,
            runtime: self.runtime,
            stop: Some(self.stop),
            thread: Some(thread),
        }
    }
}

impl MockServer {
    /// A mock with the default settings (seed 0, self-hosted, no fixtures).
    ///
    /// ```
    /// # #[tokio::main] async fn main() {
    /// let mock = mock::MockServer::start().await;
    /// assert_eq!((mock.seed(), mock.now_ms()), (0, mock::START_MS));
    /// assert_eq!(mock.state().core.config().mode, mock::Mode::SelfHosted);
    /// # }
    /// ```
    pub async fn start() -> MockServer {
        MockServer::builder().start().await
    }

    /// Settings first, then `start`.
    ///
    /// ```
    /// let mock = mock::MockServer::builder().seed(3).start_blocking();
    /// assert_eq!(mock.seed(), 3);
    /// ```
    pub fn builder() -> MockBuilder {
        MockBuilder::default()
    }

    /// `http://127.0.0.1:<port>`
    ///
    /// ```
    /// let mock = mock::MockServer::builder().start_blocking();
    /// assert_eq!(mock.uri(), format!("http://{}", mock.address()));
    /// ```
    pub fn uri(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The socket address it listens on.
    ///
    /// ```
    /// let mock = mock::MockServer::builder().start_blocking();
    /// assert!(mock.address().ip().is_loopback());
    /// ```
    pub fn address(&self) -> SocketAddr {
        self.addr
    }

    /// The seed in use.
    ///
    /// ```
    /// let mock = mock::MockServer::builder().seed(9).start_blocking();
    /// assert_eq!(mock.seed(), 9);
    /// ```
    pub fn seed(&self) -> u64 {
        self.state.seed()
    }

    /// The mock's clock, in milliseconds since the epoch.
    ///
    /// ```
    /// let mock = mock::MockServer::builder().start_blocking();
    /// assert_eq!(mock.now_ms(), mock::START_MS);
    /// ```
    pub fn now_ms(&self) -> i64 {
        use server::core::ports::Clock;
        self.state.clock.now_ms()
    }

    /// Moves the clock forward (TOTP, expiries and sliding sessions follow it).
    ///
    /// ```
    /// let mock = mock::MockServer::builder().start_blocking();
    /// mock.advance_clock(std::time::Duration::from_secs(3600));
    /// assert_eq!(mock.now_ms(), mock::START_MS + 3_600_000);
    /// ```
    pub fn advance_clock(&self, by: Duration) {
        self.state.clock.advance(by.as_millis() as i64);
    }

    /// Sets the clock (milliseconds since the epoch).
    ///
    /// ```
    /// let mock = mock::MockServer::builder().start_blocking();
    /// mock.set_clock(0);
    /// assert_eq!(mock.now_ms(), 0);
    /// ```
    pub fn set_clock(&self, ms: i64) {
        self.state.clock.set(ms);
    }

    /// Every email sent so far.
    ///
    /// ```
    /// let mock = mock::MockServer::builder().start_blocking();
    /// assert!(mock.outbox().is_empty());
    /// ```
    pub fn outbox(&self) -> Vec<SentEmail> {
        self.state.outbox.emails()
    }

    /// The pin valid now for that account's 2FA secret.
    ///
    /// ```
    /// let mock = mock::MockServer::builder().start_blocking();
    /// assert_eq!(mock.totp_for("nobody@example.com"), None);
    /// ```
    pub fn totp_for(&self, email: &str) -> Option<String> {
        Some(self.pins_of(email)?.current.pin)
    }

    /// The pin of the next 30 s step (accepted already, one step early): what a test
    /// uses right after enabling 2FA, when the set-up has spent the current one.
    ///
    /// ```
    /// let fixtures: mock::Fixtures = serde_json::from_str(
    ///     r#"{"admins":[{"email":"admin@example.com","password":"password123",
    ///         "twoFactorSecret":"JBSWY3DPEHPK3PXP"}]}"#,
    /// ).unwrap();
    /// let mock = mock::MockServer::builder().fixtures(fixtures).start_blocking();
    /// let next = mock.next_totp_for("admin@example.com").unwrap();
    /// assert_ne!(Some(next), mock.totp_for("admin@example.com"));
    /// ```
    pub fn next_totp_for(&self, email: &str) -> Option<String> {
        Some(self.pins_of(email)?.next.pin)
    }

    fn pins_of(&self, email: &str) -> Option<server::core::Pins> {
        self.state.core.pins_of(email).ok().flatten()
    }

    /// The journal of received requests (newest last, at most the capacity).
    ///
    /// ```
    /// let mock = mock::MockServer::builder().start_blocking();
    /// assert!(mock.received_requests().is_empty());
    /// ```
    pub fn received_requests(&self) -> Vec<ReceivedRequest> {
        self.state.journal.view().requests
    }

    /// Arms a fault for the next `times` calls of a procedure.
    ///
    /// ```
    /// let mock = mock::MockServer::builder().start_blocking();
    /// mock.add_fault(mock::Fault::error("auth.login", "TOO_MANY_REQUESTS")).unwrap();
    /// // Every call with this input, until the faults are cleared:
    /// mock.add_fault(mock::Fault {
    ///     input: Some(serde_json::from_str(r#"{"email": "x@example.com"}"#).unwrap()),
    ///     times: mock::faults::Times::Always,
    ///     ..mock::Fault::error("auth.login", "FORBIDDEN")
    /// }).unwrap();
    /// ```
    pub fn add_fault(&self, fault: Fault) -> Result<(), String> {
        self.state.faults.add(fault)
    }

    /// Back to the start state, with the seed the mock started with. Callable from
    /// sync or async code.
    ///
    /// ```
    /// let mock = mock::MockServer::builder().seed(3).start_blocking();
    /// mock.advance_clock(std::time::Duration::from_secs(60));
    /// mock.reset_with_seed(Some(9));
    /// mock.reset();
    /// assert_eq!((mock.now_ms(), mock.seed()), (mock::START_MS, 3));
    /// ```
    pub fn reset(&self) {
        self.reset_with_seed(None);
    }

    /// Back to the start state with another seed.
    ///
    /// ```
    /// let mock = mock::MockServer::builder().start_blocking();
    /// mock.reset_with_seed(Some(5));
    /// assert_eq!(mock.seed(), 5);
    /// ```
    pub fn reset_with_seed(&self, seed: Option<u64>) {
        let state = self.state.clone();
        let (done, wait) = std::sync::mpsc::channel();
        self.runtime.spawn(async move {
            let _ = done.send(state.reset(seed).await);
        });
        wait.recv()
            .expect("the mock's runtime is running")
            .expect("the start fixtures load again");
    }

    /// The state, for what the methods above do not cover.
    ///
    /// ```
    /// use server::core::ports::Store;
    /// let mock = mock::MockServer::builder().start_blocking();
    /// let accounts = mock.state().store.scan_prefix(b"account/").unwrap();
    /// assert!(accounts.is_empty());
    /// ```
    pub fn state(&self) -> &Arc<MockState> {
        &self.state
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
