//! The task-list page cache (`backend::page_cache`): a repeated page costs one version read,
//! and no change to a user's tasks, from whatever path or replica, is ever answered with the
//! page from before it.

use crate::{
    chat::chat_ok,
    helpers::{TestApp, TestUser, config_for, fresh_database, spawn_app, spawn_app_configured, spawn_app_with},
};
use api_types::{Task, TaskPage};
use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

/// Statements run so far in this test's database that read the page's rows (`… FROM tasks …`
/// with the page's count), and those that read only the list version (not the bump at commit).
async fn page_and_version_reads(pool: &PgPool) -> (i64, i64) {
    sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements").execute(pool).await.unwrap();
    sqlx::query_as(
        "SELECT coalesce(sum(calls) FILTER (WHERE query ~ 'AS total'), 0)::bigint, \
                coalesce(sum(calls) FILTER (WHERE query ~ '^SELECT .*task_list_versions' AND query !~ 'AS total'), 0)::bigint \
         FROM pg_stat_statements \
         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         AND query !~ 'pg_stat_statements'",
    )
    .fetch_one(pool)
    .await
    .expect("pg_stat_statements must be loaded (shared_preload_libraries), as scripts/with-test-database.sh does")
}

/// The page's body exactly as sent.
async fn page_bytes(app: &TestApp, user: &TestUser, query: &str) -> Vec<u8> {
    let response = app.authed(Method::GET, &format!("/api/{}/tasks?{query}", user.id), user).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    response.bytes().await.unwrap().to_vec()
}

async fn page(app: &TestApp, user: &TestUser) -> TaskPage {
    serde_json::from_slice(&page_bytes(app, user, "").await).unwrap()
}

fn titles(page: &TaskPage) -> Vec<&str> {
    let mut titles: Vec<&str> = page.items.iter().map(|task| task.title.as_str()).collect();
    titles.sort_unstable();
    titles
}

async fn version_of(pool: &PgPool, user: &TestUser) -> i64 {
    let id = Uuid::parse_str(&user.id).unwrap();
    sqlx::query_scalar("SELECT version FROM task_list_versions WHERE user_id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_repeated_page_is_the_same_bytes_after_one_version_read() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    for i in 0..3 {
        app.create_task(&user, json!({"title": format!("task {i}"), "tags": ["x"]})).await;
    }
    let first = page_bytes(&app, &user, "sort=title&order=asc").await;
    let (pages, versions) = page_and_version_reads(&app.pool).await;
    for _ in 0..4 {
        assert_eq!(page_bytes(&app, &user, "sort=title&order=asc").await, first);
    }
    assert_eq!(page_and_version_reads(&app.pool).await, (pages, versions + 4), "no row read again");
    // Another query of the same user is a page of its own.
    let other = page_bytes(&app, &user, "sort=title&order=desc").await;
    assert_ne!(other, first);
    assert_eq!(page_and_version_reads(&app.pool).await, (pages + 1, versions + 4));
    // The next change reads the page again, once.
    app.create_task(&user, json!({"title": "task 3"})).await;
    let changed = page_bytes(&app, &user, "sort=title&order=asc").await;
    assert!(String::from_utf8(changed).unwrap().contains("task 3"));
    assert_eq!(page_and_version_reads(&app.pool).await, (pages + 2, versions + 5));
}

#[tokio::test]
async fn every_way_of_changing_a_task_shows_in_the_next_page() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    let task = app.create_task(&user, json!({"title": "first"})).await;
    let path = format!("/api/{}/tasks/{}", user.id, task.id);
    assert_eq!(titles(&page(&app, &user).await), ["first"]);

    let _: Task = app.call(Method::PATCH, &path, &user, Some(&json!({"title": "patched"}))).await;
    assert_eq!(titles(&page(&app, &user).await), ["patched"]);
    let _: Task = app.call(Method::PUT, &path, &user, Some(&json!({"title": "replaced"}))).await;
    assert_eq!(titles(&page(&app, &user).await), ["replaced"]);
    let _: Task = app.call(Method::PATCH, &format!("{path}/complete"), &user, None).await;
    assert!(page(&app, &user).await.items[0].completed);

    // The chat's tools, and their undo.
    let answer = chat_ok(&app, &user, None, "add buy milk").await;
    assert_eq!(titles(&page(&app, &user).await), ["buy milk", "replaced"]);
    let change = answer.tool_calls[0].change_id.unwrap();
    let undone =
        app.authed(Method::POST, &format!("/api/{}/changes/{change}/undo", user.id), &user).send().await.unwrap();
    assert_eq!(undone.status(), 200);
    assert_eq!(titles(&page(&app, &user).await), ["replaced"]);

    // SQL run by an operator, outside the application.
    sqlx::query("UPDATE tasks SET title = 'by sql' WHERE id = $1").bind(task.id).execute(&app.pool).await.unwrap();
    assert_eq!(titles(&page(&app, &user).await), ["by sql"]);
    // A rolled-back change changes nothing, and the page stays cached.
    let before = version_of(&app.pool, &user).await;
    let mut transaction = app.pool.begin().await.unwrap();
    sqlx::query("DELETE FROM tasks WHERE id = $1").bind(task.id).execute(&mut *transaction).await.unwrap();
    transaction.rollback().await.unwrap();
    assert_eq!(version_of(&app.pool, &user).await, before);
    assert_eq!(titles(&page(&app, &user).await), ["by sql"]);

    let deleted = app.authed(Method::DELETE, &path, &user).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    assert!(page(&app, &user).await.items.is_empty());
}

#[tokio::test]
async fn two_replicas_never_answer_with_a_page_from_before_the_others_change() {
    let Some(database) = fresh_database().await else { return };
    let one = spawn_app_with(config_for(database.clone())).await;
    one.wait_until_ready().await;
    let two = spawn_app_with(config_for(database)).await;
    two.wait_until_ready().await;
    let user = one.sign_up().await;
    let task = one.create_task(&user, json!({"title": "written on one"})).await;
    for replica in [&one, &two] {
        assert_eq!(titles(&page(replica, &user).await), ["written on one"]);
    }
    let _: Task = two
        .call(
            Method::PATCH,
            &format!("/api/{}/tasks/{}", user.id, task.id),
            &user,
            Some(&json!({"title": "renamed on two"})),
        )
        .await;
    two.create_task(&user, json!({"title": "added on two"})).await;
    assert_eq!(titles(&page(&one, &user).await), ["added on two", "renamed on two"]);
    let deleted =
        one.authed(Method::DELETE, &format!("/api/{}/tasks/{}", user.id, task.id), &user).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(titles(&page(&two, &user).await), ["added on two"]);
}

#[tokio::test]
async fn a_closed_session_is_refused_with_its_reason_though_its_page_is_cached() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    app.create_task(&user, json!({"title": "private"})).await;
    page(&app, &user).await;
    page(&app, &user).await;
    let signed_out = app.authed(Method::POST, "/api/auth/sign-out", &user).send().await.unwrap();
    assert_eq!(signed_out.status(), 204);
    let refused = app.authed(Method::GET, &format!("/api/{}/tasks", user.id), &user).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let body: api_types::ErrorBody = refused.json().await.unwrap();
    assert!(body.message.contains("signed out"), "{body:?}");
}

/// The version is bumped at commit, after the transaction's task row locks: a transaction that
/// changes one task and then another never deadlocks with a request that changes the second in
/// between (it would if the bump took the version row at the first change).
#[tokio::test]
async fn writers_of_one_users_tasks_wait_for_each_other_but_never_deadlock() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    let first = app.create_task(&user, json!({"title": "first"})).await;
    let second = app.create_task(&user, json!({"title": "second"})).await;
    let before = version_of(&app.pool, &user).await;

    let mut transaction = app.pool.begin().await.unwrap();
    sqlx::query("UPDATE tasks SET title = 'first, in a transaction' WHERE id = $1")
        .bind(first.id)
        .execute(&mut *transaction)
        .await
        .unwrap();
    // Not blocked by the open transaction: it holds no lock on the version yet.
    let path = format!("/api/{}/tasks/{}", user.id, second.id);
    let patched = tokio::time::timeout(
        Duration::from_secs(20),
        app.authed(Method::PATCH, &path, &user).json(&json!({"title": "second, by the API"})).send(),
    )
    .await
    .expect("the API's change waited on the open transaction")
    .unwrap();
    assert_eq!(patched.status(), 200);
    sqlx::query("UPDATE tasks SET description = 'then this' WHERE id = $1")
        .bind(second.id)
        .execute(&mut *transaction)
        .await
        .unwrap();
    transaction.commit().await.unwrap();
    assert_eq!(version_of(&app.pool, &user).await, before + 3, "one per changed row");

    // Many at once on one user's tasks: every one answered, none lost, the page current.
    let changes = (0..12).map(|i| {
        let (app, user, path) = (&app, &user, &path);
        async move {
            if i % 2 == 0 {
                app.create_task(user, json!({"title": format!("new {i}")})).await;
            } else {
                let _: Task = app.call(Method::PATCH, path, user, Some(&json!({"title": format!("second {i}")}))).await;
            }
            page(app, user).await
        }
    });
    futures_util::future::join_all(changes).await;
    let listed = page(&app, &user).await;
    assert_eq!(listed.total, 8);
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM tasks").fetch_one(&app.pool).await.unwrap();
    assert_eq!(stored, 8);
    assert_eq!(version_of(&app.pool, &user).await, before + 3 + 12);
}

#[tokio::test]
async fn with_no_cache_every_page_reads_its_rows() {
    let Some(app) = spawn_app_configured(|config| config.task_page_cache_bytes = 0).await else { return };
    let user = app.sign_up().await;
    app.create_task(&user, json!({"title": "one"})).await;
    let first = page_bytes(&app, &user, "").await;
    let (pages, versions) = page_and_version_reads(&app.pool).await;
    for _ in 0..3 {
        assert_eq!(page_bytes(&app, &user, "").await, first);
    }
    assert_eq!(page_and_version_reads(&app.pool).await, (pages + 3, versions));
}
