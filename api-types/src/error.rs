use serde::{Deserialize, Serialize};

/// The one shape of every error the API returns, whatever the status code. The response's
/// `X-Request-Id` header names the matching log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// A stable, machine-readable code such as `not_found` or `validation_failed`.
    pub error: String,
    /// A sentence for people.
    pub message: String,
    /// For `validation_failed`: every field that was wrong, not just the first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    pub field: String,
    pub message: String,
}
