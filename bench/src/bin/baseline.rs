//! The physical limit: a minimal hyper 1.x server on the same runtime as the server,
//! answering every request with one fixed JSON body of about 300 bytes.
//!
//!     baseline 127.0.0.1:4000

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;

/// About the size of an `auth.get` answer.
const BODY: &str = r#"{"id":"DRYbAlC7iUURK1Nc6vlCh","email":"admin@example.com","rol":"admin","image":"/avatars/avatar-1.png","secret":null,"token":null,"is2FAEnabled":false,"createdAt":"2025-01-01T00:00:00.000Z","resetPasswordToken":null,"resetPasswordExpiresAt":null,"confirmationToken":null,"confirmationExpiresAt":null}"#;

async fn answer(
    _request: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(BODY.as_bytes())))
        .expect("static response"))
}

#[tokio::main]
async fn main() {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:4000".into());
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .unwrap_or_else(|e| panic!("cannot listen on {address}: {e}"));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service_fn(answer))
                .await;
        });
    }
}
