//! Liveness and readiness, the two questions Kubernetes asks.

use crate::{db, state::AppState};
use api_types::{CheckStatus, Liveness, Readiness, ReadinessCheck};
use axum::{Json, extract::State, http::StatusCode};
use std::time::Duration;

/// The process serves requests. Deliberately checks nothing else: a database outage must
/// not make Kubernetes restart every backend.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "Alive", body = Liveness)))]
pub async fn liveness() -> Json<Liveness> {
    Json(Liveness { status: CheckStatus::Ok, version: env!("CARGO_PKG_VERSION").to_owned() })
}

/// Ready when not shutting down, the database answers, and every migration this binary
/// carries is applied.
///
/// The body names each check and says in fixed words how it went, never the database's error
/// text (it can carry host names, user names and certificate details) nor the model's address:
/// `/api/readyz` is public through the web proxy, and the same body everywhere keeps one rule.
/// The details go to the log, at warn, each time a check fails.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, description = "Ready", body = Readiness), (status = 503, description = "Not ready: the body names the failing check", body = Readiness)))]
pub async fn readiness(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let mut checks = Vec::with_capacity(3);
    checks.push(if state.lifecycle.is_shutting_down() {
        ReadinessCheck::failing("shutdown", "shutting down: finishing in-flight requests")
    } else {
        ReadinessCheck::ok("shutdown", "serving")
    });
    let status = tokio::time::timeout(Duration::from_secs(2), db::migration_status(&state.pool));
    match status.await {
        Err(_) => {
            tracing::warn!(check = "database", "readiness check failed: no answer within 2 s");
            checks.push(ReadinessCheck::failing("database", "no answer within 2 s"));
        }
        Ok(Err(error)) => {
            tracing::warn!(check = "database", %error, "readiness check failed");
            checks.push(ReadinessCheck::failing("database", "unreachable or refused the query; details in the log"));
        }
        Ok(Ok(migrations)) => {
            checks.push(ReadinessCheck::ok("database", "answered"));
            checks.push(migrations_check(&migrations));
        }
    }
    // Informational, always ok: a model outage must not take the task API out of rotation.
    checks.push(ReadinessCheck::ok(
        "assistant",
        match &*state.assistant {
            crate::agent::Assistant::Model(_) => "a model is configured",
            crate::agent::Assistant::Offline => "offline assistant (no OPENAI_API_KEY)",
        },
    ));
    let readiness = Readiness::from_checks(checks);
    let code = if readiness.is_ready() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(readiness))
}

fn migrations_check(status: &db::MigrationStatus) -> ReadinessCheck {
    if !status.failed.is_empty() {
        tracing::warn!(check = "migrations", failed = ?status.failed, "readiness check failed");
        ReadinessCheck::failing("migrations", "a migration failed and needs an operator; versions in the log")
    } else if !status.pending.is_empty() {
        tracing::warn!(check = "migrations", pending = ?status.pending, "readiness check failed");
        ReadinessCheck::failing("migrations", format!("{} of {} pending", status.pending.len(), status.known))
    } else {
        ReadinessCheck::ok("migrations", format!("all {} applied", status.known))
    }
}
