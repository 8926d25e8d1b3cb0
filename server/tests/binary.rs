//! The binary: backup while serving, restore, user commands, graceful shutdown on
//! SIGTERM, and logs that never carry a secret.

mod common;
use common::binary::*;
use common::*;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

const ADMIN: &str = r#"{"email":"admin@example.com","password":"password123"}"#;

#[tokio::test]
async fn backup_while_serving_then_restore() {
    let data = tempfile::tempdir().unwrap();
    let mut server = serve(data.path(), "4").await;
    let mut admin = Client::new(server.addr);
    assert_eq!(admin.post("/api/auth.createAdmin", ADMIN).await.status, 200);
    admin
        .post(
            "/api/admin.createUserInvitation",
            r#"{"email":"dev@example.com"}"#,
        )
        .await;

    let backup = data
        .path()
        .parent()
        .unwrap()
        .join(format!("backup-{}.json", std::process::id()));
    let out = run(&["backup", "--out", backup.to_str().unwrap()], data.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(terminate(&mut server).code(), Some(0));

    // Private, and never overwritten silently.
    let mode = std::fs::metadata(&backup).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(
        std::fs::metadata(data.path().join("data"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o700
    );
    let again = run(&["backup", "--out", backup.to_str().unwrap()], data.path());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        !again.status.success() && stderr.contains("--force"),
        "{stderr}"
    );
    let forced = run(
        &["backup", "--out", backup.to_str().unwrap(), "--force"],
        data.path(),
    );
    assert!(
        forced.status.success(),
        "{}",
        String::from_utf8_lossy(&forced.stderr)
    );

    // The backup's values are sealed: without the key file they cannot be read,
    // and nothing is written.
    let restored = tempfile::tempdir().unwrap();
    let out = run(
        &["restore", "--from", backup.to_str().unwrap()],
        restored.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("does not exist"),
        "{stderr}"
    );
    let left: Vec<_> = std::fs::read_dir(restored.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        left.is_empty(),
        "a refused restore leaves nothing: {left:?}"
    );
    // Another key: refused too, before the data directory is touched.
    server::keyfile::create(
        &restored.path().join("data.key"),
        &server::crypto::OsRandom::new(),
    )
    .unwrap();
    let out = run(
        &["restore", "--from", backup.to_str().unwrap()],
        restored.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("is not the key"),
        "{stderr}"
    );
    assert!(!restored.path().join("data").exists());
    assert!(!restored.path().join("data.restoring").exists());

    // The right key, in the same place: the retry works.
    std::fs::remove_file(restored.path().join("data.key")).unwrap();
    std::fs::copy(
        data.path().join("data.key"),
        restored.path().join("data.key"),
    )
    .unwrap();
    let out = run(
        &["restore", "--from", backup.to_str().unwrap()],
        restored.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(
        &["restore", "--from", backup.to_str().unwrap()],
        restored.path(),
    );
    assert!(
        !out.status.success(),
        "restore refuses a directory that holds data"
    );

    let out = run(&["user", "list"], restored.path());
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing.starts_with("id\temail\trole\t2fa\tstate\tcreated\n"),
        "{listing}"
    );
    assert!(
        listing.contains("admin@example.com\tadmin\toff\tactive"),
        "{listing}"
    );
    assert!(
        listing.contains("dev@example.com\tuser\toff\tinvited"),
        "{listing}"
    );

    let server = serve(restored.path(), "4").await;
    let r = Client::new(server.addr)
        .post("/api/auth.login", ADMIN)
        .await;
    assert_eq!(r.status, 200, "the restored admin logs in");
    let _ = std::fs::remove_file(backup);
}

#[tokio::test]
async fn reset_password_for_a_locked_out_admin() {
    let data = tempfile::tempdir().unwrap();
    {
        let mut server = serve(data.path(), "4").await;
        Client::new(server.addr)
            .post("/api/auth.createAdmin", ADMIN)
            .await;
        terminate(&mut server);
    }
    let out = run(
        &["user", "reset-password", "Admin@Example.com"],
        data.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let password = stdout.trim().rsplit(' ').next().unwrap().to_string();
    let out = run(
        &["user", "reset-password", "nobody@example.com"],
        data.path(),
    );
    assert!(!out.status.success());

    let server = serve(data.path(), "4").await;
    let body = format!(r#"{{"email":"admin@example.com","password":"{password}"}}"#);
    assert_eq!(
        post_status(server.addr, "/api/auth.login", &body).await,
        200
    );
    assert_eq!(
        post_status(server.addr, "/api/auth.login", ADMIN).await,
        400
    );
}

#[tokio::test]
async fn recovery_commands_for_a_lost_authenticator_and_a_stolen_device() {
    let data = tempfile::tempdir().unwrap();
    let mut admin;
    {
        let mut server = serve(data.path(), "4").await;
        admin = Client::new(server.addr);
        admin.post("/api/auth.createAdmin", ADMIN).await;
        admin
            .post(
                "/api/admin.createUserInvitation",
                r#"{"email":"dev@example.com"}"#,
            )
            .await;
        let secret = admin.get("/api/auth.generate2FASecret").await.json()["secret"]
            .as_str()
            .unwrap()
            .to_string();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let pin = conformance::totp::pin(&secret, now).unwrap();
        let body = format!(r#"{{"pin":"{pin}","secret":"{secret}"}}"#);
        assert_eq!(
            admin.post("/api/auth.verify2FASetup", &body).await.status,
            200
        );
        terminate(&mut server);
    }
    let out = run(&["user", "sessions", "admin@example.com"], data.path());
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(listing.starts_with("handle\tkind\t"), "{listing}");
    assert_eq!(listing.matches("\tbrowser\t").count(), 1, "{listing}");

    let out = run(&["user", "disable-2fa", "admin@example.com"], data.path());
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.contains("2FA turned off"),
        "{said}"
    );
    let out = run(&["user", "disable-2fa", "admin@example.com"], data.path());
    assert!(String::from_utf8_lossy(&out.stdout).contains("already off"));

    let out = run(&["user", "end-sessions", "admin@example.com"], data.path());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "ended 1 sessions of admin@example.com"
    );
    let out = run(&["user", "end-sessions", "nobody@example.com"], data.path());
    assert!(!out.status.success());

    // A pending invitation gets no password from the command line.
    let out = run(&["user", "reset-password", "dev@example.com"], data.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("invitation"),
        "{stderr}"
    );

    let server = serve(data.path(), "4").await;
    admin.addr = server.addr;
    assert_eq!(
        admin.get("/api/auth.get").await.status,
        401,
        "the session was ended"
    );
    let login = Client::new(server.addr)
        .post("/api/auth.login", ADMIN)
        .await;
    assert_eq!(
        login.json()["is2FAEnabled"],
        false,
        "a password alone logs in"
    );
}

/// The value of one sample line of a scrape, e.g. `name{labels} 3`.
fn sample(scrape: &str, series: &str) -> f64 {
    scrape
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in:\n{scrape}"))
}

#[tokio::test]
async fn metrics_on_their_own_listener_count_a_scripted_session() {
    let data = tempfile::tempdir().unwrap();
    let metrics_addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let metrics_arg = metrics_addr.to_string();
    let server = serve_with(data.path(), "4", &[], &["--metrics-listen", &metrics_arg]).await;
    // As Prometheus asks: OpenMetrics.
    let scrape = || async {
        let accept = [(
            "accept",
            "application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
        )];
        let r = send(metrics_addr, "GET", "/metrics", &accept, "").await;
        assert_eq!(r.status, 200);
        assert!(r
            .header("content-type")
            .unwrap()
            .starts_with("application/openmetrics-text"));
        assert!(r.body.ends_with("# EOF\n"));
        r.body
    };
    let before = scrape().await;
    // Every status class is there from the start, at 0; the build and the process too.
    // (The start's readiness probes made the 2xx there are.)
    for class in ["1xx", "3xx", "4xx", "5xx"] {
        let series = format!(r#"dokploy_auth_responses_total{{class="{class}"}}"#);
        assert_eq!(sample(&before, &series), 0.0, "{before}");
    }
    assert!(
        before.contains("dokploy_auth_build_info{version="),
        "{before}"
    );
    assert!(
        sample(&before, "process_resident_memory_bytes") > 0.0,
        "{before}"
    );
    assert!(
        sample(&before, "process_start_time_seconds") > 1.7e9,
        "{before}"
    );
    let mut admin = Client::new(server.addr);
    admin.post("/api/auth.createAdmin", ADMIN).await;
    let wrong = r#"{"email":"admin@example.com","password":"wrong-password"}"#;
    for _ in 0..2 {
        assert_eq!(
            post_status(server.addr, "/api/auth.login", wrong).await,
            400
        );
    }
    assert_eq!(
        post_status(server.addr, "/api/auth.login", ADMIN).await,
        200
    );
    for _ in 0..3 {
        assert_eq!(admin.get("/api/auth.get").await.status, 200);
    }
    admin.get("/api/trpc/auth.get").await;
    let after = scrape().await;
    let moved = |series: &str| sample(&after, series) - sample(&before, series);
    let get = r#"dokploy_auth_requests_total{procedure="auth.get",transport="rest",status="200"}"#;
    assert_eq!(sample(&after, get), 3.0);
    let trpc = r#"dokploy_auth_requests_total{procedure="auth.get",transport="trpc",status="200"}"#;
    assert_eq!(sample(&after, trpc), 1.0);
    let failed = r#"dokploy_auth_security_events_total{event="login_failed"}"#;
    assert_eq!(moved(failed), 2.0);
    let succeeded = r#"dokploy_auth_security_events_total{event="login_succeeded"}"#;
    assert_eq!(moved(succeeded), 1.0);
    // createAdmin hashes once; each login verifies once.
    assert_eq!(moved("dokploy_auth_bcrypt_seconds_count"), 4.0);
    assert_eq!(sample(&after, "dokploy_auth_bcrypt_in_flight"), 0.0);
    assert_eq!(
        moved("dokploy_auth_store_flush_seconds_count"),
        2.0,
        "each mutation that changed something flushed once (createAdmin, the login)"
    );
    // Latency by procedure: a login's bcrypt does not hide auth.get's.
    let get_latency =
        r#"dokploy_auth_request_seconds_count{procedure="auth.get",transport="rest"}"#;
    assert_eq!(sample(&after, get_latency), 3.0);
    let login_latency =
        r#"dokploy_auth_request_seconds_count{procedure="auth.login",transport="rest"}"#;
    assert_eq!(sample(&after, login_latency), 3.0);
    assert!(moved(r#"dokploy_auth_responses_total{class="4xx"}"#) >= 2.0);
    // Without OpenMetrics in Accept (curl, promtool): Prometheus's text format, which
    // `promtool check metrics` finds nothing to say about.
    let plain = send(metrics_addr, "GET", "/metrics", &[], "").await;
    assert!(plain
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    assert!(plain
        .body
        .contains("# TYPE dokploy_auth_requests_total counter"));
    assert!(!plain.body.contains("# EOF"));
    if let Some(said) = promtool(&["check", "metrics"], &plain.body) {
        assert_eq!(said, "", "promtool check metrics");
    }
    // Never on the API's port, and nothing else on the metrics port.
    assert_eq!(
        send(server.addr, "GET", "/metrics", &[], "").await.status,
        404
    );
    assert_eq!(
        send(metrics_addr, "GET", "/api/auth.get", &[], "")
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn first_run_errors_say_what_to_do() {
    let data = tempfile::tempdir().unwrap();
    let out = run(&["serve", "--listen", "3000"], data.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("like 127.0.0.1:3000"), "{stderr}");
    // A port in use is found before anything is made on disk.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let out = run(&["serve", "--listen", &address], data.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("another program listens there"), "{stderr}");
    assert!(!data.path().join("data").exists() && !data.path().join("data.key").exists());
    // A file where the data directory should be.
    std::fs::write(data.path().join("data"), "").unwrap();
    let out = run(&["user", "list"], data.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is a file, not a directory"), "{stderr}");
    // A command on data that exists makes neither a data directory nor a key
    // file (a mistyped --data-dir is an error, not a new empty store).
    std::fs::remove_file(data.path().join("data")).unwrap();
    for command in [
        &["user", "list"][..],
        &["user", "end-sessions", "admin@example.com"],
        &["backup", "--out", "copy.json"],
    ] {
        let out = run(command, data.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains("there is no data directory at"),
            "{command:?}: {stderr}"
        );
        let made: Vec<_> = std::fs::read_dir(data.path()).unwrap().collect();
        assert!(made.is_empty(), "{command:?} made {made:?}");
    }
    // The first start makes them, and says where the key file is, once.
    let mut started = serve(data.path(), "4").await;
    assert!(terminate(&mut started).success());
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut started.child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(
        stderr.contains("made a new key file") && stderr.contains("data.key"),
        "{stderr}"
    );
    let out = run(&["user", "list"], data.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("made a new key file"));
}

#[tokio::test]
async fn sigterm_finishes_requests_in_flight_and_logs_carry_no_secrets() {
    let data = tempfile::tempdir().unwrap();
    // Cost 12: a login takes long enough to be in flight when SIGTERM arrives.
    let mut server = serve(data.path(), "12").await;
    let mut admin = Client::new(server.addr);
    admin.post("/api/auth.createAdmin", ADMIN).await;
    let token = admin.post_empty("/api/auth.generateToken").await.json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    admin
        .post(
            "/api/admin.createUserInvitation",
            r#"{"email":"dev@example.com"}"#,
        )
        .await;
    let invitation = admin.get("/api/user.all").await.json()[0]["token"]
        .as_str()
        .unwrap()
        .to_string();
    send(
        server.addr,
        "GET",
        &format!("/api/admin.getUserByToken?token={invitation}"),
        &[],
        "",
    )
    .await;

    // A request in flight when SIGTERM arrives is still answered.
    let addr = server.addr;
    let in_flight = tokio::spawn(async move {
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
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !in_flight.is_finished(),
        "the login should still be running"
    );
    let status = terminate(&mut server);
    assert_eq!(status.code(), Some(0), "a clean exit");
    assert_eq!(in_flight.await.unwrap(), 200, "answered after SIGTERM");
    let refused = try_send(addr, "GET", "/health", &[], "").await;
    assert!(refused.is_none(), "no new connections after shutdown");

    let mut logs = String::new();
    use std::io::Read;
    server
        .child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    assert!(logs.contains("\"request_id\""), "JSON request logs: {logs}");
    assert!(
        logs.contains("\"client\":\"127.0.0.1\""),
        "each request's client: {logs}"
    );
    let session = admin.cookie.clone().unwrap();
    for secret in [
        "password123",
        token.as_str(),
        session.as_str(),
        invitation.as_str(),
    ] {
        assert!(!logs.contains(secret), "a secret is in the logs");
    }
}

/// SIGTERM with `--shutdown-delay`: `/ready` answers 503 at once, the API goes on
/// answering (each answer closing its connection, so that a load balancer's next
/// request opens one to another instance) until the delay is over; then the port
/// closes and the process exits cleanly.
/// The text log's access line is written straight to the log, its level asked of
/// `tracing` once and kept: one line per request, in the text format's shape, and
/// none at `RUST_LOG=warn`.
#[tokio::test]
async fn text_access_lines_follow_the_log_level() {
    for (level, expected) in [("info", 3), ("warn", 0)] {
        let data = tempfile::tempdir().unwrap();
        let mut server = serve_logging(data.path(), "4", &[], &[], level).await;
        for _ in 0..3 {
            let answer = send(server.addr, "GET", "/api/auth.get?token=secret", &[], "").await;
            assert_eq!(answer.status, 401);
        }
        assert_eq!(terminate(&mut server).code(), Some(0));
        let mut logs = String::new();
        use std::io::Read;
        let mut stderr = server.child.stderr.take().unwrap();
        stderr.read_to_string(&mut logs).unwrap();
        let lines: Vec<&str> = logs
            .lines()
            .filter(|l| l.contains("path=\"/api/auth.get\""))
            .collect();
        assert_eq!(lines.len(), expected, "RUST_LOG={level}: {logs}");
        for line in lines {
            let (time, rest) = line.split_at(24);
            assert!(time.ends_with('Z'), "{line}");
            assert!(
                rest.starts_with("  INFO server::http::layers: request request_id=\""),
                "{line}"
            );
            assert!(
                rest.contains(
                    "\" client=\"127.0.0.1\" method=\"GET\" path=\"/api/auth.get\" status=401 ms="
                ),
                "no query string, the fields in order: {line}"
            );
        }
    }
}

#[tokio::test]
async fn sigterm_first_turns_ready_off_then_keeps_serving_for_the_delay() {
    let data = tempfile::tempdir().unwrap();
    let mut server = serve_with(data.path(), "4", &[], &["--shutdown-delay", "2"]).await;
    let mut admin = Client::new(server.addr);
    admin.post("/api/auth.createAdmin", ADMIN).await;
    assert_eq!(admin.get("/ready").await.status, 200);

    let pid = server.child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let mut ready = admin.get("/ready").await;
    for _ in 0..100 {
        if ready.status != 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        ready = admin.get("/ready").await;
    }
    assert_eq!(ready.status, 503, "not ready once told to stop");
    assert_eq!(ready.json()["code"], "SERVICE_UNAVAILABLE");
    let served = admin.get("/api/auth.get").await;
    assert_eq!(served.status, 200, "still serving during the delay");
    assert_eq!(
        served
            .headers
            .get("connection")
            .map(|v| v.to_str().unwrap()),
        Some("close")
    );
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "still running during the delay"
    );
    let status = server.child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "a clean exit");
    assert!(try_send(server.addr, "GET", "/health", &[], "")
        .await
        .is_none());
}

#[tokio::test]
async fn data_from_before_sealing_is_sealed_at_start_and_the_key_is_then_required() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    // A server from before sealing: the same records, plain.
    let token = {
        let store = std::sync::Arc::new(server::storage::SledStore::open(&data).unwrap());
        let deps = server::core::Deps {
            store: store.clone(),
            clock: std::sync::Arc::new(server::time::SystemClock),
            random: std::sync::Arc::new(server::crypto::OsRandom::new()),
            hasher: std::sync::Arc::new(server::hashing::Bcrypt::new(4)),
            mailer: std::sync::Arc::new(server::core::ports::NoMail),
            notifier: std::sync::Arc::new(server::core::ports::NoNotifier),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let running = server::app::start(listener, deps, Default::default(), Default::default())
            .await
            .unwrap();
        let mut admin = Client::new(running.addr);
        admin.post("/api/auth.createAdmin", ADMIN).await;
        let token = admin.post_empty("/api/auth.generateToken").await.json()["token"]
            .as_str()
            .unwrap()
            .to_string();
        running.shutdown().await;
        store.flush_blocking().unwrap();
        token
    };
    assert!(!root.path().join("data.key").exists());

    let server = serve(root.path(), "4").await;
    let r = Client::new(server.addr)
        .with_bearer(&token)
        .get("/api/auth.get")
        .await;
    assert_eq!(r.status, 200, "the migrated token still works: {}", r.body);
    assert_eq!(r.json()["token"], token.as_str());
    drop(server);
    let mode = std::fs::metadata(root.path().join("data.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    {
        let engine = server::storage::SledStore::open(&data).unwrap();
        for (key, value) in engine.export().unwrap() {
            assert!(
                server::crypto::is_sealed(&value),
                "{} is not sealed",
                String::from_utf8_lossy(&key)
            );
        }
    }

    std::fs::rename(
        root.path().join("data.key"),
        root.path().join("elsewhere.key"),
    )
    .unwrap();
    let out = run(&["user", "list"], root.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "starts without its key");
    assert!(stderr.contains("data.key does not exist"), "{stderr}");
    let out = Command::new(BIN)
        .args(["--data-dir", &data_dir(root.path()), "--key-file"])
        .arg(root.path().join("elsewhere.key"))
        .args(["user", "list"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("admin@example.com"));
}

/// The conformance suite against the real binary (sealed sled store, system clock),
/// a new process for every check and every model sequence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_passes_the_conformance_suite_one_process_per_check() {
    // Throttling off: the model guesses wrong passwords and pins on purpose.
    let command = format!(
        "{BIN} --data-dir {{dir}}/data --bcrypt-cost 4 serve --listen {{addr}} --throttle-free-per-account 0"
    );
    let target = std::sync::Arc::new(conformance::SpawnTarget::new(&command).await.unwrap());
    let report = conformance::run(target.clone(), None).await;
    println!("{}", report.render());
    assert_eq!(report.failed(), 0, "{}", report.failures().join("\n\n"));
    // Skipped: the checks that move the clock, and those for cloud mode; each over
    // both transports, but for those about REST itself.
    let all = conformance::checks::all();
    let skipped: usize = all
        .iter()
        .filter(|c| c.moves_clock || c.mode == conformance::checks::Only::Cloud)
        .map(|c| c.runs_over_both())
        .sum();
    assert_eq!(report.skipped(), skipped);
    let runs: usize = all.iter().map(|c| c.runs_over_both()).sum();
    assert_eq!(report.passed() + skipped, runs);
    conformance::model::property(
        target.as_ref(),
        16,
        11,
        conformance::runner::BOTH,
        specs::Profile::Contract,
    )
    .await
    .unwrap_or_else(|failure| panic!("the binary disagrees with the model:\n{failure}"));
}

/// The same in cloud mode: each process sends its emails to an SMTP server the suite
/// runs, where the cloud checks read their links.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_in_cloud_mode_passes_the_conformance_suite() {
    let command = format!(
        "{BIN} --data-dir {{dir}}/data --bcrypt-cost 4 serve --listen {{addr}} --mode cloud \
         --smtp-server 127.0.0.1 --smtp-port {{smtp_port}} --smtp-security plain \
         --smtp-from-address auth@example.com --throttle-free-per-account 0"
    );
    let target = std::sync::Arc::new(conformance::SpawnTarget::new(&command).await.unwrap());
    let report = conformance::run(target, None).await;
    println!("{}", report.render());
    assert_eq!(report.failed(), 0, "{}", report.failures().join("\n\n"));
    // The binary's clock cannot be moved: the checks that move it are skipped; the
    // rest for a cloud target all run (its admins confirmed through the SMTP server).
    let runs = |keep: &dyn Fn(&conformance::checks::Check) -> bool| -> usize {
        let all = conformance::checks::all();
        all.iter()
            .filter(|c| keep(c))
            .map(|c| c.runs_over_both())
            .sum()
    };
    let cloud_checks = runs(&|c| c.mode == conformance::checks::Only::Cloud && !c.moves_clock);
    assert!(cloud_checks >= 6);
    let for_cloud = runs(&|c| c.mode.applies(true) && !c.moves_clock);
    assert!(
        for_cloud > cloud_checks * 5,
        "login, 2FA, sessions, invitations"
    );
    assert_eq!(report.passed(), for_cloud);
}

/// `--config FILE`: docs/dokploy-auth.toml names every setting `serve --help` lists;
/// the server starts with it; a flag wins over the environment, which wins over
/// the file; a key that is no setting stops the start with its name.
#[tokio::test]
async fn a_config_file_holds_every_setting_and_flags_then_environment_win() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/dokploy-auth.toml");
    let text = std::fs::read_to_string(example).unwrap();
    let help = Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    let mut settings = 0;
    for line in help.lines().map(str::trim_start) {
        let Some(flag) = line.strip_prefix("--") else {
            continue;
        };
        let long = flag.split(' ').next().unwrap();
        if long == "config" || long == "help" {
            continue;
        }
        settings += 1;
        let named = text.lines().any(|l| {
            let l = l.trim_start_matches(['#', ' ']);
            l.strip_prefix(long)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        });
        assert!(named, "{long} is not in docs/dokploy-auth.toml");
    }
    assert!(settings > 30, "{help}");

    let root = tempfile::tempdir().unwrap();
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
    };
    let (in_file, in_env, in_flag) = (free(), free(), free());
    let config = root.path().join("auth.toml");
    std::fs::write(
        &config,
        text.replace("127.0.0.1:3000\"", &format!("{in_file}\""))
            .replace(
                "data-dir = \"./data\"",
                &format!("data-dir = \"{}\"", data_dir(root.path())),
            )
            .replace("bcrypt-cost = 10", "bcrypt-cost = 4"),
    )
    .unwrap();
    let start = |environment: Option<std::net::SocketAddr>, flag: Option<std::net::SocketAddr>| {
        let mut command = Command::new(BIN);
        command.arg("--config").arg(&config).arg("serve");
        command.env_remove("DOKPLOY_AUTH_LISTEN");
        if let Some(address) = environment {
            command.env("DOKPLOY_AUTH_LISTEN", address.to_string());
        }
        if let Some(address) = flag {
            command.args(["--listen", &address.to_string()]);
        }
        command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    for (environment, flag, expected) in [
        (None, None, in_file),
        (Some(in_env), None, in_env),
        (Some(in_env), Some(in_flag), in_flag),
    ] {
        let mut child = start(environment, flag);
        let mut up = false;
        for _ in 0..500 {
            if try_send(expected, "GET", "/health", &[], "")
                .await
                .is_some()
            {
                up = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            up,
            "listening on {expected} (environment {environment:?}, flag {flag:?})"
        );
    }
    assert!(
        root.path().join("data").is_dir(),
        "the file's data-dir was used"
    );

    std::fs::write(&config, "lisen = \"127.0.0.1:1\"\n").unwrap();
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .args(["user", "list"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("`lisen` is no setting"),
        "{stderr}"
    );
}

/// The account commands on a data directory while its server runs: sled lets one
/// process open it, so they go through the server's control socket, and the
/// server serves what they changed at once.
#[tokio::test]
async fn account_commands_reach_the_running_server() {
    let data = tempfile::tempdir().unwrap();
    let server = serve(data.path(), "4").await;
    let mut admin = Client::new(server.addr);
    assert_eq!(admin.post("/api/auth.createAdmin", ADMIN).await.status, 200);

    let out = run(&["user", "list"], data.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("admin@example.com\tadmin"));

    let out = run_with_stdin(
        &[
            "user",
            "reset-password",
            "--password-stdin",
            "admin@example.com",
        ],
        data.path(),
        "changed-password-1\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "password of admin@example.com changed"
    );
    assert_eq!(
        Client::new(server.addr)
            .post("/api/auth.login", ADMIN)
            .await
            .status,
        400
    );
    let changed = r#"{"email":"admin@example.com","password":"changed-password-1"}"#;
    assert_eq!(
        Client::new(server.addr)
            .post("/api/auth.login", changed)
            .await
            .status,
        200
    );
    // The reset ended the admin's browser sessions, on the running server.
    assert_eq!(admin.get("/api/auth.get").await.status, 401);
    // A refusal comes back as the command's failure, with its reason.
    let out = run(&["user", "end-sessions", "nobody@example.com"], data.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("not found"),
        "{stderr}"
    );
}

/// A load of logins (each a session written) and reads, `key rotate` then
/// `key retire` on the data directory while it serves (through the control
/// socket): no request fails, every session made during it still works, and the
/// server starts again on the rotated key file, which holds the new key alone.
#[tokio::test]
async fn key_rotation_while_serving_fails_no_request_and_loses_no_session() {
    let data = tempfile::tempdir().unwrap();
    let mut server = serve(data.path(), "4").await;
    let addr = server.addr;
    server.drain_logs();
    assert_eq!(
        Client::new(addr)
            .post("/api/auth.createAdmin", ADMIN)
            .await
            .status,
        200
    );
    let load = LoginLoad::start(&[(addr, addr); 3], ADMIN);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let root = data.path().to_path_buf();
    let (rotate, retire) = tokio::task::spawn_blocking(move || {
        let rotate = run(&["key", "rotate"], &root);
        let retire = run(&["key", "retire"], &root);
        (rotate, retire)
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let live = load.finish().await;
    for out in [&rotate, &retire] {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let said = String::from_utf8_lossy(&rotate.stdout);
    assert!(said.contains("seals new values from now on"), "{said}");
    assert!(String::from_utf8_lossy(&retire.stdout).contains("retired key"));
    let key_file = std::fs::read_to_string(data.path().join("data.key")).unwrap();
    let roles: Vec<&str> = key_file
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(' ').next())
        .collect();
    assert_eq!(roles, ["seal"], "{key_file}");
    assert_eq!(terminate(&mut server).code(), Some(0));
    let status = run(&["key", "status"], data.path());
    let said = String::from_utf8_lossy(&status.stdout);
    let old = replaced_key(&String::from_utf8_lossy(&rotate.stdout));
    assert!(
        said.starts_with("key file") && !said.contains(&old),
        "nothing under the old key {old}: {said}"
    );
    // The new key alone, as `openssl rand -hex 32` would have written it.
    let new_key = key_file
        .lines()
        .find_map(|l| l.strip_prefix("seal "))
        .unwrap();
    std::fs::write(data.path().join("data.key"), format!("{new_key}\n")).unwrap();
    let server = serve(data.path(), "4").await;
    for mut session in live {
        session.addr = server.addr;
        assert_eq!(session.get("/api/auth.get").await.status, 200);
    }
}
