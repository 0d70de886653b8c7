//! `/api/auth/*`: sign-up, sign-in, the current user, token refresh.

use super::{
    extract::{Json, Peer},
    responses::{JsonBody, RateLimited, SignedIn, Unavailable},
};
use crate::{
    auth::AuthUser,
    domain::{Email, FieldErrors, Password, UserName},
    error::ApiError,
    state::AppState,
    store::users::{self, InsertUserError},
};
use api_types::{AuthResponse, ErrorBody, SignInRequest, SignUpRequest, User};
use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
};

const WRONG_CREDENTIALS: &str = "wrong email or password";

fn session(state: &AppState, user: users::UserRow) -> Result<AuthResponse, ApiError> {
    let (token, expires_at) = state.tokens.issue(user.id, &user.email).map_err(ApiError::internal)?;
    Ok(AuthResponse { user: user.into(), token, expires_at })
}

/// Create an account and sign in.
#[utoipa::path(post, path = "/api/auth/sign-up", tag = "auth", request_body = SignUpRequest,
    responses(
        (status = 201, description = "Account created", body = AuthResponse),
        (status = 409, description = "`conflict`: the email has an account", body = ErrorBody),
        JsonBody, RateLimited, Unavailable,
    ))]
pub async fn sign_up(
    State(state): State<AppState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    Json(request): Json<SignUpRequest>,
) -> Result<(StatusCode, axum::Json<AuthResponse>), ApiError> {
    state.auth_rate_limit.check(state.auth_rate_limit.client_address(peer, &headers))?;
    let mut errors = FieldErrors::default();
    let email = errors.check("email", Email::parse(&request.email));
    let password = errors.check("password", Password::parse(&request.password));
    let name = errors.check("name", UserName::parse(&request.name));
    let (Some(email), Some(password), Some(name)) = (email, password, name) else {
        return Err(errors.into());
    };
    let hash = state.passwords.hash(&password).await.map_err(ApiError::internal)?;
    let user = users::insert(&state.pool, &email, &name, &hash).await.map_err(|error| match error {
        InsertUserError::EmailTaken => ApiError::Conflict("an account with this email already exists: sign in instead"),
        InsertUserError::Database(error) => error.into(),
    })?;
    tracing::info!(user_id = %user.id, "account created");
    Ok((StatusCode::CREATED, axum::Json(session(&state, user)?)))
}

/// Sign in with email and password.
#[utoipa::path(post, path = "/api/auth/sign-in", tag = "auth", request_body = SignInRequest,
    responses(
        (status = 200, description = "Signed in", body = AuthResponse),
        (status = 401, description = "`unauthorized`: wrong email or password (never says which)", body = ErrorBody),
        JsonBody, RateLimited, Unavailable,
    ))]
pub async fn sign_in(
    State(state): State<AppState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    Json(request): Json<SignInRequest>,
) -> Result<axum::Json<AuthResponse>, ApiError> {
    state.auth_rate_limit.check(state.auth_rate_limit.client_address(peer, &headers))?;
    // A malformed email can belong to no account, so saying so tells nothing about who has one.
    let email = Email::parse(&request.email).map_err(|message| ApiError::invalid("email", message))?;
    let user = users::find_by_email(&state.pool, &email).await?;
    // An unknown email still costs one argon2 verification, so timing tells nothing.
    let stored = user.as_ref().map(|user| user.password_hash.clone());
    let matches = state.passwords.verify(&request.password, stored).await.map_err(ApiError::internal)?;
    match user {
        Some(user) if matches => Ok(axum::Json(session(&state, user)?)),
        _ => Err(ApiError::Unauthorized(WRONG_CREDENTIALS)),
    }
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/auth/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, description = "The account", body = User), SignedIn, Unavailable))]
pub async fn me(State(state): State<AppState>, caller: AuthUser) -> Result<axum::Json<User>, ApiError> {
    let user = users::find_by_id(&state.pool, caller.id)
        .await?
        .ok_or(ApiError::Unauthorized("this account no longer exists"))?;
    Ok(axum::Json(user.into()))
}

/// A fresh token for a valid one.
#[utoipa::path(post, path = "/api/auth/refresh", tag = "auth", security(("bearer" = [])),
    responses((status = 200, description = "A new token", body = AuthResponse), SignedIn, Unavailable))]
pub async fn refresh(State(state): State<AppState>, caller: AuthUser) -> Result<axum::Json<AuthResponse>, ApiError> {
    let user = users::find_by_id(&state.pool, caller.id)
        .await?
        .ok_or(ApiError::Unauthorized("this account no longer exists"))?;
    Ok(axum::Json(session(&state, user)?))
}
