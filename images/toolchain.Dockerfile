# The build environment of every todo-chatbot image: Debian, the Rust toolchain exactly as
# rust-toolchain.toml pins it (version, components, musl for amd64 and arm64, wasm32), cargo-chef,
# wasm-bindgen, wasm-opt, cargo-auditable, and zig with cargo-zigbuild for the other architecture. Built once per change of this file or rust-toolchain.toml (`just images`).

ARG DEBIAN_IMAGE=debian:12.11-slim

# rust: Debian with the C tools for musl builds and the pinned Rust toolchain.
FROM ${DEBIAN_IMAGE} AS rust

ARG RUSTUP_VERSION=1.28.2
ARG RUSTUP_SHA256=20a06e644b0d9bd2fbdbfd52d42540bdde820ea7df86e92e533c073da0cdd43c
# The trust store our runtime images ship: Debian's bundle at this version and no other, so every
# builder produces the same bytes. Bump it when Debian's security suite does (README, "Images").
ARG CA_CERTIFICATES_VERSION=20250419~deb12u2

# musl-tools: C parts of crates (mimalloc, ring) built for the static musl target.
# brotli/gzip: the web assets are compressed once at build time, not on every request.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends --allow-downgrades \
      "ca-certificates=${CA_CERTIFICATES_VERSION}" curl gcc libc6-dev musl-tools pkg-config brotli gzip \
 && rm -rf /var/lib/apt/lists/* \
 && test "$(dpkg-query -W -f '${Version}' ca-certificates)" = "${CA_CERTIFICATES_VERSION}" \
 && chmod 0644 /etc/ssl/certs/ca-certificates.crt

ENV RUSTUP_HOME=/usr/local/rustup \
    CARGO_HOME=/usr/local/cargo \
    PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    CARGO_TERM_COLOR=never

COPY rust-toolchain.toml /etc/todo-chatbot/rust-toolchain.toml

# The build host's CA bundle arrives as a BuildKit secret beside the system one, never over it:
# the steps that download trust a TLS-inspecting proxy, while /etc/ssl/certs stays Debian's and
# is what the runtime images copy. rustup reads rust-toolchain.toml, so the image holds exactly
# the toolchain the workspace asks for and builds never download one.
ENV BUILD_HOST_CA=/run/secrets/cacert
RUN --mount=type=secret,id=cacert \
    set -eu; \
    export SSL_CERT_FILE="$BUILD_HOST_CA" CURL_CA_BUNDLE="$BUILD_HOST_CA"; \
    curl --proto '=https' --tlsv1.2 -sSf -o /tmp/rustup-init \
      "https://static.rust-lang.org/rustup/archive/${RUSTUP_VERSION}/x86_64-unknown-linux-gnu/rustup-init"; \
    echo "${RUSTUP_SHA256}  /tmp/rustup-init" | sha256sum -c -; \
    chmod +x /tmp/rustup-init; \
    /tmp/rustup-init -y --no-modify-path --profile minimal --default-toolchain none; \
    rm /tmp/rustup-init; \
    cd /etc/todo-chatbot; \
    rustup toolchain install; \
    rustup default "$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)"; \
    rustc --version; rustup target list --installed

# cargo-chef: compiled in its own stage so BuildKit builds it alongside wasm-bindgen.
FROM rust AS cargo-chef
ARG CARGO_CHEF_VERSION=0.1.78
RUN --mount=type=secret,id=cacert \
    SSL_CERT_FILE="$BUILD_HOST_CA" CARGO_HTTP_CAINFO="$BUILD_HOST_CA" cargo install cargo-chef --locked --version "${CARGO_CHEF_VERSION}" --root /opt/tool

# wasm-bindgen: must equal the wasm-bindgen crate version pinned in web/Cargo.toml.
FROM rust AS wasm-bindgen
ARG WASM_BINDGEN_VERSION=0.2.130
RUN --mount=type=secret,id=cacert \
    SSL_CERT_FILE="$BUILD_HOST_CA" CARGO_HTTP_CAINFO="$BUILD_HOST_CA" cargo install wasm-bindgen-cli --version "=${WASM_BINDGEN_VERSION}" --root /opt/tool

# binaryen: wasm-opt from npm's `binaryen` (Binaryen compiled to JavaScript and wasm, run by Node).
# Debian's binaryen (108) and the wasm-opt crate reject the wasm that current Rust emits. npm only
# fetches the tarball; its hash is checked like rustup-init's, and only wasm-opt is kept.
FROM rust AS binaryen
ARG BINARYEN_VERSION=132.0.0
ARG BINARYEN_SHA256=6543555fb29bb92548f325c7dc18e9ab7dbb1215edda25993d1e3f71d85b8618
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends npm \
 && rm -rf /var/lib/apt/lists/*
RUN --mount=type=secret,id=cacert \
    set -eu; \
    cd /tmp; \
    npm_config_cafile="$BUILD_HOST_CA" npm pack --silent "binaryen@${BINARYEN_VERSION}"; \
    echo "${BINARYEN_SHA256}  binaryen-${BINARYEN_VERSION}.tgz" | sha256sum -c -; \
    mkdir -p /opt/binaryen; \
    tar -xzf "binaryen-${BINARYEN_VERSION}.tgz" -C /opt/binaryen --strip-components=1 \
      package/LICENSE package/bin/package.json package/bin/wasm-opt; \
    rm "binaryen-${BINARYEN_VERSION}.tgz"

# cargo-auditable: embeds the crate list (name, version, source) in every binary we ship, which
# the SBOM reads back (docs/supply-chain.md).
FROM rust AS cargo-auditable
ARG CARGO_AUDITABLE_VERSION=0.7.7
RUN --mount=type=secret,id=cacert \
    SSL_CERT_FILE="$BUILD_HOST_CA" CARGO_HTTP_CAINFO="$BUILD_HOST_CA" cargo install cargo-auditable --locked --version "${CARGO_AUDITABLE_VERSION}" --root /opt/tool

# zig: a C compiler and linker for every target with musl's headers bundled, so the C parts of our
# crates (ring, mimalloc) cross-compile for arm64 with no emulation and no Debian cross toolchain.
# Both come from PyPI as wheels pinned by hash; only zig and the cargo-zigbuild binary are kept.
FROM rust AS zig
ARG ZIGLANG_VERSION=0.17.1
ARG ZIGLANG_SHA256=ea6cc5d87b033cf0aedfbc8f9549a908cae6c50ac31f1698188fa48a74524b54
ARG CARGO_ZIGBUILD_VERSION=0.24.1
ARG CARGO_ZIGBUILD_SHA256=238a1ab54a95053a4eadc34775c81f795a8ad75f80bfed63f3f445f518102375
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-venv \
 && rm -rf /var/lib/apt/lists/*
RUN --mount=type=secret,id=cacert \
    set -eu; \
    python3 -m venv /tmp/venv; \
    printf 'ziglang==%s --hash=sha256:%s\ncargo-zigbuild==%s --hash=sha256:%s\n' \
      "${ZIGLANG_VERSION}" "${ZIGLANG_SHA256}" "${CARGO_ZIGBUILD_VERSION}" "${CARGO_ZIGBUILD_SHA256}" > /tmp/requirements.txt; \
    PIP_CERT="$BUILD_HOST_CA" /tmp/venv/bin/pip install --quiet --disable-pip-version-check --no-deps \
      --only-binary=:all: --require-hashes -r /tmp/requirements.txt; \
    mkdir -p /opt/zig; \
    mv /tmp/venv/lib/python3*/site-packages/ziglang /tmp/venv/bin/cargo-zigbuild /opt/zig/; \
    rm -rf /tmp/venv /tmp/requirements.txt; \
    /opt/zig/ziglang/zig version; /opt/zig/cargo-zigbuild --version

# toolchain: the Rust image plus the tools' binaries, without their build caches, and Node to run
# wasm-opt (installed last, so the layers above stay cached).
FROM rust AS toolchain
COPY --from=cargo-chef /opt/tool/bin/ /usr/local/bin/
COPY --from=wasm-bindgen /opt/tool/bin/ /usr/local/bin/
COPY --from=binaryen /opt/binaryen/ /usr/local/lib/binaryen/
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs \
 && rm -rf /var/lib/apt/lists/* \
 && ln -s /usr/local/lib/binaryen/bin/wasm-opt /usr/local/bin/wasm-opt \
 && wasm-opt --version
# Last, so that the layers above stay cached when only these tools change.
COPY --from=cargo-auditable /opt/tool/bin/ /usr/local/bin/
COPY --from=zig /opt/zig/ /usr/local/lib/zig/
RUN ln -s /usr/local/lib/zig/ziglang/zig /usr/local/lib/zig/cargo-zigbuild /usr/local/bin/ \
 && zig version && cargo-zigbuild --version && command -v cargo-auditable
