//! The suite is tested itself: deliberately broken targets, each the mock behind a
//! proxy that alters one behaviour, must each be caught by the check named here.
//! `conformance/README.md` lists them.

use bytes::Bytes;
use conformance::client::{send, Resp};
use conformance::runner::{run_over, BOTH};
use conformance::target::{BoxFuture, Target};
use conformance::{run, Verdict};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::Value;
use specs::Profile;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// A request as the proxy sees it: method, path with query, headers, body.
struct Exchange {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

type Headers = Vec<(String, String)>;
/// An answer made by the proxy itself: status, headers, body.
type Answer = (u16, Headers, String);
type OnRequest = fn(&mut Exchange, &Shared) -> Option<Answer>;
type OnResponse = fn(&Exchange, &Shared, &mut u16, &mut Headers, &mut String);

/// One deliberate defect: it may rewrite the request, answer in place of the
/// target, or rewrite the answer.
#[derive(Clone, Copy)]
struct Mutation {
    name: &'static str,
    /// The profile the mock answers in and the suite expects.
    profile: Profile,
    /// The check that must catch it ("procedure / outcome").
    caught_by: &'static str,
    on_request: OnRequest,
    on_response: OnResponse,
}

/// What a mutation may remember between requests.
#[derive(Default)]
struct Shared {
    /// Tokens (or accepted pin bodies) seen so far.
    tokens: Mutex<Vec<String>>,
    backend: Mutex<Option<SocketAddr>>,
}

fn keep_request(_: &mut Exchange, _: &Shared) -> Option<Answer> {
    None
}
fn keep_response(
    _: &Exchange,
    _: &Shared,
    _: &mut u16,
    _: &mut Vec<(String, String)>,
    _: &mut String,
) {
}

fn rewrite_json(body: &mut String, f: impl FnOnce(&mut Value)) {
    if let Ok(mut value) = serde_json::from_str::<Value>(body) {
        f(&mut value);
        *body = value.to_string();
    }
}

fn header_mut<'a>(headers: &'a mut [(String, String)], name: &str) -> Option<&'a mut String> {
    headers.iter_mut().find(|(k, _)| k == name).map(|(_, v)| v)
}

fn mutations() -> Vec<Mutation> {
    vec![
        Mutation {
            name: "wrong status: 401 answered as 403",
            profile: Profile::Contract,
            caught_by: "auth.get / 401 without a session, blank cookie for a dead one",
            on_request: keep_request,
            on_response: |_, _, status, _, _| {
                if *status == 401 {
                    *status = 403;
                }
            },
        },
        Mutation {
            name: "missing cookie: createAdmin sets no session",
            profile: Profile::Contract,
            caught_by: "auth.createAdmin / success: true and a session cookie",
            on_request: keep_request,
            on_response: |ex, _, _, headers, _| {
                if ex.path == "/api/auth.createAdmin" {
                    headers.retain(|(k, _)| k != "set-cookie");
                }
            },
        },
        Mutation {
            name: "malformed cookie: no HttpOnly",
            profile: Profile::Contract,
            caught_by: "auth.login / success without 2FA",
            on_request: keep_request,
            on_response: |_, _, _, headers, _| {
                if let Some(cookie) = header_mut(headers, "set-cookie") {
                    *cookie = cookie.replace("HttpOnly; ", "");
                }
            },
        },
        Mutation {
            name: "the password hash in an output",
            profile: Profile::Contract,
            caught_by: "auth.get / the caller's record, shaped",
            on_request: keep_request,
            on_response: |ex, _, _, _, body| {
                if ex.path == "/api/auth.get" {
                    rewrite_json(body, |v| {
                        v["password"] = "$2b$10$abcdefghijklmnopqrstuv".into();
                    });
                }
            },
        },
        Mutation {
            name: "an old API token still accepted",
            profile: Profile::Contract,
            caught_by: "auth.generateToken / a new token; the old one is refused",
            on_request: |ex, shared| {
                let tokens = shared.tokens.lock().unwrap();
                if let (Some(latest), Some(auth)) =
                    (tokens.last(), header_mut(&mut ex.headers, "authorization"))
                {
                    if tokens.iter().any(|t| auth == &format!("Bearer {t}")) {
                        *auth = format!("Bearer {latest}");
                    }
                }
                None
            },
            on_response: |ex, shared, _, _, body| {
                if ex.path == "/api/auth.generateToken" {
                    if let Some(token) = serde_json::from_str::<Value>(body)
                        .ok()
                        .and_then(|v| v["token"].as_str().map(String::from))
                    {
                        shared.tokens.lock().unwrap().push(token);
                    }
                }
            },
        },
        Mutation {
            name: "emails compared case-sensitively at login",
            profile: Profile::Contract,
            caught_by: "auth.login / success without 2FA",
            on_request: |ex, _| {
                let email = serde_json::from_str::<Value>(&ex.body).ok()?["email"]
                    .as_str()?
                    .to_string();
                (ex.path == "/api/auth.login" && email != email.to_lowercase()).then(|| {
                    (
                        400,
                        json_headers(),
                        specs::ApiError::bad_request(specs::messages::CREDENTIALS).to_json(),
                    )
                })
            },
            on_response: keep_response,
        },
        Mutation {
            name: "an invitation token usable for another account",
            profile: Profile::Contract,
            caught_by: "auth.createUser / 400 for a token of another account or used twice",
            on_request: |ex, shared| {
                if ex.path != "/api/auth.createUser" {
                    return None;
                }
                let backend = (*shared.backend.lock().unwrap())?;
                let mut input: Value = serde_json::from_str(&ex.body).ok()?;
                let token = input["token"].as_str()?.to_string();
                let owner = block_on(send(
                    backend,
                    "GET",
                    &format!("/api/admin.getUserByToken?token={token}"),
                    &[],
                    "",
                ));
                input["id"] = owner.json()["authId"].clone();
                // The defect: the token opens whatever account it names, and once more.
                let answer = block_on(send(
                    backend,
                    "POST",
                    "/api/auth.createUser",
                    &[("content-type", "application/json")],
                    &input.to_string(),
                ));
                (answer.status == 400)
                    .then(|| (200, json_headers(), "true".to_string()))
                    .or(Some((answer.status, json_headers(), answer.body)))
            },
            on_response: keep_response,
        },
        Mutation {
            name: "an extra key in error bodies",
            profile: Profile::Contract,
            caught_by: "transport / 400 PARSE_ERROR for a body that is not JSON",
            on_request: keep_request,
            on_response: |_, _, status, _, body| {
                if *status >= 400 {
                    rewrite_json(body, |v| {
                        v["data"] = Value::Object(Default::default());
                    });
                }
            },
        },
        Mutation {
            name: "validation issues in the wrong order",
            profile: Profile::Contract,
            caught_by: "transport / zod issues, every field, schema order",
            on_request: keep_request,
            on_response: |_, _, _, _, body| {
                rewrite_json(body, |v| {
                    if let Some(issues) = v.get_mut("issues").and_then(Value::as_array_mut) {
                        issues.reverse();
                    }
                });
            },
        },
        Mutation {
            name: "a password change leaves the other sessions alive",
            profile: Profile::Contract,
            caught_by: "auth.update / a new password ends the other sessions",
            on_request: |ex, _| {
                if ex.path == "/api/auth.update" {
                    rewrite_json(&mut ex.body, |v| v["password"] = Value::Null);
                }
                None
            },
            on_response: keep_response,
        },
        Mutation {
            name: "logout blanks the cookie but keeps the session",
            profile: Profile::Contract,
            caught_by: "auth.logout / ends the cookie session; false for a Bearer token",
            on_request: |ex, _| {
                let has_cookie = ex.headers.iter().any(|(k, _)| k == "cookie");
                (ex.path == "/api/auth.logout" && has_cookie).then(|| {
                    let mut headers = json_headers();
                    headers.push((
                        "set-cookie".into(),
                        "auth_session=; HttpOnly; Max-Age=0; Path=/; SameSite=Lax".into(),
                    ));
                    (200, headers, "true".to_string())
                })
            },
            on_response: keep_response,
        },
        Mutation {
            name: "a replayed pin accepted",
            profile: Profile::Contract,
            caught_by: "auth.verifyLogin2FA / a pin is accepted once",
            on_request: |ex, shared| {
                if ex.path != "/api/auth.verifyLogin2FA" {
                    return None;
                }
                let backend = (*shared.backend.lock().unwrap())?;
                let answer = block_on(send_on(ex, backend));
                let mut accepted = shared.tokens.lock().unwrap();
                if answer.status == 200 {
                    accepted.push(ex.body.clone());
                } else if accepted.contains(&ex.body) {
                    // The defect: the same pin for the same account works again.
                    return Some((200, json_headers(), "true".to_string()));
                }
                Some((answer.status, json_headers(), answer.body))
            },
            on_response: keep_response,
        },
        Mutation {
            name: "sessions never slide",
            profile: Profile::Contract,
            caught_by: "auth.get / sliding cookie sessions",
            on_request: keep_request,
            on_response: |ex, _, _, headers, _| {
                if ex.path == "/api/auth.get" {
                    headers.retain(|(k, v)| k != "set-cookie" || v.contains("Max-Age=0"));
                }
            },
        },
    ]
}

/// Defects against Dokploy v0.14's behaviour, caught in the `dokploy-0.14` profile.
fn dokploy_mutations() -> Vec<Mutation> {
    use specs::messages as msg;
    vec![
        Mutation {
            name: "Dokploy: a second createAdmin answers the contract's message",
            profile: Profile::Dokploy014,
            caught_by: "auth.createAdmin / 400 once an admin exists",
            on_request: keep_request,
            on_response: |_, _, _, _, body| {
                *body = body.replace(msg::dokploy::ADMIN_EXISTS, msg::ADMIN_EXISTS);
            },
        },
        Mutation {
            name: "Dokploy: disable2FA answers the record after the change",
            profile: Profile::Dokploy014,
            caught_by: "auth.disable2FA / turns 2FA off",
            on_request: keep_request,
            on_response: |ex, _, _, _, body| {
                if ex.path.ends_with("auth.disable2FA") {
                    *body = body.replace(r#""is2FAEnabled":true"#, r#""is2FAEnabled":false"#);
                }
            },
        },
        Mutation {
            name: "Dokploy: removeUser removes the admin itself",
            profile: Profile::Dokploy014,
            caught_by: "admin.removeUser / removes a member and its sessions; 404 for oneself (Dokploy: 400, nothing deleted)",
            on_request: keep_request,
            on_response: |ex, _, status, _, body| {
                if ex.path.ends_with("admin.removeUser") && body.contains(msg::dokploy::REMOVE_USER) {
                    *status = 200;
                    *body = specs::trpc::result_item(None);
                }
            },
        },
        Mutation {
            name: "Dokploy: REST answers public procedures without a session",
            profile: Profile::Dokploy014,
            caught_by: "transport / without a session: public procedures answer, others 401, unknown paths 404 (difference 12)",
            on_request: keep_request,
            on_response: |ex, _, status, _, body| {
                if ex.path == "/api/auth.login" && *body == msg::dokploy::GATE {
                    *status = 400;
                    *body = conformance::client::envelope("BAD_REQUEST", msg::CREDENTIALS);
                }
            },
        },
        Mutation {
            name: "Dokploy: a replayed pin refused",
            profile: Profile::Dokploy014,
            caught_by: "auth.verifyLogin2FA / a pin is accepted once",
            on_request: |ex, shared| {
                let is_setup = ex.path == "/api/trpc/auth.verify2FASetup";
                if !is_setup && ex.path != "/api/trpc/auth.verifyLogin2FA" {
                    return None;
                }
                let pin = serde_json::from_str::<Value>(&ex.body).ok()?["json"]["pin"]
                    .as_str()?
                    .to_string();
                let backend = (*shared.backend.lock().unwrap())?;
                let answer = block_on(send_on(ex, backend));
                let mut accepted = shared.tokens.lock().unwrap();
                if !is_setup && answer.status == 200 && accepted.contains(&pin) {
                    // The defect: the contract's rule, where Dokploy has none.
                    let refused = specs::trpc::error_item(
                        &specs::ApiError::bad_request(msg::INVALID_2FA),
                        Some("auth.verifyLogin2FA"),
                    );
                    return Some((400, json_headers(), refused.to_string()));
                }
                if answer.status == 200 {
                    accepted.push(pin);
                }
                Some(passed_on(answer))
            },
            on_response: keep_response,
        },
    ]
}

/// Sends the exchange on to the mock as it is.
async fn send_on(exchange: &Exchange, backend: SocketAddr) -> Resp {
    let headers: Vec<(&str, &str)> = exchange
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    send(
        backend,
        &exchange.method,
        &exchange.path,
        &headers,
        &exchange.body,
    )
    .await
}

/// An answer of the mock as the proxy passes it on.
fn passed_on(r: Resp) -> Answer {
    let headers = r
        .headers
        .iter()
        .filter(|(k, _)| *k != "content-length")
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    (r.status, headers, r.body)
}

fn json_headers() -> Headers {
    vec![("content-type".into(), "application/json".into())]
}

/// Runs a future to completion from inside a proxy hook (hooks are synchronous).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(future))
}

/// The mock behind a proxy with one mutation.
struct Mutated {
    mock: mock::MockServer,
    proxy: SocketAddr,
}

impl Target for Mutated {
    fn fresh(&self) -> BoxFuture<'_, Result<SocketAddr, String>> {
        self.mock.reset();
        let proxy = self.proxy;
        Box::pin(async move { Ok(proxy) })
    }
    fn now_ms(&self) -> BoxFuture<'_, i64> {
        let now = self.mock.now_ms();
        Box::pin(async move { now })
    }
    fn advance_clock(&self, ms: i64) -> BoxFuture<'_, bool> {
        self.mock
            .advance_clock(std::time::Duration::from_millis(ms.max(0) as u64));
        Box::pin(async { true })
    }
    fn name(&self) -> String {
        "mutated mock".into()
    }
}

async fn proxy(mutation: Mutation, backend: SocketAddr) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shared = Arc::new(Shared::default());
    *shared.backend.lock().unwrap() = Some(backend);
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let shared = shared.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                    let shared = shared.clone();
                    async move {
                        Ok::<_, std::convert::Infallible>(
                            forward(mutation, &shared, backend, request).await,
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

async fn forward(
    mutation: Mutation,
    shared: &Shared,
    backend: SocketAddr,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let mut exchange = Exchange {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        headers: parts
            .headers
            .iter()
            .filter(|(k, _)| *k != "host" && *k != "content-length")
            .map(|(k, v)| {
                (
                    k.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let (mut status, mut headers, mut body) = match (mutation.on_request)(&mut exchange, shared) {
        Some(answer) => answer,
        None => passed_on(send_on(&exchange, backend).await),
    };
    (mutation.on_response)(&exchange, shared, &mut status, &mut headers, &mut body);
    let mut response = Response::builder().status(status);
    for (k, v) in headers {
        response = response.header(k, v);
    }
    response.body(Full::new(Bytes::from(body))).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mutation_is_caught() {
    let all: Vec<Mutation> = mutations().into_iter().chain(dokploy_mutations()).collect();
    // Each mutation names the check that must catch it: a name that matches no
    // check would make the mutation look escaped for the wrong reason.
    let checks: std::collections::HashSet<String> = conformance::checks::all()
        .iter()
        .map(|c| c.name())
        .collect();
    for mutation in &all {
        assert!(
            checks.contains(mutation.caught_by),
            "mutation {} names no check: {:?}",
            mutation.name,
            mutation.caught_by
        );
    }
    let mut escaped = Vec::new();
    for mutation in all {
        let mock = mock::MockServer::builder()
            .profile(mutation.profile)
            .start()
            .await;
        let proxy = proxy(mutation, mock.address()).await;
        let target = Arc::new(Mutated { mock, proxy });
        let report = run_over(target, None, BOTH, mutation.profile).await;
        // Caught, and reported with the requests to reproduce it by hand.
        let caught = report.results.iter().any(|r| {
            format!("{} / {}", r.procedure, r.outcome) == mutation.caught_by
                && matches!(&r.verdict, Verdict::Failed(why) if why.contains("as curl:\ncurl -si -X "))
        });
        if !caught {
            escaped.push(format!(
                "{} (expected {:?} to fail)\n{}",
                mutation.name,
                mutation.caught_by,
                report.render()
            ));
        }
    }
    assert!(
        escaped.is_empty(),
        "mutations not caught:\n{}",
        escaped.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unmutated_proxy_passes() {
    let mock = mock::MockServer::start().await;
    let identity = Mutation {
        name: "none",
        profile: Profile::Contract,
        caught_by: "",
        on_request: keep_request,
        on_response: keep_response,
    };
    let proxy = proxy(identity, mock.address()).await;
    let report = run(Arc::new(Mutated { mock, proxy }), None).await;
    assert_eq!(report.failed(), 0, "{}", report.render());
}

/// The suite checks every answer against `specs/openapi.yaml`: a field of the wrong
/// type, or a status the document does not list for that operation, fails the check
/// that received it, with the schema path, even where no check looks at it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_that_break_the_document_are_caught_by_the_document_check() {
    let breaks = [
        (
            Mutation {
                name: "auth.get's createdAt as a number",
                profile: Profile::Contract,
                caught_by: "",
                on_request: keep_request,
                on_response: |ex, _, status, _, body| {
                    if ex.path == "/api/auth.get" && *status == 200 {
                        rewrite_json(body, |v| v["createdAt"] = serde_json::json!(0));
                    }
                },
            },
            "GET /api/auth.get answered 200 with a body the document does not allow: /createdAt: integer where the document says string (schema #/components/schemas/Timestamp/type)",
        ),
        (
            Mutation {
                name: "auth.verifyToken answers 201",
                profile: Profile::Contract,
                caught_by: "",
                on_request: keep_request,
                on_response: |ex, _, status, _, _| {
                    if ex.path == "/api/auth.verifyToken" && *status == 200 {
                        *status = 201;
                    }
                },
            },
            "POST /api/auth.verifyToken answered 201, a status the document does not list for it",
        ),
    ];
    for (mutation, expected) in breaks {
        let mock = mock::MockServer::start().await;
        let proxy = proxy(mutation, mock.address()).await;
        let report = run(Arc::new(Mutated { mock, proxy }), None).await;
        let caught = report.results.iter().any(|r| {
            matches!(&r.verdict, Verdict::Failed(why)
                if why.contains("do not fit specs/openapi.yaml") && why.contains(expected))
        });
        assert!(caught, "{}: not caught\n{}", mutation.name, report.render());
    }
}
