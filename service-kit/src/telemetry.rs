//! Structured logs: one JSON object per line on stdout, which is what container log
//! collectors expect. `LOG_FORMAT=pretty` gives people at a terminal something readable.

use crate::config::ConfigError;
use tracing_subscriber::{EnvFilter, fmt};

/// Installs the global subscriber. `RUST_LOG` filters (default `info`). A `LOG_FORMAT` other
/// than `json` or `pretty`, or a `RUST_LOG` that does not parse, is refused: a typo would
/// otherwise silently give another format or level.
pub fn init(service: &'static str) -> Result<(), ConfigError> {
    let pretty = match std::env::var("LOG_FORMAT").ok().filter(|format| !format.trim().is_empty()).as_deref() {
        None | Some("json") => false,
        Some("pretty") => true,
        Some(other) => {
            return Err(ConfigError::Invalid {
                name: "LOG_FORMAT",
                reason: format!("{other:?} is not json or pretty"),
            });
        }
    };
    let filter = match std::env::var("RUST_LOG").ok().filter(|directives| !directives.trim().is_empty()) {
        None => EnvFilter::new("info"),
        Some(directives) => EnvFilter::try_new(&directives)
            .map_err(|error| ConfigError::Invalid { name: "RUST_LOG", reason: format!("{directives:?}: {error}") })?,
    };
    let builder = fmt().with_env_filter(filter).with_target(false);
    let installed = if pretty {
        builder.try_init()
    } else {
        builder.json().flatten_event(true).with_current_span(false).try_init()
    };
    if installed.is_ok() {
        tracing::debug!(service, "logging initialised");
    }
    Ok(())
}
