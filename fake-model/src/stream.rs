//! Streamed replies, as OpenAI and llama.cpp's server send them to `"stream": true`:
//! `text/event-stream`, each `data:` a `chat.completion.chunk`. The first chunk carries the
//! role, the text comes in small pieces, each tool call comes by its `index` (its `id`, `type`
//! and `function.name` in its first piece, `function.arguments` split over the next), the last
//! chunk carries the `finish_reason`, and `data: [DONE]` ends the stream.

use axum::{
    body::Body,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};
use tokio::sync::watch;

/// Characters per text piece and per arguments piece: small, so that pieces split words,
/// JSON strings and multi-byte characters.
const TEXT_PIECE: usize = 4;
const ARGUMENTS_PIECE: usize = 6;

/// Where a paused stream waits until the test lets it go on. Clone it into the script, keep
/// a clone in the test: [`Gate::reached`] waits until the stream has sent everything before
/// the pause, [`Gate::release`] lets the rest come.
#[derive(Debug, Clone)]
pub struct Gate {
    reached: watch::Sender<bool>,
    released: watch::Sender<bool>,
}

impl Default for Gate {
    fn default() -> Self {
        Self::new()
    }
}

impl Gate {
    pub fn new() -> Self {
        Self { reached: watch::Sender::new(false), released: watch::Sender::new(false) }
    }

    /// Waits until a reply has paused here (its chunks before the pause are written).
    pub async fn reached(&self) {
        let mut reached = self.reached.subscribe();
        // The sender lives in `self`, so the wait cannot fail.
        let _ = reached.wait_for(|reached| *reached).await;
    }

    /// Whether a reply has paused here.
    pub fn is_reached(&self) -> bool {
        *self.reached.borrow()
    }

    /// Lets a paused reply go on (or one that will pause here, at once).
    pub fn release(&self) {
        self.released.send_replace(true);
    }

    pub(crate) async fn pause(&self) {
        self.reached.send_replace(true);
        let mut released = self.released.subscribe();
        let _ = released.wait_for(|released| *released).await;
    }
}

/// How a scripted stream breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Break {
    /// The connection closes mid-body (no last chunk of the chunked encoding).
    Drop,
    /// A `data:` line that is not JSON, then `[DONE]`.
    Garbage,
    /// An OpenAI-style error object as the next event, then the end of the stream: what
    /// OpenAI sends when the server fails after the reply began.
    Error,
    /// The body just ends, cleanly, without a `finish_reason` or `[DONE]`. After 0 chunks it
    /// is what llama-cpp-python's server (0.3.x, `chatml-function-calling`) answers to every
    /// streamed request with tools: 200, `text/event-stream`, an empty body.
    End,
}

/// What the stream does after its first `after` chunks (the role chunk counts).
#[derive(Debug, Clone)]
pub(crate) enum Interruption {
    None,
    Pause(usize, Gate),
    Break(usize, Break),
}

fn chunk(delta: Value, finish_reason: Option<&str>) -> String {
    let chunk = json!({
        "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": "fake-model",
        "system_fingerprint": null,
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}],
    });
    format!("data: {chunk}\n\n")
}

/// `text` cut into pieces of `size` characters.
fn pieces(text: &str, size: usize) -> Vec<String> {
    let characters: Vec<char> = text.chars().collect();
    characters.chunks(size).map(|piece| piece.iter().collect()).collect()
}

/// The chunks of an assistant message, without `[DONE]`.
pub(crate) fn chunks(message: &Value) -> Vec<String> {
    let content = message.get("content").and_then(Value::as_str);
    let calls = message.get("tool_calls").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut frames = vec![chunk(
        json!({"role": "assistant", "content": if content.is_some() { json!("") } else { Value::Null }}),
        None,
    )];
    for piece in pieces(content.unwrap_or_default(), TEXT_PIECE) {
        frames.push(chunk(json!({"content": piece}), None));
    }
    for (index, call) in calls.iter().enumerate() {
        let function = &call["function"];
        frames.push(chunk(
            json!({"tool_calls": [{"index": index, "id": call["id"], "type": "function",
                "function": {"name": function["name"], "arguments": ""}}]}),
            None,
        ));
        for piece in pieces(function["arguments"].as_str().unwrap_or_default(), ARGUMENTS_PIECE) {
            frames.push(chunk(json!({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}), None));
        }
    }
    let finish = if calls.is_empty() { "stop" } else { "tool_calls" };
    frames.push(chunk(json!({}), Some(finish)));
    frames
}

enum Step {
    Frame(String),
    Pause(Gate),
    Drop,
}

/// The streamed response to a valid `"stream": true` request.
pub(crate) fn response(message: &Value, interruption: Interruption) -> Response {
    let mut frames = chunks(message);
    frames.push("data: [DONE]\n\n".to_owned());
    let mut steps: Vec<Step> = frames.into_iter().map(Step::Frame).collect();
    match interruption {
        Interruption::None => {}
        Interruption::Pause(after, gate) => steps.insert(after.min(steps.len()), Step::Pause(gate)),
        Interruption::Break(after, how) => {
            steps.truncate(after);
            match how {
                Break::Drop => steps.push(Step::Drop),
                Break::Garbage => {
                    steps.push(Step::Frame("data: {\"choices\": [{\"delta\": {\"content\": \"unterminated\n\n".into()));
                    steps.push(Step::Frame("data: [DONE]\n\n".into()));
                }
                Break::End => {}
                Break::Error => {
                    let error = json!({"error": {"message": "scripted failure mid-stream", "type": "server_error",
                        "param": null, "code": null}});
                    steps.push(Step::Frame(format!("data: {error}\n\n")));
                }
            }
        }
    }
    let body = futures_util::stream::unfold(steps.into_iter(), |mut steps| async move {
        loop {
            match steps.next()? {
                Step::Frame(frame) => return Some((Ok(frame), steps)),
                Step::Pause(gate) => gate.pause().await,
                Step::Drop => {
                    // Pending once first, so the server writes out what came before (hyper
                    // flushes when the body waits); a real drop comes after bytes that arrived.
                    tokio::task::yield_now().await;
                    return Some((Err(std::io::Error::other("the scripted stream breaks here")), steps));
                }
            }
        }
    });
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        Body::from_stream(body),
    )
        .into_response()
}
