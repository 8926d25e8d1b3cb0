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
    /// The answer's headers, as sent.
    pub response_headers: Vec<(String, String)>,
    /// The answer's body as text (lossy UTF-8), cut at 16 KiB.
    pub response_body: String,
}

pub struct Journal {
    inner: Mutex<Ring>,
}

/// A request as received: kept raw (cheap to record, one per request) and turned
/// into a `ReceivedRequest` only when the journal is read.
pub struct Recorded {
    pub method: hyper::Method,
    pub uri: hyper::Uri,
    pub headers: HeaderBlock,
    pub body: Vec<u8>,
    pub body_truncated: bool,
    pub status: u16,
    pub response_headers: HeaderBlock,
    /// Shares the answer's bytes (no copy).
    pub response_body: bytes::Bytes,
}

/// Headers as one buffer of `name:value\n` lines: one allocation to record and
/// one to free, where a `HeaderMap` clone costs three and a reference count per
/// value. Unambiguous: names hold no `:` and values no newline.
pub struct HeaderBlock(Vec<u8>);

impl HeaderBlock {
    pub fn of(headers: &hyper::HeaderMap) -> HeaderBlock {
        let size = headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 2)
            .sum();
        let mut block = Vec::with_capacity(size);
        for (name, value) in headers {
            block.extend_from_slice(name.as_str().as_bytes());
            block.push(b':');
            block.extend_from_slice(value.as_bytes());
            block.push(b'\n');
        }
        HeaderBlock(block)
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

impl Recorded {
    fn view(&self, seq: u64) -> ReceivedRequest {
        ReceivedRequest {
            seq,
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
        }
    }
}

struct Ring {
    capacity: usize,
    /// Each with its `seq`.
    entries: VecDeque<(u64, Recorded)>,
    next_seq: u64,
    dropped: u64,
    /// How many times it was emptied: a reader polling with `since` sees that its
    /// sequence numbers started again.
    generation: u64,
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
    /// The `seq` the next request will get.
    pub next_seq: u64,
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
        self.view_since(0)
    }

    /// The requests with a `seq` above `since` (what a poller has not seen yet).
    pub fn view_since(&self, since: u64) -> JournalView {
        let ring = self.lock();
        // Sequence numbers are consecutive: skip to the first one above `since`.
        let first_seq = ring.entries.front().map_or(0, |(seq, _)| *seq);
        let skip = since.saturating_sub(first_seq.saturating_sub(1)) as usize;
        JournalView {
            capacity: ring.capacity,
            dropped: ring.dropped,
            generation: ring.generation,
            next_seq: ring.next_seq,
            requests: ring
                .entries
                .iter()
                .skip(skip)
                .map(|(seq, r)| r.view(*seq))
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

    fn request() -> Recorded {
        Recorded {
            method: hyper::Method::GET,
            uri: "/x?a=1".parse().unwrap(),
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
        assert_eq!(
            first.response_headers,
            [("content-type".to_string(), "application/json".to_string())]
        );
        assert_eq!(first.response_body, r#"{"ok":true}"#);
        let seqs = |since| {
            let view = journal.view_since(since);
            view.requests.iter().map(|r| r.seq).collect::<Vec<_>>()
        };
        assert_eq!(seqs(0), [8, 9, 10]);
        assert_eq!(seqs(8), [9, 10]);
        assert_eq!(seqs(10), Vec::<u64>::new());
        assert_eq!(seqs(99), Vec::<u64>::new());
        assert_eq!(journal.view().generation, 0);
        journal.clear();
        journal.record(request());
        assert_eq!(journal.view().requests[0].seq, 1);
        assert_eq!(journal.view().generation, 1);
        assert_eq!(journal.view().next_seq, 2);
    }
}
