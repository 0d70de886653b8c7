//! Connections the task list keeps between its requests, handed out again without the pool's
//! round trip.
//!
//! sqlx 0.8 pings every connection as it goes back to its pool (`return_to_pool` in
//! `sqlx-core`, "a band-aid" for a query future dropped half-way, which leaves unread answers
//! on the connection). Setting nothing turns that off, so a request of one statement makes two
//! round trips to PostgreSQL: on the cached task list, the second is a fifth of both processes'
//! CPU (docs/benchmarks.md). A connection whose statements all ran to the end has nothing
//! unread, so it is kept here instead and handed to the next request as it is; any other
//! (an error, a dropped future) goes back to the pool, which pings it as before.
//!
//! Kept connections stay checked out of the pool, so a replica still opens at most
//! `DATABASE_MAX_CONNECTIONS`. At most half of them are kept, so that the other routes always
//! have the other half; and none for longer than `KEEP_IDLE_AT_MOST`, the idle time after
//! which the pool checks a connection before use (a restarted database, a proxy that closes
//! idle connections), so a kept connection is never fresher in our eyes than in the pool's.
//! Every `RETURN_AFTER` of use one goes back through the pool anyway, where its maximum
//! lifetime is enforced.

use crate::db::PING_WHEN_IDLE_FOR;
use sqlx::{PgConnection, PgPool, Postgres, pool::PoolConnection};
use std::{
    ops::{Deref, DerefMut},
    sync::Mutex,
    time::{Duration, Instant},
};

/// The longest a connection is kept unused.
pub const KEEP_IDLE_AT_MOST: Duration = PING_WHEN_IDLE_FOR;

/// How long a connection is reused before it goes back through the pool once.
pub const RETURN_AFTER: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct WarmConnections {
    pool: PgPool,
    kept: Mutex<Vec<Kept>>,
    capacity: usize,
}

#[derive(Debug)]
struct Kept {
    connection: PoolConnection<Postgres>,
    taken_from_pool: Instant,
    idle_since: Instant,
}

impl WarmConnections {
    /// Keeps up to half of the pool's `max_connections` (none when that is 1).
    pub fn new(pool: PgPool) -> Self {
        let capacity = usize::try_from(pool.options().get_max_connections() / 2).unwrap_or(usize::MAX);
        Self { pool, kept: Mutex::new(Vec::with_capacity(capacity)), capacity }
    }

    /// A connection for statements that will all be awaited to the end: a kept one that was
    /// used less than `KEEP_IDLE_AT_MOST` ago, or one from the pool.
    pub async fn take(&self) -> Result<WarmConnection<'_>, sqlx::Error> {
        let now = Instant::now();
        let (fresh, stale) = {
            let mut kept = self.lock();
            // The most recently used is on top; anything left under a stale one is staler.
            let fresh = kept.pop().filter(|top| now.duration_since(top.idle_since) < KEEP_IDLE_AT_MOST);
            let stale = if fresh.is_none() { std::mem::take(&mut *kept) } else { Vec::new() };
            (fresh, stale)
        };
        // Back to the pool (which pings them), outside the lock.
        drop(stale);
        let (connection, taken_from_pool) = match fresh {
            Some(kept) => (kept.connection, kept.taken_from_pool),
            None => (self.pool.acquire().await?, Instant::now()),
        };
        Ok(WarmConnection { owner: self, connection, taken_from_pool })
    }

    /// Returns to the pool every connection kept unused for `KEEP_IDLE_AT_MOST` or longer.
    pub fn return_idle(&self) -> usize {
        let now = Instant::now();
        let idle: Vec<Kept> = {
            let mut kept = self.lock();
            let still_warm = kept.partition_point(|k| now.duration_since(k.idle_since) >= KEEP_IDLE_AT_MOST);
            kept.drain(..still_warm).collect()
        };
        idle.len()
    }

    /// Returns every kept connection to the pool: before the pool closes, which waits for
    /// all of its connections.
    pub fn return_all(&self) {
        let all = std::mem::take(&mut *self.lock());
        drop(all);
    }

    /// How many connections are kept now.
    pub fn kept(&self) -> usize {
        self.lock().len()
    }

    /// Every `KEEP_IDLE_AT_MOST`, returns the connections kept unused that long, so that a
    /// quiet replica holds none; returns them all and stops once the pool closes.
    pub async fn return_idle_until_closed(&self) {
        let mut every = tokio::time::interval(KEEP_IDLE_AT_MOST);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !self.pool.is_closed() {
            every.tick().await;
            self.return_idle();
        }
        self.return_all();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Kept>> {
        // Only pushes and pops happen under the lock: a panic cannot leave the list half-done.
        self.kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn keep(&self, connection: PoolConnection<Postgres>, taken_from_pool: Instant) {
        if taken_from_pool.elapsed() >= RETURN_AFTER || self.pool.is_closed() {
            return;
        }
        let mut kept = self.lock();
        // Read under the lock, so that the list is ordered by it: oldest at the bottom.
        let now = Instant::now();
        if kept.len() < self.capacity {
            kept.push(Kept { connection, taken_from_pool, idle_since: now });
        }
    }
}

/// A connection from `WarmConnections::take`. `done` keeps it for the next request; dropped
/// without `done` (an error, a cancelled request), it goes back to the pool, which pings it.
#[derive(Debug)]
pub struct WarmConnection<'a> {
    owner: &'a WarmConnections,
    connection: PoolConnection<Postgres>,
    taken_from_pool: Instant,
}

impl WarmConnection<'_> {
    /// Every statement on this connection was awaited to the end and succeeded.
    pub fn done(self) {
        self.owner.keep(self.connection, self.taken_from_pool);
    }
}

impl Deref for WarmConnection<'_> {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        &self.connection
    }
}

impl DerefMut for WarmConnection<'_> {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.connection
    }
}
