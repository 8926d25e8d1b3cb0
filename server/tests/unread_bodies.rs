//! Answers that must reach the client through a proxy: a body the procedure takes no
//! input from is read (and dropped) before answering, so the connection is not reset
//! with bytes unread, and a client that half-closes its side after sending still
//! gets its answer.

mod common;
use common::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

fn request(path: &str, body_len: usize, close: bool) -> Vec<u8> {
    let connection = if close { "close" } else { "keep-alive" };
    let mut bytes = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {body_len}\r\nconnection: {connection}\r\n\r\n"
    )
    .into_bytes();
    bytes.extend(std::iter::repeat_n(b'a', body_len));
    bytes
}

#[tokio::test]
async fn a_body_without_input_is_read_so_the_connection_lives_on() {
    let h = Harness::start().await;
    let mut stream = TcpStream::connect(h.addr()).await.unwrap();
    // auth.logout and auth.verifyToken take no input; 80 kB is under the body limit.
    stream
        .write_all(&request("/api/auth.logout", 80_000, false))
        .await
        .unwrap();
    stream
        .write_all(&request("/api/auth.verifyToken", 80_000, false))
        .await
        .unwrap();
    stream
        .write_all(b"GET /api/auth.get HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(answers(&mut stream, 3).await, ["401", "401", "401"]);
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_even_without_input() {
    let h = Harness::start().await;
    let mut stream = TcpStream::connect(h.addr()).await.unwrap();
    stream
        .write_all(&request("/api/auth.logout", 100_001, true))
        .await
        .unwrap();
    assert_eq!(answers(&mut stream, 1).await, ["413"]);
}

#[tokio::test]
async fn a_client_that_half_closes_after_sending_gets_its_answer() {
    let h = Harness::start().await;
    for n in 0..10 {
        // A new email each time, so that throttling does not answer instead.
        let body = format!(r#"{{"email":"nobody{n}@example.com","password":"password123"}}"#);
        let login = format!(
            "POST /api/auth.login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
             content-length: {}\r\n\r\n{body}",
            body.len()
        );
        let mut stream = TcpStream::connect(h.addr()).await.unwrap();
        stream.write_all(login.as_bytes()).await.unwrap();
        // As `nc -N` and some proxies do: nothing more will be sent. The answer takes
        // a bcrypt verification, so the end of input arrives before it.
        stream.shutdown().await.unwrap();
        assert_eq!(answers(&mut stream, 1).await, ["400"]);
    }
}

/// As a proxy forwards a request: the head first, the body as it comes, the answer
/// read once all is sent. Answers given before the body was read — a 413 over the
/// limit, a 415, a 404 — still wait for it (up to 1 MiB), so the writes succeed and
/// the answer arrives; answered with the body unread, the connection is closed and
/// the rest of the body meets a reset.
#[tokio::test]
async fn answers_before_the_body_wait_for_it_so_a_proxy_gets_them() {
    let h = Harness::start().await;
    let json = "content-type: application/json\r\n";
    let cases = [
        ("/api/auth.login", json, "413"),
        ("/api/trpc/auth.login", json, "413"),
        ("/api/auth.login", "content-type: text/plain\r\n", "415"),
        ("/api/no.such", json, "404"),
    ];
    for (path, content_type, status) in cases {
        let body_len = 1_000_000;
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: x\r\n{content_type}content-length: {body_len}\r\n\r\n"
        );
        let mut stream = TcpStream::connect(h.addr()).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        // Time for an answer that does not wait for the body.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let mut written = Ok(());
        for _ in 0..body_len / 10_000 {
            written = stream.write_all(&[b'a'; 10_000]).await;
            if written.is_err() {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert!(
            written.is_ok(),
            "{path} {status}: the body is taken: {written:?}"
        );
        assert_eq!(answers(&mut stream, 1).await, [status], "{path} {status}");
    }
}

/// A client that sends `Expect: 100-continue` sends the body only once told to: an
/// answer that needs no body (a 404, a 413 by the declared length) comes at once,
/// without a `100 Continue`, and nothing is waited for.
#[tokio::test]
async fn a_client_expecting_100_continue_is_answered_without_sending_the_body() {
    let h = Harness::start().await;
    for (path, status) in [("/api/no.such", "404"), ("/api/auth.login", "413")] {
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
             content-length: 500000\r\nexpect: 100-continue\r\n\r\n"
        );
        let mut stream = TcpStream::connect(h.addr()).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        assert_eq!(answers(&mut stream, 1).await, [status], "{path}");
    }
    // One whose body is needed is told to go on, and answered once it is sent.
    let body = r#"{"email":"a@b.co","password":"password1"}"#;
    let head = format!(
        "POST /api/auth.login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nexpect: 100-continue\r\n\r\n",
        body.len()
    );
    let mut stream = TcpStream::connect(h.addr()).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    assert_eq!(answers(&mut stream, 1).await, ["100"]);
    stream.write_all(body.as_bytes()).await.unwrap();
    assert_eq!(answers(&mut stream, 1).await, ["400"], "no such account");
}
