//! Storage engines behind the core's `Store` trait.

pub mod memory;
pub mod sealed;
#[cfg(feature = "sled-store")]
pub mod sled_store;

pub use memory::MemoryStore;
pub use sealed::SealedStore;
#[cfg(feature = "sled-store")]
pub use sled_store::SledStore;
