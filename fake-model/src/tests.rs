//! The fake is only as good as its strictness: each rule is shown refusing what real servers
//! refuse, next to the request the backend really sends, which must pass.

use super::*;
use crate::Break;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A request shaped like the backend's second round: a tool call replayed with its result.
fn valid() -> Value {
    json!({
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You manage tasks."},
            {"role": "user", "content": "add milk and eggs"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"id": "call_a", "type": "function", "function": {"name": "add_task", "arguments": "{\"title\":\"milk\"}"}},
                {"id": "call_b", "type": "function", "function": {"name": "add_task", "arguments": "{\"title\":\"eggs\"}"}},
            ]},
            {"role": "tool", "tool_call_id": "call_a", "content": "{\"ok\":true}"},
            {"role": "tool", "tool_call_id": "call_b", "content": "{\"ok\":true}"},
            {"role": "assistant", "content": "Added both."},
            {"role": "user", "content": "thanks"},
        ],
        "tools": [{"type": "function", "function": {"name": "add_task", "description": "Adds a task",
            "parameters": {"type": "object", "properties": {"title": {"type": "string"}}}}}],
        "tool_choice": "auto",
        "stream": false,
        "temperature": 0.0,
    })
}

/// `valid()` changed by `edit`, checked; the refusal's text.
fn refused(edit: impl FnOnce(&mut Value)) -> String {
    let mut body = valid();
    edit(&mut body);
    match check(&body) {
        Ok(()) => panic!("accepted: {body:#}"),
        Err(invalid) => invalid.to_string(),
    }
}

#[test]
fn the_backends_request_shape_passes() {
    assert_eq!(check(&valid()), Ok(()));
    let mut minimal = valid();
    let object = minimal.as_object_mut().unwrap();
    for optional in ["tools", "tool_choice", "stream", "temperature"] {
        object.remove(optional);
    }
    object["messages"] = json!([{"role": "user", "content": "hi"}]);
    assert_eq!(check(&minimal), Ok(()));
}

#[test]
fn content_must_be_a_string_on_every_message() {
    // The bug llama.cpp's server caught: a replayed tool-call message with `"content": null`.
    let null = refused(|body| body["messages"][2]["content"] = Value::Null);
    assert!(null.starts_with("messages[2].content: must be a string"), "{null}");
    let missing = refused(|body| {
        body["messages"][2].as_object_mut().unwrap().remove("content");
    });
    assert!(missing.starts_with("messages[2].content: is required"), "{missing}");
    let on_a_user = refused(|body| body["messages"][1]["content"] = json!([{"type": "text", "text": "hi"}]));
    assert!(on_a_user.starts_with("messages[1].content"), "{on_a_user}");
    let on_a_tool = refused(|body| body["messages"][3]["content"] = json!({"ok": true}));
    assert!(on_a_tool.starts_with("messages[3].content"), "{on_a_tool}");
}

#[test]
fn roles_are_the_four_both_servers_know() {
    for role in [json!("developer"), json!("function"), json!("bot"), json!(""), json!(null), json!(1)] {
        let message = refused(|body| body["messages"][1]["role"] = role.clone());
        assert!(message.starts_with("messages[1].role"), "{role}: {message}");
    }
    let missing = refused(|body| {
        body["messages"][1].as_object_mut().unwrap().remove("role");
    });
    assert_eq!(missing, "messages[1].role: is required");
}

#[test]
fn every_tool_call_is_answered_before_the_conversation_goes_on() {
    // A result dropped: call_b is never answered before the assistant speaks again.
    let dropped = refused(|body| {
        body["messages"].as_array_mut().unwrap().remove(4);
    });
    assert!(dropped.starts_with("messages[2].tool_calls") && dropped.contains("call_b"), "{dropped}");
    // Both results dropped, and the call is the last message.
    let at_the_end = refused(|body| {
        let messages = body["messages"].as_array_mut().unwrap();
        messages.truncate(3);
    });
    assert!(at_the_end.contains("not answered: [\"call_a\", \"call_b\"]"), "{at_the_end}");
    // Answered in any order is fine.
    let mut swapped = valid();
    swapped["messages"].as_array_mut().unwrap().swap(3, 4);
    assert_eq!(check(&swapped), Ok(()));
}

#[test]
fn a_tool_message_needs_the_id_of_a_call_just_asked() {
    let without = refused(|body| {
        body["messages"][3].as_object_mut().unwrap().remove("tool_call_id");
    });
    assert!(without.starts_with("messages[3].tool_call_id"), "{without}");
    let unknown = refused(|body| body["messages"][3]["tool_call_id"] = json!("call_zzz"));
    assert!(unknown.contains("answers no tool call"), "{unknown}");
    let twice = refused(|body| body["messages"][4]["tool_call_id"] = json!("call_a"));
    assert!(twice.starts_with("messages[4].tool_call_id"), "{twice}");
    // A result after the user spoke again answers nothing.
    let late = refused(|body| {
        let messages = body["messages"].as_array_mut().unwrap();
        let result = messages.remove(4);
        messages.push(result);
    });
    assert!(late.contains("call_b"), "{late}");
    let orphan = refused(|body| {
        body["messages"]
            .as_array_mut()
            .unwrap()
            .insert(1, json!({"role": "tool", "tool_call_id": "call_a", "content": "{}"}));
    });
    assert!(orphan.starts_with("messages[1].tool_call_id"), "{orphan}");
}

#[test]
fn tool_calls_are_well_formed_and_only_on_assistant_messages() {
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("messages[2].tool_calls", Box::new(|body| body["messages"][2]["tool_calls"] = json!([]))),
        ("messages[2].tool_calls[0].id", Box::new(|body| body["messages"][2]["tool_calls"][0]["id"] = json!(""))),
        ("messages[2].tool_calls[1].id", Box::new(|body| body["messages"][2]["tool_calls"][1]["id"] = json!("call_a"))),
        ("messages[2].tool_calls[0].type", Box::new(|body| body["messages"][2]["tool_calls"][0]["type"] = json!("fn"))),
        (
            "messages[2].tool_calls[0].function",
            Box::new(|body| body["messages"][2]["tool_calls"][0]["function"]["arguments"] = json!({"title": "milk"})),
        ),
        (
            "messages[2].tool_calls[0].function",
            Box::new(|body| body["messages"][2]["tool_calls"][0]["function"]["name"] = json!("")),
        ),
        ("messages[1].tool_calls", Box::new(|body| body["messages"][1]["tool_calls"] = json!([]))),
        ("messages[1].tool_call_id", Box::new(|body| body["messages"][1]["tool_call_id"] = json!("call_a"))),
    ];
    for (param, edit) in cases {
        let message = refused(edit);
        assert!(message.starts_with(param), "expected {param}: {message}");
    }
}

#[test]
fn malformed_tools_are_refused() {
    let cases: Vec<(&str, Value)> = vec![
        ("tools", json!({"type": "function"})),
        ("tools[0].type", json!([{"type": "retrieval", "function": {"name": "a"}}])),
        ("tools[0].function", json!([{"type": "function"}])),
        ("tools[0].function.name", json!([{"type": "function", "function": {"name": "add task"}}])),
        ("tools[0].function.name", json!([{"type": "function", "function": {"name": "x".repeat(65)}}])),
        (
            "tools[1].function.name",
            json!([{"type": "function", "function": {"name": "a"}}, {"type": "function", "function": {"name": "a"}}]),
        ),
        ("tools[0].function.description", json!([{"type": "function", "function": {"name": "a", "description": 1}}])),
        ("tools[0].function.parameters", json!([{"type": "function", "function": {"name": "a", "parameters": "{}"}}])),
        (
            "tools[0].function.parameters",
            json!([{"type": "function", "function": {"name": "a", "parameters": {"type": "array"}}}]),
        ),
    ];
    for (param, tools) in cases {
        let message = refused(|body| body["tools"] = tools.clone());
        assert!(message.starts_with(param), "expected {param} for {tools}: {message}");
    }
    let choice_without_tools = refused(|body| {
        body.as_object_mut().unwrap().remove("tools");
    });
    assert!(choice_without_tools.starts_with("tool_choice"), "{choice_without_tools}");
    let bad_choice = refused(|body| body["tool_choice"] = json!("sometimes"));
    assert!(bad_choice.starts_with("tool_choice"), "{bad_choice}");
}

#[test]
fn the_top_level_fields_are_checked() {
    assert!(refused(|body| body["model"] = json!("")).starts_with("model"));
    assert!(refused(|body| body["messages"] = json!([])).starts_with("messages"));
    assert!(refused(|body| body["messages"] = json!("hi")).starts_with("messages"));
    assert!(refused(|body| body["messages"][0] = json!("hi")).starts_with("messages[0]"));
    assert!(refused(|body| body["temperature"] = json!(2.5)).starts_with("temperature"));
    assert!(refused(|body| body["temperature"] = json!("0")).starts_with("temperature"));
    assert!(refused(|body| body["stream"] = json!("yes")).starts_with("stream"));
    assert!(refused(|body| body["stream_options"] = json!({"include_usage": true})).starts_with("stream_options"));
    let mut streamed = valid();
    streamed["stream"] = json!(true);
    streamed["stream_options"] = json!({"include_usage": true});
    assert_eq!(check(&streamed), Ok(()));
    streamed["stream_options"] = json!({"include_usage": "yes"});
    assert!(check(&streamed).is_err());
    assert!(check(&json!([valid()])).is_err(), "a body that is not an object");
}

/// One raw HTTP/1.1 request to the fake; the status code and the body.
async fn post(port: u16, path: &str, authorization: Option<&str>, body: &str) -> (u16, Value) {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let auth = authorization.map(|value| format!("authorization: {value}\r\n")).unwrap_or_default();
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n{auth}content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response.split_once("\r\n\r\n").map(|(_, body)| body).unwrap_or_default();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn refusals_are_openai_error_bodies_recorded_and_consume_no_reply() {
    let fake = FakeModel::start().await;
    fake.then_text("hello");
    let mut bad = valid();
    bad["messages"][2]["content"] = Value::Null;
    let (status, body) = post(fake.port(), "/v1/chat/completions", Some("Bearer k"), &bad.to_string()).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["param"], "messages[2].content");
    assert!(body["error"]["message"].as_str().unwrap().contains("must be a string"), "{body}");

    let (status, _) = post(fake.port(), "/v1/chat/completions", None, &valid().to_string()).await;
    assert_eq!(status, 401, "no API key");
    let (status, body) = post(fake.port(), "/v1/chat/completions", Some("Bearer k"), "{not json").await;
    assert_eq!(status, 400);
    assert!(body["error"]["message"].as_str().unwrap().contains("not JSON"), "{body}");

    assert_eq!(fake.unused_replies(), 1, "refused requests used no scripted reply");
    let (status, body) = post(fake.port(), "/v1/chat/completions", Some("Bearer k"), &valid().to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(body["choices"][0]["message"]["content"], "hello");
    assert_eq!(fake.requests().len(), 4);
    assert_eq!(fake.rejections().len(), 3);
    assert_eq!(fake.accepted(), vec![valid()]);
    assert_eq!(fake.requests()[3].authorization.as_deref(), Some("Bearer k"));
}

#[tokio::test]
async fn scripted_replies_come_in_order_then_a_500_says_the_script_ran_out() {
    let fake = FakeModel::start().await;
    fake.then_tools(&[("call_1", "add_task", json!({"title": "x"}))])
        .then(Reply::Status(429))
        .then(Reply::Raw(500, "1 validation error".to_owned()));
    let body = valid().to_string();
    let ok = |path| post(fake.port(), path, Some("Bearer k"), &body);
    let (status, body) = ok("/chat/completions").await;
    assert_eq!(status, 200);
    let message = &body["choices"][0]["message"];
    assert_eq!(message["content"], Value::Null, "tool calls come with null content, as OpenAI sends them");
    assert_eq!(message["tool_calls"][0]["function"]["arguments"], "{\"title\":\"x\"}");
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(ok("/v1/chat/completions").await.0, 429);
    assert_eq!(ok("/v1/chat/completions").await.0, 500);
    let (status, body) = ok("/v1/chat/completions").await;
    assert_eq!(status, 500);
    assert!(body["error"]["message"].as_str().unwrap().contains("no more"), "{body}");
}

#[tokio::test]
async fn https_is_served_with_a_certificate_from_the_test_ca_only() {
    let fake = FakeModel::start_tls().await;
    assert!(fake.base_url().starts_with("https://127.0.0.1:"));
    assert!(fake.base_url_for_containers().starts_with("https://host.docker.internal:"));
    let ca = fake.ca().unwrap();
    assert!(ca.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client = |roots: rustls::RootCertStore| {
        let config = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        tokio_rustls::TlsConnector::from(Arc::new(config))
    };

    let mut trusting = rustls::RootCertStore::empty();
    trusting.add(ca.ca_der().clone()).unwrap();
    for name in ["host.docker.internal", "localhost"] {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", fake.port())).await.unwrap();
        let server_name = rustls::pki_types::ServerName::try_from(name.to_owned()).unwrap();
        let mut tls = client(trusting.clone()).connect(server_name, tcp).await.expect("the test CA is trusted");
        tls.write_all(b"GET /nothing HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await.unwrap();
        let mut response = String::new();
        tls.read_to_string(&mut response).await.unwrap();
        assert!(response.starts_with("HTTP/1.1 404"), "{response}");
    }
    assert!(fake.tls_failures().is_empty());

    // Another CA's trust store: the handshake fails, and the fake saw it fail.
    let mut other = rustls::RootCertStore::empty();
    other.add(TestCa::new(&["localhost"]).ca_der().clone()).unwrap();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", fake.port())).await.unwrap();
    let server_name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let error = client(other).connect(server_name, tcp).await.unwrap_err();
    assert!(error.to_string().contains("UnknownIssuer"), "{error}");
    // The server learns of the failure when the client's alert arrives.
    for _ in 0..100 {
        if !fake.tls_failures().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(fake.tls_failures().len(), 1, "{:?}", fake.tls_failures());
}

/// A streamed request over HTTP/1.0, so the body comes unframed; returns the connection with
/// the status line and headers read.
async fn stream_request(port: u16) -> (tokio::net::TcpStream, String) {
    let mut body = valid();
    body["stream"] = json!(true);
    let body = body.to_string();
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let request = format!(
        "POST /v1/chat/completions HTTP/1.0\r\nhost: x\r\ncontent-type: application/json\r\nauthorization: Bearer k\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        assert_eq!(stream.read(&mut byte).await.unwrap(), 1, "the head ended early: {head:?}");
        head.push(byte[0]);
    }
    (stream, String::from_utf8(head).unwrap())
}

/// The `data:` of each event in `text`.
fn data_of(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter(|event| !event.is_empty())
        .map(|event| event.strip_prefix("data: ").unwrap_or_else(|| panic!("not a data line: {event:?}")).to_owned())
        .collect()
}

#[tokio::test]
async fn a_streamed_reply_comes_in_chunks_like_openai_sends_them() {
    let fake = FakeModel::start().await;
    fake.then_tools(&[("call_a", "add_task", json!({"title": "pay the rent"})), ("call_b", "list_tasks", json!({}))]);
    let (mut stream, head) = stream_request(fake.port()).await;
    assert!(head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.to_ascii_lowercase().contains("content-type: text/event-stream"), "{head}");
    let mut text = String::new();
    stream.read_to_string(&mut text).await.unwrap();
    let data = data_of(&text);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = data[..data.len() - 1].iter().map(|data| serde_json::from_str(data).unwrap()).collect();
    assert!(chunks.iter().all(|chunk| chunk["object"] == "chat.completion.chunk"));
    let deltas: Vec<&Value> = chunks.iter().map(|chunk| &chunk["choices"][0]["delta"]).collect();
    assert_eq!(deltas[0]["role"], "assistant", "the role comes first");
    assert_eq!(chunks.last().unwrap()["choices"][0]["finish_reason"], "tool_calls");
    let mut calls: Vec<(String, String, String)> = Vec::new();
    for piece in deltas.iter().filter_map(|delta| delta["tool_calls"].as_array()).flatten() {
        let index = piece["index"].as_u64().unwrap() as usize;
        if index == calls.len() {
            assert!(piece["id"].is_string() && piece["function"]["name"].is_string(), "a call opens with id and name");
            calls.push((
                piece["id"].as_str().unwrap().into(),
                piece["function"]["name"].as_str().unwrap().into(),
                String::new(),
            ));
        } else {
            assert!(piece.get("id").is_none(), "only the first piece carries the id: {piece}");
        }
        calls[index].2.push_str(piece["function"]["arguments"].as_str().unwrap());
    }
    let pieces_of_the_first = deltas
        .iter()
        .filter_map(|delta| delta["tool_calls"].as_array())
        .flatten()
        .filter(|piece| piece["index"] == 0)
        .count();
    assert!(pieces_of_the_first > 2, "the arguments come split");
    assert_eq!(
        calls,
        [
            ("call_a".into(), "add_task".into(), "{\"title\":\"pay the rent\"}".into()),
            ("call_b".into(), "list_tasks".into(), "{}".into())
        ]
    );
}

#[tokio::test]
async fn a_paused_stream_waits_for_its_gate_and_a_broken_one_breaks() {
    let fake = FakeModel::start().await;
    let gate = fake.then_text_paused("Hello there, friend", 3);
    let (mut stream, _) = stream_request(fake.port()).await;
    gate.reached().await;
    // The role chunk and two pieces are written; nothing more comes until the release.
    let mut text = String::new();
    while data_of(&text).len() < 3 {
        let mut buffer = [0u8; 1024];
        let read = stream.read(&mut buffer).await.unwrap();
        assert!(read > 0, "the stream ended at the pause: {text}");
        text.push_str(std::str::from_utf8(&buffer[..read]).unwrap());
    }
    assert!(!text.contains("[DONE]"), "{text}");
    gate.release();
    stream.read_to_string(&mut text).await.unwrap();
    let data = data_of(&text);
    let said: String = data[..data.len() - 1]
        .iter()
        .map(|data| {
            serde_json::from_str::<Value>(data).unwrap()["choices"][0]["delta"]["content"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(said, "Hello there, friend");

    let message = FakeModel::text_message("never finished");
    fake.then(Reply::Broken { message: message.clone(), after: 2, how: Break::Garbage })
        .then(Reply::Broken { message: message.clone(), after: 2, how: Break::Error })
        .then(Reply::Broken { message, after: 2, how: Break::Drop });
    let mut bodies = Vec::new();
    for _ in 0..3 {
        let (mut stream, _) = stream_request(fake.port()).await;
        let mut text = String::new();
        let _ = stream.read_to_string(&mut text).await;
        bodies.push(data_of(&text));
    }
    assert!(serde_json::from_str::<Value>(&bodies[0][2]).is_err(), "garbage: {:?}", bodies[0]);
    assert_eq!(serde_json::from_str::<Value>(&bodies[1][2]).unwrap()["error"]["type"], "server_error");
    assert_eq!(bodies[1].len(), 3, "the stream ends after the error");
    assert_eq!(bodies[2].len(), 2, "the connection drops after two chunks: {:?}", bodies[2]);
}
