"""oci_layout_index: merge per-platform layouts into one OCI image index (`ocikit index`)."""

load(":common.bzl", "CLI_ATTRS", "TOOLCHAINS", "is_tag", "run_node")
load(":layout.bzl", "layout_of_files")

def _oci_layout_index_impl(ctx):
    rule = "oci_layout_index %s" % ctx.label
    if ctx.attr.tag and not is_tag(ctx.attr.tag):
        fail("%s: tag %r is not a valid tag; write letters, digits and . _ - : / + (up to 1024), starting with a letter, digit or _ (e.g. \"1.0\" or \"example.com/app:1.0\")" % (rule, ctx.attr.tag))
    for key in ctx.attr.annotations:
        if not key or "=" in key or key == "index-descriptor:":
            fail("%s: annotations key %r must be a non-empty name without '=' (prefix index-descriptor: for the index.json entry)" % (rule, key))

    sources = []
    inputs = []
    for i, target in enumerate(ctx.attr.layouts):
        layout = layout_of_files(
            ctx,
            target[DefaultInfo].files.to_list(),
            "%s layouts[%d] (%s)" % (rule, i, target.label),
            unpack_name = "%s.unpacked/%d" % (ctx.label.name, i),
        )
        sources.append(layout.path)
        inputs.append(layout.files)

    out = ctx.actions.declare_directory(ctx.label.name)
    report = ctx.actions.declare_file(ctx.label.name + ".index.json")
    args = ctx.actions.args()
    args.add(ctx.file._cli)
    args.add("index")

    # Sources first: --annotation and --tag take every value up to the next flag.
    args.add_all(sources)
    args.add("--out", out.path)
    for key in sorted(ctx.attr.annotations):
        args.add("--annotation", "%s=%s" % (key, ctx.attr.annotations[key]))
    if ctx.attr.tag:
        args.add("--tag", ctx.attr.tag)

    # The report replaces the table on stderr and the digest on stdout (quiet actions).
    args.add("--json-out", report)
    run_node(
        ctx,
        arguments = [args],
        inputs = depset([ctx.file._cli], transitive = inputs),
        outputs = [out, report],
        mnemonic = "OciLayoutIndex",
        progress_message = "Merging %d OCI layouts into the index %%{label}" % len(sources),
    )
    return [
        DefaultInfo(
            files = depset([out]),
            runfiles = ctx.runfiles(files = [out]),
        ),
        OutputGroupInfo(report = depset([report])),
    ]

oci_layout_index = rule(
    implementation = _oci_layout_index_impl,
    doc = """Merges OCI layouts (e.g. one `buildx_build` per platform) into one new layout whose
index.json names one OCI image index: `ocikit index` in an action. The result is the tree
artifact `<name>/`, usable as the `layout` of `oci_layout_context`, `oci_layout_verify_test`,
`oci_layout_tarball`, `oci_layout_load` and another `oci_layout_index`. `<name>.index.json`
(output group `report`) is `ocikit index --json`: the new index's descriptor, its manifests
with their platforms and sources, and how each blob was taken.

Each layout contributes what its `latest` tag names, or its only manifest (a `buildx_build`
output has one): an image, or an index whose platforms are all taken. Platforms, per-descriptor
annotations and attestation manifests are carried through; `annotations` become the new index's
annotations, so nothing is lost the way buildx's multi-node merge drops index annotations. Two
different images for one platform fail the action (`OCIKIT_INDEX_CONFLICT`, naming both). Blobs
are copied (a reflink where the file system can) and hashed; JSON is canonical, so the same
inputs give the same bytes. Docker media types (a Docker manifest list) cannot carry
annotations: asking for them fails with `OCIKIT_ANNOTATIONS_UNSUPPORTED`.

```starlark
load("@ocikit//rules:defs.bzl", "buildx_build", "oci_layout_index")

[
    buildx_build(
        name = "app_" + arch,
        dockerfile = "Dockerfile",
        srcs = ["app.txt"],
        contexts = {"base": ":base"},
        platforms = ["linux/" + arch],
    )
    for arch in ["amd64", "arm64"]
]

oci_layout_index(
    name = "app",
    layouts = [":app_amd64", ":app_arm64"],
    annotations = {"org.opencontainers.image.version": "1.0"},
    tag = "1.0",
)
```""",
    attrs = dict(CLI_ATTRS, **{
        "annotations": attr.string_dict(
            doc = "Annotations of the new index (`--annotation KEY=VALUE`, in key order). A key prefixed `index-descriptor:` goes on the index's entry in index.json instead.",
        ),
        "layouts": attr.label_list(
            mandatory = True,
            allow_empty = False,
            allow_files = True,
            doc = "The layouts to merge, in order. Each is a directory (a `buildx_build`, another `oci_layout_index`, rules_oci's `oci_image`), a filegroup of one layout's files (exactly one `oci-layout`), or an OCI archive `.tar` / `.tar.gz` / `.tgz` (unpacked by an action first). A source directory works but is not tracked by Bazel (warned).",
        ),
        "tag": attr.string(
            doc = "The tag of the new index (`org.opencontainers.image.ref.name` on its index.json entry), e.g. `1.0` or `example.com/app:1.0`. Default: none (the only manifest of the layout, which `oci_layout_context` takes without a tag).",
        ),
    }),
    toolchains = TOOLCHAINS,
)
