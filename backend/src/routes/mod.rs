//! The HTTP surface: one module per resource, composed into one router.

mod health;

use crate::{error::ApiError, state::AppState};
use axum::{Router, middleware, routing::get};

pub fn router(state: AppState) -> Router {
    Router::new()
        // Probes at the root for Kubernetes, and under /api for browsers behind the web proxy.
        .route("/healthz", get(health::liveness))
        .route("/readyz", get(health::readiness))
        .route("/api/healthz", get(health::liveness))
        .route("/api/readyz", get(health::readiness))
        .fallback(not_found)
        .layer(middleware::from_fn(service_kit::request::trace))
        .with_state(state)
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {}", uri.path()))
}
