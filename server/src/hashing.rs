//! bcrypt on a bounded pool of threads of its own, so that a login never holds up an
//! async worker, with admission control in front of it.
//!
//! Priority: the threads run in the normal class, one nice step below the process
//! (`HASHING_NICE`). They get their share of the CPU beside the host's other
//! processes (the idle class used before starved them: a login took 29 s beside two
//! busy processes), while the async workers, at nice 0 and asleep most of the time,
//! win a core whenever a request arrives.
//!
//! Admission: each job's wall time is measured (with whatever else the host does),
//! and a job that would not be finished within `finish_within`, behind the queue in
//! front of it, is refused at once with `HashError::Busy` (503 with `Retry-After`)
//! instead of waiting into the request's timeout. A job whose caller has gone (timed
//! out, disconnected) is skipped.

use crate::core::ports::{BoxFuture, HashError, PasswordHasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// How far below the async workers the hashing threads run (nice steps): enough
/// that a flood of logins leaves the workers the larger share of a core, and close
/// enough that logins still get most of theirs beside other processes (weight 820
/// against 1024).
pub const HASHING_NICE: i32 = 1;

type Job = Box<dyn FnOnce() + Send>;

/// How many threads hash, and how long a job may take, its wait in the queue included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    pub threads: usize,
    /// A job that would not be finished this long after it is asked for (by the
    /// measured time of a job and the queue in front of it) is refused.
    pub finish_within: Duration,
}

impl Default for PoolSettings {
    /// One thread per core, and jobs finished within half the default 30-second
    /// request timeout (a job's time is measured at the load of its moment, and grows
    /// when more threads compete: the other half is the margin).
    fn default() -> Self {
        PoolSettings {
            threads: default_threads(),
            finish_within: Duration::from_secs(15),
        }
    }
}

/// One hashing thread per core: on a host with nothing else to do, logins use it
/// all; beside other work, the kernel shares it.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

#[derive(Clone)]
pub struct Bcrypt {
    cost: u32,
    pool: Arc<Pool>,
}

struct Pool {
    /// The queue of the hashing threads; they end when the pool is dropped.
    jobs: mpsc::Sender<Job>,
    settings: PoolSettings,
    /// Jobs admitted and not finished (queued or running).
    pending: AtomicUsize,
    /// A job's wall time, a moving average in microseconds (0: none measured yet).
    job_micros: AtomicU64,
    /// Jobs skipped because their caller had gone.
    skipped: AtomicU64,
}

impl Bcrypt {
    /// `cost` is bcrypt's work factor (4..=31); Dokploy uses 10.
    pub fn new(cost: u32) -> Bcrypt {
        Bcrypt::with_pool(cost, PoolSettings::default())
    }

    pub fn with_pool(cost: u32, settings: PoolSettings) -> Bcrypt {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..settings.threads.max(1) {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("bcrypt-{n}"))
                .spawn(move || {
                    lower_priority();
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
        Bcrypt {
            cost,
            pool: Arc::new(Pool {
                jobs,
                settings: PoolSettings {
                    threads: settings.threads.max(1),
                    ..settings
                },
                pending: AtomicUsize::new(0),
                job_micros: AtomicU64::new(0),
                skipped: AtomicU64::new(0),
            }),
        }
    }

    /// Jobs admitted and not yet finished.
    pub fn pending(&self) -> usize {
        self.pool.pending.load(Ordering::Relaxed)
    }

    /// Jobs skipped because nobody waited for them any more.
    pub fn skipped(&self) -> u64 {
        self.pool.skipped.load(Ordering::Relaxed)
    }

    /// Runs `work` on a hashing thread, unless the queue is too long to finish it
    /// within `finish_within`.
    async fn on_a_core<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let pool = self.pool.clone();
        let ahead = pool.pending.fetch_add(1, Ordering::AcqRel);
        let admitted = Admitted(pool.clone());
        if let Some(done_in) = pool.finished_in(ahead) {
            if done_in > pool.settings.finish_within {
                return Err(HashError::Busy {
                    retry_after_secs: done_in.as_secs().clamp(1, 60),
                });
            }
        }
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            // The caller timed out or went away while this waited: nobody reads it.
            if done.is_closed() {
                admitted.skip();
                return;
            }
            let started = Instant::now();
            let answer = work();
            admitted.finish(started.elapsed());
            let _ = done.send(answer);
        });
        if pool.jobs.send(job).is_err() {
            return Err(HashError::Failed("the hashing threads are gone".into()));
        }
        result
            .await
            .map_err(|_| HashError::Failed("the hashing thread did not answer".into()))
    }
}

/// A job counted in `pending` until it is finished, skipped, or dropped unrun.
struct Admitted(Arc<Pool>);

impl Admitted {
    fn finish(self, took: Duration) {
        self.0.record(took);
    }

    fn skip(self) {
        self.0.skipped.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.0.pending.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Pool {
    /// When a job with `ahead` jobs in front of it would be finished: its own round
    /// and one for every `threads` jobs ahead (one partly run counts whole); `None`
    /// before any job was measured.
    fn finished_in(&self, ahead: usize) -> Option<Duration> {
        let micros = self.job_micros.load(Ordering::Relaxed);
        if micros == 0 {
            return None;
        }
        let rounds = (ahead / self.settings.threads + 1) as u64;
        Some(Duration::from_micros(micros.saturating_mul(rounds)))
    }

    /// Folds one job's wall time into the average (a quarter of the new one: it
    /// follows a change of load within a few jobs).
    fn record(&self, took: Duration) {
        let took = u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1);
        let _ = self
            .job_micros
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                Some(if old == 0 {
                    took
                } else {
                    old - old / 4 + took / 4
                })
            });
    }
}

/// The calling thread `HASHING_NICE` steps below the process's own nice value (on
/// Linux a nice value is per thread; relative, so that a server started with
/// `nice -n 5` hashes at 6 and needs no privilege to do so).
#[cfg(target_os = "linux")]
fn lower_priority() {
    // SAFETY: both only read their arguments; who 0 is the calling thread on Linux.
    let niced = unsafe {
        let own = libc::getpriority(libc::PRIO_PROCESS as _, 0);
        libc::setpriority(libc::PRIO_PROCESS as _, 0, own + HASHING_NICE) == 0
    };
    if !niced {
        tracing::warn!("could not lower the priority of a bcrypt thread");
    }
}

/// Elsewhere (the mock on macOS or Windows) the threads keep the process's
/// priority: there a nice value is the whole process's, not a thread's.
#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

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
                    .map_err(|e| HashError::Failed(e.to_string()))
            })
            .await?
        })
    }

    fn verify(
        &self,
        password: String,
        hash: String,
    ) -> BoxFuture<'static, Result<bool, HashError>> {
        let this = self.clone();
        Box::pin(async move {
            this.on_a_core(move || bcrypt::verify(password.as_bytes(), &hash).unwrap_or(false))
                .await
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
        assert!(bcrypt
            .verify("password123".into(), hash.clone())
            .await
            .unwrap());
        assert!(!bcrypt.verify("password124".into(), hash).await.unwrap());
        assert!(!bcrypt
            .verify("x".into(), "not a hash".into())
            .await
            .unwrap());
        assert_eq!(bcrypt.pending(), 0);
    }

    #[tokio::test]
    async fn refuses_what_would_not_finish_within_the_bound() {
        let bcrypt = Bcrypt::with_pool(
            11,
            PoolSettings {
                threads: 1,
                finish_within: Duration::from_secs(1),
            },
        );
        // The first job is measured (a cost-11 job takes a tenth of a second or more
        // here, so thirty do not fit in the second).
        let hash = bcrypt.hash("a".into(), [1; 16]).await.unwrap();
        let checks = (0..30).map(|_| bcrypt.verify("b".into(), hash.clone()));
        let answers = futures_util::future::join_all(checks).await;
        let checked = answers.iter().filter(|a| matches!(a, Ok(false))).count();
        let refused: Vec<u64> = answers
            .iter()
            .filter_map(|a| match a {
                Err(HashError::Busy { retry_after_secs }) => Some(*retry_after_secs),
                _ => None,
            })
            .collect();
        assert!(checked >= 1, "none admitted: {answers:?}");
        assert_eq!(checked + refused.len(), 30, "{answers:?}");
        assert!(!refused.is_empty(), "thirty jobs queued on one thread");
        assert!(refused.iter().all(|&secs| secs >= 1));
        assert_eq!(bcrypt.pending(), 0);
    }

    #[tokio::test]
    async fn skips_a_job_whose_caller_left() {
        let bcrypt = Bcrypt::with_pool(
            10,
            PoolSettings {
                threads: 1,
                finish_within: Duration::from_secs(3600),
            },
        );
        let running = tokio::spawn({
            let bcrypt = bcrypt.clone();
            async move { bcrypt.hash("slow".into(), [2; 16]).await }
        });
        while bcrypt.pending() == 0 {
            tokio::task::yield_now().await;
        }
        // Queued behind it, then abandoned: taken off the queue unrun.
        let abandoned = bcrypt.hash("left".into(), [3; 16]);
        let abandoned = tokio::time::timeout(Duration::from_millis(1), abandoned).await;
        assert!(abandoned.is_err());
        running.await.unwrap().unwrap();
        // The next job runs after the abandoned one was taken off the queue.
        bcrypt
            .verify("x".into(), "not a hash".into())
            .await
            .unwrap();
        assert_eq!(bcrypt.skipped(), 1);
        assert_eq!(bcrypt.pending(), 0);
    }
}
