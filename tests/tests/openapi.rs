//! The release backend image against its own `/openapi.json`: openapi-spec-validator says the
//! document is valid OpenAPI, and schemathesis (`tests/openapi/schemathesis.toml`) sends every
//! documented operation generated requests, valid and invalid, signed in as a real user, and
//! checks that no answer is a 5xx and each one's status, content type and body are documented.
//! The tools come from `scripts/install-openapi-tools.sh` (`.tools/openapi`).

use anyhow::{Context, bail};
use api_types::AuthResponse;
use image_tests::*;
use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    time::Duration,
};
use testcontainers::{ImageExt, runners::AsyncRunner};

/// `.tools/openapi/bin`, when both tools are there. Missing in CI is a failure; elsewhere a
/// loud skip.
fn tools() -> Option<PathBuf> {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/openapi/bin");
    if ["schemathesis", "openapi-spec-validator"].iter().all(|tool| bin.join(tool).exists()) {
        return Some(bin);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "{} lacks schemathesis or openapi-spec-validator in CI: scripts/install-host-deps.sh runs \
             scripts/install-openapi-tools.sh",
            bin.display()
        );
    }
    eprintln!("\n!!! SKIPPED: no OpenAPI tools in {}; run scripts/install-openapi-tools.sh\n", bin.display());
    None
}

/// Runs a tool off the async runtime and returns its output whatever its exit status.
async fn run(mut command: Command) -> anyhow::Result<Output> {
    let what = format!("{command:?}");
    tokio::task::spawn_blocking(move || command.output()).await?.with_context(|| what)
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[tokio::test]
async fn the_backend_image_keeps_its_openapi_contract() -> anyhow::Result<()> {
    let Some(images) = Images::from_env() else {
        return Ok(());
    };
    let Some(tools) = tools() else {
        return Ok(());
    };
    let network = unique("net");
    let db = unique("db");
    let _postgres = start_postgres(&images, &network, &db).await?;
    // schemathesis signs in again after any 401 to a signed-in request (see its config), and
    // tries wrong current passwords on the password change: neither the address limit nor the
    // per-account failure limit may stop its sign-ins. The limits have their own tests
    // (tests/tests/rate_limits.rs, backend/tests/api/rate_limits.rs).
    let backend = backend(&images, &network, &unique("backend"), &database_url(&db))
        .with_env_var("AUTH_RATE_LIMIT_PER_MINUTE", "1000")
        .with_env_var("AUTH_FAILURES_PER_ACCOUNT", "100000")
        .start()
        .await?;
    let url = base_url(&backend, 8000).await?;
    wait_for_status(&format!("{url}/readyz"), 200, Duration::from_secs(60)).await?;

    let work = std::env::temp_dir().join(unique("openapi"));
    std::fs::create_dir_all(&work)?;
    let client = reqwest::Client::new();
    let document = client.get(format!("{url}/openapi.json")).send().await?.error_for_status()?.text().await?;
    let document_path = work.join("openapi.json");
    std::fs::write(&document_path, &document)?;
    let mut validator = Command::new(tools.join("openapi-spec-validator"));
    validator.arg(&document_path);
    let validated = run(validator).await?;
    if !validated.status.success() {
        let _ = std::fs::remove_dir_all(&work);
        bail!("openapi-spec-validator: {}", text(&validated));
    }

    let (email, password) = ("contract@example.com", "schemathesis at work");
    let session: AuthResponse = client
        .post(format!("{url}/api/auth/sign-up"))
        .json(&serde_json::json!({"email": email, "password": password, "name": "Contract"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi/schemathesis.toml");
    let mut schemathesis = Command::new(tools.join("schemathesis"));
    schemathesis
        .arg("--config-file")
        .arg(&config)
        .args(["--no-color", "run", &format!("{url}/openapi.json")])
        .env("SCHEMATHESIS_EMAIL", email)
        .env("SCHEMATHESIS_PASSWORD", password)
        .env("SCHEMATHESIS_USER_ID", &session.user.id)
        // Whatever it keeps between runs stays out of the repository.
        .current_dir(&work);
    let report = run(schemathesis).await?;
    let output = text(&report);
    let _ = std::fs::remove_dir_all(&work);
    if !report.status.success() {
        bail!("schemathesis found failures (exit {:?}):\n{output}", report.status.code());
    }
    let documented: serde_json::Value = serde_json::from_str(&document)?;
    let operations: usize = documented["paths"]
        .as_object()
        .context("paths in the document")?
        .values()
        .map(|item| item.as_object().map_or(0, |methods| methods.len()))
        .sum();
    assert!(
        output.contains(&format!("Tested: {operations}")),
        "all {operations} documented operations were tested:\n{output}"
    );
    let summary: Vec<&str> = output.lines().skip_while(|line| !line.contains("SUMMARY")).collect();
    eprintln!("{}", summary.join("\n"));

    // Signed in for real: the handlers behind the token answered, not only the 401 path.
    for route in ["/api/{user_id}/tasks", "/api/{user_id}/tasks/{id}", "/api/{user_id}/chat"] {
        let needle = format!(r#""route":"{route}","status":20"#);
        wait_for_stdout_lines(&backend, 1, Duration::from_secs(10), |line| line.contains(&needle))
            .await
            .with_context(|| format!("a 2xx answer on {route}"))?;
    }
    Ok(())
}
