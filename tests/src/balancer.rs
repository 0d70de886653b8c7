//! A round-robin HTTP balancer in the test process: one address in front of several backend
//! containers, as a Kubernetes Service is in front of a Deployment's pods.
//!
//! It alternates per request, not per connection. A Service balances connections, but clients
//! reconnect, ingress controllers balance requests, and a pod that restarts takes its
//! connections with it: any request may land on any replica. Alternating every request is the
//! worst case of that, and it is deterministic, so a test can tell which replica served what.

use anyhow::Context;
use axum::{
    body::Body,
    extract::{Request, State},
    http::{HeaderName, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use std::{
    net::{Ipv4Addr, SocketAddr},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};
use testcontainers::{ContainerAsync, ContainerRequest, GenericImage, runners::AsyncRunner};
use tokio::{net::TcpListener, task::JoinHandle};

/// The name containers use for the host (`with_host(HOST_ALIAS, Host::HostGateway)`).
pub const HOST_ALIAS: &str = "host.docker.internal";

/// One forwarded request: which upstream answered it, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    pub upstream: usize,
    pub method: String,
    pub path: String,
    pub status: u16,
}

#[derive(Debug)]
pub struct Balancer {
    port: u16,
    served: Arc<Mutex<Vec<Served>>>,
    server: JoinHandle<()>,
}

#[derive(Clone)]
struct Shared {
    upstreams: Arc<Vec<Uri>>,
    next: Arc<AtomicUsize>,
    served: Arc<Mutex<Vec<Served>>>,
    client: Client<HttpConnector, Body>,
}

impl Balancer {
    /// Listens on every interface (containers reach it through the host gateway) and forwards
    /// to `upstreams`, base URLs such as `http://127.0.0.1:32768`, in turn.
    pub async fn start(upstreams: &[String]) -> anyhow::Result<Self> {
        anyhow::ensure!(!upstreams.is_empty(), "a balancer needs at least one upstream");
        let upstreams = upstreams
            .iter()
            .map(|url| url.parse::<Uri>().with_context(|| format!("upstream {url:?}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))).await?;
        let port = listener.local_addr()?.port();
        let served = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            upstreams: Arc::new(upstreams),
            next: Arc::new(AtomicUsize::new(0)),
            served: served.clone(),
            client: Client::builder(TokioExecutor::new()).build_http(),
        };
        let app = axum::Router::new().fallback(forward).with_state(shared);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { port, served, server })
    }

    /// The address for clients on the host.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The address for containers started with `with_host(HOST_ALIAS, Host::HostGateway)`.
    pub fn url_for_containers(&self) -> String {
        format!("http://{HOST_ALIAS}:{}", self.port)
    }

    /// Every request forwarded so far, in the order they were answered.
    pub fn served(&self) -> Vec<Served> {
        self.served.lock().map(|served| served.clone()).unwrap_or_default()
    }

    /// Forgets what was forwarded so far, so a test can look at one phase alone.
    pub fn reset(&self) {
        if let Ok(mut served) = self.served.lock() {
            served.clear();
        }
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("upstreams", &self.upstreams).finish_non_exhaustive()
    }
}

/// Headers that describe one hop's connection, not the message (RFC 9110, section 7.6.1).
const HOP_BY_HOP: [HeaderName; 6] = [
    header::CONNECTION,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::UPGRADE,
];

async fn forward(State(shared): State<Shared>, request: Request) -> Response {
    let upstream = shared.next.fetch_add(1, Ordering::SeqCst) % shared.upstreams.len();
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let (mut parts, body) = request.into_parts();
    let base = &shared.upstreams[upstream];
    let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    parts.uri = match format!("{}{path_and_query}", base.to_string().trim_end_matches('/')).parse() {
        Ok(uri) => uri,
        Err(error) => return (StatusCode::BAD_GATEWAY, format!("bad upstream URI: {error}")).into_response(),
    };
    for name in HOP_BY_HOP.iter().chain([&HeaderName::from_static("keep-alive")]) {
        parts.headers.remove(name);
    }
    let response = match shared.client.request(Request::from_parts(parts, body)).await {
        Ok(response) => response.map(Body::new),
        Err(error) => (StatusCode::BAD_GATEWAY, format!("upstream {upstream} failed: {error}")).into_response(),
    };
    if let Ok(mut served) = shared.served.lock() {
        served.push(Served { upstream, method, path, status: response.status().as_u16() });
    }
    response
}

/// Two backend replicas on one fresh database, both ready, behind one `Balancer`: a Service in
/// front of a Deployment of two. Dropping it stops the containers.
#[derive(Debug)]
pub struct TwoReplicas {
    pub network: String,
    /// Each replica's own address, for what a test asks one of them directly (`/metrics`).
    pub replicas: [String; 2],
    pub balancer: Balancer,
    _containers: [ContainerAsync<GenericImage>; 3],
}

/// `TwoReplicas` named after `name`, each replica's request passed through `configure` (its
/// settings) before it starts.
pub async fn two_replicas(
    images: &crate::Images,
    name: &str,
    configure: impl Fn(ContainerRequest<GenericImage>) -> ContainerRequest<GenericImage>,
) -> anyhow::Result<TwoReplicas> {
    let network = crate::unique("net");
    let db = crate::unique("db");
    let postgres = crate::start_postgres(images, &network, &db).await?;
    let url = crate::database_url(&db);
    let replica = |suffix: &str| {
        configure(crate::backend(images, &network, &crate::unique(&format!("{name}-{suffix}")), &url)).start()
    };
    let (a, b) = tokio::join!(replica("a"), replica("b"));
    let (a, b) = (a?, b?);
    let replicas = [crate::base_url(&a, 8000).await?, crate::base_url(&b, 8000).await?];
    for replica in &replicas {
        crate::wait_for_status(&format!("{replica}/readyz"), 200, Duration::from_secs(60)).await?;
    }
    let balancer = Balancer::start(&replicas).await?;
    Ok(TwoReplicas { network, replicas, balancer, _containers: [postgres, a, b] })
}
