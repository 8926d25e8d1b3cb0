//! The suite against an in-process server (sled in a temporary directory, fresh per
//! check) and an in-process mock (reset between checks): the same checks, the same
//! expectations.

mod common;
use common::{InProcessMock, InProcessServer};
use conformance::{run, Report};
use std::sync::Arc;

fn assert_all_pass(report: &Report) {
    assert_mode_passes(report, false);
}

/// Every check for the mode passes, over REST and over tRPC (those
/// about one transport once, over it); only those for the other mode are skipped.
fn assert_mode_passes(report: &Report, cloud: bool) {
    println!("{}", report.render());
    assert_eq!(report.failed(), 0, "{}", report.failures().join("\n\n"));
    let runs = |for_mode: bool| -> usize {
        conformance::checks::all()
            .iter()
            .filter(|c| c.mode.applies(cloud) == for_mode)
            .map(|c| c.runs_over_both())
            .sum()
    };
    assert_eq!(report.passed(), runs(true));
    assert_eq!(report.skipped(), runs(false));
    let over_trpc = report
        .results
        .iter()
        .filter(|r| r.transport == conformance::client::Transport::Trpc)
        .count();
    assert!(
        over_trpc * 3 > report.results.len(),
        "most checks ran over tRPC too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_conforms_in_cloud_mode() {
    let report = run(Arc::new(InProcessServer::cloud()), None).await;
    assert_mode_passes(&report, true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mock_conforms_in_cloud_mode() {
    let mock = mock::MockServer::builder()
        .mode(mock::Mode::Cloud)
        .start()
        .await;
    let report = run(Arc::new(InProcessMock(mock)), None).await;
    assert_mode_passes(&report, true);
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

/// `--transport trpc` holds for the model too: its sequences call over tRPC only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_runs_over_the_transport_it_is_given() {
    use conformance::client::Transport;
    let mock = mock::MockServer::builder()
        .journal_capacity(100_000)
        .start()
        .await;
    let target = conformance::UrlTarget::connect(&mock.uri()).await.unwrap();
    conformance::model::property(&target, 4, 11, &[Transport::Trpc], specs::Profile::Contract)
        .await
        .unwrap();
    // Each sequence began with a reset: what the journal holds is the last one's.
    let calls = mock.received_requests();
    assert!(!calls.is_empty());
    for call in &calls {
        assert!(
            call.path.starts_with("/api/trpc/"),
            "{} {}",
            call.method,
            call.path
        );
    }
}

/// `--reset-cmd`: the target is reset by a command before each stateful check (here
/// a Python one-liner posting to the mock's reset; for another implementation, one
/// that empties its database), and every check runs as with a control plane.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_command_gives_each_check_a_fresh_instance() {
    let mock = mock::MockServer::start().await;
    let reset = format!(
        "python3 -c \"import urllib.request as u; u.urlopen(u.Request('{}/__mock/reset', data=b'{{}}', headers={{'content-type': 'application/json'}}, method='POST'))\"",
        mock.uri()
    );
    let target = conformance::UrlTarget::connect(&mock.uri())
        .await
        .unwrap()
        .with_reset_command(&reset);
    assert!(target.resets());
    let report = run(Arc::new(target), Some("auth.createAdmin")).await;
    assert_eq!(report.failed(), 0, "{}", report.render());
    assert!(report.passed() >= 4, "{}", report.render());
    // A command that fails: the checks that need a fresh instance say why.
    let failing = conformance::UrlTarget::connect(&mock.uri())
        .await
        .unwrap()
        .with_reset_command("echo the database is locked >&2; exit 3");
    let report = run(Arc::new(failing), Some("auth.createAdmin / 400 once")).await;
    assert_eq!(report.passed(), 0);
    assert!(
        report.render().contains("the database is locked"),
        "{}",
        report.render()
    );
}

/// A front for `backend` that forwards each connection, except one whose request
/// asks for `/__mock/` (answered 404): an implementation without the mock's
/// control plane, whose clock the suite cannot move.
async fn without_control_plane(backend: std::net::SocketAddr) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = vec![0u8; 8192];
                let n = client.read(&mut head).await.unwrap_or(0);
                let line = head[..n].split(|b| *b == b'\n').next().unwrap_or_default();
                if line.windows(9).any(|w| w == b" /__mock/") {
                    let _ = client
                        .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                        .await;
                    return;
                }
                let Ok(mut server) = tokio::net::TcpStream::connect(backend).await else {
                    return;
                };
                if server.write_all(&head[..n]).await.is_ok() {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    addr
}

/// `--shift-time-cmd`: a target whose clock cannot be moved runs the checks that
/// move time when a command can make what it stores older (for Dokploy, SQL; here,
/// equivalently, the hidden mock's clock moved forward by the seconds given).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_time_shift_command_runs_the_checks_that_move_time() {
    let mock = mock::MockServer::start().await;
    let front = format!("http://{}", without_control_plane(mock.address()).await);
    let post = |path: &str, body: &str| {
        format!(
            "python3 -c \"import urllib.request as u; u.urlopen(u.Request('{}{path}', data=b'{body}', headers={{'content-type': 'application/json'}}, method='POST'))\"",
            mock.uri()
        )
    };
    let reset = post("/__mock/reset", "{}");
    let shift = post("/__mock/clock", r#"{\"advance\": {seconds}000}"#);
    let filter = Some("sliding cookie sessions");
    let plain = conformance::UrlTarget::connect(&front)
        .await
        .unwrap()
        .with_reset_command(&reset);
    let report = run(Arc::new(plain), filter).await;
    assert!(report.skipped() >= 2, "{}", report.render());
    assert!(
        report
            .render()
            .contains("the target's clock cannot be moved"),
        "{}",
        report.render()
    );
    let shifted = conformance::UrlTarget::connect(&front)
        .await
        .unwrap()
        .with_reset_command(&reset)
        .with_shift_command(&shift);
    let shifted = Arc::new(shifted);
    let report = run(shifted.clone(), filter).await;
    assert_eq!(report.failed(), 0, "{}", report.render());
    assert_eq!(report.skipped(), 0, "{}", report.render());
    assert!(report.passed() >= 2, "{}", report.render());
}

/// The model-based test runs against a target that only a command resets (no
/// control plane): each sequence on an instance the command reset. (Its clock is
/// the system's, as an implementation's would be; its clock steps are skipped.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_runs_against_a_target_a_command_resets() {
    let mock = mock::MockServer::builder()
        .clock(mock::ClockStart::Real)
        .start()
        .await;
    let front = format!("http://{}", without_control_plane(mock.address()).await);
    let resets = tempfile::NamedTempFile::new().unwrap();
    let reset = format!(
        "python3 -c \"import urllib.request as u; u.urlopen(u.Request('{}/__mock/reset', data=b'{{}}', headers={{'content-type': 'application/json'}}, method='POST'))\" && echo reset >> {}",
        mock.uri(),
        resets.path().display()
    );
    let target = conformance::UrlTarget::connect(&front)
        .await
        .unwrap()
        .with_reset_command(&reset);
    assert!(target.resets());
    conformance::model::property(
        &target,
        8,
        7,
        conformance::runner::BOTH,
        specs::Profile::Contract,
    )
    .await
    .unwrap();
    let ran = std::fs::read_to_string(resets.path())
        .unwrap()
        .lines()
        .count();
    assert!(ran >= 8, "a reset per sequence: {ran}");
}

/// A live instance of our server (sled, the system clock, throttling as by default)
/// that cannot be reset, holding an admin with a member, a pending invitation and an
/// API token: given the admin's password, most checks run beside what it holds,
/// all pass, the model's sequences agree (as the admin by password, then by its
/// API token, on members of their own), and the instance is left as it was found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_instance_given_its_admin_runs_most_checks_and_is_left_as_found() {
    use conformance::client::Client;
    let server = common::live_server().await;
    let addr = server.addr;
    let admin_body = r#"{"email":"owner@corp.example","password":"ownerpass1"}"#;
    let mut admin = Client::new(addr);
    assert_eq!(
        admin.post("/api/auth.createAdmin", admin_body).await.status,
        200
    );
    for email in ["alice@corp.example", "bob@corp.example"] {
        let body = format!(r#"{{"email":"{email}"}}"#);
        assert_eq!(
            admin
                .post("/api/admin.createUserInvitation", &body)
                .await
                .status,
            200
        );
    }
    let alice = admin.get("/api/user.all").await.json()[0].clone();
    let accept = serde_json::json!({"password": "alicepass1", "id": alice["authId"], "token": alice["token"]});
    assert_eq!(
        Client::new(addr)
            .post("/api/auth.createUser", &accept.to_string())
            .await
            .status,
        200
    );
    let token = admin.post_empty("/api/auth.generateToken").await.json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let mut by_token = Client::new(addr).with_bearer(&token);
    // What must be as it was: the members, the admin's record, the admin's sessions.
    let snapshot = |mut client: Client| async move {
        let sessions: Vec<_> = client
            .get("/api/auth.listSessions")
            .await
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["handle"].clone(),
                    s["kind"].clone(),
                    s["expiresAt"].clone(),
                )
            })
            .collect();
        (
            client.get("/api/user.all").await.body,
            client.get("/api/auth.get").await.body,
            sessions,
        )
    };
    let before = snapshot(by_token.clone()).await;

    let target = conformance::UrlTarget::connect(&format!("http://{addr}"))
        .await
        .unwrap()
        .with_admin("owner@corp.example:ownerpass1".parse().unwrap());
    assert!(!target.resets());
    let target = Arc::new(target);
    let report = run(target.clone(), None).await;
    println!("{}", report.render());
    assert_eq!(report.failed(), 0, "{}", report.failures().join("\n\n"));
    // Of the checks for a self-hosted instance, each counted once.
    let applicable: Vec<_> = conformance::checks::all()
        .into_iter()
        .filter(|c| c.mode.applies(false))
        .map(|c| c.name())
        .collect();
    let ran = applicable
        .iter()
        .filter(|name| {
            report.results.iter().any(|r| {
                &format!("{} / {}", r.procedure, r.outcome) == *name
                    && r.verdict == conformance::Verdict::Passed
            })
        })
        .count();
    assert!(
        ran * 10 >= applicable.len() * 9,
        "{ran} of {} checks ran",
        applicable.len()
    );
    conformance::model::property(
        target.as_ref(),
        24,
        11,
        conformance::runner::BOTH,
        specs::Profile::Contract,
    )
    .await
    .unwrap();
    let by_its_token = conformance::UrlTarget::connect(&format!("http://{addr}"))
        .await
        .unwrap()
        .with_admin(conformance::AdminCredential::Token(token.clone()));
    conformance::model::property(
        &by_its_token,
        24,
        12,
        conformance::runner::BOTH,
        specs::Profile::Contract,
    )
    .await
    .unwrap();
    assert_eq!(
        snapshot(by_token.clone()).await,
        before,
        "the instance was changed"
    );
    // The admin's token and password still work, and the member's.
    assert_eq!(
        by_token.post_empty("/api/auth.verifyToken").await.body,
        "true"
    );
    assert_eq!(
        Client::new(addr)
            .post("/api/auth.login", admin_body)
            .await
            .status,
        200
    );
    let alice_login = r#"{"email":"alice@corp.example","password":"alicepass1"}"#;
    assert_eq!(
        Client::new(addr)
            .post("/api/auth.login", alice_login)
            .await
            .status,
        200
    );
}

/// Without the admin, a live instance gets the checks that change nothing, one
/// stateful check (it was fresh), and a reason for each skip that names --admin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_instance_without_its_admin_says_how_to_run_more() {
    let server = InProcessServer::default();
    let addr = conformance::Target::fresh(&server).await.unwrap();
    let target = conformance::UrlTarget::connect(&format!("http://{addr}"))
        .await
        .unwrap();
    let report = run(Arc::new(target), Some("auth.")).await;
    assert_eq!(report.failed(), 0, "{}", report.render());
    assert!(report.skipped() > report.passed(), "{}", report.render());
    assert!(
        report.render().contains("with --admin"),
        "{}",
        report.render()
    );
}

/// The `dokploy-0.14` profile against the mock's Dokploy profile: every check the
/// profile runs passes over tRPC (the REST facts over REST), the procedure checks'
/// REST runs are skipped for Dokploy's gate, and each check left out says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dokploy_mock_conforms_to_the_dokploy_profile() {
    use conformance::checks::InDokploy;
    let mock = mock::MockServer::builder()
        .profile(specs::Profile::Dokploy014)
        .start()
        .await;
    let report = conformance::runner::run_over(
        Arc::new(InProcessMock(mock)),
        None,
        conformance::runner::BOTH,
        specs::Profile::Dokploy014,
    )
    .await;
    println!("{}", report.render());
    assert_eq!(report.failed(), 0, "{}", report.failures().join("\n\n"));
    // Over both transports, but over tRPC only where a check says so.
    let expected: usize = conformance::checks::all()
        .iter()
        .filter(|c| c.mode.applies(false) && !matches!(c.in_dokploy, InDokploy::NotChecked(_)))
        .map(|c| match c.trpc_only_in_dokploy {
            Some(_) => 1,
            None => c.runs_over_both(),
        })
        .sum();
    assert_eq!(report.passed(), expected, "{}", report.render());
    assert!(report.render().contains("(profile dokploy-0.14)"));
}

/// The mock's contract profile fails the Dokploy profile, and the other way round:
/// the profiles expect different things, and the suite tells them apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_profile_of_the_suite_fails_the_other_profile_of_the_mock() {
    for (mock_profile, suite_profile) in [
        (specs::Profile::Contract, specs::Profile::Dokploy014),
        (specs::Profile::Dokploy014, specs::Profile::Contract),
    ] {
        let mock = mock::MockServer::builder()
            .profile(mock_profile)
            .start()
            .await;
        let report = conformance::runner::run_over(
            Arc::new(InProcessMock(mock)),
            Some("auth.login"),
            &[conformance::client::Transport::Trpc],
            suite_profile,
        )
        .await;
        assert!(
            report.failed() >= 2,
            "the {mock_profile} mock under the {suite_profile} profile: {}",
            report.render()
        );
    }
}
