//! The tRPC transport: `/api/trpc/<procedure>[,<procedure>…]`, tRPC v10 with
//! superjson, batched (`?batch=1`) or not, over the same core as REST.

use super::cookies::{credentials, set_cookie, user_agent};
use super::rest::{collect, drain, read_body};
use super::{add_reply_headers, api_response, ApiInner, BoxError, HttpResponse};
use crate::core::{Call, JsonText};
use bytes::Bytes;
use hyper::body::Body;
use hyper::http::request::Parts;
use hyper::Method;
use serde_json::Value;
use specs::messages as msg;
use specs::trpc::{self, MAX_BATCH_CALLS};
use specs::{ApiError, ErrorCode, Kind};
use std::borrow::Cow;

/// One answered call: its item (JSON text), its status, and what it asks of the
/// headers.
struct Answered {
    item: String,
    status: u16,
    set_cookie: Option<String>,
    retry_after_secs: Option<u64>,
}

/// Where tRPC's procedures are.
pub(super) const PREFIX: &str = "/api/trpc/";

/// A request under `PREFIX`.
pub(super) async fn handle<B>(
    api: &ApiInner,
    parts: &Parts,
    body: B,
    peer: Option<std::net::SocketAddr>,
) -> HttpResponse
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let paths = parts.uri.path().strip_prefix(PREFIX).unwrap_or_default();
    let kind = match parts.method {
        // Any procedure answers HEAD with 204, as tRPC does (a warm-up call).
        Method::HEAD => return api_response(204, Bytes::new()),
        Method::GET => Kind::Query,
        Method::POST => Kind::Mutation,
        ref other => {
            let error = ApiError::new(
                ErrorCode::MethodNotSupported,
                trpc::unexpected_method(other.as_str()),
            );
            return whole_request_error(&error);
        }
    };
    let query: Vec<(String, String)> =
        form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let param = |name: &str| {
        query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, v)| v.as_str())
    };
    // tRPC tests `!!query.get("batch")`: any non-empty value makes a batch.
    let is_batch = param("batch").is_some_and(|v| !v.is_empty());
    // `decodeURIComponent`: a batch's commas may arrive as `%2C`.
    let decoded = if is_batch {
        percent_encoding::percent_decode_str(paths).decode_utf8_lossy()
    } else {
        Cow::Borrowed(paths)
    };
    let names: Vec<&str> = if is_batch {
        decoded.split(',').collect()
    } else {
        vec![&*decoded]
    };
    if names.len() > MAX_BATCH_CALLS {
        let error = ApiError::bad_request(trpc::too_many_calls(names.len()));
        return whole_request_error(&error);
    }
    let headers = &parts.headers;
    let mut credentials = credentials(headers);
    let client = api.client_address(headers, peer);
    if kind == Kind::Mutation {
        if let Some(refused) = api.cross_site_refusal(headers, &credentials) {
            return whole_request_error(&refused);
        }
    }

    let raw_input = match kind {
        Kind::Query => {
            // Whatever body came is read and dropped, held to the limit, as on REST.
            if let Err(error) = drain(body, api.max_body_bytes).await {
                return whole_request_error(&error);
            }
            match param("input") {
                None => None,
                Some(text) => match serde_json::from_str::<Value>(text) {
                    Ok(value) => Some(value),
                    Err(_) => return whole_request_error(&parse_error()),
                },
            }
        }
        Kind::Mutation if declares_no_body(headers) => None,
        Kind::Mutation => {
            // Dokploy reads any body as JSON, whatever its type, and without a limit
            // (difference 20; the mock keeps one, `DOKPLOY_TRPC_BODY_BYTES`).
            let bytes = if api.profile.is_dokploy() {
                collect(body, DOKPLOY_TRPC_BODY_BYTES).await
            } else {
                read_body(headers, body, api.max_body_bytes).await
            };
            match bytes {
                Err(error) => return whole_request_error(&error),
                Ok(bytes) if bytes.is_empty() => None,
                Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                    Ok(value) => Some(value),
                    Err(_) => return whole_request_error(&parse_error()),
                },
            }
        }
    };
    let inputs: Vec<Option<Value>> = if is_batch {
        let Some(Value::Object(by_index)) = raw_input else {
            let error = ApiError::bad_request(trpc::BATCH_INPUT_NOT_OBJECT);
            return whole_request_error(&error);
        };
        (0..names.len())
            .map(|i| {
                by_index
                    .get(&i.to_string())
                    .and_then(trpc::decode_superjson)
            })
            .collect()
    } else {
        vec![raw_input.as_ref().and_then(trpc::decode_superjson)]
    };

    // In call order, one after another: a batch answers the same bytes every time.
    let mut answered = Vec::with_capacity(names.len());
    for (i, (name, input)) in names.iter().zip(inputs).enumerate() {
        let (result, set_cookie) = match api.profile.find(name).filter(|p| p.kind == kind) {
            None => {
                let error = ApiError::not_found(trpc::no_procedure(kind.as_str(), name));
                (Err(error), None)
            }
            Some(procedure) => match api.before_call(procedure, headers, input.as_ref()).await {
                Some(forced) => (Err(forced), None),
                None => {
                    // The last call takes them: an unbatched call copies nothing.
                    let credentials = if i + 1 == names.len() {
                        std::mem::take(&mut credentials)
                    } else {
                        credentials.clone()
                    };
                    let call = Call {
                        procedure,
                        input,
                        credentials,
                        client,
                        user_agent: user_agent(procedure, headers),
                    };
                    let reply = api.core.call(call).await;
                    let cookie = reply.cookie.map(|c| set_cookie(&c, api.cookie_secure));
                    (reply.result, cookie)
                }
            },
        };
        answered.push(answer(result, name, set_cookie));
    }

    let status = trpc::batch_status(answered.iter().map(|a| a.status));
    let retry_after = answered.iter().filter_map(|a| a.retry_after_secs).max();
    let cookies: Vec<String> = answered
        .iter_mut()
        .filter_map(|a| a.set_cookie.take())
        .collect();
    let body = if is_batch {
        let items: Vec<&str> = answered.iter().map(|a| a.item.as_str()).collect();
        format!("[{}]", items.join(","))
    } else {
        answered.pop().expect("an unbatched call has one item").item
    };
    let mut response = api_response(status, Bytes::from(body));
    add_reply_headers(&mut response, retry_after, cookies);
    response
}

fn answer(
    result: Result<Option<JsonText>, ApiError>,
    path: &str,
    set_cookie: Option<String>,
) -> Answered {
    match result {
        Ok(output) => Answered {
            item: trpc::result_item(output.as_ref().map(JsonText::as_str)),
            status: 200,
            set_cookie,
            retry_after_secs: None,
        },
        Err(error) => Answered {
            item: trpc::error_item(&error, Some(path)).to_string(),
            status: error.http_status(),
            set_cookie,
            retry_after_secs: error.retry_after_secs,
        },
    }
}

/// A request that could not be read answers one error item without a path, batch
/// or not, as tRPC v10 does.
fn whole_request_error(error: &ApiError) -> HttpResponse {
    let item = trpc::error_item(error, None).to_string();
    api_response(error.http_status(), Bytes::from(item))
}

/// A POST with neither a content type nor a body: a mutation called without input
/// (as `curl -X POST` does). A body must be declared `application/json`, which a
/// cross-site form cannot send without a CORS preflight.
fn declares_no_body(headers: &hyper::HeaderMap) -> bool {
    !headers.contains_key(hyper::header::CONTENT_TYPE)
        && !headers.contains_key(hyper::header::TRANSFER_ENCODING)
        && headers
            .get(hyper::header::CONTENT_LENGTH)
            .is_none_or(|v| v.as_bytes() == b"0")
}

/// Dokploy's tRPC route reads bodies of any size (5 MB was measured); the mock's
/// Dokploy profile still stops somewhere.
const DOKPLOY_TRPC_BODY_BYTES: usize = 16 * 1024 * 1024;

fn parse_error() -> ApiError {
    ApiError::new(ErrorCode::ParseError, msg::PARSE_BODY)
}
