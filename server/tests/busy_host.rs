//! Logins beside other processes: with as many CPU-busy processes as cores, the
//! binary's logins finish within the request timeout, and a flood of them
//! is answered 503 with `Retry-After` where it cannot, never 408. Counted by status,
//! not timed. (The hashing threads once ran in the idle class: beside two busy
//! processes every login answered 408 after the timeout.)

mod common;
use common::binary::serve_with;
use common::busy::BusyProcesses;
use common::*;

const LOGIN: &str = r#"{"email":"admin@example.com","password":"password123"}"#;

async fn login(addr: std::net::SocketAddr) -> Resp {
    send(
        addr,
        "POST",
        "/api/auth.login",
        &[("content-type", "application/json")],
        LOGIN,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_beside_busy_processes_finish_or_are_told_to_come_back() {
    let data = tempfile::tempdir().unwrap();
    // A 4-second request timeout: a login is let in if it would be done within 2 s.
    let server = serve_with(
        data.path(),
        "10",
        &["--audit-log", "off"],
        &["--request-timeout-secs", "4"],
    )
    .await;
    let mut admin = Client::new(server.addr);
    assert_eq!(admin.post("/api/auth.createAdmin", LOGIN).await.status, 200);
    let _busy = BusyProcesses::start();

    // One after another, as a person logs in: each one is answered.
    for _ in 0..3 {
        let r = login(server.addr).await;
        assert_eq!(r.status, 200, "a login beside busy processes: {}", r.body);
    }

    // A flood far beyond what fits in the timeout: some are let in and answered,
    // the rest are refused at once with a time to come back, none times out.
    let addr = server.addr;
    let flood: Vec<_> = (0..100)
        .map(|_| tokio::spawn(async move { login(addr).await }))
        .collect();
    let (mut answered, mut refused) = (0, 0);
    for task in flood {
        let r = task.await.unwrap();
        match r.status {
            200 => answered += 1,
            503 => {
                let retry_after = r.headers.get("retry-after").map(|v| v.to_str().unwrap());
                assert!(
                    retry_after.is_some_and(|s| s.parse::<u64>().is_ok_and(|n| n >= 1)),
                    "a 503 says when to come back: {:?}",
                    r.headers
                );
                assert_eq!(r.json()["code"], "SERVICE_UNAVAILABLE");
                refused += 1;
            }
            other => panic!("a login answered {other}: {}", r.body),
        }
    }
    assert!(answered > 0, "no login of the flood got through");
    assert!(
        refused > 0,
        "100 cost-10 logins fit in 4 s beside busy processes?"
    );
}
