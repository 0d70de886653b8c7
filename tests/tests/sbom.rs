//! The SBOMs and provenance statements of `just sbom` (scripts/sbom.sh), read back from
//! DIST_DIR: each names every crate its image's binary is built from, at the version in
//! Cargo.lock, and the statement names the inputs of the image it sits beside.

use image_tests::*;
use std::{collections::BTreeSet, path::PathBuf, process::Command};

/// The SBOM directory and the images, from `just test` (DIST_DIR and the image variables).
fn setup() -> Option<(PathBuf, Vec<(String, &'static str)>)> {
    let images = Images::from_env()?;
    let Some(dist) = std::env::var_os("DIST_DIR").filter(|dir| !dir.is_empty()) else {
        assert!(std::env::var_os("CI").is_none(), "DIST_DIR must be set in CI: run `just test`");
        eprintln!("\n!!! SKIPPED: DIST_DIR is not set: `just test` writes the SBOMs (just sbom) and sets it.\n");
        return None;
    };
    let mut apps = vec![(images.backend, "backend"), (images.web, "web")];
    // The arm64 images when this run has them; tests/tests/arm64.rs insists on them in CI.
    let arm64_built = std::env::var("BACKEND_IMAGE_ARM64").is_ok_and(|image| !image.is_empty());
    if let Some(arm64) = arm64_built.then(Images::arm64_from_env).flatten() {
        apps.extend([(arm64.backend, "backend"), (arm64.web, "web")]);
    }
    // Relative to the workspace root, where just runs; cargo runs tests in the crate's directory.
    let dist = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(dist);
    Some((dist, apps))
}

/// `backend-<tag>` for `todo-chatbot/backend:<tag>`, as scripts/sbom.sh names its files.
fn stem(reference: &str) -> String {
    let (name, tag) = reference.rsplit_once(':').expect("name:tag");
    format!("{}-{tag}", name.rsplit('/').next().unwrap())
}

fn read_json(path: &std::path::Path) -> serde_json::Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error} (run just sbom)", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// `name version` of every crate linked into `package`'s binary for `target`: its normal
/// dependencies as cargo resolves them for that package alone (features included), without
/// proc-macros and build scripts' dependencies, which run on the builder and are not shipped.
fn linked_crates(package: &str, target: &str) -> BTreeSet<String> {
    let output = Command::new(env!("CARGO"))
        .args(["tree", "--locked", "--offline", "-p", package, "--target", target])
        .args(["-e", "normal,no-proc-macro", "--prefix", "none", "--format", "{p}"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(output.status.success(), "cargo tree: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        // "name v1.2.3 (/path) (*)" → "name 1.2.3"
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            Some(format!("{} {}", words.next()?, words.next()?.strip_prefix('v')?))
        })
        .collect()
}

#[test]
fn each_sbom_lists_every_crate_its_binary_links_at_the_locked_version() {
    let Some((dist, apps)) = setup() else { return };
    for (reference, package) in apps {
        let architecture = docker(&["image", "inspect", "-f", "{{.Architecture}}", &reference]).unwrap();
        let target = match architecture.trim() {
            "amd64" => "x86_64-unknown-linux-musl",
            "arm64" => "aarch64-unknown-linux-musl",
            other => panic!("{reference}: unexpected architecture {other}"),
        };
        let sbom = read_json(&dist.join(format!("{}.spdx.json", stem(&reference))));
        assert_eq!(sbom["spdxVersion"], "SPDX-2.3", "{reference}");
        // syft reads the crate list that `cargo auditable` embedded in the binary.
        let listed: BTreeSet<String> = sbom["packages"]
            .as_array()
            .expect("packages")
            .iter()
            .filter(|package| {
                package["externalRefs"].as_array().into_iter().flatten().any(|reference| {
                    reference["referenceLocator"].as_str().is_some_and(|purl| purl.starts_with("pkg:cargo/"))
                })
            })
            .map(|package| {
                format!("{} {}", package["name"].as_str().unwrap(), package["versionInfo"].as_str().unwrap())
            })
            .collect();
        let linked = linked_crates(package, target);
        assert!(linked.len() > 50, "{package}: cargo tree lists too few crates: {linked:?}");
        let missing: Vec<&String> = linked.difference(&listed).collect();
        assert!(missing.is_empty(), "{reference}: the SBOM lacks {} crates: {missing:?}", missing.len());
    }
}

#[test]
fn the_postgres_sbom_lists_its_debian_packages() {
    let Some((dist, _)) = setup() else { return };
    let postgres = std::env::var("POSTGRES_IMAGE").unwrap();
    let sbom = read_json(&dist.join(format!("{}.spdx.json", stem(&postgres))));
    let status = docker(&[
        "run",
        "--rm",
        "--entrypoint",
        "dpkg-query",
        &postgres,
        "-W",
        "-f",
        "${db:Status-Status} ${Package} ${Version}\\n",
    ])
    .expect("dpkg-query in the postgres image");
    // Packages removed with their configuration kept are known to dpkg but not installed.
    let installed: String =
        status.lines().filter_map(|line| line.strip_prefix("installed ")).map(|line| format!("{line}\n")).collect();
    let listed: BTreeSet<String> = sbom["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter_map(|package| Some(format!("{} {}", package["name"].as_str()?, package["versionInfo"].as_str()?)))
        .collect();
    let missing: Vec<&str> = installed.lines().filter(|line| !listed.contains(*line)).collect();
    assert!(installed.lines().any(|line| line.starts_with("postgresql-15 ")), "{installed}");
    assert!(missing.is_empty(), "the postgres SBOM lacks {missing:?}");
}

#[test]
fn each_provenance_statement_names_the_image_and_its_inputs() {
    let Some((dist, apps)) = setup() else { return };
    let lock_sha256 = {
        let output =
            Command::new("sha256sum").arg("../Cargo.lock").current_dir(env!("CARGO_MANIFEST_DIR")).output().unwrap();
        String::from_utf8(output.stdout).unwrap().split_whitespace().next().unwrap().to_owned()
    };
    let commit = Command::new("git").args(["rev-parse", "HEAD"]).output().unwrap();
    let commit = String::from_utf8(commit.stdout).unwrap().trim().to_owned();
    for (reference, _) in apps {
        let statement = read_json(&dist.join(format!("{}.intoto.json", stem(&reference))));
        assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
        assert_eq!(statement["predicateType"], "https://slsa.dev/provenance/v1");
        let id = docker(&["image", "inspect", "-f", "{{.Id}}", &reference]).unwrap();
        assert_eq!(statement["subject"][0]["name"], reference.as_str());
        assert_eq!(
            statement["subject"][0]["digest"]["sha256"].as_str(),
            id.trim().strip_prefix("sha256:"),
            "{reference}: the statement is about this very image"
        );
        let dependencies = statement["predicate"]["buildDefinition"]["resolvedDependencies"].as_array().unwrap();
        let digest = |name: &str, algorithm: &str| {
            dependencies.iter().find_map(|dependency| {
                let named = dependency["name"].as_str() == Some(name)
                    || dependency["uri"].as_str().is_some_and(|uri| uri.starts_with(name));
                named.then(|| dependency["digest"][algorithm].as_str().unwrap_or_default().to_owned())
            })
        };
        assert_eq!(digest("git+", "gitCommit").as_deref(), Some(commit.as_str()), "{reference}");
        assert_eq!(digest("Cargo.lock", "sha256").as_deref(), Some(lock_sha256.as_str()), "{reference}");
        let toolchain = std::env::var("TOOLCHAIN_IMAGE").unwrap_or_default();
        if !toolchain.is_empty() {
            let toolchain_id = docker(&["image", "inspect", "-f", "{{.Id}}", &toolchain]).unwrap();
            assert_eq!(
                digest(&toolchain, "sha256").as_deref(),
                toolchain_id.trim().strip_prefix("sha256:"),
                "{reference}: built with {toolchain}"
            );
        }
        assert!(
            dependencies.iter().any(|dependency| dependency["annotations"]["rustc"]
                .as_str()
                .is_some_and(|rustc| rustc.starts_with("rustc 1."))),
            "{reference}: the rustc version: {dependencies:?}"
        );
    }
}
