//! PostgreSQL behind the core's `Store` port, so that several stateless instances
//! can share one database.
//!
//! The port is synchronous (the core reads inside transactions it may run again),
//! so this engine runs tokio-postgres, with a deadpool connection pool, on a small
//! runtime of its own, and each call waits for its answer (at most
//! `CALL_TIMEOUT`). Transactions are `SERIALIZABLE`: reads go to the database (so
//! PostgreSQL sees what each transaction read), writes are staged and sent with
//! the commit, and a transaction that loses a serialization conflict (SQLSTATE
//! 40001) is run again. The data is one key-value table whose primary key (a
//! B-tree) also serves the prefix scans; the values arrive sealed by
//! `SealedStore`, as in sled.
//!
//! `version` is a database sequence bumped after each committed write: every
//! instance reads it before it trusts its authentication cache, so a session ended
//! on one instance is refused by the others on their next request. Requests that
//! arrive together share one such read (`CoalescedReads`), made after all of them
//! arrived.

use super::coalesced::CoalescedReads;
use super::database_url::DatabaseUrl;
use super::StagedWrites;
use crate::core::ports::{later, Abort, BoxFuture, Pairs, Soon, Store, StoreError, Tx};
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::RuntimeFlavor;
use tokio_postgres::error::SqlState;

/// The schema versions this binary knows, oldest first: each entry upgrades the
/// database from the version before it.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE auth_kv (key BYTEA PRIMARY KEY, value BYTEA NOT NULL);
     CREATE SEQUENCE auth_version;",
    // Written by `/ready`'s probe: a commit, which waits as every write does (for a
    // synchronous standby, say).
    "CREATE TABLE auth_ready (id INT PRIMARY KEY, at TIMESTAMPTZ NOT NULL)",
];

/// `/ready`'s probe: one row written and committed.
const READY_PROBE: &str = "INSERT INTO auth_ready (id, at) VALUES (1, now()) \
                           ON CONFLICT (id) DO UPDATE SET at = EXCLUDED.at";

/// How long each step of `/ready`'s probe may take (a connection from the pool,
/// then the commit): cheap enough to probe every second, and short, since a
/// database that does not commit holds every write that arrives meanwhile.
const READY_DEADLINE: Duration = Duration::from_secs(1);

/// Held while migrating, so that instances starting together migrate once.
const MIGRATION_LOCK: i64 = 0x646f_6b70_6c6f_7931; // "dokploy1"

/// How long one call to the database may take before the store answers that it is
/// unavailable (a 503): shorter than the request timeout.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a restore may take (its one transaction).
const LOAD_TIMEOUT: Duration = Duration::from_secs(600);

/// How many pairs a restore sends in one statement.
const LOAD_BATCH: usize = 1_000;

/// How many times a transaction that lost a serialization conflict is run again.
const ATTEMPTS: usize = 20;

pub struct PgStore {
    /// Drives the connections; `None` only while dropping.
    runtime: Option<tokio::runtime::Runtime>,
    pool: Connections,
    /// Every request reads the version; those that arrive together share a read.
    versions: CoalescedReads<Result<u64, StoreError>>,
    round_trips: Arc<AtomicU64>,
}

/// The pool, counting how long taking a connection from it takes.
#[derive(Clone)]
struct Connections {
    pool: Pool,
    counts: Arc<TakeCounts>,
}

#[derive(Default)]
struct TakeCounts {
    taken: AtomicU64,
    wait_micros: AtomicU64,
    timeouts: AtomicU64,
}

impl Connections {
    async fn get(&self) -> Result<Object, StoreError> {
        let started = std::time::Instant::now();
        let got = self.pool.get().await;
        let counts = &self.counts;
        counts.taken.fetch_add(1, Ordering::Relaxed);
        let waited = started.elapsed().as_micros() as u64;
        counts.wait_micros.fetch_add(waited, Ordering::Relaxed);
        if matches!(got, Err(deadpool_postgres::PoolError::Timeout(_))) {
            counts.timeouts.fetch_add(1, Ordering::Relaxed);
        }
        got.map_err(pool_error)
    }
}

/// Errors the database answered, by SQLSTATE class, in this process (all its
/// stores: one in a server).
static ERRORS_BY_CLASS: std::sync::Mutex<BTreeMap<String, u64>> =
    std::sync::Mutex::new(BTreeMap::new());

fn count_error(e: &tokio_postgres::Error) {
    let class = e
        .code()
        .map_or("none", |code| &code.code()[..2])
        .to_string();
    let mut counts = ERRORS_BY_CLASS.lock().unwrap_or_else(|p| p.into_inner());
    *counts.entry(class).or_default() += 1;
}

/// What went wrong, as the core's port says it.
fn store_error(e: tokio_postgres::Error) -> StoreError {
    count_error(&e);
    if e.code() == Some(&SqlState::T_R_SERIALIZATION_FAILURE)
        || e.code() == Some(&SqlState::T_R_DEADLOCK_DETECTED)
    {
        return StoreError::Conflict;
    }
    // No answer from the server (down, restarting, out of reach), or it says it
    // cannot serve now: connection exceptions (08), insufficient resources (53),
    // operator intervention (57: shutting down, starting up).
    let cannot_serve_now = e.code().is_some_and(|c| {
        ["08", "53", "57"]
            .iter()
            .any(|class| c.code().starts_with(class))
    });
    if e.is_closed() || e.code().is_none() || cannot_serve_now {
        return StoreError::Unavailable(format!("the database cannot serve now: {}", describe(&e)));
    }
    StoreError::Engine(describe(&e))
}

/// What the driver or the server said: the server's own message where it sent one
/// (the driver's text alone is "db error"), else the driver's with its causes
/// ("error performing TLS handshake: invalid peer certificate: UnknownIssuer").
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!(
            "{}: {} (SQLSTATE {})",
            db.severity(),
            db.message(),
            db.code().code()
        );
    }
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(inner) = cause {
        let said = inner.to_string();
        if !said.is_empty() && !text.ends_with(&said) {
            text = format!("{text}: {said}");
        }
        cause = inner.source();
    }
    text
}

fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => store_error(e),
        other => StoreError::Unavailable(format!("no database connection: {other}")),
    }
}

/// The first key after every key that starts with `prefix`, if there is one.
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

impl PgStore {
    /// Connects to `url` (`postgres://user:password@host:port/database?sslmode=…`,
    /// see `DatabaseUrl`),
    /// with at most `connections` at once, and brings the schema up to date.
    pub fn connect(url: &str, connections: usize) -> Result<PgStore, StoreError> {
        let url = DatabaseUrl::parse(url).map_err(StoreError::Engine)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("postgres")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Engine(format!("cannot start the database runtime: {e}")))?;
        let recycling = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match url.tls {
            Some(tls) => Manager::from_config(url.config, tls, recycling),
            None => Manager::from_config(url.config, tokio_postgres::NoTls, recycling),
        };
        let pool = Pool::builder(manager)
            .max_size(connections.max(1))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(CALL_TIMEOUT))
            .create_timeout(Some(CALL_TIMEOUT))
            .build()
            .map_err(|e| StoreError::Engine(e.to_string()))?;
        let pool = Connections {
            pool,
            counts: Arc::default(),
        };
        let round_trips = Arc::new(AtomicU64::new(0));
        let store = PgStore {
            versions: CoalescedReads::start(runtime.handle(), {
                let (pool, round_trips) = (pool.clone(), round_trips.clone());
                move || {
                    round_trips.fetch_add(1, Ordering::Relaxed);
                    read_version(pool.clone())
                }
            }),
            round_trips,
            runtime: Some(runtime),
            pool,
        };
        store.migrate()?;
        Ok(store)
    }

    /// Runs `work` on the database runtime and blocks this thread until it answers
    /// (at most `CALL_TIMEOUT`).
    fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.run_within(CALL_TIMEOUT, work)
    }

    /// As `run`, waiting at most `deadline` (an operator's long command).
    fn run_within<T: Send + 'static>(
        &self,
        deadline: Duration,
        work: impl Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (answer, answered) = std::sync::mpsc::sync_channel(1);
        self.runtime().spawn(async move {
            let _ = answer.send(work.await);
        });
        blocking(|| {
            answered
                .recv_timeout(deadline)
                .unwrap_or_else(|_| Err(too_slow()))
        })
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime
            .as_ref()
            .expect("the runtime lives as long as the store")
    }

    fn connection(&self) -> Result<Arc<Object>, StoreError> {
        let pool = self.pool.clone();
        self.run(async move { pool.get().await.map(Arc::new) })
    }

    /// The pool's state and what it has counted (for metrics).
    pub fn pool_facts(&self) -> crate::storage::PoolFacts {
        let status = self.pool.pool.status();
        let counts = &self.pool.counts;
        crate::storage::PoolFacts {
            max: status.max_size as u64,
            open: status.size as u64,
            idle: status.available as u64,
            waiting: status.waiting as u64,
            taken: counts.taken.load(Ordering::Relaxed),
            wait_seconds: counts.wait_micros.load(Ordering::Relaxed) as f64 / 1e6,
            timeouts: counts.timeouts.load(Ordering::Relaxed),
            errors_by_class: ERRORS_BY_CLASS
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .map(|(class, n)| (class.clone(), *n))
                .collect(),
        }
    }

    /// Brings the schema to the newest version this binary knows, under an
    /// advisory lock; refuses a database whose schema is newer.
    fn migrate(&self) -> Result<(), StoreError> {
        let connection = self.connection()?;
        self.run(async move {
            let db = &**connection;
            db.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
                .await
                .map_err(store_error)?;
            let result = async {
                db.batch_execute(
                    "SET client_min_messages TO warning; \
                     CREATE TABLE IF NOT EXISTS auth_schema (version INT NOT NULL)",
                )
                .await?;
                let row = db.query_opt("SELECT max(version) FROM auth_schema", &[]).await?;
                let current: i32 = row.and_then(|r| r.get::<_, Option<i32>>(0)).unwrap_or(0);
                Ok::<i32, tokio_postgres::Error>(current)
            }
            .await
            .map_err(store_error);
            let outcome = match result {
                Err(e) => Err(e),
                Ok(current) if current as usize > MIGRATIONS.len() => Err(StoreError::Engine(format!(
                    "the database's schema is version {current}, newer than this binary knows ({}): run a newer dokploy-auth",
                    MIGRATIONS.len()
                ))),
                Ok(current) => {
                    let mut done = Ok(());
                    for (index, migration) in MIGRATIONS.iter().enumerate().skip(current as usize) {
                        let version = index as i32 + 1;
                        let step = format!(
                            "BEGIN; {migration}; INSERT INTO auth_schema (version) VALUES ({version}); COMMIT;"
                        );
                        if let Err(e) = db.batch_execute(&step).await {
                            let _ = db.batch_execute("ROLLBACK").await;
                            done = Err(store_error(e));
                            break;
                        }
                    }
                    done
                }
            };
            let _ = db.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]).await;
            outcome
        })
    }

    /// Writes `pairs` (a backup's) in one transaction: into an empty table, or with
    /// `replace` instead of everything in it. Instances serving from the database
    /// see the change on their next request (the version is bumped). `Ok(false)`:
    /// the table held data and `replace` was not given; nothing was written.
    pub fn load(&self, pairs: Pairs, replace: bool) -> Result<bool, StoreError> {
        let connection = self.connection()?;
        // Rolled back if the command stops waiting: its connection closes with it.
        self.run_within(LOAD_TIMEOUT, async move {
            let db = &**connection;
            let result = async {
                db.batch_execute(BEGIN).await?;
                if replace {
                    db.batch_execute("DELETE FROM auth_kv").await?;
                } else if db
                    .query_opt("SELECT 1 FROM auth_kv LIMIT 1", &[])
                    .await?
                    .is_some()
                {
                    db.batch_execute("ROLLBACK").await?;
                    return Ok(false);
                }
                let insert = db
                    .prepare("INSERT INTO auth_kv (key, value) SELECT * FROM unnest($1::bytea[], $2::bytea[])")
                    .await?;
                for chunk in pairs.chunks(LOAD_BATCH) {
                    let (keys, values): (Vec<&[u8]>, Vec<&[u8]>) =
                        chunk.iter().map(|(k, v)| (&k[..], &v[..])).unzip();
                    db.execute(&insert, &[&keys, &values]).await?;
                }
                db.batch_execute("COMMIT; SELECT nextval('auth_version')")
                    .await?;
                Ok(true)
            }
            .await;
            if result.is_err() {
                let _ = db.batch_execute("ROLLBACK").await;
            }
            result.map_err(store_error)
        })
    }

    /// One transaction's attempt: `work` against a serializable transaction whose
    /// writes are staged; committed when it asks. `Attempt::Conflict` or
    /// `Attempt::Lost` when it must run again.
    ///
    /// `BEGIN` goes out with the first read (or the commit), and the writes with
    /// the commit and the version's bump: a transaction costs one round trip per
    /// read it makes, plus one to end.
    fn attempt(
        &self,
        work: &mut dyn FnMut(&dyn Tx) -> Result<(), Abort>,
    ) -> Result<Attempt, Abort> {
        let tx = PgTx {
            store: self,
            connection: self.connection()?,
            begun: Cell::new(false),
            lost: Cell::new(false),
            writes: StagedWrites::default(),
        };
        let outcome = work(&tx);
        let writes = tx.writes.into_writes();
        let (connection, begun, lost) = (tx.connection, tx.begun.get(), tx.lost.get());
        if let Err(abort) = outcome {
            match abort {
                // Nothing was committed: the transaction can run again elsewhere.
                Abort::Store(e) if lost => return Ok(Attempt::Lost(e)),
                _ => {}
            }
            if begun {
                self.count_round_trips(1);
                let _ = self.run(async move {
                    connection
                        .batch_execute("ROLLBACK")
                        .await
                        .map_err(store_error)
                });
            }
            return match abort {
                Abort::Store(StoreError::Conflict) => Ok(Attempt::Conflict),
                other => Err(other),
            };
        }
        if !begun && writes.is_empty() {
            // Read nothing, wrote nothing: nothing to end.
            return Ok(Attempt::Committed);
        }
        self.count_round_trips(1);
        // A connection lost from here on is not run again: the commit may have
        // happened.
        match self.run(async move { commit(&connection, begun, writes).await }) {
            Ok(()) => Ok(Attempt::Committed),
            Err(StoreError::Conflict) => Ok(Attempt::Conflict),
            Err(e) => Err(Abort::Store(e)),
        }
    }

    /// A read of `key` outside any transaction, to run on the database runtime.
    fn reading(
        &self,
        key: &[u8],
    ) -> impl Future<Output = Result<Option<Vec<u8>>, StoreError>> + Send + 'static {
        let (pool, key) = (self.pool.clone(), key.to_vec());
        self.count_round_trips(1);
        in_time(async move {
            read_again_if_lost(&pool, |db| {
                let key = key.clone();
                async move { read(&db, key).await }
            })
            .await
        })
    }

    fn count_round_trips(&self, n: u64) {
        self.round_trips.fetch_add(n, Ordering::Relaxed);
    }

    /// How many round trips to the database this store has made (statements
    /// prepared once per connection not counted): what the benchmarks report.
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }
}

/// How one attempt at a transaction ended.
enum Attempt {
    Committed,
    /// Lost a serialization conflict: run it again.
    Conflict,
    /// Its connection was lost before the commit was sent: run it again on another.
    Lost(StoreError),
}

/// How many times a transaction or a read whose connection was lost is made again
/// (each on another connection; a database that is down fails them all at once).
const LOST_CONNECTION_RETRIES: usize = 2;

/// Whether the connection was lost (closed, or its backend ended by the server)
/// rather than the statement refused: a read, or a transaction not yet committed,
/// can then be made again on another connection.
fn connection_lost(e: &tokio_postgres::Error) -> bool {
    e.is_closed()
        || [
            &SqlState::ADMIN_SHUTDOWN,
            &SqlState::CRASH_SHUTDOWN,
            &SqlState::IDLE_SESSION_TIMEOUT,
        ]
        .iter()
        .any(|code| e.code() == Some(code))
        || std::error::Error::source(e).is_some_and(|cause| cause.is::<std::io::Error>())
}

const BEGIN: &str = "BEGIN ISOLATION LEVEL SERIALIZABLE";

/// Ends a transaction, `begun` or not yet: its staged writes, the commit, and then
/// (only if the commit succeeded) the version's bump, all sent at once. Rolled back
/// on failure.
async fn commit(
    db: &Object,
    begun: bool,
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
) -> Result<(), StoreError> {
    let (mut keys, mut values, mut removed) = (Vec::new(), Vec::new(), Vec::new());
    for (key, value) in writes {
        match value {
            Some(value) => {
                keys.push(key);
                values.push(value);
            }
            None => removed.push(key),
        }
    }
    let wrote = !keys.is_empty() || !removed.is_empty();
    let result = async {
        let upsert = db
            .prepare_cached(
                "INSERT INTO auth_kv (key, value) SELECT * FROM unnest($1::bytea[], $2::bytea[]) \
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            )
            .await?;
        let delete = db
            .prepare_cached("DELETE FROM auth_kv WHERE key = ANY($1)")
            .await?;
        // Polled in this order, so sent in this order, in one write. Should a write
        // fail, PostgreSQL turns the COMMIT after it into a rollback (and the bump
        // after it only empties caches for nothing); should the COMMIT fail, the
        // batch stops there and the version is not bumped.
        let end = if wrote {
            "COMMIT; SELECT nextval('auth_version')"
        } else {
            "COMMIT"
        };
        let (begin, upserted, deleted, ended) = tokio::join!(
            async {
                match begun {
                    true => Ok(()),
                    false => db.batch_execute(BEGIN).await,
                }
            },
            async {
                match keys.is_empty() {
                    true => Ok(0),
                    false => db.execute(&upsert, &[&keys, &values]).await,
                }
            },
            async {
                match removed.is_empty() {
                    true => Ok(0),
                    false => db.execute(&delete, &[&removed]).await,
                }
            },
            db.batch_execute(end),
        );
        begin?;
        upserted?;
        deleted?;
        ended
    }
    .await;
    if let Err(e) = result {
        // Ends the transaction where the failure left it open (a failed prepare).
        let _ = db.batch_execute("ROLLBACK").await;
        return Err(store_error(e));
    }
    Ok(())
}

struct PgTx<'a> {
    store: &'a PgStore,
    connection: Arc<Object>,
    /// Whether `BEGIN` has been sent (with the first read).
    begun: Cell<bool>,
    /// Whether a read found the connection lost.
    lost: Cell<bool>,
    writes: StagedWrites,
}

impl Tx for PgTx<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(staged) = self.writes.get(key) {
            return Ok(staged);
        }
        let (connection, key) = (self.connection.clone(), key.to_vec());
        let begin = !self.begun.replace(true);
        self.store.count_round_trips(1);
        let read = self.store.run(async move {
            let found = if begin {
                // Sent together: one round trip.
                let (begun, found) =
                    tokio::join!(connection.batch_execute(BEGIN), read(&connection, key));
                begun.and(found)
            } else {
                read(&connection, key).await
            };
            Ok(found.map_err(|e| (connection_lost(&e), store_error(e))))
        })?;
        read.map_err(|(lost, e)| {
            self.lost.set(lost);
            e
        })
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> Result<(), StoreError> {
        self.writes.insert(key, value);
        Ok(())
    }

    fn remove(&self, key: &[u8]) -> Result<(), StoreError> {
        self.writes.remove(key);
        Ok(())
    }
}

async fn read_version(pool: Connections) -> Result<u64, StoreError> {
    in_time(read_again_if_lost(&pool, |db| async move {
        let statement = db
            .prepare_cached("SELECT last_value, is_called FROM auth_version")
            .await?;
        let row = db.query_one(&statement, &[]).await?;
        let (last, called): (i64, bool) = (row.get(0), row.get(1));
        Ok(if called { last as u64 } else { 0 })
    }))
    .await
}

async fn read(db: &Object, key: Vec<u8>) -> Result<Option<Vec<u8>>, tokio_postgres::Error> {
    let statement = db
        .prepare_cached("SELECT value FROM auth_kv WHERE key = $1")
        .await?;
    let row = db.query_opt(&statement, &[&key]).await?;
    Ok(row.map(|r| r.get(0)))
}

/// `read` on a connection from `pool`, made again on another if the connection
/// was lost (a read changes nothing).
async fn read_again_if_lost<T, F>(
    pool: &Connections,
    read: impl Fn(Object) -> F,
) -> Result<T, StoreError>
where
    F: Future<Output = Result<T, tokio_postgres::Error>>,
{
    let mut tries = 0;
    loop {
        let db = pool.get().await?;
        match read(db).await {
            Err(e) if connection_lost(&e) && tries < LOST_CONNECTION_RETRIES => tries += 1,
            result => return result.map_err(store_error),
        }
    }
}

impl Store for PgStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.run(self.reading(key))
    }

    fn get_async(&self, key: &[u8]) -> BoxFuture<'_, Result<Option<Vec<u8>>, StoreError>> {
        let running = self.runtime().spawn(self.reading(key));
        Box::pin(async move { running.await.unwrap_or_else(|_| Err(too_slow())) })
    }

    fn get_many(&self, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let (pool, wanted) = (self.pool.clone(), keys.to_vec());
        self.count_round_trips(1);
        let found: HashMap<Vec<u8>, Vec<u8>> = self.run(async move {
            read_again_if_lost(&pool, |db| {
                let wanted = wanted.clone();
                async move {
                    let sql = "SELECT key, value FROM auth_kv WHERE key = ANY($1)";
                    let statement = db.prepare_cached(sql).await?;
                    let rows = db.query(&statement, &[&wanted]).await?;
                    Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
                }
            })
            .await
        })?;
        Ok(keys.iter().map(|key| found.get(key).cloned()).collect())
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<Pairs, StoreError> {
        let (pool, start, end) = (self.pool.clone(), prefix.to_vec(), prefix_end(prefix));
        self.count_round_trips(1);
        self.run(async move {
            read_again_if_lost(&pool, |db| {
                let (start, end) = (start.clone(), end.clone());
                async move {
                    let rows = match end {
                        Some(end) => {
                            let sql = "SELECT key, value FROM auth_kv \
                                       WHERE key >= $1 AND key < $2 ORDER BY key";
                            let statement = db.prepare_cached(sql).await?;
                            db.query(&statement, &[&start, &end]).await?
                        }
                        None => {
                            let sql = "SELECT key, value FROM auth_kv WHERE key >= $1 ORDER BY key";
                            let statement = db.prepare_cached(sql).await?;
                            db.query(&statement, &[&start]).await?
                        }
                    };
                    Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
                }
            })
            .await
        })
    }

    fn transaction(&self, work: &mut dyn FnMut(&dyn Tx) -> Result<(), Abort>) -> Result<(), Abort> {
        let mut lost = 0;
        for attempt in 0..ATTEMPTS {
            match self.attempt(work)? {
                Attempt::Committed => return Ok(()),
                Attempt::Lost(e) if lost == LOST_CONNECTION_RETRIES => return Err(Abort::Store(e)),
                Attempt::Lost(_) => {
                    lost += 1;
                    continue;
                }
                Attempt::Conflict => {}
            }
            // Lost a conflict: wait a little, longer each time and not in step with
            // the transactions it lost to, before running again.
            let jitter = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos() % 1000);
            std::thread::sleep(Duration::from_micros(
                500 * attempt as u64 + u64::from(jitter),
            ));
        }
        // Busy, not broken: the client may try again (a 503, not a 500).
        Err(Abort::Store(StoreError::Unavailable(format!(
            "the transaction lost {ATTEMPTS} serialization conflicts in a row"
        ))))
    }

    /// A commit is durable when it answers (PostgreSQL's `synchronous_commit`).
    fn flush(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }

    /// Read from the database for every request (a write may have been made on
    /// another instance just before), but requests that wait together share one
    /// read that started after all of them arrived.
    fn version(&self) -> Soon<'_, Result<u64, StoreError>> {
        later(Box::pin(async {
            self.versions
                .read()
                .await
                .unwrap_or_else(|| Err(too_slow()))
        }))
    }

    /// Every instance on the database reads and writes it.
    fn shared(&self) -> bool {
        true
    }

    /// Whether a write commits now: a connection from the pool and a one-row
    /// commit, each within `READY_DEADLINE`. The reason says which failed.
    fn writable(&self) -> Result<(), StoreError> {
        let pool = self.pool.clone();
        self.count_round_trips(1);
        self.run_within(READY_DEADLINE * 3, async move {
            let db = match tokio::time::timeout(READY_DEADLINE, pool.get()).await {
                Err(_) => return Err(not_ready("no database connection came free within 1 s")),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "/ready: no database connection");
                    return Err(not_ready("no database connection"));
                }
                Ok(Ok(db)) => db,
            };
            match tokio::time::timeout(READY_DEADLINE, db.batch_execute(READY_PROBE)).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => {
                    count_error(&e);
                    let code = e.code().map_or("none", |code| code.code()).to_string();
                    tracing::warn!(error = %describe(&e), "/ready: the database refused a write");
                    Err(not_ready(&format!(
                        "the database refused a write (SQLSTATE {code})"
                    )))
                }
                Err(_) => {
                    // Out of the pool: its commit may still be waiting.
                    drop(Object::take(db));
                    Err(not_ready("the database did not commit within 1 s"))
                }
            }
        })
    }
}

/// Why `/ready` says no: a reason fit for its answer (no address, no name).
fn not_ready(reason: &str) -> StoreError {
    StoreError::Unavailable(reason.to_string())
}

fn too_slow() -> StoreError {
    StoreError::Unavailable("the database did not answer in time".into())
}

/// `work`, or `too_slow` after `CALL_TIMEOUT` (on the database runtime's timer).
async fn in_time<T>(work: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
    tokio::time::timeout(CALL_TIMEOUT, work)
        .await
        .unwrap_or_else(|_| Err(too_slow()))
}

/// Runs `wait`, which blocks: a caller that is one of the server's few runtime
/// workers hands its other tasks on meanwhile, so that one round trip does not
/// hold up every request queued behind it.
fn blocking<T>(wait: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(wait)
        }
        _ => wait(),
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // Dropping a runtime waits for its threads, which an async caller must not.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_ends_after_its_last_byte_that_can_grow() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff, 0xff]), None);
        assert_eq!(prefix_end(b""), None);
    }
}
