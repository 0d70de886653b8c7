use super::text::{Lines, required};

/// What a person writes to the assistant: 1 to 4000 characters, several lines allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageText(String);

impl MessageText {
    pub const MAX_CHARS: usize = 4000;

    pub fn parse(raw: &str) -> Result<Self, String> {
        required(raw, Lines::Many, Self::MAX_CHARS).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A conversation's title: its first message on one line, white space collapsed, cut after
/// 60 characters with an ellipsis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationTitle(String);

impl ConversationTitle {
    pub const MAX_CHARS: usize = 60;

    /// Cannot fail: a message holds no control character but newline and tab, and those are
    /// white space, which this collapses.
    pub fn of(message: &MessageText) -> Self {
        let words = message.as_str().split_whitespace().collect::<Vec<_>>().join(" ");
        match words.char_indices().nth(Self::MAX_CHARS) {
            Some((cut, _)) => Self(format!("{}…", words[..cut].trim_end())),
            None => Self(words),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_trimmed_bounded_and_may_span_lines() {
        assert_eq!(MessageText::parse("  add task\n\tmilk \r\n").unwrap().as_str(), "add task\n\tmilk");
        assert!(MessageText::parse(" \n ").is_err());
        assert!(MessageText::parse(&"é".repeat(4000)).is_ok());
        assert!(MessageText::parse(&"é".repeat(4001)).is_err());
        assert!(MessageText::parse("a\u{0}b").is_err());
    }

    #[test]
    fn titles_are_one_short_line() {
        let message = MessageText::parse("  add   task\nbuy milk ").unwrap();
        assert_eq!(ConversationTitle::of(&message).as_str(), "add task buy milk");
        let long = MessageText::parse(&"word ".repeat(30)).unwrap();
        let title = ConversationTitle::of(&long);
        assert!(title.as_str().chars().count() <= ConversationTitle::MAX_CHARS + 1);
        assert!(title.as_str().ends_with('…'));
    }
}
