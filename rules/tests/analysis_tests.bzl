"""Analysis tests of ocikit's rules: arguments and config built, bad attributes rejected."""

load("@bazel_skylib//lib:unittest.bzl", "analysistest", "asserts")
load(
    "//rules:defs.bzl",
    "BuildxBuildInfo",
    "OciLayoutContextInfo",
    "buildx_args",
    "buildx_build",
    "oci_layout_context",
    "oci_layout_index",
    "oci_layout_load",
    "oci_layout_tarball",
    "oci_layout_verify_test",
    "ocikit_node_toolchain",
)
load("//rules/private:cli.bzl", "ocikit_cli")
load("//rules/private:node_toolchain.bzl", "missing_node_toolchain")
load(":testing.bzl", _action = "action_of", _after = "after", _failure_test = "failure_test", _failure_test_impl = "failure_test_impl", _file_write = "file_write")

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
    asserts.true(env, argv[1].endswith("ocikit.cjs"), "the CLI bundle runs directly: %s" % argv)
    i = argv.index("resolve")
    asserts.true(env, argv[i - 1].endswith("ocikit.cjs"), "the CLI bundle runs resolve")
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
    asserts.equals(env, {"A": "1", "B": "two words", "SOURCE_DATE_EPOCH": "0"}, config["buildArg"], "source_date_epoch \"0\" (the default) is a build argument")
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

# A tcp:// daemon with TLS material: the three files are inputs and reach ocikit build as
# --tlscacert/--tlscert/--tlskey (from the attributes, else --@ocikit//:docker_tls).
def _build_tls_test_impl(ctx):
    env = analysistest.begin(ctx)
    action = _action(env, "BuildxBuild")
    argv = action.argv
    asserts.equals(env, ctx.attr.docker_host, action.env.get("DOCKER_HOST"))
    asserts.equals(env, ["DOCKER_HOST", "PATH"], sorted(action.env.keys()), "the TLS files travel as arguments, not environment")
    inputs = [f.path for f in action.inputs.to_list()]
    for flag, suffix in [("--tlscacert", ctx.attr.ca), ("--tlscert", ctx.attr.cert), ("--tlskey", ctx.attr.key)]:
        value = _after(argv, flag)
        if not suffix:
            asserts.equals(env, None, value, "no %s" % flag)
            continue
        asserts.true(env, value and value.endswith(suffix), "%s %s ends with %s" % (flag, value, suffix))
        asserts.true(env, value in inputs, "%s file %s is an input" % (flag, value))
    return analysistest.end(env)

_TLS_TEST_ATTRS = {
    "ca": attr.string(),
    "cert": attr.string(),
    "docker_host": attr.string(default = "tcp://127.0.0.1:2376"),
    "key": attr.string(),
}

_build_tls_test = analysistest.make(_build_tls_test_impl, attrs = _TLS_TEST_ATTRS)

_build_tls_flag_test = analysistest.make(
    _build_tls_test_impl,
    attrs = _TLS_TEST_ATTRS,
    config_settings = {
        str(Label("//:docker_host")): "tcp://127.0.0.1:2376",
        str(Label("//:docker_tls")): str(Label("//rules/tests:tls_flag_files")),
    },
)

# The flag's TLS material applies to tcp:// daemons only: a unix socket target ignores it.
_build_tls_flag_unix_test = analysistest.make(
    _build_tls_test_impl,
    attrs = _TLS_TEST_ATTRS,
    config_settings = {
        str(Label("//:docker_tls")): str(Label("//rules/tests:tls_flag_files")),
    },
)

_tls_flag_failure_test = analysistest.make(
    _failure_test_impl,
    expect_failure = True,
    attrs = {"message": attr.string(mandatory = True)},
    config_settings = {
        str(Label("//:docker_host")): "tcp://127.0.0.1:2376",
        str(Label("//:docker_tls")): str(Label("//rules/tests:tls_flag_incomplete")),
    },
)

# Execution requirements (no-remote, no-remote-exec) are not visible to Starlark in Bazel 7
# (Action has no execution_info): test/e2e/bazel.sh checks them with `bazel aquery`.

def _args_from_build_test_impl(ctx):
    env = analysistest.begin(ctx)
    spec = _spec(env)
    actions = analysistest.target_actions(env)
    asserts.equals(env, [], [a for a in actions if a.mnemonic == "BuildxContext"], "the build's staged context is reused, not staged again")
    config = spec["config"]
    asserts.equals(env, ["type=oci,dest=out,tar=false"], config["output"], "outputs added to the build's config")
    asserts.equals(env, ["linux/amd64"], config["platform"], "the build's flags")
    asserts.equals(env, {"SOURCE_DATE_EPOCH": "0"}, config["buildArg"])
    asserts.true(env, config["context"].endswith("/rules/tests/build_sde.context"), "the build's context: %s" % config["context"])
    asserts.equals(env, "rules/tests/build_sde.context", spec["run"]["context"])
    asserts.equals(env, ["base"], [c["name"] for c in spec["contexts"]])
    config_action = _action(env, "BuildxConfig")
    asserts.true(env, any([f.basename == "ctx_tag_platform.json" for f in config_action.inputs.to_list()]), "the build's resolve outputs are inputs")
    outs = sorted([f.basename for f in config_action.outputs.to_list()])
    asserts.equals(env, ["args_from_build.argv.json", "args_from_build.buildx.json", "args_from_build.run.json"], outs)
    return analysistest.end(env)

_args_from_build_test = analysistest.make(_args_from_build_test_impl)

def _build_provider_test_impl(ctx):
    env = analysistest.begin(ctx)
    info = analysistest.target_under_test(env)[BuildxBuildInfo]
    asserts.equals(env, "build_app", info.layout.basename)
    asserts.true(env, info.context.is_directory, "context is the staged tree artifact")
    asserts.equals(env, ["ctx_tag_platform.json"], [f.basename for f in info.resolved.to_list()])
    asserts.false(env, "output" in info.spec["config"], "a buildx_build config has no --output")
    return analysistest.end(env)

_build_provider_test = analysistest.make(_build_provider_test_impl)

# ---------------------------------------------------------------------------------------
# oci_layout_index, oci_layout_tarball, oci_layout_load; archives as layouts

def _index_action_test_impl(ctx):
    env = analysistest.begin(ctx)
    target = analysistest.target_under_test(env)
    action = _action(env, "OciLayoutIndex")
    argv = action.argv
    i = argv.index("index")
    asserts.true(env, argv[i - 1].endswith("ocikit.cjs"), "the CLI bundle runs index")
    unpack = _action(env, "OciLayoutUnpack")
    unpacked = unpack.outputs.to_list()[0]
    asserts.true(env, unpacked.is_directory, "the archive is unpacked into a tree artifact")
    asserts.true(env, unpacked.path.endswith("/rules/tests/index_full.unpacked/1"), unpacked.path)
    asserts.true(env, any([f.basename == "hello_gen.tar" for f in unpack.inputs.to_list()]), "the archive is the unpack input")
    asserts.equals(env, ["examples/hello", unpacked.path], argv[i + 1:i + 3], "sources in order, before the flags (array flags take what follows)")
    out = target[DefaultInfo].files.to_list()
    asserts.equals(env, 1, len(out))
    asserts.true(env, out[0].is_directory, "the merged layout is a tree artifact")
    asserts.equals(env, "index_full", out[0].basename)
    asserts.equals(env, out[0].path, _after(argv, "--out"))
    annotations = [argv[j + 1] for j in range(len(argv) - 1) if argv[j] == "--annotation"]
    asserts.equals(env, ["index-descriptor:org.example.note=n", "org.opencontainers.image.version=1.0"], annotations, "annotations in key order")
    asserts.equals(env, "example.com/app:1.0", _after(argv, "--tag"))
    asserts.true(env, _after(argv, "--json-out").endswith("/index_full.index.json"))
    asserts.false(env, any([a.startswith("/") for a in argv[1:]]), "no absolute paths: %s" % argv)
    asserts.true(env, any([f.path == "examples/hello/oci-layout" for f in action.inputs.to_list()]), "layout files are inputs")
    asserts.true(env, unpacked in action.inputs.to_list(), "the unpacked archive is an input")
    return analysistest.end(env)

_index_action_test = analysistest.make(_index_action_test_impl)

def _tarball_action_test_impl(ctx):
    env = analysistest.begin(ctx)
    target = analysistest.target_under_test(env)
    argv = _action(env, "OciLayoutPack").argv
    i = argv.index("pack")
    asserts.equals(env, "examples/hello", argv[i + 1])
    out = target[DefaultInfo].files.to_list()
    asserts.equals(env, 1, len(out))
    asserts.equals(env, ctx.attr.basename, out[0].basename)
    asserts.equals(env, out[0].path, _after(argv, "--out"))
    asserts.equals(env, ctx.attr.gzip, "--gzip" in argv)
    asserts.equals(env, ctx.attr.docker_manifest, "--docker-manifest" in argv)
    return analysistest.end(env)

_tarball_action_test = analysistest.make(
    _tarball_action_test_impl,
    attrs = {"basename": attr.string(), "docker_manifest": attr.bool(), "gzip": attr.bool()},
)

def _load_test_impl(ctx):
    env = analysistest.begin(ctx)
    target = analysistest.target_under_test(env)
    resolve = _action(env, "OciLayoutResolve").argv
    asserts.equals(env, "linux/amd64", _after(resolve, "--platform"))
    asserts.equals(env, "hello", _after(resolve, "--tag"))
    action = _action(env, "OciLayoutLoadArchive")
    argv = action.argv
    helper = [j for j in range(len(argv)) if argv[j].endswith("helper.mjs")]
    asserts.equals(env, "load-archive", argv[helper[0] + 1] if helper else None, "runs the helper's load-archive")
    names = [argv[j + 1] for j in range(len(argv) - 1) if argv[j] == "--name"]
    asserts.equals(env, [
        "docker.io/library/app:1.0",
        "docker.io/team/app:latest",
        "example.com:5000/team/app:v1",
        "localhost/app:dev",
    ], names, "repo tags normalised as docker does, duplicates dropped")
    archive = target[DefaultInfo].files.to_list()
    asserts.equals(env, ["load_full.tar"], [f.basename for f in archive])
    asserts.equals(env, archive[0].path, _after(argv, "--out"))
    asserts.equals(env, "examples/hello", _after(argv, "--layout"))
    info = [f for f in action.outputs.to_list() if f.basename == "load_full.load.json"]
    asserts.equals(env, 1, len(info), "the load info (config digests for the classic image store)")
    asserts.equals(env, info[0].path if info else None, _after(argv, "--info"))

    writes = [a for a in analysistest.target_actions(env) if a.mnemonic == "FileWrite" and a.outputs.to_list()[0].basename == "load_full.sh"]
    asserts.equals(env, 1, len(writes), "the launcher")
    script = writes[0].content if writes else ""
    for want in ["'load'", "'--docker' '%s'" % ctx.attr.docker, "'--docker-host' '%s'" % ctx.attr.docker_host, "'--name' 'localhost/app:dev'", "'--info'"]:
        asserts.true(env, want in script, "launcher has %s:\n%s" % (want, script))
    runfiles = target[DefaultInfo].default_runfiles.files.to_list()
    asserts.true(env, archive[0] in runfiles, "the archive is in the runfiles")
    asserts.true(env, bool(info) and info[0] in runfiles, "the load info is in the runfiles")
    return analysistest.end(env)

_load_test = analysistest.make(
    _load_test_impl,
    attrs = {
        "docker": attr.string(default = "docker"),
        "docker_host": attr.string(default = "unix:///var/run/docker.sock"),
    },
)

_load_flags_test = analysistest.make(
    _load_test_impl,
    attrs = {
        "docker": attr.string(default = "/opt/docker/bin/docker"),
        "docker_host": attr.string(default = "unix:///run/user/1000/docker.sock"),
    },
    config_settings = {
        str(Label("//:docker")): "/opt/docker/bin/docker",
        str(Label("//:docker_host")): "unix:///run/user/1000/docker.sock",
    },
)

def _context_archive_test_impl(ctx):
    env = analysistest.begin(ctx)
    target = analysistest.target_under_test(env)
    unpack = _action(env, "OciLayoutUnpack")
    unpacked = unpack.outputs.to_list()[0]
    asserts.true(env, unpacked.path.endswith("/rules/tests/ctx_archive.layout"), unpacked.path)
    argv = _action(env, "OciLayoutResolve").argv
    asserts.equals(env, unpacked.path, argv[argv.index("resolve") + 1], "resolve reads the unpacked layout")
    info = target[OciLayoutContextInfo]
    asserts.equals(env, unpacked.path, info.layout_path, "buildx reads the unpacked layout too")
    asserts.equals(env, [unpacked], info.layout_files.to_list())
    return analysistest.end(env)

_context_archive_test = analysistest.make(_context_archive_test_impl)

def _verify_archive_test_impl(ctx):
    env = analysistest.begin(ctx)
    actions = analysistest.target_actions(env)
    asserts.equals(env, [], [a for a in actions if a.mnemonic == "OciLayoutUnpack"], "a verify test unpacks when it runs, not in the build")
    writes = [a for a in actions if a.mnemonic == "FileWrite" and a.outputs.to_list()[0].basename == "verify_archive.sh"]
    asserts.equals(env, 1, len(writes))
    script = writes[0].content if writes else ""
    for want in ["'verify-archive'", "'--archive'", "rules/tests/hello_gen.tar", "'--platform' 'linux/arm64'"]:
        asserts.true(env, want in script, "launcher has %s:\n%s" % (want, script))
    return analysistest.end(env)

_verify_archive_test = analysistest.make(_verify_archive_test_impl)

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

    buildx_build(name = "build_sde", build_args = {"SOURCE_DATE_EPOCH": "0"}, contexts = {"base": ":ctx_tag_platform"}, platforms = ["linux/amd64"], **common)
    buildx_args(name = "args_from_build", build = ":build_sde", outputs = ["type=oci,dest=out,tar=false"], tags = ["manual"])
    _args_from_build_test(name = "args_from_build_test", target_under_test = ":args_from_build")
    _build_provider_test(name = "build_provider_test", target_under_test = ":build_app")
    tests.extend(["args_from_build_test", "build_provider_test"])
    buildx_args(name = "bad_build_and_attrs", build = ":build_app", platforms = ["linux/arm64"], **common)
    failing("bad_build_and_attrs_test", "already says what to build and how its bases are checked; drop dockerfile, platforms, srcs", target = ":bad_build_and_attrs")
    buildx_args(name = "bad_no_dockerfile", tags = ["manual"])
    failing("bad_no_dockerfile_test", "give dockerfile (and the other attributes of the build), or build = a buildx_build target", target = ":bad_no_dockerfile")
    buildx_args(name = "bad_build_provider", build = ":ctx_digest", tags = ["manual"])
    failing("bad_build_provider_test", "BuildxBuildInfo", target = ":bad_build_provider")

    # An archive (a genrule's .tar) as a layout; never built by these analysis tests.
    native.genrule(name = "hello_gen_tar", srcs = [layout], outs = ["hello_gen.tar"], cmd = "exit 1", tags = ["manual"])
    oci_layout_context(name = "ctx_archive", layout = ":hello_gen_tar", tags = ["manual"])
    _context_archive_test(name = "context_archive_test", target_under_test = ":ctx_archive")
    oci_layout_verify_test(name = "verify_archive", layout = ":hello_gen_tar", platform = "linux/arm64", tags = ["manual"])
    _verify_archive_test(name = "verify_archive_test", target_under_test = ":verify_archive")
    tests.extend(["context_archive_test", "verify_archive_test"])

    # buildifier: disable=unsorted-dict-items
    oci_layout_index(
        name = "index_full",
        layouts = [layout, ":hello_gen_tar"],
        annotations = {"org.opencontainers.image.version": "1.0", "index-descriptor:org.example.note": "n"},
        tag = "example.com/app:1.0",
        tags = ["manual"],
    )
    _index_action_test(name = "index_action_test", target_under_test = ":index_full")
    tests.append("index_action_test")
    oci_layout_index(name = "bad_index_tag", layouts = [layout], tag = "-x", tags = ["manual"])
    failing("bad_index_tag_test", "tag \"-x\" is not a valid org.opencontainers.image.ref.name", target = ":bad_index_tag")
    oci_layout_index(name = "bad_index_tag_underscore", layouts = [layout], tag = "_x", tags = ["manual"])
    failing("bad_index_tag_underscore_test", "tag \"_x\" is not a valid org.opencontainers.image.ref.name", target = ":bad_index_tag_underscore")
    oci_layout_index(name = "bad_index_annotation", layouts = [layout], annotations = {"a=b": "c"}, tags = ["manual"])
    failing("bad_index_annotation_test", "annotations key \"a=b\" must be a non-empty name without '='", target = ":bad_index_annotation")
    oci_layout_index(name = "bad_index_files", layouts = [":two_files"], tags = ["manual"])
    failing("bad_index_files_test", "rules/tests:two_files): 2 files but 0 named oci-layout", target = ":bad_index_files")

    oci_layout_tarball(name = "tarball_plain", layout = layout, tags = ["manual"])
    _tarball_action_test(name = "tarball_action_test", target_under_test = ":tarball_plain", basename = "tarball_plain.tar", gzip = False)
    oci_layout_tarball(name = "tarball_gz", layout = layout, gzip = True, tags = ["manual"])
    _tarball_action_test(name = "tarball_gzip_test", target_under_test = ":tarball_gz", basename = "tarball_gz.tar.gz", gzip = True)
    oci_layout_tarball(name = "tarball_docker", layout = layout, docker_manifest = True, tags = ["manual"])
    _tarball_action_test(name = "tarball_docker_test", target_under_test = ":tarball_docker", basename = "tarball_docker.tar", docker_manifest = True)
    tests.extend(["tarball_action_test", "tarball_gzip_test", "tarball_docker_test"])

    oci_layout_load(
        name = "load_full",
        layout = layout,
        platform = "linux/amd64",
        repo_tags = ["app:1.0", "team/app", "example.com:5000/team/app:v1", "localhost/app:dev", "docker.io/library/app:1.0"],
        tag = "hello",
        tags = ["manual"],
    )
    _load_test(name = "load_test", target_under_test = ":load_full")
    _load_flags_test(name = "load_flags_test", target_under_test = ":load_full")
    tests.extend(["load_test", "load_flags_test"])
    for i, bad in enumerate(["App:1", "app@sha256:" + "0" * 64, "app:-x", "app:", "-app", "a//b", "a..b", "example.com:port/app"]):
        oci_layout_load(name = "bad_repo_tag_%d" % i, layout = layout, repo_tags = [bad], tags = ["manual"])
        failing("bad_repo_tag_%d_test" % i, "repo_tags entry %r is not a docker image name with a tag" % bad, target = ":bad_repo_tag_%d" % i)
    oci_layout_load(name = "bad_load_tag", layout = layout, repo_tags = ["app:1"], tag = "-x", tags = ["manual"])
    failing("bad_load_tag_test", "tag \"-x\" is not a valid tag", target = ":bad_load_tag")

    # TLS material (analysis only: empty files with docker's DOCKER_CERT_PATH names).
    native.genrule(
        name = "tls_files",
        outs = ["tls/ca.pem", "tls/cert.pem", "tls/key.pem", "tls_other/ca.pem", "tls_other/cert.pem"],
        cmd = "touch $(OUTS)",
        tags = ["manual"],
    )
    native.filegroup(name = "tls_flag_files", srcs = ["tls/ca.pem", "tls/cert.pem", "tls/key.pem"], tags = ["manual"])
    native.filegroup(name = "tls_flag_incomplete", srcs = ["tls_other/ca.pem", "tls_other/cert.pem"], tags = ["manual"])
    tls = dict(tls_ca = "tls/ca.pem", tls_cert = "tls/cert.pem", tls_key = "tls/key.pem")
    buildx_build(name = "build_tls", docker_host = "tcp://127.0.0.1:2376", **dict(common, **tls))
    _build_tls_test(name = "build_tls_attrs_test", target_under_test = ":build_tls", ca = "tls/ca.pem", cert = "tls/cert.pem", key = "tls/key.pem")
    _build_tls_flag_test(name = "build_tls_flag_test", target_under_test = ":build_app", ca = "tls/ca.pem", cert = "tls/cert.pem", key = "tls/key.pem")
    _build_tls_flag_unix_test(name = "build_tls_flag_unix_test", target_under_test = ":build_app", docker_host = "unix:///var/run/docker.sock")
    tests.extend(["build_tls_attrs_test", "build_tls_flag_test", "build_tls_flag_unix_test"])
    buildx_build(name = "bad_tls_partial", docker_host = "tcp://127.0.0.1:2376", tls_ca = "tls/ca.pem", **common)
    failing("bad_tls_partial_test", "tls_ca, tls_cert and tls_key go together", target = ":bad_tls_partial")
    buildx_build(name = "bad_tls_unix", docker_host = "unix:///var/run/docker.sock", **dict(common, **tls))
    failing("bad_tls_unix_test", "are for a tcp:// docker daemon, but docker_host is \"unix:///var/run/docker.sock\"", target = ":bad_tls_unix")
    buildx_build(name = "bad_docker_host", docker_host = "builder:2376", **common)
    failing("bad_docker_host_test", "docker_host \"builder:2376\" is not a docker host address", target = ":bad_docker_host")
    _tls_flag_failure_test(name = "bad_tls_flag_test", target_under_test = ":build_app", message = "--@ocikit//:docker_tls must hold files named ca.pem, cert.pem, key.pem (docker's DOCKER_CERT_PATH names); missing key.pem")
    tests.append("bad_tls_flag_test")

    ocikit_cli(name = "cli_absent", srcs = [], tags = ["manual"])
    _cli_missing_test(name = "cli_missing_test", target_under_test = ":cli_absent")
    tests.append("cli_missing_test")

    missing_node_toolchain(name = "node_absent", message = "ocikit: no usable node (test)", tags = ["manual"])
    failing("node_missing_test", "ocikit: no usable node (test)", target = ":node_absent")
    ocikit_node_toolchain(name = "node_both", node = "testdata/app.txt", node_path = "/usr/bin/node", tags = ["manual"])
    failing("node_both_test", "set exactly one of node (a label) or node_path", target = ":node_both")

    native.test_suite(name = name, tests = tests)
