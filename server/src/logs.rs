//! Log output for the binaries. A line is formatted on the thread that logs it and
//! appended to a shared buffer; one thread writes the buffer to stderr every
//! `FLUSH_EVERY`. So a request never waits on a write and never wakes a thread: with
//! a writer thread woken per line, the access log cost about a quarter of an
//! `auth.get` (`make bench`, "without the access log").
//!
//! Bounded: past `MAX_PENDING` bytes waiting (stderr blocked), lines are dropped and
//! counted, and the count is written once stderr takes lines again.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;
use tracing::field::{Field, Visit};
use tracing::Level;
use tracing_subscriber::fmt::format::{self, FormatEvent, FormatFields};
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::registry::LookupSpan;

/// The longest a line waits before it is written.
pub const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// The most bytes waiting to be written; more lines are dropped.
pub const MAX_PENDING: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// Sends `tracing` events at the `RUST_LOG` level (default `info`, with
/// PostgreSQL's notices left out: the retry of a transaction that lost a
/// serialization conflict draws a "no transaction in progress" that means nothing
/// to an operator) to stderr, in batches; keep the guard until exit: dropping it
/// writes what is left.
pub fn init(format: Format) -> LogGuard {
    init_at(format, None)
}

const DEFAULT_LEVEL: &str = "info,tokio_postgres::connection=warn";

/// As [`init`], at `level` (`warn`, say) instead of `RUST_LOG` when given.
pub fn init_at(format: Format, level: Option<&str>) -> LogGuard {
    let (writer, guard) = BatchWriter::new(io::stderr(), FLUSH_EVERY, MAX_PENDING);
    let filter = match level {
        Some(level) => tracing_subscriber::EnvFilter::new(level),
        None => tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LEVEL)),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        Format::Text => builder.event_format(TextLine).init(),
        Format::Json => builder.json().init(),
    }
    guard
}

/// `2026-11-26T16:33:47.159Z  INFO target: message key=value …`: the shape of
/// tracing-subscriber's default line, without colours or spans, written with a
/// fraction of its formatting work (which was a sixth of an `auth.get`).
struct TextLine;

impl<S, N> FormatEvent<S, N> for TextLine
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _context: &FmtContext<'_, S, N>,
        mut writer: format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let metadata = event.metadata();
        let mut line = String::with_capacity(160);
        crate::time::push_iso8601(&mut line, crate::time::unix_ms());
        line.push_str(match *metadata.level() {
            Level::ERROR => " ERROR ",
            Level::WARN => "  WARN ",
            Level::INFO => "  INFO ",
            Level::DEBUG => " DEBUG ",
            Level::TRACE => " TRACE ",
        });
        line.push_str(metadata.target());
        line.push(':');
        event.record(&mut TextFields(&mut line));
        line.push('\n');
        writer.write_str(&line)
    }
}

/// Writes ` message key=value …`; strings quoted and escaped (`Debug`), so a value
/// can never start a line of its own.
struct TextFields<'a>(&'a mut String);

/// Bytes a value is written with as they are, between quotes (a table: every
/// field of every access log line goes through it).
const PLAIN: [bool; 256] = {
    let mut plain = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        plain[byte] =
            b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'-' | b':' | b'@');
        byte += 1;
    }
    plain
};

impl Visit for TextFields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            // As a format string's message is written (`message = "…"` spares its
            // formatter).
            self.0.push(' ');
            self.0.push_str(value);
            return;
        }
        if value.bytes().all(|b| PLAIN[usize::from(b)]) {
            self.0.push(' ');
            self.0.push_str(field.name());
            self.0.push_str("=\"");
            self.0.push_str(value);
            self.0.push('"');
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.push(' ');
        self.0.push_str(field.name());
        self.0.push('=');
        self.0.push_str(itoa::Buffer::new().format(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write;
        let _ = match field.name() {
            "message" => write!(self.0, " {value:?}"),
            name => write!(self.0, " {name}={value:?}"),
        };
    }
}

/// Where formatted lines go: a shared buffer that the guard's thread empties.
#[derive(Clone)]
pub struct BatchWriter {
    shared: Arc<Shared>,
}

struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
    max_pending: usize,
}

#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    dropped_lines: u64,
    closing: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // A thread that panicked while appending leaves whole lines behind: go on.
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Writes the last lines and stops the writing thread when dropped.
pub struct LogGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl BatchWriter {
    /// A writer whose lines reach `sink` every `flush_every` (and when the guard
    /// drops), with at most `max_pending` bytes waiting.
    pub fn new(
        sink: impl Write + Send + 'static,
        flush_every: Duration,
        max_pending: usize,
    ) -> (BatchWriter, LogGuard) {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::default()),
            wake: Condvar::new(),
            max_pending,
        });
        let thread = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn({
                let shared = shared.clone();
                move || write_batches(&shared, sink, flush_every)
            })
            .expect("a thread for log lines");
        let guard = LogGuard {
            shared: shared.clone(),
            thread: Some(thread),
        };
        (BatchWriter { shared }, guard)
    }
}

fn write_batches(shared: &Shared, mut sink: impl Write, flush_every: Duration) {
    let mut batch = Vec::new();
    loop {
        let (dropped, closing) = {
            let mut pending = shared.lock();
            if !pending.closing {
                pending = shared
                    .wake
                    .wait_timeout(pending, flush_every)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
            // Swap buffers: the next lines go into the one this batch emptied.
            std::mem::swap(&mut batch, &mut pending.bytes);
            (std::mem::take(&mut pending.dropped_lines), pending.closing)
        };
        // Nowhere to report a failed write of the log itself: the lines are lost.
        let _ = sink.write_all(&batch);
        if dropped > 0 {
            let _ = writeln!(sink, "{dropped} log lines dropped: stderr did not keep up");
        }
        let _ = sink.flush();
        batch.clear();
        if closing {
            return;
        }
    }
}

impl Write for &BatchWriter {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        let mut pending = self.shared.lock();
        if pending.bytes.len() + line.len() > self.shared.max_pending {
            pending.dropped_lines += 1;
        } else {
            pending.bytes.extend_from_slice(line);
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BatchWriter {
    type Writer = &'a BatchWriter;
    fn make_writer(&'a self) -> &'a BatchWriter {
        self
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.shared.lock().closing = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink the test can read after the writer thread is done with it.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[test]
    fn lines_arrive_whole_and_in_order_from_many_threads() {
        let sink = Captured::default();
        let (writer, guard) = BatchWriter::new(sink.clone(), Duration::from_millis(5), 1 << 20);
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for n in 0..500 {
                        (&writer)
                            .write_all(format!("thread {t} line {n}\n").as_bytes())
                            .unwrap();
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        drop(guard);
        let text = sink.text();
        assert_eq!(text.lines().count(), 2000);
        for t in 0..4 {
            let own: Vec<&str> = text
                .lines()
                .filter(|l| l.starts_with(&format!("thread {t} ")))
                .collect();
            let expected: Vec<String> = (0..500).map(|n| format!("thread {t} line {n}")).collect();
            assert_eq!(own, expected);
        }
    }

    #[test]
    fn lines_are_written_without_waiting_for_the_guard() {
        let sink = Captured::default();
        let (writer, _guard) = BatchWriter::new(sink.clone(), Duration::from_millis(5), 1 << 20);
        (&writer).write_all(b"soon\n").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while sink.text().is_empty() {
            assert!(std::time::Instant::now() < deadline, "never written");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(sink.text(), "soon\n");
    }

    #[test]
    fn text_lines_have_the_default_shape_and_escape_values() {
        let sink = Captured::default();
        let (writer, guard) = BatchWriter::new(sink.clone(), Duration::from_millis(5), 1 << 20);
        let subscriber = tracing_subscriber::fmt()
            .with_writer(writer)
            .event_format(TextLine)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let method = "GET";
            tracing::info!(request_id = 7u64, %method, path = "/api/auth.get", "request");
            tracing::warn!(error = "two\nlines", "failed");
            tracing::info!(message = "request", request_id = 7u64, %method, path = "/api/auth.get");
        });
        drop(guard);
        let text = sink.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[0][24..], lines[2][24..], "a message given as a field");
        let (time, rest) = lines[0].split_at(24);
        assert!(crate::time::parse_iso8601(time).is_some(), "{time}");
        assert_eq!(
            rest,
            "  INFO server::logs::tests: request request_id=7 method=GET path=\"/api/auth.get\""
        );
        assert!(
            lines[1].ends_with("  WARN server::logs::tests: failed error=\"two\\nlines\""),
            "{}",
            lines[1]
        );
    }

    #[test]
    fn past_the_bound_lines_are_dropped_and_counted() {
        let sink = Captured::default();
        // A flush far away: everything below waits in the buffer.
        let (writer, guard) = BatchWriter::new(sink.clone(), Duration::from_secs(3600), 10);
        for line in ["12345\n", "67890\n", "abc\n", "defgh\n"] {
            (&writer).write_all(line.as_bytes()).unwrap();
        }
        drop(guard);
        assert_eq!(
            sink.text(),
            "12345\nabc\n2 log lines dropped: stderr did not keep up\n"
        );
    }
}
