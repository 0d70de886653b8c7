//! A per-client-address limit on sign-in and sign-up, against password guessing.

use crate::error::ApiError;
use axum::http::HeaderMap;
use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};
use std::{net::IpAddr, num::NonZeroU32, sync::Arc, time::Duration};

#[derive(Debug, Clone)]
pub struct AuthRateLimit {
    limiter: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    trust_forwarded_for: bool,
}

impl AuthRateLimit {
    /// `per_minute` attempts per address, all of which may come at once.
    pub fn new(per_minute: NonZeroU32, trust_forwarded_for: bool) -> Self {
        let quota = Quota::per_minute(per_minute).allow_burst(per_minute);
        Self { limiter: Arc::new(RateLimiter::keyed(quota)), trust_forwarded_for }
    }

    /// The address to count: the peer, or, behind our web proxy, the address it appended
    /// last to `X-Forwarded-For` (the part a client cannot forge).
    pub fn client_address(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        if self.trust_forwarded_for {
            let forwarded = headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|value| value.to_str().ok())
                .flat_map(|value| value.split(','))
                .filter_map(|entry| entry.trim().parse::<IpAddr>().ok())
                .next_back();
            if forwarded.is_some() {
                return forwarded;
            }
        }
        peer
    }

    /// Counts one attempt; 429 with the wait when the address is over its quota.
    pub fn check(&self, address: Option<IpAddr>) -> Result<(), ApiError> {
        let Some(address) = address else { return Ok(()) };
        self.limiter.check_key(&address).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            ApiError::RateLimited(wait.max(Duration::from_secs(1)))
        })?;
        // Keeps the map from growing with every address ever seen.
        if self.limiter.len() > 100_000 {
            self.limiter.retain_recent();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quota_is_per_address() {
        let limit = AuthRateLimit::new(NonZeroU32::new(2).unwrap(), false);
        let a = Some(IpAddr::from([10, 0, 0, 1]));
        let b = Some(IpAddr::from([10, 0, 0, 2]));
        assert!(limit.check(a).is_ok());
        assert!(limit.check(a).is_ok());
        assert!(matches!(limit.check(a), Err(ApiError::RateLimited(_))));
        assert!(limit.check(b).is_ok());
    }

    #[test]
    fn the_last_forwarded_address_counts_when_trusted() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "1.2.3.4, 10.0.0.9".parse().unwrap());
        let peer = Some(IpAddr::from([172, 18, 0, 5]));
        let trusted = AuthRateLimit::new(NonZeroU32::new(1).unwrap(), true);
        assert_eq!(trusted.client_address(peer, &headers), Some(IpAddr::from([10, 0, 0, 9])));
        let untrusted = AuthRateLimit::new(NonZeroU32::new(1).unwrap(), false);
        assert_eq!(untrusted.client_address(peer, &headers), peer);
    }
}
