//! A PostgreSQL server of a test's own: Debian's `postgresql` binaries, a new
//! cluster in a temporary directory, listening on a free loopback port, trusting
//! local connections; stopped (and its files removed) when dropped. `make test`
//! installs the package; without it the tests fail under CI (`CI` set) and are
//! skipped, with a note, elsewhere.

use std::path::PathBuf;
use std::process::Command;

pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
    /// Root cannot run PostgreSQL: its commands then run as this user.
    run_as: Option<&'static str>,
    /// Whether clients over TCP must speak TLS (`start_with_tls`).
    tls: bool,
}

/// The newest installed `/usr/lib/postgresql/<version>/bin`.
fn binaries() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

impl Postgres {
    /// A new cluster, started; `None` (with a note) where PostgreSQL is not
    /// installed, outside CI.
    pub fn start() -> Option<Postgres> {
        Postgres::start_with(None)
    }

    /// A new cluster that takes TCP clients only over TLS, with this certificate
    /// and key (PEM).
    #[allow(dead_code)]
    pub fn start_with_tls(certificate: &str, key: &str) -> Option<Postgres> {
        Postgres::start_with(Some((certificate, key)))
    }

    fn start_with(tls: Option<(&str, &str)>) -> Option<Postgres> {
        let Some(bin) = binaries() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "PostgreSQL is missing under CI (apt-get install postgresql)"
            );
            eprintln!(
                "note: PostgreSQL is not installed (apt-get install postgresql): test skipped"
            );
            return None;
        };
        let run_as = (unsafe { libc::geteuid() } == 0).then_some("postgres");
        let dir = tempfile::tempdir().expect("a temporary directory");
        if let Some(user) = run_as {
            let status = Command::new("chown")
                .args(["-R", user, &dir.path().to_string_lossy()])
                .status()
                .expect("chown runs");
            assert!(status.success(), "chown to {user}");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let postgres = Postgres {
            dir,
            bin,
            port,
            run_as,
            tls: tls.is_some(),
        };
        let data = postgres.data();
        postgres.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
        );
        if let Some((certificate, key)) = tls {
            let dir = postgres.dir.path();
            std::fs::write(dir.join("server.crt"), certificate).expect("certificate written");
            std::fs::write(dir.join("server.key"), key).expect("key written");
            let hba = "local all all trust\n\
                       hostssl all all 127.0.0.1/32 trust\n\
                       hostnossl all all 127.0.0.1/32 reject\n";
            std::fs::write(std::path::Path::new(&data).join("pg_hba.conf"), hba)
                .expect("pg_hba.conf written");
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(
                dir.join("server.key"),
                std::fs::Permissions::from_mode(0o600),
            )
            .expect("key made private");
            if let Some(user) = run_as {
                let status = Command::new("chown")
                    .args(["-R", user, &dir.to_string_lossy()])
                    .status()
                    .expect("chown runs");
                assert!(status.success(), "chown to {user}");
            }
        }
        postgres.resume();
        Some(postgres)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").to_string_lossy().into_owned()
    }

    /// `program` of PostgreSQL's, run as the user that may run it.
    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        match self.run_as {
            Some(user) => {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--"]).arg(program);
                command
            }
            None => Command::new(program),
        }
    }

    fn run(&self, program: &str, args: &[&str]) {
        let output = self
            .command(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        assert!(
            output.status.success(),
            "{program} {args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Starts the server (again), and waits until it takes connections.
    pub fn resume(&self) {
        let mut options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        if self.tls {
            let dir = self.dir.path().display();
            options.push_str(&format!(
                " -c ssl=on -c ssl_cert_file={dir}/server.crt -c ssl_key_file={dir}/server.key"
            ));
        }
        let log = self.dir.path().join("postgres.log");
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-o",
                &options,
                "-l",
                &log.to_string_lossy(),
                "-w",
                "start",
            ],
        );
    }

    /// Stops the server (fast: open connections are cut, as on a restart).
    pub fn halt(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }

    /// A new, empty database; its URL.
    pub fn database(&self, name: &str) -> String {
        self.run(
            "createdb",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                name,
            ],
        );
        self.url(name)
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["-D", &self.data(), "-m", "immediate", "stop"])
            .output();
    }
}
