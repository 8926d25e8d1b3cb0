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
