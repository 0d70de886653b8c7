//! The HTTP contract of todo-chatbot: every request and response body that crosses the wire
//! between the backend and its clients (the web app, scripts, tests). Both sides depend on
//! this crate, so a field is named once and a change breaks the build, not production.
//! The `openapi` feature (backend only) derives the OpenAPI schemas from these same types.

mod auth;
mod chat;
mod error;
mod health;
pub mod json;
pub mod stream;
mod tasks;
pub mod timestamp;

pub use auth::{AuthResponse, ChangePasswordRequest, SignInRequest, SignUpRequest, User};
pub use chat::{
    AssistantMode, ChangeKind, ChatMessage, ChatRequest, ChatResponse, ConversationSummary, MessageRole, ServiceInfo,
    ToolCallRecord, UndoResponse, UndoneChange,
};
pub use error::{ErrorBody, FieldError};
pub use health::{CheckStatus, Liveness, Readiness, ReadinessCheck};
#[cfg(target_arch = "wasm32")]
pub use json::BrowserJson;
pub use json::{JsonReader, SerdeJson};
pub use stream::{ChatEvent, DecodeError, SseDecoder, SseEvent};
pub use tasks::{
    CompleteRequest, NewTask, Priority, SortOrder, StatusFilter, TASK_TOTAL_CAP, Task, TaskPage, TaskPatch, TaskQuery,
    TaskSort,
};
