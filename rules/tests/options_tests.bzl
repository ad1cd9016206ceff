"""Analysis tests: oci_layout_index's per-layout selection and options, buildx_args' daemon and
SOURCE_DATE_EPOCH attributes (shared with buildx_build), and --@ocikit//:warn_unsandboxed."""

load("@bazel_skylib//lib:unittest.bzl", "analysistest", "asserts", "unittest")
load("//rules:defs.bzl", "buildx_args", "buildx_build", "oci_layout_context", "oci_layout_index")
load("//rules/private:common.bzl", "is_ref_name")
load(":testing.bzl", "action_of", "after", "failure_test", "file_write")

_AMD64 = "sha256:2d74eb680343f10d2ff25ff3742261919f1a1ccf9d62cc97a59ef7ff7ec58c5a"

# oci_layout_index's tag and extra_tags: the ref.name grammar of `ocikit index --tag`. The same
# table runs through the CLI's check in test/index-merge.ts (it reads it from here).
REF_NAME_CASES = [
    ("v1", True),
    ("a--b", True),
    ("a@b", True),
    ("A/b/c", True),
    ("a:b:c", True),
    ("a" * 255, True),
    ("_x", False),
    ("a..b", False),
    ("a---b", False),
    ("a/", False),
    ("/a", False),
    ("a" * 256, False),
    ("x_-y", False),
]

def _ref_name_grammar_test_impl(ctx):
    env = unittest.begin(ctx)
    for tag, ok in REF_NAME_CASES:
        asserts.equals(env, ok, is_ref_name(tag), tag)
    return unittest.end(env)

_ref_name_grammar_test = unittest.make(_ref_name_grammar_test_impl)

def _all_after(argv, flag):
    return [argv[i + 1] for i in range(len(argv) - 1) if argv[i] == flag]

# ---------------------------------------------------------------------------------------
# oci_layout_index

def _index_selection_test_impl(ctx):
    env = analysistest.begin(ctx)
    argv = action_of(env, "OciLayoutIndex").argv
    i = argv.index("index")
    j = argv.index("--out")
    sources = argv[i + 1:j]
    asserts.equals(env, len(ctx.attr.sources), len(sources), "one source per layout, before the flags: %s" % sources)
    for want, got in zip(ctx.attr.sources, sources):
        asserts.true(env, got.endswith(want), "source %s ends with %s" % (got, want))
    asserts.equals(env, ctx.attr.tags_out, _all_after(argv, "--tag"), "--tag for tag, then extra_tags")
    for flag in ["--oci", "--strict", "--trust-inputs"]:
        asserts.equals(env, flag in ctx.attr.flags, flag in argv, "%s in %s" % (flag, argv))
    return analysistest.end(env)

_index_selection_test = analysistest.make(_index_selection_test_impl, attrs = {
    "flags": attr.string_list(),
    "sources": attr.string_list(doc = "expected endings of the sources, in order"),
    "tags_out": attr.string_list(),
})

# ---------------------------------------------------------------------------------------
# buildx_args: docker_host, TLS, source_date_epoch (bazel run)

def _args_run_test_impl(ctx):
    env = analysistest.begin(ctx)
    target = analysistest.target_under_test(env)
    write = file_write(env, ".run.sh")
    text = write.content if write else ""
    for want in ctx.attr.launcher_has:
        asserts.true(env, want in text, "launcher has %s: %s" % (want, text))
    for unwanted in ctx.attr.launcher_lacks:
        asserts.false(env, unwanted in text, "launcher lacks %s: %s" % (unwanted, text))
    runfiles = [f.short_path for f in target[DefaultInfo].default_runfiles.files.to_list()]
    for suffix in ctx.attr.runfiles:
        asserts.true(env, any([f.endswith(suffix) for f in runfiles]), "%s in the runfiles" % suffix)
    spec = file_write(env, ".spec.json")
    build_args = json.decode(spec.content)["config"].get("buildArg", {}) if spec else {}
    want = ctx.attr.epoch if ctx.attr.epoch != "-" else None
    asserts.equals(env, want, build_args.get("SOURCE_DATE_EPOCH"), "SOURCE_DATE_EPOCH in the config")
    return analysistest.end(env)

_ARGS_RUN_ATTRS = {
    "epoch": attr.string(default = "0", doc = "expected SOURCE_DATE_EPOCH build argument, - for none"),
    "launcher_has": attr.string_list(),
    "launcher_lacks": attr.string_list(),
    "runfiles": attr.string_list(doc = "suffixes of files that must be in the runfiles"),
}

_args_run_test = analysistest.make(_args_run_test_impl, attrs = _ARGS_RUN_ATTRS)

_args_run_stamp_test = analysistest.make(
    _args_run_test_impl,
    attrs = _ARGS_RUN_ATTRS,
    config_settings = {"//command_line_option:stamp": True},
)

_args_run_tls_flag_test = analysistest.make(
    _args_run_test_impl,
    attrs = _ARGS_RUN_ATTRS,
    config_settings = {str(Label("//:docker_tls")): str(Label("//rules/tests:o_tls_flag_files"))},
)

# ---------------------------------------------------------------------------------------
# --@ocikit//:warn_unsandboxed

def _warn_test_impl(ctx):
    env = analysistest.begin(ctx)
    argv = action_of(env, "BuildxBuild").argv
    asserts.equals(env, ctx.attr.want, after(argv, "--warn-unsandboxed"))
    return analysistest.end(env)

_warn_on_test = analysistest.make(_warn_test_impl, attrs = {"want": attr.string(default = "true")})

_warn_off_test = analysistest.make(
    _warn_test_impl,
    attrs = {"want": attr.string(default = "false")},
    config_settings = {str(Label("//:warn_unsandboxed")): False},
)

def options_test_suite(name):
    """Declares the targets under test and the tests.

    Args:
      name: name of the test_suite.
    """
    layout = "//:example_hello"
    tests = []

    def failing(target, message):
        failure_test(name = target + "_test", target_under_test = ":" + target, message = message)
        tests.append(target + "_test")

    _ref_name_grammar_test(name = "o_ref_name_grammar_test")
    tests.append("o_ref_name_grammar_test")

    # oci_layout_index: LAYOUT[:TAG][@DIGEST] per layout, other layouts as they are.
    native.genrule(name = "o_arm64_tar", outs = ["o_arm64.tar"], cmd = "exit 1", tags = ["manual"])
    oci_layout_index(
        name = "o_index_selected",
        extra_tags = ["latest", "example.com/app:1.0"],
        layout_digests = {":o_arm64_tar": _AMD64},
        layout_tags = {layout: "hello-amd64", ":o_arm64_tar": "v1"},
        layouts = [layout, ":o_arm64_tar", ":o_plain_tar"],
        oci = True,
        strict = True,
        tag = "1.0",
        tags = ["manual"],
        trust_inputs = True,
    )
    native.genrule(name = "o_plain_tar", outs = ["o_plain.tar"], cmd = "exit 1", tags = ["manual"])
    _index_selection_test(
        name = "o_index_selected_test",
        target_under_test = ":o_index_selected",
        sources = ["examples/hello:hello-amd64", "o_index_selected.unpacked/1:v1@" + _AMD64, "o_index_selected.unpacked/2"],
        tags_out = ["1.0", "latest", "example.com/app:1.0"],
        flags = ["--oci", "--strict", "--trust-inputs"],
    )
    tests.append("o_index_selected_test")
    oci_layout_index(name = "o_index_digest_only", layouts = [layout], layout_digests = {layout: _AMD64}, tags = ["manual"])
    _index_selection_test(name = "o_index_digest_only_test", target_under_test = ":o_index_digest_only", sources = ["examples/hello@" + _AMD64])
    tests.append("o_index_digest_only_test")
    oci_layout_index(name = "o_index_full_name", layouts = [layout], layout_tags = {layout: "example.com/app:1.0"}, tags = ["manual"])
    _index_selection_test(name = "o_index_full_name_test", target_under_test = ":o_index_full_name", sources = ["examples/hello:example.com/app:1.0"])
    tests.append("o_index_full_name_test")
    oci_layout_index(name = "o_index_plain", layouts = [layout], tags = ["manual"])
    _index_selection_test(name = "o_index_plain_test", target_under_test = ":o_index_plain", sources = ["examples/hello"])
    tests.append("o_index_plain_test")

    for target, kwargs, message in [
        ("o_bad_key", {"layout_tags": {":o_plain_tar": "v1"}}, "o_plain_tar is not one of layouts; add it to layouts or drop this entry"),
        ("o_bad_tag", {"layout_tags": {layout: "-x"}}, "tag \"-x\" is not a valid tag"),
        ("o_empty_tag", {"layout_tags": {layout: ""}}, "the value is empty; give a tag or drop this entry"),
        ("o_bad_digest", {"layout_digests": {layout: "sha256:abc"}}, "example_hello]: digest \"sha256:abc\" is not a digest"),
        ("o_bad_extra_tag", {"extra_tags": ["a..b"]}, "tag \"a..b\" is not a valid org.opencontainers.image.ref.name"),
        ("o_empty_extra_tag", {"extra_tags": ["v1", ""]}, "extra_tags has an empty entry; drop it"),
    ]:
        oci_layout_index(name = target, layouts = [layout], tags = ["manual"], **kwargs)
        failing(target, message)

    # buildx_args: the daemon and TLS material of `bazel run`, its SOURCE_DATE_EPOCH.
    oci_layout_context(name = "o_base", layout = layout, tag = "hello", tags = ["manual"])
    common = dict(contexts = {"base": ":o_base"}, dockerfile = "testdata/Dockerfile", srcs = ["testdata/app.txt"], tags = ["manual"])
    native.genrule(
        name = "o_tls_files",
        outs = ["o_tls/ca.pem", "o_tls/cert.pem", "o_tls/key.pem"],
        cmd = "touch $(OUTS)",
        tags = ["manual"],
    )
    native.filegroup(name = "o_tls_flag_files", srcs = ["o_tls/ca.pem", "o_tls/cert.pem", "o_tls/key.pem"], tags = ["manual"])
    tls = dict(tls_ca = "o_tls/ca.pem", tls_cert = "o_tls/cert.pem", tls_key = "o_tls/key.pem")
    tls_launcher = ["'--tlscacert' \"$root/\"'rules/tests/o_tls/ca.pem'", "'--tlscert' \"$root/\"'rules/tests/o_tls/cert.pem'", "'--tlskey' \"$root/\"'rules/tests/o_tls/key.pem'"]
    tls_runfiles = ["o_tls/ca.pem", "o_tls/cert.pem", "o_tls/key.pem"]
    host = "'--docker-host' 'tcp://127.0.0.1:2376'"

    for target, test, kwargs, attrs in [
        # Defaults: SOURCE_DATE_EPOCH 0 in the config, rewrite-timestamp; the caller's daemon.
        ("o_args_default", _args_run_test, {}, dict(launcher_has = ["'--rewrite-timestamp' 'true'"], launcher_lacks = ["--docker-host", "--tls", "--source-date-epoch-key"])),
        ("o_args_no_epoch", _args_run_test, {"source_date_epoch": ""}, dict(epoch = "-", launcher_has = ["'--rewrite-timestamp' 'false'"])),
        ("o_args_epoch", _args_run_test, {"source_date_epoch": "1700000000"}, dict(epoch = "1700000000")),
        ("o_args_stamp_off", _args_run_test, {"source_date_epoch": "stamp"}, dict(launcher_lacks = ["--source-date-epoch-key"])),
        ("o_args_stamp_on", _args_run_stamp_test, {"source_date_epoch": "stamp"}, dict(
            epoch = "-",
            launcher_has = ["'--rewrite-timestamp' 'true'", "'--source-date-epoch-key' 'BUILD_TIMESTAMP' '--status-file' \"$root/\"'"],
            runfiles = ["volatile-status.txt"],
        )),
        ("o_args_tls", _args_run_test, dict(docker_host = "tcp://127.0.0.1:2376", **tls), dict(launcher_has = [host] + tls_launcher, runfiles = tls_runfiles)),
        ("o_args_tcp_no_tls", _args_run_test, dict(docker_host = "tcp://127.0.0.1:2376"), dict(launcher_has = [host], launcher_lacks = ["--tls"])),
        ("o_args_tls_flag", _args_run_tls_flag_test, dict(docker_host = "tcp://127.0.0.1:2376"), dict(launcher_has = [host] + tls_launcher, runfiles = tls_runfiles)),
        # The flag's files are for tcp:// daemons: the caller's daemon gets none.
        ("o_args_tls_flag_env", _args_run_tls_flag_test, {}, dict(launcher_lacks = ["--tls", "--docker-host"])),
    ]:
        buildx_args(name = target, **dict(common, **kwargs))
        test(name = target + "_test", target_under_test = ":" + target, **attrs)
        tests.append(target + "_test")

    for target, kwargs, message in [
        ("o_args_bad_epoch", {"source_date_epoch": "yesterday"}, "o_args_bad_epoch: source_date_epoch \"yesterday\" is not a number of seconds"),
        ("o_args_tls_partial", dict(docker_host = "tcp://127.0.0.1:2376", tls_ca = "o_tls/ca.pem"), "tls_ca, tls_cert and tls_key go together"),
        ("o_args_tls_no_host", tls, "are for a tcp:// docker daemon, but docker_host is \"\""),
        ("o_args_bad_host", {"docker_host": "builder:2376"}, "docker_host \"builder:2376\" is not a docker host address"),
    ]:
        buildx_args(name = target, **dict(common, **kwargs))
        failing(target, message)

    buildx_build(name = "o_build", **common)
    for target, epoch in [("o_args_build_epoch", "1"), ("o_args_build_no_epoch", "")]:
        buildx_args(name = target, build = ":o_build", source_date_epoch = epoch, tags = ["manual"])
        failing(target, "already says what to build and how its bases are checked; drop source_date_epoch")

    # buildx_args(build = ...) with the daemon of bazel run: allowed (where, not what).
    buildx_args(name = "o_args_build_tls", build = ":o_build", docker_host = "tcp://127.0.0.1:2376", tags = ["manual"], **tls)
    _args_run_test(name = "o_args_build_tls_test", target_under_test = ":o_args_build_tls", launcher_has = [host] + tls_launcher, runfiles = tls_runfiles)
    tests.append("o_args_build_tls_test")

    # --@ocikit//:warn_unsandboxed: on by default, off on request.
    _warn_on_test(name = "o_warn_on_test", target_under_test = ":o_build")
    _warn_off_test(name = "o_warn_off_test", target_under_test = ":o_build")
    tests.extend(["o_warn_on_test", "o_warn_off_test"])

    native.test_suite(name = name, tests = tests)
