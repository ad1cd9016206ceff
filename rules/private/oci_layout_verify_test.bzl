"""oci_layout_verify_test: `bazel test` fails when an OCI layout is incomplete or corrupt."""

load(":common.bzl", "CLI_ATTRS", "TOOLCHAINS", "check_selection", "launcher")
load(":layout.bzl", "layout_attr", "layout_root")
load(":platforms.bzl", "allow_unknown_platforms_attr", "check_platform_attr")

def _oci_layout_verify_test_impl(ctx):
    check_selection("oci_layout_verify_test %s" % ctx.label, ctx.attr.tag, ctx.attr.digest, ctx.attr.platform)
    check_platform_attr(ctx, "oci_layout_verify_test %s" % ctx.label)

    # An archive is unpacked when the test runs: a broken one fails the test, not the build.
    layout = layout_root(ctx, unpack = False)
    if layout.archive:
        argv = [
            ("rf", ctx.file._helper.short_path),
            ("lit", "verify-archive"),
            ("lit", "--cli"),
            ("rf", ctx.file._cli.short_path),
            ("lit", "--archive"),
            ("rf", layout.short_path),
            ("lit", "--"),
        ]
    else:
        argv = [
            ("rf", ctx.file._cli.short_path),
            ("lit", "verify"),
            ("rf", layout.short_path),
        ]
    for flag, value in [("--tag", ctx.attr.tag), ("--digest", ctx.attr.digest), ("--platform", ctx.attr.platform)]:
        if value:
            argv.extend([("lit", flag), ("lit", value)])
    if not ctx.attr.digests:
        argv.append(("lit", "--no-digests"))
    if ctx.attr.strict:
        argv.append(("lit", "--strict"))
    if ctx.attr.allow_unknown_platforms:
        argv.append(("lit", "--allow-unknown-platforms"))
    exe = ctx.actions.declare_file(ctx.label.name + ".sh")
    node_files = launcher(ctx, output = exe, argv = argv)
    return [DefaultInfo(
        executable = exe,
        runfiles = ctx.runfiles(files = node_files + [ctx.file._cli, ctx.file._helper], transitive_files = layout.files),
    )]

oci_layout_verify_test = rule(
    implementation = _oci_layout_verify_test_impl,
    doc = """A test that runs `ocikit verify` on an OCI image layout: every blob reachable from
the selection (or from all of index.json) present, of the declared size and digest. Fails
with each problem named (blob, manifest, tag, platform).

```starlark
load("@ocikit//rules:defs.bzl", "oci_layout_verify_test")

oci_layout_verify_test(
    name = "app_verify",
    layout = ":app",  # a buildx_build, an oci_layout_index, an oci_image, a .tar...
)
```""",
    attrs = dict(CLI_ATTRS, **{
        "allow_unknown_platforms": allow_unknown_platforms_attr(),
        "digest": attr.string(
            doc = "Verify only what this digest reaches. Default: everything index.json reaches.",
        ),
        "digests": attr.bool(
            default = True,
            doc = "Hash every blob. False checks presence and sizes only (`--no-digests`).",
        ),
        "layout": layout_attr("unpacked into a temporary directory when the test runs (`ocikit unpack` hashes every blob; a broken archive fails the test)"),
        "platform": attr.string(
            doc = "Verify only this platform's manifest (`os/arch[/variant]`) of the selection.",
        ),
        "strict": attr.bool(
            default = False,
            doc = "Also fail on spec deviations that are otherwise warnings (`--strict`).",
        ),
        "tag": attr.string(
            doc = "Verify only what this tag reaches. Default: everything index.json reaches.",
        ),
    }),
    test = True,
    toolchains = TOOLCHAINS,
)
