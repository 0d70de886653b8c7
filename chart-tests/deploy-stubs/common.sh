# Shared by the stub executables that the contract test of scripts/deploy.sh puts first on
# PATH (chart-tests/tests/deploy_script.rs). Each stub records its argv (fields separated by
# \x1f, one call per line) in $STUB_LOG and keeps what a cluster or Docker would hold in
# $STUB_STATE. Anything a stub does not know is an error, as an unknown command is for the
# real tool, so the script cannot drift into calls nobody checks.
#   STUB_CONTEXT       kube context kubectl reports (unset: no current context)
#   STUB_FAIL          a word: a load or push of an image reference containing it fails
#   STUB_DOCKER_DOWN   non-empty: `docker info` fails
#   STUB_SERVER_MINOR  the cluster's Kubernetes minor version (default 34)
#   STUB_NODE_ARCHS    the architecture of each node, space-separated (default amd64; empty: none)
#   STUB_ENGINE_ARCH   the Docker engine's architecture (default amd64)
#   REAL_HELM, REAL_KUBECTL   the real binaries: helm renders, kubectl runs kustomize
set -u
tool=${0##*/}
{ printf '%s' "$tool"; printf '\x1f%s' "$@"; printf '\n'; } >>"$STUB_LOG"
state=$STUB_STATE
mkdir -p "$state/images" "$state/secrets"

unexpected() { echo "stub $tool: unexpected command: $tool $*" >&2; exit 2; }
fails() { [ -n "${STUB_FAIL:-}" ] && [[ "$1" == *"$STUB_FAIL"* ]]; }
# state/images/<reference with / and : as _> holds the image ID.
image_file() { printf '%s/images/%s' "$state" "${1//[\/:]/_}"; }
have_image() { [ -f "$(image_file "$1")" ]; }
