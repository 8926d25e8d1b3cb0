//! The accept loop: HTTP/1.1 with keep-alive through hyper, every limit explicit,
//! graceful shutdown that lets requests in flight finish.

use futures_util::future::Either;
use futures_util::task::AtomicWaker;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::Request;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulConnection;
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::{Service, ServiceExt};

/// Every limit of the HTTP front end.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body (Dokploy: 100,000 bytes → 413).
    pub max_body_bytes: usize,
    /// Largest request head, request line and headers together (→ 431).
    pub max_header_bytes: usize,
    /// Time a client has to send a request's headers, or to begin its next request
    /// on a kept-alive connection; a slower one is cut off (checked every quarter
    /// of it, at most each second).
    pub header_read_timeout: Duration,
    /// Time a request may take to answer (→ 408 `TIMEOUT`).
    pub request_timeout: Duration,
    /// Open connections at once. When they are all open, the connection idle for
    /// longest (slow headers, idle keep-alive; idle half a second at least) is closed
    /// for a newcomer, or, none idle, the one in a request for longest (5 s at
    /// least: a trickled body); otherwise the newcomer is answered 429 and closed.
    pub max_connections: usize,
    /// Open connections from one client address at once, so that one address cannot
    /// take them all; one more is answered 429 and closed.
    pub max_connections_per_address: usize,
    /// Addresses held only to `max_connections`: reverse proxies, whose connections
    /// carry many clients (the trusted proxies).
    pub unlimited_addresses: Vec<IpAddr>,
    /// An IPv6 client counts by this prefix (`net::bucket`).
    pub ipv6_prefix: u8,
    /// How long the server goes on serving after it was told to stop, with `/ready`
    /// answering 503, so that load balancers stop sending before the port closes.
    pub shutdown_delay: Duration,
    /// How long it then waits for requests in flight before it cuts them.
    pub shutdown_grace: Duration,
    /// Set once shutdown has begun (shared with the API's `/ready`).
    pub draining: Draining,
    /// Whether answers carry a `date` header (the mock turns it off to be deterministic).
    pub date_header: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 100_000,
            max_header_bytes: 16 * 1024,
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 1024,
            max_connections_per_address: 128,
            unlimited_addresses: Vec::new(),
            ipv6_prefix: crate::net::DEFAULT_IPV6_PREFIX,
            shutdown_delay: Duration::ZERO,
            // As long as a request may take: nothing in flight is cut.
            shutdown_grace: Duration::from_secs(30),
            draining: Draining::default(),
            date_header: true,
        }
    }
}

/// Whether shutdown has begun: `/ready` answers 503 and answers close their
/// connections, so that a load balancer moves to another instance.
#[derive(Debug, Clone, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    pub fn start(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_on(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// The peer address of the connection a request came on, as a request extension
/// (for a service called other than by `serve`; see `peer_of`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

thread_local! {
    /// The peer of the connection whose request `serve` is handing to the service,
    /// during the service's `call` (`lending`; as an extension, it cost about 370 of
    /// an `auth.get`'s instructions).
    static HANDING_OVER: std::cell::Cell<Option<SocketAddr>> = const { std::cell::Cell::new(None) };
}

/// The peer address of the connection `request` came on: its `ClientAddr` if it
/// has one, else, while `serve` hands it over (in a service's `call`, not in the
/// future it returns), that connection's.
pub fn peer_of<B>(request: &Request<B>) -> Option<SocketAddr> {
    match request.extensions().get::<ClientAddr>() {
        Some(given) => Some(given.0),
        None => HANDING_OVER.get(),
    }
}

/// Answers a connection over the limit with 429 in the contract envelope, then closes it.
pub(crate) async fn reject_over_limit(mut stream: TcpStream) {
    let body = specs::ApiError::new(
        specs::ErrorCode::TooManyRequests,
        "Too many open connections, try again shortly",
    )
    .to_json();
    let head = format!(
        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\nretry-after: 1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// What is known of an open connection: whether a request is in progress on it,
/// and since when it has been idle (connected, or answered, and no request yet);
/// told to close when the server needs its place.
struct Connection {
    requests: AtomicUsize,
    /// Since when (`ms_now`) it has been idle, or (a request in progress) in its
    /// request: an atomic, as every request sets it twice.
    since_ms: AtomicU64,
    /// Told to close even with a request in progress (one that has lasted long).
    cut: AtomicBool,
    /// Told to close (`GivingWay` reads it when woken).
    close: AtomicBool,
    /// Told to finish its request in progress, if any, and close (shutdown).
    stop: AtomicBool,
    waker: AtomicWaker,
}

impl Connection {
    fn tell_to_close(&self) {
        self.close.store(true, Ordering::Release);
        self.waker.wake();
    }

    fn tell_to_stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.waker.wake();
    }

    fn is_idle(&self) -> bool {
        self.requests.load(Ordering::Relaxed) == 0
    }
}

/// The open connections, so that when they run short an idle one gives way to a
/// newcomer: one holding a connection open without sending (slow headers, idle
/// keep-alive) must not keep a client that sends a request out.
#[derive(Default)]
struct Open {
    connections: Mutex<HashMap<u64, Arc<Connection>>>,
    next_id: AtomicU64,
}

/// A connection's place in `Open`, left when dropped.
struct OpenSlot {
    open: Arc<Open>,
    id: u64,
}

impl Drop for OpenSlot {
    fn drop(&mut self) {
        let mut connections = self
            .open
            .connections
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        connections.remove(&self.id);
    }
}

/// Idle this long at least before it gives way (a client that just connected is
/// about to send).
const IDLE_BEFORE_SHED: Duration = Duration::from_millis(500);

/// When no connection is idle, one in a request for this long gives way (a body
/// trickled in byte by byte; an answer that quick clients wait for takes less).
const BUSY_BEFORE_SHED: Duration = Duration::from_secs(5);

impl Open {
    fn enter(self: &Arc<Self>) -> (Arc<Connection>, OpenSlot) {
        let connection = Arc::new(Connection {
            requests: AtomicUsize::new(0),
            since_ms: AtomicU64::new(ms_now()),
            cut: AtomicBool::new(false),
            close: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            waker: AtomicWaker::new(),
        });
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut connections = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        connections.insert(id, connection.clone());
        (
            connection,
            OpenSlot {
                open: self.clone(),
                id,
            },
        )
    }

    /// Tells the connection idle for longest (at least `IDLE_BEFORE_SHED`) to close,
    /// or, none being idle, the one in a request for longest (at least
    /// `BUSY_BEFORE_SHED`); whether there was one.
    fn shed_idlest(&self) -> bool {
        let connections = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        let now = ms_now();
        let longest = |busy: bool, at_least: Duration| {
            connections
                .values()
                .filter(|c| c.is_idle() != busy)
                .map(|c| (c.since_ms.load(Ordering::Relaxed), c))
                .filter(|(since, _)| now.saturating_sub(*since) >= at_least.as_millis() as u64)
                .min_by_key(|(since, _)| *since)
                .map(|(_, c)| c.clone())
        };
        if let Some(idle) = longest(false, IDLE_BEFORE_SHED) {
            idle.tell_to_close();
            return true;
        }
        if let Some(busy) = longest(true, BUSY_BEFORE_SHED) {
            busy.cut.store(true, Ordering::Relaxed);
            busy.tell_to_close();
            return true;
        }
        false
    }

    /// Tells every connection idle for `limit` at least to close: a client that
    /// sends nothing (idle keep-alive) or sends its request's head too slowly
    /// (slowloris). The head timeout, kept here rather than by hyper, whose
    /// timer was set up and torn down around every request.
    fn close_idle(&self, limit: Duration) {
        let connections = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        let now = ms_now();
        for connection in connections.values() {
            let since = connection.since_ms.load(Ordering::Relaxed);
            if connection.is_idle() && now.saturating_sub(since) >= limit.as_millis() as u64 {
                connection.tell_to_close();
            }
        }
    }

    /// Tells every connection to finish its request in progress and close.
    fn stop_all(&self) {
        let connections = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        for connection in connections.values() {
            connection.tell_to_stop();
        }
    }

    fn is_empty(&self) -> bool {
        let connections = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        connections.is_empty()
    }

    /// Waits until every connection has closed.
    async fn until_closed(&self) {
        while !self.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// How often idle connections are looked for: a quarter of the head timeout, at
/// most a second, so a connection is closed within that much of its timeout.
fn idle_check_period(limit: Duration) -> Duration {
    (limit / 4).clamp(Duration::from_millis(10), Duration::from_secs(1))
}

/// Closes the connections of `open` idle longer than `limit`, until `open` is gone
/// (the server has stopped and its last connection has closed).
async fn close_idle_connections(open: std::sync::Weak<Open>, limit: Duration) {
    let mut ticks = tokio::time::interval(idle_check_period(limit));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(open) = open.upgrade() else { return };
        open.close_idle(limit);
    }
}

pin_project_lite::pin_project! {
    /// A connection that ends when told to give way: at once if idle, or if `cut`
    /// (a request in progress for long), else (a request began since it was told)
    /// it goes on; told to stop, it finishes its request in progress and closes.
    /// Cheaper than a `Notify` and a shutdown signal polled beside it on every
    /// wake-up (hyper-util's `GracefulShutdown` watched a channel on each).
    struct GivingWay<F> {
        #[pin]
        connection: F,
        state: Arc<Connection>,
        stopping: bool,
    }
}

impl<F: GracefulConnection> Future for GivingWay<F> {
    /// `None`: it gave way.
    type Output = Option<F::Output>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let mut this = self.project();
        this.state.waker.register(cx.waker());
        if this.state.close.swap(false, Ordering::Acquire)
            && (this.state.is_idle() || this.state.cut.load(Ordering::Relaxed))
        {
            return std::task::Poll::Ready(None);
        }
        if !*this.stopping && this.state.stop.load(Ordering::Acquire) {
            *this.stopping = true;
            this.connection.as_mut().graceful_shutdown();
        }
        this.connection.poll(cx).map(Some)
    }
}

/// Milliseconds on a monotonic clock. Read twice a request and compared with tenths
/// of a second at the least: Linux's coarse clock (a tick's resolution, a few ms)
/// reads what the kernel keeps, without the time stamp counter.
#[cfg(target_os = "linux")]
fn ms_now() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec to write; this clock exists on every Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut now) };
    now.tv_sec as u64 * 1000 + now.tv_nsec as u64 / 1_000_000
}

#[cfg(not(target_os = "linux"))]
fn ms_now() -> u64 {
    use std::time::Instant;
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// A request in progress on a connection: not idle until it is answered.
struct InRequest(Arc<Connection>);

impl InRequest {
    fn start(connection: &Arc<Connection>) -> InRequest {
        connection.since_ms.store(ms_now(), Ordering::Relaxed);
        connection.requests.fetch_add(1, Ordering::Relaxed);
        InRequest(connection.clone())
    }
}

impl Drop for InRequest {
    fn drop(&mut self) {
        self.0.since_ms.store(ms_now(), Ordering::Relaxed);
        self.0.requests.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A connection's side of the server's service: a request calls the service this
/// connection holds, not a clone of it. (A clone per request increments and
/// decrements reference counts that every connection shares, a cache line that
/// moves between cores on every request.)
struct ConnectionService<S> {
    // Borrowed only while a request is handed over (HTTP/1.1: one at a time).
    service: std::cell::RefCell<S>,
    peer: SocketAddr,
    state: Arc<Connection>,
}

impl<S, B> hyper::service::Service<Request<Incoming>> for ConnectionService<S>
where
    S: Service<Request<Incoming>, Response = hyper::Response<B>> + Clone,
{
    type Response = hyper::Response<B>;
    type Error = S::Error;
    type Future = Answering<S>;

    fn call(&self, mut request: Request<Incoming>) -> Self::Future {
        let in_request = InRequest::start(&self.state);
        let mut service = self.service.borrow_mut();
        let mut ready_now = std::task::Context::from_waker(std::task::Waker::noop());
        let answer = match service.poll_ready(&mut ready_now) {
            std::task::Poll::Ready(Ok(())) => {
                Either::Left(super::lending(&HANDING_OVER, self.peer, || {
                    service.call(request)
                }))
            }
            // Not ready (none of this server's services), or failing: waited for
            // (or its error taken) on a clone, called later: the peer goes along.
            _ => {
                request.extensions_mut().insert(ClientAddr(self.peer));
                Either::Right(service.clone().oneshot(request))
            }
        };
        Answering {
            answer,
            _in_request: in_request,
        }
    }
}

pin_project_lite::pin_project! {
    /// A request's answer; the connection is in a request until it is dropped
    /// (hyper drops it once answered).
    struct Answering<S: Service<Request<Incoming>>> {
        #[pin]
        answer: Either<S::Future, tower::util::Oneshot<S, Request<Incoming>>>,
        _in_request: InRequest,
    }
}

impl<S: Service<Request<Incoming>>> Future for Answering<S> {
    type Output = Result<S::Response, S::Error>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        self.project().answer.poll(cx)
    }
}

/// How long a newcomer waits for an idle connection to give way.
const WAIT_FOR_SHED: Duration = Duration::from_millis(200);

/// Open connections per client address.
#[derive(Default)]
struct PerAddress {
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One open connection of an address; counted until dropped.
struct AddressSlot {
    table: Arc<PerAddress>,
    address: IpAddr,
}

impl PerAddress {
    fn take(self: &Arc<Self>, address: IpAddr, max: usize) -> Option<AddressSlot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(address).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            table: self.clone(),
            address,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.table.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}

/// Serves `service` on `listener` until `shutdown` resolves; then drains: marks
/// `limits.draining` (the API's `/ready` answers 503 and its answers carry
/// `Connection: close`), goes on serving for `limits.shutdown_delay`, stops
/// accepting, waits up to `limits.shutdown_grace` for requests in flight, and cuts
/// what is left.
pub async fn serve<S, B>(
    listener: TcpListener,
    service: S,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) where
    S: Service<Request<Incoming>, Response = hyper::Response<B>> + Clone + Send + 'static,
    // The server's answers are whole (`HttpResponse`); the mock's can be cut short.
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    // An error closes the connection without an answer (the mock's network faults).
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::Future: Send + 'static,
{
    let mut builder = http1::Builder::new();
    builder
        .keep_alive(true)
        // A client (or proxy) that shuts its side after sending still gets its answer.
        .half_close(true)
        // An answer's head and body in one buffer, sent by one `send`: the bodies
        // are small and whole, and a two-part `writev` cost more in the kernel and
        // in hyper's queue than copying them (callgrind: -330 instructions per
        // `auth.get`).
        .writev(false)
        // Kept by `Open::close_idle` instead (no timer, so hyper keeps none).
        .header_read_timeout(None)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .auto_date_header(limits.date_header);
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let open = Arc::new(Open::default());
    tokio::spawn(close_idle_connections(
        Arc::downgrade(&open),
        limits.header_read_timeout,
    ));
    let per_address = Arc::new(PerAddress::default());
    let draining = limits.draining.clone();
    let stop_accepting = async {
        shutdown.await;
        draining.start();
        tracing::info!(
            delay = ?limits.shutdown_delay,
            "shutting down: /ready answers 503; serving on for the delay"
        );
        tokio::time::sleep(limits.shutdown_delay).await;
    };
    tokio::pin!(stop_accepting);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop_accepting => break,
        };
        let permit = match connections.clone().try_acquire_owned() {
            Ok(permit) => permit,
            // Full: the idlest connection gives way, if one is idle.
            Err(_) if open.shed_idlest() => {
                let freed =
                    tokio::time::timeout(WAIT_FOR_SHED, connections.clone().acquire_owned());
                match freed.await {
                    Ok(Ok(permit)) => permit,
                    _ => {
                        tracing::warn!("connection limit reached");
                        tokio::spawn(reject_over_limit(stream));
                        continue;
                    }
                }
            }
            Err(_) => {
                tracing::warn!("connection limit reached, every connection busy");
                tokio::spawn(reject_over_limit(stream));
                continue;
            }
        };
        let slot = if crate::net::is_trusted(peer.ip(), &limits.unlimited_addresses) {
            None
        } else {
            let counted = crate::net::bucket(peer.ip(), limits.ipv6_prefix);
            let Some(slot) = per_address.take(counted, limits.max_connections_per_address) else {
                tracing::warn!("connection limit of one address reached");
                tokio::spawn(reject_over_limit(stream));
                continue;
            };
            Some(slot)
        };
        let _ = stream.set_nodelay(true);
        let (state, open_slot) = open.enter();
        let per_request = ConnectionService {
            service: std::cell::RefCell::new(service.clone()),
            peer,
            state: state.clone(),
        };
        let connection = builder.serve_connection(TokioIo::new(stream), per_request);
        tokio::spawn(async move {
            // Dropping the connection when it gives way closes it.
            let giving_way = GivingWay {
                connection,
                state,
                stopping: false,
            };
            match giving_way.await {
                Some(Err(error)) => tracing::debug!(%error, "connection ended with an error"),
                Some(Ok(())) => {}
                None => tracing::debug!("a connection was closed: idle, or in the way"),
            }
            drop((permit, slot, open_slot));
        });
    }
    drop(listener);
    tracing::info!(grace = ?limits.shutdown_grace, "no longer accepting; finishing requests in flight");
    open.stop_all();
    tokio::select! {
        () = open.until_closed() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(limits.shutdown_grace) => tracing::warn!("shutdown grace period over, cutting what is left"),
    }
}
