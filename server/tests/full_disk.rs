//! A full disk, for real: the binary's data on a small tmpfs that the test fills.
//! Writes answer 503 in the contract's envelope while the disk is full, `/ready`
//! says so while `/health` stays 200, and once room is made the same server writes
//! again with no restart and no acknowledged write lost; a start on a full disk
//! leaves nothing that blocks the next one.
//!
//! Mounting needs root (CI runs as root); elsewhere the test is skipped with a note.

mod common;
use common::binary::*;
use common::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const ADMIN: &str = r#"{"email":"admin@example.com","password":"password123"}"#;

/// A tmpfs of `size` mounted on a new directory; unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().ok()?;
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        mounted.then_some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file until the disk is full; the file, to delete to make room.
    fn fill(&self) -> PathBuf {
        let filler = self.path().join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 64 * 1024];
        while file.write_all(&block).is_ok() {}
        // The last bytes that fit.
        while file.write_all(&[0u8; 512]).is_ok() {}
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

fn skip_unless_ci(why: &str) {
    assert!(std::env::var_os("CI").is_none(), "under CI: {why}");
    eprintln!("SKIPPED the full-disk test: {why}");
}

#[tokio::test]
async fn a_full_disk_answers_503_and_recovers_without_a_restart() {
    let Some(disk) = Tmpfs::mount("8m") else {
        return skip_unless_ci("cannot mount a tmpfs (needs root)");
    };
    let root = disk.path();
    let server = serve(root, "4").await;
    let mut admin = Client::new(server.addr);
    assert_eq!(admin.post("/api/auth.createAdmin", ADMIN).await.status, 200);
    let token = new_token(&admin).await;
    let bearer = |token: &str| Client::new(server.addr).with_bearer(token);
    assert_eq!(
        send(server.addr, "GET", "/ready", &[], "").await.status,
        200
    );

    let filler = disk.fill();
    // Writes until one is refused: never a 500, and the refusal is the contract's 503.
    let mut refused = None;
    for _ in 0..50 {
        let r = Client::new(server.addr)
            .post("/api/auth.login", ADMIN)
            .await;
        match r.status {
            200 => continue,
            503 => {
                refused = Some(r);
                break;
            }
            other => panic!("a write on a full disk answered {other}: {}", r.body),
        }
    }
    let refused = refused.expect("a write was refused while the disk was full");
    eprintln!("refused with {}", refused.body);
    assert_eq!(
        refused.json()["code"],
        "SERVICE_UNAVAILABLE",
        "{}",
        refused.body
    );
    // Refused again, and said by /ready; the process is alive; reads still work.
    let again = Client::new(server.addr)
        .post("/api/auth.login", ADMIN)
        .await;
    assert_eq!(again.status, 503, "{}", again.body);
    let ready = send(server.addr, "GET", "/ready", &[], "").await;
    assert_eq!(
        (ready.status, ready.json()["code"].as_str()),
        (503, Some("SERVICE_UNAVAILABLE"))
    );
    assert_eq!(
        send(server.addr, "GET", "/health", &[], "").await.status,
        200
    );
    assert_eq!(bearer(&token).get("/api/auth.get").await.status, 200);

    // Room again: ready, writing, and what was acknowledged before is all there.
    std::fs::remove_file(&filler).unwrap();
    let mut ready = 0;
    for _ in 0..50 {
        ready = send(server.addr, "GET", "/ready", &[], "").await.status;
        if ready == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ready, 200, "ready again without a restart");
    let mut later = Client::new(server.addr);
    assert_eq!(later.post("/api/auth.login", ADMIN).await.status, 200);
    assert_eq!(later.get("/api/auth.get").await.status, 200);
    assert_eq!(
        bearer(&token).get("/api/auth.get").await.status,
        200,
        "the token written before"
    );
    let newer = new_token(&later).await;
    drop(server);

    // A start on a full disk: it fails cleanly or serves unready; either way the
    // next start, with room, has everything.
    let filler = disk.fill();
    let out = tokio::time::timeout(Duration::from_secs(20), async {
        let started = serve_or_exit(root).await;
        if let Some(server) = &started {
            let ready = send(server.addr, "GET", "/ready", &[], "").await;
            assert_eq!(ready.status, 503, "a full disk is not ready");
        }
        started
    })
    .await
    .expect("a start on a full disk ends or serves");
    eprintln!(
        "a start on a full disk: {}",
        if out.is_some() {
            "served, not ready"
        } else {
            "exited with a clear message"
        }
    );
    drop(out);
    std::fs::remove_file(&filler).unwrap();
    let server = serve(root, "4").await;
    assert_eq!(
        send(server.addr, "GET", "/ready", &[], "").await.status,
        200
    );
    let mut newer_works = Client::new(server.addr).with_bearer(&newer);
    assert_eq!(newer_works.get("/api/auth.get").await.status, 200);
    assert_eq!(
        post_status(server.addr, "/api/auth.login", ADMIN).await,
        200
    );
}

/// `serve`, or `None` when the binary exits instead (its message must say why).
async fn serve_or_exit(root: &Path) -> Option<Server> {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut child = Command::new(BIN)
        .args(["--data-dir", &data_dir(root), "--bcrypt-cost", "4"])
        .args(["serve", "--listen", &addr.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..500 {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            assert!(!status.success());
            assert!(
                stderr.contains("disk is full") || stderr.contains("No space"),
                "{stderr}"
            );
            return None;
        }
        if try_send(addr, "GET", "/health", &[], "").await.is_some() {
            return Some(Server { child, addr });
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("neither served nor exited");
}
