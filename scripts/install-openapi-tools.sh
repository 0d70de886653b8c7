#!/usr/bin/env bash
# Installs the OpenAPI contract checkers that `just test` runs into .tools/openapi (gitignored):
# openapi-spec-validator (is /openapi.json a valid OpenAPI 3.1 document?) and schemathesis
# (does the running backend image answer what the document says?). Pinned and idempotent: a venv
# that already has both at these versions is left alone.
#   run: .tools/openapi/bin/openapi-spec-validator FILE
#        .tools/openapi/bin/schemathesis run URL/openapi.json ...
set -euo pipefail

OPENAPI_SPEC_VALIDATOR_VERSION=0.9.0
SCHEMATHESIS_VERSION=4.32.5

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/.tools/openapi"
say() { echo "install-openapi-tools: $*" >&2; }

installed() {
  # The entry points are run, not just found: a venv moved to another path keeps scripts whose
  # interpreter line names the old one.
  [ -x "$venv/bin/python" ] && "$venv/bin/schemathesis" --version >/dev/null 2>&1 \
    && "$venv/bin/openapi-spec-validator" --help >/dev/null 2>&1 \
    && "$venv/bin/python" - <<PY 2>/dev/null
import importlib.metadata as m
assert m.version("openapi-spec-validator") == "$OPENAPI_SPEC_VALIDATOR_VERSION"
assert m.version("schemathesis") == "$SCHEMATHESIS_VERSION"
PY
}

if installed; then
  say "openapi-spec-validator $OPENAPI_SPEC_VALIDATOR_VERSION and schemathesis $SCHEMATHESIS_VERSION already in .tools/openapi"
  exit 0
fi

# A venv whose scripts name another path is rebuilt from scratch.
if [ -d "$venv" ] && ! "$venv/bin/pip" --version >/dev/null 2>&1; then rm -rf "$venv"; fi
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
say "installing openapi-spec-validator $OPENAPI_SPEC_VALIDATOR_VERSION and schemathesis $SCHEMATHESIS_VERSION"
"$venv/bin/pip" install --quiet --disable-pip-version-check --only-binary=:all: \
  "openapi-spec-validator==$OPENAPI_SPEC_VALIDATOR_VERSION" "schemathesis==$SCHEMATHESIS_VERSION"
installed || { say "the install finished but the check failed"; exit 1; }
say "done"
