//! The backend image against a PostgreSQL that speaks TLS, as managed databases (Neon and the
//! like) do: `sslmode=require`, and `verify-full` with a CA file mounted into the container.

use anyhow::Context;
use api_types::{CheckStatus, Readiness};
use image_tests::{tls::MountDir, tls::TestCa, *};
use std::time::Duration;
use testcontainers::{
    ContainerAsync, GenericImage, ImageExt,
    core::{AccessMode, ExecCommand, IntoContainerPort, Mount},
    runners::AsyncRunner,
};

/// Our postgres image with `ssl=on` and a certificate for `name` signed by `ca`. The files are
/// copied in root-owned and world-readable, as a mounted secret often is: the entrypoint must
/// install them where PostgreSQL accepts them. Connections are logged, TLS details included.
async fn start_tls_postgres(
    images: &Images,
    network: &str,
    name: &str,
    ca: &TestCa,
) -> anyhow::Result<ContainerAsync<GenericImage>> {
    let cert = ca.issue(&[name])?;
    postgres(images, network, name)
        .with_copy_to("/etc/postgresql/tls/tls.crt", cert.cert_pem.into_bytes())
        .with_copy_to("/etc/postgresql/tls/tls.key", cert.key_pem.into_bytes())
        .with_env_var("POSTGRES_SSL_CERT_FILE", "/etc/postgresql/tls/tls.crt")
        .with_env_var("POSTGRES_SSL_KEY_FILE", "/etc/postgresql/tls/tls.key")
        .with_cmd(["postgres", "-c", "log_connections=on"])
        .start()
        .await
        .context("starting postgres with TLS")
}

/// A directory holding `ca.pem`, to mount read-only at `/certs`.
fn ca_mount(ca: &TestCa) -> anyhow::Result<(MountDir, Mount)> {
    let dir = MountDir::new("certs")?;
    dir.write("ca.pem", &ca.cert_pem())?;
    let source = dir.path().to_str().context("a UTF-8 temporary path")?.to_owned();
    Ok((dir, Mount::bind_mount(source, "/certs").with_access_mode(AccessMode::ReadOnly)))
}

fn tls_url(host: &str, database: &str, query: &str) -> String {
    format!("postgres://{POSTGRES_USER}:{POSTGRES_PASSWORD}@{host}:5432/{database}?{query}")
}

async fn create_database(pool: &sqlx::PgPool, name: &str) -> anyhow::Result<()> {
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(pool).await?;
    Ok(())
}

/// How many migrations `database` has applied successfully, read from the host.
async fn applied_in(postgres: &ContainerAsync<GenericImage>, database: &str) -> anyhow::Result<usize> {
    let port = postgres.get_host_port_ipv4(5432.tcp()).await?;
    let url = format!("postgres://{POSTGRES_USER}:{POSTGRES_PASSWORD}@127.0.0.1:{port}/{database}");
    let pool = sqlx::PgPool::connect(&url).await?;
    let applied: i64 =
        sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success").fetch_one(&pool).await?;
    pool.close().await;
    Ok(applied as usize)
}

#[tokio::test]
async fn backend_migrates_and_serves_over_tls_with_require_and_verify_full() -> anyhow::Result<()> {
    let Some(images) = Images::from_env() else {
        return Ok(());
    };
    let network = unique("net");
    let db = unique("db");
    let ca = TestCa::new("todo-chatbot test CA")?;
    let postgres = start_tls_postgres(&images, &network, &db, &ca).await?;
    let host_pool = connect_from_host(&postgres).await?;
    let ssl: String = sqlx::query_scalar("SHOW ssl").fetch_one(&host_pool).await?;
    assert_eq!(ssl, "on");
    let key = postgres.exec(ExecCommand::new(["stat", "-c", "%U %a", "/var/lib/postgresql/tls/server.key"])).await;
    let key = String::from_utf8(key?.stdout_to_vec().await?)?;
    assert_eq!(key.trim(), "postgres 600", "the key as the server reads it");

    // One database per client, so that each applies every migration itself.
    for database in ["by_require", "by_verify_full", "by_job"] {
        create_database(&host_pool, database).await?;
    }
    let (_certs, mount) = ca_mount(&ca)?;
    let verify_full = "sslmode=verify-full&sslrootcert=/certs/ca.pem";

    migrate_job(&images, &network, &tls_url(&db, "by_job", &format!("{verify_full}&application_name=tls-job")))
        .with_mount(mount.clone())
        .start()
        .await
        .context("the migrate job over verify-full")?;

    let require = backend(
        &images,
        &network,
        &unique("backend-require"),
        &tls_url(&db, "by_require", "sslmode=require&application_name=tls-require"),
    )
    .start();
    let verified = backend(
        &images,
        &network,
        &unique("backend-verify-full"),
        &tls_url(&db, "by_verify_full", &format!("{verify_full}&application_name=tls-verify-full")),
    )
    .with_mount(mount)
    .start();
    let (require, verified) = tokio::join!(require, verified);
    let (require, verified) = (require?, verified?);
    for backend in [&require, &verified] {
        let url = base_url(backend, 8000).await?;
        let ready: Readiness =
            wait_for_status(&format!("{url}/readyz"), 200, Duration::from_secs(30)).await?.json().await?;
        assert!(ready.is_ready(), "{ready:?}");
    }
    // The task list over verify-full: the second page is the cached one, read on the connection
    // the first request kept (`backend::warm`), which must still be the encrypted one.
    let client = reqwest::Client::new();
    let url = base_url(&verified, 8000).await?;
    let session = sign_up(&client, &url, &format!("{}@example.com", unique("tls"))).await?;
    let tasks = format!("{url}/api/{}/tasks", session.user.id);
    let created =
        client.post(&tasks).bearer_auth(&session.token).json(&serde_json::json!({"title": "over TLS"})).send().await?;
    assert_eq!(created.status(), 201, "{}", created.text().await?);
    for _ in 0..2 {
        let page: api_types::TaskPage =
            client.get(&tasks).bearer_auth(&session.token).send().await?.error_for_status()?.json().await?;
        assert_eq!(page.items.iter().map(|task| task.title.as_str()).collect::<Vec<_>>(), ["over TLS"]);
    }
    let known = migration_versions().len();
    for database in ["by_require", "by_verify_full", "by_job"] {
        assert_eq!(applied_in(&postgres, database).await?, known, "migrations in {database}");
    }

    // Every connection the two servers hold is encrypted, as PostgreSQL itself reports it.
    let connections: Vec<(String, bool, Option<String>)> = sqlx::query_as(
        "SELECT a.application_name::text, s.ssl, s.version FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
         WHERE a.application_name LIKE 'tls-%' ORDER BY 1",
    )
    .fetch_all(&host_pool)
    .await?;
    for name in ["tls-require", "tls-verify-full"] {
        assert!(connections.iter().any(|(app, _, _)| app == name), "no connection from {name}: {connections:?}");
    }
    assert!(connections.iter().all(|(_, ssl, version)| *ssl && version.is_some()), "{connections:?}");
    // The job has exited; the server's log says how it connected.
    let log = String::from_utf8(postgres.stderr_to_vec().await?)?;
    let job_line = log
        .lines()
        .find(|line| line.contains("connection authorized") && line.contains("application_name=tls-job"))
        .with_context(|| format!("no connection from the job in the server log:\n{log}"))?;
    assert!(job_line.contains("SSL enabled"), "{job_line}");
    eprintln!("backend connections: {connections:?}\njob: {job_line}");
    Ok(())
}

#[tokio::test]
async fn verify_full_with_a_ca_that_did_not_sign_the_server_keeps_the_backend_unready_and_says_why()
-> anyhow::Result<()> {
    let Some(images) = Images::from_env() else {
        return Ok(());
    };
    let network = unique("net");
    let db = unique("db");
    let _postgres = start_tls_postgres(&images, &network, &db, &TestCa::new("the server's CA")?).await?;
    let (_certs, mount) = ca_mount(&TestCa::new("some other CA")?)?;
    let url = tls_url(&db, POSTGRES_DB, "sslmode=verify-full&sslrootcert=/certs/ca.pem");
    let backend = backend(&images, &network, &unique("backend"), &url).with_mount(mount).start().await?;
    let base = base_url(&backend, 8000).await?;

    let not_ready: Readiness =
        wait_for_status(&format!("{base}/readyz"), 503, Duration::from_secs(10)).await?.json().await?;
    let database = not_ready.checks.iter().find(|check| check.name == "database").context("a database check")?;
    assert_eq!(database.status, CheckStatus::Failing, "{not_ready:?}");
    // The body stays generic (it is public through the web proxy); the reason is in the log.
    assert!(!database.detail.contains("UnknownIssuer") && !database.detail.contains("certificate"), "{not_ready:?}");
    let readiness_failures = wait_for_stdout_lines(&backend, 1, Duration::from_secs(10), |line| {
        line.contains("readiness check failed") && line.contains(r#""check":"database""#)
    })
    .await?;
    assert!(readiness_failures[0].contains("UnknownIssuer"), "{readiness_failures:#?}");

    // It keeps retrying in the same process, saying why each time, instead of exiting.
    let failures =
        wait_for_stdout_lines(&backend, 2, Duration::from_secs(30), |line| line.contains("could not apply migrations"))
            .await?;
    assert!(failures.iter().all(|line| line.contains("UnknownIssuer")), "{failures:#?}");
    assert!(backend.is_running().await?, "the backend exited");
    let restarts = docker(&["inspect", "-f", "{{.RestartCount}}", backend.id()])?;
    assert_eq!(restarts.trim(), "0");
    wait_for_status(&format!("{base}/healthz"), 200, Duration::from_secs(5)).await?;
    eprintln!("readiness: {not_ready:?}\nlog: {}", failures[0]);
    Ok(())
}
