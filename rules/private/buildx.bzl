"""buildx_args and buildx_build: `docker buildx build` on pinned OCI layout contexts."""

load(":common.bzl", "CLI_ATTRS", "TOOLCHAINS", "is_context_name", "is_platform", "launcher", "run_node")
load(":daemon.bzl", "DAEMON_ATTRS", "daemon_endpoint", "tls_files")
load(":platforms.bzl", "allow_unknown_platforms_attr", "check_known_platforms")
load(":providers.bzl", "BuildxBuildInfo", "OciLayoutContextInfo", "OcikitSettingInfo")

# Attributes buildx_args and buildx_build share: what goes into the build.
_BUILD_ATTRS = {
    "allow_pull": attr.bool(
        default = False,
        doc = "Let the Dockerfile pull images from a registry. By default every image it names (`FROM`, `COPY --from=`, `RUN --mount=from=`, the `# syntax=` frontend) must be a stage, `scratch` or one of `contexts` (matched as buildx matches names: `alpine` = `docker.io/library/alpine:latest`): otherwise the action fails before buildx runs with `OCIKIT_FROM_UNRESOLVED`, naming each image (`ocikit build --hermetic`; for `buildx_args`, at `bazel run`). A context the Dockerfile never names fails with `OCIKIT_CONTEXT_UNUSED` either way.",
    ),
    "allow_unknown_platforms": allow_unknown_platforms_attr(),
    "annotations": attr.string_dict(
        doc = "`--annotation KEY=VALUE` for each entry; a key may carry buildx's level prefix (`index:`, `manifest:`, `manifest[linux/amd64]:`). Written in key order.",
    ),
    "build_args": attr.string_dict(
        doc = "`--build-arg KEY=VALUE` for each entry, in key order.",
    ),
    "contexts": attr.string_keyed_label_dict(
        providers = [OciLayoutContextInfo],
        doc = "Build context name -> `oci_layout_context` target. Each becomes `--build-context NAME=oci-layout://LAYOUT:TAG@DIGEST`, pinned by the digest the context resolved. A name may be an image reference the Dockerfile uses (`FROM docker.io/library/alpine:3`), which the context then replaces.",
    ),
    "dockerfile": attr.label(
        mandatory = True,
        allow_single_file = True,
        doc = "The Dockerfile. It is copied into the build context directory like `srcs` and passed as `--file`.",
    ),
    "labels": attr.string_dict(
        doc = "`--label KEY=VALUE` (image config labels) for each entry, in key order.",
    ),
    "network": attr.string(
        doc = "`--network` for RUN steps (`default`, `none`, `host`). Default: not passed (buildx's default).",
    ),
    "no_cache": attr.bool(
        default = False,
        doc = "`--no-cache`: do not use the builder's cache.",
    ),
    "platforms": attr.string_list(
        doc = "`--platform` target platforms (`os/arch[/variant]`). Default: the builder's platform.",
    ),
    "provenance": attr.string(
        doc = "`--provenance` (e.g. `false`, `mode=max`). Default: not passed (buildx's default, which adds attestation manifests to multi-platform outputs).",
    ),
    "repo_tags": attr.string_list(
        doc = "`--tag` image names (e.g. `example.com/app:1.0`).",
    ),
    "sbom": attr.string(
        doc = "`--sbom` (e.g. `true`). Default: not passed.",
    ),
    "srcs": attr.label_list(
        allow_files = True,
        doc = "Files of the build context (what COPY and ADD see). Each lands at its path relative to this package (files of other packages: relative to their repository root); directories are copied whole. Files are copied (symlinks followed), mode 0755 when Bazel hands them over executable (generated files are), else 0644: use `COPY --chmod` to choose.",
    ),
    "target": attr.string(
        doc = "`--target`: the Dockerfile stage to build. Default: the last stage.",
    ),
    "verify_base": attr.string(
        default = "size",
        values = ["size", "digest"],
        doc = "How each base (every layout of `contexts`) is checked before buildx runs, with `ocikit build`'s / `ocikit buildx-args`' check: `size` = every blob the pinned image reaches is present, a regular file (or a symlink to the same blob, as in Bazel's sandbox) and of its declared size, without reading it; `digest` = also hashed against its digest (`--verify`; reads every byte of the base). A problem fails the action before buildx starts, with `OCIKIT_BLOB_MISSING`, `OCIKIT_BLOB_SIZE_MISMATCH`, `OCIKIT_BLOB_NOT_FILE`, `OCIKIT_BLOB_SYMLINK_ESCAPES` or (`digest`) `OCIKIT_BLOB_DIGEST_MISMATCH`, naming the blob, the manifest that references it, the tag and the platform: a base missing a layer never builds from what the daemon happens to have cached.",
    ),
}

# SOURCE_DATE_EPOCH of the build: buildx_build's action, and `bazel run` of buildx_args.
_EPOCH_ATTRS = {
    "source_date_epoch": attr.string(
        default = "0",
        doc = "SOURCE_DATE_EPOCH of the build (seconds since 1970): the time buildx records, and (BuildKit >= 0.13) the time file timestamps in the layers are rewritten to. `\"0\"` (default) or any number; `\"stamp\"`: the workspace status `BUILD_TIMESTAMP` when Bazel stamps (`--stamp`), else `\"0\"`; `\"{KEY}\"`: that status key (e.g. `{STABLE_COMMIT_TIME}` from a `--workspace_status_command`), also only with `--stamp`; `\"\"`: none (buildx records the build time; not reproducible). A number is written into the config as the build argument `SOURCE_DATE_EPOCH` (so `<name>.argv.json` has it, and `bazel run` of `buildx_args` asks for `rewrite-timestamp` too); a status key is read when the build runs (`buildx_build`: in its action; `buildx_args`: by `bazel run`, from the status file in its runfiles); a `SOURCE_DATE_EPOCH` in `build_args` takes precedence. With `buildx_args(build = ...)` the build's applies (giving another here is refused).",
    ),
}

def _context_path(ctx, f):
    """Where a file lands in the build context: relative to the package, else to its repository."""
    p = f.short_path
    if p.startswith("../"):
        p = p[3:].partition("/")[2]
    pkg = ctx.label.package
    if pkg and p.startswith(pkg + "/"):
        p = p[len(pkg) + 1:]
    return p

def _stage_context(ctx, rule):
    """Declares `<name>.context/` holding srcs and the Dockerfile; returns it and the Dockerfile's path in it."""
    dockerfile = ctx.file.dockerfile
    dests = {}
    manifest = []
    for f in [dockerfile] + ctx.files.srcs:
        dest = _context_path(ctx, f)
        if dest in dests:
            if dests[dest] == f:
                continue
            fail("%s %s: srcs %s and %s both land at %r in the build context; move one, or build it under another name" % (
                rule,
                ctx.label,
                dests[dest].short_path,
                f.short_path,
                dest,
            ))
        dests[dest] = f
        manifest.append([f.path, dest])

    staged = ctx.actions.declare_directory(ctx.label.name + ".context")
    manifest_file = ctx.actions.declare_file(ctx.label.name + ".context.json")
    ctx.actions.write(manifest_file, json.encode(manifest))
    args = ctx.actions.args()
    args.add(ctx.file._helper)
    args.add("stage")
    args.add("--out", staged.path)
    args.add("--manifest", manifest_file)
    run_node(
        ctx,
        arguments = [args],
        inputs = depset([ctx.file._helper, manifest_file] + dests.values()),
        outputs = [staged],
        mnemonic = "BuildxContext",
        progress_message = "Staging the build context of %{label}",
    )
    return staged, _context_path(ctx, dockerfile)

def _check_attrs(ctx, rule):
    for name in ctx.attr.contexts:
        if not is_context_name(name):
            fail("%s %s: contexts key %r is not a build context name; use letters, digits and . _ - : / @, starting with a letter or digit (e.g. \"base\")" % (rule, ctx.label, name))
    for p in ctx.attr.platforms:
        if not is_platform(p):
            fail("%s %s: platforms entry %r is not os/arch[/variant]; write e.g. \"linux/amd64\"" % (rule, ctx.label, p))
    check_known_platforms("%s %s" % (rule, ctx.label), "platforms entry", ctx.attr.platforms, ctx.attr.allow_unknown_platforms)
    for key in ctx.attr.build_args:
        if not key or "=" in key:
            fail("%s %s: build_args key %r must be a non-empty name without '='" % (rule, ctx.label, key))

def prepare_build(ctx, rule, *, outputs = [], source_date_epoch = None, dynamic_epoch = False):
    """Stages the context and writes the buildx config; shared by buildx_args and buildx_build.

    Args:
      ctx: rule context.
      rule: the rule's name, for messages.
      outputs: `--output` values (buildx_args only).
      source_date_epoch: a SOURCE_DATE_EPOCH build argument to add (buildx_build), unless
        build_args has one.
      dynamic_epoch: the build's epoch comes from the workspace status at execution time.

    Returns:
      struct(config, argv, run_config, staged, spec, inputs: depset for an action that reads
      the config, layouts: depset of the context layouts, checks: struct(verify_base,
      allow_unknown_platforms) for the CLI)
    """
    _check_attrs(ctx, rule)
    staged, dockerfile_path = _stage_context(ctx, rule)

    config = {
        "context": staged.path,
        "file": staged.path + "/" + dockerfile_path,
    }
    if ctx.attr.platforms:
        config["platform"] = ctx.attr.platforms
    build_args = dict(ctx.attr.build_args)
    if source_date_epoch != None and "SOURCE_DATE_EPOCH" not in build_args:
        build_args["SOURCE_DATE_EPOCH"] = source_date_epoch
    if build_args:
        config["buildArg"] = build_args
    if ctx.attr.labels:
        config["label"] = ctx.attr.labels
    if ctx.attr.annotations:
        config["annotation"] = ctx.attr.annotations
    if ctx.attr.repo_tags:
        config["tag"] = ctx.attr.repo_tags
    if outputs:
        config["output"] = outputs
    if ctx.attr.target:
        config["target"] = ctx.attr.target
    if ctx.attr.network:
        config["network"] = ctx.attr.network
    if ctx.attr.no_cache:
        config["noCache"] = True
    if ctx.attr.provenance:
        config["provenance"] = ctx.attr.provenance
    if ctx.attr.sbom:
        config["sbom"] = ctx.attr.sbom

    contexts = []
    resolved = []
    layouts = []
    for name in sorted(ctx.attr.contexts):
        info = ctx.attr.contexts[name][OciLayoutContextInfo]
        contexts.append({
            "layout": info.layout_path,
            "name": name,
            "resolved": info.json.path,
            "runLayout": info.layout_short_path,
        })
        resolved.append(info.json)
        layouts.append(info.layout_files)

    spec_data = {
        "config": config,
        "contexts": contexts,
        "run": {
            "context": staged.short_path,
            "file": staged.short_path + "/" + dockerfile_path,
        },
    }
    checks = struct(
        # A SOURCE_DATE_EPOCH makes ocikit ask the OCI exporter to rewrite layer timestamps;
        # `bazel run` asks for it too, so that it builds the same bytes.
        rewrite_timestamp = "SOURCE_DATE_EPOCH" in build_args or dynamic_epoch,
        allow_pull = ctx.attr.allow_pull,
        allow_unknown_platforms = ctx.attr.allow_unknown_platforms,
        verify_base = ctx.attr.verify_base,
    )
    return _write_config(ctx, spec_data, staged, resolved, depset(transitive = layouts), checks = checks)

def _write_config(ctx, spec_data, staged, resolved, layout_files, *, checks):
    """Writes the spec and runs the config action (contexts pinned by their resolved digests).

    `checks` (struct: verify_base, allow_unknown_platforms, allow_pull) rides along to the build
    and run actions.
    """
    spec = ctx.actions.declare_file(ctx.label.name + ".spec.json")
    ctx.actions.write(spec, json.encode(spec_data))

    config_file = ctx.actions.declare_file(ctx.label.name + ".buildx.json")
    argv_file = ctx.actions.declare_file(ctx.label.name + ".argv.json")
    run_config = ctx.actions.declare_file(ctx.label.name + ".run.json")
    args = ctx.actions.args()
    args.add(ctx.file._helper)
    args.add("config")
    args.add("--spec", spec)
    args.add("--config-out", config_file)
    args.add("--argv-out", argv_file)
    args.add("--run-config-out", run_config)
    run_node(
        ctx,
        arguments = [args],
        inputs = depset([ctx.file._helper, spec] + resolved),
        outputs = [config_file, argv_file, run_config],
        mnemonic = "BuildxConfig",
        progress_message = "Writing the buildx config of %{label}",
    )
    return struct(
        argv = argv_file,
        checks = checks,
        config = config_file,
        inputs = depset([config_file, staged], transitive = [layout_files]),
        layouts = layout_files,
        resolved = resolved,
        run_config = run_config,
        spec = spec,
        spec_data = spec_data,
        staged = staged,
    )

def _prepare_from_build(ctx, info, outputs):
    """prepare_build for `buildx_args(build = ...)`: the build's staged context, spec and checks, plus outputs."""
    config = dict(info.spec["config"])
    if outputs:
        config["output"] = outputs
    spec_data = dict(info.spec)
    spec_data["config"] = config
    return _write_config(
        ctx,
        spec_data,
        info.context,
        info.resolved.to_list(),
        info.context_layouts,
        checks = info.checks,
    )

def _check_flags(checks):
    """Helper options that carry the checks to the CLI (launcher argv).

    The Dockerfile check (--hermetic unless allow_pull; an unused context fails),
    rewrite-timestamp when the build has a SOURCE_DATE_EPOCH, verify_base and
    allow_unknown_platforms.
    """
    return [
        ("lit", "--hermetic"),
        ("lit", "false" if checks.allow_pull else "true"),
        ("lit", "--unused-context"),
        ("lit", "error"),
        ("lit", "--rewrite-timestamp"),
        ("lit", "true" if checks.rewrite_timestamp else "false"),
        ("lit", "--verify-base"),
        ("lit", checks.verify_base),
        ("lit", "--allow-unknown-platforms"),
        ("lit", "true" if checks.allow_unknown_platforms else "false"),
    ]

def _runner(ctx, prep, epoch):
    """The `bazel run` launcher: ocikit buildx-args, then docker, output streamed.

    `epoch`: _source_date_epoch's struct; a status key is read by `bazel run` from the status
    file in the runfiles. DOCKER_HOST and TLS material (docker_host, tls_*) reach docker there.
    """
    exe = ctx.actions.declare_file(ctx.label.name + ".run.sh")
    extra = []
    extra_files = []
    if epoch.key:
        extra += [("lit", "--source-date-epoch-key"), ("lit", epoch.key), ("lit", "--status-file"), ("rf", epoch.status.short_path)]
        extra_files.append(epoch.status)
    if ctx.attr.docker_host:
        extra += [("lit", "--docker-host"), ("lit", ctx.attr.docker_host)]
    tls = tls_files(ctx, "buildx_args", ctx.attr.docker_host)
    for flag, f in zip(["--tlscacert", "--tlscert", "--tlskey"], tls):
        extra += [("lit", flag), ("rf", f.short_path)]
    extra_files += tls
    node_files = launcher(ctx, output = exe, argv = [
        ("rf", ctx.file._helper.short_path),
        ("lit", "run"),
        ("lit", "--cli"),
        ("rf", ctx.file._cli.short_path),
        ("lit", "--config"),
        ("rf", prep.run_config.short_path),
        ("lit", "--root"),
        ("rf", "."),
    ] + _check_flags(prep.checks) + extra + [
        ("lit", "--"),
    ])
    runfiles = ctx.runfiles(
        files = node_files + [ctx.file._helper, ctx.file._cli, prep.run_config, prep.staged] + extra_files,
        transitive_files = prep.layouts,
    )
    return exe, runfiles

# Attributes whose default is not empty/False/None: "given" means differing from this.
# With build = ..., verify_base and allow_unknown_platforms are the build's (BuildxBuildInfo.checks),
# and so is source_date_epoch (in its config, or read by its action).
_BUILD_ATTR_DEFAULTS = {"source_date_epoch": "0", "verify_base": "size"}

def _given(ctx, name):
    value = getattr(ctx.attr, name)
    return value != _BUILD_ATTR_DEFAULTS[name] if name in _BUILD_ATTR_DEFAULTS else bool(value)

def _buildx_args_impl(ctx):
    epoch = _source_date_epoch(ctx, "buildx_args")
    if ctx.attr.build:
        given = [name for name in sorted(_BUILD_ATTRS.keys() + _EPOCH_ATTRS.keys()) if _given(ctx, name)]
        if given:
            fail("buildx_args %s: build = %s already says what to build and how its bases are checked; drop %s (or drop build and give every attribute here)" % (
                ctx.label,
                ctx.attr.build.label,
                ", ".join(given),
            ))
        prep = _prepare_from_build(ctx, ctx.attr.build[BuildxBuildInfo], ctx.attr.outputs)
        epoch = struct(value = None, key = None, status = None)
    elif not ctx.attr.dockerfile:
        fail("buildx_args %s: give dockerfile (and the other attributes of the build), or build = a buildx_build target" % ctx.label)
    else:
        prep = prepare_build(ctx, "buildx_args", outputs = ctx.attr.outputs, source_date_epoch = epoch.value, dynamic_epoch = epoch.key != None)
    exe, runfiles = _runner(ctx, prep, epoch)
    return [
        DefaultInfo(
            executable = exe,
            files = depset([prep.config, prep.argv]),
            runfiles = runfiles,
        ),
        OutputGroupInfo(
            argv = depset([prep.argv]),
            config = depset([prep.config]),
            context = depset([prep.staged]),
            run_config = depset([prep.run_config]),
        ),
    ]

buildx_args = rule(
    implementation = _buildx_args_impl,
    doc = """Writes a `docker buildx build` invocation, and runs it with `bazel run`.

Outputs (all deterministic; paths relative to the execution root, no absolute host paths):
`<name>.buildx.json` (the flags, as `ocikit buildx-args --config` / `ocikit build --config` read
them), `<name>.argv.json` (the `docker buildx build` argv as a JSON array), and
`<name>.context/` (the build context: `srcs` and the Dockerfile). Every context is pinned by
the digest its `oci_layout_context` resolved.

`bazel run :NAME -- [docker buildx build flags]` builds for a person, output streamed:
`ocikit buildx-args` makes the contexts safe (thin copies in a temporary directory when buildx
would write into a layout), then `docker` runs (`$OCIKIT_DOCKER` chooses the CLI; the caller's
DOCKER_HOST / docker context apply). Relative paths in the flags start where `bazel run` was
called.

```starlark
load("@ocikit//rules:defs.bzl", "buildx_args", "oci_layout_context")

oci_layout_context(name = "base", layout = ":base_image")

buildx_args(
    name = "app_args",
    dockerfile = "Dockerfile",
    srcs = ["app.txt"],
    contexts = {"base": ":base"},
    platforms = ["linux/amd64"],
    repo_tags = ["example.com/app:dev"],
)
```
`bazel run //:app_args -- --load` builds into the local image store.

Reproducible like `buildx_build`: `source_date_epoch` (the same attribute, default `"0"`) is
the build argument `SOURCE_DATE_EPOCH` in the config, and `bazel run` asks for
`rewrite-timestamp`; `"stamp"` / `"{KEY}"` (under `--stamp`) are read by `bazel run` from the
workspace status file in the runfiles. Which daemon: the environment of `bazel run` (its
DOCKER_HOST or docker context), or `docker_host` with `tls_ca`, `tls_cert`, `tls_key` (the
attributes of `buildx_build`; or `--@ocikit//:docker_tls` for a `tcp://` `docker_host`): docker
then gets DOCKER_HOST, DOCKER_TLS_VERIFY=1 and a private DOCKER_CERT_PATH of symlinks to the
TLS files in the runfiles (never copied).

`build = ":app"` names a `buildx_build` instead (its Dockerfile, staged context, contexts and
flags; only `outputs`, and where `bazel run` sends it, `docker_host` and the TLS attributes, are
added): the same build for a person, nothing repeated. The build's `verify_base`,
`allow_unknown_platforms` and `source_date_epoch` apply too: the bases are checked as the build
checks them, and its platforms (checked at its analysis) reach `ocikit buildx-args` with its
`allow_unknown_platforms`. Giving any of them beside `build` is refused like the others
(`verify_base = "size"` and `source_date_epoch = "0"`, the defaults, read as not given).

```starlark
buildx_args(name = "app_dev", build = ":app")
```""",
    attrs = dict(CLI_ATTRS, **dict(_BUILD_ATTRS, **dict(_EPOCH_ATTRS, **dict(DAEMON_ATTRS, **{
        "build": attr.label(
            providers = [BuildxBuildInfo],
            doc = "A `buildx_build` whose build this is: its Dockerfile, staged context, contexts, flags, `verify_base`, `allow_unknown_platforms` and `source_date_epoch`, so nothing is repeated. Then no other attribute of the build may be given (only `outputs`, `docker_host` and the TLS attributes).",
        ),
        "docker_host": attr.string(
            doc = "DOCKER_HOST for `bazel run` (e.g. `tcp://builder.example:2376`, with `tls_ca`/`tls_cert`/`tls_key` or `--@ocikit//:docker_tls`). Default: the environment of `bazel run` (its DOCKER_HOST, else the docker context).",
        ),
        "dockerfile": attr.label(
            allow_single_file = True,
            doc = "The Dockerfile (required unless `build` is given). It is copied into the build context directory like `srcs` and passed as `--file`.",
        ),
        "outputs": attr.string_list(
            doc = "`--output` values (e.g. `type=oci,dest=out,tar=false`). Default: none (buildx's default; add `--load` or `--push` after `--` in `bazel run`).",
        ),
        "_stamp": attr.label(default = Label("//rules/private:stamp")),
    })))),
    executable = True,
    toolchains = TOOLCHAINS,
)

def _flag(ctx, attr_value, flag_attr):
    return attr_value or getattr(ctx.attr, flag_attr)[OcikitSettingInfo].value

_STATUS_KEY_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"

def _source_date_epoch(ctx, rule):
    """The build's SOURCE_DATE_EPOCH: struct(value, key, status).

    value: a number for the config's build arguments (None: none, or read at execution time);
    key and status: the workspace status key and file the action reads it from (--stamp).
    A SOURCE_DATE_EPOCH in build_args takes precedence (it is in the config as it is).
    """
    value = ctx.attr.source_date_epoch
    key = "BUILD_TIMESTAMP" if value == "stamp" else value[1:-1]
    if not (value == "" or value.isdigit() or value == "stamp" or (
        value.startswith("{") and value.endswith("}") and key and key[0] not in "0123456789" and
        all([c in _STATUS_KEY_CHARS for c in key.elems()])
    )):
        fail("%s %s: source_date_epoch %r is not a number of seconds, \"stamp\", \"{STATUS_KEY}\" or \"\"; write e.g. \"0\", or \"stamp\" for the workspace status BUILD_TIMESTAMP under --stamp" % (rule, ctx.label, value))
    none = struct(value = None, key = None, status = None)
    if value == "" or "SOURCE_DATE_EPOCH" in ctx.attr.build_args:
        return none
    if value.isdigit():
        return struct(value = value, key = None, status = None)
    if not ctx.attr._stamp[OcikitSettingInfo].value:
        return struct(value = "0", key = None, status = None)
    return struct(value = None, key = key, status = ctx.info_file if key.startswith("STABLE_") else ctx.version_file)

def _buildx_build_impl(ctx):
    epoch = _source_date_epoch(ctx, "buildx_build")
    prep = prepare_build(ctx, "buildx_build", source_date_epoch = epoch.value, dynamic_epoch = epoch.key != None)
    out = ctx.actions.declare_directory(ctx.label.name)
    report = ctx.actions.declare_file(ctx.label.name + ".build.json")

    args = ctx.actions.args()
    args.add(ctx.file._helper)
    args.add("build")
    args.add("--cli", ctx.file._cli)
    args.add("--config", prep.config)
    args.add("--out", out.path)
    args.add("--report", report)
    args.add("--docker", _flag(ctx, "", "_docker"))
    if ctx.attr.buildx_version:
        args.add("--buildx-version", ctx.attr.buildx_version)
    args.add("--progress", ctx.attr.progress)
    args.add("--split-platforms", ctx.attr.split_platforms)
    args.add("--warn-unsandboxed", "true" if ctx.attr._warn_unsandboxed[OcikitSettingInfo].value else "false")
    args.add_all([value for _, value in _check_flags(prep.checks)])
    status_files = []
    if epoch.key:
        args.add("--source-date-epoch-key", epoch.key)
        args.add("--status-file", epoch.status)
        status_files.append(epoch.status)

    # unix:// socket: local only (no-remote, no-remote-exec); tcp:// (+ TLS inputs): may run
    # remotely, requires-network (rules/private/daemon.bzl).
    host = _flag(ctx, ctx.attr.docker_host, "_docker_host")
    daemon = daemon_endpoint(ctx, "buildx_build", host)
    if daemon.tls:
        args.add("--tlscacert", daemon.tls[0])
        args.add("--tlscert", daemon.tls[1])
        args.add("--tlskey", daemon.tls[2])
    run_node(
        ctx,
        arguments = [args],
        inputs = depset([ctx.file._helper, ctx.file._cli] + daemon.tls + status_files, transitive = [prep.inputs]),
        outputs = [out, report],
        mnemonic = "BuildxBuild",
        progress_message = "Building %{label} with docker buildx",
        env = {
            "DOCKER_HOST": host,
            "PATH": ctx.attr.path,
        },
        execution_requirements = daemon.execution_requirements,
        worker = False,
    )
    return [
        DefaultInfo(
            files = depset([out]),
            runfiles = ctx.runfiles(files = [out]),
        ),
        OutputGroupInfo(
            argv = depset([prep.argv]),
            config = depset([prep.config]),
            context = depset([prep.staged]),
            report = depset([report]),
        ),
        BuildxBuildInfo(
            context = prep.staged,
            context_layouts = prep.layouts,
            layout = out,
            report = report,
            checks = prep.checks,
            resolved = depset(prep.resolved),
            spec = prep.spec_data,
        ),
    ]

buildx_build = rule(
    implementation = _buildx_build_impl,
    doc = """Builds a Dockerfile with the host's docker buildx in an action (`ocikit build`) and
declares the result, an OCI image layout, as the tree artifact `<name>/`: use it as the
`layout` of another `oci_layout_context` to chain builds, or verify it with
`oci_layout_verify_test`. `<name>.build.json` (output group `report`) holds the image digest
and descriptor.

The action talks to the docker daemon at `DOCKER_HOST` (attribute `docker_host`, else
`--@ocikit//:docker_host`, default `unix:///var/run/docker.sock`); the daemon must use the
containerd image store (or pick a builder that writes OCI layouts). With a local socket it runs
with `no-remote` / `no-remote-exec`; with a `tcp://` daemon see "Remote builders" below. It
gets a private DOCKER_CONFIG from
`ocikit build`, and sees no other environment: nothing from `--action_env` reaches it. Keep it
sandboxed (`--spawn_strategy=linux-sandbox`): unsandboxed, buildx as root can write into input
layouts.

Reproducible by default: the build runs with SOURCE_DATE_EPOCH (`source_date_epoch`, default
`"0"`), so buildx records that time instead of the build's, and where the builder supports it
(BuildKit >= 0.13, dockerd >= 26.0) the OCI exporter rewrites file timestamps in the layers to
it (`rewrite-timestamp=true`); where it does not, the action warns (`OCIKIT_W_REWRITE_TIMESTAMP`)
and the report says so (`reproducible`). A comment added to the Dockerfile then gives the same
bytes, and Bazel re-runs nothing downstream.

Hermetic by default: before buildx runs, the action reads the Dockerfile and fails with
`OCIKIT_FROM_UNRESOLVED` when an image it names (`FROM`, `COPY --from=`, `RUN --mount=from=`,
`# syntax=`) is neither a stage, `scratch`, nor one of `contexts`, that is, would be pulled from a
registry (`allow_pull = True` permits it), and with `OCIKIT_CONTEXT_UNUSED` when a context is
named by nothing in the Dockerfile.

For a person, `buildx_args(name = "app_dev", build = ":app")` is the `bazel run` target of the
same build. It provides `BuildxBuildInfo`.

Bases and platforms: before buildx starts, every base (each layout of `contexts`) is checked
as `verify_base` says; a base missing a blob fails with `OCIKIT_BLOB_MISSING` naming the
blob, the manifest that references it, the tag and the platform, and never builds from what
the daemon happens to have cached. `platforms` are checked at analysis against the known
os/arch/variant values (`allow_unknown_platforms` for exotic ones). Failures read as the CLI
prints them, `ocikit: error CODE: message` and `  hint: ...` on stderr (what Bazel shows);
`ocikit build`'s JSON document goes to a file inside the action. Warnings
(`ocikit: warning CODE: ...`) appear as `INFO: From Building ...`.

Tags: without `repo_tags` the image in `<name>/` is tagged `latest`
(`org.opencontainers.image.ref.name: latest`, written by BuildKit's OCI exporter; seen with
buildx 0.29.1 on dockerd 28.5.2, and on dockerd 26.1.5), so an `oci_layout_context` on it
needs no `tag`. With `repo_tags = ["example.com/app:1.0"]` it is named
`io.containerd.image.name: example.com/app:1.0` and `ref.name: 1.0` (older builders write the
full name as `ref.name`): `tag = "example.com/app:1.0"` selects it on both.

Caching: on a local socket, `no-remote` keeps the action off remote executors and out of
remote caches, because its result depends on the local daemon, which the action key does not
cover. Bazel (since 6.0)
counts `--disk_cache` as a local cache, to which `no-remote` does not apply: the result is
written to the disk cache and served from it, also to other clones and workspaces on the
machine, whatever the daemon holds at that time (the key covers the inputs, the flags, the
attributes and `DOCKER_HOST`, not the daemon's state or version).

Sandbox: when the action finds itself unsandboxed it prints `ocikit: warning
OCIKIT_W_UNSANDBOXED` naming `--spawn_strategy=linux-sandbox`: its inputs are the real files
(`--spawn_strategy=local` / `standalone`, `no-sandbox`), or the files behind its input symlinks
are writable (processwrapper-sandbox). Under linux-sandbox they are symlinks to a read-only
mount. Where the action is isolated another way (a remote executor), the warning would fire
wrongly: `--@ocikit//:warn_unsandboxed=false` turns it off.

Remote builders: with `docker_host = "tcp://HOST:PORT"` and `tls_ca`, `tls_cert`, `tls_key`
(or `--@ocikit//:docker_tls`, a filegroup of `ca.pem`, `cert.pem`, `key.pem`, for every
`tcp://` target) the action needs no local socket: it is tagged `requires-network` instead of
`no-remote` / `no-remote-exec`, so remote execution may run it and a remote cache may keep its
result (the key names the daemon and the TLS files). The executor needs the docker CLI with
buildx (on `path`) and node; the TLS files are inputs, so they travel with the action
(into a remote CAS, too). The README's "Remote builders" section has the details.

```starlark
load("@ocikit//rules:defs.bzl", "buildx_build", "oci_layout_context", "oci_layout_verify_test")

oci_layout_context(name = "base", layout = ":base_image")

buildx_build(
    name = "app",
    dockerfile = "Dockerfile",
    srcs = ["app.txt"],
    contexts = {"base": ":base"},
    platforms = ["linux/amd64"],
)

oci_layout_context(name = "app_ctx", layout = ":app")  # chain: FROM app in another build

oci_layout_verify_test(name = "app_test", layout = ":app")
```""",
    attrs = dict(CLI_ATTRS, **dict(_BUILD_ATTRS, **dict(_EPOCH_ATTRS, **dict(DAEMON_ATTRS, **{
        "buildx_version": attr.string(
            doc = "The buildx version to plan for (`auto`: ask `docker buildx version`; `unknown`: assume every write; or e.g. `0.29.1`). Default: auto.",
        ),
        "docker_host": attr.string(
            doc = "DOCKER_HOST for the action (e.g. `unix:///run/user/1000/docker.sock`, or `tcp://builder.example:2376` for a remote builder, with `tls_ca`/`tls_cert`/`tls_key`). A `unix://` daemon keeps the action local (`no-remote`, `no-remote-exec`); a `tcp://` one lets it run and be cached remotely (`requires-network`). Default: `--@ocikit//:docker_host`.",
        ),
        "path": attr.string(
            default = "/usr/local/bin:/usr/bin:/bin",
            doc = "PATH for the action: where the docker CLI (`--@ocikit//:docker`, default `docker`) is found.",
        ),
        "progress": attr.string(
            default = "quiet",
            values = ["quiet", "plain"],
            doc = "What the action prints while it builds: `quiet` (only errors, with the failed step's log lines) or `plain` (every step; Bazel shows it as `INFO: From ...`).",
        ),
        "split_platforms": attr.string(
            default = "auto",
            values = ["auto", "always", "never"],
            doc = "Multi-platform builds: `auto` builds one platform at a time and merges the results (with `ocikit index`'s code) when the builder's BuildKit crashes on an empty platform (before v0.23.0, dockerd before 28.3.0) and some platform's base has zero layers or the Dockerfile has a `FROM scratch` stage; `always` / `never` insist. See the README.",
        ),
        "_docker": attr.label(default = Label("//:docker")),
        "_docker_host": attr.label(default = Label("//:docker_host")),
        "_stamp": attr.label(default = Label("//rules/private:stamp")),
        "_warn_unsandboxed": attr.label(
            default = Label("//:warn_unsandboxed"),
            providers = [OcikitSettingInfo],
        ),
    })))),
    provides = [BuildxBuildInfo],
    toolchains = TOOLCHAINS,
)
