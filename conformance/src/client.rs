//! A small HTTP/1.1 client for tests: one request per connection, a browser-like
//! session cookie, or a Bearer token; over the REST transport, or the same call
//! over tRPC.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpStream;

/// An answer: status, headers, body as text.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: String,
}

impl Resp {
    /// The body as JSON (panics with the body when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }

    pub fn set_cookie(&self) -> Option<String> {
        self.header("set-cookie")
    }

    /// The session id of the `Set-Cookie` header, if one was set (not blanked).
    pub fn session_id(&self) -> Option<String> {
        let cookie = self.set_cookie()?;
        let value = cookie.strip_prefix("auth_session=")?.split(';').next()?;
        (!value.is_empty()).then(|| value.to_string())
    }
}

/// One request on a new connection. No answer (refused, reset, closed early) comes
/// back as status 0 with `no answer: <why>` as its body, so the check fails with
/// that reason instead of panicking.
pub async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Resp {
    exchange(addr, method, path, headers, body)
        .await
        .unwrap_or_else(|why| Resp {
            status: 0,
            headers: hyper::HeaderMap::new(),
            body: format!("no answer: {why}"),
        })
}

/// A request as a `curl` command a person can paste (single quotes escaped).
pub fn curl(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> String {
    let quote = |text: &str| format!("'{}'", text.replace('\'', "'\\''"));
    let mut line = format!(
        "curl -si -X {method} {}",
        quote(&format!("http://{addr}{path}"))
    );
    for (k, v) in headers {
        line.push_str(&format!(" -H {}", quote(&format!("{k}: {v}"))));
    }
    if !body.is_empty() {
        line.push_str(&format!(" --data-raw {}", quote(body)));
    }
    line
}

/// What a check's run keeps: its requests, and the answers that do not fit the
/// contract's OpenAPI document.
#[derive(Default)]
struct Record {
    exchanges: Vec<String>,
    mismatches: Vec<String>,
    check_document: bool,
}

tokio::task_local! {
    /// The record of the check running in this task, for its report.
    static RECORD: Arc<Mutex<Record>>;
}

/// What `recording` kept.
#[derive(Debug, Default)]
pub struct Recorded {
    /// Every request, as `curl`, with the answer's status and the start of its body.
    pub exchanges: Vec<String>,
    /// Every answer that broke `specs/openapi.yaml`, with its request.
    pub mismatches: Vec<String>,
}

/// Runs `work`, keeping every request it sends; with `check_document`, also checks
/// every answer against `specs/openapi.yaml` (its status for that operation, its
/// content type and its body's schema).
pub async fn recording<T>(
    check_document: bool,
    work: impl std::future::Future<Output = T>,
) -> (T, Recorded) {
    let record = Arc::new(Mutex::new(Record {
        check_document,
        ..Record::default()
    }));
    let out = RECORD.scope(record.clone(), work).await;
    let record = std::mem::take(&mut *record.lock().unwrap_or_else(|p| p.into_inner()));
    let recorded = Recorded {
        exchanges: record.exchanges,
        mismatches: record.mismatches,
    };
    (out, recorded)
}

/// The contract's OpenAPI document, as checked in.
pub fn document() -> &'static Value {
    static DOCUMENT: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    DOCUMENT.get_or_init(|| {
        serde_yaml_ng::from_str(specs::OPENAPI_YAML).expect("specs/openapi.yaml is YAML (tested)")
    })
}

/// Why an answer does not fit the document, if it does not: a REST answer as a
/// whole, a tRPC result by its output's schema.
pub fn document_mismatch(method: &str, path: &str, r: &Resp) -> Option<String> {
    let path = path.split('?').next().unwrap_or(path);
    if let Some(name) = path.strip_prefix("/api/trpc/") {
        let procedure = specs::find(name)?;
        let data = serde_json::from_str::<Value>(&r.body)
            .ok()?
            .pointer("/result/data")?
            .clone();
        let undefined = data.pointer("/meta/values") == Some(&serde_json::json!(["undefined"]));
        let schema = specs::document_check::success_schema(document(), procedure);
        return match (schema, undefined) {
            (None, true) => None,
            (None, false) => Some(format!(
                "{name} over tRPC answered {} where the document says no output",
                data["json"]
            )),
            (Some(_), true) => Some(format!(
                "{name} over tRPC answered undefined where the document says an output"
            )),
            (Some(schema), false) => specs::document_check::check_value(
                document(),
                schema,
                &data["json"],
            )
            .err()
            .map(|why| {
                format!("{name} over tRPC answered an output the document does not allow: {why}")
            }),
        };
    }
    let content_type = r.header("content-type");
    specs::document_check::check_answer(
        document(),
        &specs::document_check::Answer {
            method,
            path,
            status: r.status,
            content_type: content_type.as_deref(),
            body: &r.body,
        },
    )
    .err()
}

/// One request on a new connection, or `None` when no answer came.
pub async fn try_send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<Resp> {
    exchange(addr, method, path, headers, body).await.ok()
}

/// One request on a new connection, kept in the check's log; why there was no answer.
async fn exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<Resp, String> {
    let answer: Result<Resp, String> = async {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connecting to {addr}: {e}"))?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| with_causes(&e))?;
        tokio::spawn(connection);
        let mut builder = Request::builder().method(method).uri(path);
        // The target's address, unless the caller names another host.
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
            builder = builder.header("host", addr.to_string());
        }
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let request = builder
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| format!("the request: {e}"))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| with_causes(&e))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("reading the body: {}", with_causes(&e)))?
            .to_bytes();
        Ok(Resp {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }
    .await;
    // Kept only inside `recording` (a check's run).
    let _ = RECORD.try_with(|record| {
        let request = curl(addr, method, path, headers, body);
        let outcome = match &answer {
            Ok(r) => format!(
                "{} {}",
                r.status,
                r.body.chars().take(300).collect::<String>()
            ),
            Err(why) => format!("no answer: {why}"),
        };
        let mut record = record.lock().unwrap_or_else(|p| p.into_inner());
        if let (true, Ok(r)) = (record.check_document, &answer) {
            if let Some(why) = document_mismatch(method, path, r) {
                record.mismatches.push(format!("{why}\n  {request}"));
            }
        }
        record.exchanges.push(format!("{request}\n    → {outcome}"));
    });
    answer
}

/// An error and its causes: "connection closed before message completed: …".
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}

/// Which transport a call goes over. Calls are written in REST form
/// (`GET /api/auth.one?id=…`, `POST /api/auth.login` + JSON body); over tRPC the
/// same call is sent unbatched to `/api/trpc/<procedure>` with its input as
/// superjson.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    #[default]
    Rest,
    Trpc,
}

impl Transport {
    /// The request that makes this REST-form call over this transport: path and body.
    pub fn request(self, method: &str, path: &str, body: &str) -> (String, String) {
        let rest = (path.to_string(), body.to_string());
        let Some(name_and_query) = path.strip_prefix("/api/") else {
            return rest;
        };
        if self == Transport::Rest || name_and_query == "openapi.json" {
            return rest;
        }
        let (name, query) = name_and_query
            .split_once('?')
            .unwrap_or((name_and_query, ""));
        if method == "GET" {
            let input: serde_json::Map<String, Value> = form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                .collect();
            if input.is_empty() {
                return (format!("/api/trpc/{name}"), String::new());
            }
            let input = serde_json::json!({ "json": input }).to_string();
            let encoded: String = form_urlencoded::byte_serialize(input.as_bytes()).collect();
            return (format!("/api/trpc/{name}?input={encoded}"), String::new());
        }
        let body = match serde_json::from_str::<Value>(body) {
            Ok(value) => serde_json::json!({ "json": value }).to_string(),
            // Empty or not JSON: sent as it is.
            Err(_) => body.to_string(),
        };
        (format!("/api/trpc/{name}"), body)
    }

    /// The answer as the REST transport gives it, so one expectation fits both: a
    /// result item becomes its output (an empty body for undefined), an error item
    /// the `{message, code, issues?}` envelope.
    pub fn as_rest(self, r: Resp) -> Resp {
        if self == Transport::Rest {
            return r;
        }
        let Ok(item) = serde_json::from_str::<Value>(&r.body) else {
            return r;
        };
        let body = if let Some(data) = item.pointer("/result/data") {
            if data.pointer("/meta/values") == Some(&serde_json::json!(["undefined"])) {
                String::new()
            } else {
                data["json"].to_string()
            }
        } else if let Some(error) = item.pointer("/error/json") {
            let code = error["data"]["code"].clone();
            let message = error["message"].as_str().unwrap_or_default();
            if error["data"]["zodError"].is_null() {
                serde_json::json!({ "message": message, "code": code }).to_string()
            } else {
                let issues: Value = serde_json::from_str(message).unwrap_or(Value::Null);
                serde_json::json!({
                    "message": specs::messages::INPUT_VALIDATION_FAILED,
                    "code": code,
                    "issues": issues,
                })
                .to_string()
            }
        } else {
            return r;
        };
        Resp { body, ..r }
    }
}

/// One request on a new connection, a REST-form call sent over `transport`; the
/// answer as that transport gives it.
pub async fn send_over(
    transport: Transport,
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Resp {
    let (path, body) = transport.request(method, path, body);
    send(addr, method, &path, headers, &body).await
}

/// A client that keeps the session cookie like a browser, or sends a Bearer token.
#[derive(Debug, Clone)]
pub struct Client {
    pub addr: SocketAddr,
    pub cookie: Option<String>,
    pub bearer: Option<String>,
    pub transport: Transport,
    /// Answers given as the REST transport would (`Transport::as_rest`), so that
    /// one expectation fits both transports.
    pub rest_view: bool,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Client {
        Client {
            addr,
            cookie: None,
            bearer: None,
            transport: Transport::Rest,
            rest_view: false,
        }
    }

    /// The same client, sending its calls over `transport`.
    pub fn over(self, transport: Transport) -> Client {
        Client { transport, ..self }
    }

    /// The same client over `transport`, its answers read as REST ones.
    pub fn speaking(self, transport: Transport) -> Client {
        Client {
            transport,
            rest_view: true,
            ..self
        }
    }

    /// A client for the same target that sends only this Bearer token.
    pub fn with_bearer(&self, token: &str) -> Client {
        Client {
            addr: self.addr,
            cookie: None,
            bearer: Some(token.to_string()),
            transport: self.transport,
            rest_view: self.rest_view,
        }
    }

    async fn call(&mut self, method: &str, path: &str, body: Option<&str>) -> Resp {
        let cookie = self.cookie.as_ref().map(|c| format!("auth_session={c}"));
        let bearer = self.bearer.as_ref().map(|b| format!("Bearer {b}"));
        let mut headers = Vec::new();
        if let Some(c) = &cookie {
            headers.push(("cookie", c.as_str()));
        }
        if let Some(b) = &bearer {
            headers.push(("authorization", b.as_str()));
        }
        // A cookie session's change declares JSON, as a page's `fetch` does (the
        // contract refuses it otherwise, difference 22); a Bearer call need not.
        let by_cookie = self.cookie.is_some() && self.bearer.is_none();
        if body.is_some() || (method == "POST" && by_cookie) {
            headers.push(("content-type", "application/json"));
        }
        let r = send_over(
            self.transport,
            self.addr,
            method,
            path,
            &headers,
            body.unwrap_or(""),
        )
        .await;
        if r.set_cookie().is_some() {
            self.cookie = r.session_id();
        }
        if self.rest_view {
            self.transport.as_rest(r)
        } else {
            r
        }
    }

    pub async fn get(&mut self, path: &str) -> Resp {
        self.call("GET", path, None).await
    }

    /// A POST with a JSON body.
    pub async fn post(&mut self, path: &str, body: &str) -> Resp {
        self.call("POST", path, Some(body)).await
    }

    /// A POST with no body: no content type with a Bearer token or no credentials,
    /// `application/json` with a cookie session.
    pub async fn post_empty(&mut self, path: &str) -> Resp {
        self.call("POST", path, None).await
    }
}

/// The error envelope as a string, for comparisons.
pub fn envelope(code: &str, message: &str) -> String {
    serde_json::json!({"message": message, "code": code}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn no_answer_is_status_0_with_the_reason_and_is_logged() {
        // A server that takes the request and closes without answering.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buffer = [0u8; 1024];
                let _ = tokio::io::AsyncReadExt::read(&mut stream, &mut buffer).await;
            }
        });
        let (r, log) = recording(true, send(addr, "GET", "/api/auth.get", &[], "")).await;
        assert_eq!(r.status, 0);
        assert!(r.body.starts_with("no answer: "), "{}", r.body);
        assert!(log.exchanges[0].contains("→ no answer: "), "{log:?}");

        let closed = {
            let gone = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            gone.local_addr().unwrap()
        };
        let r = send(closed, "GET", "/health", &[], "").await;
        assert!(
            r.body.starts_with("no answer: connecting to "),
            "{}",
            r.body
        );
        assert!(try_send(closed, "GET", "/health", &[], "").await.is_none());
    }
}
