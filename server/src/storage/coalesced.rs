//! One reading of a shared value serves every caller that arrived before it
//! started: under load, many requests share one database round trip instead of
//! each making its own, and no caller gets an answer read before it arrived.
//!
//! A task of its own does the reading: it takes every caller waiting, reads, and
//! answers them all; callers that arrive meanwhile wait for its next reading.

use std::future::Future;
use std::sync::{Arc, Mutex};
use tokio::sync::{oneshot, Notify};

pub(crate) struct CoalescedReads<T> {
    shared: Arc<Waiting<T>>,
}

struct Waiting<T> {
    callers: Mutex<Vec<oneshot::Sender<T>>>,
    arrived: Notify,
}

impl<T: Clone + Send + 'static> CoalescedReads<T> {
    /// Starts the reading task on `runtime`; it ends with the runtime.
    pub(crate) fn start<F, R>(runtime: &tokio::runtime::Handle, read: R) -> Self
    where
        R: Fn() -> F + Send + 'static,
        F: Future<Output = T> + Send,
    {
        let shared = Arc::new(Waiting {
            callers: Mutex::new(Vec::new()),
            arrived: Notify::new(),
        });
        let waiting = shared.clone();
        runtime.spawn(async move {
            loop {
                waiting.arrived.notified().await;
                let callers = std::mem::take(&mut *lock(&waiting.callers));
                if callers.is_empty() {
                    continue;
                }
                let found = read().await;
                for caller in callers {
                    let _ = caller.send(found.clone());
                }
            }
        });
        CoalescedReads { shared }
    }

    /// What a reading that starts after this call finds; `None` if the reading
    /// task is gone (its runtime is shutting down).
    pub(crate) async fn read(&self) -> Option<T> {
        let (answer, answered) = oneshot::channel();
        lock(&self.shared.callers).push(answer);
        self.shared.arrived.notify_one();
        answered.await.ok()
    }
}

fn lock<T>(callers: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A list of senders, never left half-changed.
    callers.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn a_lone_caller_gets_a_reading_of_its_own_every_time() {
        let count = Arc::new(AtomicU64::new(0));
        let counted = count.clone();
        let reads = CoalescedReads::start(&tokio::runtime::Handle::current(), move || {
            let next = counted.fetch_add(1, Ordering::SeqCst) + 1;
            async move { next }
        });
        for n in 1..=3 {
            assert_eq!(reads.read().await, Some(n));
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn callers_waiting_together_share_the_next_reading_never_an_earlier_one() {
        let value = Arc::new(AtomicU64::new(0));
        let readings = Arc::new(AtomicU64::new(0));
        let (entered_tx, entered) = tokio::sync::mpsc::unbounded_channel();
        let reads = {
            let (value, readings) = (value.clone(), readings.clone());
            Arc::new(CoalescedReads::start(
                &tokio::runtime::Handle::current(),
                move || {
                    let (value, readings, entered) =
                        (value.clone(), readings.clone(), entered_tx.clone());
                    async move {
                        // Reads the value, then is slow to answer.
                        let number = readings.fetch_add(1, Ordering::SeqCst);
                        let seen = value.load(Ordering::SeqCst);
                        let _ = entered.send(number);
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        seen
                    }
                },
            ))
        };
        let mut entered = entered;
        let first = {
            let reads = reads.clone();
            tokio::spawn(async move { reads.read().await })
        };
        assert_eq!(entered.recv().await, Some(0));
        // Written while the first reading is in flight: every caller from now on
        // must see it.
        value.store(7, Ordering::SeqCst);
        let later: Vec<_> = (0..8)
            .map(|_| {
                let reads = reads.clone();
                tokio::spawn(async move { reads.read().await })
            })
            .collect();
        assert_eq!(first.await.unwrap(), Some(0));
        for caller in later {
            assert_eq!(caller.await.unwrap(), Some(7));
        }
        // Eight callers that waited together made one reading (two if one was slow
        // to arrive), not eight.
        assert!(readings.load(Ordering::SeqCst) <= 3);
    }

    #[test]
    fn a_caller_is_told_when_the_reading_task_is_gone() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let reads = CoalescedReads::start(runtime.handle(), std::future::pending::<u64>);
        let waiting = std::thread::spawn(move || {
            let caller = tokio::runtime::Runtime::new().unwrap();
            caller.block_on(reads.read())
        });
        std::thread::sleep(Duration::from_millis(100));
        runtime.shutdown_background();
        assert_eq!(waiting.join().unwrap(), None);
    }
}
