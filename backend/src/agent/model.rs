//! An OpenAI-compatible chat-completions model (OpenAI, Azure, Ollama, vLLM, llama.cpp...)
//! through async-openai, with a timeout and retries with backoff on 429, 5xx and network
//! failures. Requests and replies are our own small wire types ("bring your own types"), so
//! the stored transcript maps onto them one to one.

use crate::store::conversations::{StoredMessage, StoredToolCall};
use async_openai::{Client, config::OpenAIConfig, error::OpenAIError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct ModelSettings {
    pub api_key: String,
    pub base_url: String,
    pub model: String,
    pub timeout: Duration,
    pub max_retries: u32,
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
        StoredMessage::Assistant { content, tool_calls } => json!({
            "role": "assistant",
            "content": content,
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
    client: Client<OpenAIConfig>,
    settings: ModelSettings,
}

impl ModelClient {
    pub fn new(settings: ModelSettings) -> Result<Self, reqwest::Error> {
        crate::install_crypto_provider();
        let http =
            reqwest::Client::builder().timeout(settings.timeout).connect_timeout(Duration::from_secs(5)).build()?;
        let config =
            OpenAIConfig::new().with_api_key(settings.api_key.clone()).with_api_base(settings.base_url.clone());
        Ok(Self { client: Client::with_config(config).with_http_client(http), settings })
    }

    pub fn model(&self) -> &str {
        &self.settings.model
    }

    pub fn base_url(&self) -> &str {
        &self.settings.base_url
    }

    /// One chat-completions call, retried with exponential backoff when the failure is
    /// likely to pass (429, 5xx, network, timeout).
    pub async fn complete(&self, messages: &[Value], tools: &[Value]) -> Result<ModelReply, ModelError> {
        let request = WireRequest { model: &self.settings.model, messages, tools, tool_choice: "auto", stream: false };
        let request = serde_json::to_value(&request).map_err(|error| ModelError::Failed(error.to_string()))?;
        let mut delay = Duration::from_millis(500);
        let mut attempt = 0;
        loop {
            let result: Result<WireResponse, OpenAIError> = self.client.chat().create_byot(request.clone()).await;
            match result {
                Ok(response) => return reply_of(response),
                Err(error) if attempt < self.settings.max_retries && is_transient(&error) => {
                    attempt += 1;
                    tracing::warn!(%error, attempt, retry_in_ms = delay.as_millis() as u64, "model call failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(error) if is_transient(&error) => {
                    return Err(ModelError::Unavailable(self.settings.base_url.clone(), error.to_string()));
                }
                Err(error) => return Err(ModelError::Failed(error.to_string())),
            }
        }
    }
}

fn is_transient(error: &OpenAIError) -> bool {
    match error {
        OpenAIError::Reqwest(_) => true,
        OpenAIError::ApiError(response) => {
            response.status_code.as_u16() == 429 || response.status_code.is_server_error()
        }
        _ => false,
    }
}

fn reply_of(response: WireResponse) -> Result<ModelReply, ModelError> {
    let choice = response.choices.into_iter().next().ok_or_else(|| ModelError::Failed("no choices".to_owned()))?;
    let tool_calls = choice
        .message
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .map(|call| StoredToolCall { id: call.id, name: call.function.name, arguments: call.function.arguments })
        .collect();
    Ok(ModelReply { content: choice.message.content.filter(|text| !text.trim().is_empty()), tool_calls })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(wire["tool_calls"][0]["id"], "call_1");
        assert_eq!(wire["tool_calls"][0]["type"], "function");
        assert_eq!(wire["tool_calls"][0]["function"]["arguments"], "{\"title\":\"x\"}");
        let result =
            StoredMessage::Tool { tool_call_id: "call_1".into(), name: "add_task".into(), content: "{}".into() };
        assert_eq!(wire_message(&result)["tool_call_id"], "call_1");
    }
}
