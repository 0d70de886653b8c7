use super::token::TokenKeys;
use crate::{error::ApiError, state::AppState};
use axum::{
    extract::{FromRef, FromRequestParts, Path, path::ErrorKind, rejection::PathRejection},
    http::{header, request::Parts},
};
use serde::Deserialize;
use uuid::Uuid;

/// The caller, proven by a valid bearer token. Taking this as an argument is what makes a
/// route protected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUser {
    pub id: Uuid,
    pub email: String,
}

impl<S> FromRequestParts<S> for AuthUser
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
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
        let (claims, id) = keys.verify(token).map_err(|error| {
            tracing::debug!(%error, "token rejected");
            ApiError::Unauthorized("the token is invalid or expired: sign in again")
        })?;
        Ok(AuthUser { id, email: claims.email })
    }
}

const ANOTHER_USER: &str = "this token belongs to another user";

#[derive(Debug, Deserialize)]
struct UserPath {
    user_id: String,
}

/// The caller, checked against the `{user_id}` in the path: a token only opens its own
/// user's routes (403 otherwise).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedPath(pub AuthUser);

impl<S> FromRequestParts<S> for OwnedPath
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        let Path(path) = Path::<UserPath>::from_request_parts(parts, state).await.map_err(|rejection| match rejection {
            // A `{user_id}` that is not even UTF-8 is not this token's user either.
            PathRejection::FailedToDeserializePathParams(error)
                if matches!(error.kind(), ErrorKind::InvalidUtf8InPathParam { key } if key == "user_id") =>
            {
                ApiError::Forbidden(ANOTHER_USER)
            }
            _ => ApiError::NotFound("no such route".to_owned()),
        })?;
        if Uuid::parse_str(&path.user_id).ok() != Some(user.id) {
            return Err(ApiError::Forbidden(ANOTHER_USER));
        }
        Ok(OwnedPath(user))
    }
}
