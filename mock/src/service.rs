//! The mock as a tower service: CORS, the control plane under `/__mock/`, forced
//! faults, the journal, and everything else answered by the server's own stack.

use crate::journal::{HeaderBlock, Recorded, BODY_KEPT};
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
    api_response, error_response, AllowedOrigins, Api, HttpResponse, Limits, RequestIdLayer,
};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::ServiceExt;

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
        let inner = server::app::stack_with(
            api,
            limits,
            RequestIdLayer::with_counter(state.request_ids.clone()),
        );
        MockService { state, inner }
    }
}

impl tower::Service<Request<Incoming>> for MockService {
    type Response = HttpResponse;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Incoming>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { Ok(this.handle(request).await) })
    }
}

impl MockService {
    async fn handle(self, request: Request<Incoming>) -> HttpResponse {
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
            return self.preflight(origin.as_deref(), &request);
        }
        let state = self.state.clone();
        let path = request.uri().path();
        if !is_control(path) {
            return self.answer_and_journal(request, origin.as_deref()).await;
        }
        if let Some(refused) = guard::control_refusal(&state, request.method(), request.headers()) {
            return error_response(&refused);
        }
        let mut response = if path == "/__mock" {
            crate::inspector::to_page()
        } else {
            control::handle(&state, request).await
        };
        // Only an origin --cors-origin lists may read control answers.
        let listed = origin.filter(|o| guard::control_cors_allows(&state, o));
        allow_origin(&state, listed.as_deref(), &mut response);
        response
    }

    /// The server's answer, with CORS headers, journaled as sent.
    async fn answer_and_journal(
        self,
        request: Request<Incoming>,
        origin: Option<&str>,
    ) -> HttpResponse {
        let (parts, body) = request.into_parts();
        let (body, copied) = TeeBody::new(body, BODY_KEPT);
        // What the journal keeps (a `Uri` shares its bytes).
        let (method, uri, headers) = (
            parts.method.clone(),
            parts.uri.clone(),
            HeaderBlock::of(&parts.headers),
        );
        let request = Request::from_parts(parts, body);
        let state = self.state.clone();
        let mut response = self.answer(request).await;
        allow_origin(&state, origin, &mut response);
        let (parts, body) = response.into_parts();
        let response_body = full_bytes(body);
        let copied = std::mem::take(&mut *copied.lock().unwrap_or_else(|p| p.into_inner()));
        state.journal.record(Recorded {
            method,
            uri,
            headers,
            body: copied.bytes,
            body_truncated: copied.truncated,
            status: parts.status.as_u16(),
            response_headers: HeaderBlock::of(&parts.headers),
            response_body: response_body.clone(),
        });
        HttpResponse::from_parts(parts, Full::new(response_body))
    }

    /// The server's own answer (forced faults run inside it, before each call).
    async fn answer(self, request: Request<TeeBody<Incoming>>) -> HttpResponse {
        match self.inner.oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
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
