//! The todo-chatbot backend as a library, so that tests start exactly the application that
//! production runs (`startup::Application`) on a random port.

pub mod agent;
pub mod auth;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod mcp;
pub mod metrics;
pub mod page_cache;
pub mod routes;
pub mod startup;
pub mod state;
pub mod store;
pub mod warm;

/// Installs ring as rustls' process-wide crypto provider (outbound TLS to the model uses
/// reqwest's rustls without a provider of its own; ring is already linked through sqlx).
/// Safe to call more than once.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
