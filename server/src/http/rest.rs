//! The REST transport: `GET /api/<query>` with the input in the query string,
//! `POST /api/<mutation>` with a JSON body, plain JSON out.

use super::cookies::{credentials, set_cookie, user_agent};
use super::{add_reply_headers, api_response, error_response, ApiInner, BoxError, HttpResponse};
use crate::core::{Call, Reply};
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Body;
use hyper::http::request::Parts;
use hyper::{HeaderMap, Method};
use serde_json::{Map, Value};
use specs::messages as msg;
use specs::{ApiError, ErrorCode, Kind};
use std::net::SocketAddr;

pub(super) async fn handle<B>(
    api: &ApiInner,
    parts: &Parts,
    body: B,
    peer: Option<SocketAddr>,
) -> HttpResponse
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let path = parts.uri.path();
    let method = &parts.method;
    // Probes (`wait-on`, load balancers) may use HEAD: answered as GET, and hyper
    // sends no body. Under `/api/`, HEAD keeps the contract's 204.
    let probe = *method == Method::GET || *method == Method::HEAD;
    if path == "/health" && probe {
        return api_response(200, Bytes::from_static(br#"{"status":"ok"}"#));
    }
    if path == "/ready" && probe {
        if api.draining.is_on() {
            return error_response(&ApiError::new(
                ErrorCode::ServiceUnavailable,
                msg::SHUTTING_DOWN,
            ));
        }
        return match api.core.ready() {
            Ok(()) => api_response(200, Bytes::from_static(br#"{"status":"ready"}"#)),
            Err(e) => error_response(&e),
        };
    }
    if path == "/api/openapi.json" && method == Method::GET {
        return api_response(200, api.openapi_json.clone());
    }
    if api.profile.is_dokploy() && path.starts_with("/api/") {
        // Boxed: it holds a whole `route`, and every REST call's future would be
        // as large as both (each answer copies it on its way to the connection).
        return Box::pin(behind_next_js(api, parts, body, peer)).await;
    }
    route(api, parts, body, peer).await
}

/// How much of a REST body Next.js reads (its `1mb`).
const NEXT_BODY_BYTES: usize = 1024 * 1024;

/// Dokploy serves REST from a Next.js API route: Next reads and parses the body
/// first (1 MB at most; plain-text errors), then a gate refuses every request
/// without a live session, public procedures included (the reference's §6; the
/// contract's differences 12 and 20).
async fn behind_next_js<B>(
    api: &ApiInner,
    parts: &Parts,
    body: B,
    peer: Option<SocketAddr>,
) -> HttpResponse
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let bytes = match collect(body, NEXT_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(e) if e.code == ErrorCode::PayloadTooLarge => {
            return plain_text(413, Some("text/plain"), msg::dokploy::BODY_OVER_1MB)
        }
        Err(_) => return plain_text(400, None, msg::dokploy::INVALID_JSON),
    };
    let declares_json = require_json(&parts.headers).is_ok();
    if declares_json && !bytes.is_empty() && serde_json::from_slice::<Value>(&bytes).is_err() {
        return plain_text(400, None, msg::dokploy::INVALID_JSON);
    }
    if !api.core.authenticates(&credentials(&parts.headers)).await {
        let mut gate = api_response(401, Bytes::from_static(msg::dokploy::GATE.as_bytes()));
        gate.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/json; charset=utf-8"),
        );
        return gate;
    }
    route(api, parts, http_body_util::Full::new(bytes), peer).await
}

/// An answer that is not the contract's envelope: Next.js's own.
fn plain_text(status: u16, content_type: Option<&'static str>, text: &'static str) -> HttpResponse {
    let mut response = api_response(status, Bytes::from_static(text.as_bytes()));
    let headers = response.headers_mut();
    match content_type {
        Some(t) => headers.insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static(t),
        ),
        None => headers.remove(hyper::header::CONTENT_TYPE),
    };
    response
}

/// A REST request for a procedure (or for nothing that exists).
async fn route<B>(api: &ApiInner, parts: &Parts, body: B, peer: Option<SocketAddr>) -> HttpResponse
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let path = parts.uri.path();
    let method = &parts.method;
    let not_found = || error_response(&ApiError::not_found(msg::NOT_FOUND));
    let Some(name) = path.strip_prefix("/api/") else {
        return not_found();
    };
    if method == Method::HEAD {
        // No procedure answers HEAD: Dokploy answers 204 to any of them.
        return api_response(204, Bytes::new());
    }
    let Some(procedure) = api.profile.find_rest(name) else {
        return not_found();
    };
    if method.as_str() != procedure.kind.http_method() {
        return not_found();
    }
    let credentials = credentials(&parts.headers);
    let client = api.client_address(&parts.headers, peer);
    if procedure.kind == Kind::Mutation {
        if let Some(refused) = api.cross_site_refusal(&parts.headers, &credentials) {
            return error_response(&refused);
        }
    }
    let input = match (procedure.kind, procedure.input) {
        // Dokploy has no 415: a body of another type reads as no input at all.
        (Kind::Mutation, Some(_))
            if api.profile.is_dokploy() && require_json(&parts.headers).is_err() =>
        {
            Some(Value::Object(Map::new()))
        }
        (Kind::Mutation, Some(_)) => {
            let object = read_body(&parts.headers, body, api.max_body_bytes)
                .await
                .and_then(|bytes| json_object(&bytes));
            match object {
                Ok(input) => Some(input),
                Err(e) => return error_response(&e),
            }
        }
        (kind, schema) => {
            // Whatever body came is read and dropped, and held to the same limit
            // (the answer would wait for it anyway: `leftover`).
            if let Err(e) = drain(body, api.max_body_bytes).await {
                return error_response(&e);
            }
            // A query takes its input from the query string; a mutation here none.
            schema.filter(|_| kind == Kind::Query).map(|schema| {
                let query = parts.uri.query().unwrap_or("").as_bytes();
                let pairs: Vec<(String, String)> =
                    form_urlencoded::parse(query).into_owned().collect();
                schema.input_from_query(&pairs)
            })
        }
    };
    if let Some(forced) = api
        .before_call(procedure, &parts.headers, input.as_ref())
        .await
    {
        // As any answer: a forced 429 carries its `Retry-After`.
        let reply = Reply {
            result: Err(forced),
            cookie: None,
        };
        return render(reply, api.cookie_secure);
    }
    let reply = api
        .core
        .call(Call {
            procedure,
            input,
            credentials,
            client,
            user_agent: user_agent(procedure, &parts.headers),
        })
        .await;
    render(reply, api.cookie_secure)
}

/// A reply as an HTTP answer: the output as JSON (an empty body for none), or the
/// error envelope; `Set-Cookie` either way.
pub(crate) fn render(reply: Reply, cookie_secure: bool) -> HttpResponse {
    let retry_after = reply.result.as_ref().err().and_then(|e| e.retry_after_secs);
    let mut response = match reply.result {
        Ok(Some(json)) => api_response(200, json.into_bytes()),
        Ok(None) => api_response(200, Bytes::new()),
        Err(e) => error_response(&e),
    };
    let cookie = reply.cookie.map(|c| set_cookie(&c, cookie_secure));
    add_reply_headers(&mut response, retry_after, cookie);
    response
}

/// A mutation's body as Dokploy reads it: an empty body is `{}`; a JSON value that is
/// not an object is spread into one (so it counts as `{}`).
fn json_object(bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(object)) => Ok(Value::Object(object)),
        Ok(_) => Ok(Value::Object(Map::new())),
        Err(_) => Err(ApiError::new(ErrorCode::ParseError, msg::PARSE_BODY)),
    }
}

/// Reads and drops a body that no input is taken from: 413 over `limit` bytes.
pub(crate) async fn drain<B>(body: B, limit: usize) -> Result<(), ApiError>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    if body.is_end_stream() {
        // Most requests (every GET) have none: nothing to wait for.
        return Ok(());
    }
    collect(body, limit).await.map(drop)
}

/// At most `limit` bytes of `body`.
pub(crate) async fn collect<B>(body: B, limit: usize) -> Result<Bytes, ApiError>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(_) => Err(ApiError::new(ErrorCode::ParseError, msg::PARSE_BODY)),
    }
}

fn too_large() -> ApiError {
    ApiError::new(ErrorCode::PayloadTooLarge, msg::BODY_TOO_LARGE)
}

/// Checks the content type in `headers`, then reads at most `limit` bytes of `body`.
pub(crate) async fn read_body<B>(
    headers: &HeaderMap,
    body: B,
    limit: usize,
) -> Result<Bytes, ApiError>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    require_json(headers)?;
    let declared = headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    collect(body, limit).await
}

/// `Content-Type` must start with `application/json` (415 otherwise).
pub(crate) fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    match headers.get(hyper::header::CONTENT_TYPE) {
        None => Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            msg::MISSING_CONTENT_TYPE,
        )),
        Some(value) if value.as_bytes().starts_with(b"application/json") => Ok(()),
        Some(value) => Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            msg::unsupported_content_type(&String::from_utf8_lossy(value.as_bytes())),
        )),
    }
}
