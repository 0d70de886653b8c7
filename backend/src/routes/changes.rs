//! `/api/{user_id}/changes/{change_id}/undo` and `/api/{user_id}/conversations/{id}/undo`:
//! reverting what the chat's or MCP's tools changed (`store::changes` records it).

use super::{
    chat::conversation_id,
    extract::Path,
    responses::{ById, OwnUser, Unavailable},
};
use crate::{agent::TurnLease, auth::OwnedPath, error::ApiError, state::AppState, store::changes};
use api_types::{ErrorBody, UndoResponse};
use axum::extract::State;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct ChangePath {
    #[allow(dead_code)] // checked by OwnedPath
    user_id: String,
    change_id: i64,
}

#[derive(Debug, Deserialize)]
pub struct ConversationPath {
    #[allow(dead_code)] // checked by OwnedPath
    user_id: String,
    id: String,
}

/// Undo one change a tool made (the `change_id` of a tool call in the chat's answer or
/// history, or of an MCP tool's result).
#[utoipa::path(operation_id = "undo_change", post, path = "/api/{user_id}/changes/{change_id}/undo", tag = "chat", security(("bearer" = [])),
    params(("user_id" = String, Path), ("change_id" = i64, Path)),
    responses(
        (status = 200, description = "The change is undone: the task is as it was before it", body = UndoResponse),
        (status = 409, description = "`already_undone`: the change was undone before; `changed_since`: the task was changed (or deleted, or re-created) after this change, so undoing it would lose that; the message names the task. Nothing was undone.", body = ErrorBody),
        (status = 410, description = "`undo_expired`: the change is older than the undo window (`UNDO_WINDOW_SECS`); once purged it answers 404", body = ErrorBody),
        OwnUser, ById, Unavailable,
    ))]
pub async fn undo_change(
    State(state): State<AppState>,
    OwnedPath(user): OwnedPath,
    Path(path): Path<ChangePath>,
) -> Result<axum::Json<UndoResponse>, ApiError> {
    let undone = changes::undo_change(&state.pool, user.id, path.change_id, state.chat_limits.undo_window).await?;
    Ok(axum::Json(UndoResponse { undone }))
}

/// Undo the last chat turn of a conversation that changed tasks and is not undone yet: all its
/// changes at once, newest first. Again, the turn before that.
#[utoipa::path(operation_id = "undo_last_turn", post, path = "/api/{user_id}/conversations/{id}/undo", tag = "chat", security(("bearer" = [])),
    params(("user_id" = String, Path), ("id" = String, Path)),
    responses(
        (status = 200, description = "Every change of that turn is undone", body = UndoResponse),
        (status = 409, description = "`changed_since`: a task of that turn was changed after it; the message names the task. `conflict`: the assistant is still answering in this conversation. Nothing was undone.", body = ErrorBody),
        OwnUser, ById, Unavailable,
    ))]
pub async fn undo_last_turn(
    State(state): State<AppState>,
    OwnedPath(user): OwnedPath,
    Path(path): Path<ConversationPath>,
) -> Result<axum::Json<UndoResponse>, ApiError> {
    let id = conversation_id(&path.id)?;
    let window = state.chat_limits.undo_window;
    // The turn's lease, as a chat turn takes it: undoing a turn that is still running would
    // revert half of it while the rest keeps coming (409 then; 404 for no such conversation).
    let lease = TurnLease::take(&state.pool, user.id, id, UNDO_LEASE).await?;
    let undone = changes::undo_last(&state.pool, user.id, Some(id), None, window).await;
    lease.release().await;
    Ok(axum::Json(UndoResponse { undone: undone? }))
}

/// Longest an undo holds its conversation: one transaction over at most a turn's changes.
const UNDO_LEASE: std::time::Duration = std::time::Duration::from_secs(30);
