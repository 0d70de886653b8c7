//! Sessions that end: an absolute lifetime from sign-in, sign-out of one session, sign-out
//! everywhere, and a password change that ends every earlier token on every route.

use crate::helpers::{TestApp, TestUser, spawn_app};
use api_types::{AuthResponse, ErrorBody};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

const MINUTE: Duration = Duration::from_secs(60);

fn with_token(user: &TestUser, token: &str) -> TestUser {
    TestUser {
        id: user.id.clone(),
        email: user.email.clone(),
        password: user.password.clone(),
        token: token.to_owned(),
    }
}

async fn sign_in(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    app.post_json("/api/auth/sign-in", &json!({"email": email, "password": password})).await
}

async fn signed_in(app: &TestApp, user: &TestUser) -> TestUser {
    let response = sign_in(app, &user.email, &user.password).await;
    assert_eq!(response.status(), 200);
    let body: AuthResponse = response.json().await.unwrap();
    with_token(user, &body.token)
}

/// The status and error message of an authenticated call.
async fn outcome(request: reqwest::RequestBuilder) -> (u16, String) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let message = match response.json::<ErrorBody>().await {
        Ok(body) => body.message,
        Err(_) => String::new(),
    };
    (status, message)
}

async fn refresh(app: &TestApp, user: &TestUser) -> reqwest::Response {
    app.authed(Method::POST, "/api/auth/refresh", user).send().await.unwrap()
}

async fn me(app: &TestApp, user: &TestUser) -> (u16, String) {
    outcome(app.authed(Method::GET, "/api/auth/me", user)).await
}

async fn change_password(app: &TestApp, user: &TestUser, current: &str, new: &str) -> reqwest::Response {
    app.authed(Method::POST, "/api/auth/password", user)
        .json(&json!({"current_password": current, "new_password": new}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_session_ends_at_its_maximum_lifetime_however_often_it_is_refreshed() {
    // spawn_app: tokens live an hour, sessions two.
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    let first: AuthResponse = sign_in(&app, &user.email, &user.password).await.json().await.unwrap();
    // Its first token lasts the token lifetime from sign-in; the session two hours.
    let session_end = first.expires_at + chrono::TimeDelta::hours(1);

    // A client that refreshes every 55 minutes, as its hour-long tokens run out.
    app.clock.advance(55 * MINUTE);
    let second: AuthResponse = refresh(&app, &with_token(&user, &first.token)).await.json().await.unwrap();
    assert!(second.expires_at > first.expires_at);
    app.clock.advance(55 * MINUTE);
    let third: AuthResponse = refresh(&app, &with_token(&user, &second.token)).await.json().await.unwrap();
    assert_eq!(third.expires_at, session_end, "the last token ends with the session, not an hour later");

    app.clock.advance(15 * MINUTE);
    let last = with_token(&user, &third.token);
    let refused = refresh(&app, &last).await;
    assert_eq!(refused.status(), 401);
    let body: ErrorBody = refused.json().await.unwrap();
    assert!(body.message.contains("maximum lifetime since sign-in"), "{}", body.message);
    let (status, message) = me(&app, &last).await;
    assert_eq!(status, 401);
    assert!(message.contains("maximum lifetime"), "{message}");

    // Signing in again starts a new session.
    let again = signed_in(&app, &user).await;
    assert_eq!(me(&app, &again).await.0, 200);
}

#[tokio::test]
async fn signing_out_ends_this_session_only() {
    let Some(app) = spawn_app().await else { return };
    let laptop = app.sign_up().await;
    let phone = signed_in(&app, &laptop).await;
    let refreshed: AuthResponse = refresh(&app, &laptop).await.json().await.unwrap();
    let laptop_refreshed = with_token(&laptop, &refreshed.token);

    let signed_out = app.authed(Method::POST, "/api/auth/sign-out", &laptop).send().await.unwrap();
    assert_eq!(signed_out.status(), 204);

    for token in [&laptop, &laptop_refreshed] {
        let (status, message) = me(&app, token).await;
        assert_eq!(status, 401);
        assert!(message.contains("this session was signed out"), "{message}");
        assert_eq!(refresh(&app, token).await.status(), 401, "a signed-out session cannot be refreshed");
    }
    assert_eq!(me(&app, &phone).await.0, 200, "the other session goes on");
    let again = app.authed(Method::POST, "/api/auth/sign-out", &laptop).send().await.unwrap();
    assert_eq!(again.status(), 401);
}

#[tokio::test]
async fn signing_out_everywhere_ends_every_session() {
    let Some(app) = spawn_app().await else { return };
    let laptop = app.sign_up().await;
    let phone = signed_in(&app, &laptop).await;
    let response = app.authed(Method::POST, "/api/auth/sign-out-everywhere", &phone).send().await.unwrap();
    assert_eq!(response.status(), 204);
    for session in [&laptop, &phone] {
        let (status, message) = me(&app, session).await;
        assert_eq!(status, 401);
        assert!(message.contains("signing out everywhere"), "{message}");
    }
    let again = signed_in(&app, &laptop).await;
    assert_eq!(me(&app, &again).await.0, 200);
}

/// Every kind of authenticated route a token opens: REST, the chat and MCP.
async fn statuses_on_every_route(app: &TestApp, user: &TestUser) -> Vec<(&'static str, u16)> {
    let tasks = format!("/api/{}/tasks", user.id);
    let rpc = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "list_tasks", "arguments": {}}});
    let mut statuses = Vec::new();
    for (name, request) in [
        ("GET /api/auth/me", app.authed(Method::GET, "/api/auth/me", user)),
        ("POST /api/auth/refresh", app.authed(Method::POST, "/api/auth/refresh", user)),
        ("GET tasks", app.authed(Method::GET, &tasks, user)),
        ("POST tasks", app.authed(Method::POST, &tasks, user).json(&json!({"title": "after the change"}))),
        ("GET conversations", app.authed(Method::GET, &format!("/api/{}/conversations", user.id), user)),
        (
            "POST chat",
            app.authed(Method::POST, &format!("/api/{}/chat", user.id), user)
                .json(&json!({"message": "list my tasks"})),
        ),
        (
            "POST /mcp",
            app.authed(Method::POST, "/mcp", user)
                .header("accept", "application/json, text/event-stream")
                .header("mcp-protocol-version", "2025-11-25")
                .json(&rpc),
        ),
    ] {
        statuses.push((name, request.send().await.unwrap().status().as_u16()));
    }
    statuses
}

#[tokio::test]
async fn a_password_change_ends_every_earlier_token_on_every_route_and_keeps_the_caller_signed_in() {
    let Some(app) = spawn_app().await else { return };
    let laptop = app.sign_up().await;
    let phone = signed_in(&app, &laptop).await;
    let new_password = "a much longer passphrase now";

    let response = change_password(&app, &laptop, &laptop.password, new_password).await;
    assert_eq!(response.status(), 200);
    let fresh: AuthResponse = response.json().await.unwrap();
    assert_eq!(fresh.user.id, laptop.id);
    let fresh = TestUser { password: new_password.to_owned(), ..with_token(&laptop, &fresh.token) };

    for old in [&laptop, &phone] {
        let statuses = statuses_on_every_route(&app, old).await;
        assert!(statuses.iter().all(|(_, status)| *status == 401), "an old token still opens: {statuses:?}");
        let (_, message) = me(&app, old).await;
        assert!(message.contains("password change"), "{message}");
    }
    let statuses = statuses_on_every_route(&app, &fresh).await;
    assert!(statuses.iter().all(|(_, status)| (200..300).contains(status)), "the new token: {statuses:?}");

    assert_eq!(sign_in(&app, &laptop.email, &laptop.password).await.status(), 401, "the old password");
    assert_eq!(sign_in(&app, &laptop.email, new_password).await.status(), 200, "the new password");
}

async fn field_errors(response: reqwest::Response) -> (u16, Vec<(String, String)>) {
    let status = response.status().as_u16();
    let body: ErrorBody = response.json().await.unwrap();
    (status, body.fields.into_iter().map(|field| (field.field, field.message)).collect())
}

#[tokio::test]
async fn a_wrong_current_password_or_a_bad_new_one_is_a_422_naming_the_field_and_changes_nothing() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    let good = "a perfectly fine new password";
    let long = "x".repeat(129);
    let very_long = "y".repeat(60_000);
    let cases: [(&str, &str, &str); 7] = [
        ("wrong password entirely", good, "current_password"),
        ("", good, "current_password"),
        ("correct horse battery staple\u{0}", good, "current_password"),
        (&very_long, good, "current_password"),
        (&user.password, "short", "new_password"),
        (&user.password, &long, "new_password"),
        (&user.password, &user.password, "new_password"),
    ];
    for (current, new, field) in cases {
        let (status, fields) = field_errors(change_password(&app, &user, current, new).await).await;
        assert_eq!(status, 422, "{field} for {:?}/{:?}", current.get(..20), new.get(..20));
        assert_eq!(fields.len(), 1, "{fields:?}");
        assert_eq!(fields[0].0, field, "{fields:?}");
    }

    // Malformed bodies: the JSON rules of every route.
    for (body, field) in [
        (json!({"current_password": user.password}), "new_password"),
        (json!({"new_password": good}), "current_password"),
        (json!({"current_password": 5, "new_password": good}), "current_password"),
        (json!({"current_password": user.password, "new_password": null}), "new_password"),
    ] {
        let response = app.authed(Method::POST, "/api/auth/password", &user).json(&body).send().await.unwrap();
        let (status, fields) = field_errors(response).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(fields[0].0, field, "{body}: {fields:?}");
    }
    let not_json = app
        .authed(Method::POST, "/api/auth/password", &user)
        .header("content-type", "application/json")
        .body("{\"current_password\":")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);
    let no_token = app.post_json("/api/auth/password", &json!({"current_password": "a", "new_password": good})).await;
    assert_eq!(no_token.status(), 401);

    // Nothing changed: the token still works and the old password still signs in.
    assert_eq!(me(&app, &user).await.0, 200);
    assert_eq!(sign_in(&app, &user.email, &user.password).await.status(), 200);
}

/// A new password may hold any character (only its hash is stored), NUL and emoji included,
/// and signs in exactly as given.
#[tokio::test]
async fn any_characters_make_a_new_password() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    let odd = "nul\u{0}tab\tnewline\n\u{202e}🔑";
    assert_eq!(change_password(&app, &user, &user.password, odd).await.status(), 200);
    assert_eq!(sign_in(&app, &user.email, odd).await.status(), 200);
    assert_eq!(sign_in(&app, &user.email, "nultab\tnewline\n\u{202e}🔑").await.status(), 401);
}

#[tokio::test]
async fn tokens_without_the_session_claims_or_at_another_version_are_refused() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    let now = chrono::Utc::now().timestamp();
    let forge =
        |claims: Value| crate::helpers::forged(claims, crate::helpers::TEST_SECRET, crate::helpers::Hmac::Sha256);
    let base = json!({"sub": user.id, "email": user.email, "iat": now, "exp": now + 600, "iss": "todo-chatbot"});
    let mut with_session = base.clone();
    with_session["sid"] = json!(uuid::Uuid::new_v4());
    with_session["auth_time"] = json!(now);
    with_session["ver"] = json!(0);
    assert_eq!(me(&app, &with_token(&user, &forge(with_session.clone()))).await.0, 200, "the control");

    // A token from before sessions could end: no session id, no sign-in time.
    assert_eq!(me(&app, &with_token(&user, &forge(base))).await.0, 401);
    let mut other_version = with_session.clone();
    other_version["ver"] = json!(1);
    assert_eq!(me(&app, &with_token(&user, &forge(other_version))).await.0, 401);
    let mut signed_in_long_ago = with_session.clone();
    signed_in_long_ago["auth_time"] = json!(now - 2 * 3600 - 1);
    let (status, message) = me(&app, &with_token(&user, &forge(signed_in_long_ago))).await;
    assert_eq!(status, 401);
    assert!(message.contains("maximum lifetime"), "{message}");
    let mut not_a_session = with_session;
    not_a_session["sid"] = json!("not-a-uuid");
    assert_eq!(me(&app, &with_token(&user, &forge(not_a_session))).await.0, 401);
}

/// The task list checks the session inside its own query; with tasks to show, a closed session
/// must still be refused, and before any other answer.
#[tokio::test]
async fn a_closed_session_cannot_list_existing_tasks() {
    let Some(app) = spawn_app().await else { return };
    let laptop = app.sign_up().await;
    for title in ["one", "two"] {
        app.create_task(&laptop, json!({"title": title})).await;
    }
    let phone = signed_in(&app, &laptop).await;
    let tablet = signed_in(&app, &laptop).await;
    let stranger = app.sign_up().await;
    let list =
        |user: &TestUser, query: &str| app.authed(Method::GET, &format!("/api/{}/tasks{query}", laptop.id), user);
    let page: api_types::TaskPage = list(&laptop, "").send().await.unwrap().json().await.unwrap();
    assert_eq!(page.items.len(), 2, "the control");

    assert_eq!(app.authed(Method::POST, "/api/auth/sign-out", &laptop).send().await.unwrap().status(), 204);
    for query in ["", "?limit=1", "?limit=0", "?sort=nonsense", "?offset=-1"] {
        let (status, message) = outcome(list(&laptop, query)).await;
        assert_eq!(status, 401, "{query}: {message}");
        assert!(message.contains("this session was signed out"), "{query}: {message}");
    }
    let another_users = app.authed(Method::GET, &format!("/api/{}/tasks", stranger.id), &laptop);
    assert_eq!(outcome(another_users).await.0, 401, "closed is 401 before another user's path is 403");
    assert_eq!(outcome(list(&phone, "")).await.0, 200, "the other sessions go on");

    assert_eq!(change_password(&app, &phone, &laptop.password, "a different passphrase").await.status(), 200);
    for old in [&phone, &tablet] {
        let (status, message) = outcome(list(old, "")).await;
        assert_eq!(status, 401, "{message}");
        assert!(message.contains("password change"), "{message}");
    }
}
