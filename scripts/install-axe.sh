#!/usr/bin/env bash
# Installs axe-core (Deque's accessibility engine, the one browsers' devtools use) into
# .tools/axe, pinned and idempotent: the browser test injects .tools/axe/axe.min.js into every
# page it visits and fails on any WCAG 2.1 A/AA or best-practice violation.
set -euo pipefail

AXE_VERSION="4.11.4"

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target="$root/.tools/axe"
say() { echo "install-axe: $*" >&2; }

if [ -f "$target/axe.min.js" ] && [ "$(cat "$target/VERSION" 2>/dev/null)" = "$AXE_VERSION" ]; then
  say "axe-core $AXE_VERSION already in .tools/axe"
  exit 0
fi
command -v npm >/dev/null || { say "npm is needed to fetch axe-core (apt-get install npm)"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# npm checks the tarball against the registry's integrity hash.
(cd "$work" && npm pack --silent "axe-core@$AXE_VERSION" >/dev/null)
tar -xzf "$work"/axe-core-*.tgz -C "$work"
mkdir -p "$target"
install -m 0644 "$work/package/axe.min.js" "$target/axe.min.js"
echo "$AXE_VERSION" >"$target/VERSION"
say "axe-core $AXE_VERSION installed in .tools/axe"
