//! HS256 JSON Web Tokens: issued at sign-in, renewed by refresh, verified on every protected
//! request. A token names its session (`sid`), when that session signed in (`auth_time`,
//! which refresh carries over unchanged) and the account's token version (`ver`): the session
//! ends for good `SESSION_MAX_LIFETIME_SECS` after sign-in, and bumping the version (password
//! change, "sign out everywhere") ends every session of the account at once.

use chrono::{DateTime, TimeDelta, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};
use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};
use uuid::Uuid;

pub const ISSUER: &str = "todo-chatbot";

/// Seconds a token is still accepted after its `exp`, for clocks that disagree a little. The
/// absolute end of a session gets none.
const LEEWAY_SECS: i64 = 30;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    pub email: String,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    /// The session: one sign-in and every refresh after it.
    pub sid: String,
    /// When the session signed in (seconds since the epoch); refresh keeps it.
    pub auth_time: i64,
    /// The account's token version when the session signed in.
    pub ver: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token is invalid: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    #[error("the token's subject or session is not an id")]
    BadSubject,
    #[error("the token has expired")]
    Expired,
    #[error("the session has reached its maximum lifetime since sign-in")]
    LifetimeOver,
}

/// The time every token check uses. Production reads the system clock; the API tests move it
/// forward to reach the end of a session without waiting for it.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_secs: Arc<AtomicI64>,
}

impl Clock {
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + TimeDelta::seconds(self.offset_secs.load(Ordering::SeqCst))
    }

    /// Moves this clock (and every copy of it) forward; only tests call it.
    pub fn advance(&self, by: Duration) {
        self.offset_secs.fetch_add(i64::try_from(by.as_secs()).unwrap_or(i64::MAX), Ordering::SeqCst);
    }
}

/// A verified token: who, which session, since when, at which token version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user_id: Uuid,
    pub email: String,
    pub id: Uuid,
    pub signed_in_at: DateTime<Utc>,
    pub version: i64,
    /// The absolute end: no token of this session is valid after it.
    pub ends_at: DateTime<Utc>,
}

/// The signing secret, turned into keys once, and the two lifetimes.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
    max_lifetime: Duration,
    clock: Clock,
    verified: Arc<VerifiedTokens>,
}

/// How many verified tokens are remembered: a few hundred bytes each.
pub const REMEMBERED_TOKENS: usize = 4096;

/// Tokens whose signature and claims were already checked, by their exact text, with what they
/// say. A client sends the same token with every request until it refreshes it, and checking
/// one (three JSON documents and an HMAC) was the largest part of the backend's own CPU on the
/// cached task list (docs/benchmarks.md). Only what cannot change is remembered: the expiry
/// and lifetime are checked against the clock on every request, and revocation is the
/// database's to say as before. Nothing enters but a token that verified, so forged or
/// malformed tokens cannot fill it; a full one forgets its expired tokens, or all of them.
#[derive(Debug, Default)]
struct VerifiedTokens {
    by_text: Mutex<HashMap<Box<str>, Verified>>,
}

#[derive(Debug, Clone)]
struct Verified {
    session: Session,
    expires_at: i64,
}

impl VerifiedTokens {
    fn get(&self, token: &str) -> Option<Verified> {
        self.lock().get(token).cloned()
    }

    fn remember(&self, token: &str, verified: Verified, now: i64) {
        let mut by_text = self.lock();
        if by_text.len() >= REMEMBERED_TOKENS {
            by_text.retain(|_, known| now <= known.expires_at.saturating_add(LEEWAY_SECS));
            if by_text.len() >= REMEMBERED_TOKENS {
                by_text.clear();
            }
        }
        by_text.insert(token.into(), verified);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, Verified>> {
        // Inserts and removals only: a panic cannot leave an entry half-written.
        self.by_text.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys")
            .field("ttl", &self.ttl)
            .field("max_lifetime", &self.max_lifetime)
            .finish_non_exhaustive()
    }
}

fn delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

impl TokenKeys {
    /// Tokens that live `ttl` each, in sessions that end `max_lifetime` after sign-in.
    pub fn new(secret: &[u8], ttl: Duration, max_lifetime: Duration, clock: Clock) -> Self {
        // Before the first token is signed or checked: jsonwebtoken has no provider of its own.
        super::hs256::install();
        // Only HS256 is accepted: a token claiming `none` or another algorithm is rejected
        // before its signature is even looked at.
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is checked below against `clock`, the one source of time for sessions.
        validation.validate_exp = false;
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
            max_lifetime,
            clock,
            verified: Arc::default(),
        }
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    pub fn max_lifetime(&self) -> Duration {
        self.max_lifetime
    }

    /// A token for a new session of `user_id` at token `version`, and when it expires.
    pub fn sign_in(&self, user_id: Uuid, email: &str, version: i64) -> Result<(String, DateTime<Utc>), TokenError> {
        let now = self.clock.now();
        self.encode(user_id, email, Uuid::new_v4(), now.timestamp(), version, now)
    }

    /// A fresh token for the same session: same sign-in time, never past the session's end.
    pub fn renew(&self, session: &Session, email: &str) -> Result<(String, DateTime<Utc>), TokenError> {
        let now = self.clock.now();
        if now >= session.ends_at {
            return Err(TokenError::LifetimeOver);
        }
        self.encode(session.user_id, email, session.id, session.signed_in_at.timestamp(), session.version, now)
    }

    fn encode(
        &self,
        user_id: Uuid,
        email: &str,
        session_id: Uuid,
        auth_time: i64,
        version: i64,
        now: DateTime<Utc>,
    ) -> Result<(String, DateTime<Utc>), TokenError> {
        let session_end = DateTime::from_timestamp(auth_time, 0).unwrap_or(now) + delta(self.max_lifetime);
        let expires_at = (now + delta(self.ttl)).min(session_end);
        let claims = Claims {
            sub: user_id.to_string(),
            email: email.to_owned(),
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
            iss: ISSUER.to_owned(),
            sid: session_id.to_string(),
            auth_time,
            ver: version,
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok((token, DateTime::from_timestamp(claims.exp, 0).unwrap_or(expires_at)))
    }

    /// The session of a valid token signed with our secret, unexpired and within its lifetime.
    /// Whether it was revoked is the database's to say (`AuthUser`).
    pub fn verify(&self, token: &str) -> Result<Session, TokenError> {
        let now = self.clock.now();
        let Verified { session, expires_at } = match self.verified.get(token) {
            Some(known) => known,
            None => {
                let verified = self.decode(token)?;
                self.verified.remember(token, verified.clone(), now.timestamp());
                verified
            }
        };
        // The lifetime first, so that a client learns why refreshing no longer helps.
        if now >= session.ends_at {
            return Err(TokenError::LifetimeOver);
        }
        if now.timestamp() > expires_at.saturating_add(LEEWAY_SECS) {
            return Err(TokenError::Expired);
        }
        Ok(session)
    }

    /// What a token signed with our secret says, whenever it is asked.
    fn decode(&self, token: &str) -> Result<Verified, TokenError> {
        let claims = decode::<Claims>(token, &self.decoding, &self.validation)?.claims;
        let user_id = Uuid::parse_str(&claims.sub).map_err(|_| TokenError::BadSubject)?;
        let id = Uuid::parse_str(&claims.sid).map_err(|_| TokenError::BadSubject)?;
        let signed_in_at = DateTime::from_timestamp(claims.auth_time, 0).ok_or(TokenError::BadSubject)?;
        let ends_at = signed_in_at + delta(self.max_lifetime);
        let session = Session { user_id, email: claims.email, id, signed_in_at, version: claims.ver, ends_at };
        Ok(Verified { session, expires_at: claims.exp })
    }

    /// How many verified tokens are remembered now.
    pub fn remembered(&self) -> usize {
        self.verified.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn keys(clock: &Clock) -> TokenKeys {
        TokenKeys::new(b"a test secret that is at least 32 bytes long", HOUR, 3 * HOUR, clock.clone())
    }

    #[test]
    fn an_issued_token_verifies() {
        let clock = Clock::default();
        let id = Uuid::new_v4();
        let (token, expires_at) = keys(&clock).sign_in(id, "ada@example.com", 4).unwrap();
        let session = keys(&clock).verify(&token).unwrap();
        assert_eq!(session.user_id, id);
        assert_eq!(session.version, 4);
        assert_eq!((expires_at - session.signed_in_at).num_seconds(), 3600);
        assert_eq!(session.ends_at - session.signed_in_at, TimeDelta::hours(3));
    }

    #[test]
    fn another_key_is_rejected() {
        let clock = Clock::default();
        let (token, _) = keys(&clock).sign_in(Uuid::new_v4(), "a@b.co", 0).unwrap();
        let other = TokenKeys::new(b"another secret that is at least 32 bytes", HOUR, HOUR, clock);
        assert!(matches!(other.verify(&token), Err(TokenError::Invalid(_))));
    }

    #[test]
    fn renewal_keeps_the_session_and_stops_at_its_end() {
        let clock = Clock::default();
        let keys = keys(&clock);
        let (mut token, _) = keys.sign_in(Uuid::new_v4(), "a@b.co", 0).unwrap();
        let first = keys.verify(&token).unwrap();
        let mut expires_at = first.signed_in_at;
        // Every 50 minutes, as a client refreshing before its hour runs out.
        for _ in 0..3 {
            clock.advance(Duration::from_secs(50 * 60));
            let session = keys.verify(&token).unwrap();
            assert_eq!((session.id, session.signed_in_at), (first.id, first.signed_in_at));
            (token, expires_at) = keys.renew(&session, "a@b.co").unwrap();
        }
        assert_eq!(expires_at, first.ends_at, "the last renewal is capped at the session's end");

        clock.advance(Duration::from_secs(30 * 60));
        assert!(matches!(keys.verify(&token), Err(TokenError::LifetimeOver)));
        assert!(matches!(keys.renew(&first, "a@b.co"), Err(TokenError::LifetimeOver)));
    }

    #[test]
    fn a_remembered_token_still_expires_and_still_ends_with_its_session() {
        let clock = Clock::default();
        let keys = keys(&clock);
        let (token, _) = keys.sign_in(Uuid::new_v4(), "a@b.co", 0).unwrap();
        let first = keys.verify(&token).unwrap();
        assert_eq!(keys.remembered(), 1);
        assert_eq!(keys.verify(&token).unwrap(), first, "the same session from memory");
        clock.advance(HOUR + Duration::from_secs(LEEWAY_SECS as u64 + 1));
        assert!(matches!(keys.verify(&token), Err(TokenError::Expired)));

        let (renewed, _) = keys.renew(&first, "a@b.co").unwrap();
        assert!(keys.verify(&renewed).is_ok());
        clock.advance(2 * HOUR);
        assert!(matches!(keys.verify(&renewed), Err(TokenError::LifetimeOver)));
    }

    #[test]
    fn a_token_one_character_away_from_a_remembered_one_is_checked_and_refused() {
        let clock = Clock::default();
        let keys = keys(&clock);
        let (token, _) = keys.sign_in(Uuid::new_v4(), "a@b.co", 0).unwrap();
        keys.verify(&token).unwrap();
        // A character of the signature that carries six bits of it, changed.
        let (head, rest) = token.split_at(token.len() - 10);
        let tampered = format!("{head}{}{}", if rest.starts_with('A') { 'B' } else { 'A' }, &rest[1..]);
        assert!(matches!(keys.verify(&tampered), Err(TokenError::Invalid(_))));
        assert!(matches!(keys.verify(&format!("{token} ")), Err(TokenError::Invalid(_))));
        assert!(matches!(keys.verify(&token[..token.len() - 1]), Err(TokenError::Invalid(_))));
        assert_eq!(keys.remembered(), 1, "nothing that failed is remembered");
    }

    #[test]
    fn memory_is_bounded_and_forgets_expired_tokens_first() {
        let clock = Clock::default();
        let keys = keys(&clock);
        let (old, _) = keys.sign_in(Uuid::new_v4(), "a@b.co", 0).unwrap();
        keys.verify(&old).unwrap();
        clock.advance(HOUR + Duration::from_secs(LEEWAY_SECS as u64 + 1));
        let fresh: Vec<String> =
            (1..REMEMBERED_TOKENS).map(|i| keys.sign_in(Uuid::new_v4(), &format!("{i}@b.co"), 0).unwrap().0).collect();
        for token in &fresh {
            keys.verify(token).unwrap();
        }
        assert_eq!(keys.remembered(), REMEMBERED_TOKENS);
        let (one_more, _) = keys.sign_in(Uuid::new_v4(), "last@b.co", 0).unwrap();
        keys.verify(&one_more).unwrap();
        assert_eq!(keys.remembered(), REMEMBERED_TOKENS, "the expired one made room");
        let (another, _) = keys.sign_in(Uuid::new_v4(), "another@b.co", 0).unwrap();
        keys.verify(&another).unwrap();
        assert_eq!(keys.remembered(), 1, "none expired: all forgotten, the new one kept");
        for token in &fresh {
            keys.verify(token).unwrap();
        }
    }

    #[test]
    fn an_expired_token_is_rejected_after_the_leeway() {
        let clock = Clock::default();
        let keys = keys(&clock);
        let (token, _) = keys.sign_in(Uuid::new_v4(), "a@b.co", 0).unwrap();
        clock.advance(HOUR + Duration::from_secs(LEEWAY_SECS as u64 + 1));
        assert!(matches!(keys.verify(&token), Err(TokenError::Expired)));
    }
}
