//! bcrypt, run on tokio's blocking pool so that a burst of logins never stalls the
//! async workers that answer everything else.

use crate::core::ports::{BoxFuture, HashError, PasswordHasher};

pub struct Bcrypt {
    cost: u32,
}

impl Bcrypt {
    /// `cost` is bcrypt's work factor (4..=31); Dokploy uses 10.
    pub fn new(cost: u32) -> Bcrypt {
        Bcrypt { cost }
    }
}

impl PasswordHasher for Bcrypt {
    fn hash(
        &self,
        password: String,
        salt: [u8; 16],
    ) -> BoxFuture<'static, Result<String, HashError>> {
        let cost = self.cost;
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                bcrypt::hash_with_salt(password.as_bytes(), cost, salt)
                    .map(|parts| parts.format_for_version(bcrypt::Version::TwoB))
                    .map_err(|e| HashError(e.to_string()))
            })
            .await
            .map_err(|e| HashError(e.to_string()))?
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
