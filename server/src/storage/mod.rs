//! Storage engines behind the core's `Store` trait.

pub mod memory;
#[cfg(feature = "sled-store")]
pub mod sled_store;

pub use memory::MemoryStore;
#[cfg(feature = "sled-store")]
pub use sled_store::SledStore;
