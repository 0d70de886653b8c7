//! Streamed chat turns (`Accept: text/event-stream`): the events, their order, what is stored
//! when a stream fails part-way, and what still answers as a plain JSON error.

use crate::{
    chat::{
        assert_each_result_follows_its_call, chat, chat_ok, messages_of, spawn_with_a_short_chat_timeout,
        spawn_with_model, spawn_with_model_and, tasks_of, wait_until_the_turn_ends,
    },
    helpers::{TestApp, TestUser, spawn_app},
};
use api_types::{ChatEvent, ChatResponse, ErrorBody, MessageRole, stream::SseDecoder};
use fake_model::{Break, FakeModel, Reply};
use reqwest::Method;
use serde_json::json;
use std::collections::VecDeque;

/// A streamed turn's response, read event by event.
struct Events {
    response: reqwest::Response,
    decoder: SseDecoder,
    queued: VecDeque<ChatEvent>,
    ended: bool,
}

impl Events {
    /// The next event; `None` once the body has ended.
    async fn next(&mut self) -> Option<ChatEvent> {
        loop {
            if let Some(event) = self.queued.pop_front() {
                return Some(event);
            }
            if self.ended {
                return None;
            }
            let events = match self.response.chunk().await.expect("the stream broke") {
                Some(bytes) => self.decoder.push(&bytes),
                None => {
                    self.ended = true;
                    self.decoder.finish().into_iter().collect()
                }
            };
            for event in events {
                let parsed: ChatEvent =
                    serde_json::from_str(&event.data).unwrap_or_else(|error| panic!("{error} in the event {event:?}"));
                assert_eq!(event.event, parsed.name(), "the event name is its type");
                self.queued.push_back(parsed);
            }
        }
    }

    /// Every event left, checking that exactly the last one ends the stream.
    async fn rest(mut self) -> Vec<ChatEvent> {
        let mut events = Vec::new();
        while let Some(event) = self.next().await {
            events.push(event);
        }
        let last = events.iter().filter(|event| event.is_last()).count();
        assert_eq!(last, 1, "exactly one done or error: {events:#?}");
        assert!(events.last().is_some_and(ChatEvent::is_last), "done or error comes last: {events:#?}");
        events
    }
}

fn streamed_request(app: &TestApp, user: &TestUser, body: serde_json::Value) -> reqwest::RequestBuilder {
    app.authed(Method::POST, &format!("/api/{}/chat", user.id), user)
        .header(reqwest::header::ACCEPT, "text/event-stream")
        .json(&body)
}

/// Starts a streamed turn and checks that it is one.
async fn stream(app: &TestApp, user: &TestUser, conversation: Option<&str>, message: &str) -> Events {
    let response =
        streamed_request(app, user, json!({"conversation_id": conversation, "message": message})).send().await.unwrap();
    assert_eq!(response.status(), 200, "{message:?}: {}", response.text().await.unwrap_or_default());
    let headers = response.headers();
    assert_eq!(headers[reqwest::header::CONTENT_TYPE], "text/event-stream");
    assert_eq!(headers[reqwest::header::CACHE_CONTROL], "no-cache");
    assert_eq!(headers["x-accel-buffering"], "no");
    Events { response, decoder: SseDecoder::new(), queued: VecDeque::new(), ended: false }
}

fn text_of(events: &[ChatEvent]) -> String {
    events.iter().filter_map(ChatEvent::delta).collect()
}

fn done_of(events: &[ChatEvent]) -> ChatResponse {
    match events.last() {
        Some(ChatEvent::Done { response }) => response.clone(),
        other => panic!("the turn did not succeed: {other:?} in {events:#?}"),
    }
}

fn error_of(events: &[ChatEvent]) -> (u16, ErrorBody) {
    match events.last() {
        Some(ChatEvent::Error { status, error }) => (*status, error.clone()),
        other => panic!("the turn did not fail: {other:?} in {events:#?}"),
    }
}

/// The tool calls and results of a stream: each call, then its result, in the order run.
fn tool_records(events: &[ChatEvent]) -> Vec<api_types::ToolCallRecord> {
    let mut records = Vec::new();
    let mut asked: Option<(String, String)> = None;
    for event in events {
        match event {
            ChatEvent::ToolCall { id, name, arguments } => {
                assert!(asked.is_none(), "a call before the previous one's result: {events:#?}");
                asked = Some((id.clone(), name.clone()));
                assert!(!arguments.is_null());
            }
            ChatEvent::ToolResult { id, record } => {
                let (asked_id, asked_name) = asked.take().expect("a result without its call");
                assert_eq!((id, &record.name), (&asked_id, &asked_name));
                records.push(record.clone());
            }
            _ => {}
        }
    }
    assert!(asked.is_none(), "a call without its result: {events:#?}");
    records
}

#[tokio::test]
async fn an_offline_turn_streams_word_by_word_and_ends_with_the_json_answer() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    let events = stream(&app, &user, None, "add buy eggs and add buy bread, then show my pending tasks").await;
    let events = events.rest().await;
    let ChatEvent::Started { conversation_id } = &events[0] else { panic!("started comes first: {events:#?}") };
    let done = done_of(&events);
    assert_eq!(&done.conversation_id, conversation_id);
    assert_eq!(text_of(&events), done.response, "the deltas make up the answer");
    let deltas = events.iter().filter(|event| matches!(event, ChatEvent::TextDelta { .. })).count();
    assert!(deltas > 5, "word by word: {deltas} deltas");
    assert_eq!(tool_records(&events), done.tool_calls);
    let names: Vec<&str> = done.tool_calls.iter().map(|call| call.name.as_str()).collect();
    assert_eq!(names, ["add_task", "add_task", "list_tasks"]);
    // Each tool's sentence follows its result: the first text comes after the first result.
    let first_result = events.iter().position(|event| matches!(event, ChatEvent::ToolResult { .. })).unwrap();
    let first_text = events.iter().position(|event| matches!(event, ChatEvent::TextDelta { .. })).unwrap();
    assert!(first_result < first_text, "{events:#?}");

    // The conversation reloads with the same answer and calls.
    let messages = messages_of(&app, &user, conversation_id).await;
    let last = messages.last().unwrap();
    assert_eq!((last.role, last.content.as_deref()), (MessageRole::Assistant, Some(done.response.as_str())));
    let stored: Vec<_> = messages.iter().flat_map(|message| message.tool_calls.clone()).collect();
    assert_eq!(stored, done.tool_calls);
    assert_eq!(tasks_of(&app, &user).await.len(), 2);

    // The same message in a fresh conversation of a user in the same state answers the same,
    // streamed or not.
    let (streaming, json_client) = (app.sign_up().await, app.sign_up().await);
    let streamed = done_of(&stream(&app, &streaming, None, "show my tasks").await.rest().await);
    let answered = chat_ok(&app, &json_client, None, "show my tasks").await;
    assert_eq!((&streamed.response, &streamed.tool_calls), (&answered.response, &answered.tool_calls));
}

#[tokio::test]
async fn a_model_turn_streams_its_text_and_tool_calls_put_together_from_pieces() {
    let fake = FakeModel::start().await;
    let Some(app) = spawn_with_model(&fake, 5).await else { return };
    let user = app.sign_up().await;
    fake.then_tools(&[
        ("call_milk", "add_task", json!({"title": "buy milk", "priority": "high"})),
        ("call_list", "list_tasks", json!({})),
    ])
    .then_text("Added buy milk; you have one task.");
    let events = stream(&app, &user, None, "add buy milk, high priority, and list my tasks").await.rest().await;
    assert!(matches!(events[0], ChatEvent::Started { .. }), "{events:#?}");
    let done = done_of(&events);
    assert_eq!(done.response, "Added buy milk; you have one task.");
    assert_eq!(text_of(&events), done.response);
    let calls: Vec<(String, String, serde_json::Value)> = events
        .iter()
        .filter_map(|event| match event {
            ChatEvent::ToolCall { id, name, arguments } => Some((id.clone(), name.clone(), arguments.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        calls,
        [
            ("call_milk".into(), "add_task".into(), json!({"title": "buy milk", "priority": "high"})),
            ("call_list".into(), "list_tasks".into(), json!({})),
        ]
    );
    assert_eq!(tool_records(&events), done.tool_calls);
    assert_eq!(done.tool_calls[0].result["ok"], true);
    let tasks = tasks_of(&app, &user).await;
    assert_eq!((tasks.len(), tasks[0].title.as_str()), (1, "buy milk"));
    let accepted = fake.accepted();
    assert_eq!(accepted.len(), 2);
    assert!(accepted.iter().all(|body| body["stream"] == true), "the model streams when the client does");
    // The second request replays the assembled calls, each answered: the strict fake took it.
    assert_eq!(fake.rejections(), Vec::<String>::new());
    assert_each_result_follows_its_call(&app, &done.conversation_id).await;

    // A JSON client's turn asks for a whole reply and gets today's body.
    fake.then_text("Still one task.");
    let answered = chat_ok(&app, &user, Some(&done.conversation_id), "how many tasks?").await;
    assert_eq!(answered.response, "Still one task.");
    assert_eq!(fake.accepted()[2]["stream"], false);
}

#[tokio::test]
async fn text_arrives_while_the_model_is_still_answering() {
    let fake = FakeModel::start().await;
    let Some(app) = spawn_with_model(&fake, 5).await else { return };
    let user = app.sign_up().await;
    // The role chunk and two pieces ("Hell", "o th"), then nothing until released.
    let gate = fake.then_text_paused("Hello there, friend", 3);
    let mut events = stream(&app, &user, None, "hi").await;
    gate.reached().await;
    let mut seen = Vec::new();
    while text_of(&seen) != "Hello th" {
        let event = events.next().await.expect("the stream ended while the model was paused");
        assert!(!event.is_last(), "the turn ended while the model was paused: {event:?}");
        seen.push(event);
    }
    assert!(matches!(seen[0], ChatEvent::Started { .. }));
    gate.release();
    seen.extend(events.rest().await);
    assert_eq!(done_of(&seen).response, "Hello there, friend");
    assert_eq!(text_of(&seen), "Hello there, friend");
}

#[tokio::test]
async fn a_model_failing_mid_stream_ends_it_with_an_error_and_keeps_everything_done() {
    let fake = FakeModel::start().await;
    let Some(app) = spawn_with_model(&fake, 5).await else { return };
    let user = app.sign_up().await;
    let mut conversation: Option<String> = None;
    // The role chunk and two pieces of text reach the person, then the reply breaks.
    for (index, (how, status, code)) in [
        (Break::Drop, 503, "model_unavailable"),
        (Break::Garbage, 502, "model_error"),
        (Break::Error, 502, "model_error"),
    ]
    .into_iter()
    .enumerate()
    {
        let title = format!("task {index}");
        fake.then_tools(&[(&format!("call_{index}"), "add_task", json!({"title": title}))]).then(Reply::Broken {
            message: FakeModel::text_message("I added it for you."),
            after: 3,
            how,
        });
        let events = stream(&app, &user, conversation.as_deref(), &format!("add {title}")).await.rest().await;
        let ChatEvent::Started { conversation_id } = &events[0] else { panic!("{events:#?}") };
        conversation = Some(conversation_id.clone());
        let (got_status, error) = error_of(&events);
        assert_eq!((got_status, error.error.as_str()), (status, code), "{how:?}: {error:?}");
        assert!(error.message.contains("Your message is saved"), "{}", error.message);
        assert!(error.message.contains("add_task"), "the error says what was done: {}", error.message);
        assert_eq!(text_of(&events), "I added ", "{how:?}: the text before the break came through");
        assert_eq!(tool_records(&events).len(), 1);
        assert_eq!(tool_records(&events)[0].result["ok"], true);
    }
    // No retry once text has gone out: each turn made exactly its two requests.
    assert_eq!(fake.accepted().len(), 6);
    let conversation = conversation.unwrap();
    // Every message, call and result stayed; the conversation is free for the next message.
    let stored = assert_each_result_follows_its_call(&app, &conversation).await;
    assert_eq!(stored.len(), 9, "user, call, result per turn: {stored:#?}");
    let titles: Vec<String> = tasks_of(&app, &user).await.into_iter().map(|task| task.title).collect();
    assert_eq!(titles.len(), 3);
    fake.then_text("Back.");
    let next = done_of(&stream(&app, &user, Some(&conversation), "still there?").await.rest().await);
    assert_eq!(next.response, "Back.");
}

#[tokio::test]
async fn the_chat_timeout_ends_a_stream_with_an_error_and_frees_the_conversation() {
    let fake = FakeModel::start().await;
    let Some(app) = spawn_with_a_short_chat_timeout(&fake).await else { return };
    let user = app.sign_up().await;
    let _never_released = fake.then_text_paused("This answer never ends", 3);
    let events = stream(&app, &user, None, "hi").await.rest().await;
    let ChatEvent::Started { conversation_id } = &events[0] else { panic!("{events:#?}") };
    let (status, error) = error_of(&events);
    assert_eq!((status, error.error.as_str()), (503, "timeout"));
    assert_eq!(text_of(&events), "This ans", "what came before the timeout was passed on");
    // The lease was given back with the turn: the next message is taken at once.
    fake.then_text("Back.");
    let next = chat_ok(&app, &user, Some(conversation_id), "again").await;
    assert_eq!(next.response, "Back.");
}

#[tokio::test]
async fn errors_before_the_stream_begins_stay_plain_json_errors() {
    let fake = FakeModel::start().await;
    let Some(app) = spawn_with_model(&fake, 5).await else { return };
    let user = app.sign_up().await;
    for message in ["a\u{0}b", "bell\u{7}", "   "] {
        let response = streamed_request(&app, &user, json!({"message": message})).send().await.unwrap();
        assert_eq!(response.status(), 422, "{message:?}");
        assert_eq!(response.headers()[reqwest::header::CONTENT_TYPE], "application/json");
        let body: ErrorBody = response.json().await.unwrap();
        assert_eq!(body.fields[0].field, "message", "{body:?}");
    }
    let zone = streamed_request(&app, &user, json!({"message": "hi", "time_zone": "Mars/Olympus"})).send().await;
    assert_eq!(zone.unwrap().status(), 422);
    let other = app.sign_up().await;
    let forbidden = app
        .authed(Method::POST, &format!("/api/{}/chat", other.id), &user)
        .header(reqwest::header::ACCEPT, "text/event-stream")
        .json(&json!({"message": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden.status(), 403);
    let unknown = json!({"message": "hi", "conversation_id": uuid::Uuid::new_v4().to_string()});
    assert_eq!(streamed_request(&app, &user, unknown).send().await.unwrap().status(), 404);
    assert!(fake.requests().is_empty(), "nothing reached the model");

    // While a streamed turn holds the conversation, the next message is a 409, streamed or not.
    let gate = fake.then_text_paused("Slow answer", 2);
    let mut first = stream(&app, &user, None, "hi").await;
    let Some(ChatEvent::Started { conversation_id }) = first.next().await else { panic!("no started event") };
    gate.reached().await;
    let busy = streamed_request(&app, &user, json!({"message": "next", "conversation_id": conversation_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(busy.status(), 409);
    assert_eq!(busy.headers()[reqwest::header::CONTENT_TYPE], "application/json");
    assert_eq!(busy.json::<ErrorBody>().await.unwrap().error, "conflict");
    assert_eq!(chat(&app, &user, Some(&conversation_id), "next").await.status(), 409);
    gate.release();
    assert_eq!(done_of(&first.rest().await).response, "Slow answer");
}

#[tokio::test]
async fn a_client_that_leaves_mid_stream_does_not_cut_the_turn_short() {
    let fake = FakeModel::start().await;
    let Some(app) = spawn_with_model(&fake, 5).await else { return };
    let user = app.sign_up().await;
    fake.then_tools(&[("call_1", "add_task", json!({"title": "survives the tab closing"}))]);
    let gate = fake.then_text_paused("Added it.", 2);
    let mut events = stream(&app, &user, None, "add survives the tab closing").await;
    let Some(ChatEvent::Started { conversation_id }) = events.next().await else { panic!("no started event") };
    gate.reached().await;
    drop(events);
    gate.release();
    // The turn goes on without the client: it stores its answer and gives the conversation back.
    wait_until_the_turn_ends(&app, &conversation_id).await;
    let messages = messages_of(&app, &user, &conversation_id).await;
    assert_eq!(messages.last().and_then(|message| message.content.as_deref()), Some("Added it."));
    assert_eq!(tasks_of(&app, &user).await.len(), 1);
}

#[tokio::test]
async fn a_server_that_cannot_stream_tool_replies_is_asked_for_whole_ones() {
    let fake = FakeModel::start().await;
    let Some(app) = spawn_with_model(&fake, 5).await else { return };
    let user = app.sign_up().await;
    // llama-cpp-python's answer to `stream: true` with tools: 200 and an empty event stream.
    fake.then(Reply::Broken { message: FakeModel::text_message("unused"), after: 0, how: Break::End })
        .then_tools(&[("call_1", "add_task", json!({"title": "buy milk"}))])
        .then_text("Added buy milk.");
    let events = stream(&app, &user, None, "add buy milk").await.rest().await;
    let done = done_of(&events);
    assert_eq!(done.response, "Added buy milk.");
    assert_eq!(text_of(&events), done.response, "a whole reply's text comes as one delta");
    assert_eq!(tool_records(&events).len(), 1);
    let streamed: Vec<bool> = fake.accepted().iter().map(|body| body["stream"] == true).collect();
    assert_eq!(streamed, [true, false, false], "asked again at once for a whole reply, and from then on");
}

#[tokio::test]
async fn streaming_is_tried_again_once_the_whole_replies_period_is_over() {
    let fake = FakeModel::start().await;
    // A period of zero: it is over by the next request, without a test that waits.
    let zero = |config: &mut backend::config::Config| {
        config.model.as_mut().expect("a model").streaming_retry_after = std::time::Duration::ZERO;
    };
    let Some(app) = spawn_with_model_and(&fake, zero).await else { return };
    let user = app.sign_up().await;
    // One empty stream, as from a proxy or a server restarting, then a server that streams.
    fake.then(Reply::Broken { message: FakeModel::text_message("unused"), after: 0, how: Break::End })
        .then_tools(&[("call_1", "add_task", json!({"title": "buy milk"}))])
        .then_text("Added buy milk.");
    let events = stream(&app, &user, None, "add buy milk").await.rest().await;
    assert_eq!(done_of(&events).response, "Added buy milk.");
    let streamed: Vec<bool> = fake.accepted().iter().map(|body| body["stream"] == true).collect();
    assert_eq!(streamed, [true, false, true], "a whole reply at once, then streaming again");
    let deltas = events.iter().filter(|event| matches!(event, ChatEvent::TextDelta { .. })).count();
    assert!(deltas > 1, "the last reply streamed in pieces: {events:#?}");
}

/// The value of a series in `/metrics`, 0 before anything is counted in it.
async fn metric(app: &TestApp, series: &str) -> f64 {
    let text = app.get("/metrics").await.text().await.unwrap();
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok()).unwrap_or(0.0)
}

#[tokio::test]
async fn streamed_turns_are_counted_by_how_they_ended() {
    let fake = FakeModel::start().await;
    let Some(app) = spawn_with_model(&fake, 5).await else { return };
    let user = app.sign_up().await;
    // One recorder serves every app of this test binary, and other tests stream at the same
    // time: a turn of this test adds at least one.
    let (done, failed) =
        (r#"chat_streamed_turns_total{outcome="done"}"#, r#"chat_streamed_turns_total{outcome="model_error"}"#);
    let before = (metric(&app, done).await, metric(&app, failed).await);

    fake.then_text("Hello there.");
    done_of(&stream(&app, &user, None, "hi").await.rest().await);
    // Counted before the last event goes out: no wait is needed to see it.
    assert!(metric(&app, done).await > before.0, "a finished turn is counted as done");

    fake.then(Reply::Broken {
        message: FakeModel::text_message("I am about to break."),
        after: 3,
        how: Break::Garbage,
    });
    let (status, _) = error_of(&stream(&app, &user, None, "hi again").await.rest().await);
    assert_eq!(status, 502);
    assert!(metric(&app, failed).await > before.1, "a turn that ended with an error is counted by its code");

    let text = app.get("/metrics").await.text().await.unwrap();
    for bucket in [r#"outcome="done",le="300""#, r#"outcome="model_error",le="0.25""#] {
        assert!(text.contains(&format!("chat_streamed_turn_duration_seconds_bucket{{{bucket}}}")), "{bucket}: {text}");
    }
}
