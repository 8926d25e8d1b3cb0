//! The production server: `dokploy-auth serve` (the default), backups, restores and
//! the operator's account commands.

use clap::{Parser, Subcommand, ValueEnum};

/// Many small allocations per request: mimalloc serves them faster than glibc's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use server::backup;
use server::core::ports::{NoMail, NoNotifier, Store};
use server::core::throttle::ThrottleLimits;
use server::core::{Config, Core, Deps, Mode};
use server::crypto::OsRandom;
use server::hashing::Bcrypt;
use server::http::Limits;
use server::mail::{Security, SmtpMailer, SmtpSettings};
use server::storage::SledStore;
use server::time::SystemClock;
use server::webhook::DiscordWebhook;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "dokploy-auth",
    version,
    about = "Dokploy's authentication API, as a production server"
)]
struct Cli {
    /// Where the data lives (a sled database).
    #[arg(
        long,
        env = "DOKPLOY_AUTH_DATA_DIR",
        default_value = "./data",
        global = true
    )]
    data_dir: PathBuf,
    /// The key that seals every stored record (AES-256-GCM); made on first start with
    /// mode 0600. Keep it outside the data directory and back it up separately.
    /// Default: `<data-dir>.key`.
    #[arg(long, env = "DOKPLOY_AUTH_KEY_FILE", global = true)]
    key_file: Option<PathBuf>,
    /// bcrypt's work factor for new password hashes.
    #[arg(long, env = "DOKPLOY_AUTH_BCRYPT_COST", default_value_t = 10, value_parser = clap::value_parser!(u32).range(4..=31), global = true)]
    bcrypt_cost: u32,
    /// Log lines as text or JSON.
    #[arg(long, env = "DOKPLOY_AUTH_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum ModeArg {
    SelfHosted,
    Cloud,
}

#[derive(clap::Args, Clone)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "DOKPLOY_AUTH_LISTEN", default_value = "127.0.0.1:3000")]
    listen: String,
    /// The public address of the site, for links in emails; https turns on Secure cookies.
    #[arg(
        long,
        env = "DOKPLOY_AUTH_PUBLIC_URL",
        default_value = "http://localhost:3000"
    )]
    public_url: String,
    /// self-hosted (one admin) or cloud (sign-up, email confirmation, password reset).
    #[arg(long, env = "DOKPLOY_AUTH_MODE", value_enum, default_value_t = ModeArg::SelfHosted)]
    mode: ModeArg,
    /// Add `Secure` to the session cookie (default: when --public-url is https).
    #[arg(long, env = "DOKPLOY_AUTH_COOKIE_SECURE")]
    cookie_secure: Option<bool>,
    /// Most open connections at once.
    #[arg(long, env = "DOKPLOY_AUTH_MAX_CONNECTIONS", default_value_t = 1024)]
    max_connections: usize,
    /// Most open connections from one client address (trusted proxies excepted).
    #[arg(
        long,
        env = "DOKPLOY_AUTH_MAX_CONNECTIONS_PER_ADDRESS",
        default_value_t = 128
    )]
    max_connections_per_address: usize,
    /// Seconds a client has to send a request's headers.
    #[arg(long, env = "DOKPLOY_AUTH_HEADER_TIMEOUT", default_value_t = 10)]
    header_timeout_secs: u64,
    /// Seconds a request may take.
    #[arg(long, env = "DOKPLOY_AUTH_REQUEST_TIMEOUT", default_value_t = 30)]
    request_timeout_secs: u64,
    /// Cloud mode's SMTP server (host name).
    #[arg(long, env = "SMTP_SERVER")]
    smtp_server: Option<String>,
    #[arg(long, env = "SMTP_PORT", default_value_t = 587)]
    smtp_port: u16,
    #[arg(long, env = "SMTP_USERNAME")]
    smtp_username: Option<String>,
    #[arg(long, env = "SMTP_PASSWORD", hide_env_values = true)]
    smtp_password: Option<String>,
    /// The sender of cloud mode's emails.
    #[arg(long, env = "SMTP_FROM_ADDRESS")]
    smtp_from_address: Option<String>,
    /// plain, starttls (port 587) or tls (port 465).
    #[arg(long, env = "SMTP_SECURITY", value_enum, default_value_t = SecurityArg::Starttls)]
    smtp_security: SecurityArg,
    /// Failed logins or pins at one account from one client address before that
    /// address waits (0: no throttling).
    #[arg(long, env = "DOKPLOY_AUTH_THROTTLE_ACCOUNT", default_value_t = 5)]
    throttle_free_per_account: u32,
    /// Failed logins or pins at one account from all addresses together before
    /// everyone waits (only guessing spread over many addresses reaches it).
    #[arg(
        long,
        env = "DOKPLOY_AUTH_THROTTLE_ACCOUNT_TOTAL",
        default_value_t = 100
    )]
    throttle_free_per_account_total: u32,
    /// Failed guesses one client address may make before waits begin.
    #[arg(long, env = "DOKPLOY_AUTH_THROTTLE_ADDRESS", default_value_t = 20)]
    throttle_free_per_address: u32,
    /// A reverse proxy whose X-Forwarded-For names the client (repeat it).
    #[arg(
        long = "trusted-proxy",
        env = "DOKPLOY_AUTH_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    trusted_proxies: Vec<std::net::IpAddr>,
    /// Another origin whose pages may make changes with the session cookie, e.g.
    /// `https://app.example.com` (repeat it). The server's own host and the public
    /// URL's origin are always allowed.
    #[arg(
        long = "allowed-origin",
        env = "DOKPLOY_AUTH_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    allowed_origins: Vec<String>,
    /// Where cloud mode announces sign-ups (Discord webhook format).
    #[arg(long, env = "SIGNUP_WEBHOOK_URL")]
    signup_webhook_url: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum SecurityArg {
    Plain,
    Starttls,
    Tls,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve(Box<ServeArgs>),
    /// Write a consistent copy of the data, while the server runs or not.
    Backup {
        #[arg(long)]
        out: PathBuf,
    },
    /// Load a backup into an empty data directory (the server must be stopped).
    Restore {
        #[arg(long)]
        from: PathBuf,
    },
    /// Accounts (the server must be stopped).
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Subcommand)]
enum UserCommand {
    /// List every account.
    List,
    /// Set a new password for a locked-out account; ends its browser sessions.
    ResetPassword {
        email: String,
        /// Read the new password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _logs = init_logs(cli.log_format);
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    let default_serve = || ServeArgs::parse_from_env_defaults();
    let storage = Storage {
        data_dir: &cli.data_dir,
        key_file: cli
            .key_file
            .clone()
            .unwrap_or_else(|| server::keyfile::default_path(&cli.data_dir)),
    };
    let result = runtime.block_on(async {
        match cli.command {
            None => serve(&storage, cli.bcrypt_cost, default_serve()).await,
            Some(Command::Serve(args)) => serve(&storage, cli.bcrypt_cost, *args).await,
            Some(Command::Backup { out }) => run_backup(&cli.data_dir, &out).await,
            Some(Command::Restore { from }) => run_restore(&storage, &from),
            Some(Command::User(command)) => run_user(&storage, cli.bcrypt_cost, command).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("dokploy-auth: {message}");
            ExitCode::FAILURE
        }
    }
}

impl ServeArgs {
    /// The serve settings when no subcommand is given (flags of `serve` then come
    /// from the environment or their defaults).
    fn parse_from_env_defaults() -> ServeArgs {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            args: ServeArgs,
        }
        Only::parse_from(["dokploy-auth"]).args
    }
}

/// Log lines to stderr in batches (`server::logs`); keep the guard until exit.
fn init_logs(format: LogFormat) -> server::logs::LogGuard {
    server::logs::init(match format {
        LogFormat::Text => server::logs::Format::Text,
        LogFormat::Json => server::logs::Format::Json,
    })
}

/// The data directory as stored (sealed values: for backups and restores).
fn open_engine(data_dir: &Path) -> Result<Arc<SledStore>, String> {
    std::fs::create_dir_all(data_dir)
        .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    SledStore::open(data_dir).map(Arc::new).map_err(|e| {
        format!(
            "cannot open the data directory {} (is a server already running on it?): {e}",
            data_dir.display()
        )
    })
}

/// Where the data lives and under which key.
struct Storage<'a> {
    data_dir: &'a Path,
    key_file: PathBuf,
}

impl Storage<'_> {
    /// The engine and, over it, the store the core uses (every value sealed).
    fn open(&self) -> Result<(Arc<SledStore>, Arc<dyn Store>), String> {
        let engine = open_engine(self.data_dir)?;
        let sealed = self.seal(engine.clone())?;
        Ok((engine, sealed))
    }

    fn seal(&self, engine: Arc<SledStore>) -> Result<Arc<dyn Store>, String> {
        let (sealed, migrated) = server::keyfile::seal(
            engine.clone(),
            self.data_dir,
            &self.key_file,
            Arc::new(OsRandom::new()),
        )?;
        // The migration and the key check are durable before anything is served.
        engine.flush_blocking().map_err(|e| e.to_string())?;
        if migrated > 0 {
            tracing::info!(
                records = migrated,
                "sealed records written before sealing existed"
            );
        }
        Ok(sealed)
    }
}

/// Cloud mode's outbound messages: SMTP (required) and the sign-up webhook (optional).
type Outbound = (
    Arc<dyn server::core::ports::Mailer>,
    Arc<dyn server::core::ports::Notifier>,
);

fn no_outbound() -> Outbound {
    (Arc::new(NoMail), Arc::new(NoNotifier))
}

fn outbound(args: &ServeArgs) -> Result<Outbound, String> {
    if !matches!(args.mode, ModeArg::Cloud) {
        return Ok(no_outbound());
    }
    let (Some(host), Some(from)) = (&args.smtp_server, &args.smtp_from_address) else {
        return Err("cloud mode sends email: set --smtp-server and --smtp-from-address (SMTP_SERVER, SMTP_FROM_ADDRESS)".into());
    };
    let mailer = SmtpMailer::new(&SmtpSettings {
        host: host.clone(),
        port: args.smtp_port,
        username: args.smtp_username.clone(),
        password: args.smtp_password.clone(),
        from: from.clone(),
        security: match args.smtp_security {
            SecurityArg::Plain => Security::Plain,
            SecurityArg::Starttls => Security::StartTls,
            SecurityArg::Tls => Security::Tls,
        },
        timeout: Duration::from_secs(10),
    })?;
    let notifier: Arc<dyn server::core::ports::Notifier> = match &args.signup_webhook_url {
        Some(url) => Arc::new(DiscordWebhook::new(url)?),
        None => Arc::new(NoNotifier),
    };
    Ok((Arc::new(mailer), notifier))
}

async fn build_core(
    store: Arc<dyn Store>,
    bcrypt_cost: u32,
    config: Config,
    outbound: Outbound,
) -> Result<Core, String> {
    let (mailer, notifier) = outbound;
    let deps = Deps {
        store,
        clock: Arc::new(SystemClock),
        random: Arc::new(OsRandom::new()),
        hasher: Arc::new(Bcrypt::new(bcrypt_cost)),
        mailer,
        notifier,
    };
    Core::new(deps, config).await.map_err(|e| e.to_string())
}

async fn serve(storage: &Storage<'_>, bcrypt_cost: u32, args: ServeArgs) -> Result<(), String> {
    let data_dir = storage.data_dir;
    let outbound = outbound(&args)?;
    let (engine, store) = storage.open()?;
    let throttle = (args.throttle_free_per_account > 0).then(|| ThrottleLimits {
        free_per_account: args.throttle_free_per_account,
        free_per_account_total: args.throttle_free_per_account_total,
        free_per_address: args.throttle_free_per_address,
        ..ThrottleLimits::default()
    });
    let config = Config {
        throttle,
        mode: match args.mode {
            ModeArg::SelfHosted => Mode::SelfHosted,
            ModeArg::Cloud => Mode::Cloud,
        },
        cookie_secure: args
            .cookie_secure
            .unwrap_or(args.public_url.starts_with("https://")),
        public_url: args.public_url.clone(),
    };
    let limits = Limits {
        max_connections: args.max_connections,
        max_connections_per_address: args.max_connections_per_address,
        // A proxy's connections carry many clients.
        unlimited_addresses: args.trusted_proxies.clone(),
        header_read_timeout: Duration::from_secs(args.header_timeout_secs),
        request_timeout: Duration::from_secs(args.request_timeout_secs),
        ..Limits::default()
    };
    let core = Arc::new(build_core(store, bcrypt_cost, config, outbound).await?);
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let control = backup::serve_control_socket(data_dir, engine.clone())
        .map_err(|e| format!("cannot open the control socket: {e}"))?;
    tracing::info!(address = %listener.local_addr().map_err(|e| e.to_string())?, data_dir = %data_dir.display(), "listening");
    let mut origins = vec![server::http::origin_of(&args.public_url)];
    origins.extend(
        args.allowed_origins
            .iter()
            .map(|o| server::http::origin_of(o)),
    );
    let api = server::http::Api::new(core, &limits)
        .with_trusted_proxies(args.trusted_proxies.clone())
        .with_allowed_origins(server::http::AllowedOrigins::List(origins));
    let service = server::app::stack(api, &limits);
    server::http::serve(listener, service, limits, shutdown_signal()).await;
    control.abort();
    let _ = std::fs::remove_file(backup::control_socket(data_dir));
    engine.flush_blocking().map_err(|e| e.to_string())?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM can be listened for");
    tokio::select! {
        _ = interrupt => {},
        _ = terminate.recv() => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

async fn run_backup(data_dir: &Path, out: &Path) -> Result<(), String> {
    let bytes = match backup::request_from_running_server(data_dir).await {
        Some(answer) => answer.map_err(|e| e.to_string())?,
        // Values stay sealed in the backup: restoring it needs the same key file.
        None => backup::encode(&*open_engine(data_dir)?).map_err(|e| e.to_string())?,
    };
    std::fs::write(out, &bytes).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    println!(
        "backup written to {} ({} bytes)",
        out.display(),
        bytes.len()
    );
    Ok(())
}

fn run_restore(storage: &Storage<'_>, from: &Path) -> Result<(), String> {
    let bytes = std::fs::read(from).map_err(|e| format!("cannot read {}: {e}", from.display()))?;
    let engine = open_engine(storage.data_dir)?;
    let count = backup::restore(&engine, &bytes).map_err(|e| e.to_string())?;
    // The backup's values are sealed under its key: check the key file opens them.
    storage.seal(engine)?;
    println!("restored {count} keys into {}", storage.data_dir.display());
    Ok(())
}

async fn run_user(
    storage: &Storage<'_>,
    bcrypt_cost: u32,
    command: UserCommand,
) -> Result<(), String> {
    let core = build_core(
        storage.open()?.1,
        bcrypt_cost,
        Config::default(),
        no_outbound(),
    )
    .await?;
    match command {
        UserCommand::List => {
            for account in core.list_accounts().map_err(|e| e.message)? {
                let role = match account.role {
                    specs::wire::Role::Admin => "admin",
                    specs::wire::Role::User => "user",
                };
                let two_factor = if account.two_factor { "2fa" } else { "-" };
                println!(
                    "{}\t{}\t{role}\t{two_factor}\t{}",
                    account.id, account.email, account.created_at
                );
            }
        }
        UserCommand::ResetPassword {
            email,
            password_stdin,
        } => {
            let (password, generated) = if password_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .read_to_string(&mut line)
                    .map_err(|e| e.to_string())?;
                (line.trim_end_matches(['\r', '\n']).to_string(), false)
            } else {
                (
                    server::crypto::new_token(&OsRandom::new())[..20].to_string(),
                    true,
                )
            };
            core.set_password(&email, password.clone())
                .await
                .map_err(|e| match e.issues {
                    Some(issues) => format!(
                        "{}: {}",
                        e.message,
                        issues
                            .iter()
                            .map(|i| i.message())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    None => e.message,
                })?;
            if generated {
                println!("new password for {email}: {password}");
            } else {
                println!("password of {email} changed");
            }
        }
    }
    Ok(())
}
