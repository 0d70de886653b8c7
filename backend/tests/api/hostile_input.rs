//! What a careless client or an attacker sends: control characters, dates PostgreSQL cannot
//! store, numbers outside their type. Each answer is a 4xx that names the field, never a 500,
//! and nothing already stored is lost.

use crate::helpers::{TestApp, TestUser, spawn_app};
use api_types::{ErrorBody, Task};
use backend::{
    agent::{
        clock::Clock,
        tools::{self, ToolError},
    },
    domain::ZoneName,
    store::changes::Origin,
};
use reqwest::{Method, Response};
use serde_json::{Value, json};

/// Asserts a 4xx error body that names `field`, and returns it.
async fn assert_names(response: Response, status: u16, field: &str, what: &str) -> ErrorBody {
    let actual = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    assert_eq!(actual, status, "{what}: {text}");
    let body: ErrorBody = serde_json::from_str(&text).unwrap_or_else(|error| panic!("{what}: {error} in {text}"));
    let named =
        body.fields.iter().any(|f| f.field == field) || (body.fields.is_empty() && body.message.contains(field));
    assert!(named, "{what} should name {field:?}: {body:?}");
    body
}

async fn send(app: &TestApp, user: &TestUser, method: Method, path: &str, body: Option<Value>) -> Response {
    let mut request = app.authed(method, &format!("/api/{}{path}", user.id), user);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn a_nul_in_the_sign_in_email_is_a_422_naming_it_without_a_token() {
    let Some(app) = spawn_app().await else { return };
    let response = app.post_json("/api/auth/sign-in", &json!({"email": "a\u{0}@example.com", "password": "x"})).await;
    assert_names(response, 422, "email", "sign-in").await;
    let response = app
        .post_json("/api/auth/sign-up", &json!({"email": "a\u{0}@example.com", "password": "long enough", "name": "A"}))
        .await;
    assert_names(response, 422, "email", "sign-up email").await;
    let response = app
        .post_json("/api/auth/sign-up", &json!({"email": "a@example.com", "password": "long enough", "name": "A\u{0}"}))
        .await;
    assert_names(response, 422, "name", "sign-up name").await;
}

#[tokio::test]
async fn control_characters_in_task_text_are_422s_naming_the_field() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    let task = app.create_task(&user, json!({"title": "Keep me"})).await;
    let one = format!("/tasks/{}", task.id);
    let cases = [
        (json!({"title": "a\u{0}b"}), "title"),
        (json!({"title": "a\u{1b}[31mred"}), "title"),
        (json!({"title": "two\nlines"}), "title"),
        (json!({"title": "tab\there"}), "title"),
        (json!({"title": "ok", "description": "a\u{0}b"}), "description"),
        (json!({"title": "ok", "description": "bell\u{7}"}), "description"),
        (json!({"title": "ok", "tags": ["a\u{0}"]}), "tags"),
        (json!({"title": "ok", "tags": ["a\u{85}b"]}), "tags"),
    ];
    for (body, field) in cases {
        for (method, path) in [(Method::POST, "/tasks"), (Method::PUT, one.as_str()), (Method::PATCH, one.as_str())] {
            let response = send(&app, &user, method.clone(), path, Some(body.clone())).await;
            assert_names(response, 422, field, &format!("{method} {body}")).await;
        }
    }
    // A lone surrogate cannot become a Rust string: the JSON is malformed.
    let lone = app
        .authed(Method::POST, &format!("/api/{}/tasks", user.id), &user)
        .header("content-type", "application/json")
        .body(r#"{"title": "a\ud800b"}"#)
        .send()
        .await
        .unwrap();
    assert_names(lone, 400, "title", "a lone surrogate").await;
    let kept: Task = app.call(Method::GET, &format!("/api/{}{one}", user.id), &user, None).await;
    assert_eq!(kept, task, "nothing was changed by the rejected writes");
}

#[tokio::test]
async fn multi_line_text_keeps_newlines_and_tabs() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    let task = app.create_task(&user, json!({"title": "Shopping", "description": "- milk\n-\teggs"})).await;
    assert_eq!(task.description.as_deref(), Some("- milk\n-\teggs"));
}

#[tokio::test]
async fn control_characters_in_query_parameters_are_4xxs_naming_the_parameter() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    for (query, field) in [("q=a%00b", "q"), ("q=a%0Ab", "q"), ("tag=a%00", "tag"), ("tag=%1B", "tag")] {
        let response = send(&app, &user, Method::GET, &format!("/tasks?{query}"), None).await;
        assert_names(response, 422, field, query).await;
    }
    // Invalid UTF-8 is replaced (U+FFFD) before any parser sees it: a search like any other.
    let response = send(&app, &user, Method::GET, "/tasks?q=%FF%FE", None).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_nul_in_a_chat_message_is_a_422_naming_it() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    for message in ["add task a\u{0}b", "\u{0}", "add task \u{1b}]0;pwned\u{7}"] {
        let response = send(&app, &user, Method::POST, "/chat", Some(json!({"message": message}))).await;
        assert_names(response, 422, "message", &format!("{message:?}")).await;
    }
    // A message of several lines is fine.
    let response =
        send(&app, &user, Method::POST, "/chat", Some(json!({"message": "show all my tasks\n\tplease"}))).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap_or_default());
}

#[tokio::test]
async fn due_dates_outside_years_1_to_9999_are_422s_naming_the_field() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    let task = app.create_task(&user, json!({"title": "Keep me", "due_at": "2030-01-01T00:00:00Z"})).await;
    let one = format!("/tasks/{}", task.id);
    for due in [
        "-5000-01-01T00:00:00Z",
        "+300000-01-01T00:00:00Z",
        "+10000-01-01T00:00:00Z",
        "0000-12-31T23:59:59Z",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:00:00-01:00",
    ] {
        for (method, path) in [(Method::POST, "/tasks"), (Method::PUT, one.as_str()), (Method::PATCH, one.as_str())] {
            let body = json!({"title": "x", "due_at": due});
            let response = send(&app, &user, method.clone(), path, Some(body)).await;
            assert_names(response, 422, "due_at", &format!("{method} {due}")).await;
        }
        for field in ["due_before", "due_after"] {
            let query = format!("/tasks?{field}={}", due.replace('+', "%2B"));
            let response = send(&app, &user, Method::GET, &query, None).await;
            assert_names(response, 422, field, &query).await;
        }
    }
    let kept: Task = app.call(Method::GET, &format!("/api/{}{one}", user.id), &user, None).await;
    assert_eq!(kept, task);
    // The ends of the range are stored and come back unchanged.
    for due in ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z"] {
        let created = app.create_task(&user, json!({"title": "edge", "due_at": due})).await;
        let text = serde_json::to_value(&created).unwrap()["due_at"].clone();
        assert_eq!(text, due);
    }
}

#[tokio::test]
async fn numbers_outside_their_type_are_4xxs_naming_the_parameter() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    for (query, field) in [
        ("limit=-1", "limit"),
        ("limit=99999999999999999999", "limit"),
        ("offset=-1", "offset"),
        ("offset=4294967296", "offset"),
        ("q=a&q=b", "q"),
        ("limit=1e3", "limit"),
    ] {
        let response = send(&app, &user, Method::GET, &format!("/tasks?{query}"), None).await;
        assert_names(response, 422, field, query).await;
    }
    for id in ["99999999999999999999", "-99999999999999999999", "1.5"] {
        let response = send(&app, &user, Method::GET, &format!("/tasks/{id}"), None).await;
        assert_names(response, 404, "id", id).await;
    }
    let response = send(&app, &user, Method::GET, "/tasks/-1", None).await;
    assert_eq!(response.status(), 404);
}

fn owner(user: &TestUser) -> uuid::Uuid {
    user.id.parse().unwrap()
}

#[tokio::test]
async fn the_chat_tools_refuse_what_the_rest_api_refuses() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    let task = app.create_task(&user, json!({"title": "Keep me"})).await;
    let cases = [
        ("add_task", json!({"title": "x", "due_at": "-5000-01-01"})),
        ("add_task", json!({"title": "x", "due_at": "-5000-01-01T00:00:00Z"})),
        ("add_task", json!({"title": "x", "due_at": "+10000-01-01"})),
        ("add_task", json!({"title": "x", "due_at": "0000-06-01"})),
        ("add_task", json!({"title": "a\u{0}b"})),
        ("add_task", json!({"title": "x", "tags": ["\u{0}"]})),
        ("list_tasks", json!({"search": "\u{0}"})),
        ("list_tasks", json!({"tag": "\u{0}"})),
        ("list_tasks", json!({"limit": -1})),
        ("update_task", json!({"task_id": task.id, "due_at": "-5000-01-01"})),
        ("add_task", json!({"title": "x", "due_at": "feb 30"})),
        ("add_task", json!({"title": "x", "due_at": "in 99999999 days"})),
        ("add_task", json!({"title": "x", "due_at": "10000-01-01"})),
        ("add_task", json!({"title": "x", "due_at": "whenever \u{0}"})),
        // The end of year 9999 in New York is already year 10000 in UTC.
        ("update_task", json!({"task_id": task.id, "due_at": "9999-12-31"})),
        ("update_task", json!({"task_id": task.id, "new_title": "\u{0}"})),
        ("update_task", json!({"title": "\u{0}", "priority": "low"})),
        ("complete_task", json!({"title": "Keep\u{0}"})),
        ("delete_task", json!({"title": "\u{0}"})),
        ("delete_task", json!({"task_id": "1"})),
        ("undo_last_change", json!({"change_id": 1})),
        ("undo_last_change", json!({})),
    ];
    let raw = [
        ("delete_task", r#"{"task_id": 99999999999999999999}"#.to_owned()),
        ("list_tasks", r#"{"limit": 4294967296}"#.to_owned()),
    ];
    let cases = cases.into_iter().map(|(name, arguments)| (name, arguments.to_string())).chain(raw);
    let zone = ZoneName::parse("America/New_York").unwrap();
    let clock = Clock::of(&app.pool, Some(zone)).await.expect("PostgreSQL knows New York");
    let caller = tools::Caller {
        pool: &app.pool,
        owner: owner(&user),
        origin: Origin { conversation: None, tool_call_id: None, batch: uuid::Uuid::new_v4() },
        undo_window: std::time::Duration::from_secs(60),
        clock: &clock,
    };
    for (name, arguments) in cases {
        match tools::execute(&caller, name, &arguments).await {
            Err(ToolError::Invalid(_) | ToolError::NotFound(_)) => {}
            other => panic!("{name} {arguments}: {other:?}"),
        }
    }
    let kept: Task = app.call(Method::GET, &format!("/api/{}/tasks/{}", user.id, task.id), &user, None).await;
    assert_eq!(kept, task);
}

/// serde reads a struct from an array too, field by field in declaration order: schemathesis
/// sent `PATCH [null, null]`, which cleared the task's description. Every body is an object.
#[tokio::test]
async fn an_array_body_is_a_422_and_changes_nothing() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    let task = app.create_task(&user, json!({"title": "keep", "description": "important notes"})).await;
    let one = format!("/tasks/{}", task.id);
    let complete = format!("{one}/complete");
    let cases = [
        (Method::PATCH, one.as_str(), json!([null, null])),
        (Method::PUT, one.as_str(), json!(["renamed"])),
        (Method::POST, "/tasks", json!(["new"])),
        (Method::PATCH, complete.as_str(), json!([true])),
    ];
    for (method, path, body) in cases {
        let response = send(&app, &user, method.clone(), path, Some(body.clone())).await;
        assert_names(response, 422, "body", &format!("{method} {path} {body}")).await;
    }
    let response = app.post_json("/api/auth/sign-in", &json!(["a@example.com", "password"])).await;
    assert_names(response, 422, "body", "sign-in").await;
    let kept: Task = app.call(Method::GET, &format!("/api/{}{one}", user.id), &user, None).await;
    assert_eq!(kept, task, "nothing was changed by the rejected writes");
    // `null`, which the document allows as complete's optional body, toggles like no body.
    let toggled = send(&app, &user, Method::PATCH, &complete, Some(Value::Null)).await;
    assert_eq!(toggled.status(), 200);
    assert!(toggled.json::<Task>().await.unwrap().completed);
}

/// Path segments that are not UTF-8 once decoded: a `{user_id}` like that is nobody's (403, as
/// the document says of another user's id), a task id like that is no task (404).
#[tokio::test]
async fn path_parameters_that_are_not_utf8_are_403_or_404() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    for path in ["/api/%FF/tasks", "/api/%FF/conversations", "/api/%C3%28/tasks/1"] {
        let response = app.authed(Method::GET, path, &user).send().await.unwrap();
        assert_eq!(response.status(), 403, "{path}");
    }
    let response = app.authed(Method::GET, &format!("/api/{}/tasks/%FF", user.id), &user).send().await.unwrap();
    assert_eq!(response.status(), 404);
}
