//! Two tower layers every front end wraps around its service: a request id with one
//! log line per request, and a per-request timeout answered in the contract envelope.
//! The log line names the id, client, method, path, status and time: never a query
//! string, another header or a body, where passwords, tokens and session ids travel.
//!
//! The id is the client's `X-Request-Id` when it sent a usable one (a proxy's or a
//! tracing system's, so one id follows a request through every log), else made
//! here: `<instance>-<count>`, the instance part random per process, so that the
//! ids of instances behind one load balancer do not collide.
//!
//! Why not tower-http's: its `TimeoutLayer` answers 408 with an empty body, where the
//! contract answers `{"message":…,"code":"TIMEOUT"}` on both transports; its request
//! id (`SetRequestId` + `PropagateRequestId`) and `TraceLayer` are three layers for
//! what one does here, and the mock must restart the numbering on reset (a counter
//! the mock holds, `RequestIdLayer::with_counter`). Neither was measured against
//! these in `make bench`: the choice is for the wire format and the numbering.

use super::{error_response, HttpResponse};
use hyper::header::HeaderValue;
use hyper::{Method, Request, Uri};
use pin_project_lite::pin_project;
use specs::{ApiError, ErrorCode};
use std::convert::Infallible;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};
use tower::{Layer, Service};

/// Made once, at compile time: a `&str` name is parsed on every insert.
const X_REQUEST_ID: hyper::header::HeaderName =
    hyper::header::HeaderName::from_static("x-request-id");

/// The longest `X-Request-Id` kept from a client; a longer one is replaced.
pub const MAX_GIVEN_REQUEST_ID: usize = 128;

thread_local! {
    /// The id of the request whose future this thread is polling, if any.
    static POLLING: std::cell::Cell<Option<RequestIdValue>> = const { std::cell::Cell::new(None) };
    /// The client of that request, once the API has worked it out.
    static CLIENT: std::cell::Cell<Option<IpAddr>> = const { std::cell::Cell::new(None) };
}

/// The id of the request being answered on this thread: what the audit log
/// records beside each event (the core knows nothing of requests' ids).
pub fn current_request_id() -> Option<RequestIdValue> {
    POLLING.with(|polling| {
        let id = polling.take();
        polling.set(id.clone());
        id
    })
}

/// Tells the log line of the request being answered on this thread who its client
/// is (the API works it out, behind trusted proxies from `X-Forwarded-For`).
pub fn note_client(client: IpAddr) {
    CLIENT.with(|noted| noted.set(Some(client)));
}

/// A request's id, as its `x-request-id` header says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestIdValue {
    /// Numbered here: by `instance` (random per server process; none where requests
    /// are numbered from 1, as in the mock) and the count.
    Counted { instance: Option<u32>, count: u64 },
    /// The client's own (printable, at most `MAX_GIVEN_REQUEST_ID` bytes).
    Given(HeaderValue),
}

impl RequestIdValue {
    /// The client's `X-Request-Id`, if it is one to keep: 1 to
    /// `MAX_GIVEN_REQUEST_ID` bytes of printable ASCII, without spaces, quotes or
    /// backslashes (so it can neither break a log line nor a JSON string).
    fn given(headers: &hyper::HeaderMap) -> Option<RequestIdValue> {
        let value = headers.get(&X_REQUEST_ID)?;
        let bytes = value.as_bytes();
        let usable = (1..=MAX_GIVEN_REQUEST_ID).contains(&bytes.len())
            && bytes
                .iter()
                .all(|b| b.is_ascii_graphic() && *b != b'"' && *b != b'\\');
        usable.then(|| RequestIdValue::Given(value.clone()))
    }

    /// The `x-request-id` header, given the id's `text`.
    fn header(&self, text: &ShortText) -> HeaderValue {
        match self {
            RequestIdValue::Counted {
                instance: None,
                count,
            } => HeaderValue::from(*count),
            RequestIdValue::Counted { .. } => HeaderValue::from_str(text.as_str())
                .expect("hex digits, a dash and digits make a header value"),
            RequestIdValue::Given(value) => value.clone(),
        }
    }

    /// As text, written on the stack: this runs for every answer (its log line).
    fn text(&self) -> ShortText {
        let mut text = ShortText::default();
        match self {
            RequestIdValue::Counted { instance, count } => {
                if let Some(instance) = instance {
                    for shift in (0..8).rev() {
                        text.push(b"0123456789abcdef"[(instance >> (4 * shift)) as usize & 0xf]);
                    }
                    text.push(b'-');
                }
                text.push_str(itoa::Buffer::new().format(*count));
            }
            // Checked printable ASCII, at most MAX_GIVEN_REQUEST_ID bytes, when taken.
            RequestIdValue::Given(value) => text.push_str(value.to_str().unwrap_or("-")),
        }
        text
    }
}

impl std::fmt::Display for RequestIdValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.text().as_str())
    }
}

/// Text of at most `MAX_GIVEN_REQUEST_ID` bytes on the stack, for the log line's
/// fields: through `tracing`'s `Display` values (`%`) they cost a formatter each,
/// more than the rest of the line.
struct ShortText {
    bytes: [u8; MAX_GIVEN_REQUEST_ID],
    len: usize,
}

impl Default for ShortText {
    fn default() -> ShortText {
        ShortText {
            bytes: [0; MAX_GIVEN_REQUEST_ID],
            len: 0,
        }
    }
}

impl ShortText {
    /// Appends `byte`, or `?` for a byte outside ASCII: the text stays ASCII.
    fn push(&mut self, byte: u8) {
        if self.len < self.bytes.len() {
            self.bytes[self.len] = if byte.is_ascii() { byte } else { b'?' };
            self.len += 1;
        }
    }

    fn push_str(&mut self, text: &str) {
        text.bytes().for_each(|b| self.push(b));
    }

    fn as_str(&self) -> &str {
        let ascii = &self.bytes[..self.len];
        // SAFETY: `push` keeps every byte ASCII, and ASCII is UTF-8. (Checked, it
        // cost ~100 instructions per log line, for the id and the client.)
        unsafe { std::str::from_utf8_unchecked(ascii) }
    }

    /// An address as its `Display` writes it (IPv4 without a formatter), or `-`.
    fn address(ip: Option<IpAddr>) -> ShortText {
        let mut text = ShortText::default();
        match ip {
            None => text.push(b'-'),
            Some(IpAddr::V4(v4)) => {
                for (i, octet) in v4.octets().into_iter().enumerate() {
                    if i > 0 {
                        text.push(b'.');
                    }
                    text.push_str(itoa::Buffer::new().format(octet));
                }
            }
            Some(IpAddr::V6(v6)) => {
                use std::fmt::Write;
                let _ = write!(text, "{v6}");
            }
        }
        text
    }
}

impl std::fmt::Write for ShortText {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        self.push_str(text);
        Ok(())
    }
}

/// Told of every answered request (metrics).
pub trait RequestObserver: Send + Sync {
    fn answered(&self, path: &str, status: u16, elapsed: Duration);
}

/// A request id chosen before the request reaches the layer (the mock numbers
/// requests as its journal receives them), used instead of the layer's own.
#[derive(Debug, Clone, Copy)]
pub struct GivenRequestId(pub u64);

thread_local! {
    /// The id `GivenRequestId::handing_over` gives the request being handed over.
    static GIVEN: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
}

impl GivenRequestId {
    /// Runs `call` (the service's `call`, into which the layer's own is called) with
    /// this id given to the request the layer is handed meanwhile.
    pub fn handing_over<R>(self, call: impl FnOnce() -> R) -> R {
        super::lending(&GIVEN, self.0, call)
    }
}

/// Gives each request an id (the client's, or `<instance>-<count>`) and logs each
/// one when answered.
#[derive(Clone)]
pub struct RequestIdLayer {
    next: Arc<AtomicU64>,
    instance: Option<u32>,
    observer: Option<Arc<dyn RequestObserver>>,
}

impl Default for RequestIdLayer {
    fn default() -> RequestIdLayer {
        RequestIdLayer::new()
    }
}

impl RequestIdLayer {
    /// Ids `<instance>-1`, `<instance>-2`, … with a random instance part.
    pub fn new() -> RequestIdLayer {
        let mut instance = [0u8; 4];
        crate::core::ports::Random::fill(&crate::crypto::OsRandom::new(), &mut instance);
        RequestIdLayer {
            next: Arc::default(),
            instance: Some(u32::from_be_bytes(instance)),
            observer: None,
        }
    }

    /// Ids 1, 2, … from `counter` + 1 (whoever holds `counter` can restart the
    /// numbering), clients' ids ignored: the mock's, whose journal lists requests
    /// by these numbers.
    pub fn with_counter(counter: Arc<AtomicU64>) -> RequestIdLayer {
        RequestIdLayer {
            next: counter,
            instance: None,
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
            instance: self.instance,
            observer: self.observer.clone(),
        }
    }
}

#[derive(Clone)]
pub struct RequestId<S> {
    inner: S,
    next: Arc<AtomicU64>,
    instance: Option<u32>,
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
        let counted = |count| RequestIdValue::Counted {
            instance: self.instance,
            count,
        };
        let id = match GIVEN.take() {
            Some(given) => counted(given),
            None => match self
                .instance
                .and_then(|_| RequestIdValue::given(request.headers()))
            {
                Some(given) => given,
                None => counted(self.next.fetch_add(1, Ordering::Relaxed) + 1),
            },
        };
        let peer = super::peer_of(&request).map(|peer| crate::net::canonical(peer.ip()));
        RequestIdFuture {
            id: Some(id),
            client: peer,
            method: request.method().clone(),
            // A `Uri` clone shares its bytes: no copy of the path.
            uri: request.uri().clone(),
            started: Instant::now(),
            observer: self.observer.clone(),
            inner: self.inner.call(request),
        }
    }
}

/// The access log's line `request` with these fields: straight to the binary's text
/// log (`logs::write_text_line`), else as a `tracing` event (JSON, tests).
macro_rules! access_line {
    ($($name:ident = $value:expr),* $(,)?) => {
        static ENABLED: crate::logs::Enabled = crate::logs::Enabled::new();
        if ENABLED.get(|| tracing::enabled!(tracing::Level::INFO)) {
            $(let $name = $value;)*
            let fields = |line: &mut String| {
                $(crate::logs::push_field(
                    line,
                    concat!(" ", stringify!($name), "="),
                    crate::logs::FieldValue::from($name),
                );)*
            };
            if !crate::logs::write_text_line(module_path!(), "request", fields) {
                tracing::info!(message = "request", $($name),*);
            }
        }
    };
}

pin_project! {
    /// The inner service's answer, logged and given its `x-request-id` when ready.
    pub struct RequestIdFuture<F> {
        #[pin]
        inner: F,
        // Lent to `POLLING` while the inner future is polled.
        id: Option<RequestIdValue>,
        // The socket's peer, until the API says who the client is.
        client: Option<IpAddr>,
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
        let outer = POLLING.with(|polling| polling.replace(this.id.take()));
        CLIENT.with(|noted| noted.set(None));
        let polled = this.inner.poll(cx);
        *this.id = POLLING.with(|polling| polling.replace(outer));
        if let Some(client) = CLIENT.with(std::cell::Cell::take) {
            *this.client = Some(client);
        }
        let Ok(mut response) = ready!(polled);
        let id = this.id.take().expect("an id until answered");
        let (text, elapsed) = (id.text(), this.started.elapsed());
        let client = ShortText::address(*this.client);
        access_line!(
            request_id = text.as_str(),
            client = client.as_str(),
            method = this.method.as_str(),
            path = this.uri.path(),
            status = u64::from(response.status().as_u16()),
            ms = elapsed.as_millis() as u64,
        );
        if let Some(observer) = this.observer {
            let status = response.status().as_u16();
            observer.answered(this.uri.path(), status, elapsed);
        }
        response
            .headers_mut()
            .insert(X_REQUEST_ID, id.header(&text));
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
            inner: self.inner.call(request),
            limit: self.limit,
            timer: None,
        }
    }
}

pin_project! {
    /// The inner service's answer, or 408 once the limit has passed. The timer is
    /// set only when the answer is not ready at once, and runs from then: most are
    /// ready (a session from the cache), and a timer costs a clock reading and a
    /// place in the runtime's timer wheel. (What the first poll did cannot be cut
    /// short by a timer either.)
    pub struct TimeoutFuture<F> {
        #[pin]
        inner: F,
        limit: Duration,
        #[pin]
        timer: Option<tokio::time::Sleep>,
    }
}

impl<F> Future for TimeoutFuture<F>
where
    F: Future<Output = Result<HttpResponse, Infallible>>,
{
    type Output = Result<HttpResponse, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Poll::Ready(answer) = this.inner.poll(cx) {
            return Poll::Ready(answer);
        }
        if this.timer.is_none() {
            this.timer.set(Some(tokio::time::sleep(*this.limit)));
        }
        let timer = this.timer.as_pin_mut().expect("set above");
        ready!(timer.poll(cx));
        Poll::Ready(Ok(error_response(&ApiError::new(
            ErrorCode::Timeout,
            "The request took too long to answer",
        ))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_ids_read_as_their_display_would() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "203.0.113.255",
            "::1",
            "2001:db8::ff00:42:8329",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(ShortText::address(Some(ip)).as_str(), ip.to_string());
        }
        assert_eq!(ShortText::address(None).as_str(), "-");
        let id = |instance, count| RequestIdValue::Counted { instance, count };
        assert_eq!(id(Some(0x0a2b3c4d), 7).text().as_str(), "0a2b3c4d-7");
        assert_eq!(
            id(Some(u32::MAX), u64::MAX).text().as_str(),
            format!("ffffffff-{}", u64::MAX)
        );
        assert_eq!(id(None, 42).text().as_str(), "42");
        let short = id(Some(1), 2);
        assert_eq!(short.header(&short.text()), "00000001-2");
        let longest = "x".repeat(MAX_GIVEN_REQUEST_ID);
        let given = RequestIdValue::Given(HeaderValue::from_str(&longest).unwrap());
        assert_eq!(given.text().as_str(), longest);
    }

    #[test]
    fn short_text_stays_ascii_and_within_its_room() {
        let mut text = ShortText::default();
        text.push_str("é-1");
        assert_eq!(text.as_str(), "??-1");
        text.push_str(&"x".repeat(2 * MAX_GIVEN_REQUEST_ID));
        assert_eq!(text.as_str().len(), MAX_GIVEN_REQUEST_ID);
    }
}
