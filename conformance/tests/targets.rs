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

/// Every check for the mode passes, over REST and over tRPC (those about REST
/// itself over REST only); only those for the other mode are skipped.
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

/// `--reset-cmd`: the target is reset by a command before each stateful check (here
/// a Python one-liner posting to the mock's reset; for another implementation, one
/// that empties its database), and every check runs as with a control plane.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_command_gives_each_check_a_fresh_instance() {
    let mock = mock::MockServer::start().await;
    let reset = format!(
        "python3 -c \"import urllib.request as u; u.urlopen(u.Request('{}/__mock/reset', method='POST'))\"",
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
