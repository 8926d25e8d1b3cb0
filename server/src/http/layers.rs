//! Two tower layers every front end wraps around its service: a request id with one
//! log line per request, and a per-request timeout answered in the contract envelope.
//! The log line names method, path, status and time: never a query string, header or
//! body, where passwords, tokens and session ids travel.

use super::{error_response, HttpResponse};
use hyper::Request;
use specs::{ApiError, ErrorCode};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tower::{Layer, Service};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Numbers requests from 1 (per layer) and logs each one when answered.
#[derive(Clone, Default)]
pub struct RequestIdLayer {
    next: Arc<AtomicU64>,
}

impl RequestIdLayer {
    pub fn new() -> RequestIdLayer {
        RequestIdLayer::default()
    }

    /// Numbers from `counter` + 1; whoever holds `counter` can restart the numbering.
    pub fn with_counter(counter: Arc<AtomicU64>) -> RequestIdLayer {
        RequestIdLayer { next: counter }
    }
}

impl<S> Layer<S> for RequestIdLayer {
    type Service = RequestId<S>;
    fn layer(&self, inner: S) -> RequestId<S> {
        RequestId {
            inner,
            next: self.next.clone(),
        }
    }
}

#[derive(Clone)]
pub struct RequestId<S> {
    inner: S,
    next: Arc<AtomicU64>,
}

impl<S, B> Service<Request<B>> for RequestId<S>
where
    S: Service<Request<B>, Response = HttpResponse, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = HttpResponse;
    type Error = Infallible;
    type Future = BoxFuture<Result<HttpResponse, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let method = request.method().clone();
        // A `Uri` clone shares its bytes: no copy of the path.
        let uri = request.uri().clone();
        // Take the service that was polled ready, leave a clone in its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let started = Instant::now();
            let mut response = inner.call(request).await?;
            let status = response.status().as_u16();
            tracing::info!(
                request_id = id,
                %method,
                path = uri.path(),
                status,
                ms = started.elapsed().as_millis() as u64,
                "request"
            );
            response
                .headers_mut()
                .insert("x-request-id", hyper::header::HeaderValue::from(id));
            Ok(response)
        })
    }
}

/// Answers 408 `TIMEOUT` when the service takes longer than `limit`.
#[derive(Clone, Copy)]
pub struct TimeoutLayer {
    limit: Duration,
}

impl TimeoutLayer {
    pub fn new(limit: Duration) -> TimeoutLayer {
        TimeoutLayer { limit }
    }
}

impl<S> Layer<S> for TimeoutLayer {
    type Service = Timeout<S>;
    fn layer(&self, inner: S) -> Timeout<S> {
        Timeout {
            inner,
            limit: self.limit,
        }
    }
}

#[derive(Clone)]
pub struct Timeout<S> {
    inner: S,
    limit: Duration,
}

impl<S, B> Service<Request<B>> for Timeout<S>
where
    S: Service<Request<B>, Response = HttpResponse, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = HttpResponse;
    type Error = Infallible;
    type Future = BoxFuture<Result<HttpResponse, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let future = self.inner.call(request);
        let limit = self.limit;
        Box::pin(async move {
            match tokio::time::timeout(limit, future).await {
                Ok(answer) => answer,
                Err(_) => Ok(error_response(&ApiError::new(
                    ErrorCode::Timeout,
                    "The request took too long to answer",
                ))),
            }
        })
    }
}
