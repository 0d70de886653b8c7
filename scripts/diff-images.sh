#!/usr/bin/env bash
# Shows why two local images differ: their configurations (with the volatile parts that do not
# enter the image ID left out), then every file of their layers as one line each (type, mode,
# owner, mtime, size, sha256, path), diffed. Used by `just reproducible` on a mismatch; diffoci
# would say the same, but it is not packaged by Debian or PyPI.
#   scripts/diff-images.sh IMAGE_A IMAGE_B   (names or IDs)
set -euo pipefail

[ $# -eq 2 ] || { echo "usage: $0 IMAGE_A IMAGE_B" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/diff-images.XXXXXX")
trap 'rm -rf "$work"' EXIT

# listing IMAGE DIR: writes DIR/config.json and DIR/files, one line per file of every layer.
listing() {
  mkdir -p "$2/save" "$2/root"
  docker save "$1" | tar -x -C "$2/save"
  local config layer
  config=$(jq -r '.[0].Config' "$2/save/manifest.json")
  jq -S 'del(.rootfs)' "$2/save/$config" >"$2/config.json"
  for layer in $(jq -r '.[0].Layers[]' "$2/save/manifest.json"); do
    echo "# layer $(jq -r --arg l "$layer" '.[0].Layers | index($l)' "$2/save/manifest.json")"
    # GNU tar prints type+mode, owner, size, mtime and name; the hash comes from the file itself.
    tar --numeric-owner --full-time -tvf "$2/save/$layer" | while read -r mode owner size day time path; do
      local hash=-
      if [ "${mode:0:1}" = - ]; then
        hash=$(tar -xOf "$2/save/$layer" "$path" | sha256sum | cut -c1-16)
      fi
      printf '%s %s %s %sT%s %s %s\n' "$mode" "$owner" "$size" "$day" "$time" "$hash" "$path"
    done
  done >"$2/files"
}

listing "$1" "$work/a"
listing "$2" "$work/b"
status=0
echo "--- configuration ($1 vs $2)"
diff -u --label "$1" --label "$2" "$work/a/config.json" "$work/b/config.json" || status=1
echo "--- files: type+mode owner size mtime sha256(16) path"
diff -u --label "$1" --label "$2" "$work/a/files" "$work/b/files" || status=1
[ "$status" = 1 ] || echo "no difference in configuration or files (layer metadata, e.g. tar headers, may still differ)"
exit "$status"
