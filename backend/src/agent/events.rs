//! Where a turn tells what happens as it happens. A JSON request listens to nothing and gets
//! the `done` body at the end; a streamed request (`Accept: text/event-stream`) gets every
//! event as it is sent. Both run the same turn.

use api_types::{ChatEvent, ToolCallRecord};
use tokio::sync::mpsc;

/// The sink of one turn's events. Unbounded on purpose: a turn sends a bounded number of
/// events (its text and its tool calls), and a slow client must not slow the turn down while
/// it holds its conversation. A send after the client left is dropped; the turn goes on.
#[derive(Debug, Clone, Default)]
pub struct Events(Option<mpsc::UnboundedSender<ChatEvent>>);

impl Events {
    /// Nobody listens: a JSON request.
    pub fn none() -> Self {
        Self(None)
    }

    /// A sink and the receiver a streamed response reads from.
    pub fn channel() -> (Self, mpsc::UnboundedReceiver<ChatEvent>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        (Self(Some(sender)), receiver)
    }

    /// Whether someone reads the events as they come (the model is then asked to stream too).
    pub fn is_streaming(&self) -> bool {
        self.0.is_some()
    }

    pub fn send(&self, event: ChatEvent) {
        if let Some(sender) = &self.0 {
            // An error means the response is gone (the client left): nothing to tell.
            let _ = sender.send(event);
        }
    }

    /// `text` word by word, each word with the whitespace after it, so that the deltas
    /// concatenate to exactly `text`.
    pub fn words(&self, text: &str) {
        if self.is_streaming() {
            for word in text.split_inclusive(char::is_whitespace) {
                self.send(ChatEvent::TextDelta { text: word.to_owned() });
            }
        }
    }

    /// One piece of text as the model sent it.
    pub fn text(&self, text: &str) {
        if !text.is_empty() {
            self.send(ChatEvent::TextDelta { text: text.to_owned() });
        }
    }

    pub fn tool_call(&self, id: &str, name: &str, arguments: &str) {
        if self.is_streaming() {
            let arguments = super::arguments_value(arguments);
            self.send(ChatEvent::ToolCall { id: id.to_owned(), name: name.to_owned(), arguments });
        }
    }

    pub fn tool_result(&self, id: &str, record: &ToolCallRecord) {
        if self.is_streaming() {
            self.send(ChatEvent::ToolResult { id: id.to_owned(), record: record.clone() });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_concatenate_to_the_text() {
        let (events, mut receiver) = Events::channel();
        let text = "Added task 3: \"pay  rent\".\nDue tomorrow, caf\u{e9} \u{1f600} ";
        events.words(text);
        drop(events);
        let mut joined = String::new();
        let mut pieces = 0;
        while let Ok(event) = receiver.try_recv() {
            let ChatEvent::TextDelta { text } = event else { panic!("{event:?}") };
            joined.push_str(&text);
            pieces += 1;
        }
        assert_eq!(joined, text);
        assert!(pieces > 5, "word by word, not all at once: {pieces}");
    }
}
