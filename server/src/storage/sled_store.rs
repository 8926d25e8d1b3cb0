//! sled 0.34 behind the core's `Store` trait: one tree, multi-key transactions, and
//! durability by group commit: sled makes a write durable only at a flush, so one
//! flusher thread runs `Db::flush` for every write committed so far while the
//! callers wait. (sled's own `flush_async` deadlocks its thread pool when many
//! callers flush at once.)

use crate::core::ports::{now, Abort, BoxFuture, Pairs, Soon, Store, StoreError, Tx};
use sled::transaction::{
    ConflictableTransactionError, TransactionalTree, UnabortableTransactionError,
};
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock, RwLockReadGuard};
use tokio::sync::watch;

pub struct SledStore {
    dir: PathBuf,
    cache_bytes: u64,
    /// The open database; `None` only while a failed one is closed and reopened.
    engine: RwLock<Option<Engine>>,
    /// Transactions share it; an export holds it alone, so a backup sees no half
    /// of a transaction.
    consistency: RwLock<()>,
    /// Committed transactions, across reopenings (the core's caches key on it).
    committed: AtomicU64,
    /// Set when a write failed for want of space (or on a read-only disk): sled
    /// then refuses every later write until it is opened again, which `recover`
    /// does once the disk can take writes.
    failed: AtomicBool,
}

/// One open sled database, with its flusher thread (stopped and joined on drop:
/// the thread holds the database open, and its lock, until it ends).
struct Engine {
    db: sled::Db,
    tree: sled::Tree,
    flusher: Arc<Flusher>,
    flusher_thread: Option<std::thread::JoinHandle<()>>,
}

/// Group commit: callers ask for a count of committed transactions to be durable;
/// the flusher thread publishes how many are (or the error that stopped it).
struct Flusher {
    wanted: Mutex<u64>,
    wake: Condvar,
    durable: watch::Sender<Durable>,
    stop: AtomicBool,
}

#[derive(Clone, Debug)]
enum Durable {
    Upto(u64),
    Failed { message: String, unavailable: bool },
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
                        Durable::Failed { .. } => return,
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
                Err(e) => Durable::Failed {
                    unavailable: matches!(classify(&e), StoreError::Unavailable(_)),
                    message: e.to_string(),
                },
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

/// A full disk, a quota or a read-only file system: writing can work again later.
fn cannot_write_now(io: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        io.kind(),
        ErrorKind::StorageFull | ErrorKind::ReadOnlyFilesystem | ErrorKind::QuotaExceeded
    ) || matches!(
        io.raw_os_error(),
        Some(libc::ENOSPC | libc::EROFS | libc::EDQUOT)
    )
}

fn classify(e: &sled::Error) -> StoreError {
    match e {
        sled::Error::Io(io) if cannot_write_now(io) => StoreError::Unavailable(io.to_string()),
        other => StoreError::Engine(other.to_string()),
    }
}

fn engine(e: sled::Error) -> StoreError {
    classify(&e)
}

/// sled's page cache, unless told otherwise: sled's own default (1 GiB) would let a
/// small server grow far past what its data needs.
pub const DEFAULT_CACHE_BYTES: u64 = 32 * 1024 * 1024;

/// Below this much free space, the store says it cannot write (`/ready`), and a
/// failed store is not reopened: sled needs room for its next segment.
const MIN_FREE_BYTES: u64 = 1024 * 1024;

/// Free bytes for an unprivileged writer, and whether the file system is read-only.
fn disk_room(dir: &Path) -> Option<(u64, bool)> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: `statvfs` fills the zeroed struct it is given and reads a valid C string.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
        return None;
    }
    let free = (stat.f_bavail as u64).saturating_mul(stat.f_frsize as u64);
    Some((free, stat.f_flag & libc::ST_RDONLY != 0))
}

/// Whether the disk under `dir` can take writes now; why not, if not.
fn room_to_write(dir: &Path) -> Result<(), StoreError> {
    match disk_room(dir) {
        Some((_, true)) => Err(StoreError::Unavailable(format!(
            "{} is on a read-only file system",
            dir.display()
        ))),
        Some((free, false)) if free < MIN_FREE_BYTES => Err(StoreError::Unavailable(format!(
            "the disk holding {} has {free} bytes free",
            dir.display()
        ))),
        _ => Ok(()),
    }
}

/// sled writes a snapshot to `snap.<lsn>.generating` and renames it when whole: a
/// file still named so is an unfinished one (a start on a full disk leaves an empty
/// one, which sled then reads as corrupt data at every later start).
fn remove_unfinished_snapshots(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => {
                    tracing::warn!(file = %entry.path().display(), "removed an unfinished sled snapshot")
                }
                Err(e) => {
                    tracing::warn!(file = %entry.path().display(), %e, "cannot remove an unfinished sled snapshot")
                }
            }
        }
    }
}

impl Engine {
    fn open(dir: &Path, cache_bytes: u64, committed: u64) -> Result<Engine, StoreError> {
        remove_unfinished_snapshots(dir);
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .open()
            .map_err(engine)?;
        let tree = db.open_tree("auth").map_err(engine)?;
        let flusher = Arc::new(Flusher {
            wanted: Mutex::new(committed),
            wake: Condvar::new(),
            durable: watch::channel(Durable::Upto(committed)).0,
            stop: AtomicBool::new(false),
        });
        let (thread_flusher, thread_db) = (flusher.clone(), db.clone());
        let flusher_thread = std::thread::Builder::new()
            .name("sled-flusher".into())
            .spawn(move || thread_flusher.run(&thread_db))
            .map_err(|e| StoreError::Engine(e.to_string()))?;
        Ok(Engine {
            db,
            tree,
            flusher,
            flusher_thread: Some(flusher_thread),
        })
    }
}

impl Drop for Engine {
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

/// The engine is being reopened (or could not be): as for a full disk.
fn closed() -> StoreError {
    StoreError::Unavailable("the store is being reopened".into())
}

impl SledStore {
    pub fn open(dir: &Path) -> Result<SledStore, StoreError> {
        SledStore::open_with_cache(dir, DEFAULT_CACHE_BYTES)
    }

    /// Opens with a page cache of at most `cache_bytes`.
    pub fn open_with_cache(dir: &Path, cache_bytes: u64) -> Result<SledStore, StoreError> {
        let engine = Engine::open(dir, cache_bytes, 0)?;
        Ok(SledStore {
            dir: dir.to_path_buf(),
            cache_bytes,
            engine: RwLock::new(Some(engine)),
            consistency: RwLock::new(()),
            committed: AtomicU64::new(0),
            failed: AtomicBool::new(false),
        })
    }

    /// The engine slot, held for one operation (a reopening waits for it to end);
    /// `None` while a failed engine is being reopened.
    fn engine(&self) -> RwLockReadGuard<'_, Option<Engine>> {
        self.engine.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `operation` on the open engine and notes a failure to write.
    fn with_engine<T>(
        &self,
        operation: impl FnOnce(&Engine) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let guard = self.engine();
        operation(guard.as_ref().ok_or_else(closed)?).inspect_err(|e| self.note(e))
    }

    /// After a failure for want of space: marks the store failed (`recover`).
    fn note(&self, error: &StoreError) {
        if let StoreError::Unavailable(why) = error {
            if !self.failed.swap(true, Ordering::SeqCst) {
                tracing::error!(%why, dir = %self.dir.display(), "the store cannot write: writes answer 503 until the disk can take them again");
            }
        }
    }

    /// After a failure to write: opens the database again, once the disk has room.
    /// Writes acknowledged before are durable and read back; a write that failed
    /// was never acknowledged.
    fn recover(&self) -> Result<(), StoreError> {
        let mut slot = self.engine.write().unwrap_or_else(|p| p.into_inner());
        if !self.failed.load(Ordering::SeqCst) && slot.is_some() {
            return Ok(()); // Another caller did it meanwhile.
        }
        room_to_write(&self.dir)?;
        // Closed first: sled holds a lock on its files until then.
        *slot = None;
        let engine = Engine::open(
            &self.dir,
            self.cache_bytes,
            self.committed.load(Ordering::SeqCst),
        )?;
        *slot = Some(engine);
        // What reads saw of the failed writes is gone: caches must not keep it.
        self.committed.fetch_add(1, Ordering::SeqCst);
        self.failed.store(false, Ordering::SeqCst);
        tracing::warn!(dir = %self.dir.display(), "the store writes again");
        Ok(())
    }

    /// Every key and value at one moment between transactions, for backups.
    pub fn export(&self) -> Result<Pairs, StoreError> {
        let _alone = self.consistency.write().unwrap_or_else(|p| p.into_inner());
        self.scan_prefix(b"")
    }

    /// Whether no record was ever written.
    pub fn is_empty(&self) -> bool {
        self.with_engine(|e| Ok(e.tree.is_empty())).unwrap_or(false)
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
        self.with_engine(|e| {
            e.tree.apply_batch(batch).map_err(engine)?;
            e.db.flush().map_err(engine)?;
            Ok(())
        })?;
        self.committed.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        self.with_engine(|e| e.db.flush().map(|_| ()).map_err(engine))
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
            UnabortableTransactionError::Storage(s) => classify(s),
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
        self.with_engine(|e| {
            e.tree
                .get(key)
                .map(|v| v.map(|v| v.to_vec()))
                .map_err(engine)
        })
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<Pairs, StoreError> {
        self.with_engine(|e| {
            e.tree
                .scan_prefix(prefix)
                .map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(engine))
                .collect()
        })
    }

    fn transaction(&self, work: &mut dyn FnMut(&dyn Tx) -> Result<(), Abort>) -> Result<(), Abort> {
        if self.failed.load(Ordering::SeqCst) {
            self.recover().map_err(Abort::Store)?;
        }
        let _shared = self.consistency.read().unwrap_or_else(|p| p.into_inner());
        let guard = self.engine();
        let tree = &guard
            .as_ref()
            .ok_or_else(closed)
            .map_err(Abort::Store)?
            .tree;
        let work = RefCell::new(work);
        let result = tree.transaction(|tree| {
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
        let result = result.map_err(|e| match e {
            sled::transaction::TransactionError::Abort(abort) => abort,
            sled::transaction::TransactionError::Storage(e) => Abort::Store(engine(e)),
        });
        if let Err(Abort::Store(e)) = &result {
            self.note(e);
        }
        result?;
        self.committed.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        let upto = self.committed.load(Ordering::SeqCst);
        let flusher = match self.failed.load(Ordering::SeqCst) {
            false => self.engine().as_ref().map(|e| e.flusher.clone()),
            true => None,
        };
        Box::pin(async move {
            // A failed store made nothing durable since: the write is not acknowledged.
            let flusher = flusher.ok_or_else(closed)?;
            let mut durable = flusher.durable.subscribe();
            flusher.request(upto);
            let reached = durable
                .wait_for(|d| !matches!(d, Durable::Upto(n) if *n < upto))
                .await
                // The engine was closed meanwhile, to be reopened.
                .map_err(|_| closed())?
                .clone();
            match reached {
                Durable::Upto(_) => Ok(()),
                Durable::Failed {
                    message,
                    unavailable,
                } => {
                    let error = if unavailable {
                        StoreError::Unavailable(message)
                    } else {
                        StoreError::Engine(format!("flush failed: {message}"))
                    };
                    self.note(&error);
                    Err(error)
                }
            }
        })
    }

    /// The committed transactions: counted after each commit, so a reader that
    /// sees a number also sees the writes it counts.
    fn version(&self) -> Soon<'_, Result<u64, StoreError>> {
        now(Ok(self.committed.load(Ordering::SeqCst)))
    }

    /// A read-only or nearly full disk, or a failed store that cannot reopen yet.
    fn writable(&self) -> Result<(), StoreError> {
        room_to_write(&self.dir)?;
        if self.failed.load(Ordering::SeqCst) {
            self.recover()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unfinished_snapshot_does_not_block_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SledStore::open(dir.path()).unwrap();
            store
                .transaction(&mut |tx| Ok(tx.insert(b"k", vec![1])?))
                .unwrap();
            store.flush().await.unwrap();
        }
        // What a start on a full disk left behind.
        std::fs::write(dir.path().join("snap.00000000000123AB.generating"), b"").unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        assert_eq!(store.get(b"k").unwrap(), Some(vec![1]));
        assert!(!dir.path().join("snap.00000000000123AB.generating").exists());
    }

    #[test]
    fn full_and_read_only_disks_are_told_apart_from_faults() {
        let full = std::io::Error::from_raw_os_error(libc::ENOSPC);
        let read_only = std::io::Error::from_raw_os_error(libc::EROFS);
        let other = std::io::Error::from_raw_os_error(libc::EIO);
        assert!(cannot_write_now(&full) && cannot_write_now(&read_only));
        assert!(!cannot_write_now(&other));
        assert!(matches!(
            classify(&sled::Error::Io(full)),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            classify(&sled::Error::Io(other)),
            StoreError::Engine(_)
        ));
    }

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
