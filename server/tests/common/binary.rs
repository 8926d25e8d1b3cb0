//! The production binary as a child process: served on a free port over a test's
//! directory (`data/` and, beside it, the key file `data.key`), or run once.

use super::try_send;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_dokploy-auth");

pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Server {
    /// Reads its log lines away: under a load, a pipe nobody reads fills and the
    /// server waits on it.
    pub fn drain_logs(&mut self) {
        if let Some(mut logs) = self.child.stderr.take() {
            std::thread::spawn(move || std::io::copy(&mut logs, &mut std::io::sink()));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn data_dir(root: &Path) -> String {
    root.join("data").to_str().unwrap().to_string()
}

/// Serves `root`'s data with JSON logs on a piped stderr.
pub async fn serve(root: &Path, bcrypt_cost: &str) -> Server {
    serve_with(root, bcrypt_cost, &[], &[]).await
}

/// `serve` with more arguments: global ones (before `serve`), and `serve`'s own.
pub async fn serve_with(
    root: &Path,
    bcrypt_cost: &str,
    global: &[&str],
    serving: &[&str],
) -> Server {
    let mut json_logs = vec!["--log-format", "json"];
    json_logs.extend_from_slice(global);
    serve_logging(root, bcrypt_cost, &json_logs, serving, "info").await
}

/// `serve_with` in the log format `global` says (text by default), at the level
/// `rust_log` says (`RUST_LOG`).
pub async fn serve_logging(
    root: &Path,
    bcrypt_cost: &str,
    global: &[&str],
    serving: &[&str],
    rust_log: &str,
) -> Server {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let child = Command::new(BIN)
        .args(["--data-dir", &data_dir(root), "--bcrypt-cost", bcrypt_cost])
        .args(global)
        .args(["serve", "--listen", &addr.to_string()])
        .args(serving)
        .env("RUST_LOG", rust_log)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let server = Server { child, addr };
    for _ in 0..500 {
        if try_send(addr, "GET", "/health", &[], "").await.is_some() {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the server did not start");
}

/// One command over `root`'s data, at bcrypt cost 4.
pub fn run(args: &[&str], root: &Path) -> Output {
    Command::new(BIN)
        .args(["--data-dir", &data_dir(root), "--bcrypt-cost", "4"])
        .args(args)
        .output()
        .unwrap()
}

/// `run`, with `stdin` on the command's standard input.
pub fn run_with_stdin(args: &[&str], root: &Path, stdin: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .args(["--data-dir", &data_dir(root), "--bcrypt-cost", "4"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// SIGTERM, and the exit status.
pub fn terminate(server: &mut Server) -> std::process::ExitStatus {
    let pid = server.child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    server.child.wait().unwrap()
}

/// What `promtool ARGS` says with `input` on its standard input (nothing when all is
/// well); `None` when promtool is not installed (`make test-deps` installs it).
pub fn promtool(args: &[&str], input: &str) -> Option<String> {
    use std::io::Write;
    let mut child = std::process::Command::new("promtool")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(input.as_bytes()).ok()?;
    let out = child.wait_with_output().ok()?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(match out.status.success() {
        true => said.trim().to_string(),
        false => format!("failed: {said}"),
    })
}

/// The id of the key `key rotate` replaced, from what it printed ("… removes key
/// <id>.").
pub fn replaced_key(rotate_output: &str) -> String {
    rotate_output
        .split("removes key ")
        .nth(1)
        .and_then(|rest| rest.split('.').next())
        .expect("key rotate names the key it replaced")
        .to_string()
}
