//! The production server: `dokploy-auth serve` (the default), backups, restores and
//! the operator's account commands.

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

/// Many small allocations per request: mimalloc serves them faster than glibc's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use server::audit_log::AuditLog;
use server::backup;
use server::core::audit::{Audit, AuditTo};
use server::core::ports::PasswordHasher;
use server::core::ports::{NoMail, NoNotifier, Pairs, Store};
use server::core::throttle::ThrottleLimits;
use server::core::{Config, Core, Deps, Mode};
use server::crypto::OsRandom;
use server::hashing::Bcrypt;
use server::http::Limits;
use server::mail::{Security, SmtpMailer, SmtpSettings};
use server::metrics::{self, MeasuredHasher, MeasuredStore, Metrics};
use server::storage::{MemoryStore, PgStore, SealedStore, SledStore};
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
    version = specs::version(),
    about = "Dokploy's authentication API, as a production server",
    after_help = "Without a command it serves. `dokploy-auth serve --help` lists the server's \
                  settings (listen address, public URL, mode, SMTP, limits, throttling); \
                  each also reads an environment variable."
)]
struct Cli {
    /// A TOML file of settings, each under its flag's long name (`listen =
    /// "0.0.0.0:3000"`, `trusted-proxy = ["10.0.0.2"]`); flags and environment
    /// variables win over it. See docs/configuration.md.
    #[arg(long, env = "DOKPLOY_AUTH_CONFIG", global = true)]
    config: Option<PathBuf>,
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
    /// Where security events go, one JSON line each (logins, 2FA, passwords,
    /// tokens, invitations, removals, ended sessions): a file (appended, mode
    /// 0600), `-` for standard error, or `off`. See docs/audit-log.md.
    #[arg(
        long,
        env = "DOKPLOY_AUTH_AUDIT_LOG",
        default_value = "-",
        global = true
    )]
    audit_log: String,
    /// This server's name in each audit line, so that the lines of several
    /// instances can go to one place (default: the host's name).
    #[arg(long, env = "DOKPLOY_AUTH_INSTANCE_NAME", global = true)]
    instance_name: Option<String>,
    /// Keep the data in PostgreSQL instead of the data directory, e.g.
    /// postgres://auth@db:5432/auth: several instances can then share it (each with
    /// the same --key-file). Every command takes it: serve, backup, restore, user,
    /// import-dokploy, migrate. TLS: add ?sslmode=verify-full&sslrootcert=CA.pem (the
    /// server's certificate and name are always verified; see docs/scale-out.md).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
    database_url: Option<String>,
    /// A file holding the --database-url (its password then shows in no command
    /// line or environment), such as a mounted secret.
    #[arg(
        long,
        env = "DATABASE_URL_FILE",
        global = true,
        conflicts_with = "database_url"
    )]
    database_url_file: Option<PathBuf>,
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
    /// Serve Prometheus metrics at `/metrics` on this address (off by default;
    /// never on the API's port), e.g. 127.0.0.1:9464.
    #[arg(long, env = "DOKPLOY_AUTH_METRICS_LISTEN")]
    metrics_listen: Option<String>,
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
    /// An IPv6 client is counted by this prefix in every per-address limit
    /// (connections, throttling): one host or household is usually given a /64.
    #[arg(
        long,
        env = "DOKPLOY_AUTH_IPV6_PREFIX",
        default_value_t = server::net::DEFAULT_IPV6_PREFIX,
        value_parser = clap::value_parser!(u8).range(1..=128)
    )]
    ipv6_prefix: u8,
    /// Live browser sessions one account may have; a login past it ends the oldest.
    #[arg(
        long,
        env = "DOKPLOY_AUTH_MAX_SESSIONS_PER_ACCOUNT",
        default_value_t = server::core::MAX_SESSIONS_PER_ACCOUNT
    )]
    max_sessions_per_account: usize,
    /// Seconds a client has to send a request's headers, counted from the
    /// connection's last answer (an idle kept-alive connection is closed after it).
    #[arg(long, env = "DOKPLOY_AUTH_HEADER_TIMEOUT", default_value_t = 10)]
    header_timeout_secs: u64,
    /// Seconds a request may take.
    #[arg(long, env = "DOKPLOY_AUTH_REQUEST_TIMEOUT", default_value_t = 30)]
    request_timeout_secs: u64,
    /// Threads that hash and check passwords (bcrypt), one nice step below the
    /// server (default: one per core). A login whose hashing would not be done
    /// within half the request timeout is answered 503 with Retry-After at once.
    #[arg(long, env = "DOKPLOY_AUTH_HASHING_THREADS", value_parser = clap::value_parser!(u64).range(1..=1024))]
    hashing_threads: Option<u64>,
    /// Seconds the server goes on serving after SIGTERM with /ready answering 503,
    /// so that a load balancer stops sending first (Kubernetes: a few seconds more
    /// than its readiness probe's period × failure threshold).
    #[arg(long, env = "DOKPLOY_AUTH_SHUTDOWN_DELAY", default_value_t = 0)]
    shutdown_delay: u64,
    /// Seconds it then waits for requests in flight before cutting them (default:
    /// the request timeout, so nothing in flight is cut).
    #[arg(long, env = "DOKPLOY_AUTH_SHUTDOWN_GRACE")]
    shutdown_grace: Option<u64>,
    /// Connections to PostgreSQL each instance keeps at most.
    #[arg(long, env = "DOKPLOY_AUTH_DATABASE_CONNECTIONS", default_value_t = 16)]
    database_connections: usize,
    /// Cloud mode's SMTP server (host name).
    #[arg(long, env = "SMTP_SERVER")]
    smtp_server: Option<String>,
    /// Cloud mode's SMTP port (587 for starttls, 465 for tls).
    #[arg(long, env = "SMTP_PORT", default_value_t = 587)]
    smtp_port: u16,
    /// The SMTP login, if the server asks for one.
    #[arg(long, env = "SMTP_USERNAME")]
    smtp_username: Option<String>,
    /// The SMTP password (prefer the environment variable: a flag shows in `ps`).
    #[arg(long, env = "SMTP_PASSWORD", hide_env_values = true)]
    smtp_password: Option<String>,
    /// A file holding the SMTP password (a mounted secret).
    #[arg(long, env = "SMTP_PASSWORD_FILE", conflicts_with = "smtp_password")]
    smtp_password_file: Option<PathBuf>,
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
    /// Write a consistent copy of the data (mode 0600) while the servers run or not:
    /// the data directory's, or with --database-url the database's, in one format.
    /// Values stay sealed: restoring needs the same key file.
    Backup {
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
        /// Overwrite the file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Load a backup (of either engine) into a new or empty data directory (the
    /// server stopped), or with --database-url into the database in one transaction
    /// (its instances may serve: they see the backup on their next request). The key
    /// file must open the backup's values; nothing is written unless all of it loads.
    Restore {
        /// The backup file.
        #[arg(long)]
        from: PathBuf,
        /// Put the backup in place of data that is there: the database's rows, or
        /// the data directory (kept as <data-dir>.before-restore).
        #[arg(long)]
        replace: bool,
    },
    /// Accounts, in the data directory (through the server running on it, if one
    /// is: its control socket) or with --database-url in the database (its
    /// instances may serve: each command is one transaction, seen on their next
    /// request).
    #[command(subcommand)]
    User(UserCommand),
    /// The sealing keys in the key file: rotate to a new key while the servers run,
    /// then retire the old one (see docs/key-rotation.md). In the data directory
    /// through the server running on it, if one is; with --database-url in the
    /// database, its instances reading the key file again within a second.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Copy the accounts of an existing Dokploy (v0.10.5–v0.15) into an empty
    /// store: the data directory, or --database-url. Dokploy's database is only
    /// read. Passwords, roles, 2FA, API tokens, live sessions, members and pending
    /// invitations come over.
    ImportDokploy {
        /// Dokploy's database, e.g. postgres://dokploy:…@dokploy-postgres:5432/dokploy.
        #[arg(long)]
        from: String,
    },
    /// Move the data between a data directory and PostgreSQL (--database-url), as it
    /// is (values stay sealed: keep the same key file). The servers must be stopped;
    /// the target must be empty.
    Migrate {
        /// Copy from this data directory into the database.
        #[arg(
            long,
            required_unless_present = "to_data_dir",
            conflicts_with = "to_data_dir"
        )]
        from_data_dir: Option<PathBuf>,
        /// Copy from the database into this new or empty data directory.
        #[arg(long)]
        to_data_dir: Option<PathBuf>,
    },
}

#[derive(Subcommand, Clone, serde::Serialize, serde::Deserialize)]
enum KeyCommand {
    /// The key file's keys (by id: `seal`, `open`, `next`) and how many stored
    /// values each one sealed.
    Status,
    /// Seal under a new key from now on (the staged one, if any); the old key
    /// still opens. Then seals every stored value again under the new key, in
    /// short transactions while the servers serve.
    Rotate {
        /// Only add a new key that opens but does not seal yet: for instances
        /// with their own copy of the key file (copy it to each, then `key rotate`).
        #[arg(long)]
        stage: bool,
        /// Go on sealing again what an interrupted `key rotate` left.
        #[arg(long, conflicts_with = "stage")]
        resume: bool,
    },
    /// Remove the older keys from the key file, once no stored value is sealed
    /// under them (what is left is sealed again first).
    Retire,
}

#[derive(Subcommand, Clone, serde::Serialize, serde::Deserialize)]
enum UserCommand {
    /// List every account (id, email, role, 2FA, state, created).
    List,
    /// Set a new password for a locked-out account; ends its browser sessions.
    ResetPassword {
        /// The account's email.
        email: String,
        /// Read the new password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Turn 2FA off for an account whose authenticator is lost.
    #[command(name = "disable-2fa")]
    Disable2fa {
        /// The account's email.
        email: String,
    },
    /// List an account's live sessions (browser and API token).
    Sessions {
        /// The account's email.
        email: String,
    },
    /// End every session of an account, API token included (a stolen device).
    EndSessions {
        /// The account's email.
        email: String,
    },
}

fn main() -> ExitCode {
    // Everything this process makes (data directory, its files, key file, backups)
    // is for its owner only: directories 0700, files 0600.
    // SAFETY: umask only sets the process's file mode mask; no memory is involved.
    unsafe {
        libc::umask(0o077);
    }
    if let Err(message) = apply_config_file() {
        eprintln!("dokploy-auth: {message}");
        return ExitCode::FAILURE;
    }
    let mut cli = Cli::parse();
    if let Some(path) = &cli.database_url_file {
        match read_secret(path) {
            Ok(url) => cli.database_url = Some(url),
            Err(message) => {
                eprintln!("dokploy-auth: {message}");
                return ExitCode::FAILURE;
            }
        }
    }
    let _logs = init_logs(cli.log_format);
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime starts");
    let default_serve = || ServeArgs::parse_from_env_defaults();
    let storage = Storage {
        data_dir: &cli.data_dir,
        key_file: cli
            .key_file
            .clone()
            .unwrap_or_else(|| server::keyfile::default_path(&cli.data_dir)),
        key_file_named: cli.key_file.is_some(),
        database_url: cli.database_url.as_deref(),
    };
    let instance = cli.instance_name.clone().unwrap_or_else(host_name);
    let (audit, _audit_guard) = match open_audit(&cli.audit_log, &instance) {
        Ok(opened) => opened,
        Err(message) => {
            eprintln!("dokploy-auth: {message}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let cost = cli.bcrypt_cost;
        match cli.command {
            None => serve(&storage, cost, default_serve(), audit).await,
            Some(Command::Serve(args)) => serve(&storage, cost, *args, audit).await,
            Some(Command::Backup { out, force }) => run_backup(&storage, &out, force).await,
            Some(Command::Restore { from, replace }) => run_restore(&storage, &from, replace),
            Some(Command::User(command)) => run_user(&storage, cost, command, audit).await,
            Some(Command::Key(command)) => run_key(&storage, command).await,
            Some(Command::ImportDokploy { from }) => run_import(&storage, &from).await,
            Some(Command::Migrate {
                from_data_dir,
                to_data_dir,
            }) => match &cli.database_url {
                Some(url) => run_migrate(from_data_dir, to_data_dir, url).await,
                None => Err(
                    "migrate moves data to or from PostgreSQL: give --database-url (DATABASE_URL)"
                        .into(),
                ),
            },
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

/// `--config FILE` (or `DOKPLOY_AUTH_CONFIG`): its settings become the environment
/// variables of the settings the environment does not set, so that flags, then the
/// environment, win over the file. Runs first thing, while this is the process's
/// only thread (setting variables is not safe beside others reading them).
fn apply_config_file() -> Result<(), String> {
    let mut path = std::env::var_os("DOKPLOY_AUTH_CONFIG").map(PathBuf::from);
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--config" {
            path = args.next().map(PathBuf::from);
        } else if let Some(given) = arg.to_str().and_then(|a| a.strip_prefix("--config=")) {
            path = Some(PathBuf::from(given));
        } else if arg == "--" {
            break;
        }
    }
    let Some(path) = path else { return Ok(()) };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read the config file {}: {e}", path.display()))?;
    let environment = server::config_file::as_environment(&text, &settings())
        .map_err(|e| format!("the config file {}: {e}", path.display()))?;
    for (name, value) in environment {
        if std::env::var_os(&name).is_none() {
            std::env::set_var(name, value);
        }
    }
    Ok(())
}

/// Every setting a config file may hold: the flags (global and `serve`'s) that
/// also read an environment variable.
fn settings() -> Vec<server::config_file::Setting> {
    let cli = Cli::command();
    let serve = cli
        .find_subcommand("serve")
        .expect("serve is a command")
        .clone();
    cli.get_arguments()
        .chain(serve.get_arguments())
        .filter(|arg| arg.get_id() != "config")
        .filter_map(|arg| {
            Some(server::config_file::Setting {
                long: arg.get_long()?.to_string(),
                env: arg.get_env()?.to_string_lossy().into_owned(),
            })
        })
        .collect()
}

/// A secret from a file (a mounted secret): its text, without the line's end.
fn read_secret(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let secret = text.trim_end_matches(['\r', '\n']).to_string();
    if secret.is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    Ok(secret)
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

/// The audit log `--audit-log` names, its lines naming `instance`; keep the guard
/// until exit.
fn open_audit(
    to: &str,
    instance: &str,
) -> Result<(Arc<dyn Audit>, Option<server::logs::LogGuard>), String> {
    let (log, guard) = match to {
        "off" => return Ok((Arc::new(server::core::audit::NoAudit), None)),
        "-" => AuditLog::to_stderr(),
        path => AuditLog::to_file(Path::new(path))
            .map_err(|e| format!("cannot open the audit log {path}: {e}"))?,
    };
    Ok((Arc::new(log.named(instance)), Some(guard)))
}

/// The host's name (the kernel's), or `unknown`.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown".into())
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
    if data_dir.exists() && !data_dir.is_dir() {
        return Err(format!(
            "the data directory {} is a file, not a directory: give --data-dir another path",
            data_dir.display()
        ));
    }
    std::fs::create_dir_all(data_dir).map_err(|e| {
        format!(
            "cannot create the data directory {}: {e}",
            data_dir.display()
        )
    })?;
    SledStore::open(data_dir).map(Arc::new).map_err(|e| {
        let text = e.to_string();
        // sled takes an exclusive lock on its files; any other failure is not that.
        let hint = if matches!(e, server::core::ports::StoreError::Unavailable(_)) {
            " (the disk is full or read-only: make room and start again; nothing was changed)"
        } else if text.contains("WouldBlock") || text.contains("lock") {
            " (is a server already running on it? `backup` works while it runs)"
        } else if text.contains("PermissionDenied") || text.contains("ermission denied") {
            " (this user may not read or write it: check its owner and mode)"
        } else {
            ""
        };
        format!(
            "cannot open the data directory {}: {text}{hint}",
            data_dir.display()
        )
    })
}

/// The engine under the sealed store: the data directory's sled, or PostgreSQL.
enum Engine {
    Sled(Arc<SledStore>),
    Postgres(Arc<PgStore>),
}

impl Engine {
    /// The engine itself, as a store (what the metrics count).
    fn raw(&self) -> Arc<dyn Store> {
        match self {
            Engine::Sled(sled) => sled.clone(),
            Engine::Postgres(postgres) => postgres.clone(),
        }
    }
}

/// Where the data lives and under which key.
struct Storage<'a> {
    data_dir: &'a Path,
    key_file: PathBuf,
    /// `--key-file` was given (not derived from the data directory).
    key_file_named: bool,
    /// `--database-url`: PostgreSQL instead of the data directory.
    database_url: Option<&'a str>,
}

/// Whether opening may make what is missing.
#[derive(Clone, Copy, PartialEq)]
enum Opening {
    /// `serve`, `import-dokploy`: a first start makes the data directory and the key file.
    MayCreate,
    /// A command on data that exists: a missing data directory or key file is an error.
    Existing,
}

impl Storage<'_> {
    /// The engine and, over it, the store the core uses (every value sealed).
    fn open(
        &self,
        opening: Opening,
        connections: usize,
    ) -> Result<(Engine, Arc<SealedStore>), String> {
        let engine = match self.database_url {
            Some(url) => Engine::Postgres(Arc::new(self.connect(url, connections)?)),
            None => {
                if opening == Opening::Existing {
                    self.data_dir_exists()?;
                }
                Engine::Sled(open_engine(self.data_dir)?)
            }
        };
        let sealed = self.seal(&engine, opening)?;
        Ok((engine, sealed))
    }

    /// A command on data that exists never makes a data directory: a missing one
    /// (a mistyped `--data-dir`) is an error.
    fn data_dir_exists(&self) -> Result<(), String> {
        if self.data_dir.exists() {
            return Ok(());
        }
        Err(format!(
            "there is no data directory at {}: give --data-dir the server's, or \
             --database-url (DATABASE_URL) for PostgreSQL",
            self.data_dir.display()
        ))
    }

    /// PostgreSQL at `url`, its schema brought up to date. The key file must be
    /// named: every instance shares it.
    fn connect(&self, url: &str, connections: usize) -> Result<PgStore, String> {
        if !self.key_file_named {
            return Err("with --database-url, name the key file every instance shares: --key-file PATH (DOKPLOY_AUTH_KEY_FILE)".into());
        }
        PgStore::connect(url, connections)
            .map_err(|e| format!("cannot use the database at --database-url: {e}"))
    }

    /// Where the data is, for messages.
    fn describe(&self) -> String {
        match self.database_url {
            Some(_) => "the database at --database-url".into(),
            None => format!("the data directory {}", self.data_dir.display()),
        }
    }

    fn seal(&self, engine: &Engine, opening: Opening) -> Result<Arc<SealedStore>, String> {
        let seal = match opening {
            Opening::MayCreate => server::keyfile::seal,
            Opening::Existing => server::keyfile::seal_existing,
        };
        let (sealed, migrated) = seal(
            engine.raw(),
            &self.describe(),
            &self.key_file,
            Arc::new(OsRandom::new()),
        )?;
        // The migration and the key check are durable before anything is served.
        if let Engine::Sled(sled) = engine {
            sled.flush_blocking().map_err(|e| e.to_string())?;
        }
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
        password: match &args.smtp_password_file {
            Some(path) => Some(read_secret(path)?),
            None => args.smtp_password.clone(),
        },
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
    hasher: Arc<dyn PasswordHasher>,
    config: Config,
    outbound: Outbound,
    audit: Arc<dyn Audit>,
) -> Result<Core, String> {
    let (mailer, notifier) = outbound;
    let deps = Deps {
        store,
        clock: Arc::new(SystemClock),
        random: Arc::new(OsRandom::new()),
        hasher,
        mailer,
        notifier,
    };
    Core::new(deps, config)
        .await
        .map(|core| core.with_audit(audit))
        .map_err(|e| e.to_string())
}

async fn serve(
    storage: &Storage<'_>,
    bcrypt_cost: u32,
    args: ServeArgs,
    audit: Arc<dyn Audit>,
) -> Result<(), String> {
    let data_dir = storage.data_dir;
    let outbound = outbound(&args)?;
    // The ports first: a port in use is reported before anything is made on disk.
    let listener = bind(&args.listen).await?;
    let metrics_listener = match &args.metrics_listen {
        Some(address) => Some(bind(address).await?),
        None => None,
    };
    let (engine, sealed) = storage.open(Opening::MayCreate, args.database_connections)?;
    let request_timeout = Duration::from_secs(args.request_timeout_secs);
    let pool = server::hashing::PoolSettings {
        threads: args
            .hashing_threads
            .map_or_else(server::hashing::default_threads, |n| n as usize),
        finish_within: request_timeout / 2,
    };
    let mut hasher: Arc<dyn PasswordHasher> = Arc::new(Bcrypt::with_pool(bcrypt_cost, pool));
    let (mut store, mut audit): (Arc<dyn Store>, _) = (sealed.clone(), audit);
    let metrics = metrics_listener.is_some().then(|| {
        let pool: Option<metrics::PoolFactsFn> = match &engine {
            Engine::Postgres(postgres) => {
                let postgres = postgres.clone();
                Some(Box::new(move || postgres.pool_facts()))
            }
            Engine::Sled(_) => None,
        };
        Arc::new(Metrics::new(Some(metrics::counting(engine.raw())), pool))
    });
    if let Some(metrics) = &metrics {
        hasher = Arc::new(MeasuredHasher {
            inner: hasher,
            metrics: metrics.clone(),
        });
        store = Arc::new(MeasuredStore {
            inner: store,
            metrics: metrics.clone(),
        });
        audit = Arc::new(AuditTo(vec![audit, metrics.clone()]));
    }
    let throttle = (args.throttle_free_per_account > 0).then(|| ThrottleLimits {
        free_per_account: args.throttle_free_per_account,
        free_per_account_total: args.throttle_free_per_account_total,
        free_per_address: args.throttle_free_per_address,
        ipv6_prefix: args.ipv6_prefix,
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
        // The production server speaks the contract only.
        profile: specs::Profile::Contract,
        max_sessions_per_account: args.max_sessions_per_account,
    };
    let limits = Limits {
        max_connections: args.max_connections,
        max_connections_per_address: args.max_connections_per_address,
        // A proxy's connections carry many clients.
        unlimited_addresses: args.trusted_proxies.clone(),
        ipv6_prefix: args.ipv6_prefix,
        header_read_timeout: Duration::from_secs(args.header_timeout_secs),
        request_timeout,
        shutdown_delay: Duration::from_secs(args.shutdown_delay),
        shutdown_grace: args
            .shutdown_grace
            .map_or(request_timeout, Duration::from_secs),
        ..Limits::default()
    };
    let core = Arc::new(build_core(store, hasher, config, outbound, audit).await?);
    let metrics_server = match (metrics_listener, &metrics) {
        (Some(listener), Some(metrics)) => {
            tracing::info!(address = %listener.local_addr().map_err(|e| e.to_string())?, "metrics at /metrics");
            Some(tokio::spawn(serve_metrics(listener, metrics.clone())))
        }
        _ => None,
    };
    let control = match &engine {
        Engine::Sled(sled) => Some(
            backup::serve_control_socket(
                data_dir,
                sled.clone(),
                operator_commands(core.clone(), sealed.clone(), storage.key_file.clone()),
            )
            .map_err(|e| format!("cannot open the control socket: {e}"))?,
        ),
        // On PostgreSQL the operator's commands open the database themselves.
        Engine::Postgres(_) => None,
    };
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    match &engine {
        Engine::Sled(_) => tracing::info!(%address, data_dir = %data_dir.display(), "listening"),
        Engine::Postgres(_) => tracing::info!(%address, "listening, with the data in PostgreSQL"),
    }
    let mut origins = vec![server::http::origin_of(&args.public_url)];
    origins.extend(
        args.allowed_origins
            .iter()
            .map(|o| server::http::origin_of(o)),
    );
    let sweeper = tokio::spawn(sweep_expired_sessions(core.clone()));
    let api = server::http::Api::new(core, &limits)
        .with_trusted_proxies(args.trusted_proxies.clone())
        .with_allowed_origins(server::http::AllowedOrigins::List(origins));
    let mut request_ids = server::http::RequestIdLayer::new();
    if let Some(metrics) = &metrics {
        request_ids = request_ids.observed_by(metrics.clone());
    }
    let service = server::app::stack_with(api, &limits, request_ids);
    server::http::serve(listener, service, limits, shutdown_signal()).await;
    sweeper.abort();
    if let Some(metrics_server) = metrics_server {
        metrics_server.abort();
    }
    if let (Engine::Sled(sled), Some(control)) = (&engine, control) {
        control.abort();
        let _ = std::fs::remove_file(backup::control_socket(data_dir));
        sled.flush_blocking().map_err(|e| e.to_string())?;
    }
    tracing::info!("stopped");
    Ok(())
}

/// An operator's command that the server running on a data directory runs for
/// it (sled lets no other process open the directory).
#[derive(serde::Serialize, serde::Deserialize)]
enum OperatorCommand {
    User(AccountCommand),
    Key(KeyCommand),
}

/// The commands the control socket takes while this server runs on a data directory.
fn operator_commands(
    core: Arc<Core>,
    sealed: Arc<SealedStore>,
    key_file: PathBuf,
) -> backup::CommandHandler {
    Arc::new(move |payload| {
        let (core, sealed, key_file) = (core.clone(), sealed.clone(), key_file.clone());
        Box::pin(async move {
            let request: OperatorCommand = serde_json::from_slice(&payload)
                .map_err(|e| format!("not an operator's command: {e}"))?;
            match request {
                OperatorCommand::User(request) => account_command(&core, request).await,
                OperatorCommand::Key(command) => key_command(sealed, key_file, command).await,
            }
        })
    })
}

/// Runs `command` in the server running on the data directory, if one is (sled
/// lets one process open it): its output; `None` when none runs there, or the data
/// is in PostgreSQL (the command then opens it itself).
async fn on_running_server(
    storage: &Storage<'_>,
    command: OperatorCommand,
) -> Option<Result<String, String>> {
    if storage.database_url.is_some() {
        return None;
    }
    let payload = serde_json::to_vec(&command).expect("a command serializes");
    backup::command_on_running_server(storage.data_dir, &payload).await
}

/// `key …`: in the server running on the data directory, if one is (its control
/// socket), or here on the data directory or the database.
async fn run_key(storage: &Storage<'_>, command: KeyCommand) -> Result<(), String> {
    if let Some(answer) = on_running_server(storage, OperatorCommand::Key(command.clone())).await {
        print!("{}", answer?);
        return Ok(());
    }
    if let KeyCommand::Rotate { stage: true, .. } = command {
        // Only the key file changes: every instance reads it within a second.
        print!(
            "{}",
            server::keyfile::stage(&storage.key_file, &OsRandom::new())?
        );
        return Ok(());
    }
    let (engine, sealed) = storage.open(Opening::Existing, 2)?;
    let output = key_command(sealed, storage.key_file.clone(), command).await?;
    if let Engine::Sled(sled) = engine {
        sled.flush_blocking().map_err(|e| e.to_string())?;
    }
    print!("{output}");
    Ok(())
}

/// Runs a key command on `sealed` (long scans and waits: off the async workers).
async fn key_command(
    sealed: Arc<SealedStore>,
    key_file: PathBuf,
    command: KeyCommand,
) -> Result<String, String> {
    let work = move || match command {
        KeyCommand::Status => server::keyfile::status(&sealed, &key_file),
        KeyCommand::Rotate { stage: true, .. } => {
            server::keyfile::stage(&key_file, &OsRandom::new())
        }
        KeyCommand::Rotate { resume: true, .. } => server::keyfile::resume(&sealed, &key_file),
        KeyCommand::Rotate { .. } => server::keyfile::rotate(&sealed, &key_file, &OsRandom::new()),
        KeyCommand::Retire => server::keyfile::retire(&sealed, &key_file),
    };
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| format!("the key command failed: {e}"))?
}

/// How often expired sessions are swept.
const SESSION_SWEEP_EVERY: Duration = Duration::from_secs(600);

/// Removes expired sessions every `SESSION_SWEEP_EVERY` (each instance on a shared
/// database does too: removing a removed session is nothing).
async fn sweep_expired_sessions(core: Arc<server::core::Core>) {
    let mut every = tokio::time::interval(SESSION_SWEEP_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let swept = tokio::task::spawn_blocking({
            let core = core.clone();
            move || core.sweep_expired_sessions()
        })
        .await;
        match swept {
            Ok(Ok(0)) => {}
            Ok(Ok(swept)) => tracing::info!(swept, "expired sessions removed"),
            Ok(Err(error)) => tracing::warn!(%error, "expired sessions not swept"),
            Err(error) => tracing::warn!(%error, "the session sweep stopped"),
        }
    }
}

/// `import-dokploy`: Dokploy's accounts into the database `--database-url` names,
/// or the data directory.
async fn run_import(storage: &Storage<'_>, from: &str) -> Result<(), String> {
    let (engine, store) = storage.open(Opening::MayCreate, 2)?;
    let now = server::core::ports::Clock::now_ms(&SystemClock);
    let imported = server::import::import_dokploy(from, &*store, now).await?;
    store.flush().await.map_err(|e| e.to_string())?;
    if let Engine::Sled(sled) = engine {
        sled.flush_blocking().map_err(|e| e.to_string())?;
    }
    println!("imported {imported}");
    Ok(())
}

/// How many keys one transaction of a migration copies.
const MIGRATION_BATCH: usize = 1_000;

/// `migrate`: every key and value, as stored (sealed), from one engine into an
/// empty other.
async fn run_migrate(
    from_data_dir: Option<PathBuf>,
    to_data_dir: Option<PathBuf>,
    database_url: &str,
) -> Result<(), String> {
    let postgres: Arc<dyn Store> = Arc::new(
        PgStore::connect(database_url, 2)
            .map_err(|e| format!("cannot use the database at --database-url: {e}"))?,
    );
    let (from, to, source, target): (Arc<dyn Store>, Arc<dyn Store>, String, String) =
        match (from_data_dir, to_data_dir) {
            (Some(dir), None) => {
                if !dir.is_dir() {
                    return Err(format!("{} is no data directory", dir.display()));
                }
                let sled = open_engine(&dir)?;
                (
                    sled,
                    postgres,
                    dir.display().to_string(),
                    "the database".into(),
                )
            }
            (None, Some(dir)) => {
                let holds_files =
                    std::fs::read_dir(&dir).is_ok_and(|mut entries| entries.next().is_some());
                if holds_files {
                    return Err(format!(
                        "{} is not empty: migrate into a new data directory",
                        dir.display()
                    ));
                }
                let sled = open_engine(&dir)?;
                (
                    postgres,
                    sled,
                    "the database".into(),
                    dir.display().to_string(),
                )
            }
            _ => return Err("give --from-data-dir or --to-data-dir".into()),
        };
    if !to.scan_prefix(b"").map_err(|e| e.to_string())?.is_empty() {
        return Err(format!(
            "{target} already holds data: migrate into an empty one"
        ));
    }
    let pairs = from.scan_prefix(b"").map_err(|e| e.to_string())?;
    for batch in pairs.chunks(MIGRATION_BATCH) {
        to.transaction(&mut |tx| {
            for (key, value) in batch {
                tx.insert(key, value.clone())?;
            }
            Ok(())
        })
        .map_err(|e| format!("copying into {target}: {e:?}"))?;
    }
    to.flush().await.map_err(|e| e.to_string())?;
    let copied = to.scan_prefix(b"").map_err(|e| e.to_string())?.len();
    if copied != pairs.len() {
        return Err(format!(
            "{target} holds {copied} keys after the copy, {} were read",
            pairs.len()
        ));
    }
    println!(
        "copied {copied} keys from {source} into {target}; start the servers with the same key file"
    );
    Ok(())
}

/// `GET /metrics` on its own listener, with the API's limits.
async fn serve_metrics(listener: tokio::net::TcpListener, metrics: Arc<Metrics>) {
    let service = tower::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
        let (parts, _) = request.into_parts();
        let answer = metrics.answer(&parts);
        async move { Ok::<_, std::convert::Infallible>(answer) }
    });
    server::http::serve(listener, service, Limits::default(), std::future::pending()).await;
}

/// The listening socket, with an error that says what to give.
async fn bind(listen: &str) -> Result<tokio::net::TcpListener, String> {
    if listen.parse::<u16>().is_ok() {
        return Err(format!(
            "--listen takes an address and a port, like 127.0.0.1:{listen} (this machine only) \
             or 0.0.0.0:{listen} (every interface)"
        ));
    }
    tokio::net::TcpListener::bind(listen).await.map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::AddrInUse => {
                " (another program listens there: stop it, or choose another port)"
            }
            std::io::ErrorKind::PermissionDenied => {
                " (ports below 1024 need privileges: choose a port above 1023)"
            }
            _ => "",
        };
        format!("cannot listen on {listen}: {e}{hint}")
    })
}

/// Resolves at the first SIGINT or SIGTERM. Both are taken over here, before the
/// server answers anything: taken over in an `async fn`, they were only when the
/// accept loop first polled it, and a SIGTERM sent as soon as `/health` answered
/// could still meet the default action and kill the process mid-start (seen under
/// load in `first_run_errors_say_what_to_do`).
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt()).expect("SIGINT can be listened for");
    let mut terminate = signal(SignalKind::terminate()).expect("SIGTERM can be listened for");
    async move {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
    }
}

async fn run_backup(storage: &Storage<'_>, out: &Path, force: bool) -> Result<(), String> {
    if out.exists() && !force {
        return Err(format!(
            "{} exists: give --force to overwrite it",
            out.display()
        ));
    }
    // Values stay sealed in the backup: restoring it needs the same key file.
    let (bytes, keys) = match storage.database_url {
        Some(url) => {
            // One statement: a consistent snapshot while instances write.
            let pairs = storage
                .connect(url, 1)?
                .scan_prefix(b"")
                .map_err(|e| format!("cannot read the database: {e}"))?;
            let keys = pairs.len();
            (backup::encode_pairs(pairs), Some(keys))
        }
        None => {
            storage.data_dir_exists()?;
            let data_dir = storage.data_dir;
            match backup::request_from_running_server(data_dir).await {
                Some(answer) => (answer.map_err(|e| e.to_string())?, None),
                None => {
                    let engine = open_engine(data_dir)?;
                    let pairs = engine.export().map_err(|e| e.to_string())?;
                    let keys = pairs.len();
                    (backup::encode_pairs(pairs), Some(keys))
                }
            }
        }
    };
    write_private(out, &bytes).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    let keys = keys.map_or_else(String::new, |keys| format!("{keys} keys, "));
    println!(
        "backup written to {} ({keys}{} bytes)",
        out.display(),
        bytes.len()
    );
    Ok(())
}

/// Writes `bytes` to `path` for its owner only (0600, also when it existed), and
/// makes it durable.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Checks that the key file opens the backup's values, then loads it: into the
/// database in one transaction, or into `<data-dir>.restoring` moved to the data
/// directory once complete. A wrong key or an interrupted restore leaves the data
/// as it was.
fn run_restore(storage: &Storage<'_>, from: &Path, replace: bool) -> Result<(), String> {
    let bytes = std::fs::read(from).map_err(|e| format!("cannot read {}: {e}", from.display()))?;
    let pairs = backup::decode(&bytes).map_err(|e| format!("{}: {e}", from.display()))?;
    let count = pairs.len();
    opens_with_key(storage, from, &pairs)?;
    match storage.database_url {
        Some(url) => {
            if !storage.connect(url, 1)?.load(pairs, replace).map_err(|e| {
                format!("cannot restore into the database: {e}; nothing was changed")
            })? {
                return Err(
                    "the database at --database-url holds data: restore into an empty \
                            one, or give --replace to put the backup in its place"
                        .into(),
                );
            }
            println!("restored {count} keys into the database");
        }
        None => restore_data_dir(storage, pairs, replace)?,
    }
    Ok(())
}

/// Whether the key file opens `pairs` (a backup's), tried in memory: nothing is
/// written anywhere, and no key file is made.
fn opens_with_key(storage: &Storage<'_>, from: &Path, pairs: &Pairs) -> Result<(), String> {
    let trial: Arc<dyn Store> = Arc::new(MemoryStore::default());
    trial
        .transaction(&mut |tx| {
            for (key, value) in pairs {
                tx.insert(key, value.clone())?;
            }
            Ok(())
        })
        .map_err(|e| format!("{e:?}"))?;
    server::keyfile::seal_existing(
        trial,
        &format!("the backup {}", from.display()),
        &storage.key_file,
        Arc::new(OsRandom::new()),
    )
    .map(|_| ())
}

fn restore_data_dir(storage: &Storage<'_>, pairs: Pairs, replace: bool) -> Result<(), String> {
    let data_dir = storage.data_dir;
    let trimmed = data_dir.to_string_lossy().trim_end_matches('/').to_string();
    let (staging, previous) = (
        PathBuf::from(format!("{trimmed}.restoring")),
        PathBuf::from(format!("{trimmed}.before-restore")),
    );
    let holds_files = std::fs::read_dir(data_dir).is_ok_and(|mut entries| entries.next().is_some());
    if data_dir.exists() && !data_dir.is_dir() {
        return Err(format!(
            "{} is a file, not a data directory",
            data_dir.display()
        ));
    }
    if holds_files && !replace {
        return Err(format!(
            "{} is not empty: restore into a new data directory (--data-dir), or give \
             --replace to put the backup in its place (the old one is kept as {})",
            data_dir.display(),
            previous.display()
        ));
    }
    if holds_files {
        if previous.exists() {
            return Err(format!(
                "{} exists from an earlier restore: move it away first",
                previous.display()
            ));
        }
        // Opening takes sled's lock: a server running on it is reported here.
        drop(open_engine(data_dir)?);
    }
    // What an interrupted restore left.
    let _ = std::fs::remove_dir_all(&staging);
    let staged = || -> Result<usize, String> {
        let engine = open_engine(&staging)?;
        let count = backup::restore(&engine, pairs).map_err(|e| e.to_string())?;
        storage.seal(&Engine::Sled(engine), Opening::Existing)?;
        Ok(count)
    };
    let count = staged().inspect_err(|_| {
        let _ = std::fs::remove_dir_all(&staging);
    })?;
    if holds_files {
        std::fs::rename(data_dir, &previous).map_err(|e| {
            format!(
                "cannot move {} to {}: {e}",
                data_dir.display(),
                previous.display()
            )
        })?;
    } else if data_dir.exists() {
        std::fs::remove_dir(data_dir)
            .map_err(|e| format!("cannot replace the empty {}: {e}", data_dir.display()))?;
    }
    std::fs::rename(&staging, data_dir).map_err(|e| {
        format!(
            "restored into {}, but cannot move it to {}: {e}",
            staging.display(),
            data_dir.display()
        )
    })?;
    println!("restored {count} keys into {}", data_dir.display());
    if holds_files {
        println!(
            "the data directory it replaced is kept as {}",
            previous.display()
        );
    }
    Ok(())
}

/// An account command, with what it needs from the operator's terminal: it runs
/// here, or in the server running on the data directory (its control socket).
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct AccountCommand {
    command: UserCommand,
    /// The new password read from standard input (`--password-stdin`).
    password: Option<String>,
}

async fn run_user(
    storage: &Storage<'_>,
    bcrypt_cost: u32,
    command: UserCommand,
    audit: Arc<dyn Audit>,
) -> Result<(), String> {
    let password = match &command {
        UserCommand::ResetPassword {
            password_stdin: true,
            ..
        } => {
            let mut line = String::new();
            std::io::stdin()
                .read_to_string(&mut line)
                .map_err(|e| e.to_string())?;
            Some(line.trim_end_matches(['\r', '\n']).to_string())
        }
        _ => None,
    };
    let request = AccountCommand { command, password };
    if let Some(answer) = on_running_server(storage, OperatorCommand::User(request.clone())).await {
        print!("{}", answer?);
        return Ok(());
    }
    let core = build_core(
        storage.open(Opening::Existing, 2)?.1,
        Arc::new(Bcrypt::new(bcrypt_cost)),
        Config::default(),
        no_outbound(),
        audit,
    )
    .await?;
    print!("{}", account_command(&core, request).await?);
    Ok(())
}

/// Runs `request` on `core`; what it prints.
async fn account_command(core: &Core, request: AccountCommand) -> Result<String, String> {
    use std::fmt::Write;
    let mut out = String::new();
    match request.command {
        UserCommand::List => {
            out.push_str("id\temail\trole\t2fa\tstate\tcreated\n");
            for account in core.list_accounts().map_err(|e| e.message)? {
                let role = match account.role {
                    specs::wire::Role::Admin => "admin",
                    specs::wire::Role::User => "user",
                };
                let two_factor = if account.two_factor { "on" } else { "off" };
                let state = if account.pending { "invited" } else { "active" };
                let _ = writeln!(
                    out,
                    "{}\t{}\t{role}\t{two_factor}\t{state}\t{}",
                    account.id, account.email, account.created_at
                );
            }
        }
        UserCommand::Disable2fa { email } => {
            if core
                .disable_two_factor(&email)
                .await
                .map_err(|e| e.message)?
            {
                let _ = writeln!(
                    out,
                    "2FA turned off for {email}: they log in with their password alone"
                );
            } else {
                let _ = writeln!(out, "2FA was already off for {email}");
            }
        }
        UserCommand::Sessions { email } => {
            let sessions = core
                .sessions_of_email(&email)
                .map_err(|e| e.message)?
                .ok_or_else(|| format!("no account has the email {email}"))?;
            out.push_str("handle\tkind\tcreated\tlast used\texpires\tclient\tuser agent\n");
            for s in sessions {
                let kind = match s.kind {
                    specs::wire::SessionKindView::Cookie => "browser",
                    specs::wire::SessionKindView::ApiToken => "api-token",
                };
                let _ = writeln!(
                    out,
                    "{}\t{kind}\t{}\t{}\t{}\t{}\t{}",
                    s.handle,
                    s.created_at,
                    s.last_used_at,
                    s.expires_at,
                    s.client_address.as_deref().unwrap_or("-"),
                    s.user_agent.as_deref().unwrap_or("-")
                );
            }
        }
        UserCommand::EndSessions { email } => {
            let ended = core
                .end_sessions_of_email(&email)
                .await
                .map_err(|e| e.message)?;
            let _ = writeln!(out, "ended {ended} sessions of {email}");
        }
        UserCommand::ResetPassword { email, .. } => {
            let (password, generated) = match request.password {
                Some(password) => (password, false),
                None => (
                    server::crypto::new_token(&OsRandom::new())[..20].to_string(),
                    true,
                ),
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
                let _ = writeln!(out, "new password for {email}: {password}");
            } else {
                let _ = writeln!(out, "password of {email} changed");
            }
        }
    }
    Ok(out)
}
