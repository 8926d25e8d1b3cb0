//! The HTTP front end: a `tower::Service` (`Api`) that speaks the REST transport
//! over the domain core, two small layers (request id + log line, per-request
//! timeout), and the accept loop that serves any such service with hyper 1.x.

mod layers;
mod rest;
mod serve;

pub use layers::{RequestIdLayer, TimeoutLayer};
pub use rest::{credentials, read_json_object, render};
pub use serve::{reject_over_limit, serve, ClientAddr, Limits};

use crate::core::Core;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Body;
use hyper::{Request, Response};
use specs::ApiError;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type HttpResponse = Response<Full<Bytes>>;

/// The API as a tower service: `/api/<procedure>`, `/api/openapi.json`, `/health`.
#[derive(Clone)]
pub struct Api {
    inner: Arc<ApiInner>,
}

struct ApiInner {
    core: Arc<Core>,
    openapi_json: Bytes,
    max_body_bytes: usize,
    /// Proxies whose `X-Forwarded-For` names the client.
    trusted_proxies: Vec<std::net::IpAddr>,
}

impl ApiInner {
    /// The client: the socket's peer, or, behind a trusted proxy, the address that
    /// proxy added last to `X-Forwarded-For`.
    fn client_address<B>(&self, request: &Request<B>) -> Option<std::net::IpAddr> {
        let peer = request.extensions().get::<ClientAddr>()?.0.ip();
        if !self.trusted_proxies.contains(&peer) {
            return Some(peer);
        }
        let forwarded = request
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .last()
            .and_then(|a| a.trim().parse().ok());
        forwarded.or(Some(peer))
    }
}

impl Api {
    pub fn new(core: Arc<Core>, limits: &Limits) -> Api {
        let openapi_json =
            serde_json::to_vec(&specs::openapi_json()).expect("JSON value serializes");
        Api {
            inner: Arc::new(ApiInner {
                core,
                openapi_json: Bytes::from(openapi_json),
                max_body_bytes: limits.max_body_bytes,
                trusted_proxies: Vec::new(),
            }),
        }
    }

    /// Trust `X-Forwarded-For` from these proxies (`--trusted-proxy`).
    pub fn with_trusted_proxies(self, proxies: Vec<std::net::IpAddr>) -> Api {
        let inner = ApiInner {
            core: self.inner.core.clone(),
            openapi_json: self.inner.openapi_json.clone(),
            max_body_bytes: self.inner.max_body_bytes,
            trusted_proxies: proxies,
        };
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
    B: Body<Data = Bytes> + Send + 'static,
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
        Box::pin(async move { Ok(rest::handle(&inner, request).await) })
    }
}

/// Headers every API answer carries.
pub fn api_response(status: u16, body: Bytes) -> HttpResponse {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .header("x-content-type-options", "nosniff")
        .body(Full::new(body))
        .expect("static headers are valid")
}

/// An error in the contract's envelope.
pub fn error_response(error: &ApiError) -> HttpResponse {
    api_response(error.http_status(), Bytes::from(error.to_json()))
}
