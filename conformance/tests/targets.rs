//! The suite against an in-process server (sled in a temporary directory, fresh per
//! check) and an in-process mock (reset between checks): the same checks, the same
//! expectations.

use conformance::target::{BoxFuture, Target};
use conformance::{run, Report};
use server::core::ports::Clock;
use server::time::ManualClock;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// A new sled-backed server per check, on a manual clock.
#[derive(Default)]
struct InProcessServer {
    current: Mutex<Option<(server::app::Running, Arc<ManualClock>, tempfile::TempDir)>>,
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
                mailer: Arc::new(server::core::ports::NoMail),
            };
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| e.to_string())?;
            let running =
                server::app::start(listener, deps, Default::default(), Default::default())
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
}

/// One mock, reset before each check.
struct InProcessMock(mock::MockServer);

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
}

fn assert_all_pass(report: &Report) {
    println!("{}", report.render());
    assert_eq!(report.failed(), 0, "{}", report.failures().join("\n\n"));
    assert_eq!(report.skipped(), 0);
    assert_eq!(report.passed(), conformance::checks::all().len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_conforms() {
    let report = run(Arc::new(InProcessServer::default()), None).await;
    assert_all_pass(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mock_conforms() {
    let report = run(
        Arc::new(InProcessMock(mock::MockServer::start().await)),
        None,
    )
    .await;
    assert_all_pass(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mock_conforms_over_its_url() {
    let mock = mock::MockServer::start().await;
    let target = conformance::UrlTarget::connect(&mock.uri()).await.unwrap();
    assert!(target.resets());
    let report = run(Arc::new(target), Some("auth.")).await;
    assert_eq!(report.failed(), 0, "{}", report.render());
    assert!(report.passed() > 20);
    assert!(report
        .junit()
        .contains("<testcase classname=\"auth.login\""));
}
