//! `conformance run (--target http://host:port [--admin EMAIL:PASSWORD | --reset-cmd CMD] [--shift-time-cmd CMD] | --spawn CMD) [--filter PATTERN] [--junit FILE]`

use clap::{Parser, Subcommand};
use conformance::client::Transport;
use conformance::runner::run_over;
use conformance::runner::CheckResult;
use conformance::{SpawnTarget, Target, UrlTarget, Verdict};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "dokploy-auth-conformance",
    version = specs::version(),
    about = "Checks an implementation of the Dokploy auth API over HTTP"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the checks against a target (a fresh instance, the mock, or a command).
    Run {
        /// The target's base URL, e.g. http://127.0.0.1:3000
        #[arg(long, required_unless_present = "spawn", conflicts_with = "spawn")]
        target: Option<String>,
        /// Start the target with this command for every check (`{addr}`: where to
        /// listen, `{dir}`: a new empty directory), e.g.
        /// 'dokploy-auth --data-dir {dir}/data serve --listen {addr}'
        #[arg(long)]
        spawn: Option<String>,
        /// Only the checks whose "procedure / outcome" name contains this.
        #[arg(long)]
        filter: Option<String>,
        /// Also write a JUnit XML report here.
        #[arg(long)]
        junit: Option<PathBuf>,
        /// Random call sequences for the model-based test (on a fresh instance each, or
        /// beside what a live instance holds with --admin).
        #[arg(long, default_value_t = 64)]
        cases: u32,
        /// Seed of those sequences (the same seed replays the same sequences).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// A command (run by `sh -c`) that resets the target before each check that
        /// needs a fresh instance, e.g. one that empties its database.
        #[arg(long, conflicts_with = "spawn")]
        reset_cmd: Option<String>,
        /// For a target whose clock cannot be moved: a command (run by `sh -c`) that
        /// makes every time the target stores `{seconds}` older (expiries, creation
        /// times), so the expiry and sliding checks run. Dokploy's SQL is in the
        /// conformance README.
        #[arg(long, conflicts_with = "spawn")]
        shift_time_cmd: Option<String>,
        /// A live target's admin (EMAIL:PASSWORD, without 2FA): on a target that cannot
        /// be reset, the stateful checks run beside what it holds, under new emails,
        /// and leave it as they found it.
        #[arg(long, conflicts_with_all = ["spawn", "admin_token"])]
        admin: Option<conformance::AdminCredential>,
        /// As --admin, with an API token of the admin (works with 2FA on).
        #[arg(long, conflicts_with = "spawn")]
        admin_token: Option<String>,
        /// Whose behaviour to expect where the contract differs from Dokploy:
        /// `contract`, or `dokploy-0.14` (Dokploy v0.14 as measured on the wire).
        #[arg(long, default_value_t = specs::Profile::Contract)]
        profile: specs::Profile,
        /// The transports the checks go over (the checks about one transport itself run
        /// once, over it: `transport / …` over REST, `trpc / …` over tRPC).
        #[arg(long, value_enum, default_value_t = TransportArg::Both)]
        transport: TransportArg,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum TransportArg {
    Rest,
    Trpc,
    Both,
}

#[tokio::main]
async fn main() -> ExitCode {
    let Command::Run {
        target,
        spawn,
        filter,
        junit,
        cases,
        seed,
        reset_cmd,
        shift_time_cmd,
        admin,
        admin_token,
        profile,
        transport,
    } = Cli::parse().command;
    let admin = admin.or(admin_token.map(conformance::AdminCredential::Token));
    let transports: &[Transport] = match transport {
        TransportArg::Rest => &[Transport::Rest],
        TransportArg::Trpc => &[Transport::Trpc],
        TransportArg::Both => conformance::runner::BOTH,
    };
    let (target, resets): (Arc<dyn conformance::Target>, bool) = match (target, spawn) {
        (_, Some(command)) => match SpawnTarget::new(&command).await {
            // A new process per check and per model sequence: every one is fresh.
            Ok(target) => (Arc::new(target), true),
            Err(why) => {
                eprintln!("conformance: {why}");
                return ExitCode::from(2);
            }
        },
        (Some(url), None) => match UrlTarget::connect(&url).await {
            Ok(target) => {
                let target = match &reset_cmd {
                    Some(command) => target.with_reset_command(command),
                    None => target,
                };
                let target = match admin {
                    Some(admin) => target.with_admin(admin),
                    None => target,
                };
                let target = match &shift_time_cmd {
                    Some(command) => target.with_shift_command(command),
                    None => target,
                };
                if target.live_admin().is_some() {
                    eprintln!("note: a live target: the checks run beside what it holds, under new emails, and tidy up after themselves");
                } else if !target.resets() {
                    eprintln!("note: the target cannot be reset: the checks that change nothing all run, and of the others only the first (on the fresh instance); the rest are skipped. --admin EMAIL:PASSWORD runs them beside what a live instance holds; --spawn CMD or --reset-cmd CMD runs them each on a fresh one");
                }
                let resets = target.resets();
                (Arc::new(target), resets)
            }
            Err(why) => {
                eprintln!("conformance: {why}");
                return ExitCode::from(2);
            }
        },
        (None, None) => unreachable!("clap requires --target or --spawn"),
    };
    let mut report = run_over(target.clone(), filter.as_deref(), transports, profile).await;
    if filter.as_deref().is_none_or(|f| "model".contains(f)) {
        let started = std::time::Instant::now();
        let verdict = if report.cloud {
            Verdict::Skipped("the model is written for self-hosted mode".into())
        } else if !resets && target.live_admin().is_none() {
            Verdict::Skipped(
                "the model needs a fresh instance per sequence (/__mock/reset, --reset-cmd or --spawn), or a live instance's admin (--admin)".into(),
            )
        } else {
            match conformance::model::property(target.as_ref(), cases, seed, transports, profile)
                .await
            {
                Ok(()) => Verdict::Passed,
                Err(failure) => Verdict::Failed(failure),
            }
        };
        report.results.push(CheckResult {
            procedure: "model",
            outcome: "random call sequences agree with the reference model",
            // Reported under the one transport it ran over, or REST for both.
            transport: transports
                .first()
                .copied()
                .filter(|_| transports.len() == 1)
                .unwrap_or(Transport::Rest),
            verdict,
            took: started.elapsed(),
        });
    }
    print!("{}", report.render());
    if let Some(path) = junit {
        if let Err(e) = std::fs::write(&path, report.junit()) {
            eprintln!("conformance: cannot write {}: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    if report.failed() > 0 || report.passed() == 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
