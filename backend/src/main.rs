//! `backend [serve|migrate|healthcheck]`: one static binary for the server, the one-shot
//! migration job and the container healthcheck.

use backend::{
    config::{Config, DEFAULT_PORT},
    startup::Application,
};
use service_kit::{cli, config::Env, failure, probe, telemetry};
use std::process::ExitCode;

// musl's allocator serialises threads; mimalloc keeps the static build fast under load.
#[cfg(target_env = "musl")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "usage: backend [serve|migrate|healthcheck|--version]
  serve        run the HTTP server (default); applies migrations unless MIGRATE_ON_START=false
  migrate      apply pending database migrations and exit (for a Kubernetes Job or Helm hook)
  healthcheck  [URL] GET URL (http:// only; default http://127.0.0.1:$PORT/healthz), exit 0 on a 2xx answer";

service_kit::commands!(Command { Serve = "serve", Migrate = "migrate", Healthcheck = "healthcheck" });

#[tokio::main]
async fn main() -> ExitCode {
    match cli::command("backend", env!("CARGO_PKG_VERSION"), USAGE) {
        Ok(Command::Serve) => serve().await,
        Ok(Command::Migrate) => migrate().await,
        Ok(Command::Healthcheck) => probe::healthcheck("backend", DEFAULT_PORT).await,
        Err(code) => code,
    }
}

fn load_config() -> Result<Config, ExitCode> {
    Config::from_env(&Env::process()).map_err(|error| error.exit("backend"))
}

async fn serve() -> ExitCode {
    if let Err(error) = telemetry::init("backend") {
        return error.exit("backend");
    }
    let config = match load_config() {
        Ok(config) => config,
        Err(code) => return code,
    };
    let application = match Application::build(config).await {
        Ok(application) => application,
        Err(error) => return failure::exit("backend", "could not start", &error),
    };
    match application.run_until_stopped(service_kit::shutdown::signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => failure::exit("backend", "the server failed", &error),
    }
}

async fn migrate() -> ExitCode {
    if let Err(error) = telemetry::init("backend") {
        return error.exit("backend");
    }
    let config = match load_config() {
        Ok(config) => config,
        Err(code) => return code,
    };
    match backend::db::migrate_once(&config).await {
        Ok(applied) => {
            tracing::info!(applied, "migrations are up to date");
            ExitCode::SUCCESS
        }
        Err(error) => failure::exit("backend", "migration failed", &error),
    }
}
