"""The node toolchain: how the rules' actions get a `node` to run the ocikit CLI bundle.

The ToolchainInfo has the shape rules_nodejs uses (`nodeinfo.node` File or
`nodeinfo.node_path` string), so a rules_nodejs `node_toolchain` target can be registered
for `@ocikit//rules:node_toolchain_type` as it is.
"""

NODE_TOOLCHAIN_TYPE = Label("//rules:node_toolchain_type")

def _ocikit_node_toolchain_impl(ctx):
    if bool(ctx.attr.node) == bool(ctx.attr.node_path):
        fail("ocikit_node_toolchain: set exactly one of node (a label) or node_path (an absolute path)")
    node = ctx.file.node if ctx.attr.node else None
    return [
        platform_common.ToolchainInfo(
            nodeinfo = struct(
                node = node,
                node_path = ctx.attr.node_path,
                version = ctx.attr.version,
            ),
        ),
        DefaultInfo(files = depset([node] if node else [])),
    ]

ocikit_node_toolchain = rule(
    implementation = _ocikit_node_toolchain_impl,
    doc = """A node for ocikit's actions. Made by the `node` module extension from the host's
node; write one yourself to use a vendored node:

```starlark
load("@ocikit//rules:defs.bzl", "ocikit_node_toolchain")

ocikit_node_toolchain(name = "node_impl", node = "//tools:node")

toolchain(
    name = "node",
    toolchain = ":node_impl",
    toolchain_type = "@ocikit//rules:node_toolchain_type",
)
```
and `register_toolchains("//:node")` in MODULE.bazel.""",
    attrs = {
        "node": attr.label(
            allow_single_file = True,
            executable = True,
            cfg = "exec",
            doc = "The node executable (a file). Exactly one of `node` and `node_path`.",
        ),
        "node_path": attr.string(
            doc = "Absolute path of a node executable on the execution machine (not tracked by Bazel). Exactly one of `node` and `node_path`.",
        ),
        "version": attr.string(
            doc = "The node version (informational, e.g. `v24.21.0`).",
        ),
    },
)

def _missing_node_toolchain_impl(ctx):
    # The host has no usable node: fail only when a rule needs node, with the fix.
    fail(ctx.attr.message)

missing_node_toolchain = rule(
    implementation = _missing_node_toolchain_impl,
    doc = "What the node extension registers when the host has no usable node: using it fails with `message`.",
    attrs = {"message": attr.string(mandatory = True)},
)

def node_for_action(ctx):
    """The node toolchain's executable for ctx.actions.run.

    Args:
      ctx: a rule context whose rule declares NODE_TOOLCHAIN_TYPE.

    Returns:
      struct(executable = File or path string, inputs = list of Files, short_path = str or None)
    """
    info = ctx.toolchains[NODE_TOOLCHAIN_TYPE].nodeinfo
    node = getattr(info, "node", None)
    if node:
        return struct(executable = node, inputs = [node], file = node, path = None)
    path = getattr(info, "node_path", "") or getattr(info, "target_tool_path", "")
    if not path:
        fail("the toolchain registered for @ocikit//rules:node_toolchain_type provides neither nodeinfo.node nor nodeinfo.node_path")
    return struct(executable = path, inputs = [], file = None, path = path)
