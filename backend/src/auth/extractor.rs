use super::token::{Session, TokenError, TokenKeys};
use crate::{
    error::ApiError,
    state::AppState,
    store::users::{self, OpenSession, UserRow},
};
use axum::{
    extract::{FromRef, FromRequestParts, Path, path::ErrorKind, rejection::PathRejection},
    http::{header, request::Parts},
};
use serde::Deserialize;
use uuid::Uuid;

/// The caller, proven by a valid bearer token of a session that is still open. Taking this as
/// an argument is what makes a route protected: REST, the chat and `/mcp` all come through here.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub id: Uuid,
    /// The session the token belongs to.
    pub session: Session,
    /// The account as the database has it now, loaded by the session check itself, so that
    /// handlers about the account need no second query.
    pub account: UserRow,
}

pub const SESSION_LIFETIME_OVER: &str = "the session has reached its maximum lifetime since sign-in: sign in again";
const SESSION_SIGNED_OUT: &str = "this session was signed out: sign in again";
const SESSIONS_ENDED: &str = "this session was ended by a password change or by signing out everywhere: sign in again";

impl<S> FromRequestParts<S> for AuthUser
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let session = verified_session(parts, &state)?;
        AuthUser::check(&state, session).await
    }
}

impl AuthUser {
    /// Checks `session` against the database: the account exists, its token version is the
    /// token's, and the session was not signed out.
    async fn check(state: &AppState, session: Session) -> Result<Self, ApiError> {
        // Every authenticated request pays for this one indexed query (or carries its conditions
        // in its own query, see `ClaimedPath`): revocation has to be seen by every replica at
        // once, and the database is the state they share.
        let (account, signed_out) = users::find_for_session(&state.pool, session.user_id, session.id)
            .await?
            .ok_or(ApiError::Unauthorized("this account no longer exists"))?;
        if account.token_version != session.version {
            return Err(ApiError::Unauthorized(SESSIONS_ENDED));
        }
        if signed_out {
            return Err(ApiError::Unauthorized(SESSION_SIGNED_OUT));
        }
        Ok(AuthUser { id: session.user_id, session, account })
    }
}

/// The session of the request's bearer token, its signature and lifetimes checked; whether it
/// is still open is the database's to say.
fn verified_session(parts: &Parts, state: &AppState) -> Result<Session, ApiError> {
    let header = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::Unauthorized("missing Authorization header: send `Bearer <token>`"))?;
    let token = header
        .to_str()
        .ok()
        .and_then(|value| value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|token| !token.is_empty())
        .ok_or(ApiError::Unauthorized("the Authorization header must be `Bearer <token>`"))?;
    let keys: &TokenKeys = &state.tokens;
    keys.verify(token).map_err(|error| {
        tracing::debug!(%error, "token rejected");
        match error {
            TokenError::LifetimeOver => ApiError::Unauthorized(SESSION_LIFETIME_OVER),
            _ => ApiError::Unauthorized("the token is invalid or expired: sign in again"),
        }
    })
}

const ANOTHER_USER: &str = "this token belongs to another user";

#[derive(Debug, Deserialize)]
struct UserPath {
    user_id: String,
}

/// The caller, checked against the `{user_id}` in the path: a token only opens its own
/// user's routes (403 otherwise).
#[derive(Debug, Clone)]
pub struct OwnedPath(pub AuthUser);

impl<S> FromRequestParts<S> for OwnedPath
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        check_path_user(parts, state, user.id).await?;
        Ok(OwnedPath(user))
    }
}

/// 403 unless the path's `{user_id}` is `user`.
async fn check_path_user<S: Send + Sync>(parts: &mut Parts, state: &S, user: Uuid) -> Result<(), ApiError> {
    let Path(path) = Path::<UserPath>::from_request_parts(parts, state).await.map_err(|rejection| match rejection {
        // A `{user_id}` that is not even UTF-8 is not this token's user either.
        PathRejection::FailedToDeserializePathParams(error)
            if matches!(error.kind(), ErrorKind::InvalidUtf8InPathParam { key } if key == "user_id") =>
        {
            ApiError::Forbidden(ANOTHER_USER)
        }
        _ => ApiError::NotFound("no such route".to_owned()),
    })?;
    if Uuid::parse_str(&path.user_id).ok() != Some(user) {
        return Err(ApiError::Forbidden(ANOTHER_USER));
    }
    Ok(())
}

/// Like `OwnedPath`, but the session is not yet checked against the database: the handler's
/// own query carries that check (`Claim::open_session`), which saves a statement and a round
/// trip on the hottest route. A handler that gets no rows back must call `Claim::confirm`
/// before answering anything, so a closed session is still refused (401) and never sees an
/// empty page or a validation error instead.
#[derive(Debug)]
pub struct ClaimedPath(pub Claim);

/// A verified token for this path's user whose session is still to be checked.
#[derive(Debug)]
pub struct Claim(Session);

impl Claim {
    /// The conditions under which the session is open, for a query to carry.
    pub fn open_session(&self) -> OpenSession {
        OpenSession { user_id: self.0.user_id, session_id: self.0.id, version: self.0.version }
    }

    /// The full check, with the reason when the session is closed.
    pub async fn confirm(self, state: &AppState) -> Result<AuthUser, ApiError> {
        AuthUser::check(state, self.0).await
    }
}

impl<S> FromRequestParts<S> for ClaimedPath
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let app = AppState::from_ref(state);
        let session = verified_session(parts, &app)?;
        if let Err(error) = check_path_user(parts, state, session.user_id).await {
            // Same order as `OwnedPath`: a closed session is 401 before another user's path is 403.
            AuthUser::check(&app, session).await?;
            return Err(error);
        }
        Ok(ClaimedPath(Claim(session)))
    }
}
