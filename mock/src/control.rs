//! The control plane under `/__mock/` (see `mock/README.md`).

use crate::faults::{parse_duration, Fault};
use crate::journal::Filter;
use crate::state::MockState;
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request};
use serde::Serialize;
use serde_json::{json, Value};
use server::core::Fixtures;
use server::http::{api_response, error_response, HttpResponse};
use server::time::{iso8601, parse_iso8601};
use specs::ApiError;

/// The control plane's OpenAPI document (`mock/openapi.yaml`), as YAML.
pub const OPENAPI_YAML: &str = include_str!("../openapi.yaml");

/// The control plane's OpenAPI document, as `GET /__mock/openapi.json` serves it.
pub fn openapi_json() -> Value {
    serde_yaml_ng::from_str(OPENAPI_YAML).expect("mock/openapi.yaml is YAML (tested)")
}

/// Every route of `handle` but the inspector's files, as (method, path under
/// `/__mock`): the document lists exactly these (tested).
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/reset"),
    ("GET", "/fixtures"),
    ("POST", "/fixtures"),
    ("DELETE", "/accounts"),
    ("POST", "/accounts/end-sessions"),
    ("POST", "/accounts/disable-2fa"),
    ("POST", "/accounts/confirm-email"),
    ("GET", "/clock"),
    ("POST", "/clock"),
    ("GET", "/outbox"),
    ("DELETE", "/outbox"),
    ("GET", "/totp"),
    ("GET", "/accounts"),
    ("GET", "/info"),
    ("GET", "/requests"),
    ("DELETE", "/requests"),
    ("GET", "/faults"),
    ("POST", "/faults"),
    ("DELETE", "/faults"),
    ("GET", "/openapi.json"),
];

/// Fixture files can be larger than API bodies.
const CONTROL_BODY_LIMIT: usize = 16 * 1024 * 1024;

fn ok<T: Serialize>(value: &T) -> HttpResponse {
    api_response(
        200,
        Bytes::from(serde_json::to_vec(value).expect("control answers serialize")),
    )
}

fn bad(message: impl Into<String>) -> HttpResponse {
    error_response(&ApiError::bad_request(message))
}

/// The JSON body (`{}` when empty); any content type, so `curl -d` works as is.
async fn json_body(request: Request<Incoming>) -> Result<Value, HttpResponse> {
    let bytes = Limited::new(request.into_body(), CONTROL_BODY_LIMIT)
        .collect()
        .await
        .map_err(|_| bad("the body could not be read (over 16 MiB?)"))?
        .to_bytes();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(&bytes).map_err(|e| bad(format!("the body is not JSON: {e}")))
}

fn query_param(request: &Request<Incoming>, name: &str) -> Option<String> {
    form_urlencoded::parse(request.uri().query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn clock_view(state: &MockState) -> Value {
    use server::core::ports::Clock;
    let now = state.clock.now_ms();
    let follows = if state.clock.follows_real_time() {
        "real"
    } else {
        "manual"
    };
    json!({"now": iso8601(now), "nowMs": now, "follows": follows})
}

/// The pin valid now, whether a login or set-up already spent it, and the next
/// step's pin (accepted already: pins are taken one step early or late).
fn pins_view(pins: &server::core::Pins) -> Value {
    json!({
        "pin": pins.current.pin,
        "used": pins.current.used,
        "validForSeconds": pins.seconds_left(),
        "next": {
            "pin": pins.next.pin,
            "used": pins.next.used,
            "validFrom": iso8601(pins.next.valid_from_ms),
        },
    })
}

/// Refuses a query parameter the route does not take (a typo would otherwise be
/// silently ignored).
fn only_params(request: &Request<Incoming>, known: &[&str]) -> Result<(), String> {
    let query = request.uri().query().unwrap_or("");
    match form_urlencoded::parse(query.as_bytes()).find(|(k, _)| !known.contains(&k.as_ref())) {
        Some((name, _)) => Err(format!(
            "unknown query parameter {name:?}: this route takes {}",
            known.join(", ")
        )),
        None => Ok(()),
    }
}

/// Seconds left before the current TOTP pin changes, at the mock's clock.
fn pin_seconds_left(state: &MockState) -> i64 {
    use server::core::ports::Clock;
    30 - (state.clock.now_ms() / 1000).rem_euclid(30)
}

/// `GET /__mock/requests?since=&procedure=&status=&error=`.
fn journal_filter(request: &Request<Incoming>) -> Result<Filter, String> {
    only_params(request, &["since", "procedure", "status", "error"])?;
    let since = match query_param(request, "since").map(|s| s.parse::<u64>()) {
        None => 0,
        Some(Ok(since)) => since,
        Some(Err(_)) => return Err("since takes a request's seq (an integer)".into()),
    };
    let status = match query_param(request, "status").map(|s| s.parse::<u16>()) {
        None => None,
        Some(Ok(status)) => Some(status),
        Some(Err(_)) => return Err("status takes an HTTP status (an integer)".into()),
    };
    let has_error = match query_param(request, "error").as_deref() {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return Err("error takes true or false".into()),
    };
    Ok(Filter {
        since,
        procedure: query_param(request, "procedure").filter(|p| !p.is_empty()),
        status,
        has_error,
    })
}

/// `GET /__mock/accounts`: every account with its role, 2FA state, the pin valid
/// now, and its live sessions (what the inspector page shows).
fn accounts_view(state: &MockState) -> Result<Value, ApiError> {
    let core = &state.core;
    let mut accounts = Vec::new();
    for account in core.list_accounts()? {
        let pins = if account.two_factor {
            core.pins_of(&account.email)?
        } else {
            None
        };
        let sessions = core.sessions_of_email(&account.email)?.unwrap_or_default();
        accounts.push(json!({
            "id": account.id,
            "email": account.email,
            "role": account.role,
            "twoFactor": account.two_factor,
            "pending": account.pending,
            "createdAt": account.created_at,
            "pin": pins.as_ref().map(|p| &p.current.pin),
            "pinUsed": pins.as_ref().map(|p| p.current.used),
            "nextPin": pins.as_ref().map(|p| &p.next.pin),
            "sessions": sessions,
        }));
    }
    Ok(json!({"validForSeconds": pin_seconds_left(state), "accounts": accounts}))
}

/// `GET /__mock/info`: what the inspector needs to build its forms.
fn info_view(state: &MockState) -> Value {
    let mode = match state.mode() {
        server::core::Mode::SelfHosted => "self-hosted",
        server::core::Mode::Cloud => "cloud",
    };
    let procedures: Vec<&str> = specs::PROCEDURES.iter().map(|p| p.name).collect();
    let codes: Vec<&str> = specs::ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    json!({
        "seed": state.seed(),
        "mode": mode,
        "procedures": procedures,
        "errorCodes": codes,
    })
}

pub async fn handle(state: &MockState, request: Request<Incoming>) -> HttpResponse {
    let path = request
        .uri()
        .path()
        .trim_start_matches("/__mock/")
        .to_string();
    let method = request.method().clone();
    match (method, path.as_str()) {
        (Method::POST, "reset") => {
            let body = match json_body(request).await {
                Ok(body) => body,
                Err(response) => return response,
            };
            let seed = match body.get("seed") {
                None | Some(Value::Null) => None,
                Some(seed) => match seed.as_u64() {
                    Some(seed) => Some(seed),
                    None => return bad("seed must be a non-negative integer"),
                },
            };
            match state.reset(seed).await {
                Ok(seed) => ok(&json!({"seed": seed})),
                Err(e) => error_response(&e),
            }
        }
        (Method::GET, "fixtures") => match state.core.export_fixtures() {
            Ok(fixtures) => ok(&fixtures),
            Err(e) => error_response(&e),
        },
        (Method::POST, "fixtures") => {
            let mut body = match json_body(request).await {
                Ok(body) => body,
                Err(response) => return response,
            };
            let mode = body.as_object_mut().and_then(|o| o.remove("mode"));
            let replace = match mode.as_ref().map(|m| m.as_str()) {
                None | Some(Some("add")) => false,
                Some(Some("replace")) => true,
                Some(_) => return bad("mode takes \"add\" (the default) or \"replace\""),
            };
            let fixtures: Fixtures = match serde_json::from_value(body) {
                Ok(f) => f,
                Err(e) => return bad(format!("not a fixtures document: {e}")),
            };
            let loaded = match replace {
                true => state.replace_accounts(&fixtures).await,
                false => state.load_fixtures(&fixtures).await,
            };
            match loaded {
                Ok(()) => ok(&json!({
                    "admins": fixtures.admins.len(),
                    "members": fixtures.members.len(),
                    "mode": if replace { "replace" } else { "add" },
                })),
                Err(e) => error_response(&e),
            }
        }
        (Method::DELETE, "accounts") => {
            let Some(email) = query_param(&request, "email") else {
                return bad("give the account as ?email=…");
            };
            match state.core.remove_account(&email).await {
                Ok(()) => ok(&json!({"removed": email.to_lowercase()})),
                Err(e) => error_response(&e),
            }
        }
        (
            Method::POST,
            action @ ("accounts/end-sessions" | "accounts/disable-2fa" | "accounts/confirm-email"),
        ) => {
            let action = action.to_string();
            let body = match json_body(request).await {
                Ok(body) => body,
                Err(response) => return response,
            };
            let Some(email) = body.get("email").and_then(Value::as_str) else {
                return bad("give the account as {\"email\": \"…\"}");
            };
            let core = &state.core;
            let done = match action.as_str() {
                "accounts/end-sessions" => core
                    .end_sessions_of_email(email)
                    .await
                    .map(|ended| json!({"ended": ended})),
                "accounts/disable-2fa" => core
                    .disable_two_factor(email)
                    .await
                    .map(|was_on| json!({"wasOn": was_on})),
                _ => core
                    .confirm_email(email)
                    .await
                    .map(|was_unconfirmed| json!({"wasUnconfirmed": was_unconfirmed})),
            };
            match done {
                Ok(answer) => ok(&answer),
                Err(e) => error_response(&e),
            }
        }
        (Method::GET, "clock") => ok(&clock_view(state)),
        (Method::POST, "clock") => {
            let body = match json_body(request).await {
                Ok(body) => body,
                Err(response) => return response,
            };
            match body.get("follow").map(|f| f.as_str()) {
                None => {}
                Some(Some("real")) => state.clock.follow_real_time(),
                Some(Some("manual")) => state.clock.stop(),
                Some(_) => return bad("follow takes \"real\" or \"manual\""),
            }
            if let Some(set) = body.get("set") {
                match set
                    .as_str()
                    .and_then(parse_iso8601)
                    .or_else(|| set.as_i64())
                {
                    Some(ms) => state.clock.set(ms),
                    None => return bad(
                        "set takes an ISO-8601 time like 2025-01-01T00:00:00.000Z or milliseconds",
                    ),
                }
            }
            if let Some(advance) = body.get("advance") {
                let parsed = match advance {
                    Value::String(text) => parse_duration(text).map(|d| d.as_millis() as i64),
                    Value::Number(n) => n
                        .as_i64()
                        .ok_or_else(|| "advance must be an integer".to_string()),
                    _ => Err("advance takes \"90s\", \"2h\", \"1d\" or milliseconds".to_string()),
                };
                match parsed {
                    Ok(ms) => {
                        state.clock.advance(ms);
                    }
                    Err(message) => return bad(message),
                }
            }
            ok(&clock_view(state))
        }
        (Method::GET, "outbox") => {
            if let Err(message) = only_params(&request, &["to", "after", "wait"]) {
                return bad(message);
            }
            let to = query_param(&request, "to");
            let after = match query_param(&request, "after").map(|a| a.parse::<u64>()) {
                None => 0,
                Some(Ok(after)) => after,
                Some(Err(_)) => return bad("after takes an email's seq (an integer)"),
            };
            let wait = match query_param(&request, "wait").map(|w| parse_duration(&w)) {
                None => None,
                Some(Ok(wait)) => Some(wait),
                Some(Err(message)) => return bad(format!("wait: {message}")),
            };
            let Some(wait) = wait else {
                return ok(&state.outbox.matching(to.as_deref(), after));
            };
            match state.outbox.wait_for(to.as_deref(), after, wait).await {
                Some(emails) => ok(&emails),
                None => error_response(&ApiError::new(
                    specs::ErrorCode::Timeout,
                    format!(
                        "no email{} came within {} ms",
                        to.map(|to| format!(" to {to}")).unwrap_or_default(),
                        wait.min(crate::outbox::MAX_WAIT).as_millis()
                    ),
                )),
            }
        }
        (Method::DELETE, "outbox") => ok(&json!({"cleared": state.outbox.clear()})),
        (Method::GET, "totp") => {
            if let Err(message) = only_params(&request, &["email", "secret"]) {
                return bad(message);
            }
            // A secret not enabled yet (the 2FA set-up step), at the mock's clock.
            if let Some(secret) = query_param(&request, "secret") {
                return match state.core.pins_for_secret(&secret) {
                    Some(pins) => ok(&pins_view(&pins)),
                    None => bad("the secret is not base32"),
                };
            }
            let Some(email) = query_param(&request, "email") else {
                return bad("give the account as ?email=… or a secret as ?secret=…");
            };
            match state.core.pins_of(&email) {
                Ok(Some(pins)) => {
                    let mut view = pins_view(&pins);
                    view["email"] = json!(email.to_lowercase());
                    ok(&view)
                }
                Ok(None) => error_response(&ApiError::not_found(
                    "No account with a 2FA secret has this email",
                )),
                Err(e) => error_response(&e),
            }
        }
        (Method::GET, "requests") => match journal_filter(&request) {
            Ok(filter) => ok(&state.journal.view_filtered(&filter)),
            Err(message) => bad(message),
        },
        (Method::GET, "accounts") => match accounts_view(state) {
            Ok(view) => ok(&view),
            Err(e) => error_response(&e),
        },
        (Method::GET, "info") => ok(&info_view(state)),
        (Method::GET, "openapi.json") => ok(&openapi_json()),
        (Method::GET, "" | "index.html") => crate::inspector::page(),
        (Method::GET, "inspector.js") => crate::inspector::script(),
        (Method::GET, "inspector.css") => crate::inspector::style(),
        (Method::DELETE, "requests") => ok(&json!({"cleared": state.journal.clear()})),
        (Method::GET, "faults") => ok(&state.faults.list()),
        (Method::POST, "faults") => {
            let body = match json_body(request).await {
                Ok(body) => body,
                Err(response) => return response,
            };
            let fault: Fault = match serde_json::from_value(body) {
                Ok(f) => f,
                Err(e) => return bad(format!("not a fault: {e}")),
            };
            match state.faults.add(fault) {
                Ok(()) => ok(&state.faults.list()),
                Err(message) => bad(message),
            }
        }
        (Method::DELETE, "faults") => ok(&json!({"cleared": state.faults.clear()})),
        _ => error_response(&ApiError::not_found(specs::messages::NOT_FOUND)),
    }
}
