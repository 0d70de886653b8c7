//! The six tools the assistant manages tasks with. They call the same domain parsers and
//! store functions as the REST API: there is no second implementation of a task rule. The
//! owner always comes from the verified token, never from the arguments. Every change a tool
//! makes is recorded (`store::changes`) in the same transaction, so that it can be undone.

use super::clock::Clock;
use crate::{
    domain::{DueAt, Search, TaskChanges, TaskDraft, TaskFilter, when},
    store::{
        changes::{self, Origin, UndoError},
        tasks,
    },
};
use api_types::{ChangeKind, NewTask, Priority, StatusFilter, Task, TaskPatch, TaskQuery};
use chrono::DateTime;
use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool};
use std::time::Duration;
use uuid::Uuid;

pub const ADD_TASK: &str = "add_task";
pub const LIST_TASKS: &str = "list_tasks";
pub const COMPLETE_TASK: &str = "complete_task";
pub const DELETE_TASK: &str = "delete_task";
pub const UPDATE_TASK: &str = "update_task";
pub const UNDO_LAST_CHANGE: &str = "undo_last_change";

/// Who a tool runs for, and where its changes are recorded.
#[derive(Debug, Clone)]
pub struct Caller<'a> {
    pub pool: &'a PgPool,
    /// From the verified token.
    pub owner: Uuid,
    pub origin: Origin,
    /// How long a change stays undoable.
    pub undo_window: Duration,
    /// The person's time zone and local time, for the dates they write.
    pub clock: &'a Clock,
}

/// What `due_at` takes, for the model and for MCP clients.
pub const DUE_DESCRIPTION: &str = "Due date: an RFC 3339 timestamp, YYYY-MM-DD (the end of that day, 23:59), \
or the user's own words such as \"tomorrow at 5pm\", \"next friday\", \"in 3 days\", \"on the 5th\", \
\"Dec 24 at 17:00\"; dates without an offset are read in the user's time zone (UTC over MCP); \
null clears it";

/// Whether a tool destroys something the person cannot get back (an update keeps the task). An
/// undo does: undoing an add deletes the task, undoing an edit drops the new values, and there
/// is no redo; a model calling it again and again would walk the person's changes back.
pub fn is_destructive(name: &str) -> bool {
    name == DELETE_TASK || name == UNDO_LAST_CHANGE
}

/// A failure the assistant can explain to the person: it goes back to the model as the
/// tool's result, never as an HTTP error.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("unknown tool {0:?}")]
    UnknownTool(String),
    #[error("the database failed: {0}")]
    Database(#[from] sqlx::Error),
}

/// OpenAI-style function definitions, with JSON Schemas for the arguments.
pub fn definitions() -> Vec<Value> {
    let priority = json!({"type": "string", "enum": ["low", "medium", "high"]});
    let tags = json!({"type": "array", "items": {"type": "string", "maxLength": 32}, "maxItems": 10,
                      "description": "Short labels such as work or home"});
    let due = json!({"type": ["string", "null"],
                     "description": DUE_DESCRIPTION});
    let task_ref = json!({"task_id": {"type": "integer", "description": "The task's id, when known"},
                          "title": {"type": "string", "description": "Part of the task's title, when the id is not known; must match exactly one task"}});
    let function = |name: &str, description: &str, parameters: Value| json!({"type": "function", "function": {"name": name, "description": description, "parameters": parameters}});
    let with_ref = |extra: Value| {
        let mut properties = task_ref.clone();
        if let (Some(target), Value::Object(extra)) = (properties.as_object_mut(), extra) {
            target.extend(extra);
        }
        properties
    };
    vec![
        function(
            ADD_TASK,
            "Create a task for the user.",
            json!({"type": "object", "additionalProperties": false, "required": ["title"], "properties": {
                "title": {"type": "string", "minLength": 1, "maxLength": 200},
                "description": {"type": "string", "maxLength": 1000},
                "priority": priority, "tags": tags, "due_at": due}}),
        ),
        function(
            LIST_TASKS,
            "List the user's tasks, optionally filtered.",
            json!({"type": "object", "additionalProperties": false, "properties": {
                "status": {"type": "string", "enum": ["all", "pending", "completed"]},
                "priority": priority, "tag": {"type": "string"},
                "search": {"type": "string", "description": "Case-insensitive text in title or description"},
                "limit": {"type": "integer", "minimum": 1, "maximum": 100}}}),
        ),
        function(
            COMPLETE_TASK,
            "Mark a task as done (or not done with completed=false). Identify it by task_id or title.",
            json!({"type": "object", "additionalProperties": false,
                   "properties": with_ref(json!({"completed": {"type": "boolean", "default": true}}))}),
        ),
        function(
            DELETE_TASK,
            "Delete a task. Identify it by task_id or title.",
            json!({"type": "object", "additionalProperties": false, "properties": with_ref(json!({}))}),
        ),
        function(
            UPDATE_TASK,
            "Change a task's fields. Identify it by task_id (or by title when renaming is not intended).",
            json!({"type": "object", "additionalProperties": false, "properties": with_ref(json!({
                "new_title": {"type": "string", "minLength": 1, "maxLength": 200},
                "description": {"type": ["string", "null"], "maxLength": 1000},
                "priority": priority, "tags": tags, "due_at": due,
                "completed": {"type": "boolean"}}))}),
        ),
        function(
            UNDO_LAST_CHANGE,
            "Undo the task changes (adds, updates, completions, deletions) made by the previous request in this \
             conversation (over MCP: by the previous tool call that changed a task), restoring the tasks exactly \
             as they were; a deleted task comes back with its id. Call it when the user says undo, or that the \
             last change was a mistake. Calling it again undoes the request before that. It fails without \
             changing anything if a task was changed since.",
            json!({"type": "object", "additionalProperties": false, "properties": {}}),
        ),
    ]
}

#[derive(Debug, Default, Deserialize)]
struct AddArgs {
    title: String,
    description: Option<String>,
    priority: Option<Priority>,
    tags: Option<Vec<String>>,
    due_at: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ListArgs {
    status: Option<StatusFilter>,
    priority: Option<Priority>,
    tag: Option<String>,
    search: Option<String>,
    limit: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

#[derive(Debug, Default, Deserialize)]
struct TaskRef {
    task_id: Option<i64>,
    title: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct CompleteArgs {
    #[serde(flatten)]
    task: TaskRef,
    completed: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
struct UpdateArgs {
    #[serde(flatten)]
    task: TaskRef,
    new_title: Option<String>,
    #[serde(default, deserialize_with = "present")]
    description: Option<Option<String>>,
    priority: Option<Priority>,
    tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    due_at: Option<Option<String>>,
    completed: Option<bool>,
}

fn present<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

fn parse_args<'a, T: Deserialize<'a>>(name: &str, arguments: &'a str) -> Result<T, ToolError> {
    let arguments = if arguments.trim().is_empty() { "{}" } else { arguments };
    serde_json::from_str(arguments)
        .map_err(|error| ToolError::Invalid(format!("invalid arguments for {name}: {error}")))
}

/// A due date as the model (or the offline assistant) writes it: an RFC 3339 instant as it is,
/// anything else as words read on the person's clock; the domain's rules, the tool's error.
async fn parse_due(pool: &PgPool, clock: &Clock, raw: &str) -> Result<DueAt, ToolError> {
    let invalid = |message: String| ToolError::Invalid(format!("due_at: {message}"));
    if let Ok(at) = DateTime::parse_from_rfc3339(raw.trim()) {
        return DueAt::parse(at.to_utc()).map_err(invalid);
    }
    let wall = when::parse(raw, clock.now()).map_err(|error| invalid(error.to_string()))?.wall_time();
    DueAt::parse(clock.instant(pool, wall).await?).map_err(invalid)
}

fn field_errors(errors: crate::domain::FieldErrors) -> ToolError {
    let text: Vec<String> = errors.into_vec().into_iter().map(|e| format!("{}: {}", e.field, e.message)).collect();
    ToolError::Invalid(text.join("; "))
}

/// The one task `reference` names, by id or by a title that matches exactly one task.
async fn resolve(pool: &PgPool, owner: Uuid, reference: &TaskRef) -> Result<Task, ToolError> {
    if let Some(id) = reference.task_id {
        return tasks::get(pool, owner, id).await?.ok_or_else(|| ToolError::NotFound(format!("task {id} not found")));
    }
    let title = reference.title.as_deref().map(Search::parse).transpose();
    let Some(title) = title.map_err(|message| ToolError::Invalid(format!("title: {message}")))?.flatten() else {
        return Err(ToolError::Invalid("give task_id or title".to_owned()));
    };
    let mut matches = tasks::find_by_title(pool, owner, &title).await?;
    let title = title.as_str();
    match matches.len() {
        0 => Err(ToolError::NotFound(format!("no task matches {title:?}"))),
        1 => Ok(matches.remove(0)),
        _ => {
            let candidates: Vec<String> = matches.iter().map(|t| format!("{} ({})", t.id, t.title)).collect();
            Err(ToolError::Invalid(format!("{title:?} matches several tasks: {}; give task_id", candidates.join(", "))))
        }
    }
}

/// Records a change in the transaction that made it, commits both, and answers with the
/// task and the change's id (`change_id`, what the undo routes take).
async fn commit_change(
    caller: &Caller<'_>,
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    kind: ChangeKind,
    before: Option<&Task>,
    after: Option<&Task>,
) -> Result<i64, ToolError> {
    let id = changes::record(&mut tx, caller.owner, &caller.origin, kind, before, after).await?;
    tx.commit().await?;
    Ok(id)
}

/// The task `reference` names, locked for the change about to be made: `before` as it was
/// when the change was made, not when it was looked up.
async fn lock(db: &mut PgConnection, owner: Uuid, task: &Task) -> Result<Task, ToolError> {
    tasks::get_for_update(db, owner, task.id)
        .await?
        .ok_or_else(|| ToolError::NotFound(format!("task {} not found", task.id)))
}

impl From<UndoError> for ToolError {
    fn from(error: UndoError) -> Self {
        match error {
            UndoError::Database(error) => ToolError::Database(error),
            UndoError::NotFound(_) | UndoError::Nothing(_) => ToolError::NotFound(error.to_string()),
            other => ToolError::Invalid(other.to_string()),
        }
    }
}

/// Runs tool `name` for the caller, whose dates are read on the caller's clock, and returns its
/// JSON result.
pub async fn execute(caller: &Caller<'_>, name: &str, arguments: &str) -> Result<Value, ToolError> {
    let (pool, owner, clock) = (caller.pool, caller.owner, caller.clock);
    match name {
        ADD_TASK => {
            let args: AddArgs = parse_args(name, arguments)?;
            let due_at = match args.due_at.as_deref().filter(|d| !d.trim().is_empty()) {
                Some(raw) => Some(parse_due(pool, clock, raw).await?.get()),
                None => None,
            };
            let input = NewTask {
                title: args.title,
                description: args.description,
                priority: args.priority,
                tags: args.tags,
                due_at,
                completed: None,
            };
            let draft = TaskDraft::parse(&input).map_err(field_errors)?;
            let mut tx = pool.begin().await?;
            let task = tasks::insert(&mut *tx, owner, &draft).await?;
            let change_id = commit_change(caller, tx, ChangeKind::Add, None, Some(&task)).await?;
            Ok(json!({"ok": true, "task": task, "change_id": change_id}))
        }
        LIST_TASKS => {
            let args: ListArgs = parse_args(name, arguments)?;
            let query = TaskQuery {
                status: args.status,
                priority: args.priority,
                tag: args.tag,
                q: args.search,
                limit: Some(args.limit.unwrap_or(50).clamp(1, TaskFilter::MAX_LIMIT)),
                ..TaskQuery::default()
            };
            let filter = TaskFilter::parse(&query).map_err(field_errors)?;
            let page = tasks::list(&mut *pool.acquire().await?, owner, &filter).await?;
            Ok(json!({"ok": true, "total": page.total, "total_exact": page.total_exact, "tasks": page.items}))
        }
        COMPLETE_TASK => {
            let args: CompleteArgs = parse_args(name, arguments)?;
            let task = resolve(pool, owner, &args.task).await?;
            let mut tx = pool.begin().await?;
            let before = lock(&mut tx, owner, &task).await?;
            let updated = tasks::set_completed(&mut *tx, owner, task.id, Some(args.completed.unwrap_or(true)))
                .await?
                .ok_or_else(|| ToolError::NotFound(format!("task {} not found", task.id)))?;
            let change_id = commit_change(caller, tx, ChangeKind::Complete, Some(&before), Some(&updated)).await?;
            Ok(json!({"ok": true, "task": updated, "change_id": change_id}))
        }
        DELETE_TASK => {
            let args: TaskRef = parse_args(name, arguments)?;
            let task = resolve(pool, owner, &args).await?;
            let mut tx = pool.begin().await?;
            let deleted = tasks::delete(&mut *tx, owner, task.id)
                .await?
                .ok_or_else(|| ToolError::NotFound(format!("task {} not found", task.id)))?;
            let change_id = commit_change(caller, tx, ChangeKind::Delete, Some(&deleted), None).await?;
            Ok(json!({"ok": true, "deleted": deleted, "change_id": change_id}))
        }
        UPDATE_TASK => {
            let args: UpdateArgs = parse_args(name, arguments)?;
            let task = resolve(pool, owner, &args.task).await?;
            let due_at = match args.due_at {
                None => None,
                Some(None) => Some(None),
                Some(Some(raw)) if raw.trim().is_empty() => Some(None),
                Some(Some(raw)) => Some(Some(parse_due(pool, clock, &raw).await?.get())),
            };
            let patch = TaskPatch {
                title: args.new_title,
                description: args.description,
                priority: args.priority,
                tags: args.tags,
                due_at,
                completed: args.completed,
            };
            let changes = TaskChanges::parse(&patch).map_err(field_errors)?;
            let mut tx = pool.begin().await?;
            let before = lock(&mut tx, owner, &task).await?;
            let updated = tasks::update(&mut *tx, owner, task.id, &changes)
                .await?
                .ok_or_else(|| ToolError::NotFound(format!("task {} not found", task.id)))?;
            if updated == before {
                // Nothing changed (no fields given): nothing to record or undo.
                return Ok(json!({"ok": true, "task": updated}));
            }
            let change_id = commit_change(caller, tx, ChangeKind::Update, Some(&before), Some(&updated)).await?;
            Ok(json!({"ok": true, "task": updated, "change_id": change_id}))
        }
        UNDO_LAST_CHANGE => {
            let _: Empty = parse_args(name, arguments)?;
            let origin = &caller.origin;
            // In a conversation: its previous turns. Over MCP (no conversation): each call is its
            // own batch, so the newest MCP change of this user.
            let except = origin.conversation.map(|_| origin.batch);
            let undone = changes::undo_last(pool, owner, origin.conversation, except, caller.undo_window).await?;
            Ok(json!({"ok": true, "undone": undone}))
        }
        other => Err(ToolError::UnknownTool(other.to_owned())),
    }
}

/// The result a tool failure turns into, for the model to read and explain.
pub fn failure(error: &ToolError) -> Value {
    json!({"ok": false, "error": error.to_string()})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_has_a_schema_object() {
        let names: Vec<String> =
            definitions().iter().map(|d| d["function"]["name"].as_str().unwrap_or_default().to_owned()).collect();
        assert_eq!(names, [ADD_TASK, LIST_TASKS, COMPLETE_TASK, DELETE_TASK, UPDATE_TASK, UNDO_LAST_CHANGE]);
        for definition in definitions() {
            assert_eq!(definition["function"]["parameters"]["type"], "object");
            assert!(definition["function"]["parameters"]["properties"].get("user_id").is_none());
        }
    }

    /// Never connects: a UTC clock converts without the database.
    fn no_database() -> PgPool {
        sqlx::postgres::PgPoolOptions::new().connect_lazy("postgres://nobody@127.0.0.1:1/none").unwrap()
    }

    #[tokio::test]
    async fn due_dates_are_instants_dates_or_words_and_a_bad_one_names_the_argument() {
        let (pool, clock) = (no_database(), Clock::fixed_utc(chrono::DateTime::UNIX_EPOCH.naive_utc()));
        let due = async |raw: &str| parse_due(&pool, &clock, raw).await.map(|at| at.get().to_rfc3339());
        assert_eq!(due("2030-01-02").await.unwrap(), "2030-01-02T23:59:00+00:00");
        assert_eq!(due(" 2030-01-02T10:00:00+02:00 ").await.unwrap(), "2030-01-02T08:00:00+00:00");
        assert_eq!(due("tomorrow at 5pm").await.unwrap(), "1970-01-02T17:00:00+00:00");
        assert_eq!(due("2030-01-02 17:30").await.unwrap(), "2030-01-02T17:30:00+00:00");
        let error = due("9999-12-31T23:59:59-01:00").await.unwrap_err().to_string();
        assert!(error.starts_with("due_at: must be from 0001-01-01T00:00:00Z"), "{error}");
        for bad in ["friday-ish", "-5000-01-01", "0000-06-01", "+10000-01-01", "feb 30", "in 99999999 days"] {
            let error = due(bad).await.unwrap_err().to_string();
            assert!(error.starts_with("due_at: "), "{bad:?}: {error}");
        }
    }
}
