//! Wiring: configuration in, a bound listener and a router out. Tests and production build
//! the application the same way; tests bind port 0.

use crate::{
    agent::{Assistant, ChatLimits, model::ModelClient},
    auth::{
        Clock, TokenKeys,
        password::Passwords,
        rate_limit::{self, AuthRateLimit},
    },
    config::Config,
    db,
    metrics::Metrics,
    page_cache::PageCache,
    routes,
    state::{AppState, Lifecycle},
    warm::WarmConnections,
};
use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};
use tokio::net::TcpListener;

/// Why the server could not start. Each names the part and the setting behind it; the causes
/// follow through `source()` (see `service_kit::failure`).
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("could not listen on HOST:PORT = {address}")]
    Bind {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the model client for OPENAI_BASE_URL={base_url} could not be built")]
    ModelClient {
        base_url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The TLS library only says "no CA certificates were loaded"; the file's own error says why.
    #[error("the model client for OPENAI_BASE_URL={base_url} could not be built: the CA bundle {path} cannot be read")]
    CaBundleUnreadable {
        base_url: String,
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// The CA bundle the TLS client loads (`SSL_CERT_FILE`, else the system's), if it cannot be read.
fn unreadable_ca_bundle() -> Option<(String, std::io::Error)> {
    let path = std::env::var("SSL_CERT_FILE")
        .ok()
        .filter(|path| !path.trim().is_empty())
        .unwrap_or_else(|| "/etc/ssl/certs/ca-certificates.crt".to_owned());
    std::fs::File::open(&path).err().map(|error| (path, error))
}

fn model_client_error(base_url: &str, source: reqwest::Error) -> StartupError {
    let base_url = base_url.to_owned();
    match unreadable_ca_bundle() {
        Some((path, source)) => StartupError::CaBundleUnreadable { base_url, path, source },
        None => StartupError::ModelClient { base_url, source },
    }
}

#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    state: AppState,
    config: Config,
}

impl Application {
    /// Binds the listener. The database may still be down: the pool connects lazily and
    /// migrations run in the background until they succeed.
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let address = SocketAddr::new(config.host, config.port);
        let listener = TcpListener::bind(address).await.map_err(|source| StartupError::Bind { address, source })?;
        let assistant = match &config.model {
            Some(settings) => Assistant::Model(Box::new(
                ModelClient::new(settings.clone()).map_err(|source| model_client_error(&settings.base_url, source))?,
            )),
            None => Assistant::Offline,
        };
        let pool = db::lazy_pool(&config);
        let state = AppState {
            warm: Arc::new(WarmConnections::new(pool.clone())),
            pool,
            lifecycle: Arc::new(Lifecycle::default()),
            tokens: Arc::new(TokenKeys::new(
                &config.token_secret,
                config.token_ttl,
                config.session_max_lifetime,
                Clock::default(),
            )),
            auth_rate_limit: AuthRateLimit::new(
                config.auth_rate_limit_per_minute,
                config.trusted_proxy_hops,
                config.auth_failures_per_account,
                config.auth_failure_window,
            ),
            passwords: Passwords::new(config.password_hash_concurrency),
            metrics: Metrics::install(),
            assistant: Arc::new(assistant),
            chat_limits: ChatLimits {
                max_tool_rounds: config.chat_max_tool_rounds,
                history_messages: config.chat_history_messages,
                max_tool_calls_per_reply: config.chat_max_tool_calls_per_reply.get(),
                max_destructive_calls_per_turn: config.chat_max_destructive_calls_per_turn,
                turn_lease: config.chat_timeout,
                rate_per_minute: config.chat_rate_limit_per_minute,
                undo_window: config.undo_window,
            },
            page_cache: Arc::new(PageCache::new(config.task_page_cache_bytes)),
        };
        Ok(Self { listener, state, config })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|address| address.port()).unwrap_or_default()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then: readiness fails at once, the configured delay
    /// passes, the listener closes, in-flight requests finish, the pool closes.
    pub async fn run_until_stopped<S>(self, shutdown: S) -> std::io::Result<()>
    where
        S: Future + Send + 'static,
        S::Output: std::fmt::Debug + Send,
    {
        let Self { listener, state, config } = self;
        tracing::info!(address = %listener.local_addr()?, ?config, "backend listening");
        if config.migrate_on_start {
            let pool = state.pool.clone();
            tokio::spawn(async move { db::migrate_until_applied(&pool).await });
        }
        tokio::spawn(rate_limit::purge_ended_windows(state.pool.clone()));
        tokio::spawn(purge_expired_changes(state.pool.clone(), config.undo_window));
        let warm = state.warm.clone();
        tokio::spawn(async move { warm.return_idle_until_closed().await });
        let lifecycle = state.lifecycle.clone();
        let delay = config.shutdown_delay;
        let drain = async move {
            let reason = shutdown.await;
            lifecycle.begin_shutdown();
            tracing::info!(?reason, delay_secs = delay.as_secs(), "shutdown requested: readiness now fails");
            tokio::time::sleep(delay).await;
        };
        let pool = state.pool.clone();
        let warm = state.warm.clone();
        let app = routes::router(state, &config).into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(service_kit::net::without_nagle(listener), app).with_graceful_shutdown(drain).await?;
        // The pool waits for every connection to come back, the kept ones too.
        warm.return_all();
        pool.close().await;
        tracing::info!("backend stopped");
        Ok(())
    }
}

/// Deletes change records older than the undo window every minute, on every replica (concurrent
/// deletes are harmless; the `created_at` index makes each a short range scan), so that a task
/// deleted by a tool is really gone once its window has passed. Stops when the pool closes.
async fn purge_expired_changes(pool: sqlx::PgPool, window: Duration) {
    let mut every = tokio::time::interval(Duration::from_secs(60));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Not at once: the migrations may still be running.
    every.tick().await;
    loop {
        every.tick().await;
        match crate::store::changes::purge_expired(&pool, window).await {
            Ok(deleted) => tracing::debug!(deleted, "expired task changes deleted"),
            Err(sqlx::Error::PoolClosed) => return,
            Err(error) => tracing::warn!(%error, "could not delete expired task changes"),
        }
    }
}
