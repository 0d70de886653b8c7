use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low,
    #[default]
    Medium,
    High,
}

impl Priority {
    pub const ALL: [Priority; 3] = [Priority::Low, Priority::Medium, Priority::High];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Medium => "medium",
            Priority::High => "high",
        }
    }
}

impl std::fmt::Display for Priority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Priority {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "low" => Ok(Priority::Low),
            "medium" | "normal" => Ok(Priority::Medium),
            "high" | "urgent" => Ok(Priority::High),
            other => Err(format!("{other:?} is not one of low, medium, high")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Task {
    pub id: i64,
    pub title: String,
    pub description: Option<String>,
    pub completed: bool,
    #[serde(default, with = "crate::timestamp::option")]
    pub completed_at: Option<DateTime<Utc>>,
    pub priority: Priority,
    pub tags: Vec<String>,
    #[serde(default, with = "crate::timestamp::option")]
    pub due_at: Option<DateTime<Utc>>,
    #[serde(with = "crate::timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::timestamp")]
    pub updated_at: DateTime<Utc>,
}

impl Task {
    /// Due in the past and not done.
    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        !self.completed && self.due_at.is_some_and(|due| due < now)
    }
}

/// `POST /api/{user_id}/tasks`, and `PUT` (which replaces every field: absent ones take these
/// defaults).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"title": "Pay the bills", "description": "gas and water", "priority": "high", "tags": ["home"], "due_at": "2026-12-04T17:00:00Z"})))]
pub struct NewTask {
    /// 1 to 200 characters of one line after trimming: no control characters.
    pub title: String,
    /// Up to 1000 characters; newline and tab allowed, no other control characters.
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub priority: Option<Priority>,
    /// Up to 10, each 1 to 32 characters of one line; trimmed, lower-cased, duplicates removed.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// From 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z, kept to the microsecond.
    #[serde(default)]
    pub due_at: Option<DateTime<Utc>>,
    /// Only meaningful for `PUT`.
    #[serde(default)]
    pub completed: Option<bool>,
}

/// `PATCH /api/{user_id}/tasks/{id}`: only the fields present change; `null` clears
/// `description` and `due_at`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"priority": "low", "due_at": null})))]
pub struct TaskPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub description: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<DateTime<Utc>>))]
    pub due_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed: Option<bool>,
}

/// Tells "absent" (outer `None`) from "null" (`Some(None)`).
fn present<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// `PATCH /api/{user_id}/tasks/{id}/complete`: without a body it toggles.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CompleteRequest {
    pub completed: Option<bool>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum StatusFilter {
    #[default]
    All,
    Pending,
    Completed,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum TaskSort {
    #[default]
    Created,
    Due,
    Priority,
    Title,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    Asc,
    #[default]
    Desc,
}

/// Query string of `GET /api/{user_id}/tasks`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct TaskQuery {
    /// all (default), pending or completed.
    pub status: Option<StatusFilter>,
    pub priority: Option<Priority>,
    /// Tasks carrying this tag.
    pub tag: Option<String>,
    /// In the range of `due_at`.
    pub due_before: Option<DateTime<Utc>>,
    /// In the range of `due_at`.
    pub due_after: Option<DateTime<Utc>>,
    /// Case-insensitive text search over title and description: up to 200 characters of one line.
    pub q: Option<String>,
    /// created (default), due, priority or title.
    pub sort: Option<TaskSort>,
    /// desc (default) or asc.
    pub order: Option<SortOrder>,
    /// 1 to 100, default 50.
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 100))]
    pub limit: Option<u32>,
    /// How many matching tasks to skip, default 0. Stable: ties are broken by id. Each page
    /// costs the rows it skips: prefer `cursor` for walking a long list.
    // A u32: utoipa would call it int32, which stops at 2^31 - 1.
    #[cfg_attr(feature = "openapi", param(format = Int64, minimum = 0, maximum = 4294967295_u64))]
    pub offset: Option<u32>,
    /// The `next_cursor` of the previous page: this page starts right after it, at the cost of
    /// one index search however deep. Opaque; valid only with the same `sort` and `order` (and
    /// meant for the same filters), and not together with a non-zero `offset`. Tasks added or
    /// removed meanwhile neither repeat nor shift the walk.
    #[cfg_attr(feature = "openapi", param(max_length = 4096))]
    pub cursor: Option<String>,
}

/// `total` counts matching tasks exactly up to this many; past it, `total_exact` is false.
pub const TASK_TOTAL_CAP: i64 = 200;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaskPage {
    pub items: Vec<Task>,
    /// How many tasks match the filters, across all pages: exact when `total_exact`, else a
    /// lower bound. Counting stops after 200 matches, so that a page costs the same for a user
    /// with a million tasks; past that, `total` is 200, or as far as an `offset` page is known
    /// to reach when that is more.
    pub total: i64,
    /// Whether `total` is the exact count (false: "at least `total`").
    pub total_exact: bool,
    pub limit: u32,
    #[cfg_attr(feature = "openapi", schema(format = Int64, minimum = 0, maximum = 4294967295_u64))]
    pub offset: u32,
    /// The `offset` of the next page, absent on the last one and on pages asked for by `cursor`.
    #[cfg_attr(feature = "openapi", schema(format = Int64, minimum = 0, maximum = 4294967295_u64))]
    pub next_offset: Option<u32>,
    /// Pass as `cursor` (with the same sort, order and filters) for the next page; absent on
    /// the last one. Opaque.
    pub next_cursor: Option<String>,
}
