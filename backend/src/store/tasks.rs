use super::users::{self, OpenSession};
use crate::domain::{Cursor, CursorKey, DueAt, Search, TaskChanges, TaskDraft, TaskFilter};
use api_types::{SortOrder, StatusFilter, TASK_TOTAL_CAP, Task, TaskSort};
use sqlx::{FromRow, PgConnection, PgExecutor, PgPool, Postgres, QueryBuilder, Row, postgres::PgRow};
use uuid::Uuid;

const COLUMNS: &str = "id, title, description, completed, completed_at, priority::text AS priority, \
                       tags, due_at, created_at, updated_at";

/// A task as `COLUMNS` selects it. Every statement reading one selects `COLUMNS` first, so the
/// row is decoded by position: the derived `FromRow` looks each column up by name, a hash
/// lookup per column and row (a fifth of the task list's CPU went to reading rows).
#[derive(Debug)]
struct TaskRow(Task);

/// How many columns `COLUMNS` has: what follows them in a row starts here.
const COLUMN_COUNT: usize = 10;

impl<'r> FromRow<'r, PgRow> for TaskRow {
    fn from_row(row: &'r PgRow) -> Result<Self, sqlx::Error> {
        // The column is an enum of exactly these values, read as text without a copy.
        let priority: &str = row.try_get(5)?;
        Ok(TaskRow(Task {
            id: row.try_get(0)?,
            title: row.try_get(1)?,
            description: row.try_get(2)?,
            completed: row.try_get(3)?,
            completed_at: row.try_get(4)?,
            priority: priority.parse().unwrap_or_default(),
            tags: row.try_get(6)?,
            due_at: row.try_get(7)?,
            created_at: row.try_get(8)?,
            updated_at: row.try_get(9)?,
        }))
    }
}

impl From<TaskRow> for Task {
    fn from(row: TaskRow) -> Self {
        row.0
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

pub async fn insert<'e>(db: impl PgExecutor<'e>, owner: Uuid, draft: &TaskDraft) -> Result<Task, sqlx::Error> {
    let sql = format!(
        "INSERT INTO tasks (user_id, title, description, priority, tags, due_at, completed, completed_at) \
         VALUES ($1, $2, $3, $4::task_priority, $5, $6, $7, CASE WHEN $7 THEN now() END) RETURNING {COLUMNS}"
    );
    let row: TaskRow = bind_draft(sqlx::query_as(&sql).bind(owner), draft).fetch_one(db).await?;
    Ok(row.into())
}

pub async fn get<'e>(db: impl PgExecutor<'e>, owner: Uuid, id: i64) -> Result<Option<Task>, sqlx::Error> {
    let row: Option<TaskRow> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM tasks WHERE id = $1 AND user_id = $2"))
        .bind(id)
        .bind(owner)
        .fetch_optional(db)
        .await?;
    Ok(row.map(Task::from))
}

/// The task, locked until the transaction ends: what a recorded change saw before it.
pub async fn get_for_update(db: &mut PgConnection, owner: Uuid, id: i64) -> Result<Option<Task>, sqlx::Error> {
    let row: Option<TaskRow> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM tasks WHERE id = $1 AND user_id = $2 FOR UPDATE"))
            .bind(id)
            .bind(owner)
            .fetch_optional(db)
            .await?;
    Ok(row.map(Task::from))
}

/// Writes every column of `task` back, its id and timestamps included: the undo of a deletion
/// (re-inserted as it was) or of an update. `updated_at` too, so that the change before, whose
/// `after` this row is, can be undone next. `None` when an update finds no such task.
pub async fn restore(
    db: &mut PgConnection,
    owner: Uuid,
    task: &Task,
    insert: bool,
) -> Result<Option<Task>, sqlx::Error> {
    let sql = if insert {
        format!(
            "INSERT INTO tasks (id, user_id, title, description, priority, tags, due_at, completed, completed_at, \
             created_at, updated_at) OVERRIDING SYSTEM VALUE \
             VALUES ($1, $2, $3, $4, $5::task_priority, $6, $7, $8, $9, $10, $11) RETURNING {COLUMNS}"
        )
    } else {
        format!(
            "UPDATE tasks SET title = $3, description = $4, priority = $5::task_priority, tags = $6, due_at = $7, \
             completed = $8, completed_at = $9, created_at = $10, updated_at = $11 \
             WHERE id = $1 AND user_id = $2 RETURNING {COLUMNS}"
        )
    };
    let row: Option<TaskRow> = sqlx::query_as(&sql)
        .bind(task.id)
        .bind(owner)
        .bind(&task.title)
        .bind(task.description.as_deref())
        .bind(task.priority.as_str())
        .bind(task.tags.as_slice())
        .bind(task.due_at)
        .bind(task.completed)
        .bind(task.completed_at)
        .bind(task.created_at)
        .bind(task.updated_at)
        .fetch_optional(db)
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
pub async fn update<'e>(
    db: impl PgExecutor<'e>,
    owner: Uuid,
    id: i64,
    changes: &TaskChanges,
) -> Result<Option<Task>, sqlx::Error> {
    if changes.is_empty() {
        return get(db, owner, id).await;
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
    let row: Option<TaskRow> = query.build_query_as().fetch_optional(db).await?;
    Ok(row.map(Task::from))
}

/// Sets completion, or flips it when `completed` is `None`.
pub async fn set_completed<'e>(
    db: impl PgExecutor<'e>,
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
    .fetch_optional(db)
    .await?;
    Ok(row.map(Task::from))
}

/// The deleted task, or `None` when the owner has no such task.
pub async fn delete<'e>(db: impl PgExecutor<'e>, owner: Uuid, id: i64) -> Result<Option<Task>, sqlx::Error> {
    let row: Option<TaskRow> =
        sqlx::query_as(&format!("DELETE FROM tasks WHERE id = $1 AND user_id = $2 RETURNING {COLUMNS}"))
            .bind(id)
            .bind(owner)
            .fetch_optional(db)
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
        // Containment, not `= ANY(tags)`: only this form can use the GIN index on tags.
        query.push(" AND tags @> ARRAY[").push_bind(tag.as_str().to_owned()).push("]");
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

/// One page of the task list.
#[derive(Debug)]
pub struct Page {
    pub items: Vec<Task>,
    /// Exact when `total_exact`, else a lower bound (see `TASK_TOTAL_CAP`).
    pub total: i64,
    pub total_exact: bool,
    /// Whether tasks follow this page.
    pub more: bool,
    /// Where the next page starts, when `more`.
    pub next: Option<Cursor>,
    /// The user's task-list version (`task_list_versions`) the first rows were read at: no
    /// later than any row of the page. `None` when the first statement found no row.
    pub version: Option<i64>,
}

/// Where a page starts, beyond the filters.
enum Start<'a> {
    /// The first row, then `filter.offset` rows skipped.
    Offset,
    /// Right after the cursor's row, in the order of the sort column and then id.
    After(&'a Cursor),
    /// Among the tasks without a due date (which sort last), after the task with this id if any.
    DueNulls(Option<i64>),
}

/// A row of `page_query`: `COLUMNS`, then `title_key` and `total`.
struct Listed {
    task: TaskRow,
    /// `lower(title)` when sorting by title: the cursor must hold the database's own value.
    title_key: Option<String>,
    total: i64,
    list_version: i64,
}

impl<'r> FromRow<'r, PgRow> for Listed {
    fn from_row(row: &'r PgRow) -> Result<Self, sqlx::Error> {
        Ok(Listed {
            task: TaskRow::from_row(row)?,
            title_key: row.try_get(COLUMN_COUNT)?,
            total: row.try_get(COLUMN_COUNT + 1)?,
            list_version: row.try_get(COLUMN_COUNT + 2)?,
        })
    }
}

/// One query for up to `rows` rows from `start`, each carrying the capped count of every row
/// matching the filter (an InitPlan: computed once, and it stops at `TASK_TOTAL_CAP + 1`).
fn page_query<'a>(
    prefix: &str,
    owner: Uuid,
    filter: &'a TaskFilter,
    start: &Start<'a>,
    rows: i64,
    session: Option<OpenSession>,
) -> QueryBuilder<'a, Postgres> {
    let title_key = if filter.sort == TaskSort::Title { "lower(tasks.title)" } else { "NULL::text" };
    let mut query = QueryBuilder::<Postgres>::new(format!(
        "{prefix}SELECT {COLUMNS}, {title_key} AS title_key, (SELECT count(*) FROM (SELECT FROM tasks"
    ));
    push_filters(&mut query, owner, filter);
    query.push(" LIMIT ").push_bind(TASK_TOTAL_CAP + 1).push(") AS capped) AS total, ");
    push_list_version(&mut query, owner);
    query.push(" AS list_version FROM tasks");
    push_filters(&mut query, owner, filter);
    if let Some(session) = session {
        users::push_session_open(&mut query, session);
    }
    let (direction, after) = match filter.order {
        SortOrder::Asc => ("ASC", ">"),
        SortOrder::Desc => ("DESC", "<"),
    };
    // Qualified: the bare name would sort by the `priority::text` output column.
    let column = match filter.sort {
        TaskSort::Created => "tasks.created_at",
        TaskSort::Due => "tasks.due_at",
        TaskSort::Priority => "tasks.priority",
        TaskSort::Title => "lower(tasks.title)",
    };
    match start {
        Start::Offset => {}
        // A row comparison, which a btree answers with one search, ties on the key included.
        Start::After(cursor) => {
            query.push(format!(" AND ({column}, tasks.id) {after} ("));
            match &cursor.key {
                CursorKey::Created(at) | CursorKey::Due(Some(at)) => query.push_bind(*at),
                CursorKey::Priority(priority) => query.push_bind(priority.as_str()).push("::task_priority"),
                CursorKey::Title(title) => query.push_bind(title.as_str()),
                // Never built: a cursor among the NULLs starts `DueNulls`.
                CursorKey::Due(None) => query.push("NULL"),
            };
            query.push(", ").push_bind(cursor.id).push(")");
        }
        Start::DueNulls(id) => {
            query.push(" AND tasks.due_at IS NULL");
            if let Some(id) = id {
                query.push(format!(" AND tasks.id {after} ")).push_bind(*id);
            }
        }
    }
    // Only due_at is nullable: tasks without a due date go last either way. The NULLS clause
    // is left out elsewhere so that a DESC order matches a DESC index read forwards and an ASC
    // order the same index read backwards. Id breaks ties so pages never overlap.
    let nulls = if filter.sort == TaskSort::Due { " NULLS LAST" } else { "" };
    // LIMIT and OFFSET are written as numbers (ours, not the client's text): a generic plan
    // of a bound LIMIT would assume it reads a tenth of the rows and prefer a full sort.
    query.push(format!(" ORDER BY {column} {direction}{nulls}, tasks.id {direction} LIMIT {rows}"));
    if matches!(start, Start::Offset) {
        query.push(format!(" OFFSET {}", filter.offset));
    }
    query
}

/// The owner's task-list version as a scalar subquery: computed once per statement, in the
/// statement's snapshot, so it is the version of the rows read beside it.
fn push_list_version(query: &mut QueryBuilder<'_, Postgres>, owner: Uuid) {
    query.push("COALESCE((SELECT version FROM task_list_versions WHERE user_id = ").push_bind(owner).push("), 0)");
}

/// The session's user's task-list version, when the session is open: what a stored page is
/// checked against (`crate::page_cache`). `None` for a closed session, whose reason the caller
/// must then find (`Claim::confirm`).
pub async fn list_version_if_open(
    connection: &mut PgConnection,
    session: OpenSession,
) -> Result<Option<i64>, sqlx::Error> {
    let mut query = QueryBuilder::<Postgres>::new("SELECT ");
    push_list_version(&mut query, session.user_id);
    query.push(" WHERE TRUE");
    users::push_session_open(&mut query, session);
    query.build_query_scalar().fetch_optional(connection).await
}

fn start_after(cursor: &Cursor) -> Start<'_> {
    match cursor.key {
        CursorKey::Due(None) => Start::DueNulls(Some(cursor.id)),
        _ => Start::After(cursor),
    }
}

async fn fetch(
    connection: &mut PgConnection,
    owner: Uuid,
    filter: &TaskFilter,
    start: Start<'_>,
    rows: i64,
    session: Option<OpenSession>,
) -> Result<Vec<Listed>, sqlx::Error> {
    page_query("", owner, filter, &start, rows, session)
        .build_query_as()
        .persistent(!plan_each_time(filter))
        .fetch_all(connection)
        .await
}

/// Whether a statement of `filter` must stay unprepared, to be planned for its own values. A
/// cached generic plan cannot see the tag or the search pattern: it guesses that few tasks of
/// all users match and intersects the GIN index (all users' matches: 200,000 rows of a
/// million for a common tag, 50 ms) with the user's rows, where a plan that knows the value
/// reads the user's own hundred rows. Planning costs less than that mistake.
fn plan_each_time(filter: &TaskFilter) -> bool {
    filter.tag.is_some() || filter.search.is_some()
}

/// One page of the owner's tasks matching `filter`, and how many match (capped).
pub async fn list(connection: &mut PgConnection, owner: Uuid, filter: &TaskFilter) -> Result<Page, sqlx::Error> {
    let rows = first_rows(&mut *connection, owner, filter, None).await?;
    finish_page(&mut *connection, owner, filter, rows).await
}

/// `list` for a session not yet checked: the page's query reads rows only while the session is
/// open, so the request makes one statement where a separate check made two. `None` when no
/// row came back, which is either an empty page or a closed session: the caller must tell
/// which (`Claim::confirm`) and may then ask `list`.
pub async fn list_if_open(
    connection: &mut PgConnection,
    session: OpenSession,
    filter: &TaskFilter,
) -> Result<Option<Page>, sqlx::Error> {
    let rows = first_rows(&mut *connection, session.user_id, filter, Some(session)).await?;
    if rows.is_empty() {
        return Ok(None);
    }
    finish_page(&mut *connection, session.user_id, filter, rows).await.map(Some)
}

/// One row more than the page tells whether another page follows, without a count.
fn wanted(filter: &TaskFilter) -> i64 {
    i64::from(filter.limit) + 1
}

async fn first_rows(
    connection: &mut PgConnection,
    owner: Uuid,
    filter: &TaskFilter,
    session: Option<OpenSession>,
) -> Result<Vec<Listed>, sqlx::Error> {
    let start = filter.after.as_ref().map_or(Start::Offset, start_after);
    fetch(&mut *connection, owner, filter, start, wanted(filter), session).await
}

async fn finish_page(
    connection: &mut PgConnection,
    owner: Uuid,
    filter: &TaskFilter,
    mut rows: Vec<Listed>,
) -> Result<Page, sqlx::Error> {
    let wanted = wanted(filter);
    // A row comparison never matches NULL: after the dated tasks come the undated ones.
    if let Some(cursor) = &filter.after
        && matches!(cursor.key, CursorKey::Due(Some(_)))
        && (rows.len() as i64) < wanted
    {
        let rest = wanted - rows.len() as i64;
        rows.extend(fetch(&mut *connection, owner, filter, Start::DueNulls(None), rest, None).await?);
    }
    let version = rows.first().map(|row| row.list_version);
    let counted = match rows.first() {
        Some(row) => row.total,
        // Past the last page the rows carry no count: count separately.
        None if filter.offset > 0 || filter.after.is_some() => {
            let mut count = QueryBuilder::<Postgres>::new("SELECT count(*) FROM (SELECT FROM tasks");
            push_filters(&mut count, owner, filter);
            count.push(" LIMIT ").push_bind(TASK_TOTAL_CAP + 1).push(") AS capped");
            count.build_query_scalar().persistent(!plan_each_time(filter)).fetch_one(connection).await?
        }
        None => 0,
    };
    let more = rows.len() as i64 == wanted;
    rows.truncate(filter.limit as usize);
    let next = if more { rows.last().map(|row| cursor_at(filter, row)) } else { None };
    let last_offset_page = filter.after.is_none() && !more && !rows.is_empty();
    let total_exact = counted <= TASK_TOTAL_CAP || last_offset_page;
    let total = if counted <= TASK_TOTAL_CAP {
        counted
    } else if last_offset_page {
        i64::from(filter.offset) + rows.len() as i64
    } else {
        // An offset page knows it reaches at least this far.
        let reached = match filter.after {
            None if !rows.is_empty() => i64::from(filter.offset) + rows.len() as i64 + i64::from(more),
            _ => 0,
        };
        reached.max(TASK_TOTAL_CAP)
    };
    Ok(Page { items: rows.into_iter().map(|row| row.task.into()).collect(), total, total_exact, more, next, version })
}

/// The plan (`EXPLAIN (FORMAT JSON)`) of the first query `list` would run: tests check that each
/// sort and filter reads an index rather than every row.
#[doc(hidden)]
pub async fn explain_list(pool: &PgPool, owner: Uuid, filter: &TaskFilter) -> Result<serde_json::Value, sqlx::Error> {
    let start = filter.after.as_ref().map_or(Start::Offset, start_after);
    let explained: sqlx::types::Json<serde_json::Value> =
        page_query("EXPLAIN (FORMAT JSON) ", owner, filter, &start, wanted(filter), None)
            .build_query_scalar()
            .fetch_one(pool)
            .await?;
    Ok(explained.0)
}

/// The cursor of the page that ends with `row`.
fn cursor_at(filter: &TaskFilter, row: &Listed) -> Cursor {
    let task = &row.task.0;
    let key = match filter.sort {
        TaskSort::Created => CursorKey::Created(task.created_at),
        TaskSort::Due => CursorKey::Due(task.due_at),
        TaskSort::Priority => CursorKey::Priority(task.priority),
        TaskSort::Title => CursorKey::Title(row.title_key.clone().unwrap_or_default()),
    };
    Cursor { sort: filter.sort, order: filter.order, key, id: task.id }
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
