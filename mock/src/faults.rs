//! Forced errors, delays and network failures: for the next N calls (or every
//! call) of a procedure, optionally only when its input matches
//! (`POST /__mock/faults`), or for one request (`x-mock-fault` header).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use specs::{ApiError, ErrorCode};
use std::cell::RefCell;
use std::sync::Mutex;
use std::time::Duration;

/// What the network does to the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// Close the connection without answering (the call does not run).
    Close,
    /// Send the headers and half the body, then close the connection.
    Truncate,
}

/// How many calls a fault affects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Times {
    Count(u32),
    /// Every call until the faults are cleared.
    Always,
}

impl Default for Times {
    fn default() -> Times {
        Times::Count(1)
    }
}

impl Serialize for Times {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Times::Count(n) => serializer.serialize_u32(*n),
            Times::Always => serializer.serialize_str("always"),
        }
    }
}

impl<'de> Deserialize<'de> for Times {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Times, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::String(text) if text == "always" => Ok(Times::Always),
            Value::Number(n) => match n.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(0) | None => Err(serde::de::Error::custom(
                    "times takes a positive integer or \"always\"",
                )),
                Some(n) => Ok(Times::Count(n)),
            },
            _ => Err(serde::de::Error::custom(
                "times takes a positive integer or \"always\"",
            )),
        }
    }
}

/// A fault on a procedure, as `POST /__mock/faults` takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fault {
    /// `auth.login`, `user.all`, …
    pub procedure: String,
    /// A contract error code (`UNAUTHORIZED`, `TOO_MANY_REQUESTS`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The error's message (default: says the mock forced it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Delay in milliseconds (alone: then answer normally).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// Close the connection, or cut the answer's body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
    /// Only calls whose input has these keys with these values (other keys may
    /// differ): `{"email": "x@example.com"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Map<String, Value>>,
    /// How many calls it affects: a number (default 1) or `"always"`.
    #[serde(default)]
    pub times: Times,
}

/// What a fault does to one call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub delay: Option<Duration>,
    pub error: Option<ApiError>,
    pub network: Option<Network>,
}

impl Fault {
    /// A fault with only a procedure and an error code, for one call.
    ///
    /// ```
    /// let fault = mock::Fault::error("auth.login", "TOO_MANY_REQUESTS");
    /// assert_eq!(fault.times, mock::faults::Times::Count(1));
    /// ```
    pub fn error(procedure: &str, code: &str) -> Fault {
        Fault {
            procedure: procedure.into(),
            error: Some(code.into()),
            message: None,
            delay_ms: None,
            network: None,
            input: None,
            times: Times::default(),
        }
    }

    /// Checks the fault and says what it does to a call.
    pub fn plan(&self) -> Result<Plan, String> {
        if specs::find(&self.procedure).is_none() {
            return Err(format!("no procedure named {:?}", self.procedure));
        }
        let error = match &self.error {
            Some(name) => {
                let code =
                    ErrorCode::from_name(name).ok_or_else(|| format!("no error code {name:?}"))?;
                let message = self.message.clone().unwrap_or_else(|| {
                    format!(
                        "{name} forced by the mock (a fault armed on {})",
                        self.procedure
                    )
                });
                Some(forced(code, message))
            }
            None => None,
        };
        if error.is_none() && self.delay_ms.is_none() && self.network.is_none() {
            return Err("a fault needs an error, a delayMs, a network, or several".into());
        }
        Ok(Plan {
            delay: self.delay_ms.map(Duration::from_millis),
            error,
            network: self.network,
        })
    }

    fn matches(&self, procedure: &str, input: Option<&Value>) -> bool {
        self.procedure == procedure
            && self.input.as_ref().is_none_or(|wanted| {
                let given = input.and_then(Value::as_object);
                wanted
                    .iter()
                    .all(|(key, value)| given.and_then(|g| g.get(key)) == Some(value))
            })
    }
}

#[derive(Default)]
pub struct Faults {
    armed: Mutex<Vec<Fault>>,
}

impl Faults {
    pub fn add(&self, fault: Fault) -> Result<(), String> {
        fault.plan()?;
        self.lock().push(fault);
        Ok(())
    }

    pub fn list(&self) -> Vec<Fault> {
        self.lock().clone()
    }

    /// Disarms every fault; how many were armed.
    pub fn clear(&self) -> usize {
        let mut armed = self.lock();
        let held = armed.len();
        armed.clear();
        held
    }

    /// Uses up one call of the first fault armed for this call, if any.
    pub fn take(&self, procedure: &str, input: Option<&Value>) -> Option<Plan> {
        let mut armed = self.lock();
        let index = armed.iter().position(|f| f.matches(procedure, input))?;
        let plan = armed[index].plan().ok();
        if let Times::Count(left) = &mut armed[index].times {
            *left = left.saturating_sub(1);
            if *left == 0 {
                armed.remove(index);
            }
        }
        plan
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Fault>> {
        self.armed.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What faults did to the request being answered: the journal reads it.
#[derive(Debug, Default)]
pub struct Marks {
    /// The procedures whose calls a fault answered, in call order.
    pub forced: Vec<&'static str>,
    pub network: Option<Network>,
}

thread_local! {
    /// The marks of the answer this thread is polling, lent by its `Marked`.
    static MARKS: RefCell<Option<Marks>> = const { RefCell::new(None) };
}

pin_project_lite::pin_project! {
    /// A request's answer and what faults did to it (the forced calls run inside
    /// it). Its marks are lent to `MARKS` while it is polled: a thread-local for
    /// one poll, where a task-local scope cost two more moves of the whole answer.
    pub struct Marked<F> {
        #[pin]
        answer: F,
        marks: Option<Marks>,
    }
}

impl<F> Marked<F> {
    pub fn new(answer: F) -> Marked<F> {
        Marked {
            answer,
            marks: Some(Marks::default()),
        }
    }
}

impl<F: std::future::Future> std::future::Future for Marked<F> {
    type Output = (F::Output, Marks);

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let this = self.project();
        let outer = MARKS.replace(this.marks.take());
        let polled = this.answer.poll(cx);
        *this.marks = MARKS.replace(outer);
        let answer = std::task::ready!(polled);
        std::task::Poll::Ready((answer, this.marks.take().unwrap_or_default()))
    }
}

fn mark(procedure: &'static str, plan: &Plan) {
    if plan.error.is_none() && plan.network.is_none() {
        return; // A delay alone is not an answer of the mock's making.
    }
    MARKS.with_borrow_mut(|marks| {
        if let Some(marks) = marks {
            marks.forced.push(procedure);
            if plan.network.is_some() {
                marks.network = plan.network;
            }
        }
    });
}

/// Carries out a plan before a call: its delay, then what answers instead.
async fn apply(procedure: &'static str, plan: Plan) -> Option<ApiError> {
    if let Some(delay) = plan.delay {
        tokio::time::sleep(delay).await;
    }
    mark(procedure, &plan);
    match plan.network {
        // The call does not run; the service closes the connection instead of
        // sending this.
        Some(Network::Close) => Some(ApiError::new(
            ErrorCode::InternalServerError,
            "connection closed by a fault",
        )),
        _ => plan.error,
    }
}

/// Made once: a `&str` name is parsed on every lookup (every call).
const X_MOCK_FAULT: hyper::header::HeaderName =
    hyper::header::HeaderName::from_static("x-mock-fault");

/// Runs before every procedure call, on REST and tRPC alike: the request's
/// `x-mock-fault` header first, then the first fault armed for the call.
impl server::http::CallHook for Faults {
    fn before_call<'a>(
        &'a self,
        procedure: &'static specs::Procedure,
        headers: &'a hyper::HeaderMap,
        input: Option<&'a Value>,
    ) -> Option<std::pin::Pin<Box<dyn std::future::Future<Output = Option<ApiError>> + Send + 'a>>>
    {
        let Some(header) = headers.get(&X_MOCK_FAULT) else {
            // No header: only a pinned fault, if one is left for this call.
            let plan = self.take(procedure.name, input)?;
            return Some(Box::pin(apply(procedure.name, plan)));
        };
        Some(Box::pin(async move {
            let plan = match from_header(&String::from_utf8_lossy(header.as_bytes())) {
                Ok(plan) => plan,
                Err(message) => return Some(ApiError::bad_request(message)),
            };
            if let Some(answer) = apply(procedure.name, plan).await {
                return Some(answer);
            }
            match self.take(procedure.name, input) {
                Some(plan) => apply(procedure.name, plan).await,
                None => None,
            }
        }))
    }
}

/// The `x-mock-fault` header: an error code (`UNAUTHORIZED`), `delay=500ms` (also
/// `delay=2s`, `delay=250`), `close` or `truncate`.
pub fn from_header(value: &str) -> Result<Plan, String> {
    let value = value.trim();
    if let Some(delay) = value.strip_prefix("delay=") {
        return parse_duration(delay).map(|delay| Plan {
            delay: Some(delay),
            ..Plan::default()
        });
    }
    let network = match value {
        "close" => Some(Network::Close),
        "truncate" => Some(Network::Truncate),
        _ => None,
    };
    if network.is_some() {
        return Ok(Plan {
            network,
            ..Plan::default()
        });
    }
    let code = ErrorCode::from_name(value).ok_or_else(|| {
        format!("x-mock-fault: {value:?} is none of an error code, delay=<time>, close, truncate")
    })?;
    Ok(Plan {
        error: Some(forced(
            code,
            format!("{value} forced by the mock (x-mock-fault header)"),
        )),
        ..Plan::default()
    })
}

/// A forced error; a forced 429 says when to try again, as a real one does.
fn forced(code: ErrorCode, message: impl Into<String>) -> ApiError {
    let error = ApiError::new(code, message);
    match code {
        ErrorCode::TooManyRequests => ApiError {
            retry_after_secs: Some(1),
            ..error
        },
        _ => error,
    }
}

/// `500ms`, `2s`, `3m`, `1h`, `1d`, or a bare number of milliseconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("not a duration: {text:?}"))?;
    let ms = match unit {
        "" | "ms" => n,
        "s" => n * 1000,
        "m" => n * 60_000,
        "h" => n * 3_600_000,
        "d" => n * 86_400_000,
        _ => return Err(format!("not a duration: {text:?}")),
    };
    Ok(Duration::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fault(value: Value) -> Fault {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn faults_count_down() {
        let faults = Faults::default();
        faults
            .add(Fault {
                times: Times::Count(2),
                ..Fault::error("auth.login", "UNAUTHORIZED")
            })
            .unwrap();
        assert!(faults.take("auth.get", None).is_none());
        let plan = faults.take("auth.login", None).unwrap();
        let error = plan.error.unwrap();
        assert_eq!(error.code, ErrorCode::Unauthorized);
        assert_eq!(
            error.message,
            "UNAUTHORIZED forced by the mock (a fault armed on auth.login)"
        );
        assert!(faults.take("auth.login", None).is_some());
        assert!(faults.take("auth.login", None).is_none());
        assert!(faults.add(Fault::error("nope", "UNAUTHORIZED")).is_err());
        assert!(faults
            .add(Fault {
                error: None,
                ..Fault::error("auth.get", "UNAUTHORIZED")
            })
            .is_err());
    }

    #[test]
    fn always_and_input_matching() {
        let faults = Faults::default();
        faults
            .add(fault(
                json!({"procedure": "auth.login", "error": "FORBIDDEN",
                "input": {"email": "x@example.com"}, "times": "always"}),
            ))
            .unwrap();
        let x = json!({"email": "x@example.com", "password": "whatever1"});
        let y = json!({"email": "y@example.com", "password": "whatever1"});
        for _ in 0..5 {
            assert!(faults.take("auth.login", Some(&x)).is_some());
        }
        assert!(faults.take("auth.login", Some(&y)).is_none());
        assert!(faults.take("auth.login", None).is_none());
        assert_eq!(
            serde_json::to_value(faults.list()).unwrap()[0]["times"],
            "always"
        );
        assert!(
            serde_json::from_value::<Fault>(json!({"procedure": "auth.get",
            "error": "FORBIDDEN", "times": 0}))
            .is_err()
        );
        assert!(
            serde_json::from_value::<Fault>(json!({"procedure": "auth.get",
            "error": "FORBIDDEN", "times": "often"}))
            .is_err()
        );
    }

    #[test]
    fn headers_and_durations() {
        assert_eq!(
            from_header("delay=500ms").unwrap().delay,
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            from_header("delay=2s").unwrap().delay,
            Some(Duration::from_secs(2))
        );
        assert_eq!(from_header("close").unwrap().network, Some(Network::Close));
        let error = from_header("TOO_MANY_REQUESTS").unwrap().error.unwrap();
        assert_eq!(error.http_status(), 429);
        assert!(error.message.contains("forced by the mock"));
        assert!(from_header("teapot").is_err());
        assert_eq!(parse_duration("1d").unwrap(), Duration::from_secs(86_400));
        assert!(parse_duration("1y").is_err());
    }
}
