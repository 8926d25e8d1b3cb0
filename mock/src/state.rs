//! The mock's state: the server's core over in-memory parts, and what the control
//! plane drives (clock, seed, outbox, journal, faults).

use crate::clock::ManualClock;
use crate::faults::Faults;
use crate::journal::Journal;
use crate::outbox::{Outbox, OutboxMailer};
use crate::random::SeededRandom;
use server::core::{Config, Core, Deps, Fixtures, Mode};
use server::hashing::Bcrypt;
use server::storage::MemoryStore;
use specs::ApiError;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// 2025-01-01T00:00:00.000Z: where the mock's clock starts.
pub const START_MS: i64 = 1_735_689_600_000;

/// Who may call the mock from a browser on another origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    /// Any origin (echoed back, never `*`, since credentials are allowed).
    Any,
    /// Only these exact origins, e.g. `http://localhost:5173`.
    List(Vec<String>),
}

impl CorsOrigins {
    pub fn allows(&self, origin: &str) -> bool {
        match self {
            CorsOrigins::Any => true,
            CorsOrigins::List(list) => list.iter().any(|o| o == origin),
        }
    }
}

/// How the clock starts (and what a reset returns it to).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClockStart {
    /// Stopped at [`START_MS`], moving only when told (default).
    #[default]
    Manual,
    /// Following real time, so that authenticator apps' pins are accepted.
    Real,
}

/// Everything a mock is started with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub seed: u64,
    pub mode: Mode,
    pub clock: ClockStart,
    pub fixtures: Option<Fixtures>,
    pub bcrypt_cost: u32,
    pub journal_capacity: usize,
    pub cors: CorsOrigins,
    /// Host names the control plane answers to besides loopback ones (`localhost`,
    /// `*.localhost`, `127.0.0.0/8`, `::1`): a name a container network gives it.
    pub control_hosts: Vec<String>,
    pub public_url: String,
    /// Off by default in the mock.
    pub throttle: Option<server::core::throttle::ThrottleLimits>,
    /// The contract (default), or Dokploy v0.14's answers where it differs.
    pub profile: specs::Profile,
    /// Fixture passwords are hashed after the fixtures are loaded, in the
    /// background (the binary: a thousand distinct passwords load at once; a login
    /// that comes first makes its hash itself), instead of before (the default:
    /// the store holds every hash when loading returns).
    pub hash_fixtures_later: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            seed: 0,
            mode: Mode::SelfHosted,
            clock: ClockStart::Manual,
            fixtures: None,
            bcrypt_cost: 4,
            journal_capacity: 2000,
            cors: CorsOrigins::Any,
            control_hosts: Vec::new(),
            public_url: "http://localhost:3000".to_string(),
            throttle: None,
            profile: specs::Profile::Contract,
            hash_fixtures_later: false,
        }
    }
}

pub struct MockState {
    pub core: Arc<Core>,
    pub store: Arc<MemoryStore>,
    pub clock: Arc<ManualClock>,
    pub random: Arc<SeededRandom>,
    pub outbox: Outbox,
    pub journal: Journal,
    pub faults: Arc<Faults>,
    pub cors: CorsOrigins,
    pub control_hosts: Vec<String>,
    seed: AtomicU64,
    /// What a reset without a seed goes back to.
    start_seed: u64,
    start_clock: ClockStart,
    start_fixtures: Option<Fixtures>,
    hash_fixtures_later: bool,
    /// Resets run one at a time.
    resetting: tokio::sync::Mutex<()>,
}

impl MockState {
    pub async fn new(settings: Settings) -> Result<MockState, ApiError> {
        let store = Arc::new(MemoryStore::new());
        let clock = Arc::new(ManualClock::new(START_MS));
        let random = Arc::new(SeededRandom::new(settings.seed));
        let outbox = Outbox::default();
        let deps = Deps {
            store: store.clone(),
            clock: clock.clone(),
            random: random.clone(),
            hasher: Arc::new(Bcrypt::new(settings.bcrypt_cost)),
            mailer: Arc::new(OutboxMailer {
                outbox: outbox.clone(),
                clock: clock.clone(),
            }),
            // The sign-up webhook is the server's; the mock announces nothing.
            notifier: Arc::new(server::core::ports::NoNotifier),
        };
        let config = Config {
            mode: settings.mode,
            public_url: settings.public_url.clone(),
            cookie_secure: false,
            throttle: settings.throttle.clone(),
            profile: settings.profile,
            max_sessions_per_account: server::core::MAX_SESSIONS_PER_ACCOUNT,
        };
        let core = Core::new(deps, config)
            .await
            .map_err(|e| ApiError::new(specs::ErrorCode::InternalServerError, e.to_string()))?;
        let state = MockState {
            core: Arc::new(core),
            store,
            clock,
            random,
            outbox,
            journal: Journal::new(settings.journal_capacity),
            faults: Arc::new(Faults::default()),
            cors: settings.cors,
            control_hosts: settings.control_hosts,
            seed: AtomicU64::new(settings.seed),
            start_seed: settings.seed,
            start_clock: settings.clock,
            start_fixtures: settings.fixtures,
            hash_fixtures_later: settings.hash_fixtures_later,
            resetting: tokio::sync::Mutex::new(()),
        };
        state.restart_clock();
        if let Some(fixtures) = &state.start_fixtures {
            state.load_fixtures(fixtures).await?;
        }
        Ok(state)
    }

    /// Loads `fixtures`, hashing their passwords before or after as the settings say.
    pub async fn load_fixtures(&self, fixtures: &Fixtures) -> Result<(), ApiError> {
        if self.hash_fixtures_later {
            self.core.load_fixtures_hashing_later(fixtures).await
        } else {
            self.core.load_fixtures(fixtures).await
        }
    }

    /// Replaces every account, session and invitation with `fixtures`; the clock,
    /// seed, outbox, journal and faults stay as they are.
    pub async fn replace_accounts(&self, fixtures: &Fixtures) -> Result<(), ApiError> {
        let _one_at_a_time = self.resetting.lock().await;
        self.store.clear();
        self.core.forget_memory();
        self.load_fixtures(fixtures).await
    }

    fn restart_clock(&self) {
        match self.start_clock {
            ClockStart::Manual => {
                self.clock.stop();
                self.clock.set(START_MS);
            }
            ClockStart::Real => self.clock.follow_real_time(),
        }
    }

    pub fn mode(&self) -> Mode {
        self.core.config().mode
    }

    pub fn seed(&self) -> u64 {
        self.seed.load(Ordering::SeqCst)
    }

    /// Back to the start state: empty store (plus the start fixtures), clock at
    /// the start, the sequence of the given seed (or the start seed) from its
    /// beginning, empty outbox, journal and faults.
    pub async fn reset(&self, seed: Option<u64>) -> Result<u64, ApiError> {
        let _one_at_a_time = self.resetting.lock().await;
        let seed = seed.unwrap_or(self.start_seed);
        self.seed.store(seed, Ordering::SeqCst);
        self.store.clear();
        self.core.forget_memory();
        self.restart_clock();
        self.random.reseed(seed);
        self.outbox.clear();
        self.journal.clear();
        self.faults.clear();
        if let Some(fixtures) = &self.start_fixtures {
            self.load_fixtures(fixtures).await?;
        }
        Ok(seed)
    }
}
