//! A small SMTP server that keeps what it is sent: how the suite reads a cloud-mode
//! target's emails when the target is not the mock (whose outbox it reads instead).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

pub struct SmtpSink {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<String>>>,
    refusing: Arc<AtomicBool>,
}

impl SmtpSink {
    /// Listens on a free loopback port, on the current tokio runtime.
    pub async fn start() -> std::io::Result<SmtpSink> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let sink = SmtpSink {
            addr: listener.local_addr()?,
            received: Default::default(),
            refusing: Default::default(),
        };
        let (received, refusing) = (sink.received.clone(), sink.refusing.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(converse(stream, received.clone(), refusing.clone()));
            }
        });
        Ok(sink)
    }

    /// Every message received, as sent after `DATA` (headers and body).
    pub fn messages(&self) -> Vec<String> {
        self.received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Refuse every recipient from now on (`550`), or accept them again.
    pub fn set_refusing(&self, refusing: bool) {
        self.refusing.store(refusing, Ordering::SeqCst);
    }
}

async fn converse(
    stream: tokio::net::TcpStream,
    received: Arc<Mutex<Vec<String>>>,
    refusing: Arc<AtomicBool>,
) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let _ = write.write_all(b"220 sink ESMTP\r\n").await;
    let mut data: Option<String> = None;
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(message) = data.as_mut() {
            if line == "." {
                received
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(std::mem::take(message));
                data = None;
                let _ = write.write_all(b"250 2.0.0 queued\r\n").await;
            } else {
                message.push_str(&line);
                message.push('\n');
            }
            continue;
        }
        let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
        let answer: &[u8] = match verb.as_str() {
            "EHLO" | "HELO" => b"250 sink\r\n",
            "RCPT" if refusing.load(Ordering::SeqCst) => b"550 5.1.1 no such user\r\n",
            "MAIL" | "RCPT" | "RSET" | "NOOP" => b"250 2.0.0 ok\r\n",
            "DATA" => {
                data = Some(String::new());
                b"354 go ahead\r\n"
            }
            "QUIT" => {
                let _ = write.write_all(b"221 bye\r\n").await;
                return;
            }
            _ => b"502 5.5.2 not implemented\r\n",
        };
        let _ = write.write_all(answer).await;
    }
}

/// Quoted-printable soft breaks and `=3D` undone: enough to read links in a message.
pub fn unfold(message: &str) -> String {
    message
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=")
}

/// The 64-hex-digit token after `marker` (`reset-password?token=`) in the last of
/// `emails` that has one.
pub fn token_after(emails: &[String], marker: &str) -> Option<String> {
    emails.iter().rev().find_map(|email| {
        let text = unfold(email);
        let start = text.find(marker)? + marker.len();
        let token = text.get(start..start + 64)?;
        token
            .bytes()
            .all(|b| b.is_ascii_hexdigit())
            .then(|| token.to_string())
    })
}
