//! Undo: every change a tool makes, from the chat (offline assistant or a model) or MCP, is
//! recorded and can be reverted, per change or per turn, exactly once, within the window.

use crate::{
    chat::{spawn_with_model, spawn_with_model_and},
    helpers::{TestApp, TestUser, spawn_app},
};
use api_types::{ChangeKind, ChatMessage, ChatResponse, ErrorBody, Task, TaskPage, UndoResponse};
use fake_model::{FakeModel, Reply};
use reqwest::{Method, Response};
use serde_json::{Value, json};
use std::time::Duration;

async fn chat(app: &TestApp, user: &TestUser, conversation: Option<&str>, message: &str) -> ChatResponse {
    let body = json!({"conversation_id": conversation, "message": message});
    app.call(Method::POST, &format!("/api/{}/chat", user.id), user, Some(&body)).await
}

async fn undo(app: &TestApp, user: &TestUser, change: impl std::fmt::Display) -> Response {
    app.authed(Method::POST, &format!("/api/{}/changes/{change}/undo", user.id), user).send().await.unwrap()
}

async fn undo_ok(app: &TestApp, user: &TestUser, change: i64) -> UndoResponse {
    let response = undo(app, user, change).await;
    assert_eq!(response.status(), 200, "undo {change}: {}", response.text().await.unwrap_or_default());
    response.json().await.unwrap()
}

async fn undo_turn(app: &TestApp, user: &TestUser, conversation: &str) -> Response {
    app.authed(Method::POST, &format!("/api/{}/conversations/{conversation}/undo", user.id), user).send().await.unwrap()
}

async fn error_of(response: Response, status: u16) -> ErrorBody {
    assert_eq!(response.status(), status);
    response.json().await.unwrap()
}

async fn tasks_of(app: &TestApp, user: &TestUser) -> Vec<Task> {
    let page: TaskPage =
        app.call(Method::GET, &format!("/api/{}/tasks?sort=title&order=asc", user.id), user, None).await;
    page.items
}

/// The one change a chat answer made.
fn change_of(answer: &ChatResponse) -> i64 {
    assert_eq!(answer.tool_calls.len(), 1, "{answer:?}");
    let call = &answer.tool_calls[0];
    assert_eq!(call.result["ok"], true, "{answer:?}");
    call.change_id.unwrap_or_else(|| panic!("no change id: {answer:?}"))
}

/// An undone task is exactly as it was, `updated_at` included.
fn same_content(a: &Task, b: &Task) {
    assert_eq!(a, b);
}

#[tokio::test]
async fn every_tool_of_the_offline_assistant_can_be_undone_by_its_change_id() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;

    // add → undo removes it
    let added = chat(&app, &user, None, "add task buy milk #home").await;
    let conversation = added.conversation_id.clone();
    let milk = change_of(&added);
    let undone = undo_ok(&app, &user, milk).await;
    assert_eq!(undone.undone.len(), 1);
    assert_eq!((undone.undone[0].kind, undone.undone[0].task.clone()), (ChangeKind::Add, None));
    assert!(tasks_of(&app, &user).await.is_empty());

    let task = app
        .create_task(
            &user,
            json!({"title": "Pay rent", "tags": ["home"], "priority": "high", "due_at": "2030-01-04T17:00:00Z"}),
        )
        .await;
    // complete → undo reopens it
    let completed = chat(&app, &user, Some(&conversation), &format!("complete task {}", task.id)).await;
    let undone = undo_ok(&app, &user, change_of(&completed)).await;
    assert_eq!(undone.undone[0].kind, ChangeKind::Complete);
    same_content(undone.undone[0].task.as_ref().unwrap(), &task);
    same_content(&tasks_of(&app, &user).await[0], &task);

    // update → undo restores the title
    let renamed = chat(&app, &user, Some(&conversation), &format!("rename task {} to Pay the landlord", task.id)).await;
    assert_eq!(tasks_of(&app, &user).await[0].title, "Pay the landlord");
    let undone = undo_ok(&app, &user, change_of(&renamed)).await;
    assert_eq!(undone.undone[0].kind, ChangeKind::Update);
    same_content(&tasks_of(&app, &user).await[0], &task);

    // delete → undo brings back the same task: its id, creation time, tags and due date
    let deleted = chat(&app, &user, Some(&conversation), &format!("delete task {}", task.id)).await;
    assert!(tasks_of(&app, &user).await.is_empty());
    let undone = undo_ok(&app, &user, change_of(&deleted)).await;
    assert_eq!(undone.undone[0].kind, ChangeKind::Delete);
    let back = tasks_of(&app, &user).await;
    assert_eq!(back.len(), 1);
    same_content(&back[0], &task);
    assert_eq!(back[0].id, task.id);

    // A list changes nothing and carries no change id.
    let listed = chat(&app, &user, Some(&conversation), "show all my tasks").await;
    assert_eq!(listed.tool_calls[0].change_id, None);

    // The history shows each call's change id and whether it is undone.
    let messages: Vec<ChatMessage> =
        app.call(Method::GET, &format!("/api/{}/conversations/{conversation}/messages", user.id), &user, None).await;
    let calls: Vec<_> = messages.iter().flat_map(|message| message.tool_calls.iter()).collect();
    assert_eq!(calls[0].change_id, Some(milk));
    assert!(calls.iter().filter(|call| call.change_id.is_some()).all(|call| call.undone), "{calls:?}");
    assert!(!calls.last().unwrap().undone);
}

#[tokio::test]
async fn saying_undo_reverts_the_previous_turn_and_then_the_one_before() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    let first = chat(&app, &user, None, "add task water the plants").await;
    let conversation = first.conversation_id.clone();
    let plants = first.tool_calls[0].result["task"]["id"].as_i64().unwrap();
    chat(&app, &user, Some(&conversation), &format!("complete task {plants}")).await;

    let undo = chat(&app, &user, Some(&conversation), "undo that").await;
    assert_eq!(undo.tool_calls[0].name, "undo_last_change");
    assert_eq!(undo.tool_calls[0].result["ok"], true, "{undo:?}");
    assert_eq!(undo.tool_calls[0].change_id, None, "an undo is not itself a change to undo");
    assert!(undo.response.starts_with("Undone: put task"), "{}", undo.response);
    assert!(!tasks_of(&app, &user).await[0].completed);

    let again = chat(&app, &user, Some(&conversation), "undo the last change").await;
    assert!(again.response.contains(&format!("removed task {plants}")), "{}", again.response);
    assert!(tasks_of(&app, &user).await.is_empty());

    let nothing = chat(&app, &user, Some(&conversation), "undo").await;
    assert_eq!(nothing.tool_calls[0].result["ok"], false);
    assert!(nothing.response.contains("nothing to undo"), "{}", nothing.response);

    // Another conversation's "undo" does not reach this one's changes.
    chat(&app, &user, Some(&conversation), "add task feed the cat").await;
    let elsewhere = chat(&app, &user, None, "undo").await;
    assert_eq!(elsewhere.tool_calls[0].result["ok"], false);
    assert_eq!(tasks_of(&app, &user).await.len(), 1);
}

#[tokio::test]
async fn a_models_turn_is_undone_as_a_whole_and_the_model_can_undo_too() {
    let fake = FakeModel::start().await;
    let Some(app) = spawn_with_model(&fake, 5).await else { return };
    let user = app.sign_up().await;
    let old = app.create_task(&user, json!({"title": "Old report", "tags": ["work"]})).await;
    let kept = app.create_task(&user, json!({"title": "Keep me"})).await;

    // One turn: add, update, complete and delete.
    fake.then_tools(&[
        ("call_add", "add_task", json!({"title": "New report"})),
        ("call_update", "update_task", json!({"task_id": kept.id, "priority": "high"})),
        ("call_complete", "complete_task", json!({"task_id": kept.id})),
        ("call_delete", "delete_task", json!({"task_id": old.id})),
    ])
    .then_text("Done.");
    let answer = chat(&app, &user, None, "replace the old report with a new one, and keep me is urgent and done").await;
    let conversation = answer.conversation_id.clone();
    assert!(answer.tool_calls.iter().all(|call| call.change_id.is_some()), "{answer:?}");
    let titles: Vec<String> = tasks_of(&app, &user).await.into_iter().map(|task| task.title).collect();
    assert_eq!(titles, ["Keep me", "New report"]);

    // The next turn, the model undoes the previous one: all four changes, newest first.
    fake.then_tools(&[("call_undo", "undo_last_change", json!({}))]).then_text("Undone.");
    let undone = chat(&app, &user, Some(&conversation), "undo that").await;
    assert_eq!(undone.tool_calls[0].result["ok"], true, "{undone:?}");
    let kinds: Vec<&str> = undone.tool_calls[0].result["undone"]
        .as_array()
        .unwrap()
        .iter()
        .map(|change| change["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["delete", "complete", "update", "add"]);
    let now = tasks_of(&app, &user).await;
    assert_eq!(now.len(), 2);
    same_content(&now[0], &kept);
    same_content(&now[1], &old);
    assert_eq!(fake.accepted()[0]["tools"].as_array().unwrap().len(), 6);

    // The same through the route: a new turn, then undo the conversation's last turn.
    fake.then_tools(&[("call_add2", "add_task", json!({"title": "Another"}))]).then_text("Added.");
    chat(&app, &user, Some(&conversation), "add another").await;
    let response = undo_turn(&app, &user, &conversation).await;
    assert_eq!(response.status(), 200);
    let body: UndoResponse = response.json().await.unwrap();
    assert_eq!(body.undone.len(), 1);
    assert_eq!(tasks_of(&app, &user).await.len(), 2);
    let nothing = error_of(undo_turn(&app, &user, &conversation).await, 404).await;
    assert!(nothing.message.contains("nothing to undo"), "{}", nothing.message);
}

fn mcp_call(name: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments}})
}

async fn mcp(app: &TestApp, user: &TestUser, name: &str, arguments: Value) -> Value {
    let response = app
        .authed(Method::POST, "/mcp", user)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .json(&mcp_call(name, arguments))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["result"]["structuredContent"].clone()
}

#[tokio::test]
async fn mcp_changes_are_recorded_and_undone_by_id_or_by_its_undo_tool() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    // A chat change whose conversation is deleted is no MCP change to undo.
    let chatted = chat(&app, &user, None, "add task from the chat").await;
    let path = format!("/api/{}/conversations/{}", user.id, chatted.conversation_id);
    assert_eq!(app.authed(Method::DELETE, &path, &user).send().await.unwrap().status(), 204);
    let added = mcp(&app, &user, "add_task", json!({"title": "From an agent"})).await;
    let id = added["task"]["id"].as_i64().unwrap();
    let updated = mcp(&app, &user, "update_task", json!({"task_id": id, "new_title": "Renamed by an agent"})).await;
    let completed = mcp(&app, &user, "complete_task", json!({"task_id": id})).await;
    assert!(completed["change_id"].as_i64() > updated["change_id"].as_i64());

    // The MCP undo tool reverts the newest MCP call: the completion.
    let undone = mcp(&app, &user, "undo_last_change", json!({})).await;
    assert_eq!(undone["undone"][0]["kind"], "complete", "{undone}");
    let agents = |tasks: Vec<Task>| tasks.into_iter().find(|task| task.id == id);
    assert!(!agents(tasks_of(&app, &user).await).unwrap().completed);
    // Then the rename, by its id through REST.
    undo_ok(&app, &user, updated["change_id"].as_i64().unwrap()).await;
    assert_eq!(agents(tasks_of(&app, &user).await).unwrap().title, "From an agent");

    let deleted = mcp(&app, &user, "delete_task", json!({"task_id": id})).await;
    assert_eq!(agents(tasks_of(&app, &user).await), None);
    undo_ok(&app, &user, deleted["change_id"].as_i64().unwrap()).await;
    assert_eq!(agents(tasks_of(&app, &user).await).unwrap().title, "From an agent");
    undo_ok(&app, &user, added["change_id"].as_i64().unwrap()).await;
    let nothing = mcp(&app, &user, "undo_last_change", json!({})).await;
    assert_eq!(nothing["ok"], false, "{nothing}");
    let left: Vec<String> = tasks_of(&app, &user).await.into_iter().map(|task| task.title).collect();
    assert_eq!(left, ["from the chat"]);
    // Still undoable by its id, the conversation gone.
    undo_ok(&app, &user, change_of(&chatted)).await;
    assert!(tasks_of(&app, &user).await.is_empty());
}

#[tokio::test]
async fn a_task_changed_since_is_a_409_naming_it_and_nothing_is_undone() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    let task = app.create_task(&user, json!({"title": "Call the plumber"})).await;
    let renamed = chat(&app, &user, None, &format!("rename task {} to Call the plumber today", task.id)).await;
    // The person edits the task by hand afterwards: undoing the rename would lose that.
    let edited: Task = app
        .call(Method::PATCH, &format!("/api/{}/tasks/{}", user.id, task.id), &user, Some(&json!({"priority": "high"})))
        .await;
    let error = error_of(undo(&app, &user, change_of(&renamed)).await, 409).await;
    assert_eq!(error.error, "changed_since");
    assert!(error.message.contains(&format!("task {}", task.id)), "{}", error.message);
    assert!(error.message.contains("Call the plumber today"), "{}", error.message);
    assert_eq!(tasks_of(&app, &user).await[0], edited);

    // Deleted since: the add cannot be undone either, and says so.
    let added = chat(&app, &user, None, "add task short lived").await;
    let id = added.tool_calls[0].result["task"]["id"].as_i64().unwrap();
    app.authed(Method::DELETE, &format!("/api/{}/tasks/{id}", user.id), &user).send().await.unwrap();
    let error = error_of(undo(&app, &user, change_of(&added)).await, 409).await;
    assert!(error.message.contains("was deleted since"), "{}", error.message);
}

#[tokio::test]
async fn a_turn_still_running_is_not_undone_halfway() {
    let fake = FakeModel::start().await;
    // The model stalls for 10 s after the turn's first tool ran; the turn then fails and ends.
    let Some(app) = spawn_with_model_and(&fake, |config| {
        let model = config.model.as_mut().unwrap();
        model.timeout = Duration::from_secs(10);
        model.max_retries = 0;
    })
    .await
    else {
        return;
    };
    let user = app.sign_up().await;
    fake.then_tools(&[("call_first", "add_task", json!({"title": "First"}))]).then_text("Added.");
    let conversation = chat(&app, &user, None, "add first").await.conversation_id;
    fake.then_tools(&[("call_second", "add_task", json!({"title": "Second"}))])
        .then(Reply::Hang(Duration::from_secs(120)));
    let body = json!({"conversation_id": conversation, "message": "add second"});
    let running = tokio::spawn(app.authed(Method::POST, &format!("/api/{}/chat", user.id), &user).json(&body).send());
    while !tasks_of(&app, &user).await.iter().any(|task| task.title == "Second") {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // "Second" is added and the model is still thinking: the turn holds its conversation.
    let error = error_of(undo_turn(&app, &user, &conversation).await, 409).await;
    assert_eq!(error.error, "conflict");
    assert!(error.message.contains("still answering"), "{}", error.message);
    assert_eq!(tasks_of(&app, &user).await.len(), 2, "nothing was undone");

    // Once the turn has ended (the model timed out), the undo reverts the whole turn.
    assert_eq!(running.await.unwrap().unwrap().status(), 503);
    let body: UndoResponse = undo_turn(&app, &user, &conversation).await.json().await.unwrap();
    assert_eq!(body.undone.len(), 1, "{body:?}");
    let titles: Vec<String> = tasks_of(&app, &user).await.into_iter().map(|task| task.title).collect();
    assert_eq!(titles, ["First"]);
}

#[tokio::test]
async fn a_change_is_undone_once_even_by_two_requests_at_once() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    let change = change_of(&chat(&app, &user, None, "add task only once").await);

    // Hold the change's row so that both undos are waiting on it before either can run.
    let mut hold = app.pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM task_changes WHERE id = $1 FOR UPDATE").bind(change).execute(&mut *hold).await.unwrap();
    // No timing: release the row once PostgreSQL shows both requests blocked on a lock.
    let release = async {
        loop {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
            )
            .fetch_one(&app.pool)
            .await
            .unwrap();
            if waiting == 2 {
                break;
            }
            tokio::task::yield_now().await;
        }
        hold.rollback().await.unwrap();
    };
    let (first, second, ()) = tokio::join!(undo(&app, &user, change), undo(&app, &user, change), release);
    let mut statuses = [first.status().as_u16(), second.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409]);
    let loser = if first.status() == 409 { first } else { second };
    assert_eq!(loser.json::<ErrorBody>().await.unwrap().error, "already_undone");

    // And one after the other: the second is 409 too.
    let error = error_of(undo(&app, &user, change).await, 409).await;
    assert!(error.message.contains("undone already"), "{}", error.message);
}

#[tokio::test]
async fn another_users_change_and_hostile_ids_are_not_found() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    let other = app.sign_up().await;
    let theirs = chat(&app, &other, None, "add task private").await;
    let error = error_of(undo(&app, &user, change_of(&theirs)).await, 404).await;
    assert_eq!(error.message, format!("change {} not found", change_of(&theirs)));
    assert_eq!(tasks_of(&app, &other).await.len(), 1, "nothing of theirs was undone");
    // Nor their conversation.
    assert_eq!(undo_turn(&app, &user, &theirs.conversation_id).await.status(), 404);
    assert_eq!(undo_turn(&app, &user, "not-a-uuid").await.status(), 404);

    for id in ["-1", "0", "9223372036854775807"] {
        assert_eq!(undo(&app, &user, id).await.status(), 404, "{id}");
    }
    for id in ["99999999999999999999", "-99999999999999999999", "abc", "1.5", "%00", "1%00"] {
        let error = error_of(undo(&app, &user, id).await, 404).await;
        assert!(error.message.contains("change_id"), "{id}: {}", error.message);
    }
    let anonymous = app.client.post(app.url(&format!("/api/{}/changes/1/undo", user.id))).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let wrong_user = app.authed(Method::POST, &format!("/api/{}/changes/1/undo", other.id), &user).send().await;
    assert_eq!(wrong_user.unwrap().status(), 403);
}

#[tokio::test]
async fn a_change_older_than_the_window_is_410_and_then_purged() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    let task = app.create_task(&user, json!({"title": "Gone for good"})).await;
    let deleted = chat(&app, &user, None, &format!("delete task {}", task.id)).await;
    let change = change_of(&deleted);
    // A day and a second ago, just past the test's 24-hour window.
    sqlx::query("UPDATE task_changes SET created_at = now() - interval '1 day 1 second' WHERE id = $1")
        .bind(change)
        .execute(&app.pool)
        .await
        .unwrap();
    let error = error_of(undo(&app, &user, change).await, 410).await;
    assert_eq!(error.error, "undo_expired");
    let nothing = chat(&app, &user, Some(&deleted.conversation_id), "undo").await;
    assert_eq!(nothing.tool_calls[0].result["ok"], false, "an expired turn is not undone by 'undo' either");

    let purged = backend::store::changes::purge_expired(&app.pool, Duration::from_secs(24 * 3600)).await.unwrap();
    assert_eq!(purged, 1);
    assert_eq!(undo(&app, &user, change).await.status(), 404);
    assert!(tasks_of(&app, &user).await.is_empty());
}
