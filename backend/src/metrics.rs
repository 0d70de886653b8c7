//! Prometheus metrics at `/metrics`: requests by route template and status, their latency,
//! streamed chat turns by how they ended, the database pool, and build information.
//!
//! Memory stays bounded whether or not anything scrapes: every label takes a fixed set of
//! values (method, route template, status), and a background thread moves histogram samples
//! into their fixed buckets every [`UPKEEP_INTERVAL`]. Without it the exporter keeps every raw
//! sample until the next render: about 19 MiB per million requests on a pod nobody scrapes.

use axum::{
    extract::{MatchedPath, Request, State},
    http::Method,
    middleware::Next,
    response::Response,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use std::{
    sync::OnceLock,
    time::{Duration, Instant},
};

const REQUESTS: &str = "http_requests_total";
const DURATION: &str = "http_request_duration_seconds";
const STREAMED_TURNS: &str = "chat_streamed_turns_total";
const STREAMED_TURN_DURATION: &str = "chat_streamed_turn_duration_seconds";

/// The process-wide recorder (the `metrics` facade has one global), shared by every
/// application instance in the process: tests start several.
#[derive(Clone)]
pub struct Metrics {
    handle: PrometheusHandle,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// How often raw histogram samples move into their buckets. At the 20 k requests/s one backend
/// serves, a second of samples is a few hundred KiB; the upkeep itself walks a few hundred series.
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(1);

/// The recorder as configured for this service; not installed. Public so that tests can check
/// its memory on a local instance.
pub fn recorder() -> PrometheusRecorder {
    // Only invalid bucket constants could fail here; default buckets are the fallback.
    let buckets = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(DURATION.to_owned()),
            &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0],
        )
        // A turn waits on the model, a tool round at a time, up to CHAT_TIMEOUT_SECS.
        .and_then(|builder| {
            builder.set_buckets_for_metric(
                Matcher::Full(STREAMED_TURN_DURATION.to_owned()),
                &[0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0],
            )
        });
    buckets.unwrap_or_else(|_| PrometheusBuilder::new()).build_recorder()
}

/// The `method` label: the standard methods by name, anything else (a client may send any token,
/// and the web proxy passes it on) as `other`, so that methods cannot create series without bound.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

impl Metrics {
    pub fn install() -> Self {
        let handle = HANDLE.get_or_init(|| {
            let recorder = recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
            }
            // A thread, not a task: the recorder outlives any one runtime (tests start several).
            let upkeep = handle.clone();
            let spawned = std::thread::Builder::new().name("metrics-upkeep".to_owned()).spawn(move || {
                loop {
                    std::thread::sleep(UPKEEP_INTERVAL);
                    upkeep.run_upkeep();
                }
            });
            if let Err(error) = spawned {
                tracing::warn!(%error, "no metrics upkeep thread: histogram samples are drained only by scrapes");
            }
            handle
        });
        metrics::gauge!(
            "todo_chatbot_build_info",
            "version" => env!("CARGO_PKG_VERSION"),
            "revision" => option_env!("TODO_CHATBOT_REVISION").unwrap_or("unknown"),
        )
        .set(1.0);
        Self { handle: handle.clone() }
    }

    pub fn render(&self) -> String {
        self.handle.render()
    }
}

/// Middleware: one count and one latency sample per request, labelled by route template
/// (never the raw path, which would make one series per task id; paths no route matches share
/// `unmatched`).
pub async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method()).to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let response = next.run(request).await;
    let labels = [("method", method), ("route", route), ("status", response.status().as_u16().to_string())];
    metrics::counter!(REQUESTS, &labels).increment(1);
    metrics::histogram!(DURATION, &labels).record(started.elapsed().as_secs_f64());
    response
}

/// A streamed chat turn ended. Its request's own count and latency stopped at the 200 that began
/// the stream; this says how the turn itself ended, `done` or the code of the `error` event it
/// ended with (one of `ApiError`'s fixed set: `timeout` and `model_unavailable` share a status),
/// and how long it took from the request.
pub fn streamed_turn(error_code: Option<&str>, elapsed: Duration) {
    let labels = [("outcome", error_code.unwrap_or("done").to_owned())];
    metrics::counter!(STREAMED_TURNS, &labels).increment(1);
    metrics::histogram!(STREAMED_TURN_DURATION, &labels).record(elapsed.as_secs_f64());
}

/// How a task-list page was answered (`crate::page_cache`).
#[derive(Debug, Clone, Copy)]
pub enum PageAnswer {
    /// From the cache, the user's tasks unchanged since it was read.
    Cached,
    /// Read again: the user's tasks changed since the cached copy.
    Changed,
    /// Read: nothing cached for this user and query.
    Uncached,
}

pub fn task_page(answer: PageAnswer) {
    let answer = match answer {
        PageAnswer::Cached => "cached",
        PageAnswer::Changed => "changed",
        PageAnswer::Uncached => "uncached",
    };
    metrics::counter!("task_list_pages_total", "answer" => answer).increment(1);
}

/// `GET /metrics` in Prometheus text format.
pub async fn scrape(
    State(state): State<crate::state::AppState>,
) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    let size = state.pool.size();
    let idle = u32::try_from(state.pool.num_idle()).unwrap_or(u32::MAX);
    // Kept by the task list for its next request (`crate::warm`): checked out of the pool, idle.
    let kept = u32::try_from(state.warm.kept()).unwrap_or(u32::MAX);
    metrics::gauge!("db_pool_connections", "state" => "idle").set(f64::from(idle));
    metrics::gauge!("db_pool_connections", "state" => "kept").set(f64::from(kept));
    metrics::gauge!("db_pool_connections", "state" => "in_use")
        .set(f64::from(size.saturating_sub(idle).saturating_sub(kept)));
    metrics::gauge!("db_pool_max_connections").set(f64::from(state.pool.options().get_max_connections()));
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.render())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_methods_keep_their_name_and_any_other_is_other() {
        for method in [Method::GET, Method::HEAD, Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            assert_eq!(method_label(&method), method.as_str());
        }
        for invented in ["BREW", "get", "PROPFIND", "X0M1"] {
            assert_eq!(method_label(&Method::from_bytes(invented.as_bytes()).unwrap()), "other", "{invented}");
        }
    }
}
