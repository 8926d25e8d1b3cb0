//! Forced errors and delays: for the next N calls of a procedure
//! (`POST /__mock/faults`), or for one request (`x-mock-fault` header).

use serde::{Deserialize, Serialize};
use specs::{ApiError, ErrorCode};
use std::sync::Mutex;
use std::time::Duration;

/// What to do instead of (or before) answering normally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Answer this contract error.
    Fail(ApiError),
    /// Wait, then answer normally.
    Delay(Duration),
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
    /// The error's message (default: the code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Delay in milliseconds (alone: then answer normally).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// How many calls it affects (default 1).
    #[serde(default = "one")]
    pub times: u32,
}

fn one() -> u32 {
    1
}

impl Fault {
    /// Checks the fault and returns what it does to a call: an optional delay and
    /// an optional error.
    pub fn effects(&self) -> Result<(Option<Duration>, Option<ApiError>), String> {
        if specs::find(&self.procedure).is_none() {
            return Err(format!("no procedure named {:?}", self.procedure));
        }
        let error = match &self.error {
            Some(name) => {
                let code =
                    ErrorCode::from_name(name).ok_or_else(|| format!("no error code {name:?}"))?;
                Some(forced(
                    code,
                    self.message.clone().unwrap_or_else(|| name.clone()),
                ))
            }
            None => None,
        };
        if error.is_none() && self.delay_ms.is_none() {
            return Err("a fault needs an error, a delayMs, or both".into());
        }
        Ok((self.delay_ms.map(Duration::from_millis), error))
    }
}

#[derive(Default)]
pub struct Faults {
    armed: Mutex<Vec<Fault>>,
}

impl Faults {
    pub fn add(&self, fault: Fault) -> Result<(), String> {
        fault.effects()?;
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

    /// Uses up one call of the first fault armed for `procedure`.
    pub fn take(&self, procedure: &str) -> (Option<Duration>, Option<ApiError>) {
        let mut armed = self.lock();
        let Some(index) = armed.iter().position(|f| f.procedure == procedure) else {
            return (None, None);
        };
        let effects = armed[index].effects().unwrap_or((None, None));
        armed[index].times = armed[index].times.saturating_sub(1);
        if armed[index].times == 0 {
            armed.remove(index);
        }
        effects
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Fault>> {
        self.armed.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Runs before every procedure call, on REST and tRPC alike: the request's
/// `x-mock-fault` header first, then the first fault armed for the procedure.
impl server::http::CallHook for Faults {
    fn before_call<'a>(
        &'a self,
        procedure: &'static specs::Procedure,
        headers: &'a hyper::HeaderMap,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<ApiError>> + Send + 'a>> {
        Box::pin(async move {
            if let Some(header) = headers.get("x-mock-fault") {
                match from_header(&String::from_utf8_lossy(header.as_bytes())) {
                    Ok(Effect::Fail(error)) => return Some(error),
                    Ok(Effect::Delay(delay)) => tokio::time::sleep(delay).await,
                    Err(message) => return Some(ApiError::bad_request(message)),
                }
            }
            let (delay, error) = self.take(procedure.name);
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            error
        })
    }
}

/// The `x-mock-fault` header: an error code (`UNAUTHORIZED`) or `delay=500ms`
/// (also `delay=2s`, `delay=250`).
pub fn from_header(value: &str) -> Result<Effect, String> {
    let value = value.trim();
    if let Some(delay) = value.strip_prefix("delay=") {
        return parse_duration(delay).map(Effect::Delay);
    }
    ErrorCode::from_name(value)
        .map(|code| Effect::Fail(forced(code, value)))
        .ok_or_else(|| format!("x-mock-fault: {value:?} is neither an error code nor delay=<time>"))
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

    #[test]
    fn faults_count_down() {
        let faults = Faults::default();
        faults
            .add(Fault {
                procedure: "auth.login".into(),
                error: Some("UNAUTHORIZED".into()),
                message: None,
                delay_ms: None,
                times: 2,
            })
            .unwrap();
        assert!(faults.take("auth.get").1.is_none());
        assert_eq!(
            faults.take("auth.login").1.unwrap().code,
            ErrorCode::Unauthorized
        );
        assert!(faults.take("auth.login").1.is_some());
        assert!(faults.take("auth.login").1.is_none());
        assert!(faults
            .add(Fault {
                procedure: "nope".into(),
                error: Some("UNAUTHORIZED".into()),
                message: None,
                delay_ms: None,
                times: 1
            })
            .is_err());
        assert!(faults
            .add(Fault {
                procedure: "auth.get".into(),
                error: None,
                message: None,
                delay_ms: None,
                times: 1
            })
            .is_err());
    }

    #[test]
    fn headers_and_durations() {
        assert_eq!(
            from_header("delay=500ms").unwrap(),
            Effect::Delay(Duration::from_millis(500))
        );
        assert_eq!(
            from_header("delay=2s").unwrap(),
            Effect::Delay(Duration::from_secs(2))
        );
        assert!(
            matches!(from_header("TOO_MANY_REQUESTS").unwrap(), Effect::Fail(e) if e.http_status() == 429)
        );
        assert!(from_header("teapot").is_err());
        assert_eq!(parse_duration("1d").unwrap(), Duration::from_secs(86_400));
        assert!(parse_duration("1y").is_err());
    }
}
