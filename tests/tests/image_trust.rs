//! What the release images trust, and whether their own users can read what they ship. The
//! backend once shipped the build host's CA bundle at mode 0400 root: UID 1000 could not read
//! it, so any model key stopped the image at start-up while every test (run as root on the
//! host, or without a key) passed.

use image_tests::*;
use std::{os::unix::fs::PermissionsExt, time::Duration};

use testcontainers::{
    ImageExt,
    core::{AccessMode, Mount, WaitFor, wait::ExitWaitStrategy},
    runners::AsyncRunner,
};

const BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The toolchain image the app images were built from (`just test` sets `TOOLCHAIN_IMAGE`).
fn toolchain_image() -> Option<String> {
    match std::env::var("TOOLCHAIN_IMAGE").ok().filter(|value| !value.is_empty()) {
        Some(image) => Some(image),
        None if std::env::var_os("CI").is_some() => panic!("TOOLCHAIN_IMAGE must be set in CI: run `just test`"),
        None => {
            eprintln!("\n!!! SKIPPED: TOOLCHAIN_IMAGE is not set; `just test` sets it.\n");
            None
        }
    }
}

/// `ARG CA_CERTIFICATES_VERSION=…` in images/toolchain.Dockerfile: the one pin.
fn pinned_ca_certificates_version() -> String {
    let dockerfile = include_str!("../../images/toolchain.Dockerfile");
    dockerfile
        .lines()
        .find_map(|line| line.strip_prefix("ARG CA_CERTIFICATES_VERSION="))
        .expect("toolchain.Dockerfile pins CA_CERTIFICATES_VERSION")
        .trim()
        .to_owned()
}

#[tokio::test]
async fn the_backend_trusts_debians_pinned_bundle_and_nothing_from_the_build_host() -> anyhow::Result<()> {
    let (Some(images), Some(toolchain)) = (Images::from_env(), toolchain_image()) else {
        return Ok(());
    };
    let installed = docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        &toolchain,
        "dpkg-query",
        "-W",
        "-f",
        "${Version}",
        "ca-certificates",
    ])?;
    assert_eq!(installed.trim(), pinned_ca_certificates_version(), "the toolchain holds the pinned package");
    let debian_bundle = docker(&["run", "--rm", "--network", "none", &toolchain, "cat", BUNDLE])?;

    let shipped = String::from_utf8(image_file(&images.backend, BUNDLE)?)?;
    assert!(shipped == debian_bundle, "the backend's bundle differs from Debian's ca-certificates bundle");
    assert!(shipped.matches("BEGIN CERTIFICATE").count() > 100, "a real root store");

    // A TLS-inspecting proxy's CA on the build host must not leak in: when the host's bundle is
    // not Debian's, the image must not carry its extra certificates.
    let host_bundle = std::env::var("SSL_CERT_FILE").unwrap_or_else(|_| BUNDLE.to_owned());
    if let Ok(host) = std::fs::read_to_string(&host_bundle) {
        let foreign: Vec<&str> = certificates(&host).filter(|cert| !debian_bundle.contains(cert)).collect();
        for cert in &foreign {
            assert!(!shipped.contains(cert), "a certificate of the build host's {host_bundle} is in the image");
        }
        eprintln!("the build host's bundle has {} certificates Debian's has not; none is in the image", foreign.len());
    }

    let entry = image_entries(&images.backend)?
        .into_iter()
        .find(|entry| entry.path == BUNDLE.trim_start_matches('/'))
        .expect("the bundle is listed");
    assert_eq!((entry.mode.as_str(), entry.uid, entry.gid), ("-rw-r--r--", 0, 0), "{entry:?}");
    Ok(())
}

/// The base64 bodies of the PEM certificates in a bundle (comments and labels differ between
/// bundles that hold the same certificate).
fn certificates(bundle: &str) -> impl Iterator<Item = &str> {
    bundle
        .split("-----BEGIN CERTIFICATE-----")
        .skip(1)
        .filter_map(|rest| rest.split("-----END CERTIFICATE-----").next())
}

#[tokio::test]
async fn every_file_of_each_image_is_readable_by_the_user_it_runs_as() -> anyhow::Result<()> {
    let Some(images) = Images::from_env() else {
        return Ok(());
    };
    for (reference, uid) in [(&images.backend, 1000), (&images.web, 1001)] {
        let entries = image_entries(reference)?;
        let unreadable: Vec<&ImageEntry> =
            entries.iter().filter(|entry| !entry.mode.starts_with('l') && !entry.readable_by(uid, uid)).collect();
        assert!(unreadable.is_empty(), "{reference}: UID {uid} cannot read {unreadable:#?}");
        assert!(entries.iter().any(|entry| entry.path.ends_with("bin/backend") || entry.path.ends_with("bin/web")));
    }
    Ok(())
}

#[tokio::test]
async fn the_backend_starts_as_uid_1000_with_a_model_key() -> anyhow::Result<()> {
    let Some(images) = Images::from_env() else {
        return Ok(());
    };
    // No database is needed to start: the pool connects lazily. The model client is built at
    // start-up, which is what reads the CA bundle.
    let backend = backend(&images, &unique("net"), &unique("backend"), &database_url("db.invalid"))
        .with_env_var("OPENAI_API_KEY", "sk-image-test")
        .with_env_var("OPENAI_BASE_URL", "https://model.example.invalid/v1")
        .start()
        .await?;
    let url = base_url(&backend, 8000).await?;
    wait_for_status(&format!("{url}/healthz"), 200, Duration::from_secs(10)).await?;
    let info: api_types::ServiceInfo = reqwest::get(format!("{url}/api/info")).await?.json().await?;
    assert_eq!(info.assistant, api_types::AssistantMode::Model, "{info:?}");
    Ok(())
}

#[tokio::test]
async fn an_unreadable_ca_bundle_stops_the_backend_with_the_part_and_the_cause() -> anyhow::Result<()> {
    let Some(images) = Images::from_env() else {
        return Ok(());
    };
    // What the old image shipped: a bundle only root may read, here named by SSL_CERT_FILE.
    let dir = std::env::temp_dir().join(unique("root-only-ca"));
    std::fs::create_dir_all(&dir)?;
    let bundle = dir.join("ca.pem");
    std::fs::write(&bundle, image_file(&images.backend, BUNDLE)?)?;
    std::fs::set_permissions(&bundle, std::fs::Permissions::from_mode(0o400))?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
    let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&bundle)?);
    assert_ne!(owner, 1000, "the file must belong to someone other than the backend's user");

    let container = hardened(
        image(&images.backend)
            .with_wait_for(WaitFor::exit(ExitWaitStrategy::new().with_exit_code(1)))
            .with_env_var("DATABASE_URL", database_url("db.invalid"))
            .with_env_var("BETTER_AUTH_SECRET", AUTH_SECRET)
            .with_env_var("OPENAI_API_KEY", "sk-image-test")
            .with_env_var("OPENAI_BASE_URL", "https://model.example.invalid/v1")
            .with_env_var("SSL_CERT_FILE", "/certs/ca.pem")
            .with_mount(
                Mount::bind_mount(bundle.to_string_lossy(), "/certs/ca.pem").with_access_mode(AccessMode::ReadOnly),
            ),
        "1000:1000",
    )
    .start()
    .await?;
    let stderr = String::from_utf8(container.stderr_to_vec().await?)?;
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        stderr.contains(
            "backend: could not start: the model client for OPENAI_BASE_URL=https://model.example.invalid/v1 could not be built: "
        ),
        "stderr: {stderr}"
    );
    assert!(stderr.to_lowercase().contains("permission denied"), "the cause is named: {stderr}");
    Ok(())
}
