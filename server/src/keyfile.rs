//! The key file: outside the data directory, created on first start with mode
//! 0600, required whenever the data holds values sealed under its keys. It is a
//! ring (one key seals, older or staged ones open), read again by serving
//! instances when it changes; `key rotate`, `key retire` and `key status` are here
//! (docs/key-rotation.md).

use crate::core::ports::{Random, Store};
use crate::crypto::{KeyRing, Sealer, SealingKey};
use crate::storage::sealed::{holds_sealed_data, KeyError, SealedStore};
use data_encoding::HEXLOWER;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// Next to the data directory, not in it: `./data` → `./data.key`. A copy of the
/// data directory alone then yields no secret.
pub fn default_path(data_dir: &Path) -> PathBuf {
    let trimmed = data_dir.to_string_lossy().trim_end_matches('/').to_string();
    PathBuf::from(format!("{trimmed}.key"))
}

/// How often a serving instance looks whether its key file changed (a rotation).
pub const RELOAD_EVERY: Duration = Duration::from_secs(1);

type Bytes = [u8; SealingKey::LEN];

/// What a key file holds: the key that seals, older keys that still open (until
/// `key retire`), and a key staged for the next rotation. A file of one line of 64
/// hex characters (as before key rings, or `openssl rand -hex 32`) is its sealing
/// key alone.
#[derive(Clone)]
pub struct KeyFile {
    pub seal: Bytes,
    pub open: Vec<Bytes>,
    pub next: Option<Bytes>,
}

const HEADER: &str = "\
# dokploy-auth key ring: `seal` seals new values; `open` keys (older) and a `next`
# key (staged by `key rotate --stage`) only open. Change it with `dokploy-auth key`.
";

impl KeyFile {
    fn new(random: &dyn Random) -> KeyFile {
        KeyFile {
            seal: SealingKey::generate(random),
            open: Vec::new(),
            next: None,
        }
    }

    fn parse(text: &str) -> Option<KeyFile> {
        let hex = |word: &str| -> Option<Bytes> {
            HEXLOWER
                .decode(word.as_bytes())
                .ok()
                .and_then(|b| Bytes::try_from(b).ok())
        };
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        if let [one] = lines[..] {
            if let Some(seal) = hex(one) {
                return Some(KeyFile {
                    seal,
                    open: Vec::new(),
                    next: None,
                });
            }
        }
        let (mut seal, mut open, mut next) = (None, Vec::new(), None);
        for line in lines {
            let (role, word) = line.split_once(' ')?;
            let bytes = hex(word.trim())?;
            match role {
                "seal" if seal.is_none() => seal = Some(bytes),
                "next" if next.is_none() => next = Some(bytes),
                "open" => open.push(bytes),
                _ => return None,
            }
        }
        Some(KeyFile {
            seal: seal?,
            open,
            next,
        })
    }

    fn render(&self) -> String {
        let mut text = HEADER.to_string();
        let mut line = |role: &str, bytes: &Bytes| {
            text.push_str(&format!("{role} {}\n", HEXLOWER.encode(bytes)));
        };
        line("seal", &self.seal);
        for key in &self.open {
            line("open", key);
        }
        if let Some(next) = &self.next {
            line("next", next);
        }
        text
    }

    pub fn ring(&self) -> KeyRing {
        let others: Vec<Bytes> = self.open.iter().chain(&self.next).copied().collect();
        KeyRing::new(&self.seal, &others)
    }

    /// The file's keys as `role id` lines, for the operator.
    fn describe(&self) -> String {
        let mut text = format!("seal\t{}\n", id(&self.seal));
        for key in &self.open {
            text.push_str(&format!("open\t{}\n", id(key)));
        }
        if let Some(next) = &self.next {
            text.push_str(&format!("next\t{}\n", id(next)));
        }
        text
    }
}

/// Reads the key file; `None` when it does not exist. Refuses a file that others
/// can read, as ssh does with private keys.
pub fn read(path: &Path) -> Result<Option<KeyFile>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read the key file {}: {e}", path.display())),
    };
    let metadata = std::fs::metadata(path)
        .map_err(|e| format!("cannot read the key file {}: {e}", path.display()))?;
    let mode = metadata.permissions().mode();
    if !private(mode, metadata.uid() == 0) {
        return Err(format!(
            "the key file {} can be read by others (mode {:o}); run: chmod 600 {}",
            path.display(),
            mode & 0o777,
            path.display()
        ));
    }
    KeyFile::parse(&text).map(Some).ok_or_else(|| {
        format!(
            "the key file {} holds no key (64 hex characters) or key ring",
            path.display()
        )
    })
}

/// The key file's ring; `None` when the file does not exist.
pub fn load(path: &Path) -> Result<Option<KeyRing>, String> {
    Ok(read(path)?.map(|file| file.ring()))
}

/// Whether a key file's `mode` keeps it private, as PostgreSQL asks of its TLS key:
/// no access for others, and none for the group, unless root owns the file, which
/// may then let its group read it (how Kubernetes mounts a secret for a pod's
/// `fsGroup`, with `defaultMode: 0440`).
fn private(mode: u32, owned_by_root: bool) -> bool {
    let refused = if owned_by_root { 0o037 } else { 0o077 };
    mode & refused == 0
}

/// Makes a new key file with mode 0600; never overwrites one.
pub fn create(path: &Path, random: &dyn Random) -> Result<KeyRing, String> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    let file = KeyFile::new(random);
    write_new(path, &file)?;
    Ok(file.ring())
}

fn write_new(path: &Path, file: &KeyFile) -> Result<(), String> {
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot create the key file {}: {e}", path.display()))?;
    out.write_all(file.render().as_bytes())
        .and_then(|()| out.sync_all())
        .map_err(|e| format!("cannot write the key file {}: {e}", path.display()))
}

/// Puts `file` in place of the key file at once (written aside, then renamed), so
/// an instance reading it meanwhile sees the old ring or the new, never half. The
/// new file keeps the old one's owner, group and mode (an operator's command run as
/// root leaves the service's user able to read it).
fn replace(path: &Path, file: &KeyFile) -> Result<(), String> {
    let aside = PathBuf::from(format!("{}.new", path.display()));
    let _ = std::fs::remove_file(&aside);
    write_new(&aside, file)?;
    if let Ok(old) = std::fs::metadata(path) {
        let kept =
            std::os::unix::fs::chown(&aside, Some(old.uid()), Some(old.gid())).and_then(|()| {
                std::fs::set_permissions(
                    &aside,
                    std::fs::Permissions::from_mode(old.permissions().mode() & 0o777),
                )
            });
        if let Err(e) = kept {
            let _ = std::fs::remove_file(&aside);
            return Err(format!(
                "cannot give the new key file {} the owner and mode of the old: {e}",
                aside.display()
            ));
        }
    }
    std::fs::rename(&aside, path).map_err(|e| {
        let _ = std::fs::remove_file(&aside);
        format!(
            "cannot replace the key file {}: {e} (a read-only mount, such as a \
             Kubernetes secret? see docs/key-rotation.md)",
            path.display()
        )
    })?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        // The rename itself made durable.
        let _ = std::fs::File::open(parent).and_then(|dir| dir.sync_all());
    }
    Ok(())
}

/// What tells that a file changed: its inode (a rename), size and time.
fn stamp(path: &Path) -> Option<(u64, u64, SystemTime)> {
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.ino(), metadata.len(), metadata.modified().ok()?))
}

/// A reloader that reads `path` again when it changed since the last read.
fn reloader(path: PathBuf) -> crate::storage::sealed::RingReloader {
    let last = Mutex::new(stamp(&path));
    Box::new(move || {
        let now = stamp(&path);
        let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
        if now.is_none() || *last == now {
            return None;
        }
        *last = now;
        match load(&path) {
            Ok(ring) => ring,
            Err(why) => {
                tracing::warn!(%why, "the key file changed but cannot be read: the keys read before stay in use");
                None
            }
        }
    })
}

/// Reads the key file again within `RELOAD_EVERY` of its change, while `store` lives.
fn watch(store: &Arc<SealedStore>, key_file: &Path) {
    store.reload_with(reloader(key_file.to_path_buf()));
    let store = Arc::downgrade(store);
    let _ = std::thread::Builder::new()
        .name("key-file".into())
        .spawn(move || loop {
            std::thread::sleep(RELOAD_EVERY);
            match store.upgrade() {
                Some(store) => {
                    store.reload_ring();
                }
                None => return,
            }
        });
}

/// A store (`data` says where it keeps its data, for messages), sealed under the
/// key at `key_file`: the key is made
/// on first start; data sealed before needs its key (a clear error otherwise); data
/// written before sealing existed is sealed now. Returns the store and how many
/// values were migrated.
pub fn seal(
    engine: Arc<dyn Store>,
    data: &str,
    key_file: &Path,
    random: Arc<dyn Random>,
) -> Result<(Arc<SealedStore>, usize), String> {
    seal_as(engine, data, key_file, random, true)
}

/// As [`seal`], for a command that works on data that exists (a restore, an
/// account command): a missing key file is an error, never made anew.
pub fn seal_existing(
    engine: Arc<dyn Store>,
    data: &str,
    key_file: &Path,
    random: Arc<dyn Random>,
) -> Result<(Arc<SealedStore>, usize), String> {
    seal_as(engine, data, key_file, random, false)
}

fn seal_as(
    engine: Arc<dyn Store>,
    data: &str,
    key_file: &Path,
    random: Arc<dyn Random>,
    may_create: bool,
) -> Result<(Arc<SealedStore>, usize), String> {
    let ring = match load(key_file)? {
        Some(ring) => ring,
        None if !may_create => {
            return Err(format!(
                "the key file {} does not exist: point --key-file (DOKPLOY_AUTH_KEY_FILE) at \
                 the key of {data}",
                key_file.display()
            ))
        }
        None => {
            if holds_sealed_data(&*engine).map_err(|e| e.to_string())? {
                return Err(format!(
                    "{data} holds data sealed under a key, but the key file {} is missing; \
                     put the key file back, or point --key-file (DOKPLOY_AUTH_KEY_FILE) at it",
                    key_file.display()
                ));
            }
            let ring = create(key_file, &*random)?;
            tracing::warn!(
                key_file = %key_file.display(),
                "made a new key file: every stored value is sealed under it; back it up \
                 apart from the data directory, since without it the data cannot be read"
            );
            ring
        }
    };
    match SealedStore::open(engine, ring, random) {
        Ok((store, migrated)) => {
            let store = Arc::new(store);
            watch(&store, key_file);
            Ok((store, migrated))
        }
        Err(KeyError::WrongKey(sealer)) => Err(format!(
            "the key file {} is not the key of the data in {data}{} (instances that \
             share data need the same key file: give each the same --key-file)",
            key_file.display(),
            match sealer {
                Some(id) => format!(" (sealed under key {id}, which it does not hold)"),
                None => String::new(),
            }
        )),
        Err(KeyError::Store(e)) => Err(format!("cannot seal the data in {data}: {e}")),
    }
}

fn existing(key_file: &Path) -> Result<KeyFile, String> {
    read(key_file)?.ok_or_else(|| format!("the key file {} does not exist", key_file.display()))
}

fn id(bytes: &Bytes) -> crate::crypto::KeyId {
    SealingKey::from_bytes(bytes).id()
}

/// `key rotate --stage`: adds a new key that opens but does not seal yet, for
/// instances that each have their own copy of the key file (copy it to every one
/// before `key rotate`).
pub fn stage(key_file: &Path, random: &dyn Random) -> Result<String, String> {
    let mut file = existing(key_file)?;
    if let Some(next) = &file.next {
        return Err(format!(
            "key {} is staged already: run `key rotate` to seal under it",
            id(next)
        ));
    }
    let next = SealingKey::generate(random);
    file.next = Some(next);
    replace(key_file, &file)?;
    Ok(format!(
        "staged key {} in {}: copy this key file to every instance (each reads it \
         within {} s), then run `key rotate`\n",
        id(&next),
        key_file.display(),
        RELOAD_EVERY.as_secs()
    ))
}

/// `key rotate`: a new key (the staged one, if any) seals from now on; the one
/// before only opens; every value is then sealed again under the new key, in
/// short transactions while the instances serve.
pub fn rotate(store: &SealedStore, key_file: &Path, random: &dyn Random) -> Result<String, String> {
    let mut file = existing(key_file)?;
    let new = file
        .next
        .take()
        .unwrap_or_else(|| SealingKey::generate(random));
    let old = std::mem::replace(&mut file.seal, new);
    file.open.insert(0, old);
    replace(key_file, &file)?;
    store.use_ring(file.ring());
    let resealed = store.reseal().map_err(|e| {
        format!(
            "key {} seals new values now, but sealing the stored ones again stopped: \
             {e}; run `key rotate --resume` to go on",
            id(&new)
        )
    })?;
    Ok(format!(
        "key {} seals new values from now on; sealed {resealed} stored values again \
         under it. Once every instance has this key file, `key retire` removes key {}.\n",
        id(&new),
        id(&old)
    ))
}

/// `key rotate --resume`: seals again what an interrupted `key rotate` left.
pub fn resume(store: &SealedStore, key_file: &Path) -> Result<String, String> {
    let file = existing(key_file)?;
    store.use_ring(file.ring());
    let resealed = store.reseal().map_err(|e| e.to_string())?;
    Ok(format!(
        "sealed {resealed} stored values again under key {}\n",
        id(&file.seal)
    ))
}

/// `key retire`: once no stored value is sealed under an older key, removes the
/// older keys from the key file. Waits until every instance has read the file
/// (`RELOAD_EVERY`, twice) and seals again what they wrote meanwhile; and once more
/// after removing the keys, for an instance that read the rotated file late.
pub fn retire(store: &SealedStore, key_file: &Path) -> Result<String, String> {
    let mut file = existing(key_file)?;
    if file.open.is_empty() {
        return Ok(format!(
            "nothing to retire: the key file holds no older key\n{}",
            file.describe()
        ));
    }
    let changed = std::fs::metadata(key_file)
        .and_then(|m| m.modified())
        .map_err(|e| format!("cannot read the key file {}: {e}", key_file.display()))?;
    let settled = changed + 2 * RELOAD_EVERY;
    if let Ok(wait) = settled.duration_since(SystemTime::now()) {
        std::thread::sleep(wait);
    }
    let ring = file.ring();
    let current = ring.sealer();
    store.use_ring(ring);
    store.reseal().map_err(|e| e.to_string())?;
    let left: usize = store
        .count_by_key()
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|(sealer, _)| *sealer != current)
        .map(|(_, count)| count)
        .sum();
    if left > 0 {
        return Err(format!(
            "{left} stored values were sealed under an older key while this ran: an \
             instance still seals under it; give every instance this key file, then \
             run `key retire` again"
        ));
    }
    let retired: Vec<String> = file.open.iter().map(|k| id(k).to_string()).collect();
    let with_the_old_keys = file.ring();
    file.open.clear();
    replace(key_file, &file)?;
    // An instance slower to read the rotated file than the wait above may still have
    // sealed a value under an older key since the count: once every instance has
    // read this file, one more pass, with the older keys still here, seals it again.
    std::thread::sleep(2 * RELOAD_EVERY);
    store.use_ring(with_the_old_keys);
    let late = store.reseal();
    store.use_ring(file.ring());
    let late = late.map_err(|e| e.to_string())?;
    let mut said = format!(
        "retired key {}: key {} alone seals and opens the data. Backups taken before \
         the rotation open only with the key file of their time.\n",
        retired.join(", "),
        id(&file.seal)
    );
    if late > 0 {
        said.push_str(&format!(
            "sealed again {late} values written since the count without a key's name \
             (under the new key, or under an older one by an instance that read the \
             rotated key file late)\n"
        ));
    }
    Ok(said)
}

/// `key status`: the key file's keys and how many stored values each sealed.
pub fn status(store: &SealedStore, key_file: &Path) -> Result<String, String> {
    let file = existing(key_file)?;
    let mut text = format!("key file {}\n{}", key_file.display(), file.describe());
    text.push_str("stored values by the key that sealed them:\n");
    for (sealer, count) in store.count_by_key().map_err(|e| e.to_string())? {
        match sealer {
            Sealer::Key(id) => text.push_str(&format!("{id}\t{count}\n")),
            Sealer::Unnamed => {
                text.push_str(&format!("unnamed (sealed by a ring of one key)\t{count}\n"))
            }
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::OsRandom;
    use crate::storage::MemoryStore;

    #[test]
    fn private_means_the_owner_alone_or_roots_group_reading() {
        for mode in [0o600, 0o400] {
            assert!(private(mode, false) && private(mode, true), "{mode:o}");
        }
        for mode in [0o640, 0o440] {
            assert!(!private(mode, false), "{mode:o}");
            assert!(private(mode, true), "{mode:o}");
        }
        for mode in [0o644, 0o660, 0o604, 0o606] {
            assert!(!private(mode, false) && !private(mode, true), "{mode:o}");
        }
    }

    #[test]
    fn the_key_file_is_made_once_private_and_then_required() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        let key_file = default_path(&data_dir);
        assert_eq!(key_file, dir.path().join("data.key"));
        let random: Arc<dyn Random> = Arc::new(OsRandom::new());
        let engine: Arc<dyn Store> = Arc::new(MemoryStore::default());
        let data_dir = format!("the data directory {}", data_dir.display());

        seal(engine.clone(), &data_dir, &key_file, random.clone()).unwrap();
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // The same key opens the same data again.
        seal(engine.clone(), &data_dir, &key_file, random.clone()).unwrap();

        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = seal(engine.clone(), &data_dir, &key_file, random.clone())
            .err()
            .unwrap();
        assert!(error.contains("chmod 600"), "{error}");

        std::fs::remove_file(&key_file).unwrap();
        let error = seal(engine.clone(), &data_dir, &key_file, random.clone())
            .err()
            .unwrap();
        assert!(
            error.contains("the key file") && error.contains("is missing"),
            "{error}"
        );
        assert!(!key_file.exists(), "no new key is made for sealed data");

        create(&key_file, &*random).unwrap();
        let error = seal(engine, &data_dir, &key_file, random).err().unwrap();
        assert!(error.contains("is not the key"), "{error}");
    }

    use crate::storage::sealed::tests::write;

    /// Two stores on one engine and one key file, as two instances on one database.
    fn two_instances() -> (
        tempfile::TempDir,
        PathBuf,
        Arc<dyn Random>,
        Arc<SealedStore>,
        Arc<SealedStore>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("data.key");
        let random: Arc<dyn Random> = Arc::new(OsRandom::new());
        let engine: Arc<dyn Store> = Arc::new(MemoryStore::default());
        let (a, _) = seal(engine.clone(), "the data", &key_file, random.clone()).unwrap();
        let (b, _) = seal(engine, "the data", &key_file, random.clone()).unwrap();
        (dir, key_file, random, a, b)
    }

    /// A key file of one key (before key rings), data under it, a writer beside:
    /// rotate, retire; then the new key file alone opens every value, the old key
    /// no longer does, and no write was lost.
    #[test]
    fn rotate_then_retire_while_writing_leaves_the_new_key_alone() {
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("data.key");
        let random: Arc<dyn Random> = Arc::new(OsRandom::new());
        let old = SealingKey::generate(&*random);
        // Data as a version before key rings left it: sealed under a key file of
        // one key, its index key derived from it and not stored.
        std::fs::write(&key_file, format!("{}\n", HEXLOWER.encode(&old))).unwrap();
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let engine: Arc<dyn Store> = Arc::new(MemoryStore::default());
        let (store, _) = seal(engine.clone(), "the data", &key_file, random.clone()).unwrap();
        engine
            .transaction(&mut |tx| tx.remove(b"index-key").map_err(Into::into))
            .unwrap();
        drop(store);
        let (store, _) = seal(engine.clone(), "the data", &key_file, random.clone()).unwrap();
        for n in 0..600 {
            write(&*store, format!("email/u{n}@example.com").as_bytes(), b"v0");
        }
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (store, stop) = (store.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut round = 0u64;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    round += 1;
                    for n in (0..600).step_by(7) {
                        let key = format!("email/u{n}@example.com");
                        write(&*store, key.as_bytes(), format!("v{round}").as_bytes());
                    }
                }
                round
            })
        };
        let rotated = rotate(&store, &key_file, &*random).unwrap();
        assert!(rotated.contains("seals new values"), "{rotated}");
        let retired = retire(&store, &key_file).unwrap();
        assert!(retired.contains("retired key"), "{retired}");
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let rounds = writer.join().unwrap();
        assert!(rounds > 0);

        let file = read(&key_file).unwrap().unwrap();
        assert!(file.open.is_empty() && file.next.is_none());
        assert_ne!(file.seal, old);
        // Resealed values name the new key; what the writer wrote after the retire,
        // with the new key alone in the ring, is unnamed; none names the old key.
        let counts = store.count_by_key().unwrap();
        assert!(counts.contains_key(&Sealer::Key(id(&file.seal))));
        assert!(
            counts
                .keys()
                .all(|s| *s == Sealer::Key(id(&file.seal)) || *s == Sealer::Unnamed),
            "{counts:?}"
        );
        let status = status(&store, &key_file).unwrap();
        assert!(
            status.contains(&format!("seal\t{}", id(&file.seal))),
            "{status}"
        );
        drop(store);

        // The new key alone, as one line: every value opens, the last write of each
        // is there.
        std::fs::write(&key_file, format!("{}\n", HEXLOWER.encode(&file.seal))).unwrap();
        let (again, _) =
            seal_existing(engine.clone(), "the data", &key_file, random.clone()).unwrap();
        let last = format!("v{rounds}");
        for n in 0..600 {
            let value = again
                .get(format!("email/u{n}@example.com").as_bytes())
                .unwrap()
                .unwrap();
            let expected = if n % 7 == 0 { last.as_bytes() } else { b"v0" };
            assert_eq!(value, expected, "u{n}");
        }
        drop(again);
        // The old key alone opens nothing now.
        std::fs::write(&key_file, format!("{}\n", HEXLOWER.encode(&old))).unwrap();
        let error = seal_existing(engine, "the data", &key_file, random)
            .err()
            .unwrap();
        assert!(
            error.contains("is not the key of the data")
                && error.contains(&format!("sealed under key {}", id(&file.seal))),
            "{error}"
        );
    }

    /// Instances with their own copies: a staged key opens before it seals; an
    /// instance that has not read the rotated file yet opens the new key's values
    /// by reading it at once.
    #[test]
    fn a_staged_key_opens_first_and_an_instance_reads_a_rotated_file_when_it_must() {
        let (_dir, key_file, random, a, b) = two_instances();
        write(&*a, b"account/1", b"one");
        let staged = stage(&key_file, &*random).unwrap();
        assert!(staged.contains("staged key"), "{staged}");
        assert!(
            stage(&key_file, &*random).is_err(),
            "one staged key at a time"
        );
        let next = read(&key_file).unwrap().unwrap().next.unwrap();
        rotate(&a, &key_file, &*random).unwrap();
        assert_eq!(a.sealing_id(), id(&next), "the staged key seals");
        write(&*a, b"account/2", b"two");
        // b has not looked at the file since (its watcher may have): either way it
        // opens a value sealed under the new key.
        assert_eq!(b.get(b"account/2").unwrap().unwrap(), b"two");
        assert_eq!(b.sealing_id(), id(&next));
        assert_eq!(b.get(b"account/1").unwrap().unwrap(), b"one");
    }

    #[test]
    fn an_instance_reads_a_rotated_key_file_at_a_value_it_cannot_open() {
        let (_dir, key_file, random, a, b) = two_instances();
        write(&*a, b"account/1", b"one");
        rotate(&a, &key_file, &*random).unwrap();
        assert_ne!(
            a.sealing_id(),
            b.sealing_id(),
            "b has not read the file yet"
        );
        assert_eq!(b.get(b"account/1").unwrap().unwrap(), b"one");
        assert_eq!(a.sealing_id(), b.sealing_id());
    }

    /// Requests meeting values under the new key at the same moment all open them:
    /// one reads the file again, the others wait for its ring (a 500 for them once,
    /// under a login load during a rotation).
    #[test]
    fn threads_meeting_the_rotated_key_together_all_open_their_values() {
        let (_dir, key_file, random, a, b) = two_instances();
        rotate(&a, &key_file, &*random).unwrap();
        for n in 0..8 {
            write(&*a, format!("account/{n}").as_bytes(), b"new");
        }
        assert_ne!(
            a.sealing_id(),
            b.sealing_id(),
            "b has not read the file yet"
        );
        let together = Arc::new(std::sync::Barrier::new(8));
        let readers: Vec<_> = (0..8)
            .map(|n| {
                let (b, together) = (b.clone(), together.clone());
                std::thread::spawn(move || {
                    together.wait();
                    b.get(format!("account/{n}").as_bytes())
                })
            })
            .collect();
        for reader in readers {
            assert_eq!(reader.join().unwrap().unwrap().unwrap(), b"new");
        }
    }

    /// An instance that never reads the rotated file: what it sealed under the old
    /// key before `key retire` is sealed again by retire's first pass; what it seals
    /// after retire's count (once the retired file is written) by its last pass.
    #[test]
    fn retire_seals_again_what_an_instance_late_to_read_the_file_wrote() {
        let (_dir, key_file, random, a, _b) = two_instances();
        let old_ring = read(&key_file).unwrap().unwrap().ring();
        let engine: Arc<dyn Store> = a.inner_for_tests();
        let (slow, _) = SealedStore::open(engine.clone(), old_ring, random.clone()).unwrap();
        rotate(&a, &key_file, &*random).unwrap();
        write(&slow, b"account/early", b"early");
        let late_writer = {
            let (key_file, slow) = (key_file.clone(), Arc::new(slow));
            std::thread::spawn(move || loop {
                if read(&key_file).is_ok_and(|f| f.is_some_and(|f| f.open.is_empty())) {
                    write(&*slow, b"account/late", b"late");
                    return;
                }
                std::thread::sleep(Duration::from_millis(5));
            })
        };
        let said = retire(&a, &key_file).unwrap();
        late_writer.join().unwrap();
        assert!(said.contains("sealed again 1 values"), "{said}");
        let file = read(&key_file).unwrap().unwrap();
        let (alone, _) = SealedStore::open(engine, KeyRing::single(&file.seal), random).unwrap();
        assert_eq!(alone.get(b"account/early").unwrap().unwrap(), b"early");
        assert_eq!(alone.get(b"account/late").unwrap().unwrap(), b"late");
    }

    /// An operator's command run as root keeps the key file the service's own.
    #[test]
    fn a_rotated_key_file_keeps_its_owner_and_mode() {
        let (_dir, key_file, random, a, _b) = two_instances();
        // SAFETY: geteuid reads the process's user id; no memory is involved.
        let root = unsafe { libc::geteuid() } == 0;
        let (uid, mode) = if root { (65532, 0o400) } else { (0, 0o400) };
        if root {
            std::os::unix::fs::chown(&key_file, Some(uid), Some(uid)).unwrap();
        }
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(mode)).unwrap();
        stage(&key_file, &*random).unwrap();
        rotate(&a, &key_file, &*random).unwrap();
        let metadata = std::fs::metadata(&key_file).unwrap();
        assert_eq!(metadata.permissions().mode() & 0o777, mode);
        if root {
            assert_eq!((metadata.uid(), metadata.gid()), (uid, uid));
        }
        assert!(!PathBuf::from(format!("{}.new", key_file.display())).exists());
    }

    #[test]
    fn key_files_parse_as_written_and_refuse_what_they_do_not_know() {
        let random = OsRandom::new();
        let mut file = KeyFile::new(&random);
        file.open = vec![SealingKey::generate(&random)];
        file.next = Some(SealingKey::generate(&random));
        let again = KeyFile::parse(&file.render()).unwrap();
        assert_eq!(again.render(), file.render());
        for bad in [
            "",
            "seal 00",
            "open abc\nseal def",
            "sealx 00\n",
            "zz".repeat(32).as_str(),
        ] {
            assert!(KeyFile::parse(bad).is_none(), "{bad:?}");
        }
        let without_seal = format!("open {}\n", "00".repeat(32));
        assert!(KeyFile::parse(&without_seal).is_none());
    }
}
