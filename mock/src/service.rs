//! The mock as a tower service: CORS, the control plane under `/__mock/`, forced
//! faults, the journal, and everything else answered by the server's own stack.

use crate::faults::{self, Marks, Network};
use crate::journal::{
    Arrival, HeaderBlock, NetworkOutcome, Recorded, RequestTarget, Ticket, BODY_KEPT,
};
use crate::state::{CorsOrigins, MockState};
use crate::tee::TeeBody;
use crate::{control, guard};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Body, Incoming};
use hyper::header::{HeaderValue, ORIGIN};
use hyper::{Method, Request};
use server::app::Stack;
use server::http::{
    api_response, error_response, AllowedOrigins, Api, GivenRequestId, HttpResponse, Limits,
    RequestIdLayer,
};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tower::Service;

#[derive(Clone)]
pub struct MockService {
    state: Arc<MockState>,
    inner: Stack,
}

impl MockService {
    pub fn new(state: Arc<MockState>, limits: &Limits) -> MockService {
        // The pages that may call with credentials (CORS) may also make changes.
        let origins = match &state.cors {
            CorsOrigins::Any => AllowedOrigins::Any,
            CorsOrigins::List(list) => AllowedOrigins::List(list.clone()),
        };
        let api = Api::new(state.core.clone(), limits)
            .with_call_hook(state.faults.clone())
            .with_allowed_origins(origins);
        // Ids come from the journal (`GivenRequestId`): a request's `seq` is its id.
        let inner =
            server::app::stack_with(api, limits, RequestIdLayer::with_counter(Arc::default()));
        MockService { state, inner }
    }
}

/// A network fault's answer: hyper closes the connection without one.
#[derive(Debug)]
pub struct ClosedByFault;

impl std::fmt::Display for ClosedByFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection closed by a fault (x-mock-fault: close, or an armed fault)")
    }
}

impl std::error::Error for ClosedByFault {}

/// The mock's answer: whole, or cut short by a network fault.
pub type MockResponse = hyper::Response<MockBody>;

/// An answer's body, which a `truncate` fault ends after half its bytes with an
/// error (hyper then closes the connection, having promised the whole length).
pub struct MockBody {
    data: Option<Bytes>,
    length: u64,
    /// Set for a cut body: the pause after the half sent, so that hyper writes it
    /// out before the error closes the connection.
    cut: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl MockBody {
    fn whole(body: Full<Bytes>) -> MockBody {
        MockBody::of(full_bytes(body))
    }

    fn of(data: Bytes) -> MockBody {
        MockBody {
            length: data.len() as u64,
            data: Some(data),
            cut: None,
        }
    }

    fn half_of(data: &Bytes) -> MockBody {
        MockBody {
            length: data.len() as u64,
            data: Some(data.slice(..data.len() / 2)),
            cut: Some(Box::pin(tokio::time::sleep(Duration::from_millis(20)))),
        }
    }
}

impl Body for MockBody {
    type Data = Bytes;
    type Error = ClosedByFault;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, ClosedByFault>>> {
        if let Some(data) = self.data.take().filter(|d| !d.is_empty()) {
            return Poll::Ready(Some(Ok(hyper::body::Frame::data(data))));
        }
        let Some(pause) = self.cut.as_mut() else {
            return Poll::Ready(None);
        };
        std::task::ready!(pause.as_mut().poll(cx));
        self.cut = None;
        Poll::Ready(Some(Err(ClosedByFault)))
    }

    fn is_end_stream(&self) -> bool {
        self.cut.is_none() && self.data.as_ref().is_none_or(Bytes::is_empty)
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.length)
    }
}

impl tower::Service<Request<Incoming>> for MockService {
    type Response = MockResponse;
    type Error = ClosedByFault;
    type Future = Pin<Box<dyn Future<Output = Result<MockResponse, ClosedByFault>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ClosedByFault>> {
        tower::Service::<Request<TeeBody<Incoming>>>::poll_ready(&mut self.inner, cx)
            .map_err(|never| match never {})
    }

    /// Called on the connection's own service (no clone per request): the server's
    /// stack is called here, its answer awaited in the returned future.
    fn call(&mut self, request: Request<Incoming>) -> Self::Future {
        let origin = request
            .headers()
            .get(ORIGIN)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if request.method() == Method::OPTIONS
            && request
                .headers()
                .contains_key("access-control-request-method")
        {
            let answer = self.preflight(origin.as_deref(), &request);
            return Box::pin(std::future::ready(Ok(answer.map(MockBody::whole))));
        }
        if !is_control(request.uri().path()) {
            return self.answer_and_journal(request, origin);
        }
        Box::pin(control_answer(self.state.clone(), request, origin))
    }
}

/// An answer of the control plane or the inspector page, with its CORS headers.
async fn control_answer(
    state: Arc<MockState>,
    mut request: Request<Incoming>,
    origin: Option<String>,
) -> Result<MockResponse, ClosedByFault> {
    if let Some(refused) = guard::control_refusal(&state, request.method(), request.headers()) {
        return Ok(error_response(&refused).map(MockBody::whole));
    }
    let bare_prefix = request.uri().path() == "/__mock";
    if request.method() == Method::HEAD {
        // As GET (hyper sends no body): readiness probes use HEAD.
        *request.method_mut() = Method::GET;
    }
    let mut response = if bare_prefix {
        crate::inspector::to_page()
    } else {
        control::handle(&state, request).await
    };
    // Only an origin --cors-origin lists may read control answers.
    let listed = origin.filter(|o| guard::control_cors_allows(&state, o));
    allow_origin(&state, listed.as_deref(), &mut response);
    Ok(response.map(MockBody::whole))
}

impl MockService {
    /// The server's answer, with CORS headers, journaled as sent. `Err`: a fault
    /// closes the connection without an answer.
    fn answer_and_journal(
        &mut self,
        request: Request<Incoming>,
        origin: Option<String>,
    ) -> <Self as tower::Service<Request<Incoming>>>::Future {
        let state = self.state.clone();
        let (parts, body) = request.into_parts();
        let (body, copied) = TeeBody::new(body, BODY_KEPT);
        let mut pending = Pending::arrive(state.clone(), &parts, copied);
        // Ready: `poll_ready` asked the stack.
        let request = Request::from_parts(parts, body);
        let answer = GivenRequestId(pending.ticket.seq).handing_over(|| self.inner.call(request));
        let answer = faults::Marked::new(answer);
        server::http::boxed_in_place(|| async move {
            let (Ok(mut response), marks) = answer.await;
            allow_origin(&state, origin.as_deref(), &mut response);
            let (parts, body) = response.into_parts();
            let response_body = full_bytes(body);
            pending.answered(Answered {
                status: parts.status.as_u16(),
                headers: HeaderBlock::of(&parts.headers),
                response_body: response_body.clone(),
                marks: &marks,
            });
            match marks.network {
                Some(Network::Close) => Err(ClosedByFault),
                // The whole length promised, half sent: the client sees the end early.
                Some(Network::Truncate) => Ok(MockResponse::from_parts(
                    parts,
                    MockBody::half_of(&response_body),
                )),
                None => Ok(MockResponse::from_parts(parts, MockBody::of(response_body))),
            }
        })
    }

    fn preflight<B>(&self, origin: Option<&str>, request: &Request<B>) -> HttpResponse {
        let mut response = api_response(204, bytes::Bytes::new());
        let allowed = |o: &&str| match is_control(request.uri().path()) {
            true => guard::control_cors_allows(&self.state, o),
            false => self.state.cors.allows(o),
        };
        if let Some(origin) = origin.filter(allowed) {
            let headers = response.headers_mut();
            headers.insert(
                "access-control-allow-methods",
                // DELETE: the control plane clears the outbox, journal and faults.
                HeaderValue::from_static("GET, POST, DELETE, OPTIONS"),
            );
            let asked = request
                .headers()
                .get("access-control-request-headers")
                .cloned()
                .unwrap_or(HeaderValue::from_static(
                    "content-type, authorization, x-mock-fault",
                ));
            headers.insert("access-control-allow-headers", asked);
            headers.insert("access-control-max-age", HeaderValue::from_static("600"));
            allow_origin(&self.state, Some(origin), &mut response);
        }
        response
    }
}

/// The control plane and the inspector page.
fn is_control(path: &str) -> bool {
    path == "/__mock" || path.starts_with("/__mock/")
}

/// The bytes of a whole body, which are ready at once (no waiting, no copy).
fn full_bytes(body: Full<Bytes>) -> Bytes {
    let mut body = std::pin::pin!(body);
    let mut cx = Context::from_waker(std::task::Waker::noop());
    match body.as_mut().poll_frame(&mut cx) {
        Poll::Ready(Some(Ok(frame))) => frame.into_data().unwrap_or_default(),
        _ => Bytes::new(),
    }
}

/// CORS headers for an allowed `Origin`, with credentials.
fn allow_origin(state: &MockState, origin: Option<&str>, response: &mut HttpResponse) {
    let Some(origin) = origin.filter(|o| state.cors.allows(o)) else {
        return;
    };
    let Ok(value) = HeaderValue::from_str(origin) else {
        return;
    };
    let headers = response.headers_mut();
    headers.insert("access-control-allow-origin", value);
    headers.insert(
        "access-control-allow-credentials",
        HeaderValue::from_static("true"),
    );
    headers.insert(
        "access-control-expose-headers",
        // `retry-after`: a page can tell when to try again after a 429.
        HeaderValue::from_static("x-request-id, retry-after"),
    );
    headers.append("vary", HeaderValue::from_static("Origin"));
}

/// A journaled request between its arrival and its answer; dropped unanswered (the
/// client closed the connection first), it is journaled with status 499.
struct Pending {
    state: Arc<MockState>,
    ticket: Ticket,
    arrived: Arrival,
    started: std::time::Instant,
    method: Method,
    uri: RequestTarget,
    headers: Option<HeaderBlock>,
    /// What the server read of the body.
    copied: Arc<std::sync::Mutex<crate::tee::Copied>>,
}

/// What the journal keeps of an answer.
struct Answered<'a> {
    status: u16,
    headers: HeaderBlock,
    response_body: Bytes,
    marks: &'a Marks,
}

impl Pending {
    fn arrive(
        state: Arc<MockState>,
        parts: &hyper::http::request::Parts,
        copied: Arc<std::sync::Mutex<crate::tee::Copied>>,
    ) -> Pending {
        use server::core::ports::Clock;
        Pending {
            ticket: state.journal.arrive(),
            arrived: Arrival {
                mock_ms: state.clock.now_ms(),
                wall: std::time::SystemTime::now(),
            },
            started: std::time::Instant::now(),
            method: parts.method.clone(),
            uri: RequestTarget::of(&parts.uri),
            headers: Some(HeaderBlock::of(&parts.headers)),
            copied,
            state,
        }
    }

    fn record(&mut self, answered: Answered<'_>, network: Option<NetworkOutcome>) {
        let Some(headers) = self.headers.take() else {
            return;
        };
        let body = std::mem::take(&mut *self.copied.lock().unwrap_or_else(|p| p.into_inner()));
        self.state.journal.answer(
            self.ticket,
            Recorded {
                arrived: self.arrived,
                duration: self.started.elapsed(),
                method: self.method.clone(),
                uri: std::mem::take(&mut self.uri),
                headers,
                body: body.bytes,
                body_truncated: body.truncated,
                status: answered.status,
                response_headers: answered.headers,
                response_body: answered.response_body,
                forced: answered.marks.forced.clone(),
                network,
            },
        );
    }

    fn answered(&mut self, answered: Answered<'_>) {
        let network = answered.marks.network.map(NetworkOutcome::Fault);
        self.record(answered, network);
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let unanswered = Answered {
            status: 499,
            headers: HeaderBlock::empty(),
            response_body: Bytes::new(),
            marks: &Marks::default(),
        };
        self.record(unanswered, Some(NetworkOutcome::ClosedByClient));
    }
}
