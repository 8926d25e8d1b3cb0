//! `make bench`: every measurement of issue 9 in one run on loopback, with wrk as the
//! load generator, reported as absolute numbers and as ratios against figures
//! measured in the same run (a baseline hyper server, bcrypt's own speed, Prism).
//!
//!     bench [--seconds N] [--out FILE] [--release-dir DIR] [--skip-prism]
//!     bench seed DIR N     (only write a data directory of N accounts, for profiling)
//!     bench callgrind      (only the instructions per request, with valgrind)
//!     bench logins         (only logins/s against bcrypt's ceiling, on sled and PostgreSQL)
//!
//! Prints a table and writes the results as JSON (default `bench/results/latest.json`).

mod busy;
/// As many busy processes as cores: the same the tests start.
#[path = "../../server/tests/common/busy.rs"]
mod busy_processes;
mod callgrind;
mod layout;
mod measure;
/// A PostgreSQL of the bench's own: the one file the server's tests use.
#[path = "../../server/tests/common/postgres.rs"]
#[allow(dead_code)]
mod postgres;
mod rolling;

use measure::{free_address, wait_until_answering, Process, Wrk, WrkRun};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const ADMIN_EMAIL: &str = "admin@example.com";
const ADMIN_PASSWORD: &str = "password123";
/// The admin's API token in every seeded data set.
const TOKEN: &str = "benchtokenbenchtokenbenchtokenbenchtoken";
/// bcrypt cost of the server under test (its default).
const SERVER_COST: u32 = 10;
/// Baseline-then-target pairs per throughput ratio (odd: the median is one of them).
const ROUNDS: usize = 5;

struct Options {
    seconds: u64,
    out: PathBuf,
    release_dir: PathBuf,
    skip_prism: bool,
}

fn options() -> Options {
    let mut options = Options {
        seconds: 5,
        out: PathBuf::from("bench/results/latest.json"),
        release_dir: PathBuf::from("target/release"),
        skip_prism: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => options.seconds = args.next().and_then(|s| s.parse().ok()).unwrap_or(5),
            "--out" => options.out = args.next().map(PathBuf::from).unwrap_or(options.out),
            "--release-dir" => {
                options.release_dir = args
                    .next()
                    .map(PathBuf::from)
                    .unwrap_or(options.release_dir)
            }
            "--skip-prism" => options.skip_prism = true,
            other => {
                eprintln!("bench: unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    options
}

/// One line of the report: a measured ratio and the target it must meet.
struct Ratio {
    name: &'static str,
    value: f64,
    target: &'static str,
    met: bool,
}

fn at_least(name: &'static str, value: f64, bound: f64, target: &'static str) -> Ratio {
    Ratio {
        name,
        value,
        target,
        met: value >= bound,
    }
}

fn at_most(name: &'static str, value: f64, bound: f64, target: &'static str) -> Ratio {
    Ratio {
        name,
        value,
        target,
        met: value <= bound,
    }
}

fn main() {
    // `bench seed DIR N`: only write a data directory of N accounts (for profiling).
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("seed") {
        let dir = PathBuf::from(args.get(2).expect("bench seed DIR N"));
        let accounts = args
            .get(3)
            .and_then(|n| n.parse().ok())
            .expect("bench seed DIR N");
        let data = prepare_server_data(&dir, accounts);
        println!(
            "{} accounts in {} (key {}, API token {TOKEN})",
            accounts,
            data.display(),
            server::keyfile::default_path(&data).display()
        );
        return;
    }
    // `bench layout URL`: only compare the two table layouts, on an empty database.
    if args.get(1).map(String::as_str) == Some("layout") {
        let url = args.get(2).expect("bench layout POSTGRES_URL");
        let lookups = layout::session_then_account(url, 20_000);
        println!(
            "a session then its account: key-value {:.1} µs, relational (one join) {:.1} µs",
            lookups.key_value_us, lookups.relational_us
        );
        return;
    }
    // `bench callgrind`: only the instructions per request (Debian's valgrind; the
    // release binaries under target/release), repeatable within a fraction of a
    // percent: the quick check of a change on the request path.
    if args.get(1).map(String::as_str) == Some("callgrind") {
        let work = tempdir();
        let bin = |name: &str| PathBuf::from("target/release").join(name);
        let data = prepare_server_data(&work.join("small"), 1_000);
        let fixture = write_mock_fixture(&work, 1_000);
        for (label, count) in instructions_per_request(&bin, &work, &data, &fixture) {
            println!("instructions_per_request_{label}: {count:?}");
        }
        // Kept for `callgrind_annotate --inclusive=yes <file>`: where they go.
        println!("profiles: {}/callgrind-*.out*", work.display());
        return;
    }
    // `bench rolling`: only the rolling restart behind nginx (1,000 accounts on
    // PostgreSQL; the release binary under target/release).
    if args.get(1).map(String::as_str) == Some("rolling") {
        let work = tempdir();
        let binary = PathBuf::from("target/release/dokploy-auth");
        let postgres = postgres::Postgres::start().expect("needs Debian's postgresql");
        let report = rolling_restart(&binary, &postgres, &work);
        println!("{}", report.to_json());
        drop(postgres);
        let _ = std::fs::remove_dir_all(&work);
        return;
    }
    // `bench logins`: only logins/s against the bcrypt ceiling, on sled and on
    // PostgreSQL (the release binary under target/release, 8 s each).
    if args.get(1).map(String::as_str) == Some("logins") {
        let work = tempdir();
        let binary = PathBuf::from("target/release/dokploy-auth");
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let small = prepare_server_data(&work.join("small"), 1_000);
        let ceiling = cores as f64 * 1000.0 / measure::bcrypt_verify_ms(SERVER_COST);
        let on_sled = start_server(&binary, &small);
        let sled = login(&on_sled.address)
            .connections(2 * cores)
            .seconds(8)
            .run();
        drop(on_sled);
        let postgres = postgres::Postgres::start().expect("needs Debian's postgresql");
        let database = moved_into(&postgres, "logins", &binary, &small);
        let on_postgres = start_on_postgres(&binary, &small, &database);
        let pg = login(&on_postgres.address)
            .connections(2 * cores)
            .seconds(8)
            .run();
        drop(on_postgres);
        println!("bcrypt ceiling: {ceiling:.1} logins/s");
        for (engine, run) in [("sled", sled), ("postgres", pg)] {
            println!(
                "{engine}: {:.1} logins/s, {:.2} of the ceiling",
                run.rps,
                run.rps / ceiling
            );
        }
        drop(postgres);
        let _ = std::fs::remove_dir_all(&work);
        return;
    }
    let options = options();
    let seconds = options.seconds;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let bin = |name: &str| options.release_dir.join(name);
    let work = tempdir();
    let mut results = serde_json::Map::new();
    let mut record = |key: &str, value: Value| {
        println!("  {key}: {value}");
        results.insert(key.to_string(), value);
    };

    println!("== bcrypt: cost {SERVER_COST} verification time, on this machine, now");
    let verify_ms = measure::bcrypt_verify_ms(SERVER_COST);
    let login_ceiling = cores as f64 * 1000.0 / verify_ms;
    record("bcrypt_verify_ms", json!(round(verify_ms)));
    record("login_ceiling_per_s", json!(round(login_ceiling)));

    println!("== baseline: a bare hyper server (kept running: measured beside each target)");
    let baseline_address = free_address();
    let _baseline_process = Process::spawn(bin("baseline").as_os_str(), &[&baseline_address], &[]);
    wait_until_answering(&baseline_address, "/", Duration::from_secs(10)).expect("baseline starts");
    let baseline_wrk = || {
        Wrk::get(&baseline_address, "/")
            .connections(32)
            .seconds(seconds)
    };
    let baseline = baseline_wrk().run();
    record("baseline_get", baseline.to_json());
    // Throughput against the baseline: ROUNDS rounds of baseline then target, back to
    // back, and the median of their ratios (shared machines drift within a run; a
    // single pair moved by ±0.1 between runs here).
    let against_baseline = |target: &dyn Fn() -> Wrk| -> (WrkRun, f64) {
        let mut rounds: Vec<(f64, WrkRun)> = (0..ROUNDS)
            .map(|_| {
                let base = baseline_wrk().run();
                let run = target().run();
                (run.rps / base.rps, run)
            })
            .collect();
        rounds.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (ratio, run) = rounds.swap_remove(ROUNDS / 2);
        (run, ratio)
    };
    let get_against_baseline = |address: &str, trpc: bool| {
        against_baseline(&|| auth_get(address, trpc).connections(32).seconds(seconds))
    };

    println!("== server (sled, sealed), 1,000 accounts");
    let small = prepare_server_data(&work.join("small"), 1_000);
    let server = start_server(&bin("dokploy-auth"), &small);
    let (get_rest, get_rest_ratio) = get_against_baseline(&server.address, false);
    let (get_trpc, get_trpc_ratio) = get_against_baseline(&server.address, true);
    let get_alone = auth_get(&server.address, false)
        .connections(8)
        .seconds(seconds)
        .run();
    let login_small = login(&server.address)
        .connections(2 * cores)
        .seconds(seconds * 2)
        .run();
    let invitations_small = invitations(&server.address, "sled")
        .connections(16)
        .seconds(seconds)
        .run();
    let (get_under_flood, login_during_flood) = {
        let flood = login(&server.address)
            .connections(4 * cores)
            .seconds(seconds + 2)
            .spawn();
        std::thread::sleep(Duration::from_millis(500));
        let run = auth_get(&server.address, false)
            .connections(8)
            .seconds(seconds)
            .run();
        (run, flood.wait())
    };
    // Logins one after another, alone and beside as many busy processes as cores.
    let (login_alone_ms, alone_failed) = busy::login_median_ms(&server.address, &login_body(), 15);
    let (login_busy_ms, busy_failed) = {
        let _busy = busy_processes::BusyProcesses::start();
        busy::login_median_ms(&server.address, &login_body(), 15)
    };
    drop(server);
    // The same server without its access log (RUST_LOG=warn): what one log line costs.
    let quiet = start_server_with(&bin("dokploy-auth"), &small, &[("RUST_LOG", "warn")]);
    let (get_quiet, get_quiet_ratio) = get_against_baseline(&quiet.address, false);
    drop(quiet);
    // The same server counting Prometheus metrics (the audit log is on in every run).
    let metrics_address = free_address();
    let metered = start_server_with(
        &bin("dokploy-auth"),
        &small,
        &[("DOKPLOY_AUTH_METRICS_LISTEN", &metrics_address)],
    );
    let (get_metered, get_metered_ratio) = get_against_baseline(&metered.address, false);
    drop(metered);
    record("server_get_rest", get_rest.to_json());
    record("server_get_trpc", get_trpc.to_json());
    record("server_get_alone_c8", get_alone.to_json());
    record("server_login_1k", login_small.to_json());
    record("server_invitations", invitations_small.to_json());
    record("server_get_under_login_flood_c8", get_under_flood.to_json());
    record(
        "server_login_during_that_flood",
        login_during_flood.to_json(),
    );
    record("server_login_median_alone_ms", json!(round(login_alone_ms)));
    record(
        "server_login_median_beside_busy_processes_ms",
        json!(round(login_busy_ms)),
    );
    record(
        "server_logins_not_200_alone_and_busy",
        json!([alone_failed, busy_failed]),
    );
    record("server_get_rest_without_access_log", get_quiet.to_json());
    record("server_get_rest_with_metrics", get_metered.to_json());

    println!("== server on PostgreSQL (one instance, the same 1,000 accounts moved in)");
    let postgres = postgres::Postgres::start().expect("make bench needs Debian's postgresql");
    let database = moved_into(&postgres, "bench", &bin("dokploy-auth"), &small);
    let on_postgres = start_on_postgres(&bin("dokploy-auth"), &small, &database);
    let (pg_get, pg_get_ratio) = get_against_baseline(&on_postgres.address, false);
    let pg_login = login(&on_postgres.address)
        .connections(2 * cores)
        .seconds(seconds * 2)
        .run();
    let pg_invitations = invitations(&on_postgres.address, "postgres")
        .connections(16)
        .seconds(seconds)
        .run();
    // auth.get while something is written every 10 ms (each write empties every
    // instance's cache): on one instance, then on two sharing the database, each
    // taking half the connections (a round-robin done by the client) while the
    // writes alternate between them. The slower instance's p99 counts.
    let pg_get_writes_one = {
        let writer = Writer::every_10_ms(vec![on_postgres.address.clone()], "one");
        let run = auth_get(&on_postgres.address, false)
            .connections(32)
            .seconds(seconds)
            .run();
        writer.stop();
        run
    };
    let second = start_on_postgres(&bin("dokploy-auth"), &small, &database);
    let (pg_get_writes_two, writes_two) = {
        let writer = Writer::every_10_ms(
            vec![on_postgres.address.clone(), second.address.clone()],
            "two",
        );
        let runs: Vec<_> = [&on_postgres.address, &second.address]
            .map(|address| {
                auth_get(address, false)
                    .connections(16)
                    .seconds(seconds)
                    .spawn()
            })
            .into_iter()
            .map(|running| running.wait())
            .collect();
        let slower = runs
            .into_iter()
            .max_by(|a, b| a.p99_ms.total_cmp(&b.p99_ms))
            .expect("two runs");
        (slower, writer.stop())
    };
    drop(second);
    drop(on_postgres);
    println!("== a rolling restart of two instances behind nginx, under load");
    let rolling = rolling_restart(&bin("dokploy-auth"), &postgres, &work);
    record("rolling_restart_behind_nginx", rolling.to_json());
    let layouts = layout::session_then_account(&postgres.database("layout"), 20_000);
    drop(postgres);
    record("postgres_get_rest", pg_get.to_json());
    record("postgres_login_1k", pg_login.to_json());
    record("postgres_invitations", pg_invitations.to_json());
    record(
        "postgres_invitations_per_sled_invitation",
        json!(round(pg_invitations.rps / invitations_small.rps)),
    );
    record(
        "postgres_get_writes_every_10ms_one_instance",
        pg_get_writes_one.to_json(),
    );
    record(
        "postgres_get_writes_every_10ms_two_instances",
        pg_get_writes_two.to_json(),
    );
    record("postgres_writes_during_two_instances", json!(writes_two));
    record(
        "postgres_cache_miss_lookup_key_value_us",
        json!(round(layouts.key_value_us)),
    );
    record(
        "postgres_cache_miss_lookup_relational_us",
        json!(round(layouts.relational_us)),
    );

    println!("== server, 100,000 accounts");
    let seeding = Instant::now();
    let large = prepare_server_data(&work.join("large"), 100_000);
    record("seed_100k_s", json!(round(seeding.elapsed().as_secs_f64())));
    let server = start_server(&bin("dokploy-auth"), &large);
    record("server_100k_startup_ms", json!(round(server.startup_ms)));
    let get_large = auth_get(&server.address, false)
        .connections(8)
        .seconds(seconds)
        .run();
    let login_large = login(&server.address)
        .connections(2 * cores)
        .seconds(seconds * 2)
        .run();
    let server_rss_mb = server.process.rss_mb();
    drop(server);
    record("server_get_100k_c8", get_large.to_json());
    record("server_login_100k", login_large.to_json());
    record("server_100k_rss_mb", json!(round(server_rss_mb)));

    println!("== mock");
    let empty_mock = start_mock(&bin("dokploy-auth-mock"), None);
    record("mock_empty_startup_ms", json!(round(empty_mock.startup_ms)));
    record(
        "mock_empty_rss_mb",
        json!(round(empty_mock.process.rss_mb())),
    );
    drop(empty_mock);
    let fixture = write_mock_fixture(&work, 1_000);
    let mock = start_mock(&bin("dokploy-auth-mock"), Some(&fixture));
    record("mock_1k_startup_ms", json!(round(mock.startup_ms)));
    record(
        "mock_1k_reset_ms",
        json!(round(measure::mock_reset_ms(&mock.address, 9))),
    );
    let (mock_rest, mock_rest_ratio) = get_against_baseline(&mock.address, false);
    let (mock_trpc, mock_trpc_ratio) = get_against_baseline(&mock.address, true);
    record("mock_get_rest", mock_rest.to_json());
    record("mock_get_trpc", mock_trpc.to_json());

    println!("== mock memory: after 10,000 and after 1,000,000 requests");
    let (rss_10k, rss_1m, served) = mock_memory(&mock);
    drop(mock);
    record("mock_rss_after_10k_mb", json!(round(rss_10k)));
    record("mock_rss_after_1m_mb", json!(round(rss_1m)));
    record("mock_requests_served", json!(served));

    println!("== mock start with 1,000 accounts of distinct passwords, alone and on a busy host");
    let distinct = write_distinct_fixture(&work, 1_000);
    let last_member =
        json!({"email": "member999@example.com", "password": "password-999"}).to_string();
    // Started, then one login of the last member at once.
    let start_then_login = || {
        let mock = start_mock(&bin("dokploy-auth-mock"), Some(&distinct));
        let (login_ms, answered) = busy::timed_login(&mock.address, &last_member);
        (mock.startup_ms, login_ms, answered)
    };
    let (distinct_ms, distinct_login_ms, distinct_login_ok) = start_then_login();
    let (distinct_busy_ms, distinct_busy_login_ms, distinct_busy_login_ok) = {
        let _busy = busy_processes::BusyProcesses::start();
        start_then_login()
    };
    record("mock_1k_distinct_startup_ms", json!(round(distinct_ms)));
    record(
        "mock_1k_distinct_first_login_ms",
        json!(round(distinct_login_ms)),
    );
    record(
        "mock_1k_distinct_startup_busy_ms",
        json!(round(distinct_busy_ms)),
    );
    record(
        "mock_1k_distinct_first_login_busy_ms",
        json!(round(distinct_busy_login_ms)),
    );
    assert!(
        distinct_login_ok && distinct_busy_login_ok,
        "a login right after the mock's start failed"
    );

    println!("== instructions per request (callgrind), {REQUESTS_LABEL}");
    let instructions = instructions_per_request(&bin, &work, &small, &fixture);
    for (label, count) in &instructions {
        record(
            &format!("instructions_per_request_{label}"),
            json!(count.map(f64::round)),
        );
    }

    let prism = if options.skip_prism {
        None
    } else {
        println!("== Stoplight Prism mocking the same operation from openapi.yaml");
        measure::prism(seconds)
    };
    if let Some(prism) = &prism {
        record("prism_get", prism.to_json());
    }

    let mut ratios = vec![
        at_least(
            "server auth.get REST / baseline (req/s, median of 5)",
            get_rest_ratio,
            0.8,
            "≥ 0.8",
        ),
        at_least(
            "  same, without the access log",
            get_quiet_ratio,
            0.8,
            "≥ 0.8",
        ),
        at_least(
            "  same, counting metrics / without (noise: ±0.1)",
            get_metered_ratio / get_rest_ratio,
            0.9,
            "≥ 0.9",
        ),
        at_least(
            "server auth.get tRPC / baseline (req/s)",
            get_trpc_ratio,
            0.8,
            "≥ 0.8",
        ),
        at_least(
            "mock auth.get REST / baseline (req/s)",
            mock_rest_ratio,
            0.7,
            "≥ 0.7",
        ),
        at_least(
            "mock auth.get tRPC / baseline (req/s)",
            mock_trpc_ratio,
            0.7,
            "≥ 0.7",
        ),
        at_least(
            "server logins/s / bcrypt ceiling",
            login_small.rps / login_ceiling,
            0.8,
            "≥ 0.8",
        ),
        at_least(
            "PostgreSQL: auth.get REST / baseline (req/s)",
            pg_get_ratio,
            0.5,
            "≥ 0.5",
        ),
        at_least(
            "PostgreSQL: logins/s / bcrypt ceiling",
            pg_login.rps / login_ceiling,
            0.8,
            "≥ 0.8",
        ),
        at_most(
            "PostgreSQL: auth.get p99 with a write every 10 ms, two instances / one",
            pg_get_writes_two.p99_ms / pg_get_writes_one.p99_ms,
            2.0,
            "≤ 2",
        ),
        at_most(
            "login median beside busy processes / alone",
            login_busy_ms / login_alone_ms,
            3.0,
            "≤ 3",
        ),
        at_most(
            "rolling restart behind nginx: failed requests",
            rolling.failed as f64,
            0.0,
            "0",
        ),
        at_most(
            "rolling restart: acknowledged writes lost",
            rolling.writes_lost as f64,
            0.0,
            "0",
        ),
        at_most(
            "mock start, 1,000 distinct passwords (ms)",
            distinct_ms,
            1000.0,
            "< 1000",
        ),
        at_most(
            "  same, beside busy processes (ms)",
            distinct_busy_ms,
            1000.0,
            "< 1000",
        ),
        at_most(
            "auth.get p99 under login flood / alone",
            get_under_flood.p99_ms / get_alone.p99_ms,
            3.0,
            "≤ 3",
        ),
        at_most(
            "auth.get p50 100k / 1k accounts",
            get_large.p50_ms / get_alone.p50_ms,
            1.2,
            "≤ 1.2",
        ),
        at_most(
            "auth.login p50 100k / 1k accounts",
            login_large.p50_ms / login_small.p50_ms,
            1.2,
            "≤ 1.2",
        ),
        at_most(
            "mock start-up, empty (ms)",
            results_f64(&results, "mock_empty_startup_ms"),
            50.0,
            "< 50",
        ),
        at_most(
            "mock start-up, 1,000 passworded accounts (ms)",
            results_f64(&results, "mock_1k_startup_ms"),
            50.0,
            "< 50",
        ),
        at_most(
            "mock reset to those 1,000 accounts (ms)",
            results_f64(&results, "mock_1k_reset_ms"),
            50.0,
            "< 50",
        ),
        at_most(
            "server RSS at 100,000 accounts (MB)",
            server_rss_mb,
            100.0,
            "< 100",
        ),
        at_most(
            "mock RSS after 1M / after 10k requests",
            rss_1m / rss_10k,
            2.0,
            "< 2",
        ),
    ];
    if let Some(prism) = &prism {
        ratios.push(at_least(
            "mock / Prism (req/s)",
            mock_rest.rps / prism.rps,
            20.0,
            "≥ 20",
        ));
    }
    let failures: Vec<&WrkRun> = [
        &baseline,
        &get_rest,
        &get_trpc,
        &get_alone,
        &login_small,
        &pg_get,
        &pg_login,
        &pg_invitations,
        &invitations_small,
        &pg_get_writes_one,
        &pg_get_writes_two,
        &get_under_flood,
        &login_during_flood,
        &get_quiet,
        &get_metered,
        &get_large,
        &login_large,
        &mock_rest,
        &mock_trpc,
    ]
    .into_iter()
    .filter(|r| r.non_2xx > 0 || r.errors > 0)
    .collect();

    println!();
    println!("{:<52} {:>10}  target", "ratio", "value");
    for ratio in &ratios {
        println!(
            "{:<44} {:>10.3}  {:<8} {}",
            ratio.name,
            ratio.value,
            ratio.target,
            if ratio.met { "met" } else { "MISSED" }
        );
    }
    for run in &failures {
        println!(
            "WARNING: {} answered {} non-2xx and {} socket errors",
            run.label, run.non_2xx, run.errors
        );
    }

    let report = json!({
        "date": measure::now_iso8601(),
        "machine": measure::machine(),
        "seconds_per_run": seconds,
        "load_generator": measure::wrk_version(),
        "measurements": Value::Object(results),
        "ratios": ratios.iter().map(|r| json!({
            "name": r.name, "value": round(r.value), "target": r.target, "met": r.met,
        })).collect::<Vec<_>>(),
    });
    if let Some(parent) = options.out.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    std::fs::write(
        &options.out,
        serde_json::to_string_pretty(&report).expect("JSON"),
    )
    .unwrap_or_else(|e| panic!("cannot write {}: {e}", options.out.display()));
    println!("\nresults written to {}", options.out.display());
    let _ = std::fs::remove_dir_all(&work);
    if !failures.is_empty() {
        // A run that was refused measured nothing.
        std::process::exit(1);
    }
}

fn results_f64(results: &serde_json::Map<String, Value>, key: &str) -> f64 {
    results.get(key).and_then(Value::as_f64).unwrap_or(f64::NAN)
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dokploy-auth-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

fn auth_get(address: &str, trpc: bool) -> Wrk {
    let path = if trpc {
        "/api/trpc/auth.get"
    } else {
        "/api/auth.get"
    };
    Wrk::get(address, path).header("Authorization", &format!("Bearer {TOKEN}"))
}

/// `admin.createUserInvitation` as the admin, a new email each time.
fn invitations(address: &str, tag: &str) -> Wrk {
    let script = format!(
        "wrk.method = \"POST\"\n\
         local n = 0\n\
         request = function()\n\
           n = n + 1\n\
           return wrk.format(nil, nil, nil, '{{\"email\":\"{tag}-' .. n .. '@example.com\"}}')\n\
         end\n"
    );
    Wrk::get(address, "/api/admin.createUserInvitation")
        .header("Authorization", &format!("Bearer {TOKEN}"))
        .script(&script)
}

/// Invites someone new every 10 ms, through each address in turn, until stopped.
struct Writer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl Writer {
    fn every_10_ms(addresses: Vec<String>, tag: &str) -> Writer {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (stopped, tag) = (stop.clone(), tag.to_string());
        let thread = std::thread::spawn(move || {
            let mut written = 0;
            while !stopped.load(Ordering::Relaxed) {
                let address = &addresses[written as usize % addresses.len()];
                let body = format!(r#"{{"email":"writer-{tag}-{written}@example.com"}}"#);
                let status =
                    measure::post_status(address, "/api/admin.createUserInvitation", TOKEN, &body);
                assert_eq!(status, Some(200), "a write during the measurement failed");
                written += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            written
        });
        Writer { stop, thread }
    }

    /// Stops; how many writes were made.
    fn stop(self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().expect("the writer")
    }
}

/// The admin's login.
fn login_body() -> String {
    json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}).to_string()
}

fn login(address: &str) -> Wrk {
    Wrk::post(address, "/api/auth.login", &login_body())
}

/// A data directory with the admin (password at cost 10, the API token) and
/// `accounts - 1` invited members, written through the server's own storage layer
/// (sealed, as the binary stores): one bcrypt hash, not 100,000.
fn prepare_server_data(root: &Path, accounts: usize) -> PathBuf {
    use server::core::{AccountFixture, Config, Core, Deps, Fixtures};
    use std::sync::Arc;
    let data = root.join("data");
    std::fs::create_dir_all(&data).expect("data directory");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let engine = Arc::new(server::storage::SledStore::open(&data).expect("sled opens"));
        let random = Arc::new(server::crypto::OsRandom::new());
        let (store, _) = server::keyfile::seal(
            engine.clone(),
            &data.display().to_string(),
            &server::keyfile::default_path(&data),
            random.clone(),
        )
        .expect("sealed store");
        let deps = Deps {
            store,
            clock: Arc::new(server::time::SystemClock),
            random,
            hasher: Arc::new(server::hashing::Bcrypt::new(SERVER_COST)),
            mailer: Arc::new(server::core::ports::NoMail),
            notifier: Arc::new(server::core::ports::NoNotifier),
        };
        let core = Core::new(deps, Config::default()).await.expect("core");
        let fixtures = Fixtures {
            admins: vec![AccountFixture {
                email: ADMIN_EMAIL.into(),
                password: Some(ADMIN_PASSWORD.into()),
                api_token: Some(TOKEN.into()),
                ..AccountFixture::default()
            }],
            members: (1..accounts)
                .map(|n| AccountFixture {
                    email: format!("member{n}@example.com"),
                    invited_by: Some(ADMIN_EMAIL.into()),
                    ..AccountFixture::default()
                })
                .collect(),
        };
        core.load_fixtures(&fixtures).await.expect("fixtures load");
        engine.flush_blocking().expect("flush");
    });
    data
}

struct Started {
    process: Process,
    address: String,
    startup_ms: f64,
}

fn start_server(binary: &Path, data: &Path) -> Started {
    start_server_with(binary, data, &[])
}

fn start_server_with(binary: &Path, data: &Path, env: &[(&str, &str)]) -> Started {
    let address = free_address();
    let started = Instant::now();
    let process = Process::spawn(
        binary.as_os_str(),
        &[
            "--data-dir",
            data.to_str().expect("UTF-8 path"),
            "--bcrypt-cost",
            &SERVER_COST.to_string(),
            "serve",
            "--listen",
            &address,
        ],
        env,
    );
    wait_until_answering(&address, "/health", Duration::from_secs(60)).expect("the server starts");
    Started {
        process,
        address,
        startup_ms: started.elapsed().as_secs_f64() * 1000.0,
    }
}

fn start_mock(binary: &Path, fixture: Option<&Path>) -> Started {
    let address = free_address();
    let mut args = vec!["--listen".to_string(), address.clone()];
    if let Some(fixture) = fixture {
        args.push("--fixtures".into());
        args.push(fixture.to_str().expect("UTF-8 path").into());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let started = Instant::now();
    let process = Process::spawn(binary.as_os_str(), &args, &[]);
    wait_until_answering(&address, "/health", Duration::from_secs(30)).expect("the mock starts");
    Started {
        process,
        address,
        startup_ms: started.elapsed().as_secs_f64() * 1000.0,
    }
}

fn write_mock_fixture(work: &Path, accounts: usize) -> PathBuf {
    // Members with passwords (one password: a fixture password is hashed once).
    let members: Vec<Value> = (1..accounts)
        .map(|n| {
            json!({"email": format!("member{n}@example.com"), "password": "member-password",
                "invitedBy": ADMIN_EMAIL})
        })
        .collect();
    let fixture = json!({
        "admins": [{"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "apiToken": TOKEN}],
        "members": members,
    });
    let path = work.join("mock-fixture.json");
    std::fs::write(&path, fixture.to_string()).expect("fixture written");
    path
}

/// The mock's resident memory after 10,000 requests and after 1,000,000 (wrk in
/// chunks until the journal's sequence number says so), and the requests served.
fn mock_memory(mock: &Started) -> (f64, f64, u64) {
    let served = || measure::mock_requests_served(&mock.address);
    while served() < 10_000 {
        auth_get(&mock.address, false)
            .connections(16)
            .seconds(1)
            .run();
    }
    let after_10k = mock.process.rss_mb();
    let deadline = Instant::now() + Duration::from_secs(240);
    while served() < 1_000_000 && Instant::now() < deadline {
        auth_get(&mock.address, false)
            .connections(32)
            .seconds(10)
            .run();
    }
    (after_10k, mock.process.rss_mb(), served())
}

/// A new database `name` of `postgres` holding the data directory `small`'s records
/// (`dokploy-auth migrate`): its URL.
/// The server on `database` (moved there from `small` by [`moved_into`]), with the
/// data directory's key file.
fn start_on_postgres(binary: &Path, small: &Path, database: &str) -> Started {
    let key = server::keyfile::default_path(small);
    start_server_with(binary, small, &on_postgres_env(database, &key))
}

/// The environment that points the server at `database`, sealed under `key_file`.
fn on_postgres_env<'a>(database: &'a str, key_file: &'a Path) -> [(&'static str, &'a str); 2] {
    [
        ("DATABASE_URL", database),
        (
            "DOKPLOY_AUTH_KEY_FILE",
            key_file.to_str().expect("UTF-8 path"),
        ),
    ]
}

fn moved_into(postgres: &postgres::Postgres, name: &str, binary: &Path, small: &Path) -> String {
    let database = postgres.database(name);
    let moved = std::process::Command::new(binary)
        .args([
            "migrate",
            "--from-data-dir",
            small.to_str().expect("UTF-8 path"),
        ])
        .args(["--database-url", &database])
        .output()
        .expect("dokploy-auth migrate runs");
    assert!(
        moved.status.success(),
        "{}",
        String::from_utf8_lossy(&moved.stderr)
    );
    database
}

/// Two instances behind nginx, each restarted twice, 3 s apart, under load, on a
/// database of their own holding 1,000 accounts (the other measurements leave
/// thousands of invitations, which would make the final `user.all` slow).
fn rolling_restart(binary: &Path, postgres: &postgres::Postgres, work: &Path) -> rolling::Report {
    let small = &prepare_server_data(&work.join("rolling"), 1_000);
    let database = &moved_into(postgres, "rolling", binary, small);
    let key = server::keyfile::default_path(small);
    let env = on_postgres_env(database, &key);
    let login_body = login_body();
    rolling::measure(
        &rolling::Instances {
            binary,
            data_dir: small,
            env: &env,
            token: TOKEN,
            login_body: &login_body,
        },
        work,
        Duration::from_secs(3),
    )
}

const REQUESTS_LABEL: &str = "2,000 keep-alive auth.get after 300 to warm up";

/// Instructions per `auth.get` for the bare hyper baseline, the server over REST and
/// tRPC, and the mock over REST and tRPC (`None` where valgrind is missing).
fn instructions_per_request(
    bin: &dyn Fn(&str) -> PathBuf,
    work: &Path,
    data: &Path,
    fixture: &Path,
) -> Vec<(&'static str, Option<f64>)> {
    let get = |path: &str, address: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n")
    };
    let mut counted = Vec::new();
    let address = free_address();
    counted.push((
        "baseline",
        callgrind::per_request(
            work,
            "baseline",
            &bin("baseline"),
            &[&address],
            &address,
            &get("/", &address),
        ),
    ));
    // After the seeding, sled's own threads rewrite its log for a while; under
    // callgrind that work landed in one run's window (3,000 instructions a request
    // once). Served for a while beforehand, natively, the data is settled.
    let settling = start_server(&bin("dokploy-auth"), data);
    std::thread::sleep(Duration::from_secs(3));
    drop(settling);
    for (label, path) in [
        ("server_rest", "/api/auth.get"),
        ("server_trpc", "/api/trpc/auth.get"),
    ] {
        let address = free_address();
        let args = [
            "--data-dir",
            data.to_str().expect("UTF-8 path"),
            "--bcrypt-cost",
            "4",
            "serve",
            "--listen",
            &address,
        ];
        let count = callgrind::per_request(
            work,
            label,
            &bin("dokploy-auth"),
            &args,
            &address,
            &get(path, &address),
        );
        counted.push((label, count));
    }
    for (label, path) in [
        ("mock_rest", "/api/auth.get"),
        ("mock_trpc", "/api/trpc/auth.get"),
    ] {
        let address = free_address();
        let args = [
            "--listen",
            &address,
            "--fixtures",
            fixture.to_str().expect("UTF-8 path"),
        ];
        let count = callgrind::per_request(
            work,
            label,
            &bin("dokploy-auth-mock"),
            &args,
            &address,
            &get(path, &address),
        );
        counted.push((label, count));
    }
    counted
}

/// A mock fixture of an admin and `accounts - 1` members, each with a password of
/// its own (`password-<n>`).
fn write_distinct_fixture(work: &Path, accounts: usize) -> PathBuf {
    let members: Vec<Value> = (1..accounts)
        .map(|n| {
            json!({"email": format!("member{n}@example.com"), "password": format!("password-{n}"),
                "invitedBy": ADMIN_EMAIL})
        })
        .collect();
    let fixture = json!({
        "admins": [{"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}],
        "members": members,
    });
    let path = work.join("mock-distinct-fixture.json");
    std::fs::write(&path, fixture.to_string()).expect("fixture written");
    path
}
