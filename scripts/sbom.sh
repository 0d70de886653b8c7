#!/usr/bin/env bash
# `just sbom`: for each image that `just images` built (backend and web for each of PLATFORMS,
# and postgres) writes into DIST_DIR
#   <name>-<tag>.spdx.json    the SBOM (SPDX 2.3, by syft): the Rust crates that `cargo auditable`
#                             embedded in each binary, the Debian packages of the postgres image;
#   <name>-<tag>.intoto.json  an in-toto statement with a SLSA provenance v1 predicate: the
#                             commit, Cargo.lock's sha256, the toolchain image and its rustc, the
#                             base images, the Dockerfile and platform;
# and, with COSIGN_KEY set, a signature bundle of each (<file>.sigstore.json) by cosign.
# docs/supply-chain.md says how to check them.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${IMAGE_PREFIX:?run through just}" "${REVISION:?}" "${POSTGRES_IMAGE:?}" "${BACKEND_IMAGE:?}" "${WEB_IMAGE:?}"
DIST_DIR=${DIST_DIR:-dist}
say() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
die() { echo "sbom.sh: $*" >&2; exit 1; }

bash scripts/install-syft.sh
syft=.tools/syft/bin/syft
mkdir -p "$DIST_DIR"

native=$(docker version --format '{{.Server.Arch}}')
commit=$(git rev-parse HEAD)
repository=$(git remote get-url origin 2>/dev/null || pwd)
dirty=false
git diff --quiet HEAD || dirty=true
lock_sha256=$(sha256sum Cargo.lock | cut -d' ' -f1)
toolchain=$(images/build.sh toolchain)
toolchain_id=$(docker image inspect -f '{{.Id}}' "$toolchain")
rustc=$(docker run --rm --network none "$toolchain" rustc --version)
debian=$(images/build.sh base)
debian_id=$(docker image inspect -f '{{.Id}}' "$debian")
source_date_epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}

# statement IMAGE DOCKERFILE rust|debian [BASE_NAME BASE_ID]...: the provenance of one local
# image, on stdout. Rust images name Cargo.lock and the toolchain image; every image its bases.
statement() {
  local image=$1 dockerfile=$2 kind=$3; shift 3
  local id platform deps
  id=$(docker image inspect -f '{{.Id}}' "$image")
  platform=$(docker image inspect -f '{{.Os}}/{{.Architecture}}' "$image")
  deps=$(jq -cn --arg repository "$repository" --arg commit "$commit" \
    '[{uri: ("git+" + $repository), digest: {gitCommit: $commit}}]')
  if [ "$kind" = rust ]; then
    deps=$(jq -c --arg lock "$lock_sha256" \
      --arg toolchain "$toolchain" --arg toolchain_id "${toolchain_id#sha256:}" --arg rustc "$rustc" \
      '. + [{name: "Cargo.lock", digest: {sha256: $lock}},
        {name: $toolchain, uri: ("docker-image:" + $toolchain), digest: {sha256: $toolchain_id},
         annotations: {rustc: $rustc, role: "build stages (images/toolchain.Dockerfile)"}}]' <<<"$deps")
  fi
  while [ $# -gt 0 ]; do
    deps=$(jq -c --arg name "$1" --arg id "${2#sha256:}" \
      '. + [{name: $name, uri: ("docker-image:" + $name), digest: {sha256: $id}, annotations: {role: "base image"}}]' <<<"$deps")
    shift 2
  done
  jq -n --arg image "$image" --arg id "${id#sha256:}" --arg platform "$platform" \
    --arg dockerfile "$dockerfile" --arg commit "$commit" --argjson dirty "$dirty" \
    --arg epoch "$source_date_epoch" --argjson deps "$deps" '{
    _type: "https://in-toto.io/Statement/v1",
    subject: [{name: $image, digest: {sha256: $id}}],
    predicateType: "https://slsa.dev/provenance/v1",
    predicate: {
      buildDefinition: {
        buildType: "https://todo-chatbot.invalid/images/build.sh/v1",
        externalParameters: {dockerfile: $dockerfile, platform: $platform,
                             source: {commit: $commit, uncommittedChanges: $dirty}},
        internalParameters: {SOURCE_DATE_EPOCH: $epoch},
        resolvedDependencies: $deps
      },
      runDetails: {builder: {id: "images/build.sh (docker buildx, BuildKit)"}}
    }}'
}

# sign FILE: a cosign signature bundle beside FILE, when a key is configured.
sign() {
  [ -n "${COSIGN_KEY:-}" ] || return 0
  command -v cosign >/dev/null || die "COSIGN_KEY is set but cosign is not on PATH (docs/supply-chain.md)"
  cosign sign-blob --yes --key "$COSIGN_KEY" --bundle "$1.sigstore.json" "$1" >/dev/null
  say "signed $1 → $1.sigstore.json"
}

# document IMAGE DOCKERFILE rust|debian [BASE_NAME BASE_ID]...: the SBOM and the statement of one image.
document() {
  local image=$1 name tag
  docker image inspect "$image" >/dev/null 2>&1 || die "no local image $image: run just images (with the same PLATFORMS)"
  name=${image%:*}; name=${name##*/}; tag=${image##*:}
  say "SBOM and provenance of $image"
  "$syft" scan "docker:$image" --quiet --source-name "$IMAGE_PREFIX/$name" --source-version "$tag" \
    -o "spdx-json=$DIST_DIR/$name-$tag.spdx.json"
  statement "$@" >"$DIST_DIR/$name-$tag.intoto.json"
  sign "$DIST_DIR/$name-$tag.spdx.json"
  sign "$DIST_DIR/$name-$tag.intoto.json"
}

platforms=${PLATFORMS:-linux/$native}
for platform in ${platforms//,/ }; do
  suffix=""
  [ "$platform" = "linux/$native" ] || suffix="-${platform#linux/}"
  document "$BACKEND_IMAGE$suffix" images/backend.Dockerfile rust
  document "$WEB_IMAGE$suffix" images/web.Dockerfile rust
done
document "$POSTGRES_IMAGE" images/postgres.Dockerfile debian "$debian" "$debian_id"
say "SBOMs and provenance in $DIST_DIR/"
