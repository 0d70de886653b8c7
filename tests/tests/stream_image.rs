//! The release backend image (hardened: UID 1000, read-only root) streams a chat turn
//! (`Accept: text/event-stream`) from the strict fake model in this process: the events reach
//! the client while the model is still answering, not buffered until the turn ends.

use anyhow::{Context, bail};
use api_types::{ChatEvent, stream::SseDecoder};
use fake_model::FakeModel;
use image_tests::{
    Images, backend, base_url, database_url, model::with_model, sign_up, start_postgres, unique, wait_for_status,
};
use serde_json::json;
use std::{collections::VecDeque, time::Duration};
use testcontainers::runners::AsyncRunner;

/// The events of a streamed response, one at a time.
struct EventReader {
    response: reqwest::Response,
    decoder: SseDecoder,
    queued: VecDeque<ChatEvent>,
}

impl EventReader {
    async fn next(&mut self) -> anyhow::Result<Option<ChatEvent>> {
        loop {
            if let Some(event) = self.queued.pop_front() {
                return Ok(Some(event));
            }
            let Some(bytes) = self.response.chunk().await? else {
                return Ok(self.decoder.finish().map(|event| serde_json::from_str(&event.data)).transpose()?);
            };
            for event in self.decoder.push(&bytes) {
                self.queued.push_back(serde_json::from_str(&event.data).with_context(|| event.data.clone())?);
            }
        }
    }
}

fn text_of(events: &[ChatEvent]) -> String {
    events.iter().filter_map(ChatEvent::delta).collect()
}

#[tokio::test]
async fn the_backend_image_streams_a_turn_while_the_model_is_still_answering() -> anyhow::Result<()> {
    let Some(images) = Images::from_env() else { return Ok(()) };
    let fake = FakeModel::start().await;
    let (network, db) = (unique("net"), unique("db"));
    let _postgres = start_postgres(&images, &network, &db).await?;
    let backend =
        with_model(backend(&images, &network, &unique("backend"), &database_url(&db)), &fake.base_url_for_containers())
            .start()
            .await
            .context("starting the backend image")?;
    let url = base_url(&backend, 8000).await?;
    wait_for_status(&format!("{url}/readyz"), 200, Duration::from_secs(60)).await?;
    let client = reqwest::Client::new();
    let auth = sign_up(&client, &url, &format!("{}@example.com", unique("stream"))).await?;

    fake.then_tools(&[("call_milk", "add_task", json!({"title": "buy milk"}))]);
    // The role chunk and two pieces ("Adde", "d bu"), then nothing until the gate opens.
    let gate = fake.then_text_paused("Added buy milk for you.", 3);
    let response = client
        .post(format!("{url}/api/{}/chat", auth.user.id))
        .bearer_auth(&auth.token)
        .header(reqwest::header::ACCEPT, "text/event-stream")
        .json(&json!({"message": "add buy milk"}))
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()[reqwest::header::CONTENT_TYPE], "text/event-stream");
    let mut reader = EventReader { response, decoder: SseDecoder::new(), queued: VecDeque::new() };

    gate.reached().await;
    let mut seen = Vec::new();
    while text_of(&seen) != "Added bu" {
        match reader.next().await? {
            Some(event) if event.is_last() => bail!("the turn ended while the model was paused: {event:?}"),
            Some(event) => seen.push(event),
            None => bail!("the stream ended while the model was paused: {seen:?}"),
        }
    }
    let names: Vec<&str> = seen.iter().map(ChatEvent::name).collect();
    assert_eq!(&names[..3], ["started", "tool_call", "tool_result"], "{seen:?}");

    gate.release();
    while let Some(event) = reader.next().await? {
        seen.push(event);
    }
    match seen.last() {
        Some(ChatEvent::Done { response }) => {
            assert_eq!(response.response, "Added buy milk for you.");
            assert_eq!(response.tool_calls[0].result["ok"], true);
        }
        other => bail!("the stream did not end with done: {other:?}"),
    }
    assert_eq!(text_of(&seen), "Added buy milk for you.");
    assert_eq!(fake.rejections(), Vec::<String>::new());
    assert!(fake.accepted().iter().all(|body| body["stream"] == true), "the image asked the model to stream");
    // The request's own metrics stopped at the 200; the turn is counted as it ended.
    let metrics = client.get(format!("{url}/metrics")).send().await?.text().await?;
    assert!(metrics.lines().any(|line| line == r#"chat_streamed_turns_total{outcome="done"} 1"#), "{metrics}");
    Ok(())
}
