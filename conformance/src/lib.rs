//! The conformance suite for implementations of the Dokploy auth API. It speaks to a
//! target only over HTTP: one check per procedure and outcome, each from a fresh
//! instance, with expectations taken from the contract (`specs`).

pub mod checks;
pub mod client;
pub mod live;
pub mod model;
pub mod runner;
pub mod smtp;
pub mod target;
pub mod totp;

pub use live::AdminCredential;
pub use runner::{run, Report, Verdict};
pub use target::{SpawnTarget, Target, UrlTarget};
