//! Decoded sessions with their accounts, so that authenticating a request reads and
//! decodes no record while nothing is written (two reads, two unsealings and two
//! JSON decodings were a third of an `auth.get`).
//!
//! Never stale: an entry is used only while the store's version is the one it was
//! read at, and any write changes the version, which empties the cache. Liveness
//! (expiry, password epoch) is still checked on every use, from the cached copy.
//!
//! Found by the session's id as the client sends it, not by its digest: a hit costs
//! a keyed SipHash and a constant-time comparison instead of a SHA-256 (an
//! `auth.get` went from 22,238 to 19,920 instructions). The ids are kept here only
//! while their sessions are in use, as they are in the requests themselves.

use super::records::{Account, Session};
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

/// A session and its account as authentication found them, shared by the cache and
/// the calls they authenticate.
pub(crate) struct Authenticated {
    pub session: Session,
    pub account: Account,
    /// The digest the session is stored under.
    pub digest: String,
    /// The caller's `auth.get` answer, rendered on first use: the account cannot
    /// change while this is shared (a write empties the cache), and the frontend
    /// asks for it on every page.
    pub own_view: OnceLock<super::handler::JsonText>,
}

impl Authenticated {
    pub(crate) fn new(digest: String, session: Session, account: Account) -> Arc<Authenticated> {
        Arc::new(Authenticated {
            session,
            account,
            digest,
            own_view: OnceLock::new(),
        })
    }
}

/// The most entries kept; one more empties the cache (a few MB at most).
const MAX_ENTRIES: usize = 10_000;

#[derive(Default)]
pub(crate) struct AuthCache {
    entries: Mutex<Entries>,
    /// Random per cache (from the OS): nobody outside can tell which ids share a
    /// key or a bucket.
    id_keys: RandomState,
}

/// Maps keyed by session digests.
type ByDigest<V> = HashMap<String, V, BuildHasherDefault<DigestHasher>>;

#[derive(Default)]
struct Entries {
    /// The store version every entry was read at.
    version: u64,
    /// By the keyed hash of the session's id (two ids with one hash: the later
    /// entry stays, and the other misses).
    by_id: HashMap<u64, Entry, BuildHasherDefault<Prehashed>>,
    /// When each session last authenticated a request here (kept across writes:
    /// what `auth.listSessions` shows as last used).
    last_seen: ByDigest<i64>,
}

struct Entry {
    /// The session's id, compared in constant time with the one asked for.
    id: Box<str>,
    found: Arc<Authenticated>,
}

/// The keys of `by_id` are SipHash values already: used as they are.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; anything else is folded in, never lost.
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, key: u64) {
        self.0 = key;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Hashes a session digest by its first 16 hex digits (64 bits). The keys are
/// SHA-256 digests of sessions that exist: spread evenly, and never chosen by a
/// client (looking up an unknown one inserts nothing), so nobody can pile entries
/// into one bucket; SipHash over all 64 digits cost about 500 instructions a
/// lookup. Shorter keys (tests) are hashed byte by byte.
#[derive(Default)]
struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn write(&mut self, bytes: &[u8]) {
        const MIX: u64 = 0x9e37_79b9_7f4a_7c15;
        if bytes.len() >= 16 {
            for word in bytes[..16].chunks_exact(8) {
                let word = u64::from_le_bytes(word.try_into().unwrap_or_default());
                self.0 = (self.0.rotate_left(29) ^ word).wrapping_mul(MIX);
            }
        } else {
            for &byte in bytes {
                self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(MIX);
            }
        }
    }

    fn finish(&self) -> u64 {
        // hashbrown takes the bucket from the low bits and a tag from the top ones.
        self.0 ^ (self.0 >> 32)
    }
}

impl Entries {
    fn seen(&mut self, digest: &str, now: i64) {
        if self.last_seen.len() >= MAX_ENTRIES * 10 && !self.last_seen.contains_key(digest) {
            self.last_seen.clear();
        }
        self.last_seen.insert(digest.to_string(), now);
    }
}

impl AuthCache {
    /// The session named by `id` and its account, if cached at the store's current
    /// `version`; its last use is then `now`.
    pub(crate) fn get(&self, id: &str, version: u64, now: i64) -> Option<Arc<Authenticated>> {
        let key = self.id_keys.hash_one(id);
        let mut entries = self.lock();
        if entries.version != version {
            // Written since: what is here may be stale. (An older version comes
            // from a reader that started before the last write: it only misses.)
            if version > entries.version {
                entries.by_id.clear();
                entries.version = version;
            }
            return None;
        }
        let entry = entries.by_id.get(&key)?;
        if !crate::crypto::secrets_equal(entry.id.as_bytes(), id.as_bytes()) {
            return None;
        }
        let found = entry.found.clone();
        if let Some(seen) = entries.last_seen.get_mut(&found.digest) {
            *seen = now;
        }
        Some(found)
    }

    /// Keeps the session named by `id` and its account, read after the store was at
    /// `read_at`; its last use is `now`.
    pub(crate) fn put(&self, id: &str, read_at: u64, found: Arc<Authenticated>, now: i64) {
        let key = self.id_keys.hash_one(id);
        let mut entries = self.lock();
        entries.seen(&found.digest, now);
        if read_at < entries.version {
            return;
        }
        if read_at > entries.version || entries.by_id.len() >= MAX_ENTRIES {
            entries.by_id.clear();
            entries.version = read_at;
        }
        let id = id.into();
        entries.by_id.insert(key, Entry { id, found });
    }

    /// Forgets everything (the store was emptied).
    pub(crate) fn clear(&self) {
        let mut entries = self.lock();
        entries.by_id.clear();
        entries.last_seen.clear();
    }

    /// When the session under `digest` last authenticated a request here.
    pub(crate) fn last_seen(&self, digest: &str) -> Option<i64> {
        self.lock().last_seen.get(digest).copied()
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        // Entries are whole values; a panic elsewhere cannot leave one half-written.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::records::tests::member_account;
    use crate::core::records::SessionKind;

    fn session(account_id: &str) -> Session {
        Session {
            account_id: account_id.into(),
            kind: SessionKind::ApiToken,
            expires_at: 1,
            epoch: 0,
        }
    }

    fn found(id: &str) -> Arc<Authenticated> {
        Authenticated::new(format!("digest of {id}"), session(id), member_account(id))
    }

    #[test]
    fn an_entry_serves_only_the_version_it_was_read_at() {
        let cache = AuthCache::default();
        cache.put("d1", 3, found("a"), 0);
        assert_eq!(cache.get("d1", 3, 0).unwrap().account.id, "a");
        assert!(cache.get("d2", 3, 0).is_none());
        // A write happened: gone, and stays gone when asked at the new version.
        assert!(cache.get("d1", 4, 0).is_none());
        assert!(cache.get("d1", 4, 0).is_none());
    }

    #[test]
    fn a_slow_reader_never_brings_back_an_older_version() {
        let cache = AuthCache::default();
        cache.put("new", 5, found("b"), 0);
        // Read before the write that made version 5: not kept, not served.
        cache.put("old", 4, found("a"), 0);
        assert!(cache.get("old", 5, 0).is_none());
        assert!(cache.get("new", 4, 0).is_none());
        assert_eq!(cache.get("new", 5, 0).unwrap().account.id, "b");
    }

    #[test]
    fn an_id_is_found_only_by_itself_and_marks_its_session_used() {
        let cache = AuthCache::default();
        cache.put("token-a", 1, found("a"), 10);
        assert_eq!(cache.last_seen("digest of a"), Some(10));
        assert_eq!(cache.get("token-a", 1, 20).unwrap().account.id, "a");
        assert_eq!(cache.last_seen("digest of a"), Some(20));
        // Another id, one differing in its last byte, a prefix, or one of the same
        // keyed hash (made here by hand): each misses.
        for other in ["token-b", "token-", "token-aa", ""] {
            assert!(cache.get(other, 1, 30).is_none(), "{other:?}");
        }
        let key = cache.id_keys.hash_one("token-c");
        cache.lock().by_id.insert(
            key,
            Entry {
                id: "token-a".into(),
                found: found("a"),
            },
        );
        assert!(cache.get("token-c", 1, 30).is_none());
        assert_eq!(cache.last_seen("digest of a"), Some(20));
    }

    #[test]
    fn digests_spread_over_buckets() {
        use std::hash::BuildHasher;
        let build = BuildHasherDefault::<DigestHasher>::default();
        let buckets: std::collections::HashSet<u64> = (0..4096)
            .map(|n| build.hash_one(crate::crypto::digest(&format!("token {n}"))) & 1023)
            .collect();
        // 4,096 random keys over 1,024 buckets leave about 18 empty.
        assert!(
            buckets.len() > 990,
            "{} of 1024 buckets used",
            buckets.len()
        );
    }

    #[test]
    fn stays_bounded() {
        let cache = AuthCache::default();
        for n in 0..MAX_ENTRIES + 1 {
            cache.put(&format!("d{n}"), 1, found("a"), 0);
        }
        assert!(cache.lock().by_id.len() <= MAX_ENTRIES);
        assert!(cache.get(&format!("d{MAX_ENTRIES}"), 1, 0).is_some());
    }
}
