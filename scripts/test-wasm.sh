#!/usr/bin/env bash
# The tests of code that only the browser app runs (api-types' BrowserJson), compiled for
# wasm32 and run in Node by wasm-bindgen's test runner. The runner is the one the toolchain image
# was built with (the same version as the wasm-bindgen crate); Node is Debian's (npm pulls it in,
# scripts/install-host-deps.sh). Usage: TOOLCHAIN_IMAGE=<tag> scripts/test-wasm.sh
set -euo pipefail
cd "$(dirname "$0")/.."
: "${TOOLCHAIN_IMAGE:?the toolchain image, e.g. TOOLCHAIN_IMAGE=\$(images/build.sh toolchain)}"

if ! command -v node >/dev/null; then
  if [ "${CI:-}" = true ]; then echo "test-wasm.sh: node is missing (scripts/install-host-deps.sh installs it)" >&2; exit 1; fi
  printf '\033[1;33mtest-wasm.sh: SKIPPED, node is missing: apt-get install nodejs\033[0m\n' >&2
  exit 0
fi

# The runner out of the toolchain image, once per image.
runner_dir=".tools/wasm-bindgen/${TOOLCHAIN_IMAGE##*:}"
if [ ! -x "$runner_dir/wasm-bindgen-test-runner" ]; then
  mkdir -p "$runner_dir"
  container=$(docker create "$TOOLCHAIN_IMAGE" true)
  trap 'docker rm -f "$container" >/dev/null' EXIT
  docker cp "$container:/usr/local/bin/wasm-bindgen-test-runner" "$runner_dir/"
fi

CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER="$PWD/$runner_dir/wasm-bindgen-test-runner" \
  cargo test --locked -p api-types --target wasm32-unknown-unknown "$@"
