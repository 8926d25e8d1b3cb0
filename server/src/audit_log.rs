//! The audit log: one JSON line per security event (`core::audit`), to a file or
//! to stderr, for people and for tools such as fail2ban (`docs/audit-log.md`).
//!
//! Durability: a line is handed to a writer thread at once (the request never
//! waits on the disk); that thread appends what arrived every 100 ms and, for a
//! file, `fdatasync`s after each append, and writes the rest when the server
//! stops. A process killed with SIGKILL loses at most the last 100 ms of lines; a
//! power cut, at most those not yet synced.

use crate::core::audit::{Audit, AuditEvent};
use crate::http::{current_request_id, RequestIdValue};
use crate::logs::{BatchWriter, LogGuard};
use crate::time::iso8601;
use serde::Serialize;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// How often the writer thread appends.
const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// Lines waiting beyond this are dropped (and counted in the log): memory stays
/// bounded under a flood of failed logins.
const MAX_PENDING: usize = 8 * 1024 * 1024;

/// One line, fields in this order (a fail2ban filter may rely on it).
#[derive(Serialize)]
struct Line<'a> {
    time: String,
    event: &'static str,
    account: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    by: Option<&'a str>,
    client: Option<String>,
    request_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    instance: Option<&'a str>,
}

/// The line for `event`, without its newline: from the request `request_id`, on
/// the server `instance`.
pub fn line(
    event: &AuditEvent<'_>,
    request_id: Option<&RequestIdValue>,
    instance: Option<&str>,
) -> String {
    serde_json::to_string(&Line {
        time: iso8601(event.at_ms),
        event: event.kind.as_str(),
        account: event.account,
        by: event.by,
        client: event.client.map(|ip| ip.to_string()),
        request_id: request_id.map(|id| id.to_string()),
        count: event.count,
        instance,
    })
    .expect("an audit line serializes")
}

/// The audit log; the guard writes the last lines when dropped.
pub struct AuditLog {
    writer: BatchWriter,
    instance: Option<String>,
}

/// A file sink whose flush is `fdatasync`.
struct Synced(std::fs::File);

impl Write for Synced {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.write(bytes)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.sync_data()
    }
}

impl AuditLog {
    /// Appends to `path`, made 0600 if new.
    pub fn to_file(path: &Path) -> std::io::Result<(AuditLog, LogGuard)> {
        let mut options = std::fs::OpenOptions::new();
        options.append(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(path)?;
        let (writer, guard) = BatchWriter::new(Synced(file), FLUSH_EVERY, MAX_PENDING);
        Ok((
            AuditLog {
                writer,
                instance: None,
            },
            guard,
        ))
    }

    /// To standard error, beside the other log lines.
    pub fn to_stderr() -> (AuditLog, LogGuard) {
        let (writer, guard) = BatchWriter::new(std::io::stderr(), FLUSH_EVERY, MAX_PENDING);
        (
            AuditLog {
                writer,
                instance: None,
            },
            guard,
        )
    }

    /// Every line names `instance` (the lines of several servers can then go to
    /// one place, one fail2ban).
    pub fn named(self, instance: &str) -> AuditLog {
        AuditLog {
            instance: Some(instance.to_string()),
            ..self
        }
    }
}

impl Audit for AuditLog {
    fn record(&self, event: &AuditEvent<'_>) {
        let mut text = line(
            event,
            current_request_id().as_ref(),
            self.instance.as_deref(),
        );
        text.push('\n');
        // The writer only appends to memory; it cannot fail.
        let _ = (&self.writer).write_all(text.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::audit::AuditKind;

    #[test]
    fn a_line_names_what_and_who_never_how() {
        let event = AuditEvent {
            at_ms: 1_735_689_600_000,
            kind: AuditKind::LoginFailed,
            account: Some("acc-1"),
            by: None,
            client: Some("203.0.113.9".parse().unwrap()),
            count: None,
        };
        assert_eq!(
            line(
                &event,
                Some(&RequestIdValue::Counted {
                    instance: Some(0x1a2b3c4d),
                    count: 7
                }),
                Some("auth-1")
            ),
            r#"{"time":"2025-01-01T00:00:00.000Z","event":"login_failed","account":"acc-1","client":"203.0.113.9","request_id":"1a2b3c4d-7","instance":"auth-1"}"#
        );
        let ended = AuditEvent {
            kind: AuditKind::SessionsEnded,
            by: Some("admin-1"),
            count: Some(2),
            client: None,
            ..event
        };
        assert_eq!(
            line(&ended, None, None),
            r#"{"time":"2025-01-01T00:00:00.000Z","event":"sessions_ended","account":"acc-1","by":"admin-1","client":null,"request_id":null,"count":2}"#
        );
    }

    #[test]
    fn lines_reach_the_file_and_survive_the_guard() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let (log, guard) = AuditLog::to_file(&path).unwrap();
        for n in 0..3 {
            log.record(&AuditEvent {
                at_ms: n,
                kind: AuditKind::LoginSucceeded,
                account: Some("a"),
                by: None,
                client: None,
                count: None,
            });
        }
        drop(guard);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 3);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
