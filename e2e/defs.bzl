"""Helpers of the e2e workspace (not part of ocikit)."""

_LAYOUT_SH = r"""
set -euo pipefail
out="$1"; listing="$2"; text="$3"; tag="$4"; scratch="$5"; damage="${6:-}"
work="$(mktemp -d)"
mkdir -p "$work/root" "$out/blobs/sha256"
printf '%s\n' "$text" >"$work/root/base.txt"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=ustar \
  -C "$work/root" -cf "$work/layer.tar" base.txt
blob() { # blob FILE -> prints "DIGEST SIZE" and stores the blob
  local d s
  d="$(sha256sum "$1" | cut -d' ' -f1)"; s="$(stat -c %s "$1")"
  cp "$1" "$out/blobs/sha256/$d"
  printf '%s %s\n' "$d" "$s"
}
read -r layer layer_size < <(blob "$work/layer.tar")
printf '{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
  "$layer" >"$work/config.json"
read -r config config_size < <(blob "$work/config.json")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
  "$config" "$config_size" "$layer" "$layer_size" >"$work/manifest.json"
read -r manifest manifest_size < <(blob "$work/manifest.json")
entries="$(printf '{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"amd64","os":"linux"}}' "$manifest" "$manifest_size")"
if [ "$scratch" = 1 ]; then
  # A zero-layer (FROM scratch) linux/arm64 image beside it.
  printf '{"architecture":"arm64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":[]}}' >"$work/config-arm64.json"
  read -r aconfig aconfig_size < <(blob "$work/config-arm64.json")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[]}' \
    "$aconfig" "$aconfig_size" >"$work/manifest-arm64.json"
  read -r amanifest amanifest_size < <(blob "$work/manifest-arm64.json")
  entries="$entries,$(printf '{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"arm64","os":"linux"}}' "$amanifest" "$amanifest_size")"
fi
if [ "$scratch" = 1 ]; then
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s]}' "$entries" >"$work/index.json"
  read -r index index_size < <(blob "$work/index.json")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}\n' \
    "$index" "$index_size" "$tag" >"$out/index.json"
else
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}\n' \
    "$manifest" "$manifest_size" "$tag" >"$out/index.json"
fi
printf '{"imageLayoutVersion":"1.0.0"}\n' >"$out/oci-layout"
case "$damage" in
  missing) rm "$out/blobs/sha256/$layer" ;;
  corrupt) printf 'X' | dd of="$out/blobs/sha256/$layer" bs=1 count=1 conv=notrunc status=none ;;
esac
# What the layout holds, to prove later that nobody wrote into it.
(cd "$out" && find . -mindepth 1 -printf '%y %p\n' | LC_ALL=C sort && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) >"$listing"
rm -rf "$work"
"""

def _e2e_layout_impl(ctx):
    out = ctx.actions.declare_directory(ctx.label.name)
    listing = ctx.actions.declare_file(ctx.label.name + ".listing")
    ctx.actions.run_shell(
        outputs = [out, listing],
        command = _LAYOUT_SH,
        arguments = [out.path, listing.path, ctx.attr.text, ctx.attr.tag, "1" if ctx.attr.arm64_scratch else "0", ctx.attr.damage],
        mnemonic = "E2eLayout",
        progress_message = "Writing the OCI layout %{label}",
    )
    return [
        DefaultInfo(files = depset([out])),
        OutputGroupInfo(listing = depset([listing])),
    ]

e2e_layout = rule(
    implementation = _e2e_layout_impl,
    doc = "One action that writes an OCI layout: an index with a one-layer linux/amd64 image (/base.txt), optionally a zero-layer linux/arm64 one, and a listing of it.",
    attrs = {
        "arm64_scratch": attr.bool(doc = "Add a zero-layer linux/arm64 image: the tag then names a two-platform index."),
        "damage": attr.string(
            values = ["", "missing", "corrupt"],
            doc = "Break the amd64 layer blob: `missing` deletes it, `corrupt` changes its first byte (same size).",
        ),
        "tag": attr.string(default = "v1"),
        "text": attr.string(mandatory = True),
    },
)
