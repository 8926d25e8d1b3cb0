//! What the suite runs against: an address, a way to get a fresh instance, and the
//! target's clock (to compute TOTP pins, and to move it where the target allows).

use crate::client::{send, try_send};
use crate::live::AdminCredential;
use std::future::Future;
use std::net::{SocketAddr, ToSocketAddrs};
use std::pin::Pin;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A target the suite can test.
pub trait Target: Send + Sync {
    /// A fresh instance in self-hosted mode (no accounts); its address.
    fn fresh(&self) -> BoxFuture<'_, Result<SocketAddr, String>>;
    /// An instance for checks that change nothing: the current one will do.
    fn shared(&self) -> BoxFuture<'_, Result<SocketAddr, String>> {
        self.fresh()
    }
    /// The target's clock now, in milliseconds since the epoch.
    fn now_ms(&self) -> BoxFuture<'_, i64>;
    /// Moves the target's clock forward; `false` when the target cannot.
    fn advance_clock(&self, ms: i64) -> BoxFuture<'_, bool>;
    /// A name for reports.
    fn name(&self) -> String;
    /// The admin of a live instance, one that cannot be reset: the checks then run
    /// beside what it holds and tidy up after themselves (`crate::live`).
    fn live_admin(&self) -> Option<AdminCredential> {
        None
    }
    /// The emails the target has sent since its instance was made, oldest first, as
    /// text (their links and tokens); `None` when the suite cannot read them.
    fn emails(&self) -> BoxFuture<'_, Option<Vec<String>>> {
        Box::pin(async { None })
    }
}

/// Whether the instance at `addr` runs in cloud mode: self-hosted answers the reset
/// request with 404, cloud with 200 (and, for an unknown email, sends nothing).
pub async fn is_cloud(addr: SocketAddr) -> bool {
    send(
        addr,
        "POST",
        "/api/auth.sendResetPasswordEmail",
        &[("content-type", "application/json")],
        r#"{"email":"nobody@conformance.invalid"}"#,
    )
    .await
    .status
        == 200
}

/// The texts of the mock's outbox (`GET /__mock/outbox`).
pub async fn mock_outbox(addr: SocketAddr) -> Option<Vec<String>> {
    let r = try_send(addr, "GET", "/__mock/outbox", &[], "").await?;
    let emails = serde_json::from_str::<serde_json::Value>(&r.body).ok()?;
    Some(
        emails
            .as_array()?
            .iter()
            .map(|e| e["text"].as_str().unwrap_or_default().to_string())
            .collect(),
    )
}

fn system_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Any implementation at a URL. When it has the mock's control plane, each check
/// gets a reset instance and the mock's clock; otherwise the instance must be
/// fresh when the run starts and its clock is the system's.
pub struct UrlTarget {
    url: String,
    addr: SocketAddr,
    has_control_plane: bool,
    used: std::sync::atomic::AtomicBool,
    /// Run before each check that needs a fresh instance (`--reset-cmd`).
    reset_command: Option<String>,
    /// The admin of the instance, when it cannot be reset (`--admin`).
    admin: Option<AdminCredential>,
    /// Ages what the target stores instead of moving its clock (`--shift-time-cmd`).
    shift_command: Option<String>,
}

impl UrlTarget {
    pub async fn connect(url: &str) -> Result<UrlTarget, String> {
        let host = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url}: only http:// targets are supported"))?
            .trim_end_matches('/');
        let addr = host
            .to_socket_addrs()
            .map_err(|e| format!("{url}: {e}"))?
            .next()
            .ok_or_else(|| format!("{url}: no address"))?;
        try_send(addr, "GET", "/api/auth.get", &[], "")
            .await
            .ok_or_else(|| format!("{url}: nothing answers there"))?;
        let has_control_plane = try_send(addr, "GET", "/__mock/clock", &[], "")
            .await
            .is_some_and(|r| r.status == 200);
        Ok(UrlTarget {
            url: url.to_string(),
            addr,
            has_control_plane,
            used: std::sync::atomic::AtomicBool::new(false),
            reset_command: None,
            admin: None,
            shift_command: None,
        })
    }

    /// Resets the target with `command` (run by `sh -c`, which must exit 0) before
    /// each check that needs a fresh instance, instead of `/__mock/reset`: for an
    /// implementation whose state is, say, a database that a command can empty.
    pub fn with_reset_command(self, command: &str) -> UrlTarget {
        UrlTarget {
            reset_command: Some(command.to_string()),
            ..self
        }
    }

    /// Moves time forward by running `command` (by `sh -c`, which must exit 0) with
    /// `{seconds}` replaced: for a target whose clock cannot be moved but whose
    /// stored times can be made that much older (a Dokploy's, with SQL), which the
    /// expiry and sliding checks cannot tell from a clock moved forward.
    pub fn with_shift_command(self, command: &str) -> UrlTarget {
        UrlTarget {
            shift_command: Some(command.to_string()),
            ..self
        }
    }

    /// The instance is live and has this admin: where it cannot be reset, the
    /// stateful checks run beside what it holds instead of being skipped.
    pub fn with_admin(self, admin: AdminCredential) -> UrlTarget {
        UrlTarget {
            admin: Some(admin),
            ..self
        }
    }

    /// Whether each check can get a reset instance.
    pub fn resets(&self) -> bool {
        self.has_control_plane || self.reset_command.is_some()
    }
}

/// Runs the `what` command (reset, time shift); why it failed, if it did.
async fn run_command(what: &str, command: &str) -> Result<(), String> {
    let out = tokio::process::Command::new("sh")
        .args(["-c", command])
        .output()
        .await
        .map_err(|e| format!("the {what} command could not start: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "the {what} command failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}

/// The mock's control plane takes changes only as JSON.
const JSON: [(&str, &str); 1] = [("content-type", "application/json")];

impl Target for UrlTarget {
    fn fresh(&self) -> BoxFuture<'_, Result<SocketAddr, String>> {
        Box::pin(async move {
            if let Some(command) = &self.reset_command {
                run_command("reset", command).await?;
                return Ok(self.addr);
            }
            if self.has_control_plane {
                let r = send(self.addr, "POST", "/__mock/reset", &JSON, "{}").await;
                return (r.status == 200).then_some(self.addr).ok_or(r.body);
            }
            if self.used.swap(true, std::sync::atomic::Ordering::SeqCst) {
                return Err("the target cannot be reset: one fresh instance per run (with --admin, the checks run beside what a live instance holds)".into());
            }
            Ok(self.addr)
        })
    }

    fn shared(&self) -> BoxFuture<'_, Result<SocketAddr, String>> {
        let addr = self.addr;
        Box::pin(async move { Ok(addr) })
    }

    fn now_ms(&self) -> BoxFuture<'_, i64> {
        Box::pin(async move {
            if self.has_control_plane {
                let r = send(self.addr, "GET", "/__mock/clock", &[], "").await;
                if let Some(ms) = r.json()["nowMs"].as_i64() {
                    return ms;
                }
            }
            system_now_ms()
        })
    }

    fn advance_clock(&self, ms: i64) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            if !self.has_control_plane {
                let Some(command) = &self.shift_command else {
                    return false;
                };
                if ms == 0 {
                    return true;
                }
                // Whole seconds, rounded up: never less than was asked for.
                let seconds = (ms + 999) / 1000;
                let command = command.replace("{seconds}", &seconds.to_string());
                return match run_command("time shift", &command).await {
                    Ok(()) => true,
                    Err(why) => {
                        eprintln!("conformance: {why}");
                        false
                    }
                };
            }
            let body = format!(r#"{{"advance": {ms}}}"#);
            send(self.addr, "POST", "/__mock/clock", &JSON, &body)
                .await
                .status
                == 200
        })
    }

    fn name(&self) -> String {
        self.url.clone()
    }

    fn live_admin(&self) -> Option<AdminCredential> {
        self.admin.clone().filter(|_| !self.resets())
    }

    fn emails(&self) -> BoxFuture<'_, Option<Vec<String>>> {
        Box::pin(async move {
            if !self.has_control_plane {
                return None;
            }
            mock_outbox(self.addr).await
        })
    }
}

/// Any implementation started by a command, a new process for each check (and each
/// model sequence): in the command, `{addr}` becomes a free loopback address, `{dir}`
/// a new empty directory, and `{smtp_port}` the port of an SMTP server the suite
/// runs (so a cloud-mode target's emails can be read). The clock is the system's
/// and cannot be moved.
///
/// ```text
/// conformance run --spawn 'dokploy-auth --data-dir {dir}/data --bcrypt-cost 4 serve --listen {addr}'
/// ```
pub struct SpawnTarget {
    command: String,
    smtp: Option<crate::smtp::SmtpSink>,
    /// Messages the sink had received when the current instance started.
    emails_before: std::sync::atomic::AtomicUsize,
    current: tokio::sync::Mutex<Option<Spawned>>,
}

struct Spawned {
    child: tokio::process::Child,
    dir: std::path::PathBuf,
    addr: SocketAddr,
}

impl Spawned {
    async fn stop(mut self) {
        let _ = self.child.kill().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl SpawnTarget {
    /// Needs a tokio runtime (the SMTP server, when the command names `{smtp_port}`).
    pub async fn new(command: &str) -> Result<SpawnTarget, String> {
        if !command.contains("{addr}") {
            return Err("the --spawn command must contain {addr} (where to listen)".into());
        }
        let smtp = if command.contains("{smtp_port}") {
            Some(
                crate::smtp::SmtpSink::start()
                    .await
                    .map_err(|e| format!("cannot start the SMTP server: {e}"))?,
            )
        } else {
            None
        };
        Ok(SpawnTarget {
            command: command.to_string(),
            smtp,
            emails_before: std::sync::atomic::AtomicUsize::new(0),
            current: tokio::sync::Mutex::new(None),
        })
    }

    async fn start(&self) -> Result<Spawned, String> {
        // Unique in this process, whichever target asks (tests run several at once).
        static STARTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("conformance-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?;
        let smtp_port = self.smtp.as_ref().map_or(0, |s| s.addr.port());
        let command = self
            .command
            .replace("{addr}", &addr.to_string())
            .replace("{dir}", &dir.to_string_lossy())
            .replace("{smtp_port}", &smtp_port.to_string());
        if let Some(smtp) = &self.smtp {
            self.emails_before
                .store(smtp.messages().len(), std::sync::atomic::Ordering::SeqCst);
        }
        // `exec`: the shell becomes the implementation, so killing it stops it.
        let child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(format!("exec {command}"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot run {command}: {e}"))?;
        let spawned = Spawned { child, dir, addr };
        for _ in 0..3000 {
            if try_send(addr, "GET", "/api/auth.get", &[], "")
                .await
                .is_some()
            {
                return Ok(spawned);
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        spawned.stop().await;
        Err(format!("{command}: nothing answered within 30 s"))
    }
}

impl Target for SpawnTarget {
    fn fresh(&self) -> BoxFuture<'_, Result<SocketAddr, String>> {
        Box::pin(async move {
            let mut current = self.current.lock().await;
            if let Some(old) = current.take() {
                old.stop().await;
            }
            let spawned = self.start().await?;
            let addr = spawned.addr;
            *current = Some(spawned);
            Ok(addr)
        })
    }

    fn shared(&self) -> BoxFuture<'_, Result<SocketAddr, String>> {
        Box::pin(async move {
            if let Some(running) = self.current.lock().await.as_ref() {
                return Ok(running.addr);
            }
            self.fresh().await
        })
    }

    fn now_ms(&self) -> BoxFuture<'_, i64> {
        Box::pin(async { system_now_ms() })
    }

    fn advance_clock(&self, _ms: i64) -> BoxFuture<'_, bool> {
        Box::pin(async { false })
    }

    fn name(&self) -> String {
        self.command.clone()
    }

    fn emails(&self) -> BoxFuture<'_, Option<Vec<String>>> {
        Box::pin(async move {
            let smtp = self.smtp.as_ref()?;
            let before = self.emails_before.load(std::sync::atomic::Ordering::SeqCst);
            Some(smtp.messages().into_iter().skip(before).collect())
        })
    }
}

impl Drop for SpawnTarget {
    fn drop(&mut self) {
        if let Some(spawned) = self.current.get_mut().take() {
            // kill_on_drop stops the process; the directory is ours to remove.
            let _ = std::fs::remove_dir_all(&spawned.dir);
        }
    }
}
