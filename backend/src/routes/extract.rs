//! axum's extractors with our error shape: a malformed body, query or path answers with the
//! one JSON error body (422 naming the field), never axum's plain-text rejection.

use crate::error::ApiError;
use axum::{
    extract::{ConnectInfo, FromRequest, FromRequestParts, Request},
    http::{HeaderMap, header, request::Parts},
};
use serde::de::{DeserializeOwned, IgnoredAny};
use std::net::{IpAddr, SocketAddr};

/// A JSON object body: 415 without a JSON content type, 413 over the limit, 400 malformed,
/// 422 naming the field serde stopped at.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !json_content_type(request.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let body = axum::body::Bytes::from_request(request, state).await?;
        object(&body).map(Json)
    }
}

/// `application/json` or `application/<anything>+json`, as axum's own `Json` accepts.
fn json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    matches!(essence.split_once('/'), Some(("application", subtype)) if subtype == "json" || subtype.ends_with("+json"))
}

/// `body` read as the JSON object `T`. serde also reads a struct from an array, field by
/// field in declaration order, so `PATCH [null, null]` cleared a task's description: an array
/// is refused here (422) before serde sees it.
pub fn object<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let starts_an_array = body.iter().find(|byte| !byte.is_ascii_whitespace()) == Some(&b'[');
    if starts_an_array && serde_json::from_slice::<IgnoredAny>(body).is_ok() {
        return Err(ApiError::invalid("body", "must be a JSON object, not an array"));
    }
    let axum::Json(value) = axum::Json::<T>::from_bytes(body)?;
    Ok(value)
}

/// A raw body, for a route whose body is optional; too large is our 413, not axum's text.
#[derive(Debug)]
pub struct Bytes(pub axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for Bytes {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Bytes(axum::body::Bytes::from_request(request, state).await?))
    }
}

#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// The TCP peer, when the server was started with connect info (it always is outside
/// router-only tests).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip())))
    }
}
