//! `/api/*` forwarded to the backend: same path and query, streaming bodies both ways,
//! hop-by-hop headers dropped, `X-Forwarded-*` and the request id passed on.
//!
//! A streamed chat answer (`text/event-stream`) goes through frame by frame as the backend
//! writes it: the body is handed on as hyper's `Incoming`, never collected, and no compression
//! or buffering layer sits on `/api` (its headers, `Cache-Control` and `X-Accel-Buffering`
//! among them, pass unchanged). `PROXY_TIMEOUT_SECS` bounds the wait for the answer's head
//! only; once the head is in, the body may take as long as the backend takes, which bounds a
//! chat turn itself (`CHAT_TIMEOUT_SECS`, and a keep-alive comment in every long silence).

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

    // `request` resolves with the head; the body streams afterwards, outside this timeout.
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
    use axum::body::Bytes;
    use http_body_util::BodyExt;
    use hyper::body::Frame;
    use std::{
        pin::Pin,
        task::{Context, Poll, ready},
    };
    use tokio::sync::oneshot;

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

    /// A fake backend's event stream: `first` goes out at once, `last` once the test lets it go.
    struct Held {
        first: Option<&'static str>,
        release: Option<oneshot::Receiver<()>>,
        last: Option<&'static str>,
    }

    impl hyper::body::Body for Held {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            context: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            if let Some(first) = self.first.take() {
                return Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(first.as_bytes())))));
            }
            if let Some(release) = self.release.as_mut() {
                let _ = ready!(Pin::new(release).poll(context));
                self.release = None;
            }
            Poll::Ready(self.last.take().map(|last| Ok(Frame::data(Bytes::from_static(last.as_bytes())))))
        }
    }

    const FIRST: &str = "event: started\ndata: {\"type\":\"started\",\"conversation_id\":\"c\"}\n\n";
    const LAST: &str = "event: text_delta\ndata: {\"type\":\"text_delta\",\"text\":\"hi\"}\n\n";

    async fn serve(listener: tokio::net::TcpListener, router: axum::Router) {
        let app = router.into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, app).await });
    }

    /// The real router (every layer on /api) in front of a backend whose chat streams.
    async fn web_in_front_of_a_stream(timeout: Duration) -> (String, oneshot::Sender<()>) {
        let (release, held) = oneshot::channel();
        let held = std::sync::Arc::new(std::sync::Mutex::new(Some(held)));
        let backend = axum::Router::new()
            .route(
                "/api/u/chat",
                axum::routing::post(move || {
                    let release = held.lock().unwrap().take();
                    async move {
                        Response::builder()
                            .header(header::CONTENT_TYPE, "text/event-stream")
                            .header(header::CACHE_CONTROL, "no-store")
                            .header("x-accel-buffering", "no")
                            .body(Body::new(Held { first: Some(FIRST), release, last: Some(LAST) }))
                            .unwrap()
                    }
                }),
            )
            .route("/api/u/silent", axum::routing::get(std::future::pending::<()>));
        let backend_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let backend_url = Url::parse(&format!("http://{}", backend_listener.local_addr().unwrap())).unwrap();
        serve(backend_listener, backend).await;
        let config = super::super::config::Config {
            host: [127, 0, 0, 1].into(),
            port: 0,
            backend_url,
            assets_dir: std::env::temp_dir(),
            proxy_timeout: timeout,
        };
        let web_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let web = format!("http://{}", web_listener.local_addr().unwrap());
        serve(web_listener, super::super::router(&config)).await;
        (web, release)
    }

    #[tokio::test]
    async fn a_stream_passes_as_it_is_written_and_outlives_the_timeout() {
        let timeout = Duration::from_millis(200);
        let (web, release) = web_in_front_of_a_stream(timeout).await;
        let client = Client::builder(TokioExecutor::new()).build_http::<Body>();
        let request = http::Request::post(format!("{web}/api/u/chat"))
            .header(header::ACCEPT, "text/event-stream")
            .header(header::ACCEPT_ENCODING, "br, gzip")
            .body(Body::empty())
            .unwrap();
        // The backend holds the rest of its body until the first event is through: a proxy
        // that buffered would never hand it over (the bound only keeps a failure from hanging).
        let buffered = "the first event did not come through while the rest was held: something buffers /api";
        let response =
            tokio::time::timeout(Duration::from_secs(30), client.request(request)).await.expect(buffered).unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers();
        assert_eq!(headers[header::CONTENT_TYPE], "text/event-stream");
        assert_eq!(headers[header::CACHE_CONTROL], "no-store", "the backend's, not the server's default");
        assert_eq!(headers["x-accel-buffering"], "no");
        assert!(headers.get(header::CONTENT_ENCODING).is_none(), "nothing compresses /api: {headers:?}");

        let mut body = response.into_body();
        let mut arrived = Vec::new();
        while arrived.len() < FIRST.len() {
            let frame = tokio::time::timeout(Duration::from_secs(30), body.frame())
                .await
                .expect(buffered)
                .expect("the body ended early")
                .unwrap();
            arrived.extend_from_slice(&frame.into_data().unwrap());
        }
        assert_eq!(arrived, FIRST.as_bytes());

        // Held past the proxy's timeout, which bounds the wait for the answer's head only.
        tokio::time::sleep(timeout * 3).await;
        release.send(()).unwrap();
        let rest = body.collect().await.unwrap().to_bytes();
        assert_eq!(rest, LAST.as_bytes());
    }

    #[tokio::test]
    async fn a_backend_that_never_answers_is_a_504_after_the_timeout() {
        let (web, _release) = web_in_front_of_a_stream(Duration::from_millis(200)).await;
        let client = Client::builder(TokioExecutor::new()).build_http::<Body>();
        let request = http::Request::get(format!("{web}/api/u/silent")).body(Body::empty()).unwrap();
        let response = client.request(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body: ErrorBody = serde_json::from_slice(&body).unwrap();
        assert_eq!(body.error, "backend_timeout");
    }

    #[test]
    fn the_target_keeps_path_and_query() {
        let proxy = Proxy::new(Url::parse("http://backend:8000").unwrap(), Duration::from_secs(1));
        let uri: Uri = "/api/u1/tasks?status=pending".parse().unwrap();
        assert_eq!(proxy.target(&uri).unwrap().to_string(), "http://backend:8000/api/u1/tasks?status=pending");
    }
}
