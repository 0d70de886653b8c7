use crate::{
    agent::{Assistant, ChatLimits},
    auth::{TokenKeys, password::Passwords, rate_limit::AuthRateLimit},
    metrics::Metrics,
    page_cache::PageCache,
    warm::WarmConnections,
};
use axum::extract::FromRef;
use sqlx::PgPool;
use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

/// What every handler can reach. Cheap to clone: everything inside is shared.
#[derive(Debug, Clone, FromRef)]
pub struct AppState {
    pub pool: PgPool,
    pub lifecycle: Arc<Lifecycle>,
    pub tokens: Arc<TokenKeys>,
    pub auth_rate_limit: AuthRateLimit,
    pub passwords: Passwords,
    pub metrics: Metrics,
    pub assistant: Arc<Assistant>,
    pub chat_limits: ChatLimits,
    pub page_cache: Arc<PageCache>,
    /// Connections the task list keeps between requests (`crate::warm`).
    pub warm: Arc<WarmConnections>,
}

/// Whether this replica is on its way out. Readiness fails from the first signal on, so
/// traffic moves elsewhere while in-flight requests finish.
#[derive(Debug, Default)]
pub struct Lifecycle {
    shutting_down: AtomicBool,
}

impl Lifecycle {
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }
}
