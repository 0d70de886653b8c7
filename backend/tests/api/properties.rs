//! Property tests of the domain parsers. Through the real application and PostgreSQL: whatever
//! a parser accepts is stored and comes back unchanged; whatever it refuses is a 422 naming
//! exactly the fields it refused; a control character outside the allowed ones is always
//! refused; nothing is a 500. Each database property runs 32 cases by default so the suite stays
//! quick; `PROPTEST_CASES=1000` runs a deeper search. A failure is shrunk to its simplest input.

use crate::helpers::{TestApp, TestUser, config_for, fresh_database, spawn_app_with};
use api_types::{AuthResponse, ChatMessage, ChatResponse, ConversationSummary, ErrorBody, NewTask, Task, TaskPage};
use backend::domain::{
    ConversationTitle, Description, DueAt, Email, MessageText, Search, Tag, TaskDraft, Title, UserName,
    text::{self, Lines},
};
use chrono::{DateTime, NaiveDate, Utc};
use proptest::{
    prelude::*,
    test_runner::{Config, TestCaseError, TestRunner},
};
use reqwest::{Method, Response};
use serde::de::DeserializeOwned;
use serde_json::json;

/// Characters that trouble parsers, databases and displays, mixed into generated text: control
/// characters, white space of every kind, format characters, noncharacters, letters whose case
/// mapping changes their length, and what SQL patterns and emails treat specially.
const AWKWARD: &str = "\0\t\n\r\u{b}\u{c}\u{1b}\u{7f}\u{85}\u{9b}\u{a0}\u{200b}\u{200d}\u{200e}\u{202e}\u{2028}\u{2029}\
                       \u{3000}\u{feff}\u{fffd}\u{ffff}\u{10ffff}İΣẞﬃ#%_\\'\"@.é😀 ";

/// Text of up to `max + 3` characters, short or around `max`: printable ASCII and any Unicode
/// scalar, and in half of the texts also the awkward characters above and CRLF pairs, so that
/// both what parsers accept and what they refuse come up often.
fn text(max: usize) -> BoxedStrategy<String> {
    let gentle = prop_oneof![
        6 => proptest::char::range(' ', '~').prop_map(String::from),
        2 => any::<char>().prop_map(|c| String::from(if c.is_control() { '¤' } else { c })),
    ]
    .boxed();
    let awkward = prop_oneof![
        8 => gentle.clone(),
        2 => proptest::sample::select(AWKWARD.chars().collect::<Vec<_>>()).prop_map(String::from),
        1 => any::<char>().prop_map(String::from),
        1 => Just("\r\n".to_owned()),
    ]
    .boxed();
    (any::<bool>(), prop_oneof![0..=12_usize, max.saturating_sub(3)..=max + 3])
        .prop_flat_map(move |(hostile, length)| {
            proptest::collection::vec(if hostile { awkward.clone() } else { gentle.clone() }, length)
        })
        .prop_map(|pieces| pieces.concat())
        .boxed()
}

/// A character text of this kind may not hold inside it, picked without asking `text`: a
/// control character (Unicode `Cc`) but newline and tab, which only multi-line text allows.
fn forbidden(lines: Lines) -> BoxedStrategy<char> {
    let control = prop_oneof![0_u32..0x20, 0x7f_u32..0xa0].prop_filter_map("a scalar", char::from_u32);
    match lines {
        Lines::Many => control.prop_filter("allowed in multi-line text", |c| !matches!(c, '\n' | '\t')).boxed(),
        Lines::One => prop_oneof![control, proptest::sample::select(&['\n', '\t', '\u{2028}', '\u{2029}'][..])].boxed(),
    }
}

/// Text with a forbidden character between visible ones, where trimming cannot reach it and no
/// `\n` can follow it to make a CRLF.
fn with_forbidden(lines: Lines, max: usize) -> impl Strategy<Value = String> {
    (text(max), forbidden(lines), text(max)).prop_map(|(before, bad, after)| format!("<{before}{bad}|{after}>"))
}

fn seconds_at(year: i32) -> i64 {
    NaiveDate::from_ymd_opt(year, 1, 1).and_then(|day| day.and_hms_opt(0, 0, 0)).unwrap().and_utc().timestamp()
}

/// Any instant chrono holds, leap seconds included, with more of them near the ends of
/// `DueAt`'s range, and fractions of every width.
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    let (first, last) = (seconds_at(1), seconds_at(10_000));
    let seconds = prop_oneof![
        DateTime::<Utc>::MIN_UTC.timestamp()..=DateTime::<Utc>::MAX_UTC.timestamp(),
        seconds_at(-100)..seconds_at(10_100),
        first - 100_000..first + 100_000,
        last - 100_000..last + 100_000,
    ];
    let nanos = prop_oneof![
        Just(0_u32),
        (0_u32..1_000_000).prop_map(|micros| micros * 1_000),
        0_u32..1_000_000_000,
        1_000_000_000_u32..2_000_000_000,
    ];
    (seconds, nanos).prop_filter_map("an instant chrono holds", |(seconds, nanos)| {
        // chrono holds a leap second only in the last second of a minute.
        let seconds = if nanos >= 1_000_000_000 { seconds - seconds.rem_euclid(60) + 59 } else { seconds };
        DateTime::from_timestamp(seconds, nanos)
    })
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(32)
}

/// Runs `check` on generated values against one running app and one signed-up user.
fn for_all<S>(strategy: S, check: impl AsyncFn(&TestApp, &TestUser, S::Value) -> Result<(), TestCaseError>)
where
    S: Strategy,
    S::Value: std::fmt::Debug,
{
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(database) = runtime.block_on(fresh_database()) else { return };
    let mut config = config_for(database);
    // These properties are about input; a deep run signs up more often than the test limit allows.
    config.auth_rate_limit_per_minute = std::num::NonZeroU32::MAX;
    let app = runtime.block_on(spawn_app_with(config));
    runtime.block_on(app.wait_until_ready());
    let user = runtime.block_on(app.sign_up());
    let mut runner = TestRunner::new(Config { cases: cases(), failure_persistence: None, ..Config::default() });
    if let Err(failure) = runner.run(&strategy, |value| runtime.block_on(check(&app, &user, value))) {
        panic!("{failure}");
    }
}

/// The body of a response with `status`, decoded.
async fn decoded<T: DeserializeOwned>(response: Response, status: u16) -> Result<T, TestCaseError> {
    let actual = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    prop_assert_eq!(actual, status, "{}", text);
    serde_json::from_str(&text).map_err(|error| TestCaseError::fail(format!("{error} in {text}")))
}

/// The fields a 422 names, in order.
async fn refused(response: Response) -> Result<Vec<String>, TestCaseError> {
    let body: ErrorBody = decoded(response, 422).await?;
    prop_assert_eq!(&body.error, "validation_failed");
    Ok(body.fields.into_iter().map(|field| field.field).collect())
}

async fn list(app: &TestApp, user: &TestUser, query: &[(&str, &str)]) -> Response {
    let path = format!("/api/{}/tasks", user.id);
    app.authed(Method::GET, &path, user).query(&[("limit", "100")]).query(query).send().await.unwrap()
}

#[test]
fn task_text_is_stored_as_parsed_or_refused_naming_each_field() {
    let texts = (
        text(Title::MAX_CHARS),
        proptest::option::of(text(Description::MAX_CHARS)),
        proptest::collection::vec(text(Tag::MAX_CHARS), 0..=3),
    );
    for_all(texts, async |app, user, (title, description, tags)| {
        let input = NewTask { title, description, tags: Some(tags), ..NewTask::default() };
        let tasks = format!("/api/{}/tasks", user.id);
        let response = app.authed(Method::POST, &tasks, user).json(&input).send().await.unwrap();
        match TaskDraft::parse(&input) {
            Ok(draft) => {
                let task: Task = decoded(response, 201).await?;
                prop_assert_eq!(task.title.as_str(), draft.title.as_str());
                prop_assert_eq!(task.description.as_deref(), draft.description.as_deref());
                prop_assert_eq!(task.tags.as_slice(), draft.tags.as_slice());
                let path = format!("{tasks}/{}", task.id);
                let read: Task = decoded(app.authed(Method::GET, &path, user).send().await.unwrap(), 200).await?;
                prop_assert_eq!(read, task);
            }
            Err(errors) => {
                let expected: Vec<String> = errors.into_vec().into_iter().map(|error| error.field).collect();
                prop_assert_eq!(refused(response).await?, expected);
            }
        }
        Ok(())
    });
}

#[test]
fn a_control_character_inside_any_text_is_refused_naming_its_field() {
    let cases = prop_oneof![
        with_forbidden(Lines::One, 20).prop_map(|text| ("title", text)),
        with_forbidden(Lines::Many, 20).prop_map(|text| ("description", text)),
        with_forbidden(Lines::One, 10).prop_map(|text| ("tags", text)),
        with_forbidden(Lines::One, 20).prop_map(|text| ("q", text)),
        with_forbidden(Lines::One, 10).prop_map(|text| ("tag", text)),
        with_forbidden(Lines::Many, 20).prop_map(|text| ("message", text)),
        with_forbidden(Lines::One, 20).prop_map(|text| ("name", text)),
        with_forbidden(Lines::One, 20).prop_map(|text| ("email", text)),
    ];
    for_all(cases, async |app, user, (field, value)| {
        let post = |path: String, body: serde_json::Value| app.authed(Method::POST, &path, user).json(&body).send();
        let tasks = format!("/api/{}/tasks", user.id);
        let sign_up = async |email: &str, name: &str| {
            app.post_json("/api/auth/sign-up", &json!({"email": email, "password": "long enough", "name": name})).await
        };
        let response = match field {
            "title" => post(tasks, json!({"title": value})).await.unwrap(),
            "description" => post(tasks, json!({"title": "ok", "description": value})).await.unwrap(),
            "tags" => post(tasks, json!({"title": "ok", "tags": [value]})).await.unwrap(),
            "q" | "tag" => list(app, user, &[(field, value.as_str())]).await,
            "message" => post(format!("/api/{}/chat", user.id), json!({"message": value})).await.unwrap(),
            "name" => sign_up("someone@example.com", &value).await,
            _ => {
                let email = format!("{value}@example.com");
                let sign_in = app.post_json("/api/auth/sign-in", &json!({"email": email, "password": "x"})).await;
                prop_assert_eq!(refused(sign_in).await?, [field]);
                sign_up(&email, "Someone").await
            }
        };
        prop_assert_eq!(refused(response).await?, [field]);
        Ok(())
    });
}

#[test]
fn due_dates_in_range_are_stored_to_the_microsecond_and_the_rest_refused() {
    for_all(instant(), async |app, user, at| {
        // chrono's own RFC 3339: signed years outside 0 to 9999, second 60 for a leap second.
        let written = serde_json::to_value(at).unwrap();
        let written_text = written.as_str().unwrap_or_default().to_owned();
        let title = uuid::Uuid::new_v4().simple().to_string();
        let tasks = format!("/api/{}/tasks", user.id);
        let body = json!({"title": title, "due_at": written});
        let response = app.authed(Method::POST, &tasks, user).json(&body).send().await.unwrap();
        match DueAt::parse(at) {
            Ok(due) => {
                let task: Task = decoded(response, 201).await?;
                prop_assert_eq!(task.due_at, Some(due.get()));
                // The filters meet the stored instant exactly: due_at >= after, due_at < before.
                let from: TaskPage =
                    decoded(list(app, user, &[("q", title.as_str()), ("due_after", written_text.as_str())]).await, 200)
                        .await?;
                prop_assert_eq!(from.total, 1);
                let before: TaskPage = decoded(
                    list(app, user, &[("q", title.as_str()), ("due_before", written_text.as_str())]).await,
                    200,
                )
                .await?;
                prop_assert_eq!(before.total, 0);
            }
            Err(_) => {
                prop_assert_eq!(refused(response).await?, ["due_at"]);
                prop_assert_eq!(
                    refused(list(app, user, &[("due_before", written_text.as_str())]).await).await?,
                    ["due_before"]
                );
            }
        }
        Ok(())
    });
}

#[test]
fn searches_and_tag_filters_find_what_was_stored_or_are_refused() {
    for_all((text(Search::MAX_CHARS), text(Tag::MAX_CHARS)), async |app, user, (search, tag)| {
        let tasks = format!("/api/{}/tasks", user.id);
        let response = list(app, user, &[("q", search.as_str())]).await;
        match Search::parse(&search) {
            Err(_) => prop_assert_eq!(refused(response).await?, ["q"]),
            Ok(_) => {
                decoded::<TaskPage>(response, 200).await?;
                if Title::parse(&search).is_ok() {
                    let body = json!({"title": search});
                    let created: Task =
                        decoded(app.authed(Method::POST, &tasks, user).json(&body).send().await.unwrap(), 201).await?;
                    let found: TaskPage = decoded(list(app, user, &[("q", search.as_str())]).await, 200).await?;
                    prop_assert!(found.items.iter().any(|task| task.id == created.id), "{:?} not found", search);
                }
            }
        }
        let response = list(app, user, &[("tag", tag.as_str())]).await;
        match Tag::parse(&tag) {
            Err(_) => prop_assert_eq!(refused(response).await?, ["tag"]),
            Ok(parsed) => {
                decoded::<TaskPage>(response, 200).await?;
                if let Some(parsed) = parsed {
                    let body = json!({"title": "tagged", "tags": [tag]});
                    let created: Task =
                        decoded(app.authed(Method::POST, &tasks, user).json(&body).send().await.unwrap(), 201).await?;
                    prop_assert_eq!(created.tags.as_slice(), [parsed.as_str()]);
                    let found: TaskPage = decoded(list(app, user, &[("tag", tag.as_str())]).await, 200).await?;
                    prop_assert!(found.items.iter().any(|task| task.id == created.id), "{:?} not found", tag);
                }
            }
        }
        Ok(())
    });
}

#[test]
fn accounts_keep_the_parsed_email_and_name_and_sign_in_as_typed() {
    for_all((text(12), text(12), text(UserName::MAX_CHARS)), async |app, _user, (local, domain, name)| {
        // Unique per case, since shrinking replays inputs.
        let email = format!("{}{local}@{domain}.example", uuid::Uuid::new_v4().simple());
        let password = "correct horse battery staple";
        let body = json!({"email": email, "password": password, "name": name});
        let response = app.post_json("/api/auth/sign-up", &body).await;
        match (Email::parse(&email), UserName::parse(&name)) {
            (Ok(parsed_email), Ok(parsed_name)) => {
                let account: AuthResponse = decoded(response, 201).await?;
                prop_assert_eq!(account.user.email.as_str(), parsed_email.as_str());
                prop_assert_eq!(account.user.name.as_str(), parsed_name.as_str());
                let sign_in = app.post_json("/api/auth/sign-in", &json!({"email": email, "password": password})).await;
                let session: AuthResponse = decoded(sign_in, 200).await?;
                prop_assert_eq!(session.user, account.user);
            }
            (parsed_email, parsed_name) => {
                let mut expected = Vec::new();
                if parsed_email.is_err() {
                    expected.push("email");
                }
                if parsed_name.is_err() {
                    expected.push("name");
                }
                prop_assert_eq!(refused(response).await?, expected);
            }
        }
        Ok(())
    });
}

#[test]
fn chat_messages_are_kept_as_parsed_and_titled_on_one_line() {
    for_all(text(MessageText::MAX_CHARS), async |app, user, message| {
        let path = format!("/api/{}/chat", user.id);
        let response = app.authed(Method::POST, &path, user).json(&json!({"message": message})).send().await.unwrap();
        match MessageText::parse(&message) {
            Err(_) => prop_assert_eq!(refused(response).await?, ["message"]),
            Ok(parsed) => {
                let answer: ChatResponse = decoded(response, 200).await?;
                let conversation = answer.conversation_id;
                let path = format!("/api/{}/conversations/{conversation}/messages", user.id);
                let messages: Vec<ChatMessage> =
                    decoded(app.authed(Method::GET, &path, user).send().await.unwrap(), 200).await?;
                prop_assert_eq!(messages[0].content.as_deref(), Some(parsed.as_str()));
                let path = format!("/api/{}/conversations", user.id);
                let all: Vec<ConversationSummary> =
                    decoded(app.authed(Method::GET, &path, user).send().await.unwrap(), 200).await?;
                let summary = all.iter().find(|summary| summary.id == conversation);
                let title = ConversationTitle::of(&parsed);
                prop_assert_eq!(summary.map(|s| s.title.as_str()), Some(title.as_str()));
            }
        }
        Ok(())
    });
}

// The parsers alone, without the database: many more cases, in milliseconds.
proptest! {
    #![proptest_config(Config { failure_persistence: None, ..Config::default() })]

    #[test]
    fn clean_text_holds_only_allowed_characters_and_cleans_to_itself(raw in text(40), many in any::<bool>()) {
        let lines = if many { Lines::Many } else { Lines::One };
        if let Ok(clean) = text::clean(&raw, lines) {
            prop_assert!(clean.chars().all(|c| text::allowed(c, lines)), "{:?}", clean);
            prop_assert_eq!(clean.trim(), clean.as_str());
            prop_assert_eq!(text::clean(&clean, lines), Ok(clean.clone()));
        }
    }

    #[test]
    fn a_forbidden_character_is_always_refused(one in with_forbidden(Lines::One, 40), many in with_forbidden(Lines::Many, 40)) {
        prop_assert!(Title::parse(&one).is_err());
        prop_assert!(Tag::parse(&one).is_err());
        prop_assert!(Search::parse(&one).is_err());
        prop_assert!(UserName::parse(&one).is_err());
        let email = format!("{one}@example.com");
        prop_assert!(Email::parse(&email).is_err());
        prop_assert!(Description::parse(Some(&many)).is_err());
        prop_assert!(MessageText::parse(&many).is_err());
    }

    #[test]
    fn what_a_parser_accepts_it_accepts_again_unchanged(raw in text(60)) {
        if let Ok(title) = Title::parse(&raw) {
            prop_assert_eq!(Title::parse(title.as_str()), Ok(title));
        }
        if let Ok(Some(tag)) = Tag::parse(&raw) {
            prop_assert_eq!(Tag::parse(tag.as_str()), Ok(Some(tag)));
        }
        if let Ok(Some(search)) = Search::parse(&raw) {
            prop_assert_eq!(Search::parse(search.as_str()), Ok(Some(search)));
        }
        if let Ok(name) = UserName::parse(&raw) {
            prop_assert_eq!(UserName::parse(name.as_str()), Ok(name));
        }
        if let Ok(email) = Email::parse(&raw) {
            prop_assert_eq!(Email::parse(email.as_str()), Ok(email));
        }
        let description = Description::parse(Some(&raw));
        if let Ok(Some(text)) = description.as_ref().map(Description::as_deref) {
            prop_assert_eq!(Description::parse(Some(text)), description.clone());
        }
        if let Ok(message) = MessageText::parse(&raw) {
            let title = ConversationTitle::of(&message);
            prop_assert!(title.as_str().chars().all(|c| text::allowed(c, Lines::One)));
            prop_assert!(title.as_str().chars().count() <= ConversationTitle::MAX_CHARS + 1);
            prop_assert_eq!(MessageText::parse(message.as_str()), Ok(message));
        }
    }

    #[test]
    fn due_dates_are_years_1_to_9999_to_the_microsecond(at in instant()) {
        match DueAt::parse(at) {
            Ok(due) => {
                let stored = due.get();
                prop_assert!((1..=9999).contains(&chrono::Datelike::year(&stored)));
                prop_assert_eq!(chrono::Timelike::nanosecond(&stored) % 1_000, 0);
                let leap = chrono::Timelike::nanosecond(&at) >= 1_000_000_000;
                prop_assert!(leap || (stored <= at && at - stored < chrono::TimeDelta::microseconds(1)), "{} {}", at, stored);
                prop_assert_eq!(DueAt::parse(stored), Ok(due));
            }
            Err(_) => {
                let year = chrono::Datelike::year(&at);
                let leap_into_10000 = year == 9999 && chrono::Timelike::nanosecond(&at) >= 1_000_000_000;
                prop_assert!(!(1..=9999).contains(&year) || leap_into_10000, "{}", at);
            }
        }
    }
}
