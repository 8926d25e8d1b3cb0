//! Dokploy's own clients against the server and the mock: the official tRPC client
//! (`@trpc/client` 10.x, `httpBatchLink`, `superjson` 2.x, as the web frontend uses
//! it) and Dokploy's CLI 0.2.6, pinned in `conformance/node/package.json`.
//!
//! Needs Node and the packages: `npm ci` in `conformance/node` runs first when they
//! are missing (`.ci/run` does it too).

mod common;
use common::{install_packages, node_dir, InProcessMock, InProcessServer};
use conformance::target::Target;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

/// Runs `official-client.mjs` against `target`, answering its clock questions, and
/// returns its final report and the target's URL.
async fn run_official_client(target: &dyn Target) -> (serde_json::Value, String) {
    install_packages();
    let addr = target.fresh().await.expect("a fresh target");
    let mut child = Command::new("node")
        .arg("official-client.mjs")
        .arg(format!("http://{addr}"))
        .current_dir(node_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut transcript = Vec::new();
    let mut report = None;
    while let Some(line) = lines.next_line().await.unwrap() {
        transcript.push(line.clone());
        let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let answer = match message["ask"].as_str() {
            Some("now") => target.now_ms().await,
            Some("advance") => {
                let ms = message["ms"].as_i64().unwrap();
                assert!(target.advance_clock(ms).await, "the target's clock moves");
                target.now_ms().await
            }
            _ => {
                if message["done"] == true {
                    report = Some(message);
                }
                continue;
            }
        };
        stdin
            .write_all(format!("{answer}\n").as_bytes())
            .await
            .unwrap();
    }
    let output = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the official client failed against {}:\n{}\n{stderr}",
        target.name(),
        transcript.join("\n")
    );
    let report = report.expect("the script reports when done");
    (report, format!("http://{addr}"))
}

/// Dokploy's CLI, `dokploy <args>`, with `env`; returns (success, stdout + stderr).
async fn dokploy_cli(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let output = Command::new("node")
        .arg(node_dir().join("node_modules/@dokploy/cli/bin/run.js"))
        .args(args)
        .envs(env.iter().copied())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .await
        .expect("node starts");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// The official client's flow, then the CLI authenticating with the token it made.
async fn clients_work_against(target: &dyn Target) {
    let (report, url) = run_official_client(target).await;
    let token = report["token"]
        .as_str()
        .expect("the script shows the API token");

    let (ok, output) = dokploy_cli(&["authenticate", "--url", &url, "--token", token], &[]).await;
    assert!(ok, "dokploy authenticate failed:\n{output}");
    assert!(
        output.contains("Authentication details saved successfully"),
        "{output}"
    );

    let (ok, output) = dokploy_cli(
        &["verify"],
        &[("DOKPLOY_URL", &url), ("DOKPLOY_AUTH_TOKEN", token)],
    )
    .await;
    assert!(ok, "dokploy verify failed:\n{output}");
    assert!(output.contains("Token is valid"), "{output}");

    // A token the target never issued: the CLI must be told no.
    let (ok, output) = dokploy_cli(
        &["verify"],
        &[("DOKPLOY_URL", &url), ("DOKPLOY_AUTH_TOKEN", "not-a-token")],
    )
    .await;
    assert!(
        !ok,
        "dokploy verify accepted a token never issued:\n{output}"
    );
    assert!(output.contains("401"), "{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dokploys_clients_work_against_the_server() {
    clients_work_against(&InProcessServer::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dokploys_clients_work_against_the_mock() {
    clients_work_against(&InProcessMock(mock::MockServer::start().await)).await;
}
