#!/usr/bin/env bash
# Usage: portable_test.sh FILE...
# The rules' outputs name paths relative to the execution root only: no absolute host path (which
# would be wrong on any other machine and poison a remote cache).
set -euo pipefail
bad=0
for f in "$@"; do
  if grep -nE '("|=|oci-layout://)/' "$f" >/dev/null; then
    echo "FAIL: $f holds an absolute path:"
    grep -nE '("|=|oci-layout://)/' "$f" | head -n 5
    bad=1
  fi
done
((bad == 0)) && echo "ok: $# outputs hold no absolute path"
exit "$bad"
