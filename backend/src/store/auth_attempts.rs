//! The counters of the sign-in and sign-up rate limits (`auth_attempts`): fixed windows per
//! key, shared by every replica.

use sqlx::PgPool;
use std::time::Duration;

/// A key's window after counting one attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// Attempts in the window, this one included (never above `limit + 1`).
    pub attempts: i32,
    /// When the window ends, as PostgreSQL's clock has it.
    pub ends_at: chrono::DateTime<chrono::Utc>,
    /// How long until then.
    pub remaining: Duration,
}

/// Counts one attempt against `key` in a window of `window` that starts with the key's first
/// attempt. One statement: concurrent attempts on any replica are serialised on the key's row,
/// so exactly `limit` of them see `attempts <= limit`. The count stops at `limit + 1`, which is
/// all a caller needs to know, so an attacker cannot overflow it.
pub async fn count(pool: &PgPool, key: &str, window: Duration, limit: u32) -> Result<Window, sqlx::Error> {
    let limit = i32::try_from(limit).unwrap_or(i32::MAX - 1).min(i32::MAX - 1);
    let (attempts, ends_at, remaining): (i32, chrono::DateTime<chrono::Utc>, f64) = sqlx::query_as(
        "INSERT INTO auth_attempts AS a (key, attempts, window_ends_at) \
         VALUES (sha256(convert_to($1, 'UTF8')), 1, now() + make_interval(secs => $2)) \
         ON CONFLICT (key) DO UPDATE SET \
             attempts = CASE WHEN a.window_ends_at <= now() THEN 1 ELSE LEAST(a.attempts, $3) + 1 END, \
             window_ends_at = CASE WHEN a.window_ends_at <= now() THEN EXCLUDED.window_ends_at \
                                   ELSE a.window_ends_at END \
         RETURNING attempts, window_ends_at, EXTRACT(EPOCH FROM window_ends_at - now())::float8",
    )
    .bind(key)
    .bind(window.as_secs_f64())
    .bind(limit)
    .fetch_one(pool)
    .await?;
    Ok(Window { attempts, ends_at, remaining: Duration::from_secs_f64(remaining.max(0.0)) })
}

/// Takes back one attempt counted in `window` of `key`, if that window is still the current
/// one (a later window's count belongs to later attempts).
pub async fn uncount(pool: &PgPool, key: &str, window: &Window) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE auth_attempts SET attempts = attempts - 1 \
         WHERE key = sha256(convert_to($1, 'UTF8')) AND window_ends_at = $2 AND attempts > 0",
    )
    .bind(key)
    .bind(window.ends_at)
    .execute(pool)
    .await?;
    Ok(())
}

/// Deletes the windows that have ended; returns how many.
pub async fn purge_ended(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let deleted = sqlx::query("DELETE FROM auth_attempts WHERE window_ends_at <= now()").execute(pool).await?;
    Ok(deleted.rows_affected())
}
