//! The journal of received requests: a ring of bounded size, so the mock's memory
//! stays flat however long it serves.

use serde::Serialize;
use std::collections::VecDeque;
use std::sync::Mutex;

/// Bodies are kept up to this many bytes.
pub const BODY_KEPT: usize = 16 * 1024;

/// One request the mock answered (control-plane requests are not journaled).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceivedRequest {
    /// 1, 2, 3… since the start or the last reset.
    pub seq: u64,
    pub method: String,
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// Header names (lowercase) and values, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body as text (lossy UTF-8), cut at 16 KiB.
    pub body: String,
    pub body_truncated: bool,
    /// The status the mock answered.
    pub status: u16,
}

pub struct Journal {
    inner: Mutex<Ring>,
}

/// A request as received: kept raw (cheap to record, one per request) and turned
/// into a `ReceivedRequest` only when the journal is read.
pub struct Recorded {
    pub method: hyper::Method,
    pub uri: hyper::Uri,
    pub headers: hyper::HeaderMap,
    pub body: Vec<u8>,
    pub body_truncated: bool,
    pub status: u16,
}

impl Recorded {
    fn view(&self, seq: u64) -> ReceivedRequest {
        ReceivedRequest {
            seq,
            method: self.method.to_string(),
            path: self.uri.path().to_string(),
            query: self.uri.query().map(str::to_string),
            headers: self
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: String::from_utf8_lossy(&self.body).into_owned(),
            body_truncated: self.body_truncated,
            status: self.status,
        }
    }
}

struct Ring {
    capacity: usize,
    /// Each with its `seq`.
    entries: VecDeque<(u64, Recorded)>,
    next_seq: u64,
    dropped: u64,
}

/// `GET /__mock/requests`.
#[derive(Debug, Clone, Serialize)]
pub struct JournalView {
    pub capacity: usize,
    /// Entries pushed out of the ring since the last reset.
    pub dropped: u64,
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
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a request; its `seq` is assigned here.
    pub fn record(&self, request: Recorded) {
        let mut ring = self.lock();
        let seq = ring.next_seq;
        ring.next_seq += 1;
        if ring.entries.len() == ring.capacity {
            ring.entries.pop_front();
            ring.dropped += 1;
        }
        if ring.capacity > 0 {
            ring.entries.push_back((seq, request));
        } else {
            ring.dropped += 1;
        }
    }

    pub fn view(&self) -> JournalView {
        let ring = self.lock();
        JournalView {
            capacity: ring.capacity,
            dropped: ring.dropped,
            requests: ring.entries.iter().map(|(seq, r)| r.view(*seq)).collect(),
        }
    }

    /// Empties the journal; how many requests it held.
    pub fn clear(&self) -> usize {
        let mut ring = self.lock();
        let held = ring.entries.len();
        ring.entries.clear();
        ring.next_seq = 1;
        ring.dropped = 0;
        held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> Recorded {
        Recorded {
            method: hyper::Method::GET,
            uri: "/x?a=1".parse().unwrap(),
            headers: [(hyper::header::ACCEPT, "*/*".parse().unwrap())]
                .into_iter()
                .collect(),
            body: b"{}".to_vec(),
            body_truncated: false,
            status: 200,
        }
    }

    #[test]
    fn keeps_the_newest_within_capacity() {
        let journal = Journal::new(3);
        for _ in 0..10 {
            journal.record(request());
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
        journal.clear();
        journal.record(request());
        assert_eq!(journal.view().requests[0].seq, 1);
    }
}
