//! In-process targets: the server (sled in a temporary directory, new per check,
//! manual clock, throttling off) and the mock (reset per check).
#![allow(dead_code)]

use conformance::target::{BoxFuture, Target};
use mock::ManualClock;
use server::core::ports::Clock;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A new sled-backed server per check, on a manual clock; in cloud mode its emails
/// are captured.
#[derive(Default)]
pub struct InProcessServer {
    current: Mutex<Option<(server::app::Running, Arc<ManualClock>, tempfile::TempDir)>>,
    cloud: bool,
    sent: Arc<Mutex<Vec<String>>>,
}

impl InProcessServer {
    pub fn cloud() -> InProcessServer {
        InProcessServer {
            cloud: true,
            ..InProcessServer::default()
        }
    }
}

/// Keeps the text of each email.
struct CapturedMail(Arc<Mutex<Vec<String>>>);

impl server::core::ports::Mailer for CapturedMail {
    fn send(
        &self,
        mail: server::core::ports::Mail,
    ) -> server::core::ports::BoxFuture<'static, Result<(), server::core::ports::MailError>> {
        self.0.lock().unwrap().push(mail.text);
        Box::pin(async { Ok(()) })
    }
}

impl Target for InProcessServer {
    fn fresh(&self) -> BoxFuture<'_, Result<SocketAddr, String>> {
        Box::pin(async move {
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            let clock = Arc::new(ManualClock::new(1_730_106_902_123));
            let deps = server::core::Deps {
                store: Arc::new(
                    server::storage::SledStore::open(dir.path()).map_err(|e| e.to_string())?,
                ),
                clock: clock.clone(),
                random: Arc::new(server::crypto::OsRandom::new()),
                hasher: Arc::new(server::hashing::Bcrypt::new(4)),
                mailer: Arc::new(CapturedMail(self.sent.clone())),
                notifier: Arc::new(server::core::ports::NoNotifier),
            };
            self.sent.lock().unwrap().clear();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| e.to_string())?;
            // Throttling off, as in the mock: the model guesses wrong passwords and
            // pins on purpose (throttling has its own tests in server/tests/throttle.rs).
            let config = server::core::Config {
                throttle: None,
                mode: if self.cloud {
                    server::core::Mode::Cloud
                } else {
                    server::core::Mode::SelfHosted
                },
                ..Default::default()
            };
            let running = server::app::start(listener, deps, config, Default::default())
                .await
                .map_err(|e| e.to_string())?;
            let addr = running.addr;
            *self.current.lock().unwrap() = Some((running, clock, dir));
            Ok(addr)
        })
    }

    fn now_ms(&self) -> BoxFuture<'_, i64> {
        let now = self
            .current
            .lock()
            .unwrap()
            .as_ref()
            .map_or(0, |(_, clock, _)| clock.now_ms());
        Box::pin(async move { now })
    }

    fn advance_clock(&self, ms: i64) -> BoxFuture<'_, bool> {
        if let Some((_, clock, _)) = self.current.lock().unwrap().as_ref() {
            clock.advance(ms);
        }
        Box::pin(async { true })
    }

    fn name(&self) -> String {
        "in-process server (sled)".into()
    }

    fn emails(&self) -> BoxFuture<'_, Option<Vec<String>>> {
        let sent = self.sent.lock().unwrap().clone();
        Box::pin(async move { Some(sent) })
    }
}

/// One mock, reset before each check.
pub struct InProcessMock(pub mock::MockServer);

impl Target for InProcessMock {
    fn fresh(&self) -> BoxFuture<'_, Result<SocketAddr, String>> {
        self.0.reset();
        let addr = self.0.address();
        Box::pin(async move { Ok(addr) })
    }

    fn now_ms(&self) -> BoxFuture<'_, i64> {
        let now = self.0.now_ms();
        Box::pin(async move { now })
    }

    fn advance_clock(&self, ms: i64) -> BoxFuture<'_, bool> {
        self.0
            .advance_clock(std::time::Duration::from_millis(ms.max(0) as u64));
        Box::pin(async { true })
    }

    fn name(&self) -> String {
        "in-process mock".into()
    }

    fn emails(&self) -> BoxFuture<'_, Option<Vec<String>>> {
        let sent = self.0.outbox().into_iter().map(|e| e.text).collect();
        Box::pin(async move { Some(sent) })
    }
}

/// One server as a live instance runs: sled, the system clock, the default
/// throttling; no reset. Serves until dropped.
pub struct LiveServer {
    pub addr: SocketAddr,
    _running: server::app::Running,
    _dir: tempfile::TempDir,
}

pub async fn live_server() -> LiveServer {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(server::storage::SledStore::open(dir.path()).unwrap());
    let deps = server::app::real_parts(store, 4);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = server::app::start(listener, deps, Default::default(), Default::default())
        .await
        .unwrap();
    LiveServer {
        addr: running.addr,
        _running: running,
        _dir: dir,
    }
}

/// A runtime for the synchronous property and snapshot tests; targets started on it
/// keep serving between `block_on` calls.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// An in-process mock started on `runtime`.
pub fn mock_on(runtime: &tokio::runtime::Runtime) -> InProcessMock {
    InProcessMock(runtime.block_on(mock::MockServer::start()))
}

/// `conformance/node`: the pinned npm packages the Node clients need.
pub fn node_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("node")
}

/// Installs the pinned packages once per test process.
pub fn install_packages() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let dir = node_dir();
        let installed = [
            "@trpc/client",
            "@trpc/react-query",
            "@dokploy/cli",
            "superjson",
            "typescript",
            "openapi-typescript",
            "openapi-fetch",
        ]
        .iter()
        .all(|p| {
            dir.join("node_modules")
                .join(p)
                .join("package.json")
                .exists()
        });
        if installed {
            return;
        }
        let status = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--ignore-scripts"])
            .current_dir(&dir)
            .status()
            .expect("npm runs (Node is needed for these tests)");
        assert!(status.success(), "npm ci in {} failed", dir.display());
    });
}
