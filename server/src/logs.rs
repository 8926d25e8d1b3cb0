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
        .with_writer(writer.clone());
    match format {
        Format::Text => {
            builder.event_format(TextLine).init();
            let _ = TEXT_LOG.set(writer);
        }
        Format::Json => builder.json().init(),
    }
    guard
}

/// The binary's log when it is text: where [`write_text_line`] writes.
static TEXT_LOG: std::sync::OnceLock<BatchWriter> = std::sync::OnceLock::new();

/// Whether a callsite's events are logged, asked of `tracing` once where the log is
/// the binary's text log (its filter is set at start and never changes), else every
/// time (a test's subscriber comes and goes). Asking cost ~130 instructions, on
/// every request for the access line.
pub struct Enabled(std::sync::atomic::AtomicU8);

impl Enabled {
    const UNKNOWN: u8 = 0;
    const OFF: u8 = 1;
    const ON: u8 = 2;

    pub const fn new() -> Enabled {
        Enabled(std::sync::atomic::AtomicU8::new(Enabled::UNKNOWN))
    }

    /// `ask`: `tracing::enabled!` at the callsite.
    #[inline]
    pub fn get(&self, ask: impl FnOnce() -> bool) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        match self.0.load(Relaxed) {
            Enabled::OFF => false,
            Enabled::ON => true,
            _ => {
                let on = ask();
                if TEXT_LOG.get().is_some() {
                    self.0
                        .store(if on { Enabled::ON } else { Enabled::OFF }, Relaxed);
                }
                on
            }
        }
    }
}

impl Default for Enabled {
    fn default() -> Enabled {
        Enabled::new()
    }
}

/// A field's value for [`push_field`].
pub enum FieldValue<'a> {
    Str(&'a str),
    U64(u64),
}

/// Writes an INFO line of `target` as the text format writes an event, straight to
/// the log: an event through `tracing`'s machinery (dispatch, a visitor per field,
/// its own buffer) cost twice the line's formatting, on every request. `fields`
/// appends the fields ([`push_field`] each). False when the log is not the
/// binary's text log (JSON, or a test's subscriber): log the event through
/// `tracing` then. The caller checks first that the line is enabled ([`Enabled`]).
pub fn write_text_line(target: &str, message: &str, fields: impl FnOnce(&mut String)) -> bool {
    let Some(log) = TEXT_LOG.get() else {
        return false;
    };
    thread_local! {
        // Formatted into again and again: no allocation per line.
        static LINE: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    LINE.with_borrow_mut(|line| {
        line.clear();
        push_text_line(line, target, message, fields);
        let _ = (&*log).write_all(line.as_bytes());
    });
    true
}

/// Appends the line [`write_text_line`] writes.
fn push_text_line(
    line: &mut String,
    target: &str,
    message: &str,
    fields: impl FnOnce(&mut String),
) {
    push_prefix(line, Level::INFO, target);
    line.push(' ');
    line.push_str(message);
    fields(line);
    line.push('\n');
}

/// Appends a field: `key` is ` name=`, as the text format writes it (made at
/// compile time, its length known: a key of a length known only at run time cost
/// a call to copy it).
#[inline(always)]
pub fn push_field(line: &mut String, key: &'static str, value: FieldValue<'_>) {
    line.push_str(key);
    push_value(line, value);
}

/// ` name=` and the value: a field `tracing` names at run time.
fn push_named_field(line: &mut String, name: &str, value: FieldValue<'_>) {
    line.push(' ');
    line.push_str(name);
    line.push('=');
    push_value(line, value);
}

/// `123`, or `"text"` escaped as `Debug` writes it when it holds a byte that could
/// break the line (a quote, a newline…).
#[inline(always)]
fn push_value(line: &mut String, value: FieldValue<'_>) {
    match value {
        FieldValue::Str(text) => push_str_value(line, text),
        FieldValue::U64(number) => line.push_str(itoa::Buffer::new().format(number)),
    }
}

impl<'a> From<&'a str> for FieldValue<'a> {
    fn from(text: &'a str) -> FieldValue<'a> {
        FieldValue::Str(text)
    }
}

impl From<u64> for FieldValue<'_> {
    fn from(number: u64) -> Self {
        FieldValue::U64(number)
    }
}

/// `2026-11-26T16:33:47.159Z  INFO target:`
fn push_prefix(line: &mut String, level: Level, target: &str) {
    crate::time::push_iso8601(line, crate::time::unix_ms());
    line.push_str(match level {
        Level::ERROR => " ERROR ",
        Level::WARN => "  WARN ",
        Level::INFO => "  INFO ",
        Level::DEBUG => " DEBUG ",
        Level::TRACE => " TRACE ",
    });
    line.push_str(target);
    line.push(':');
}

/// `"text"` (out of line: the escaping path is long).
fn push_str_value(line: &mut String, value: &str) {
    if value.bytes().all(|b| PLAIN[usize::from(b)]) {
        line.push('"');
        line.push_str(value);
        line.push('"');
    } else {
        use std::fmt::Write;
        let _ = write!(line, "{value:?}");
    }
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
        push_prefix(&mut line, *metadata.level(), metadata.target());
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
        push_named_field(self.0, field.name(), FieldValue::Str(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        push_named_field(self.0, field.name(), FieldValue::U64(value));
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
            tracing::info!(
                message = "request",
                request_id = 7u64,
                method,
                path = "/a\"b"
            );
        });
        drop(guard);
        let text = sink.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(
            &lines[2][24..],
            "  INFO server::logs::tests: request request_id=7 method=\"GET\" path=\"/a\\\"b\"",
            "a message given as a field"
        );
        // Written without `tracing`, the same line.
        let mut direct = String::new();
        push_text_line(&mut direct, "server::logs::tests", "request", |line| {
            push_field(line, " request_id=", FieldValue::U64(7));
            push_field(line, " method=", FieldValue::Str("GET"));
            push_field(line, " path=", FieldValue::Str("/a\"b"));
        });
        assert_eq!(direct[24..].trim_end(), &lines[2][24..]);
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
