//! The task list's keyset cursor: where a page ended, so the next page starts right after it by
//! an index search instead of skipping `offset` rows. It names the sort it was made for and the
//! last task's sort key and id (the tie-breaker), hex-encoded so that clients treat it as opaque.
//! Decoding refuses anything this code would not have written: a tampered cursor is a field
//! error, never a query PostgreSQL would refuse.

use super::text::{Lines, at_most, clean};
use api_types::{Priority, SortOrder, TaskSort};
use chrono::{DateTime, Utc};

/// The last task's value of the sort column, as PostgreSQL compares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CursorKey {
    Created(DateTime<Utc>),
    /// `None`: the page ended among the tasks without a due date, which sort last.
    Due(Option<DateTime<Utc>>),
    Priority(Priority),
    /// `lower(title)` as the database computed it.
    Title(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub sort: TaskSort,
    pub order: SortOrder,
    pub key: CursorKey,
    pub id: i64,
}

impl Cursor {
    /// Longer than any cursor `encode` writes (a 200-character title lower-cased may grow, and
    /// takes up to 4 bytes a character, twice in hex).
    pub const MAX_LEN: usize = 4096;
    /// `lower()` can lengthen a title a little (one character may become two).
    const MAX_TITLE_KEY_CHARS: usize = 400;

    pub fn encode(&self) -> String {
        let key = match &self.key {
            CursorKey::Created(at) | CursorKey::Due(Some(at)) => at.timestamp_micros().to_string(),
            CursorKey::Due(None) => "-".to_owned(),
            CursorKey::Priority(priority) => priority.as_str().to_owned(),
            CursorKey::Title(title) => title.clone(),
        };
        let plain = format!("{}:{}:{}:{key}", sort_name(self.sort), order_name(self.order), self.id);
        plain.bytes().map(|b| format!("{b:02x}")).collect()
    }

    /// The cursor in `raw`, which must have been made for `sort` and `order`.
    pub fn parse(raw: &str, sort: TaskSort, order: SortOrder) -> Result<Self, String> {
        const INVALID: &str = "is not a cursor this API returned";
        if raw.len() > Self::MAX_LEN {
            return Err(format!("must be at most {} characters", Self::MAX_LEN));
        }
        let plain = decode_hex(raw).ok_or(INVALID)?;
        let mut parts = plain.splitn(4, ':');
        let (Some(cursor_sort), Some(cursor_order), Some(id), Some(key)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(INVALID.to_owned());
        };
        if cursor_sort != sort_name(sort) || cursor_order != order_name(order) {
            return Err(format!(
                "was made for sort={cursor_sort}&order={cursor_order}: use the same sort and order as the page it came from"
            ));
        }
        // Ids start at 1; `+1` or `01` are not what `encode` writes.
        let id = id.parse::<i64>().ok().filter(|n| *n >= 1 && n.to_string() == id).ok_or(INVALID)?;
        let key = match sort {
            TaskSort::Created => CursorKey::Created(timestamp(key).ok_or(INVALID)?),
            TaskSort::Due if key == "-" => CursorKey::Due(None),
            TaskSort::Due => CursorKey::Due(Some(timestamp(key).ok_or(INVALID)?)),
            TaskSort::Priority => {
                CursorKey::Priority(Priority::ALL.into_iter().find(|p| p.as_str() == key).ok_or(INVALID)?)
            }
            TaskSort::Title => {
                let cleaned = clean(key, Lines::One).map_err(|_| INVALID)?;
                if cleaned != key || at_most(key, Self::MAX_TITLE_KEY_CHARS).is_err() {
                    return Err(INVALID.to_owned());
                }
                CursorKey::Title(key.to_owned())
            }
        };
        Ok(Self { sort, order, key, id })
    }
}

fn sort_name(sort: TaskSort) -> &'static str {
    match sort {
        TaskSort::Created => "created",
        TaskSort::Due => "due",
        TaskSort::Priority => "priority",
        TaskSort::Title => "title",
    }
}

fn order_name(order: SortOrder) -> &'static str {
    match order {
        SortOrder::Asc => "asc",
        SortOrder::Desc => "desc",
    }
}

/// Microseconds since the epoch, in the range a task's timestamps can take.
fn timestamp(raw: &str) -> Option<DateTime<Utc>> {
    let micros = raw.parse::<i64>().ok().filter(|m| m.to_string() == raw)?;
    let at = DateTime::from_timestamp_micros(micros)?;
    super::DueAt::parse(at).ok().map(super::DueAt::get)
}

fn decode_hex(raw: &str) -> Option<String> {
    if raw.is_empty() || !raw.len().is_multiple_of(2) {
        return None;
    }
    let bytes = (0..raw.len())
        .step_by(2)
        .map(|i| raw.get(i..i + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok()))
        .collect::<Option<Vec<u8>>>()?;
    // Only lower-case hex, as `encode` writes: one spelling per cursor.
    if raw.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(key: CursorKey, sort: TaskSort) {
        let cursor = Cursor { sort, order: SortOrder::Asc, key, id: 42 };
        assert_eq!(Cursor::parse(&cursor.encode(), sort, SortOrder::Asc).unwrap(), cursor);
    }

    #[test]
    fn every_kind_of_key_survives_a_round_trip() {
        let at = DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap();
        round_trip(CursorKey::Created(at), TaskSort::Created);
        round_trip(CursorKey::Due(Some(at)), TaskSort::Due);
        round_trip(CursorKey::Due(None), TaskSort::Due);
        round_trip(CursorKey::Priority(Priority::High), TaskSort::Priority);
        round_trip(CursorKey::Title("pay: the bills ünd ✓".into()), TaskSort::Title);
    }

    #[test]
    fn a_cursor_works_only_for_its_own_sort_and_order() {
        let cursor = Cursor { sort: TaskSort::Due, order: SortOrder::Desc, key: CursorKey::Due(None), id: 7 };
        assert!(Cursor::parse(&cursor.encode(), TaskSort::Due, SortOrder::Asc).is_err());
        assert!(Cursor::parse(&cursor.encode(), TaskSort::Created, SortOrder::Desc).is_err());
    }

    #[test]
    fn tampered_cursors_are_refused() {
        let hex = |s: &str| s.bytes().map(|b| format!("{b:02x}")).collect::<String>();
        for bad in [
            String::new(),
            "zz".into(),
            "abc".into(),
            hex("created:desc:1:1").to_uppercase(),
            hex("created:desc:0:1"),
            hex("created:desc:-5:1"),
            hex("created:desc:+5:1"),
            hex("created:desc:99999999999999999999:1"),
            hex("created:desc:5:999999999999999999999"),
            hex("created:desc:5:-99999999999999999"),
            hex("created:desc:5:"),
            hex("created:desc:5"),
            hex("title:desc:5:a\0b"),
            hex(&format!("title:desc:5:{}", "x".repeat(401))),
            hex("priority:desc:5:urgent"),
            "ff".repeat(4),
            "0".repeat(Cursor::MAX_LEN + 2),
        ] {
            let sort = if bad.starts_with(&hex("title")) {
                TaskSort::Title
            } else if bad.starts_with(&hex("priority")) {
                TaskSort::Priority
            } else {
                TaskSort::Created
            };
            assert!(Cursor::parse(&bad, sort, SortOrder::Desc).is_err(), "{bad}");
        }
    }
}
