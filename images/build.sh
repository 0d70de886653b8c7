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

# build_app NAME [extra buildx flags...]: one of our runtime images, reproducibly.
build_app() {
  local name=$1; shift
  local toolchain created
  toolchain=$(toolchain_image)
  have_image "$toolchain" || build_toolchain
  created=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
  say "building $IMAGE_PREFIX/$name:$REVISION (SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH)"
  # shellcheck disable=SC2046 # cache_args is a list of flags
  docker buildx build --file "images/$name.Dockerfile" $(cache_args "$name") \
    --build-arg TOOLCHAIN_IMAGE="$toolchain" \
    --build-arg SOURCE_DATE_EPOCH="$SOURCE_DATE_EPOCH" \
    --build-arg VERSION="$VERSION" \
    --build-arg REVISION="$REVISION" \
    --build-arg COMMIT_TIME="$SOURCE_DATE_EPOCH" \
    --build-arg CREATED="$created" \
    --secret id=cacert,src="$CA_BUNDLE" \
    --output "type=docker,rewrite-timestamp=true" \
    --tag "$IMAGE_PREFIX/$name:$REVISION" --tag "$IMAGE_PREFIX/$name:$VERSION" \
    "$@" .
}

sizes() {
  printf '%-40s %-16s %10s\n' IMAGE ID SIZE
  for name in backend web; do
    local ref="$IMAGE_PREFIX/$name:$REVISION"
    if have_image "$ref"; then
      local bytes id
      bytes=$(docker image inspect -f '{{.Size}}' "$ref")
      id=$(docker image inspect -f '{{.Id}}' "$ref" | cut -c8-19)
      awk -v r="$ref" -v i="$id" -v b="$bytes" 'BEGIN { printf "%-40s %-16s %7.2f MB\n", r, i, b / 1e6 }'
      if [ "$bytes" -ge 50000000 ]; then
        echo "images/build.sh: $ref is $bytes bytes, over the 50 MB limit" >&2
        return 1
      fi
    fi
  done
}

# Two clean builds of one commit must give one image ID: rebuild without any cache and
# compare with what `images` built.
reproducible() {
  local failed=0
  for name in backend web; do
    local ref="$IMAGE_PREFIX/$name:$REVISION" first second
    have_image "$ref" || build_app "$name"
    first=$(docker image inspect -f '{{.Id}}' "$ref")
    build_app "$name" --no-cache --tag "$IMAGE_PREFIX/$name:rebuild-$REVISION"
    second=$(docker image inspect -f '{{.Id}}' "$IMAGE_PREFIX/$name:rebuild-$REVISION")
    docker image rm "$IMAGE_PREFIX/$name:rebuild-$REVISION" >/dev/null
    # The rebuild also re-tagged the originals: that is the same ID when reproducible.
    if [ "$first" = "$second" ]; then
      say "$name is reproducible: $first"
    else
      echo "images/build.sh: $name differs between two clean builds: $first vs $second" >&2
      failed=1
    fi
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
