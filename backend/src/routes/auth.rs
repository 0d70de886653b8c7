//! `/api/auth/*`: sign-up, sign-in, the current user, token refresh, sign-out (this session
//! or every session) and password change.

use super::{
    extract::{Json, Peer},
    responses::{JsonBody, RateLimited, SignedIn, Unavailable},
};
use crate::{
    auth::{AuthUser, SESSION_LIFETIME_OVER, token::TokenError},
    domain::{Email, FieldErrors, Password, UserName},
    error::ApiError,
    state::AppState,
    store::users::{self, InsertUserError},
};
use api_types::{AuthResponse, ChangePasswordRequest, ErrorBody, SignInRequest, SignUpRequest, User};
use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
};

const WRONG_CREDENTIALS: &str = "wrong email or password";

/// A new session: a token that starts its lifetime now.
fn session(state: &AppState, user: users::UserRow) -> Result<AuthResponse, ApiError> {
    let (token, expires_at) =
        state.tokens.sign_in(user.id, &user.email, user.token_version).map_err(ApiError::internal)?;
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
    state.auth_rate_limit.check_address(&state.pool, peer, &headers).await?;
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
    state.auth_rate_limit.check_address(&state.pool, peer, &headers).await?;
    // A malformed email can belong to no account, so saying so tells nothing about who has one.
    let email = Email::parse(&request.email).map_err(|message| ApiError::invalid("email", message))?;
    let attempt = state.auth_rate_limit.take_account_attempt(&state.pool, email.as_str()).await?;
    let user = users::find_by_email(&state.pool, &email).await?;
    // An unknown email still costs one argon2 verification, so timing tells nothing.
    let stored = user.as_ref().map(|user| user.password_hash.clone());
    let matches = state.passwords.verify(&request.password, stored).await.map_err(ApiError::internal)?;
    match user {
        Some(user) if matches => {
            state.auth_rate_limit.succeeded(&state.pool, attempt).await?;
            Ok(axum::Json(session(&state, user)?))
        }
        _ => Err(ApiError::Unauthorized(WRONG_CREDENTIALS)),
    }
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/auth/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, description = "The account", body = User), SignedIn, Unavailable))]
pub async fn me(caller: AuthUser) -> axum::Json<User> {
    axum::Json(caller.account.into())
}

/// A fresh token for a valid one, in the same session: never past the session's maximum
/// lifetime from sign-in.
#[utoipa::path(post, path = "/api/auth/refresh", tag = "auth", security(("bearer" = [])),
    responses((status = 200, description = "A new token of the same session, never past its maximum lifetime", body = AuthResponse), SignedIn, Unavailable))]
pub async fn refresh(State(state): State<AppState>, caller: AuthUser) -> Result<axum::Json<AuthResponse>, ApiError> {
    let (token, expires_at) =
        state.tokens.renew(&caller.session, &caller.account.email).map_err(|error| match error {
            TokenError::LifetimeOver => ApiError::Unauthorized(SESSION_LIFETIME_OVER),
            other => ApiError::internal(other),
        })?;
    Ok(axum::Json(AuthResponse { user: caller.account.into(), token, expires_at }))
}

/// Sign out this session: its token (and any refreshed from it) stops working at once.
#[utoipa::path(post, path = "/api/auth/sign-out", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "Signed out"), SignedIn, Unavailable))]
pub async fn sign_out(State(state): State<AppState>, caller: AuthUser) -> Result<StatusCode, ApiError> {
    users::revoke_session(&state.pool, caller.id, caller.session.id, caller.session.ends_at).await?;
    tracing::info!(user_id = %caller.id, "signed out");
    Ok(StatusCode::NO_CONTENT)
}

/// Sign out every session of the account, on every device, this one included.
#[utoipa::path(post, path = "/api/auth/sign-out-everywhere", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "Every session of the account has ended"), SignedIn, Unavailable))]
pub async fn sign_out_everywhere(State(state): State<AppState>, caller: AuthUser) -> Result<StatusCode, ApiError> {
    users::end_all_sessions(&state.pool, caller.id, None)
        .await?
        .ok_or(ApiError::Unauthorized("this account no longer exists"))?;
    tracing::info!(user_id = %caller.id, "signed out everywhere");
    Ok(StatusCode::NO_CONTENT)
}

/// Change the password. Every session of the account ends, this one included; the answer
/// carries a new session for the caller.
#[utoipa::path(post, path = "/api/auth/password", tag = "auth", security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 200, description = "Password changed: a new session; every earlier token is revoked", body = AuthResponse),
        SignedIn, JsonBody, RateLimited, Unavailable,
    ))]
pub async fn change_password(
    State(state): State<AppState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    caller: AuthUser,
    Json(request): Json<ChangePasswordRequest>,
) -> Result<axum::Json<AuthResponse>, ApiError> {
    // A stolen token must not become a way to guess the password faster than sign-in allows:
    // the same limits, per address and per account (a wrong current password is a failure).
    state.auth_rate_limit.check_address(&state.pool, peer, &headers).await?;
    let new_password =
        Password::parse(&request.new_password).map_err(|message| ApiError::invalid("new_password", message))?;
    let attempt = state.auth_rate_limit.take_account_attempt(&state.pool, &caller.account.email).await?;
    const WRONG_CURRENT: &str = "is not your current password";
    // Longer than any password sign-up accepts: wrong without spending a hash on it.
    if request.current_password.chars().count() > Password::MAX_CHARS {
        return Err(ApiError::invalid("current_password", WRONG_CURRENT));
    }
    let stored = Some(caller.account.password_hash.clone());
    if !state.passwords.verify(&request.current_password, stored).await.map_err(ApiError::internal)? {
        return Err(ApiError::invalid("current_password", WRONG_CURRENT));
    }
    state.auth_rate_limit.succeeded(&state.pool, attempt).await?;
    if request.new_password == request.current_password {
        return Err(ApiError::invalid("new_password", "must differ from the current password"));
    }
    let hash = state.passwords.hash(&new_password).await.map_err(ApiError::internal)?;
    let user = users::end_all_sessions(&state.pool, caller.id, Some(&hash))
        .await?
        .ok_or(ApiError::Unauthorized("this account no longer exists"))?;
    tracing::info!(user_id = %user.id, "password changed: every session ended");
    Ok(axum::Json(session(&state, user)?))
}
