use crate::domain::{DueAt, Search, TaskChanges, TaskDraft, TaskFilter};
use api_types::{SortOrder, StatusFilter, Task, TaskSort};
use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

const COLUMNS: &str = "id, title, description, completed, completed_at, priority::text AS priority, \
                       tags, due_at, created_at, updated_at";

#[derive(Debug, sqlx::FromRow)]
struct TaskRow {
    id: i64,
    title: String,
    description: Option<String>,
    completed: bool,
    completed_at: Option<DateTime<Utc>>,
    priority: String,
    tags: Vec<String>,
    due_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<TaskRow> for Task {
    fn from(row: TaskRow) -> Self {
        Task {
            id: row.id,
            title: row.title,
            description: row.description,
            completed: row.completed,
            completed_at: row.completed_at,
            // The column is an enum of exactly these values.
            priority: row.priority.parse().unwrap_or_default(),
            tags: row.tags,
            due_at: row.due_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

type TaskQuery<'q> = sqlx::query::QueryAs<'q, Postgres, TaskRow, sqlx::postgres::PgArguments>;

/// Binds a draft's fields as the next parameters, in this order: title, description, priority,
/// tags, due_at, completed.
fn bind_draft<'q>(query: TaskQuery<'q>, draft: &'q TaskDraft) -> TaskQuery<'q> {
    query
        .bind(draft.title.as_str())
        .bind(draft.description.as_deref())
        .bind(draft.priority.as_str())
        .bind(draft.tags.as_slice())
        .bind(draft.due_at.map(DueAt::get))
        .bind(draft.completed)
}

pub async fn insert(pool: &PgPool, owner: Uuid, draft: &TaskDraft) -> Result<Task, sqlx::Error> {
    let sql = format!(
        "INSERT INTO tasks (user_id, title, description, priority, tags, due_at, completed, completed_at) \
         VALUES ($1, $2, $3, $4::task_priority, $5, $6, $7, CASE WHEN $7 THEN now() END) RETURNING {COLUMNS}"
    );
    let row: TaskRow = bind_draft(sqlx::query_as(&sql).bind(owner), draft).fetch_one(pool).await?;
    Ok(row.into())
}

pub async fn get(pool: &PgPool, owner: Uuid, id: i64) -> Result<Option<Task>, sqlx::Error> {
    let row: Option<TaskRow> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM tasks WHERE id = $1 AND user_id = $2"))
        .bind(id)
        .bind(owner)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(Task::from))
}

/// Replaces every field (PUT).
pub async fn replace(pool: &PgPool, owner: Uuid, id: i64, draft: &TaskDraft) -> Result<Option<Task>, sqlx::Error> {
    let sql = format!(
        "UPDATE tasks SET title = $3, description = $4, priority = $5::task_priority, tags = $6, due_at = $7, \
         completed = $8, completed_at = CASE WHEN $8 THEN COALESCE(completed_at, now()) END, updated_at = now() \
         WHERE id = $1 AND user_id = $2 RETURNING {COLUMNS}"
    );
    let row: Option<TaskRow> =
        bind_draft(sqlx::query_as(&sql).bind(id).bind(owner), draft).fetch_optional(pool).await?;
    Ok(row.map(Task::from))
}

/// Changes only the given fields (PATCH). No changes at all reads the task back.
pub async fn update(pool: &PgPool, owner: Uuid, id: i64, changes: &TaskChanges) -> Result<Option<Task>, sqlx::Error> {
    if changes.is_empty() {
        return get(pool, owner, id).await;
    }
    let mut query = QueryBuilder::<Postgres>::new("UPDATE tasks SET updated_at = now()");
    if let Some(title) = &changes.title {
        query.push(", title = ").push_bind(title.as_str().to_owned());
    }
    if let Some(description) = &changes.description {
        query.push(", description = ").push_bind(description.as_deref().map(str::to_owned));
    }
    if let Some(priority) = changes.priority {
        query.push(", priority = ").push_bind(priority.as_str()).push("::task_priority");
    }
    if let Some(tags) = &changes.tags {
        query.push(", tags = ").push_bind(tags.as_slice().to_vec());
    }
    if let Some(due_at) = changes.due_at {
        query.push(", due_at = ").push_bind(due_at.map(DueAt::get));
    }
    if let Some(completed) = changes.completed {
        query
            .push(", completed = ")
            .push_bind(completed)
            .push(", completed_at = CASE WHEN ")
            .push_bind(completed)
            .push(" THEN COALESCE(completed_at, now()) END");
    }
    query.push(" WHERE id = ").push_bind(id).push(" AND user_id = ").push_bind(owner);
    query.push(" RETURNING ").push(COLUMNS);
    let row: Option<TaskRow> = query.build_query_as().fetch_optional(pool).await?;
    Ok(row.map(Task::from))
}

/// Sets completion, or flips it when `completed` is `None`.
pub async fn set_completed(
    pool: &PgPool,
    owner: Uuid,
    id: i64,
    completed: Option<bool>,
) -> Result<Option<Task>, sqlx::Error> {
    let row: Option<TaskRow> = sqlx::query_as(&format!(
        "UPDATE tasks SET completed = COALESCE($3, NOT completed), \
         completed_at = CASE WHEN COALESCE($3, NOT completed) THEN COALESCE(completed_at, now()) END, \
         updated_at = now() WHERE id = $1 AND user_id = $2 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(owner)
    .bind(completed)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(Task::from))
}

/// The deleted task, or `None` when the owner has no such task.
pub async fn delete(pool: &PgPool, owner: Uuid, id: i64) -> Result<Option<Task>, sqlx::Error> {
    let row: Option<TaskRow> =
        sqlx::query_as(&format!("DELETE FROM tasks WHERE id = $1 AND user_id = $2 RETURNING {COLUMNS}"))
            .bind(id)
            .bind(owner)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(Task::from))
}

/// `ILIKE` pattern matching `text` literally anywhere.
fn contains_pattern(text: &str) -> String {
    let escaped = text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

fn push_filters(query: &mut QueryBuilder<'_, Postgres>, owner: Uuid, filter: &TaskFilter) {
    query.push(" WHERE user_id = ").push_bind(owner);
    match filter.status {
        StatusFilter::All => {}
        StatusFilter::Pending => {
            query.push(" AND NOT completed");
        }
        StatusFilter::Completed => {
            query.push(" AND completed");
        }
    }
    if let Some(priority) = filter.priority {
        query.push(" AND priority = ").push_bind(priority.as_str()).push("::task_priority");
    }
    if let Some(tag) = &filter.tag {
        query.push(" AND ").push_bind(tag.as_str().to_owned()).push(" = ANY(tags)");
    }
    if let Some(before) = filter.due_before {
        query.push(" AND due_at < ").push_bind(before.get());
    }
    if let Some(after) = filter.due_after {
        query.push(" AND due_at >= ").push_bind(after.get());
    }
    if let Some(search) = &filter.search {
        let pattern = contains_pattern(search.as_str());
        query
            .push(" AND (title ILIKE ")
            .push_bind(pattern.clone())
            .push(" OR description ILIKE ")
            .push_bind(pattern)
            .push(")");
    }
}

/// One page of the owner's tasks matching `filter`, and how many match in all.
pub async fn list(pool: &PgPool, owner: Uuid, filter: &TaskFilter) -> Result<(Vec<Task>, i64), sqlx::Error> {
    let mut query = QueryBuilder::<Postgres>::new(format!("SELECT {COLUMNS}, count(*) OVER () AS total FROM tasks"));
    push_filters(&mut query, owner, filter);
    let direction = match filter.order {
        SortOrder::Asc => "ASC",
        SortOrder::Desc => "DESC",
    };
    let column = match filter.sort {
        // Qualified: the bare name would sort by the `priority::text` output column.
        TaskSort::Created => "tasks.created_at",
        TaskSort::Due => "tasks.due_at",
        TaskSort::Priority => "tasks.priority",
        TaskSort::Title => "lower(tasks.title)",
    };
    // Tasks without a due date go last either way; id breaks ties so pages never overlap.
    query.push(format!(" ORDER BY {column} {direction} NULLS LAST, tasks.id {direction}"));
    query.push(" LIMIT ").push_bind(i64::from(filter.limit));
    query.push(" OFFSET ").push_bind(i64::from(filter.offset));

    #[derive(sqlx::FromRow)]
    struct Counted {
        #[sqlx(flatten)]
        task: TaskRow,
        total: i64,
    }
    let rows: Vec<Counted> = query.build_query_as().fetch_all(pool).await?;
    let total = match rows.first() {
        Some(row) => row.total,
        // Past the last page the window count is missing: count separately.
        None if filter.offset > 0 => {
            let mut count = QueryBuilder::<Postgres>::new("SELECT count(*) FROM tasks");
            push_filters(&mut count, owner, filter);
            count.build_query_scalar().fetch_one(pool).await?
        }
        None => 0,
    };
    Ok((rows.into_iter().map(|row| row.task.into()).collect(), total))
}

/// A unique task of the owner whose title matches `title` (case-insensitive, exact first,
/// then substring), used by the chat when a person names a task instead of giving its id.
pub async fn find_by_title(pool: &PgPool, owner: Uuid, title: &Search) -> Result<Vec<Task>, sqlx::Error> {
    let title = title.as_str();
    let exact: Vec<TaskRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM tasks WHERE user_id = $1 AND lower(title) = lower($2) ORDER BY id LIMIT 5"
    ))
    .bind(owner)
    .bind(title)
    .fetch_all(pool)
    .await?;
    if !exact.is_empty() {
        return Ok(exact.into_iter().map(Task::from).collect());
    }
    let similar: Vec<TaskRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM tasks WHERE user_id = $1 AND title ILIKE $2 ORDER BY id LIMIT 5"
    ))
    .bind(owner)
    .bind(contains_pattern(title))
    .fetch_all(pool)
    .await?;
    Ok(similar.into_iter().map(Task::from).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use api_types::Priority;

    #[test]
    fn search_patterns_match_wildcards_literally() {
        assert_eq!(contains_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }

    #[test]
    fn priorities_read_back_from_their_text() {
        for priority in Priority::ALL {
            assert_eq!(priority.as_str().parse::<Priority>().unwrap(), priority);
        }
    }
}
