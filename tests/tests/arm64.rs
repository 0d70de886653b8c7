//! The arm64 images, run for real under emulation (qemu-user-static through binfmt_misc,
//! scripts/install-arm64-emulation.sh): the same binaries an arm64 node runs, hardened as the
//! chart runs them, next to our (native) PostgreSQL image.

use api_types::Readiness;
use image_tests::*;
use std::time::Duration;
use testcontainers::{ImageExt, runners::AsyncRunner};

const PLATFORM: &str = "linux/arm64";
/// ELF `e_machine` of AArch64, at byte 18 of the header (little-endian).
const EM_AARCH64: u16 = 0xb7;

#[tokio::test]
async fn arm64_images_are_arm64_through_and_through() -> anyhow::Result<()> {
    let Some(images) = Images::arm64_from_env() else {
        return Ok(());
    };
    for (reference, binary) in [(&images.backend, "/usr/local/bin/backend"), (&images.web, "/usr/local/bin/web")] {
        let platform = docker(&["image", "inspect", "-f", "{{.Os}}/{{.Architecture}}", reference])?;
        assert_eq!(platform.trim(), PLATFORM, "{reference}");
        // The label could be right over an amd64 binary (which would run here without qemu).
        let elf = image_file(reference, binary)?;
        assert_eq!(&elf[..4], b"\x7fELF", "{reference}: {binary} is not ELF");
        assert_eq!(u16::from_le_bytes([elf[18], elf[19]]), EM_AARCH64, "{reference}: {binary} is not aarch64");
    }
    Ok(())
}

/// The kernel started the container's server through qemu (which `ps` shows as the program), as
/// `uid`: this host is amd64, and `just test` sets the arm64 images only on such a host.
fn assert_emulated(container: &str, uid: &str) -> anyhow::Result<()> {
    // docker top needs the pid column.
    let processes = docker(&["top", container, "-eo", "pid,uid,args"])?;
    assert!(
        processes
            .lines()
            .skip(1)
            .any(|line| line.split_whitespace().nth(1) == Some(uid) && line.contains("qemu-aarch64")),
        "{processes}"
    );
    Ok(())
}

/// Signs up at `url`, creates a task and lists it back.
async fn sign_up_create_and_list(url: &str, email: &str) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let session = sign_up(&client, url, email).await?;
    let tasks = format!("{url}/api/{}/tasks", session.user.id);
    let task = serde_json::json!({"title": "Run on arm64", "priority": "high"});
    let created = client.post(&tasks).bearer_auth(&session.token).json(&task).send().await?;
    assert_eq!(created.status(), 201);
    let page: api_types::TaskPage = client.get(&tasks).bearer_auth(&session.token).send().await?.json().await?;
    assert_eq!(page.total, 1);
    assert_eq!(page.items[0].title, "Run on arm64");
    Ok(())
}

#[tokio::test]
async fn arm64_backend_migrates_and_serves_the_api_under_emulation() -> anyhow::Result<()> {
    let Some(images) = Images::arm64_from_env() else {
        return Ok(());
    };
    let network = unique("net");
    let db = unique("db");
    let postgres = start_postgres(&images, &network, &db).await?;

    // The migrate job as the chart's hook runs it, then a backend that only waits for readiness.
    let _migrated = migrate_job(&images, &network, &database_url(&db)).with_platform(PLATFORM).start().await?;
    let pool = connect_from_host(&postgres).await?;
    let applied: Vec<(i64, bool)> =
        sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version").fetch_all(&pool).await?;
    let expected: Vec<(i64, bool)> = migration_versions().into_iter().map(|v| (v, true)).collect();
    assert_eq!(applied, expected, "every migration applied once, successfully, by the arm64 binary");

    let backend = backend(&images, &network, &unique("backend"), &database_url(&db))
        .with_env_var("MIGRATE_ON_START", "false")
        .with_platform(PLATFORM)
        .start()
        .await?;
    let url = base_url(&backend, 8000).await?;
    wait_for_status(&format!("{url}/healthz"), 200, Duration::from_secs(10)).await?;
    let ready: Readiness =
        wait_for_status(&format!("{url}/readyz"), 200, Duration::from_secs(30)).await?.json().await?;
    assert!(ready.is_ready(), "{ready:?}");
    sign_up_create_and_list(&url, "arm64-backend@example.com").await?;
    assert_emulated(backend.id(), "1000")
}

#[tokio::test]
async fn arm64_web_serves_the_app_and_proxies_to_the_arm64_backend() -> anyhow::Result<()> {
    let Some(images) = Images::arm64_from_env() else {
        return Ok(());
    };
    let network = unique("net");
    let db = unique("db");
    let _postgres = start_postgres(&images, &network, &db).await?;
    let backend_name = unique("backend");
    let backend = backend(&images, &network, &backend_name, &database_url(&db)).with_platform(PLATFORM).start().await?;
    let web = web(&images, &network, &unique("web"), &format!("http://{backend_name}:8000"))
        .with_platform(PLATFORM)
        .start()
        .await?;
    let url = base_url(&web, 3000).await?;
    let index = reqwest::get(&url).await?;
    assert_eq!(index.status(), 200);
    assert!(index.text().await?.contains("/pkg/web.js"));
    // The backend migrates on start: the proxy answers once it is ready.
    wait_for_status(&format!("{url}/api/readyz"), 200, Duration::from_secs(60)).await?;
    sign_up_create_and_list(&url, "arm64-web@example.com").await?;
    assert_emulated(web.id(), "1001")?;
    assert_emulated(backend.id(), "1000")
}
