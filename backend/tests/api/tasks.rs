use crate::helpers::{TestApp, TestUser, spawn_app};
use api_types::{ErrorBody, Priority, Task, TaskPage};
use reqwest::Method;
use serde_json::json;

pub async fn list(app: &TestApp, user: &TestUser, query: &str) -> TaskPage {
    let response = app.authed(Method::GET, &format!("/api/{}/tasks?{query}", user.id), user).send().await.unwrap();
    assert_eq!(response.status(), 200, "{query}: {}", response.text().await.unwrap_or_default());
    response.json().await.unwrap()
}

pub async fn list_error(app: &TestApp, user: &TestUser, query: &str) -> (u16, ErrorBody) {
    let response = app.authed(Method::GET, &format!("/api/{}/tasks?{query}", user.id), user).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn titles(page: &TaskPage) -> Vec<&str> {
    page.items.iter().map(|task| task.title.as_str()).collect()
}

#[tokio::test]
async fn create_read_update_complete_delete() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    let created = app
        .create_task(
            &user,
            json!({"title": "  Pay bills ", "description": "electricity", "priority": "high",
                   "tags": ["Home", "#money", "home"], "due_at": "2030-01-04T17:00:00+01:00"}),
        )
        .await;
    assert_eq!(created.title, "Pay bills");
    assert_eq!(created.priority, Priority::High);
    assert_eq!(created.tags, ["home", "money"]);
    assert_eq!(created.due_at.unwrap().to_rfc3339(), "2030-01-04T16:00:00+00:00");
    assert!(!created.completed && created.completed_at.is_none());

    let path = format!("/api/{}/tasks/{}", user.id, created.id);
    let fetched: Task = app.call(Method::GET, &path, &user, None).await;
    assert_eq!(fetched, created);

    // PATCH changes only what is given; null clears.
    let patched: Task =
        app.call(Method::PATCH, &path, &user, Some(&json!({"title": "Pay all bills", "due_at": null}))).await;
    assert_eq!(patched.title, "Pay all bills");
    assert_eq!(patched.description.as_deref(), Some("electricity"));
    assert_eq!(patched.due_at, None);
    assert!(patched.updated_at >= created.updated_at);

    // Toggle without a body, then set explicitly.
    let complete = format!("{path}/complete");
    let done: Task = app.call(Method::PATCH, &complete, &user, None).await;
    assert!(done.completed && done.completed_at.is_some());
    let undone: Task = app.call(Method::PATCH, &complete, &user, None).await;
    assert!(!undone.completed && undone.completed_at.is_none());
    let set: Task = app.call(Method::PATCH, &complete, &user, Some(&json!({"completed": true}))).await;
    let set_again: Task = app.call(Method::PATCH, &complete, &user, Some(&json!({"completed": true}))).await;
    assert!(set.completed && set_again.completed);
    assert_eq!(set.completed_at, set_again.completed_at, "setting twice keeps the first completion time");

    // PUT replaces everything: absent fields take their defaults.
    let replaced: Task = app.call(Method::PUT, &path, &user, Some(&json!({"title": "Replaced"}))).await;
    assert_eq!(replaced.title, "Replaced");
    assert_eq!(replaced.description, None);
    assert_eq!(replaced.priority, Priority::Medium);
    assert!(replaced.tags.is_empty());
    assert!(!replaced.completed);

    assert_eq!(app.authed(Method::DELETE, &path, &user).send().await.unwrap().status(), 204);
    assert_eq!(app.authed(Method::GET, &path, &user).send().await.unwrap().status(), 404);
    assert_eq!(app.authed(Method::DELETE, &path, &user).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn validation_edges_name_each_bad_field() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    let tasks = format!("/api/{}/tasks", user.id);
    let post = |body: serde_json::Value| app.authed(Method::POST, &tasks, &user).json(&body).send();

    // Exactly at the limits is fine.
    let longest = "t".repeat(200);
    let ok = post(json!({"title": longest, "description": "d".repeat(1000),
                          "tags": (0..10).map(|i| format!("{i}{}", "x".repeat(31))).collect::<Vec<_>>()}))
    .await
    .unwrap();
    assert_eq!(ok.status(), 201);

    let cases = [
        (json!({"title": ""}), "title"),
        (json!({"title": "   "}), "title"),
        (json!({"title": "t".repeat(201)}), "title"),
        (json!({"title": "ok", "description": "d".repeat(1001)}), "description"),
        (json!({"title": "ok", "tags": (0..11).map(|i| i.to_string()).collect::<Vec<_>>()}), "tags"),
        (json!({"title": "ok", "tags": ["x".repeat(33)]}), "tags"),
        (json!({"title": "ok", "priority": "extreme"}), "priority"),
        (json!({"title": "ok", "due_at": "next friday"}), "due_at"),
        (json!({"title": 42}), "title"),
    ];
    for (body, field) in cases {
        let response = post(body.clone()).await.unwrap();
        assert_eq!(response.status(), 422, "{body}");
        let error: ErrorBody = response.json().await.unwrap();
        assert_eq!(error.error, "validation_failed");
        assert!(error.fields.iter().any(|f| f.field == field), "{body} should name {field}: {error:?}");
    }

    let several = post(json!({"title": "", "description": "d".repeat(1001)})).await.unwrap();
    let error: ErrorBody = several.json().await.unwrap();
    let names: Vec<_> = error.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(names, ["title", "description"]);

    let not_json = app.authed(Method::POST, &tasks, &user).body("title=x").send().await.unwrap();
    assert_eq!(not_json.status(), 415);
    let body: ErrorBody = not_json.json().await.unwrap();
    assert_eq!(body.error, "unsupported_media_type");
    let malformed = app
        .authed(Method::POST, &tasks, &user)
        .header("content-type", "application/json")
        .body("{\"title\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    assert_eq!(malformed.json::<ErrorBody>().await.unwrap().error, "bad_request");
    let bad_id = app.authed(Method::GET, &format!("{tasks}/not-a-number"), &user).send().await.unwrap();
    assert_eq!(bad_id.status(), 404);
}

#[tokio::test]
async fn filters_search_and_sorting() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    let other = app.sign_up().await;
    app.create_task(&other, json!({"title": "Other user's report"})).await;
    let report = app
        .create_task(
            &user,
            json!({"title": "Write report", "priority": "high", "tags": ["work"], "due_at": "2030-03-01T00:00:00Z"}),
        )
        .await;
    app.create_task(
        &user,
        json!({"title": "buy milk", "priority": "low", "tags": ["home"], "due_at": "2030-01-01T00:00:00Z"}),
    )
    .await;
    app.create_task(&user, json!({"title": "Call Bob", "description": "about the REPORT", "tags": ["work", "phone"]}))
        .await;
    app.create_task(&user, json!({"title": "100% done_ness"})).await;
    app.authed(Method::PATCH, &format!("/api/{}/tasks/{}/complete", user.id, report.id), &user).send().await.unwrap();

    assert_eq!(list(&app, &user, "").await.total, 4, "only the user's own tasks");
    assert_eq!(titles(&list(&app, &user, "status=completed").await), ["Write report"]);
    assert_eq!(list(&app, &user, "status=pending").await.total, 3);
    assert_eq!(titles(&list(&app, &user, "priority=low").await), ["buy milk"]);
    assert_eq!(titles(&list(&app, &user, "tag=Work&sort=title&order=asc").await), ["Call Bob", "Write report"]);
    assert_eq!(titles(&list(&app, &user, "q=report&sort=title&order=asc").await), ["Call Bob", "Write report"]);
    assert_eq!(titles(&list(&app, &user, "q=%25").await), ["100% done_ness"], "% is literal");
    assert_eq!(titles(&list(&app, &user, "due_before=2030-02-01T00:00:00Z").await), ["buy milk"]);
    assert_eq!(titles(&list(&app, &user, "due_after=2030-02-01T00:00:00Z").await), ["Write report"]);

    assert_eq!(
        titles(&list(&app, &user, "sort=title&order=asc").await),
        ["100% done_ness", "buy milk", "Call Bob", "Write report"],
        "case-insensitive"
    );
    assert_eq!(titles(&list(&app, &user, "sort=due&order=asc").await)[..2], ["buy milk", "Write report"]);
    assert_eq!(
        titles(&list(&app, &user, "sort=due&order=desc").await)[..2],
        ["Write report", "buy milk"],
        "no date last"
    );
    assert_eq!(titles(&list(&app, &user, "sort=priority&order=desc").await)[0], "Write report");
    assert_eq!(titles(&list(&app, &user, "sort=priority&order=asc").await)[0], "buy milk");
    assert_eq!(titles(&list(&app, &user, "sort=created&order=desc").await)[0], "100% done_ness");

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("status=done", "status"),
        ("sort=colour", "sort"),
        ("due_before=tomorrow", "due_before"),
        ("due_after=2030-02-01T00:00:00Z&due_before=2030-01-01T00:00:00Z", "due_after"),
    ] {
        let (status, body) = list_error(&app, &user, query).await;
        assert_eq!(status, 422, "{query}");
        assert!(body.fields.iter().any(|f| f.field == field), "{query} should name {field}: {body:?}");
    }
}

#[tokio::test]
async fn pagination_is_stable_and_counts_everything() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    for i in 0..7 {
        app.create_task(&user, json!({"title": format!("task {i}")})).await;
    }
    let mut seen = Vec::new();
    let mut offset = Some(0);
    while let Some(next) = offset {
        let page = list(&app, &user, &format!("limit=3&offset={next}&sort=title&order=asc")).await;
        assert_eq!(page.total, 7);
        assert!(page.items.len() <= 3);
        seen.extend(page.items.into_iter().map(|t| t.title));
        offset = page.next_offset;
    }
    let expected: Vec<String> = (0..7).map(|i| format!("task {i}")).collect();
    assert_eq!(seen, expected, "every task once, in order");
    let past_the_end = list(&app, &user, "limit=3&offset=30").await;
    assert!(past_the_end.items.is_empty());
    assert_eq!(past_the_end.total, 7);
    assert_eq!(past_the_end.next_offset, None);
}
