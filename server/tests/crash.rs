//! A child server under a stream of writes is killed with SIGKILL at random
//! moments and restarted on the same data directory: every write that was answered
//! 200 is there, and every index agrees with its records.

mod common;
use common::*;
use serde_json::json;
use server::core::records::{decode, Account, Member};
use server::crypto;
use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ROUNDS: usize = 20;
const ADMIN: &str = r#"{"email":"admin@example.com","password":"password123"}"#;

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// The child server, killed with SIGKILL when dropped (also when a check panics).
struct ServerProcess(Child);

impl ServerProcess {
    fn kill(&mut self) {
        let _ = self.0.kill(); // SIGKILL
        let _ = self.0.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn_server(data_dir: &Path, addr: SocketAddr) -> ServerProcess {
    let child = Command::new(env!("CARGO_BIN_EXE_dokploy-auth"))
        .args([
            "--data-dir",
            data_dir.to_str().unwrap(),
            "--bcrypt-cost",
            "4",
            "serve",
            "--listen",
            &addr.to_string(),
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the server binary starts");
    ServerProcess(child)
}

async fn wait_healthy(addr: SocketAddr) {
    for _ in 0..500 {
        if let Some(r) = try_send(addr, "GET", "/health", &[], "").await {
            if r.status == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the server did not come up");
}

fn random_below(n: u64) -> u64 {
    let bytes: [u8; 8] = crypto::random_bytes(&crypto::OsRandom::new());
    u64::from_le_bytes(bytes) % n
}

/// What the writers were told was done, and what was in flight at the kill.
#[derive(Default)]
struct Acknowledged {
    invitations: Vec<String>,
    image: Option<String>,
    token: Option<String>,
    /// The profile write sent but not answered: ("image", value) or ("token", "").
    in_flight: Option<(&'static str, String)>,
}

/// Every index agrees with its records, and every record with its indexes.
fn check_indexes(data_dir: &Path) {
    let engine = std::sync::Arc::new(server::storage::SledStore::open(data_dir).unwrap());
    let (store, migrated) = server::keyfile::seal(
        engine,
        &data_dir.display().to_string(),
        &server::keyfile::default_path(data_dir),
        std::sync::Arc::new(server::crypto::OsRandom::new()),
    )
    .unwrap();
    assert_eq!(migrated, 0, "every value was written sealed");
    let store: &dyn server::core::ports::Store = &*store;
    let text = |key: &str| {
        store
            .get(key.as_bytes())
            .unwrap()
            .map(|v| String::from_utf8(v).unwrap())
    };
    // Records by scan (their keys are keyed digests in a sealed store: read values).
    let scan = |prefix: &str| store.scan_prefix(prefix.as_bytes()).unwrap();
    let mut accounts = BTreeMap::new();
    for (_, value) in scan("account/") {
        let account: Account = decode(&value).unwrap();
        let key = format!("account/{}", account.id);
        assert!(store.get(key.as_bytes()).unwrap().is_some());
        assert_eq!(
            text(&format!("email/{}", account.email)).as_deref(),
            Some(account.id.as_str()),
            "email index of {}",
            account.id
        );
        accounts.insert(account.id.clone(), account);
    }
    let mut members = BTreeMap::new();
    for (_, value) in scan("member/") {
        let member: Member = decode(&value).unwrap();
        members.insert(member.user_id.clone(), member);
    }
    // Every index entry points at a record …
    let emails = scan("email/");
    assert_eq!(emails.len(), accounts.len(), "one email entry per account");
    for (_, id) in &emails {
        assert!(accounts.contains_key(&String::from_utf8_lossy(id).into_owned()));
    }
    let invitations = scan("invitation/");
    assert_eq!(
        invitations.len(),
        members.len(),
        "one invitation entry per member"
    );
    for (key, user_id) in &invitations {
        let member = &members[&String::from_utf8_lossy(user_id).into_owned()];
        let digest = String::from_utf8_lossy(key)
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        assert_eq!(crypto::digest(&member.token), digest);
    }
    // … and every record has its entries.
    let mut listed: BTreeMap<String, HashSet<Vec<u8>>> = BTreeMap::new();
    for member in members.values() {
        assert_eq!(
            text(&format!("invitation/{}", crypto::digest(&member.token))).as_deref(),
            Some(member.user_id.as_str())
        );
        let of_admin = listed.entry(member.admin_id.clone()).or_insert_with(|| {
            let entries = scan(&format!("members-of/{}/", member.admin_id));
            entries.into_iter().map(|(_, user_id)| user_id).collect()
        });
        assert!(of_admin.contains(member.user_id.as_bytes()));
        assert_eq!(
            accounts[&member.auth_id].member_id.as_deref(),
            Some(member.user_id.as_str())
        );
    }
}

/// After a restart: everything acknowledged is there.
async fn check_acknowledged(admin: &mut Client, acked: &Acknowledged) {
    let all = admin.get("/api/user.all").await.json();
    let emails: HashSet<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["auth"]["email"].as_str().unwrap())
        .collect();
    for email in &acked.invitations {
        assert!(
            emails.contains(email.as_str()),
            "acknowledged invitation {email} lost"
        );
    }
    for member in all.as_array().unwrap() {
        let token = member["token"].as_str().unwrap();
        let r = send(
            admin.addr,
            "GET",
            &format!("/api/admin.getUserByToken?token={token}"),
            &[],
            "",
        )
        .await;
        assert_eq!(
            r.status, 200,
            "the invitation index answers for {}",
            member["auth"]["email"]
        );
    }
    let me = admin.get("/api/auth.get").await.json();
    if let Some(image) = &acked.image {
        let in_flight = matches!(&acked.in_flight, Some(("image", v)) if me["image"] == v.as_str());
        assert!(
            me["image"] == image.as_str() || in_flight,
            "acknowledged image {image} lost: {}",
            me["image"]
        );
    }
    if let Some(token) = &acked.token {
        let replaced_in_flight =
            matches!(acked.in_flight, Some(("token", _))) && me["token"] != token.as_str();
        assert!(
            me["token"] == token.as_str() || replaced_in_flight,
            "acknowledged token lost"
        );
        if me["token"] == token.as_str() {
            assert_eq!(
                admin.with_bearer(token).get("/api/auth.get").await.status,
                200,
                "the token's session index"
            );
        }
    }
}

async fn invite_forever(
    addr: SocketAddr,
    cookie: String,
    round: usize,
    acked: Arc<Mutex<Acknowledged>>,
) {
    let mut client = Client {
        addr,
        cookie: Some(cookie),
        bearer: None,
        transport: Default::default(),
        rest_view: false,
    };
    for n in 0.. {
        let email = format!("r{round}-n{n}@example.com");
        match client
            .try_post(
                "/api/admin.createUserInvitation",
                &json!({"email": email}).to_string(),
            )
            .await
        {
            Some(r) if r.status == 200 => acked.lock().unwrap().invitations.push(email),
            Some(r) => panic!("unexpected answer {} {}", r.status, r.body),
            None => return,
        }
    }
}

async fn edit_profile_forever(
    addr: SocketAddr,
    cookie: String,
    round: usize,
    acked: Arc<Mutex<Acknowledged>>,
) {
    let mut client = Client {
        addr,
        cookie: Some(cookie),
        bearer: None,
        transport: Default::default(),
        rest_view: false,
    };
    for n in 0.. {
        if n % 2 == 0 {
            let image = format!("/avatars/{round}-{n}.png");
            acked.lock().unwrap().in_flight = Some(("image", image.clone()));
            let body = json!({"email": null, "password": null, "image": image}).to_string();
            match client.try_post("/api/auth.update", &body).await {
                Some(r) if r.status == 200 => {
                    let mut a = acked.lock().unwrap();
                    a.image = Some(image);
                    a.in_flight = None;
                }
                Some(r) => panic!("unexpected answer {} {}", r.status, r.body),
                None => return,
            }
        } else {
            acked.lock().unwrap().in_flight = Some(("token", String::new()));
            match client.try_post("/api/auth.generateToken", "{}").await {
                Some(r) if r.status == 200 => {
                    let mut a = acked.lock().unwrap();
                    a.token = Some(r.json()["token"].as_str().unwrap().to_string());
                    a.in_flight = None;
                }
                Some(r) => panic!("unexpected answer {} {}", r.status, r.body),
                None => return,
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answered_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let acked = Arc::new(Mutex::new(Acknowledged::default()));
    let mut total_acknowledged = 0;
    for round in 0..=ROUNDS {
        let addr = free_addr();
        let mut child = spawn_server(&dir.path().join("data"), addr);
        wait_healthy(addr).await;
        let mut admin = Client {
            addr,
            cookie: None,
            bearer: None,
            transport: Default::default(),
            rest_view: false,
        };
        let r = if round == 0 {
            admin.post("/api/auth.createAdmin", ADMIN).await
        } else {
            admin.post("/api/auth.login", ADMIN).await
        };
        assert_eq!(r.status, 200, "{}", r.body);
        {
            let snapshot = std::mem::take(&mut *acked.lock().unwrap());
            check_acknowledged(&mut admin, &snapshot).await;
            total_acknowledged = total_acknowledged.max(snapshot.invitations.len());
            let mut a = acked.lock().unwrap();
            *a = Acknowledged {
                in_flight: None,
                ..snapshot
            };
        }
        if round == ROUNDS {
            child.kill();
            break;
        }
        let cookie = admin.cookie.clone().unwrap();
        let writers = [
            tokio::spawn(invite_forever(addr, cookie.clone(), round, acked.clone())),
            tokio::spawn(edit_profile_forever(addr, cookie, round, acked.clone())),
        ];
        tokio::time::sleep(Duration::from_millis(30 + random_below(250))).await;
        child.kill();
        for writer in writers {
            writer.await.unwrap();
        }
        check_indexes(&dir.path().join("data"));
    }
    assert!(
        total_acknowledged >= ROUNDS,
        "too few writes were acknowledged to prove anything: {total_acknowledged}"
    );
}

trait TryPost {
    async fn try_post(&mut self, path: &str, body: &str) -> Option<Resp>;
}

impl TryPost for Client {
    async fn try_post(&mut self, path: &str, body: &str) -> Option<Resp> {
        let cookie = format!("auth_session={}", self.cookie.clone().unwrap());
        try_send(
            self.addr,
            "POST",
            path,
            &[
                ("cookie", cookie.as_str()),
                ("content-type", "application/json"),
            ],
            body,
        )
        .await
    }
}
