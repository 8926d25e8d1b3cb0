//! What the suite runs against: an address, a way to get a fresh instance, and the
//! target's clock (to compute TOTP pins, and to move it where the target allows).

use crate::client::{send, try_send};
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
        })
    }

    /// Whether each check can get a reset instance.
    pub fn resets(&self) -> bool {
        self.has_control_plane
    }
}

impl Target for UrlTarget {
    fn fresh(&self) -> BoxFuture<'_, Result<SocketAddr, String>> {
        Box::pin(async move {
            if self.has_control_plane {
                let r = send(self.addr, "POST", "/__mock/reset", &[], "").await;
                return (r.status == 200).then_some(self.addr).ok_or(r.body);
            }
            if self.used.swap(true, std::sync::atomic::Ordering::SeqCst) {
                return Err("the target has no /__mock/reset: one fresh instance per run".into());
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
                return false;
            }
            let body = format!(r#"{{"advance": {ms}}}"#);
            send(self.addr, "POST", "/__mock/clock", &[], &body)
                .await
                .status
                == 200
        })
    }

    fn name(&self) -> String {
        self.url.clone()
    }
}
