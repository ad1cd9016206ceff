#!/usr/bin/env bash
# Usage: same_digest_test.sh REPORT_A REPORT_B
# Two buildx_build reports (<name>.build.json) name the same image digest.
set -euo pipefail
a="$(grep -m1 -o '"digest": "sha256:[0-9a-f]*"' "$1")"
b="$(grep -m1 -o '"digest": "sha256:[0-9a-f]*"' "$2")"
if [[ -z "$a" || "$a" != "$b" ]]; then
  echo "different images: $1 has ${a:-no digest}, $2 has ${b:-no digest}" >&2
  exit 1
fi
echo "ok: both are ${a#*: }"
