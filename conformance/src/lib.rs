//! The conformance suite for implementations of the Dokploy auth API. It speaks to a
//! target only over HTTP. (The suite itself is issue 6; for now this crate holds the
//! HTTP client the project's tests share.)

pub mod client;
