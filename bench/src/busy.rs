//! A busy host: as many CPU-bound processes as cores beside the process measured,
//! as a PaaS host building images or a laptop running a bundler has.

use crate::measure::{free_address, post_json_status, wait_until_answering, Process};
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// `sh` busy loops, one per core; killed when dropped.
pub struct BusyProcesses(Vec<Child>);

impl BusyProcesses {
    pub fn start(count: usize) -> BusyProcesses {
        let loops = (0..count)
            .map(|_| {
                Command::new("sh")
                    .args(["-c", "while :; do :; done"])
                    .spawn()
                    .expect("sh starts")
            })
            .collect();
        // Let them take the cores before anything is measured.
        std::thread::sleep(Duration::from_millis(200));
        BusyProcesses(loops)
    }
}

impl Drop for BusyProcesses {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The median of `count` logins made one after another (ms), and how many did not
/// answer 200.
pub fn login_median_ms(address: &str, body: &str, count: usize) -> (f64, usize) {
    let mut failed = 0;
    let mut times: Vec<f64> = (0..count)
        .map(|_| {
            let started = Instant::now();
            if post_json_status(address, "/api/auth.login", body) != Some(200) {
                failed += 1;
            }
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], failed)
}

/// The mock started with `fixture`: ms from spawning it to its first answered
/// `GET /health`, then ms for one login (right after) of the account `login_body`
/// names, and whether that login answered 200.
pub fn mock_start_then_login(binary: &Path, fixture: &Path, login_body: &str) -> (f64, f64, bool) {
    let address = free_address();
    let started = Instant::now();
    let _mock = Process::spawn(
        binary.as_os_str(),
        &[
            "--listen",
            &address,
            "--fixtures",
            fixture.to_str().expect("UTF-8 path"),
        ],
        &[],
    );
    wait_until_answering(&address, "/health", Duration::from_secs(120)).expect("the mock starts");
    let startup_ms = started.elapsed().as_secs_f64() * 1000.0;
    let asked = Instant::now();
    let answered = post_json_status(&address, "/api/auth.login", login_body) == Some(200);
    (startup_ms, asked.elapsed().as_secs_f64() * 1000.0, answered)
}
