//! argon2id hashing, off the async runtime: one hash takes tens of milliseconds of CPU.

use crate::domain::Password;
use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};
use std::sync::LazyLock;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("hashing failed: {0}")]
    Hash(String),
    #[error("the hashing task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Hashes with argon2id and a random salt (PHC string format).
pub async fn hash(password: &Password) -> Result<String, PasswordError> {
    let password = password.expose().to_owned();
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|error| PasswordError::Hash(error.to_string()))
    })
    .await?
}

/// A real hash of a password nobody has, verified when the email is unknown so that a wrong
/// email and a wrong password take the same time.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(b"no account has this password", &salt)
        .map(|hash| hash.to_string())
        .unwrap_or_default()
});

/// Checks `candidate` against `stored`, or against a dummy hash when there is no account.
pub async fn verify(candidate: &str, stored: Option<String>) -> Result<bool, PasswordError> {
    let candidate = candidate.to_owned();
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| DUMMY_HASH.clone());
        let Ok(parsed) = PasswordHash::new(&stored) else {
            return Ok(false);
        };
        let matches = Argon2::default().verify_password(candidate.as_bytes(), &parsed).is_ok();
        Ok(known && matches)
    })
    .await?
}

/// Computes the dummy hash now rather than on the first unknown-email sign-in.
pub fn warm_up() {
    LazyLock::force(&DUMMY_HASH);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_only_its_password() {
        let password = Password::parse("correct horse battery").unwrap();
        let stored = hash(&password).await.unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", Some(stored.clone())).await.unwrap());
        assert!(!verify("wrong horse battery", Some(stored)).await.unwrap());
    }

    #[tokio::test]
    async fn an_unknown_account_never_verifies() {
        assert!(!verify("no account has this password", None).await.unwrap());
    }
}
