//! The HTTP front end: a `tower::Service` (`Api`) that speaks the REST and tRPC
//! transports over the domain core, two small layers (request id + log line, per-request
//! timeout), and the accept loop that serves any such service with hyper 1.x.

mod cookies;
mod cross_site;
mod layers;
mod leftover;
mod rest;
mod serve;
mod trpc;

pub use cookies::{credentials, parse_credentials, set_cookie};
pub use cross_site::{origin_of, AllowedOrigins};
pub use layers::{
    current_request_id, note_client, GivenRequestId, RequestId, RequestIdLayer, RequestIdValue,
    RequestObserver, Timeout, TimeoutLayer, MAX_GIVEN_REQUEST_ID,
};
pub use serve::{peer_of, serve, ClientAddr, Draining, Limits};

use crate::core::Core;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Body;
use hyper::{Request, Response};
use specs::{ApiError, Procedure};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type HttpResponse = Response<Full<Bytes>>;

/// The API as a tower service: `/api/<procedure>` (REST), `/api/trpc/<procedures>`
/// (tRPC), `/api/openapi.json`, `/health`.
#[derive(Clone)]
pub struct Api {
    inner: Arc<ApiInner>,
}

#[derive(Clone)]
struct ApiInner {
    core: Arc<Core>,
    openapi_json: Bytes,
    max_body_bytes: usize,
    /// Adds `Secure` to the session cookie.
    cookie_secure: bool,
    /// Pages that may make mutations with the session cookie.
    allowed_origins: AllowedOrigins,
    /// The public URL is https: answers carry `Strict-Transport-Security`.
    https: bool,
    /// Proxies whose `X-Forwarded-For` names the client.
    trusted_proxies: Vec<std::net::IpAddr>,
    /// Whether a request came from a trusted proxy yet, and whether the operator was
    /// told that one came from elsewhere first (a `--trusted-proxy` that matches no
    /// peer leaves every client counted as the proxy).
    proxies_seen: Arc<ProxiesSeen>,
    hook: Option<Arc<dyn CallHook>>,
    /// The contract, or Dokploy v0.14's transport where it differs (the mock's
    /// `--profile dokploy-0.14`).
    profile: specs::Profile,
    /// Shutdown has begun: `/ready` answers 503, answers close their connections.
    draining: Draining,
}

#[derive(Default)]
struct ProxiesSeen {
    one: std::sync::atomic::AtomicBool,
    warned: std::sync::atomic::AtomicBool,
}

/// Runs before every procedure call on either transport; an error it gives answers
/// that call instead, in the transport's own envelope. The mock's forced faults are
/// one.
pub trait CallHook: Send + Sync + 'static {
    /// What to wait for before the call, or `None` when there is nothing to do for
    /// it (most calls: nothing allocated, nothing awaited). `input` is the call's
    /// input as decoded (superjson unwrapped), if any.
    fn before_call<'a>(
        &'a self,
        procedure: &'static Procedure,
        headers: &'a hyper::HeaderMap,
        input: Option<&'a serde_json::Value>,
    ) -> Option<Pin<Box<dyn Future<Output = Option<ApiError>> + Send + 'a>>>;
}

impl ApiInner {
    /// Whether a cookie session's mutation from another site is refused
    /// (difference 22: Dokploy refuses none).
    fn cross_site_refusal(
        &self,
        headers: &hyper::HeaderMap,
        credentials: &crate::core::Credentials,
    ) -> Option<ApiError> {
        if self.profile.is_dokploy() {
            return None;
        }
        let scheme = if self.https { "https" } else { "http" };
        cross_site::refusal(headers, credentials, &self.allowed_origins, scheme)
    }

    async fn before_call(
        &self,
        procedure: &'static Procedure,
        headers: &hyper::HeaderMap,
        input: Option<&serde_json::Value>,
    ) -> Option<ApiError> {
        let hook = self.hook.as_ref()?;
        hook.before_call(procedure, headers, input)?.await
    }

    /// The client: the socket's peer, or, behind trusted proxies, the nearest
    /// untrusted address in `X-Forwarded-For` (`net::client_of`). `peer`: `peer_of`
    /// the request.
    fn client_address(
        &self,
        headers: &hyper::HeaderMap,
        peer: Option<std::net::SocketAddr>,
    ) -> Option<std::net::IpAddr> {
        let client = self.client_of(headers, peer?.ip());
        layers::note_client(client);
        Some(client)
    }

    fn client_of(&self, headers: &hyper::HeaderMap, peer: std::net::IpAddr) -> std::net::IpAddr {
        use std::sync::atomic::Ordering::Relaxed;
        if self.trusted_proxies.is_empty() {
            return crate::net::canonical(peer);
        }
        let seen = &self.proxies_seen;
        if crate::net::is_trusted(peer, &self.trusted_proxies) {
            seen.one.store(true, Relaxed);
        } else if !seen.one.load(Relaxed) && !seen.warned.swap(true, Relaxed) {
            tracing::warn!(
                %peer,
                trusted = ?self.trusted_proxies,
                "a request came from an address that is no --trusted-proxy before any came \
                 from one: its X-Forwarded-For is ignored. Behind a proxy, give the address \
                 it connects from (as this line shows it; IPv4-mapped is the same as IPv4)"
            );
        }
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|v| v.as_bytes());
        crate::net::client_of(peer, forwarded, &self.trusted_proxies)
    }
}

impl Api {
    pub fn new(core: Arc<Core>, limits: &Limits) -> Api {
        let openapi_json =
            serde_json::to_vec(&specs::openapi_json()).expect("JSON value serializes");
        let cookie_secure = core.config().cookie_secure;
        let public_url = &core.config().public_url;
        let allowed_origins = AllowedOrigins::List(vec![origin_of(public_url)]);
        let https = public_url.starts_with("https://");
        let profile = core.config().profile;
        Api {
            inner: Arc::new(ApiInner {
                core,
                openapi_json: Bytes::from(openapi_json),
                max_body_bytes: limits.max_body_bytes,
                cookie_secure,
                allowed_origins,
                https,
                trusted_proxies: Vec::new(),
                proxies_seen: Default::default(),
                hook: None,
                profile,
                draining: limits.draining.clone(),
            }),
        }
    }

    /// Trust `X-Forwarded-For` from these proxies (`--trusted-proxy`).
    pub fn with_trusted_proxies(self, proxies: Vec<std::net::IpAddr>) -> Api {
        self.changed(|inner| inner.trusted_proxies = proxies)
    }

    /// Pages that may make mutations with the session cookie (by default the
    /// public URL's origin; the server's own host is always allowed).
    pub fn with_allowed_origins(self, origins: AllowedOrigins) -> Api {
        self.changed(|inner| inner.allowed_origins = origins)
    }

    /// Run `hook` before every procedure call.
    pub fn with_call_hook(self, hook: Arc<dyn CallHook>) -> Api {
        self.changed(|inner| inner.hook = Some(hook))
    }

    fn changed(self, change: impl FnOnce(&mut ApiInner)) -> Api {
        let mut inner = (*self.inner).clone();
        change(&mut inner);
        Api {
            inner: Arc::new(inner),
        }
    }

    pub fn core(&self) -> &Arc<Core> {
        &self.inner.core
    }
}

impl<B> tower::Service<Request<B>> for Api
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    type Response = HttpResponse;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let inner = self.inner.clone();
        // Here, not in the future: only `call` is given it.
        let peer = peer_of(&request);
        // The request's head and body go down apart, never made a `Request` again:
        // each future holds what it was given as well as what it made of it, and
        // every move of a future copies all of it.
        let (parts, body) = request.into_parts();
        boxed_in_place(|| async move {
            let expects_continue = parts
                .headers
                .get(hyper::header::EXPECT)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
            let (body, leftover) = leftover::share(body, expects_continue);
            let mut response = if parts.uri.path().starts_with(trpc::PREFIX) {
                trpc::handle(&inner, &parts, body, peer).await
            } else {
                rest::handle(&inner, &parts, body, peer).await
            };
            leftover.drain().await;
            if inner.draining.is_on() {
                // Shutting down: the client's next request goes on a new connection,
                // which a load balancer opens to another instance.
                response.headers_mut().insert(
                    hyper::header::CONNECTION,
                    hyper::header::HeaderValue::from_static("close"),
                );
            }
            if inner.https {
                // Served over https (the public URL says so): browsers keep to it.
                response.headers_mut().insert(
                    hyper::header::STRICT_TRANSPORT_SECURITY,
                    hyper::header::HeaderValue::from_static("max-age=31536000"),
                );
            }
            Ok(response)
        })
    }
}

/// `make()`'s future in a box, the box allocated first: `Box::pin(future)` made the
/// future on the stack and then copied all of it (its size, uninitialized states
/// too) into the box.
#[inline(always)]
pub fn boxed_in_place<F: Future>(make: impl FnOnce() -> F) -> Pin<Box<F>> {
    Box::into_pin(Box::write(Box::new_uninit(), make()))
}

/// Runs `call` with `value` in `slot`, which is empty again afterwards, even if
/// `call` panics. How `serve` and the mock give the layers inside a service's `call`
/// a request's peer and id: a request extension would cost a map and a box.
// Inlined: as a call it moved the request and the future through it (+200
// instructions per request, callgrind).
#[inline(always)]
fn lending<T: Copy + 'static, R>(
    slot: &'static std::thread::LocalKey<std::cell::Cell<Option<T>>>,
    value: T,
    call: impl FnOnce() -> R,
) -> R {
    struct Empty<T: 'static>(&'static std::thread::LocalKey<std::cell::Cell<Option<T>>>);
    impl<T> Drop for Empty<T> {
        fn drop(&mut self) {
            self.0.set(None);
        }
    }
    slot.set(Some(value));
    let _empty = Empty(slot);
    call()
}

/// Headers every API answer carries.
pub fn api_response(status: u16, body: Bytes) -> HttpResponse {
    use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
    let mut response = Response::new(Full::new(body));
    // Every status the contract uses is a valid one.
    *response.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// `Retry-After` and every `Set-Cookie` the calls of a request ask for.
fn add_reply_headers(
    response: &mut HttpResponse,
    retry_after_secs: Option<u64>,
    cookies: impl IntoIterator<Item = String>,
) {
    let headers = response.headers_mut();
    if let Some(secs) = retry_after_secs {
        headers.insert(hyper::header::RETRY_AFTER, secs.into());
    }
    for cookie in cookies {
        if let Ok(value) = hyper::header::HeaderValue::from_str(&cookie) {
            headers.append(hyper::header::SET_COOKIE, value);
        }
    }
}

/// An error in the contract's envelope.
pub fn error_response(error: &ApiError) -> HttpResponse {
    api_response(error.http_status(), Bytes::from(error.to_json()))
}
