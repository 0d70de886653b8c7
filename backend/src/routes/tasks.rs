//! `/api/{user_id}/tasks`: the task API. Every route takes `OwnedPath` (the list `ClaimedPath`,
//! whose query checks the session itself), so a token opens only its own user's tasks; another
//! user's task id answers 404, as if it did not exist.

use super::{
    extract::{self, Bytes, Json, Path, Query},
    responses::{ById, JsonBody, OptionalJsonBody, OwnUser, QueryParams, Unavailable},
};
use crate::{
    auth::{ClaimedPath, OwnedPath},
    domain::{TaskChanges, TaskDraft, TaskFilter},
    error::ApiError,
    metrics::{self, PageAnswer},
    page_cache::{CachedPage, PageKey},
    state::AppState,
    store::tasks,
};
use api_types::{CompleteRequest, NewTask, Task, TaskPage, TaskPatch, TaskQuery};
use axum::{
    extract::{RawQuery, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct TaskPath {
    #[allow(dead_code)] // checked by OwnedPath
    user_id: String,
    id: i64,
}

/// List tasks: filter, search, sort, paginate.
#[utoipa::path(operation_id = "list_tasks", get, path = "/api/{user_id}/tasks", tag = "tasks", security(("bearer" = [])),
    params(("user_id" = String, Path), TaskQuery),
    responses((status = 200, description = "One page of the matching tasks", body = TaskPage), OwnUser, QueryParams, Unavailable))]
pub async fn list(
    State(state): State<AppState>,
    ClaimedPath(claim): ClaimedPath,
    RawQuery(raw_query): RawQuery,
    query: Result<Query<TaskQuery>, ApiError>,
) -> Result<Response, ApiError> {
    // The session is checked by the page's own query; anything else answered first must
    // confirm it, so that a closed session is 401 as on every other route.
    let filter = match query.and_then(|Query(query)| Ok(TaskFilter::parse(&query)?)) {
        Ok(filter) => filter,
        Err(error) => {
            claim.confirm(&state).await?;
            return Err(error);
        }
    };
    let session = claim.open_session();
    let key = PageKey::new(session.user_id, raw_query.as_deref());
    // Every statement here is awaited to the end: the connection is kept for the next request
    // (`crate::warm`) unless one fails or the request is cancelled.
    let mut connection = state.warm.take().await?;
    let page = match state.page_cache.get(&key) {
        Some(cached) => match tasks::list_version_if_open(&mut connection, session).await? {
            Some(version) if version == cached.version => {
                connection.done();
                metrics::task_page(PageAnswer::Cached);
                return Ok(json_body(cached.body));
            }
            Some(_) => {
                metrics::task_page(PageAnswer::Changed);
                tasks::list_if_open(&mut connection, session, &filter).await?
            }
            // Closed: answered with its reason below. (Open after all: read the page.)
            None => None,
        },
        None => {
            metrics::task_page(PageAnswer::Uncached);
            tasks::list_if_open(&mut connection, session, &filter).await?
        }
    };
    connection.done();
    let page = match page {
        Some(page) => page,
        // No rows: an empty page, or a closed session. The check takes a connection of its
        // own, so this one is given back first: one request never holds two.
        None => {
            let user = claim.confirm(&state).await?;
            let mut connection = state.warm.take().await?;
            let page = tasks::list(&mut connection, user.id, &filter).await?;
            connection.done();
            page
        }
    };
    answer(&state, key, &filter, page)
}

/// The page as JSON, kept for the next time the same user asks the same.
fn answer(state: &AppState, key: PageKey, filter: &TaskFilter, page: tasks::Page) -> Result<Response, ApiError> {
    let end = u64::from(filter.offset) + page.items.len() as u64;
    // A cursor page does not know its offset.
    let next_offset = (page.more && filter.after.is_none()).then(|| u32::try_from(end).unwrap_or(u32::MAX));
    let version = page.version;
    let page = TaskPage {
        items: page.items,
        total: page.total,
        total_exact: page.total_exact,
        limit: filter.limit,
        offset: filter.offset,
        next_offset,
        next_cursor: page.next.map(|cursor| cursor.encode()),
    };
    let body = axum::body::Bytes::from(serde_json::to_vec(&page).map_err(ApiError::internal)?);
    if let Some(version) = version {
        state.page_cache.put(key, CachedPage { version, body: body.clone() });
    }
    Ok(json_body(body))
}

/// A JSON body as `axum::Json` answers it, from bytes already serialised.
fn json_body(body: axum::body::Bytes) -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
}

/// Create a task.
#[utoipa::path(operation_id = "create_task", post, path = "/api/{user_id}/tasks", tag = "tasks", security(("bearer" = [])),
    params(("user_id" = String, Path)), request_body = NewTask,
    responses((status = 201, description = "Created", body = Task), OwnUser, JsonBody, Unavailable))]
pub async fn create(
    State(state): State<AppState>,
    OwnedPath(user): OwnedPath,
    Json(input): Json<NewTask>,
) -> Result<(StatusCode, axum::Json<Task>), ApiError> {
    let draft = TaskDraft::parse(&input)?;
    let task = tasks::insert(&state.pool, user.id, &draft).await?;
    Ok((StatusCode::CREATED, axum::Json(task)))
}

/// One task.
#[utoipa::path(operation_id = "get_task", get, path = "/api/{user_id}/tasks/{id}", tag = "tasks", security(("bearer" = [])),
    params(("user_id" = String, Path), ("id" = i64, Path)),
    responses((status = 200, description = "The task", body = Task), OwnUser, ById, Unavailable))]
pub async fn get(
    State(state): State<AppState>,
    OwnedPath(user): OwnedPath,
    Path(path): Path<TaskPath>,
) -> Result<axum::Json<Task>, ApiError> {
    let task = tasks::get(&state.pool, user.id, path.id).await?.ok_or(ApiError::task_not_found(path.id))?;
    Ok(axum::Json(task))
}

/// Replace every field of a task.
#[utoipa::path(operation_id = "replace_task", put, path = "/api/{user_id}/tasks/{id}", tag = "tasks", security(("bearer" = [])),
    params(("user_id" = String, Path), ("id" = i64, Path)), request_body = NewTask,
    responses((status = 200, description = "The task as stored now", body = Task), OwnUser, ById, JsonBody, Unavailable))]
pub async fn replace(
    State(state): State<AppState>,
    OwnedPath(user): OwnedPath,
    Path(path): Path<TaskPath>,
    Json(input): Json<NewTask>,
) -> Result<axum::Json<Task>, ApiError> {
    let draft = TaskDraft::parse(&input)?;
    let task = tasks::replace(&state.pool, user.id, path.id, &draft).await?.ok_or(ApiError::task_not_found(path.id))?;
    Ok(axum::Json(task))
}

/// Change some fields of a task.
#[utoipa::path(operation_id = "update_task", patch, path = "/api/{user_id}/tasks/{id}", tag = "tasks", security(("bearer" = [])),
    params(("user_id" = String, Path), ("id" = i64, Path)), request_body = TaskPatch,
    responses((status = 200, description = "The task as stored now", body = Task), OwnUser, ById, JsonBody, Unavailable))]
pub async fn update(
    State(state): State<AppState>,
    OwnedPath(user): OwnedPath,
    Path(path): Path<TaskPath>,
    Json(input): Json<TaskPatch>,
) -> Result<axum::Json<Task>, ApiError> {
    let changes = TaskChanges::parse(&input)?;
    let task =
        tasks::update(&state.pool, user.id, path.id, &changes).await?.ok_or(ApiError::task_not_found(path.id))?;
    Ok(axum::Json(task))
}

/// Delete a task.
#[utoipa::path(operation_id = "delete_task", delete, path = "/api/{user_id}/tasks/{id}", tag = "tasks", security(("bearer" = [])),
    params(("user_id" = String, Path), ("id" = i64, Path)),
    responses((status = 204, description = "Deleted"), OwnUser, ById, Unavailable))]
pub async fn delete(
    State(state): State<AppState>,
    OwnedPath(user): OwnedPath,
    Path(path): Path<TaskPath>,
) -> Result<StatusCode, ApiError> {
    tasks::delete(&state.pool, user.id, path.id).await?.ok_or(ApiError::task_not_found(path.id))?;
    Ok(StatusCode::NO_CONTENT)
}

/// Toggle completion, or set it with `{"completed": true|false}`.
#[utoipa::path(operation_id = "complete_task", patch, path = "/api/{user_id}/tasks/{id}/complete", tag = "tasks", security(("bearer" = [])),
    params(("user_id" = String, Path), ("id" = i64, Path)), request_body(content = Option<CompleteRequest>, description = "Optional: without a body the task is toggled"),
    responses((status = 200, description = "The task as stored now", body = Task), OwnUser, ById, OptionalJsonBody, Unavailable))]
pub async fn complete(
    State(state): State<AppState>,
    OwnedPath(user): OwnedPath,
    Path(path): Path<TaskPath>,
    Bytes(body): Bytes,
) -> Result<axum::Json<Task>, ApiError> {
    // No body and `null` (the document's optional body) both toggle.
    let completed = if body.trim_ascii().is_empty() || body.trim_ascii() == b"null" {
        None
    } else {
        extract::object::<CompleteRequest>(&body)?.completed
    };
    let task = tasks::set_completed(&state.pool, user.id, path.id, completed)
        .await?
        .ok_or(ApiError::task_not_found(path.id))?;
    Ok(axum::Json(task))
}
