#!/usr/bin/env bash
# The buildx_build report of a split build: auto mode chose one build per platform.
set -euo pipefail
report="$1"
if grep -q '"split": true' "$report"; then
  echo "split: $(grep -o '"reason": "[^"]*"' "$report" | head -n 1)"
else
  echo "the build was not split:" >&2
  cat "$report" >&2
  exit 1
fi
