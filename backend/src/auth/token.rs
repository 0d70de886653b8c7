//! HS256 JSON Web Tokens: issued at sign-in, verified on every protected request.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use uuid::Uuid;

pub const ISSUER: &str = "todo-chatbot";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    pub email: String,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token is invalid: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    #[error("the token's subject is not a user id")]
    BadSubject,
}

/// The signing secret, turned into keys once.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys").field("ttl", &self.ttl).finish_non_exhaustive()
    }
}

impl TokenKeys {
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        // Only HS256 is accepted: a token claiming `none` or another algorithm is rejected
        // before its signature is even looked at.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 30;
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "sub"]);
        Self { encoding: EncodingKey::from_secret(secret), decoding: DecodingKey::from_secret(secret), validation, ttl }
    }

    /// A token for `user_id`, and when it expires.
    pub fn issue(&self, user_id: Uuid, email: &str) -> Result<(String, DateTime<Utc>), TokenError> {
        let now = Utc::now();
        let expires_at = now + self.ttl;
        let claims = Claims {
            sub: user_id.to_string(),
            email: email.to_owned(),
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
            iss: ISSUER.to_owned(),
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok((token, expires_at))
    }

    /// The claims and the user id of a valid, unexpired token signed with our secret.
    pub fn verify(&self, token: &str) -> Result<(Claims, Uuid), TokenError> {
        let claims = decode::<Claims>(token, &self.decoding, &self.validation)?.claims;
        let user_id = Uuid::parse_str(&claims.sub).map_err(|_| TokenError::BadSubject)?;
        Ok((claims, user_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::new(b"a test secret that is at least 32 bytes long", Duration::from_secs(3600))
    }

    #[test]
    fn an_issued_token_verifies() {
        let id = Uuid::new_v4();
        let (token, _) = keys().issue(id, "ada@example.com").unwrap();
        let (claims, user_id) = keys().verify(&token).unwrap();
        assert_eq!(user_id, id);
        assert_eq!(claims.iss, ISSUER);
        assert_eq!(claims.exp - claims.iat, 3600);
    }

    #[test]
    fn another_key_is_rejected() {
        let (token, _) = keys().issue(Uuid::new_v4(), "a@b.co").unwrap();
        let other = TokenKeys::new(b"another secret that is at least 32 bytes", Duration::from_secs(60));
        assert!(other.verify(&token).is_err());
    }
}
