//! sled 0.34 behind the core's `Store` trait: one tree, multi-key transactions, and
//! durability by group commit: sled makes a write durable only at a flush, so one
//! flusher thread runs `Db::flush` for every write committed so far while the
//! callers wait. (sled's own `flush_async` deadlocks its thread pool when many
//! callers flush at once.)

use crate::core::ports::{Abort, BoxFuture, Pairs, Store, StoreError, Tx};
use sled::transaction::{
    ConflictableTransactionError, TransactionalTree, UnabortableTransactionError,
};
use std::cell::RefCell;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use tokio::sync::watch;

pub struct SledStore {
    db: sled::Db,
    tree: sled::Tree,
    /// Transactions share it; an export holds it alone, so a backup sees no half
    /// of a transaction.
    consistency: std::sync::RwLock<()>,
    flusher: Arc<Flusher>,
    /// Joined on drop: the thread holds the database open (and its lock) until it ends.
    flusher_thread: Option<std::thread::JoinHandle<()>>,
}

/// Group commit: `committed` counts transactions, the flusher thread publishes how
/// many of them are durable (or the error that stopped it).
struct Flusher {
    committed: AtomicU64,
    wanted: Mutex<u64>,
    wake: Condvar,
    durable: watch::Sender<Durable>,
    stop: AtomicBool,
}

#[derive(Clone, Debug)]
enum Durable {
    Upto(u64),
    Failed(String),
}

impl Flusher {
    fn run(&self, db: &sled::Db) {
        loop {
            let target = {
                let mut wanted = self.wanted.lock().unwrap_or_else(|p| p.into_inner());
                loop {
                    if self.stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let durable = match &*self.durable.borrow() {
                        Durable::Upto(n) => *n,
                        Durable::Failed(_) => return,
                    };
                    if *wanted > durable {
                        break *wanted;
                    }
                    wanted = self.wake.wait(wanted).unwrap_or_else(|p| p.into_inner());
                }
            };
            // Everything committed up to `target` is in sled's buffers: one flush
            // makes all of it durable.
            let result = match db.flush() {
                Ok(_) => Durable::Upto(target),
                Err(e) => Durable::Failed(e.to_string()),
            };
            self.durable.send_replace(result);
        }
    }

    fn request(&self, upto: u64) {
        let mut wanted = self.wanted.lock().unwrap_or_else(|p| p.into_inner());
        if upto > *wanted {
            *wanted = upto;
            self.wake.notify_one();
        }
    }
}

fn engine(e: sled::Error) -> StoreError {
    StoreError::Engine(e.to_string())
}

/// sled's page cache, unless told otherwise: sled's own default (1 GiB) would let a
/// small server grow far past what its data needs.
pub const DEFAULT_CACHE_BYTES: u64 = 32 * 1024 * 1024;

impl SledStore {
    pub fn open(dir: &Path) -> Result<SledStore, StoreError> {
        SledStore::open_with_cache(dir, DEFAULT_CACHE_BYTES)
    }

    /// Opens with a page cache of at most `cache_bytes`.
    pub fn open_with_cache(dir: &Path, cache_bytes: u64) -> Result<SledStore, StoreError> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .open()
            .map_err(engine)?;
        let tree = db.open_tree("auth").map_err(engine)?;
        let flusher = Arc::new(Flusher {
            committed: AtomicU64::new(0),
            wanted: Mutex::new(0),
            wake: Condvar::new(),
            durable: watch::channel(Durable::Upto(0)).0,
            stop: AtomicBool::new(false),
        });
        let (thread_flusher, thread_db) = (flusher.clone(), db.clone());
        let flusher_thread = std::thread::Builder::new()
            .name("sled-flusher".into())
            .spawn(move || thread_flusher.run(&thread_db))
            .map_err(|e| StoreError::Engine(e.to_string()))?;
        Ok(SledStore {
            db,
            tree,
            consistency: std::sync::RwLock::new(()),
            flusher,
            flusher_thread: Some(flusher_thread),
        })
    }

    /// Every key and value at one moment between transactions, for backups.
    pub fn export(&self) -> Result<Pairs, StoreError> {
        let _alone = self.consistency.write().unwrap_or_else(|p| p.into_inner());
        self.scan_prefix(b"")
    }

    /// Whether no record was ever written.
    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }

    /// Durably writes `pairs` (used by restore); the caller makes sure the store was empty.
    pub fn import(
        &self,
        pairs: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>,
    ) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for (k, v) in pairs {
            batch.insert(k, v);
        }
        self.tree.apply_batch(batch).map_err(engine)?;
        self.db.flush().map_err(engine)?;
        self.flusher.committed.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        self.db.flush().map(|_| ()).map_err(engine)
    }
}

/// Keeps sled's own error so a conflict reaches sled, which then retries.
struct SledTx<'a> {
    tree: &'a TransactionalTree,
    failure: RefCell<Option<UnabortableTransactionError>>,
}

impl SledTx<'_> {
    fn keep(&self, e: UnabortableTransactionError) -> StoreError {
        let shown = match &e {
            UnabortableTransactionError::Conflict => StoreError::Conflict,
            UnabortableTransactionError::Storage(s) => StoreError::Engine(s.to_string()),
        };
        *self.failure.borrow_mut() = Some(e);
        shown
    }
}

impl Tx for SledTx<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.tree
            .get(key)
            .map(|v| v.map(|v| v.to_vec()))
            .map_err(|e| self.keep(e))
    }
    fn insert(&self, key: &[u8], value: Vec<u8>) -> Result<(), StoreError> {
        self.tree
            .insert(key, value)
            .map(|_| ())
            .map_err(|e| self.keep(e))
    }
    fn remove(&self, key: &[u8]) -> Result<(), StoreError> {
        self.tree.remove(key).map(|_| ()).map_err(|e| self.keep(e))
    }
}

impl Store for SledStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.tree
            .get(key)
            .map(|v| v.map(|v| v.to_vec()))
            .map_err(engine)
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<Pairs, StoreError> {
        self.tree
            .scan_prefix(prefix)
            .map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(engine))
            .collect()
    }

    fn transaction(&self, work: &mut dyn FnMut(&dyn Tx) -> Result<(), Abort>) -> Result<(), Abort> {
        let _shared = self.consistency.read().unwrap_or_else(|p| p.into_inner());
        let work = RefCell::new(work);
        let result = self.tree.transaction(|tree| {
            let tx = SledTx {
                tree,
                failure: RefCell::new(None),
            };
            let outcome = (work.borrow_mut())(&tx);
            match (outcome, tx.failure.into_inner()) {
                (Ok(()), _) => Ok(()),
                // A failure of sled's own goes back to sled (a conflict is retried).
                (Err(Abort::Store(_)), Some(sled_error)) => Err(sled_error.into()),
                (Err(abort), _) => Err(ConflictableTransactionError::Abort(abort)),
            }
        });
        result.map_err(|e| match e {
            sled::transaction::TransactionError::Abort(abort) => abort,
            sled::transaction::TransactionError::Storage(e) => Abort::Store(engine(e)),
        })?;
        self.flusher.committed.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        let upto = self.flusher.committed.load(Ordering::SeqCst);
        let mut durable = self.flusher.durable.subscribe();
        self.flusher.request(upto);
        Box::pin(async move {
            let reached = durable
                .wait_for(|d| !matches!(d, Durable::Upto(n) if *n < upto))
                .await
                .map_err(|_| StoreError::Engine("the flusher stopped".into()))?;
            match &*reached {
                Durable::Upto(_) => Ok(()),
                Durable::Failed(e) => Err(StoreError::Engine(format!("flush failed: {e}"))),
            }
        })
    }

    /// The committed transactions: counted after each commit, so a reader that
    /// sees a number also sees the writes it counts.
    fn version(&self) -> u64 {
        self.flusher.committed.load(Ordering::SeqCst)
    }
}

impl Drop for SledStore {
    fn drop(&mut self) {
        {
            // Under the lock, so the flusher cannot miss the wake-up.
            let _wanted = self
                .flusher
                .wanted
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            self.flusher.stop.store(true, Ordering::SeqCst);
            self.flusher.wake.notify_all();
        }
        if let Some(thread) = self.flusher_thread.take() {
            let _ = thread.join();
        }
        let _ = self.db.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_concurrent_flushes_all_finish() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SledStore::open(dir.path()).unwrap());
        let writers: Vec<_> = (0..64u32)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .transaction(&mut |tx| Ok(tx.insert(&i.to_be_bytes(), vec![1])?))
                        .unwrap();
                    store.flush().await.unwrap();
                })
            })
            .collect();
        let all = async {
            for w in writers {
                w.await.unwrap();
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(30), all)
            .await
            .expect("a flush never finished");
        assert_eq!(store.scan_prefix(b"").unwrap().len(), 64);
    }
}
