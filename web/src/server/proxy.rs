//! `/api/*` forwarded to the backend: same path and query, streaming bodies both ways,
//! hop-by-hop headers dropped, `X-Forwarded-*` and the request id passed on.

use super::AppState;
use api_types::ErrorBody;
use axum::{
    Json,
    body::Body,
    extract::{ConnectInfo, Request, State},
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use std::{net::SocketAddr, time::Duration};
use url::Url;

#[derive(Debug, Clone)]
pub struct Proxy {
    client: Client<HttpConnector, Body>,
    backend: Url,
    timeout: Duration,
}

impl Proxy {
    pub fn new(backend: Url, timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(30)).build(connector);
        Self { client, backend, timeout }
    }

    fn target(&self, uri: &Uri) -> Result<Uri, http::uri::InvalidUri> {
        let path_and_query = uri.path_and_query().map_or("/", |pq| pq.as_str());
        format!("{}{}", self.backend.as_str().trim_end_matches('/'), path_and_query).parse()
    }
}

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1).
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in HOP_BY_HOP.iter().chain(listed.iter()) {
        headers.remove(name);
    }
}

fn error(status: StatusCode, code: &str, message: String) -> Response {
    tracing::warn!(code, %message, "proxy error");
    let body = ErrorBody { error: code.to_owned(), message, fields: vec![] };
    (status, Json(body)).into_response()
}

pub async fn forward(State(state): State<AppState>, mut request: Request) -> Response {
    let proxy = &state.proxy;
    let target = match proxy.target(request.uri()) {
        Ok(target) => target,
        Err(invalid) => return error(StatusCode::BAD_REQUEST, "bad_request", invalid.to_string()),
    };
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip());
    let headers = request.headers_mut();
    strip_hop_by_hop(headers);
    if let Some(host) = headers.remove(header::HOST) {
        headers.insert(HeaderName::from_static("x-forwarded-host"), host);
    }
    if let Some(peer) = peer {
        let forwarded_for = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
            Some(earlier) => format!("{earlier}, {peer}"),
            None => peer.to_string(),
        };
        if let Ok(value) = HeaderValue::from_str(&forwarded_for) {
            headers.insert(HeaderName::from_static("x-forwarded-for"), value);
        }
    }
    headers.entry(HeaderName::from_static("x-forwarded-proto")).or_insert(HeaderValue::from_static("http"));
    *request.uri_mut() = target;

    match tokio::time::timeout(proxy.timeout, proxy.client.request(request)).await {
        Ok(Ok(response)) => {
            let (mut parts, body) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            Response::from_parts(parts, Body::new(body))
        }
        Ok(Err(failure)) => error(
            StatusCode::BAD_GATEWAY,
            "backend_unavailable",
            format!("the backend at {} did not answer: {failure}", proxy.backend),
        ),
        Err(_) => error(
            StatusCode::GATEWAY_TIMEOUT,
            "backend_timeout",
            format!("the backend did not answer within {} s", proxy.timeout.as_secs()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_listed_headers_are_dropped_too() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONNECTION, HeaderValue::from_static("close, x-private"));
        headers.insert("x-private", HeaderValue::from_static("1"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer t"));
        strip_hop_by_hop(&mut headers);
        assert!(headers.get("x-private").is_none());
        assert!(headers.get(header::CONNECTION).is_none());
        assert_eq!(headers.get(header::AUTHORIZATION).unwrap(), "Bearer t");
    }

    #[test]
    fn the_target_keeps_path_and_query() {
        let proxy = Proxy::new(Url::parse("http://backend:8000").unwrap(), Duration::from_secs(1));
        let uri: Uri = "/api/u1/tasks?status=pending".parse().unwrap();
        assert_eq!(proxy.target(&uri).unwrap().to_string(), "http://backend:8000/api/u1/tasks?status=pending");
    }
}
