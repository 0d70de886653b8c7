//! Per-request plumbing: a request id on every request and response, and one log line per
//! request with method, route, status and latency.

use axum::{
    extract::{MatchedPath, Request},
    middleware::Next,
    response::Response,
};
use http::{HeaderName, HeaderValue};
use std::time::Instant;

pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the request being served, available to handlers as an extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// Accepts a caller's `X-Request-Id` when it is short and printable, otherwise makes one.
fn request_id_of(request: &Request) -> String {
    request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|id| !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
}

/// Middleware (`axum::middleware::from_fn(request::trace)`): sets the request id on the
/// request (so handlers and proxies pass it on) and on the response, and logs the request.
pub async fn trace(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id_of(&request);
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    // The route template ("/api/{user_id}/tasks") groups requests in dashboards; the raw path
    // says which request this was.
    let route = request.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned());
    if let Ok(value) = HeaderValue::from_str(&id) {
        request.headers_mut().insert(REQUEST_ID.clone(), value);
    }
    request.extensions_mut().insert(RequestId(id.clone()));

    let mut response = next.run(request).await;

    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let status = response.status().as_u16();
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID.clone(), value);
    }
    tracing::info!(
        request_id = %id,
        method = %method,
        path = %path,
        route = route.as_deref().unwrap_or(""),
        status,
        latency_ms = (latency_ms * 1000.0).round() / 1000.0,
        "request"
    );
    response
}
