//! The one rule every piece of free text follows, whoever sends it (the REST API, the chat
//! tools, MCP): surrounding white space is trimmed; inside, no control character (Unicode
//! `Cc`: NUL, escape, bell, DEL, the C1 range...) and no line break, except that multi-line
//! text keeps newline and tab. PostgreSQL refuses NUL outright, and the others forge what a
//! terminal, a log viewer or a one-line field shows.
//!
//! Format characters (`Cf`: zero-width joiners, bidi marks) stay allowed: emoji sequences and
//! right-to-left scripts need them, and a user's text is shown only to that user.

/// Whether a piece of text may span lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    One,
    Many,
}

/// Whether `c` may stand inside text of the given kind.
pub fn allowed(c: char, lines: Lines) -> bool {
    match c {
        '\n' | '\t' | '\u{2028}' | '\u{2029}' => lines == Lines::Many,
        c => !c.is_control(),
    }
}

/// `raw` trimmed, with `\r\n` read as `\n` in multi-line text (what a Windows client or an
/// HTML form sends for a newline), or why it cannot be stored. Length limits are the caller's:
/// they differ per field and count the text this returns.
pub fn clean(raw: &str, lines: Lines) -> Result<String, String> {
    let text = match lines {
        Lines::Many if raw.contains("\r\n") => raw.replace("\r\n", "\n"),
        _ => raw.to_owned(),
    };
    let text = text.trim();
    match text.chars().find(|c| !allowed(*c, lines)) {
        None => Ok(text.to_owned()),
        Some(c) => Err(match lines {
            Lines::One => format!("must be one line without control characters (found U+{:04X})", u32::from(c)),
            Lines::Many => {
                format!("must not contain control characters other than newline and tab (found U+{:04X})", u32::from(c))
            }
        }),
    }
}

/// `clean` text of 1 to `max` characters.
pub fn required(raw: &str, lines: Lines, max: usize) -> Result<String, String> {
    let text = clean(raw, lines)?;
    if text.is_empty() {
        return Err("must not be empty".to_owned());
    }
    at_most(&text, max)?;
    Ok(text)
}

/// `clean` text of at most `max` characters, `None` when blank.
pub fn optional(raw: &str, lines: Lines, max: usize) -> Result<Option<String>, String> {
    let text = clean(raw, lines)?;
    if text.is_empty() {
        return Ok(None);
    }
    at_most(&text, max)?;
    Ok(Some(text))
}

/// Fails when `text` has more than `max` characters (not bytes: "é" is one).
pub fn at_most(text: &str, max: usize) -> Result<(), String> {
    match text.chars().count() {
        n if n > max => Err(format!("must be at most {max} characters (got {n})")),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surrounding_white_space_goes_and_inner_control_characters_are_refused() {
        assert_eq!(clean(" \t a b \n", Lines::One).unwrap(), "a b");
        for bad in ["a\0b", "a\u{1b}[2Jb", "a\nb", "a\tb", "a\rb", "a\u{7f}b", "a\u{85}b", "a\u{9b}b", "a\u{2028}b"] {
            assert!(clean(bad, Lines::One).is_err(), "{bad:?}");
        }
        assert_eq!(
            clean("a\0b", Lines::One).unwrap_err(),
            "must be one line without control characters (found U+0000)"
        );
    }

    #[test]
    fn multi_line_text_keeps_newline_and_tab_and_reads_crlf_as_newline() {
        assert_eq!(clean("a\n\tb\r\nc\r\n", Lines::Many).unwrap(), "a\n\tb\nc");
        for bad in ["a\0b", "a\rb", "a\u{b}b", "a\u{c}b", "a\u{1b}b", "a\u{85}b"] {
            assert!(clean(bad, Lines::Many).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn format_characters_and_every_script_stay() {
        let family = "👨\u{200d}👩\u{200d}👧";
        let persian = "می\u{200c}خواهم";
        let marked = "abc \u{200f}עברית\u{200e} def";
        for text in [family, persian, marked, "日本語", "\u{10ffff}"] {
            assert_eq!(clean(text, Lines::One).unwrap(), text);
        }
    }

    #[test]
    fn lengths_are_counted_in_characters() {
        assert!(at_most(&"é".repeat(3), 3).is_ok());
        assert_eq!(at_most("abcd", 3).unwrap_err(), "must be at most 3 characters (got 4)");
    }
}
