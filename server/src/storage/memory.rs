//! An in-memory `Store` (the mock's, and the core's tests'). Transactions take one
//! lock and stage their writes, so they are atomic and serial.

use super::StagedWrites;
use crate::core::ports::{now, Abort, BoxFuture, Pairs, Soon, Store, StoreError, Tx};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

#[derive(Default)]
pub struct MemoryStore {
    map: Mutex<BTreeMap<Vec<u8>, Vec<u8>>>,
    /// Bumped under the lock after every change (see `Store::version`).
    version: AtomicU64,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// Forgets everything.
    pub fn clear(&self) {
        let mut map = self.lock();
        map.clear();
        self.version.fetch_add(1, Ordering::SeqCst);
    }

    /// Number of keys stored (records and indexes).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Vec<u8>, Vec<u8>>> {
        // A panic while holding the lock cannot leave a half-applied transaction
        // (writes are staged), so the map is still consistent.
        self.map
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

struct Staged<'a> {
    base: &'a BTreeMap<Vec<u8>, Vec<u8>>,
    writes: StagedWrites,
}

impl Tx for Staged<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(match self.writes.get(key) {
            Some(staged) => staged,
            None => self.base.get(key).cloned(),
        })
    }
    fn insert(&self, key: &[u8], value: Vec<u8>) -> Result<(), StoreError> {
        self.writes.insert(key, value);
        Ok(())
    }
    fn remove(&self, key: &[u8]) -> Result<(), StoreError> {
        self.writes.remove(key);
        Ok(())
    }
}

impl Store for MemoryStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock().get(key).cloned())
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<Pairs, StoreError> {
        Ok(self
            .lock()
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn transaction(&self, work: &mut dyn FnMut(&dyn Tx) -> Result<(), Abort>) -> Result<(), Abort> {
        let mut map = self.lock();
        let staged = Staged {
            base: &map,
            writes: StagedWrites::default(),
        };
        work(&staged)?;
        let writes = staged.writes.into_writes();
        if writes.is_empty() {
            return Ok(());
        }
        for (key, value) in writes {
            match value {
                Some(value) => map.insert(key, value),
                None => map.remove(&key),
            };
        }
        self.version.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }

    fn version(&self) -> Soon<'_, Result<u64, StoreError>> {
        now(Ok(self.version.load(Ordering::SeqCst)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use specs::ApiError;

    #[test]
    fn aborted_transactions_write_nothing() {
        let store = MemoryStore::new();
        let result = store.transaction(&mut |tx| {
            tx.insert(b"a", b"1".to_vec())?;
            Err(Abort::Refused(ApiError::bad_request("no")))
        });
        assert!(result.is_err());
        assert_eq!(store.get(b"a").unwrap(), None);
        store
            .transaction(&mut |tx| {
                tx.insert(b"a/1", b"1".to_vec())?;
                tx.insert(b"a/2", b"2".to_vec())?;
                tx.insert(b"b", b"3".to_vec())?;
                assert_eq!(tx.get(b"a/1")?, Some(b"1".to_vec()));
                Ok(())
            })
            .unwrap();
        assert_eq!(store.scan_prefix(b"a/").unwrap().len(), 2);
    }
}
