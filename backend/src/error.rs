//! One error type for the whole API, mapped to HTTP in one place, always as the one JSON
//! shape of `api_types::ErrorBody`.

use crate::store::changes::UndoError;
use api_types::{ErrorBody, FieldError};
use axum::{
    Json,
    extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(&'static str),
    /// An undo refused: the change was undone already or the task changed since (409), or the
    /// undo window has passed (410).
    #[error(transparent)]
    Undo(UndoError),
    #[error("invalid input: see `fields`")]
    Validation(Vec<FieldError>),
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("send the body as JSON with Content-Type: application/json")]
    UnsupportedMediaType,
    #[error("too many attempts: retry in {} s", .0.as_secs())]
    RateLimited(Duration),
    #[error("{0}")]
    ModelUnavailable(String),
    #[error("{0}")]
    ModelFailed(String),
    #[error("the request took longer than {} s", .0.as_secs())]
    Timeout(Duration),
    #[error("the database is unavailable")]
    DatabaseUnavailable(#[source] sqlx::Error),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub fn internal(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        ApiError::Internal(Box::new(error))
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError { field: field.to_owned(), message: message.into() }])
    }

    pub fn task_not_found(id: i64) -> Self {
        ApiError::NotFound(format!("task {id} not found"))
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::Undo(UndoError::AlreadyUndone(_)) => (StatusCode::CONFLICT, "already_undone"),
            ApiError::Undo(UndoError::Expired { .. }) => (StatusCode::GONE, "undo_expired"),
            ApiError::Undo(_) => (StatusCode::CONFLICT, "changed_since"),
            ApiError::Validation(_) => (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::UnsupportedMediaType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            ApiError::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::ModelUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "model_unavailable"),
            ApiError::ModelFailed(_) => (StatusCode::BAD_GATEWAY, "model_error"),
            ApiError::Timeout(_) => (StatusCode::SERVICE_UNAVAILABLE, "timeout"),
            ApiError::DatabaseUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "database_unavailable"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed | sqlx::Error::Tls(_) => {
                ApiError::DatabaseUnavailable(error)
            }
            other => ApiError::internal(other),
        }
    }
}

impl From<UndoError> for ApiError {
    fn from(error: UndoError) -> Self {
        match error {
            UndoError::Database(error) => error.into(),
            UndoError::NotFound(_) | UndoError::Nothing(_) => ApiError::NotFound(error.to_string()),
            other => ApiError::Undo(other),
        }
    }
}

impl From<crate::domain::FieldErrors> for ApiError {
    fn from(errors: crate::domain::FieldErrors) -> Self {
        ApiError::Validation(errors.into_vec())
    }
}

/// A body that is not the JSON the route expects: 422 naming the field serde stopped at,
/// 400 for syntax, 413 when too large, 415 without the JSON content type.
impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(error) => {
                let (field, message) = field_of_serde_error(&error.body_text(), "body");
                ApiError::invalid(&field, message)
            }
            JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType,
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::PayloadTooLarge(crate::routes::MAX_BODY_BYTES)
            }
            other => ApiError::BadRequest(other.body_text()),
        }
    }
}

/// A raw body that could not be read: 413 when too large (axum's own answer is plain text).
impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(crate::routes::MAX_BODY_BYTES)
        } else {
            ApiError::BadRequest(rejection.body_text())
        }
    }
}

/// Which field a serde error is about, and what is wrong with it, from axum's rejection text:
/// `... target type: title: invalid type: ...`, `... missing field `title` ...` or
/// `... duplicate field `q``; `whole` when it names none.
fn field_of_serde_error(text: &str, whole: &str) -> (String, String) {
    let detail = text.split_once("target type: ").map_or(text, |(_, rest)| rest);
    let detail = detail.strip_prefix("Failed to deserialize query string: ").unwrap_or(detail);
    let detail = detail.split(" at line ").next().unwrap_or(detail);
    for (prefix, message) in [("missing field `", "is required"), ("duplicate field `", "is given more than once")] {
        if let Some(rest) = detail.strip_prefix(prefix)
            && let Some((field, _)) = rest.split_once('`')
        {
            return (field.to_owned(), message.to_owned());
        }
    }
    match detail.split_once(": ") {
        Some((path, message)) if !path.contains(' ') => (path.to_owned(), message.to_owned()),
        _ => (whole.to_owned(), detail.to_owned()),
    }
}

/// A query string that does not fit its parameters' types (`limit=-1`, `offset=99999999999`,
/// an unknown `status`): 422 naming the parameter.
impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        let (field, message) = field_of_serde_error(&rejection.body_text(), "query");
        ApiError::invalid(&field, message)
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::NotFound(format!("no such resource: {}", rejection.body_text()))
    }
}

impl ApiError {
    /// The status and body this error answers with, logging a server error's cause: for a
    /// streamed chat turn, whose `error` event carries them after the 200 has gone out.
    pub fn status_and_body(&self) -> (StatusCode, ErrorBody) {
        let (status, code) = self.status_and_code();
        if status.is_server_error() {
            // The cause goes to the log; the client gets the generic sentence.
            tracing::error!(error = ?self, "request failed");
        }
        let fields = match self {
            ApiError::Validation(fields) => fields.clone(),
            _ => Vec::new(),
        };
        (status, ErrorBody { error: code.to_owned(), message: self.to_string(), fields })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = self.status_and_body();
        let retry_after = match &self {
            ApiError::RateLimited(wait) => Some(wait.as_secs().max(1)),
            ApiError::DatabaseUnavailable(_) => Some(1),
            _ => None,
        };
        let mut response = (status, Json(body)).into_response();
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::field_of_serde_error;

    #[test]
    fn serde_errors_name_their_field() {
        let prefix = "Failed to deserialize the JSON body into the target type: ";
        assert_eq!(
            field_of_serde_error(&format!("{prefix}missing field `password` at line 1 column 29"), "body"),
            ("password".to_owned(), "is required".to_owned())
        );
        assert_eq!(
            field_of_serde_error(
                &format!("{prefix}title: invalid type: integer `42`, expected a string at line 1 column 12"),
                "body"
            ),
            ("title".to_owned(), "invalid type: integer `42`, expected a string".to_owned())
        );
        assert_eq!(field_of_serde_error(&format!("{prefix}expected value at line 1 column 1"), "body").0, "body");
    }

    #[test]
    fn query_errors_name_their_parameter() {
        let prefix = "Failed to deserialize query string: ";
        assert_eq!(
            field_of_serde_error(&format!("{prefix}limit: number too large to fit in target type"), "query"),
            ("limit".to_owned(), "number too large to fit in target type".to_owned())
        );
        assert_eq!(
            field_of_serde_error(&format!("{prefix}duplicate field `q`"), "query"),
            ("q".to_owned(), "is given more than once".to_owned())
        );
        assert_eq!(field_of_serde_error(&format!("{prefix}something else"), "query").0, "query");
    }
}
