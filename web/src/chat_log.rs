//! The chat log as data: the turns on screen, rebuilt from stored messages or grown event by
//! event while an answer streams, and the bytes of that stream cut into events. Plain Rust
//! without a browser API, so that `cargo test -p web` checks it on the host.

use api_types::{ChatEvent, ChatMessage, ErrorBody, JsonReader, MessageRole, SseDecoder, SseEvent, ToolCallRecord};
use serde_json::Value;

/// A tool call shown as a chip under an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Chip {
    /// Asked for by the assistant and not finished yet: only seen while an answer streams.
    Running { id: String, name: String, arguments: Value },
    /// Ran (or was refused), with what it did.
    Ran(ToolCallRecord),
}

impl Chip {
    /// One line for people: "running add_task…" until the tool's result is in.
    pub fn summary(&self) -> String {
        match self {
            Chip::Running { name, .. } => format!("running {name}…"),
            Chip::Ran(record) => record.summary(),
        }
    }

    pub fn arguments(&self) -> &Value {
        match self {
            Chip::Running { arguments, .. } => arguments,
            Chip::Ran(record) => &record.arguments,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    pub from_user: bool,
    pub text: String,
    pub chips: Vec<Chip>,
    /// A message of the user's that never reached the assistant.
    pub failed: bool,
    /// The assistant's answer while it streams in: its text and chips grow with each event.
    pub streaming: bool,
    /// A tool ran since the text was said: the next text starts afresh, as `done` keeps only
    /// the text after the last tool call.
    after_tool: bool,
}

/// What an event did to a streaming answer, for the panel to follow up.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// The person's message is stored, in this conversation.
    Started { conversation_id: String },
    /// More text, or a tool about to run.
    Grew,
    /// A tool ran; `changed_tasks` when it succeeded at something that changes tasks.
    ToolRan { changed_tasks: bool },
    /// The answer is complete and shows what was kept.
    Done { conversation_id: String },
    /// The turn failed after it began; what came before is stored.
    Failed { status: u16, error: ErrorBody },
}

impl Turn {
    /// The person's message.
    pub fn said(text: String) -> Self {
        Self { from_user: true, text, chips: Vec::new(), failed: false, streaming: false, after_tool: false }
    }

    /// An answer of the assistant, as stored.
    pub fn answer(text: String, tool_calls: Vec<ToolCallRecord>) -> Self {
        let chips = tool_calls.into_iter().map(Chip::Ran).collect();
        Self { from_user: false, text, chips, failed: false, streaming: false, after_tool: false }
    }

    /// An answer about to stream in: empty until its first event.
    pub fn streaming() -> Self {
        Self { streaming: true, ..Self::answer(String::new(), Vec::new()) }
    }

    /// Applies one event of a streamed turn to this, the answer it builds.
    pub fn apply(&mut self, event: ChatEvent) -> Applied {
        match event {
            ChatEvent::Started { conversation_id } => Applied::Started { conversation_id },
            ChatEvent::TextDelta { text } => {
                if std::mem::take(&mut self.after_tool) {
                    self.text.clear();
                }
                self.text.push_str(&text);
                Applied::Grew
            }
            ChatEvent::ToolCall { id, name, arguments } => {
                self.chips.push(Chip::Running { id, name, arguments });
                self.after_tool = true;
                Applied::Grew
            }
            ChatEvent::ToolResult { id, record } => {
                let changed_tasks = record.succeeded() && record.changes_tasks();
                let running = self
                    .chips
                    .iter()
                    .position(|chip| matches!(chip, Chip::Running { id: running, .. } if *running == id));
                match running {
                    Some(index) => self.chips[index] = Chip::Ran(record),
                    None => self.chips.push(Chip::Ran(record)),
                }
                self.after_tool = true;
                Applied::ToolRan { changed_tasks }
            }
            ChatEvent::Done { response } => {
                // What was kept replaces what streamed (text said between tool calls may be
                // left out); a change undone from its chip while the answer streamed stays undone.
                let undone: Vec<i64> = self
                    .chips
                    .iter()
                    .filter_map(|chip| match chip {
                        Chip::Ran(record) if record.undone => record.change_id,
                        _ => None,
                    })
                    .collect();
                let mut kept = Turn::answer(response.response, response.tool_calls);
                for chip in &mut kept.chips {
                    if let Chip::Ran(record) = chip
                        && record.change_id.is_some_and(|change| undone.contains(&change))
                    {
                        record.undone = true;
                    }
                }
                *self = kept;
                Applied::Done { conversation_id: response.conversation_id }
            }
            ChatEvent::Error { status, error } => {
                self.streaming = false;
                self.chips.retain(|chip| matches!(chip, Chip::Ran(_)));
                Applied::Failed { status, error }
            }
        }
    }

    /// Whether there is anything to show.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty() && self.chips.is_empty()
    }
}

/// Stored messages as turns: user and assistant text; tool calls (asked for in assistant
/// messages, answered in `tool` messages) become chips of the next assistant answer.
pub fn turns_from(messages: Vec<ChatMessage>) -> Vec<Turn> {
    let mut turns = Vec::new();
    let mut chips: Vec<ToolCallRecord> = Vec::new();
    for message in messages {
        let text = message.content.unwrap_or_default();
        match message.role {
            MessageRole::User => {
                if !chips.is_empty() {
                    turns.push(Turn::answer(String::new(), std::mem::take(&mut chips)));
                }
                turns.push(Turn::said(text));
            }
            MessageRole::Assistant => {
                chips.extend(message.tool_calls);
                if !text.trim().is_empty() {
                    turns.push(Turn::answer(text, std::mem::take(&mut chips)));
                }
            }
            MessageRole::Tool => {}
        }
    }
    if !chips.is_empty() {
        turns.push(Turn::answer(String::new(), chips));
    }
    turns
}

/// The events of a streamed turn, cut from its bytes as they arrive (however they are split),
/// their JSON read by `json` (the browser's parser in the app, serde_json in the tests).
#[derive(Debug)]
pub struct EventStream<J> {
    decoder: SseDecoder,
    json: J,
}

impl<J: JsonReader> EventStream<J> {
    pub fn new(json: J) -> Self {
        Self { decoder: SseDecoder::default(), json }
    }

    /// The events this chunk completes; an event that is not the contract's is an error.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<ChatEvent>, String> {
        self.decoder.push(chunk).into_iter().map(|event| self.parse(event)).collect()
    }

    /// The event left when the body ends without a blank line, if any.
    pub fn finish(&mut self) -> Result<Option<ChatEvent>, String> {
        let last = self.decoder.finish();
        last.map(|event| self.parse(event)).transpose()
    }

    fn parse(&self, event: SseEvent) -> Result<ChatEvent, String> {
        ChatEvent::decode_with(&self.json, &event.event, &event.data).map_err(|error| error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api_types::{ChatResponse, SerdeJson, stream::encode};
    use serde_json::json;

    fn record(change_id: i64, title: &str) -> ToolCallRecord {
        ToolCallRecord {
            name: "add_task".into(),
            arguments: json!({"title": title}),
            result: json!({"ok": true, "task": {"id": change_id, "title": title}}),
            change_id: Some(change_id),
            undone: false,
        }
    }

    #[test]
    fn an_answer_grows_with_its_events_and_ends_as_it_was_kept() {
        let mut turn = Turn::streaming();
        assert!(turn.is_empty());
        let started = turn.apply(ChatEvent::Started { conversation_id: "c1".into() });
        assert_eq!(started, Applied::Started { conversation_id: "c1".into() });
        assert_eq!(turn.apply(ChatEvent::TextDelta { text: "Adding ".into() }), Applied::Grew);
        turn.apply(ChatEvent::TextDelta { text: "it…".into() });
        assert_eq!(turn.text, "Adding it…");

        turn.apply(ChatEvent::ToolCall { id: "a".into(), name: "add_task".into(), arguments: json!({"title": "pay"}) });
        turn.apply(ChatEvent::ToolCall { id: "b".into(), name: "list_tasks".into(), arguments: json!({}) });
        assert!(matches!(&turn.chips[..], [Chip::Running { .. }, Chip::Running { .. }]));
        assert_eq!(turn.chips[0].summary(), "running add_task…");
        assert_eq!(turn.chips[0].arguments(), &json!({"title": "pay"}));

        // Results pair with their calls by id, whatever their order.
        let listed = ToolCallRecord {
            name: "list_tasks".into(),
            arguments: json!({}),
            result: json!({"ok": true, "tasks": []}),
            change_id: None,
            undone: false,
        };
        let ran = turn.apply(ChatEvent::ToolResult { id: "b".into(), record: listed.clone() });
        assert_eq!(ran, Applied::ToolRan { changed_tasks: false });
        let ran = turn.apply(ChatEvent::ToolResult { id: "a".into(), record: record(7, "pay") });
        assert_eq!(ran, Applied::ToolRan { changed_tasks: true });
        assert_eq!(turn.chips, vec![Chip::Ran(record(7, "pay")), Chip::Ran(listed.clone())]);
        assert_eq!(turn.chips[0].summary(), "added task 7: pay");
        assert!(turn.streaming);
        // What is said after the tools replaces what was said before them, as `done` will.
        assert_eq!(turn.text, "Adding it…", "kept while the tools run");
        turn.apply(ChatEvent::TextDelta { text: "Added ".into() });
        turn.apply(ChatEvent::TextDelta { text: "task 7.".into() });
        assert_eq!(turn.text, "Added task 7.");

        // Undone from its chip before the answer ended: done's copy of the record does not know.
        if let Chip::Ran(record) = &mut turn.chips[0] {
            record.undone = true;
        }
        let response = ChatResponse {
            conversation_id: "c1".into(),
            response: "Added task 7.".into(),
            tool_calls: vec![record(7, "pay"), listed.clone()],
        };
        assert_eq!(turn.apply(ChatEvent::Done { response }), Applied::Done { conversation_id: "c1".into() });
        let mut expected = Turn::answer("Added task 7.".into(), vec![record(7, "pay"), listed]);
        if let Chip::Ran(record) = &mut expected.chips[0] {
            record.undone = true;
        }
        assert_eq!(turn, expected);
        assert!(!turn.streaming);
    }

    #[test]
    fn a_failed_turn_stops_streaming_and_drops_the_calls_that_never_ran() {
        let mut turn = Turn::streaming();
        turn.apply(ChatEvent::TextDelta { text: "Let me".into() });
        turn.apply(ChatEvent::ToolCall { id: "a".into(), name: "add_task".into(), arguments: json!({}) });
        let error = ErrorBody { error: "model_unavailable".into(), message: "timed out".into(), fields: vec![] };
        let failed = turn.apply(ChatEvent::Error { status: 504, error: error.clone() });
        assert_eq!(failed, Applied::Failed { status: 504, error });
        assert!(!turn.streaming && turn.chips.is_empty());
        assert_eq!(turn.text, "Let me");
    }

    #[test]
    fn a_result_without_its_call_still_shows() {
        let mut turn = Turn::streaming();
        turn.apply(ChatEvent::ToolResult { id: "x".into(), record: record(1, "a") });
        assert_eq!(turn.chips, vec![Chip::Ran(record(1, "a"))]);
    }

    #[test]
    fn events_come_out_of_the_bytes_however_they_are_split() {
        let events = vec![
            ChatEvent::Started { conversation_id: "c".into() },
            ChatEvent::TextDelta { text: "caf\u{e9} \u{1f600}\nline two".into() },
            ChatEvent::ToolCall { id: "a".into(), name: "add_task".into(), arguments: json!({"title": "x"}) },
            ChatEvent::ToolResult { id: "a".into(), record: record(3, "x") },
            ChatEvent::Done {
                response: ChatResponse { conversation_id: "c".into(), response: "ok".into(), tool_calls: vec![] },
            },
        ];
        let wire: String = events.iter().map(encode).collect();
        for size in [1, 2, 3, 7, 64, wire.len()] {
            let mut stream = EventStream::new(SerdeJson);
            let mut decoded = Vec::new();
            for chunk in wire.as_bytes().chunks(size) {
                decoded.extend(stream.push(chunk).unwrap());
            }
            decoded.extend(stream.finish().unwrap());
            assert_eq!(decoded, events, "chunks of {size} bytes");
        }
    }

    #[test]
    fn an_event_that_is_not_the_contracts_is_an_error() {
        let mut stream = EventStream::new(SerdeJson);
        let error = stream.push(b"event: text_delta\ndata: {\"type\":\"started\",\"conversation_id\":\"c\"}\n\n");
        assert!(error.unwrap_err().contains("named \"text_delta\""));
        let error = stream.push(b"event: text_delta\ndata: {\"text\": 3}\n\n").unwrap_err();
        assert!(error.starts_with("an unreadable \"text_delta\" event"), "{error}");
        // The last event without its blank line is still read at the end.
        let mut stream = EventStream::new(SerdeJson);
        assert_eq!(stream.push(b"event: text_delta\ndata: {\"type\":\"text_delta\",\"text\":\"a\"}").unwrap(), vec![]);
        assert_eq!(stream.finish().unwrap(), Some(ChatEvent::TextDelta { text: "a".into() }));
    }

    #[test]
    fn stored_messages_become_turns_with_their_chips() {
        let message = |role: &str, content: Option<&str>, tool_calls: Vec<ToolCallRecord>| -> ChatMessage {
            let stored = json!({"id": 1, "role": role, "content": content, "tool_calls": tool_calls,
                                "created_at": "2026-11-26T10:00:00Z"});
            serde_json::from_value(stored).unwrap()
        };
        let turns = turns_from(vec![
            message("user", Some("add pay"), vec![]),
            message("assistant", None, vec![record(1, "pay")]),
            message("tool", Some("{}"), vec![]),
            message("assistant", Some("Added."), vec![]),
            message("user", Some("add rent"), vec![]),
            message("assistant", None, vec![record(2, "rent")]),
        ]);
        assert_eq!(
            turns,
            vec![
                Turn::said("add pay".into()),
                Turn::answer("Added.".into(), vec![record(1, "pay")]),
                Turn::said("add rent".into()),
                Turn::answer(String::new(), vec![record(2, "rent")]),
            ]
        );
    }
}
