//! Storage engines behind the core's `Store` trait.

#[cfg(feature = "postgres-store")]
mod coalesced;
#[cfg(feature = "postgres-store")]
pub mod database_url;
pub mod memory;
#[cfg(feature = "postgres-store")]
pub mod postgres;
pub mod sealed;
#[cfg(feature = "sled-store")]
pub mod sled_store;

pub use memory::MemoryStore;
#[cfg(feature = "postgres-store")]
pub use postgres::PgStore;
pub use sealed::SealedStore;
#[cfg(feature = "sled-store")]
pub use sled_store::SledStore;

use std::cell::RefCell;
use std::collections::BTreeMap;

/// What a database connection pool says of itself, for metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PoolFacts {
    /// The most connections it keeps.
    pub max: u64,
    /// Connections open now, and of those, idle ones.
    pub open: u64,
    pub idle: u64,
    /// Callers waiting for a connection now.
    pub waiting: u64,
    /// Connections taken so far, the seconds spent waiting for them, and the takes
    /// that gave up (none came free in time).
    pub taken: u64,
    pub wait_seconds: f64,
    pub timeouts: u64,
    /// Errors the database answered so far, by SQLSTATE class (`40`, `53`, …;
    /// `none` for a connection that failed without one).
    pub errors_by_class: Vec<(String, u64)>,
}

/// The writes of a transaction not yet applied: its own reads see them first, and
/// the engine applies them all at its commit. (`None`: the key is removed.)
#[derive(Default)]
pub(crate) struct StagedWrites(RefCell<BTreeMap<Vec<u8>, Option<Vec<u8>>>>);

impl StagedWrites {
    /// What the transaction wrote at `key`, if it wrote there (`Some(None)`: removed).
    pub(crate) fn get(&self, key: &[u8]) -> Option<Option<Vec<u8>>> {
        self.0.borrow().get(key).cloned()
    }

    pub(crate) fn insert(&self, key: &[u8], value: Vec<u8>) {
        self.0.borrow_mut().insert(key.to_vec(), Some(value));
    }

    pub(crate) fn remove(&self, key: &[u8]) {
        self.0.borrow_mut().insert(key.to_vec(), None);
    }

    pub(crate) fn into_writes(self) -> BTreeMap<Vec<u8>, Option<Vec<u8>>> {
        self.0.into_inner()
    }
}
