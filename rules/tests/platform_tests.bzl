"""Analysis tests: known platforms (allow_unknown_platforms) and verify_base reach the CLI.

Also with the rules of the same change set: `buildx_args(build = ...)` takes the build's
verify_base and allow_unknown_platforms (and refuses them beside `build`), `oci_layout_load`'s
`platform` is checked, an archive's verify test passes the flag on.
"""

load("@bazel_skylib//lib:unittest.bzl", "analysistest", "asserts")
load("//rules:defs.bzl", "buildx_args", "buildx_build", "oci_layout_context", "oci_layout_load", "oci_layout_verify_test")

def _refused_test_impl(ctx):
    env = analysistest.begin(ctx)
    for part in ctx.attr.parts:
        asserts.expect_failure(env, part)
    return analysistest.end(env)

_refused_test = analysistest.make(
    _refused_test_impl,
    expect_failure = True,
    attrs = {"parts": attr.string_list(mandatory = True, doc = "Texts the failure message holds.")},
)

def _after_all(argv, flag):
    """Every argument that follows `flag` in argv."""
    return [argv[i + 1] for i in range(len(argv) - 1) if argv[i] == flag]

def _build_flags_test_impl(ctx):
    env = analysistest.begin(ctx)
    actions = [a for a in analysistest.target_actions(env) if a.mnemonic == "BuildxBuild"]
    asserts.equals(env, 1, len(actions), "one BuildxBuild action")
    argv = actions[0].argv
    asserts.equals(env, [ctx.attr.verify_base], _after_all(argv, "--verify-base"))
    asserts.equals(env, [ctx.attr.allow], _after_all(argv, "--allow-unknown-platforms"))
    return analysistest.end(env)

_build_flags_test = analysistest.make(
    _build_flags_test_impl,
    attrs = {
        "allow": attr.string(default = "false"),
        "verify_base": attr.string(default = "size"),
    },
)

def _launcher_test_impl(ctx):
    """The `bazel run` / `bazel test` launcher passes the flags to the CLI (or the helper)."""
    env = analysistest.begin(ctx)
    launchers = [
        a
        for a in analysistest.target_actions(env)
        if a.mnemonic == "FileWrite" and a.outputs.to_list()[0].basename.endswith(".sh")
    ]
    asserts.equals(env, 1, len(launchers), "one launcher")
    for text in ctx.attr.contains:
        asserts.true(env, text in launchers[0].content, "launcher holds %r:\n%s" % (text, launchers[0].content))
    return analysistest.end(env)

_launcher_test = analysistest.make(
    _launcher_test_impl,
    attrs = {"contains": attr.string_list(mandatory = True)},
)

def _resolve_flag_test_impl(ctx):
    env = analysistest.begin(ctx)
    actions = [a for a in analysistest.target_actions(env) if a.mnemonic == "OciLayoutResolve"]
    asserts.equals(env, 1, len(actions))
    asserts.equals(env, ctx.attr.allowed, "--allow-unknown-platforms" in actions[0].argv)
    return analysistest.end(env)

_resolve_flag_test = analysistest.make(
    _resolve_flag_test_impl,
    attrs = {"allowed": attr.bool(mandatory = True)},
)

# The listing every refusal carries (rules/private/platforms.bzl known_platforms_text).
_KNOWN = "known os: aix, android, darwin"
_HOW = "set allow_unknown_platforms = True for an exotic platform"

def platform_test_suite(name):
    """Declares the targets under test and the tests.

    Args:
      name: name of the test_suite.
    """
    layout = "//:example_hello"
    common = dict(dockerfile = "testdata/Dockerfile", srcs = ["testdata/app.txt"], tags = ["manual"])
    tests = []

    def refused(test_name, target, parts):
        _refused_test(name = test_name, target_under_test = target, parts = parts + [_KNOWN, _HOW])
        tests.append(test_name)

    buildx_build(name = "pf_build_amd65", platforms = ["linux/amd64", "linux/amd65"], **common)
    refused("pf_build_amd65_test", ":pf_build_amd65", ["buildx_build", "platforms entry \"linux/amd65\": architecture \"amd65\" is not a known one"])
    buildx_args(name = "pf_args_arm64_v7", platforms = ["linux/arm64/v7"], **common)
    refused("pf_args_arm64_v7_test", ":pf_args_arm64_v7", ["buildx_args", "variant \"v7\" of arm64"])
    oci_layout_context(name = "pf_ctx_amd65", layout = layout, platform = "linux/amd65", tags = ["manual"])
    refused("pf_ctx_amd65_test", ":pf_ctx_amd65", ["oci_layout_context", "platform \"linux/amd65\": architecture \"amd65\""])
    oci_layout_verify_test(name = "pf_verify_plan10", layout = layout, platform = "plan10/amd64", tags = ["manual"])
    refused("pf_verify_plan10_test", ":pf_verify_plan10", ["oci_layout_verify_test", "os \"plan10\""])

    # Aliases containerd normalises and listed variants pass; the defaults reach the helper.
    buildx_build(name = "pf_build_known", platforms = ["linux/x86_64", "linux/arm/v7", "linux/arm64/v8", "linux/amd64/v3"], **common)
    _build_flags_test(name = "pf_build_known_test", target_under_test = ":pf_build_known")
    buildx_build(
        name = "pf_build_exotic",
        allow_unknown_platforms = True,
        platforms = ["linux/amd65", "linux/riscv64/rva22u64"],
        verify_base = "digest",
        **common
    )
    _build_flags_test(name = "pf_build_exotic_test", target_under_test = ":pf_build_exotic", allow = "true", verify_base = "digest")
    buildx_args(name = "pf_args_exotic", allow_unknown_platforms = True, platforms = ["linux/amd65"], verify_base = "digest", **common)
    _launcher_test(
        name = "pf_args_exotic_test",
        target_under_test = ":pf_args_exotic",
        contains = ["'--verify-base' 'digest' '--allow-unknown-platforms' 'true' '--'"],
    )
    buildx_args(name = "pf_args_default", **common)
    _launcher_test(
        name = "pf_args_default_test",
        target_under_test = ":pf_args_default",
        contains = ["'--verify-base' 'size' '--allow-unknown-platforms' 'false' '--'"],
    )
    oci_layout_context(name = "pf_ctx_exotic", layout = layout, platform = "linux/amd65", allow_unknown_platforms = True, tags = ["manual"])
    _resolve_flag_test(name = "pf_ctx_exotic_test", target_under_test = ":pf_ctx_exotic", allowed = True)
    oci_layout_context(name = "pf_ctx_known", layout = layout, platform = "linux/aarch64", tags = ["manual"])
    _resolve_flag_test(name = "pf_ctx_known_test", target_under_test = ":pf_ctx_known", allowed = False)
    oci_layout_verify_test(name = "pf_verify_exotic", layout = layout, platform = "linux/amd65", allow_unknown_platforms = True, tags = ["manual"])
    _launcher_test(name = "pf_verify_exotic_test", target_under_test = ":pf_verify_exotic", contains = ["'--allow-unknown-platforms'"])

    # buildx_args(build = ...): the build's verify_base and allow_unknown_platforms reach the
    # launcher (its platforms were checked with them); given beside build, they are refused.
    buildx_args(name = "pf_args_from_exotic", build = ":pf_build_exotic", tags = ["manual"])
    _launcher_test(
        name = "pf_args_from_exotic_test",
        target_under_test = ":pf_args_from_exotic",
        contains = ["'--verify-base' 'digest' '--allow-unknown-platforms' 'true' '--'"],
    )
    buildx_args(name = "pf_args_from_known", build = ":pf_build_known", tags = ["manual"])
    _launcher_test(
        name = "pf_args_from_known_test",
        target_under_test = ":pf_args_from_known",
        contains = ["'--verify-base' 'size' '--allow-unknown-platforms' 'false' '--'"],
    )
    buildx_args(name = "pf_args_from_verify", build = ":pf_build_known", verify_base = "digest", tags = ["manual"])
    _refused_test(
        name = "pf_args_from_verify_test",
        target_under_test = ":pf_args_from_verify",
        parts = ["buildx_args", "rules/tests:pf_build_known already says what to build", "drop verify_base ("],
    )
    buildx_args(name = "pf_args_from_allow", build = ":pf_build_known", allow_unknown_platforms = True, tags = ["manual"])
    _refused_test(
        name = "pf_args_from_allow_test",
        target_under_test = ":pf_args_from_allow",
        parts = ["buildx_args", "drop allow_unknown_platforms ("],
    )

    # oci_layout_load's platform, and a verify test of an archive (unpacked when it runs).
    oci_layout_load(name = "pf_load_amd65", layout = layout, platform = "linux/amd65", repo_tags = ["app:1"], tags = ["manual"])
    refused("pf_load_amd65_test", ":pf_load_amd65", ["oci_layout_load", "platform \"linux/amd65\": architecture \"amd65\""])
    oci_layout_load(name = "pf_load_exotic", layout = layout, platform = "linux/amd65", allow_unknown_platforms = True, repo_tags = ["app:1"], tags = ["manual"])
    _resolve_flag_test(name = "pf_load_exotic_test", target_under_test = ":pf_load_exotic", allowed = True)
    oci_layout_load(name = "pf_load_known", layout = layout, platform = "linux/arm64/v8", repo_tags = ["app:1"], tags = ["manual"])
    _resolve_flag_test(name = "pf_load_known_test", target_under_test = ":pf_load_known", allowed = False)
    native.genrule(name = "pf_archive", srcs = [layout], outs = ["pf_archive.tar"], cmd = "exit 1", tags = ["manual"])
    oci_layout_verify_test(name = "pf_verify_archive_exotic", layout = ":pf_archive", platform = "linux/amd65", allow_unknown_platforms = True, tags = ["manual"])
    _launcher_test(
        name = "pf_verify_archive_exotic_test",
        target_under_test = ":pf_verify_archive_exotic",
        contains = ["'verify-archive'", "'--' '--platform' 'linux/amd65'", "'--allow-unknown-platforms'"],
    )
    oci_layout_verify_test(name = "pf_verify_archive_amd65", layout = ":pf_archive", platform = "linux/amd65", tags = ["manual"])
    refused("pf_verify_archive_amd65_test", ":pf_verify_archive_amd65", ["oci_layout_verify_test", "architecture \"amd65\""])

    tests.extend([
        "pf_args_from_exotic_test",
        "pf_args_from_known_test",
        "pf_args_from_verify_test",
        "pf_args_from_allow_test",
        "pf_load_exotic_test",
        "pf_load_known_test",
        "pf_verify_archive_exotic_test",
        "pf_build_known_test",
        "pf_build_exotic_test",
        "pf_args_exotic_test",
        "pf_args_default_test",
        "pf_ctx_exotic_test",
        "pf_ctx_known_test",
        "pf_verify_exotic_test",
    ])

    native.test_suite(name = name, tests = tests)
