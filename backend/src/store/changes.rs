//! `task_changes`: what each tool call changed, and undoing it. A change is recorded in the
//! transaction that makes it, and undone in one transaction that locks the change records and
//! the task rows, so that two undos of the same change cannot both succeed.

use super::tasks;
use api_types::{ChangeKind, Task, UndoneChange};
use sqlx::{PgConnection, PgPool, types::Json};
use std::time::Duration;
use uuid::Uuid;

/// Where a change came from: the chat (a conversation, a tool call, the turn as the batch) or
/// MCP (no conversation; each call its own batch).
#[derive(Debug, Clone)]
pub struct Origin {
    pub conversation: Option<Uuid>,
    pub tool_call_id: Option<String>,
    /// The changes undone together by "undo the last change".
    pub batch: Uuid,
}

fn kind_text(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::Add => "add",
        ChangeKind::Update => "update",
        ChangeKind::Complete => "complete",
        ChangeKind::Delete => "delete",
    }
}

fn kind_of(text: &str) -> ChangeKind {
    match text {
        "add" => ChangeKind::Add,
        "complete" => ChangeKind::Complete,
        "delete" => ChangeKind::Delete,
        // The column's CHECK allows only these four.
        _ => ChangeKind::Update,
    }
}

/// Records one change inside the transaction that made it; returns the change's id.
pub async fn record(
    db: &mut PgConnection,
    owner: Uuid,
    origin: &Origin,
    kind: ChangeKind,
    before: Option<&Task>,
    after: Option<&Task>,
) -> Result<i64, sqlx::Error> {
    let task_id = after.or(before).map_or(0, |task| task.id);
    sqlx::query_scalar(
        "INSERT INTO task_changes (user_id, conversation_id, tool_call_id, batch_id, task_id, kind, before, after) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(owner)
    .bind(origin.conversation)
    .bind(origin.tool_call_id.as_deref())
    .bind(origin.batch)
    .bind(task_id)
    .bind(kind_text(kind))
    .bind(before.map(Json))
    .bind(after.map(Json))
    .fetch_one(db)
    .await
}

/// Why a change could not be undone. Nothing is undone then.
#[derive(Debug, thiserror::Error)]
pub enum UndoError {
    /// No such change of this user: another user's looks the same.
    #[error("change {0} not found")]
    NotFound(i64),
    #[error("there is nothing to undo: no change of the last {} hours is left to undo here", .0.as_secs() / 3600)]
    Nothing(Duration),
    #[error("change {0} was undone already")]
    AlreadyUndone(i64),
    #[error("change {change} is older than the undo window of {} seconds; it can no longer be undone", .window.as_secs())]
    Expired { change: i64, window: Duration },
    #[error(
        "task {task_id} ({title:?}) has changed since change {change}; nothing was undone, so that later change is kept"
    )]
    Changed { change: i64, task_id: i64, title: String },
    #[error("task {task_id} ({title:?}) was deleted since change {change}; nothing was undone")]
    Gone { change: i64, task_id: i64, title: String },
    #[error("the database failed: {0}")]
    Database(#[from] sqlx::Error),
}

#[derive(sqlx::FromRow)]
struct ChangeRow {
    id: i64,
    task_id: i64,
    kind: String,
    before: Option<Json<Task>>,
    after: Option<Json<Task>>,
    undone: bool,
    expired: bool,
}

const CHANGE_COLUMNS: &str = "id, task_id, kind, before, after, undone_at IS NOT NULL AS undone, \
                              created_at <= now() - make_interval(secs => $2) AS expired";

/// Undoes one change of `owner`'s.
pub async fn undo_change(
    pool: &PgPool,
    owner: Uuid,
    change: i64,
    window: Duration,
) -> Result<Vec<UndoneChange>, UndoError> {
    let mut tx = pool.begin().await?;
    // Locked: a second undo of the same change waits here, then sees it undone.
    let row: Option<ChangeRow> =
        sqlx::query_as(&format!("SELECT {CHANGE_COLUMNS} FROM task_changes WHERE id = $1 AND user_id = $3 FOR UPDATE"))
            .bind(change)
            .bind(window.as_secs_f64())
            .bind(owner)
            .fetch_optional(&mut *tx)
            .await?;
    let row = row.ok_or(UndoError::NotFound(change))?;
    let undone = revert_all(&mut tx, owner, vec![row], window).await?;
    tx.commit().await?;
    Ok(undone)
}

/// Undoes the newest batch of changes, still undoable, in `conversation` (`None`: made
/// through MCP, which has no tool call id; a deleted conversation's changes have none
/// either, but keep theirs), other than `except` (the turn asking).
pub async fn undo_last(
    pool: &PgPool,
    owner: Uuid,
    conversation: Option<Uuid>,
    except: Option<Uuid>,
    window: Duration,
) -> Result<Vec<UndoneChange>, UndoError> {
    let mut tx = pool.begin().await?;
    let batch: Option<Uuid> = sqlx::query_scalar(
        "SELECT batch_id FROM task_changes WHERE user_id = $1 AND conversation_id IS NOT DISTINCT FROM $2 \
         AND ($2 IS NOT NULL OR tool_call_id IS NULL) AND undone_at IS NULL AND created_at > now() - make_interval(secs => $3) \
         AND batch_id IS DISTINCT FROM $4 ORDER BY id DESC LIMIT 1",
    )
    .bind(owner)
    .bind(conversation)
    .bind(window.as_secs_f64())
    .bind(except)
    .fetch_optional(&mut *tx)
    .await?;
    let batch = batch.ok_or(UndoError::Nothing(window))?;
    // Newest first: a task added then completed in one turn is reopened, then removed. A
    // concurrent undo of the same batch waits on these locks and then finds nothing left.
    let rows: Vec<ChangeRow> = sqlx::query_as(&format!(
        "SELECT {CHANGE_COLUMNS} FROM task_changes WHERE batch_id = $1 AND user_id = $3 AND undone_at IS NULL \
         ORDER BY id DESC FOR UPDATE"
    ))
    .bind(batch)
    .bind(window.as_secs_f64())
    .bind(owner)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Err(UndoError::Nothing(window));
    }
    let undone = revert_all(&mut tx, owner, rows, window).await?;
    tx.commit().await?;
    Ok(undone)
}

async fn revert_all(
    db: &mut PgConnection,
    owner: Uuid,
    rows: Vec<ChangeRow>,
    window: Duration,
) -> Result<Vec<UndoneChange>, UndoError> {
    let mut undone = Vec::with_capacity(rows.len());
    for row in rows {
        if row.undone {
            return Err(UndoError::AlreadyUndone(row.id));
        }
        if row.expired {
            return Err(UndoError::Expired { change: row.id, window });
        }
        undone.push(revert(db, owner, row).await?);
    }
    let ids: Vec<i64> = undone.iter().map(|change| change.change_id).collect();
    let marked = sqlx::query("UPDATE task_changes SET undone_at = now() WHERE id = ANY($1) AND undone_at IS NULL")
        .bind(&ids)
        .execute(&mut *db)
        .await?;
    // The rows are locked, so this holds; were it not to, nothing must be half undone.
    if marked.rows_affected() != ids.len() as u64 {
        return Err(UndoError::AlreadyUndone(ids[0]));
    }
    Ok(undone)
}

/// Puts one task back as it was before the change, if it is still as the change left it.
async fn revert(db: &mut PgConnection, owner: Uuid, row: ChangeRow) -> Result<UndoneChange, UndoError> {
    let kind = kind_of(&row.kind);
    let current = tasks::get_for_update(db, owner, row.task_id).await?;
    let (before, after) = (row.before.map(|json| json.0), row.after.map(|json| json.0));
    let title = || after.as_ref().or(before.as_ref()).map(|task| task.title.clone()).unwrap_or_default();
    let task = match (kind, current, &before, &after) {
        // A deletion: the task must still be gone, and comes back exactly as it was.
        (ChangeKind::Delete, None, Some(before), _) => tasks::restore(db, owner, before, true).await?,
        (ChangeKind::Delete, Some(_), ..) => {
            return Err(UndoError::Changed { change: row.id, task_id: row.task_id, title: title() });
        }
        (_, None, ..) => return Err(UndoError::Gone { change: row.id, task_id: row.task_id, title: title() }),
        (_, Some(current), _, Some(after)) if current != *after => {
            return Err(UndoError::Changed { change: row.id, task_id: row.task_id, title: current.title });
        }
        (ChangeKind::Add, Some(_), ..) => {
            tasks::delete(&mut *db, owner, row.task_id).await?;
            None
        }
        (_, Some(_), Some(before), _) => tasks::restore(db, owner, before, false).await?,
        // The table's CHECK rules these out.
        _ => return Err(UndoError::Changed { change: row.id, task_id: row.task_id, title: title() }),
    };
    Ok(UndoneChange { change_id: row.id, kind, task_id: row.task_id, task })
}

/// Which of `ids` (change ids of one user's) are undone: the chat history marks their chips.
pub async fn undone_among(pool: &PgPool, owner: Uuid, ids: &[i64]) -> Result<Vec<i64>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_scalar("SELECT id FROM task_changes WHERE user_id = $1 AND id = ANY($2) AND undone_at IS NOT NULL")
        .bind(owner)
        .bind(ids)
        .fetch_all(pool)
        .await
}

/// Deletes the records older than the undo window, and with them the last copy of the tasks
/// deleted that long ago; returns how many.
pub async fn purge_expired(pool: &PgPool, window: Duration) -> Result<u64, sqlx::Error> {
    let deleted = sqlx::query("DELETE FROM task_changes WHERE created_at <= now() - make_interval(secs => $1)")
        .bind(window.as_secs_f64())
        .execute(pool)
        .await?;
    Ok(deleted.rows_affected())
}
