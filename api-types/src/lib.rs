//! The HTTP contract of todo-chatbot: every request and response body that crosses the wire
//! between the backend and its clients (the web app, scripts, tests). Both sides depend on
//! this crate, so a field is named once and a change breaks the build, not production.

mod error;
mod health;

pub use error::{ErrorBody, FieldError};
pub use health::{CheckStatus, Liveness, Readiness, ReadinessCheck};
