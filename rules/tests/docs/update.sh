#!/usr/bin/env bash
# bazel run //rules/tests/docs:update: write the generated reference to docs/rules.md.
set -euo pipefail
[[ -n "${BUILD_WORKSPACE_DIRECTORY:-}" ]] || { echo "run me with bazel run" >&2; exit 2; }
mkdir -p "$BUILD_WORKSPACE_DIRECTORY/docs"
cp "$1" "$BUILD_WORKSPACE_DIRECTORY/docs/rules.md"
chmod 0644 "$BUILD_WORKSPACE_DIRECTORY/docs/rules.md"
echo "updated docs/rules.md"
