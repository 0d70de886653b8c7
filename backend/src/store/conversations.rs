use crate::domain::ConversationTitle;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, types::Json};
use std::time::Duration;
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConversationRow {
    pub id: Uuid,
    pub title: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<ConversationRow> for api_types::ConversationSummary {
    fn from(row: ConversationRow) -> Self {
        Self { id: row.id.to_string(), title: row.title, created_at: row.created_at, updated_at: row.updated_at }
    }
}

/// A tool call as the model asked for it; `arguments` is the JSON text the model wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredMessage {
    User { content: String },
    Assistant { content: Option<String>, tool_calls: Vec<StoredToolCall> },
    Tool { tool_call_id: String, name: String, content: String },
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MessageRow {
    pub id: i64,
    role: String,
    content: Option<String>,
    tool_calls: Option<Json<Vec<StoredToolCall>>>,
    tool_call_id: Option<String>,
    tool_name: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl MessageRow {
    pub fn message(&self) -> StoredMessage {
        match self.role.as_str() {
            "user" => StoredMessage::User { content: self.content.clone().unwrap_or_default() },
            "tool" => StoredMessage::Tool {
                tool_call_id: self.tool_call_id.clone().unwrap_or_default(),
                name: self.tool_name.clone().unwrap_or_default(),
                content: self.content.clone().unwrap_or_default(),
            },
            _ => StoredMessage::Assistant {
                content: self.content.clone(),
                tool_calls: self.tool_calls.as_ref().map(|calls| calls.0.clone()).unwrap_or_default(),
            },
        }
    }
}

pub async fn create(pool: &PgPool, owner: Uuid, title: &ConversationTitle) -> Result<ConversationRow, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO conversations (user_id, title) VALUES ($1, $2) RETURNING id, title, created_at, updated_at",
    )
    .bind(owner)
    .bind(title.as_str())
    .fetch_one(pool)
    .await
}

pub async fn get(pool: &PgPool, owner: Uuid, id: Uuid) -> Result<Option<ConversationRow>, sqlx::Error> {
    sqlx::query_as("SELECT id, title, created_at, updated_at FROM conversations WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(owner)
        .fetch_optional(pool)
        .await
}

pub async fn list(pool: &PgPool, owner: Uuid) -> Result<Vec<ConversationRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, title, created_at, updated_at FROM conversations WHERE user_id = $1 \
         ORDER BY updated_at DESC, id LIMIT 200",
    )
    .bind(owner)
    .fetch_all(pool)
    .await
}

pub async fn delete(pool: &PgPool, owner: Uuid, id: Uuid) -> Result<bool, sqlx::Error> {
    let result = sqlx::query("DELETE FROM conversations WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(owner)
        .execute(pool)
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Takes the lease that lets one turn at a time run on `owner`'s conversation `id`, for at
/// most `lease`. `None` when the conversation is not the owner's or another turn holds it.
pub async fn begin_turn(pool: &PgPool, owner: Uuid, id: Uuid, lease: Duration) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE conversations SET turn_id = gen_random_uuid(), turn_until = now() + make_interval(secs => $3) \
         WHERE id = $1 AND user_id = $2 AND (turn_until IS NULL OR turn_until <= now()) RETURNING turn_id",
    )
    .bind(id)
    .bind(owner)
    .bind(lease.as_secs_f64())
    .fetch_optional(pool)
    .await
}

/// Gives the lease back, unless it expired and another turn holds it now.
pub async fn end_turn(pool: &PgPool, id: Uuid, turn: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE conversations SET turn_id = NULL, turn_until = NULL WHERE id = $1 AND turn_id = $2")
        .bind(id)
        .bind(turn)
        .execute(pool)
        .await?;
    Ok(())
}

/// Every message of a conversation, oldest first. Ownership is checked by the caller.
pub async fn messages(pool: &PgPool, conversation: Uuid) -> Result<Vec<MessageRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, role, content, tool_calls, tool_call_id, tool_name, created_at FROM messages \
         WHERE conversation_id = $1 ORDER BY id",
    )
    .bind(conversation)
    .fetch_all(pool)
    .await
}

/// Appends one message and marks the conversation as recently used. Each message is its own
/// statement, committed at once: a failure later in the turn loses nothing before it.
pub async fn append(pool: &PgPool, conversation: Uuid, message: &StoredMessage) -> Result<i64, sqlx::Error> {
    let (role, content, tool_calls, tool_call_id, tool_name) = match message {
        StoredMessage::User { content } => ("user", Some(content.as_str()), None, None, None),
        StoredMessage::Assistant { content, tool_calls } => {
            ("assistant", content.as_deref(), (!tool_calls.is_empty()).then(|| Json(tool_calls.clone())), None, None)
        }
        StoredMessage::Tool { tool_call_id, name, content } => {
            ("tool", Some(content.as_str()), None, Some(tool_call_id.as_str()), Some(name.as_str()))
        }
    };
    let (id,): (i64,) = sqlx::query_as(
        "WITH touched AS (UPDATE conversations SET updated_at = now() WHERE id = $1) \
         INSERT INTO messages (conversation_id, role, content, tool_calls, tool_call_id, tool_name) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(conversation)
    .bind(role)
    .bind(content)
    .bind(tool_calls)
    .bind(tool_call_id)
    .bind(tool_name)
    .fetch_one(pool)
    .await?;
    Ok(id)
}
