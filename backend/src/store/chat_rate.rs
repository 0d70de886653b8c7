//! The per-user chat rate limit: a token bucket per user in PostgreSQL, so that replicas share
//! it. It holds `per_minute` turns and refills at `per_minute` a minute.

use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

/// Takes one turn from `user`'s bucket: `None` when allowed, else how long until a turn is.
/// One statement, so two replicas counting the same user at once cannot both take the last turn.
pub async fn take(pool: &PgPool, user: Uuid, per_minute: u32) -> Result<Option<Duration>, sqlx::Error> {
    let per_minute = f64::from(per_minute);
    let (allowed, tokens): (bool, f64) = sqlx::query_as(
        "INSERT INTO chat_rate_buckets AS b (user_id, tokens, allowed, updated_at) VALUES ($1, $2 - 1, true, now()) \
         ON CONFLICT (user_id) DO UPDATE SET (tokens, allowed, updated_at) = ( \
             SELECT refilled - CASE WHEN refilled >= 1 THEN 1 ELSE 0 END, refilled >= 1, now() \
             FROM (SELECT LEAST($2, b.tokens + EXTRACT(EPOCH FROM now() - b.updated_at)::float8 * $2 / 60) \
                   AS refilled) AS bucket) \
         RETURNING allowed, tokens",
    )
    .bind(user)
    .bind(per_minute)
    .fetch_one(pool)
    .await?;
    if allowed {
        return Ok(None);
    }
    // The time until the bucket holds one whole turn again, in whole seconds (Retry-After).
    let seconds = ((1.0 - tokens) * 60.0 / per_minute).ceil().max(1.0);
    Ok(Some(Duration::from_secs_f64(seconds)))
}
