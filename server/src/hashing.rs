//! bcrypt on its own threads, one per core, at the lowest CPU priority (`SCHED_IDLE`):
//! a flood of logins uses every idle cycle, yet never delays the async workers that
//! answer everything else (the kernel runs them first whenever they have work).

use crate::core::ports::{BoxFuture, HashError, PasswordHasher};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send>;

#[derive(Clone)]
pub struct Bcrypt {
    cost: u32,
    /// The queue of the hashing threads; they end when the last clone is dropped.
    jobs: mpsc::Sender<Job>,
}

impl Bcrypt {
    /// `cost` is bcrypt's work factor (4..=31); Dokploy uses 10.
    pub fn new(cost: u32) -> Bcrypt {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..cores {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("bcrypt-{n}"))
                .spawn(move || {
                    lowest_priority();
                    loop {
                        let job = queue.lock().unwrap_or_else(|p| p.into_inner()).recv();
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(error) = spawned {
                tracing::error!(%error, "cannot start a bcrypt thread");
            }
        }
        Bcrypt { cost, jobs }
    }

    /// Runs `work` on a hashing thread; `None` if it could not run.
    async fn on_a_core<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(work());
        });
        self.jobs.send(job).ok()?;
        result.await.ok()
    }
}

/// `SCHED_IDLE` for the calling thread: any other thread that wakes up takes the
/// core at once (a nice value only shortens the wait). Falls back to nice 19.
fn lowest_priority() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: both calls only read their arguments; pid/who 0 is this thread on Linux.
    let idle = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) } == 0;
    let niced = idle || unsafe { libc::setpriority(libc::PRIO_PROCESS as _, 0, 19) } == 0;
    if !niced {
        tracing::warn!("could not lower the priority of a bcrypt thread");
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
            .unwrap_or_else(|| Err(HashError("the hashing thread did not answer".into())))
        })
    }

    fn verify(&self, password: String, hash: String) -> BoxFuture<'static, bool> {
        let this = self.clone();
        Box::pin(async move {
            this.on_a_core(move || bcrypt::verify(password.as_bytes(), &hash).unwrap_or(false))
                .await
                .unwrap_or(false)
        })
    }

    fn cost(&self) -> u32 {
        self.cost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_and_verifies_on_its_threads() {
        let bcrypt = Bcrypt::new(4);
        let hash = bcrypt.hash("password123".into(), [7; 16]).await.unwrap();
        assert!(hash.starts_with("$2b$04$"));
        assert!(bcrypt.verify("password123".into(), hash.clone()).await);
        assert!(!bcrypt.verify("password124".into(), hash).await);
        assert!(!bcrypt.verify("x".into(), "not a hash".into()).await);
    }
}
