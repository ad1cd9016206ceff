"""The ocikit CLI bundle as a target: the file when it exists, else a failing placeholder."""

_MISSING = """ocikit: dist/ocikit.cjs is missing from the ocikit module ({where}).
  hint: in a checkout used with local_path_override run `npm ci && npm run build` there;
        release archives ship dist/ocikit.cjs prebuilt;
        or point --@ocikit//:cli at a label that builds the bundle."""

def _ocikit_cli_impl(ctx):
    if len(ctx.files.srcs) > 1:
        fail("ocikit_cli: srcs must hold at most one file (dist/ocikit.cjs), got %d" % len(ctx.files.srcs))
    if ctx.files.srcs:
        return [DefaultInfo(files = depset(ctx.files.srcs))]

    # Analysis must keep working (tests that only analyse need no bundle); every action that
    # runs the CLI fails here instead, with the fix in the message.
    placeholder = ctx.actions.declare_file(ctx.label.name + "_missing/ocikit.cjs")
    ctx.actions.run_shell(
        outputs = [placeholder],
        command = "printf '%s\\n' \"$1\" >&2; exit 1",
        arguments = [_MISSING.format(where = ctx.label.workspace_root or "main repository")],
        mnemonic = "OcikitCliMissing",
        progress_message = "ocikit CLI bundle missing",
    )
    return [DefaultInfo(files = depset([placeholder]))]

ocikit_cli = rule(
    implementation = _ocikit_cli_impl,
    doc = """The bundled ocikit CLI (`dist/ocikit.cjs`), or a placeholder whose action fails
with instructions when the bundle has not been built.""",
    attrs = {
        "srcs": attr.label_list(
            allow_files = [".cjs", ".mjs", ".js"],
            doc = "Zero or one file: the bundle (a glob of `dist/ocikit.cjs`).",
        ),
    },
)
