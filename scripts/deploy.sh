#!/usr/bin/env bash
# Kubernetes deployment for the deploy.just recipes: deploy (helm), deploy-kubectl (k8s/),
# undeploy, clean, status. Image names come from the justfile (BACKEND_IMAGE, WEB_IMAGE,
# POSTGRES_IMAGE); the cluster is the current kube context: minikube, kind, or any other
# cluster with a registry given in DEPLOY_REGISTRY (images are pushed there).
#
# No step runs inside $(...): command substitution turns off `set -e` in the subshell and a
# `die` there only ends the subshell, so a failed image load or push used to pass unnoticed.
# Functions set global variables instead.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$root/.tools/bin:$PATH"
release=${DEPLOY_RELEASE:-todo-chatbot}
namespace=${DEPLOY_NAMESPACE:-todo-chatbot}
chart="$root/helm/todo-chatbot"
# The chart's name prefix (todo-chatbot.fullname) and the Secret it renders.
case "$release" in *todo-chatbot*) fullname=$release ;; *) fullname="$release-todo-chatbot" ;; esac
secret_name="$fullname-secrets"

say() { echo "deploy: $*" >&2; }
die() { echo "deploy: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null || die "$1 not found on PATH or in .tools/bin: $2"; }
chart_tools_hint="run \`just chart-tools\` (installs pinned helm and kubectl into .tools/bin), or install it yourself"

: "${BACKEND_IMAGE:?run through just (the justfile names the images)}" "${WEB_IMAGE:?}" "${POSTGRES_IMAGE:?}"

# A private directory (mode 0700) for secret values on their way to helm, never on a command line.
work=$(mktemp -d "${TMPDIR:-/tmp}/todo-chatbot-deploy.XXXXXX")
trap 'rm -rf "$work"' EXIT

# --- the cluster: sets cluster (minikube, kind, other) and cluster_name -------------------------
cluster="" cluster_name=""
detect_cluster() {
  need kubectl "$chart_tools_hint"
  local context
  context=$(kubectl config current-context 2>/dev/null) \
    || die "no current kube context: start minikube (minikube start) or kind (kind create cluster), or select a cluster (kubectl config use-context)"
  case "$context" in
    minikube) cluster=minikube cluster_name=minikube ;;
    kind-*) cluster=kind cluster_name=${context#kind-} ;;
    *) cluster=other cluster_name=$context ;;
  esac
}

# Before installing: undeploy and status still work on an old cluster.
require_supported_cluster() {
  # helm's own refusal (chart requires kubeVersion >=1.30.0-0) names no way out; this does, and
  # comes before minutes of tests and image loads. An unreachable server is left to kubectl and
  # helm, whose errors say so.
  local minor
  minor=$(kubectl version -o json 2>/dev/null | sed -n '/"serverVersion"/,/}/s/^ *"minor": *"\([0-9]*\).*/\1/p')
  if [ -n "$minor" ] && [ "$minor" -lt 30 ]; then
    local how="upgrade the cluster"
    [ "$cluster" != minikube ] || how="minikube delete && minikube start --kubernetes-version=v1.30.0 (or newer)"
    [ "$cluster" != kind ] || how="kind delete cluster --name $cluster_name && kind create cluster --name $cluster_name --image kindest/node:v1.30.0 (or newer)"
    die "the chart needs Kubernetes 1.30 or newer; $cluster_name runs 1.$minor: $how"
  fi
}

# --- the cluster's architecture: the images built for it ----------------------------------------
# `just images` builds the engine's own architecture; PLATFORMS adds the other one under
# <tag>-<arch> (images/build.sh). kind and minikube load one platform per tag, so a cluster whose
# nodes are the other architecture gets those images. Our postgres image is built for the
# engine's architecture only: such a cluster pulls the official image (the same interface)
# for the development database.
native_arch="" node_arch="" postgres_pulled=0
native_backend=$BACKEND_IMAGE native_web=$WEB_IMAGE native_postgres=$POSTGRES_IMAGE
select_architecture() {
  local archs variable image
  native_arch=$(docker version --format '{{.Server.Arch}}') || die "docker version failed (above): is the Docker daemon running?"
  archs=$(kubectl get nodes -o 'jsonpath={range .items[*]}{.status.nodeInfo.architecture}{"\n"}{end}' | sort -u) \
    || die "could not list the cluster's nodes (above)"
  case "$(printf '%s\n' "$archs" | grep -c .)" in
    0) die "the cluster has no nodes yet: wait until kubectl get nodes lists them" ;;
    1) node_arch=$archs ;;
    *) die "the cluster's nodes run several architectures ($(echo $archs)): kind and minikube load one per image tag; push the multi-platform OCI archives (dist/*.oci.tar, docs/supply-chain.md) to a registry instead" ;;
  esac
  [ "$node_arch" != "$native_arch" ] || return 0
  case "$node_arch" in amd64|arm64) ;; *) die "the cluster's nodes are $node_arch: the images are built for amd64 and arm64 only" ;; esac
  for variable in BACKEND_IMAGE WEB_IMAGE; do
    image="${!variable}-$node_arch"
    docker image inspect --format '{{.Id}}' "$image" >/dev/null 2>&1 \
      || die "the cluster's nodes are $node_arch and $image is not built: PLATFORMS=linux/$native_arch,linux/$node_arch just deploy"
    printf -v "$variable" '%s' "$image"
  done
  POSTGRES_IMAGE=${POSTGRES_IMAGE_OFFICIAL:-postgres:15}
  postgres_pulled=1
  say "the cluster's nodes are $node_arch: deploying $BACKEND_IMAGE and $WEB_IMAGE; the development database (if enabled) runs $POSTGRES_IMAGE, pulled by the cluster (ours is built for $native_arch only)"
}

# --- the images ---------------------------------------------------------------------------------
# A `-dirty` tag names whatever the last build of an uncommitted tree was, so a rebuilt image
# keeps its tag, the pod template does not change and IfNotPresent keeps the old image running.
# Such images are deployed under <tag>-<12 hex of the image ID> instead: new content, new tag.
resolve_images() {
  local variable image id
  for variable in BACKEND_IMAGE WEB_IMAGE POSTGRES_IMAGE; do
    image=${!variable}
    case "$image" in *-dirty|*-dirty-amd64|*-dirty-arm64) ;; *) continue ;; esac
    id=$(docker image inspect --format '{{.Id}}' "$image") || die "no local image $image: run just images"
    id=${id#sha256:}
    printf -v "$variable" '%s-%s' "$image" "${id:0:12}"
    docker tag "$image" "${!variable}" || die "docker tag $image ${!variable} failed"
    say "$image is built from uncommitted changes: deploying it as ${!variable} (its image ID)"
  done
}

# Makes the given images visible to the cluster; sets registry_flags for the chart.
registry_flags=()
ship_images() {
  local image
  case "$cluster" in
    minikube)
      for image in "$@"; do
        say "minikube image load $image"
        minikube image load "$image" >&2 || die "minikube image load $image failed (above): not deploying"
      done ;;
    kind)
      say "kind load docker-image into cluster $cluster_name: $*"
      kind load docker-image --name "$cluster_name" "$@" >&2 || die "kind load docker-image failed (above): not deploying" ;;
    other)
      [ -n "${DEPLOY_REGISTRY:-}" ] || die "context $cluster_name is neither minikube nor kind: set DEPLOY_REGISTRY=host[:port] to push the images to a registry the cluster pulls from"
      for image in "$@"; do
        say "pushing $DEPLOY_REGISTRY/$image"
        docker tag "$image" "$DEPLOY_REGISTRY/$image" || die "docker tag $image failed (above): not deploying"
        docker push "$DEPLOY_REGISTRY/$image" >&2 || die "docker push $DEPLOY_REGISTRY/$image failed (above): not deploying"
      done
      registry_flags=(--set "imageRegistry=$DEPLOY_REGISTRY") ;;
  esac
}

image_flags=()
set_image_flags() { # the tested images, by repository and tag
  local name image
  for name in backend web postgres; do
    case $name in backend) image=$BACKEND_IMAGE ;; web) image=$WEB_IMAGE ;; postgres) image=$POSTGRES_IMAGE ;; esac
    image_flags+=(--set "$name.image.repository=${image%:*}" --set-string "$name.image.tag=${image##*:}")
  done
}

# --- the gate: the image tests on exactly these images -------------------------------------------
# What the tests need besides the images. With CI=1 each missing one is a failure (nothing
# untested ships), so they are checked first and named; docs/kubernetes.md lists them.
gate_prerequisites() {
  local missing=() python=${MCP_PYTHON:-$root/.tools/venv/bin/python}
  command -v cargo >/dev/null || missing+=("cargo: the Rust toolchain (rustup; rust-toolchain.toml pins the version)")
  docker info >/dev/null 2>&1 || missing+=("a running Docker daemon (docker info fails): the tests start the images and a PostgreSQL container")
  command -v helm >/dev/null || missing+=("helm: $chart_tools_hint")
  if [ -n "${CHROMIUM:-}" ]; then [ -f "$CHROMIUM" ] || missing+=("CHROMIUM=$CHROMIUM: no such file")
  elif ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null && ! command -v google-chrome >/dev/null; then
    missing+=("chromium (the browser test): apt-get install chromium, or set CHROMIUM")
  fi
  if [ -n "${CHROMEDRIVER:-}" ]; then [ -f "$CHROMEDRIVER" ] || missing+=("CHROMEDRIVER=$CHROMEDRIVER: no such file")
  elif ! command -v chromedriver >/dev/null; then
    missing+=("chromedriver (the browser test): apt-get install chromium-driver, or set CHROMEDRIVER")
  fi
  "$python" -c 'import mcp' >/dev/null 2>&1 || missing+=("Python with the mcp package ($python; the MCP client test): scripts/install-host-deps.sh, or set MCP_PYTHON")
  [ -x "$root/.tools/llm/bin/python" ] && [ -f "$root/.tools/llm/model.gguf" ] \
    || missing+=(".tools/llm, the real model server of the model test: scripts/install-llm.sh (about 5 minutes)")
  [ "${#missing[@]}" = 0 ] && return
  {
    echo "deploy: the image tests that gate the deploy cannot run here; missing:"
    printf '  - %s\n' "${missing[@]}"
    echo "scripts/install-host-deps.sh installs all of them on Debian 12. skip_tests=1 deploys untested, at your own risk."
  } >&2
  exit 1
}

test_images() {
  if [ "${SKIP_TESTS:-0}" = 1 ]; then
    cat >&2 <<MSG

!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
!!! skip_tests=1: deploying $BACKEND_IMAGE, $WEB_IMAGE WITHOUT running the image tests.
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!

MSG
    return
  fi
  gate_prerequisites
  local toolchain
  # image_trust compares the images with the toolchain image they were built from.
  toolchain=$(cd "$root" && images/build.sh toolchain) || die "images/build.sh toolchain failed (above): the image tests need the toolchain image"
  # The whole suite runs on the engine's architecture; images for an arm64 cluster also pass the
  # arm64 tests under emulation (tests/tests/arm64.rs), which need the arm64 build.
  local arm64=() filter=()
  if [ "$node_arch" = arm64 ] && [ "$native_arch" != arm64 ]; then
    arm64=(BACKEND_IMAGE_ARM64="$BACKEND_IMAGE" WEB_IMAGE_ARM64="$WEB_IMAGE")
  else
    say "not running the arm64 image tests: the cluster's nodes are $node_arch, like this engine"
    filter=(-- --skip arm64_)
  fi
  say "testing the images about to ship: $native_backend $native_web ${arm64[*]#*=} $native_postgres"
  # CI=1 turns a missing image or tool into a failure instead of a skip: nothing untested ships.
  if ! (cd "$root" && env CI=1 TOOLCHAIN_IMAGE="$toolchain" BACKEND_IMAGE="$native_backend" WEB_IMAGE="$native_web" \
    POSTGRES_IMAGE="$native_postgres" "${arm64[@]}" scripts/with-test-database.sh \
    cargo test --locked -p image-tests -p chart-tests "${filter[@]}"); then
    die "the image tests failed (see the failures above): refusing to deploy these images (skip_tests=1 overrides, at your own risk)"
  fi
}

ensure_namespace() {
  kubectl create namespace "$namespace" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
  kubectl label namespace "$namespace" --overwrite \
    pod-security.kubernetes.io/enforce=restricted pod-security.kubernetes.io/warn=restricted >/dev/null
}

# --- secrets for a chart-rendered Secret: sets secret_flags --------------------------------------
# Each value goes to helm through a 0600 file (--set-file): never on a command line, never printed.
secret_flags=()
secret_file() { # NAME VALUE → flag pointing at a private file holding VALUE
  local file="$work/$1"
  (umask 077 && printf '%s' "$2" >"$file")
  secret_flags+=(--set-file "$3=$file")
}

# The last KEY=value line of .env, as docker compose reads it (surrounding quotes removed).
env_file_value() {
  local value
  value=$(sed -n "s/^[[:space:]]*$1=//p" "$root/.env" | tail -n 1 | tr -d '\r')
  case "$value" in \"*\") value=${value:1:-1} ;; \'*\') value=${value:1:-1} ;; esac
  printf '%s' "$value"
}

chart_secrets() {
  local postgres=$1 key value kept=()
  # What the Secret kept from an earlier release holds (helm.sh/resource-policy: keep, so it
  # survives `just undeploy` and a rolled-back first install): the database volume was
  # initialised with that password, and sign-ins stay valid with that key. Passed explicitly
  # rather than left to the chart's lookup, so the render does not depend on a cluster read
  # that `helm template` and --dry-run skip.
  for key in POSTGRES_PASSWORD:postgres.auth.password BETTER_AUTH_SECRET:secrets.betterAuthSecret; do
    value=$(kubectl get secret -n "$namespace" "$secret_name" --ignore-not-found \
      -o "jsonpath={.data.${key%%:*}}") || die "could not read Secret $secret_name in $namespace (above)"
    [ -n "$value" ] || continue
    value=$(printf '%s' "$value" | base64 -d) || die "Secret $secret_name: ${key%%:*} is not base64"
    secret_file "${key%%:*}" "$value" "${key#*:}"
    kept+=("${key%%:*}")
  done
  [ "${#kept[@]}" = 0 ] || say "reusing ${kept[*]} from the kept Secret $secret_name"
  if [ "$postgres" = 1 ] && [[ " ${kept[*]} " != *" POSTGRES_PASSWORD "* ]]; then
    local volumes
    volumes=$(kubectl get pvc -n "$namespace" -o name \
      -l "app.kubernetes.io/instance=$release,app.kubernetes.io/component=postgres") || die "could not list the volumes in $namespace (above)"
    [ -z "$volumes" ] || die "the database volume ($volumes) exists but the Secret $secret_name with its password does not: a new password would lock the database out. Restore the Secret, or run \`just clean\` to start over (deletes the data)."
  fi
  # The model settings from .env (the local stack's file), so `just deploy` needs no --set
  # that the next deploy would wipe. Only the names are printed.
  [ -f "$root/.env" ] || return 0
  local from_env=()
  value=$(env_file_value OPENAI_API_KEY)
  if [ -n "$value" ]; then secret_file OPENAI_API_KEY "$value" secrets.openaiApiKey; from_env+=(OPENAI_API_KEY); fi
  value=$(env_file_value OPENAI_BASE_URL)
  if [ -n "$value" ]; then secret_file OPENAI_BASE_URL "$value" config.openaiBaseUrl; from_env+=(OPENAI_BASE_URL); fi
  value=$(env_file_value OPENAI_MODEL)
  if [ -n "$value" ]; then secret_file OPENAI_MODEL "$value" config.openaiModel; from_env+=(OPENAI_MODEL); fi
  [ "${#from_env[@]}" = 0 ] || say "from .env: ${from_env[*]}"
}

how_to_open() {
  cat >&2 <<MSG

todo-chatbot is deployed in namespace $namespace. Open it with:
  kubectl port-forward -n $namespace service/$fullname-web 3000:3000
  then http://localhost:3000   (API: http://localhost:3000/api/readyz)
  just status                  pods, autoscaler, recent events
MSG
}

# --- commands ------------------------------------------------------------------------------------
deploy() {
  local env=${1:-dev} values="$chart/values-${1:-dev}.yaml"
  [ -f "$values" ] || die "no values file $values (dev, staging or prod)"
  need helm "$chart_tools_hint"
  detect_cluster
  require_supported_cluster
  # Checked before minutes of tests and image loading: a Secret the values expect.
  local existing postgres=0
  existing=$(sed -n 's/^  existingSecret: *//p' "$values")
  if [ -n "$existing" ]; then
    kubectl get secret -n "$namespace" "$existing" >/dev/null 2>&1 \
      || die "values-$env.yaml expects Secret $existing in $namespace: create it first (docs/kubernetes.md)"
    if [ -f "$root/.env" ] && [ -n "$(env_file_value OPENAI_API_KEY)" ]; then
      say "values-$env.yaml reads its secrets from Secret $existing: .env's OPENAI_API_KEY is not used (add it to that Secret)"
    fi
  fi
  # The development database (and its image) only where the values deploy it.
  if grep -q '^  enabled: true' <(sed -n '/^postgres:/,/^[a-z]/p' "$values"); then postgres=1; fi
  [ -n "$existing" ] || chart_secrets "$postgres"
  select_architecture
  if [ "$postgres" = 1 ] && [ "$postgres_pulled" = 1 ] && [ "$cluster" = other ]; then
    die "values-$env.yaml deploys the development database, whose image is built for $native_arch only, and DEPLOY_REGISTRY would not hold $POSTGRES_IMAGE: use an external database (docs/kubernetes.md)"
  fi
  resolve_images
  test_images
  local shipped=("$BACKEND_IMAGE" "$WEB_IMAGE")
  [ "$postgres" = 0 ] || [ "$postgres_pulled" = 1 ] || shipped+=("$POSTGRES_IMAGE")
  ship_images "${shipped[@]}"
  ensure_namespace
  set_image_flags
  say "helm upgrade --install $release with values-$env.yaml"
  helm upgrade --install "$release" "$chart" --namespace "$namespace" \
    --values "$values" "${image_flags[@]}" "${registry_flags[@]}" "${secret_flags[@]}" \
    --wait --atomic --timeout "${DEPLOY_TIMEOUT:-5m}"
  how_to_open
}

deploy_kubectl() {
  detect_cluster
  require_supported_cluster
  [ "$cluster" != other ] || die "deploy-kubectl supports minikube and kind; use just deploy with DEPLOY_REGISTRY"
  select_architecture
  resolve_images
  test_images
  local shipped=("$BACKEND_IMAGE" "$WEB_IMAGE")
  [ "$postgres_pulled" = 1 ] || shipped+=("$POSTGRES_IMAGE")
  ship_images "${shipped[@]}"
  local secrets="$root/k8s/secrets.env"
  if [ ! -f "$secrets" ]; then
    local password auth
    password=$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')
    auth=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
    (umask 077 && printf 'POSTGRES_PASSWORD=%s\nDATABASE_URL=postgres://todo:%s@todo-chatbot-postgres:5432/todo\nBETTER_AUTH_SECRET=%s\n' \
      "$password" "$password" "$auth" >"$secrets")
    say "wrote $secrets with random values (git-ignored; keep it to keep the database password)"
  fi
  # An overlay that swaps in the tested tags, so k8s/ itself stays as rendered. Kustomize
  # refuses an absolute path to its base, so the overlay lives in the (git-ignored) .tools/.
  local overlay
  mkdir -p "$root/.tools"
  overlay=$(mktemp -d "$root/.tools/k8s-overlay.XXXXXX")
  cat >"$overlay/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [../../k8s]
images:
  - {name: ${BACKEND_IMAGE%:*}, newTag: "${BACKEND_IMAGE##*:}"}
  - {name: ${WEB_IMAGE%:*}, newTag: "${WEB_IMAGE##*:}"}
  - {name: ${native_postgres%:*}, newName: ${POSTGRES_IMAGE%:*}, newTag: "${POSTGRES_IMAGE##*:}"}
YAML
  local status=0
  kubectl apply -k "$overlay" || status=$?
  rm -rf "$overlay"
  [ "$status" = 0 ] || die "kubectl apply -k failed (above)"
  for workload in statefulset/todo-chatbot-postgres deployment/todo-chatbot-backend deployment/todo-chatbot-frontend; do
    kubectl rollout status -n "$namespace" "$workload" --timeout "${DEPLOY_TIMEOUT:-5m}"
  done
  how_to_open
}

undeploy() {
  detect_cluster
  if command -v helm >/dev/null && helm status "$release" -n "$namespace" >/dev/null 2>&1; then
    helm uninstall "$release" -n "$namespace" --wait
  fi
  local selector="app.kubernetes.io/instance=$release"
  # kubectl-applied objects, and the hook objects helm leaves behind (Secret, migration Job).
  kubectl delete -n "$namespace" --ignore-not-found --wait \
    deployment,statefulset,service,configmap,job,hpa,pdb,networkpolicy,serviceaccount -l "$selector"
  # Secrets too, except one kept on purpose: the database password, which must outlive the
  # release as long as the database volume does.
  local name policy delete=() kept=()
  while IFS=$'\t' read -r name policy; do
    [ -n "$name" ] || continue
    if [ "$policy" = keep ]; then kept+=("$name"); else delete+=("$name"); fi
  done < <(kubectl get secret -n "$namespace" -l "$selector" \
    -o 'jsonpath={range .items[*]}{.metadata.name}{"\t"}{.metadata.annotations.helm\.sh/resource-policy}{"\n"}{end}')
  [ "${#delete[@]}" = 0 ] || kubectl delete secret -n "$namespace" --ignore-not-found --wait "${delete[@]}"
  if [ "${#kept[@]}" = 0 ]; then
    say "removed release $release (the database volume stays: just clean removes it)"
  else
    say "removed release $release; kept the database volume and Secret ${kept[*]} (its password), so the next deploy uses it again: just clean removes both"
  fi
}

clean() {
  undeploy
  kubectl delete namespace "$namespace" --ignore-not-found --wait
  say "removed namespace $namespace with its volumes and the kept Secret"
  if [ "${1:-}" = images ]; then
    local image images=("$BACKEND_IMAGE" "$WEB_IMAGE" "$POSTGRES_IMAGE") variant
    for image in "${BACKEND_IMAGE}" "${WEB_IMAGE}"; do
      # The content-tagged copies of -dirty builds (resolve_images).
      case "$image" in *-dirty)
        while read -r variant; do images+=("$variant"); done \
          < <(docker images --format '{{.Repository}}:{{.Tag}}' --filter "reference=$image-*") ;;
      esac
    done
    for image in "${images[@]}"; do
      docker image rm "$image" >/dev/null 2>&1 && say "removed local image $image" || true
      if [ "$cluster" = minikube ]; then minikube image rm "$image" >/dev/null 2>&1 || true; fi
      if [ "$cluster" = kind ]; then
        for node in $(kind get nodes --name "$cluster_name"); do
          docker exec "$node" crictl rmi "docker.io/$image" >/dev/null 2>&1 || true
        done
      fi
    done
  fi
}

status() {
  detect_cluster
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
