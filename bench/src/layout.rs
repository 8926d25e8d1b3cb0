//! One key-value table (what the PostgreSQL engine uses) against tables laid out
//! for the records (what the issue asked to weigh it against), on the lookup that
//! differs most: authenticating a request whose cache was emptied by a write, which
//! reads a session and then its account.
//!
//! Both layouts hold the same 1,000 accounts with a session each, values the size
//! of sealed records; one connection, lookups of random sessions one after another.

use std::time::Instant;
use tokio_postgres::{Client, NoTls};

/// What one lookup took, in microseconds (the mean over `rounds`).
pub struct Lookups {
    pub key_value_us: f64,
    pub relational_us: f64,
}

const ACCOUNTS: usize = 1_000;
/// About a sealed record's size (nonce, tag, a postcard-encoded record).
const RECORD_BYTES: usize = 240;

pub fn session_then_account(url: &str, rounds: usize) -> Lookups {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let (db, connection) = tokio_postgres::connect(url, NoTls)
            .await
            .expect("the layout database");
        tokio::spawn(connection);
        fill(&db).await;
        let kv_session = db
            .prepare("SELECT value FROM kv WHERE key = $1")
            .await
            .expect("prepared");
        let joined = db
            .prepare(
                "SELECT s.record, a.record FROM sessions s JOIN accounts a ON a.id = s.account_id \
                 WHERE s.digest = $1",
            )
            .await
            .expect("prepared");
        let pick = |n: usize| (n * 7919) % ACCOUNTS;

        let started = Instant::now();
        for n in 0..rounds {
            let i = pick(n);
            let session = db
                .query_one(&kv_session, &[&format!("session/{i:064}").into_bytes()])
                .await
                .expect("the session");
            let value: Vec<u8> = session.get(0);
            // The account id is inside the (sealed) session: known only once read.
            let account_id = value[..8].to_vec();
            let account_key = [b"account/".as_slice(), &account_id].concat();
            db.query_one(&kv_session, &[&account_key])
                .await
                .expect("the account");
        }
        let key_value_us = started.elapsed().as_secs_f64() * 1e6 / rounds as f64;

        let started = Instant::now();
        for n in 0..rounds {
            let i = pick(n);
            db.query_one(&joined, &[&format!("{i:064}")])
                .await
                .expect("the session and account");
        }
        let relational_us = started.elapsed().as_secs_f64() * 1e6 / rounds as f64;
        Lookups {
            key_value_us,
            relational_us,
        }
    })
}

async fn fill(db: &Client) {
    db.batch_execute(
        "CREATE TABLE kv (key BYTEA PRIMARY KEY, value BYTEA NOT NULL);
         CREATE TABLE accounts (id TEXT PRIMARY KEY, record BYTEA NOT NULL);
         CREATE TABLE sessions (digest TEXT PRIMARY KEY,
                                account_id TEXT NOT NULL REFERENCES accounts (id),
                                record BYTEA NOT NULL);
         CREATE INDEX sessions_of ON sessions (account_id);",
    )
    .await
    .expect("the tables");
    for i in 0..ACCOUNTS {
        let id = format!("{i:08}");
        let record = |first: &[u8]| {
            let mut r = first.to_vec();
            r.resize(RECORD_BYTES, (i % 251) as u8);
            r
        };
        let account = record(b"");
        let session = record(id.as_bytes());
        let digest = format!("{i:064}");
        db.execute(
            "INSERT INTO kv VALUES ($1, $2), ($3, $4)",
            &[
                &format!("account/{id}").into_bytes(),
                &account,
                &format!("session/{digest}").into_bytes(),
                &session,
            ],
        )
        .await
        .expect("kv rows");
        db.execute("INSERT INTO accounts VALUES ($1, $2)", &[&id, &account])
            .await
            .expect("an account row");
        db.execute(
            "INSERT INTO sessions VALUES ($1, $2, $3)",
            &[&digest, &id, &session],
        )
        .await
        .expect("a session row");
    }
    db.batch_execute("ANALYZE").await.expect("analyzed");
}
