"""oci_layout_context: pin an OCI layout (tag/digest/platform -> digest) without copying it."""

load(":common.bzl", "CLI_ATTRS", "TOOLCHAINS", "check_selection", "layout_root", "run_node")
load(":platforms.bzl", "ALLOW_UNKNOWN_PLATFORMS_DOC", "check_known_platforms")
load(":providers.bzl", "OciLayoutContextInfo")

def _oci_layout_context_impl(ctx):
    check_selection("oci_layout_context %s" % ctx.label, ctx.attr.tag, ctx.attr.digest, ctx.attr.platform)
    check_known_platforms("oci_layout_context %s" % ctx.label, "platform", [ctx.attr.platform] if ctx.attr.platform else [], ctx.attr.allow_unknown_platforms)
    layout = layout_root(ctx)
    out = ctx.actions.declare_file(ctx.label.name + ".json")

    args = ctx.actions.args()
    args.add(ctx.file._cli)
    args.add("resolve")
    args.add(layout.path)
    if ctx.attr.tag:
        args.add("--tag", ctx.attr.tag)
    if ctx.attr.digest:
        args.add("--digest", ctx.attr.digest)
    if ctx.attr.platform:
        args.add("--platform", ctx.attr.platform)
    if ctx.attr.strict:
        args.add("--strict")
    if ctx.attr.allow_unknown_platforms:
        args.add("--allow-unknown-platforms")
    args.add("--json-out", out)

    run_node(
        ctx,
        arguments = [args],
        inputs = depset([ctx.file._cli], transitive = [layout.files]),
        outputs = [out],
        mnemonic = "OciLayoutResolve",
        progress_message = "Resolving OCI layout %{label}",
    )
    return [
        DefaultInfo(
            files = depset([out]),
            runfiles = ctx.runfiles(files = [out], transitive_files = layout.files),
        ),
        OciLayoutContextInfo(
            digest = ctx.attr.digest or None,
            json = out,
            layout = layout.file,
            layout_files = layout.files,
            layout_path = layout.path,
            layout_short_path = layout.short_path,
            platform = ctx.attr.platform or None,
            tag = ctx.attr.tag or None,
        ),
    ]

oci_layout_context = rule(
    implementation = _oci_layout_context_impl,
    doc = """Pins an OCI image layout for `docker buildx build`: runs `ocikit resolve --json` in an
action (no bytes copied, nothing written into the layout) and provides `OciLayoutContextInfo`
plus `<name>.json` (the resolved descriptor). Use it as a value of `contexts` in `buildx_args`
/ `buildx_build`; the build is then pinned to the resolved digest.

```starlark
load("@ocikit//rules:defs.bzl", "oci_layout_context")

oci_layout_context(
    name = "base",
    layout = ":base_image",  # e.g. an oci_image from rules_oci, or a buildx_build
    platform = "linux/amd64",
)
```""",
    attrs = dict(CLI_ATTRS, **{
        "allow_unknown_platforms": attr.bool(
            default = False,
            doc = ALLOW_UNKNOWN_PLATFORMS_DOC,
        ),
        "digest": attr.string(
            doc = "Select this digest (`sha256:...`) among the layout's manifests and indexes; wins over `tag`, as in buildx. Default: none.",
        ),
        "layout": attr.label(
            mandatory = True,
            allow_files = True,
            doc = "The OCI image layout: a directory (tree artifact such as rules_oci's `oci_image`, a `buildx_build`, or a source directory) or a set of files that contains exactly one `oci-layout` file (e.g. `glob([\"img/**\"])`).",
        ),
        "platform": attr.string(
            doc = "Pick one platform's manifest out of an index: `os/arch[/variant]` (e.g. `linux/arm64`). Default: pin what the tag or digest names (the whole index).",
        ),
        "strict": attr.bool(
            default = False,
            doc = "Reject layouts that deviate from the OCI spec in ways ocikit otherwise accepts with a warning (`--strict`).",
        ),
        "tag": attr.string(
            doc = "The tag to resolve, matched as buildx matches it (`io.containerd.image.name`, then `org.opencontainers.image.ref.name`). Default: `latest`, or the only manifest of the layout.",
        ),
    }),
    toolchains = TOOLCHAINS,
    provides = [OciLayoutContextInfo],
)
