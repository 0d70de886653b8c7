# todo-chatbot: `just --list` is the manual.

set shell := ["bash", "-euo", "pipefail", "-c"]

# Names and tags: the one place they are written. Scripts and compose receive them from here.
image_prefix := env("IMAGE_PREFIX", "todo-chatbot")
version := `sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml`
revision := `git rev-parse --short=12 HEAD 2>/dev/null || echo nogit` + `git diff --quiet HEAD 2>/dev/null || echo -dirty`
debian_suite := "bookworm"
debian_image_official := "debian:12.11-slim"
debian_image_local := image_prefix + "/debian:12.11"
postgres_image := env("POSTGRES_IMAGE", image_prefix + "/postgres:15")
backend_image := image_prefix + "/backend:" + revision
web_image := image_prefix + "/web:" + revision
# The app images' platforms, comma-separated: empty builds the engine's own alone (the quick
# default); `PLATFORMS=linux/amd64,linux/arm64 just images` builds both and an OCI image index.
platforms := env("PLATFORMS", "")
# Where the OCI image indexes, SBOMs and provenance statements go.
dist_dir := env("DIST_DIR", "dist")

export IMAGE_PREFIX := image_prefix
export VERSION := version
export REVISION := revision
export DEBIAN_SUITE := debian_suite
export DEBIAN_IMAGE_OFFICIAL := debian_image_official
export DEBIAN_IMAGE_LOCAL := debian_image_local
export POSTGRES_IMAGE := postgres_image
export BACKEND_IMAGE := backend_image
export WEB_IMAGE := web_image
export PLATFORMS := platforms
export DIST_DIR := dist_dir

# List the recipes.
default:
    @just --list --unsorted

# Build the stack's images (backend, web, postgres); bootstraps base images when no registry answers.
images:
    images/build.sh all

# Build the toolchain image (pinned Rust, cargo-chef, wasm-bindgen) if it is not built yet.
toolchain:
    images/build.sh toolchain

# Build the base images from Debian's packages and rustup alone (no registry needed).
bootstrap:
    images/build.sh bootstrap

# Rebuild both app images (each of PLATFORMS) without cache and check the image IDs do not change; a difference is shown file by file.
reproducible: images
    images/build.sh reproducible

# An SPDX SBOM and an in-toto provenance statement per image (each of PLATFORMS, and postgres) in DIST_DIR.
sbom: images
    scripts/sbom.sh

# Build the images if needed, start the stack, wait until it is healthy, print the URL.
up: images env-file
    docker compose up --detach --wait --wait-timeout 120
    @# The port compose published, which .env's WEB_PORT may have changed.
    @echo "todo-chatbot is up: http://localhost:$(docker compose port web 3000 | sed 's/.*://')"

# Creates .env from .env.example on first use, with a random BETTER_AUTH_SECRET.
[private]
env-file:
    #!/usr/bin/env bash
    set -euo pipefail
    secret=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
    if [ ! -f .env ]; then
      sed "s/^BETTER_AUTH_SECRET=.*/BETTER_AUTH_SECRET=$secret/" .env.example > .env
      echo "created .env with a random BETTER_AUTH_SECRET"
    elif ! grep -q '^BETTER_AUTH_SECRET=..' .env; then
      echo "BETTER_AUTH_SECRET=$secret" >> .env
      echo "added a random BETTER_AUTH_SECRET to .env"
    fi

# Stop the stack (the database volume stays; `just down -v` removes it too).
down *flags:
    docker compose down {{flags}}

# Follow the stack's logs.
logs *services:
    docker compose logs --follow {{services}}

# Formatting and lints, for the host and the wasm app.
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets --locked -- -D warnings
    cargo clippy -p web --target wasm32-unknown-unknown --locked -- -D warnings
    cargo clippy -p api-types --target wasm32-unknown-unknown --tests --locked -- -D warnings

# Everything: lints, image builds, chart checks, unit and API tests on a real PostgreSQL, image tests.
test: lint images sbom chart-check
    #!/usr/bin/env bash
    set -euo pipefail
    # The arm64 images' tests (under emulation) when PLATFORMS built them.
    if [[ ",$PLATFORMS," == *,linux/arm64,* ]] && [ "$(docker version --format '{{{{.Server.Arch}}')" != arm64 ]; then
      export BACKEND_IMAGE_ARM64="$BACKEND_IMAGE-arm64" WEB_IMAGE_ARM64="$WEB_IMAGE-arm64"
    fi
    toolchain="$(images/build.sh toolchain)"
    # What only the browser app runs, in Node: api-types' BrowserJson.
    TOOLCHAIN_IMAGE="$toolchain" scripts/test-wasm.sh
    TOOLCHAIN_IMAGE="$toolchain" scripts/with-test-database.sh cargo test --workspace --locked --exclude chart-tests
    # The offline assistant is deterministic: a change that makes it understand less fails here.
    EVAL_MIN_ACCURACY=85 cargo run --quiet --locked -p image-tests --bin eval -- offline

# The assistant: offline (the default), the server OPENAI_BASE_URL names (with OPENAI_API_KEY and
# OPENAI_MODEL), or `just eval llama` (the llama.cpp server of scripts/install-llm.sh). docs/eval.md.
# Run the chat evaluation set (tests/eval/cases.json) on the release images: accuracy per category.
eval *assistant: images
    cargo run --quiet --locked -p image-tests --bin eval -- {{assistant}}

# Benchmarks, figures for docs/benchmarks.md (sections: sizes builds start load cpu idle rss serialize pages scale; default all but scale).
bench *sections: images
    scripts/bench.sh {{sections}}

# Rewrite the values table of helm/todo-chatbot/README.md from the `# --` comments in values.yaml.
chart-readme:
    UPDATE_CHART_README=1 cargo test --locked -p chart-tests --test chart readme::

# Kubernetes: deploy, deploy-kubectl, undeploy, clean, status, chart-check, k8s-render.
import 'deploy.just'
