//! The chat: one turn = load the conversation from PostgreSQL, store the person's message,
//! let the assistant work (a model with tools, or the offline assistant), store every
//! assistant message, tool call and tool result as it happens, answer. Nothing lives in
//! memory between turns, so any replica continues any conversation.

pub mod model;
pub mod offline;
pub mod tools;

use crate::{
    domain::{ConversationTitle, MessageText},
    error::ApiError,
    store::conversations::{self, StoredMessage, StoredToolCall},
};
use api_types::{ChatResponse, ToolCallRecord};
use model::{ModelClient, ModelError, wire_message};
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

const SYSTEM_PROMPT: &str = "You are the assistant of todo-chatbot, a todo app. You manage the user's tasks \
only through the tools add_task, list_tasks, complete_task, delete_task and update_task. When the user names \
a task instead of giving its id, call list_tasks first to find it, then act on the right id. Never invent \
task ids. If a tool returns ok=false, explain the problem briefly. Keep answers short and friendly. \
Dates are YYYY-MM-DD or RFC 3339 timestamps.";

/// Who answers the chat.
#[derive(Debug, Clone)]
pub enum Assistant {
    Model(Box<ModelClient>),
    Offline,
}

#[derive(Debug, Clone, Copy)]
pub struct ChatLimits {
    /// Most tool rounds (model calls that ask for tools) in one turn.
    pub max_tool_rounds: u32,
    /// Most stored messages replayed to the model.
    pub history_messages: usize,
}

/// The messages to replay: at most `limit` of the latest, starting at a user message so that
/// no tool result is cut from the call that asked for it, and with any tool call whose result
/// never got stored (a crash mid-turn) left out, since the API rejects an unanswered call.
pub fn replayable(history: &[StoredMessage], limit: usize) -> Vec<StoredMessage> {
    let mut start = history.len().saturating_sub(limit);
    while start < history.len() && !matches!(history[start], StoredMessage::User { .. }) {
        start += 1;
    }
    let window = &history[start..];
    let answered: std::collections::HashSet<&str> = window
        .iter()
        .filter_map(|message| match message {
            StoredMessage::Tool { tool_call_id, .. } => Some(tool_call_id.as_str()),
            _ => None,
        })
        .collect();
    window
        .iter()
        .filter_map(|message| match message {
            StoredMessage::Assistant { content, tool_calls } if !tool_calls.is_empty() => {
                let kept: Vec<StoredToolCall> =
                    tool_calls.iter().filter(|call| answered.contains(call.id.as_str())).cloned().collect();
                if kept.is_empty() && content.is_none() {
                    None
                } else {
                    Some(StoredMessage::Assistant { content: content.clone(), tool_calls: kept })
                }
            }
            other => Some(other.clone()),
        })
        .collect()
}

/// Stores the assistant's final text of a turn.
async fn answer(pool: &PgPool, conversation: Uuid, text: &str) -> Result<(), ApiError> {
    let message = StoredMessage::Assistant { content: Some(text.to_owned()), tool_calls: vec![] };
    conversations::append(pool, conversation, &message).await?;
    Ok(())
}

/// Runs one tool, stores its result, and returns the record for the response.
async fn run_tool(
    pool: &PgPool,
    conversation: Uuid,
    owner: Uuid,
    call: &StoredToolCall,
) -> Result<ToolCallRecord, ApiError> {
    let result = match tools::execute(pool, owner, &call.name, &call.arguments).await {
        Ok(value) => value,
        Err(tools::ToolError::Database(error)) => return Err(error.into()),
        Err(error) => tools::failure(&error),
    };
    tracing::info!(tool = %call.name, ok = result["ok"].as_bool().unwrap_or(false), "tool ran");
    let stored =
        StoredMessage::Tool { tool_call_id: call.id.clone(), name: call.name.clone(), content: result.to_string() };
    conversations::append(pool, conversation, &stored).await?;
    let arguments = serde_json::from_str(&call.arguments).unwrap_or_else(|_| Value::String(call.arguments.clone()));
    Ok(ToolCallRecord { name: call.name.clone(), arguments, result })
}

impl Assistant {
    /// One chat turn for `owner`. The person's message is stored before the assistant runs,
    /// so it survives a model failure.
    pub async fn turn(
        &self,
        pool: &PgPool,
        owner: Uuid,
        conversation_id: Option<Uuid>,
        message: &MessageText,
        limits: ChatLimits,
    ) -> Result<ChatResponse, ApiError> {
        let conversation = match conversation_id {
            Some(id) => conversations::get(pool, owner, id)
                .await?
                .ok_or_else(|| ApiError::NotFound(format!("conversation {id} not found")))?,
            None => conversations::create(pool, owner, &ConversationTitle::of(message)).await?,
        };
        let history: Vec<StoredMessage> =
            conversations::messages(pool, conversation.id).await?.iter().map(|row| row.message()).collect();
        let user_message = StoredMessage::User { content: message.as_str().to_owned() };
        conversations::append(pool, conversation.id, &user_message).await?;

        let (response, tool_calls) = match self {
            Assistant::Offline => Self::offline_turn(pool, conversation.id, owner, message.as_str()).await?,
            Assistant::Model(model) => {
                let mut transcript = replayable(&history, limits.history_messages);
                transcript.push(user_message);
                Self::model_turn(model, pool, conversation.id, owner, transcript, limits).await?
            }
        };
        Ok(ChatResponse { conversation_id: conversation.id.to_string(), response, tool_calls })
    }

    async fn offline_turn(
        pool: &PgPool,
        conversation: Uuid,
        owner: Uuid,
        message: &str,
    ) -> Result<(String, Vec<ToolCallRecord>), ApiError> {
        let today = chrono::Utc::now().date_naive();
        let (text, records) = match offline::plan(message, today) {
            offline::Plan::Say(text) => (text, Vec::new()),
            offline::Plan::Call { name, arguments } => {
                // Stored exactly like a model's tool call, so a model configured later can
                // replay this conversation.
                let call = StoredToolCall {
                    id: format!("offline_{}", Uuid::new_v4().simple()),
                    name: name.to_owned(),
                    arguments: arguments.to_string(),
                };
                conversations::append(
                    pool,
                    conversation,
                    &StoredMessage::Assistant { content: None, tool_calls: vec![call.clone()] },
                )
                .await?;
                let record = run_tool(pool, conversation, owner, &call).await?;
                (offline::describe(name, &arguments, &record.result), vec![record])
            }
        };
        answer(pool, conversation, &text).await?;
        Ok((text, records))
    }

    async fn model_turn(
        model: &ModelClient,
        pool: &PgPool,
        conversation: Uuid,
        owner: Uuid,
        mut transcript: Vec<StoredMessage>,
        limits: ChatLimits,
    ) -> Result<(String, Vec<ToolCallRecord>), ApiError> {
        let definitions = tools::definitions();
        let mut records = Vec::new();
        for round in 0..=limits.max_tool_rounds {
            let mut messages = vec![json!({"role": "system", "content": SYSTEM_PROMPT})];
            messages.extend(transcript.iter().map(wire_message));
            let reply =
                model.complete(&messages, &definitions).await.map_err(|error| model_failure(error, &records))?;
            if reply.tool_calls.is_empty() {
                let text = reply.content.unwrap_or_else(|| "Done.".to_owned());
                answer(pool, conversation, &text).await?;
                return Ok((text, records));
            }
            if round == limits.max_tool_rounds {
                // Out of rounds: these calls are neither run nor stored (they would be unanswered).
                break;
            }
            let asked =
                StoredMessage::Assistant { content: reply.content.clone(), tool_calls: reply.tool_calls.clone() };
            conversations::append(pool, conversation, &asked).await?;
            transcript.push(asked);
            for call in &reply.tool_calls {
                let record = run_tool(pool, conversation, owner, call).await?;
                transcript.push(StoredMessage::Tool {
                    tool_call_id: call.id.clone(),
                    name: call.name.clone(),
                    content: record.result.to_string(),
                });
                records.push(record);
            }
        }
        let text = format!(
            "I stopped after {} rounds of tool calls without finishing. What I did so far is saved; \
             please rephrase or split the request.",
            limits.max_tool_rounds
        );
        answer(pool, conversation, &text).await?;
        Ok((text, records))
    }
}

/// A model failure as an HTTP error that also says what tools already did this turn: that
/// work is saved and must not look lost.
fn model_failure(error: ModelError, done: &[ToolCallRecord]) -> ApiError {
    let done_note = if done.is_empty() {
        String::new()
    } else {
        let names: Vec<&str> = done.iter().map(|record| record.name.as_str()).collect();
        format!(" Already done and saved this turn: {}.", names.join(", "))
    };
    match error {
        ModelError::Unavailable(..) => {
            ApiError::ModelUnavailable(format!("{error}. Your message is saved.{done_note}"))
        }
        ModelError::Failed(_) => ApiError::ModelFailed(format!("{error}. Your message is saved.{done_note}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(text: &str) -> StoredMessage {
        StoredMessage::User { content: text.to_owned() }
    }

    fn asks(id: &str) -> StoredMessage {
        StoredMessage::Assistant {
            content: None,
            tool_calls: vec![StoredToolCall { id: id.to_owned(), name: "list_tasks".into(), arguments: "{}".into() }],
        }
    }

    fn result(id: &str) -> StoredMessage {
        StoredMessage::Tool { tool_call_id: id.to_owned(), name: "list_tasks".into(), content: "{}".into() }
    }

    fn says(text: &str) -> StoredMessage {
        StoredMessage::Assistant { content: Some(text.to_owned()), tool_calls: vec![] }
    }

    #[test]
    fn the_window_starts_at_a_user_message_never_inside_a_tool_exchange() {
        let history =
            vec![user("a"), asks("1"), result("1"), says("done a"), user("b"), asks("2"), result("2"), says("done b")];
        // The last 5 would start at `says("done a")`... no: at index 3; it must move to `user("b")`.
        assert_eq!(replayable(&history, 5), history[4..].to_vec());
        assert_eq!(replayable(&history, 3), Vec::<StoredMessage>::new(), "no user message in the window");
        assert_eq!(replayable(&history, 100), history);
    }

    #[test]
    fn unanswered_tool_calls_are_not_replayed() {
        let history = vec![user("a"), asks("1")];
        assert_eq!(replayable(&history, 10), vec![user("a")]);
    }
}
