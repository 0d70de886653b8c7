//! Time zones, from PostgreSQL's copy of the tz database: the backend image is `FROM scratch`
//! and carries none, and a crate with its own copy would cost more than the image can spare.

use crate::domain::ZoneName;
use chrono::{DateTime, NaiveDateTime, Utc};
use sqlx::PgPool;
use std::{collections::HashSet, sync::OnceLock};

/// The zone names PostgreSQL knows, read once per process: `pg_timezone_names` reads every
/// zone file (100 to 400 ms here), far too slow for each chat turn, and the list only changes
/// with the server's tz data. `AT TIME ZONE` alone cannot tell a real zone, since it also takes
/// abbreviations ("PST") and POSIX rules ("FOO3").
static KNOWN: OnceLock<HashSet<String>> = OnceLock::new();

/// Whether `zone` is a time zone PostgreSQL knows.
pub async fn exists(pool: &PgPool, zone: &ZoneName) -> Result<bool, sqlx::Error> {
    if let Some(known) = KNOWN.get() {
        return Ok(known.contains(zone.as_str()));
    }
    let names: Vec<String> = sqlx::query_scalar("SELECT name FROM pg_timezone_names").fetch_all(pool).await?;
    // Two first turns may both read the list; either copy is the same.
    let known = KNOWN.get_or_init(|| names.into_iter().collect());
    Ok(known.contains(zone.as_str()))
}

/// The wall-clock time in `zone` now.
pub async fn local_now(pool: &PgPool, zone: &ZoneName) -> Result<NaiveDateTime, sqlx::Error> {
    sqlx::query_scalar("SELECT now() AT TIME ZONE $1").bind(zone.as_str()).fetch_one(pool).await
}

/// The instant a wall-clock time in `zone` names. A time the clocks skip (02:30 when summer
/// time starts) reads as the offset before the change, so it lands an hour later; a time that
/// happens twice (when summer time ends) reads as the later, standard-time one. Both are
/// PostgreSQL's rules.
pub async fn instant(pool: &PgPool, wall: NaiveDateTime, zone: &ZoneName) -> Result<DateTime<Utc>, sqlx::Error> {
    sqlx::query_scalar("SELECT $1::timestamp AT TIME ZONE $2").bind(wall).bind(zone.as_str()).fetch_one(pool).await
}
