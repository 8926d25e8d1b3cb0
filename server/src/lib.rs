//! The Dokploy auth API server: the domain core (`core`), its HTTP front end
//! (`http`), storage engines (`storage`) and the primitives they share.

pub mod app;
#[cfg(feature = "logs")]
pub mod audit_log;
#[cfg(feature = "sled-store")]
pub mod backup;
#[cfg(feature = "sled-store")]
pub mod config_file;
pub mod core;
pub mod crypto;
pub mod hashing;
pub mod http;
#[cfg(feature = "postgres-store")]
pub mod import;
// File modes: Unix only (the server's binary is; the mock needs none of it).
#[cfg(unix)]
pub mod keyfile;
#[cfg(feature = "logs")]
pub mod logs;
#[cfg(feature = "cloud-transports")]
pub mod mail;
#[cfg(feature = "metrics")]
pub mod metrics;
pub mod net;
pub mod storage;
pub mod time;
#[cfg(feature = "cloud-transports")]
pub mod webhook;
