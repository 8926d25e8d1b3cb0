//! What a handler left of a request body is read, and dropped, before its answer goes
//! out. An answer sent with bytes unread ends the connection with a reset, and a
//! proxy that is still writing the body sees the reset first and loses the answer
//! (the client gets no answer, or the proxy's own error). So every answer — a 404, 415, 403 or 413 too — waits for the
//! body, up to [`READ_PAST_LIMIT`] bytes; past that the connection is given up.

use super::BoxError;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

/// Bytes of a request body read, in all, before an answer: the body limit is far
/// below it, so a body a little over the limit still gets its 413 through a proxy.
pub(crate) const READ_PAST_LIMIT: u64 = 1 << 20;

/// How long what is left of a body is read before the answer goes out regardless.
pub(crate) const DRAIN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(2);

struct Slot<B> {
    body: B,
    received: u64,
    /// The handler asked for the body (which sends `100 Continue` to a client that
    /// waits for it).
    polled: bool,
}

/// A request body whose remainder [`Leftover::drain`] can read after the handler
/// has dropped it. No slot: the body had ended before anyone read it (every GET's),
/// so there is nothing to share, and nothing allocated or locked for it.
pub(crate) struct Shared<B> {
    slot: Option<Arc<Mutex<Slot<B>>>>,
}

/// The other end of a [`Shared`] body.
pub(crate) struct Leftover<B> {
    slot: Option<Arc<Mutex<Slot<B>>>>,
    expects_continue: bool,
}

/// `body` as the handler's body, and a handle on what it leaves. `expects_continue`:
/// the client sends the body only after a `100 Continue`, so if the handler never
/// asks for it, nothing is on its way and nothing is read.
pub(crate) fn share<B: Body + Unpin>(body: B, expects_continue: bool) -> (Shared<B>, Leftover<B>) {
    let slot = (!body.is_end_stream()).then(|| {
        Arc::new(Mutex::new(Slot {
            body,
            received: 0,
            polled: false,
        }))
    });
    let leftover = Leftover {
        slot: slot.clone(),
        expects_continue,
    };
    (Shared { slot }, leftover)
}

impl<B> Body for Shared<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let Some(slot) = &self.slot else {
            return Poll::Ready(None);
        };
        let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
        slot.polled = true;
        let polled = Pin::new(&mut slot.body).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                slot.received += data.len() as u64;
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        let Some(slot) = &self.slot else {
            return true;
        };
        let slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
        slot.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let Some(slot) = &self.slot else {
            return SizeHint::with_exact(0);
        };
        let slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
        slot.body.size_hint()
    }
}

impl<B> Leftover<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    /// Reads the rest of the body until it ends, fails, [`READ_PAST_LIMIT`] bytes
    /// have come in all, or [`DRAIN_DEADLINE`] has passed. Call it once the handler
    /// has answered.
    pub(crate) async fn drain(self) {
        // Most requests (a GET, a body read to its end): no timer to set.
        if self.left().is_none() {
            return;
        }
        // A body trickled in for an answer already decided holds the connection no
        // longer than this; the answer then goes out (and the rest resets).
        let _ = tokio::time::timeout(DRAIN_DEADLINE, self.drain_all()).await;
    }

    /// Bytes received so far, if more may be on their way.
    fn left(&self) -> Option<u64> {
        let slot = self.slot.as_ref()?;
        let slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
        let nothing_coming = self.expects_continue && !slot.polled;
        (!slot.body.is_end_stream() && !nothing_coming).then_some(slot.received)
    }

    async fn drain_all(self) {
        let mut shared = Shared {
            slot: self.slot.clone(),
        };
        loop {
            let Some(received) = self.left() else { return };
            // Past the bound, or sure to go past it (the declared length): reading
            // would only delay an answer that the rest of the body resets anyway.
            let declared = shared.size_hint().lower();
            if received.saturating_add(declared) > READ_PAST_LIMIT {
                return;
            }
            match shared.frame().await {
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;

    /// `count` frames of `size` bytes.
    struct Chunks {
        count: usize,
        size: usize,
    }

    impl Body for Chunks {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            if self.count == 0 {
                return Poll::Ready(None);
            }
            self.count -= 1;
            Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b'a'; self.size])))))
        }

        fn is_end_stream(&self) -> bool {
            self.count == 0
        }
    }

    fn chunks(count: usize, size: usize) -> Chunks {
        Chunks { count, size }
    }

    #[tokio::test]
    async fn what_the_handler_leaves_is_read_up_to_the_bound() {
        let (mut body, leftover) = share(chunks(40, 64 * 1024), false);
        // The handler reads one frame and answers.
        body.frame().await.unwrap().unwrap();
        drop(body);
        let slot = leftover.slot.clone().unwrap();
        leftover.drain().await;
        let slot = slot.lock().unwrap();
        assert_eq!(slot.received, READ_PAST_LIMIT + 64 * 1024);
        assert!(
            !slot.body.is_end_stream(),
            "the rest past the bound stays unread"
        );
    }

    #[tokio::test]
    async fn a_body_read_to_its_end_or_a_small_one_is_read_whole() {
        let (body, leftover) = share(chunks(3, 1000), false);
        drop(body);
        let slot = leftover.slot.clone().unwrap();
        leftover.drain().await;
        assert_eq!(slot.lock().unwrap().received, 3000);

        let (body, leftover) = share(Full::new(Bytes::from_static(b"{}")), false);
        let read = body.collect().await.unwrap().to_bytes();
        assert_eq!(&read[..], b"{}");
        leftover.drain().await;
    }

    #[tokio::test]
    async fn a_body_ended_before_it_is_read_shares_nothing() {
        let (mut body, leftover) = share(http_body_util::Empty::<Bytes>::new(), false);
        assert!(body.slot.is_none() && leftover.slot.is_none());
        assert!(body.is_end_stream());
        assert_eq!(body.size_hint().exact(), Some(0));
        assert!(body.frame().await.is_none());
        leftover.drain().await;
    }

    #[tokio::test]
    async fn a_body_declared_past_the_bound_is_not_read() {
        let declared = vec![b'a'; READ_PAST_LIMIT as usize + 1];
        let (body, leftover) = share(Full::new(Bytes::from(declared)), false);
        drop(body);
        let slot = leftover.slot.clone().unwrap();
        leftover.drain().await;
        assert_eq!(slot.lock().unwrap().received, 0);
    }

    #[tokio::test]
    async fn a_body_waiting_for_100_continue_is_not_asked_for_unless_the_handler_did() {
        let (body, leftover) = share(chunks(3, 1000), true);
        drop(body);
        let slot = leftover.slot.clone().unwrap();
        leftover.drain().await;
        assert_eq!(slot.lock().unwrap().received, 0);

        let (mut body, leftover) = share(chunks(3, 1000), true);
        body.frame().await.unwrap().unwrap();
        drop(body);
        let slot = leftover.slot.clone().unwrap();
        leftover.drain().await;
        assert_eq!(slot.lock().unwrap().received, 3000);
    }
}
