//! The backend's configuration: read from the environment once, validated, then typed.

use service_kit::config::{ConfigError, Env};
use sqlx::postgres::PgConnectOptions;
use std::{net::IpAddr, str::FromStr, time::Duration};

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
            .finish()
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
        Ok(Self {
            host: env.parsed_or("HOST", IpAddr::from([0, 0, 0, 0]))?,
            port: env.parsed_or("PORT", DEFAULT_PORT)?,
            database: parse_database_url(&database_url)?,
            database_max_connections,
            migrate_on_start: env.flag_or("MIGRATE_ON_START", true)?,
            shutdown_delay: Duration::from_secs(env.parsed_or("SHUTDOWN_DELAY_SECS", 0_u64)?),
        })
    }
}

/// Checks the URL without ever echoing it: it usually carries a password.
fn parse_database_url(url: &str) -> Result<PgConnectOptions, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid {
        name: "DATABASE_URL",
        reason,
    };
    let scheme = url.split_once("://").map(|(scheme, _)| scheme);
    if !matches!(scheme, Some("postgres" | "postgresql")) {
        return Err(invalid(
            "expected a URL starting with postgres:// or postgresql://".to_owned(),
        ));
    }
    PgConnectOptions::from_str(url).map_err(|error| invalid(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_env(&Env::from_lookup(move |name| map.get(name).cloned()))
    }

    #[test]
    fn a_missing_database_url_names_the_variable() {
        let error = config(&[]).unwrap_err();
        assert!(
            error.to_string().starts_with("DATABASE_URL is not set"),
            "{error}"
        );
    }

    #[test]
    fn a_malformed_database_url_is_rejected_without_echoing_it() {
        let error = config(&[("DATABASE_URL", "mysql://root:hunter2@db/x")]).unwrap_err();
        let message = error.to_string();
        assert!(message.starts_with("DATABASE_URL is invalid"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn defaults_fill_everything_but_the_database() {
        let config = config(&[("DATABASE_URL", "postgres://u:secret@db:5432/todo")]).unwrap();
        assert_eq!(config.port, DEFAULT_PORT);
        assert!(config.migrate_on_start);
        assert_eq!(config.database.get_database(), Some("todo"));
        assert!(!format!("{config:?}").contains("secret"));
    }

    #[test]
    fn a_zero_pool_is_refused() {
        let error = config(&[
            ("DATABASE_URL", "postgres://db/todo"),
            ("DATABASE_MAX_CONNECTIONS", "0"),
        ])
        .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("DATABASE_MAX_CONNECTIONS is invalid")
        );
    }
}
