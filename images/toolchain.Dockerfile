# The build environment of every todo-chatbot image: Debian, the Rust version pinned in
# rust-toolchain.toml with the musl and wasm32 targets, cargo-chef and wasm-bindgen.
# Built once per toolchain change (`just toolchain`); image builds start FROM it.

ARG DEBIAN_IMAGE=debian:12.11-slim

# toolchain: one stage, because every tool here is needed by every later build.
FROM ${DEBIAN_IMAGE}

ARG RUSTUP_VERSION=1.28.2
ARG RUSTUP_SHA256=20a06e644b0d9bd2fbdbfd52d42540bdde820ea7df86e92e533c073da0cdd43c
ARG CARGO_CHEF_VERSION=0.1.78
ARG WASM_BINDGEN_VERSION=0.2.130

# musl-tools: C parts of crates (mimalloc, ring) built for the static musl target.
# brotli/gzip: the web assets are compressed once at build time, not on every request.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates curl gcc libc6-dev musl-tools pkg-config brotli gzip \
 && rm -rf /var/lib/apt/lists/*

ENV RUSTUP_HOME=/usr/local/rustup \
    CARGO_HOME=/usr/local/cargo \
    PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    CARGO_TERM_COLOR=never

COPY rust-toolchain.toml /etc/todo-chatbot/rust-toolchain.toml

# The CA bundle arrives as a BuildKit secret so a TLS-inspecting proxy works without its
# certificate ever landing in a layer.
RUN --mount=type=secret,id=cacert,target=/etc/ssl/certs/ca-certificates.crt \
    set -eu; \
    rust_version=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' /etc/todo-chatbot/rust-toolchain.toml); \
    curl --proto '=https' --tlsv1.2 -sSf -o /tmp/rustup-init \
      "https://static.rust-lang.org/rustup/archive/${RUSTUP_VERSION}/x86_64-unknown-linux-gnu/rustup-init"; \
    echo "${RUSTUP_SHA256}  /tmp/rustup-init" | sha256sum -c -; \
    chmod +x /tmp/rustup-init; \
    /tmp/rustup-init -y --no-modify-path --profile minimal --default-toolchain "$rust_version" \
      --target x86_64-unknown-linux-musl --target wasm32-unknown-unknown; \
    rm /tmp/rustup-init; \
    rustc --version

RUN --mount=type=secret,id=cacert,target=/etc/ssl/certs/ca-certificates.crt \
    cargo install cargo-chef --locked --version "${CARGO_CHEF_VERSION}" \
 && cargo install wasm-bindgen-cli --version "=${WASM_BINDGEN_VERSION}" \
 && rm -rf "$CARGO_HOME/registry" "$CARGO_HOME/git"
