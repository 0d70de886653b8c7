//! `backend [serve|migrate|healthcheck]`: one static binary for the server, the one-shot
//! migration job and the container healthcheck.

use backend::{config::Config, startup::Application};
use service_kit::{config::Env, probe, telemetry};
use std::process::ExitCode;

// musl's allocator serialises threads; mimalloc keeps the static build fast under load.
#[cfg(target_env = "musl")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "usage: backend [serve|migrate|healthcheck|--version]
  serve        run the HTTP server (default); applies migrations unless MIGRATE_ON_START=false
  migrate      apply pending database migrations and exit (for a Kubernetes Job or Helm hook)
  healthcheck  GET http://127.0.0.1:$PORT/healthz and exit 0 when it answers 2xx";

#[tokio::main]
async fn main() -> ExitCode {
    let command = std::env::args().nth(1).unwrap_or_else(|| "serve".to_owned());
    match command.as_str() {
        "serve" => serve().await,
        "migrate" => migrate().await,
        "healthcheck" => healthcheck().await,
        "--version" | "-V" => {
            println!("backend {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        "--help" | "-h" | "help" => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("unknown command {other:?}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn load_config() -> Result<Config, ExitCode> {
    Config::from_env(&Env::process()).map_err(|error| {
        // One line, naming the variable: what a crash-looping pod should leave in its log.
        tracing::error!(%error, "invalid configuration");
        eprintln!("backend: configuration error: {error}");
        ExitCode::from(78) // EX_CONFIG
    })
}

async fn serve() -> ExitCode {
    telemetry::init("backend");
    let config = match load_config() {
        Ok(config) => config,
        Err(code) => return code,
    };
    let application = match Application::build(config).await {
        Ok(application) => application,
        Err(error) => {
            tracing::error!(%error, "could not start");
            return ExitCode::FAILURE;
        }
    };
    match application.run_until_stopped(service_kit::shutdown::signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "server failed");
            ExitCode::FAILURE
        }
    }
}

async fn migrate() -> ExitCode {
    telemetry::init("backend");
    let config = match load_config() {
        Ok(config) => config,
        Err(code) => return code,
    };
    match backend::db::migrate_once(&config).await {
        Ok(applied) => {
            tracing::info!(applied, "migrations are up to date");
            ExitCode::SUCCESS
        }
        Err(error) => {
            tracing::error!(%error, "migration failed");
            ExitCode::FAILURE
        }
    }
}

async fn healthcheck() -> ExitCode {
    match Env::process().parsed_or("PORT", backend::config::DEFAULT_PORT) {
        Ok(port) => probe::run(port, "/healthz").await,
        Err(error) => {
            eprintln!("backend: configuration error: {error}");
            ExitCode::from(78)
        }
    }
}
