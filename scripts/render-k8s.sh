#!/usr/bin/env bash
# Renders k8s/ from the chart with k8s/values.yaml: one file per template, plus a
# kustomization.yaml, so `kubectl apply -k k8s/` deploys what `helm install` would.
# Usage: scripts/render-k8s.sh [OUT_DIR]   (default k8s/; chart-tests renders to a temporary
# directory and compares, so a chart change without a re-render fails the tests).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$root/k8s}
helm=$(command -v helm || echo "$root/.tools/bin/helm")
[ -x "$helm" ] || { echo "render-k8s: helm not found: run scripts/install-chart-tools.sh" >&2; exit 1; }

release=todo-chatbot
namespace=todo-chatbot
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$helm" template "$release" "$root/helm/todo-chatbot" --namespace "$namespace" \
  --values "$root/k8s/values.yaml" --output-dir "$work" >/dev/null

mkdir -p "$out"
# Remove what an earlier render wrote (everything but the hand-written inputs).
find "$out" -maxdepth 1 -name '*.yaml' ! -name values.yaml -delete
resources=()
for file in "$work/todo-chatbot/templates/"*.yaml; do
  name=$(basename "$file")
  cp "$file" "$out/$name"
  resources+=("$name")
done

{
  echo "# Rendered by scripts/render-k8s.sh from helm/todo-chatbot with k8s/values.yaml: do not edit."
  echo "# kubectl apply -k k8s/   (needs k8s/secrets.env: see secrets.env.example)"
  echo "apiVersion: kustomize.config.k8s.io/v1beta1"
  echo "kind: Kustomization"
  echo "resources:"
  for name in "${resources[@]}"; do echo "  - $name"; done
  echo "# The Secret the chart leaves to existingSecret; its name gets a content hash, so a"
  echo "# changed secret rolls the pods that reference it."
  echo "secretGenerator:"
  echo "  - name: todo-chatbot-secrets"
  echo "    namespace: $namespace"
  echo "    envs: [secrets.env]"
  echo "    # The release's labels, so that \`just undeploy\` (which deletes by instance) removes it."
  echo "    options:"
  echo "      labels:"
  echo "        app.kubernetes.io/name: todo-chatbot"
  echo "        app.kubernetes.io/instance: $release"
  echo "        app.kubernetes.io/part-of: todo-chatbot"
} >"$out/kustomization.yaml"
echo "render-k8s: wrote ${#resources[@]} manifests and kustomization.yaml to $out" >&2
