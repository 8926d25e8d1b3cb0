//! The measuring instruments: processes under test, wrk runs, readiness, memory,
//! bcrypt's speed, Prism.

use serde_json::{json, Value};
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A process under test; killed when dropped.
pub struct Process(Child);

impl Process {
    /// Starts `program` with `args` and these environment variables, output discarded.
    pub fn spawn(program: &OsStr, args: &[&str], env: &[(&str, &str)]) -> Process {
        let child = Command::new(program)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.to_string_lossy()));
        Process(child)
    }

    /// Resident memory (VmRSS), in MB.
    pub fn rss_mb(&self) -> f64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.0.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    }
}

impl Process {
    /// SIGTERM, then waits for the exit: whether it exited 0.
    pub fn terminate(mut self) -> bool {
        let pid = self.0.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        self.0.wait().is_ok_and(|status| status.success())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback address nobody listens on.
pub fn free_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("an address").to_string()
}

/// One HTTP/1.1 GET on a new connection: the status, if anything answered.
pub fn get_status(address: &str, path: &str) -> Option<u16> {
    let body = get(address, path)?;
    body.split(' ').nth(1)?.parse().ok()
}

fn get(address: &str, path: &str) -> Option<String> {
    exchange(address, "GET", path)
}

/// One bodiless HTTP/1.1 request on a new connection: the whole answer.
fn exchange(address: &str, method: &str, path: &str) -> Option<String> {
    send(address, method, path, "", "")
}

/// A POST of JSON `body` with a Bearer `token` on a new connection: the status.
pub fn post_status(address: &str, path: &str, token: &str, body: &str) -> Option<u16> {
    let headers = format!("Authorization: Bearer {token}\r\nContent-Type: application/json\r\n");
    let answer = send(address, "POST", path, &headers, body)?;
    answer.split(' ').nth(1)?.parse().ok()
}

/// A POST of JSON `body` (no credentials) on a new connection: the status.
pub fn post_json_status(address: &str, path: &str, body: &str) -> Option<u16> {
    let answer = send(
        address,
        "POST",
        path,
        "Content-Type: application/json\r\n",
        body,
    )?;
    answer.split(' ').nth(1)?.parse().ok()
}

/// A GET with a Bearer `token` on a new connection: the whole answer.
pub fn get_with_token(address: &str, path: &str, token: &str) -> Option<String> {
    send(
        address,
        "GET",
        path,
        &format!("Authorization: Bearer {token}\r\n"),
        "",
    )
}

fn send(address: &str, method: &str, path: &str, headers: &str, body: &str) -> Option<String> {
    let mut stream = TcpStream::connect(address).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    (!answer.is_empty()).then_some(answer)
}

/// How long `POST /__mock/reset` takes to answer 200 (median of `rounds`), ms.
pub fn mock_reset_ms(address: &str, rounds: usize) -> f64 {
    let mut times: Vec<f64> = (0..rounds)
        .map(|_| {
            let started = Instant::now();
            let json = "Content-Type: application/json\r\n";
            let answer =
                send(address, "POST", "/__mock/reset", json, "{}").expect("the mock answers");
            assert!(
                answer.starts_with("HTTP/1.1 200"),
                "reset refused: {answer}"
            );
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Polls every millisecond until `path` answers; the time it took.
pub fn wait_until_answering(address: &str, path: &str, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if get_status(address, path).is_some() {
            return Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    None
}

/// How many requests the mock's journal has seen (kept and pushed out).
pub fn mock_requests_served(address: &str) -> u64 {
    // Only the counters: no request has a seq that high.
    let Some(answer) = get(address, &format!("/__mock/requests?since={}", u64::MAX)) else {
        return 0;
    };
    let Some((_, body)) = answer.split_once("\r\n\r\n") else {
        return 0;
    };
    let Ok(view) = serde_json::from_str::<Value>(body) else {
        return 0;
    };
    view["nextSeq"].as_u64().unwrap_or(1).saturating_sub(1)
}

/// A wrk run to make: one thread (the other core is the server's), keep-alive.
pub struct Wrk {
    url: String,
    label: String,
    headers: Vec<(String, String)>,
    /// wrk's Lua script: what to send (a POST's body, or a body per request).
    script: Option<String>,
    connections: usize,
    seconds: u64,
}

/// What a wrk run measured.
#[derive(Debug, Clone)]
pub struct WrkRun {
    pub label: String,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub requests: u64,
    pub non_2xx: u64,
    pub errors: u64,
}

impl WrkRun {
    pub fn to_json(&self) -> Value {
        json!({
            "requests_per_s": (self.rps * 10.0).round() / 10.0,
            "p50_ms": (self.p50_ms * 1000.0).round() / 1000.0,
            "p99_ms": (self.p99_ms * 1000.0).round() / 1000.0,
            "requests": self.requests,
            "non_2xx": self.non_2xx,
            "socket_errors": self.errors,
        })
    }
}

/// A wrk process running in the background.
pub struct RunningWrk {
    child: Child,
    label: String,
    _script: Option<Script>,
}

/// wrk's Lua script on disk, removed when the run is over.
struct Script(std::path::PathBuf);

impl Drop for Script {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl RunningWrk {
    pub fn wait(self) -> WrkRun {
        let output = self.child.wait_with_output().expect("wrk runs");
        parse_wrk(&self.label, &String::from_utf8_lossy(&output.stdout))
    }
}

impl Wrk {
    pub fn get(address: &str, path: &str) -> Wrk {
        Wrk {
            url: format!("http://{address}{path}"),
            label: format!("GET {path}"),
            headers: Vec::new(),
            script: None,
            connections: 16,
            seconds: 5,
        }
    }

    pub fn post(address: &str, path: &str, body: &str) -> Wrk {
        let escaped = body.replace('\\', "\\\\").replace('"', "\\\"");
        Wrk::get(address, path).script(&format!(
            "wrk.method = \"POST\"\nwrk.body = \"{escaped}\"\n"
        ))
    }

    /// A POST of JSON whose body wrk's Lua `script` makes (it sets `request`).
    pub fn script(self, script: &str) -> Wrk {
        let path = self
            .url
            .splitn(4, '/')
            .nth(3)
            .unwrap_or_default()
            .to_string();
        Wrk {
            label: format!("POST /{path}"),
            script: Some(script.to_string()),
            ..self
        }
        .header("Content-Type", "application/json")
    }

    pub fn header(mut self, name: &str, value: &str) -> Wrk {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn connections(mut self, n: usize) -> Wrk {
        self.connections = n;
        self
    }

    pub fn seconds(mut self, n: u64) -> Wrk {
        self.seconds = n;
        self
    }

    fn command(&self) -> (Command, Option<Script>) {
        let mut command = Command::new("wrk");
        command.args([
            "-t1",
            "-c",
            &self.connections.to_string(),
            "-d",
            &format!("{}s", self.seconds),
            "--latency",
            // Our request timeout: a slow answer counts in the latency, not as an error.
            "--timeout",
            "30s",
        ]);
        for (name, value) in &self.headers {
            command.args(["-H", &format!("{name}: {value}")]);
        }
        let mut kept = None;
        if let Some(lua) = &self.script {
            static SCRIPTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let script = std::env::temp_dir().join(format!(
                "bench-{}-{}.lua",
                std::process::id(),
                SCRIPTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ));
            std::fs::write(&script, lua).expect("the wrk script");
            command.args(["-s", script.to_str().expect("UTF-8 path")]);
            kept = Some(Script(script));
        }
        command.arg(&self.url);
        command.stdout(Stdio::piped()).stderr(Stdio::null());
        (command, kept)
    }

    pub fn run(&self) -> WrkRun {
        let (mut command, _script) = self.command();
        let output = command.output().expect("wrk runs (apt-get install wrk)");
        parse_wrk(&self.label, &String::from_utf8_lossy(&output.stdout))
    }

    pub fn spawn(&self) -> RunningWrk {
        let (mut command, script) = self.command();
        RunningWrk {
            child: command.spawn().expect("wrk runs"),
            label: self.label.clone(),
            _script: script,
        }
    }
}

fn parse_duration_ms(text: &str) -> f64 {
    let text = text.trim();
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: f64 = number.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => f64::NAN,
    }
}

fn parse_wrk(label: &str, out: &str) -> WrkRun {
    let mut run = WrkRun {
        label: label.to_string(),
        rps: f64::NAN,
        p50_ms: f64::NAN,
        p99_ms: f64::NAN,
        requests: 0,
        non_2xx: 0,
        errors: 0,
    };
    for line in out.lines() {
        let line = line.trim();
        let words: Vec<&str> = line.split_whitespace().collect();
        if let Some(rps) = line.strip_prefix("Requests/sec:") {
            run.rps = rps.trim().parse().unwrap_or(f64::NAN);
        } else if words.first() == Some(&"50%") {
            run.p50_ms = parse_duration_ms(words[1]);
        } else if words.first() == Some(&"99%") {
            run.p99_ms = parse_duration_ms(words[1]);
        } else if words.get(1) == Some(&"requests") && words.get(2) == Some(&"in") {
            run.requests = words[0].parse().unwrap_or(0);
        } else if let Some(n) = line.strip_prefix("Non-2xx or 3xx responses:") {
            run.non_2xx = n.trim().parse().unwrap_or(0);
        } else if let Some(errors) = line.strip_prefix("Socket errors:") {
            run.errors = errors
                .split(',')
                .filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok())
                .sum();
        }
    }
    run
}

/// Milliseconds one bcrypt verification at `cost` takes here, now (the median of 15).
pub fn bcrypt_verify_ms(cost: u32) -> f64 {
    let hash = bcrypt::hash("password123", cost).expect("bcrypt hashes");
    let mut times: Vec<f64> = (0..15)
        .map(|_| {
            let started = Instant::now();
            assert!(bcrypt::verify("password123", &hash).expect("bcrypt verifies"));
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

pub fn now_iso8601() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    server::time::iso8601(ms)
}

pub fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string());
    let memory_kb = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
    json!({
        "cores": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "cpu": model,
        "memory_gb": memory_kb.map(|kb| (kb as f64 / 1_048_576.0 * 10.0).round() / 10.0),
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").ok().map(|s| s.trim().to_string()),
    })
}

pub fn wrk_version() -> String {
    let output = Command::new("wrk").arg("-v").output();
    output
        .map(|o| {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            text.lines().next().unwrap_or("wrk").trim().to_string()
        })
        .unwrap_or_else(|_| "wrk".into())
}

/// Stoplight Prism (`bench/node`, installed by `make bench`) mocking `auth.get` from
/// our `openapi.yaml`; `None` when it is not installed or does not start.
pub fn prism(seconds: u64) -> Option<WrkRun> {
    let prism = Path::new("bench/node/node_modules/.bin/prism");
    if !prism.exists() {
        println!("  Prism is not installed (bench/node): skipped");
        return None;
    }
    let address = free_address();
    let port = address.rsplit(':').next()?.to_string();
    let _process = Process::spawn(
        prism.as_os_str(),
        &[
            "mock",
            "specs/openapi.yaml",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
        ],
        &[],
    );
    if wait_until_answering(&address, "/auth.get", Duration::from_secs(60)).is_none() {
        println!("  Prism did not start: skipped");
        return None;
    }
    let run = Wrk::get(&address, "/auth.get")
        .header("Authorization", "Bearer benchtoken")
        .connections(32)
        .seconds(seconds)
        .run();
    Some(run)
}
