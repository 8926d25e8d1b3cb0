//! The model-based property test against the in-process server and mock: random
//! call sequences, each answer checked against the reference model; a failure
//! shrinks to a minimal sequence, printed as curl commands.

mod common;
use common::InProcessServer;
use conformance::model::property;
use conformance::target::Target;
use specs::Profile;

/// Cases per target: tuned for CI; `CONFORMANCE_CASES=500` for a long run.
fn cases() -> u32 {
    std::env::var("CONFORMANCE_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(32)
}

fn check_target(runtime: &tokio::runtime::Runtime, target: &dyn Target) {
    let both = conformance::runner::BOTH;
    if let Err(failure) = runtime.block_on(property(target, cases(), 7, both, Profile::Contract)) {
        panic!("{} disagrees with the model:\n{failure}", target.name());
    }
}

#[test]
fn the_server_agrees_with_the_model() {
    let runtime = common::runtime();
    check_target(&runtime, &InProcessServer::default());
}

#[test]
fn the_mock_agrees_with_the_model() {
    let runtime = common::runtime();
    check_target(&runtime, &common::mock_on(&runtime));
}

/// The model in the Dokploy profile against the mock in it (its answers are what
/// Dokploy v0.14 was measured to give).
#[test]
fn the_dokploy_mock_agrees_with_the_dokploy_model() {
    let runtime = common::runtime();
    let mock = runtime.block_on(
        mock::MockServer::builder()
            .profile(Profile::Dokploy014)
            .start(),
    );
    let target = common::InProcessMock(mock);
    let both = conformance::runner::BOTH;
    if let Err(failure) = runtime.block_on(property(&target, cases(), 7, both, Profile::Dokploy014))
    {
        panic!("the Dokploy mock disagrees with the Dokploy model:\n{failure}");
    }
}
