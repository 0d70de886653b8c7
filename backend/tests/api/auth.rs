use crate::helpers::{Hmac, TEST_SECRET, TestApp, b64, forged, spawn_app};
use api_types::{AuthResponse, ErrorBody, User};
use reqwest::Method;
use serde_json::json;

fn fields(body: &ErrorBody) -> Vec<&str> {
    body.fields.iter().map(|field| field.field.as_str()).collect()
}

#[tokio::test]
async fn sign_up_returns_the_user_and_a_working_token() {
    let Some(app) = spawn_app().await else { return };
    let response = app
        .post_json(
            "/api/auth/sign-up",
            &json!({"email": "  Ada@Example.COM ", "password": "analytical engine", "name": " Ada "}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let body: AuthResponse = response.json().await.unwrap();
    assert_eq!(body.user.email, "ada@example.com", "emails are normalised");
    assert_eq!(body.user.name, "Ada");
    let me: User =
        app.client.get(app.url("/api/auth/me")).bearer_auth(&body.token).send().await.unwrap().json().await.unwrap();
    assert_eq!(me, body.user);
    // Stored as an argon2id hash, never in clear.
    let (hash,): (String,) = sqlx::query_as("SELECT password_hash FROM users").fetch_one(&app.pool).await.unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
}

#[tokio::test]
async fn a_duplicate_email_is_a_conflict_whatever_its_case() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    let response = app
        .post_json(
            "/api/auth/sign-up",
            &json!({"email": user.email.to_uppercase(), "password": "another password", "name": "X"}),
        )
        .await;
    assert_eq!(response.status(), 409);
    let body: ErrorBody = response.json().await.unwrap();
    assert_eq!(body.error, "conflict");
}

#[tokio::test]
async fn sign_up_names_every_invalid_field() {
    let Some(app) = spawn_app().await else { return };
    let response =
        app.post_json("/api/auth/sign-up", &json!({"email": "not-an-email", "password": "short", "name": "  "})).await;
    assert_eq!(response.status(), 422);
    let body: ErrorBody = response.json().await.unwrap();
    assert_eq!(body.error, "validation_failed");
    assert_eq!(fields(&body), ["email", "password", "name"]);
}

#[tokio::test]
async fn a_missing_field_is_a_422_naming_it() {
    let Some(app) = spawn_app().await else { return };
    let response = app.post_json("/api/auth/sign-up", &json!({"email": "a@b.co", "name": "A"})).await;
    assert_eq!(response.status(), 422);
    let body: ErrorBody = response.json().await.unwrap();
    assert_eq!(fields(&body), ["password"], "{body:?}");
}

#[tokio::test]
async fn sign_in_works_and_wrong_credentials_get_one_generic_401() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    let ok = app.post_json("/api/auth/sign-in", &json!({"email": user.email, "password": user.password})).await;
    assert_eq!(ok.status(), 200);
    let session: AuthResponse = ok.json().await.unwrap();
    assert_eq!(session.user.id, user.id);

    let wrong_password =
        app.post_json("/api/auth/sign-in", &json!({"email": user.email, "password": "wrong password!"})).await;
    let unknown_email =
        app.post_json("/api/auth/sign-in", &json!({"email": "nobody@example.com", "password": user.password})).await;
    assert_eq!(wrong_password.status(), 401);
    assert_eq!(unknown_email.status(), 401);
    let a: ErrorBody = wrong_password.json().await.unwrap();
    let b: ErrorBody = unknown_email.json().await.unwrap();
    assert_eq!(a, b, "no hint which part was wrong");
}

#[tokio::test]
async fn refresh_gives_a_new_valid_token() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    let response = app.authed(Method::POST, "/api/auth/refresh", &user).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let fresh: AuthResponse = response.json().await.unwrap();
    let me = app.client.get(app.url("/api/auth/me")).bearer_auth(&fresh.token).send().await.unwrap();
    assert_eq!(me.status(), 200);
}

async fn status_with(app: &TestApp, path: &str, authorization: Option<&str>) -> u16 {
    let mut request = app.client.get(app.url(path));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn the_auth_matrix() {
    let Some(app) = spawn_app().await else { return };
    let user = app.sign_up().await;
    let other = app.sign_up().await;
    let tasks = format!("/api/{}/tasks", user.id);
    let now = chrono::Utc::now().timestamp();
    let claims = |exp: i64| {
        json!({"sub": user.id, "email": user.email, "iat": now - 10, "exp": exp, "iss": "todo-chatbot",
            "sid": uuid::Uuid::new_v4(), "auth_time": now - 10, "ver": 0})
    };

    assert_eq!(status_with(&app, &tasks, None).await, 401, "no token");
    assert_eq!(status_with(&app, &tasks, Some("Token abc")).await, 401, "not a bearer scheme");
    assert_eq!(status_with(&app, &tasks, Some("Bearer not.a.jwt")).await, 401, "malformed");
    let wrong_key = forged(claims(now + 600), b"some-other-secret-that-is-long-enough!!", Hmac::Sha256);
    assert_eq!(status_with(&app, &tasks, Some(&format!("Bearer {wrong_key}"))).await, 401, "wrong key");
    let expired = forged(claims(now - 3600), TEST_SECRET, Hmac::Sha256);
    assert_eq!(status_with(&app, &tasks, Some(&format!("Bearer {expired}"))).await, 401, "expired");
    let other_algorithm = forged(claims(now + 600), TEST_SECRET, Hmac::Sha512);
    assert_eq!(status_with(&app, &tasks, Some(&format!("Bearer {other_algorithm}"))).await, 401, "HS512");
    let none = format!("{}.{}.", b64(br#"{"alg":"none","typ":"JWT"}"#), b64(claims(now + 600).to_string().as_bytes()));
    assert_eq!(status_with(&app, &tasks, Some(&format!("Bearer {none}"))).await, 401, "alg none");
    let wrong_issuer = forged(
        json!({"sub": user.id, "email": user.email, "iat": now, "exp": now + 600, "iss": "someone-else",
            "sid": uuid::Uuid::new_v4(), "auth_time": now, "ver": 0}),
        TEST_SECRET,
        Hmac::Sha256,
    );
    assert_eq!(status_with(&app, &tasks, Some(&format!("Bearer {wrong_issuer}"))).await, 401, "issuer");
    let valid = forged(claims(now + 600), TEST_SECRET, Hmac::Sha256);
    assert_eq!(status_with(&app, &tasks, Some(&format!("Bearer {valid}"))).await, 200, "a valid forged-by-us token");

    // Another user's routes: 403; another user's task: 404.
    assert_eq!(
        status_with(&app, &format!("/api/{}/tasks", other.id), Some(&format!("Bearer {}", user.token))).await,
        403
    );
    let theirs = app.create_task(&other, json!({"title": "private"})).await;
    let path = format!("/api/{}/tasks/{}", user.id, theirs.id);
    for method in [Method::GET, Method::PATCH, Method::PUT, Method::DELETE] {
        let response =
            app.authed(method.clone(), &path, &user).json(&json!({"title": "mine now"})).send().await.unwrap();
        assert_eq!(response.status(), 404, "{method} on another user's task");
    }
    let complete = app.authed(Method::PATCH, &format!("{path}/complete"), &user).send().await.unwrap();
    assert_eq!(complete.status(), 404);
    let response =
        app.authed(Method::GET, &format!("/api/{}/tasks/{}", other.id, theirs.id), &other).send().await.unwrap();
    let still: api_types::Task = response.json().await.unwrap();
    assert_eq!(still.title, "private", "untouched");
    let unauthorized = app.client.get(app.url(&tasks)).send().await.unwrap();
    assert_eq!(unauthorized.headers()["www-authenticate"], "Bearer");
    let body: ErrorBody = unauthorized.json().await.unwrap();
    assert_eq!(body.error, "unauthorized");
}

#[tokio::test]
async fn sign_in_is_rate_limited_per_client_address() {
    let Some(database) = crate::helpers::fresh_database().await else { return };
    let mut config = crate::helpers::config_for(database);
    config.auth_rate_limit_per_minute = std::num::NonZeroU32::new(3).unwrap();
    let app = crate::helpers::spawn_app_with(config).await;
    app.wait_until_ready().await;
    let attempt = |address: &'static str| {
        app.client
            .post(app.url("/api/auth/sign-in"))
            .header("x-forwarded-for", address)
            .json(&json!({"email": "x@example.com", "password": "whatever123"}))
            .send()
    };
    for _ in 0..3 {
        assert_eq!(attempt("203.0.113.7").await.unwrap().status(), 401);
    }
    let limited = attempt("203.0.113.7").await.unwrap();
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let body: ErrorBody = limited.json().await.unwrap();
    assert_eq!(body.error, "rate_limited");
    assert_eq!(attempt("203.0.113.8").await.unwrap().status(), 401, "another address has its own quota");
}
