//! A scripted OpenAI-compatible chat-completions server that rejects what real servers reject.
//!
//! Used by the backend's API tests and by the image tests, so both check our requests against
//! one rule book. A fake that accepts anything hid a bug that broke every tool call against
//! llama.cpp's server (`"content": null` on a replayed assistant message), so [`check`]
//! enforces the intersection of what OpenAI and llama-cpp-python accept: what passes here
//! passes there. It binds `0.0.0.0` so that containers reach it through `host.docker.internal`,
//! and can serve https with a certificate from a throwaway test CA.
//!
//! # Streaming
//!
//! A request with `"stream": true` gets its scripted message as OpenAI and llama.cpp stream
//! it (see [`stream`](crate::Reply::Paused) below): `chat.completion.chunk` events, the role
//! first, the text in pieces of a few characters, each tool call by `index` with its arguments
//! split, the `finish_reason`, then `data: [DONE]`. A request without it gets the whole
//! `chat.completion`, as before.
//!
//! To watch a stream part-way, deterministically and without timing:
//!
//! ```no_run
//! # async fn example() {
//! use fake_model::{FakeModel, Gate};
//! let fake = FakeModel::start().await;
//! // The role chunk and 3 text pieces ("Hell", "o th", "ere,"), then a pause.
//! let gate = fake.then_text_paused("Hello there, friend", 4);
//! // ... start a streamed chat turn against `fake.base_url()` (or, from a container,
//! // `fake.base_url_for_containers()`: the gate lives in the test process, which holds the
//! // fake, so the container only needs to reach the fake's port) ...
//! gate.reached().await; // everything before the pause has been written to the backend
//! // ... check that the client shows "Hello there," and no final event yet ...
//! gate.release(); // the rest of the reply comes
//! # }
//! ```
//!
//! [`Reply::Broken`] breaks a stream after some chunks instead: the connection drops, a chunk
//! is not JSON, or an error object arrives mid-stream.

mod stream;
mod strict;
mod tls;

pub use stream::{Break, Gate};
pub use strict::{Invalid, check};
pub use tls::TestCa;

use axum::{
    Json, Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::{Value, json};
use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

/// The name containers use for the host (testcontainers `Host::HostGateway`).
pub const CONTAINER_HOST: &str = "host.docker.internal";

/// One scripted answer to the next valid request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A chat.completion whose message is this.
    Message(Value),
    /// This status with an OpenAI-style error body.
    Status(u16),
    /// This status with this body, as it is (e.g. llama.cpp's 500 with a pydantic text).
    Raw(u16, String),
    /// No answer for this long (the client's time-out should end it first).
    Hang(Duration),
    /// This message, paused after its first `after` chunks (the role chunk counts) until the
    /// gate is released. To a request that does not stream: the whole message, once released.
    Paused { message: Value, after: usize, gate: Gate },
    /// This message streamed, broken after its first `after` chunks as `how` says. To a
    /// request that does not stream: a 500 saying the script expected a stream.
    Broken { message: Value, after: usize, how: Break },
}

/// A request as it arrived: its body (`null` if it was not JSON), its `Authorization` header,
/// and why it was rejected, if it was.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub body: Value,
    pub authorization: Option<String>,
    pub rejected: Option<String>,
}

#[derive(Debug, Default)]
struct Shared {
    script: Mutex<VecDeque<Reply>>,
    requests: Mutex<Vec<Recorded>>,
    tls_failures: Mutex<Vec<String>>,
}

/// Locks even after a panicking test thread: the records are still worth reading.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running fake; it stops when dropped.
#[derive(Debug)]
pub struct FakeModel {
    port: u16,
    scheme: &'static str,
    ca: Option<TestCa>,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeModel {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn error_body(message: &str, kind: &str, param: Option<&str>) -> Value {
    json!({"error": {"message": message, "type": kind, "param": param, "code": null}})
}

async fn completions(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let authorization = headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok()).map(str::to_owned);
    let parsed: Result<Value, _> = serde_json::from_slice(&body);
    let has_key = authorization
        .as_deref()
        .and_then(|value| value.strip_prefix("Bearer "))
        .is_some_and(|key| !key.trim().is_empty());
    let streams = parsed.as_ref().is_ok_and(|body| body["stream"] == Value::Bool(true));
    let verdict = match &parsed {
        // OpenAI answers 401 without a key; every client we support sends one.
        _ if !has_key => {
            Err((StatusCode::UNAUTHORIZED, Invalid::new("no API key: send Authorization: Bearer <key>", None)))
        }
        Err(error) => Err((StatusCode::BAD_REQUEST, Invalid::new(format!("the body is not JSON: {error}"), None))),
        Ok(value) => check(value).map_err(|invalid| (StatusCode::BAD_REQUEST, invalid)),
    };
    lock(&shared.requests).push(Recorded {
        body: parsed.unwrap_or(Value::Null),
        authorization,
        rejected: verdict.as_ref().err().map(|(_, invalid)| invalid.to_string()),
    });
    if let Err((status, invalid)) = verdict {
        return (status, Json(error_body(&invalid.message, "invalid_request_error", invalid.param.as_deref())))
            .into_response();
    }
    // A rejected request consumes no scripted answer: the script describes the model, and a
    // real model never sees a request its server refused.
    let next = lock(&shared.script).pop_front();
    match next {
        Some(Reply::Message(message)) if streams => stream::response(&message, stream::Interruption::None),
        Some(Reply::Paused { message, after, gate }) if streams => {
            stream::response(&message, stream::Interruption::Pause(after, gate))
        }
        Some(Reply::Broken { message, after, how }) if streams => {
            stream::response(&message, stream::Interruption::Break(after, how))
        }
        Some(Reply::Paused { message, gate, .. }) => {
            gate.pause().await;
            whole(message)
        }
        Some(Reply::Broken { .. }) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(error_body(
                "the test scripted a broken stream, and this request does not stream",
                "server_error",
                None,
            )),
        )
            .into_response(),
        Some(Reply::Message(message)) => whole(message),
        Some(Reply::Status(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, Json(error_body(&format!("scripted {code}"), "server_error", None))).into_response()
        }
        Some(Reply::Raw(code, body)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, body).into_response()
        }
        Some(Reply::Hang(duration)) => {
            tokio::time::sleep(duration).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
        None => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(error_body("the test scripted no more answers", "server_error", None)),
        )
            .into_response(),
    }
}

/// A whole `chat.completion` carrying `message`.
fn whole(message: Value) -> Response {
    Json(json!({
        "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": "fake-model",
        "choices": [{"index": 0, "message": message,
            "finish_reason": if message.get("tool_calls").is_some() { "tool_calls" } else { "stop" }}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }))
    .into_response()
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Json(error_body("only POST /v1/chat/completions is served", "invalid_request_error", None)))
        .into_response()
}

impl FakeModel {
    /// Serves plain http on a free port of every interface.
    pub async fn start() -> Self {
        Self::serve(None).await
    }

    /// Serves https with a certificate for `localhost`, `127.0.0.1` and [`CONTAINER_HOST`]
    /// from a new test CA ([`FakeModel::ca`]).
    pub async fn start_tls() -> Self {
        Self::serve(Some(TestCa::new(&["localhost", "127.0.0.1", CONTAINER_HOST]))).await
    }

    async fn serve(ca: Option<TestCa>) -> Self {
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route("/v1/chat/completions", post(completions))
            .route("/chat/completions", post(completions))
            .fallback(not_found)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], 0)))
            .await
            .expect("the fake model cannot bind a port");
        let port = listener.local_addr().expect("a bound listener has an address").port();
        let (scheme, server) = match &ca {
            None => ("http", tokio::spawn(async move { axum::serve(listener, app).await.unwrap_or_default() })),
            Some(ca) => {
                let listener = tls::TlsListener::new(listener, ca.server_config(), shared.clone());
                ("https", tokio::spawn(async move { axum::serve(listener, app).await.unwrap_or_default() }))
            }
        };
        Self { port, scheme, ca, shared, server }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The base URL (`OPENAI_BASE_URL`) for a client on this host.
    pub fn base_url(&self) -> String {
        self.base_url_at("127.0.0.1")
    }

    /// The base URL for a client in a container started with
    /// `with_host("host.docker.internal", Host::HostGateway)`.
    pub fn base_url_for_containers(&self) -> String {
        self.base_url_at(CONTAINER_HOST)
    }

    fn base_url_at(&self, host: &str) -> String {
        format!("{}://{host}:{}/v1", self.scheme, self.port)
    }

    /// The test CA of an https fake.
    pub fn ca(&self) -> Option<&TestCa> {
        self.ca.as_ref()
    }

    pub fn then(&self, reply: Reply) -> &Self {
        lock(&self.shared.script).push_back(reply);
        self
    }

    pub fn then_text(&self, text: &str) -> &Self {
        self.then(Reply::Message(Self::text_message(text)))
    }

    /// An assistant message asking for tools: `(call id, tool name, arguments)`. Its content
    /// is `null`, as OpenAI sends it.
    pub fn then_tools(&self, calls: &[(&str, &str, Value)]) -> &Self {
        self.then(Reply::Message(Self::tools_message(calls)))
    }

    /// The assistant message [`FakeModel::then_tools`] answers with.
    pub fn tools_message(calls: &[(&str, &str, Value)]) -> Value {
        let tool_calls: Vec<Value> = calls
            .iter()
            .map(|(id, name, arguments)| {
                json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments.to_string()}})
            })
            .collect();
        json!({"role": "assistant", "content": null, "tool_calls": tool_calls})
    }

    /// The assistant message [`FakeModel::then_text`] answers with.
    pub fn text_message(text: &str) -> Value {
        json!({"role": "assistant", "content": text})
    }

    /// `text`, streamed, paused after its first `after` chunks (the role chunk and then pieces
    /// of 4 characters) until the returned gate is released.
    pub fn then_text_paused(&self, text: &str, after: usize) -> Gate {
        let gate = Gate::new();
        self.then(Reply::Paused { message: Self::text_message(text), after, gate: gate.clone() });
        gate
    }

    /// Every request so far, rejected ones included, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared.requests).clone()
    }

    /// The bodies of the requests that passed [`check`], in order.
    pub fn accepted(&self) -> Vec<Value> {
        self.requests().into_iter().filter(|request| request.rejected.is_none()).map(|request| request.body).collect()
    }

    /// Why each rejected request was rejected.
    pub fn rejections(&self) -> Vec<String> {
        self.requests().into_iter().filter_map(|request| request.rejected).collect()
    }

    /// TLS handshakes that failed (a client that does not trust the test CA ends up here).
    pub fn tls_failures(&self) -> Vec<String> {
        lock(&self.shared.tls_failures).clone()
    }

    /// Scripted answers not used yet.
    pub fn unused_replies(&self) -> usize {
        lock(&self.shared.script).len()
    }
}

#[cfg(test)]
mod tests;
