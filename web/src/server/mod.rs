//! The web server: static files of the wasm app, `/healthz`, and `/api/*` forwarded to the
//! backend so the browser only ever talks to one origin (no CORS).

mod config;
mod proxy;

use axum::{Json, Router, extract::State, routing::get};
use config::Config;
use service_kit::{cli, config::Env, failure, probe, telemetry};
use std::{net::SocketAddr, process::ExitCode};
use tower_http::{
    services::{ServeDir, ServeFile},
    set_header::SetResponseHeaderLayer,
};

const USAGE: &str = "usage: web [serve|healthcheck|--version]
  serve        serve the app on $PORT and forward /api/* to $BACKEND_URL (default)
  healthcheck  [URL] GET URL (http:// only; default http://127.0.0.1:$PORT/healthz), exit 0 on a 2xx answer";

service_kit::commands!(Command { Serve = "serve", Healthcheck = "healthcheck" });

pub fn main() -> ExitCode {
    let command = match cli::command("web", env!("CARGO_PKG_VERSION"), USAGE) {
        Ok(command) => command,
        Err(code) => return code,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => return failure::exit("web", "could not start the async runtime", &error),
    };
    match command {
        Command::Serve => runtime.block_on(serve()),
        Command::Healthcheck => runtime.block_on(probe::healthcheck("web", config::DEFAULT_PORT)),
    }
}

async fn serve() -> ExitCode {
    if let Err(error) = telemetry::init("web") {
        return error.exit("web");
    }
    let config = match Config::from_env(&Env::process()) {
        Ok(config) => config,
        Err(error) => return error.exit("web"),
    };
    let address = SocketAddr::new(config.host, config.port);
    let listener = match tokio::net::TcpListener::bind(address).await {
        Ok(listener) => listener,
        Err(source) => return failure::exit("web", "could not start", &StartupError::Bind { address, source }),
    };
    tracing::info!(%address, ?config, "web listening");
    let app = router(&config).into_make_service_with_connect_info::<SocketAddr>();
    let shutdown = async {
        let signal = service_kit::shutdown::signal().await;
        tracing::info!(signal, "shutdown requested: finishing in-flight requests");
    };
    match axum::serve(service_kit::net::without_nagle(listener), app).with_graceful_shutdown(shutdown).await {
        Ok(()) => {
            tracing::info!("web stopped");
            ExitCode::SUCCESS
        }
        Err(error) => failure::exit("web", "the server failed", &error),
    }
}

/// Why the server could not start; the causes follow through `source()`.
#[derive(Debug, thiserror::Error)]
enum StartupError {
    #[error("could not listen on HOST:PORT = {address}")]
    Bind {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug, Clone)]
struct AppState {
    proxy: proxy::Proxy,
}

/// The app needs only its own origin: its scripts, its wasm (compiling it needs
/// `wasm-unsafe-eval`), its stylesheet and `/api`. Should an injected script ever run anyway,
/// it could not send the session token anywhere else.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";

fn router(config: &Config) -> Router {
    let index = config.assets_dir.join("index.html");
    // Files are revalidated on every load (cheap: Last-Modified); a new image version is
    // picked up at the next reload, never mixed with a cached older wasm.
    let static_files = ServeDir::new(&config.assets_dir)
        .precompressed_br()
        .precompressed_gzip()
        // Client-side routes (/signin, ...) all load the app.
        .fallback(ServeFile::new(index));
    let state = AppState { proxy: proxy::Proxy::new(config.backend_url.clone(), config.proxy_timeout) };
    Router::new()
        .route("/healthz", get(liveness))
        .route("/api", axum::routing::any(proxy::forward))
        .route("/api/{*rest}", axum::routing::any(proxy::forward))
        .fallback_service(static_files)
        .layer(SetResponseHeaderLayer::if_not_present(
            http::header::CONTENT_SECURITY_POLICY,
            http::HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            http::header::X_CONTENT_TYPE_OPTIONS,
            http::HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            http::header::REFERRER_POLICY,
            http::HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("no-cache"),
        ))
        .layer(axum::middleware::from_fn(service_kit::request::trace))
        .with_state(state)
}

async fn liveness(State(_): State<AppState>) -> Json<api_types::Liveness> {
    Json(api_types::Liveness { status: api_types::CheckStatus::Ok, version: env!("CARGO_PKG_VERSION").to_owned() })
}
