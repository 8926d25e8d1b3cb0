//! The sign-up webhook, in Dokploy's Discord format, posted in the background: a
//! failing or silent webhook never fails or slows the sign-up.

use crate::core::ports::Notifier;
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

type HttpsClient = Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
>;

pub struct DiscordWebhook {
    url: hyper::Uri,
    client: HttpsClient,
    timeout: Duration,
}

/// Dokploy's message: an embed with title, colour, the email, a timestamp and a footer.
pub(crate) fn signup_payload(email: &str, at_ms: i64) -> serde_json::Value {
    serde_json::json!({
        "embeds": [{
            "title": "✅ New User Registered",
            "color": 0x00ff00,
            "fields": [{"name": "Email", "value": email, "inline": true}],
            "timestamp": crate::time::iso8601(at_ms),
            "footer": {"text": "Dokploy User Registration Notification"},
        }]
    })
}

impl DiscordWebhook {
    pub fn new(url: &str) -> Result<DiscordWebhook, String> {
        let url: hyper::Uri = url.parse().map_err(|e| format!("the webhook URL: {e}"))?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| e.to_string())?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(DiscordWebhook {
            url,
            client: Client::builder(TokioExecutor::new()).build(connector),
            timeout: Duration::from_secs(10),
        })
    }
}

impl Notifier for DiscordWebhook {
    fn admin_signed_up(&self, email: &str, at_ms: i64) {
        let body = signup_payload(email, at_ms).to_string();
        let request = hyper::Request::post(self.url.clone())
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)));
        let (client, timeout) = (self.client.clone(), self.timeout);
        tokio::spawn(async move {
            let Ok(request) = request else { return };
            match tokio::time::timeout(timeout, client.request(request)).await {
                Ok(Ok(response)) if response.status().is_success() => {}
                Ok(Ok(response)) => tracing::warn!(
                    status = response.status().as_u16(),
                    "the sign-up webhook refused"
                ),
                Ok(Err(error)) => tracing::warn!(%error, "the sign-up webhook failed"),
                Err(_) => tracing::warn!("the sign-up webhook did not answer in time"),
            }
        });
    }
}
