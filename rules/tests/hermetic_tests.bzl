"""Analysis tests of buildx_build's reproducibility and hermeticity attributes.

source_date_epoch (default "0", a build argument in the config, so `buildx_args(build = ...)`
has it too; "stamp" / "{KEY}" read the workspace status in the action, only with --stamp; ""
none; build_args wins) and allow_pull (the Dockerfile check the actions and `bazel run` run);
`bazel run` asks for rewrite-timestamp when the build has an epoch.
"""

load("@bazel_skylib//lib:unittest.bzl", "analysistest", "asserts")
load("//rules:defs.bzl", "buildx_args", "buildx_build", "oci_layout_context")
load(":testing.bzl", "action_of", "after", "failure_test", "file_write")

def _epoch_test_impl(ctx):
    env = analysistest.begin(ctx)
    action = action_of(env, "BuildxBuild")
    argv = action.argv
    asserts.equals(env, "true" if ctx.attr.hermetic else "false", after(argv, "--hermetic"), "--hermetic")
    asserts.equals(env, "error", after(argv, "--unused-context"), "an unused context fails the action")
    spec = file_write(env, ".spec.json")
    build_args = json.decode(spec.content)["config"].get("buildArg", {}) if spec else {}
    want = ctx.attr.epoch if ctx.attr.epoch != "-" else None
    asserts.equals(env, want, build_args.get("SOURCE_DATE_EPOCH"), "SOURCE_DATE_EPOCH in the config's build arguments")
    asserts.equals(env, None, after(argv, "--source-date-epoch"), "a number goes into the config, not the action's flags")
    key = ctx.attr.key if ctx.attr.key else None
    asserts.equals(env, key, after(argv, "--source-date-epoch-key"), "--source-date-epoch-key")
    status = after(argv, "--status-file")
    if ctx.attr.status:
        asserts.true(env, status != None and status.endswith(ctx.attr.status), "status file %s" % status)
        asserts.true(env, any([f.path == status for f in action.inputs.to_list()]), "the status file is an input")
    else:
        asserts.equals(env, None, status, "no status file read")
    return analysistest.end(env)

_EPOCH_ATTRS = {
    "epoch": attr.string(default = "0", doc = "expected SOURCE_DATE_EPOCH build argument, - for none"),
    "hermetic": attr.bool(default = True),
    "key": attr.string(),
    "status": attr.string(doc = "expected suffix of --status-file"),
}

_epoch_test = analysistest.make(_epoch_test_impl, attrs = _EPOCH_ATTRS)

_epoch_stamp_test = analysistest.make(
    _epoch_test_impl,
    attrs = _EPOCH_ATTRS,
    config_settings = {"//command_line_option:stamp": True},
)

def _run_launcher_test_impl(ctx):
    env = analysistest.begin(ctx)
    write = file_write(env, ".run.sh")
    text = write.content if write else ""
    want = "'--hermetic' '%s' '--unused-context' 'error' '--rewrite-timestamp' '%s'" % (
        "false" if ctx.attr.allow_pull else "true",
        "true" if ctx.attr.rewrite else "false",
    )
    asserts.true(env, want in text, "bazel run checks the Dockerfile (%s): %s" % (want, text))
    return analysistest.end(env)

_run_launcher_test = analysistest.make(_run_launcher_test_impl, attrs = {
    "allow_pull": attr.bool(),
    "rewrite": attr.bool(),
})

def hermetic_test_suite(name):
    """Declares the targets under test and the tests.

    Args:
      name: name of the test_suite.
    """
    oci_layout_context(name = "h_base", layout = "//:example_hello", tag = "hello", tags = ["manual"])
    common = dict(
        contexts = {"base": ":h_base"},
        dockerfile = "testdata/Dockerfile",
        srcs = ["testdata/app.txt"],
        tags = ["manual"],
    )
    tests = []

    def build(target, test = _epoch_test, **kwargs):
        attrs = {k: kwargs.pop(k) for k in ["epoch", "hermetic", "key", "status"] if k in kwargs}
        buildx_build(name = target, **dict(common, **kwargs))
        test(name = target + "_test", target_under_test = ":" + target, **attrs)
        tests.append(target + "_test")

    build("h_default")
    build("h_allow_pull", allow_pull = True, hermetic = False)
    build("h_epoch", source_date_epoch = "1700000000", epoch = "1700000000")
    build("h_no_epoch", source_date_epoch = "", epoch = "-")
    build("h_build_arg", build_args = {"SOURCE_DATE_EPOCH": "5"}, epoch = "5")
    build("h_stamp_off", source_date_epoch = "stamp", epoch = "0")
    build("h_stamp_on", test = _epoch_stamp_test, source_date_epoch = "stamp", epoch = "-", key = "BUILD_TIMESTAMP", status = "volatile-status.txt")
    build("h_stable_key", test = _epoch_stamp_test, source_date_epoch = "{STABLE_COMMIT_TIME}", epoch = "-", key = "STABLE_COMMIT_TIME", status = "stable-status.txt")
    build("h_number_under_stamp", test = _epoch_stamp_test, source_date_epoch = "42", epoch = "42")

    for bad in ["yesterday", "{lower}", "{}", "-1"]:
        target = "h_bad_epoch_" + str(len(tests))
        buildx_build(name = target, source_date_epoch = bad, **common)
        failure_test(name = target + "_test", target_under_test = ":" + target, message = "source_date_epoch %r is not a number of seconds" % bad)
        tests.append(target + "_test")

    # bazel run: the same check; rewrite-timestamp when the build has an epoch (the default
    # "0" of buildx_args and buildx_build, taken by buildx_args(build = ...); build_args).
    for target, kwargs, allow, rewrite in [
        ("h_args", common, False, True),
        ("h_args_no_epoch", dict(common, source_date_epoch = ""), False, False),
        ("h_args_allow_pull", dict(common, allow_pull = True), True, True),
        ("h_args_epoch", dict(common, build_args = {"SOURCE_DATE_EPOCH": "0"}), False, True),
        ("h_args_from_build", {"build": ":h_default", "tags": ["manual"]}, False, True),
        ("h_args_from_allow_pull", {"build": ":h_allow_pull", "tags": ["manual"]}, True, True),
        ("h_args_from_no_epoch", {"build": ":h_no_epoch", "tags": ["manual"]}, False, False),
    ]:
        buildx_args(name = target, **kwargs)
        _run_launcher_test(name = target + "_test", target_under_test = ":" + target, allow_pull = allow, rewrite = rewrite)
        tests.append(target + "_test")

    native.test_suite(name = name, tests = tests)
