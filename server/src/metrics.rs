//! Prometheus metrics, served on their own listener (`--metrics-listen`), never on
//! the API's port. Counted where things happen, through narrow seams: the
//! request-id layer (each answered request), the `Audit` port (security events),
//! and wrappers around the password hasher and the store ports. Nothing here is
//! on the request path unless metrics are turned on.

use crate::core::audit::{Audit, AuditEvent, AuditKind};
use crate::core::ports::{
    Abort, BoxFuture, HashError, Pairs, PasswordHasher, Soon, Store, StoreError, Tx,
};
use crate::http::{api_response, HttpResponse, RequestObserver};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    procedure: &'static str,
    transport: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    procedure: &'static str,
    transport: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClassLabels {
    class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

/// Status classes, each present at 0 from the start (an error rate over a series that
/// does not exist yet is no rate at all).
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    event: &'static str,
}

/// Counts of what is stored, read at most this often (a scrape then costs
/// nothing more).
const COUNTS_FRESH_FOR: Duration = Duration::from_secs(15);

/// How long a scrape waits for a fresh count of what is stored; past it (a database
/// slow to give a connection), it answers with the last count and the count goes
/// on apart, so that a scrape never fails with the database.
const COUNT_WAIT: Duration = Duration::from_secs(1);

/// Accounts and sessions stored, read on the engine without opening values.
pub type CountStored = Box<dyn Fn() -> (i64, i64) + Send + Sync>;

/// When what is stored was last counted, and whether a count is under way.
#[derive(Default)]
struct Counting {
    counted_at: Option<Instant>,
    under_way: bool,
}

/// What the database's connection pool says of itself (PostgreSQL's).
pub type PoolFactsFn = Box<dyn Fn() -> crate::storage::PoolFacts + Send + Sync>;

/// `CountStored` over the raw engine (its key prefixes are not sealed).
pub fn counting(engine: Arc<dyn Store>) -> CountStored {
    use crate::core::records::keys;
    Box::new(move || {
        let count = |prefix| {
            engine
                .scan_prefix(prefix)
                .map_or(-1, |pairs| pairs.len() as i64)
        };
        (count(keys::ACCOUNT_PREFIX), count(keys::SESSION_PREFIX))
    })
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    responses: Family<ClassLabels, Counter>,
    request_seconds: Family<RouteLabels, Histogram, fn() -> Histogram>,
    events: Family<EventLabels, Counter>,
    bcrypt_in_flight: Gauge,
    bcrypt_seconds: Histogram,
    bcrypt_refused: Counter,
    flush_seconds: Histogram,
    transaction_seconds: Histogram,
    accounts: Gauge,
    sessions: Gauge,
    count_stored: Option<Arc<CountStored>>,
    counting: Arc<Mutex<Counting>>,
}

fn latency_buckets() -> Histogram {
    // 0.1 ms to about 13 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 18))
}

impl Metrics {
    /// `count_stored` gives (accounts, sessions) for the two gauges; `pool`, the
    /// database pool's facts (with PostgreSQL).
    pub fn new(count_stored: Option<CountStored>, pool: Option<PoolFactsFn>) -> Metrics {
        // `process_*` under their usual names; the rest under `dokploy_auth_`.
        let mut root = Registry::default();
        root.register_collector(Box::new(ProcessCollector));
        let registry = root.sub_registry_with_prefix("dokploy_auth");
        if let Some(pool) = pool {
            registry.register_collector(Box::new(PoolCollector(pool)));
        }
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests answered, by procedure (batch: a tRPC batch), transport and HTTP status",
            requests.clone(),
        );
        let responses = Family::<ClassLabels, Counter>::default();
        registry.register(
            "responses",
            "Requests answered, by status class (1xx … 5xx), each present from the start",
            responses.clone(),
        );
        for class in CLASSES {
            let _ = responses.get_or_create(&ClassLabels { class });
        }
        let request_seconds =
            Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_buckets,
            );
        registry.register(
            "request_seconds",
            "Time from a request's arrival to its answer, by procedure and transport \
             (logins take bcrypt's time, auth.get a fraction of a millisecond)",
            request_seconds.clone(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        registry.register(
            "build_info",
            "The build that serves, as labels (the value is always 1)",
            build.clone(),
        );
        build
            .get_or_create(&BuildLabels {
                version: specs::version(),
            })
            .set(1);
        let events = Family::<EventLabels, Counter>::default();
        registry.register(
            "security_events",
            "Security events by kind, as in the audit log: logins by outcome \
             (login_succeeded, login_failed, login_throttled, pin_failed, …), 2FA, \
             passwords, tokens, invitations, ended sessions",
            events.clone(),
        );
        // Every kind from the start, at 0: a rate over a fresh series works.
        for kind in AuditKind::ALL {
            let _ = events.get_or_create(&EventLabels {
                event: kind.as_str(),
            });
        }
        let bcrypt_in_flight = Gauge::default();
        registry.register(
            "bcrypt_in_flight",
            "Password hashes and verifications asked for and not yet answered (queued or running)",
            bcrypt_in_flight.clone(),
        );
        let bcrypt_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 14));
        registry.register(
            "bcrypt_seconds",
            "Time from asking for a hash or verification to its answer, queue included",
            bcrypt_seconds.clone(),
        );
        let bcrypt_refused = Counter::default();
        registry.register(
            "bcrypt_refused",
            "Hashes and verifications refused at once (503 with Retry-After) because the \
             queue in front of them would not finish within half the request timeout",
            bcrypt_refused.clone(),
        );
        let flush_seconds = latency_buckets();
        registry.register(
            "store_flush_seconds",
            "Time for writes to become durable (a mutation answers after it)",
            flush_seconds.clone(),
        );
        let transaction_seconds = latency_buckets();
        registry.register(
            "store_transaction_seconds",
            "Time of one store transaction (retries included)",
            transaction_seconds.clone(),
        );
        let accounts = Gauge::default();
        registry.register(
            "accounts",
            "Accounts stored (pending invitations included)",
            accounts.clone(),
        );
        let sessions = Gauge::default();
        registry.register(
            "sessions",
            "Sessions stored (browser and API token; an expired one until it is next seen)",
            sessions.clone(),
        );
        Metrics {
            registry: root,
            requests,
            responses,
            request_seconds,
            events,
            bcrypt_in_flight,
            bcrypt_seconds,
            bcrypt_refused,
            flush_seconds,
            transaction_seconds,
            accounts,
            sessions,
            count_stored: count_stored.map(Arc::new),
            counting: Arc::default(),
        }
    }

    /// The text exposition format (OpenMetrics).
    pub fn render(&self) -> String {
        self.count_stored_if_stale();
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }

    /// `GET /metrics` on the metrics listener; 404 elsewhere. OpenMetrics to a
    /// scraper that accepts it (Prometheus does), else Prometheus's text format
    /// 0.0.4 (`curl`, `promtool check metrics`).
    pub fn answer(&self, request: &hyper::http::request::Parts) -> HttpResponse {
        if request.method != hyper::Method::GET || request.uri.path() != "/metrics" {
            return crate::http::error_response(&specs::ApiError::not_found(
                specs::messages::NOT_FOUND,
            ));
        }
        let openmetrics = request
            .headers
            .get_all(hyper::header::ACCEPT)
            .iter()
            .any(|v| v.as_bytes().windows(16).any(|w| w == b"application/open"));
        let (text, content_type) = match openmetrics {
            true => (
                self.render(),
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            ),
            false => (
                as_prometheus_text(&self.render()),
                "text/plain; version=0.0.4; charset=utf-8",
            ),
        };
        let mut response = api_response(200, bytes::Bytes::from(text));
        response.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static(content_type),
        );
        response
    }
}

impl Metrics {
    /// Counts accounts and sessions again when the last count is older than
    /// `COUNTS_FRESH_FOR`, on a thread of its own, waiting for it at most
    /// `COUNT_WAIT`; a count under way is not waited for twice.
    fn count_stored_if_stale(&self) {
        let Some(count) = &self.count_stored else {
            return;
        };
        {
            let mut counting = self.counting.lock().unwrap_or_else(|p| p.into_inner());
            let fresh = counting
                .counted_at
                .is_some_and(|at| at.elapsed() <= COUNTS_FRESH_FOR);
            if fresh || counting.under_way {
                return;
            }
            counting.under_way = true;
        }
        let (count, counting) = (count.clone(), self.counting.clone());
        let (accounts, sessions) = (self.accounts.clone(), self.sessions.clone());
        let (done, finished) = std::sync::mpsc::sync_channel(1);
        let spawned = std::thread::Builder::new()
            .name("metrics-count".into())
            .spawn(move || {
                let (stored_accounts, stored_sessions) = count();
                accounts.set(stored_accounts);
                sessions.set(stored_sessions);
                let mut counting = counting.lock().unwrap_or_else(|p| p.into_inner());
                *counting = Counting {
                    counted_at: Some(Instant::now()),
                    under_way: false,
                };
                let _ = done.send(());
            });
        match spawned {
            Ok(_) => {
                let _ = finished.recv_timeout(COUNT_WAIT);
            }
            Err(_) => {
                self.counting
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .under_way = false
            }
        }
    }
}

/// OpenMetrics text as Prometheus's text format 0.0.4: a counter's `HELP` and
/// `TYPE` name its `_total` samples, and there is no `# EOF`.
fn as_prometheus_text(openmetrics: &str) -> String {
    let mut counters = std::collections::HashSet::new();
    for line in openmetrics.lines() {
        if let Some(name) = line
            .strip_prefix("# TYPE ")
            .and_then(|rest| rest.strip_suffix(" counter"))
        {
            counters.insert(name);
        }
    }
    let mut text = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" {
            continue;
        }
        let named = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        text.push_str(named.as_deref().unwrap_or(line));
        text.push('\n');
    }
    text
}

/// `process_*` metrics read from `/proc/self` at each scrape (Linux; elsewhere none):
/// CPU seconds, resident memory, open file descriptors and their limit, start time.
#[derive(Debug)]
struct ProcessCollector;

impl prometheus_client::collector::Collector for ProcessCollector {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric;
        use prometheus_client::metrics::counter::ConstCounter;
        use prometheus_client::metrics::gauge::ConstGauge;
        let Some(process) = ProcessFacts::read() else {
            return Ok(());
        };
        let cpu = ConstCounter::new(process.cpu_seconds);
        let metric = encoder.encode_descriptor(
            "process_cpu_seconds",
            "CPU time the process used, user and system",
            None,
            cpu.metric_type(),
        )?;
        cpu.encode(metric)?;
        for (name, help, value) in [
            (
                "process_resident_memory_bytes",
                "Resident memory",
                process.resident_bytes,
            ),
            (
                "process_open_fds",
                "Open file descriptors",
                process.open_fds,
            ),
            (
                "process_max_fds",
                "The limit of open file descriptors",
                process.max_fds,
            ),
            (
                "process_start_time_seconds",
                "When the process started, in seconds since the epoch",
                process.start_time_seconds,
            ),
        ] {
            let gauge = ConstGauge::new(value);
            let metric = encoder.encode_descriptor(name, help, None, gauge.metric_type())?;
            gauge.encode(metric)?;
        }
        Ok(())
    }
}

/// The database pool's `db_pool_*` metrics and `db_errors` by SQLSTATE class, read
/// at each scrape.
struct PoolCollector(PoolFactsFn);

impl std::fmt::Debug for PoolCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PoolCollector")
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SqlStateLabels {
    class: String,
}

impl prometheus_client::collector::Collector for PoolCollector {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric;
        use prometheus_client::metrics::counter::ConstCounter;
        use prometheus_client::metrics::gauge::ConstGauge;
        let facts = (self.0)();
        let connections = ConstGauge::new(0i64);
        let mut family = encoder.encode_descriptor(
            "db_pool_connections",
            "Database connections open, by state (idle, in_use)",
            None,
            connections.metric_type(),
        )?;
        for (state, value) in [
            ("idle", facts.idle),
            ("in_use", facts.open.saturating_sub(facts.idle)),
        ] {
            ConstGauge::new(value as i64).encode(family.encode_family(&StateLabels { state })?)?;
        }
        for (name, help, value) in [
            (
                "db_pool_max_connections",
                "The most database connections this instance keeps (--database-connections)",
                facts.max,
            ),
            (
                "db_pool_waiting",
                "Requests waiting for a database connection now",
                facts.waiting,
            ),
        ] {
            let gauge = ConstGauge::new(value as i64);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        for (name, help, value) in [
            (
                "db_pool_takes",
                "Database connections taken from the pool",
                facts.taken as f64,
            ),
            (
                "db_pool_wait_seconds",
                "Seconds spent waiting for a database connection, over all takes",
                facts.wait_seconds,
            ),
            (
                "db_pool_timeouts",
                "Takes that gave up: no database connection came free in time (503s)",
                facts.timeouts as f64,
            ),
        ] {
            let counter = ConstCounter::new(value);
            counter.encode(encoder.encode_descriptor(
                name,
                help,
                None,
                counter.metric_type(),
            )?)?;
        }
        let counter = ConstCounter::new(0u64);
        let mut family = encoder.encode_descriptor(
            "db_errors",
            "Errors the database answered, by SQLSTATE class (40: serialization \
             conflicts, retried; 08 and 57: connection and shutdown; 53: out of \
             resources; none: a connection that failed without one)",
            None,
            counter.metric_type(),
        )?;
        for (class, count) in facts.errors_by_class {
            ConstCounter::new(count).encode(family.encode_family(&SqlStateLabels { class })?)?;
        }
        Ok(())
    }
}

struct ProcessFacts {
    cpu_seconds: f64,
    resident_bytes: f64,
    open_fds: f64,
    max_fds: f64,
    start_time_seconds: f64,
}

impl ProcessFacts {
    /// From `/proc/self/stat`, `/proc/self/fd`, `/proc/self/limits` and
    /// `/proc/stat`'s boot time; `None` where there is no `/proc`.
    fn read() -> Option<ProcessFacts> {
        const TICKS: f64 = 100.0; // USER_HZ on Linux
        const PAGE: f64 = 4096.0;
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command, which is in parentheses and may hold spaces.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3)?.parse::<f64>().ok();
        let boot = std::fs::read_to_string("/proc/stat")
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("btime ")?.trim().parse::<f64>().ok())?;
        let max_fds = std::fs::read_to_string("/proc/self/limits")
            .ok()?
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .and_then(|l| l.split_whitespace().nth(3)?.parse::<f64>().ok())
            .unwrap_or(-1.0);
        Some(ProcessFacts {
            cpu_seconds: (field(14)? + field(15)?) / TICKS,
            resident_bytes: field(24)? * PAGE,
            open_fds: std::fs::read_dir("/proc/self/fd").ok()?.count() as f64,
            max_fds,
            start_time_seconds: boot + field(22)? / TICKS,
        })
    }
}

/// The procedure and transport a path names, from a fixed set (bounded labels).
fn route(path: &str) -> (&'static str, &'static str) {
    let known = |name: &str| specs::find(name).map(|p| p.name);
    if let Some(names) = path.strip_prefix("/api/trpc/") {
        let procedure = if names.contains(',') {
            Some("batch")
        } else {
            known(names)
        };
        return (procedure.unwrap_or("unknown"), "trpc");
    }
    match path {
        "/health" => ("health", "other"),
        "/ready" => ("ready", "other"),
        "/api/openapi.json" => ("openapi", "other"),
        _ => match path.strip_prefix("/api/").and_then(known) {
            Some(name) => (name, "rest"),
            None => ("unknown", "other"),
        },
    }
}

impl RequestObserver for Metrics {
    fn answered(&self, path: &str, status: u16, elapsed: Duration) {
        let (procedure, transport) = route(path);
        self.requests
            .get_or_create(&RequestLabels {
                procedure,
                transport,
                status,
            })
            .inc();
        let class = CLASSES[usize::from(status / 100).clamp(1, 5) - 1];
        self.responses.get_or_create(&ClassLabels { class }).inc();
        self.request_seconds
            .get_or_create(&RouteLabels {
                procedure,
                transport,
            })
            .observe(elapsed.as_secs_f64());
    }
}

impl Audit for Metrics {
    fn record(&self, event: &AuditEvent<'_>) {
        self.events
            .get_or_create(&EventLabels {
                event: event.kind.as_str(),
            })
            .inc();
    }
}

/// Counts a bcrypt job from asking to answer, also when the asker gives up.
struct InFlight {
    metrics: Arc<Metrics>,
    started: Instant,
}

impl InFlight {
    fn start(metrics: &Arc<Metrics>) -> InFlight {
        metrics.bcrypt_in_flight.inc();
        InFlight {
            metrics: metrics.clone(),
            started: Instant::now(),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.metrics.bcrypt_in_flight.dec();
        self.metrics
            .bcrypt_seconds
            .observe(self.started.elapsed().as_secs_f64());
    }
}

/// The password hasher, measured.
pub struct MeasuredHasher {
    pub inner: Arc<dyn PasswordHasher>,
    pub metrics: Arc<Metrics>,
}

impl MeasuredHasher {
    /// `job`, counted in flight from now until it answers or is given up, and
    /// counted as refused if the hasher was saturated.
    fn measured<T: 'static>(
        &self,
        job: BoxFuture<'static, Result<T, HashError>>,
    ) -> BoxFuture<'static, Result<T, HashError>> {
        let in_flight = InFlight::start(&self.metrics);
        let metrics = self.metrics.clone();
        Box::pin(async move {
            let answer = job.await;
            drop(in_flight);
            if let Err(HashError::Busy { .. }) = &answer {
                metrics.bcrypt_refused.inc();
            }
            answer
        })
    }
}

impl PasswordHasher for MeasuredHasher {
    fn hash(
        &self,
        password: String,
        salt: [u8; 16],
    ) -> BoxFuture<'static, Result<String, HashError>> {
        self.measured(self.inner.hash(password, salt))
    }

    fn verify(
        &self,
        password: String,
        hash: String,
    ) -> BoxFuture<'static, Result<bool, HashError>> {
        self.measured(self.inner.verify(password, hash))
    }

    fn cost(&self) -> u32 {
        self.inner.cost()
    }
}

/// The store, with its transactions and flushes timed.
pub struct MeasuredStore {
    pub inner: Arc<dyn Store>,
    pub metrics: Arc<Metrics>,
}

impl Store for MeasuredStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(key)
    }

    fn get_async(&self, key: &[u8]) -> BoxFuture<'_, Result<Option<Vec<u8>>, StoreError>> {
        self.inner.get_async(key)
    }

    fn get_many(&self, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        self.inner.get_many(keys)
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<Pairs, StoreError> {
        self.inner.scan_prefix(prefix)
    }

    fn transaction(&self, work: &mut dyn FnMut(&dyn Tx) -> Result<(), Abort>) -> Result<(), Abort> {
        let started = Instant::now();
        let result = self.inner.transaction(work);
        self.metrics
            .transaction_seconds
            .observe(started.elapsed().as_secs_f64());
        result
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        let started = Instant::now();
        let flushing = self.inner.flush();
        Box::pin(async move {
            let result = flushing.await;
            self.metrics
                .flush_seconds
                .observe(started.elapsed().as_secs_f64());
            result
        })
    }

    fn version(&self) -> Soon<'_, Result<u64, StoreError>> {
        self.inner.version()
    }

    fn shared(&self) -> bool {
        self.inner.shared()
    }

    fn writable(&self) -> Result<(), StoreError> {
        self.inner.writable()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_a_bounded_set() {
        assert_eq!(route("/api/auth.get"), ("auth.get", "rest"));
        assert_eq!(route("/api/trpc/auth.get"), ("auth.get", "trpc"));
        assert_eq!(route("/api/trpc/auth.get,user.all"), ("batch", "trpc"));
        assert_eq!(route("/api/trpc/anything"), ("unknown", "trpc"));
        assert_eq!(
            route("/api/whatever-an-attacker-sends"),
            ("unknown", "other")
        );
        assert_eq!(route("/health"), ("health", "other"));
    }

    #[test]
    fn requests_and_events_are_counted() {
        let metrics = Metrics::new(Some(Box::new(|| (3, 5))), None);
        metrics.answered("/api/auth.get", 200, Duration::from_millis(2));
        metrics.answered("/api/auth.get", 200, Duration::from_millis(2));
        metrics.answered("/api/trpc/auth.login", 400, Duration::from_millis(2));
        let text = metrics.render();
        assert!(text.contains(
            r#"dokploy_auth_requests_total{procedure="auth.get",transport="rest",status="200"} 2"#
        ), "{text}");
        assert!(text.contains(
            r#"dokploy_auth_requests_total{procedure="auth.login",transport="trpc",status="400"} 1"#
        ));
        assert!(text.contains(r#"dokploy_auth_security_events_total{event="login_failed"} 0"#));
        assert!(
            text.contains("dokploy_auth_accounts 3\n")
                && text.contains("dokploy_auth_sessions 5\n")
        );
        assert!(text.ends_with("# EOF\n"));
    }

    /// A count of what is stored that does not come (a database with no free
    /// connection) holds a scrape up at most `COUNT_WAIT`; the scrape answers with
    /// the last count, and the count lands once it is done.
    #[test]
    fn a_slow_count_does_not_hold_a_scrape() {
        let (release, released) = std::sync::mpsc::channel::<()>();
        let released = Mutex::new(released);
        let metrics = Metrics::new(
            Some(Box::new(move || {
                let _ = released.lock().unwrap().recv();
                (7, 9)
            })),
            None,
        );
        let started = Instant::now();
        let text = metrics.render();
        assert!(
            started.elapsed() < COUNT_WAIT * 3,
            "{:?}",
            started.elapsed()
        );
        assert!(text.contains("dokploy_auth_accounts 0\n"), "{text}");
        // A second scrape does not wait for the count under way.
        let started = Instant::now();
        metrics.render();
        assert!(
            started.elapsed() < COUNT_WAIT / 2,
            "{:?}",
            started.elapsed()
        );
        release.send(()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !metrics.render().contains("dokploy_auth_accounts 7\n") {
            assert!(Instant::now() < deadline, "the count never landed");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
