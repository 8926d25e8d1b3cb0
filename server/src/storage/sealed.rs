//! Secrets at rest: a `Store` that seals every value with AES-256-GCM before the
//! engine sees it and opens it on the way back. Whatever a record holds (API token,
//! TOTP secret, invitation token, …) reaches the disk only sealed, under a key kept
//! outside the data directory. Keys name no email and no id either: each segment
//! after the index name (`email/<email>`, `members-of/<admin>/<user>`) is stored as
//! its keyed digest; SHA-256 digests of secrets (64 hex characters: sessions,
//! tokens) stay as they are, as they tell nothing. It wraps any engine, so sled can
//! be swapped without touching this or the core.

use crate::core::ports::{Abort, BoxFuture, Pairs, Random, Soon, Store, StoreError, Tx};
use crate::crypto::{is_sealed, sealed_by, IndexKey, KeyId, KeyRing, OpenError, Sealer};
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock, RwLock};

/// Sealed under the key: tells, at start, whether a key file is the data's key.
const KEY_CHECK: &[u8] = b"sealing-key-check";
const KEY_CHECK_TEXT: &[u8] = b"dokploy-auth sealed data";
/// The index key's secret, sealed like any value: it goes with the data (a backup,
/// a migration) and is sealed again by a rotation, so the key file holds sealing
/// keys alone.
const INDEX_KEY: &[u8] = b"index-key";
/// Present once every key is stored with keyed digests for its emails and ids.
const KEYS_HASHED: &[u8] = b"index-keys-hashed";
/// Keys a re-sealing transaction rewrites at most: short transactions beside the
/// instances' own.
const RESEAL_BATCH: usize = 256;

/// A SHA-256 digest as the core writes it: 64 lowercase hex characters.
fn is_digest(segment: &[u8]) -> bool {
    segment.len() == 64
        && segment
            .iter()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Reads the key file again if it changed since last read: a new ring, or `None`.
pub type RingReloader = Box<dyn Fn() -> Option<KeyRing> + Send + Sync>;

pub struct SealedStore {
    inner: Arc<dyn Store>,
    ring: RwLock<Arc<KeyRing>>,
    /// Set once `open` has read it from the data.
    index: OnceLock<IndexKey>,
    random: Arc<dyn Random>,
    reload: OnceLock<RingReloader>,
    /// Held while the key file is read again and its ring put in place: a thread
    /// that meets a value under a key its ring lacks while another is reading the
    /// changed file waits for that ring instead of finding the file unchanged.
    reloading: std::sync::Mutex<()>,
}

/// What opening a data directory with a key found.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the data was sealed with another key")]
    WrongKey(Option<KeyId>),
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

fn abort_to_store(abort: Abort) -> StoreError {
    match abort {
        Abort::Store(e) => e,
        Abort::Refused(e) => StoreError::Engine(e.to_string()),
    }
}

impl SealedStore {
    /// Wraps `inner` and makes sure every value in it is sealed under `ring`:
    /// checks the keys against data sealed before, and seals (migrates) any value
    /// written before sealing began. Returns the store and how many values it
    /// migrated.
    pub fn open(
        inner: Arc<dyn Store>,
        ring: KeyRing,
        random: Arc<dyn Random>,
    ) -> Result<(SealedStore, usize), KeyError> {
        let store = SealedStore {
            inner,
            ring: RwLock::new(Arc::new(ring)),
            index: OnceLock::new(),
            random,
            reload: OnceLock::new(),
            reloading: std::sync::Mutex::new(()),
        };
        let migrated = match store.inner.get(KEY_CHECK)? {
            Some(check) => match store.ring().open(KEY_CHECK, &check) {
                // The check is written in the transaction that sealed every plain
                // value, and every write since was sealed: nothing to migrate, and
                // no scan of the whole store at each start (it filled memory with
                // every record and took seconds at 100,000 accounts).
                Ok(text) if text == KEY_CHECK_TEXT => 0,
                Err(OpenError::UnknownKey(id)) => return Err(KeyError::WrongKey(Some(id))),
                _ => return Err(KeyError::WrongKey(None)),
            },
            None => store.seal_plain_values()?,
        };
        let index = store.index_key()?;
        let _ = store.index.set(index);
        store.hash_index_keys()?;
        Ok((store, migrated))
    }

    /// The ring in use: the key file's, as last read.
    fn ring(&self) -> Arc<KeyRing> {
        self.ring.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Reads the key file again when it changes (`reload` says whether it did);
    /// also tried when a value is sealed under a key the ring lacks.
    pub fn reload_with(&self, reload: RingReloader) {
        let _ = self.reload.set(reload);
    }

    /// Takes the key file's ring if it changed; whether it did.
    pub fn reload_ring(&self) -> bool {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|p| p.into_inner());
        let Some(ring) = self.reload.get().and_then(|reload| reload()) else {
            return false;
        };
        tracing::info!(sealing_key = %ring.sealing_id(), "read the key file again: new values are sealed under its sealing key");
        self.use_ring(ring);
        true
    }

    /// Seals and opens under `ring` from now on.
    pub fn use_ring(&self, ring: KeyRing) {
        *self.ring.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(ring);
    }

    /// The data's index key; data from before it was stored gets the one derived
    /// from the key that sealed it (its key check opened: the key file's one key).
    fn index_key(&self) -> Result<IndexKey, StoreError> {
        let sealed = match self.inner.get(INDEX_KEY)? {
            Some(sealed) => sealed,
            None => {
                let ring = self.ring();
                let derived = ring.seal(&*self.random, INDEX_KEY, &ring.derived_index_secret());
                let mut stored = derived.clone();
                self.inner
                    .transaction(&mut |tx| {
                        match tx.get(INDEX_KEY)? {
                            Some(theirs) => stored = theirs,
                            None => tx.insert(INDEX_KEY, derived.clone())?,
                        }
                        Ok(())
                    })
                    .map_err(abort_to_store)?;
                stored
            }
        };
        let secret = self.open_value(INDEX_KEY, sealed)?;
        let secret = <[u8; IndexKey::LEN]>::try_from(secret)
            .map_err(|_| StoreError::Corrupt("the stored index key is not 32 bytes".into()))?;
        Ok(IndexKey::from_secret(&secret))
    }

    /// The key the engine stores for `key`: each segment after the index name that
    /// is not a digest replaced by its keyed digest (see the module's comment).
    fn stored_key(&self, key: &[u8]) -> Vec<u8> {
        let Some(slash) = key.iter().position(|&b| b == b'/') else {
            return key.to_vec();
        };
        let index = self.index.get().expect("open reads the index key first");
        let (name, segments) = (&key[..slash], &key[slash + 1..]);
        let mut stored = name.to_vec();
        for segment in segments.split(|&b| b == b'/') {
            stored.push(b'/');
            if segment.is_empty() || is_digest(segment) {
                stored.extend_from_slice(segment);
            } else {
                stored.extend_from_slice(index.name(name, segment).as_bytes());
            }
        }
        stored
    }

    fn is_marker(key: &[u8]) -> bool {
        key == KEY_CHECK || key == INDEX_KEY || key == KEYS_HASHED
    }

    /// Moves, in one transaction, every key written before keys were hashed to its
    /// stored form (its value sealed again, bound to the new key); once: a marker
    /// says it was done. An index entry's empty value takes the last segment of its
    /// key, which the key no longer shows (the core reads it from the value).
    fn hash_index_keys(&self) -> Result<usize, StoreError> {
        if self.inner.get(KEYS_HASHED)?.is_some() {
            return Ok(0);
        }
        let ring = self.ring();
        let mut moves = Vec::new();
        for (key, value) in self.inner.scan_prefix(b"")? {
            let stored = self.stored_key(&key);
            if Self::is_marker(&key) || stored == key {
                continue;
            }
            let mut plain = ring.open(&key, &value)?;
            if plain.is_empty() {
                if let Some(last) = key.rsplit(|&b| b == b'/').next() {
                    plain = last.to_vec();
                }
            }
            moves.push((key, stored, plain));
        }
        let marker = ring.seal(&*self.random, KEYS_HASHED, b"1");
        self.inner
            .transaction(&mut |tx| {
                for (key, stored, plain) in &moves {
                    tx.remove(key)?;
                    tx.insert(stored, ring.seal(&*self.random, stored, plain))?;
                }
                tx.insert(KEYS_HASHED, marker.clone())?;
                Ok(())
            })
            .map_err(abort_to_store)?;
        Ok(moves.len())
    }

    /// Seals, in one transaction, every value written before sealing began, and
    /// writes the key check, unless another process (an instance starting at the
    /// same time on the same database) wrote one first: its key must be this one.
    fn seal_plain_values(&self) -> Result<usize, KeyError> {
        let ring = self.ring();
        let plain: Pairs = self
            .inner
            .scan_prefix(b"")?
            .into_iter()
            .filter(|(_, value)| !is_sealed(value))
            .collect();
        let check = ring.seal(&*self.random, KEY_CHECK, KEY_CHECK_TEXT);
        let index = ring.seal(
            &*self.random,
            INDEX_KEY,
            &crate::crypto::random_bytes::<{ IndexKey::LEN }>(&*self.random),
        );
        let mut written_first = None;
        self.inner
            .transaction(&mut |tx| {
                // Read in the transaction: of two writing it at once, one runs again.
                written_first = tx.get(KEY_CHECK)?;
                if written_first.is_some() {
                    return Ok(());
                }
                for (key, value) in &plain {
                    tx.insert(key, ring.seal(&*self.random, key, value))?;
                }
                tx.insert(KEY_CHECK, check.clone())?;
                tx.insert(INDEX_KEY, index.clone())?;
                Ok(())
            })
            .map_err(abort_to_store)?;
        match written_first {
            None => Ok(plain.len()),
            Some(theirs) => match ring.open(KEY_CHECK, &theirs) {
                Ok(text) if text == KEY_CHECK_TEXT => Ok(0),
                Err(OpenError::UnknownKey(id)) => Err(KeyError::WrongKey(Some(id))),
                _ => Err(KeyError::WrongKey(None)),
            },
        }
    }

    fn open_value(&self, key: &[u8], value: Vec<u8>) -> Result<Vec<u8>, StoreError> {
        match self.ring().open(key, &value) {
            // Sealed under a key this ring lacks (named, or unnamed by a ring of one
            // key): another instance may have read a rotated key file first. Opened
            // again with the ring in place after the reload, whoever made it (the
            // watch, or another request at the same moment).
            Err(_) => {
                self.reload_ring();
                Ok(self.ring().open(key, &value)?)
            }
            opened => Ok(opened?),
        }
    }

    fn seal_value(&self, key: &[u8], value: &[u8]) -> Vec<u8> {
        self.ring().seal(&*self.random, key, value)
    }

    /// How many stored values each key sealed (the markers included).
    pub fn count_by_key(&self) -> Result<BTreeMap<Sealer, usize>, StoreError> {
        let mut counts = BTreeMap::new();
        for (_, value) in self.inner.scan_prefix(b"")? {
            if let Some(sealer) = sealed_by(&value) {
                *counts.entry(sealer).or_insert(0) += 1;
            }
        }
        Ok(counts)
    }

    /// Seals again, under the ring's sealing key, every value not sealed as the
    /// ring seals, in short transactions while the instances serve: each value is
    /// read again in its transaction, so a write of theirs in between is never
    /// undone. Returns how many it sealed again.
    pub fn reseal(&self) -> Result<usize, StoreError> {
        let ring = self.ring();
        let current = ring.sealer();
        let stale: Vec<Vec<u8>> = self
            .inner
            .scan_prefix(b"")?
            .into_iter()
            .filter(|(_, value)| sealed_by(value).is_some_and(|s| s != current))
            .map(|(key, _)| key)
            .collect();
        let (mut resealed, mut rest, mut size) = (0, &stale[..], RESEAL_BATCH);
        while !rest.is_empty() {
            let batch = &rest[..size.min(rest.len())];
            match self.reseal_batch(&ring, batch) {
                Ok(count) => {
                    resealed += count;
                    rest = &rest[batch.len()..];
                    size = (size * 2).min(RESEAL_BATCH);
                }
                // Losing conflict after conflict to the instances' writes (logins
                // beside a rotation): fewer keys a transaction meet fewer of them.
                Err(StoreError::Unavailable(_)) if size > 1 => size /= 2,
                Err(e) => return Err(e),
            }
        }
        Ok(resealed)
    }

    /// Seals `keys` again under `ring` in one transaction; how many were not sealed
    /// as it seals.
    fn reseal_batch(&self, ring: &KeyRing, keys: &[Vec<u8>]) -> Result<usize, StoreError> {
        let current = ring.sealer();
        let mut count = 0;
        self.inner
            .transaction(&mut |tx| {
                count = 0;
                for key in keys {
                    let Some(value) = tx.get(key)? else { continue };
                    if sealed_by(&value) == Some(current) {
                        continue;
                    }
                    let plain = ring.open(key, &value).map_err(StoreError::from)?;
                    tx.insert(key, ring.seal(&*self.random, key, &plain))?;
                    count += 1;
                }
                Ok(())
            })
            .map_err(abort_to_store)?;
        Ok(count)
    }

    #[cfg(test)]
    pub(crate) fn inner_for_tests(&self) -> Arc<dyn Store> {
        self.inner.clone()
    }

    /// The id of the key that seals new values.
    pub fn sealing_id(&self) -> KeyId {
        self.ring().sealing_id()
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
        let sealed = self.store.seal_value(&key, &value);
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

    fn get_many(&self, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let keys: Vec<Vec<u8>> = keys.iter().map(|key| self.stored_key(key)).collect();
        let values = self.inner.get_many(&keys)?;
        keys.iter()
            .zip(values)
            .map(|(key, value)| value.map(|v| self.open_value(key, v)).transpose())
            .collect()
    }

    /// The pairs under `prefix`, which ends at a segment boundary (`members-of/<id>/`),
    /// with their keys as stored: an email or an id in them is a keyed digest.
    fn scan_prefix(&self, prefix: &[u8]) -> Result<Pairs, StoreError> {
        self.inner
            .scan_prefix(&self.stored_key(prefix))?
            .into_iter()
            .filter(|(key, _)| !Self::is_marker(key))
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

    fn version(&self) -> Soon<'_, Result<u64, StoreError>> {
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
pub(crate) mod tests {
    use super::*;
    use crate::crypto::{OsRandom, SealingKey};
    use crate::storage::MemoryStore;

    pub(crate) fn write(store: &dyn Store, key: &[u8], value: &[u8]) {
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
        let key = KeyRing::single(&SealingKey::generate(&*random));
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
        let key = KeyRing::single(&SealingKey::generate(&*random));
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
        let bytes = SealingKey::generate(&*random);
        let key = KeyRing::single(&bytes);
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
        let key = KeyRing::single(&bytes);
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
        let bytes = SealingKey::generate(&*random);
        let key = KeyRing::single(&bytes);
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
        let (_, again) =
            SealedStore::open(engine.clone(), KeyRing::single(&bytes), random.clone()).unwrap();
        assert_eq!(again, 0, "nothing left to migrate");
        let other = KeyRing::single(&SealingKey::generate(&*random));
        assert!(matches!(
            SealedStore::open(engine.clone(), other, random),
            Err(KeyError::WrongKey(_))
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
        fn version(&self) -> Soon<'_, Result<u64, StoreError>> {
            self.inner.version()
        }
    }

    #[test]
    fn sealed_data_opens_without_reading_every_record() {
        let random: Arc<dyn Random> = Arc::new(OsRandom::new());
        let engine = Arc::new(CountsScans::default());
        let bytes = SealingKey::generate(&*random);
        let key = KeyRing::single(&bytes);
        let (sealed, _) = SealedStore::open(engine.clone(), key, random.clone()).unwrap();
        write(&sealed, b"account/1", b"{}");
        let first_open = engine.scans.load(std::sync::atomic::Ordering::SeqCst);
        drop(sealed);
        let (sealed, migrated) =
            SealedStore::open(engine.clone(), KeyRing::single(&bytes), random).unwrap();
        assert_eq!(migrated, 0);
        assert_eq!(
            engine.scans.load(std::sync::atomic::Ordering::SeqCst),
            first_open,
            "a second open scanned the store"
        );
        assert_eq!(sealed.get(b"account/1").unwrap().unwrap(), b"{}");
    }
}
