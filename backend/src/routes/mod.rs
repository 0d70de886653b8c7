//! The HTTP surface: one module per resource, composed into one router.

mod auth;
mod changes;
mod chat;
mod docs;
pub(crate) mod extract;
mod health;
pub mod responses;
mod sse;
mod tasks;

use crate::{config::Config, error::ApiError, metrics, state::AppState};
use axum::{
    Router,
    extract::{DefaultBodyLimit, Request, State},
    http::{HeaderName, HeaderValue, Method, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, patch, post},
};
use std::time::Duration;
use tower_http::cors::CorsLayer;

pub use docs::ApiDoc;

/// Request bodies above this are refused with 413: a task is a few kilobytes at most.
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;

pub fn router(state: AppState, config: &Config) -> Router {
    let api = Router::new()
        .route("/api/auth/sign-up", post(auth::sign_up))
        .route("/api/auth/sign-in", post(auth::sign_in))
        .route("/api/auth/me", get(auth::me))
        .route("/api/auth/refresh", post(auth::refresh))
        .route("/api/auth/sign-out", post(auth::sign_out))
        .route("/api/auth/sign-out-everywhere", post(auth::sign_out_everywhere))
        .route("/api/auth/password", post(auth::change_password))
        .route("/api/{user_id}/tasks", get(tasks::list).post(tasks::create))
        .route(
            "/api/{user_id}/tasks/{id}",
            get(tasks::get).put(tasks::replace).patch(tasks::update).delete(tasks::delete),
        )
        .route("/api/{user_id}/tasks/{id}/complete", patch(tasks::complete))
        .route("/api/{user_id}/conversations", get(chat::list))
        .route("/api/{user_id}/conversations/{id}", axum::routing::delete(chat::delete))
        .route("/api/{user_id}/conversations/{id}/messages", get(chat::messages))
        .route("/api/{user_id}/conversations/{id}/undo", post(changes::undo_last_turn))
        .route("/api/{user_id}/changes/{change_id}/undo", post(changes::undo_change))
        .route("/api/info", get(chat::info))
        .layer(middleware::from_fn_with_state(config.request_timeout, time_limit));
    // A chat turn may call the model several times: it gets its own, longer limit.
    let chat = Router::new()
        .route("/api/{user_id}/chat", post(chat::chat))
        .layer(middleware::from_fn_with_state(config.chat_timeout, time_limit));

    Router::new()
        // Probes at the root for Kubernetes, and under /api for browsers behind the web proxy.
        .route("/healthz", get(health::liveness))
        .route("/readyz", get(health::readiness))
        .route("/api/healthz", get(health::liveness))
        .route("/api/readyz", get(health::readiness))
        .route("/metrics", get(metrics::scrape))
        .merge(docs::router())
        .merge(api)
        .merge(chat)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .merge(crate::mcp::router(state.clone(), config.request_timeout))
        .fallback(not_found)
        .layer(middleware::from_fn(metrics::track))
        .layer(cors(&config.cors_origins))
        .layer(middleware::from_fn(service_kit::request::trace))
        .with_state(state)
}

/// Browsers may call the API directly only from the configured origins.
fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins.iter().filter_map(|origin| HeaderValue::from_str(origin).ok()).collect();
    CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, HeaderName::from_static("x-request-id")])
        .expose_headers([HeaderName::from_static("x-request-id"), header::RETRY_AFTER])
        .max_age(std::time::Duration::from_secs(3600))
}

/// A request still running after `limit` is dropped and answered 503 `timeout` in the one
/// error shape (tower-http's timeout answers with an empty body, which the document can't promise).
pub(crate) async fn time_limit(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout(limit).into_response(),
    }
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {}", uri.path()))
}
