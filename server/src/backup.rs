//! Backups (one file format for either engine's sealed pairs), and a running sled
//! server's control socket (`<data-dir>/control.sock`, mode 0600), since sled lets
//! only one process open a data directory: a backup, or an operator's account
//! command, is asked of the server that holds it.

use crate::core::ports::{Pairs, StoreError};
use crate::storage::SledStore;
use data_encoding::HEXLOWER;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

const FORMAT: &str = "dokploy-auth-backup";

#[derive(Serialize, Deserialize)]
struct BackupFile {
    format: String,
    version: u32,
    /// `[key, value]` in lowercase hex.
    pairs: Vec<[String; 2]>,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("not a backup file: {0}")]
    Format(String),
    #[error("the data directory already holds data; restore only into an empty one")]
    NotEmpty,
}

pub fn control_socket(data_dir: &Path) -> PathBuf {
    data_dir.join("control.sock")
}

/// The backup file's bytes for everything in `store`.
pub fn encode(store: &SledStore) -> Result<Vec<u8>, BackupError> {
    Ok(encode_pairs(store.export()?))
}

/// The backup file's bytes for `pairs`, as stored (sealed): the same file for
/// either engine.
pub fn encode_pairs(pairs: Pairs) -> Vec<u8> {
    let file = BackupFile {
        format: FORMAT.to_string(),
        version: 1,
        pairs: pairs
            .into_iter()
            .map(|(k, v)| [HEXLOWER.encode(&k), HEXLOWER.encode(&v)])
            .collect(),
    };
    serde_json::to_vec(&file).expect("backups serialize")
}

/// The keys and values a backup file holds.
pub fn decode(bytes: &[u8]) -> Result<Pairs, BackupError> {
    let file: BackupFile =
        serde_json::from_slice(bytes).map_err(|e| BackupError::Format(e.to_string()))?;
    if file.format != FORMAT || file.version != 1 {
        return Err(BackupError::Format(format!(
            "{} version {}",
            file.format, file.version
        )));
    }
    let decode = |hex: &str| {
        HEXLOWER
            .decode(hex.as_bytes())
            .map_err(|e| BackupError::Format(e.to_string()))
    };
    file.pairs
        .iter()
        .map(|[k, v]| Ok((decode(k)?, decode(v)?)))
        .collect()
}

/// Writes a backup's pairs into an empty store, durably.
pub fn restore(store: &SledStore, pairs: Pairs) -> Result<usize, BackupError> {
    if !store.is_empty() {
        return Err(BackupError::NotEmpty);
    }
    let count = pairs.len();
    store.import(pairs)?;
    Ok(count)
}

/// Runs an operator's command sent through the control socket (a JSON payload) on
/// the running server; its output, or why it failed.
pub type CommandHandler = Arc<
    dyn Fn(Vec<u8>) -> futures_util::future::BoxFuture<'static, Result<String, String>>
        + Send
        + Sync,
>;

/// The most bytes of a command sent through the control socket.
const MAX_COMMAND: u64 = 64 * 1024;

/// Answers requests on the control socket while the server runs: `backup`, and the
/// operator's account commands (`user`, handed to `commands`).
pub fn serve_control_socket(
    data_dir: &Path,
    store: Arc<SledStore>,
    commands: CommandHandler,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    use std::os::unix::fs::PermissionsExt;
    let path = control_socket(data_dir);
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (store, commands) = (store.clone(), commands.clone());
            tokio::spawn(answer_control(stream, store, commands));
        }
    }))
}

async fn answer_control(mut stream: UnixStream, store: Arc<SledStore>, commands: CommandHandler) {
    let mut request = Vec::new();
    if (&mut stream)
        .take(MAX_COMMAND)
        .read_to_end(&mut request)
        .await
        .is_err()
    {
        return;
    }
    if request == b"backup\n" {
        match tokio::task::spawn_blocking(move || encode(&store)).await {
            Ok(Ok(bytes)) => {
                let _ = stream.write_all(&bytes).await;
            }
            _ => tracing::error!("backup through the control socket failed"),
        }
    } else if let Some(payload) = request.strip_prefix(b"user\n") {
        let answer = match commands(payload.to_vec()).await {
            Ok(output) => format!("ok\n{output}"),
            Err(why) => format!("error\n{why}"),
        };
        let _ = stream.write_all(answer.as_bytes()).await;
    }
    let _ = stream.shutdown().await;
}

/// Sends `request` to the server running on `data_dir` and reads its whole answer;
/// `None` if none is running.
async fn exchange(data_dir: &Path, request: &[u8]) -> Option<std::io::Result<Vec<u8>>> {
    let mut stream = UnixStream::connect(control_socket(data_dir)).await.ok()?;
    let exchange = async {
        stream.write_all(request).await?;
        stream.shutdown().await?;
        let mut bytes = Vec::new();
        stream.read_to_end(&mut bytes).await?;
        Ok(bytes)
    };
    Some(exchange.await)
}

/// Asks the server running on `data_dir` for a backup; `None` if none is running.
pub async fn request_from_running_server(data_dir: &Path) -> Option<Result<Vec<u8>, BackupError>> {
    let answer = exchange(data_dir, b"backup\n").await?;
    Some(match answer {
        Ok(bytes) if bytes.is_empty() => Err(BackupError::Format(
            "the running server sent nothing".into(),
        )),
        Ok(bytes) => Ok(bytes),
        Err(e) => Err(e.into()),
    })
}

/// Runs an account command (`payload`, JSON) on the server running on `data_dir`:
/// its output, or why it failed; `None` if no server is running there.
pub async fn command_on_running_server(
    data_dir: &Path,
    payload: &[u8],
) -> Option<Result<String, String>> {
    let mut request = b"user\n".to_vec();
    request.extend_from_slice(payload);
    let answer = match exchange(data_dir, &request).await? {
        Ok(answer) => answer,
        Err(e) => return Some(Err(format!("the running server did not answer: {e}"))),
    };
    let answer = String::from_utf8_lossy(&answer).into_owned();
    Some(match answer.split_once('\n') {
        Some(("ok", output)) => Ok(output.to_string()),
        Some(("error", why)) => Err(why.to_string()),
        _ => Err("the running server does not take account commands: restart it with this version, or stop it".into()),
    })
}
