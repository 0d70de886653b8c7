#!/usr/bin/env bash
# Builds todo-chatbot's images. Called by the justfile, which owns every name and tag:
#   images/build.sh base|bootstrap|toolchain|postgres|backend|web|all|sizes|reproducible
# Works with no container registry at all: when the official Debian image cannot be
# pulled, the base is built from Debian's packages with mmdebstrap and `docker import`.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${IMAGE_PREFIX:?set by the justfile}" "${VERSION:?}" "${REVISION:?}"
: "${DEBIAN_IMAGE_OFFICIAL:?}" "${DEBIAN_IMAGE_LOCAL:?}" "${POSTGRES_IMAGE:?}" "${DEBIAN_SUITE:?}"
CA_BUNDLE=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
export SOURCE_DATE_EPOCH

# The engine's own platform is the default (`just images` builds it alone); PLATFORMS lists
# more, comma-separated, e.g. linux/amd64,linux/arm64. Every build stage runs natively and
# cross-compiles, so the other architecture needs no emulation (docs/supply-chain.md).
NATIVE_PLATFORM=linux/$(docker version --format '{{.Server.Arch}}' 2>/dev/null || echo amd64)
PLATFORMS=${PLATFORMS:-$NATIVE_PLATFORM}
DIST_DIR=${DIST_DIR:-dist}

say() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
have_image() { docker image inspect "$1" >/dev/null 2>&1; }

# BUILDX_CACHE=gha (GitHub Actions) shares BuildKit layers between runs, one scope per image.
cache_args() {
  if [ "${BUILDX_CACHE:-}" = gha ]; then
    echo "--cache-from type=gha,scope=$1 --cache-to type=gha,mode=max,scope=$1"
  fi
}

if [ ! -r "$CA_BUNDLE" ]; then
  echo "images/build.sh: no CA bundle at $CA_BUNDLE; set SSL_CERT_FILE to your system's bundle" >&2
  exit 1
fi

# The Debian image every other image starts from: the official one when it is here or can be
# pulled, else one built from Debian's packages (the registry-free path).
debian_base() {
  if have_image "$DEBIAN_IMAGE_OFFICIAL"; then echo "$DEBIAN_IMAGE_OFFICIAL"; return; fi
  if have_image "$DEBIAN_IMAGE_LOCAL"; then echo "$DEBIAN_IMAGE_LOCAL"; return; fi
  if [ "${TODO_CHATBOT_NO_PULL:-}" != 1 ] && timeout 60 docker pull -q "$DEBIAN_IMAGE_OFFICIAL" >/dev/null 2>&1; then
    echo "$DEBIAN_IMAGE_OFFICIAL"; return
  fi
  say "the registry cannot be reached for $DEBIAN_IMAGE_OFFICIAL: bootstrapping a Debian base from Debian's packages"
  build_debian_base >&2
  echo "$DEBIAN_IMAGE_LOCAL"
}

build_debian_base() {
  command -v mmdebstrap >/dev/null || { echo "mmdebstrap is missing: apt-get install mmdebstrap" >&2; exit 1; }
  local tarball
  tarball=$(mktemp --suffix=.tar)
  say "mmdebstrap $DEBIAN_SUITE → $DEBIAN_IMAGE_LOCAL"
  mmdebstrap --quiet --variant=apt --include=ca-certificates \
    --aptopt='APT::Install-Recommends "false"' \
    --dpkgopt='path-exclude=/usr/share/{doc,man,locale}/*' \
    "$DEBIAN_SUITE" "$tarball"
  docker import --change 'CMD ["bash"]' --message "Debian $DEBIAN_SUITE from mmdebstrap" \
    "$tarball" "$DEBIAN_IMAGE_LOCAL" >/dev/null
  rm -f "$tarball"
}

toolchain_image() {
  local base digest
  base=$(debian_base)
  digest=$(cat images/toolchain.Dockerfile rust-toolchain.toml <(echo "$base") | sha256sum | cut -c1-12)
  echo "$IMAGE_PREFIX/toolchain:$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)-$digest"
}

build_toolchain() {
  local image base
  image=$(toolchain_image)
  base=$(debian_base)
  if have_image "$image" && [ "${1:-}" != --force ]; then say "toolchain $image is built"; return; fi
  say "building toolchain $image from $base (pinned Rust, musl + wasm32, cargo-chef, wasm-bindgen)"
  # shellcheck disable=SC2046 # cache_args is a list of flags
  docker buildx build --load --file images/toolchain.Dockerfile $(cache_args toolchain) \
    --build-arg DEBIAN_IMAGE="$base" \
    --secret id=cacert,src="$CA_BUNDLE" \
    --tag "$image" .
}

# The postgres tag is fixed (compose and the chart name it), so the image carries a digest of
# what it is built from, and a changed Dockerfile or entrypoint rebuilds it.
postgres_inputs() {
  cat images/postgres.Dockerfile images/postgres/* <(echo "$1") | sha256sum | cut -c1-12
}

build_postgres() {
  local base inputs
  base=$(debian_base)
  inputs=$(postgres_inputs "$base")
  if [ "$(docker image inspect -f '{{index .Config.Labels "todo-chatbot.inputs"}}' "$POSTGRES_IMAGE" 2>/dev/null)" = "$inputs" ] \
     && [ "${1:-}" != --force ]; then
    say "postgres $POSTGRES_IMAGE is built"; return
  fi
  say "building $POSTGRES_IMAGE from $base and Debian's postgresql package"
  docker buildx build --load --file images/postgres.Dockerfile \
    --build-arg DEBIAN_IMAGE="$base" \
    --label "todo-chatbot.inputs=$inputs" \
    --tag "$POSTGRES_IMAGE" .
}

# The local tag of NAME built for PLATFORM: the native platform keeps the plain tag that compose,
# the chart and the tests use; another one gets its architecture appended (backend:<rev>-arm64).
app_ref() {
  if [ "$2" = "$NATIVE_PLATFORM" ]; then echo "$IMAGE_PREFIX/$1:$REVISION"
  else echo "$IMAGE_PREFIX/$1:$REVISION-${2#linux/}"; fi
}

# build_app NAME [extra buildx flags...]: one of our runtime images for each of PLATFORMS,
# reproducibly; with more than one platform also an OCI image index of them (oci_index).
build_app() {
  local name=$1; shift
  local platform refs=()
  for platform in ${PLATFORMS//,/ }; do
    build_app_for "$name" "$platform" "$@"
    refs+=("$(app_ref "$name" "$platform")")
  done
  [ "${#refs[@]}" -eq 1 ] || oci_index "$name" "${refs[@]}"
}

build_app_for() {
  local name=$1 platform=$2; shift 2
  local toolchain created ref tags
  case "$platform" in linux/amd64|linux/arm64) ;; *) echo "images/build.sh: PLATFORMS: $platform is not linux/amd64 or linux/arm64" >&2; exit 2 ;; esac
  toolchain=$(toolchain_image)
  have_image "$toolchain" || build_toolchain
  created=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
  ref=$(app_ref "$name" "$platform")
  tags=(--tag "$ref")
  [ "$platform" != "$NATIVE_PLATFORM" ] || tags+=(--tag "$IMAGE_PREFIX/$name:$VERSION")
  say "building $ref for $platform (SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH)"
  # shellcheck disable=SC2046 # cache_args is a list of flags
  docker buildx build --file "images/$name.Dockerfile" $(cache_args "$name-${platform#linux/}") \
    --platform "$platform" \
    --build-arg TOOLCHAIN_IMAGE="$toolchain" \
    --build-arg SOURCE_DATE_EPOCH="$SOURCE_DATE_EPOCH" \
    --build-arg VERSION="$VERSION" \
    --build-arg REVISION="$REVISION" \
    --build-arg COMMIT_TIME="$SOURCE_DATE_EPOCH" \
    --build-arg CREATED="$created" \
    --secret id=cacert,src="$CA_BUNDLE" \
    --output "type=docker,rewrite-timestamp=true" \
    "${tags[@]}" "$@" .
}

# oci_index NAME REF...: one OCI archive, $DIST_DIR/NAME-$REVISION.oci.tar, whose index names
# each REF's manifest with its platform: what a registry push of a multi-platform image sends
# (`skopeo copy --all oci-archive:... docker://...`). The engine's image store here (overlay2, not
# containerd's) keeps one platform per tag, so the index is assembled from `docker save` (an OCI
# layout since Docker 25); its manifest.json also lets `docker load` restore every REF.
oci_index() {
  local name=$1; shift
  local work ref out="$DIST_DIR/$name-$REVISION.oci.tar" manifests=() dockers=()
  work=$(mktemp -d)
  mkdir -p "$work/layout/blobs/sha256" "$DIST_DIR"
  for ref in "$@"; do
    rm -rf "$work/save" && mkdir "$work/save"
    docker save "$ref" | tar -x -C "$work/save"
    cp -n "$work/save/blobs/sha256/"* "$work/layout/blobs/sha256/"
    # The save's one image manifest, annotated with the platform its config names. The
    # containerd image store (GitHub's runners) saves an index around it: take its manifest.
    local manifest config
    manifest=$(jq -r '.manifests[0].digest' "$work/save/index.json")
    if jq -e '.mediaType == "application/vnd.oci.image.index.v1+json"' "$work/save/blobs/sha256/${manifest#sha256:}" >/dev/null; then
      jq -c '.manifests[] | select(.platform.architecture != "unknown") | {schemaVersion: 2, manifests: [.]}' \
        "$work/save/blobs/sha256/${manifest#sha256:}" | head -n 1 >"$work/save/index.json"
      manifest=$(jq -r '.manifests[0].digest' "$work/save/index.json")
    fi
    config=$(jq -r .config.digest "$work/save/blobs/sha256/${manifest#sha256:}")
    manifests+=("$(jq -c --slurpfile config "$work/save/blobs/sha256/${config#sha256:}" \
      '.manifests[0] | {mediaType, digest, size,
        platform: {os: $config[0].os, architecture: $config[0].architecture}}' "$work/save/index.json")")
    dockers+=("$(jq -c '.[0]' "$work/save/manifest.json")")
  done
  printf '%s\n' "${manifests[@]}" | jq -cs '{schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json", manifests: .}' >"$work/index"
  local digest size
  digest=$(sha256sum "$work/index" | cut -d' ' -f1)
  size=$(stat -c %s "$work/index")
  mv "$work/index" "$work/layout/blobs/sha256/$digest"
  jq -cn --arg digest "sha256:$digest" --argjson size "$size" --arg ref "$REVISION" \
    '{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [{
      mediaType: "application/vnd.oci.image.index.v1+json", digest: $digest, size: $size,
      annotations: {"org.opencontainers.image.ref.name": $ref}}]}' >"$work/layout/index.json"
  echo '{"imageLayoutVersion":"1.0.0"}' >"$work/layout/oci-layout"
  printf '%s\n' "${dockers[@]}" | jq -cs . >"$work/layout/manifest.json"
  # Fixed order, owners and times: the archive's bytes depend on the images alone.
  tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
    -C "$work/layout" -cf "$out" .
  rm -rf "$work"
  say "$out: OCI image index sha256:$digest ($*)"
}

sizes() {
  printf '%-40s %-16s %10s\n' IMAGE ID SIZE
  local name platform ref bytes id
  for name in backend web; do
    for platform in ${PLATFORMS//,/ }; do
      ref=$(app_ref "$name" "$platform")
      have_image "$ref" || continue
      bytes=$(docker image inspect -f '{{.Size}}' "$ref")
      id=$(docker image inspect -f '{{.Id}}' "$ref" | cut -c8-19)
      awk -v r="$ref" -v i="$id" -v b="$bytes" 'BEGIN { printf "%-40s %-16s %7.2f MB\n", r, i, b / 1e6 }'
      if [ "$bytes" -ge 50000000 ]; then
        echo "images/build.sh: $ref is $bytes bytes, over the 50 MB limit" >&2
        return 1
      fi
    done
  done
}

# Two clean builds of one commit must give one image ID: rebuild each image of PLATFORMS without
# any cache and compare with what `images` built. A difference is shown file by file
# (scripts/diff-images.sh), as is any difference of the image configurations.
reproducible() {
  local failed=0 name platform ref rebuild first second
  for name in backend web; do
    for platform in ${PLATFORMS//,/ }; do
      ref=$(app_ref "$name" "$platform")
      rebuild="$IMAGE_PREFIX/$name:rebuild-$REVISION-${platform#linux/}"
      have_image "$ref" || build_app_for "$name" "$platform"
      first=$(docker image inspect -f '{{.Id}}' "$ref")
      build_app_for "$name" "$platform" --no-cache --tag "$rebuild"
      second=$(docker image inspect -f '{{.Id}}' "$rebuild")
      # The rebuild also re-tagged the original: that is the same ID when reproducible.
      if [ "$first" = "$second" ]; then
        say "$name for $platform is reproducible: $first"
      else
        echo "images/build.sh: $name for $platform differs between two clean builds: $first vs $second" >&2
        scripts/diff-images.sh "$first" "$second" >&2 || true
        failed=1
      fi
      docker image rm "$rebuild" >/dev/null
    done
  done
  return "$failed"
}

case "${1:-}" in
  base) debian_base ;;
  bootstrap)
    build_debian_base
    build_toolchain --force
    build_postgres --force ;;
  toolchain) build_toolchain; toolchain_image ;;
  postgres) build_postgres ;;
  backend|web) build_app "$1" ;;
  all)
    build_toolchain
    build_postgres
    build_app backend
    build_app web
    sizes ;;
  sizes) sizes ;;
  reproducible) reproducible ;;
  *) echo "usage: $0 base|bootstrap|toolchain|postgres|backend|web|all|sizes|reproducible" >&2; exit 2 ;;
esac
