//! `/api/{user_id}/chat` and the conversations it creates; `/api/info`.

use super::{
    extract::{Json, Path},
    responses::{ById, JsonBody, OwnUser, RateLimited, Unavailable},
    sse,
};
use crate::{
    agent::{
        Assistant, Events,
        clock::{Clock, ClockError},
    },
    auth::OwnedPath,
    domain::{MessageText, ZoneName},
    error::ApiError,
    metrics,
    state::AppState,
    store::{changes, chat_rate, conversations},
};
use api_types::{
    AssistantMode, ChatEvent, ChatMessage, ChatRequest, ChatResponse, ConversationSummary, ErrorBody, MessageRole,
    ServiceInfo, ToolCallRecord,
};
use axum::{
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

#[derive(Debug, Deserialize)]
pub struct ConversationPath {
    #[allow(dead_code)] // checked by OwnedPath
    user_id: String,
    id: String,
}

pub(super) fn conversation_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::NotFound(format!("conversation {raw} not found")))
}

/// One chat turn: the assistant reads the conversation, may run tools on the user's tasks,
/// and answers.
///
/// With `Accept: text/event-stream` the answer is a stream of server-sent events, one
/// `ChatEvent` each (`event:` its `type`, `data:` its JSON): `started`, then `text_delta`,
/// `tool_call` and `tool_result` events as the turn goes, then exactly one `done` (with the
/// body a JSON request gets) or `error` (with the status and body a JSON request would get).
/// Every error found before the turn starts (validation, auth, 404, 409, 429) is still a plain
/// JSON error with its status.
#[utoipa::path(post, path = "/api/{user_id}/chat", tag = "chat", security(("bearer" = [])),
    params(("user_id" = String, Path)), request_body = ChatRequest,
    responses(
        (status = 200, description = "The assistant's answer and the tool calls it made; with \
            `Accept: text/event-stream`, the turn as server-sent events, each `data:` one `ChatEvent`",
            content((ChatResponse = "application/json"), (ChatEvent = "text/event-stream"))),
        (status = 409, description = "`conflict`: the assistant is still answering another message in this conversation", body = ErrorBody),
        (status = 502, description = "`model_error`: the model answered with an error; the message is saved", body = ErrorBody),
        OwnUser, ById, JsonBody, RateLimited, Unavailable,
    ))]
pub async fn chat(
    State(state): State<AppState>,
    OwnedPath(user): OwnedPath,
    headers: HeaderMap,
    Json(request): Json<ChatRequest>,
) -> Result<Response, ApiError> {
    let started = tokio::time::Instant::now();
    let message = MessageText::parse(&request.message).map_err(|message| ApiError::invalid("message", message))?;
    let conversation = request.conversation_id.as_deref().map(conversation_id).transpose()?;
    let zone = request.time_zone.as_deref().map(ZoneName::parse).transpose();
    let zone = zone.map_err(|message| ApiError::invalid("time_zone", message))?;
    // Before the turn counts or stores anything: a zone that does not exist is the client's
    // mistake, told as such.
    let clock = Clock::of(&state.pool, zone).await.map_err(|error| match error {
        ClockError::UnknownZone(_) => ApiError::invalid("time_zone", error.to_string()),
        ClockError::Database(error) => error.into(),
    })?;
    // Every turn may call the model: counted per user, where every replica sees the count.
    if let Some(retry_after) = chat_rate::take(&state.pool, user.id, state.chat_limits.rate_per_minute.get()).await? {
        return Err(ApiError::RateLimited(retry_after));
    }
    let limits = state.chat_limits;
    if !sse::wanted(headers.get(header::ACCEPT)) {
        let response = state.assistant.turn(&state.pool, user.id, conversation, &message, &clock, limits).await?;
        return Ok(axum::Json(response).into_response());
    }
    // The 404 and 409 of a busy or unknown conversation come before the stream begins.
    let turn = Assistant::begin(&state.pool, user.id, conversation, &message, limits).await?;
    let (events, receiver) = Events::channel();
    // The turn runs in a task of its own, to its end even when the client leaves, so that a
    // person who reloads finds every tool call with its result. Its deadline is the chat's
    // timeout from the request's start, which the route's time limit no longer enforces once
    // the response has begun.
    let deadline = started + limits.turn_lease;
    tokio::spawn(async move {
        let run = state.assistant.run(turn, &state.pool, &message, &clock, limits, &events);
        let outcome = tokio::time::timeout_at(deadline, run).await.unwrap_or(Err(ApiError::Timeout(limits.turn_lease)));
        // The request's own log line and metrics end when the response begins: this line and
        // `metrics::streamed_turn` tell how and when the streamed turn ended, before its last
        // event goes out, so a client that has read it finds the turn counted.
        let elapsed = started.elapsed();
        let elapsed_ms = elapsed.as_millis() as u64;
        let last = match outcome {
            Ok(response) => {
                tracing::info!(elapsed_ms, tool_calls = response.tool_calls.len(), "streamed chat turn done");
                metrics::streamed_turn(None, elapsed);
                ChatEvent::Done { response }
            }
            Err(error) => {
                let (status, error) = error.status_and_body();
                tracing::warn!(elapsed_ms, status = status.as_u16(), error = %error.error, "streamed chat turn failed");
                metrics::streamed_turn(Some(&error.error), elapsed);
                ChatEvent::Error { status: status.as_u16(), error }
            }
        };
        events.send(last);
    });
    Ok(sse::response(receiver, sse::KEEP_ALIVE))
}

/// The user's conversations, most recent first.
#[utoipa::path(operation_id = "list_conversations", get, path = "/api/{user_id}/conversations", tag = "chat", security(("bearer" = [])),
    params(("user_id" = String, Path)),
    responses((status = 200, description = "The conversations", body = Vec<ConversationSummary>), OwnUser, Unavailable))]
pub async fn list(
    State(state): State<AppState>,
    OwnedPath(user): OwnedPath,
) -> Result<axum::Json<Vec<ConversationSummary>>, ApiError> {
    let rows = conversations::list(&state.pool, user.id).await?;
    Ok(axum::Json(rows.into_iter().map(Into::into).collect()))
}

/// A conversation's messages, oldest first; tool results are attached to the calls.
#[utoipa::path(operation_id = "list_messages", get, path = "/api/{user_id}/conversations/{id}/messages", tag = "chat", security(("bearer" = [])),
    params(("user_id" = String, Path), ("id" = String, Path)),
    responses((status = 200, description = "The messages", body = Vec<ChatMessage>), OwnUser, ById, Unavailable))]
pub async fn messages(
    State(state): State<AppState>,
    OwnedPath(user): OwnedPath,
    Path(path): Path<ConversationPath>,
) -> Result<axum::Json<Vec<ChatMessage>>, ApiError> {
    let id = conversation_id(&path.id)?;
    conversations::get(&state.pool, user.id, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("conversation {id} not found")))?;
    let rows = conversations::messages(&state.pool, id).await?;
    let results: std::collections::HashMap<String, Value> = rows
        .iter()
        .filter_map(|row| match row.message() {
            conversations::StoredMessage::Tool { tool_call_id, content, .. } => {
                Some((tool_call_id, serde_json::from_str(&content).unwrap_or(Value::String(content))))
            }
            _ => None,
        })
        .collect();
    let change_ids: Vec<i64> =
        results.values().filter_map(|result| result.get("change_id").and_then(Value::as_i64)).collect();
    let undone: std::collections::HashSet<i64> =
        changes::undone_among(&state.pool, user.id, &change_ids).await?.into_iter().collect();
    let messages = rows
        .iter()
        .map(|row| {
            let (role, content, tool_calls) = match row.message() {
                conversations::StoredMessage::User { content } => (MessageRole::User, Some(content), vec![]),
                conversations::StoredMessage::Tool { content, .. } => (MessageRole::Tool, Some(content), vec![]),
                conversations::StoredMessage::Assistant { content, tool_calls } => (
                    MessageRole::Assistant,
                    content,
                    tool_calls
                        .into_iter()
                        .map(|call| {
                            let result = results.get(&call.id).cloned().unwrap_or(Value::Null);
                            let change_id = result.get("change_id").and_then(Value::as_i64);
                            ToolCallRecord {
                                undone: change_id.is_some_and(|id| undone.contains(&id)),
                                change_id,
                                result,
                                arguments: serde_json::from_str(&call.arguments)
                                    .unwrap_or(Value::String(call.arguments)),
                                name: call.name,
                            }
                        })
                        .collect(),
                ),
            };
            ChatMessage { id: row.id, role, content, tool_calls, created_at: row.created_at }
        })
        .collect();
    Ok(axum::Json(messages))
}

/// Delete a conversation and its messages (the tasks it changed stay as they are).
#[utoipa::path(operation_id = "delete_conversation", delete, path = "/api/{user_id}/conversations/{id}", tag = "chat", security(("bearer" = [])),
    params(("user_id" = String, Path), ("id" = String, Path)),
    responses((status = 204, description = "Deleted"), OwnUser, ById, Unavailable))]
pub async fn delete(
    State(state): State<AppState>,
    OwnedPath(user): OwnedPath,
    Path(path): Path<ConversationPath>,
) -> Result<StatusCode, ApiError> {
    let id = conversation_id(&path.id)?;
    if conversations::delete(&state.pool, user.id, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("conversation {id} not found")))
    }
}

pub fn service_info(assistant: &Assistant) -> ServiceInfo {
    let (mode, model) = match assistant {
        Assistant::Model(client) => (AssistantMode::Model, Some(client.model().to_owned())),
        Assistant::Offline => (AssistantMode::Offline, None),
    };
    ServiceInfo { version: env!("CARGO_PKG_VERSION").to_owned(), assistant: mode, model }
}

/// Which assistant answers the chat, and the version.
#[utoipa::path(get, path = "/api/info", tag = "health", responses((status = 200, description = "The version and the assistant", body = ServiceInfo)))]
pub async fn info(State(state): State<AppState>) -> axum::Json<ServiceInfo> {
    axum::Json(service_info(&state.assistant))
}
