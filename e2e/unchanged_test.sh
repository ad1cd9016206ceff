#!/usr/bin/env bash
# Usage: unchanged_test.sh LAYOUT LISTING
# The REAL tree artifact in bazel-out (not this test's symlinks to it) still holds exactly what
# the action that wrote it listed: no index.json.lock, ingest/, .fsverity-check-*, no changed blob.
set -euo pipefail
layout="$1"
listing="$2"
real="$(dirname "$(readlink -f "$layout/oci-layout")")"
actual="$(cd "$real" && { find . -mindepth 1 -printf '%y %p\n' | LC_ALL=C sort && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum; })"
if [[ "$actual" != "$(cat "$listing")" ]]; then
  diff <(cat "$listing") <(printf '%s\n' "$actual") || true
  echo "FAIL: $real was changed after it was written"
  exit 1
fi
echo "ok: $real is unchanged ($(grep -c '^f ' "$listing") files)"
