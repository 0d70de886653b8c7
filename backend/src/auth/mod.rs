//! Accounts and tokens: argon2id password hashes, HS256 JWTs, the `AuthUser` extractor that
//! every protected route takes, and the rate limit on sign-in and sign-up.

mod extractor;
mod hs256;
pub mod password;
pub mod rate_limit;
pub mod token;

pub use extractor::{AuthUser, Claim, ClaimedPath, OwnedPath, SESSION_LIFETIME_OVER};
pub use token::{Claims, Clock, Session, TokenKeys};
