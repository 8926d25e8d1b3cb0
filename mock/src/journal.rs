//! The journal of received requests: a ring of bounded size, so the mock's memory
//! stays flat however long it serves. A request takes its place (and its `seq`, which
//! is also its `x-request-id`) when it arrives, and is listed once answered.

use crate::faults::Network;
use serde::Serialize;
use serde_json::Value;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// Bodies are kept up to this many bytes.
pub const BODY_KEPT: usize = 16 * 1024;

/// One request the mock answered (control-plane requests are not journaled).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceivedRequest {
    /// 1, 2, 3… in order of arrival since the start or the last reset; also the
    /// answer's `x-request-id`.
    pub seq: u64,
    /// When it arrived, at the mock's clock (ISO-8601).
    pub time: String,
    /// When it arrived, at the wall clock (ISO-8601).
    pub wall_time: String,
    /// From arrival to answer, in milliseconds.
    pub duration_ms: f64,
    pub method: String,
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// Header names (lowercase) and values, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body as text (lossy UTF-8), cut at 16 KiB.
    pub body: String,
    pub body_truncated: bool,
    /// The status the mock answered (499: the client closed the connection first).
    pub status: u16,
    /// The answer's headers, as sent.
    pub response_headers: Vec<(String, String)>,
    /// The answer's body as text (lossy UTF-8), cut at 16 KiB.
    pub response_body: String,
    /// Whether a fault (armed or `x-mock-fault`) answered a call of it.
    pub forced: bool,
    /// `closed-by-client`, `closed-by-fault` or `truncated-by-fault`, if the
    /// connection did not carry the whole answer.
    pub network: Option<&'static str>,
    /// The procedure calls it made: one over REST, one per item of a tRPC batch.
    pub calls: Vec<ProcedureCall>,
    /// An error status, an error in any call of a batch (a 207), or a network fault.
    pub has_error: bool,
}

/// One procedure call of a request.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcedureCall {
    pub procedure: String,
    /// The input as the procedure read it (superjson unwrapped, GET's query decoded).
    pub input: Option<Value>,
    pub status: u16,
    /// The error code, if it failed.
    pub error: Option<String>,
    pub forced: bool,
}

pub struct Journal {
    inner: Mutex<Ring>,
}

/// A request as received: kept raw (cheap to record, one per request) and turned
/// into a `ReceivedRequest` only when the journal is read.
pub struct Recorded {
    pub arrived: Arrival,
    pub duration: Duration,
    pub method: hyper::Method,
    pub uri: RequestTarget,
    pub headers: HeaderBlock,
    pub body: Vec<u8>,
    pub body_truncated: bool,
    pub status: u16,
    pub response_headers: HeaderBlock,
    /// Shares the answer's bytes (no copy).
    pub response_body: bytes::Bytes,
    /// The procedures whose calls a fault answered, in call order.
    pub forced: Vec<&'static str>,
    pub network: Option<NetworkOutcome>,
}

/// When a request arrived, by both clocks.
#[derive(Debug, Clone, Copy)]
pub struct Arrival {
    pub mock_ms: i64,
    pub wall: SystemTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkOutcome {
    ClosedByClient,
    Fault(Network),
}

impl NetworkOutcome {
    fn name(self) -> &'static str {
        match self {
            NetworkOutcome::ClosedByClient => "closed-by-client",
            NetworkOutcome::Fault(Network::Close) => "closed-by-fault",
            NetworkOutcome::Fault(Network::Truncate) => "truncated-by-fault",
        }
    }
}

/// A request's path and query as received, in bytes of its own: a `Uri` clone
/// shares hyper's read buffer (which hyper could then not reuse), and a `Uri` made
/// anew parses it again, on every request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestTarget(Box<str>);

impl RequestTarget {
    pub fn of(uri: &hyper::Uri) -> RequestTarget {
        RequestTarget(uri.path_and_query().map_or("/", |t| t.as_str()).into())
    }

    /// As `Uri::path`: up to the `?`.
    pub fn path(&self) -> &str {
        self.0.split_once('?').map_or(&self.0, |(path, _)| path)
    }

    /// As `Uri::query`: after the `?`, if there is one.
    pub fn query(&self) -> Option<&str> {
        self.0.split_once('?').map(|(_, query)| query)
    }
}

/// Headers as one buffer of `name:value\n` lines: one allocation to record and
/// one to free, where a `HeaderMap` clone costs three and a reference count per
/// value. Unambiguous: names hold no `:` and values no newline.
pub struct HeaderBlock(Vec<u8>);

impl HeaderBlock {
    pub fn of(headers: &hyper::HeaderMap) -> HeaderBlock {
        thread_local! {
            // Written into again and again; the block is copied out at its size
            // (the journal keeps thousands): one pass over the headers, not two.
            static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
        }
        SCRATCH.with_borrow_mut(|scratch| {
            scratch.clear();
            for (name, value) in headers {
                scratch.extend_from_slice(name.as_str().as_bytes());
                scratch.push(b':');
                scratch.extend_from_slice(value.as_bytes());
                scratch.push(b'\n');
            }
            HeaderBlock(scratch.as_slice().into())
        })
    }

    pub fn empty() -> HeaderBlock {
        HeaderBlock(Vec::new())
    }

    fn pairs(&self) -> Vec<(String, String)> {
        self.0
            .split(|b| *b == b'\n')
            .filter_map(|line| {
                let colon = line.iter().position(|b| *b == b':')?;
                Some((
                    String::from_utf8_lossy(&line[..colon]).into_owned(),
                    String::from_utf8_lossy(&line[colon + 1..]).into_owned(),
                ))
            })
            .collect()
    }
}

fn wall_iso(time: SystemTime) -> String {
    let ms = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    server::time::iso8601(ms)
}

impl Recorded {
    fn view(&self, seq: u64) -> ReceivedRequest {
        let calls = self.calls();
        let network = self.network.map(NetworkOutcome::name);
        ReceivedRequest {
            seq,
            time: server::time::iso8601(self.arrived.mock_ms),
            wall_time: wall_iso(self.arrived.wall),
            duration_ms: (self.duration.as_micros() as f64) / 1000.0,
            method: self.method.to_string(),
            path: self.uri.path().to_string(),
            query: self.uri.query().map(str::to_string),
            headers: self.headers.pairs(),
            body: String::from_utf8_lossy(&self.body).into_owned(),
            body_truncated: self.body_truncated,
            status: self.status,
            response_headers: self.response_headers.pairs(),
            response_body: String::from_utf8_lossy(
                &self.response_body[..self.response_body.len().min(BODY_KEPT)],
            )
            .into_owned(),
            forced: !self.forced.is_empty(),
            network,
            has_error: self.status >= 400
                || network.is_some()
                || calls.iter().any(|c| c.status >= 400),
            calls,
        }
    }

    /// The calls, read back from the request and its answer as the server read them.
    fn calls(&self) -> Vec<ProcedureCall> {
        let path = self.uri.path();
        let query = self.uri.query().unwrap_or("");
        let param = |name: &str| {
            form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        let body_json = || serde_json::from_slice::<Value>(&self.body).ok();
        let answer = serde_json::from_slice::<Value>(&self.response_body).ok();
        let mut forced = self.forced.clone();
        let mut call = |procedure: String, input: Option<Value>, item: Option<&Value>| {
            let (status, error) = match item {
                Some(item) => item_outcome(item, self.status),
                None => (self.status, None),
            };
            let was_forced = match forced.iter().position(|f| *f == procedure) {
                Some(at) => {
                    forced.remove(at);
                    true
                }
                None => false,
            };
            ProcedureCall {
                procedure,
                input,
                status,
                error,
                forced: was_forced,
            }
        };
        if let Some(paths) = path.strip_prefix("/api/trpc/") {
            let batch = param("batch").is_some_and(|v| !v.is_empty());
            let raw_input = match self.method {
                hyper::Method::GET => param("input").and_then(|t| serde_json::from_str(&t).ok()),
                _ => body_json(),
            };
            if !batch {
                let item = answer.as_ref().filter(|a| a.is_object());
                let input = raw_input.as_ref().and_then(specs::trpc::decode_superjson);
                return vec![call(paths.to_string(), input, item)];
            }
            let names = percent_encoding::percent_decode_str(paths).decode_utf8_lossy();
            let items = answer.as_ref().and_then(Value::as_array);
            return names
                .split(',')
                .enumerate()
                .map(|(i, name)| {
                    let input = raw_input
                        .as_ref()
                        .and_then(|all| all.get(i.to_string()))
                        .and_then(specs::trpc::decode_superjson);
                    call(
                        name.to_string(),
                        input,
                        items.and_then(|items| items.get(i)),
                    )
                })
                .collect();
        }
        let Some(name) = path.strip_prefix("/api/").filter(|n| !n.is_empty()) else {
            return Vec::new();
        };
        let input = match self.method {
            hyper::Method::GET if !query.is_empty() => Some(Value::Object(
                form_urlencoded::parse(query.as_bytes())
                    .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                    .collect(),
            )),
            hyper::Method::GET => None,
            _ => body_json(),
        };
        let error = answer
            .as_ref()
            .filter(|_| self.status >= 400)
            .and_then(|a| a.get("code"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let mut only = call(name.to_string(), input, None);
        only.error = error;
        vec![only]
    }
}

/// A tRPC item's status and error code: `{"result":…}` or
/// `{"error":{"json":{…,"data":{"code","httpStatus"}}}}`.
fn item_outcome(item: &Value, request_status: u16) -> (u16, Option<String>) {
    let Some(error) = item.get("error") else {
        return (200, None);
    };
    let data = error.pointer("/json/data").or_else(|| error.get("data"));
    let status = data
        .and_then(|d| d.get("httpStatus"))
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .unwrap_or(request_status);
    let code = data
        .and_then(|d| d.get("code"))
        .and_then(Value::as_str)
        .map(str::to_string);
    (status, code)
}

enum Slot {
    /// Arrived, not answered yet.
    InFlight,
    Done(Box<Recorded>),
}

struct Ring {
    capacity: usize,
    /// Each with its `seq`: consecutive, in order of arrival.
    entries: VecDeque<(u64, Slot)>,
    next_seq: u64,
    dropped: u64,
    /// How many times it was emptied: a reader polling with `since` sees that its
    /// sequence numbers started again.
    generation: u64,
}

/// A request's place in the journal, taken on arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    pub seq: u64,
    generation: u64,
}

/// What `GET /__mock/requests` keeps of the listed requests.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only requests after this `seq`.
    pub since: u64,
    /// Only requests with a call of this procedure.
    pub procedure: Option<String>,
    /// Only requests answered with this status, or with a call that was.
    pub status: Option<u16>,
    /// Only requests with (`true`) or without (`false`) an error.
    pub has_error: Option<bool>,
}

impl Filter {
    fn keeps(&self, request: &ReceivedRequest) -> bool {
        self.procedure
            .as_ref()
            .is_none_or(|p| request.calls.iter().any(|c| &c.procedure == p))
            && self.status.is_none_or(|status| {
                request.status == status || request.calls.iter().any(|c| c.status == status)
            })
            && self.has_error.is_none_or(|e| request.has_error == e)
    }
}

/// `GET /__mock/requests`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JournalView {
    pub capacity: usize,
    /// Entries pushed out of the ring since the last reset.
    pub dropped: u64,
    /// Goes up by one each time the journal is emptied (`seq` starts again at 1).
    pub generation: u64,
    /// Every request with a lower `seq` is answered (listed, or dropped): poll with
    /// `since=nextSeq-1` to miss none. A request still in flight holds it back, so
    /// a poller may see later ones twice.
    pub next_seq: u64,
    /// Requests that arrived and are not answered yet.
    pub in_flight: usize,
    pub requests: Vec<ReceivedRequest>,
}

impl Journal {
    pub fn new(capacity: usize) -> Journal {
        Journal {
            inner: Mutex::new(Ring {
                capacity: capacity.max(1),
                entries: VecDeque::new(),
                next_seq: 1,
                dropped: 0,
                generation: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A request arrived: its place and `seq`.
    pub fn arrive(&self) -> Ticket {
        let mut ring = self.lock();
        let seq = ring.next_seq;
        ring.next_seq += 1;
        if ring.entries.len() == ring.capacity {
            ring.entries.pop_front();
            ring.dropped += 1;
        }
        ring.entries.push_back((seq, Slot::InFlight));
        Ticket {
            seq,
            generation: ring.generation,
        }
    }

    /// The request of `ticket` was answered (forgotten if the journal was emptied
    /// or its place pushed out since).
    pub fn answer(&self, ticket: Ticket, request: Recorded) {
        let mut ring = self.lock();
        if ring.generation != ticket.generation {
            return;
        }
        let first = ring.entries.front().map_or(0, |(seq, _)| *seq);
        if let Some(slot) = ticket
            .seq
            .checked_sub(first)
            .and_then(|at| ring.entries.get_mut(at as usize))
        {
            slot.1 = Slot::Done(Box::new(request));
        }
    }

    pub fn view(&self) -> JournalView {
        self.view_filtered(&Filter::default())
    }

    pub fn view_filtered(&self, filter: &Filter) -> JournalView {
        let ring = self.lock();
        // Sequence numbers are consecutive: skip to the first one above `since`.
        let first_seq = ring.entries.front().map_or(0, |(seq, _)| *seq);
        let skip = filter.since.saturating_sub(first_seq.saturating_sub(1)) as usize;
        let oldest_in_flight = ring
            .entries
            .iter()
            .find(|(_, slot)| matches!(slot, Slot::InFlight))
            .map(|(seq, _)| *seq);
        JournalView {
            capacity: ring.capacity,
            dropped: ring.dropped,
            generation: ring.generation,
            next_seq: oldest_in_flight.unwrap_or(ring.next_seq),
            in_flight: ring
                .entries
                .iter()
                .filter(|(_, slot)| matches!(slot, Slot::InFlight))
                .count(),
            requests: ring
                .entries
                .iter()
                .skip(skip)
                .filter_map(|(seq, slot)| match slot {
                    Slot::Done(recorded) => Some(recorded.view(*seq)),
                    Slot::InFlight => None,
                })
                .filter(|request| filter.keeps(request))
                .collect(),
        }
    }

    /// Empties the journal; how many requests it held.
    pub fn clear(&self) -> usize {
        let mut ring = self.lock();
        let held = ring.entries.len();
        ring.entries.clear();
        ring.next_seq = 1;
        ring.dropped = 0;
        ring.generation += 1;
        held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request arrived and answered at once.
    fn record(journal: &Journal) {
        let ticket = journal.arrive();
        journal.answer(ticket, request());
    }

    fn request() -> Recorded {
        Recorded {
            arrived: Arrival {
                mock_ms: 0,
                wall: SystemTime::UNIX_EPOCH,
            },
            duration: Duration::from_micros(1500),
            forced: Vec::new(),
            network: None,
            method: hyper::Method::GET,
            uri: RequestTarget::of(&"/x?a=1".parse().unwrap()),
            headers: HeaderBlock::of(
                &[(hyper::header::ACCEPT, "*/*".parse().unwrap())]
                    .into_iter()
                    .collect(),
            ),
            body: b"{}".to_vec(),
            body_truncated: false,
            status: 200,
            response_headers: HeaderBlock::of(
                &[(
                    hyper::header::CONTENT_TYPE,
                    "application/json".parse().unwrap(),
                )]
                .into_iter()
                .collect(),
            ),
            response_body: bytes::Bytes::from_static(b"{\"ok\":true}"),
        }
    }

    #[test]
    fn keeps_the_newest_within_capacity() {
        let journal = Journal::new(3);
        for _ in 0..10 {
            record(&journal);
        }
        let view = journal.view();
        assert_eq!(view.requests.len(), 3);
        assert_eq!(view.dropped, 7);
        assert_eq!(
            view.requests.iter().map(|r| r.seq).collect::<Vec<_>>(),
            [8, 9, 10]
        );
        let first = &view.requests[0];
        assert_eq!(
            (
                first.method.as_str(),
                first.path.as_str(),
                first.query.as_deref()
            ),
            ("GET", "/x", Some("a=1"))
        );
        assert_eq!(first.headers, [("accept".to_string(), "*/*".to_string())]);
        assert_eq!(first.body, "{}");
        assert_eq!(
            first.response_headers,
            [("content-type".to_string(), "application/json".to_string())]
        );
        assert_eq!(first.response_body, r#"{"ok":true}"#);
        let seqs = |since| {
            let view = journal.view_filtered(&Filter {
                since,
                ..Filter::default()
            });
            view.requests.iter().map(|r| r.seq).collect::<Vec<_>>()
        };
        assert_eq!(seqs(0), [8, 9, 10]);
        assert_eq!(seqs(8), [9, 10]);
        assert_eq!(seqs(10), Vec::<u64>::new());
        assert_eq!(seqs(99), Vec::<u64>::new());
        assert_eq!(journal.view().generation, 0);
        journal.clear();
        record(&journal);
        assert_eq!(journal.view().requests[0].seq, 1);
        assert_eq!(journal.view().generation, 1);
        assert_eq!(journal.view().next_seq, 2);
    }
}
