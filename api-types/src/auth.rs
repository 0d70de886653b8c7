use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `POST /api/auth/sign-up`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"email": "ada@example.com", "password": "analytical engine", "name": "Ada"})))]
pub struct SignUpRequest {
    pub email: String,
    /// At least 8 characters, at most 128.
    pub password: String,
    pub name: String,
}

/// `POST /api/auth/sign-in`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"email": "ada@example.com", "password": "analytical engine"})))]
pub struct SignInRequest {
    pub email: String,
    pub password: String,
}

/// A signed-in session: the account and a bearer token for every other call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuthResponse {
    pub user: User,
    /// JWT (HS256); send as `Authorization: Bearer <token>`.
    pub token: String,
    #[serde(with = "crate::timestamp")]
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    /// The `{user_id}` of every task and chat route.
    pub id: String,
    pub email: String,
    pub name: String,
    #[serde(with = "crate::timestamp")]
    pub created_at: DateTime<Utc>,
}

/// `POST /api/auth/password`: answered with a fresh `AuthResponse`; every other session of
/// the account ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangePasswordRequest {
    pub current_password: String,
    /// The sign-up rules: at least 8 characters, at most 128.
    pub new_password: String,
}
