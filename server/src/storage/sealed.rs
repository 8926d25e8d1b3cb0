//! Secrets at rest: a `Store` that seals every value with AES-256-GCM before the
//! engine sees it and opens it on the way back. Whatever a record holds (API token,
//! TOTP secret, invitation token, …) reaches the disk only sealed, under a key kept
//! outside the data directory. Keys name no email and no id either: each segment
//! after the index name (`email/<email>`, `members-of/<admin>/<user>`) is stored as
//! its keyed digest; SHA-256 digests of secrets (64 hex characters: sessions,
//! tokens) stay as they are, as they tell nothing. It wraps any engine, so sled can
//! be swapped without touching this or the core.

use crate::core::ports::{Abort, BoxFuture, Pairs, Random, Store, StoreError, Tx};
use crate::crypto::{is_sealed, OpenError, SealingKey};
use std::sync::Arc;

/// Sealed under the key: tells, at start, whether a key file is the data's key.
const KEY_CHECK: &[u8] = b"sealing-key-check";
const KEY_CHECK_TEXT: &[u8] = b"dokploy-auth sealed data";
/// Present once every key is stored with keyed digests for its emails and ids.
const KEYS_HASHED: &[u8] = b"index-keys-hashed";

/// A SHA-256 digest as the core writes it: 64 lowercase hex characters.
fn is_digest(segment: &[u8]) -> bool {
    segment.len() == 64
        && segment
            .iter()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

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
        let migrated = match store.inner.get(KEY_CHECK)? {
            Some(check) => match store.key.open(KEY_CHECK, &check) {
                // The check is written in the transaction that sealed every plain
                // value, and every write since was sealed: nothing to migrate, and
                // no scan of the whole store at each start (it filled memory with
                // every record and took seconds at 100,000 accounts).
                Ok(text) if text == KEY_CHECK_TEXT => 0,
                _ => return Err(KeyError::WrongKey),
            },
            None => store.seal_plain_values()?,
        };
        store.hash_index_keys()?;
        Ok((store, migrated))
    }

    /// The key the engine stores for `key`: each segment after the index name that
    /// is not a digest replaced by its keyed digest (see the module's comment).
    fn stored_key(&self, key: &[u8]) -> Vec<u8> {
        let Some(slash) = key.iter().position(|&b| b == b'/') else {
            return key.to_vec();
        };
        let (name, segments) = (&key[..slash], &key[slash + 1..]);
        let mut stored = name.to_vec();
        for segment in segments.split(|&b| b == b'/') {
            stored.push(b'/');
            if segment.is_empty() || is_digest(segment) {
                stored.extend_from_slice(segment);
            } else {
                stored.extend_from_slice(self.key.index_name(name, segment).as_bytes());
            }
        }
        stored
    }

    /// Moves, in one transaction, every key written before keys were hashed to its
    /// stored form (its value sealed again, bound to the new key); once: a marker
    /// says it was done. An index entry's empty value takes the last segment of its
    /// key, which the key no longer shows (the core reads it from the value).
    fn hash_index_keys(&self) -> Result<usize, StoreError> {
        if self.inner.get(KEYS_HASHED)?.is_some() {
            return Ok(0);
        }
        let mut moves = Vec::new();
        for (key, value) in self.inner.scan_prefix(b"")? {
            let stored = self.stored_key(&key);
            if key == KEY_CHECK || stored == key {
                continue;
            }
            let mut plain = self.key.open(&key, &value)?;
            if plain.is_empty() {
                if let Some(last) = key.rsplit(|&b| b == b'/').next() {
                    plain = last.to_vec();
                }
            }
            moves.push((key, stored, plain));
        }
        let marker = self.key.seal(&*self.random, KEYS_HASHED, b"1");
        let result = self.inner.transaction(&mut |tx| {
            for (key, stored, plain) in &moves {
                tx.remove(key)?;
                tx.insert(stored, self.key.seal(&*self.random, stored, plain))?;
            }
            tx.insert(KEYS_HASHED, marker.clone())?;
            Ok(())
        });
        match result {
            Ok(()) => Ok(moves.len()),
            Err(Abort::Store(e)) => Err(e),
            Err(Abort::Refused(e)) => Err(StoreError::Engine(e.to_string())),
        }
    }

    /// Seals, in one transaction, every value written before sealing began, and
    /// writes the key check, unless another process (an instance starting at the
    /// same time on the same database) wrote one first: its key must be this one.
    fn seal_plain_values(&self) -> Result<usize, KeyError> {
        let plain: Pairs = self
            .inner
            .scan_prefix(b"")?
            .into_iter()
            .filter(|(_, value)| !is_sealed(value))
            .collect();
        let check = self.key.seal(&*self.random, KEY_CHECK, KEY_CHECK_TEXT);
        let mut written_first = None;
        let result = self.inner.transaction(&mut |tx| {
            // Read in the transaction: of two writing it at once, one runs again.
            written_first = tx.get(KEY_CHECK)?;
            if written_first.is_some() {
                return Ok(());
            }
            for (key, value) in &plain {
                tx.insert(key, self.key.seal(&*self.random, key, value))?;
            }
            tx.insert(KEY_CHECK, check.clone())?;
            Ok(())
        });
        match result {
            Ok(()) => match written_first {
                None => Ok(plain.len()),
                Some(theirs) => match self.key.open(KEY_CHECK, &theirs) {
                    Ok(text) if text == KEY_CHECK_TEXT => Ok(0),
                    _ => Err(KeyError::WrongKey),
                },
            },
            Err(Abort::Store(e)) => Err(e.into()),
            Err(Abort::Refused(e)) => Err(StoreError::Engine(e.to_string()).into()),
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
        let key = self.store.stored_key(key);
        self.inner
            .get(&key)?
            .map(|v| self.store.open_value(&key, v))
            .transpose()
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> Result<(), StoreError> {
        let key = self.store.stored_key(key);
        let sealed = self.store.key.seal(&*self.store.random, &key, &value);
        self.inner.insert(&key, sealed)
    }

    fn remove(&self, key: &[u8]) -> Result<(), StoreError> {
        self.inner.remove(&self.store.stored_key(key))
    }
}

impl Store for SealedStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let key = self.stored_key(key);
        self.inner
            .get(&key)?
            .map(|v| self.open_value(&key, v))
            .transpose()
    }

    fn get_async(&self, key: &[u8]) -> BoxFuture<'_, Result<Option<Vec<u8>>, StoreError>> {
        let key = self.stored_key(key);
        Box::pin(async move {
            self.inner
                .get_async(&key)
                .await?
                .map(|v| self.open_value(&key, v))
                .transpose()
        })
    }

    /// The pairs under `prefix`, which ends at a segment boundary (`members-of/<id>/`),
    /// with their keys as stored: an email or an id in them is a keyed digest.
    fn scan_prefix(&self, prefix: &[u8]) -> Result<Pairs, StoreError> {
        self.inner
            .scan_prefix(&self.stored_key(prefix))?
            .into_iter()
            .filter(|(key, _)| key != KEY_CHECK && key != KEYS_HASHED)
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

    fn version(&self) -> BoxFuture<'_, Result<u64, StoreError>> {
        self.inner.version()
    }

    fn shared(&self) -> bool {
        self.inner.shared()
    }

    fn writable(&self) -> Result<(), StoreError> {
        self.inner.writable()
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
        assert!(
            engine.get(b"account/1").unwrap().is_none(),
            "the id is not in the key"
        );
        let raw = engine.scan_prefix(b"account/").unwrap();
        assert_eq!(raw.len(), 1);
        assert!(is_sealed(&raw[0].1));
        assert_eq!(
            sealed.scan_prefix(b"").unwrap().len(),
            1,
            "the key check and the marker are hidden"
        );
    }

    /// Everything the engine holds, keys and values, as text.
    fn raw_text(engine: &MemoryStore) -> String {
        let pairs = engine.scan_prefix(b"").unwrap();
        let bytes: Vec<u8> = pairs
            .into_iter()
            .flat_map(|(k, v)| [k, v].concat())
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[test]
    fn keys_name_no_email_and_no_id_and_indexes_still_scan() {
        let random: Arc<dyn Random> = Arc::new(OsRandom::new());
        let engine = Arc::new(MemoryStore::default());
        // Written before keys were hashed: an index entry with an empty value.
        write(&*engine, b"email/owner@example.com", b"admin-id-0001");
        write(&*engine, b"members-of/admin-id-0001/user-id-0002", b"");
        let digest = "ab".repeat(32);
        let session = format!("sessions-of/admin-id-0001/{digest}");
        write(&*engine, session.as_bytes(), b"");
        let (_, key) = SealingKey::generate(&*random);
        let (sealed, _) = SealedStore::open(engine.clone(), key, random).unwrap();
        let raw = raw_text(&engine);
        for clear in ["owner@example.com", "admin-id-0001", "user-id-0002"] {
            assert!(!raw.contains(clear), "{clear} in the engine");
        }
        assert!(raw.contains(&digest), "a digest of a secret stays as it is");
        assert_eq!(
            sealed.get(b"email/owner@example.com").unwrap().unwrap(),
            b"admin-id-0001"
        );
        let members = sealed.scan_prefix(b"members-of/admin-id-0001/").unwrap();
        assert_eq!(members.len(), 1);
        assert_eq!(
            members[0].1, b"user-id-0002",
            "the hidden segment, kept as the value"
        );
        let sessions = sealed.scan_prefix(b"sessions-of/admin-id-0001/").unwrap();
        assert!(sessions[0].0.ends_with(digest.as_bytes()));
        assert!(sealed
            .scan_prefix(b"members-of/someone-else/")
            .unwrap()
            .is_empty());
        // Written after: the same.
        write(&sealed, b"email/second@example.com", b"x");
        assert!(!raw_text(&engine).contains("second@example.com"));
        assert_eq!(
            sealed.get(b"email/second@example.com").unwrap().unwrap(),
            b"x"
        );
    }

    /// Data as the server wrote it before keys were hashed: values sealed, bound to
    /// plain keys, the key check present. It opens, moved to hashed keys, once.
    #[test]
    fn sealed_data_with_plain_keys_is_moved_once() {
        let random: Arc<dyn Random> = Arc::new(OsRandom::new());
        let engine = Arc::new(MemoryStore::default());
        let (bytes, key) = SealingKey::generate(&*random);
        let sealed_write = |k: &[u8], v: &[u8]| write(&*engine, k, &key.seal(&*random, k, v));
        sealed_write(KEY_CHECK, KEY_CHECK_TEXT);
        sealed_write(b"email/owner@example.com", b"admin-id-0001");
        sealed_write(b"members-of/admin-id-0001/user-id-0002", b"");
        let (sealed, migrated) = SealedStore::open(engine.clone(), key, random.clone()).unwrap();
        assert_eq!(migrated, 0, "the values were sealed already");
        assert!(!raw_text(&engine).contains("owner@example.com"));
        assert_eq!(
            sealed.get(b"email/owner@example.com").unwrap().unwrap(),
            b"admin-id-0001"
        );
        let members = sealed.scan_prefix(b"members-of/admin-id-0001/").unwrap();
        assert_eq!(members[0].1, b"user-id-0002");
        drop(sealed);
        let before = raw_text(&engine);
        let key = SealingKey::from_bytes(&bytes);
        let (again, _) = SealedStore::open(engine.clone(), key, random).unwrap();
        assert_eq!(raw_text(&engine), before, "nothing moves at the next start");
        assert_eq!(again.scan_prefix(b"email/").unwrap().len(), 1);
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
        assert!(
            engine.get(b"account/1").unwrap().is_none(),
            "moved to its hashed key"
        );
        let raw = engine.scan_prefix(b"account/").unwrap();
        assert!(is_sealed(&raw[0].1));
        assert!(!raw_text(&engine).contains("a@b.co"));
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
        fn version(&self) -> BoxFuture<'_, Result<u64, StoreError>> {
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
