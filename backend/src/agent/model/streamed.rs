//! A streamed chat completion (`"stream": true`): server-sent events, each `data:` a
//! `chat.completion.chunk` whose `choices[0].delta` carries a piece of the text or pieces of
//! tool calls (by `index`: `id` and `function.name` in the first piece, `function.arguments`
//! split over the next), then a `finish_reason`, then `data: [DONE]`.
//!
//! Deadlines: the reply's headers must come within `OPENAI_TIMEOUT_SECS`, and so must each
//! next piece; a reply that keeps coming may take longer (the chat's own timeout bounds the
//! turn). A server that answers a whole JSON completion instead is taken as one piece.

use super::{Attempt, ModelClient, WireResponse, excerpt, reply_parts};
use crate::{agent::Events, store::conversations::StoredToolCall};
use api_types::stream::SseDecoder;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
struct Chunk {
    /// Empty in a usage-only chunk.
    #[serde(default)]
    choices: Vec<ChunkChoice>,
}

#[derive(Debug, Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    delta: Delta,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<DeltaCall>>,
}

#[derive(Debug, Deserialize)]
struct DeltaCall {
    #[serde(default)]
    index: Option<usize>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<DeltaFunction>,
}

#[derive(Debug, Deserialize)]
struct DeltaFunction {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

/// A reply put together from its chunks.
#[derive(Debug, Default)]
pub(super) struct Assembly {
    content: String,
    calls: BTreeMap<usize, StoredToolCall>,
    finished: bool,
    done: bool,
    /// Events taken, `[DONE]` included.
    taken: usize,
}

impl Assembly {
    /// Takes one event's data; returns the text it adds, to pass on.
    pub(super) fn take(&mut self, data: &str) -> Result<String, Attempt> {
        self.taken += 1;
        if data.trim() == "[DONE]" {
            self.done = true;
            return Ok(String::new());
        }
        let value: Value = serde_json::from_str(data)
            .map_err(|error| Attempt::Malformed(format!("{error} in the chunk {}", excerpt(data))))?;
        if let Some(error) = value.get("error") {
            let message = error.get("message").and_then(Value::as_str).map_or_else(|| error.to_string(), str::to_owned);
            return Err(Attempt::InBand(message));
        }
        let chunk: Chunk = serde_json::from_value(value)
            .map_err(|error| Attempt::Malformed(format!("{error} in the chunk {}", excerpt(data))))?;
        let Some(choice) = chunk.choices.into_iter().next() else { return Ok(String::new()) };
        if choice.finish_reason.is_some() {
            self.finished = true;
        }
        for piece in choice.delta.tool_calls.into_iter().flatten() {
            self.call_piece(piece);
        }
        let text = choice.delta.content.unwrap_or_default();
        self.content.push_str(&text);
        Ok(text)
    }

    fn call_piece(&mut self, piece: DeltaCall) {
        let id = piece.id.filter(|id| !id.is_empty());
        // Every server we know numbers the calls; without a number, a new id starts a new call.
        let index = piece.index.unwrap_or_else(|| match (self.calls.last_key_value(), &id) {
            (Some((last, call)), Some(id)) if call.id != *id => last + 1,
            (Some((last, _)), _) => *last,
            (None, _) => 0,
        });
        let call = self.calls.entry(index).or_insert_with(|| StoredToolCall {
            id: String::new(),
            name: String::new(),
            arguments: String::new(),
        });
        if let Some(id) = id {
            call.id = id;
        }
        if let Some(function) = piece.function {
            if let Some(name) = function.name.filter(|name| !name.is_empty()) {
                call.name = name;
            }
            call.arguments.push_str(&function.arguments.unwrap_or_default());
        }
    }

    /// The whole reply, once the stream has ended.
    pub(super) fn finish(self) -> Result<(Option<String>, Vec<StoredToolCall>), Attempt> {
        if self.taken == 0 {
            return Err(Attempt::Empty);
        }
        if !self.done && !self.finished {
            return Err(Attempt::Cut);
        }
        let mut calls = Vec::with_capacity(self.calls.len());
        for (index, mut call) in self.calls {
            if call.name.is_empty() {
                return Err(Attempt::Malformed(format!("tool call {index} has no function name")));
            }
            if call.id.is_empty() {
                // Stored and replayed with its result, so it needs an id of its own.
                call.id = format!("call_{}", uuid::Uuid::new_v4().simple());
            }
            calls.push(call);
        }
        Ok(((!self.content.is_empty()).then_some(self.content), calls))
    }
}

impl ModelClient {
    /// One streamed request, no retry. `used` turns true once any of the reply went to
    /// `events`: from then on a failure ends the turn rather than being retried, since the
    /// person has seen part of an answer a second reply would not continue.
    pub(super) async fn send_streamed(
        &self,
        body: &[u8],
        events: &Events,
        used: &mut bool,
    ) -> Result<(Option<String>, Vec<StoredToolCall>), Attempt> {
        let idle = self.settings.timeout;
        let mut response = tokio::time::timeout(idle, self.request(body).send())
            .await
            .map_err(|_| Attempt::Stalled(idle))?
            .map_err(Attempt::Network)?;
        let status = response.status().as_u16();
        let streams = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.trim_start().to_ascii_lowercase().starts_with("text/event-stream"));
        if !(200..300).contains(&status) || !streams {
            let bytes = tokio::time::timeout(idle, response.bytes())
                .await
                .map_err(|_| Attempt::Stalled(idle))?
                .map_err(Attempt::Network)?;
            if !(200..300).contains(&status) {
                return Err(Attempt::Status(status, String::from_utf8_lossy(&bytes).into_owned()));
            }
            let whole: WireResponse = serde_json::from_slice(&bytes).map_err(|error| {
                Attempt::Malformed(format!("{error} in {}", excerpt(&String::from_utf8_lossy(&bytes))))
            })?;
            let (content, calls) = reply_parts(whole).map_err(Attempt::Malformed)?;
            if let Some(text) = &content {
                *used = true;
                events.text(text);
            }
            return Ok((content, calls));
        }
        let mut decoder = SseDecoder::new();
        let mut assembly = Assembly::default();
        while !assembly.done {
            let chunk = tokio::time::timeout(idle, response.chunk())
                .await
                .map_err(|_| Attempt::Stalled(idle))?
                .map_err(Attempt::Network)?;
            let events_in_chunk = match chunk {
                Some(bytes) => decoder.push(&bytes),
                None => {
                    let last: Vec<_> = decoder.finish().into_iter().collect();
                    if last.is_empty() {
                        break;
                    }
                    last
                }
            };
            for event in events_in_chunk {
                let text = assembly.take(&event.data)?;
                if !text.is_empty() {
                    *used = true;
                    events.text(&text);
                }
                if assembly.done {
                    break;
                }
            }
        }
        assembly.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assembled(chunks: &[&str]) -> Result<(Option<String>, Vec<StoredToolCall>), Attempt> {
        let mut assembly = Assembly::default();
        for chunk in chunks {
            assembly.take(chunk)?;
        }
        assembly.finish()
    }

    #[test]
    fn tool_calls_are_put_together_by_index() {
        let (content, calls) = assembled(&[
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#,
            r#"{"choices":[{"delta":{"content":"Let me "}}]}"#,
            r#"{"choices":[{"delta":{"content":"add that."}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"add_task","arguments":""}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"ti"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"list_tasks","arguments":"{}"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"tle\":\"milk\"}"}}]}}]}"#,
            r#"{"choices":[{"delta":{},"finish_reason":"tool_calls"}]}"#,
            r#"{"choices":[],"usage":{"total_tokens":9}}"#,
            "[DONE]",
        ])
        .unwrap();
        assert_eq!(content.as_deref(), Some("Let me add that."));
        assert_eq!(
            calls,
            vec![
                StoredToolCall {
                    id: "call_a".into(),
                    name: "add_task".into(),
                    arguments: r#"{"title":"milk"}"#.into()
                },
                StoredToolCall { id: "call_b".into(), name: "list_tasks".into(), arguments: "{}".into() },
            ]
        );
    }

    /// A stream as a real server sent it, cut into chunks of `size` bytes.
    fn replayed(wire: &str, size: usize) -> (Option<String>, Vec<StoredToolCall>) {
        let mut decoder = SseDecoder::new();
        let mut assembly = Assembly::default();
        for chunk in wire.as_bytes().chunks(size) {
            for event in decoder.push(chunk) {
                assembly.take(&event.data).unwrap();
            }
        }
        assert!(decoder.finish().is_none());
        assembly.finish().unwrap()
    }

    /// Captured from llama-cpp-python 0.3.36's server (SmolLM2 135M, `chatml-function-calling`),
    /// see docs/api.md: it repeats the call's `id` and `function.name` in every piece, and sends
    /// `null` for the fields a piece does not carry.
    #[test]
    fn llama_cpp_python_streams_parse() {
        for size in [1, 7, 4096] {
            let (content, calls) = replayed(include_str!("fixtures/llama-cpp-python-text.sse"), size);
            assert_eq!(content.as_deref(), Some("Awesome, welcome to the city of Elysium!"));
            assert!(calls.is_empty());
            let (content, calls) = replayed(include_str!("fixtures/llama-cpp-python-tool-call.sse"), size);
            assert_eq!(content, None);
            assert_eq!(calls.len(), 1);
            assert_eq!(
                (calls[0].id.as_str(), calls[0].name.as_str()),
                ("call__0_add_task_cmpl-260d1d38-5a40-484c-8f57-d1739cf5bff1", "add_task")
            );
            assert_eq!(calls[0].arguments, r#"{"title": "buy milk"}"#);
        }
    }

    #[test]
    fn a_stream_that_stops_early_or_says_nonsense_fails() {
        assert!(matches!(assembled(&[]), Err(Attempt::Empty)), "the answer llama-cpp-python gives to tools");
        assert!(matches!(assembled(&[r#"{"choices":[{"delta":{"content":"Hel"}}]}"#]), Err(Attempt::Cut)));
        assert!(matches!(assembled(&[r#"{"choices":[{"delta":{"content":"#]), Err(Attempt::Malformed(_))));
        assert!(matches!(
            assembled(&[r#"{"error":{"message":"overloaded","type":"server_error"}}"#]),
            Err(Attempt::InBand(message)) if message == "overloaded"
        ));
        let nameless = [
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c","function":{"arguments":"{}"}}]},"finish_reason":"tool_calls"}]}"#,
        ];
        assert!(matches!(assembled(&nameless), Err(Attempt::Malformed(_))));
        // A finish_reason without [DONE] is a whole reply (some servers close right after it).
        let (content, _) = assembled(&[r#"{"choices":[{"delta":{"content":"Hi"},"finish_reason":"stop"}]}"#]).unwrap();
        assert_eq!(content.as_deref(), Some("Hi"));
    }

    #[test]
    fn calls_without_an_index_or_an_id_still_come_apart() {
        let (_, calls) = assembled(&[
            r#"{"choices":[{"delta":{"tool_calls":[{"id":"a","function":{"name":"list_tasks","arguments":"{"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"}"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"id":"b","function":{"name":"add_task","arguments":"{}"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":2,"function":{"name":"list_tasks","arguments":"{}"}}]},"finish_reason":"tool_calls"}]}"#,
            "[DONE]",
        ])
        .unwrap();
        let shape: Vec<(&str, &str)> = calls.iter().map(|call| (call.name.as_str(), call.arguments.as_str())).collect();
        assert_eq!(shape, [("list_tasks", "{}"), ("add_task", "{}"), ("list_tasks", "{}")]);
        assert_eq!((calls[0].id.as_str(), calls[1].id.as_str()), ("a", "b"));
        assert!(calls[2].id.starts_with("call_"), "an id is made up for a call without one");
    }
}
