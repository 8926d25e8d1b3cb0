//! Two tower layers every front end wraps around its service: a request id with one
//! log line per request, and a per-request timeout answered in the contract envelope.
//! The log line names method, path, status and time: never a query string, header or
//! body, where passwords, tokens and session ids travel.
//!
//! Why not tower-http's: its `TimeoutLayer` answers 408 with an empty body, where the
//! contract answers `{"message":…,"code":"TIMEOUT"}` on both transports; its request
//! id (`SetRequestId` + `PropagateRequestId`) and `TraceLayer` are three layers for
//! what one does here, and the mock must restart the numbering on reset (a counter
//! the mock holds, `RequestIdLayer::with_counter`). Neither was measured against
//! these in `make bench`: the choice is for the wire format and the numbering.

use super::{error_response, HttpResponse};
use hyper::{Method, Request, Uri};
use pin_project_lite::pin_project;
use specs::{ApiError, ErrorCode};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};
use tower::{Layer, Service};

/// Made once, at compile time: a `&str` name is parsed on every insert.
const X_REQUEST_ID: hyper::header::HeaderName =
    hyper::header::HeaderName::from_static("x-request-id");

thread_local! {
    /// The request whose future this thread is polling, if any.
    static POLLING: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
}

/// The id of the request being answered on this thread: what the audit log
/// records beside each event (the core knows nothing of requests' ids).
pub fn current_request_id() -> Option<u64> {
    POLLING.with(std::cell::Cell::get)
}

/// Told of every answered request (metrics).
pub trait RequestObserver: Send + Sync {
    fn answered(&self, path: &str, status: u16, elapsed: Duration);
}

/// A request id chosen before the request reaches the layer (the mock numbers
/// requests as its journal receives them), used instead of the layer's own.
#[derive(Debug, Clone, Copy)]
pub struct GivenRequestId(pub u64);

/// Numbers requests from 1 (per layer) and logs each one when answered.
#[derive(Clone, Default)]
pub struct RequestIdLayer {
    next: Arc<AtomicU64>,
    observer: Option<Arc<dyn RequestObserver>>,
}

impl RequestIdLayer {
    pub fn new() -> RequestIdLayer {
        RequestIdLayer::default()
    }

    /// Numbers from `counter` + 1; whoever holds `counter` can restart the numbering.
    pub fn with_counter(counter: Arc<AtomicU64>) -> RequestIdLayer {
        RequestIdLayer {
            next: counter,
            observer: None,
        }
    }

    /// Tells `observer` of each answered request too.
    pub fn observed_by(self, observer: Arc<dyn RequestObserver>) -> RequestIdLayer {
        RequestIdLayer {
            observer: Some(observer),
            ..self
        }
    }
}

impl<S> Layer<S> for RequestIdLayer {
    type Service = RequestId<S>;
    fn layer(&self, inner: S) -> RequestId<S> {
        RequestId {
            inner,
            next: self.next.clone(),
            observer: self.observer.clone(),
        }
    }
}

#[derive(Clone)]
pub struct RequestId<S> {
    inner: S,
    next: Arc<AtomicU64>,
    observer: Option<Arc<dyn RequestObserver>>,
}

impl<S, B> Service<Request<B>> for RequestId<S>
where
    S: Service<Request<B>, Response = HttpResponse, Error = Infallible>,
{
    type Response = HttpResponse;
    type Error = Infallible;
    type Future = RequestIdFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let id = match request.extensions().get::<GivenRequestId>() {
            Some(given) => given.0,
            None => self.next.fetch_add(1, Ordering::Relaxed) + 1,
        };
        RequestIdFuture {
            id,
            method: request.method().clone(),
            // A `Uri` clone shares its bytes: no copy of the path.
            uri: request.uri().clone(),
            started: Instant::now(),
            observer: self.observer.clone(),
            inner: self.inner.call(request),
        }
    }
}

pin_project! {
    /// The inner service's answer, logged and given its `x-request-id` when ready.
    pub struct RequestIdFuture<F> {
        #[pin]
        inner: F,
        id: u64,
        method: Method,
        uri: Uri,
        started: Instant,
        observer: Option<Arc<dyn RequestObserver>>,
    }
}

impl<F> Future for RequestIdFuture<F>
where
    F: Future<Output = Result<HttpResponse, Infallible>>,
{
    type Output = Result<HttpResponse, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let outer = POLLING.with(|polling| polling.replace(Some(*this.id)));
        let polled = this.inner.poll(cx);
        POLLING.with(|polling| polling.set(outer));
        let Ok(mut response) = ready!(polled);
        tracing::info!(
            request_id = *this.id,
            method = %this.method,
            path = this.uri.path(),
            status = response.status().as_u16(),
            ms = this.started.elapsed().as_millis() as u64,
            "request"
        );
        if let Some(observer) = this.observer {
            let status = response.status().as_u16();
            observer.answered(this.uri.path(), status, this.started.elapsed());
        }
        response
            .headers_mut()
            .insert(X_REQUEST_ID, hyper::header::HeaderValue::from(*this.id));
        Poll::Ready(Ok(response))
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
{
    type Response = HttpResponse;
    type Error = Infallible;
    type Future = TimeoutFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        TimeoutFuture {
            inner: tokio::time::timeout(self.limit, self.inner.call(request)),
        }
    }
}

pin_project! {
    /// The inner service's answer, or 408 once the limit has passed.
    pub struct TimeoutFuture<F> {
        #[pin]
        inner: tokio::time::Timeout<F>,
    }
}

impl<F> Future for TimeoutFuture<F>
where
    F: Future<Output = Result<HttpResponse, Infallible>>,
{
    type Output = Result<HttpResponse, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(match ready!(self.project().inner.poll(cx)) {
            Ok(answer) => answer,
            Err(_elapsed) => Ok(error_response(&ApiError::new(
                ErrorCode::Timeout,
                "The request took too long to answer",
            ))),
        })
    }
}
