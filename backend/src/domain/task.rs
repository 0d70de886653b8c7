use super::{
    Cursor, DueAt, FieldErrors,
    text::{Lines, at_most, clean, optional, required},
};
use api_types::{NewTask, Priority, SortOrder, StatusFilter, TaskPatch, TaskQuery, TaskSort};
use chrono::{DateTime, Utc};

/// 1 to 200 characters of one line, trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title(String);

impl Title {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, String> {
        required(raw, Lines::One, Self::MAX_CHARS).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Up to 1000 characters, several lines allowed; blank means none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description(Option<String>);

impl Description {
    pub const MAX_CHARS: usize = 1000;

    pub fn parse(raw: Option<&str>) -> Result<Self, String> {
        let text = raw.map(|raw| optional(raw, Lines::Many, Self::MAX_CHARS)).transpose()?;
        Ok(Self(text.flatten()))
    }

    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

/// One tag, 1 to 32 characters of one line, in the form it is stored and compared in:
/// trimmed, a leading `#` dropped, inner spaces collapsed, lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag(String);

impl Tag {
    pub const MAX_CHARS: usize = 32;

    /// `None` for a blank tag, which a filter reads as "any tag" and a task refuses.
    pub fn parse(raw: &str) -> Result<Option<Self>, String> {
        let tag = clean(raw, Lines::One)?;
        let tag = tag.trim_start_matches('#').split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
        if tag.is_empty() {
            return Ok(None);
        }
        at_most(&tag, Self::MAX_CHARS).map_err(|message| format!("tag {tag:?} {message}"))?;
        Ok(Some(Self(tag)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// At most 10 tags, duplicates removed, first-seen order kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagList(Vec<String>);

impl TagList {
    pub const MAX_TAGS: usize = 10;

    pub fn parse(raw: &[String]) -> Result<Self, String> {
        let mut tags: Vec<String> = Vec::with_capacity(raw.len());
        for tag in raw {
            let Some(tag) = Tag::parse(tag)? else {
                return Err("tags must not be empty".to_owned());
            };
            if !tags.contains(&tag.0) {
                tags.push(tag.0);
            }
        }
        if tags.len() > Self::MAX_TAGS {
            return Err(format!("at most {} tags (got {})", Self::MAX_TAGS, tags.len()));
        }
        Ok(Self(tags))
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

/// Text to look for in titles and descriptions: up to 200 characters of one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search(String);

impl Search {
    pub const MAX_CHARS: usize = 200;

    /// `None` for a blank search, which matches everything.
    pub fn parse(raw: &str) -> Result<Option<Self>, String> {
        Ok(optional(raw, Lines::One, Self::MAX_CHARS)?.map(Self))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Every field of a task, valid: what create and replace write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskDraft {
    pub title: Title,
    pub description: Description,
    pub priority: Priority,
    pub tags: TagList,
    pub due_at: Option<DueAt>,
    pub completed: bool,
}

impl TaskDraft {
    pub fn parse(input: &NewTask) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let title = errors.check("title", Title::parse(&input.title));
        let description = errors.check("description", Description::parse(input.description.as_deref()));
        let tags = errors.check("tags", TagList::parse(input.tags.as_deref().unwrap_or_default()));
        let due_at = errors.check("due_at", input.due_at.map(DueAt::parse).transpose());
        match (title, description, tags, due_at) {
            (Some(title), Some(description), Some(tags), Some(due_at)) => Ok(Self {
                title,
                description,
                priority: input.priority.unwrap_or_default(),
                tags,
                due_at,
                completed: input.completed.unwrap_or(false),
            }),
            _ => Err(errors),
        }
    }
}

/// The fields a PATCH changes, valid. `Some(None)` clears an optional field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskChanges {
    pub title: Option<Title>,
    pub description: Option<Description>,
    pub priority: Option<Priority>,
    pub tags: Option<TagList>,
    pub due_at: Option<Option<DueAt>>,
    pub completed: Option<bool>,
}

impl TaskChanges {
    pub fn parse(input: &TaskPatch) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let title = input.title.as_deref().map(Title::parse).and_then(|r| errors.check("title", r));
        let description = input
            .description
            .as_ref()
            .map(|d| Description::parse(d.as_deref()))
            .and_then(|r| errors.check("description", r));
        let tags = input.tags.as_deref().map(TagList::parse).and_then(|r| errors.check("tags", r));
        let due_at = input.due_at.map(|due| due.map(DueAt::parse).transpose()).and_then(|r| errors.check("due_at", r));
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self { title, description, priority: input.priority, tags, due_at, completed: input.completed })
    }

    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// A valid listing request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskFilter {
    pub status: StatusFilter,
    pub priority: Option<Priority>,
    pub tag: Option<Tag>,
    pub due_before: Option<DueAt>,
    pub due_after: Option<DueAt>,
    pub search: Option<Search>,
    pub sort: TaskSort,
    pub order: SortOrder,
    pub limit: u32,
    pub offset: u32,
    /// Start right after this position (keyset pagination) instead of skipping `offset` rows.
    pub after: Option<Cursor>,
}

impl Default for TaskFilter {
    fn default() -> Self {
        Self {
            status: StatusFilter::All,
            priority: None,
            tag: None,
            due_before: None,
            due_after: None,
            search: None,
            sort: TaskSort::Created,
            order: SortOrder::Desc,
            limit: Self::DEFAULT_LIMIT,
            offset: 0,
            after: None,
        }
    }
}

impl TaskFilter {
    pub const DEFAULT_LIMIT: u32 = 50;
    pub const MAX_LIMIT: u32 = 100;

    pub fn parse(query: &TaskQuery) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let limit = query.limit.unwrap_or(Self::DEFAULT_LIMIT);
        if !(1..=Self::MAX_LIMIT).contains(&limit) {
            errors.push("limit", format!("must be between 1 and {}", Self::MAX_LIMIT));
        }
        let tag = query.tag.as_deref().map(Tag::parse).and_then(|r| errors.check("tag", r)).flatten();
        let search = query.q.as_deref().map(Search::parse).and_then(|r| errors.check("q", r)).flatten();
        let due_before = bound(&mut errors, "due_before", query.due_before);
        let due_after = bound(&mut errors, "due_after", query.due_after);
        if let (Some(before), Some(after)) = (due_before, due_after)
            && after > before
        {
            errors.push("due_after", "must not be later than due_before");
        }
        let sort = query.sort.unwrap_or_default();
        let order = query.order.unwrap_or_default();
        let after =
            query.cursor.as_deref().map(|raw| Cursor::parse(raw, sort, order)).and_then(|r| errors.check("cursor", r));
        let offset = query.offset.unwrap_or(0);
        if query.cursor.is_some() && offset > 0 {
            errors.push("offset", "must be 0 or absent with a cursor: the cursor already says where the page starts");
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            status: query.status.unwrap_or_default(),
            priority: query.priority,
            tag,
            due_before,
            due_after,
            search,
            sort,
            order,
            limit,
            offset,
            after,
        })
    }
}

fn bound(errors: &mut FieldErrors, field: &str, at: Option<DateTime<Utc>>) -> Option<DueAt> {
    at.map(DueAt::parse).and_then(|r| errors.check(field, r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_trimmed_and_bounded_in_characters() {
        assert_eq!(Title::parse("  Pay bills ").unwrap().as_str(), "Pay bills");
        assert!(Title::parse(" \t ").is_err());
        assert!(Title::parse(&"é".repeat(200)).is_ok());
        assert!(Title::parse(&"é".repeat(201)).is_err());
    }

    #[test]
    fn blank_descriptions_are_none() {
        assert_eq!(Description::parse(Some("   ")).unwrap().as_deref(), None);
        assert!(Description::parse(Some(&"d".repeat(1001))).is_err());
    }

    #[test]
    fn tags_are_normalised_and_deduplicated() {
        let raw = vec![" Work ".to_owned(), "#work".to_owned(), "Home  Office".to_owned()];
        assert_eq!(TagList::parse(&raw).unwrap().as_slice(), ["work", "home office"]);
    }

    #[test]
    fn tag_limits_are_enforced() {
        let eleven: Vec<String> = (0..11).map(|i| format!("t{i}")).collect();
        assert!(TagList::parse(&eleven).is_err());
        assert!(TagList::parse(&["x".repeat(33)]).is_err());
        assert!(TagList::parse(&[" ".to_owned()]).is_err());
    }

    #[test]
    fn a_draft_reports_every_bad_field() {
        let input = NewTask {
            title: " ".into(),
            description: Some("d".repeat(1001)),
            tags: Some(vec![String::new()]),
            due_at: chrono::NaiveDate::from_ymd_opt(-5000, 1, 1)
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|d| d.and_utc()),
            ..NewTask::default()
        };
        let fields: Vec<String> =
            TaskDraft::parse(&input).unwrap_err().into_vec().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["title", "description", "tags", "due_at"]);
    }

    #[test]
    fn only_descriptions_span_lines() {
        assert!(Title::parse("a\nb").is_err());
        assert!(Tag::parse("a\tb").is_err());
        assert!(Search::parse("a\nb").is_err());
        assert_eq!(Description::parse(Some("a\n\tb")).unwrap().as_deref(), Some("a\n\tb"));
        assert!(Description::parse(Some("a\0b")).is_err());
    }

    #[test]
    fn filters_parse_their_text_and_name_each_bad_parameter() {
        let query = TaskQuery { tag: Some(" #Home  Office ".into()), q: Some(" milk ".into()), ..Default::default() };
        let filter = TaskFilter::parse(&query).unwrap();
        assert_eq!(filter.tag.unwrap().as_str(), "home office");
        assert_eq!(filter.search.unwrap().as_str(), "milk");
        let blank = TaskFilter::parse(&TaskQuery { tag: Some("#".into()), q: Some(" ".into()), ..Default::default() });
        assert_eq!(blank.unwrap(), TaskFilter::default());
        let year_zero =
            chrono::NaiveDate::from_ymd_opt(0, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0)).map(|d| d.and_utc());
        let bad = TaskQuery {
            tag: Some("a\0".into()),
            q: Some("\u{1b}".into()),
            due_before: year_zero,
            due_after: year_zero,
            ..Default::default()
        };
        let fields: Vec<String> =
            TaskFilter::parse(&bad).unwrap_err().into_vec().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["tag", "q", "due_before", "due_after"]);
    }

    #[test]
    fn listing_limits_are_checked() {
        assert!(TaskFilter::parse(&TaskQuery { limit: Some(0), ..Default::default() }).is_err());
        assert!(TaskFilter::parse(&TaskQuery { limit: Some(101), ..Default::default() }).is_err());
        assert_eq!(TaskFilter::parse(&TaskQuery::default()).unwrap().limit, 50);
    }
}
