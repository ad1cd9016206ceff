#!/usr/bin/env bash
# Usage: one_manifest_tar.sh OUT MANIFEST_DIGEST SIZE ARCH LAYOUT_FILE...
# Writes OUT, an OCI archive (GNU tar, as a genrule would) of the layout among LAYOUT_FILE...
# whose index.json names one linux/ARCH manifest of it, untagged.
set -euo pipefail
out="$1" digest="$2" size="$3" arch="$4"
shift 4
src=""
for f in "$@"; do
  if [[ "$(basename "$f")" == oci-layout ]]; then src="$(dirname "$f")"; fi
done
[[ -n "$src" ]] || { echo "no oci-layout among the files" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -rL "$src/blobs" "$src/oci-layout" "$work/"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"platform":{"architecture":"%s","os":"linux"}}]}\n' \
  "$digest" "$size" "$arch" >"$work/index.json"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$work" -cf "$out" oci-layout index.json blobs
