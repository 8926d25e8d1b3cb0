//! `dokploy-auth-mock`: the mock server for frontend development.

use clap::{Parser, ValueEnum};
use mock::{ClockStart, CorsOrigins, Fixtures, MockState, Mode, Settings};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "dokploy-auth-mock",
    version = specs::version(),
    about = "An in-memory, deterministic Dokploy auth server (control plane under /__mock/)"
)]
struct Cli {
    /// Address to listen on (4000: the server's `make run` takes 3000).
    #[arg(long, env = "MOCK_LISTEN", default_value = "127.0.0.1:4000")]
    listen: String,
    /// Seed of every id, token and secret.
    #[arg(long, env = "MOCK_SEED", default_value_t = 0)]
    seed: u64,
    /// A JSON fixtures file to start with (and return to on reset).
    #[arg(long, env = "MOCK_FIXTURES")]
    fixtures: Option<PathBuf>,
    /// Self-hosted (one admin) or cloud (sign-up by email, outbox).
    #[arg(long, env = "MOCK_MODE", value_enum, default_value_t = ModeArg::SelfHosted)]
    mode: ModeArg,
    /// `manual`: stopped at 2025-01-01T00:00:00Z, moved by /__mock/clock (reproducible);
    /// `real`: follows real time, so a phone's authenticator app gives accepted pins.
    #[arg(long, env = "MOCK_CLOCK", value_enum, default_value_t = ClockArg::Manual)]
    clock: ClockArg,
    /// bcrypt cost of new hashes.
    #[arg(long, env = "MOCK_BCRYPT_COST", default_value_t = 4, value_parser = clap::value_parser!(u32).range(4..=31))]
    bcrypt_cost: u32,
    /// Requests the journal keeps.
    #[arg(long, env = "MOCK_JOURNAL_CAPACITY", default_value_t = 2000)]
    journal_capacity: usize,
    /// An origin whose pages may call with credentials (repeat it). The API answers
    /// any origin when none is listed; the control plane (/__mock/) only its own
    /// and listed ones.
    #[arg(long = "cors-origin", env = "MOCK_CORS_ORIGINS", value_delimiter = ',')]
    cors_origins: Vec<String>,
    /// A host name the control plane (/__mock/) answers to besides loopback ones
    /// (repeat it, or comma-separate): the name a container network gives the mock.
    #[arg(
        long = "control-host",
        env = "MOCK_CONTROL_HOSTS",
        value_delimiter = ','
    )]
    control_hosts: Vec<String>,
    /// Throttle failed guesses as the server does (off by default in the mock).
    #[arg(long, env = "MOCK_THROTTLE")]
    throttle: bool,
    /// Where email links point: your frontend's address.
    #[arg(long, env = "MOCK_PUBLIC_URL", default_value = "http://localhost:3000")]
    public_url: String,
    /// `contract`: this project's contract; `dokploy-0.14`: what Dokploy v0.14 says on
    /// the wire where the contract deliberately differs (mock/README.md lists which).
    #[arg(long, env = "MOCK_PROFILE", default_value_t = specs::Profile::Contract)]
    profile: specs::Profile,
    /// Log warnings only (no line per request); otherwise `RUST_LOG` decides
    /// (default `info`).
    #[arg(long, short, env = "MOCK_QUIET")]
    quiet: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum ClockArg {
    Manual,
    Real,
}

#[derive(Clone, Copy, ValueEnum)]
enum ModeArg {
    SelfHosted,
    Cloud,
}

/// Many small allocations per request: mimalloc serves them faster than glibc's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Keep the guard until exit: dropping it writes the last lines.
    let _logs = server::logs::init_at(server::logs::Format::Text, cli.quiet.then_some("warn"));
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("dokploy-auth-mock: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let fixtures = match &cli.fixtures {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            Some(
                serde_json::from_str::<Fixtures>(&text)
                    .map_err(|e| format!("{} is not a fixtures file: {e}", path.display()))?,
            )
        }
        None => None,
    };
    let settings = Settings {
        seed: cli.seed,
        mode: match cli.mode {
            ModeArg::SelfHosted => Mode::SelfHosted,
            ModeArg::Cloud => Mode::Cloud,
        },
        clock: match cli.clock {
            ClockArg::Manual => ClockStart::Manual,
            ClockArg::Real => ClockStart::Real,
        },
        fixtures,
        bcrypt_cost: cli.bcrypt_cost,
        journal_capacity: cli.journal_capacity,
        cors: if cli.cors_origins.is_empty() {
            CorsOrigins::Any
        } else {
            CorsOrigins::List(cli.cors_origins)
        },
        control_hosts: cli.control_hosts,
        public_url: cli.public_url,
        throttle: cli.throttle.then(Default::default),
        profile: cli.profile,
        // A thousand distinct fixture passwords load at once; logins resolve them.
        hash_fixtures_later: true,
    };
    let state = Arc::new(MockState::new(settings).await.map_err(|e| e.message)?);
    let listener = tokio::net::TcpListener::bind(&cli.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", cli.listen))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let inspector = format!("http://{address}/__mock/");
    // The first line on standard output says where it listens (logs go to standard
    // error), so that a test runner can start it on port 0 and read the address.
    println!(
        "{}",
        serde_json::json!({"url": format!("http://{address}"), "inspector": inspector, "seed": cli.seed})
    );
    tracing::info!(%address, seed = cli.seed, %inspector, "mock listening; the inspector page and control plane are under /__mock/");
    mock::serve(listener, state, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    Ok(())
}
