//! The outbox: every email the mock "sent", with its links and tokens pulled out.

use serde::Serialize;
use server::core::ports::{BoxFuture, Mail, MailError, Mailer};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One email, as `GET /__mock/outbox` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SentEmail {
    /// 1, 2, 3… since the start or the last clearing.
    pub seq: u64,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Every `http(s)://` link in the text part.
    pub links: Vec<String>,
    /// The `token` query parameter of each link.
    pub tokens: Vec<String>,
    /// When it was sent, by the mock's clock (ISO-8601).
    pub sent_at: String,
}

#[derive(Clone, Default)]
pub struct Outbox {
    sent: Arc<Mutex<Vec<SentEmail>>>,
    /// Woken on every email, for `wait`.
    arrived: Arc<tokio::sync::Notify>,
}

/// The longest a `GET /__mock/outbox?wait=` waits.
pub const MAX_WAIT: Duration = Duration::from_secs(30);

impl Outbox {
    pub fn emails(&self) -> Vec<SentEmail> {
        self.lock().clone()
    }

    /// The emails to `to` (any address if `None`; case does not matter) with a `seq`
    /// above `after`.
    pub fn matching(&self, to: Option<&str>, after: u64) -> Vec<SentEmail> {
        self.lock()
            .iter()
            .filter(|mail| mail.seq > after)
            .filter(|mail| to.is_none_or(|to| mail.to.eq_ignore_ascii_case(to)))
            .cloned()
            .collect()
    }

    /// Waits up to `wait` (at most [`MAX_WAIT`]) for an email that `matching` lists;
    /// `None` if none came.
    pub async fn wait_for(
        &self,
        to: Option<&str>,
        after: u64,
        wait: Duration,
    ) -> Option<Vec<SentEmail>> {
        let deadline = tokio::time::Instant::now() + wait.min(MAX_WAIT);
        loop {
            // Registered before looking, so that an email sent in between wakes it.
            let arrived = self.arrived.notified();
            let found = self.matching(to, after);
            if !found.is_empty() {
                return Some(found);
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return None;
            }
        }
    }

    /// Empties the outbox; returns how many emails it held.
    pub fn clear(&self) -> usize {
        std::mem::take(&mut *self.lock()).len()
    }

    fn push(&self, mut email: SentEmail) {
        let mut sent = self.lock();
        email.seq = sent.last().map_or(1, |last| last.seq + 1);
        sent.push(email);
        drop(sent);
        self.arrived.notify_waiters();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<SentEmail>> {
        self.sent.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The outbox as the core's mailer, stamping mails with the mock's clock.
pub struct OutboxMailer {
    pub outbox: Outbox,
    pub clock: Arc<dyn server::core::ports::Clock>,
}

fn links_in(text: &str) -> Vec<String> {
    text.split_whitespace()
        .filter(|w| w.starts_with("http://") || w.starts_with("https://"))
        .map(|w| w.trim_end_matches(['.', ',', ')', '"']).to_string())
        .collect()
}

fn token_of(link: &str) -> Option<String> {
    let query = link.split_once('?')?.1;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
}

impl Mailer for OutboxMailer {
    fn send(&self, mail: Mail) -> BoxFuture<'static, Result<(), MailError>> {
        let links = links_in(&mail.text);
        let tokens = links.iter().filter_map(|l| token_of(l)).collect();
        let email = SentEmail {
            seq: 0, // given by `push`
            to: mail.to,
            subject: mail.subject,
            text: mail.text,
            html: mail.html,
            links,
            tokens,
            sent_at: server::time::iso8601(self.clock.now_ms()),
        };
        self.outbox.push(email);
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_links_and_tokens() {
        let links = links_in("Open\nhttps://x.io/reset-password?token=abc123.\nthanks");
        assert_eq!(links, ["https://x.io/reset-password?token=abc123"]);
        assert_eq!(token_of(&links[0]).as_deref(), Some("abc123"));
    }
}
