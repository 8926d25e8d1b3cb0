//! The mock in a real browser: `mock/browser/run.mjs` drives Debian's chromium
//! (playwright-core) through the inspector page and a frontend served by Vite on
//! another origin. This test starts the two mocks it needs and runs it.
//!
//! Needs `/usr/bin/chromium` (Debian's `chromium`) and `mock/browser/node_modules`;
//! `make test` and `.ci/run` install both. Without them the test fails under CI
//! (`CI` set) and is skipped, with a note, elsewhere.

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace holds the mock")
        .to_path_buf()
}

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// What is missing to run the browser, if anything.
fn missing() -> Option<String> {
    let modules = workspace().join("mock/browser/node_modules/playwright-core");
    if !chromium().exists() {
        return Some(format!(
            "no browser at {} (apt-get install chromium)",
            chromium().display()
        ));
    }
    if !modules.exists() {
        return Some("no mock/browser/node_modules (make test-deps)".into());
    }
    None
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

#[test]
fn the_inspector_and_a_cross_origin_frontend_in_chromium() {
    if let Some(missing) = missing() {
        assert!(
            std::env::var_os("CI").is_none(),
            "the browser test cannot run under CI: {missing}"
        );
        eprintln!("SKIPPED the browser test: {missing}");
        return;
    }
    let frontend_port = free_port();
    // The page's origin may drive this one's control plane (--cors-origin); the
    // cloud mock lists none, so the page may not drive its control plane.
    let self_hosted = mock::MockServer::builder()
        .cors(mock::CorsOrigins::List(vec![format!(
            "http://localhost:{frontend_port}"
        )]))
        .start_blocking();
    let cloud = mock::MockServer::builder()
        .mode(mock::Mode::Cloud)
        .public_url(format!("http://localhost:{frontend_port}"))
        .start_blocking();
    let screenshots = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"))
        .join("browser-screenshots");
    let output = Command::new("node")
        .arg(workspace().join("mock/browser/run.mjs"))
        .current_dir(workspace().join("mock/browser"))
        .env("SELF_HOSTED_URL", self_hosted.uri())
        .env("CLOUD_URL", cloud.uri())
        .env("FRONTEND_PORT", frontend_port.to_string())
        .env("SCREENSHOTS", &screenshots)
        .env("CHROMIUM", chromium())
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        output.status.success(),
        "the browser run failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("steps passed"), "{stdout}");
    for shot in [
        "inspector-outbox",
        "inspector-accounts",
        "inspector-journal",
    ] {
        let path = screenshots.join(format!("{shot}.png"));
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        assert!(size > 1000, "{} was not written", path.display());
    }
}
