//! Secrets at rest: a `Store` that seals every value with AES-256-GCM before the
//! engine sees it and opens it on the way back. Whatever a record holds (API token,
//! TOTP secret, invitation token, …) reaches the disk only sealed, under a key kept
//! outside the data directory; keys hold only ids, emails and digests. It wraps any
//! engine, so sled can be swapped without touching this or the core.

use crate::core::ports::{Abort, BoxFuture, Pairs, Random, Store, StoreError, Tx};
use crate::crypto::{is_sealed, OpenError, SealingKey};
use std::sync::Arc;

/// Sealed under the key: tells, at start, whether a key file is the data's key.
const KEY_CHECK: &[u8] = b"sealing-key-check";
const KEY_CHECK_TEXT: &[u8] = b"dokploy-auth sealed data";

pub struct SealedStore {
    inner: Arc<dyn Store>,
    key: SealingKey,
    random: Arc<dyn Random>,
}

/// What opening a data directory with a key found.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the data was sealed with another key")]
    WrongKey,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<OpenError> for StoreError {
    fn from(e: OpenError) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

/// Whether `store` holds data sealed by some key (so that key is needed to read it).
pub fn holds_sealed_data(store: &dyn Store) -> Result<bool, StoreError> {
    Ok(store.get(KEY_CHECK)?.is_some())
}

impl SealedStore {
    /// Wraps `inner` and makes sure every value in it is sealed under `key`: checks
    /// the key against data sealed before, and seals (migrates) any value written
    /// before sealing began. Returns the store and how many values it migrated.
    pub fn open(
        inner: Arc<dyn Store>,
        key: SealingKey,
        random: Arc<dyn Random>,
    ) -> Result<(SealedStore, usize), KeyError> {
        let store = SealedStore { inner, key, random };
        if let Some(check) = store.inner.get(KEY_CHECK)? {
            return match store.key.open(KEY_CHECK, &check) {
                // The check is written in the transaction that sealed every plain
                // value, and every write since was sealed: nothing to migrate, and
                // no scan of the whole store at each start (it filled memory with
                // every record and took seconds at 100,000 accounts).
                Ok(text) if text == KEY_CHECK_TEXT => Ok((store, 0)),
                _ => Err(KeyError::WrongKey),
            };
        }
        let migrated = store.seal_plain_values()?;
        Ok((store, migrated))
    }

    /// Seals, in one transaction, every value written before sealing began, and
    /// writes the key check.
    fn seal_plain_values(&self) -> Result<usize, StoreError> {
        let plain: Pairs = self
            .inner
            .scan_prefix(b"")?
            .into_iter()
            .filter(|(_, value)| !is_sealed(value))
            .collect();
        let check = self.key.seal(&*self.random, KEY_CHECK, KEY_CHECK_TEXT);
        let result = self.inner.transaction(&mut |tx| {
            for (key, value) in &plain {
                tx.insert(key, self.key.seal(&*self.random, key, value))?;
            }
            tx.insert(KEY_CHECK, check.clone())?;
            Ok(())
        });
        match result {
            Ok(()) => Ok(plain.len()),
            Err(Abort::Store(e)) => Err(e),
            Err(Abort::Refused(e)) => Err(StoreError::Engine(e.to_string())),
        }
    }

    fn open_value(&self, key: &[u8], value: Vec<u8>) -> Result<Vec<u8>, StoreError> {
        Ok(self.key.open(key, &value)?)
    }
}

struct SealedTx<'a> {
    inner: &'a dyn Tx,
    store: &'a SealedStore,
}

impl Tx for SealedTx<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner
            .get(key)?
            .map(|v| self.store.open_value(key, v))
            .transpose()
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> Result<(), StoreError> {
        let sealed = self.store.key.seal(&*self.store.random, key, &value);
        self.inner.insert(key, sealed)
    }

    fn remove(&self, key: &[u8]) -> Result<(), StoreError> {
        self.inner.remove(key)
    }
}

impl Store for SealedStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner
            .get(key)?
            .map(|v| self.open_value(key, v))
            .transpose()
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<Pairs, StoreError> {
        self.inner
            .scan_prefix(prefix)?
            .into_iter()
            .filter(|(key, _)| key != KEY_CHECK)
            .map(|(key, value)| {
                let value = self.open_value(&key, value)?;
                Ok((key, value))
            })
            .collect()
    }

    fn transaction(&self, work: &mut dyn FnMut(&dyn Tx) -> Result<(), Abort>) -> Result<(), Abort> {
        self.inner.transaction(&mut |tx| {
            work(&SealedTx {
                inner: tx,
                store: self,
            })
        })
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        self.inner.flush()
    }

    fn version(&self) -> u64 {
        self.inner.version()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::OsRandom;
    use crate::storage::MemoryStore;

    fn write(store: &dyn Store, key: &[u8], value: &[u8]) {
        store
            .transaction(&mut |tx| {
                tx.insert(key, value.to_vec())?;
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn values_are_sealed_below_and_plain_above() {
        let random: Arc<dyn Random> = Arc::new(OsRandom::new());
        let engine = Arc::new(MemoryStore::default());
        let (_, key) = SealingKey::generate(&*random);
        let (sealed, migrated) = SealedStore::open(engine.clone(), key, random).unwrap();
        assert_eq!(migrated, 0);
        write(&sealed, b"account/1", b"{\"apiToken\":\"hunter2hunter2\"}");
        assert_eq!(
            sealed.get(b"account/1").unwrap().unwrap(),
            b"{\"apiToken\":\"hunter2hunter2\"}"
        );
        let raw = engine.get(b"account/1").unwrap().unwrap();
        assert!(is_sealed(&raw));
        assert_eq!(
            sealed.scan_prefix(b"").unwrap().len(),
            1,
            "the key check is hidden"
        );
    }

    #[test]
    fn plain_data_is_migrated_and_a_wrong_key_refused() {
        let random: Arc<dyn Random> = Arc::new(OsRandom::new());
        let engine = Arc::new(MemoryStore::default());
        write(
            &*engine,
            b"account/1",
            b"{\"totpSecret\":\"JBSWY3DPEHPK3PXP\"}",
        );
        write(&*engine, b"email/a@b.co", b"\"1\"");
        let (bytes, key) = SealingKey::generate(&*random);
        let (sealed, migrated) = SealedStore::open(engine.clone(), key, random.clone()).unwrap();
        assert_eq!(migrated, 2);
        assert!(is_sealed(&engine.get(b"account/1").unwrap().unwrap()));
        assert_eq!(sealed.get(b"email/a@b.co").unwrap().unwrap(), b"\"1\"");
        drop(sealed);
        let (_, again) = SealedStore::open(
            engine.clone(),
            SealingKey::from_bytes(&bytes),
            random.clone(),
        )
        .unwrap();
        assert_eq!(again, 0, "nothing left to migrate");
        let (_, other) = SealingKey::generate(&*random);
        assert!(matches!(
            SealedStore::open(engine.clone(), other, random),
            Err(KeyError::WrongKey)
        ));
        assert!(holds_sealed_data(&*engine).unwrap());
    }

    /// An engine that counts whole-store scans.
    #[derive(Default)]
    struct CountsScans {
        inner: MemoryStore,
        scans: std::sync::atomic::AtomicUsize,
    }

    impl Store for CountsScans {
        fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
            self.inner.get(key)
        }
        fn scan_prefix(&self, prefix: &[u8]) -> Result<Pairs, StoreError> {
            self.scans.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.inner.scan_prefix(prefix)
        }
        fn transaction(
            &self,
            work: &mut dyn FnMut(&dyn Tx) -> Result<(), Abort>,
        ) -> Result<(), Abort> {
            self.inner.transaction(work)
        }
        fn flush(&self) -> BoxFuture<'_, Result<(), StoreError>> {
            self.inner.flush()
        }
        fn version(&self) -> u64 {
            self.inner.version()
        }
    }

    #[test]
    fn sealed_data_opens_without_reading_every_record() {
        let random: Arc<dyn Random> = Arc::new(OsRandom::new());
        let engine = Arc::new(CountsScans::default());
        let (bytes, key) = SealingKey::generate(&*random);
        let (sealed, _) = SealedStore::open(engine.clone(), key, random.clone()).unwrap();
        write(&sealed, b"account/1", b"{}");
        let first_open = engine.scans.load(std::sync::atomic::Ordering::SeqCst);
        drop(sealed);
        let (sealed, migrated) =
            SealedStore::open(engine.clone(), SealingKey::from_bytes(&bytes), random).unwrap();
        assert_eq!(migrated, 0);
        assert_eq!(
            engine.scans.load(std::sync::atomic::Ordering::SeqCst),
            first_open,
            "a second open scanned the store"
        );
        assert_eq!(sealed.get(b"account/1").unwrap().unwrap(), b"{}");
    }
}
