//! sled 0.34 behind the core's `Store` trait: one tree, multi-key transactions,
//! `flush_async` for durability (sled makes a write durable only at a flush).

use crate::core::ports::{Abort, BoxFuture, Pairs, Store, StoreError, Tx};
use sled::transaction::{
    ConflictableTransactionError, TransactionalTree, UnabortableTransactionError,
};
use std::cell::RefCell;
use std::path::Path;

pub struct SledStore {
    db: sled::Db,
    tree: sled::Tree,
    /// Transactions share it; an export holds it alone, so a backup sees no half
    /// of a transaction.
    consistency: std::sync::RwLock<()>,
}

fn engine(e: sled::Error) -> StoreError {
    StoreError::Engine(e.to_string())
}

impl SledStore {
    pub fn open(dir: &Path) -> Result<SledStore, StoreError> {
        let db = sled::Config::new().path(dir).open().map_err(engine)?;
        let tree = db.open_tree("auth").map_err(engine)?;
        Ok(SledStore {
            db,
            tree,
            consistency: std::sync::RwLock::new(()),
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
        })
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move { self.db.flush_async().await.map(|_| ()).map_err(engine) })
    }
}
