//! The limits on sign-in and sign-up, against password guessing: attempts per client address
//! (sign-up and sign-in) and failed sign-ins per account, both counted in PostgreSQL so that
//! every replica enforces the same numbers.
//!
//! The client address is read `TRUSTED_PROXY_HOPS` entries from the right of
//! `X-Forwarded-For`: each proxy we run appends the address it received the request from, so
//! the entries at the right were written by our proxies and everything further left by
//! whoever sent the request.

use crate::{error::ApiError, store::auth_attempts};
use axum::http::HeaderMap;
use sqlx::PgPool;
use std::{
    borrow::Cow,
    net::{IpAddr, Ipv6Addr, SocketAddr},
    num::NonZeroU32,
    time::Duration,
};

/// The most `TRUSTED_PROXY_HOPS` accepts: more proxies than this in front of one backend is a
/// typo, not a deployment.
pub const MAX_TRUSTED_PROXY_HOPS: u8 = 10;

/// The per-address window: `AUTH_RATE_LIMIT_PER_MINUTE` counts attempts per minute.
const ADDRESS_WINDOW: Duration = Duration::from_secs(60);

/// How often each replica deletes ended windows.
const PURGE_INTERVAL: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct AuthRateLimit {
    per_address_per_minute: NonZeroU32,
    trusted_proxy_hops: u8,
    failures_per_account: NonZeroU32,
    failure_window: Duration,
}

/// An attempt counted against an account, given back if it succeeds.
#[derive(Debug)]
#[must_use = "a successful sign-in gives its attempt back"]
pub struct AccountAttempt {
    key: String,
    window: auth_attempts::Window,
}

impl AuthRateLimit {
    pub fn new(
        per_address_per_minute: NonZeroU32,
        trusted_proxy_hops: u8,
        failures_per_account: NonZeroU32,
        failure_window: Duration,
    ) -> Self {
        Self { per_address_per_minute, trusted_proxy_hops, failures_per_account, failure_window }
    }

    /// Counts one sign-in or sign-up attempt from the request's client address; 429 with the
    /// wait when the address has used its minute. A request without any address (a router
    /// served without connect info) is not counted.
    pub async fn check_address(
        &self,
        pool: &PgPool,
        peer: Option<IpAddr>,
        headers: &HeaderMap,
    ) -> Result<(), ApiError> {
        let Some(address) = client_address(self.trusted_proxy_hops, peer, headers) else { return Ok(()) };
        let key = format!("address:{}", bucket(address));
        let window = auth_attempts::count(pool, &key, ADDRESS_WINDOW, self.per_address_per_minute.get()).await?;
        allowed(&window, self.per_address_per_minute)
    }

    /// Counts one sign-in attempt against `email`, before its password is checked: so that
    /// concurrent guesses cannot all pass a count none of them has added to yet, and so that
    /// the right password waits out a lockout like a wrong one. Unknown emails are counted the
    /// same way, so the 429 says nothing about which accounts exist.
    /// `email` is normalised: `Email::as_str`, or a stored account's email (stored normalised).
    pub async fn take_account_attempt(&self, pool: &PgPool, email: &str) -> Result<AccountAttempt, ApiError> {
        let key = format!("account:{email}");
        let window = auth_attempts::count(pool, &key, self.failure_window, self.failures_per_account.get()).await?;
        allowed(&window, self.failures_per_account)?;
        Ok(AccountAttempt { key, window })
    }

    /// Gives a successful sign-in's attempt back: only failures count against an account.
    /// Its own attempt and no more, so that a user signing in does not wipe the failures an
    /// attacker has run up (which would also tell the attacker that the account exists).
    pub async fn succeeded(&self, pool: &PgPool, attempt: AccountAttempt) -> Result<(), ApiError> {
        auth_attempts::uncount(pool, &attempt.key, &attempt.window).await?;
        Ok(())
    }
}

fn allowed(window: &auth_attempts::Window, limit: NonZeroU32) -> Result<(), ApiError> {
    if i64::from(window.attempts) <= i64::from(limit.get()) {
        return Ok(());
    }
    // Retry-After is in whole seconds: round up, so a client that waits that long gets in.
    Err(ApiError::RateLimited(Duration::from_secs(window.remaining.as_secs_f64().ceil().max(1.0) as u64)))
}

/// The address a request is counted under.
///
/// With `hops` = 0 it is the TCP peer and `X-Forwarded-For` is ignored. Otherwise it is the
/// `hops`-th entry from the right of `X-Forwarded-For` (all header lines, in order, as one
/// comma-separated list; empty elements skipped, as RFC 9110 says of lists). Fewer entries
/// than `hops`: the left-most, since every entry there was still written by a trusted proxy
/// (the request skipped an outer one, e.g. a port-forward straight to the web pod). No
/// header: the peer. An entry that is not an address (`unknown`, a name, garbage) counts as
/// the peer, so a client cannot mint buckets with strings. Entries may carry a port
/// (`203.0.113.7:41000`, `[2001:db8::1]:41000`); IPv4-mapped IPv6 addresses count as IPv4.
pub fn client_address(hops: u8, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
    let peer = peer.map(|address| address.to_canonical());
    if hops == 0 {
        return peer;
    }
    // Lossy: a line with bytes outside ASCII still splits on its commas, and the odd entry
    // simply fails to parse.
    let lines: Vec<Cow<'_, str>> =
        headers.get_all("x-forwarded-for").iter().map(|value| String::from_utf8_lossy(value.as_bytes())).collect();
    let chosen = lines
        .iter()
        .rev()
        .flat_map(|line| line.rsplit(','))
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .take(usize::from(hops))
        .last();
    match chosen {
        None => peer,
        Some(entry) => parse_entry(entry).map(|address| address.to_canonical()).or_else(|| {
            tracing::debug!("an X-Forwarded-For entry is not an address: counting the TCP peer");
            peer
        }),
    }
}

/// `203.0.113.7`, `2001:db8::1`, either with a port, or a bracketed IPv6 address.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|socket| socket.ip()))
        .or_else(|| entry.strip_prefix('[')?.strip_suffix(']')?.parse::<Ipv6Addr>().ok().map(IpAddr::V6))
}

/// The bucket an address counts in: itself for IPv4, its /64 for IPv6, since one subscriber
/// line usually gets a whole /64 and could otherwise take a fresh address for every attempt.
fn bucket(address: IpAddr) -> String {
    match address {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & (u128::MAX << 64);
            format!("{}/64", Ipv6Addr::from(prefix))
        }
    }
}

/// Deletes ended windows every minute, on every replica (concurrent deletes are harmless), so
/// the table holds only recent keys. Stops when the pool is closed at shutdown.
pub async fn purge_ended_windows(pool: PgPool) {
    let mut every = tokio::time::interval(PURGE_INTERVAL);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.tick().await;
    loop {
        every.tick().await;
        match auth_attempts::purge_ended(&pool).await {
            Ok(deleted) => tracing::debug!(deleted, "ended rate-limit windows deleted"),
            Err(sqlx::Error::PoolClosed) => return,
            Err(error) => tracing::warn!(%error, "could not delete ended rate-limit windows"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const PEER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(172, 18, 0, 5));

    fn forwarded(lines: &[&[u8]]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append("x-forwarded-for", HeaderValue::from_bytes(line).unwrap());
        }
        headers
    }

    fn address(hops: u8, lines: &[&[u8]]) -> Option<IpAddr> {
        client_address(hops, Some(PEER), &forwarded(lines))
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn zero_hops_is_the_peer_whatever_the_header_says() {
        assert_eq!(address(0, &[b"203.0.113.7"]), Some(PEER));
        assert_eq!(address(0, &[]), Some(PEER));
        assert_eq!(client_address(0, None, &forwarded(&[b"203.0.113.7"])), None);
    }

    #[test]
    fn hops_count_from_the_right() {
        let chain: &[&[u8]] = &[b"198.51.100.1, 203.0.113.7, 10.0.0.9"];
        assert_eq!(address(1, chain), ip("10.0.0.9"));
        assert_eq!(address(2, chain), ip("203.0.113.7"));
        assert_eq!(address(3, chain), ip("198.51.100.1"));
    }

    #[test]
    fn header_lines_join_in_order_and_empty_elements_are_skipped() {
        let lines: &[&[u8]] = &[b"198.51.100.1,", b" , 203.0.113.7", b"10.0.0.9 ,,"];
        assert_eq!(address(1, lines), ip("10.0.0.9"));
        assert_eq!(address(2, lines), ip("203.0.113.7"));
        assert_eq!(address(3, lines), ip("198.51.100.1"));
    }

    #[test]
    fn fewer_entries_than_hops_is_the_left_most_and_none_is_the_peer() {
        assert_eq!(address(2, &[b"10.0.0.9"]), ip("10.0.0.9"));
        assert_eq!(address(5, &[b"203.0.113.7, 10.0.0.9"]), ip("203.0.113.7"));
        assert_eq!(address(2, &[]), Some(PEER));
        assert_eq!(address(1, &[b" , "]), Some(PEER));
    }

    #[test]
    fn an_entry_that_is_no_address_counts_as_the_peer() {
        for garbage in
            [&b"unknown"[..], b"_hidden", b"example.com", b"300.1.1.1", b"1.2.3", b"fe80::1%eth0", b"\xff\xfe"]
        {
            assert_eq!(address(1, &[garbage]), Some(PEER), "{}", String::from_utf8_lossy(garbage));
        }
        // Garbage left of the chosen entry does not matter.
        assert_eq!(address(1, &[b"\xffjunk, 10.0.0.9"]), ip("10.0.0.9"));
        assert_eq!(address(2, &[b"203.0.113.7, garbage"]), ip("203.0.113.7"), "only the chosen entry is parsed");
    }

    #[test]
    fn ports_brackets_and_ipv6_are_understood() {
        assert_eq!(address(1, &[b"203.0.113.7:41000"]), ip("203.0.113.7"));
        assert_eq!(address(1, &[b"2001:db8::1"]), ip("2001:db8::1"));
        assert_eq!(address(1, &[b"[2001:db8::1]"]), ip("2001:db8::1"));
        assert_eq!(address(1, &[b"[2001:db8::1]:41000"]), ip("2001:db8::1"));
        assert_eq!(address(1, &[b"::ffff:203.0.113.7"]), ip("203.0.113.7"), "mapped IPv4 is IPv4");
        let mapped_peer = "::ffff:172.18.0.5".parse().ok();
        assert_eq!(client_address(0, mapped_peer, &HeaderMap::new()), Some(PEER));
    }

    #[test]
    fn ipv6_addresses_share_their_64_and_ipv4_addresses_stand_alone() {
        assert_eq!(bucket("203.0.113.7".parse().unwrap()), "203.0.113.7");
        assert_eq!(bucket("2001:db8:1:2:aaaa::1".parse().unwrap()), "2001:db8:1:2::/64");
        assert_eq!(bucket("2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap()), "2001:db8:1:2::/64");
        assert_ne!(bucket("2001:db8:1:3::1".parse().unwrap()), "2001:db8:1:2::/64");
    }
}
