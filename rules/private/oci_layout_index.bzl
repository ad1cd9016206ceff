"""oci_layout_index: merge per-platform layouts into one OCI image index (`ocikit index`)."""

load(":common.bzl", "CLI_ATTRS", "TOOLCHAINS", "check_selection", "is_ref_name", "run_node")
load(":layout.bzl", "layout_of_files")

def _selections(ctx, rule):
    """layout_tags and layout_digests checked: {label: (tag, digest)} ("" when not given).

    Each key must be one of `layouts`; tags and digests are checked with the grammar of the
    `tag` / `digest` attributes (check_selection): full names too, as `ocikit index` splits a
    source where the layout exists (the one reference grammar).
    """
    layouts = {t.label: True for t in ctx.attr.layouts}
    chosen = {}
    for attr_name, position in [("layout_tags", 0), ("layout_digests", 1)]:
        for target, value in getattr(ctx.attr, attr_name).items():
            where = "%s %s[%s]" % (rule, attr_name, target.label)
            if target.label not in layouts:
                fail("%s: %s is not one of layouts; add it to layouts or drop this entry" % (where, target.label))
            if not value:
                fail("%s: the value is empty; give a %s or drop this entry" % (where, "tag" if position == 0 else "digest"))
            if position == 0:
                check_selection(where, value, "", "")
            else:
                check_selection(where, "", value, "")
            pair = chosen.get(target.label, ("", ""))
            chosen[target.label] = (value, pair[1]) if position == 0 else (pair[0], value)
    return chosen

def _oci_layout_index_impl(ctx):
    rule = "oci_layout_index %s" % ctx.label
    if "" in ctx.attr.extra_tags:
        fail("%s: extra_tags has an empty entry; drop it" % rule)
    for tag in [ctx.attr.tag] + ctx.attr.extra_tags:
        if tag and not is_ref_name(tag):
            fail("%s: tag %r is not a valid org.opencontainers.image.ref.name; write alphanumerics joined by - . _ : @ + (or --), components separated by / (up to 255), e.g. \"1.0\" or \"example.com/app:1.0\"" % (rule, tag))
    chosen = _selections(ctx, rule)
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
        tag, digest = chosen.get(target.label, ("", ""))

        # `ocikit index`'s source grammar, LAYOUT[:TAG][@DIGEST] (the digest wins, as in buildx).
        sources.append(layout.path + (":" + tag if tag else "") + ("@" + digest if digest else ""))
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
    args.add_all(([ctx.attr.tag] if ctx.attr.tag else []) + ctx.attr.extra_tags, before_each = "--tag")
    if ctx.attr.oci:
        args.add("--oci")
    if ctx.attr.strict:
        args.add("--strict")
    if ctx.attr.trust_inputs:
        args.add("--trust-inputs")

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
output has one): an image, or an index whose platforms are all taken. `layout_tags` and
`layout_digests` choose another image per layout, keyed by the label in `layouts`: the source
becomes `LAYOUT:TAG`, `LAYOUT@DIGEST` or `LAYOUT:TAG@DIGEST`, the grammar of `ocikit index`
(the digest wins over the tag, as in buildx). Tags and digests are checked at analysis with the
grammar of the `tag` and `digest` attributes of `oci_layout_context` (full names such as
`example.com/app:v1` included: `ocikit index` splits a source where the layout exists). Platforms, per-descriptor
annotations and attestation manifests are carried through; `annotations` become the new index's
annotations, so nothing is lost the way buildx's multi-node merge drops index annotations. Two
different images for one platform fail the action (`OCIKIT_INDEX_CONFLICT`, naming both). Blobs
are copied (a reflink where the file system can) and hashed; JSON is canonical, so the same
inputs give the same bytes (`trust_inputs = True`: sizes checked instead of hashes). Docker
media types (a Docker manifest list) cannot carry annotations: asking for them fails with
`OCIKIT_ANNOTATIONS_UNSUPPORTED`, unless `oci = True` converts the Docker manifests to OCI ones.
`ocikit index --link hard` has no attribute: hardlinks would share inodes between the output
tree artifact and the inputs, and Bazel's making its outputs read-only would then change the
inputs (a source directory's files too); under linux-sandbox they are copied anyway (EXDEV).

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

# One platform of each of two multi-platform layouts: a tag of one, a digest of the other.
oci_layout_index(
    name = "mixed",
    layouts = [":vendor_image", ":app"],
    layout_tags = {":vendor_image": "linux-s390x"},
    layout_digests = {":app": "sha256:..."},
    extra_tags = ["latest"],
    tag = "1.0",
)
```""",
    attrs = dict(CLI_ATTRS, **{
        "annotations": attr.string_dict(
            doc = "Annotations of the new index (`--annotation KEY=VALUE`, in key order). A key prefixed `index-descriptor:` goes on the index's entry in index.json instead.",
        ),
        "extra_tags": attr.string_list(
            doc = "More tags of the new index, after `tag` (each another `--tag`, another index.json entry naming the same index), checked as `tag` is.",
        ),
        "layout_digests": attr.label_keyed_string_dict(
            allow_files = True,
            doc = "Layout (a label of `layouts`) -> the digest of the image or index to take from it (`sha256:` and 64 lowercase hex digits): `LAYOUT@DIGEST`, which wins over a `layout_tags` entry of the same layout, as in buildx. Default: none.",
        ),
        "layout_tags": attr.label_keyed_string_dict(
            allow_files = True,
            doc = "Layout (a label of `layouts`) -> the tag of the image or index to take from it (`LAYOUT:TAG`): any tag the `tag` attribute takes, full names such as `example.com/app:v1` included. Layouts not named take their `latest` tag or their only manifest. Default: none.",
        ),
        "layouts": attr.label_list(
            mandatory = True,
            allow_empty = False,
            allow_files = True,
            doc = "The layouts to merge, in order. Each is a directory (a `buildx_build`, another `oci_layout_index`, rules_oci's `oci_image`), a filegroup of one layout's files (exactly one `oci-layout`), or an OCI archive `.tar` / `.tar.gz` / `.tgz` (unpacked by an action first). A source directory works but is not tracked by Bazel (warned).",
        ),
        "oci": attr.bool(
            default = False,
            doc = "Convert Docker manifests (and a Docker manifest list) to OCI media types (`--oci`): new manifest blobs, config and layer bytes unchanged. Needed for `annotations` over Docker-media-type images.",
        ),
        "strict": attr.bool(
            default = False,
            doc = "Reject spec deviations in the sources that are otherwise warnings (`--strict`).",
        ),
        "tag": attr.string(
            doc = "The tag of the new index (`org.opencontainers.image.ref.name` on its index.json entry), e.g. `1.0` or `example.com/app:1.0`: the image spec's ref.name grammar, as `ocikit index --tag` checks it. Default: none (the only manifest of the layout, which `oci_layout_context` takes without a tag).",
        ),
        "trust_inputs": attr.bool(
            default = False,
            doc = "Check the blobs taken by size only (`--trust-inputs`). Default: each is hashed where the output holds it, so a corrupt source blob fails the action (`OCIKIT_BLOB_DIGEST_MISMATCH`).",
        ),
    }),
    toolchains = TOOLCHAINS,
)
