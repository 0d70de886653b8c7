//! The backend's configuration: read from the environment once, validated, then typed.

use crate::{agent::model::ModelSettings, auth::rate_limit::MAX_TRUSTED_PROXY_HOPS};
use service_kit::config::{ConfigError, Env};
use sqlx::postgres::PgConnectOptions;
use std::{
    net::IpAddr,
    num::{NonZeroU32, NonZeroUsize},
    str::FromStr,
    time::Duration,
};

pub const DEFAULT_PORT: u16 = 8000;

#[derive(Clone)]
pub struct Config {
    pub host: IpAddr,
    pub port: u16,
    pub database: PgConnectOptions,
    pub database_max_connections: u32,
    /// Serve applies pending migrations itself (default), or waits for a migration job.
    pub migrate_on_start: bool,
    /// How long to keep serving after SIGTERM with readiness already failing, so that load
    /// balancers stop sending traffic before the listener closes.
    pub shutdown_delay: Duration,
    /// HS256 signing key of the session tokens (`BETTER_AUTH_SECRET`, alias `JWT_SECRET`).
    pub token_secret: Vec<u8>,
    pub token_ttl: Duration,
    /// How long a session lasts from sign-in, however often its token is refreshed.
    pub session_max_lifetime: Duration,
    /// Origins allowed to call the API from a browser directly (the web app needs none:
    /// it is same-origin through its proxy).
    pub cors_origins: Vec<String>,
    pub auth_rate_limit_per_minute: NonZeroU32,
    /// Failed sign-ins one account may have per `auth_failure_window`, from any addresses.
    pub auth_failures_per_account: NonZeroU32,
    pub auth_failure_window: Duration,
    /// argon2id hashes allowed at once; each takes 19 MiB, so this bounds sign-in memory.
    pub password_hash_concurrency: NonZeroUsize,
    /// Proxies we run between clients and the backend, each appending to `X-Forwarded-For`:
    /// the client address is that many entries from the right (0: the TCP peer).
    pub trusted_proxy_hops: u8,
    pub request_timeout: Duration,
    /// An OpenAI-compatible model; `None` (no `OPENAI_API_KEY`) means the offline assistant.
    pub model: Option<ModelSettings>,
    pub chat_max_tool_rounds: u32,
    pub chat_history_messages: usize,
    /// Longest a chat turn may take: several model calls and their retries.
    pub chat_timeout: Duration,
    /// Most tool calls run from one model reply.
    pub chat_max_tool_calls_per_reply: NonZeroUsize,
    /// Most deletions and undos run in one turn (0: the chat does neither).
    pub chat_max_destructive_calls_per_turn: u32,
    /// Chat turns one user may start per minute, counted in PostgreSQL across replicas.
    pub chat_rate_limit_per_minute: NonZeroU32,
    /// How long a change made by a chat or MCP tool can be undone, and so how long a task
    /// deleted by a tool stays recoverable.
    pub undo_window: Duration,
    /// Bytes of task-list pages kept to answer a repeated request after one version check
    /// (`TASK_PAGE_CACHE_MIB`; 0 keeps none).
    pub task_page_cache_bytes: usize,
}

// Hand-written so the database password can never reach a log line.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database_host", &self.database.get_host())
            .field("database_name", &self.database.get_database())
            .field("database_max_connections", &self.database_max_connections)
            .field("migrate_on_start", &self.migrate_on_start)
            .field("shutdown_delay", &self.shutdown_delay)
            .field("token_ttl", &self.token_ttl)
            .field("session_max_lifetime", &self.session_max_lifetime)
            .field("cors_origins", &self.cors_origins)
            .field("auth_rate_limit_per_minute", &self.auth_rate_limit_per_minute)
            .field("auth_failures_per_account", &self.auth_failures_per_account)
            .field("auth_failure_window", &self.auth_failure_window)
            .field("password_hash_concurrency", &self.password_hash_concurrency)
            .field("trusted_proxy_hops", &self.trusted_proxy_hops)
            .field("request_timeout", &self.request_timeout)
            .field("model", &self.model.as_ref().map(|m| (&m.model, &m.base_url)))
            .field("chat_max_tool_rounds", &self.chat_max_tool_rounds)
            .field("chat_history_messages", &self.chat_history_messages)
            .field("chat_timeout", &self.chat_timeout)
            .field("chat_max_tool_calls_per_reply", &self.chat_max_tool_calls_per_reply)
            .field("chat_max_destructive_calls_per_turn", &self.chat_max_destructive_calls_per_turn)
            .field("chat_rate_limit_per_minute", &self.chat_rate_limit_per_minute)
            .field("undo_window", &self.undo_window)
            .field("task_page_cache_bytes", &self.task_page_cache_bytes)
            .finish_non_exhaustive()
    }
}

impl Config {
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let database_url = env.required(
            "DATABASE_URL",
            "set it to a PostgreSQL URL such as postgres://user:password@host:5432/database",
        )?;
        let database_max_connections = env.parsed_or("DATABASE_MAX_CONNECTIONS", 10_u32)?;
        if database_max_connections == 0 {
            return Err(ConfigError::Invalid {
                name: "DATABASE_MAX_CONNECTIONS",
                reason: "must be at least 1".to_owned(),
            });
        }
        let token_secret = token_secret(env)?;
        let token_ttl_secs = env.parsed_or("TOKEN_TTL_SECS", 7 * 24 * 3600_u64)?;
        if token_ttl_secs < 60 {
            return Err(ConfigError::Invalid { name: "TOKEN_TTL_SECS", reason: "must be at least 60".to_owned() });
        }
        let session_max_lifetime_secs = env.parsed_or("SESSION_MAX_LIFETIME_SECS", 30 * 24 * 3600_u64)?;
        if session_max_lifetime_secs < token_ttl_secs {
            return Err(ConfigError::Invalid {
                name: "SESSION_MAX_LIFETIME_SECS",
                reason: format!("must be at least TOKEN_TTL_SECS ({token_ttl_secs})"),
            });
        }
        let request_timeout_secs = env.parsed_or("REQUEST_TIMEOUT_SECS", 30_u64)?;
        if request_timeout_secs == 0 {
            return Err(ConfigError::Invalid { name: "REQUEST_TIMEOUT_SECS", reason: "must be at least 1".to_owned() });
        }
        let chat_history_messages = env.parsed_or("CHAT_HISTORY_MESSAGES", 40_usize)?;
        if chat_history_messages == 0 {
            return Err(ConfigError::Invalid {
                name: "CHAT_HISTORY_MESSAGES",
                reason: "must be at least 1".to_owned(),
            });
        }
        Ok(Self {
            model: model_settings(env)?,
            chat_max_tool_rounds: env.parsed_or("CHAT_MAX_TOOL_ROUNDS", 5_u32)?,
            chat_history_messages,
            chat_timeout: Duration::from_secs(env.parsed_or("CHAT_TIMEOUT_SECS", 120_u64)?.max(1)),
            chat_max_tool_calls_per_reply: env
                .parsed_or("CHAT_MAX_TOOL_CALLS_PER_REPLY", NonZeroUsize::new(8).unwrap_or(NonZeroUsize::MIN))?,
            chat_max_destructive_calls_per_turn: env.parsed_or("CHAT_MAX_DESTRUCTIVE_CALLS_PER_TURN", 3_u32)?,
            chat_rate_limit_per_minute: env
                .parsed_or("CHAT_RATE_LIMIT_PER_MINUTE", NonZeroU32::new(20).unwrap_or(NonZeroU32::MIN))?,
            token_secret,
            token_ttl: Duration::from_secs(token_ttl_secs),
            session_max_lifetime: Duration::from_secs(session_max_lifetime_secs),
            cors_origins: cors_origins(env.optional("CORS_ORIGINS"))?,
            auth_rate_limit_per_minute: env
                .parsed_or("AUTH_RATE_LIMIT_PER_MINUTE", NonZeroU32::new(20).unwrap_or(NonZeroU32::MIN))?,
            password_hash_concurrency: env
                .parsed_or("PASSWORD_HASH_CONCURRENCY", NonZeroUsize::new(2).unwrap_or(NonZeroUsize::MIN))?,
            auth_failures_per_account: env
                .parsed_or("AUTH_FAILURES_PER_ACCOUNT", NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN))?,
            auth_failure_window: auth_failure_window(env)?,
            undo_window: undo_window(env)?,
            task_page_cache_bytes: task_page_cache_bytes(env)?,
            trusted_proxy_hops: trusted_proxy_hops(env)?,
            request_timeout: Duration::from_secs(request_timeout_secs),
            host: env.parsed_or("HOST", IpAddr::from([0, 0, 0, 0]))?,
            port: env.parsed_or("PORT", DEFAULT_PORT)?,
            database: parse_database_url(&database_url)?,
            database_max_connections,
            migrate_on_start: env.flag_or("MIGRATE_ON_START", true)?,
            shutdown_delay: Duration::from_secs(env.parsed_or("SHUTDOWN_DELAY_SECS", 0_u64)?),
        })
    }
}

/// `TRUSTED_PROXY_HOPS`, default 1: our web proxy, as compose runs it.
///
/// The old `TRUST_FORWARDED_FOR` is refused rather than translated: `true` meant "the last
/// entry", which is right behind the web proxy alone and wrong behind an Ingress (everyone
/// shared the controller's address), so whoever set it must now say how many proxies there are.
fn trusted_proxy_hops<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<u8, ConfigError> {
    if env.optional("TRUST_FORWARDED_FOR").is_some() {
        return Err(ConfigError::Invalid {
            name: "TRUST_FORWARDED_FOR",
            reason: "this setting was removed: delete it and set TRUSTED_PROXY_HOPS instead, the number \
                     of proxies between clients and the backend (1 behind the web proxy as compose runs it, \
                     2 behind the chart's ingress-nginx and the web proxy, 0 to ignore X-Forwarded-For)"
                .to_owned(),
        });
    }
    let hops = env.parsed_or("TRUSTED_PROXY_HOPS", 1_u8)?;
    if hops > MAX_TRUSTED_PROXY_HOPS {
        return Err(ConfigError::Invalid {
            name: "TRUSTED_PROXY_HOPS",
            reason: format!("{hops} must be from 0 to {MAX_TRUSTED_PROXY_HOPS}"),
        });
    }
    Ok(hops)
}

/// `AUTH_FAILURE_WINDOW_SECS`, default 15 minutes: how long failed sign-ins count against an
/// account, and so the longest a locked account waits.
fn auth_failure_window<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Duration, ConfigError> {
    let seconds = env.parsed_or("AUTH_FAILURE_WINDOW_SECS", 900_u32)?;
    if seconds == 0 {
        return Err(ConfigError::Invalid { name: "AUTH_FAILURE_WINDOW_SECS", reason: "must be at least 1".to_owned() });
    }
    Ok(Duration::from_secs(seconds.into()))
}

/// The most `TASK_PAGE_CACHE_MIB` takes: more is a typo more likely than a plan.
pub const MAX_TASK_PAGE_CACHE_MIB: u32 = 4096;

/// `TASK_PAGE_CACHE_MIB`, default 8: about 700 pages of 50 tasks.
fn task_page_cache_bytes<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<usize, ConfigError> {
    let mib = env.parsed_or("TASK_PAGE_CACHE_MIB", 8_u32)?;
    if mib > MAX_TASK_PAGE_CACHE_MIB {
        return Err(ConfigError::Invalid {
            name: "TASK_PAGE_CACHE_MIB",
            reason: format!("{mib} must be from 0 (keep no pages) to {MAX_TASK_PAGE_CACHE_MIB}"),
        });
    }
    Ok(usize::try_from(mib).unwrap_or(usize::MAX).saturating_mul(1 << 20))
}

/// The longest undo window: the change records keep deleted tasks, which should not linger.
pub const MAX_UNDO_WINDOW_SECS: u32 = 30 * 24 * 3600;

/// `UNDO_WINDOW_SECS`, default 24 hours.
fn undo_window<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Duration, ConfigError> {
    let seconds = env.parsed_or("UNDO_WINDOW_SECS", 24 * 3600_u32)?;
    if !(1..=MAX_UNDO_WINDOW_SECS).contains(&seconds) {
        return Err(ConfigError::Invalid {
            name: "UNDO_WINDOW_SECS",
            reason: format!("{seconds} must be from 1 to {MAX_UNDO_WINDOW_SECS} (30 days)"),
        });
    }
    Ok(Duration::from_secs(seconds.into()))
}

pub const DEFAULT_OPENAI_BASE_URL: &str = "https://api.openai.com/v1";
pub const DEFAULT_OPENAI_MODEL: &str = "gpt-4o-mini";

/// The model, when `OPENAI_API_KEY` is set. Local servers that need no key (Ollama) take any
/// non-empty value.
fn model_settings<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Option<ModelSettings>, ConfigError> {
    let Some(api_key) = env.optional("OPENAI_API_KEY") else { return Ok(None) };
    let base_url = env.optional("OPENAI_BASE_URL").unwrap_or_else(|| DEFAULT_OPENAI_BASE_URL.to_owned());
    if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
        return Err(ConfigError::Invalid {
            name: "OPENAI_BASE_URL",
            reason: format!("{base_url:?} must start with http:// or https://"),
        });
    }
    Ok(Some(ModelSettings {
        api_key,
        base_url: base_url.trim_end_matches('/').to_owned(),
        model: env.optional("OPENAI_MODEL").unwrap_or_else(|| DEFAULT_OPENAI_MODEL.to_owned()),
        timeout: Duration::from_secs(env.parsed_or("OPENAI_TIMEOUT_SECS", 60_u64)?.max(1)),
        max_retries: env.parsed_or("OPENAI_MAX_RETRIES", 2_u32)?,
        temperature: temperature(env)?,
        streaming_retry_after: crate::agent::model::STREAMING_RETRY_AFTER,
    }))
}

/// `OPENAI_TEMPERATURE`, sent only when set: servers differ in their defaults, and 0 makes a
/// small model's answers repeatable.
fn temperature<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Option<f64>, ConfigError> {
    let Some(raw) = env.optional("OPENAI_TEMPERATURE") else { return Ok(None) };
    match raw.trim().parse::<f64>() {
        Ok(value) if (0.0..=2.0).contains(&value) => Ok(Some(value)),
        _ => Err(ConfigError::Invalid {
            name: "OPENAI_TEMPERATURE",
            reason: format!("{raw:?} must be a number from 0 to 2"),
        }),
    }
}

pub const MIN_SECRET_BYTES: usize = 32;

/// `BETTER_AUTH_SECRET` (the seed's name) or its alias `JWT_SECRET`; never echoed.
fn token_secret<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Vec<u8>, ConfigError> {
    let (name, secret) = match (env.optional("BETTER_AUTH_SECRET"), env.optional("JWT_SECRET")) {
        (Some(secret), _) => ("BETTER_AUTH_SECRET", secret),
        (None, Some(secret)) => ("JWT_SECRET", secret),
        (None, None) => {
            return Err(ConfigError::Missing {
                name: "BETTER_AUTH_SECRET",
                hint: "set it (or JWT_SECRET) to a random string of at least 32 bytes, e.g. `openssl rand -hex 32`",
            });
        }
    };
    if secret.len() < MIN_SECRET_BYTES {
        return Err(ConfigError::Invalid {
            name,
            reason: format!("must be at least {MIN_SECRET_BYTES} bytes long (got {})", secret.len()),
        });
    }
    Ok(secret.into_bytes())
}

/// Comma-separated origins such as `https://todo.example.com`; `*` is refused because the API
/// takes credentials.
fn cors_origins(raw: Option<String>) -> Result<Vec<String>, ConfigError> {
    let Some(raw) = raw else { return Ok(Vec::new()) };
    raw.split(',')
        .map(str::trim)
        .filter(|origin| !origin.is_empty())
        .map(|origin| {
            let valid = (origin.starts_with("http://") || origin.starts_with("https://"))
                && !origin.trim_end_matches('/').contains(|c: char| c == '*' || c.is_whitespace())
                && origin.splitn(4, '/').nth(3).is_none_or(str::is_empty);
            if valid {
                Ok(origin.trim_end_matches('/').to_owned())
            } else {
                Err(ConfigError::Invalid {
                    name: "CORS_ORIGINS",
                    reason: format!("{origin:?} is not an origin like https://app.example.com"),
                })
            }
        })
        .collect()
}

/// Checks the URL without ever echoing it: it usually carries a password.
fn parse_database_url(url: &str) -> Result<PgConnectOptions, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid { name: "DATABASE_URL", reason };
    let scheme = url.split_once("://").map(|(scheme, _)| scheme);
    if !matches!(scheme, Some("postgres" | "postgresql")) {
        return Err(invalid("expected a URL starting with postgres:// or postgresql://".to_owned()));
    }
    PgConnectOptions::from_str(url).map_err(|error| invalid(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_env(&Env::from_lookup(move |name| map.get(name).cloned()))
    }

    const SECRET: (&str, &str) = ("BETTER_AUTH_SECRET", "0123456789abcdef0123456789abcdef");

    #[test]
    fn a_missing_database_url_names_the_variable() {
        let error = config(&[]).unwrap_err();
        assert!(error.to_string().starts_with("DATABASE_URL is not set"), "{error}");
    }

    #[test]
    fn a_malformed_database_url_is_rejected_without_echoing_it() {
        let error = config(&[("DATABASE_URL", "mysql://root:hunter2@db/x"), SECRET]).unwrap_err();
        let message = error.to_string();
        assert!(message.starts_with("DATABASE_URL is invalid"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn defaults_fill_everything_but_the_database() {
        let config = config(&[("DATABASE_URL", "postgres://u:secret@db:5432/todo"), SECRET]).unwrap();
        assert_eq!(config.port, DEFAULT_PORT);
        assert!(config.migrate_on_start);
        assert_eq!(config.database.get_database(), Some("todo"));
        assert!(!format!("{config:?}").contains("secret"));
        assert!(!format!("{config:?}").contains(SECRET.1));
        assert_eq!(config.token_ttl, Duration::from_secs(604_800));
        assert_eq!(config.session_max_lifetime, Duration::from_secs(30 * 86_400));
    }

    #[test]
    fn a_session_lives_at_least_as_long_as_one_token() {
        let base = [("DATABASE_URL", "postgres://db/todo"), SECRET, ("TOKEN_TTL_SECS", "3600")];
        let with = |value: &'static str| {
            let mut pairs = base.to_vec();
            pairs.push(("SESSION_MAX_LIFETIME_SECS", value));
            config(&pairs)
        };
        assert_eq!(with("3600").unwrap().session_max_lifetime, Duration::from_secs(3600));
        for bad in ["3599", "0", "-1", "a month"] {
            let error = with(bad).unwrap_err();
            assert!(error.to_string().starts_with("SESSION_MAX_LIFETIME_SECS is invalid"), "{bad}: {error}");
        }
    }

    #[test]
    fn a_zero_pool_is_refused() {
        let error = config(&[("DATABASE_URL", "postgres://db/todo"), ("DATABASE_MAX_CONNECTIONS", "0")]).unwrap_err();
        assert!(error.to_string().starts_with("DATABASE_MAX_CONNECTIONS is invalid"));
    }

    #[test]
    fn password_hashing_runs_two_at_a_time_unless_configured() {
        let url = ("DATABASE_URL", "postgres://db/todo");
        assert_eq!(config(&[url, SECRET]).unwrap().password_hash_concurrency.get(), 2);
        assert_eq!(
            config(&[url, SECRET, ("PASSWORD_HASH_CONCURRENCY", "4")]).unwrap().password_hash_concurrency.get(),
            4
        );
        let zero = config(&[url, SECRET, ("PASSWORD_HASH_CONCURRENCY", "0")]).unwrap_err();
        assert!(zero.to_string().starts_with("PASSWORD_HASH_CONCURRENCY is invalid"), "{zero}");
    }

    #[test]
    fn the_token_secret_is_required_long_and_has_an_alias() {
        let url = ("DATABASE_URL", "postgres://db/todo");
        let missing = config(&[url]).unwrap_err();
        assert!(missing.to_string().starts_with("BETTER_AUTH_SECRET is not set"), "{missing}");
        let short = config(&[url, ("JWT_SECRET", "too-short")]).unwrap_err();
        assert!(short.to_string().starts_with("JWT_SECRET is invalid: must be at least 32 bytes"), "{short}");
        assert!(!short.to_string().contains("too-short"));
        let alias = config(&[url, ("JWT_SECRET", SECRET.1)]).unwrap();
        assert_eq!(alias.token_secret, SECRET.1.as_bytes());
    }

    #[test]
    fn cors_origins_are_checked() {
        let url = ("DATABASE_URL", "postgres://db/todo");
        let ok = config(&[url, SECRET, ("CORS_ORIGINS", "https://a.example.com, http://localhost:5173/")]).unwrap();
        assert_eq!(ok.cors_origins, ["https://a.example.com", "http://localhost:5173"]);
        for bad in ["*", "a.example.com", "https://a.example.com/path"] {
            let error = config(&[url, SECRET, ("CORS_ORIGINS", bad)]).unwrap_err();
            assert!(error.to_string().starts_with("CORS_ORIGINS is invalid"), "{bad}: {error}");
        }
    }

    #[test]
    fn no_api_key_means_the_offline_assistant() {
        let url = ("DATABASE_URL", "postgres://db/todo");
        assert!(config(&[url, SECRET]).unwrap().model.is_none());
        let model =
            config(&[url, SECRET, ("OPENAI_API_KEY", "sk-test"), ("OPENAI_BASE_URL", "http://ollama:11434/v1/")])
                .unwrap()
                .model
                .unwrap();
        assert_eq!(model.base_url, "http://ollama:11434/v1");
        assert_eq!(model.model, DEFAULT_OPENAI_MODEL);
        assert!(!format!("{:?}", config(&[url, SECRET, ("OPENAI_API_KEY", "sk-test")]).unwrap()).contains("sk-test"));
        let bad = config(&[url, SECRET, ("OPENAI_API_KEY", "k"), ("OPENAI_BASE_URL", "ollama:11434")]).unwrap_err();
        assert!(bad.to_string().starts_with("OPENAI_BASE_URL is invalid"));
    }

    #[test]
    fn chat_caps_and_rate_have_defaults_and_refuse_nonsense() {
        let base = [("DATABASE_URL", "postgres://db/todo"), SECRET];
        let defaults = config(&base).unwrap();
        assert_eq!(defaults.chat_max_tool_calls_per_reply.get(), 8);
        assert_eq!(defaults.chat_max_destructive_calls_per_turn, 3);
        assert_eq!(defaults.chat_rate_limit_per_minute.get(), 20);
        let with = |name: &'static str, value: &'static str| {
            let mut pairs = base.to_vec();
            pairs.push((name, value));
            config(&pairs)
        };
        assert_eq!(with("CHAT_MAX_DESTRUCTIVE_CALLS_PER_TURN", "0").unwrap().chat_max_destructive_calls_per_turn, 0);
        for (name, bad) in [
            ("CHAT_MAX_TOOL_CALLS_PER_REPLY", "0"),
            ("CHAT_MAX_DESTRUCTIVE_CALLS_PER_TURN", "-1"),
            ("CHAT_RATE_LIMIT_PER_MINUTE", "0"),
            ("CHAT_RATE_LIMIT_PER_MINUTE", "many"),
        ] {
            let error = with(name, bad).unwrap_err();
            assert!(error.to_string().starts_with(&format!("{name} is invalid")), "{bad}: {error}");
        }
    }

    #[test]
    fn trusted_proxy_hops_default_to_the_web_proxy_and_replace_trust_forwarded_for() {
        let base = [("DATABASE_URL", "postgres://db/todo"), SECRET];
        let with = |pairs: &[(&'static str, &'static str)]| {
            let mut all = base.to_vec();
            all.extend_from_slice(pairs);
            config(&all)
        };
        assert_eq!(with(&[]).unwrap().trusted_proxy_hops, 1);
        assert_eq!(with(&[("TRUSTED_PROXY_HOPS", "0")]).unwrap().trusted_proxy_hops, 0);
        assert_eq!(with(&[("TRUSTED_PROXY_HOPS", "2")]).unwrap().trusted_proxy_hops, 2);
        for bad in ["-1", "11", "two", "1.5"] {
            let error = with(&[("TRUSTED_PROXY_HOPS", bad)]).unwrap_err();
            assert!(error.to_string().starts_with("TRUSTED_PROXY_HOPS is invalid"), "{bad}: {error}");
        }
        for old in ["true", "false"] {
            let error = with(&[("TRUST_FORWARDED_FOR", old), ("TRUSTED_PROXY_HOPS", "2")]).unwrap_err();
            let message = error.to_string();
            assert!(message.starts_with("TRUST_FORWARDED_FOR is invalid"), "{message}");
            assert!(message.contains("TRUSTED_PROXY_HOPS"), "names the replacement: {message}");
        }
        assert!(with(&[("TRUST_FORWARDED_FOR", " ")]).is_ok(), "blank is unset, as compose passes it");
    }

    #[test]
    fn the_per_account_limit_has_defaults_and_refuses_zero() {
        let base = [("DATABASE_URL", "postgres://db/todo"), SECRET];
        let defaults = config(&base).unwrap();
        assert_eq!(defaults.auth_failures_per_account.get(), 10);
        assert_eq!(defaults.auth_failure_window, Duration::from_secs(900));
        for (name, bad) in [("AUTH_FAILURES_PER_ACCOUNT", "0"), ("AUTH_FAILURE_WINDOW_SECS", "0")] {
            let mut pairs = base.to_vec();
            pairs.push((name, bad));
            let error = config(&pairs).unwrap_err();
            assert!(error.to_string().starts_with(&format!("{name} is invalid")), "{error}");
        }
    }

    #[test]
    fn the_undo_window_defaults_to_a_day_and_refuses_nonsense() {
        let base = [("DATABASE_URL", "postgres://db/todo"), SECRET];
        assert_eq!(config(&base).unwrap().undo_window, Duration::from_secs(86_400));
        let with = |value: &'static str| {
            let mut pairs = base.to_vec();
            pairs.push(("UNDO_WINDOW_SECS", value));
            config(&pairs)
        };
        assert_eq!(with("60").unwrap().undo_window, Duration::from_secs(60));
        for bad in ["0", "-1", "2592001", "a day", "1.5"] {
            let error = with(bad).unwrap_err();
            assert!(error.to_string().starts_with("UNDO_WINDOW_SECS is invalid"), "{bad}: {error}");
        }
    }

    #[test]
    fn the_temperature_is_sent_only_when_set_and_must_be_0_to_2() {
        let base = [("DATABASE_URL", "postgres://db/todo"), SECRET, ("OPENAI_API_KEY", "k")];
        let with = |value: &str| {
            let mut pairs = base.to_vec();
            pairs.push(("OPENAI_TEMPERATURE", value));
            config(&pairs)
        };
        assert_eq!(config(&base).unwrap().model.unwrap().temperature, None);
        assert_eq!(with("0").unwrap().model.unwrap().temperature, Some(0.0));
        assert_eq!(with("2").unwrap().model.unwrap().temperature, Some(2.0));
        for bad in ["-0.1", "2.5", "warm", "NaN", "inf"] {
            let error = with(bad).unwrap_err();
            assert!(error.to_string().starts_with("OPENAI_TEMPERATURE is invalid"), "{bad}: {error}");
        }
    }
}
