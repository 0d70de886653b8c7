use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST /api/{user_id}/chat`: one turn. Without `conversation_id` a new conversation starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChatRequest {
    #[serde(default)]
    pub conversation_id: Option<String>,
    /// What the person wrote, 1 to 4000 characters.
    pub message: String,
}

/// The assistant's answer to one turn, and every tool it ran to get there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChatResponse {
    pub conversation_id: String,
    pub response: String,
    pub tool_calls: Vec<ToolCallRecord>,
}

/// One tool the assistant ran: `add_task`, `list_tasks`, `complete_task`, `delete_task`,
/// `update_task`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ToolCallRecord {
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub arguments: Value,
    /// What the tool returned: `{"ok": true, ...}` or `{"ok": false, "error": "..."}`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub result: Value,
}

/// An entry of `GET /api/{user_id}/conversations`, most recent first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConversationSummary {
    pub id: String,
    /// Derived from the first message.
    pub title: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum MessageRole {
    User,
    Assistant,
    Tool,
}

/// An entry of `GET /api/{user_id}/conversations/{id}/messages`, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChatMessage {
    pub id: i64,
    pub role: MessageRole,
    pub content: Option<String>,
    /// Assistant messages that asked for tools.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCallRecord>,
    pub created_at: DateTime<Utc>,
}

/// `GET /api/info`: what this backend is running.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceInfo {
    pub version: String,
    pub assistant: AssistantMode,
    /// The model name when `assistant` is `model`.
    pub model: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum AssistantMode {
    /// An OpenAI-compatible model answers.
    Model,
    /// No OPENAI_API_KEY: the built-in offline assistant understands common commands.
    Offline,
}
