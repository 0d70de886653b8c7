use super::FieldErrors;
use api_types::{NewTask, Priority, SortOrder, StatusFilter, TaskPatch, TaskQuery, TaskSort};
use chrono::{DateTime, Utc};

/// 1 to 200 characters after trimming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title(String);

impl Title {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let title = raw.trim();
        match title.chars().count() {
            0 => Err("must not be empty".to_owned()),
            n if n > Self::MAX_CHARS => Err(format!("must be at most {} characters (got {n})", Self::MAX_CHARS)),
            _ => Ok(Self(title.to_owned())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Up to 1000 characters; blank means none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description(Option<String>);

impl Description {
    pub const MAX_CHARS: usize = 1000;

    pub fn parse(raw: Option<&str>) -> Result<Self, String> {
        let Some(text) = raw.map(str::trim).filter(|text| !text.is_empty()) else {
            return Ok(Self(None));
        };
        let length = text.chars().count();
        if length > Self::MAX_CHARS {
            return Err(format!("must be at most {} characters (got {length})", Self::MAX_CHARS));
        }
        Ok(Self(Some(text.to_owned())))
    }

    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

/// At most 10 tags, each 1 to 32 characters: trimmed, lower-cased, inner spaces collapsed,
/// duplicates removed, first-seen order kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagList(Vec<String>);

impl TagList {
    pub const MAX_TAGS: usize = 10;
    pub const MAX_CHARS: usize = 32;

    pub fn parse(raw: &[String]) -> Result<Self, String> {
        let mut tags: Vec<String> = Vec::with_capacity(raw.len());
        for tag in raw {
            let tag = Self::normalise(tag);
            let length = tag.chars().count();
            if length == 0 {
                return Err("tags must not be empty".to_owned());
            }
            if length > Self::MAX_CHARS {
                return Err(format!("tag {tag:?} is longer than {} characters", Self::MAX_CHARS));
            }
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        if tags.len() > Self::MAX_TAGS {
            return Err(format!("at most {} tags (got {})", Self::MAX_TAGS, tags.len()));
        }
        Ok(Self(tags))
    }

    /// The form a tag is stored and compared in.
    pub fn normalise(tag: &str) -> String {
        tag.trim().trim_start_matches('#').split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
    }

    pub fn as_slice(&self) -> &[String] {
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
    pub due_at: Option<DateTime<Utc>>,
    pub completed: bool,
}

impl TaskDraft {
    pub fn parse(input: &NewTask) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let title = errors.check("title", Title::parse(&input.title));
        let description = errors.check("description", Description::parse(input.description.as_deref()));
        let tags = errors.check("tags", TagList::parse(input.tags.as_deref().unwrap_or_default()));
        match (title, description, tags) {
            (Some(title), Some(description), Some(tags)) if errors.is_empty() => Ok(Self {
                title,
                description,
                priority: input.priority.unwrap_or_default(),
                tags,
                due_at: input.due_at,
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
    pub due_at: Option<Option<DateTime<Utc>>>,
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
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            title,
            description,
            priority: input.priority,
            tags,
            due_at: input.due_at,
            completed: input.completed,
        })
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
    pub tag: Option<String>,
    pub due_before: Option<DateTime<Utc>>,
    pub due_after: Option<DateTime<Utc>>,
    pub search: Option<String>,
    pub sort: TaskSort,
    pub order: SortOrder,
    pub limit: u32,
    pub offset: u32,
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
        let search = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty()).map(str::to_owned);
        if search.as_ref().is_some_and(|q| q.chars().count() > 200) {
            errors.push("q", "must be at most 200 characters");
        }
        if let (Some(before), Some(after)) = (query.due_before, query.due_after)
            && after > before
        {
            errors.push("due_after", "must not be later than due_before");
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            status: query.status.unwrap_or_default(),
            priority: query.priority,
            tag: query.tag.as_deref().map(TagList::normalise).filter(|tag| !tag.is_empty()),
            due_before: query.due_before,
            due_after: query.due_after,
            search,
            sort: query.sort.unwrap_or_default(),
            order: query.order.unwrap_or_default(),
            limit,
            offset: query.offset.unwrap_or(0),
        })
    }
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
            ..NewTask::default()
        };
        let fields: Vec<String> =
            TaskDraft::parse(&input).unwrap_err().into_vec().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["title", "description", "tags"]);
    }

    #[test]
    fn listing_limits_are_checked() {
        assert!(TaskFilter::parse(&TaskQuery { limit: Some(0), ..Default::default() }).is_err());
        assert!(TaskFilter::parse(&TaskQuery { limit: Some(101), ..Default::default() }).is_err());
        assert_eq!(TaskFilter::parse(&TaskQuery::default()).unwrap().limit, 50);
    }
}
