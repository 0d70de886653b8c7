use crate::helpers::{config_for, fresh_database, spawn_app, spawn_app_with};
use api_types::{ErrorBody, Liveness, Readiness};
use sqlx::postgres::PgConnectOptions;
use std::time::Duration;

#[tokio::test]
async fn liveness_answers_with_the_version() {
    let Some(app) = spawn_app().await else { return };
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    let body: Liveness = response.json().await.unwrap();
    assert_eq!(body.version, env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn readiness_is_ok_once_migrations_are_applied_and_reachable_under_api_too() {
    let Some(app) = spawn_app().await else { return };
    for path in ["/readyz", "/api/readyz"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        let body: Readiness = response.json().await.unwrap();
        assert!(body.is_ready(), "{body:?}");
        let names: Vec<_> = body.checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["shutdown", "database", "migrations", "assistant"]);
    }
}

#[tokio::test]
async fn without_a_database_the_backend_is_live_but_not_ready() {
    // Still skip loudly outside CI when no database exists at all, for symmetry.
    if crate::helpers::test_database_url().is_none() {
        return;
    }
    // Port 1 on loopback: nothing listens, connections are refused at once.
    let unreachable = PgConnectOptions::new().host("127.0.0.1").port(1).username("nobody").database("none");
    let app = spawn_app_with(config_for(unreachable)).await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    // The same redacted body at the root and under /api, which the web proxy makes public:
    // the check is named, the connection error (address, user, "refused") stays in the log.
    for path in ["/readyz", "/api/readyz"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 503);
        let body: Readiness = response.json().await.unwrap();
        let database = body.checks.iter().find(|c| c.name == "database").unwrap();
        assert_eq!(database.status, api_types::CheckStatus::Failing, "{body:?}");
        let text = serde_json::to_string(&body).unwrap();
        for secret in ["127.0.0.1", "nobody", "refused", "os error"] {
            assert!(!text.contains(secret), "{path} tells {secret:?}: {text}");
        }
    }
}

#[tokio::test]
async fn readiness_does_not_tell_the_model_address() {
    let Some(database) = fresh_database().await else {
        return;
    };
    let mut config = config_for(database);
    // Readiness never calls the model, so the address need not answer.
    config.model = Some(backend::agent::model::ModelSettings {
        api_key: "test-key".into(),
        base_url: "http://model.internal.example:8080/v1".into(),
        model: "some-model".into(),
        timeout: Duration::from_secs(1),
        max_retries: 1,
        temperature: None,
        streaming_retry_after: backend::agent::model::STREAMING_RETRY_AFTER,
    });
    let app = spawn_app_with(config).await;
    app.wait_until_ready().await;
    let text = app.get("/api/readyz").await.text().await.unwrap();
    assert!(text.contains(r#""name":"assistant""#), "{text}");
    assert!(!text.contains("model.internal.example"), "{text}");
}

#[tokio::test]
async fn shutdown_fails_readiness_at_once_and_lets_in_flight_requests_finish() {
    let Some(database) = fresh_database().await else {
        return;
    };
    let mut config = config_for(database);
    config.shutdown_delay = Duration::from_millis(1500);
    let mut app = spawn_app_with(config).await;
    app.wait_until_ready().await;

    app.signal_shutdown();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // During the delay the server still answers, but says it is going away.
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 503);
    let body: Readiness = response.json().await.unwrap();
    let shutdown = body.checks.iter().find(|c| c.name == "shutdown").unwrap();
    assert_eq!(shutdown.status, api_types::CheckStatus::Failing);

    let stopped = app.stopped.take().unwrap();
    let result = tokio::time::timeout(Duration::from_secs(10), stopped).await.expect("did not stop");
    result.unwrap().expect("server returned an error");
}

#[tokio::test]
async fn unknown_routes_get_the_json_error_shape_and_a_request_id() {
    let Some(app) = spawn_app().await else { return };
    let response = app.get("/no/such/route").await;
    assert_eq!(response.status(), 404);
    assert!(response.headers().contains_key("x-request-id"));
    let body: ErrorBody = response.json().await.unwrap();
    assert_eq!(body.error, "not_found");
}

#[tokio::test]
async fn a_caller_request_id_is_echoed() {
    let Some(app) = spawn_app().await else { return };
    let response =
        app.client.get(format!("{}/healthz", app.address)).header("x-request-id", "trace-me-42").send().await.unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-me-42");
}
