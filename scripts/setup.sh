#!/usr/bin/env bash
# Installs the Debian packages the interop and read-only tests use (skopeo, umoci) and the
# ones the end-to-end suites need to build their root filesystems (debootstrap). Idempotent.
set -euo pipefail
need=()
for pkg in skopeo umoci debootstrap hyperfine util-linux; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ "${#need[@]}" -eq 0 ]; then
  echo "setup: all packages present" >&2
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "setup: missing Debian packages: ${need[*]} (run as root, or: sudo apt-get install ${need[*]})" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
for attempt in 1 2; do
  if apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >&2; then
    echo "setup: installed ${need[*]}" >&2
    exit 0
  fi
  echo "setup: apt failed (attempt $attempt)" >&2
  sleep 5
done
exit 1
