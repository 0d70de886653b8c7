//! Connections the task list keeps between requests (`backend::warm`): handed out again as
//! they are when every statement finished, given back to the pool (which pings them) in every
//! other case, never more than half of `DATABASE_MAX_CONNECTIONS`, and never in the way of
//! the pool closing.

use crate::helpers::{TestApp, TestUser, config_for, fresh_database, spawn_app, spawn_app_configured};
use backend::{
    db,
    warm::{KEEP_IDLE_AT_MOST, WarmConnection, WarmConnections},
};
use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;
use std::time::Duration;

async fn pool_of(max_connections: u32) -> Option<PgPool> {
    let mut config = config_for(fresh_database().await?);
    config.database_max_connections = max_connections;
    Some(db::lazy_pool(&config))
}

async fn backend_pid(connection: &mut WarmConnection<'_>) -> i32 {
    sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut **connection).await.unwrap()
}

#[tokio::test]
async fn a_connection_whose_statements_finished_is_handed_out_again_without_going_back_to_the_pool() {
    let Some(pool) = pool_of(4).await else { return };
    let warm = WarmConnections::new(pool.clone());
    let mut connection = warm.take().await.unwrap();
    let first = backend_pid(&mut connection).await;
    connection.done();
    assert_eq!(warm.kept(), 1);
    // Still checked out: it never went through the pool's release, where sqlx pings.
    assert_eq!((pool.size(), pool.num_idle()), (1, 0));

    let mut connection = warm.take().await.unwrap();
    assert_eq!(backend_pid(&mut connection).await, first, "the same session of PostgreSQL");
    assert_eq!(warm.kept(), 0, "taken, not shared");
    connection.done();
}

#[tokio::test]
async fn a_connection_whose_statement_was_cancelled_goes_back_to_the_pool_not_to_the_next_request() {
    let Some(pool) = pool_of(4).await else { return };
    let warm = WarmConnections::new(pool.clone());
    let mut connection = warm.take().await.unwrap();
    let cancelled = backend_pid(&mut connection).await;
    // A request dropped while PostgreSQL is still answering: the answer is left unread.
    // Long enough that the next take below cannot find it back in the pool on a slow machine.
    let sleep = sqlx::query("SELECT pg_sleep(3)").execute(&mut *connection);
    assert!(tokio::time::timeout(Duration::from_millis(100), sleep).await.is_err());
    drop(connection);
    assert_eq!(warm.kept(), 0);

    let mut next = warm.take().await.unwrap();
    assert_ne!(backend_pid(&mut next).await, cancelled, "the pool reads the rest of that answer first");
    next.done();
    // The pool's release ping waits out the sleep, then the connection is idle in the pool.
    tokio::time::timeout(Duration::from_secs(10), async {
        while pool.num_idle() != 1 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the cancelled connection went back to the pool");
}

#[tokio::test]
async fn at_most_half_of_the_connections_are_kept() {
    let Some(pool) = pool_of(5).await else { return };
    let warm = WarmConnections::new(pool.clone());
    let taken = [warm.take().await.unwrap(), warm.take().await.unwrap(), warm.take().await.unwrap()];
    assert_eq!(pool.size(), 3);
    for connection in taken {
        connection.done();
    }
    assert_eq!(warm.kept(), 2, "5 / 2");

    let Some(pool) = pool_of(1).await else { return };
    let warm = WarmConnections::new(pool.clone());
    warm.take().await.unwrap().done();
    assert_eq!(warm.kept(), 0, "a pool of one keeps its connection for everyone");
    let _only = pool.acquire().await.expect("back in the pool");
}

#[tokio::test]
async fn a_connection_kept_unused_for_a_while_goes_back_to_the_pool() {
    let Some(pool) = pool_of(4).await else { return };
    let warm = WarmConnections::new(pool.clone());
    let (a, b) = (warm.take().await.unwrap(), warm.take().await.unwrap());
    a.done();
    assert_eq!(warm.return_idle(), 0, "used a moment ago");
    tokio::time::sleep(KEEP_IDLE_AT_MOST + Duration::from_millis(100)).await;
    b.done();
    assert_eq!(warm.return_idle(), 1, "only the one idle since before the sleep");
    assert_eq!(warm.kept(), 1);

    tokio::time::sleep(KEEP_IDLE_AT_MOST + Duration::from_millis(100)).await;
    // The next request does not get a stale one: it goes back (pinged) and the pool answers.
    let mut connection = warm.take().await.unwrap();
    assert_eq!(warm.kept(), 0);
    backend_pid(&mut connection).await;
    connection.done();

    warm.return_all();
    assert_eq!(warm.kept(), 0);
}

/// Sign-up, an empty list (whose session check takes a connection of its own), a page read,
/// the same page from the cache, and a closed session.
async fn every_path_of_the_task_list(app: &TestApp, user: &TestUser) {
    let list = |user: &TestUser| app.authed(Method::GET, &format!("/api/{}/tasks", user.id), user).send();
    let empty = tokio::time::timeout(Duration::from_secs(2), list(user)).await.expect("answered").unwrap();
    assert_eq!(empty.status(), 200);
    app.create_task(user, json!({"title": "one"})).await;
    for _ in 0..3 {
        let page = list(user).await.unwrap();
        assert_eq!(page.status(), 200);
        assert_eq!(page.json::<api_types::TaskPage>().await.unwrap().items.len(), 1);
    }
    let signed_out = app.authed(Method::POST, "/api/auth/sign-out", user).send().await.unwrap();
    assert_eq!(signed_out.status(), 204);
    assert_eq!(list(user).await.unwrap().status(), 401);
}

#[tokio::test]
async fn the_task_list_never_holds_two_connections_so_one_is_enough() {
    let Some(app) = spawn_app_configured(|config| config.database_max_connections = 1).await else { return };
    let user = app.sign_up().await;
    every_path_of_the_task_list(&app, &user).await;
}

#[tokio::test]
async fn a_replica_holding_kept_connections_still_stops() {
    let Some(mut app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    every_path_of_the_task_list(&app, &user).await;
    // The pool's close waits for every connection it lent, the kept ones too: the replica gives
    // them back before closing it (and its idle sweep would, a second later).
    app.signal_shutdown();
    let stopped = app.stopped.take().unwrap();
    let result = tokio::time::timeout(Duration::from_secs(10), stopped).await.expect("did not stop");
    result.unwrap().expect("server returned an error");
}

/// The value of one `db_pool_connections` state on `/metrics`.
async fn pool_gauge(app: &TestApp, state: &str) -> f64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    let prefix = format!("db_pool_connections{{state=\"{state}\"}} ");
    let line = text.lines().find(|line| line.starts_with(&prefix)).unwrap_or_else(|| panic!("no {prefix}in {text}"));
    line[prefix.len()..].parse().unwrap()
}

#[tokio::test]
async fn metrics_count_kept_connections_apart_from_idle_and_in_use_ones() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    // Kept for up to a second after each page: seen on the scrape that follows one, however
    // slow the machine is on some attempt.
    let mut seen = false;
    for _ in 0..20 {
        let page = app.authed(Method::GET, &format!("/api/{}/tasks", user.id), &user).send().await.unwrap();
        assert_eq!(page.status(), 200);
        if pool_gauge(&app, "kept").await == 1.0 {
            seen = true;
            break;
        }
    }
    assert!(seen, "the list's connection is counted as kept");
}
