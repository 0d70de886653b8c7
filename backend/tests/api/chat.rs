use crate::helpers::{TestApp, TestUser, config_for, fresh_database, spawn_app, spawn_app_configured, spawn_app_with};
use api_types::{ChatMessage, ChatResponse, ConversationSummary, ErrorBody, MessageRole, ServiceInfo, Task, TaskPage};
use backend::{
    agent::model::ModelSettings,
    config::Config,
    store::conversations::{self, StoredMessage},
};
use fake_model::{FakeModel, Reply};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

/// An app whose assistant is the scripted fake model, which refuses (400) any request a real
/// server would refuse.
pub(crate) async fn spawn_with_model(fake: &FakeModel, max_tool_rounds: u32) -> Option<TestApp> {
    spawn_with_model_and(fake, |config| config.chat_max_tool_rounds = max_tool_rounds).await
}

/// As `spawn_with_model`, with the configuration changed by `tweak` first.
pub(crate) async fn spawn_with_model_and(fake: &FakeModel, tweak: impl FnOnce(&mut Config)) -> Option<TestApp> {
    let mut config = config_for(fresh_database().await?);
    config.model = Some(ModelSettings {
        api_key: "test-key".into(),
        base_url: fake.base_url(),
        model: "fake-model".into(),
        timeout: Duration::from_secs(1),
        max_retries: 1,
        temperature: None,
        streaming_retry_after: backend::agent::model::STREAMING_RETRY_AFTER,
    });
    tweak(&mut config);
    let app = spawn_app_with(config).await;
    app.wait_until_ready().await;
    Some(app)
}

pub(crate) async fn chat(
    app: &TestApp,
    user: &TestUser,
    conversation: Option<&str>,
    message: &str,
) -> reqwest::Response {
    app.authed(Method::POST, &format!("/api/{}/chat", user.id), user)
        .json(&json!({"conversation_id": conversation, "message": message}))
        .send()
        .await
        .unwrap()
}

pub(crate) async fn chat_ok(app: &TestApp, user: &TestUser, conversation: Option<&str>, message: &str) -> ChatResponse {
    let response = chat(app, user, conversation, message).await;
    assert_eq!(response.status(), 200, "{message:?}: {}", response.text().await.unwrap_or_default());
    response.json().await.unwrap()
}

pub(crate) async fn tasks_of(app: &TestApp, user: &TestUser) -> Vec<Task> {
    let page: TaskPage =
        app.call(Method::GET, &format!("/api/{}/tasks?sort=title&order=asc", user.id), user, None).await;
    page.items
}

async fn conversations_of(app: &TestApp, user: &TestUser) -> Vec<ConversationSummary> {
    app.authed(Method::GET, &format!("/api/{}/conversations", user.id), user)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

pub(crate) async fn messages_of(app: &TestApp, user: &TestUser, conversation: &str) -> Vec<ChatMessage> {
    app.authed(Method::GET, &format!("/api/{}/conversations/{conversation}/messages", user.id), user)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn offline_assistant_manages_tasks_and_keeps_the_conversation() {
    let Some(app) = spawn_app().await else { return };
    let info: ServiceInfo = app.get("/api/info").await.json().await.unwrap();
    assert_eq!(info.assistant, api_types::AssistantMode::Offline);
    let user = app.sign_up().await;

    let first = chat_ok(&app, &user, None, "Add task to test Kubernetes deployment").await;
    assert_eq!(first.tool_calls.len(), 1);
    assert_eq!(first.tool_calls[0].name, "add_task");
    assert_eq!(first.tool_calls[0].result["ok"], true);
    assert!(first.response.starts_with("Added task"), "{}", first.response);
    let tasks = tasks_of(&app, &user).await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].title, "test Kubernetes deployment");

    let listed = chat_ok(&app, &user, Some(&first.conversation_id), "Show all my tasks").await;
    assert_eq!(listed.conversation_id, first.conversation_id);
    assert_eq!(listed.tool_calls[0].name, "list_tasks");
    assert!(listed.response.contains("test Kubernetes deployment"), "{}", listed.response);

    let done = chat_ok(&app, &user, Some(&first.conversation_id), &format!("complete task {}", tasks[0].id)).await;
    assert_eq!(done.tool_calls[0].result["task"]["completed"], true);

    let conversations = conversations_of(&app, &user).await;
    assert_eq!(conversations.len(), 1);
    assert_eq!(conversations[0].title, "Add task to test Kubernetes deployment");
    let messages = messages_of(&app, &user, &first.conversation_id).await;
    let roles: Vec<MessageRole> = messages.iter().map(|m| m.role).collect();
    use MessageRole::{Assistant, Tool, User};
    assert_eq!(
        roles,
        [User, Assistant, Tool, Assistant, User, Assistant, Tool, Assistant, User, Assistant, Tool, Assistant]
    );
    assert_eq!(messages[1].tool_calls[0].name, "add_task", "tool calls carry their results");
    assert_eq!(messages[1].tool_calls[0].result["ok"], true);

    let path = format!("/api/{}/conversations/{}", user.id, first.conversation_id);
    assert_eq!(app.authed(Method::DELETE, &path, &user).send().await.unwrap().status(), 204);
    assert_eq!(app.authed(Method::DELETE, &path, &user).send().await.unwrap().status(), 404);
    assert_eq!(tasks_of(&app, &user).await.len(), 1, "deleting a conversation keeps the tasks");
}

#[tokio::test]
async fn offline_assistant_is_honest_about_what_it_does_not_understand() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    let answer = chat_ok(&app, &user, None, "tell me a joke").await;
    assert!(answer.tool_calls.is_empty());
    assert!(answer.response.contains("didn't understand"), "{}", answer.response);
    let failed = chat_ok(&app, &user, None, "delete task 424242").await;
    assert_eq!(failed.tool_calls[0].result["ok"], false);
    assert!(failed.response.contains("not found"), "{}", failed.response);
}

#[tokio::test]
async fn offline_assistant_runs_chained_commands_in_order_within_the_deletion_cap() {
    let Some(app) = spawn_app_configured(|config| config.chat_max_destructive_calls_per_turn = 1).await else { return };
    let user = app.sign_up().await;
    let added = chat_ok(&app, &user, None, "add buy eggs and add buy bread, then show my pending tasks").await;
    let names: Vec<&str> = added.tool_calls.iter().map(|call| call.name.as_str()).collect();
    assert_eq!(names, ["add_task", "add_task", "list_tasks"], "{}", added.response);
    let tasks = tasks_of(&app, &user).await;
    let mut titles: Vec<&str> = tasks.iter().map(|task| task.title.as_str()).collect();
    titles.sort_unstable();
    assert_eq!(titles, ["buy bread", "buy eggs"]);
    assert_eq!(
        added.response.lines().count(),
        2 + 1 + 2,
        "a sentence per step, the list's two lines: {}",
        added.response
    );

    let (first, second) = (tasks[0].id, tasks[1].id);
    let capped = chat_ok(&app, &user, None, &format!("delete task {first} and delete task {second}")).await;
    assert_eq!(capped.tool_calls.len(), 1, "the second deletion is over the cap: {}", capped.response);
    assert!(capped.response.contains("at most 1 deletions"), "{}", capped.response);
    assert_eq!(tasks_of(&app, &user).await.len(), 1, "exactly one task deleted");
}

#[tokio::test]
async fn chat_input_and_conversation_ids_are_checked() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    let other = app.sign_up().await;
    assert_eq!(chat(&app, &user, None, "   ").await.status(), 422);
    assert_eq!(chat(&app, &user, None, &"x".repeat(4001)).await.status(), 422);
    assert_eq!(chat(&app, &user, Some("not-a-uuid"), "hi").await.status(), 404);
    let theirs = chat_ok(&app, &other, None, "help").await;
    assert_eq!(
        chat(&app, &user, Some(&theirs.conversation_id), "help").await.status(),
        404,
        "another user's conversation"
    );
    let messages = app
        .authed(Method::GET, &format!("/api/{}/conversations/{}/messages", user.id, theirs.conversation_id), &user)
        .send()
        .await
        .unwrap();
    assert_eq!(messages.status(), 404);
    let anonymous = app
        .client
        .post(app.url(&format!("/api/{}/chat", user.id)))
        .json(&json!({"message": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn a_model_adds_a_task_from_a_sentence() {
    let fake = FakeModel::start().await;
    let Some(app) = spawn_with_model(&fake, 5).await else { return };
    let user = app.sign_up().await;
    fake.then_tools(&[(
        "call_1",
        "add_task",
        json!({"title": "Pay the bills", "priority": "high", "due_at": "2030-01-04"}),
    )])
    .then_text("Added \"Pay the bills\" for Friday, high priority.");
    let answer = chat_ok(&app, &user, None, "remind me to pay the bills on Friday, high priority").await;
    assert_eq!(answer.response, "Added \"Pay the bills\" for Friday, high priority.");
    assert_eq!(answer.tool_calls.len(), 1);
    assert_eq!(answer.tool_calls[0].arguments["title"], "Pay the bills");
    let tasks = tasks_of(&app, &user).await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].priority, api_types::Priority::High);
    assert_eq!(tasks[0].due_at.unwrap().to_rfc3339(), "2030-01-04T23:59:00+00:00");
    assert_eq!(fake.requests()[0].authorization.as_deref(), Some("Bearer test-key"));
    let first_request = &fake.accepted()[0];
    assert_eq!(first_request["model"], "fake-model");
    assert!(first_request.get("temperature").is_none(), "no temperature unless configured");
    assert_eq!(first_request["tools"].as_array().unwrap().len(), 6);
    assert_eq!(first_request["messages"][0]["role"], "system");
}

#[tokio::test]
async fn delete_the_meeting_task_lists_then_deletes_the_right_id() {
    let fake = FakeModel::start().await;
    let Some(app) = spawn_with_model(&fake, 5).await else { return };
    let user = app.sign_up().await;
    let meeting = app.create_task(&user, json!({"title": "Team meeting notes"})).await;
    app.create_task(&user, json!({"title": "Buy milk"})).await;
    fake.then_tools(&[("call_list", "list_tasks", json!({"search": "meeting"}))])
        .then_tools(&[("call_delete", "delete_task", json!({"task_id": meeting.id}))])
        .then_text("Deleted the meeting task.");
    let answer = chat_ok(&app, &user, None, "delete the meeting task").await;
    let names: Vec<&str> = answer.tool_calls.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["list_tasks", "delete_task"]);
    assert_eq!(answer.tool_calls[0].result["tasks"][0]["id"], meeting.id, "the list found it");
    let titles: Vec<String> = tasks_of(&app, &user).await.into_iter().map(|t| t.title).collect();
    assert_eq!(titles, ["Buy milk"]);
    // The second model request saw the list result paired with its call.
    let second = &fake.accepted()[1]["messages"];
    let tool_message = second.as_array().unwrap().iter().find(|m| m["role"] == "tool").unwrap();
    assert_eq!(tool_message["tool_call_id"], "call_list");
}

#[tokio::test]
async fn a_tool_error_goes_back_to_the_model_to_explain() {
    let fake = FakeModel::start().await;
    let Some(app) = spawn_with_model(&fake, 5).await else { return };
    let user = app.sign_up().await;
    fake.then_tools(&[("call_x", "complete_task", json!({"task_id": 987654}))])
        .then_text("I couldn't find task 987654.");
    let answer = chat_ok(&app, &user, None, "complete task 987654").await;
    assert_eq!(answer.response, "I couldn't find task 987654.");
    assert_eq!(answer.tool_calls[0].result["ok"], false);
    let messages = fake.accepted()[1]["messages"].as_array().unwrap().clone();
    let result: Value = serde_json::from_str(messages.last().unwrap()["content"].as_str().unwrap()).unwrap();
    assert_eq!(result["ok"], false);
    assert!(result["error"].as_str().unwrap().contains("not found"), "{result}");
}

#[tokio::test]
async fn turn_two_replays_turn_one_tool_calls_paired_with_their_results() {
    let fake = FakeModel::start().await;
    let Some(app) = spawn_with_model(&fake, 5).await else { return };
    let user = app.sign_up().await;
    fake.then_tools(&[
        ("call_a", "add_task", json!({"title": "Water plants"})),
        ("call_b", "add_task", json!({"title": "Feed cat"})),
    ])
    .then_text("Added both.")
    .then_text("You have two tasks.");
    let first = chat_ok(&app, &user, None, "add water plants and feed cat").await;
    chat_ok(&app, &user, Some(&first.conversation_id), "how many tasks do I have?").await;

    assert_eq!(fake.rejections(), Vec::<String>::new(), "every request passed the strict checks");
    let replayed = fake.accepted()[2]["messages"].as_array().unwrap().clone();
    let roles: Vec<&str> = replayed.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "tool", "tool", "assistant", "user"]);
    assert_eq!(replayed[2]["content"], "", "a tool-call message replays an empty string, never null");
    let calls = replayed[2]["tool_calls"].as_array().unwrap();
    assert_eq!(calls[0]["id"], "call_a");
    assert_eq!(calls[1]["id"], "call_b");
    assert_eq!(calls[0]["function"]["name"], "add_task");
    assert_eq!(replayed[3]["tool_call_id"], "call_a");
    assert_eq!(replayed[4]["tool_call_id"], "call_b");
    let result: Value = serde_json::from_str(replayed[3]["content"].as_str().unwrap()).unwrap();
    assert_eq!(result["task"]["title"], "Water plants");
    assert_eq!(replayed[5]["content"], "Added both.");
    assert_eq!(replayed[6]["content"], "how many tasks do I have?");
}

#[tokio::test]
async fn a_model_cannot_act_for_another_user() {
    let fake = FakeModel::start().await;
    let Some(app) = spawn_with_model(&fake, 5).await else { return };
    let user = app.sign_up().await;
    let victim = app.sign_up().await;
    fake.then_tools(&[("call_1", "add_task", json!({"title": "sneaky", "user_id": victim.id}))]).then_text("ok");
    chat_ok(&app, &user, None, "add a task for the other user").await;
    assert!(tasks_of(&app, &victim).await.is_empty(), "the victim has no task");
    assert_eq!(tasks_of(&app, &user).await[0].title, "sneaky", "the token's user got it");
}

#[tokio::test]
async fn a_failing_model_is_a_clear_error_and_loses_nothing() {
    let fake = FakeModel::start().await;
    let Some(app) = spawn_with_model(&fake, 5).await else { return };
    let user = app.sign_up().await;
    // A tool runs, then the model fails on every retry.
    fake.then_tools(&[("call_1", "add_task", json!({"title": "Saved before the failure"}))])
        .then(Reply::Status(500))
        .then(Reply::Status(500));
    let response = chat(&app, &user, None, "add saved before the failure").await;
    assert_eq!(response.status(), 503);
    assert_eq!(fake.requests().len(), 3, "the tool round, then one call and one retry (max_retries 1), no more");
    let body: ErrorBody = response.json().await.unwrap();
    assert_eq!(body.error, "model_unavailable");
    assert!(body.message.contains("add_task"), "says what was already done: {}", body.message);
    assert_eq!(tasks_of(&app, &user).await[0].title, "Saved before the failure");
    let conversation = &conversations_of(&app, &user).await[0];
    let messages = messages_of(&app, &user, &conversation.id).await;
    assert_eq!(messages[0].content.as_deref(), Some("add saved before the failure"), "the message is stored");
    assert_eq!(messages[1].tool_calls[0].result["ok"], true);

    // A 4xx from the model is not retried and is a 502.
    let before = fake.requests().len();
    fake.then(Reply::Status(400)).then_text("a retry would get this");
    let rejected = chat(&app, &user, Some(&conversation.id), "again").await;
    assert_eq!(rejected.status(), 502);
    let body: ErrorBody = rejected.json().await.unwrap();
    assert_eq!(body.error, "model_error");
    assert_eq!(fake.requests().len(), before + 1, "not retried");
}

#[tokio::test]
async fn a_server_error_that_blames_the_request_is_not_retried() {
    let fake = FakeModel::start().await;
    let Some(app) = spawn_with_model(&fake, 5).await else { return };
    let user = app.sign_up().await;
    // What llama-cpp-python answered to our old `"content": null`.
    let pydantic = r#"{"error":{"message":"7 validation errors for CreateChatCompletionRequest\nmessages.2.content\n  Input should be a valid string","type":"internal_server_error","param":null,"code":null}}"#;
    fake.then(Reply::Raw(500, pydantic.to_owned())).then_text("a retry would get this");
    let response = chat(&app, &user, None, "hello").await;
    assert_eq!(response.status(), 502);
    let body: ErrorBody = response.json().await.unwrap();
    assert_eq!(body.error, "model_error");
    assert!(body.message.contains("validation error"), "says why: {}", body.message);
    assert_eq!(fake.requests().len(), 1, "not retried");
    assert_eq!(fake.unused_replies(), 1);
}

#[tokio::test]
async fn a_model_that_times_out_is_retried_then_reported() {
    let fake = FakeModel::start().await;
    let Some(app) = spawn_with_model(&fake, 5).await else { return };
    let user = app.sign_up().await;
    // Longer than the whole turn may take (CHAT_TIMEOUT_SECS, 60 s here): only the model
    // call's 1 s time-out can end these in a JSON `model_unavailable` answer.
    fake.then(Reply::Hang(Duration::from_secs(120))).then(Reply::Hang(Duration::from_secs(120)));
    let response = chat(&app, &user, None, "hello?").await;
    assert_eq!(response.status(), 503);
    let body: ErrorBody = response.json().await.unwrap();
    assert_eq!(body.error, "model_unavailable");
    assert_eq!(fake.requests().len(), 2, "one retry");
}

#[tokio::test]
async fn tool_rounds_are_bounded() {
    let fake = FakeModel::start().await;
    let Some(app) = spawn_with_model(&fake, 2).await else { return };
    let user = app.sign_up().await;
    for round in 0..3 {
        fake.then_tools(&[(&format!("call_{round}"), "list_tasks", json!({}))]);
    }
    let answer = chat_ok(&app, &user, None, "loop forever").await;
    assert!(answer.response.contains("stopped after 2 rounds"), "{}", answer.response);
    assert_eq!(answer.tool_calls.len(), 2, "two rounds ran; the third request for tools was refused");
    assert_eq!(fake.requests().len(), 3);
}

#[tokio::test]
async fn a_configured_temperature_is_sent() {
    let fake = FakeModel::start().await;
    let Some(app) = spawn_app_configured(|config| {
        config.model = Some(ModelSettings {
            api_key: "test-key".into(),
            base_url: fake.base_url(),
            model: "fake-model".into(),
            timeout: Duration::from_secs(5),
            max_retries: 0,
            temperature: Some(0.0),
            streaming_retry_after: backend::agent::model::STREAMING_RETRY_AFTER,
        })
    })
    .await
    else {
        return;
    };
    let user = app.sign_up().await;
    fake.then_text("hi");
    chat_ok(&app, &user, None, "hello").await;
    assert_eq!(fake.accepted()[0]["temperature"], 0.0);
}

/// The stored messages of a conversation with every tool result right after the assistant
/// message that asked for it, in the order asked: what a model API replays without error.
pub(crate) async fn assert_each_result_follows_its_call(app: &TestApp, conversation: &str) -> Vec<StoredMessage> {
    let rows = conversations::messages(&app.pool, conversation.parse().unwrap()).await.unwrap();
    let stored: Vec<StoredMessage> = rows.iter().map(|row| row.message()).collect();
    let mut index = 0;
    while index < stored.len() {
        if let StoredMessage::Assistant { tool_calls, .. } = &stored[index] {
            for (offset, call) in tool_calls.iter().enumerate() {
                match stored.get(index + 1 + offset) {
                    Some(StoredMessage::Tool { tool_call_id, .. }) if *tool_call_id == call.id => {}
                    other => panic!("call {} is followed by {other:?}, not its result: {stored:#?}", call.id),
                }
            }
            index += tool_calls.len();
        } else {
            assert!(!matches!(stored[index], StoredMessage::Tool { .. }), "a result without its call: {stored:#?}");
        }
        index += 1;
    }
    stored
}

/// A conversation with one finished turn, and a second turn on it that holds the conversation:
/// its first model call hangs until the client's 1 s time-out, and its retry asks for `call`.
/// Returns once that turn's first model request has arrived (so it holds the lease).
async fn a_turn_in_progress(
    fake: &FakeModel,
    app: &TestApp,
    user: &TestUser,
    call: (&str, &str, Value),
) -> (String, tokio::task::JoinHandle<reqwest::Result<reqwest::Response>>) {
    fake.then_text("Hello!");
    let conversation = chat_ok(app, user, None, "hi").await.conversation_id;
    fake.then(Reply::Hang(Duration::from_secs(120))).then_tools(&[call]).then_text("Done.");
    let turn = app
        .authed(Method::POST, &format!("/api/{}/chat", user.id), user)
        .json(&json!({"conversation_id": conversation, "message": "the held turn"}))
        .send();
    let turn = tokio::spawn(turn);
    let mut polls = 0;
    while fake.requests().len() < 2 {
        polls += 1;
        assert!(polls < 10_000, "the turn never reached the model");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    (conversation, turn)
}

#[tokio::test]
async fn a_second_turn_on_a_busy_conversation_is_refused_so_results_stay_with_their_calls() {
    let fake = FakeModel::start().await;
    let Some(app) = spawn_with_model(&fake, 5).await else { return };
    let user = app.sign_up().await;
    let (conversation, turn_a) =
        a_turn_in_progress(&fake, &app, &user, ("call_a", "add_task", json!({"title": "From turn A"}))).await;
    let turn_b = chat(&app, &user, Some(&conversation), "add from turn B").await;
    assert_eq!(turn_b.status(), 409);
    let body: ErrorBody = turn_b.json().await.unwrap();
    assert_eq!(body.error, "conflict");

    let answer_a = turn_a.await.unwrap().unwrap();
    assert_eq!(answer_a.status(), 200);
    // Once A has answered, the conversation takes the next message at once.
    fake.then_tools(&[("call_b", "add_task", json!({"title": "From turn B"}))]).then_text("Added B.");
    let answer_b = chat_ok(&app, &user, Some(&conversation), "add from turn B").await;
    assert_eq!(answer_b.tool_calls[0].result["ok"], true);

    assert_eq!(fake.rejections(), Vec::<String>::new());
    let stored = assert_each_result_follows_its_call(&app, &conversation).await;
    let users: Vec<&StoredMessage> = stored.iter().filter(|m| matches!(m, StoredMessage::User { .. })).collect();
    assert_eq!(users.len(), 3, "the refused message B was not stored: {stored:#?}");
    let titles: Vec<String> = tasks_of(&app, &user).await.into_iter().map(|t| t.title).collect();
    assert_eq!(titles, ["From turn A", "From turn B"]);
}

#[tokio::test]
async fn deleting_a_conversation_while_the_assistant_answers_ends_that_turn_with_a_404_not_a_500() {
    let fake = FakeModel::start().await;
    let Some(app) = spawn_with_model(&fake, 5).await else { return };
    let user = app.sign_up().await;
    // The conversation is deleted while the turn waits for the model, so the tool call the
    // model then asks for can't be stored, and isn't run.
    let (conversation, turn) =
        a_turn_in_progress(&fake, &app, &user, ("call_gone", "add_task", json!({"title": "Added while deleting"})))
            .await;
    let deleted = app
        .authed(Method::DELETE, &format!("/api/{}/conversations/{conversation}", user.id), &user)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);

    let answer = turn.await.unwrap().unwrap();
    assert_eq!(answer.status(), 404);
    let body: ErrorBody = answer.json().await.unwrap();
    assert_eq!(body.error, "not_found");
    assert!(body.message.contains("deleted while the assistant was answering"), "{}", body.message);
    let listed = app.authed(Method::GET, &format!("/api/{}/conversations", user.id), &user).send().await.unwrap();
    let listed: Vec<Value> = listed.json().await.unwrap();
    assert!(listed.is_empty(), "{listed:?}");
    assert_eq!(tasks_of(&app, &user).await.len(), 0, "a call stored nowhere must not run");
}

#[tokio::test]
async fn calls_over_the_caps_are_not_run_and_the_model_is_told_why() {
    let fake = FakeModel::start().await;
    let Some(app) = spawn_with_model_and(&fake, |config| {
        config.chat_max_tool_calls_per_reply = std::num::NonZeroUsize::new(3).unwrap();
        config.chat_max_destructive_calls_per_turn = 1;
    })
    .await
    else {
        return;
    };
    let user = app.sign_up().await;
    let mut ids = Vec::new();
    for title in ["One", "Two", "Three", "Four"] {
        ids.push(app.create_task(&user, json!({"title": title})).await.id);
    }
    // Four deletions in one reply: the first runs, the next two hit the deletion cap, the
    // fourth is over the per-reply cap.
    let calls: Vec<(String, Value)> =
        ids.iter().enumerate().map(|(i, id)| (format!("call_{i}"), json!({"task_id": id}))).collect();
    let calls: Vec<(&str, &str, Value)> =
        calls.iter().map(|(call, arguments)| (call.as_str(), "delete_task", arguments.clone())).collect();
    fake.then_tools(&calls).then_text("I deleted one; confirm the others.");
    let answer = chat_ok(&app, &user, None, "delete everything").await;

    let results: Vec<&Value> = answer.tool_calls.iter().map(|call| &call.result).collect();
    assert_eq!(results[0]["ok"], true);
    for refused in &results[1..3] {
        assert_eq!(refused["ok"], false);
        assert!(refused["error"].as_str().unwrap().contains("at most 1 deletions"), "{refused}");
    }
    assert!(results[3]["error"].as_str().unwrap().contains("at most 3 tool calls"), "{}", results[3]);
    let titles: Vec<String> = tasks_of(&app, &user).await.into_iter().map(|t| t.title).collect();
    assert_eq!(titles, ["Four", "Three", "Two"], "only the first deletion ran");

    // The model's next request carries every refusal as the answer to its call.
    assert_eq!(fake.rejections(), Vec::<String>::new());
    let told = fake.accepted()[1]["messages"].as_array().unwrap().clone();
    let results: Vec<&Value> = told.iter().filter(|m| m["role"] == "tool").collect();
    assert_eq!(results.len(), 4);
    assert!(results[3]["content"].as_str().unwrap().contains("not run"), "{}", results[3]);
    assert_each_result_follows_its_call(&app, &answer.conversation_id).await;
}

#[tokio::test]
async fn undos_count_against_the_deletion_cap() {
    let fake = FakeModel::start().await;
    let Some(app) = spawn_with_model_and(&fake, |config| config.chat_max_destructive_calls_per_turn = 1).await else {
        return;
    };
    let user = app.sign_up().await;
    let mut conversation: Option<String> = None;
    for title in ["One", "Two"] {
        fake.then_tools(&[(&format!("call_{title}"), "add_task", json!({"title": title}))]).then_text("Added.");
        let answer = chat_ok(&app, &user, conversation.as_deref(), &format!("add {title}")).await;
        conversation = Some(answer.conversation_id);
    }
    // Undoing an add deletes the task: a reply that undoes twice walks back two requests.
    fake.then_tools(&[("undo_1", "undo_last_change", json!({})), ("undo_2", "undo_last_change", json!({}))])
        .then_text("I undid the last one; confirm the other.");
    let answer = chat_ok(&app, &user, conversation.as_deref(), "undo everything").await;
    let results: Vec<&Value> = answer.tool_calls.iter().map(|call| &call.result).collect();
    assert_eq!(results[0]["ok"], true, "{}", results[0]);
    assert_eq!(results[1]["ok"], false);
    assert!(results[1]["error"].as_str().unwrap().contains("at most 1 deletions and undos"), "{}", results[1]);
    let titles: Vec<String> = tasks_of(&app, &user).await.into_iter().map(|task| task.title).collect();
    assert_eq!(titles, ["One"], "only the first undo ran");
    assert_eq!(fake.rejections(), Vec::<String>::new());
}

#[tokio::test]
async fn chat_turns_are_rate_limited_per_user_across_replicas() {
    let Some(database) = fresh_database().await else { return };
    let mut config = config_for(database);
    config.chat_rate_limit_per_minute = std::num::NonZeroU32::new(2).unwrap();
    // Two replicas on one database.
    let first = spawn_app_with(config.clone()).await;
    first.wait_until_ready().await;
    let second = spawn_app_with(config).await;
    second.wait_until_ready().await;
    let user = first.sign_up().await;
    let other = first.sign_up().await;

    chat_ok(&first, &user, None, "help").await;
    chat_ok(&second, &user, None, "help").await;
    let limited = chat(&first, &user, None, "help").await;
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry_after), "a turn comes back every 30 s at 2 a minute: {retry_after}");
    let body: ErrorBody = limited.json().await.unwrap();
    assert_eq!(body.error, "rate_limited");
    assert_eq!(chat(&second, &user, None, "help").await.status(), 429, "the other replica counts the same");
    assert_eq!(conversations_of(&first, &user).await.len(), 2, "a refused turn stores nothing");

    // Another user has a bucket of their own.
    chat_ok(&second, &other, None, "help").await;
}

/// An app whose chat times out after 1 s, while a model call could take 300 s: only the
/// chat's timeout can end a model reply that hangs.
pub(crate) async fn spawn_with_a_short_chat_timeout(fake: &FakeModel) -> Option<TestApp> {
    spawn_with_model_and(fake, |config| {
        config.chat_timeout = Duration::from_secs(1);
        if let Some(model) = config.model.as_mut() {
            model.timeout = Duration::from_secs(300);
            model.max_retries = 0;
        }
    })
    .await
}

/// Waits until no turn holds `conversation`: a turn that ended gave its lease back itself (an
/// expired lease would keep its turn_id).
pub(crate) async fn wait_until_the_turn_ends(app: &TestApp, conversation: &str) {
    let id: uuid::Uuid = conversation.parse().unwrap();
    let mut polls = 0;
    loop {
        let turn: Option<uuid::Uuid> = sqlx::query_scalar("SELECT turn_id FROM conversations WHERE id = $1")
            .bind(id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
        if turn.is_none() {
            return;
        }
        polls += 1;
        assert!(polls < 10_000, "the turn never gave its conversation back");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_turn_cut_off_by_the_chat_timeout_gives_its_conversation_back() {
    let fake = FakeModel::start().await;
    let Some(app) = spawn_with_a_short_chat_timeout(&fake).await else { return };
    let user = app.sign_up().await;
    fake.then_text("Hello!");
    let conversation = chat_ok(&app, &user, None, "hi").await.conversation_id;
    fake.then(Reply::Hang(Duration::from_secs(120)));
    let cut_off = chat(&app, &user, Some(&conversation), "this one hangs").await;
    assert_eq!(cut_off.status(), 503);
    let body: ErrorBody = cut_off.json().await.expect("the timeout answers in the one error shape");
    assert_eq!(body.error, "timeout");

    wait_until_the_turn_ends(&app, &conversation).await;
    fake.then_text("Back.");
    assert_eq!(chat_ok(&app, &user, Some(&conversation), "again").await.response, "Back.");
}
