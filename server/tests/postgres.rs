//! PostgreSQL as the store (part of the scale-out work): the engine's semantics,
//! serializable transactions from two instances, migrations, two servers on one
//! database over real sockets, the conformance suite, and the database going away.
//! Each test starts a PostgreSQL of its own (`common/postgres.rs`).

mod common;

use common::postgres::Postgres;
use conformance::client::Client;
use server::core::ports::{Abort, Store, StoreError};
use server::storage::PgStore;
use std::sync::Arc;

fn connect(url: &str) -> PgStore {
    PgStore::connect(url, 4).unwrap_or_else(|e| panic!("{url}: {e}"))
}

fn version(store: &PgStore) -> u64 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(store.version()).unwrap()
}

#[test]
fn the_store_reads_its_writes_scans_prefixes_and_counts_versions() {
    let Some(pg) = Postgres::start() else { return };
    let store = connect(&pg.database("kv"));
    let before = version(&store);
    store
        .transaction(&mut |tx| {
            tx.insert(b"a/1", b"one".to_vec())?;
            tx.insert(b"a/2", b"two".to_vec())?;
            tx.insert(b"b", b"three".to_vec())?;
            // A transaction reads its own writes.
            assert_eq!(tx.get(b"a/1")?, Some(b"one".to_vec()));
            Ok(())
        })
        .unwrap();
    let after = version(&store);
    assert!(after > before);
    assert_eq!(store.get(b"a/2").unwrap(), Some(b"two".to_vec()));
    let scanned = store.scan_prefix(b"a/").unwrap();
    assert_eq!(
        scanned,
        vec![
            (b"a/1".to_vec(), b"one".to_vec()),
            (b"a/2".to_vec(), b"two".to_vec())
        ]
    );
    // A refused transaction writes nothing; a read-only one moves no version.
    let refused = store.transaction(&mut |tx| {
        tx.remove(b"b")?;
        Err(Abort::Refused(specs::ApiError::bad_request("no")))
    });
    assert!(refused.is_err());
    store
        .transaction(&mut |tx| tx.get(b"b").map(drop).map_err(Abort::from))
        .unwrap();
    assert_eq!(store.get(b"b").unwrap(), Some(b"three".to_vec()));
    assert_eq!(version(&store), after);
    store.transaction(&mut |tx| Ok(tx.remove(b"b")?)).unwrap();
    assert_eq!(store.get(b"b").unwrap(), None);
    // Keys at the end of the byte range scan too.
    store
        .transaction(&mut |tx| Ok(tx.insert(&[0xff, 0xff], b"last".to_vec())?))
        .unwrap();
    assert_eq!(store.scan_prefix(&[0xff]).unwrap().len(), 1);
}

/// Two instances increment one counter at once: serializable transactions, run
/// again on conflict, lose no increment.
#[test]
fn two_instances_incrementing_one_counter_lose_nothing() {
    let Some(pg) = Postgres::start() else { return };
    let url = pg.database("counter");
    let instances = [Arc::new(connect(&url)), Arc::new(connect(&url))];
    let threads: Vec<_> = instances
        .iter()
        .flat_map(|store| [store.clone(), store.clone()])
        .map(|store| {
            std::thread::spawn(move || {
                for _ in 0..25 {
                    store
                        .transaction(&mut |tx| {
                            let n = tx
                                .get(b"counter")?
                                .map_or(0, |v| u64::from_be_bytes(v.try_into().unwrap()));
                            tx.insert(b"counter", (n + 1).to_be_bytes().to_vec())?;
                            Ok(())
                        })
                        .unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let value = instances[1].get(b"counter").unwrap().unwrap();
    assert_eq!(u64::from_be_bytes(value.try_into().unwrap()), 100);
}

#[test]
fn instances_starting_together_migrate_once_and_a_newer_schema_is_refused() {
    let Some(pg) = Postgres::start() else { return };
    let url = pg.database("schema");
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || PgStore::connect(&url, 1).map(drop))
        })
        .collect();
    for start in starts {
        start.join().unwrap().unwrap();
    }
    let store = connect(&url);
    store
        .transaction(&mut |tx| Ok(tx.insert(b"k", b"v".to_vec())?))
        .unwrap();
    // A later binary moved the schema on: this one refuses to touch it.
    let newer = std::process::Command::new("psql")
        .args([&url, "-c", "INSERT INTO auth_schema (version) VALUES (99)"])
        .output()
        .unwrap();
    assert!(newer.status.success(), "{newer:?}");
    let error = PgStore::connect(&url, 1).err().unwrap().to_string();
    assert!(error.contains("newer than this binary knows"), "{error}");
}

/// One server on `url`, sealed under the key file at `key`.
async fn instance(url: &str, key: &std::path::Path) -> server::app::Running {
    instance_on(Arc::new(connect(url)), key).await
}

/// A server on the new database `name`, its admin made (and logged in, as the
/// client returned); the database's URL; the key's directory, to keep.
async fn instance_with_admin(
    pg: &Postgres,
    name: &str,
) -> (String, server::app::Running, Client, tempfile::TempDir) {
    let url = pg.database(name);
    let keys = tempfile::tempdir().unwrap();
    let server = instance(&url, &keys.path().join("k")).await;
    let mut admin = Client::new(server.addr);
    assert_eq!(admin.post("/api/auth.createAdmin", ADMIN).await.status, 200);
    (url, server, admin, keys)
}

async fn instance_on(engine: Arc<dyn Store>, key: &std::path::Path) -> server::app::Running {
    instance_on_with(engine, key, Default::default()).await
}

/// [`instance_on`] with the core's `config`.
async fn instance_on_with(
    engine: Arc<dyn Store>,
    key: &std::path::Path,
    config: server::core::Config,
) -> server::app::Running {
    let (store, _) = server::keyfile::seal(
        engine,
        "the test database",
        key,
        Arc::new(server::crypto::OsRandom::new()),
    )
    .unwrap();
    let deps = server::app::real_parts(store, 4);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    server::app::start(listener, deps, config, Default::default())
        .await
        .unwrap()
}

const ADMIN: &str = r#"{"email":"admin@example.com","password":"password123"}"#;

/// A session ended on one instance is refused by the other on its very next
/// request: its authentication cache reads the database's version first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ended_on_one_instance_is_refused_by_the_other_at_once() {
    let Some(pg) = Postgres::start() else { return };
    let url = pg.database("two");
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("shared.key");
    let (a, b) = (instance(&url, &key).await, instance(&url, &key).await);
    let mut on_a = Client::new(a.addr);
    assert_eq!(on_a.post("/api/auth.createAdmin", ADMIN).await.status, 200);
    let mut on_b = Client::new(b.addr);
    on_b.cookie = on_a.cookie.clone();
    for _ in 0..3 {
        // Read more than once: the second read comes from B's cache.
        assert_eq!(on_b.get("/api/auth.get").await.status, 200);
    }
    assert_eq!(on_a.post_empty("/api/auth.logout").await.body, "true");
    assert_eq!(on_b.get("/api/auth.get").await.status, 401);

    // API tokens: made on B, used on A; replaced on A, refused on B.
    let mut on_b = Client::new(b.addr);
    assert_eq!(on_b.post("/api/auth.login", ADMIN).await.status, 200);
    assert_eq!(on_b.post_empty("/api/auth.generateToken").await.status, 200);
    let token = on_b.get("/api/auth.get").await.json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let mut by_token_on_a = Client::new(a.addr).with_bearer(&token);
    assert_eq!(by_token_on_a.get("/api/auth.get").await.status, 200);
    let mut by_token_on_b = Client::new(b.addr).with_bearer(&token);
    assert_eq!(by_token_on_b.get("/api/auth.get").await.status, 200);
    assert_eq!(
        by_token_on_a
            .post_empty("/api/auth.generateToken")
            .await
            .status,
        200
    );
    assert_eq!(by_token_on_b.get("/api/auth.get").await.status, 401);
}

/// What a login, an `auth.get` and an invitation cost in round trips to the
/// database (the README reports them); fails if one grows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trips_of_a_login_an_auth_get_and_an_invitation() {
    let Some(pg) = Postgres::start() else { return };
    let url = pg.database("trips");
    let keys = tempfile::tempdir().unwrap();
    let engine = Arc::new(connect(&url));
    let running = instance_on(engine.clone(), &keys.path().join("trips.key")).await;
    let mut admin = Client::new(running.addr);
    assert_eq!(admin.post("/api/auth.createAdmin", ADMIN).await.status, 200);
    let mut counted = Vec::new();
    // Twice each: the first prepares statements on a connection, the second is what
    // every later one costs.
    for round in 0..2 {
        let before = engine.round_trips();
        let mut user = Client::new(running.addr);
        assert_eq!(user.post("/api/auth.login", ADMIN).await.status, 200);
        let login = engine.round_trips() - before;
        let before = engine.round_trips();
        assert_eq!(user.get("/api/auth.get").await.status, 200);
        let first_get = engine.round_trips() - before;
        let before = engine.round_trips();
        assert_eq!(user.get("/api/auth.get").await.status, 200);
        let cached_get = engine.round_trips() - before;
        let before = engine.round_trips();
        let invite = format!(r#"{{"email":"member{round}@example.com"}}"#);
        let invited = user.post("/api/admin.createUserInvitation", &invite).await;
        assert_eq!(invited.status, 200, "{}", invited.body);
        let invitation = engine.round_trips() - before;
        counted = vec![login, first_get, cached_get, invitation];
    }
    eprintln!(
        "round trips: login {}, auth.get first {} then {}, admin.createUserInvitation {}",
        counted[0], counted[1], counted[2], counted[3]
    );
    // A cached auth.get reads the version only.
    assert_eq!(counted[2], 1, "{counted:?}");
    assert!(
        counted[0] <= 8 && counted[1] <= 3 && counted[3] <= 5,
        "{counted:?}"
    );
}

/// A login at its account's bound of sessions ends the oldest one, after reading
/// every session of the account: in one round trip, not two per session (which
/// cost 200 round trips a login at the default bound and a quarter of the logins
/// PostgreSQL could serve).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_at_the_session_bound_reads_the_sessions_in_one_round_trip() {
    let Some(pg) = Postgres::start() else { return };
    let url = pg.database("bound");
    let keys = tempfile::tempdir().unwrap();
    let engine = Arc::new(connect(&url));
    const BOUND: usize = 20;
    let config = server::core::Config {
        max_sessions_per_account: BOUND,
        ..Default::default()
    };
    let running = instance_on_with(engine.clone(), &keys.path().join("bound.key"), config).await;
    let mut admin = Client::new(running.addr);
    assert_eq!(admin.post("/api/auth.createAdmin", ADMIN).await.status, 200);
    let (mut trips, mut users) = (Vec::new(), Vec::new());
    for _ in 0..BOUND + 2 {
        let before = engine.round_trips();
        let mut user = Client::new(running.addr);
        assert_eq!(user.post("/api/auth.login", ADMIN).await.status, 200);
        trips.push(engine.round_trips() - before);
        users.push(user);
    }
    // Under the bound a login costs what `round_trips_of_…` holds; at it, the
    // sessions' read and the ending transaction (its read of the account and of
    // each ended session, and its end) come on top: a few, whatever the bound.
    let (under, at) = (trips[2], trips[BOUND + 1]);
    eprintln!("round trips of a login under the session bound {under}, at it {at}");
    assert!(
        at <= under + 6,
        "round trips under the bound, then at it: {trips:?}"
    );
    assert_eq!(
        admin.get("/api/auth.get").await.status,
        401,
        "the oldest ended"
    );
    let newest = users.last_mut().unwrap();
    let sessions = newest.get("/api/auth.listSessions").await.json();
    assert_eq!(sessions.as_array().unwrap().len(), BOUND, "{sessions}");
}

/// Requests that authenticate at the same moment share one read of the version
/// (each still one made after it arrived): fewer reads than requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_authenticating_together_share_the_version_read() {
    let Some(pg) = Postgres::start() else { return };
    let url = pg.database("shared_reads");
    let keys = tempfile::tempdir().unwrap();
    let engine = Arc::new(connect(&url));
    let running = instance_on(engine.clone(), &keys.path().join("shared.key")).await;
    let mut admin = Client::new(running.addr);
    assert_eq!(admin.post("/api/auth.createAdmin", ADMIN).await.status, 200);
    assert_eq!(admin.get("/api/auth.get").await.status, 200);
    const REQUESTS: u64 = 64;
    let before = engine.round_trips();
    let requests: Vec<_> = (0..REQUESTS)
        .map(|_| {
            let mut client = Client::new(running.addr);
            client.cookie = admin.cookie.clone();
            tokio::spawn(async move { client.get("/api/auth.get").await.status })
        })
        .collect();
    for request in requests {
        assert_eq!(request.await.unwrap(), 200);
    }
    let reads = engine.round_trips() - before;
    // Nothing was written: each request read the version only, or shared a read.
    assert!(reads < REQUESTS, "{reads} reads for {REQUESTS} requests");
}

/// Two `createAdmin` at once, one on each instance: exactly one admin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sign_ups_at_once_on_two_instances_make_one_admin() {
    let Some(pg) = Postgres::start() else { return };
    let url = pg.database("race");
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("shared.key");
    let (a, b) = (instance(&url, &key).await, instance(&url, &key).await);
    let first = r#"{"email":"first@example.com","password":"password123"}"#;
    let second = r#"{"email":"second@example.com","password":"password123"}"#;
    let (mut on_a, mut on_b) = (Client::new(a.addr), Client::new(b.addr));
    let (ra, rb) = tokio::join!(
        on_a.post("/api/auth.createAdmin", first),
        on_b.post("/api/auth.createAdmin", second)
    );
    let mut statuses = [ra.status, rb.status];
    statuses.sort();
    assert_eq!(statuses, [200, 400], "{} / {}", ra.body, rb.body);
    let logins = [
        Client::new(a.addr)
            .post("/api/auth.login", first)
            .await
            .status,
        Client::new(b.addr)
            .post("/api/auth.login", second)
            .await
            .status,
    ];
    assert_eq!(
        logins.iter().filter(|s| **s == 200).count(),
        1,
        "{logins:?}"
    );
}

/// The database stopping: clear 503s (no 500, no hang past the timeout), `/ready`
/// says so, and service resumes by itself when it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_going_away_answers_503_and_service_resumes() {
    let Some(pg) = Postgres::start() else { return };
    let (_url, server, mut admin, _keys) = instance_with_admin(&pg, "faults").await;
    pg.halt();
    let started = std::time::Instant::now();
    let r = Client::new(server.addr)
        .post("/api/auth.login", ADMIN)
        .await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body.contains("SERVICE_UNAVAILABLE"), "{}", r.body);
    assert!(
        !r.body.to_lowercase().contains("postgres"),
        "a driver message: {}",
        r.body
    );
    assert_eq!(admin.get("/api/auth.get").await.status, 503);
    let ready = conformance::client::send(server.addr, "GET", "/ready", &[], "").await;
    assert_eq!(ready.status, 503);
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    pg.resume();
    let mut back = false;
    for _ in 0..100 {
        if Client::new(server.addr)
            .post("/api/auth.login", ADMIN)
            .await
            .status
            == 200
        {
            back = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(back, "service did not resume");
    assert_eq!(
        admin.get("/api/auth.get").await.status,
        200,
        "the session survived"
    );
    let ready = conformance::client::send(server.addr, "GET", "/ready", &[], "").await;
    assert_eq!(ready.status, 200);
}

/// A round-robin in front of `backends`: each connection goes to the next one (the
/// suite's client makes one request per connection). Its address.
async fn round_robin(
    backends: Vec<std::net::SocketAddr>,
) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut next = 0;
        while let Ok((mut client, _)) = listener.accept().await {
            let backend = backends[next % backends.len()];
            next += 1;
            tokio::spawn(async move {
                if let Ok(mut server) = tokio::net::TcpStream::connect(backend).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    (addr, task)
}

/// The instances of a check, the round-robin in front of them (if two), and where
/// the suite speaks to them.
type Serving = (
    Vec<server::app::Running>,
    Option<tokio::task::JoinHandle<()>>,
    std::net::SocketAddr,
);

/// The whole conformance suite against servers on PostgreSQL: a new database per
/// check, with one instance or two behind a round-robin.
struct OnPostgres {
    pg: Postgres,
    keys: tempfile::TempDir,
    instances: usize,
    count: std::sync::atomic::AtomicUsize,
    current: tokio::sync::Mutex<Option<Serving>>,
}

impl conformance::Target for OnPostgres {
    fn fresh(&self) -> conformance::target::BoxFuture<'_, Result<std::net::SocketAddr, String>> {
        Box::pin(async move {
            let n = self.count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let url = self.pg.database(&format!("check{n}"));
            let key = self.keys.path().join(format!("check{n}.key"));
            let mut running = Vec::new();
            for _ in 0..self.instances {
                running.push(instance(&url, &key).await);
            }
            let (addr, proxy) = match running.as_slice() {
                [one] => (one.addr, None),
                many => {
                    let (addr, task) = round_robin(many.iter().map(|r| r.addr).collect()).await;
                    (addr, Some(task))
                }
            };
            if let Some((_, Some(old_proxy), _)) =
                self.current.lock().await.replace((running, proxy, addr))
            {
                old_proxy.abort();
            }
            Ok(addr)
        })
    }
    fn shared(&self) -> conformance::target::BoxFuture<'_, Result<std::net::SocketAddr, String>> {
        Box::pin(async move {
            if let Some((_, _, addr)) = self.current.lock().await.as_ref() {
                return Ok(*addr);
            }
            self.fresh().await
        })
    }
    fn now_ms(&self) -> conformance::target::BoxFuture<'_, i64> {
        Box::pin(async {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64)
        })
    }
    fn advance_clock(&self, _: i64) -> conformance::target::BoxFuture<'_, bool> {
        Box::pin(async { false })
    }
    fn name(&self) -> String {
        format!("{} instance(s) on PostgreSQL", self.instances)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_on_postgres_passes_the_conformance_suite() {
    suite_on_postgres(1).await;
}

/// Every request of every check goes to the other instance than the one before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_behind_a_round_robin_pass_the_conformance_suite() {
    suite_on_postgres(2).await;
}

async fn suite_on_postgres(instances: usize) {
    let Some(pg) = Postgres::start() else { return };
    let target = Arc::new(OnPostgres {
        pg,
        keys: tempfile::tempdir().unwrap(),
        instances,
        count: Default::default(),
        current: Default::default(),
    });
    let report = conformance::run(target, None).await;
    println!("{}", report.render());
    assert_eq!(report.failed(), 0, "{}", report.failures().join("\n\n"));
    // Every check for a self-hosted target whose clock need not move.
    let expected: usize = conformance::checks::all()
        .iter()
        .filter(|c| c.mode.applies(false) && !c.moves_clock)
        .map(|c| c.runs_over_both())
        .sum();
    assert_eq!(report.passed(), expected);
}

#[test]
fn an_unreachable_database_is_a_clear_error_at_start() {
    // Nothing listens on port 1.
    let error = PgStore::connect("postgres://postgres@127.0.0.1:1/none", 1)
        .err()
        .unwrap();
    assert!(matches!(error, StoreError::Unavailable(_)), "{error}");
}

/// The binary: `serve --database-url` (or `DATABASE_URL`) needs the shared key file
/// named; two processes on one database with it serve the same accounts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_binaries_on_one_database_with_one_key_file() {
    use common::binary::{run, serve_with};
    let Some(pg) = Postgres::start() else { return };
    let url = pg.database("binaries");
    let root = tempfile::tempdir().unwrap();
    let out = run(&["serve", "--database-url", &url], root.path());
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--key-file"), "{stderr}");

    let key = root.path().join("shared.key");
    let key = key.to_str().unwrap();
    let global = ["--key-file", key];
    let a = serve_with(root.path(), "4", &global, &["--database-url", &url]).await;
    let b = serve_with(root.path(), "4", &global, &["--database-url", &url]).await;
    let mut on_a = Client::new(a.addr);
    assert_eq!(on_a.post("/api/auth.createAdmin", ADMIN).await.status, 200);
    let r = Client::new(b.addr).post("/api/auth.login", ADMIN).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Nothing of it went to the data directory.
    assert!(!root.path().join("data").exists());
    // Without its key the data is not opened.
    let other = root.path().join("other.key");
    let out = run(
        &[
            "--key-file",
            other.to_str().unwrap(),
            "serve",
            "--database-url",
            &url,
        ],
        root.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("holds data sealed under a key"),
        "{stderr}"
    );
    assert!(!other.exists(), "no new key is made for sealed data");
}

/// Guesses spread over two instances count as on one: the failed logins are
/// counted in the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guesses_spread_over_instances_are_throttled_as_on_one() {
    let Some(pg) = Postgres::start() else { return };
    let url = pg.database("guesses");
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("shared.key");
    let (a, b) = (instance(&url, &key).await, instance(&url, &key).await);
    assert_eq!(
        Client::new(a.addr)
            .post("/api/auth.createAdmin", ADMIN)
            .await
            .status,
        200
    );
    let wrong = r#"{"email":"admin@example.com","password":"wrong-password"}"#;
    // The default limits: 5 failures at an account from one address, then waits.
    for n in 0..5 {
        let on = if n % 2 == 0 { a.addr } else { b.addr };
        let r = Client::new(on).post("/api/auth.login", wrong).await;
        assert_eq!(r.status, 400, "guess {n}: {}", r.body);
    }
    for on in [a.addr, b.addr] {
        let r = Client::new(on).post("/api/auth.login", ADMIN).await;
        assert_eq!(r.status, 429, "{}", r.body);
        assert!(r.header("retry-after").is_some());
    }
}

/// A pin is accepted once across instances, and an invitation accepted twice at
/// once (on two instances) makes one account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pin_and_an_invitation_are_used_once_across_instances() {
    let Some(pg) = Postgres::start() else { return };
    let url = pg.database("once");
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("shared.key");
    let (a, b) = (instance(&url, &key).await, instance(&url, &key).await);
    let mut admin = Client::new(a.addr);
    assert_eq!(admin.post("/api/auth.createAdmin", ADMIN).await.status, 200);

    let body = r#"{"email":"dev@example.com"}"#;
    assert_eq!(
        admin
            .post("/api/admin.createUserInvitation", body)
            .await
            .status,
        200
    );
    let invitation = admin.get("/api/user.all").await.json()[0].clone();
    let accept = serde_json::json!({"password": "memberpass1", "id": invitation["authId"], "token": invitation["token"]}).to_string();
    let (mut on_a, mut on_b) = (Client::new(a.addr), Client::new(b.addr));
    let (ra, rb) = tokio::join!(
        on_a.post("/api/auth.createUser", &accept),
        on_b.post("/api/auth.createUser", &accept)
    );
    let mut statuses = [ra.status, rb.status];
    statuses.sort();
    assert_eq!(statuses, [200, 400], "{} / {}", ra.body, rb.body);

    let secret = admin.get("/api/auth.generate2FASecret").await.json()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    let pin = |at: u64| conformance::totp::pin(&secret, at).unwrap();
    let setup = serde_json::json!({"pin": pin(now()), "secret": secret}).to_string();
    assert_eq!(
        admin.post("/api/auth.verify2FASetup", &setup).await.status,
        200
    );
    // The next step's pin (the set-up spent this one), tried on both instances.
    let login = |on| async move {
        let r = Client::new(on).post("/api/auth.login", ADMIN).await;
        r.json()["authId"].clone()
    };
    let id = login(a.addr).await;
    login(b.addr).await;
    let next = serde_json::json!({"pin": pin(now() + 30), "id": id}).to_string();
    let (mut on_a, mut on_b) = (Client::new(a.addr), Client::new(b.addr));
    let (ra, rb) = tokio::join!(
        on_a.post("/api/auth.verifyLogin2FA", &next),
        on_b.post("/api/auth.verifyLogin2FA", &next)
    );
    let mut statuses = [ra.status, rb.status];
    statuses.sort();
    assert_eq!(statuses, [200, 400], "{} / {}", ra.body, rb.body);
}

/// `migrate`: a data directory into PostgreSQL and back, as it is; the accounts
/// log in with the same key file on either side; a target that holds data is
/// refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_from_a_data_directory_to_postgres_and_back() {
    use common::binary::{run, serve_with, terminate};
    let Some(pg) = Postgres::start() else { return };
    let url = pg.database("moved");
    let root = tempfile::tempdir().unwrap();
    let key = root.path().join("data.key");
    let key = key.to_str().unwrap();
    let mut on_sled = serve_with(root.path(), "4", &[], &[]).await;
    let mut admin = Client::new(on_sled.addr);
    assert_eq!(admin.post("/api/auth.createAdmin", ADMIN).await.status, 200);
    assert_eq!(
        admin.post_empty("/api/auth.generateToken").await.status,
        200
    );
    let token = admin.get("/api/auth.get").await.json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(terminate(&mut on_sled).success());
    drop(on_sled);

    let data = root.path().join("data");
    let data = data.to_str().unwrap();
    let out = run(
        &["migrate", "--from-data-dir", data, "--database-url", &url],
        root.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("copied"));
    // Once is enough: the database now holds data.
    let again = run(
        &["migrate", "--from-data-dir", data, "--database-url", &url],
        root.path(),
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds data"));

    let on_postgres = serve_with(
        root.path(),
        "4",
        &["--key-file", key],
        &["--database-url", &url],
    )
    .await;
    let r = Client::new(on_postgres.addr)
        .post("/api/auth.login", ADMIN)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut by_token = Client::new(on_postgres.addr).with_bearer(&token);
    assert_eq!(by_token.get("/api/auth.get").await.status, 200);
    drop(on_postgres);

    let elsewhere = tempfile::tempdir().unwrap();
    let back = elsewhere.path().join("data");
    let back = back.to_str().unwrap();
    let out = run(
        &["migrate", "--database-url", &url, "--to-data-dir", back],
        root.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let on_sled_again = serve_with(elsewhere.path(), "4", &["--key-file", key], &[]).await;
    let r = Client::new(on_sled_again.addr)
        .post("/api/auth.login", ADMIN)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// PostgreSQL restarting under a write load: writes answer 200 or 503 (never a
/// 500), and every write answered 200 is there afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restart_under_writes_loses_no_acknowledged_write() {
    let Some(pg) = Postgres::start() else { return };
    let (_url, _server, mut admin, _keys) = instance_with_admin(&pg, "restart").await;
    let writers: Vec<_> = (0..4)
        .map(|writer| {
            let admin = admin.clone();
            tokio::spawn(async move {
                let mut admin = admin;
                let mut answers = Vec::new();
                for n in 0..60 {
                    let email = format!("w{writer}-{n}@example.com");
                    let body = serde_json::json!({ "email": email }).to_string();
                    let r = admin.post("/api/admin.createUserInvitation", &body).await;
                    answers.push((email, r.status));
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
                answers
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    pg.halt();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    pg.resume();
    let mut answers = Vec::new();
    for writer in writers {
        answers.extend(writer.await.unwrap());
    }
    let statuses: std::collections::BTreeSet<u16> = answers.iter().map(|(_, s)| *s).collect();
    assert!(
        statuses.iter().all(|s| [200, 503].contains(s)),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&503),
        "the restart was not seen: {statuses:?}"
    );
    let mut listed = None;
    for _ in 0..100 {
        let r = admin.get("/api/user.all").await;
        if r.status == 200 {
            listed = Some(r.json());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let listed = listed.expect("service resumed").to_string();
    let acknowledged: Vec<&String> = answers
        .iter()
        .filter(|(_, s)| *s == 200)
        .map(|(email, _)| email)
        .collect();
    assert!(acknowledged.len() > 10);
    for email in acknowledged {
        assert!(
            listed.contains(email.as_str()),
            "{email} was acknowledged, then lost"
        );
    }
}

/// Dokploy's auth tables as the reference's §7 lays them out (drizzle, v0.14).
const DOKPLOY_SCHEMA: &str = r#"
CREATE TYPE "Roles" AS ENUM ('admin', 'user');
CREATE TABLE auth (
  id text PRIMARY KEY, email text NOT NULL UNIQUE, password text NOT NULL, rol "Roles" NOT NULL,
  image text, "createdAt" text NOT NULL, secret text, "is2FAEnabled" boolean NOT NULL DEFAULT false,
  token text, "resetPasswordToken" text, "resetPasswordExpiresAt" text,
  "confirmationToken" text, "confirmationExpiresAt" text);
CREATE TABLE admin (
  "adminId" text PRIMARY KEY, "authId" text NOT NULL REFERENCES auth(id) ON DELETE CASCADE,
  "createdAt" text NOT NULL, "serverIp" text, "certificateType" text NOT NULL DEFAULT 'none', host text,
  "letsEncryptEmail" text, "sshPrivateKey" text, "enableDockerCleanup" boolean NOT NULL DEFAULT false,
  "enableLogRotation" boolean NOT NULL DEFAULT false, "stripeCustomerId" text,
  "stripeSubscriptionId" text, "serversQuantity" integer NOT NULL DEFAULT 0);
CREATE TABLE "user" (
  "userId" text PRIMARY KEY, token text NOT NULL, "isRegistered" boolean NOT NULL DEFAULT false,
  "expirationDate" timestamp(3) NOT NULL, "createdAt" text NOT NULL,
  "canCreateProjects" boolean NOT NULL DEFAULT false, "canAccessToSSHKeys" boolean NOT NULL DEFAULT false,
  "canCreateServices" boolean NOT NULL DEFAULT false, "canDeleteProjects" boolean NOT NULL DEFAULT false,
  "canDeleteServices" boolean NOT NULL DEFAULT false, "canAccessToDocker" boolean NOT NULL DEFAULT false,
  "canAccessToAPI" boolean NOT NULL DEFAULT false, "canAccessToGitProviders" boolean NOT NULL DEFAULT false,
  "canAccessToTraefikFiles" boolean NOT NULL DEFAULT false,
  "accesedProjects" text[] NOT NULL DEFAULT ARRAY[]::text[], "accesedServices" text[] NOT NULL DEFAULT ARRAY[]::text[],
  "adminId" text NOT NULL REFERENCES admin("adminId") ON DELETE CASCADE,
  "authId" text NOT NULL REFERENCES auth(id) ON DELETE CASCADE);
CREATE TABLE session (
  id text PRIMARY KEY, user_id text NOT NULL REFERENCES auth(id) ON DELETE CASCADE,
  expires_at timestamp with time zone NOT NULL);
"#;

/// A Dokploy whose tables lack the columns that came and went across versions (2FA,
/// reset and confirmation tokens, image, permission flags): what is there comes
/// over, what is not reads as its default.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_dokploy_reads_tables_without_the_optional_columns() {
    use common::binary::{run, serve_with};
    let Some(pg) = Postgres::start() else { return };
    let url = pg.database("older_dokploy");
    let (db, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    db.batch_execute(DOKPLOY_SCHEMA).await.unwrap();
    db.batch_execute(
        "ALTER TABLE auth DROP COLUMN image, DROP COLUMN secret, DROP COLUMN \"is2FAEnabled\", \
           DROP COLUMN \"resetPasswordToken\", DROP COLUMN \"resetPasswordExpiresAt\", \
           DROP COLUMN \"confirmationToken\", DROP COLUMN \"confirmationExpiresAt\"; \
         ALTER TABLE \"user\" DROP COLUMN \"canAccessToGitProviders\", \
           DROP COLUMN \"canAccessToTraefikFiles\", DROP COLUMN \"accesedServices\";",
    )
    .await
    .unwrap();
    let hash = bcrypt::hash("password123", 10)
        .unwrap()
        .replacen("$2y$", "$2b$", 1);
    db.execute(
        "INSERT INTO auth (id, email, password, rol, \"createdAt\") \
         VALUES ('adminAuthId0000000001', 'admin@example.com', $1, 'admin', '2024-01-01T08:00:00.000Z')",
        &[&hash],
    )
    .await
    .unwrap();
    db.batch_execute(
        "INSERT INTO admin (\"adminId\", \"authId\", \"createdAt\") \
         VALUES ('adminId00000000000001', 'adminAuthId0000000001', '2024-01-01T08:00:00.000Z');",
    )
    .await
    .unwrap();

    let root = tempfile::tempdir().unwrap();
    let out = run(&["import-dokploy", "--from", &url], root.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let server = serve_with(root.path(), "4", &[], &[]).await;
    let mut admin = Client::new(server.addr);
    let r = admin.post("/api/auth.login", ADMIN).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let me = admin.get("/api/auth.get").await.json();
    assert_eq!(
        (me["rol"].as_str(), me["is2FAEnabled"].as_bool()),
        (Some("admin"), Some(false))
    );
    assert_eq!(me["createdAt"], "2024-01-01T08:00:00.000Z");
}

/// The contents of Dokploy's tables, to show that the import changed nothing.
async fn dokploy_fingerprint(db: &tokio_postgres::Client) -> String {
    let mut all = String::new();
    for table in ["auth", "admin", "\"user\"", "session"] {
        let row = db
            .query_one(
                &format!("SELECT coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') FROM {table} t"),
                &[],
            )
            .await
            .unwrap();
        all.push_str(&row.get::<_, String>(0));
    }
    all
}

/// An import of a database laid out as Dokploy's, with rows as Dokploy writes them:
/// every account logs in with its old password, keeps its role, 2FA secret and API
/// token; a live cookie session stays valid and an expired one does not; the
/// member stays with its admin; a pending invitation link still works. Dokploy's
/// database is unchanged; a database without its tables is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_dokploy_brings_every_account_over() {
    use common::binary::{run, serve_with};
    let Some(pg) = Postgres::start() else { return };
    let url = pg.database("dokploy");
    let (db, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    db.batch_execute(DOKPLOY_SCHEMA).await.unwrap();
    let hash = |password: &str| {
        bcrypt::hash(password, 10)
            .unwrap()
            .replacen("$2y$", "$2b$", 1)
    };
    let secret = "JBSWY3DPEHPK3PXPJBSWY3DP";
    let api_token = "abcdefghijklmnopqrstuvwxyz234567abcdefgh";
    let member_cookie = "mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm";
    let expired_cookie = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";
    let invitation = "a".repeat(64);
    let (admin_pw, member_pw, random_pw) =
        (hash("password123"), hash("memberpass1"), hash("x8Fq2r9LmZ"));
    db.execute(
        "INSERT INTO auth (id, email, password, rol, image, \"createdAt\", secret, \"is2FAEnabled\", token) \
         VALUES ('adminAuthId0000000001', 'admin@example.com', $1, 'admin', '/avatars/avatar-3.png', \
         '2024-10-01T08:00:00.000Z', $2, true, $3)",
        &[&admin_pw, &secret, &api_token],
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO auth (id, email, password, rol, image, \"createdAt\") VALUES \
         ('memberAuthId000000001', 'dev@example.com', $1, 'user', '/avatars/avatar-7.png', '2024-10-02T08:00:00.000Z'), \
         ('pendingAuthId00000001', 'new@example.com', $2, 'user', '/avatars/avatar-1.png', '2024-10-03T08:00:00.000Z')",
        &[&member_pw, &random_pw],
    )
    .await
    .unwrap();
    db.batch_execute(&format!(
        "INSERT INTO admin (\"adminId\", \"authId\", \"createdAt\") VALUES ('adminId00000000000001', 'adminAuthId0000000001', '2024-10-01T08:00:00.000Z'); \
         INSERT INTO \"user\" (\"userId\", token, \"isRegistered\", \"expirationDate\", \"createdAt\", \"canCreateProjects\", \"accesedProjects\", \"adminId\", \"authId\") VALUES \
           ('memberUserId000000001', '{member_token}', true, now() - interval '5 days', '2024-10-02T08:00:00.000Z', true, ARRAY['p1'], 'adminId00000000000001', 'memberAuthId000000001'), \
           ('pendingUserId00000001', '{invitation}', false, (now() at time zone 'utc') + interval '1 day', '2024-10-03T08:00:00.000Z', false, ARRAY[]::text[], 'adminId00000000000001', 'pendingAuthId00000001'); \
         INSERT INTO session (id, user_id, expires_at) VALUES \
           ('{api_token}', 'adminAuthId0000000001', now() + interval '300 days'), \
           ('{member_cookie}', 'memberAuthId000000001', now() + interval '20 hours'), \
           ('{expired_cookie}', 'memberAuthId000000001', now() - interval '1 hour');",
        member_token = "b".repeat(64),
    ))
    .await
    .unwrap();
    let before = dokploy_fingerprint(&db).await;

    let root = tempfile::tempdir().unwrap();
    // Not a Dokploy database: refused, and nothing made.
    let empty = pg.database("not_dokploy");
    let out = run(&["import-dokploy", "--from", &empty], root.path());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no Dokploy auth tables"));

    let out = run(&["import-dokploy", "--from", &url], root.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains("1 admin(s), 1 member(s) and 1 pending invitation(s); 1 cookie session(s) and 1 API token(s) still valid (1 expired"),
        "{report}"
    );
    assert_eq!(
        dokploy_fingerprint(&db).await,
        before,
        "Dokploy's database changed"
    );
    // Once: the target now holds accounts.
    let again = run(&["import-dokploy", "--from", &url], root.path());
    assert!(!again.status.success());

    let server = serve_with(root.path(), "4", &[], &[]).await;
    let addr = server.addr;
    // The admin: its password, then its 2FA pin from the old secret.
    let r = Client::new(addr).post("/api/auth.login", ADMIN).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["is2FAEnabled"], true);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let pin = conformance::totp::pin(secret, now).unwrap();
    let body = serde_json::json!({"pin": pin, "id": "adminAuthId0000000001"}).to_string();
    let mut admin = Client::new(addr);
    assert_eq!(
        admin.post("/api/auth.verifyLogin2FA", &body).await.status,
        200
    );
    let me = admin.get("/api/auth.get").await.json();
    assert_eq!(
        (me["rol"].as_str(), me["is2FAEnabled"].as_bool()),
        (Some("admin"), Some(true))
    );
    assert_eq!(me["createdAt"], "2024-10-01T08:00:00.000Z");
    // Its API token.
    let mut by_token = Client::new(addr).with_bearer(api_token);
    assert_eq!(
        by_token.get("/api/auth.get").await.json()["email"],
        "admin@example.com"
    );
    // The member: its live cookie session, not the expired one; its password.
    let cookie = format!("auth_session={member_cookie}");
    let r =
        conformance::client::send(addr, "GET", "/api/auth.get", &[("cookie", &cookie)], "").await;
    assert_eq!((r.status, r.json()["rol"].as_str()), (200, Some("user")));
    let expired = format!("auth_session={expired_cookie}");
    let r =
        conformance::client::send(addr, "GET", "/api/auth.get", &[("cookie", &expired)], "").await;
    assert_eq!(r.status, 401);
    let member_login = r#"{"email":"dev@example.com","password":"memberpass1"}"#;
    assert_eq!(
        Client::new(addr)
            .post("/api/auth.login", member_login)
            .await
            .status,
        200
    );
    // With its admin, permissions and all; the pending invitation too.
    let all = by_token.get("/api/user.all").await.json();
    let emails: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["auth"]["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["dev@example.com", "new@example.com"]);
    assert_eq!(all[0]["isRegistered"], true);
    assert_eq!(all[0]["canCreateProjects"], true);
    assert_eq!(all[0]["accesedProjects"], serde_json::json!(["p1"]));
    assert_eq!(all[1]["isRegistered"], false);
    // The pending invitation's link still works, and makes the account.
    let r = Client::new(addr)
        .get(&format!("/api/admin.getUserByToken?token={invitation}"))
        .await;
    assert_eq!(
        (r.status, r.json()["isExpired"].as_bool()),
        (200, Some(false)),
        "{}",
        r.body
    );
    let accept = serde_json::json!({"password": "newpassword1", "id": "pendingAuthId00000001", "token": invitation}).to_string();
    assert_eq!(
        Client::new(addr)
            .post("/api/auth.createUser", &accept)
            .await
            .status,
        200
    );
    let new_login = r#"{"email":"new@example.com","password":"newpassword1"}"#;
    assert_eq!(
        Client::new(addr)
            .post("/api/auth.login", new_login)
            .await
            .status,
        200
    );
    // And the old random password of the invitee never logged in.
    let guessed = r#"{"email":"new@example.com","password":"x8Fq2r9LmZ"}"#;
    assert_eq!(
        Client::new(addr)
            .post("/api/auth.login", guessed)
            .await
            .status,
        400
    );

    // The same into PostgreSQL (`--database-url`, with the shared key file).
    let target = pg.database("imported");
    let key = root.path().join("shared.key");
    let key = key.to_str().unwrap();
    let out = run(
        &[
            "--key-file",
            key,
            "import-dokploy",
            "--from",
            &url,
            "--database-url",
            &target,
        ],
        root.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let on_postgres = serve_with(
        root.path(),
        "4",
        &["--key-file", key],
        &["--database-url", &target],
    )
    .await;
    let r = Client::new(on_postgres.addr)
        .post("/api/auth.login", member_login)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = conformance::client::send(
        on_postgres.addr,
        "GET",
        "/api/auth.get",
        &[("cookie", &cookie)],
        "",
    )
    .await;
    assert_eq!(r.status, 200, "the live cookie session, on PostgreSQL");
    let mut by_token = Client::new(on_postgres.addr).with_bearer(api_token);
    assert_eq!(by_token.get("/api/auth.get").await.json()["rol"], "admin");
    assert_eq!(
        dokploy_fingerprint(&db).await,
        before,
        "Dokploy's database changed"
    );
}

/// A new CA (its certificate, PEM) and a certificate it signed for `names` with
/// its key (PEM).
fn certificates(names: &[&str]) -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "dokploy-auth test CA");
    let ca_certificate = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let certificate = rcgen::CertificateParams::new(names)
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    (ca_certificate.pem(), certificate.pem(), key.serialize_pem())
}

/// A PostgreSQL that takes TCP clients only over TLS, with a certificate for
/// `names` from a CA of its own.
struct TlsDatabase {
    pg: Postgres,
    /// The database's URL, without TLS parameters.
    base: String,
    /// The CA's certificate, PEM.
    ca_file: String,
    files: tempfile::TempDir,
}

fn tls_database(names: &[&str]) -> Option<TlsDatabase> {
    let (ca, certificate, key) = certificates(names);
    let pg = Postgres::start_with_tls(&certificate, &key)?;
    let base = pg.database("tls");
    let files = tempfile::tempdir().unwrap();
    let ca_file = files.path().join("ca.pem");
    std::fs::write(&ca_file, &ca).unwrap();
    let ca_file = ca_file.to_str().unwrap().to_string();
    Some(TlsDatabase {
        pg,
        base,
        ca_file,
        files,
    })
}

#[test]
fn tls_to_the_database_verifies_the_server_and_plain_text_is_refused_there() {
    let Some(TlsDatabase {
        pg,
        base,
        ca_file,
        files,
    }) = tls_database(&["127.0.0.1", "localhost"])
    else {
        return;
    };

    // Verified against the CA, by IP address and by host name: the store works.
    for url in [
        format!("{base}?sslmode=verify-full&sslrootcert={ca_file}"),
        format!(
            "postgres://postgres@localhost:{}/tls?sslmode=require&sslrootcert={ca_file}",
            pg.port
        ),
    ] {
        let store = connect(&url);
        store
            .transaction(&mut |tx| Ok(tx.insert(b"over-tls", b"yes".to_vec())?))
            .unwrap();
        assert_eq!(store.get(b"over-tls").unwrap(), Some(b"yes".to_vec()));
    }

    // The server takes no plain text here, so the connection above was TLS.
    let plain = PgStore::connect(&format!("{base}?sslmode=disable"), 1)
        .err()
        .unwrap();
    assert!(plain.to_string().contains("no encryption"), "{plain}");
    // A server whose certificate no trusted CA signed: refused, not trusted blindly
    // (the public roots do not know the test CA; nor does another CA).
    let unknown = PgStore::connect(&format!("{base}?sslmode=require"), 1)
        .err()
        .unwrap();
    assert!(unknown.to_string().contains("certificate"), "{unknown}");
    let (other_ca, _, _) = certificates(&["127.0.0.1"]);
    let other_file = files.path().join("other.pem");
    std::fs::write(&other_file, other_ca).unwrap();
    let other = PgStore::connect(
        &format!(
            "{base}?sslmode=require&sslrootcert={}",
            other_file.display()
        ),
        1,
    )
    .err()
    .unwrap();
    assert!(other.to_string().contains("certificate"), "{other}");
}

#[test]
fn a_certificate_for_another_host_is_refused() {
    let Some(db) = tls_database(&["db.example.internal"]) else {
        return;
    };
    let refused = PgStore::connect(
        &format!("{}?sslmode=verify-full&sslrootcert={}", db.base, db.ca_file),
        1,
    )
    .err()
    .unwrap();
    assert!(refused.to_string().contains("certificate"), "{refused}");
}

/// Ends every other connection to the database at `url`, waiting until they are
/// gone (what a failover or an administrator does).
fn end_other_connections(url: &str) {
    let url = url.to_string();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(connection);
            let ended = client
                .query(
                    "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity \
                     WHERE datname = current_database() AND pid <> pg_backend_pid()",
                    &[],
                )
                .await
                .unwrap();
            assert!(!ended.is_empty(), "no connection to end");
        })
    })
    .join()
    .unwrap();
}

/// A connection lost before a transaction commits is replaced and the transaction
/// runs again (nothing of it was committed); a read is made again too.
#[test]
fn a_connection_lost_before_the_commit_is_replaced_and_the_transaction_runs_again() {
    let Some(pg) = Postgres::start() else { return };
    let url = pg.database("lost");
    let store = connect(&url);
    store
        .transaction(&mut |tx| Ok(tx.insert(b"a", b"one".to_vec())?))
        .unwrap();
    let mut attempts = 0;
    store
        .transaction(&mut |tx| {
            attempts += 1;
            let a = tx.get(b"a")?;
            if attempts == 1 {
                // Between two reads of one transaction, its connection goes.
                end_other_connections(&url);
            }
            assert_eq!(tx.get(b"a")?, a);
            tx.insert(b"b", a.unwrap())?;
            Ok(())
        })
        .unwrap();
    assert_eq!(attempts, 2);
    assert_eq!(store.get(b"b").unwrap(), Some(b"one".to_vec()));
    end_other_connections(&url);
    assert_eq!(store.get(b"a").unwrap(), Some(b"one".to_vec()));
    assert_eq!(store.scan_prefix(b"").unwrap().len(), 2);
    assert!(version(&store) > 0);
}

/// `dokploy-auth … --database-url` for an operator's command, with `stdin` given.
fn operate(
    root: &std::path::Path,
    key: &str,
    url: &str,
    args: &[&str],
    stdin: &str,
) -> std::process::Output {
    let on_the_database = [&["--key-file", key, "--database-url", url][..], args].concat();
    let out = common::binary::run_with_stdin(&on_the_database, root, stdin);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn login_as(password: &str) -> String {
    format!(r#"{{"email":"admin@example.com","password":"{password}"}}"#)
}

/// The operator's commands take `--database-url` and work while two instances
/// serve: each is a transaction the instances see on their next request. A backup
/// of the database restores into a data directory and back; a restore into a
/// database that holds data needs `--replace`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_commands_on_postgres_while_two_instances_serve() {
    use common::binary::{run, serve_with};
    let Some(pg) = Postgres::start() else { return };
    let url = pg.database("operated");
    let root = tempfile::tempdir().unwrap();
    let key = root.path().join("shared.key");
    let key = key.to_str().unwrap();
    let on_pg = ["--key-file", key, "--database-url", url.as_str()];
    let a = serve_with(root.path(), "4", &on_pg, &[]).await;
    let b = serve_with(root.path(), "4", &on_pg, &[]).await;
    let mut admin = Client::new(a.addr);
    assert_eq!(admin.post("/api/auth.createAdmin", ADMIN).await.status, 200);
    admin.post_empty("/api/auth.generateToken").await;
    let token = admin.get("/api/auth.get").await.json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let mut by_token_on_b = Client::new(b.addr).with_bearer(&token);
    assert_eq!(by_token_on_b.get("/api/auth.get").await.status, 200);

    let out = operate(root.path(), key, &url, &["user", "list"], "");
    assert!(String::from_utf8_lossy(&out.stdout).contains("admin@example.com\tadmin"));
    // The URL, password and all, may come from a file instead (a mounted secret).
    let url_file = root.path().join("database-url");
    std::fs::write(&url_file, format!("{url}\n")).unwrap();
    let out = std::process::Command::new(common::binary::BIN)
        .args(["--key-file", key, "--database-url-file"])
        .arg(&url_file)
        .args(["user", "list"])
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("admin@example.com\tadmin"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reset_password_to = |password: &str| {
        operate(
            root.path(),
            key,
            &url,
            &[
                "user",
                "reset-password",
                "--password-stdin",
                "admin@example.com",
            ],
            &format!("{password}\n"),
        )
    };
    reset_password_to("second-password");
    let old = Client::new(b.addr).post("/api/auth.login", ADMIN).await;
    assert_eq!(old.status, 400, "{}", old.body);
    let new = Client::new(a.addr)
        .post("/api/auth.login", &login_as("second-password"))
        .await;
    assert_eq!(new.status, 200, "{}", new.body);
    let out = operate(
        root.path(),
        key,
        &url,
        &["user", "end-sessions", "admin@example.com"],
        "",
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ended"));
    assert_eq!(by_token_on_b.get("/api/auth.get").await.status, 401);
    assert!(
        !root.path().join("data").exists(),
        "nothing went to a data directory"
    );

    // The database's backup, restored into a data directory, serves the same account.
    let pg_backup = root.path().join("pg.json");
    let pg_backup = pg_backup.to_str().unwrap();
    let out = operate(root.path(), key, &url, &["backup", "--out", pg_backup], "");
    assert!(String::from_utf8_lossy(&out.stdout).contains("keys"));
    let elsewhere = tempfile::tempdir().unwrap();
    let out = run(
        &["--key-file", key, "restore", "--from", pg_backup],
        elsewhere.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let on_sled = serve_with(elsewhere.path(), "4", &["--key-file", key], &[]).await;
    let r = Client::new(on_sled.addr)
        .post("/api/auth.login", &login_as("second-password"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // The data directory's backup (taken while it serves) into the database: refused
    // while the database holds data, then put in its place with --replace; the
    // instances serve what was restored on their next request.
    let sled_backup = root.path().join("sled.json");
    let sled_backup = sled_backup.to_str().unwrap();
    let out = run(
        &["--key-file", key, "backup", "--out", sled_backup],
        elsewhere.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    reset_password_to("third-password");
    let out = run(
        &[
            "--key-file",
            key,
            "--database-url",
            &url,
            "restore",
            "--from",
            sled_backup,
        ],
        root.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("--replace"),
        "{stderr}"
    );
    operate(
        root.path(),
        key,
        &url,
        &["restore", "--replace", "--from", sled_backup],
        "",
    );
    for instance in [a.addr, b.addr] {
        let third = Client::new(instance)
            .post("/api/auth.login", &login_as("third-password"))
            .await;
        assert_eq!(third.status, 400, "{}", third.body);
        let second = Client::new(instance)
            .post("/api/auth.login", &login_as("second-password"))
            .await;
        assert_eq!(second.status, 200, "{}", second.body);
    }
    // A backup sealed under another key is refused before anything is written.
    let other_key = root.path().join("other.key");
    server::keyfile::create(&other_key, &server::crypto::OsRandom::new()).unwrap();
    let out = run(
        &[
            "--key-file",
            other_key.to_str().unwrap(),
            "--database-url",
            &url,
            "restore",
            "--replace",
            "--from",
            sled_backup,
        ],
        root.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("is not the key"),
        "{stderr}"
    );
    let still = Client::new(a.addr)
        .post("/api/auth.login", &login_as("second-password"))
        .await;
    assert_eq!(still.status, 200, "{}", still.body);
}

/// A synchronous standby that stops answering: every commit waits. `/ready` says so
/// within 2 s (its probe commits), with the reason, while reads go on being
/// answered; once commits go through again, it is ready again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_turns_503_when_the_database_does_not_commit() {
    let Some(pg) = Postgres::start() else { return };
    let (url, server, mut admin, _keys) = instance_with_admin(&pg, "standby").await;
    let ready =
        |addr| async move { conformance::client::send(addr, "GET", "/ready", &[], "").await };
    assert_eq!(ready(server.addr).await.status, 200);

    let standby = |setting: &str| {
        let sql = format!("ALTER SYSTEM SET synchronous_standby_names = '{setting}'");
        for statement in [sql.as_str(), "SELECT pg_reload_conf()"] {
            let out = std::process::Command::new("psql")
                .args([&url, "-c", statement])
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
        }
    };
    standby("standby_that_is_gone");
    let started = std::time::Instant::now();
    let mut answer = ready(server.addr).await;
    while answer.status == 200 && started.elapsed() < std::time::Duration::from_secs(5) {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        answer = ready(server.addr).await;
    }
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(answer.body.contains("did not commit"), "{}", answer.body);
    // Probing does not hold up reads.
    for _ in 0..3 {
        assert_eq!(ready(server.addr).await.status, 503);
        let read_started = std::time::Instant::now();
        assert_eq!(admin.get("/api/auth.get").await.status, 200);
        assert!(read_started.elapsed() < std::time::Duration::from_secs(1));
    }

    standby("");
    let mut back = ready(server.addr).await;
    for _ in 0..50 {
        if back.status == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        back = ready(server.addr).await;
    }
    assert_eq!(back.status, 200, "{}", back.body);
}

/// Two instances starting at once on an empty database, each with a new key of its
/// own (a key file not shared): one key wins, the other instance is told its key is
/// not the data's. Never do both serve, each sealing under its own key.
#[test]
fn two_first_starts_with_two_keys_make_one_key_the_datas() {
    use server::crypto::{KeyRing, OsRandom, SealingKey};
    use server::storage::sealed::{KeyError, SealedStore};
    let Some(pg) = Postgres::start() else { return };
    for round in 0..4 {
        let url = pg.database(&format!("race{round}"));
        let opened: Vec<Result<(), KeyError>> = (0..2)
            .map(|_| {
                let url = url.clone();
                std::thread::spawn(move || {
                    let random = Arc::new(OsRandom::new());
                    let key = KeyRing::single(&SealingKey::generate(&*random));
                    let engine: Arc<dyn Store> = Arc::new(connect(&url));
                    SealedStore::open(engine, key, random).map(drop)
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|start| start.join().unwrap())
            .collect();
        let won = opened.iter().filter(|o| o.is_ok()).count();
        assert_eq!(won, 1, "round {round}: {opened:?}");
        assert!(
            opened
                .iter()
                .any(|o| matches!(o, Err(KeyError::WrongKey(_)))),
            "round {round}: {opened:?}"
        );
    }
}

/// conformance/dokploy-shift-time.sql, the conformance suite's `--shift-time-cmd`
/// for a Dokploy, makes every stored time that much older, in every column §7
/// names, and leaves empty ones empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dokploy_time_shift_makes_every_stored_time_older() {
    let Some(pg) = Postgres::start() else { return };
    let url = pg.database("shifted_dokploy");
    let (db, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    db.batch_execute(DOKPLOY_SCHEMA).await.unwrap();
    db.batch_execute(
        r#"INSERT INTO auth (id, email, password, rol, "createdAt", "resetPasswordExpiresAt", "confirmationExpiresAt")
             VALUES ('a1', 'admin@example.com', 'x', 'admin', '2026-12-06T10:00:00.000Z', '2026-12-06T11:30:00.250Z', NULL);
           INSERT INTO admin ("adminId", "authId", "createdAt") VALUES ('ad1', 'a1', '2026-12-06T10:00:00.000Z');
           INSERT INTO "user" ("userId", token, "expirationDate", "createdAt", "adminId", "authId")
             VALUES ('u1', 't', '2026-12-07 01:05:46.21', '2026-12-06T10:00:00.000Z', 'ad1', 'a1');
           INSERT INTO session (id, user_id, expires_at) VALUES ('s1', 'a1', '2026-12-07T10:00:00Z');"#,
    )
    .await
    .unwrap();
    let sql = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../conformance/dokploy-shift-time.sql"
    );
    let out = std::process::Command::new("psql")
        .args([
            &url,
            "-v",
            "ON_ERROR_STOP=1",
            "-v",
            "seconds=90061",
            "-f",
            sql,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // 90,061 s: a day, an hour, a minute and a second.
    let row = db
        .query_one(
            r#"SELECT a."createdAt", a."resetPasswordExpiresAt", a."confirmationExpiresAt",
                      ad."createdAt", u."createdAt", u."expirationDate"::text,
                      to_char(s.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')
               FROM auth a, admin ad, "user" u, session s"#,
            &[],
        )
        .await
        .unwrap();
    let text = |i: usize| row.get::<_, Option<String>>(i);
    assert_eq!(text(0).as_deref(), Some("2026-12-05T08:58:59.000Z"));
    assert_eq!(text(1).as_deref(), Some("2026-12-05T10:28:59.250Z"));
    assert_eq!(text(2), None);
    assert_eq!(text(3).as_deref(), Some("2026-12-05T08:58:59.000Z"));
    assert_eq!(text(4).as_deref(), Some("2026-12-05T08:58:59.000Z"));
    assert_eq!(text(5).as_deref(), Some("2026-12-06 00:04:45.21"));
    assert_eq!(text(6).as_deref(), Some("2026-12-06 08:58:59"));
}

/// With PostgreSQL, `/metrics` shows the connection pool (size, in use, waits,
/// give-ups) and the database's errors by SQLSTATE class; `promtool check metrics`
/// has nothing to say about it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_the_database_pool() {
    use common::binary::{promtool, serve_with};
    let Some(pg) = Postgres::start() else { return };
    let url = pg.database("pool_metrics");
    let root = tempfile::tempdir().unwrap();
    let key = root.path().join("shared.key");
    let metrics_addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let server = serve_with(
        root.path(),
        "4",
        &["--key-file", key.to_str().unwrap(), "--database-url", &url],
        &[
            "--metrics-listen",
            &metrics_addr,
            "--database-connections",
            "3",
        ],
    )
    .await;
    let mut admin = Client::new(server.addr);
    assert_eq!(admin.post("/api/auth.createAdmin", ADMIN).await.status, 200);
    for _ in 0..5 {
        assert_eq!(admin.get("/api/auth.get").await.status, 200);
    }
    let scrape =
        conformance::client::send(metrics_addr.parse().unwrap(), "GET", "/metrics", &[], "").await;
    assert_eq!(scrape.status, 200);
    let value = |series: &str| -> f64 {
        scrape
            .body
            .lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {series} in {}", scrape.body))
    };
    assert_eq!(value("dokploy_auth_db_pool_max_connections "), 3.0);
    let open = value("dokploy_auth_db_pool_connections{state=\"idle\"} ")
        + value("dokploy_auth_db_pool_connections{state=\"in_use\"} ");
    assert!((1.0..=3.0).contains(&open), "{open}");
    assert!(value("dokploy_auth_db_pool_takes_total ") >= 5.0);
    assert!(value("dokploy_auth_db_pool_wait_seconds_total ") >= 0.0);
    assert_eq!(value("dokploy_auth_db_pool_timeouts_total "), 0.0);
    assert_eq!(value("dokploy_auth_db_pool_waiting "), 0.0);
    assert!(scrape
        .body
        .contains("# TYPE dokploy_auth_db_errors_total counter"));
    if let Some(said) = promtool(&["check", "metrics"], &scrape.body) {
        assert_eq!(said, "", "promtool check metrics");
    }
}

/// Key rotation online on PostgreSQL: two instances share the database and the key
/// file; under a load of logins on one and reads on the other, `key rotate` then
/// `key retire` run with --database-url. No request fails (an instance reads a
/// value sealed under the new key before its own look at the file: it reads the
/// file then), every live session stays, and an instance started with the new key
/// alone serves them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_under_load_on_two_instances() {
    use common::binary::serve_with;
    let Some(pg) = Postgres::start() else { return };
    let url = pg.database("rotated");
    let root = tempfile::tempdir().unwrap();
    let key = root.path().join("shared.key");
    let key = key.to_str().unwrap().to_string();
    let on_pg = ["--key-file", key.as_str(), "--database-url", url.as_str()];
    let mut a = serve_with(root.path(), "4", &on_pg, &[]).await;
    let mut b = serve_with(root.path(), "4", &on_pg, &[]).await;
    a.drain_logs();
    b.drain_logs();
    let mut admin = Client::new(a.addr);
    assert_eq!(admin.post("/api/auth.createAdmin", ADMIN).await.status, 200);
    let load = common::LoginLoad::start(
        &[(a.addr, b.addr), (b.addr, a.addr), (a.addr, b.addr)],
        ADMIN,
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (rotate, retire) = {
        let (root, key, url) = (root.path().to_path_buf(), key.clone(), url.clone());
        tokio::task::spawn_blocking(move || {
            let rotate = operate(&root, &key, &url, &["key", "rotate"], "");
            let retire = operate(&root, &key, &url, &["key", "retire"], "");
            (rotate, retire)
        })
        .await
        .unwrap()
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let live = load.finish().await;
    assert!(String::from_utf8_lossy(&rotate.stdout).contains("seals new values"));
    assert!(String::from_utf8_lossy(&retire.stdout).contains("retired key"));
    let status = operate(root.path(), &key, &url, &["key", "status"], "");
    let said = String::from_utf8_lossy(&status.stdout);
    let old = common::binary::replaced_key(&String::from_utf8_lossy(&rotate.stdout));
    assert!(
        said.starts_with("key file") && !said.contains(&old),
        "nothing under the old key {old}: {said}"
    );
    drop((a, b));
    // The new key alone, one line.
    let ring = std::fs::read_to_string(&key).unwrap();
    let new_key = ring.lines().find_map(|l| l.strip_prefix("seal ")).unwrap();
    std::fs::write(&key, format!("{new_key}\n")).unwrap();
    let c = serve_with(root.path(), "4", &on_pg, &[]).await;
    for mut session in live {
        session.addr = c.addr;
        assert_eq!(session.get("/api/auth.get").await.status, 200);
    }
}
