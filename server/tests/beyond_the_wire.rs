//! What the conformance suite cannot see from outside: the QR code's content and
//! the stored hash's cost. Every procedure's behaviour on the wire is specified by
//! the conformance checks, which run against this server in `conformance/tests`.

mod common;
use base64::Engine;
use common::*;
use serde_json::json;
use std::sync::Arc;

fn decode_qr(data_url: &str) -> String {
    let png = base64::engine::general_purpose::STANDARD
        .decode(
            data_url
                .strip_prefix("data:image/png;base64,")
                .expect("a PNG data URL"),
        )
        .unwrap();
    let image = image::load_from_memory_with_format(&png, image::ImageFormat::Png)
        .unwrap()
        .to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(image);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the image");
    grids[0].decode().unwrap().1
}

#[tokio::test]
async fn the_qr_code_holds_the_otpauth_uri_of_the_secret() {
    let h = Harness::start().await;
    let mut admin = h.admin().await;
    let r = admin.get("/api/auth.generate2FASecret").await;
    assert_eq!(r.status, 200);
    let out = r.json();
    let secret = out["secret"].as_str().unwrap().to_string();
    let uri = decode_qr(out["qrCodeUrl"].as_str().unwrap());
    assert!(
        uri.starts_with("otpauth://totp/Dokploy:admin%40example.com?"),
        "{uri}"
    );
    assert!(uri.contains(&format!("secret={secret}")), "{uri}");
    assert!(uri.contains("issuer=Dokploy"), "{uri}");
    for default in ["algorithm=SHA1", "digits=6", "period=30"] {
        // Key Uri Format defaults: either stated or left out.
        let key = default.split('=').next().unwrap();
        assert!(uri.contains(default) || !uri.contains(key), "{uri}");
    }
}

#[tokio::test]
async fn a_weak_hash_is_strengthened_at_login() {
    use server::core::records::Read;
    use server::core::{Call, Core, Deps};
    let store = Arc::new(server::storage::MemoryStore::new());
    let core_with_cost = |cost: u32| {
        let deps = Deps {
            store: store.clone(),
            clock: Arc::new(server::time::SystemClock),
            random: Arc::new(server::crypto::OsRandom::new()),
            hasher: Arc::new(server::hashing::Bcrypt::new(cost)),
            mailer: Arc::new(server::core::ports::NoMail),
            notifier: Arc::new(server::core::ports::NoNotifier),
        };
        Core::new(deps, Default::default())
    };
    let call = |name: &str, input: serde_json::Value| Call {
        procedure: specs::find(name).unwrap(),
        input: Some(input),
        credentials: Default::default(),
        client: None,
        user_agent: None,
    };
    let admin = json!({"email": "admin@example.com", "password": "password123"});
    // An account hashed at cost 4, as by an older configuration …
    let old = core_with_cost(4).await.unwrap();
    let created = old.call(call("auth.createAdmin", admin)).await;
    assert!(created.result.is_ok(), "{:?}", created.result);
    let hash = |store: &Arc<server::storage::MemoryStore>| {
        let store: &dyn server::core::ports::Store = &**store;
        store
            .account_by_email("admin@example.com")
            .unwrap()
            .unwrap()
            .password_hash
            .unwrap()
    };
    assert!(hash(&store).starts_with("$2b$04$"));
    // … logs in to a server configured for cost 5.
    let new = core_with_cost(5).await.unwrap();
    let login = |password: &str| {
        call(
            "auth.login",
            json!({"email": "admin@example.com", "password": password}),
        )
    };
    assert!(new.call(login("wrongpass1")).await.result.is_err());
    assert!(
        hash(&store).starts_with("$2b$04$"),
        "a failed login changes nothing"
    );
    assert!(new.call(login("password123")).await.result.is_ok());
    assert!(
        hash(&store).starts_with("$2b$05$"),
        "re-hashed at the configured cost"
    );
    assert!(
        new.call(login("password123")).await.result.is_ok(),
        "and the password still works"
    );
}

/// Bcrypt, recording the cost of every hash it verifies against.
struct RecordingHasher {
    bcrypt: server::hashing::Bcrypt,
    verified_costs: std::sync::Mutex<Vec<u32>>,
}

impl server::core::ports::PasswordHasher for RecordingHasher {
    fn hash(
        &self,
        password: String,
        salt: [u8; 16],
    ) -> server::core::ports::BoxFuture<'static, Result<String, server::core::ports::HashError>>
    {
        self.bcrypt.hash(password, salt)
    }
    fn verify(
        &self,
        password: String,
        hash: String,
    ) -> server::core::ports::BoxFuture<'static, Result<bool, server::core::ports::HashError>> {
        let cost = hash.get(4..6).and_then(|c| c.parse().ok()).unwrap_or(0);
        self.verified_costs.lock().unwrap().push(cost);
        self.bcrypt.verify(password, hash)
    }
    fn cost(&self) -> u32 {
        self.bcrypt.cost()
    }
}

/// A login against an account hashed at a lower cost than configured would answer
/// faster than one for an unknown email (which verifies against a hash at the
/// configured cost), telling which emails exist: it verifies at the configured cost
/// too. Counted by cost, not timed.
#[tokio::test]
async fn a_weak_hash_costs_a_login_as_much_as_an_unknown_email() {
    use server::core::{Call, Core, Deps};
    let store = Arc::new(server::storage::MemoryStore::new());
    let hasher = |cost: u32| {
        Arc::new(RecordingHasher {
            bcrypt: server::hashing::Bcrypt::new(cost),
            verified_costs: Default::default(),
        })
    };
    let core_with = |hasher: Arc<RecordingHasher>| {
        let deps = Deps {
            store: store.clone(),
            clock: Arc::new(server::time::SystemClock),
            random: Arc::new(server::crypto::OsRandom::new()),
            hasher,
            mailer: Arc::new(server::core::ports::NoMail),
            notifier: Arc::new(server::core::ports::NoNotifier),
        };
        Core::new(deps, Default::default())
    };
    let call = |name: &str, email: &str| Call {
        procedure: specs::find(name).unwrap(),
        input: Some(json!({"email": email, "password": "wrongpass1"})),
        credentials: Default::default(),
        client: None,
        user_agent: None,
    };
    let old = core_with(hasher(4)).await.unwrap();
    let mut admin = call("auth.createAdmin", "admin@example.com");
    admin.input = Some(json!({"email": "admin@example.com", "password": "password123"}));
    assert!(old.call(admin).await.result.is_ok());

    let recording = hasher(6);
    let new = core_with(recording.clone()).await.unwrap();
    let costs = || std::mem::take(&mut *recording.verified_costs.lock().unwrap());
    assert!(new
        .call(call("auth.login", "nobody@example.com"))
        .await
        .result
        .is_err());
    assert_eq!(
        costs(),
        [6],
        "an unknown email: one verification at the configured cost"
    );
    assert!(new
        .call(call("auth.login", "admin@example.com"))
        .await
        .result
        .is_err());
    assert_eq!(
        costs(),
        [4, 6],
        "a weak hash: and one at the configured cost"
    );
}
