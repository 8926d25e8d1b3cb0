//! The sealing key's file: outside the data directory, created on first start with
//! mode 0600, required whenever the data directory holds data sealed under it.

use crate::core::ports::{Random, Store};
use crate::crypto::SealingKey;
use crate::storage::sealed::{holds_sealed_data, KeyError, SealedStore};
use data_encoding::HEXLOWER;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Next to the data directory, not in it: `./data` → `./data.key`. A copy of the
/// data directory alone then yields no secret.
pub fn default_path(data_dir: &Path) -> PathBuf {
    let trimmed = data_dir.to_string_lossy().trim_end_matches('/').to_string();
    PathBuf::from(format!("{trimmed}.key"))
}

/// Reads the key; `None` when the file does not exist. Refuses a file that others
/// can read, as ssh does with private keys.
pub fn load(path: &Path) -> Result<Option<SealingKey>, String> {
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
    let bytes = HEXLOWER
        .decode(text.trim().as_bytes())
        .ok()
        .and_then(|b| <[u8; SealingKey::LEN]>::try_from(b).ok())
        .ok_or_else(|| {
            format!(
                "the key file {} does not hold a key (64 hex characters)",
                path.display()
            )
        })?;
    Ok(Some(SealingKey::from_bytes(&bytes)))
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
pub fn create(path: &Path, random: &dyn Random) -> Result<SealingKey, String> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    let (bytes, key) = SealingKey::generate(random);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot create the key file {}: {e}", path.display()))?;
    file.write_all(format!("{}\n", HEXLOWER.encode(&bytes)).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write the key file {}: {e}", path.display()))?;
    Ok(key)
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
    let key = match load(key_file)? {
        Some(key) => key,
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
            let key = create(key_file, &*random)?;
            tracing::warn!(
                key_file = %key_file.display(),
                "made a new key file: every stored value is sealed under it; back it up \
                 apart from the data directory, since without it the data cannot be read"
            );
            key
        }
    };
    match SealedStore::open(engine, key, random) {
        Ok((store, migrated)) => Ok((Arc::new(store), migrated)),
        Err(KeyError::WrongKey) => Err(format!(
            "the key file {} is not the key of the data in {data} (instances that share \
             data need the same key file: give each the same --key-file)",
            key_file.display(),
        )),
        Err(KeyError::Store(e)) => Err(format!("cannot seal the data in {data}: {e}")),
    }
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
}
