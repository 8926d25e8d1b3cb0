//! The inspector page at `/__mock/`: three static files compiled into the binary
//! (no build step, no CDN, works offline). The page reads and drives the mock only
//! through the control plane, like any other client.

use bytes::Bytes;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use server::http::HttpResponse;

const PAGE: &str = include_str!("../inspector/index.html");
const SCRIPT: &str = include_str!("../inspector/inspector.js");
const STYLE: &str = include_str!("../inspector/inspector.css");

/// Only the page's own files, and requests to its own origin: what the journal
/// shows (bodies sent by anyone) can never run as script in the page.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

fn file(content_type: &'static str, text: &'static str) -> HttpResponse {
    let mut response = HttpResponse::new(http_body_util::Full::new(Bytes::from_static(
        text.as_bytes(),
    )));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("content-security-policy", HeaderValue::from_static(POLICY));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    response
}

pub fn page() -> HttpResponse {
    file("text/html; charset=utf-8", PAGE)
}

pub fn script() -> HttpResponse {
    file("text/javascript; charset=utf-8", SCRIPT)
}

pub fn style() -> HttpResponse {
    file("text/css; charset=utf-8", STYLE)
}

/// `/__mock` → `/__mock/`, so that the page's relative links resolve.
pub fn to_page() -> HttpResponse {
    let mut response = HttpResponse::new(http_body_util::Full::new(Bytes::new()));
    *response.status_mut() = hyper::StatusCode::PERMANENT_REDIRECT;
    response
        .headers_mut()
        .insert(LOCATION, HeaderValue::from_static("/__mock/"));
    response
}
