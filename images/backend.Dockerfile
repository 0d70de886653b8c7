# The backend image: a static musl binary on scratch, running as UID 1000.
# Build with `just images`; every argument below is set there.

ARG TOOLCHAIN_IMAGE

# chef: the pinned toolchain (rust-toolchain.toml, cargo-chef); every build stage starts here.
# Build stages run on the builder's platform and cross-compile for the image's (docs/supply-chain.md).
FROM --platform=$BUILDPLATFORM ${TOOLCHAIN_IMAGE} AS chef
WORKDIR /src
# The Rust target of the image's platform, and how cargo builds it: `build` (musl-gcc) on the
# same architecture, `zigbuild` (zig as C compiler and linker) for the other one. Files, since
# a RUN cannot set ENV and every later stage reads them.
ARG TARGETARCH BUILDARCH
RUN case "$TARGETARCH" in \
      amd64) echo x86_64-unknown-linux-musl ;; arm64) echo aarch64-unknown-linux-musl ;; \
      *) echo "no Rust target for TARGETARCH=$TARGETARCH" >&2; exit 1 ;; \
    esac > /etc/rust-target \
 && if [ "$TARGETARCH" = "$BUILDARCH" ]; then echo build; else echo zigbuild; fi > /etc/cargo-build
# C code compiled into our binaries (mimalloc) embeds __DATE__ and __TIME__; GCC takes them
# from SOURCE_DATE_EPOCH. A constant keeps the binary reproducible and the cooked layer cached.
ENV SOURCE_DATE_EPOCH=0

# planner: reduces the workspace to recipe.json, which changes only when dependencies do.
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

# cook: compiles the dependencies alone, a cached layer until recipe.json changes.
FROM chef AS cook
COPY --from=planner /src/recipe.json recipe.json
# The only step that downloads: it trusts the build host's CA (a TLS-inspecting proxy), mounted
# beside Debian's bundle and never copied anywhere.
RUN --mount=type=secret,id=cacert \
    SSL_CERT_FILE="$BUILD_HOST_CA" CARGO_HTTP_CAINFO="$BUILD_HOST_CA" \
    cargo chef cook --release --locked --target "$(cat /etc/rust-target)" $([ "$(cat /etc/cargo-build)" = build ] || echo --zigbuild) -p backend --recipe-path recipe.json
# cargo auditable reads `cargo metadata` of the whole workspace, which needs the manifest of every
# locked crate for these targets, not only of those cook compiled: fetched here, while online.
RUN --mount=type=secret,id=cacert \
    SSL_CERT_FILE="$BUILD_HOST_CA" CARGO_HTTP_CAINFO="$BUILD_HOST_CA" \
    cargo fetch --locked --target "$(cat /etc/rust-target)" --target "$(rustc -vV | sed -n 's/^host: //p')"

# build: compiles our crates with the same flags as cook, and lays out the runtime root.
FROM cook AS build
# Reported by /metrics (todo_chatbot_build_info); only our crate sees it, so cook stays cached.
ARG REVISION=unknown
# Every file of the runtime root gets the commit's time, so two builds of one commit give the
# same layer: Docker's own builder ignores the exporter's rewrite-timestamp.
ARG COMMIT_TIME=0
COPY . .
# Offline from here: cook fetched every crate. The trust store copied into the image is the
# toolchain's, Debian's pinned ca-certificates, readable by the runtime user (mode 0644).
# `cargo auditable` embeds the crate list in the binary for the SBOM (docs/supply-chain.md).
RUN target=$(cat /etc/rust-target) \
 && TODO_CHATBOT_REVISION="${REVISION}" cargo auditable "$(cat /etc/cargo-build)" --release --locked --target "$target" -p backend --bin backend \
 && mkdir -p /rootfs/usr/local/bin /rootfs/etc/ssl/certs /rootfs/tmp \
 && cp "target/$target/release/backend" /rootfs/usr/local/bin/backend \
 && install -m 0644 /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ca-certificates.crt \
 && printf 'root:x:0:0:root:/root:/sbin/nologin\nbackend:x:1000:1000:todo-chatbot backend:/nonexistent:/sbin/nologin\n' > /rootfs/etc/passwd \
 && printf 'root:x:0:\nbackend:x:1000:\n' > /rootfs/etc/group \
 && chmod 1777 /rootfs/tmp \
 && find /rootfs -exec touch -h -d "@${COMMIT_TIME}" {} +

# runtime: the binary, CA roots for outbound TLS and a passwd entry; no shell, nothing else.
FROM scratch AS runtime
ARG VERSION=0.0.0
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
ARG SOURCE=https://github.com/todo-chatbot/todo-chatbot
COPY --from=build /rootfs/ /
USER 1000:1000
# mimalloc 3 backs its arena with transparent huge pages where the kernel offers them: 42 MiB
# resident at idle instead of 28 MiB (docs/benchmarks.md).
ENV PORT=8000 \
    MIMALLOC_ALLOW_THP=0
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["/usr/local/bin/backend", "healthcheck"]
LABEL org.opencontainers.image.title="todo-chatbot-backend" \
      org.opencontainers.image.description="todo-chatbot API: accounts, tasks, chat agent" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="MIT"
ENTRYPOINT ["/usr/local/bin/backend"]
CMD ["serve"]
