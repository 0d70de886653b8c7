//! Starting the images that `just images` built, the way production runs them, for the tests
//! in `tests/`. Nothing here pulls from a registry: every image is local.

pub mod model;

use anyhow::{Context, bail};
use std::{process::Command, time::Duration};
use testcontainers::{
    ContainerAsync, ContainerRequest, GenericImage, ImageExt,
    core::{
        IntoContainerPort, WaitFor,
        wait::{ExitWaitStrategy, HttpWaitStrategy},
    },
    runners::AsyncRunner,
};

pub mod balancer;
pub mod mcp;
pub mod tls;

pub const POSTGRES_USER: &str = "todo";
pub const POSTGRES_PASSWORD: &str = "image-test-password";
pub const POSTGRES_DB: &str = "todo";
/// The backend's token signing key in these tests.
pub const AUTH_SECRET: &str = "image-tests-secret-0123456789abcdef";

/// The images under test, named by the justfile (`BACKEND_IMAGE`, `WEB_IMAGE`, `POSTGRES_IMAGE`).
#[derive(Debug, Clone)]
pub struct Images {
    pub backend: String,
    pub web: String,
    pub postgres: String,
}

impl Images {
    /// The images from the environment. Missing in CI is a failure; elsewhere a loud skip.
    pub fn from_env() -> Option<Self> {
        Self::from_variables("BACKEND_IMAGE", "WEB_IMAGE", "`just test` builds the images and sets them")
    }

    /// The arm64 builds of backend and web (`BACKEND_IMAGE_ARM64`, `WEB_IMAGE_ARM64`, which `just
    /// test` sets when PLATFORMS includes linux/arm64) with our PostgreSQL (`POSTGRES_IMAGE`, the
    /// native one): run under emulation on an amd64 host. Missing in CI is a failure (`.ci/run`
    /// builds arm64); elsewhere a loud skip.
    pub fn arm64_from_env() -> Option<Self> {
        Self::from_variables(
            "BACKEND_IMAGE_ARM64",
            "WEB_IMAGE_ARM64",
            "`PLATFORMS=linux/amd64,linux/arm64 just test` builds them and sets them (as .ci/run does)",
        )
    }

    fn from_variables(backend: &str, web: &str, how: &str) -> Option<Self> {
        // Every image test starts here, before testcontainers builds its first HTTP client.
        install_tls_provider();
        let read = |name: &str| std::env::var(name).ok().filter(|value| !value.trim().is_empty());
        match (read(backend), read(web), read("POSTGRES_IMAGE")) {
            (Some(backend), Some(web), Some(postgres)) => Some(Self { backend, web, postgres }),
            _ if std::env::var_os("CI").is_some() => {
                panic!("{backend}, {web} and POSTGRES_IMAGE must be set in CI: {how}")
            }
            _ => {
                eprintln!(
                    "\n!!! SKIPPED: {backend}, {web} or POSTGRES_IMAGE is not set, so these image\n\
                     !!! tests cannot run. {how}.\n"
                );
                None
            }
        }
    }
}

/// Signs up a new account through `url` (a backend or the web proxy): 201 and its session.
pub async fn sign_up(client: &reqwest::Client, url: &str, email: &str) -> anyhow::Result<api_types::AuthResponse> {
    let response = client
        .post(format!("{url}/api/auth/sign-up"))
        .json(&serde_json::json!({"email": email, "password": "correct horse battery", "name": "Tester"}))
        .send()
        .await?;
    anyhow::ensure!(response.status() == 201, "sign-up: {}", response.status());
    Ok(response.json().await?)
}

/// `name:tag` → a testcontainers image (the last colon separates the tag).
pub fn image(reference: &str) -> GenericImage {
    let (name, tag) = reference.rsplit_once(':').unwrap_or((reference, "latest"));
    GenericImage::new(name, tag)
}

/// A name no other test run uses, for networks and containers.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// The hardening Kubernetes applies (see the Helm chart): numeric non-root user, read-only
/// root filesystem, no capabilities, no privilege escalation.
pub fn hardened(request: ContainerRequest<GenericImage>, user: &str) -> ContainerRequest<GenericImage> {
    request.with_user(user).with_readonly_rootfs(true).with_cap_drop("ALL").with_security_opt("no-new-privileges:true")
}

/// The URL a backend on `network` uses to reach the database container named `host`.
pub fn database_url(host: &str) -> String {
    format!("postgres://{POSTGRES_USER}:{POSTGRES_PASSWORD}@{host}:5432/{POSTGRES_DB}")
}

pub async fn start_postgres(
    images: &Images,
    network: &str,
    name: &str,
) -> anyhow::Result<ContainerAsync<GenericImage>> {
    postgres(images, network, name).start().await.context("starting postgres")
}

/// Our PostgreSQL image on `network` as `name`, for a test to configure further.
pub fn postgres(images: &Images, network: &str, name: &str) -> ContainerRequest<GenericImage> {
    image(&images.postgres)
        .with_exposed_port(5432.tcp())
        .with_wait_for(WaitFor::message_on_stderr("database system is ready to accept connections"))
        .with_network(network)
        .with_container_name(name)
        .with_env_var("POSTGRES_USER", POSTGRES_USER)
        .with_env_var("POSTGRES_PASSWORD", POSTGRES_PASSWORD)
        .with_env_var("POSTGRES_DB", POSTGRES_DB)
        .with_startup_timeout(Duration::from_secs(60))
}

/// A pool on the host side, through the container's published port.
pub async fn connect_from_host(postgres: &ContainerAsync<GenericImage>) -> anyhow::Result<sqlx::PgPool> {
    let port = postgres.get_host_port_ipv4(5432.tcp()).await?;
    let url = format!("postgres://{POSTGRES_USER}:{POSTGRES_PASSWORD}@127.0.0.1:{port}/{POSTGRES_DB}");
    let mut last_error = None;
    for _ in 0..50 {
        match sqlx::PgPool::connect(&url).await {
            Ok(pool) => return Ok(pool),
            Err(error) => last_error = Some(error),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!("cannot connect to postgres on port {port}: {last_error:?}")
}

/// The backend image as Kubernetes runs it, waiting only for liveness.
pub fn backend(images: &Images, network: &str, name: &str, database_url: &str) -> ContainerRequest<GenericImage> {
    backend_on_port(images, network, name, database_url, 8000)
}

/// The backend with `PORT` set, when `port` is not the default.
pub fn backend_on_port(
    images: &Images,
    network: &str,
    name: &str,
    database_url: &str,
    port: u16,
) -> ContainerRequest<GenericImage> {
    let request = backend_unconfigured(images, network, name, port)
        .with_env_var("DATABASE_URL", database_url)
        .with_env_var("BETTER_AUTH_SECRET", AUTH_SECRET)
        .with_env_var("RUST_LOG", "info");
    if port == 8000 { request } else { request.with_env_var("PORT", port.to_string()) }
}

/// The backend image run hardened and waited for on `port`, with no variable set: the caller
/// gives every one.
pub fn backend_unconfigured(images: &Images, network: &str, name: &str, port: u16) -> ContainerRequest<GenericImage> {
    let request = image(&images.backend)
        .with_exposed_port(port.tcp())
        .with_wait_for(WaitFor::http(
            HttpWaitStrategy::new("/healthz").with_port(port.tcp()).with_expected_status_code(200_u16),
        ))
        .with_network(network)
        .with_container_name(name)
        .with_startup_timeout(Duration::from_secs(30));
    hardened(request, "1000:1000")
}

/// The `backend migrate` job, hardened, waited for until it exits 0.
pub fn migrate_job(images: &Images, network: &str, database_url: &str) -> ContainerRequest<GenericImage> {
    let request = image(&images.backend)
        .with_wait_for(WaitFor::exit(ExitWaitStrategy::new().with_exit_code(0)))
        .with_cmd(["migrate"])
        .with_network(network)
        .with_env_var("DATABASE_URL", database_url)
        .with_env_var("BETTER_AUTH_SECRET", AUTH_SECRET)
        .with_startup_timeout(Duration::from_secs(90));
    hardened(request, "1000:1000")
}

pub fn web(images: &Images, network: &str, name: &str, backend_url: &str) -> ContainerRequest<GenericImage> {
    let request = image(&images.web)
        .with_exposed_port(3000.tcp())
        .with_wait_for(WaitFor::http(
            HttpWaitStrategy::new("/healthz").with_port(3000.tcp()).with_expected_status_code(200_u16),
        ))
        .with_network(network)
        .with_container_name(name)
        .with_env_var("BACKEND_URL", backend_url)
        .with_startup_timeout(Duration::from_secs(30));
    hardened(request, "1001:1001")
}

/// `http://127.0.0.1:<published port>` of a container port.
pub async fn base_url(container: &ContainerAsync<GenericImage>, port: u16) -> anyhow::Result<String> {
    Ok(format!("http://127.0.0.1:{}", container.get_host_port_ipv4(port.tcp()).await?))
}

/// Polls `url` until it answers `status`, for at most `patience`.
pub async fn wait_for_status(url: &str, status: u16, patience: Duration) -> anyhow::Result<reqwest::Response> {
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        let last = client.get(url).timeout(Duration::from_secs(3)).send().await;
        match last {
            Ok(response) if response.status().as_u16() == status => return Ok(response),
            _ if tokio::time::Instant::now() >= deadline => {
                bail!("{url} did not answer {status} within {patience:?}; last: {last:?}")
            }
            _ => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// Polls a container's stdout until at least `count` lines satisfy `wanted`, for at most
/// `patience`. Docker delivers log lines some time after the process wrote them, so a line
/// logged while answering a request may not be there when the answer is.
pub async fn wait_for_stdout_lines(
    container: &ContainerAsync<GenericImage>,
    count: usize,
    patience: Duration,
    wanted: impl Fn(&str) -> bool,
) -> anyhow::Result<Vec<String>> {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        let logs = String::from_utf8(container.stdout_to_vec().await?)?;
        let found: Vec<String> = logs.lines().filter(|line| wanted(line)).map(str::to_owned).collect();
        if found.len() >= count {
            return Ok(found);
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("{} of {count} expected lines within {patience:?} in the log:\n{logs}", found.len());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `docker` CLI for the facts testcontainers does not expose (inspect, top, export).
pub fn docker(args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new("docker").args(args).output().context("running docker")?;
    if !output.status.success() {
        bail!("docker {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(String::from_utf8(output.stdout)?)
}

/// Every path in an image's filesystem.
pub fn image_files(reference: &str) -> anyhow::Result<Vec<String>> {
    Ok(image_entries(reference)?.into_iter().map(|entry| entry.path).collect())
}

/// The migration files the backend carries, by version (the number before the first `_`).
pub fn migration_versions() -> Vec<i64> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../backend/migrations");
    let mut versions: Vec<i64> = std::fs::read_dir(&dir)
        .expect("backend/migrations is readable")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".sql"))
        .filter_map(|name| name.split('_').next()?.parse().ok())
        .collect();
    versions.sort_unstable();
    versions
}

/// Installs rustls' ring provider for this process. `cargo test --workspace` unifies reqwest
/// 0.13's features with the backend's (`rustls-no-provider`), and then testcontainers' HTTP wait
/// strategy panics when it builds a client unless a provider is installed. Idempotent.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// One entry of an image's filesystem as `tar -tv` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageEntry {
    /// `ls -l` style: `-rw-r--r--`, `drwxr-xr-x`, `lrwxrwxrwx`…
    pub mode: String,
    pub uid: u32,
    pub gid: u32,
    pub path: String,
}

impl ImageEntry {
    /// Whether a process running as `uid:gid` (no supplementary groups) may read this entry:
    /// the owner's, the group's or everyone's read bit, whichever applies. Directories also
    /// need the search bit to be of any use.
    pub fn readable_by(&self, uid: u32, gid: u32) -> bool {
        let bits = self.mode.as_bytes();
        let triplet = if self.uid == uid {
            &bits[1..4]
        } else if self.gid == gid {
            &bits[4..7]
        } else {
            &bits[7..10]
        };
        let searchable = !self.mode.starts_with('d') || matches!(triplet[2], b'x' | b's' | b't');
        triplet[0] == b'r' && searchable
    }
}

/// Every entry of an image's filesystem with its mode and numeric owner, read by exporting a
/// created (never started) container.
pub fn image_entries(reference: &str) -> anyhow::Result<Vec<ImageEntry>> {
    let listing = with_exported(reference, "tar -tv --numeric-owner")?;
    String::from_utf8(listing)?
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [mode, owner, _size, _date, _time, path, ..] = fields[..] else {
                bail!("unexpected tar listing line: {line}");
            };
            let (uid, gid) = owner.split_once('/').context("owner as uid/gid")?;
            Ok(ImageEntry { mode: mode.to_owned(), uid: uid.parse()?, gid: gid.parse()?, path: path.to_owned() })
        })
        .collect()
}

/// The bytes of one file of an image.
pub fn image_file(reference: &str, path: &str) -> anyhow::Result<Vec<u8>> {
    with_exported(reference, &format!("tar -xO {}", path.trim_start_matches('/')))
}

/// Runs `docker export <container of reference> | <tar_command>` and returns its stdout.
fn with_exported(reference: &str, tar_command: &str) -> anyhow::Result<Vec<u8>> {
    let id = docker(&["create", reference])?.trim().to_owned();
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!("docker export {id} | {tar_command}"))
        .output()
        .context("docker export");
    let _ = docker(&["rm", &id]);
    let output = output?;
    if !output.status.success() {
        bail!("docker export {reference} | {tar_command} failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(output.stdout)
}
