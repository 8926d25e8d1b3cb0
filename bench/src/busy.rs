//! Logins timed one after another, for the busy-host measurements (the busy
//! processes themselves are the tests' own, `server/tests/common/busy.rs`).

use crate::measure::post_json_status;
use std::time::Instant;

/// The median of `count` logins made one after another (ms), and how many did not
/// answer 200.
pub fn login_median_ms(address: &str, body: &str, count: usize) -> (f64, usize) {
    let logins: Vec<(f64, bool)> = (0..count).map(|_| timed_login(address, body)).collect();
    let failed = logins.iter().filter(|(_, answered)| !answered).count();
    let mut times: Vec<f64> = logins.into_iter().map(|(ms, _)| ms).collect();
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], failed)
}

/// One login's time (ms), and whether it answered 200.
pub fn timed_login(address: &str, body: &str) -> (f64, bool) {
    let started = Instant::now();
    let answered = post_json_status(address, "/api/auth.login", body) == Some(200);
    (started.elapsed().as_secs_f64() * 1000.0, answered)
}
