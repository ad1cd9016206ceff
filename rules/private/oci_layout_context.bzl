"""oci_layout_context: pin an OCI layout (tag/digest/platform -> digest) without copying it."""

load(":common.bzl", "CLI_ATTRS", "TOOLCHAINS", "check_selection")
load(":layout.bzl", "layout_attr", "layout_root", "resolve_layout")
load(":platforms.bzl", "allow_unknown_platforms_attr", "check_platform_attr")
load(":providers.bzl", "OciLayoutContextInfo")

def _oci_layout_context_impl(ctx):
    check_selection("oci_layout_context %s" % ctx.label, ctx.attr.tag, ctx.attr.digest, ctx.attr.platform)
    check_platform_attr(ctx, "oci_layout_context %s" % ctx.label)
    layout = layout_root(ctx)
    out = ctx.actions.declare_file(ctx.label.name + ".json")
    resolve_layout(ctx, layout, out)
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
        "allow_unknown_platforms": allow_unknown_platforms_attr(),
        "digest": attr.string(
            doc = "Select this digest (`sha256:...`) among the layout's manifests and indexes; wins over `tag`, as in buildx. Default: none.",
        ),
        "layout": layout_attr(),
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
