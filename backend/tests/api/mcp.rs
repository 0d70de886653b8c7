//! `/mcp` driven by a client nobody here wrote: the official MCP Python SDK.

use crate::helpers::{spawn_app, spawn_app_configured};
use api_types::{ErrorBody, TaskPage};
use reqwest::Method;
use serde_json::Value;
use std::{path::PathBuf, process::Command, time::Duration};

/// The Python that has the `mcp` package (`MCP_PYTHON`, else the project's `.tools/venv`).
fn mcp_python() -> Option<PathBuf> {
    let candidate = std::env::var_os("MCP_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/venv/bin/python"));
    let works = Command::new(&candidate).args(["-c", "import mcp"]).output().is_ok_and(|out| out.status.success());
    match works {
        true => Some(candidate),
        false if std::env::var_os("CI").is_some() => {
            panic!("{} cannot import mcp in CI: scripts/install-host-deps.sh installs it", candidate.display())
        }
        false => {
            eprintln!(
                "\n!!! SKIPPED: no Python with the `mcp` package ({}); run scripts/install-host-deps.sh\n",
                candidate.display()
            );
            None
        }
    }
}

#[tokio::test]
async fn the_official_python_sdk_lists_and_calls_the_tools_as_the_token_user() {
    let Some(app) = spawn_app().await else { return };
    let Some(python) = mcp_python() else { return };
    let user = app.sign_up().await;
    let other = app.sign_up().await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/mcp/client.py");
    let url = app.url("/mcp");
    let token = user.token.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python).arg(script).args([&url, &token, "Plan the MCP demo"]).output()
    })
    .await
    .unwrap()
    .expect("running the MCP client");
    assert!(output.status.success(), "client failed: {}", String::from_utf8_lossy(&output.stderr));
    let seen: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        seen["tools"],
        serde_json::json!([
            "add_task",
            "complete_task",
            "delete_task",
            "list_tasks",
            "undo_last_change",
            "update_task"
        ])
    );
    assert_eq!(seen["add_schema_required"], serde_json::json!(["title"]));
    assert_eq!(seen["added_is_error"], false);
    assert_eq!(seen["added"]["task"]["title"], "Plan the MCP demo");
    assert_eq!(seen["listed"]["total"], 1);
    assert_eq!(seen["listed"]["tasks"][0]["priority"], "high");
    assert_eq!(seen["missing_is_error"], true);
    assert!(seen["missing"]["error"].as_str().unwrap().contains("not found"));

    // The task belongs to the token's user, visible through REST; the other user has none.
    let mine: TaskPage = app.call(Method::GET, &format!("/api/{}/tasks", user.id), &user, None).await;
    assert_eq!(mine.total, 1);
    let theirs: TaskPage = app.call(Method::GET, &format!("/api/{}/tasks", other.id), &other, None).await;
    assert_eq!(theirs.total, 0);
}

#[tokio::test]
async fn mcp_without_a_token_is_401() {
    let Some(app) = spawn_app().await else { return };
    let response = app
        .client
        .post(app.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .json(&serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

/// Replicas behind one Service share nothing but the database: a request must not need an
/// earlier one (an `initialize`) to have reached the same process.
#[tokio::test]
async fn mcp_requests_need_no_session_and_act_for_their_own_token() {
    let Some(app) = spawn_app().await else { return };
    let alice = app.sign_up().await;
    let bob = app.sign_up().await;
    let rpc = |user: &crate::helpers::TestUser, body: Value| {
        app.authed(Method::POST, "/mcp", user)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-11-25")
            .json(&body)
    };
    let initialize = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}});
    let initialized = rpc(&alice, initialize).send().await.unwrap();
    assert_eq!(initialized.status(), 200);
    assert!(initialized.headers().get("mcp-session-id").is_none(), "{:?}", initialized.headers());

    // Never initialized on this connection or any other: still answered, for the caller.
    let call = |id: i64, title: &str| {
        serde_json::json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": "add_task", "arguments": {"title": title}}})
    };
    for (user, title) in [(&alice, "Alice's task"), (&bob, "Bob's task")] {
        let response = rpc(user, call(2, title)).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/json");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["result"]["structuredContent"]["task"]["title"], title, "{body}");
    }
    for (user, title) in [(&alice, "Alice's task"), (&bob, "Bob's task")] {
        let page: TaskPage = app.call(Method::GET, &format!("/api/{}/tasks", user.id), user, None).await;
        assert_eq!(page.items.iter().map(|task| task.title.as_str()).collect::<Vec<_>>(), [title]);
    }
}

fn tools_call(name: &str, arguments: Value) -> Value {
    serde_json::json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": name, "arguments": arguments}})
}

#[tokio::test]
async fn an_mcp_body_over_the_rest_limit_is_413_and_runs_nothing() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    // A valid call whose title alone is over the limit: refused before the tool could see it.
    let body = tools_call("add_task", serde_json::json!({"title": "x".repeat(64 * 1024)}));
    let response = app
        .authed(Method::POST, "/mcp", &user)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let error: ErrorBody = response.json().await.unwrap();
    assert_eq!(error.error, "payload_too_large");
    let page: TaskPage = app.call(Method::GET, &format!("/api/{}/tasks", user.id), &user, None).await;
    assert_eq!(page.total, 0);
}

#[tokio::test]
async fn an_mcp_call_stuck_on_the_database_ends_at_the_request_timeout() {
    let Some(app) = spawn_app_configured(|config| config.request_timeout = Duration::from_secs(1)).await else {
        return;
    };
    let user = app.sign_up().await;
    let task = app.create_task(&user, serde_json::json!({"title": "Locked"})).await;
    // Another session holds the task's row until this test ends, so completing it cannot finish
    // on its own: only the timeout can answer.
    let mut lock = app.pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM tasks WHERE id = $1 FOR UPDATE").bind(task.id).execute(&mut *lock).await.unwrap();
    let response = app
        .authed(Method::POST, "/mcp", &user)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .json(&tools_call("complete_task", serde_json::json!({"task_id": task.id})))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    // The REST API's error shape, not an empty body.
    let body: api_types::ErrorBody = response.json().await.unwrap();
    assert_eq!(body.error, "timeout", "{body:?}");
    lock.rollback().await.unwrap();
}

/// MCP has no browser to send a zone: the tools read dates in UTC, and say so.
#[tokio::test]
async fn mcp_tools_read_the_persons_words_for_a_date_in_utc() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    let rpc = |body: Value| {
        app.authed(Method::POST, "/mcp", &user)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-11-25")
            .json(&body)
    };
    let add = tools_call("add_task", serde_json::json!({"title": "party", "due_at": "Dec 24, 2027 at 5pm"}));
    let body: Value = rpc(add).send().await.unwrap().json().await.unwrap();
    assert_eq!(body["result"]["structuredContent"]["task"]["due_at"], "2027-12-24T17:00:00Z", "{body}");
    let impossible = tools_call("add_task", serde_json::json!({"title": "party", "due_at": "feb 30"}));
    let body: Value = rpc(impossible).send().await.unwrap().json().await.unwrap();
    assert_eq!(body["result"]["isError"], true, "{body}");
    assert_eq!(body["result"]["structuredContent"]["error"], "due_at: February has no day 30", "{body}");
    let list = serde_json::json!({"jsonrpc": "2.0", "id": 8, "method": "tools/list"});
    let body: Value = rpc(list).send().await.unwrap().json().await.unwrap();
    let add_task = body["result"]["tools"].as_array().unwrap().iter().find(|tool| tool["name"] == "add_task").unwrap();
    let description = add_task["inputSchema"]["properties"]["due_at"]["description"].as_str().unwrap();
    assert!(description.contains("UTC over MCP"), "{description}");
}
