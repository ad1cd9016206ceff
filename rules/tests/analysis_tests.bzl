"""Analysis tests of ocikit's rules: arguments and config built, bad attributes rejected."""

load("@bazel_skylib//lib:unittest.bzl", "analysistest", "asserts")
load("//rules:defs.bzl", "OciLayoutContextInfo", "buildx_args", "buildx_build", "oci_layout_context", "ocikit_node_toolchain")
load("//rules/private:cli.bzl", "ocikit_cli")
load("//rules/private:node_toolchain.bzl", "missing_node_toolchain")
load(":testing.bzl", _action = "action_of", _after = "after", _failure_test = "failure_test", _file_write = "file_write")

# ---------------------------------------------------------------------------------------
# helpers

def _spec(env):
    write = _file_write(env, ".spec.json")
    return json.decode(write.content) if write else {}

# ---------------------------------------------------------------------------------------
# oci_layout_context

def _context_resolve_test_impl(ctx):
    env = analysistest.begin(ctx)
    target = analysistest.target_under_test(env)
    action = _action(env, "OciLayoutResolve")
    argv = action.argv
    asserts.true(env, argv[1].endswith("ocikit.mjs"), "the CLI bundle runs directly: %s" % argv)
    i = argv.index("resolve")
    asserts.true(env, argv[i - 1].endswith("ocikit.mjs"), "the CLI bundle runs resolve")
    asserts.equals(env, "examples/hello", argv[i + 1], "layout passed by its execroot-relative path")
    asserts.equals(env, "hello", _after(argv, "--tag"))
    asserts.equals(env, "linux/amd64", _after(argv, "--platform"))
    asserts.equals(env, "--json-out", argv[-2], "the descriptor JSON goes to a file (no stdout capture)")
    asserts.equals(env, None, _after(argv, "--digest"), "no --digest when none is asked for")
    out = _after(argv, "--json-out")
    asserts.true(env, out.endswith("/ctx_tag_platform.json"), "output is <name>.json: %s" % out)

    info = target[OciLayoutContextInfo]
    asserts.equals(env, "hello", info.tag)
    asserts.equals(env, "linux/amd64", info.platform)
    asserts.equals(env, None, info.digest)
    asserts.equals(env, "examples/hello", info.layout_path)
    asserts.equals(env, "examples/hello", info.layout_short_path)
    asserts.equals(env, "oci-layout", info.layout.basename, "files given: layout is the oci-layout file")
    asserts.equals(env, info.json.path, out)
    asserts.true(env, len(info.layout_files.to_list()) >= 3, "every layout file is an input")
    return analysistest.end(env)

_context_resolve_test = analysistest.make(_context_resolve_test_impl)

def _context_full_ref_test_impl(ctx):
    env = analysistest.begin(ctx)
    target = analysistest.target_under_test(env)
    argv = _action(env, "OciLayoutResolve").argv
    asserts.equals(env, "example.com/app:1.0", _after(argv, "--tag"), "a full reference name is a tag")
    asserts.equals(env, "example.com/app:1.0", target[OciLayoutContextInfo].tag)
    return analysistest.end(env)

_context_full_ref_test = analysistest.make(_context_full_ref_test_impl)

def _context_digest_test_impl(ctx):
    env = analysistest.begin(ctx)
    argv = _action(env, "OciLayoutResolve").argv
    asserts.equals(env, "sha256:" + "6dafd0a3bd45c2583e2dab3fb99e1b23b6f8a879adb01f16c5a2d928fb5d99d3", _after(argv, "--digest"))
    asserts.equals(env, None, _after(argv, "--tag"))
    asserts.true(env, "--strict" in argv, "--strict passed")
    return analysistest.end(env)

_context_digest_test = analysistest.make(_context_digest_test_impl)

# ---------------------------------------------------------------------------------------
# buildx_args / buildx_build

def _args_spec_test_impl(ctx):
    env = analysistest.begin(ctx)
    spec = _spec(env)
    config = spec["config"]
    asserts.equals(env, ["linux/amd64", "linux/arm64"], config["platform"])
    asserts.equals(env, {"A": "1", "B": "two words"}, config["buildArg"])
    asserts.equals(env, {"index:org.opencontainers.image.title": "t"}, config["annotation"])
    asserts.equals(env, {"team": "ocikit"}, config["label"])
    asserts.equals(env, ["example.com/a:1", "example.com/a:latest"], config["tag"])
    asserts.equals(env, ["type=oci,dest=out,tar=false"], config["output"])
    asserts.equals(env, "final", config["target"])
    asserts.equals(env, "none", config["network"])
    asserts.equals(env, True, config["noCache"])
    asserts.equals(env, "false", config["provenance"])
    asserts.equals(env, "true", config["sbom"])
    asserts.false(env, "buildContext" in config, "contexts are filled in by the config action, pinned")

    # The staged context is a tree artifact; the Dockerfile sits in it at its package path.
    asserts.true(env, config["context"].endswith("/rules/tests/args_full.context"), config["context"])
    asserts.false(env, config["context"].startswith("/"), "no absolute paths")
    asserts.equals(env, config["context"] + "/testdata/Dockerfile", config["file"])
    asserts.equals(env, "rules/tests/args_full.context", spec["run"]["context"])

    asserts.equals(env, [{
        "layout": "examples/hello",
        "name": "base",
        "resolved": spec["contexts"][0]["resolved"],
        "runLayout": "examples/hello",
    }, {
        "layout": "examples/hello",
        "name": "docker.io/library/alpine:3",
        "resolved": spec["contexts"][1]["resolved"],
        "runLayout": "examples/hello",
    }], spec["contexts"], "contexts sorted by name, with execroot and runfiles paths")

    config_action = _action(env, "BuildxConfig")
    resolved = [f.basename for f in config_action.inputs.to_list() if f.basename.endswith(".json") and not f.basename.endswith(".spec.json")]
    asserts.equals(env, sorted(["ctx_tag_platform.json", "ctx_digest.json"]), sorted(resolved), "the config action reads each context's resolve output")
    outs = sorted([f.basename for f in config_action.outputs.to_list()])
    asserts.equals(env, ["args_full.argv.json", "args_full.buildx.json", "args_full.run.json"], outs)

    stage = _action(env, "BuildxContext")
    staged = [f for f in stage.outputs.to_list()]
    asserts.equals(env, 1, len(staged))
    asserts.true(env, staged[0].is_directory, "the build context is a tree artifact")
    return analysistest.end(env)

_args_spec_test = analysistest.make(_args_spec_test_impl)

def _build_action_test_impl(ctx):
    env = analysistest.begin(ctx)
    target = analysistest.target_under_test(env)
    action = _action(env, "BuildxBuild")
    argv = action.argv
    asserts.equals(env, "build", argv[2])
    asserts.equals(env, ctx.attr.docker_host, action.env.get("DOCKER_HOST"))
    asserts.equals(env, "/usr/local/bin:/usr/bin:/bin", action.env.get("PATH"))
    asserts.equals(env, ["DOCKER_HOST", "PATH"], sorted(action.env.keys()), "no other environment reaches buildx")
    asserts.equals(env, "quiet", _after(argv, "--progress"))
    asserts.equals(env, ctx.attr.docker, _after(argv, "--docker"))

    outs = action.outputs.to_list()
    layout = [f for f in outs if f.is_directory]
    asserts.equals(env, 1, len(layout), "one tree artifact output")
    asserts.equals(env, target.label.name, layout[0].basename, "the layout is named after the target")
    asserts.equals(env, layout[0].path, _after(argv, "--out"))
    asserts.equals(env, [layout[0]], target[DefaultInfo].files.to_list(), "the layout is the default output (usable as a layout attribute)")
    asserts.true(env, any([f.basename.endswith(".buildx.json") for f in action.inputs.to_list()]), "the config is an input")
    if ctx.attr.has_context:
        asserts.true(env, any([f.path == "examples/hello/oci-layout" for f in action.inputs.to_list()]), "context layouts are inputs")
    return analysistest.end(env)

_build_action_test = analysistest.make(
    _build_action_test_impl,
    attrs = {
        "docker": attr.string(default = "docker"),
        "docker_host": attr.string(default = "unix:///var/run/docker.sock"),
        "has_context": attr.bool(default = True),
    },
)

_build_action_flags_test = analysistest.make(
    _build_action_test_impl,
    attrs = {
        "docker": attr.string(default = "/opt/docker/bin/docker"),
        "docker_host": attr.string(default = "unix:///run/user/1000/docker.sock"),
        "has_context": attr.bool(default = True),
    },
    config_settings = {
        str(Label("//:docker")): "/opt/docker/bin/docker",
        str(Label("//:docker_host")): "unix:///run/user/1000/docker.sock",
    },
)

# Execution requirements (no-remote, no-remote-exec) are not visible to Starlark in Bazel 7
# (Action has no execution_info): test/e2e/bazel.sh checks them with `bazel aquery`.

# ---------------------------------------------------------------------------------------
# CLI and node

def _cli_missing_test_impl(ctx):
    env = analysistest.begin(ctx)
    action = _action(env, "OcikitCliMissing")
    asserts.true(env, "npm ci && npm run build" in " ".join(action.argv), "the failing action says how to build the bundle")
    return analysistest.end(env)

_cli_missing_test = analysistest.make(_cli_missing_test_impl)

# ---------------------------------------------------------------------------------------

def analysis_test_suite(name):
    """Declares the targets under test and the analysis tests.

    Args:
      name: name of the test_suite.
    """
    layout = "//:example_hello"
    tests = []

    def failing(test_name, message, **kwargs):
        _failure_test(name = test_name, target_under_test = kwargs.pop("target"), message = message)
        tests.append(test_name)

    oci_layout_context(name = "ctx_tag_platform", layout = layout, tag = "hello", platform = "linux/amd64", tags = ["manual"])
    _context_resolve_test(name = "context_resolve_test", target_under_test = ":ctx_tag_platform")
    tests.append("context_resolve_test")

    oci_layout_context(
        name = "ctx_digest",
        layout = layout,
        digest = "sha256:6dafd0a3bd45c2583e2dab3fb99e1b23b6f8a879adb01f16c5a2d928fb5d99d3",
        strict = True,
        tags = ["manual"],
    )
    _context_digest_test(name = "context_digest_test", target_under_test = ":ctx_digest")
    tests.append("context_digest_test")

    oci_layout_context(name = "bad_digest", layout = layout, digest = "sha256:abc", tags = ["manual"])
    failing("bad_digest_test", "digest \"sha256:abc\" is not a digest; write sha256: followed by 64 lowercase hex digits", target = ":bad_digest")
    oci_layout_context(name = "ctx_full_ref", layout = layout, tag = "example.com/app:1.0", tags = ["manual"])
    _context_full_ref_test(name = "context_full_ref_test", target_under_test = ":ctx_full_ref")
    tests.append("context_full_ref_test")
    oci_layout_context(name = "bad_tag_digest", layout = layout, tag = "app@sha256:x", tags = ["manual"])
    failing("bad_tag_digest_test", "tag \"app@sha256:x\" is not a valid tag", target = ":bad_tag_digest")
    oci_layout_context(name = "bad_tag", layout = layout, tag = "-x", tags = ["manual"])
    failing("bad_tag_test", "tag \"-x\" is not a valid tag", target = ":bad_tag")
    oci_layout_context(name = "bad_platform", layout = layout, platform = "amd64", tags = ["manual"])
    failing("bad_platform_test", "platform \"amd64\" is not os/arch[/variant]", target = ":bad_platform")
    oci_layout_context(name = "bad_layout_files", layout = ":two_files", tags = ["manual"])
    native.filegroup(name = "two_files", srcs = ["testdata/Dockerfile", "testdata/app.txt"], tags = ["manual"])
    failing("bad_layout_files_test", "2 files but 0 named oci-layout", target = ":bad_layout_files")

    common = dict(dockerfile = "testdata/Dockerfile", srcs = ["testdata/app.txt"], tags = ["manual"])

    # buildifier: disable=unsorted-dict-items
    buildx_args(
        name = "args_full",
        annotations = {"index:org.opencontainers.image.title": "t"},
        build_args = {"B": "two words", "A": "1"},
        contexts = {"docker.io/library/alpine:3": ":ctx_digest", "base": ":ctx_tag_platform"},
        labels = {"team": "ocikit"},
        network = "none",
        no_cache = True,
        outputs = ["type=oci,dest=out,tar=false"],
        platforms = ["linux/amd64", "linux/arm64"],
        provenance = "false",
        repo_tags = ["example.com/a:1", "example.com/a:latest"],
        sbom = "true",
        target = "final",
        **common
    )
    _args_spec_test(name = "args_spec_test", target_under_test = ":args_full")
    tests.append("args_spec_test")

    buildx_args(name = "bad_context_name", contexts = {"-base": ":ctx_digest"}, **common)
    failing("bad_context_name_test", "contexts key \"-base\" is not a build context name", target = ":bad_context_name")
    buildx_args(name = "bad_platforms", platforms = ["linux"], **common)
    failing("bad_platforms_test", "platforms entry \"linux\" is not os/arch[/variant]", target = ":bad_platforms")
    buildx_args(name = "bad_build_arg", build_args = {"A=B": "x"}, **common)
    failing("bad_build_arg_test", "build_args key \"A=B\" must be a non-empty name without '='", target = ":bad_build_arg")

    # //rules:defs.bzl lands at rules/defs.bzl (not in this package); so does this genrule's output.
    native.genrule(name = "defs_here", outs = ["rules/defs.bzl"], cmd = "echo generated >$@", tags = ["manual"])
    buildx_args(
        name = "bad_collision",
        dockerfile = "testdata/Dockerfile",
        srcs = ["//rules:defs.bzl", ":defs_here"],
        tags = ["manual"],
    )
    failing("bad_collision_test", "both land at \"rules/defs.bzl\" in the build context", target = ":bad_collision")
    buildx_args(name = "bad_context_provider", contexts = {"base": "//:example_hello"}, **common)
    failing("bad_context_provider_test", "OciLayoutContextInfo", target = ":bad_context_provider")

    buildx_build(name = "build_app", contexts = {"base": ":ctx_tag_platform"}, **common)
    _build_action_test(name = "build_action_test", target_under_test = ":build_app")
    _build_action_flags_test(name = "build_action_flags_test", target_under_test = ":build_app")
    tests.extend(["build_action_test", "build_action_flags_test"])
    buildx_build(name = "build_host_attr", docker_host = "tcp://127.0.0.1:2375", **common)
    _build_action_test(name = "build_docker_host_attr_test", target_under_test = ":build_host_attr", docker_host = "tcp://127.0.0.1:2375", has_context = False)
    tests.append("build_docker_host_attr_test")

    ocikit_cli(name = "cli_absent", srcs = [], tags = ["manual"])
    _cli_missing_test(name = "cli_missing_test", target_under_test = ":cli_absent")
    tests.append("cli_missing_test")

    missing_node_toolchain(name = "node_absent", message = "ocikit: no usable node (test)", tags = ["manual"])
    failing("node_missing_test", "ocikit: no usable node (test)", target = ":node_absent")
    ocikit_node_toolchain(name = "node_both", node = "testdata/app.txt", node_path = "/usr/bin/node", tags = ["manual"])
    failing("node_both_test", "set exactly one of node (a label) or node_path", target = ":node_both")

    native.test_suite(name = name, tests = tests)
