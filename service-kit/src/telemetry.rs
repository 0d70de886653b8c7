//! Structured logs: one JSON object per line on stdout, which is what container log
//! collectors expect. `LOG_FORMAT=pretty` gives people at a terminal something readable.

use tracing_subscriber::{EnvFilter, fmt};

/// Installs the global subscriber. `RUST_LOG` filters (default `info`).
pub fn init(service: &'static str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let pretty = std::env::var("LOG_FORMAT").is_ok_and(|format| format == "pretty");
    let builder = fmt().with_env_filter(filter).with_target(false);
    let installed = if pretty {
        builder.try_init()
    } else {
        builder.json().flatten_event(true).with_current_span(false).try_init()
    };
    if installed.is_ok() {
        tracing::debug!(service, "logging initialised");
    }
}
