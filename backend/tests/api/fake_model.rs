//! A scripted OpenAI-compatible server: each `/chat/completions` request gets the next
//! scripted answer, and every request body is kept for the test to inspect.

use axum::{Json, Router, extract::State, http::StatusCode, response::IntoResponse, routing::post};
use serde_json::{Value, json};
use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

#[derive(Debug, Clone)]
pub enum Scripted {
    /// A chat.completion whose message is this.
    Message(Value),
    /// An error status with an OpenAI-style error body.
    Status(u16),
    /// No answer for this long.
    Hang(Duration),
}

#[derive(Debug, Default)]
struct Shared {
    script: Mutex<VecDeque<Scripted>>,
    requests: Mutex<Vec<Value>>,
}

pub struct FakeModel {
    pub base_url: String,
    shared: Arc<Shared>,
}

async fn completions(State(shared): State<Arc<Shared>>, Json(body): Json<Value>) -> axum::response::Response {
    shared.requests.lock().unwrap().push(body);
    let next = shared.script.lock().unwrap().pop_front();
    match next {
        Some(Scripted::Message(message)) => Json(json!({
            "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": "fake-model",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        }))
        .into_response(),
        Some(Scripted::Status(code)) => (
            StatusCode::from_u16(code).unwrap(),
            Json(json!({"error": {"message": format!("scripted {code}"), "type": "server_error", "param": null, "code": null}})),
        )
            .into_response(),
        Some(Scripted::Hang(duration)) => {
            tokio::time::sleep(duration).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
        None => (StatusCode::INTERNAL_SERVER_ERROR, "the test scripted no more answers").into_response(),
    }
}

impl FakeModel {
    pub async fn start() -> Self {
        let shared = Arc::new(Shared::default());
        let app = Router::new().route("/chat/completions", post(completions)).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base_url, shared }
    }

    pub fn then(&self, scripted: Scripted) -> &Self {
        self.shared.script.lock().unwrap().push_back(scripted);
        self
    }

    pub fn then_text(&self, text: &str) -> &Self {
        self.then(Scripted::Message(json!({"role": "assistant", "content": text})))
    }

    /// An assistant message asking for tools: `(call id, tool name, arguments)`.
    pub fn then_tools(&self, calls: &[(&str, &str, Value)]) -> &Self {
        let tool_calls: Vec<Value> = calls
            .iter()
            .map(|(id, name, arguments)| {
                json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments.to_string()}})
            })
            .collect();
        self.then(Scripted::Message(json!({"role": "assistant", "content": null, "tool_calls": tool_calls})))
    }

    pub fn requests(&self) -> Vec<Value> {
        self.shared.requests.lock().unwrap().clone()
    }
}
