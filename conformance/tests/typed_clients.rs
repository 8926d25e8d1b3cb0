//! The contract's generated descriptions, as a frontend developer uses them:
//! - `specs/typescript/router.d.ts` types `createTRPCProxyClient<AppRouter>` and
//!   `createTRPCReact<AppRouter>`: `tsc --noEmit` over a client that calls every
//!   procedure, and over a file of wrong calls each marked `@ts-expect-error`;
//! - openapi-typescript turns `specs/openapi.yaml` into types for openapi-fetch,
//!   whose client signs up, logs in, reads the account and logs out with the cookie
//!   against the server and the mock.
//!
//! Needs Node and the packages pinned in `conformance/node` (installed when missing).

mod common;
use common::{install_packages, node_dir, InProcessMock, InProcessServer};
use conformance::target::Target;
use std::process::Command;

/// Runs a tool of `conformance/node/node_modules/.bin`, failing with its output.
fn run_bin(bin: &str, args: &[&str]) {
    install_packages();
    let dir = node_dir();
    let output = Command::new(dir.join("node_modules/.bin").join(bin))
        .args(args)
        .current_dir(&dir)
        .output()
        .unwrap_or_else(|e| panic!("{bin} starts: {e}"));
    assert!(
        output.status.success(),
        "{bin} {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_generated_app_router_types_trpc_clients_and_refuses_wrong_calls() {
    // Unused `@ts-expect-error` directives are errors: each wrong call must fail.
    run_bin("tsc", &["-p", "typed"]);
}

/// Generates the document's types and compiles the openapi-fetch client, once.
fn openapi_fetch_client() {
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        run_bin(
            "openapi-typescript",
            &[
                "../../specs/openapi.yaml",
                "-o",
                "openapi-fetch/generated/openapi.d.ts",
            ],
        );
        run_bin("tsc", &["-p", "openapi-fetch"]);
    });
}

async fn run_openapi_fetch_client(target: &dyn Target) {
    openapi_fetch_client();
    let addr = target.fresh().await.expect("a fresh target");
    let output = tokio::process::Command::new("node")
        .arg("openapi-fetch/dist/client.js")
        .arg(format!("http://{addr}/api"))
        .current_dir(node_dir())
        .output()
        .await
        .expect("node starts");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && report.contains(r#""ok":true"#),
        "the openapi-fetch client failed against {}:\n{report}{}",
        target.name(),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(report.contains(r#""keys":12"#), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_generated_from_the_document_works_against_the_server() {
    run_openapi_fetch_client(&InProcessServer::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_generated_from_the_document_works_against_the_mock() {
    run_openapi_fetch_client(&InProcessMock(mock::MockServer::start().await)).await;
}
