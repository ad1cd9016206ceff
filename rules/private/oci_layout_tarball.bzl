"""oci_layout_tarball: an OCI layout as a byte-identical archive (`ocikit pack`)."""

load(":common.bzl", "CLI_ATTRS", "TOOLCHAINS", "run_node")
load(":layout.bzl", "layout_attr", "layout_root")

def _oci_layout_tarball_impl(ctx):
    layout = layout_root(ctx)
    out = ctx.actions.declare_file(ctx.label.name + (".tar.gz" if ctx.attr.gzip else ".tar"))
    report = ctx.actions.declare_file(ctx.label.name + ".pack.json")
    args = ctx.actions.args()
    args.add(ctx.file._cli)
    args.add("pack")
    args.add(layout.path)
    args.add("--out", out)
    if ctx.attr.gzip:
        args.add("--gzip")
    if ctx.attr.docker_manifest:
        args.add("--docker-manifest")
    args.add("--json-out", report)
    run_node(
        ctx,
        arguments = [args],
        inputs = depset([ctx.file._cli], transitive = [layout.files]),
        outputs = [out, report],
        mnemonic = "OciLayoutPack",
        progress_message = "Packing the OCI layout %{label}",
    )
    return [
        DefaultInfo(
            files = depset([out]),
            runfiles = ctx.runfiles(files = [out]),
        ),
        OutputGroupInfo(report = depset([report])),
    ]

oci_layout_tarball = rule(
    implementation = _oci_layout_tarball_impl,
    doc = """Packs an OCI layout into an OCI archive, `<name>.tar` (or `<name>.tar.gz` with
`gzip`): `ocikit pack` in an action. The bytes depend only on the layout: entries sorted, mtime
0, uid/gid 0, fixed modes; only `oci-layout`, `index.json` and the blobs index.json reaches are
packed, symlinked blobs as the files they point to. The gzip stream has a fixed header; its
bytes are those of node's zlib (the same node version gives the same bytes).
`<name>.pack.json` (output group `report`) is `ocikit pack --json`: entries, blobs, sizes, and
the zlib version.

The archive is what `skopeo copy oci-archive:...`, `crane push`, `ocikit unpack` and
`docker load` read (daemons with the classic image store only with `docker_manifest`), and is
itself accepted as the `layout` of every ocikit rule.

```starlark
load("@ocikit//rules:defs.bzl", "oci_layout_tarball")

oci_layout_tarball(
    name = "app_tar",
    layout = ":app",  # a buildx_build, an oci_layout_index, ...
)
```""",
    attrs = dict(CLI_ATTRS, **{
        "docker_manifest": attr.bool(
            default = False,
            doc = "Also write Docker's `manifest.json` (`--docker-manifest`, as `docker save` does), so that `docker load` on the classic image store (dockerd's default before 29) reads the archive: one entry per image an `index.json` entry names alone, named by its `io.containerd.image.name`; a multi-platform index gets none.",
        ),
        "gzip": attr.bool(
            default = False,
            doc = "Compress the archive (`--gzip`, deflate level 6): `<name>.tar.gz`.",
        ),
        "layout": layout_attr(),
    }),
    toolchains = TOOLCHAINS,
)
