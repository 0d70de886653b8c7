//! Dates as people say them, read in the time zone the browser sends: the offline assistant
//! and the model's tools both turn "tomorrow at 5pm" into the right instant, through
//! PostgreSQL's tz database.

use crate::{
    chat::spawn_with_model,
    helpers::{TestApp, TestUser, spawn_app},
};
use api_types::{ChatResponse, ConversationSummary, ErrorBody, Task};
use chrono::{DateTime, Datelike, Days, FixedOffset, NaiveDate, NaiveTime, TimeDelta, Utc};
use fake_model::FakeModel;
use reqwest::Method;
use serde_json::json;

async fn chat_in(app: &TestApp, user: &TestUser, zone: Option<&str>, message: &str) -> reqwest::Response {
    let mut body = json!({"message": message});
    if let Some(zone) = zone {
        body["time_zone"] = json!(zone);
    }
    app.authed(Method::POST, &format!("/api/{}/chat", user.id), user).json(&body).send().await.unwrap()
}

async fn chat_ok(app: &TestApp, user: &TestUser, zone: Option<&str>, message: &str) -> ChatResponse {
    let response = chat_in(app, user, zone, message).await;
    assert_eq!(response.status(), 200, "{message:?}: {}", response.text().await.unwrap_or_default());
    response.json().await.unwrap()
}

/// The task the chat turn's one tool call created or changed.
fn task_of(answer: &ChatResponse) -> Task {
    assert_eq!(answer.tool_calls.len(), 1, "{answer:?}");
    let result = &answer.tool_calls[0].result;
    assert_eq!(result["ok"], true, "{answer:?}");
    serde_json::from_value(result["task"].clone()).unwrap()
}

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

/// Asia/Kolkata has had UTC+05:30 all year since 1945: a test can work its dates out alone.
fn kolkata() -> FixedOffset {
    FixedOffset::east_opt(5 * 3600 + 1800).unwrap()
}

/// The instant of `time` on the day `days` after today in Kolkata, for each side of a
/// midnight that may fall during the request: the answer must be one of them.
fn kolkata_days_ahead(before: DateTime<Utc>, days: impl Fn(NaiveDate) -> u64, time: NaiveTime) -> Vec<DateTime<Utc>> {
    [before, Utc::now()]
        .iter()
        .map(|now| {
            let today = now.with_timezone(&kolkata()).date_naive();
            let day = today.checked_add_days(Days::new(days(today))).unwrap();
            day.and_time(time).and_local_timezone(kolkata()).unwrap().to_utc()
        })
        .collect()
}

fn at(hour: u32, minute: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(hour, minute, 0).unwrap()
}

#[tokio::test]
async fn the_sentences_of_issue_15_in_kolkata() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    let zone = Some("Asia/Kolkata");
    type DaysAhead = fn(NaiveDate) -> u64;
    // "next friday" is the Friday of next week, weeks starting on Monday.
    let next_friday: DaysAhead = |today| 7 - u64::from(today.weekday().num_days_from_monday()) + 4;
    let cases: [(&str, &str, DaysAhead, NaiveTime); 3] = [
        ("add task call bob tomorrow at 5pm", "call bob", |_| 1, at(17, 0)),
        ("add task dentist next friday", "dentist", next_friday, at(23, 59)),
        ("add task pay rent in 3 days", "pay rent", |_| 3, at(23, 59)),
    ];
    for (message, title, days, time) in cases {
        let before = Utc::now();
        let task = task_of(&chat_ok(&app, &user, zone, message).await);
        assert_eq!(task.title, title, "{message:?}");
        let expected = kolkata_days_ahead(before, days, time);
        assert!(expected.contains(&task.due_at.unwrap()), "{message:?}: {:?} not in {expected:?}", task.due_at);
    }
}

#[tokio::test]
async fn a_day_and_month_is_the_next_one_at_that_time_in_new_york() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    let task = task_of(&chat_ok(&app, &user, Some("America/New_York"), "add task party on Dec 24 at 17:00").await);
    assert_eq!(task.title, "party");
    // Dec 24 is in winter time (UTC-5): 17:00 there is 22:00 UTC, this year or, from Dec 25
    // on, the next.
    let due = task.due_at.unwrap();
    let new_york_today = (Utc::now() - TimeDelta::hours(5)).date_naive();
    let year = if (new_york_today.month(), new_york_today.day()) <= (12, 24) {
        new_york_today.year()
    } else {
        new_york_today.year() + 1
    };
    assert_eq!(due, utc(&format!("{year}-12-24T22:00:00Z")));
}

#[tokio::test]
async fn wall_times_become_instants_in_the_persons_zone_across_summer_time() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    let cases = [
        (Some("America/New_York"), "add task a on 2027-07-04 at 17:00", "2027-07-04T21:00:00Z"),
        (Some("America/New_York"), "add task b on 2027-01-15 at 5pm", "2027-01-15T22:00:00Z"),
        // A date alone is the end of that day where the person is.
        (Some("America/New_York"), "add task c 2027-01-15", "2027-01-16T04:59:00Z"),
        (Some("Asia/Kolkata"), "add task d 2027-01-15", "2027-01-15T18:29:00Z"),
        (Some("Asia/Kolkata"), "add task e Jan 15 2027 at noon", "2027-01-15T06:30:00Z"),
        // 02:30 does not exist on 2027-03-14 in New York (clocks jump from 02:00 to 03:00): it
        // reads with the offset before the jump, which is 03:30 summer time.
        (Some("America/New_York"), "add task f on 2027-03-14 at 2:30am", "2027-03-14T07:30:00Z"),
        // 01:30 happens twice on 2027-11-07: the second one, in standard time.
        (Some("America/New_York"), "add task g on 2027-11-07 at 1:30am", "2027-11-07T06:30:00Z"),
        (Some("Europe/London"), "add task h on 2027-03-28 at 12:00", "2027-03-28T11:00:00Z"),
        (Some("UTC"), "add task i on 2027-01-15 at 17:00", "2027-01-15T17:00:00Z"),
        // Without a zone: UTC.
        (None, "add task j on 2027-01-15 at 17:00", "2027-01-15T17:00:00Z"),
        (None, "add task k 2027-01-15", "2027-01-15T23:59:00Z"),
    ];
    for (zone, message, due) in cases {
        let answer = chat_ok(&app, &user, zone, message).await;
        let task = task_of(&answer);
        assert_eq!(task.due_at, Some(utc(due)), "{zone:?} {message:?}");
        assert_eq!(task.title.len(), 1, "{message:?}: the date left the title, {:?}", task.title);
    }
    // The answer gives the date as the person's clock reads it, not the UTC one.
    let answer = chat_ok(&app, &user, Some("America/New_York"), "add task late 2027-01-15").await;
    assert!(answer.response.ends_with("late (due 2027-01-15)."), "{}", answer.response);
    let moved = chat_ok(&app, &user, Some("Asia/Kolkata"), "move task 1 to 2027-02-01 at 9am").await;
    assert_eq!(task_of(&moved).due_at, Some(utc("2027-02-01T03:30:00Z")));
}

#[tokio::test]
async fn an_impossible_date_is_said_and_nothing_is_stored() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    for message in ["add task party on Feb 30", "add task wait in 99999999 days", "add task x on 2026-02-30"] {
        let answer = chat_ok(&app, &user, Some("Europe/Paris"), message).await;
        assert!(answer.response.starts_with("I couldn't read the date"), "{message:?}: {}", answer.response);
        assert!(answer.tool_calls.is_empty());
    }
    let page: api_types::TaskPage = app.call(Method::GET, &format!("/api/{}/tasks", user.id), &user, None).await;
    assert!(page.items.is_empty());
}

#[tokio::test]
async fn a_time_zone_that_does_not_exist_or_is_hostile_is_a_422_naming_it_and_stores_nothing() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    let long = "A".repeat(10_000);
    // PostgreSQL's AT TIME ZONE takes "PST", "UTC+5" and "FOO3" (abbreviations and POSIX
    // rules); none is a zone a browser names.
    let zones = [
        "Mars/Olympus_Mons",
        "PST",
        "UTC+5",
        "FOO3",
        "",
        "a\u{0}b",
        "Europe/\u{1b}[2JParis",
        "../../etc/passwd",
        &long,
    ];
    for zone in zones {
        let response = chat_in(&app, &user, Some(zone), "add task call bob tomorrow at 5pm").await;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert_eq!(status, 422, "{zone:.40?}: {text}");
        let body: ErrorBody = serde_json::from_str(&text).unwrap();
        assert_eq!(body.fields.iter().map(|f| f.field.as_str()).collect::<Vec<_>>(), ["time_zone"], "{zone:.40?}");
    }
    let response = chat_in(&app, &user, Some("Asia/Kolkata"), "help").await;
    assert_eq!(response.status(), 200);
    let conversations: Vec<ConversationSummary> =
        app.call(Method::GET, &format!("/api/{}/conversations", user.id), &user, None).await;
    assert_eq!(conversations.len(), 1, "only the turn with a real zone was stored");
}

#[tokio::test]
async fn a_model_may_pass_the_persons_words_and_knows_their_date_and_zone() {
    let fake = FakeModel::start().await;
    let Some(app) = spawn_with_model(&fake, 5).await else { return };
    let user = app.sign_up().await;
    fake.then_tools(&[
        ("call_1", "add_task", json!({"title": "call bob", "due_at": "tomorrow at 5pm"})),
        ("call_2", "add_task", json!({"title": "party", "due_at": "feb 30"})),
    ])
    .then_text("Added call bob; Feb 30 does not exist.");
    let before = Utc::now();
    let answer = chat_ok(&app, &user, Some("Asia/Kolkata"), "call bob tomorrow at 5pm, and a party on feb 30").await;
    assert_eq!(answer.tool_calls.len(), 2);
    let task: Task = serde_json::from_value(answer.tool_calls[0].result["task"].clone()).unwrap();
    let expected = kolkata_days_ahead(before, |_| 1, at(17, 0));
    assert!(expected.contains(&task.due_at.unwrap()), "{:?} not in {expected:?}", task.due_at);
    let failed = &answer.tool_calls[1].result;
    assert_eq!(failed["ok"], false);
    assert_eq!(failed["error"], "due_at: February has no day 30");
    let system = fake.accepted()[0]["messages"][0]["content"].as_str().unwrap_or_default().to_owned();
    let today = Utc::now().with_timezone(&kolkata()).format("%Y-%m-%d").to_string();
    assert!(system.contains("in the user's time zone, Asia/Kolkata."), "{system}");
    let yesterday = (Utc::now().with_timezone(&kolkata()) - TimeDelta::days(1)).format("%Y-%m-%d").to_string();
    assert!(system.contains(&today) || system.contains(&yesterday), "{system}");
    let description = &fake.accepted()[0]["tools"][0]["function"]["parameters"]["properties"]["due_at"];
    assert!(description["description"].as_str().is_some_and(|d| d.contains("tomorrow at 5pm")), "{description}");
}
