//! A model is configured: the release images (web → backend → model), hardened as compose and
//! the chart run them, against the strict fake model server in this process (http and https)
//! and against a real llama.cpp server. Every model variable a test sets to a non-default
//! value has its effect asserted.

use fake_model::{FakeModel, Reply};
use image_tests::{
    Images,
    model::{Answer, LlamaServer, Person, Stack, read_only_file, with_model},
};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use testcontainers::ImageExt;

/// The stack with the backend pointed at the model at `base_url`, with these backend variables.
async fn stack_with(images: &Images, base_url: &str, env: &[(&str, &str)]) -> anyhow::Result<Stack> {
    Stack::start(
        images,
        |backend| env.iter().fold(with_model(backend, base_url), |b, (k, v)| b.with_env_var(*k, *v)),
        &[],
    )
    .await
}

/// The roles of a request the fake accepted.
fn roles(request: &Value) -> Vec<String> {
    request["messages"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap().to_owned()).collect()
}

fn assert_status(answer: &Answer, status: u16, what: &str) {
    assert_eq!(answer.status, status, "{what}: {}", answer.body);
}

/// The person's message is stored even though the turn failed, with nothing after it.
async fn assert_saved(person: &Person, message: &str) -> anyhow::Result<()> {
    let mut found = false;
    for conversation in person.conversations().await? {
        let messages = person.messages(&conversation.id).await?;
        found |= messages.iter().any(|m| m.content.as_deref() == Some(message));
    }
    assert!(found, "{message:?} is stored");
    Ok(())
}

#[tokio::test]
async fn a_chat_through_the_web_and_backend_images_calls_the_model_and_replays_its_tools() -> anyhow::Result<()> {
    let Some(images) = Images::from_env() else { return Ok(()) };
    let fake = FakeModel::start().await;
    let stack = stack_with(
        &images,
        &fake.base_url_for_containers(),
        &[
            ("OPENAI_MODEL", "image-test-model"),
            ("OPENAI_TIMEOUT_SECS", "1"),
            ("OPENAI_MAX_RETRIES", "1"),
            ("CHAT_MAX_TOOL_ROUNDS", "2"),
            ("CHAT_HISTORY_MESSAGES", "6"),
            ("CHAT_MAX_TOOL_CALLS_PER_REPLY", "4"),
            ("CHAT_MAX_DESTRUCTIVE_CALLS_PER_TURN", "2"),
            ("CHAT_RATE_LIMIT_PER_MINUTE", "30"),
        ],
    )
    .await?;
    let person = Person::sign_up(&stack).await?;

    // Turn 1: the model calls add_task; the task exists.
    fake.then_tools(&[("call_add", "add_task", json!({"title": "buy milk"}))]).then_text("Added buy milk.");
    let first = person.chat(None, "add a task buy milk").await?;
    assert_status(&first, 200, "turn 1");
    assert_eq!(first.body["response"], "Added buy milk.");
    let conversation = first.body["conversation_id"].as_str().unwrap().to_owned();
    let titles: Vec<String> = person.tasks().await?.into_iter().map(|task| task.title).collect();
    assert_eq!(titles, ["buy milk"]);
    let requests = fake.requests();
    assert_eq!(requests[0].authorization.as_deref(), Some("Bearer sk-image-test"), "OPENAI_API_KEY");
    assert_eq!(requests[0].body["model"], "image-test-model", "OPENAI_MODEL");

    // Turn 2: the tool call and its result are replayed in the strict shape (the fake would
    // have answered 400 otherwise, and the turn 502).
    fake.then_text("You have one task.");
    assert_status(&person.chat(Some(&conversation), "show my tasks").await?, 200, "turn 2");
    assert_eq!(fake.rejections(), Vec::<String>::new());
    let replayed = fake.accepted()[2].clone();
    assert_eq!(roles(&replayed), ["system", "user", "assistant", "tool", "assistant", "user"]);
    assert_eq!(replayed["messages"][2]["content"], "");
    assert_eq!(replayed["messages"][2]["tool_calls"][0]["id"], "call_add");
    assert_eq!(replayed["messages"][3]["tool_call_id"], "call_add");

    // CHAT_HISTORY_MESSAGES=6: turn 3 replays all 6 stored messages; turn 4 has 8 stored, the
    // last 6 start inside turn 1's tool exchange, so the window moves on to turn 2's question.
    fake.then_text("Three.").then_text("Four.");
    assert_status(&person.chat(Some(&conversation), "turn three").await?, 200, "turn 3");
    assert_status(&person.chat(Some(&conversation), "turn four").await?, 200, "turn 4");
    let accepted = fake.accepted();
    assert_eq!(roles(&accepted[3]).len(), 1 + 6 + 1);
    let fourth = &accepted[4];
    assert_eq!(roles(fourth), ["system", "user", "assistant", "user", "assistant", "user"]);
    assert_eq!(fourth["messages"][1]["content"], "show my tasks");
    assert_eq!(fourth["messages"][5]["content"], "turn four");

    // CHAT_MAX_TOOL_ROUNDS=2: a model that keeps asking for tools is stopped after 2 rounds.
    let before = fake.requests().len();
    for round in 0..3 {
        fake.then_tools(&[(&format!("call_loop_{round}"), "list_tasks", json!({}))]);
    }
    let looped = person.chat(None, "list my tasks forever").await?;
    assert_status(&looped, 200, "tool loop");
    assert!(looped.body["response"].as_str().unwrap().contains("stopped after 2 rounds"), "{}", looped.body);
    assert_eq!(looped.body["tool_calls"].as_array().unwrap().len(), 2);
    assert_eq!(fake.requests().len() - before, 3, "two rounds ran, the third request for tools was refused");

    // A model answering 500: one retry (OPENAI_MAX_RETRIES=1), then 503; nothing lost.
    let before = fake.requests().len();
    fake.then(Reply::Status(500)).then(Reply::Status(500));
    let failed = person.chat(Some(&conversation), "model fails now").await?;
    assert_status(&failed, 503, "model answering 500");
    assert_eq!(failed.body["error"], "model_unavailable");
    assert_eq!(fake.requests().len() - before, 2, "OPENAI_MAX_RETRIES=1: two attempts");
    assert_saved(&person, "model fails now").await?;

    // A model that never answers: OPENAI_TIMEOUT_SECS=1 ends each attempt, long before the
    // turn's own limit (CHAT_TIMEOUT_SECS, 120 s), which would answer without a JSON body.
    let before = fake.requests().len();
    fake.then(Reply::Hang(Duration::from_secs(300))).then(Reply::Hang(Duration::from_secs(300)));
    let timed_out = person.chat(Some(&conversation), "model hangs now").await?;
    assert_status(&timed_out, 503, "model timing out");
    assert_eq!(timed_out.body["error"], "model_unavailable");
    assert_eq!(fake.requests().len() - before, 2);
    assert_saved(&person, "model hangs now").await?;

    // Nothing was lost: the task, and every stored message of the first conversation.
    assert_eq!(person.tasks().await?.len(), 1);
    let messages = person.messages(&conversation).await?;
    let texts: Vec<&str> = messages.iter().filter_map(|m| m.content.as_deref()).collect();
    for said in
        ["add a task buy milk", "show my tasks", "turn three", "turn four", "model fails now", "model hangs now"]
    {
        assert!(texts.contains(&said), "{said:?} in {texts:?}");
    }
    assert_eq!(messages[1].tool_calls[0].result["ok"], true, "the tool result is kept with its call");
    Ok(())
}

#[tokio::test]
async fn the_chat_timeout_ends_a_turn_the_model_never_finishes_and_keeps_the_message() -> anyhow::Result<()> {
    let Some(images) = Images::from_env() else { return Ok(()) };
    let fake = FakeModel::start().await;
    let stack = stack_with(
        &images,
        &fake.base_url_for_containers(),
        &[("OPENAI_TIMEOUT_SECS", "300"), ("CHAT_TIMEOUT_SECS", "2")],
    )
    .await?;
    let person = Person::sign_up(&stack).await?;
    fake.then(Reply::Hang(Duration::from_secs(600)));
    let answer = person.chat(None, "never answered").await?;
    // The turn's limit answers 503 itself, before the model call's time-out could.
    assert_status(&answer, 503, "chat timeout");
    assert_ne!(answer.body["error"], "model_unavailable", "ended by CHAT_TIMEOUT_SECS, not OPENAI_TIMEOUT_SECS");
    assert_eq!(fake.requests().len(), 1, "no retry began");
    assert_saved(&person, "never answered").await?;
    Ok(())
}

#[tokio::test]
async fn an_https_model_is_trusted_through_ssl_cert_file_and_refused_without_it() -> anyhow::Result<()> {
    let Some(images) = Images::from_env() else { return Ok(()) };
    let fake = FakeModel::start_tls().await;
    let dir = std::env::temp_dir().join(image_tests::unique("model-ca"));
    std::fs::create_dir_all(&dir)?;
    let ca_file = dir.join("ca.pem");
    fake.ca().unwrap().write_ca_pem(&ca_file)?;

    // With the test CA mounted read-only and named in SSL_CERT_FILE: the turn reaches the model.
    let trusting = Stack::start(
        &images,
        |backend| {
            with_model(backend, &fake.base_url_for_containers())
                .with_mount(read_only_file(&ca_file, "/certs/ca.pem"))
                .with_env_var("SSL_CERT_FILE", "/certs/ca.pem")
        },
        &[],
    )
    .await?;
    let person = Person::sign_up(&trusting).await?;
    fake.then_text("Hello over https.");
    let answer = person.chat(None, "hello").await?;
    assert_status(&answer, 200, &format!("https turn; backend log:\n{}", trusting.backend_log().await));
    assert_eq!(answer.body["response"], "Hello over https.");
    assert_eq!(fake.accepted().len(), 1);
    assert!(fake.tls_failures().is_empty(), "{:?}", fake.tls_failures());
    drop(trusting);

    // Without it the image trusts Debian's bundle only: the handshake fails, the turn is the
    // documented 503, the backend keeps serving and the message is saved.
    let refusing = stack_with(&images, &fake.base_url_for_containers(), &[("OPENAI_MAX_RETRIES", "0")]).await?;
    let person = Person::sign_up(&refusing).await?;
    let refused = person.chat(None, "hello without the CA").await?;
    assert_status(&refused, 503, "untrusted certificate");
    assert_eq!(refused.body["error"], "model_unavailable");
    let message = refused.body["message"].as_str().unwrap_or_default();
    assert!(message.to_ascii_lowercase().contains("certificate"), "names the cause: {message}");
    assert!(!fake.tls_failures().is_empty(), "the backend reached the fake and refused its certificate");
    assert_eq!(fake.requests().len(), 1, "no request got through the failed handshake");
    assert_saved(&person, "hello without the CA").await?;
    assert_eq!(person.tasks().await?.len(), 0, "and the backend still serves");
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[tokio::test]
async fn a_real_openai_compatible_server_answers_every_turn_of_a_conversation_with_tools() -> anyhow::Result<()> {
    let Some(images) = Images::from_env() else { return Ok(()) };
    let Some(llama) = LlamaServer::start().await? else { return Ok(()) };
    let stack = Stack::start(
        &images,
        |backend| {
            with_model(backend, &llama.base_url_for_containers())
                .with_env_var("OPENAI_MODEL", "smollm2-135m")
                .with_env_var("OPENAI_TEMPERATURE", "0")
                // A 135M model on two shared cores: minutes, not seconds, per turn at worst.
                .with_env_var("OPENAI_TIMEOUT_SECS", "600")
                .with_env_var("CHAT_TIMEOUT_SECS", "1800")
                .with_env_var("CHAT_MAX_TOOL_ROUNDS", "2")
        },
        &[("PROXY_TIMEOUT_SECS", "1800")],
    )
    .await?;
    let person = Person::sign_up(&stack).await?;
    let mut conversation: Option<String> = None;
    for message in ["add a task buy milk", "show my tasks", "mark it done"] {
        let started = Instant::now();
        let answer = person.chat(conversation.as_deref(), message).await?;
        let tools: Vec<&str> = answer.body["tool_calls"]
            .as_array()
            .map(|calls| calls.iter().filter_map(|call| call["name"].as_str()).collect())
            .unwrap_or_default();
        eprintln!("real model: {message:?} → {} in {:.1?}, tools {tools:?}", answer.status, started.elapsed());
        // Wire compatibility, not quality: whatever the model decides, every turn is a 200.
        assert_status(&answer, 200, &format!("{message:?}; backend log:\n{}", stack.backend_log().await));
        conversation = answer.body["conversation_id"].as_str().map(str::to_owned);
    }
    Ok(())
}
