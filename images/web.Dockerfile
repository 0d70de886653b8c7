# The web image: the Dioxus app (wasm) and the static musl server that ships it, on
# scratch, running as UID 1001. Build with `just images`; every argument is set there.

ARG TOOLCHAIN_IMAGE

# chef: the pinned toolchain (rust-toolchain.toml, cargo-chef, wasm-bindgen); every build stage starts here.
# Build stages run on the builder's platform and cross-compile the server for the image's.
FROM --platform=$BUILDPLATFORM ${TOOLCHAIN_IMAGE} AS chef
WORKDIR /src
# The server's Rust target and how cargo builds it: see images/backend.Dockerfile.
ARG TARGETARCH BUILDARCH
RUN case "$TARGETARCH" in \
      amd64) echo x86_64-unknown-linux-musl ;; arm64) echo aarch64-unknown-linux-musl ;; \
      *) echo "no Rust target for TARGETARCH=$TARGETARCH" >&2; exit 1 ;; \
    esac > /etc/rust-target \
 && if [ "$TARGETARCH" = "$BUILDARCH" ]; then echo build; else echo zigbuild; fi > /etc/cargo-build
# C code compiled into our binaries (mimalloc) embeds __DATE__ and __TIME__; GCC takes them
# from SOURCE_DATE_EPOCH. A constant keeps the binary reproducible and the cooked layer cached.
ENV SOURCE_DATE_EPOCH=0
# cargo as the browser app is built: std compiled again for size, panics that trap at once.
COPY images/wasm-cargo.sh /usr/local/bin/wasm-cargo

# planner: reduces the workspace to recipe.json, which changes only when dependencies do.
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

# cook: compiles the dependencies of both halves (wasm app, native server), cached until recipe.json changes.
FROM chef AS cook
COPY --from=planner /src/recipe.json recipe.json
# The only step that downloads: it trusts the build host's CA (a TLS-inspecting proxy), mounted
# beside Debian's bundle and never copied anywhere.
RUN --mount=type=secret,id=cacert \
    SSL_CERT_FILE="$BUILD_HOST_CA" CARGO_HTTP_CAINFO="$BUILD_HOST_CA" \
    wasm-cargo chef cook --profile wasm-release --locked --target wasm32-unknown-unknown -p web --recipe-path recipe.json \
 && SSL_CERT_FILE="$BUILD_HOST_CA" CARGO_HTTP_CAINFO="$BUILD_HOST_CA" \
    cargo chef cook --release --locked --target "$(cat /etc/rust-target)" $([ "$(cat /etc/cargo-build)" = build ] || echo --zigbuild) -p web --recipe-path recipe.json
# cargo auditable reads `cargo metadata` of the whole workspace, which needs the manifest of every
# locked crate for these targets, not only of those cook compiled: fetched here, while online.
RUN --mount=type=secret,id=cacert \
    SSL_CERT_FILE="$BUILD_HOST_CA" CARGO_HTTP_CAINFO="$BUILD_HOST_CA" \
    cargo fetch --locked --target "$(cat /etc/rust-target)" --target "$(rustc -vV | sed -n 's/^host: //p')"

# build: compiles our crates with the same flags as cook, binds the wasm, shrinks it with
# wasm-opt, compresses the assets once, and lays out the runtime root.
FROM cook AS build
# The WebAssembly features rustc enables by default for wasm32-unknown-unknown
# (`rustc --print cfg --target wasm32-unknown-unknown`): wasm-opt rejects a module that uses
# one it was not told about. Binaryen spells nontrapping-fptoint as nontrapping-float-to-int.
ARG WASM_FEATURES="--enable-bulk-memory --enable-multivalue --enable-mutable-globals --enable-nontrapping-float-to-int --enable-reference-types --enable-sign-ext"
# wasm-opt's passes: -Oz, then the control flow flattened and rebuilt (--flatten --rereloop)
# and -Oz twice more, which finds what one -Oz leaves: 2.5 KB less brotli than -Oz alone, for
# about a minute more of build (docs/benchmarks.md compares the alternatives).
ARG WASM_OPT_PASSES="-Oz --flatten --rereloop -Oz -Oz"
# After those passes, --minify-imports-and-exports-and-modules gives the imports and exports
# one- or two-letter names in place of wasm-bindgen's hashed ones, and prints the renames, which
# images/rename-wasm-imports.mjs carries into web.js (3.1 KB less brotli). --low-memory-unused
# lets wasm-opt fold a constant added to an address into the load's or store's offset. The two
# differ only when the sum wraps past 4 GiB into the lowest KiB, which a Rust pointer plus a field
# offset never does: 0.7 KB less.
# Every file of the runtime root gets the commit's time, so two builds of one commit give the
# same layer (Docker's own builder ignores rewrite-timestamp) and Last-Modified, which the
# server sends for the app's files, still moves forward with each release.
ARG COMMIT_TIME=0
# Written into the root: without a byte that changes with the commit, BuildKit reuses the
# runtime stage's COPY of an earlier commit's identical files (its cache key ignores mtimes),
# and the image of this commit would carry that commit's times, unlike a clean build.
ARG REVISION=unknown
COPY . .
# Offline from here: cook fetched every crate.
RUN wasm-cargo build --profile wasm-release --locked --target wasm32-unknown-unknown -p web --bin web \
 && cargo auditable "$(cat /etc/cargo-build)" --release --locked --target "$(cat /etc/rust-target)" -p web --bin web \
 && mkdir -p /rootfs/usr/local/bin /rootfs/srv/web/pkg /rootfs/etc \
 && wasm-bindgen --target web --no-typescript --out-dir /rootfs/srv/web/pkg \
      target/wasm32-unknown-unknown/wasm-release/web.wasm \
 && wasm-opt $WASM_OPT_PASSES --minify-imports-and-exports-and-modules $WASM_FEATURES \
      --low-memory-unused --strip-debug --strip-producers \
      /rootfs/srv/web/pkg/web_bg.wasm -o /rootfs/srv/web/pkg/web_bg.wasm > /tmp/wasm-renames.json \
 && node images/rename-wasm-imports.mjs /tmp/wasm-renames.json /rootfs/srv/web/pkg/web_bg.wasm \
      /rootfs/srv/web/pkg/web.js \
 && cp web/assets/* /rootfs/srv/web/ \
 && find /rootfs/srv/web -type f \( -name '*.wasm' -o -name '*.js' -o -name '*.css' -o -name '*.html' \) \
      -exec brotli --best --keep {} \; -exec gzip --best --keep --no-name {} \; \
 && cp "target/$(cat /etc/rust-target)/release/web" /rootfs/usr/local/bin/web \
 && printf 'root:x:0:0:root:/root:/sbin/nologin\nweb:x:1001:1001:todo-chatbot web:/nonexistent:/sbin/nologin\n' > /rootfs/etc/passwd \
 && printf 'root:x:0:\nweb:x:1001:\n' > /rootfs/etc/group \
 && printf 'REVISION=%s\nCOMMIT_TIME=%s\n' "$REVISION" "$COMMIT_TIME" > /rootfs/etc/todo-chatbot-release \
 && find /rootfs -exec touch -h -d "@${COMMIT_TIME}" {} +

# runtime: the server binary, the app's files and a passwd entry; no shell, nothing else.
FROM scratch AS runtime
ARG VERSION=0.0.0
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
ARG SOURCE=https://github.com/todo-chatbot/todo-chatbot
COPY --from=build /rootfs/ /
USER 1001:1001
# No transparent huge pages for mimalloc's arena: see images/backend.Dockerfile.
ENV PORT=3000 \
    ASSETS_DIR=/srv/web \
    MIMALLOC_ALLOW_THP=0
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["/usr/local/bin/web", "healthcheck"]
LABEL org.opencontainers.image.title="todo-chatbot-web" \
      org.opencontainers.image.description="todo-chatbot web app (Dioxus/wasm) and its server" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="MIT"
ENTRYPOINT ["/usr/local/bin/web"]
CMD ["serve"]
