//! The `conformance` binary: its flags for live targets and profiles, its report
//! and its exit codes.

mod common;
use std::process::Output;

async fn conformance(args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_dokploy-auth-conformance"))
        .arg("run")
        .args(args)
        .output()
        .await
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dokploy_profile_over_trpc_against_the_dokploy_mock_passes_with_junit() {
    let mock = mock::MockServer::builder()
        .profile(specs::Profile::Dokploy014)
        .start()
        .await;
    let junit = tempfile::NamedTempFile::new().unwrap();
    let junit_path = junit.path().to_str().unwrap();
    let out = conformance(&[
        "--target",
        &mock.uri(),
        "--profile",
        "dokploy-0.14",
        "--transport",
        "trpc",
        "--junit",
        junit_path,
    ])
    .await;
    let report = text(&out);
    assert!(out.status.success(), "{report}");
    assert!(report.contains("(profile dokploy-0.14)"), "{report}");
    assert!(report.contains(" 0 failed"), "{report}");
    // The model ran in the profile too (passed, not skipped).
    let model: Vec<&str> = report
        .lines()
        .find(|l| l.starts_with("model "))
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    assert_eq!(model, ["model", "1", "0", "0"], "{report}");
    // Over tRPC alone: the tRPC checks run, the REST ones do not.
    assert!(report.contains("\ntrpc "), "{report}");
    assert!(!report.contains("\ntransport "), "{report}");
    let xml = std::fs::read_to_string(junit.path()).unwrap();
    assert!(xml.contains("failures=\"0\""), "{xml}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_contract_profile_fails_the_dokploy_mock_with_exit_code_1() {
    let mock = mock::MockServer::builder()
        .profile(specs::Profile::Dokploy014)
        .start()
        .await;
    let out = conformance(&["--target", &mock.uri(), "--filter", "auth.login"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("FAILED auth.login"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_server_given_its_admin_on_the_command_line() {
    let server = common::live_server().await;
    let addr = server.addr;
    let mut admin = conformance::client::Client::new(addr);
    let owner = r#"{"email":"owner@corp.example","password":"ownerpass1"}"#;
    assert_eq!(admin.post("/api/auth.createAdmin", owner).await.status, 200);
    let url = format!("http://{addr}");
    let out = conformance(&[
        "--target",
        &url,
        "--admin",
        "owner@corp.example:ownerpass1",
        "--filter",
        "auth.",
    ])
    .await;
    let report = text(&out);
    assert!(out.status.success(), "{report}");
    assert!(report.contains("a live target"), "{report}");
    assert!(
        report.contains("needs an instance without an admin"),
        "{report}"
    );
    // A wrong password: the checks that need the admin fail and say why.
    let out = conformance(&[
        "--target",
        &url,
        "--admin",
        "owner@corp.example:wrong-one",
        "--filter",
        "auth.one",
    ])
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("the admin's login was refused"),
        "{}",
        text(&out)
    );
    // Not EMAIL:PASSWORD: refused before anything runs.
    let out = conformance(&["--target", &url, "--admin", "owner"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("EMAIL:PASSWORD"), "{}", text(&out));
}
