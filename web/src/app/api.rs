//! Every call the app makes to the backend, through the web server's `/api` proxy, typed by
//! the shared `api-types` crate.

use api_types::Readiness;
use gloo_net::http::Request;

/// `/api/readyz` answers 503 with the same body when not ready: both are an answer.
pub async fn readiness() -> Result<Readiness, String> {
    let response = Request::get("/api/readyz").send().await.map_err(|error| error.to_string())?;
    if matches!(response.status(), 200 | 503) {
        response.json::<Readiness>().await.map_err(|error| error.to_string())
    } else {
        Err(format!("HTTP {}", response.status()))
    }
}
