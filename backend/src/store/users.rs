use crate::domain::{Email, UserName};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub created_at: DateTime<Utc>,
}

impl From<UserRow> for api_types::User {
    fn from(row: UserRow) -> Self {
        Self { id: row.id.to_string(), email: row.email, name: row.name, created_at: row.created_at }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InsertUserError {
    #[error("an account with this email exists")]
    EmailTaken,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

pub async fn insert(
    pool: &PgPool,
    email: &Email,
    name: &UserName,
    password_hash: &str,
) -> Result<UserRow, InsertUserError> {
    sqlx::query_as(
        "INSERT INTO users (email, name, password_hash) VALUES ($1, $2, $3) \
         RETURNING id, email, name, password_hash, created_at",
    )
    .bind(email.as_str())
    .bind(name.as_str())
    .bind(password_hash)
    .fetch_one(pool)
    .await
    .map_err(|error| match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => InsertUserError::EmailTaken,
        _ => InsertUserError::Database(error),
    })
}

pub async fn find_by_email(pool: &PgPool, email: &Email) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as("SELECT id, email, name, password_hash, created_at FROM users WHERE email = $1")
        .bind(email.as_str())
        .fetch_optional(pool)
        .await
}

pub async fn find_by_id(pool: &PgPool, id: Uuid) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as("SELECT id, email, name, password_hash, created_at FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
}
