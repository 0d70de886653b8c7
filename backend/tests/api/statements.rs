//! What a request costs PostgreSQL, counted by the server itself: `pg_stat_statements`, which
//! `scripts/with-test-database.sh` loads. Counts, never timings.

use crate::helpers::{TestApp, spawn_app};
use reqwest::Method;
use sqlx::PgPool;
use std::time::Duration;

/// Statements executed so far in this test's database on the application's tables.
async fn statements_run(pool: &PgPool) -> i64 {
    sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements").execute(pool).await.unwrap();
    sqlx::query_scalar(
        "SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements \
         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         AND query ~ '\\m(tasks|users|revoked_sessions)\\M' AND query !~ 'pg_stat_statements'",
    )
    .fetch_one(pool)
    .await
    .expect("pg_stat_statements must be loaded (shared_preload_libraries), as scripts/with-test-database.sh does")
}

async fn list_ok(app: &TestApp, user: &crate::helpers::TestUser) {
    let response = app.authed(Method::GET, &format!("/api/{}/tasks", user.id), user).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_page_of_tasks_is_one_statement_session_check_included() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    for i in 0..3 {
        app.create_task(&user, serde_json::json!({"title": format!("task {i}")})).await;
    }
    list_ok(&app, &user).await;
    let before = statements_run(&app.pool).await;
    for _ in 0..5 {
        list_ok(&app, &user).await;
    }
    assert_eq!(statements_run(&app.pool).await - before, 5);
}

/// Connections are pinged only after they sat idle (`PING_WHEN_IDLE_FOR`): one that the server
/// ended meanwhile is replaced, not handed to a request that would then fail.
#[tokio::test]
async fn connections_ended_while_idle_are_replaced_before_a_request_uses_them() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    list_ok(&app, &user).await;
    // The test's own pool stays: only the application's connections end.
    let ended: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert!(!ended.is_empty() && ended.iter().all(|ended| *ended), "the application had connections open");
    tokio::time::sleep(backend::db::PING_WHEN_IDLE_FOR + Duration::from_millis(200)).await;
    for _ in 0..3 {
        list_ok(&app, &user).await;
    }
}
