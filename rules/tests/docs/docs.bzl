"""Rendering docs/rules.md from starlark_doc_extract output, with the node toolchain."""

load("//rules/private:common.bzl", "TOOLCHAINS", "run_node")

def _render_docs_impl(ctx):
    out = ctx.actions.declare_file(ctx.attr.out)
    args = ctx.actions.args()
    args.add(ctx.file.script)
    args.add(out)
    args.add_all(ctx.files.srcs)
    run_node(
        ctx,
        arguments = [args],
        inputs = depset([ctx.file.script] + ctx.files.srcs),
        outputs = [out],
        mnemonic = "OcikitDocs",
        progress_message = "Rendering %{output}",
    )
    return [DefaultInfo(files = depset([out]))]

render_docs = rule(
    implementation = _render_docs_impl,
    doc = "Renders Markdown from ModuleInfo text protos (starlark_doc_extract's `.textproto`).",
    attrs = {
        "out": attr.string(mandatory = True),
        "script": attr.label(allow_single_file = [".mjs"], default = "render.mjs"),
        "srcs": attr.label_list(allow_files = [".textproto"], mandatory = True),
    },
    toolchains = TOOLCHAINS,
)
