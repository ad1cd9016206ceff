"""Test helpers of ocikit's rules (not part of the public API)."""

load("//rules/private:common.bzl", "TOOLCHAINS", "launcher")

def _node_script_test_impl(ctx):
    argv = [("rf", ctx.file.script.short_path)]
    for a in ctx.attr.args_:
        argv.append(("lit", ctx.expand_location(a, ctx.attr.data).replace("$(BINDIR)", ctx.bin_dir.path)))
    exe = ctx.actions.declare_file(ctx.label.name + ".sh")
    node_files = launcher(ctx, output = exe, argv = argv)
    runfiles = ctx.runfiles(files = node_files + [ctx.file.script] + ctx.files.data)
    for d in ctx.attr.data:
        runfiles = runfiles.merge(d[DefaultInfo].default_runfiles)
    return [DefaultInfo(executable = exe, runfiles = runfiles)]

node_script_test = rule(
    implementation = _node_script_test_impl,
    doc = "Runs a JavaScript test with the node toolchain's node; cwd is the workspace's runfiles directory.",
    attrs = {
        "args_": attr.string_list(doc = "Arguments; $(rootpath ...) of data and $(BINDIR) are expanded."),
        "data": attr.label_list(allow_files = True),
        "script": attr.label(allow_single_file = [".mjs"], mandatory = True),
    },
    test = True,
    toolchains = TOOLCHAINS,
)

def _bindir_neutral_impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name)
    ctx.actions.expand_template(
        template = ctx.file.src,
        output = out,
        substitutions = {ctx.bin_dir.path: "bazel-out/CONFIG/bin"},
    )
    return [DefaultInfo(files = depset([out]))]

bindir_neutral = rule(
    implementation = _bindir_neutral_impl,
    doc = "Copies a file with this configuration's bin directory written as bazel-out/CONFIG/bin, so goldens hold on every host.",
    attrs = {"src": attr.label(allow_single_file = True, mandatory = True)},
)
