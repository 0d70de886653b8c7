//! Where and when the person is, read once per chat turn: their time zone (the browser's, sent
//! with the message; UTC without one) and their local "now", so that "tomorrow at 5pm" means
//! 17:00 where they live.

use crate::{domain::ZoneName, store::zones};
use chrono::{DateTime, NaiveDateTime, Utc};
use sqlx::PgPool;

#[derive(Debug, Clone)]
pub struct Clock {
    zone: Option<ZoneName>,
    now: NaiveDateTime,
}

#[derive(Debug, thiserror::Error)]
pub enum ClockError {
    #[error("unknown time zone {0:?}: use an IANA name such as Europe/Paris")]
    UnknownZone(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl Clock {
    /// UTC, read from the system clock: no database needed (MCP, and chats without a zone).
    pub fn utc() -> Self {
        Self { zone: None, now: Utc::now().naive_utc() }
    }

    /// The clock of `zone`: one query for the local time, and one per process for the list of
    /// zones.
    pub async fn of(pool: &PgPool, zone: Option<ZoneName>) -> Result<Self, ClockError> {
        let Some(zone) = zone else { return Ok(Self::utc()) };
        if !zones::exists(pool, &zone).await? {
            return Err(ClockError::UnknownZone(zone.as_str().to_owned()));
        }
        let now = zones::local_now(pool, &zone).await?;
        Ok(Self { zone: Some(zone), now })
    }

    /// A clock fixed at `now` in UTC, for tests of what reads it.
    #[cfg(test)]
    pub fn fixed_utc(now: NaiveDateTime) -> Self {
        Self { zone: None, now }
    }

    /// The person's wall-clock time now.
    pub fn now(&self) -> NaiveDateTime {
        self.now
    }

    pub fn zone_name(&self) -> &str {
        self.zone.as_ref().map_or("UTC", ZoneName::as_str)
    }

    /// The instant a wall-clock time of the person's names (a query, unless in UTC).
    pub async fn instant(&self, pool: &PgPool, wall: NaiveDateTime) -> Result<DateTime<Utc>, sqlx::Error> {
        match &self.zone {
            None => Ok(wall.and_utc()),
            Some(zone) => zones::instant(pool, wall, zone).await,
        }
    }
}
