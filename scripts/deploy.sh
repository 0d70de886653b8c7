#!/usr/bin/env bash
# Kubernetes deployment for the deploy.just recipes: deploy (helm), deploy-kubectl (k8s/),
# undeploy, clean, status. Image names come from the justfile (BACKEND_IMAGE, WEB_IMAGE,
# POSTGRES_IMAGE); the cluster is the current kube context: minikube, kind, or any other
# cluster with a registry given in DEPLOY_REGISTRY (images are pushed there).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$root/.tools/bin:$PATH"
release=${DEPLOY_RELEASE:-todo-chatbot}
namespace=${DEPLOY_NAMESPACE:-todo-chatbot}
chart="$root/helm/todo-chatbot"

say() { echo "deploy: $*" >&2; }
die() { echo "deploy: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null || die "$1 not found: $2"; }

images() { echo "$BACKEND_IMAGE" "$WEB_IMAGE" "$POSTGRES_IMAGE"; }
: "${BACKEND_IMAGE:?run through just (the justfile names the images)}" "${WEB_IMAGE:?}" "${POSTGRES_IMAGE:?}"

# --- the cluster -------------------------------------------------------------------------------
cluster_kind() {
  need kubectl "run scripts/install-chart-tools.sh (installs kubectl into .tools/bin)"
  local context
  context=$(kubectl config current-context 2>/dev/null) || die "no current kube context: start minikube (minikube start) or kind (kind create cluster), or select a cluster (kubectl config use-context)"
  case "$context" in
    minikube) echo minikube ;;
    kind-*) echo "kind ${context#kind-}" ;;
    *) echo "other $context" ;;
  esac
}

# Makes the given images visible to the cluster; prints --set flags pointing the chart at them.
ship_images() {
  local cluster list=("$@")
  read -r -a cluster <<<"$(cluster_kind)"
  case "${cluster[0]}" in
    minikube)
      for image in "${list[@]}"; do say "minikube image load $image"; minikube image load "$image" >&2; done ;;
    kind)
      say "kind load docker-image into cluster ${cluster[1]}"
      kind load docker-image --name "${cluster[1]}" "${list[@]}" >&2 ;;
    other)
      [ -n "${DEPLOY_REGISTRY:-}" ] || die "context ${cluster[1]} is neither minikube nor kind: set DEPLOY_REGISTRY=host[:port] to push the images to a registry the cluster pulls from"
      for image in "${list[@]}"; do
        say "pushing $DEPLOY_REGISTRY/$image"
        docker tag "$image" "$DEPLOY_REGISTRY/$image"
        docker push "$DEPLOY_REGISTRY/$image" >&2
      done
      echo "--set imageRegistry=$DEPLOY_REGISTRY" ;;
  esac
}

image_flags() { # the tested images, by repository and tag
  local flags=() name image
  for name in backend web postgres; do
    case $name in backend) image=$BACKEND_IMAGE ;; web) image=$WEB_IMAGE ;; postgres) image=$POSTGRES_IMAGE ;; esac
    flags+=(--set "$name.image.repository=${image%:*}" --set-string "$name.image.tag=${image##*:}")
  done
  echo "${flags[@]}"
}

# --- the gate: the image tests on exactly these images -------------------------------------------
test_images() {
  if [ "${SKIP_TESTS:-0}" = 1 ]; then
    cat >&2 <<MSG

!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
!!! skip_tests=1: deploying $BACKEND_IMAGE, $WEB_IMAGE WITHOUT running the image tests.
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!

MSG
    return
  fi
  say "testing the images about to ship: $(images)"
  # CI=1 turns a missing image or tool into a failure instead of a skip: nothing untested ships.
  if ! (cd "$root" && CI=1 scripts/with-test-database.sh cargo test --locked -p image-tests -p chart-tests); then
    die "the image tests failed: refusing to deploy these images (skip_tests=1 overrides, at your own risk)"
  fi
}

ensure_namespace() {
  kubectl create namespace "$namespace" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
  kubectl label namespace "$namespace" --overwrite \
    pod-security.kubernetes.io/enforce=restricted pod-security.kubernetes.io/warn=restricted >/dev/null
}

how_to_open() {
  cat >&2 <<MSG

todo-chatbot is deployed in namespace $namespace. Open it with:
  kubectl port-forward -n $namespace service/todo-chatbot-web 3000:3000
  then http://localhost:3000   (API: http://localhost:3000/api/readyz)
  just status                  pods, autoscaler, recent events
MSG
}

# --- commands ------------------------------------------------------------------------------------
deploy() {
  local env=${1:-dev} values="$chart/values-${1:-dev}.yaml"
  [ -f "$values" ] || die "no values file $values (dev, staging or prod)"
  need helm "run scripts/install-chart-tools.sh"
  test_images
  local registry_flags shipped=("$BACKEND_IMAGE" "$WEB_IMAGE")
  # The development database image only where the values deploy it.
  if grep -q '^  enabled: true' <(sed -n '/^postgres:/,/^[a-z]/p' "$values"); then shipped+=("$POSTGRES_IMAGE"); fi
  registry_flags=$(ship_images "${shipped[@]}")
  ensure_namespace
  if grep -q '^  existingSecret: ' "$values"; then
    local secret
    secret=$(sed -n 's/^  existingSecret: *//p' "$values")
    kubectl get secret -n "$namespace" "$secret" >/dev/null 2>&1 \
      || die "values-$env.yaml expects Secret $secret in $namespace: create it first (docs/kubernetes.md)"
  fi
  say "helm upgrade --install $release with values-$env.yaml"
  # shellcheck disable=SC2046 # the flag lists are word lists
  helm upgrade --install "$release" "$chart" --namespace "$namespace" \
    --values "$values" $(image_flags) $registry_flags \
    --wait --atomic --timeout "${DEPLOY_TIMEOUT:-5m}"
  how_to_open
}

deploy_kubectl() {
  test_images
  local registry_flags
  registry_flags=$(ship_images "$BACKEND_IMAGE" "$WEB_IMAGE" "$POSTGRES_IMAGE")
  [ -z "$registry_flags" ] || die "deploy-kubectl supports minikube and kind; use just deploy with DEPLOY_REGISTRY"
  local secrets="$root/k8s/secrets.env"
  if [ ! -f "$secrets" ]; then
    local password auth
    password=$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')
    auth=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
    umask 077
    printf 'POSTGRES_PASSWORD=%s\nDATABASE_URL=postgres://todo:%s@todo-chatbot-postgres:5432/todo\nBETTER_AUTH_SECRET=%s\n' \
      "$password" "$password" "$auth" >"$secrets"
    say "wrote $secrets with random values (git-ignored; keep it to keep the database password)"
  fi
  # An overlay that swaps in the tested tags, so k8s/ itself stays as rendered.
  local overlay
  overlay=$(mktemp -d "$root/.tools/k8s-overlay.XXXXXX")
  trap 'rm -rf "$overlay"' RETURN
  cat >"$overlay/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [../../k8s]
images:
  - {name: ${BACKEND_IMAGE%:*}, newTag: "${BACKEND_IMAGE##*:}"}
  - {name: ${WEB_IMAGE%:*}, newTag: "${WEB_IMAGE##*:}"}
  - {name: ${POSTGRES_IMAGE%:*}, newTag: "${POSTGRES_IMAGE##*:}"}
YAML
  kubectl apply -k "$overlay"
  for workload in statefulset/todo-chatbot-postgres deployment/todo-chatbot-backend deployment/todo-chatbot-web; do
    kubectl rollout status -n "$namespace" "$workload" --timeout "${DEPLOY_TIMEOUT:-5m}"
  done
  how_to_open
}

undeploy() {
  need kubectl "run scripts/install-chart-tools.sh"
  if command -v helm >/dev/null && helm status "$release" -n "$namespace" >/dev/null 2>&1; then
    helm uninstall "$release" -n "$namespace" --wait
  fi
  # kubectl-applied objects, and the hook objects helm leaves behind (Secret, migration Job).
  kubectl delete -n "$namespace" --ignore-not-found --wait \
    deployment,statefulset,service,configmap,secret,job,hpa,pdb,networkpolicy,serviceaccount \
    -l "app.kubernetes.io/instance=$release"
  say "removed release $release (the database volume stays: just clean removes it)"
}

clean() {
  undeploy
  kubectl delete namespace "$namespace" --ignore-not-found --wait
  say "removed namespace $namespace and its volumes"
  if [ "${1:-}" = images ]; then
    local cluster
    read -r -a cluster <<<"$(cluster_kind)"
    for image in $(images); do
      docker image rm "$image" >/dev/null 2>&1 && say "removed local image $image" || true
      if [ "${cluster[0]}" = minikube ]; then minikube image rm "$image" >/dev/null 2>&1 || true; fi
      if [ "${cluster[0]}" = kind ]; then
        for node in $(kind get nodes --name "${cluster[1]}"); do
          docker exec "$node" crictl rmi "docker.io/$image" >/dev/null 2>&1 || true
        done
      fi
    done
  fi
}

status() {
  need kubectl "run scripts/install-chart-tools.sh"
  if command -v helm >/dev/null; then helm list -n "$namespace" 2>/dev/null || true; fi
  kubectl get pods,services,hpa,pdb -n "$namespace" -o wide
  echo
  echo "recent events:"
  kubectl get events -n "$namespace" --sort-by=.lastTimestamp | tail -n 15
}

command=${1:?usage: deploy.sh deploy [dev|staging|prod] | deploy-kubectl | undeploy | clean [images] | status}
shift
case "$command" in
  deploy) deploy "$@" ;;
  deploy-kubectl) deploy_kubectl ;;
  undeploy) undeploy ;;
  clean) clean "$@" ;;
  status) status ;;
  *) die "unknown command $command" ;;
esac
