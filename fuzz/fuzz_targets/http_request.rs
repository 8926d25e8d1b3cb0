//! Any request to the API, on either transport, with or without credentials: the
//! answer is never a panic and never a 5xx (the core runs in memory, so a 5xx would
//! be a decoding bug, not a storage fault).
#![no_main]

use arbitrary::Arbitrary;
use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use libfuzzer_sys::fuzz_target;
use server::core::{AccountFixture, Config, Core, Deps, Fixtures};
use server::http::{Api, Limits};
use std::sync::{Arc, OnceLock};
use tower::ServiceExt;

const SESSION: &str = "fuzzsessionfuzzsessionfuzzsessionfuzzses";
const TOKEN: &str = "fuzztokenfuzztokenfuzztokenfuzztokenfuzz";

#[derive(Arbitrary, Debug)]
struct Input {
    method: u8,
    trpc: bool,
    batch: bool,
    procedures: Vec<u8>,
    path_noise: Option<String>,
    query: Option<String>,
    credentials: u8,
    raw_authorization: Option<String>,
    raw_cookie: Option<String>,
    content_type: u8,
    body: Vec<u8>,
}

struct Target {
    runtime: tokio::runtime::Runtime,
    api: Api,
}

fn target() -> &'static Target {
    static TARGET: OnceLock<Target> = OnceLock::new();
    TARGET.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let api = runtime.block_on(async {
            let deps = Deps {
                store: Arc::new(server::storage::MemoryStore::default()),
                clock: Arc::new(mock::ManualClock::new(1_730_106_902_123)),
                random: Arc::new(server::crypto::OsRandom::new()),
                hasher: Arc::new(server::hashing::Bcrypt::new(4)),
                mailer: Arc::new(server::core::ports::NoMail),
                notifier: Arc::new(server::core::ports::NoNotifier),
            };
            let config = Config {
                throttle: None,
                ..Config::default()
            };
            let core = Core::new(deps, config).await.unwrap();
            let admin = AccountFixture {
                email: "admin@example.com".into(),
                password: Some("password123".into()),
                sessions: vec![SESSION.into()],
                api_token: Some(TOKEN.into()),
                ..AccountFixture::default()
            };
            core.load_fixtures(&Fixtures {
                admins: vec![admin],
                members: Vec::new(),
            })
            .await
            .unwrap();
            Api::new(Arc::new(core), &Limits::default())
        });
        Target { runtime, api }
    })
}

fn request(input: &Input) -> Option<Request<Full<Bytes>>> {
    let method = ["GET", "POST", "HEAD", "PUT", "OPTIONS"][input.method as usize % 5];
    let names: Vec<&str> = input
        .procedures
        .iter()
        .take(60)
        .map(|i| {
            let table = specs::PROCEDURES;
            table.get(*i as usize % (table.len() + 1)).map_or("auth.nope", |p| p.name)
        })
        .collect();
    let mut path = if input.trpc { "/api/trpc/".to_string() } else { "/api/".to_string() };
    path.push_str(&names.join(","));
    if let Some(noise) = &input.path_noise {
        path.push_str(noise);
    }
    let mut query = Vec::new();
    if input.batch {
        query.push("batch=1".to_string());
    }
    if let Some(q) = &input.query {
        query.push(q.clone());
    }
    if !query.is_empty() {
        path = format!("{path}?{}", query.join("&"));
    }
    let mut builder = Request::builder().method(method).uri(path);
    match input.credentials % 4 {
        0 => builder = builder.header("authorization", format!("Bearer {TOKEN}")),
        1 => builder = builder.header("cookie", format!("auth_session={SESSION}")),
        _ => {}
    }
    if let Some(raw) = &input.raw_authorization {
        builder = builder.header("authorization", raw.as_str());
    }
    if let Some(raw) = &input.raw_cookie {
        builder = builder.header("cookie", raw.as_str());
    }
    match input.content_type % 3 {
        0 => builder = builder.header("content-type", "application/json"),
        1 => builder = builder.header("content-type", "text/plain"),
        _ => {}
    }
    // Invalid URIs or header values never reach a server: hyper refuses them first.
    builder.body(Full::new(Bytes::from(input.body.clone()))).ok()
}

fuzz_target!(|input: Input| {
    let Some(request) = request(&input) else {
        return;
    };
    let target = target();
    let response = target
        .runtime
        .block_on(target.api.clone().oneshot(request))
        .unwrap();
    let status = response.status().as_u16();
    assert!(status < 500, "{status} for {input:?}");
});
