//! Email over real SMTP (lettre): plain, STARTTLS or TLS, with a plain-text and an
//! HTML part in every message.

use crate::core::ports::{BoxFuture, Mail, MailError, Mailer};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// No encryption (a relay on the same host, or tests).
    Plain,
    /// Upgrade with STARTTLS (port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
}

#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    pub from: String,
    pub security: Security,
    /// How long one delivery may take before it counts as failed.
    pub timeout: Duration,
}

pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    pub fn new(settings: &SmtpSettings) -> Result<SmtpMailer, String> {
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|e| format!("the from address {:?}: {e}", settings.from))?;
        let builder = match settings.security {
            Security::Plain => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
            }
            Security::StartTls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&settings.host)
                    .map_err(|e| format!("SMTP server {}: {e}", settings.host))?
            }
            Security::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&settings.host)
                .map_err(|e| format!("SMTP server {}: {e}", settings.host))?,
        };
        let mut builder = builder.port(settings.port).timeout(Some(settings.timeout));
        if let (Some(user), Some(password)) = (&settings.username, &settings.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(SmtpMailer {
            transport: builder.build(),
            from,
        })
    }
}

impl Mailer for SmtpMailer {
    fn send_later(&self, make: BoxFuture<'static, Option<Mail>>) -> BoxFuture<'_, ()> {
        let mailer = SmtpMailer {
            transport: self.transport.clone(),
            from: self.from.clone(),
        };
        tokio::spawn(async move {
            if let Some(mail) = make.await {
                if let Err(error) = mailer.send(mail).await {
                    tracing::warn!(%error, "email not sent");
                }
            }
        });
        Box::pin(std::future::ready(()))
    }

    fn send(&self, mail: Mail) -> BoxFuture<'static, Result<(), MailError>> {
        let message = mail
            .to
            .parse::<Mailbox>()
            .map_err(|e| MailError(format!("recipient: {e}")))
            .and_then(|to| {
                Message::builder()
                    .from(self.from.clone())
                    .to(to)
                    .subject(mail.subject)
                    .multipart(MultiPart::alternative_plain_html(mail.text, mail.html))
                    .map_err(|e| MailError(e.to_string()))
            });
        let transport = self.transport.clone();
        Box::pin(async move {
            // The SMTP server's answer may quote the message: log its kind, not its text.
            transport.send(message?).await.map(|_| ()).map_err(|e| {
                MailError(if e.is_permanent() {
                    "refused by the SMTP server".into()
                } else {
                    "the SMTP server could not be reached".into()
                })
            })
        })
    }
}
