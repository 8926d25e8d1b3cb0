//! bcrypt, run on tokio's blocking pool so that a burst of logins never stalls the
//! async workers that answer everything else.

use crate::core::ports::{BoxFuture, HashError, PasswordHasher};
use std::sync::Arc;
use tokio::sync::Semaphore;

#[derive(Clone)]
pub struct Bcrypt {
    cost: u32,
    /// One hash at a time per core: more would only make every request, not just
    /// logins, wait for the CPU.
    running: Arc<Semaphore>,
}

impl Bcrypt {
    /// `cost` is bcrypt's work factor (4..=31); Dokploy uses 10.
    pub fn new(cost: u32) -> Bcrypt {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Bcrypt {
            cost,
            running: Arc::new(Semaphore::new(cores)),
        }
    }

    /// Runs `work` on the blocking pool once a core is free.
    async fn on_a_core<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let _permit = self.running.clone().acquire_owned().await.ok()?;
        tokio::task::spawn_blocking(work).await.ok()
    }
}

impl PasswordHasher for Bcrypt {
    fn hash(
        &self,
        password: String,
        salt: [u8; 16],
    ) -> BoxFuture<'static, Result<String, HashError>> {
        let this = self.clone();
        Box::pin(async move {
            let cost = this.cost;
            this.on_a_core(move || {
                bcrypt::hash_with_salt(password.as_bytes(), cost, salt)
                    .map(|parts| parts.format_for_version(bcrypt::Version::TwoB))
                    .map_err(|e| HashError(e.to_string()))
            })
            .await
            .unwrap_or_else(|| Err(HashError("the hashing task did not finish".into())))
        })
    }

    fn verify(&self, password: String, hash: String) -> BoxFuture<'static, bool> {
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                bcrypt::verify(password.as_bytes(), &hash).unwrap_or(false)
            })
            .await
            .unwrap_or(false)
        })
    }

    fn cost(&self) -> u32 {
        self.cost
    }
}
