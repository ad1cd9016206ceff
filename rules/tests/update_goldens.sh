#!/usr/bin/env bash
# bazel run //rules/tests:update_goldens: copy the current outputs over rules/tests/golden/.
set -euo pipefail
[[ -n "${BUILD_WORKSPACE_DIRECTORY:-}" ]] || { echo "run me with bazel run" >&2; exit 2; }
for f in "$@"; do
  dest="$BUILD_WORKSPACE_DIRECTORY/rules/tests/golden/$(basename "$f")"
  cp "$f" "$dest"
  chmod 0644 "$dest"
  echo "updated ${dest#"$BUILD_WORKSPACE_DIRECTORY/"}"
done
