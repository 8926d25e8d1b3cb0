//! Every limit of the HTTP front end, each with a test.

mod common;
use common::*;
use server::core::ports::{BoxFuture, HashError, PasswordHasher};
use server::http::Limits;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn read_all(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut bytes = Vec::new();
    let read = tokio::time::timeout(within, stream.read_to_end(&mut bytes)).await;
    read.ok()
        .map(|_| String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn a_client_that_sends_headers_slowly_is_cut_off() {
    let limits = Limits {
        header_read_timeout: Duration::from_millis(800),
        ..Limits::default()
    };
    let h = Harness::start_with(Default::default(), limits).await;
    let stream = TcpStream::connect(h.addr()).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let started = Instant::now();
    // One byte every 200 ms: the whole head would take about 8 s.
    let writing = tokio::spawn(async move {
        for byte in b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n" {
            if writer.write_all(&[*byte]).await.is_err() {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        true
    });
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), reader.read_to_end(&mut buf)).await;
    assert!(closed.is_ok(), "the connection was not closed");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "closed only after {:?}",
        started.elapsed()
    );
    assert!(
        !String::from_utf8_lossy(&buf).contains("200 OK"),
        "the slow request was answered"
    );
    writing.abort();
}

#[tokio::test]
async fn an_idle_connection_is_closed() {
    let limits = Limits {
        header_read_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    let h = Harness::start_with(Default::default(), limits).await;
    let mut stream = TcpStream::connect(h.addr()).await.unwrap();
    assert!(
        read_all(&mut stream, Duration::from_secs(3))
            .await
            .is_some(),
        "a silent connection stays open"
    );
}

/// The head timeout counts from the last answer: a kept-alive connection used more
/// often than that stays open however long it lives, and one waiting on a slow
/// answer (longer than the head timeout) gets its answer.
#[tokio::test]
async fn a_connection_in_use_is_never_closed_as_idle() {
    let limits = Limits {
        header_read_timeout: Duration::from_millis(400),
        request_timeout: Duration::from_millis(900),
        ..Limits::default()
    };
    let (addr, _server) = serve_with_a_sluggish_hasher(limits).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    let mut answered = 0;
    while started.elapsed() < Duration::from_millis(2_000) {
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        assert_eq!(answers(&mut stream, 1).await, ["200"]);
        answered += 1;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(answered >= 6, "{answered} answers on one connection");
    // Busy for 900 ms, over twice the head timeout: answered, not closed.
    let body = r#"{"email":"a@example.com","password":"password123"}"#;
    let request = format!(
        "POST /api/auth.createAdmin HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    assert_eq!(answers(&mut stream, 1).await, ["408"]);
    // Then, idle, it is closed.
    assert!(read_all(&mut stream, Duration::from_secs(3))
        .await
        .is_some());
}

#[tokio::test]
async fn oversized_headers_are_refused() {
    let h = Harness::start().await;
    let big = "a".repeat(20 * 1024);
    let mut stream = TcpStream::connect(h.addr()).await.unwrap();
    let request = format!("GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n");
    let _ = stream.write_all(request.as_bytes()).await;
    let answer = read_all(&mut stream, Duration::from_secs(3))
        .await
        .unwrap_or_default();
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:.80}");
    // A normal-sized head is fine.
    let r = send(
        h.addr(),
        "GET",
        "/health",
        &[("x-ok", &"a".repeat(8 * 1024))],
        "",
    )
    .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn connections_over_the_limit_are_answered_429() {
    let limits = Limits {
        max_connections: 3,
        ..Limits::default()
    };
    let h = Harness::start_with(Default::default(), limits).await;
    // Each in a request (its body still to come): none can give way.
    let mut held = busy_connections(3, h.addr()).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let mut extra = TcpStream::connect(h.addr()).await.unwrap();
    let answer = read_all(&mut extra, Duration::from_secs(3)).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    assert!(answer.contains("retry-after: 1"), "{answer}");
    assert!(answer.ends_with(r#"{"message":"Too many open connections, try again shortly","code":"TOO_MANY_REQUESTS"}"#), "{answer}");
    drop(held.pop());
    // The freed slot is usable again.
    let mut answered = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let r = tokio::time::timeout(Duration::from_secs(2), send_raw(h.addr())).await;
        if r.is_ok_and(|a| a.starts_with("HTTP/1.1 200")) {
            answered = true;
            break;
        }
    }
    assert!(answered);
}

/// `n` connections each in the middle of a request: headers sent, the body not.
async fn busy_connections(n: usize, to: std::net::SocketAddr) -> Vec<TcpStream> {
    let mut held = Vec::new();
    for _ in 0..n {
        let mut s = TcpStream::connect(to).await.unwrap();
        s.write_all(
            b"POST /api/auth.login HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n\
              content-length: 50\r\n\r\n{",
        )
        .await
        .unwrap();
        held.push(s);
    }
    held
}

/// When every connection is open, the one idle for longest (a slow head, an idle
/// keep-alive) gives way to a client that sends a request: held connections cannot
/// keep others out.
#[tokio::test]
async fn idle_connections_give_way_to_a_client_that_sends() {
    let limits = Limits {
        max_connections: 6,
        ..Limits::default()
    };
    let h = Harness::start_with(Default::default(), limits).await;
    let mut idle = hold_connections(3, "127.0.0.1", h.addr()).await;
    for _ in 0..3 {
        // Connected, and never a byte sent (a slow head).
        idle.push(TcpStream::connect(h.addr()).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    for n in 0..10 {
        let answer = tokio::time::timeout(Duration::from_secs(3), send_raw(h.addr()))
            .await
            .unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "request {n}: {answer}");
    }
    // The held ones were closed, oldest idle first.
    let mut closed = 0;
    for stream in &mut idle {
        if read_all(stream, Duration::from_millis(300)).await.is_some() {
            closed += 1;
        }
    }
    assert!(closed >= 1, "{closed} closed");
}

/// When none is idle, a connection in a request for 5 s and more (a body trickled
/// byte by byte) gives way: 3 such connections do not keep a quick client out.
#[tokio::test]
async fn a_request_trickled_for_long_gives_way_when_connections_run_out() {
    let limits = Limits {
        max_connections: 3,
        ..Limits::default()
    };
    let h = Harness::start_with(Default::default(), limits).await;
    let _held = busy_connections(3, h.addr()).await;
    tokio::time::sleep(Duration::from_millis(5_500)).await;
    let answer = tokio::time::timeout(Duration::from_secs(3), send_raw(h.addr()))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// A body trickled in for an answer already decided (a 404) holds its connection
/// no longer than the drain deadline (2 s), not the request timeout.
#[tokio::test]
async fn a_trickled_body_for_a_decided_answer_is_not_waited_for_long() {
    let h = Harness::start().await;
    let mut s = TcpStream::connect(h.addr()).await.unwrap();
    s.write_all(b"POST /nowhere HTTP/1.1\r\nHost: x\r\ncontent-length: 1000\r\n\r\nx")
        .await
        .unwrap();
    let started = Instant::now();
    let trickle = tokio::spawn(async move {
        let mut buf = [0u8; 12];
        let read = async {
            loop {
                if s.write_all(b"x").await.is_err() {
                    return None;
                }
                tokio::select! {
                    got = s.read(&mut buf) => return got.ok().map(|_| buf),
                    () = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(10), read).await
    });
    let answered = trickle.await.unwrap().expect("an answer within 10 s");
    assert_eq!(
        answered.as_ref().map(|b| &b[..]),
        Some(&b"HTTP/1.1 404"[..])
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

async fn send_raw(addr: std::net::SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut bytes = Vec::new();
    let _ = s.read_to_end(&mut bytes).await;
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A hasher that takes far too long.
struct Sluggish;

impl PasswordHasher for Sluggish {
    fn hash(
        &self,
        _password: String,
        _salt: [u8; 16],
    ) -> BoxFuture<'static, Result<String, HashError>> {
        Box::pin(async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Err(HashError::Failed("too slow".into()))
        })
    }
    fn verify(
        &self,
        _password: String,
        _hash: String,
    ) -> BoxFuture<'static, Result<bool, HashError>> {
        Box::pin(async { Ok(false) })
    }
    fn cost(&self) -> u32 {
        4
    }
}

#[tokio::test]
async fn a_request_that_takes_too_long_is_answered_408() {
    let limits = Limits {
        request_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let (addr, _server) = serve_with_a_sluggish_hasher(limits).await;
    let started = Instant::now();
    let r = send(
        addr,
        "POST",
        "/api/auth.createAdmin",
        &[("content-type", "application/json")],
        r#"{"email":"a@example.com","password":"password123"}"#,
    )
    .await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (
            408,
            envelope("TIMEOUT", "The request took too long to answer").as_str()
        )
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// `n` connections from `from` to `to`, each answered once and kept open.
async fn hold_connections(n: usize, from: &str, to: std::net::SocketAddr) -> Vec<TcpStream> {
    let mut held = Vec::new();
    for _ in 0..n {
        let mut s = connect_from(from, to).await;
        s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 12];
        s.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"HTTP/1.1 200");
        held.push(s);
    }
    held
}

/// A connection from `from` (an address of the loopback range) to `to`.
async fn connect_from(from: &str, to: std::net::SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    socket.connect(to).await.unwrap()
}

#[tokio::test]
async fn one_address_cannot_take_every_connection() {
    let limits = Limits {
        max_connections_per_address: 3,
        ..Limits::default()
    };
    let h = Harness::start_with(Default::default(), limits).await;
    let _held = hold_connections(3, "127.0.0.1", h.addr()).await;
    let mut extra = connect_from("127.0.0.1", h.addr()).await;
    let answer = read_all(&mut extra, Duration::from_secs(3)).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    // Another address is served meanwhile.
    let mut other = connect_from("127.0.0.2", h.addr()).await;
    other
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = read_all(&mut other, Duration::from_secs(3)).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_trusted_proxy_is_held_only_to_the_global_limit() {
    let limits = Limits {
        max_connections_per_address: 1,
        unlimited_addresses: vec!["127.0.0.1".parse().unwrap()],
        ..Limits::default()
    };
    let h = Harness::start_with(Default::default(), limits).await;
    let _held = hold_connections(3, "127.0.0.1", h.addr()).await;
}

/// The API on `limits` with a hasher that takes 5 s: a password to hash times out.
async fn serve_with_a_sluggish_hasher(
    limits: Limits,
) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let deps = server::core::Deps {
        store: Arc::new(server::storage::MemoryStore::new()),
        clock: Arc::new(server::time::SystemClock),
        random: Arc::new(server::crypto::OsRandom::new()),
        hasher: Arc::new(Sluggish),
        mailer: Arc::new(server::core::ports::NoMail),
        notifier: Arc::new(server::core::ports::NoNotifier),
    };
    // Core::new would wait on the hasher for its dummy hash: give it one.
    let core = server::core::Core::with_dummy_hash(
        deps,
        Default::default(),
        "$2b$04$invalidinvalidinvalidinvalidinvalidinvalidinvalidinval".into(),
    );
    let api = server::http::Api::new(Arc::new(core), &limits);
    let service = server::app::stack(api, &limits);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serving = tokio::spawn(server::http::serve(
        listener,
        service,
        limits,
        std::future::pending(),
    ));
    (addr, serving)
}
