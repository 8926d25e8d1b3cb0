//! `conformance run --target http://host:port [--filter PATTERN] [--junit FILE]`

use clap::{Parser, Subcommand};
use conformance::{run, UrlTarget};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "conformance",
    version,
    about = "Checks an implementation of the Dokploy auth API over HTTP"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the checks against a target (a fresh instance, or the mock).
    Run {
        /// The target's base URL, e.g. http://127.0.0.1:3000
        #[arg(long)]
        target: String,
        /// Only the checks whose "procedure / outcome" name contains this.
        #[arg(long)]
        filter: Option<String>,
        /// Also write a JUnit XML report here.
        #[arg(long)]
        junit: Option<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let Command::Run {
        target,
        filter,
        junit,
    } = Cli::parse().command;
    let target = match UrlTarget::connect(&target).await {
        Ok(target) => target,
        Err(why) => {
            eprintln!("conformance: {why}");
            return ExitCode::from(2);
        }
    };
    if !target.resets() {
        eprintln!("note: the target has no /__mock/reset, so only the first check gets a fresh instance; the others are skipped");
    }
    let report = run(Arc::new(target), filter.as_deref()).await;
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
