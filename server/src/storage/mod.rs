//! Storage engines behind the core's `Store` trait.

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
