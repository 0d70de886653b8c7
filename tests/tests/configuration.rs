//! Every setting users give the images, set to a value other than its default in a release
//! image run as compose and the chart run it, with its effect observed. A variable the image
//! misreads, or no longer reads, fails here.

use anyhow::Context;
use image_tests::*;
use std::{collections::BTreeSet, time::Duration};
use testcontainers::{
    ContainerRequest, GenericImage, ImageExt,
    core::{AccessMode, Host, IntoContainerPort, Mount, WaitFor, wait::ExitWaitStrategy, wait::HttpWaitStrategy},
    runners::AsyncRunner,
};

/// The variables `.env.example` and README's configuration section document.
fn documented_variables() -> BTreeSet<String> {
    let is_name = |name: &str| {
        name.starts_with(|c: char| c.is_ascii_uppercase())
            && name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    };
    let mut names = BTreeSet::new();
    for line in include_str!("../../.env.example").lines() {
        if let Some((name, _)) = line.trim_start_matches('#').trim().split_once('=')
            && is_name(name)
        {
            names.insert(name.to_owned());
        }
    }
    let readme = include_str!("../../README.md");
    let section = readme.split("\n## Configuration").nth(1).expect("README has a Configuration section");
    let section = section.split("\n## ").next().unwrap_or(section);
    for line in section.lines() {
        // Table rows name variables in their first cell; the local stack's paragraph too.
        let cell = if line.starts_with('|') { line.split('|').nth(1).unwrap_or("") } else { line };
        for quoted in cell.split('`').skip(1).step_by(2) {
            if is_name(quoted) {
                names.insert(quoted.to_owned());
            }
        }
    }
    names
}

#[test]
fn every_documented_variable_is_set_by_an_image_test() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut sources = String::new();
    for entry in std::fs::read_dir(&dir).expect("tests/tests is readable") {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_some_and(|extension| extension == "rs") {
            sources.push_str(&std::fs::read_to_string(&path).expect("a test source"));
        }
    }
    let documented = documented_variables();
    assert!(documented.len() > 30, "the parser found the tables: {documented:?}");
    let unset: Vec<&String> = documented
        .iter()
        .filter(|name| !sources.contains(&format!("(\"{name}\"")) && !sources.contains(&format!("{name}=")))
        .collect();
    assert!(unset.is_empty(), "documented but set by no image test: {unset:?}");
}

/// A backend container with exactly these variables (no defaults added), run hardened.
fn backend_with(images: &Images, network: &str, name: &str, env: &[(&str, &str)]) -> ContainerRequest<GenericImage> {
    let request = backend_unconfigured(images, network, name, 8000);
    env.iter().fold(request, |request, (key, value)| request.with_env_var(*key, *value))
}

async fn sign_up(client: &reqwest::Client, url: &str, email: &str) -> anyhow::Result<api_types::AuthResponse> {
    let response = client
        .post(format!("{url}/api/auth/sign-up"))
        .json(&serde_json::json!({"email": email, "password": "correct horse battery", "name": "Settings"}))
        .send()
        .await?;
    anyhow::ensure!(response.status() == 201 || response.status() == 200, "sign-up: {}", response.status());
    Ok(response.json().await?)
}

#[tokio::test]
async fn the_backend_image_honours_each_operator_setting() -> anyhow::Result<()> {
    let Some(images) = Images::from_env() else {
        return Ok(());
    };
    let network = unique("net");
    let db = unique("db");
    let postgres = start_postgres(&images, &network, &db).await?;
    let url_of_db = database_url(&db);
    let tuned = backend_with(
        &images,
        &network,
        &unique("backend"),
        &[
            ("DATABASE_URL", url_of_db.as_str()),
            // The alias, with BETTER_AUTH_SECRET unset: a backend that ignored it would not start.
            ("JWT_SECRET", AUTH_SECRET),
            ("TOKEN_TTL_SECS", "120"),
            ("CORS_ORIGINS", "https://app.example.test"),
            ("AUTH_RATE_LIMIT_PER_MINUTE", "3"),
            ("TRUSTED_PROXY_HOPS", "0"),
            ("PASSWORD_HASH_CONCURRENCY", "1"),
            ("REQUEST_TIMEOUT_SECS", "1"),
            // Read and accepted (the API tests check what the window does).
            ("UNDO_WINDOW_SECS", "60"),
            ("TASK_PAGE_CACHE_MIB", "0"),
            ("SHUTDOWN_DELAY_SECS", "5"),
            ("LOG_FORMAT", "pretty"),
            ("RUST_LOG", "debug"),
            ("MIMALLOC_ALLOW_THP", "1"),
            ("MIMALLOC_VERBOSE", "1"),
        ],
    )
    .start()
    .await?;
    let url = base_url(&tuned, 8000).await?;
    wait_for_status(&format!("{url}/readyz"), 200, Duration::from_secs(30)).await?;
    let client = reqwest::Client::new();

    // TOKEN_TTL_SECS: the session ends two minutes after sign-up, not in a week.
    let session = sign_up(&client, &url, "settings@example.com").await?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() as i64;
    let lifetime = session.expires_at.timestamp() - now;
    assert!((60..=120).contains(&lifetime), "token lifetime {lifetime} s");

    // JWT_SECRET: a replica keyed with BETTER_AUTH_SECRET of the same value accepts its tokens.
    let replica = backend(&images, &network, &unique("backend"), &url_of_db).start().await?;
    let replica_url = base_url(&replica, 8000).await?;
    let tasks =
        client.get(format!("{replica_url}/api/{}/tasks", session.user.id)).bearer_auth(&session.token).send().await?;
    assert_eq!(tasks.status(), 200, "a token signed with JWT_SECRET verifies with the same BETTER_AUTH_SECRET");

    // CORS_ORIGINS: the listed origin may call from a browser, another may not.
    let preflight = |origin: &'static str| {
        client
            .request(reqwest::Method::OPTIONS, format!("{url}/api/{}/tasks", session.user.id))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let allowed = preflight("https://app.example.test").await?;
    assert_eq!(
        allowed.headers().get("access-control-allow-origin").map(|v| v.as_bytes()),
        Some(&b"https://app.example.test"[..])
    );
    let refused = preflight("https://elsewhere.example.test").await?;
    assert!(refused.headers().get("access-control-allow-origin").is_none(), "{:?}", refused.headers());

    // LOG_FORMAT=pretty and RUST_LOG=debug: human-readable lines, debug ones included.
    let stdout = String::from_utf8(tuned.stdout_to_vec().await?)?;
    assert!(stdout.contains("DEBUG"), "debug lines are logged: {stdout}");
    assert!(!stdout.lines().any(|line| line.trim_start().starts_with('{')), "no JSON lines: {stdout}");
    // MIMALLOC_ALLOW_THP reaches the allocator (MIMALLOC_VERBOSE makes it print its options).
    let stderr = String::from_utf8(tuned.stderr_to_vec().await?)?;
    assert!(
        stderr.lines().any(|line| line.contains("allow_thp") && line.trim_end().ends_with('1')),
        "mimalloc reports allow_thp=1: {stderr}"
    );

    // REQUEST_TIMEOUT_SECS=1: with the database frozen the request ends at the request timeout
    // (503 `timeout`), before the pool's own 3 s acquire timeout could answer `database_unavailable`.
    docker(&["pause", postgres.id()])?;
    let stalled = client
        .get(format!("{url}/api/{}/tasks", session.user.id))
        .bearer_auth(&session.token)
        .timeout(Duration::from_secs(20))
        .send()
        .await;
    docker(&["unpause", postgres.id()])?;
    let stalled = stalled?;
    assert_eq!(stalled.status(), 503);
    let body: api_types::ErrorBody = stalled.json().await?;
    assert_eq!(body.error, "timeout", "the request timeout answered, in the one error shape, not the pool");

    // AUTH_RATE_LIMIT_PER_MINUTE=3 with TRUSTED_PROXY_HOPS=0: sign-up took one attempt; a
    // client changing X-Forwarded-For on every try still runs out after the other two.
    let mut statuses = Vec::new();
    for attempt in 0..4 {
        let response = client
            .post(format!("{url}/api/auth/sign-in"))
            .header("x-forwarded-for", format!("203.0.113.{attempt}"))
            .json(&serde_json::json!({"email": "settings@example.com", "password": "wrong password"}))
            .send()
            .await?;
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 429, 429], "X-Forwarded-For is ignored and the limit is 3");

    // SHUTDOWN_DELAY_SECS: after SIGTERM the backend keeps serving with readiness failing. A
    // backend without the delay would be gone, and the probe would not answer at all.
    docker(&["kill", "--signal", "TERM", tuned.id()])?;
    wait_for_status(&format!("{url}/readyz"), 503, Duration::from_secs(4)).await?;
    let alive = client.get(format!("{url}/healthz")).send().await?;
    assert_eq!(alive.status(), 200, "still serving during the shutdown delay");
    Ok(())
}

/// The image, started until it exits with the configuration error status.
fn until_config_error(reference: &str) -> GenericImage {
    image(reference).with_wait_for(WaitFor::exit(ExitWaitStrategy::new().with_exit_code(78)))
}

/// Starts `request` (from [`until_config_error`]), expecting a line naming `variable`.
async fn refused(request: ContainerRequest<GenericImage>, variable: &str, value: &str) -> anyhow::Result<()> {
    let container = request
        .with_startup_timeout(Duration::from_secs(20))
        .start()
        .await
        .with_context(|| format!("{variable}={value:?} did not stop the image with exit status 78"))?;
    let stderr = String::from_utf8(container.stderr_to_vec().await?)?;
    anyhow::ensure!(stderr.contains(&format!("{variable} is invalid")), "{variable}: stderr was {stderr}");
    Ok(())
}

#[tokio::test]
async fn a_bad_value_of_any_setting_stops_each_image_naming_the_variable() -> anyhow::Result<()> {
    let Some(images) = Images::from_env() else {
        return Ok(());
    };
    let backend_cases = [
        ("PORT", "eighty"),
        ("HOST", "localhost:8000"),
        ("DATABASE_MAX_CONNECTIONS", "0"),
        ("MIGRATE_ON_START", "perhaps"),
        ("SHUTDOWN_DELAY_SECS", "-1"),
        ("LOG_FORMAT", "xml"),
        ("RUST_LOG", "backend=loud"),
        ("TOKEN_TTL_SECS", "5"),
        ("SESSION_MAX_LIFETIME_SECS", "3600"),
        ("CORS_ORIGINS", "*"),
        ("AUTH_RATE_LIMIT_PER_MINUTE", "0"),
        ("PASSWORD_HASH_CONCURRENCY", "0"),
        ("TRUSTED_PROXY_HOPS", "11"),
        // Removed: refused with a message naming TRUSTED_PROXY_HOPS, whatever its value.
        ("TRUST_FORWARDED_FOR", "true"),
        ("AUTH_FAILURES_PER_ACCOUNT", "0"),
        ("AUTH_FAILURE_WINDOW_SECS", "0"),
        ("REQUEST_TIMEOUT_SECS", "0"),
        ("OPENAI_BASE_URL", "ftp://model.example.test"),
        ("OPENAI_TIMEOUT_SECS", "soon"),
        ("OPENAI_MAX_RETRIES", "-1"),
        ("OPENAI_TEMPERATURE", "3"),
        ("CHAT_MAX_TOOL_ROUNDS", "many"),
        ("CHAT_HISTORY_MESSAGES", "0"),
        ("CHAT_TIMEOUT_SECS", "later"),
        ("CHAT_MAX_TOOL_CALLS_PER_REPLY", "0"),
        ("CHAT_MAX_DESTRUCTIVE_CALLS_PER_TURN", "-1"),
        ("CHAT_RATE_LIMIT_PER_MINUTE", "0"),
        ("UNDO_WINDOW_SECS", "2592001"),
        ("TASK_PAGE_CACHE_MIB", "4097"),
    ];
    for (variable, value) in backend_cases {
        let request = hardened(
            until_config_error(&images.backend)
                .with_env_var("DATABASE_URL", database_url("db.invalid"))
                .with_env_var("BETTER_AUTH_SECRET", AUTH_SECRET)
                .with_env_var("OPENAI_API_KEY", "sk-settings")
                .with_env_var(variable, value),
            "1000:1000",
        );
        refused(request, variable, value).await?;
    }
    let web_cases = [
        ("BACKEND_URL", "ftp://backend:8000"),
        ("PORT", "-3000"),
        ("HOST", "everywhere"),
        ("ASSETS_DIR", "/nonexistent"),
        ("PROXY_TIMEOUT_SECS", "0"),
        ("LOG_FORMAT", "yaml"),
        ("RUST_LOG", "web=loud"),
    ];
    for (variable, value) in web_cases {
        let request = hardened(
            until_config_error(&images.web)
                .with_env_var("BACKEND_URL", "http://backend:8000")
                .with_env_var(variable, value),
            "1001:1001",
        );
        refused(request, variable, value).await?;
    }
    Ok(())
}

#[tokio::test]
async fn the_web_image_honours_each_operator_setting() -> anyhow::Result<()> {
    let Some(images) = Images::from_env() else {
        return Ok(());
    };
    // A "backend" that accepts connections and never answers, on the host.
    let silent = tokio::net::TcpListener::bind("0.0.0.0:0").await?;
    let silent_port = silent.local_addr()?.port();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });

    // ASSETS_DIR: a directory of our own, readable by UID 1001 like the image's.
    let assets = std::env::temp_dir().join(unique("assets"));
    std::fs::create_dir_all(&assets)?;
    std::fs::write(assets.join("index.html"), "<!doctype html><title>custom assets</title>")?;
    std::os::unix::fs::chown(&assets, Some(0), Some(0)).ok();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&assets, std::fs::Permissions::from_mode(0o755))?;
    std::fs::set_permissions(assets.join("index.html"), std::fs::Permissions::from_mode(0o644))?;

    let request = image(&images.web)
        .with_exposed_port(8080.tcp())
        .with_wait_for(WaitFor::http(
            HttpWaitStrategy::new("/healthz").with_port(8080.tcp()).with_expected_status_code(200_u16),
        ))
        .with_host("host.docker.internal", Host::HostGateway)
        .with_env_var("BACKEND_URL", format!("http://host.docker.internal:{silent_port}"))
        .with_env_var("PORT", "8080")
        .with_env_var("ASSETS_DIR", "/custom")
        .with_env_var("PROXY_TIMEOUT_SECS", "1")
        .with_env_var("LOG_FORMAT", "pretty")
        .with_env_var("RUST_LOG", "debug")
        .with_mount(Mount::bind_mount(assets.to_string_lossy(), "/custom").with_access_mode(AccessMode::ReadOnly))
        .with_startup_timeout(Duration::from_secs(30));
    let web = hardened(request, "1001:1001").start().await?;
    let url = base_url(&web, 8080).await?;
    let client = reqwest::Client::new();

    let page = client.get(format!("{url}/")).send().await?.text().await?;
    assert!(page.contains("custom assets"), "ASSETS_DIR is served: {page}");
    let timed_out = client.get(format!("{url}/api/healthz")).timeout(Duration::from_secs(30)).send().await?;
    assert_eq!(timed_out.status(), 504, "PROXY_TIMEOUT_SECS=1 against a backend that never answers");
    let body: api_types::ErrorBody = timed_out.json().await?;
    assert_eq!(body.error, "backend_timeout");
    let stdout = String::from_utf8(web.stdout_to_vec().await?)?;
    assert!(stdout.contains("DEBUG") && !stdout.lines().any(|line| line.starts_with('{')), "{stdout}");
    hold.abort();
    let _ = std::fs::remove_dir_all(&assets);

    // HOST=127.0.0.1: only the container itself reaches the server (its healthcheck does).
    let loopback = hardened(
        image(&images.web)
            .with_exposed_port(3000.tcp())
            .with_wait_for(WaitFor::message_on_stdout("web listening"))
            .with_env_var("BACKEND_URL", "http://backend.invalid:8000")
            .with_env_var("HOST", "127.0.0.1"),
        "1001:1001",
    )
    .start()
    .await?;
    docker(&["exec", loopback.id(), "/usr/local/bin/web", "healthcheck"])?;
    let outside = base_url(&loopback, 3000).await?;
    let reached = client.get(format!("{outside}/healthz")).timeout(Duration::from_secs(5)).send().await;
    assert!(reached.is_err(), "nothing listens on the container's network address: {reached:?}");
    Ok(())
}
