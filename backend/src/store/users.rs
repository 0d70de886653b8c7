use crate::domain::{Email, UserName};
use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub created_at: DateTime<Utc>,
    /// Carried in every token; raising it ends every session of the account.
    pub token_version: i64,
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
         RETURNING id, email, name, password_hash, created_at, token_version",
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
    sqlx::query_as("SELECT id, email, name, password_hash, created_at, token_version FROM users WHERE email = $1")
        .bind(email.as_str())
        .fetch_optional(pool)
        .await
}

pub async fn find_by_id(pool: &PgPool, id: Uuid) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as("SELECT id, email, name, password_hash, created_at, token_version FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// The account behind a token and whether its session was signed out: the one query every
/// authenticated request makes, two primary-key lookups in one round trip.
pub async fn find_for_session(
    pool: &PgPool,
    id: Uuid,
    session_id: Uuid,
) -> Result<Option<(UserRow, bool)>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Found {
        #[sqlx(flatten)]
        user: UserRow,
        revoked: bool,
    }
    let found: Option<Found> = sqlx::query_as(
        "SELECT id, email, name, password_hash, created_at, token_version, \
         EXISTS (SELECT 1 FROM revoked_sessions WHERE session_id = $2) AS revoked \
         FROM users WHERE id = $1",
    )
    .bind(id)
    .bind(session_id)
    .fetch_optional(pool)
    .await?;
    Ok(found.map(|found| (found.user, found.revoked)))
}

/// A session as its token names it, for a query that only runs while the session is open.
#[derive(Debug, Clone, Copy)]
pub struct OpenSession {
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub version: i64,
}

/// Appends ` AND <the session is open>` to a WHERE clause: the same facts `find_for_session`
/// reads (the account exists at the token's version, the session was not signed out), as
/// conditions that do not depend on the row, so PostgreSQL tests them once before reading any.
pub fn push_session_open(query: &mut QueryBuilder<'_, Postgres>, session: OpenSession) {
    query
        .push(" AND EXISTS (SELECT 1 FROM users WHERE users.id = ")
        .push_bind(session.user_id)
        .push(" AND users.token_version = ")
        .push_bind(session.version)
        .push(") AND NOT EXISTS (SELECT 1 FROM revoked_sessions WHERE revoked_sessions.session_id = ")
        .push_bind(session.session_id)
        .push(")");
}

/// Signs out one session until its absolute end, and forgets the user's signed-out sessions
/// that have ended on their own since.
pub async fn revoke_session(
    pool: &PgPool,
    user_id: Uuid,
    session_id: Uuid,
    until: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let mut transaction = pool.begin().await?;
    sqlx::query("DELETE FROM revoked_sessions WHERE user_id = $1 AND until < now()")
        .bind(user_id)
        .execute(&mut *transaction)
        .await?;
    sqlx::query("INSERT INTO revoked_sessions (session_id, user_id, until) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
        .bind(session_id)
        .bind(user_id)
        .bind(until)
        .execute(&mut *transaction)
        .await?;
    transaction.commit().await
}

/// Ends every session of the account, optionally setting a new password hash in the same
/// statement; the one-by-one sign-outs are moot after it. `None` when the account is gone.
pub async fn end_all_sessions(
    pool: &PgPool,
    user_id: Uuid,
    new_password_hash: Option<&str>,
) -> Result<Option<UserRow>, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    let user: Option<UserRow> = sqlx::query_as(
        "UPDATE users SET token_version = token_version + 1, \
         password_hash = COALESCE($2, password_hash), updated_at = now() WHERE id = $1 \
         RETURNING id, email, name, password_hash, created_at, token_version",
    )
    .bind(user_id)
    .bind(new_password_hash)
    .fetch_optional(&mut *transaction)
    .await?;
    sqlx::query("DELETE FROM revoked_sessions WHERE user_id = $1").bind(user_id).execute(&mut *transaction).await?;
    transaction.commit().await?;
    Ok(user)
}
