//! A rolling restart of two instances on one PostgreSQL behind nginx, configured as
//! `docs/scale-out.md` says, under a load of `auth.get`, logins and invitations:
//! every failed request is counted, and every invitation that was answered 200 must
//! be in the members list afterwards.

use crate::measure::{
    free_address, get_with_token, post_json_status, post_status, wait_until_answering, Process, Wrk,
};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub struct Report {
    pub restarts: usize,
    pub requests: u64,
    pub failed: u64,
    pub writes_acknowledged: usize,
    pub writes_lost: usize,
    /// An instance that did not exit 0 on SIGTERM.
    pub unclean_exits: usize,
}

impl Report {
    pub fn to_json(&self) -> Value {
        json!({
            "restarts": self.restarts,
            "requests": self.requests,
            "failed": self.failed,
            "writes_acknowledged": self.writes_acknowledged,
            "writes_lost": self.writes_lost,
            "unclean_exits": self.unclean_exits,
        })
    }
}

/// The settings every instance gets: the shared database and key file.
pub struct Instances<'a> {
    pub binary: &'a Path,
    pub data_dir: &'a Path,
    pub env: &'a [(&'a str, &'a str)],
    pub token: &'a str,
    pub login_body: &'a str,
}

impl Instances<'_> {
    fn start(&self, address: &str, public_url: &str) -> Process {
        let process = Process::spawn(
            self.binary.as_os_str(),
            &[
                "--data-dir",
                self.data_dir.to_str().expect("UTF-8 path"),
                "--audit-log",
                "off",
                "serve",
                "--listen",
                address,
                "--trusted-proxy",
                "127.0.0.1",
                "--public-url",
                public_url,
            ],
            self.env,
        );
        wait_until_ready(address);
        process
    }
}

fn wait_until_ready(address: &str) {
    wait_until_answering(address, "/health", Duration::from_secs(60)).expect("an instance starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    while crate::measure::get_status(address, "/ready") != Some(200) {
        assert!(Instant::now() < deadline, "an instance never got ready");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// nginx in front of `upstreams` on `listen`, with the configuration the docs give.
struct Nginx {
    config: std::path::PathBuf,
}

impl Nginx {
    fn start(work: &Path, listen: &str, upstreams: &[String]) -> Nginx {
        let servers: String = upstreams
            .iter()
            .map(|u| format!("    server {u} max_fails=0;\n"))
            .collect();
        let config = work.join("nginx.conf");
        let text = format!(
            "pid {dir}/nginx.pid;\n\
             error_log {dir}/nginx-error.log;\n\
             worker_processes 1;\n\
             events {{}}\n\
             http {{\n\
               access_log off;\n\
               client_body_temp_path {dir}/body;\n\
               proxy_temp_path {dir}/proxy;\n\
               proxy_max_temp_file_size 0;\n\
               upstream auth {{\n{servers}  }}\n\
               server {{\n\
                 listen {listen};\n\
                 location / {{\n\
                   proxy_pass http://auth;\n\
                   proxy_set_header Host $http_host;\n\
                   proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n\
                   proxy_next_upstream error timeout;\n\
                 }}\n\
               }}\n\
             }}\n",
            dir = work.display()
        );
        std::fs::write(&config, text).expect("nginx.conf written");
        let started = std::process::Command::new("nginx")
            .arg("-c")
            .arg(&config)
            .status()
            .expect("make bench needs nginx (Debian's package)");
        assert!(started.success(), "nginx did not start");
        wait_until_answering(listen, "/health", Duration::from_secs(10)).expect("nginx answers");
        Nginx { config }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = std::process::Command::new("nginx")
            .arg("-c")
            .arg(&self.config)
            .args(["-s", "stop"])
            .status();
    }
}

/// A thread that repeats `attempt` until stopped, counting attempts and failures;
/// what `attempt` returns for a success is kept.
struct Repeating<T> {
    thread: JoinHandle<(u64, u64, Vec<T>)>,
}

impl<T: Send + 'static> Repeating<T> {
    fn start(
        stop: Arc<AtomicBool>,
        pause: Duration,
        mut attempt: impl FnMut(u64) -> Result<Option<T>, ()> + Send + 'static,
    ) -> Repeating<T> {
        let thread = std::thread::spawn(move || {
            let (mut made, mut failed, mut kept) = (0, 0, Vec::new());
            while !stop.load(Ordering::Relaxed) {
                match attempt(made) {
                    Ok(Some(value)) => kept.push(value),
                    Ok(None) => {}
                    Err(()) => failed += 1,
                }
                made += 1;
                std::thread::sleep(pause);
            }
            (made, failed, kept)
        });
        Repeating { thread }
    }

    fn join(self) -> (u64, u64, Vec<T>) {
        self.thread.join().expect("a load thread")
    }
}

/// Two rounds of restarting each instance in turn, `gap` apart, under load.
pub fn measure(instances: &Instances, work: &Path, gap: Duration) -> Report {
    let lb = free_address();
    let public_url = format!("http://{lb}");
    let addresses = [free_address(), free_address()];
    let mut running: Vec<Option<Process>> = addresses
        .iter()
        .map(|a| Some(instances.start(a, &public_url)))
        .collect();
    let _nginx = Nginx::start(work, &lb, &addresses);

    let restarts = 4;
    let seconds = (gap.as_secs() + 2) * restarts as u64 + 2;
    let gets = Wrk::get(&lb, "/api/auth.get")
        .header("Authorization", &format!("Bearer {}", instances.token))
        .connections(8)
        .seconds(seconds)
        .spawn();
    let stop = Arc::new(AtomicBool::new(false));
    let login_body = instances.login_body.to_string();
    let logins = Repeating::<()>::start(stop.clone(), Duration::from_millis(50), {
        let lb = lb.clone();
        move |_| match post_json_status(&lb, "/api/auth.login", &login_body) {
            Some(200) => Ok(None),
            _ => Err(()),
        }
    });
    let token = instances.token.to_string();
    let writes = Repeating::start(stop.clone(), Duration::from_millis(10), {
        let lb = lb.clone();
        move |n| {
            let email = format!("rolling-{n}@example.com");
            let body = json!({ "email": email }).to_string();
            match post_status(&lb, "/api/admin.createUserInvitation", &token, &body) {
                Some(200) => Ok(Some(email)),
                _ => Err(()),
            }
        }
    });

    std::thread::sleep(Duration::from_secs(2));
    let mut unclean_exits = 0;
    for n in 0..restarts {
        let slot = &mut running[n % 2];
        if !slot.take().expect("running").terminate() {
            unclean_exits += 1;
        }
        *slot = Some(instances.start(&addresses[n % 2], &public_url));
        std::thread::sleep(gap);
    }
    let gets = gets.wait();
    stop.store(true, Ordering::Relaxed);
    let (login_attempts, logins_failed, _) = logins.join();
    let (write_attempts, writes_failed, acknowledged) = writes.join();

    // From an instance directly: the check is of the data, not of the proxy.
    let members =
        get_with_token(&addresses[0], "/api/user.all", instances.token).unwrap_or_default();
    assert!(
        members.starts_with("HTTP/1.1 200"),
        "user.all after the restarts: {}",
        members.lines().next().unwrap_or("no answer")
    );
    let writes_lost = acknowledged
        .iter()
        .filter(|email| !members.contains(&format!("\"{email}\"")))
        .count();
    Report {
        restarts,
        requests: gets.requests + login_attempts + write_attempts,
        failed: gets.non_2xx + gets.errors + logins_failed + writes_failed,
        writes_acknowledged: acknowledged.len(),
        writes_lost,
        unclean_exits,
    }
}
