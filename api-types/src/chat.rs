use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST /api/{user_id}/chat`: one turn. Without `conversation_id` a new conversation starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"message": "remind me to pay the bills on Friday at 5pm, high priority", "time_zone": "Europe/Paris"})))]
pub struct ChatRequest {
    #[serde(default)]
    pub conversation_id: Option<String>,
    /// What the person wrote, 1 to 4000 characters; newline and tab allowed, no other control
    /// characters.
    pub message: String,
    /// The person's IANA time zone (`Europe/Paris`), as the browser reports it
    /// (`Intl.DateTimeFormat().resolvedOptions().timeZone`): dates in the message, such as
    /// "tomorrow at 5pm", are read there. Without it, UTC. A zone PostgreSQL does not know is
    /// a 422 naming `time_zone`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(example = "Europe/Paris", max_length = 64))]
    pub time_zone: Option<String>,
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
/// `update_task`, `undo_last_change`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ToolCallRecord {
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub arguments: Value,
    /// What the tool returned: `{"ok": true, ...}` or `{"ok": false, "error": "..."}`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub result: Value,
    /// The change this call made to a task, for `POST /api/{user_id}/changes/{change_id}/undo`;
    /// absent when it changed nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_id: Option<i64>,
    /// Whether that change has been undone.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub undone: bool,
}

/// What a recorded change did to a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Add,
    Update,
    Complete,
    Delete,
}

/// One change an undo reverted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UndoneChange {
    pub change_id: i64,
    /// What the change had done: undoing an `add` deletes the task, undoing a `delete` brings
    /// it back with its id, undoing an `update` or `complete` restores the fields.
    pub kind: ChangeKind,
    pub task_id: i64,
    /// The task as it is now; `null` when the undo removed it.
    pub task: Option<crate::Task>,
}

/// The answer of the undo routes: every change reverted, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UndoResponse {
    pub undone: Vec<UndoneChange>,
}

/// An entry of `GET /api/{user_id}/conversations`, most recent first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConversationSummary {
    pub id: String,
    /// Derived from the first message.
    pub title: String,
    #[serde(with = "crate::timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::timestamp")]
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
    #[serde(with = "crate::timestamp")]
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

impl ToolCallRecord {
    /// Whether the tool reported success (`{"ok": true, ...}`).
    pub fn succeeded(&self) -> bool {
        self.result.get("ok").and_then(Value::as_bool).unwrap_or(false)
    }

    /// One line for people, e.g. "added task 12: pay bills" or "complete_task failed: task 9
    /// not found". Clients show it as a chip under the assistant's answer.
    pub fn summary(&self) -> String {
        if !self.succeeded() {
            let error = self.result.get("error").and_then(Value::as_str).unwrap_or("no details");
            return format!("{} failed: {error}", self.name);
        }
        let task = self.result.get("task");
        let id = task
            .and_then(|task| task.get("id"))
            .or_else(|| self.arguments.get("task_id"))
            .or_else(|| self.arguments.get("id"))
            .and_then(Value::as_i64);
        let title = task.and_then(|task| task.get("title")).and_then(Value::as_str);
        let subject = match (id, title) {
            (Some(id), Some(title)) => format!("task {id}: {title}"),
            (Some(id), None) => format!("task {id}"),
            (None, Some(title)) => format!("task: {title}"),
            (None, None) => "a task".to_owned(),
        };
        match self.name.as_str() {
            "add_task" => format!("added {subject}"),
            "update_task" => format!("updated {subject}"),
            "delete_task" => format!("deleted {subject}"),
            "complete_task" => {
                let reopened = task.and_then(|task| task.get("completed")).and_then(Value::as_bool) == Some(false);
                format!("{} {subject}", if reopened { "reopened" } else { "completed" })
            }
            "undo_last_change" => match self.result.get("undone").and_then(Value::as_array).map(Vec::len) {
                Some(1) => "undid 1 change".to_owned(),
                Some(count) => format!("undid {count} changes"),
                None => "undid changes".to_owned(),
            },
            "list_tasks" => match self.result.get("tasks").and_then(Value::as_array).map(Vec::len) {
                Some(1) => "listed 1 task".to_owned(),
                Some(count) => format!("listed {count} tasks"),
                None => "listed tasks".to_owned(),
            },
            other => format!("ran {other}"),
        }
    }

    /// Whether the tool may have changed the user's tasks (so task lists should reload).
    pub fn changes_tasks(&self) -> bool {
        self.name != "list_tasks"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(name: &str, arguments: Value, result: Value) -> ToolCallRecord {
        ToolCallRecord { name: name.to_owned(), arguments, result, change_id: None, undone: false }
    }

    #[test]
    fn summaries_name_the_task_and_what_happened_to_it() {
        let added = call(
            "add_task",
            json!({"title": "pay bills"}),
            json!({"ok": true, "task": {"id": 12, "title": "pay bills"}}),
        );
        assert_eq!(added.summary(), "added task 12: pay bills");
        let completed = call(
            "complete_task",
            json!({"task_id": 3}),
            json!({"ok": true, "task": {"id": 3, "title": "x", "completed": true}}),
        );
        assert_eq!(completed.summary(), "completed task 3: x");
        let reopened = call(
            "complete_task",
            json!({"task_id": 3}),
            json!({"ok": true, "task": {"id": 3, "title": "x", "completed": false}}),
        );
        assert_eq!(reopened.summary(), "reopened task 3: x");
        let deleted = call("delete_task", json!({"task_id": 4}), json!({"ok": true}));
        assert_eq!(deleted.summary(), "deleted task 4");
        let listed = call("list_tasks", json!({}), json!({"ok": true, "tasks": [{}, {}]}));
        assert_eq!(listed.summary(), "listed 2 tasks");
        assert!(!listed.changes_tasks());
        assert!(deleted.changes_tasks());
        let undid = call("undo_last_change", json!({}), json!({"ok": true, "undone": [{}, {}]}));
        assert_eq!(undid.summary(), "undid 2 changes");
    }

    #[test]
    fn records_without_a_change_id_still_read() {
        let old = r#"{"name": "list_tasks", "arguments": {}, "result": {"ok": true}}"#;
        let record: ToolCallRecord = serde_json::from_str(old).unwrap();
        assert_eq!((record.change_id, record.undone), (None, false));
        assert_eq!(serde_json::to_value(&record).unwrap().get("change_id"), None);
    }

    #[test]
    fn a_failed_tool_says_why() {
        let failed = call("complete_task", json!({"task_id": 9}), json!({"ok": false, "error": "task 9 not found"}));
        assert!(!failed.succeeded());
        assert_eq!(failed.summary(), "complete_task failed: task 9 not found");
        let garbled = call("add_task", json!({}), json!("not an object"));
        assert_eq!(garbled.summary(), "add_task failed: no details");
    }
}
