//! An OpenAI-compatible chat-completions model (OpenAI, Azure, Ollama, vLLM, llama.cpp...)
//! over plain HTTP(S), with a timeout and retries with backoff on failures that may pass
//! (network, time-outs, 408, 429, 5xx), never on a request the server called invalid.
//! Requests and replies are our own small wire types, so the stored transcript maps onto them
//! one to one.
//!
//! When the person's client streams, the model is asked to stream too (`"stream": true`) and
//! its text is passed on as it arrives; see [`streamed`].

mod streamed;

use super::Events;
use crate::store::conversations::{StoredMessage, StoredToolCall};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::{
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

/// How long a client whose server answered a streamed request with an empty stream asks for
/// whole replies before it tries streaming again ([`ModelSettings::streaming_retry_after`]).
pub const STREAMING_RETRY_AFTER: Duration = Duration::from_secs(600);

#[derive(Debug, Clone)]
pub struct ModelSettings {
    pub api_key: String,
    pub base_url: String,
    pub model: String,
    pub timeout: Duration,
    pub max_retries: u32,
    /// Sampling temperature; `None` leaves it to the server.
    pub temperature: Option<f64>,
    /// After an empty stream, how long to ask for whole replies before streaming again
    /// ([`STREAMING_RETRY_AFTER`]; not configurable from the environment).
    pub streaming_retry_after: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// Nothing usable came back (network, timeout, 429/5xx after the retries).
    #[error("the model at {0} is unavailable: {1}")]
    Unavailable(String, String),
    /// The model answered with an error or with something that is not a chat completion.
    #[error("the model failed: {0}")]
    Failed(String),
}

/// What the model said in one round: text, tool calls, or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelReply {
    pub content: Option<String>,
    pub tool_calls: Vec<StoredToolCall>,
}

#[derive(Debug, Serialize)]
struct WireRequest<'a> {
    model: &'a str,
    messages: &'a [Value],
    tools: &'a [Value],
    tool_choice: &'static str,
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct WireResponse {
    choices: Vec<WireChoice>,
}

#[derive(Debug, Deserialize)]
struct WireChoice {
    message: WireMessage,
}

#[derive(Debug, Deserialize)]
struct WireMessage {
    content: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<WireToolCall>>,
}

#[derive(Debug, Deserialize)]
struct WireToolCall {
    id: String,
    function: WireFunction,
}

#[derive(Debug, Deserialize)]
struct WireFunction {
    name: String,
    #[serde(default)]
    arguments: String,
}

/// The chat-completions message for one stored message.
pub fn wire_message(message: &StoredMessage) -> Value {
    match message {
        StoredMessage::User { content } => json!({"role": "user", "content": content}),
        StoredMessage::Assistant { content, tool_calls } if tool_calls.is_empty() => {
            json!({"role": "assistant", "content": content.clone().unwrap_or_default()})
        }
        // `content` is a string even when the message only carries tool calls: llama.cpp's
        // server (pydantic) answers 500 to `null` and to a missing field, and OpenAI takes "".
        StoredMessage::Assistant { content, tool_calls } => json!({
            "role": "assistant",
            "content": content.clone().unwrap_or_default(),
            "tool_calls": tool_calls.iter().map(|call| json!({
                "id": call.id, "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            })).collect::<Vec<_>>(),
        }),
        StoredMessage::Tool { tool_call_id, content, .. } => {
            json!({"role": "tool", "tool_call_id": tool_call_id, "content": content})
        }
    }
}

#[derive(Debug, Clone)]
pub struct ModelClient {
    http: reqwest::Client,
    /// `{OPENAI_BASE_URL}/chat/completions`
    endpoint: String,
    settings: ModelSettings,
    /// When the server last answered a streamed request with an empty stream: llama-cpp-python
    /// (0.3.x, `chatml-function-calling`) does that to every `stream: true` request with tools
    /// ("Automatic streaming tool choice is not supported", in its log only). For
    /// `streaming_retry_after` from then this client asks for whole replies and passes each
    /// reply's text on in one piece; then it tries streaming again, so that one empty stream
    /// for another reason (a proxy, a server restarting) does not turn streaming off until the
    /// process restarts. Against llama-cpp-python that costs one empty stream per period.
    empty_stream_at: Arc<Mutex<Option<Instant>>>,
}

impl ModelClient {
    pub fn new(settings: ModelSettings) -> Result<Self, reqwest::Error> {
        crate::install_crypto_provider();
        // No client-wide total timeout: a whole reply must arrive within `timeout`, but a
        // streamed one may take longer as long as it keeps coming (each request sets its own).
        let http = reqwest::Client::builder().connect_timeout(Duration::from_secs(5)).build()?;
        let endpoint = format!("{}/chat/completions", settings.base_url);
        Ok(Self { http, endpoint, settings, empty_stream_at: Arc::default() })
    }

    /// Whether a streamed request had an empty stream less than `streaming_retry_after` ago.
    fn asks_for_whole_replies(&self) -> bool {
        let empty_stream_at = *self.empty_stream_at.lock().unwrap_or_else(PoisonError::into_inner);
        empty_stream_at.is_some_and(|at| at.elapsed() < self.settings.streaming_retry_after)
    }

    pub fn model(&self) -> &str {
        &self.settings.model
    }

    pub fn base_url(&self) -> &str {
        &self.settings.base_url
    }

    /// One chat-completions call, retried with exponential backoff when the failure may pass
    /// (see [`Attempt::may_pass`]), at most `max_retries` times. When `events` streams, the
    /// model streams, its text goes to `events` as it arrives, and a failure is retried only
    /// while none of the reply has gone out.
    ///
    /// A JSON client's turn asks for the whole reply (`"stream": false`): nobody watches it
    /// come, and a whole reply can be retried after any failure.
    pub async fn complete(
        &self,
        messages: &[Value],
        tools: &[Value],
        events: &Events,
    ) -> Result<ModelReply, ModelError> {
        let mut stream = events.is_streaming() && !self.asks_for_whole_replies();
        let body = |stream| {
            let request = WireRequest {
                model: &self.settings.model,
                messages,
                tools,
                tool_choice: "auto",
                stream,
                temperature: self.settings.temperature,
            };
            serde_json::to_vec(&request).map_err(|error| ModelError::Failed(error.to_string()))
        };
        let mut delay = Duration::from_millis(500);
        let mut attempt = 0;
        loop {
            let mut used = false;
            let sent = if stream {
                self.send_streamed(&body(true)?, events, &mut used).await
            } else {
                self.send(&body(false)?).await.and_then(|response| reply_parts(response).map_err(Attempt::Malformed))
            };
            match sent {
                Ok((content, tool_calls)) => {
                    let reply = checked(content, tool_calls)?;
                    if !stream && let Some(text) = &reply.content {
                        events.text(text);
                    }
                    return Ok(reply);
                }
                Err(Attempt::Empty) => {
                    tracing::warn!(
                        base_url = %self.settings.base_url,
                        whole_replies_for_secs = self.settings.streaming_retry_after.as_secs(),
                        "the model answered a streamed request with an empty stream; asking it for whole replies for a while"
                    );
                    *self.empty_stream_at.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
                    stream = false;
                }
                Err(failure) if !used && attempt < self.settings.max_retries && failure.may_pass() => {
                    attempt += 1;
                    tracing::warn!(error = %failure, attempt, retry_in_ms = delay.as_millis() as u64, "model call failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(failure) if failure.may_pass() => {
                    return Err(ModelError::Unavailable(self.settings.base_url.clone(), failure.to_string()));
                }
                Err(failure) => return Err(ModelError::Failed(failure.to_string())),
            }
        }
    }

    /// One HTTP request, no retry. Plain reqwest rather than async-openai: its client retries
    /// 429s and 5xx three more times by itself, with no way to turn that off, which multiplied
    /// `OPENAI_MAX_RETRIES` and retried requests the server had called invalid.
    async fn send(&self, body: &[u8]) -> Result<WireResponse, Attempt> {
        let response = self.request(body).timeout(self.settings.timeout).send().await.map_err(Attempt::Network)?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(Attempt::Network)?;
        if !(200..300).contains(&status) {
            return Err(Attempt::Status(status, String::from_utf8_lossy(&bytes).into_owned()));
        }
        serde_json::from_slice(&bytes)
            .map_err(|error| Attempt::Malformed(format!("{error} in {}", excerpt(&String::from_utf8_lossy(&bytes)))))
    }

    fn request(&self, body: &[u8]) -> reqwest::RequestBuilder {
        self.http
            .post(&self.endpoint)
            .bearer_auth(&self.settings.api_key)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec())
    }
}

/// Why one call failed.
#[derive(Debug)]
enum Attempt {
    /// No answer: connection, TLS, time-out.
    Network(reqwest::Error),
    /// An error status, with the body as it came.
    Status(u16, String),
    /// A success status whose body is not a chat completion.
    Malformed(String),
    /// A streamed reply that stopped coming for `OPENAI_TIMEOUT_SECS`.
    Stalled(Duration),
    /// A streamed reply that ended before its last chunk (the connection closed).
    Cut,
    /// An error the server sent inside a streamed reply.
    InBand(String),
    /// A streamed reply that ended cleanly without a single event: a server that cannot
    /// stream this request (see `ModelClient::whole_replies_only`).
    Empty,
}

impl Attempt {
    /// Whether the same request may succeed if sent again: a network failure, a time-out, 408,
    /// 429, or a 5xx that does not blame the request. A 4xx says the request is wrong, and so
    /// does a 5xx whose body is a validation error (llama.cpp's server answers 500 with
    /// pydantic's "validation error" text): retrying those only makes the person wait for the
    /// same failure.
    fn may_pass(&self) -> bool {
        match self {
            Attempt::Network(_) | Attempt::Stalled(_) | Attempt::Cut | Attempt::Empty => true,
            Attempt::Status(408 | 429, _) => true,
            Attempt::Status(500..=599, body) => !blames_the_request(body),
            Attempt::Status(..) | Attempt::Malformed(_) | Attempt::InBand(_) => false,
        }
    }
}

impl std::fmt::Display for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // Every cause in turn: "error sending request" alone hides an untrusted certificate.
            Attempt::Network(error) => {
                write!(f, "{error}")?;
                let mut source = std::error::Error::source(error);
                while let Some(cause) = source {
                    write!(f, ": {cause}")?;
                    source = cause.source();
                }
                Ok(())
            }
            Attempt::Status(status, body) => {
                // OpenAI's `{"error": {"message": ...}}` when it is there, else the body.
                let message = serde_json::from_str::<Value>(body)
                    .ok()
                    .and_then(|value| value["error"]["message"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| body.clone());
                write!(f, "HTTP {status}: {}", excerpt(&message))
            }
            Attempt::Malformed(detail) => write!(f, "not a chat completion: {detail}"),
            Attempt::Stalled(idle) => write!(f, "the streamed reply stopped coming for {} s", idle.as_secs()),
            Attempt::Cut => f.write_str("the streamed reply ended before its last chunk"),
            Attempt::Empty => f.write_str("the streamed reply was empty"),
            Attempt::InBand(message) => write!(f, "error in the streamed reply: {}", excerpt(message)),
        }
    }
}

/// A body that says the request itself is invalid.
fn blames_the_request(body: &str) -> bool {
    let body = body.to_ascii_lowercase();
    ["validation error", "invalid_request_error"].iter().any(|marker| body.contains(marker))
}

/// At most 500 characters of a body, for an error message.
fn excerpt(text: &str) -> String {
    match text.char_indices().nth(500) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// PostgreSQL's text and jsonb cannot hold NUL, raw or as a JSON `\u0000` escape.
fn holds_nul(text: &str) -> bool {
    text.contains('\0') || text.contains("\\u0000")
}

/// The text and the tool calls of a whole (not streamed) reply.
fn reply_parts(response: WireResponse) -> Result<(Option<String>, Vec<StoredToolCall>), String> {
    let choice = response.choices.into_iter().next().ok_or_else(|| "no choices".to_owned())?;
    let tool_calls = choice
        .message
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .map(|call| StoredToolCall { id: call.id, name: call.function.name, arguments: call.function.arguments })
        .collect();
    Ok((choice.message.content, tool_calls))
}

/// A reply, whole or streamed, as the turn stores it.
fn checked(content: Option<String>, tool_calls: Vec<StoredToolCall>) -> Result<ModelReply, ModelError> {
    // A reply that cannot be stored is the model's error (502, the turn so far kept), not ours.
    if content.as_deref().is_some_and(holds_nul)
        || tool_calls.iter().any(|call| holds_nul(&call.id) || holds_nul(&call.name) || holds_nul(&call.arguments))
    {
        return Err(ModelError::Failed("the reply contains a NUL character, which cannot be stored".to_owned()));
    }
    Ok(ModelReply { content: content.filter(|text| !text.trim().is_empty()), tool_calls })
}

#[cfg(test)]
fn reply_of(response: WireResponse) -> Result<ModelReply, ModelError> {
    let (content, tool_calls) = reply_parts(response).map_err(ModelError::Failed)?;
    checked(content, tool_calls)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_holding_nul_anywhere_is_the_models_error() {
        let reply = |message: serde_json::Value| {
            reply_of(serde_json::from_value(serde_json::json!({"choices": [{"message": message}]})).unwrap())
        };
        let call = |id: &str, name: &str, arguments: &str| {
            serde_json::json!({"content": "", "tool_calls": [{"id": id, "type": "function",
                "function": {"name": name, "arguments": arguments}}]})
        };
        assert!(reply(serde_json::json!({"content": "fine\u{0}"})).is_err());
        assert!(reply(call("call\u{0}", "add_task", "{}")).is_err());
        assert!(reply(call("call_1", "add\u{0}task", "{}")).is_err());
        assert!(reply(call("call_1", "add_task", r#"{"title":"a\u0000b"}"#)).is_err());
        assert!(reply(call("call_1", "add_task", r#"{"title":"a\nb"}"#)).is_ok());
    }

    #[test]
    fn assistant_tool_calls_replay_in_the_chat_completions_shape() {
        let message = StoredMessage::Assistant {
            content: None,
            tool_calls: vec![StoredToolCall {
                id: "call_1".into(),
                name: "add_task".into(),
                arguments: "{\"title\":\"x\"}".into(),
            }],
        };
        let wire = wire_message(&message);
        assert_eq!(wire["role"], "assistant");
        assert_eq!(wire["content"], "", "a string, never null or absent");
        assert_eq!(wire["tool_calls"][0]["id"], "call_1");
        assert_eq!(wire["tool_calls"][0]["type"], "function");
        assert_eq!(wire["tool_calls"][0]["function"]["arguments"], "{\"title\":\"x\"}");
        let result =
            StoredMessage::Tool { tool_call_id: "call_1".into(), name: "add_task".into(), content: "{}".into() };
        assert_eq!(wire_message(&result)["tool_call_id"], "call_1");
    }
}

#[cfg(test)]
mod retry_tests {
    use super::*;

    #[test]
    fn only_failures_that_may_pass_are_retried() {
        for status in [408, 429, 500, 502, 503, 504] {
            assert!(Attempt::Status(status, "overloaded".into()).may_pass(), "{status}");
        }
        for status in [400, 401, 403, 404, 422] {
            assert!(!Attempt::Status(status, "bad".into()).may_pass(), "{status}");
        }
        // llama-cpp-python's answer to an assistant message with `"content": null`.
        let pydantic = r#"{"error":{"message":"7 validation errors for CreateChatCompletionRequest\nmessages.2.content\n  Input should be a valid string","type":"internal_server_error"}}"#;
        assert!(!Attempt::Status(500, pydantic.into()).may_pass());
        assert!(!Attempt::Status(500, r#"{"error":{"type":"invalid_request_error"}}"#.into()).may_pass());
        assert!(!Attempt::Malformed("expected value".into()).may_pass());
    }

    #[test]
    fn error_statuses_say_the_servers_message() {
        let openai = r#"{"error":{"message":"Invalid 'messages[2].content'","type":"invalid_request_error"}}"#;
        assert_eq!(Attempt::Status(400, openai.into()).to_string(), "HTTP 400: Invalid 'messages[2].content'");
        assert_eq!(
            Attempt::Status(502, "<html>bad gateway</html>".into()).to_string(),
            "HTTP 502: <html>bad gateway</html>"
        );
        assert!(Attempt::Status(500, "x".repeat(2000)).to_string().len() < 600);
    }
}
