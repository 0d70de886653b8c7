//! The connection pool and the schema migrations embedded in the binary.

use crate::config::Config;
use sqlx::{
    Connection, PgPool,
    migrate::{MigrateError, Migrator},
    postgres::PgPoolOptions,
};
use std::{collections::BTreeSet, time::Duration};

/// Every migration in `backend/migrations`, compiled in: an image carries its own schema.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// A pool that connects on first use, so the server starts (and answers `/healthz`) while
/// the database is still coming up.
pub fn lazy_pool(config: &Config) -> PgPool {
    PgPoolOptions::new()
        .max_connections(config.database_max_connections)
        .acquire_timeout(Duration::from_secs(3))
        // sqlx pings every connection it takes from the pool by default: one more round trip to
        // PostgreSQL per query, about a third of the database's and the backend's CPU on the
        // task list. A connection that answered less than PING_WHEN_IDLE_FOR ago is used
        // as it is; one that sat idle longer (where a restart or an idle-killing proxy goes
        // unnoticed) is still pinged, and replaced if the ping fails.
        .test_before_acquire(false)
        .before_acquire(|connection, metadata| {
            Box::pin(async move {
                if metadata.idle_for >= PING_WHEN_IDLE_FOR {
                    connection.ping().await?;
                }
                Ok(true)
            })
        })
        .connect_lazy_with(config.database.clone())
}

/// How long a pooled connection may sit idle before it is pinged again on its way out.
pub const PING_WHEN_IDLE_FOR: Duration = Duration::from_secs(1);

/// Applies pending migrations, retrying with backoff until it succeeds. Safe with many
/// replicas: sqlx holds a PostgreSQL advisory lock while it migrates, so exactly one applies
/// each migration and the others find it done.
pub async fn migrate_until_applied(pool: &PgPool) {
    let mut delay = Duration::from_millis(250);
    loop {
        match MIGRATOR.run(pool).await {
            Ok(()) => {
                tracing::info!(migrations = MIGRATOR.iter().count(), "database schema is up to date");
                return;
            }
            Err(error) => {
                tracing::warn!(%error, retry_in_ms = delay.as_millis() as u64, "could not apply migrations");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateOnceError {
    #[error("the database named by DATABASE_URL did not answer within {0:?}")]
    Unreachable(Duration, #[source] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] MigrateError),
}

/// The `backend migrate` job: waits up to a minute for the database (it may be starting
/// alongside), applies what is pending, and reports how many migrations the binary knows.
pub async fn migrate_once(config: &Config) -> Result<usize, MigrateOnceError> {
    let patience = Duration::from_secs(60);
    let pool = lazy_pool(config);
    let started = tokio::time::Instant::now();
    loop {
        match pool.acquire().await {
            Ok(_) => break,
            Err(error) if started.elapsed() >= patience => {
                return Err(MigrateOnceError::Unreachable(patience, error));
            }
            Err(error) => {
                tracing::info!(%error, "waiting for the database");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    MIGRATOR.run(&pool).await?;
    pool.close().await;
    Ok(MIGRATOR.iter().count())
}

/// What the database says about the migrations this binary carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    pub known: usize,
    pub pending: Vec<i64>,
    pub failed: Vec<i64>,
}

impl MigrationStatus {
    pub fn is_complete(&self) -> bool {
        self.pending.is_empty() && self.failed.is_empty()
    }
}

/// Reads `_sqlx_migrations`. A database without that table has every migration pending.
pub async fn migration_status(pool: &PgPool) -> Result<MigrationStatus, sqlx::Error> {
    let rows: Vec<(i64, bool)> =
        match sqlx::query_as("SELECT version, success FROM _sqlx_migrations").fetch_all(pool).await {
            Ok(rows) => rows,
            Err(sqlx::Error::Database(error)) if error.code().as_deref() == Some("42P01") => vec![],
            Err(error) => return Err(error),
        };
    let applied: BTreeSet<i64> = rows.iter().filter(|(_, success)| *success).map(|(version, _)| *version).collect();
    let failed = rows.iter().filter(|(_, success)| !success).map(|(version, _)| *version).collect();
    let known: Vec<i64> = MIGRATOR.iter().filter(|m| m.migration_type.is_up_migration()).map(|m| m.version).collect();
    let pending = known.iter().copied().filter(|version| !applied.contains(version)).collect();
    Ok(MigrationStatus { known: known.len(), pending, failed })
}
