//! A chat turn as server-sent events (`POST /api/{user_id}/chat` with
//! `Accept: text/event-stream`), and the decoder every client of such a stream uses: the web
//! app for our turns, the backend for an OpenAI-compatible model's `stream: true` replies.

use crate::{ChatResponse, ErrorBody, JsonReader, SerdeJson, ToolCallRecord};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One event of a streamed turn. On the wire each is `event: <type>` and `data: <this as
/// JSON>`, the JSON carrying the same `type`. A stream starts with `started`, ends with exactly
/// one `done` or `error`, and has any number of the others between.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ChatEvent {
    /// The conversation of this turn (new when the request named none); the person's message
    /// is stored.
    Started { conversation_id: String },
    /// More of the assistant's text, to append to what came before. `done.response` is the
    /// answer that is kept: text said between tool calls may be left out of it.
    TextDelta { text: String },
    /// The assistant asked for a tool; it runs next. `id` pairs it with its `tool_result`.
    ToolCall {
        id: String,
        name: String,
        #[cfg_attr(feature = "openapi", schema(value_type = Object))]
        arguments: Value,
    },
    /// The tool ran, or was refused (`record.result.ok` is false then); stored already.
    ToolResult { id: String, record: ToolCallRecord },
    /// Last, when the turn succeeded: the body a JSON request would have received.
    Done { response: ChatResponse },
    /// Last, when the turn failed after the stream began (the model failed or timed out): the
    /// status and body a JSON request would have received. Everything before it is stored.
    Error { status: u16, error: ErrorBody },
}

impl ChatEvent {
    /// The SSE `event:` name, the same as the JSON `type`.
    pub fn name(&self) -> &'static str {
        match self {
            ChatEvent::Started { .. } => "started",
            ChatEvent::TextDelta { .. } => "text_delta",
            ChatEvent::ToolCall { .. } => "tool_call",
            ChatEvent::ToolResult { .. } => "tool_result",
            ChatEvent::Done { .. } => "done",
            ChatEvent::Error { .. } => "error",
        }
    }

    /// The text of a `text_delta`; `None` for the other events.
    pub fn delta(&self) -> Option<&str> {
        match self {
            ChatEvent::TextDelta { text } => Some(text),
            _ => None,
        }
    }

    /// Whether the stream ends with this event.
    pub fn is_last(&self) -> bool {
        matches!(self, ChatEvent::Done { .. } | ChatEvent::Error { .. })
    }

    /// Reads one event of the wire: its `event:` name says which variant `data` holds, and
    /// the `type` in `data` must agree. Same result as deserializing `data` as a `ChatEvent`,
    /// but each variant's fields are read straight from the JSON: the derived (internally
    /// tagged) `Deserialize` buffers the whole event first, which doubles the deserializer
    /// code of every type inside an event (7 KB brotli of the web app).
    pub fn decode(name: &str, data: &str) -> Result<ChatEvent, DecodeError> {
        Self::decode_with(&SerdeJson, name, data)
    }

    /// [`ChatEvent::decode`] with another JSON parser (the browser's, in the web app).
    pub fn decode_with(json: &impl JsonReader, name: &str, data: &str) -> Result<ChatEvent, DecodeError> {
        // The payloads of the variants above, field for field: each variant is built from its
        // struct below, so a field added to a variant and not here does not compile.
        #[derive(Deserialize)]
        struct Tag {
            #[serde(rename = "type")]
            kind: String,
        }
        #[derive(Deserialize)]
        struct Started {
            conversation_id: String,
        }
        #[derive(Deserialize)]
        struct TextDelta {
            text: String,
        }
        #[derive(Deserialize)]
        struct ToolCall {
            id: String,
            name: String,
            arguments: Value,
        }
        #[derive(Deserialize)]
        struct ToolResult {
            id: String,
            record: ToolCallRecord,
        }
        #[derive(Deserialize)]
        struct Done {
            response: ChatResponse,
        }
        #[derive(Deserialize)]
        struct Error {
            status: u16,
            error: ErrorBody,
        }

        let read = |error| DecodeError::Unreadable { name: name.to_owned(), error };
        let tag: Tag = json.read(data).map_err(read)?;
        if tag.kind != name {
            return Err(DecodeError::Misnamed { name: name.to_owned(), kind: tag.kind });
        }
        let event = match name {
            "started" => json.read(data).map(|Started { conversation_id }| ChatEvent::Started { conversation_id }),
            "text_delta" => json.read(data).map(|TextDelta { text }| ChatEvent::TextDelta { text }),
            "tool_call" => {
                json.read(data).map(|ToolCall { id, name, arguments }| ChatEvent::ToolCall { id, name, arguments })
            }
            "tool_result" => json.read(data).map(|ToolResult { id, record }| ChatEvent::ToolResult { id, record }),
            "done" => json.read(data).map(|Done { response }| ChatEvent::Done { response }),
            "error" => json.read(data).map(|Error { status, error }| ChatEvent::Error { status, error }),
            _ => return Err(DecodeError::Unknown { name: name.to_owned() }),
        };
        event.map_err(read)
    }
}

/// Why [`ChatEvent::decode`] refused an event.
#[derive(Debug)]
pub enum DecodeError {
    /// The `event:` name is none of the contract's.
    Unknown { name: String },
    /// The `type` in the data is not the `event:` name.
    Misnamed { name: String, kind: String },
    /// The data is not that event's JSON.
    Unreadable { name: String, error: String },
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Unknown { name } => write!(f, "an unknown {name:?} event"),
            DecodeError::Misnamed { name, kind } => write!(f, "a {kind} event named {name:?}"),
            DecodeError::Unreadable { name, error } => write!(f, "an unreadable {name:?} event ({error})"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// One event of any server-sent event stream: its `event:` name (`message` when none was
/// given) and its `data:` lines joined by `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub event: String,
    pub data: String,
}

/// Cuts a byte stream into server-sent events as the chunks arrive, wherever the chunks are
/// split (inside a line, inside a UTF-8 character). Follows the HTML standard's parsing rules
/// for `event` and `data`; lines end with LF or CRLF (a lone CR, which no server we talk to
/// sends, is not a line end here); comments (`:` lines, keep-alives), `id` and `retry` are
/// skipped, and an event without data is not dispatched.
#[derive(Debug, Default)]
pub struct SseDecoder {
    pending: Vec<u8>,
    event: String,
    data: Vec<String>,
}

impl SseDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the next chunk and returns the events it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        self.pending.extend_from_slice(chunk);
        let mut events = Vec::new();
        let mut start = 0;
        while let Some(offset) = self.pending[start..].iter().position(|&byte| byte == b'\n') {
            let end = start + offset;
            let line = self.pending[start..end].strip_suffix(b"\r").unwrap_or(&self.pending[start..end]);
            let line = String::from_utf8_lossy(line).into_owned();
            start = end + 1;
            if let Some(event) = self.line(&line) {
                events.push(event);
            }
        }
        self.pending.drain(..start);
        events
    }

    /// The event a stream's last lines make when it ends without a blank line, if any.
    pub fn finish(&mut self) -> Option<SseEvent> {
        if !self.pending.is_empty() {
            let line = String::from_utf8_lossy(&std::mem::take(&mut self.pending)).into_owned();
            let line = line.strip_suffix('\r').unwrap_or(&line).to_owned();
            if let Some(event) = self.line(&line) {
                return Some(event);
            }
        }
        self.dispatch()
    }

    fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = value.to_owned(),
            "data" => self.data.push(value.to_owned()),
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = std::mem::take(&mut self.event);
        if self.data.is_empty() {
            return None;
        }
        let data = std::mem::take(&mut self.data).join("\n");
        Some(SseEvent { event: if event.is_empty() { "message".to_owned() } else { event }, data })
    }
}

/// One `ChatEvent` framed for the wire.
pub fn encode(event: &ChatEvent) -> String {
    let data = serde_json::to_string(event).expect("a ChatEvent always serializes");
    format!("event: {}\ndata: {data}\n\n", event.name())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn all_at_once(input: &[u8]) -> Vec<SseEvent> {
        let mut decoder = SseDecoder::new();
        let mut events = decoder.push(input);
        events.extend(decoder.finish());
        events
    }

    #[test]
    fn events_come_out_the_same_however_the_bytes_are_split() {
        let input =
            "event: text_delta\ndata: {\"text\":\"caf\u{e9} \u{1f600}\"}\n\n: keep-alive\n\ndata: a\r\ndata: b\r\n\r\n";
        let expected = vec![
            SseEvent { event: "text_delta".into(), data: "{\"text\":\"caf\u{e9} \u{1f600}\"}".into() },
            SseEvent { event: "message".into(), data: "a\nb".into() },
        ];
        assert_eq!(all_at_once(input.as_bytes()), expected);
        for size in 1..input.len() {
            let mut decoder = SseDecoder::new();
            let mut events: Vec<SseEvent> =
                input.as_bytes().chunks(size).flat_map(|chunk| decoder.push(chunk)).collect();
            events.extend(decoder.finish());
            assert_eq!(events, expected, "chunks of {size} bytes");
        }
    }

    #[test]
    fn fields_follow_the_standard() {
        // No space after the colon, a field without a colon, unknown fields, an event name
        // without data (not dispatched, and it does not leak into the next event).
        let events = all_at_once(b"data:x\nid: 7\nretry: 10\nbogus: y\ndata\n\nevent: lonely\n\ndata: z\n\n");
        assert_eq!(
            events,
            vec![
                SseEvent { event: "message".into(), data: "x\n".into() },
                SseEvent { event: "message".into(), data: "z".into() },
            ]
        );
        assert_eq!(all_at_once(b"data: [DONE]"), vec![SseEvent { event: "message".into(), data: "[DONE]".into() }]);
    }

    #[test]
    fn a_chat_event_survives_the_wire() {
        let record = ToolCallRecord {
            name: "add_task".into(),
            arguments: json!({"title": "pay bills"}),
            result: json!({"ok": true, "task": {"id": 3, "title": "pay bills"}}),
            change_id: Some(9),
            undone: false,
        };
        let events = vec![
            ChatEvent::Started { conversation_id: "c".into() },
            ChatEvent::TextDelta { text: "line one\nline two".into() },
            ChatEvent::ToolCall { id: "call_1".into(), name: "add_task".into(), arguments: json!({"title": "x"}) },
            ChatEvent::ToolResult { id: "call_1".into(), record: record.clone() },
            ChatEvent::Done {
                response: ChatResponse {
                    conversation_id: "c".into(),
                    response: "Added.".into(),
                    tool_calls: vec![record],
                },
            },
            ChatEvent::Error {
                status: 504,
                error: ErrorBody { error: "model_unavailable".into(), message: "timed out".into(), fields: vec![] },
            },
        ];
        let wire: String = events.iter().map(encode).collect();
        let decoded: Vec<ChatEvent> = all_at_once(wire.as_bytes())
            .into_iter()
            .map(|event| {
                // A client that reads `data` alone gets the same event as one that goes by the name.
                let parsed: ChatEvent = serde_json::from_str(&event.data).unwrap();
                assert_eq!(event.event, parsed.name());
                assert_eq!(ChatEvent::decode(&event.event, &event.data).unwrap(), parsed);
                parsed
            })
            .collect();
        assert_eq!(decoded, events);
        assert_eq!(decoded.iter().filter(|event| event.is_last()).count(), 2);
    }

    #[test]
    fn decode_refuses_what_is_not_the_contract() {
        let refused = |name: &str, data: &str| ChatEvent::decode(name, data).unwrap_err();
        assert!(matches!(refused("ping", r#"{"type":"ping"}"#), DecodeError::Unknown { name } if name == "ping"));
        let misnamed = refused("text_delta", r#"{"type":"started","conversation_id":"c"}"#);
        assert_eq!(misnamed.to_string(), r#"a started event named "text_delta""#);
        // No `type` at all, a field of the wrong type, a missing field, not JSON.
        for data in [r#"{"text":"a"}"#, r#"{"type":"text_delta","text":3}"#, r#"{"type":"text_delta"}"#, "text"] {
            let error = refused("text_delta", data);
            assert!(matches!(error, DecodeError::Unreadable { .. }), "{data}: {error:?}");
            assert!(error.to_string().starts_with(r#"an unreadable "text_delta" event ("#), "{error}");
        }
        // Fields the contract does not know are ignored, as the derived deserializer does.
        let event = ChatEvent::decode(
            "done",
            r#"{"type":"done","response":{"conversation_id":"c","response":"ok","tool_calls":[]},"extra":1}"#,
        );
        assert_eq!(
            event.unwrap(),
            ChatEvent::Done {
                response: ChatResponse { conversation_id: "c".into(), response: "ok".into(), tool_calls: vec![] }
            }
        );
        let error = refused("error", r#"{"type":"error","status":70000,"error":{"error":"x","message":"y"}}"#);
        assert!(matches!(error, DecodeError::Unreadable { .. }), "a status is a u16: {error:?}");
    }
}
