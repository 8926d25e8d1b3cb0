//! What keeps a web page from using the control plane (`/__mock/*` and the
//! inspector): a page on another site could otherwise read the journal (passwords
//! in login bodies, session ids) and the pins, and arm faults. The control plane
//! answers only
//! - a `Host` that is a loopback name or address, or one given with
//!   `--control-host` (a page reached through DNS rebinding names its own host);
//! - no `Origin`, its own origin, or one `--cors-origin` lists (the inspector and a
//!   dev server's proxy are same-origin);
//! - and, for a `POST`, `Content-Type: application/json`, which no simple
//!   cross-site request can carry.
//!
//! The API routes keep their CORS for dev servers (`service.rs`).

use crate::state::{CorsOrigins, MockState};
use hyper::header::{CONTENT_TYPE, HOST, ORIGIN};
use hyper::{HeaderMap, Method};
use specs::{ApiError, ErrorCode};
use std::net::IpAddr;

/// The host of a `Host` header value: `[::1]:4000` → `::1`, `localhost:4000` →
/// `localhost`.
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    }
}

/// A name or address that can only mean this machine.
pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost"
        || host.ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Why a control request is refused, if it is.
pub fn control_refusal(
    state: &MockState,
    method: &Method,
    headers: &HeaderMap,
) -> Option<ApiError> {
    // One `Host`, or none counts (two could be read differently by a proxy).
    let mut hosts = headers.get_all(HOST).iter();
    let host = match (hosts.next(), hosts.next()) {
        (Some(host), None) => host.to_str().unwrap_or(""),
        _ => "",
    };
    let name = host_name(host);
    let known = state
        .control_hosts
        .iter()
        .any(|h| h.eq_ignore_ascii_case(name));
    if !(is_loopback(name) || known) {
        return Some(ApiError::new(
            ErrorCode::Forbidden,
            format!(
                "The control plane answers only to a loopback host (localhost, 127.0.0.1, [::1]), not {host:?}; \
                 start the mock with --control-host {name} to allow this one"
            ),
        ));
    }
    if let Some(origin) = headers.get(ORIGIN).and_then(|v| v.to_str().ok()) {
        let own = origin
            .strip_prefix("http://")
            .is_some_and(|rest| rest.eq_ignore_ascii_case(host));
        if !(own || control_cors_allows(state, origin)) {
            return Some(ApiError::new(
                ErrorCode::Forbidden,
                format!(
                    "The control plane refuses requests from pages of other origins ({origin}); \
                     list the origin with --cors-origin to allow it"
                ),
            ));
        }
    }
    if method == Method::POST {
        let json = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| {
                t.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("application/json")
            });
        if !json {
            return Some(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "Control requests that change the mock need Content-Type: application/json",
            ));
        }
    }
    None
}

/// Whether a page of `origin` may read control answers (CORS): only an origin
/// `--cors-origin` lists, never "any".
pub fn control_cors_allows(state: &MockState, origin: &str) -> bool {
    matches!(&state.cors, CorsOrigins::List(_)) && state.cors.allows(origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        for host in [
            "localhost:4000",
            "LOCALHOST",
            "app.localhost:5173",
            "127.0.0.1:4000",
            "127.1.2.3",
            "[::1]:4000",
            "localhost.",
        ] {
            assert!(is_loopback(host_name(host)), "{host}");
        }
        for host in [
            "attacker.example",
            "attacker.example:4000",
            "10.0.0.1:4000",
            "[2001:db8::1]:4000",
            "localhost.attacker.example",
            "",
        ] {
            assert!(!is_loopback(host_name(host)), "{host}");
        }
    }
}
