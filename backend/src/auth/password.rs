//! argon2id hashing, off the async runtime and a few at a time: one hash takes about 20 ms of
//! a core and 19 MiB of memory. Unbounded, 64 sign-ins at once ran 64 hashes side by side on
//! 2 cores, went past 1.3 GB of memory and timed out (docs/benchmarks.md); bounded, the same
//! burst queues for a permit and stays within the pod's memory limit.

use crate::domain::Password;
use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};
use std::{num::NonZeroUsize, sync::Arc};
use tokio::sync::Semaphore;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("hashing failed: {0}")]
    Hash(String),
    #[error("the hashing task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("the hashing queue is closed")]
    Closed(#[from] tokio::sync::AcquireError),
}

/// Hashes and verifies passwords, at most `concurrency` at a time (`PASSWORD_HASH_CONCURRENCY`).
#[derive(Debug, Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
}

impl Passwords {
    pub fn new(concurrency: NonZeroUsize) -> Self {
        Self { permits: Arc::new(Semaphore::new(concurrency.get())) }
    }

    /// Runs `work` on the blocking pool once a permit is free. The permit moves into the task,
    /// so a request that is cancelled while hashing still counts until the hash is done.
    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, PasswordError> {
        let permit = Arc::clone(&self.permits).acquire_owned().await?;
        Ok(tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await?)
    }

    /// Hashes with argon2id and a random salt (PHC string format).
    pub async fn hash(&self, password: &Password) -> Result<String, PasswordError> {
        let password = password.expose().to_owned();
        self.run(move || {
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map(|hash| hash.to_string())
                .map_err(|error| PasswordError::Hash(error.to_string()))
        })
        .await?
    }

    /// Checks `candidate` against `stored`, or against a dummy hash when there is no account.
    pub async fn verify(&self, candidate: &str, stored: Option<String>) -> Result<bool, PasswordError> {
        let candidate = candidate.to_owned();
        self.run(move || {
            let known = stored.is_some();
            let stored = stored.unwrap_or_else(|| DUMMY_HASH.to_owned());
            let Ok(parsed) = PasswordHash::new(&stored) else {
                return false;
            };
            let matches = Argon2::default().verify_password(candidate.as_bytes(), &parsed).is_ok();
            known && matches
        })
        .await
    }
}

/// A real hash of a random password nobody kept, verified when the email is unknown so that a
/// wrong email and a wrong password take the same time. Written out rather than computed at
/// start-up: computing it held a 19 MiB block in an idle process. Its parameters must be the
/// ones `hash` uses (a test checks), or the two paths would take different times.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$boVuF44YEGpZaVgBK6St2g$ybHsFArRiv6njIi/62ndq2w6sbJRoxOOhn1qJXlYV0A";

#[cfg(test)]
mod tests {
    use super::*;

    fn passwords(concurrency: usize) -> Passwords {
        Passwords::new(NonZeroUsize::new(concurrency).unwrap())
    }

    #[tokio::test]
    async fn a_hash_verifies_only_its_password() {
        let passwords = passwords(2);
        let password = Password::parse("correct horse battery").unwrap();
        let stored = passwords.hash(&password).await.unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(passwords.verify("correct horse battery", Some(stored.clone())).await.unwrap());
        assert!(!passwords.verify("wrong horse battery", Some(stored)).await.unwrap());
    }

    #[tokio::test]
    async fn the_dummy_hash_costs_what_a_real_hash_costs() {
        let real = passwords(1).hash(&Password::parse("correct horse battery").unwrap()).await.unwrap();
        let parameters = |phc: &str| phc.rsplitn(3, '$').nth(2).map(str::to_owned);
        assert_eq!(parameters(DUMMY_HASH), parameters(&real), "{DUMMY_HASH} against {real}");
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }

    #[tokio::test]
    async fn an_unknown_account_never_verifies() {
        assert!(!passwords(1).verify("no account has this password", None).await.unwrap());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_hashes_run_at_once_than_the_permits_allow() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let passwords = passwords(2);
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (passwords, running, most) = (passwords.clone(), Arc::clone(&running), Arc::clone(&most));
                tokio::spawn(async move {
                    passwords
                        .run(move || {
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now, Ordering::SeqCst);
                            std::thread::sleep(std::time::Duration::from_millis(20));
                            running.fetch_sub(1, Ordering::SeqCst);
                        })
                        .await
                        .unwrap();
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 2, "8 hashes through 2 permits");
    }
}
