//! A request body that keeps a copy of what the server reads from it (up to a
//! bound), so the journal sees the body without buffering it twice.

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

pub struct TeeBody<B> {
    inner: Pin<Box<B>>,
    copy: Arc<Mutex<Copied>>,
    keep: usize,
}

#[derive(Default)]
pub struct Copied {
    pub bytes: Vec<u8>,
    pub truncated: bool,
}

impl<B> TeeBody<B> {
    pub fn new(inner: B, keep: usize) -> (TeeBody<B>, Arc<Mutex<Copied>>) {
        let copy = Arc::new(Mutex::new(Copied::default()));
        (
            TeeBody {
                inner: Box::pin(inner),
                copy: copy.clone(),
                keep,
            },
            copy,
        )
    }
}

impl<B: Body<Data = Bytes>> Body for TeeBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let polled = self.inner.as_mut().poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                let mut copy = self.copy.lock().unwrap_or_else(|p| p.into_inner());
                let room = self.keep.saturating_sub(copy.bytes.len());
                copy.bytes.extend_from_slice(&data[..data.len().min(room)]);
                copy.truncated |= data.len() > room;
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
