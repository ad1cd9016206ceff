"""Shared pieces of ocikit's rules: the CLI and helper attributes, running node, validation."""

load(":node_toolchain.bzl", "NODE_TOOLCHAIN_TYPE", "node_for_action")
load(":providers.bzl", "OcikitSettingInfo")

TOOLCHAINS = [NODE_TOOLCHAIN_TYPE]

# Private attributes every rule that runs the CLI has.
CLI_ATTRS = {
    "_cli": attr.label(
        default = Label("//:cli"),
        allow_single_file = True,
        cfg = "exec",
    ),
    "_helper": attr.label(
        default = Label("//rules/private:helper.mjs"),
        allow_single_file = True,
        cfg = "exec",
    ),
    "_worker": attr.label(
        default = Label("//:worker"),
        providers = [OcikitSettingInfo],
    ),
}

# What lets Bazel run an action in ocikit's persistent worker (`node ocikit.cjs
# --persistent_worker`, README "Persistent worker"): Bazel's JSON protocol, singleplex or
# multiplex (sandboxed too: each request's files are under its sandboxDir), cancellable, and
# one worker pool for every ocikit action whatever its mnemonic.
WORKER_REQUIREMENTS = {
    "requires-worker-protocol": "json",
    "supports-multiplex-sandboxing": "1",
    "supports-multiplex-workers": "1",
    "supports-worker-cancellation": "1",
    "supports-workers": "1",
    "worker-key-mnemonic": "Ocikit",
}

def run_node(ctx, *, arguments, inputs, outputs, mnemonic, progress_message, env = {}, execution_requirements = {}, worker = True):
    """Runs `node ARGUMENTS...` in an action; node comes from the node toolchain.

    With `worker` (the default) the action runs as `node ocikit.cjs @ARGS...`: each Args in
    `arguments` is written to a param file (one argument per line), whose first line is the
    script (the CLI, or helper.mjs: the bundle runs either in its own process), and the action
    may run in ocikit's persistent worker (WORKER_REQUIREMENTS) unless
    `--@ocikit//:worker=false`. Without a worker strategy (`--strategy=NAME=linux-sandbox`) it
    runs as one process, with the same result.

    Args:
      ctx: rule context (the rule has CLI_ATTRS and TOOLCHAINS).
      arguments: list of Args; the first names the script.
      inputs: depset of Files (node itself is added).
      outputs: list of Files.
      mnemonic: action mnemonic.
      progress_message: progress message.
      env: environment of the action (no other variables reach it).
      execution_requirements: dict for ctx.actions.run.
      worker: False for an action that must run as its own process (buildx_build: it drives
        docker for minutes, and its environment is the action's), or that runs another script
        (the bundle runs only itself and helper.mjs). Rules without CLI_ATTRS never use it.
    """
    node = node_for_action(ctx)
    if not worker or not hasattr(ctx.attr, "_worker"):
        ctx.actions.run(
            executable = node.executable,
            arguments = arguments,
            inputs = depset(node.inputs, transitive = [inputs]),
            outputs = outputs,
            mnemonic = mnemonic,
            progress_message = progress_message,
            env = env,
            execution_requirements = execution_requirements,
            toolchain = NODE_TOOLCHAIN_TYPE,
        )
        return
    for a in arguments:
        a.use_param_file("@%s", use_always = True)
        a.set_param_file_format("multiline")
    startup = ctx.actions.args()
    startup.add(ctx.file._cli)
    requirements = dict(execution_requirements)
    if ctx.attr._worker[OcikitSettingInfo].value:
        requirements.update(WORKER_REQUIREMENTS)
    ctx.actions.run(
        executable = node.executable,
        arguments = [startup] + arguments,
        inputs = depset(node.inputs, transitive = [inputs]),
        # The worker's files: its key hashes them, so a new bundle or helper starts a new one.
        tools = [ctx.file._cli, ctx.file._helper],
        outputs = outputs,
        mnemonic = mnemonic,
        progress_message = progress_message,
        # V8's code cache (src/cli/code-cache.ts) is off: a sandboxed action's /tmp and home are
        # its own, so the cache would be written and never read; the worker compiles once.
        env = dict(env, OCIKIT_COMPILE_CACHE = "off"),
        execution_requirements = requirements,
        toolchain = NODE_TOOLCHAIN_TYPE,
    )

def shell_quote(s):
    """POSIX sh single-quoting."""
    return "'" + s.replace("'", "'\\''") + "'"

def launcher(ctx, *, output, argv):
    """Writes an executable bash launcher that runs `node ARGV...` from the runfiles tree.

    Args:
      ctx: rule context.
      output: the executable File to write.
      argv: list of (kind, value): kind "rf" = a runfiles path (relative to the workspace's
        runfiles directory), "lit" = a literal argument.

    Returns:
      list of Files the launcher needs in its runfiles (node, when it is a file).
    """
    node = node_for_action(ctx)
    parts = []
    for kind, value in argv:
        if kind == "rf":
            parts.append("\"$root/\"" + shell_quote(value))
        else:
            parts.append(shell_quote(value))
    node_ref = shell_quote(node.path) if node.path else "\"$root/\"" + shell_quote(node.file.short_path)
    ctx.actions.write(
        output = output,
        is_executable = True,
        content = """#!/usr/bin/env bash
# Generated by @ocikit//rules for {label}. Runs from its runfiles tree.
set -euo pipefail
runfiles="${{RUNFILES_DIR:-${{TEST_SRCDIR:-}}}}"
if [[ -z "$runfiles" ]]; then
  if [[ -d "$0.runfiles" ]]; then runfiles="$0.runfiles"; else
    echo "ocikit: cannot find the runfiles of $0 (run it with bazel run / bazel test)" >&2; exit 2
  fi
fi
root="$runfiles/{workspace}"
exec {node} {argv} "$@"
""".format(
            label = str(ctx.label),
            workspace = ctx.workspace_name,
            node = node_ref,
            argv = " ".join(parts),
        ),
    )
    return node.inputs

def is_digest(s):
    """Whether s is a digest ocikit accepts.

    Args:
      s: the string to check.

    Returns:
      True for `sha256:<64 lowercase hex>` and `sha512:<128 lowercase hex>`.
    """
    algo, sep, hex = s.partition(":")
    want = {"sha256": 64, "sha512": 128}.get(algo)
    if not sep or want == None or len(hex) != want:
        return False
    for c in hex.elems():
        if c not in "0123456789abcdef":
            return False
    return True

_TAG_FIRST = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"

def is_tag(s):
    """Whether s is a tag as layouts name images (src/layout/reference.ts checkTag, the same rule).

    The OCI ref.name grammar with Docker's leading `_` and without `@`: `v1`, `app:v1`,
    `docker.io/example/app:v1` and `localhost:5000/team/app:v1` are tags.

    Args:
      s: the string to check.

    Returns:
      True for `[A-Za-z0-9_][A-Za-z0-9_.:/+-]*`, at most 1024 characters.
    """
    if not s or len(s) > 1024 or s[0] not in _TAG_FIRST:
        return False
    for c in s.elems():
        if c not in _TAG_FIRST and c not in ".-:/+":
            return False
    return True

_REF_NAME_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

def is_ref_name(s):
    """Whether s may be written as `org.opencontainers.image.ref.name` (the `--tag` of `ocikit index`).

    The image spec's grammar (src/ops/index-merge.ts REF_NAME, the same rule): components
    separated by `/`, each alphanumerics joined by one of `- . _ : @ +` or by `--`; at most 255
    characters. Stricter than is_tag, which reads what producers wrote.

    Args:
      s: the string to check.

    Returns:
      True for a ref.name ocikit writes.
    """
    if not s or len(s) > 255:
        return False
    for component in s.split("/"):
        if not component or component[0] not in _REF_NAME_ALNUM or component[-1] not in _REF_NAME_ALNUM:
            return False
        sep = ""
        for c in component.elems():
            if c in _REF_NAME_ALNUM:
                if sep and len(sep) > 1 and sep != "--":
                    return False
                sep = ""
            elif c in "-._:@+":
                sep += c
            else:
                return False
    return True

def is_platform(s):
    """Whether s is a platform.

    Args:
      s: the string to check.

    Returns:
      True for `os/arch` or `os/arch/variant` (lowercase letters, digits, `_`, `.`, `-`).
    """
    parts = s.split("/")
    if len(parts) < 2 or len(parts) > 3:
        return False
    for p in parts:
        if not p:
            return False
        for c in p.elems():
            if c not in "abcdefghijklmnopqrstuvwxyz0123456789_.-":
                return False
    return True

def is_context_name(s):
    """Whether s is a build context name.

    Args:
      s: the string to check.

    Returns:
      True for names buildx accepts (`base`, `docker.io/library/alpine:3`).
    """
    if not s or s[0] not in _TAG_FIRST or s[0] == "_":
        return False
    for c in s.elems():
        if c not in _TAG_FIRST and c not in ".:/@-":
            return False
    return True

def check_selection(rule, tag, digest, platform):
    """Fails on a malformed tag, digest or platform attribute, naming it and the fix.

    Args:
      rule: "rule_name //label", for the message.
      tag: the tag attribute ("" when unset).
      digest: the digest attribute.
      platform: the platform attribute.
    """
    if tag and not is_tag(tag):
        fail("%s: tag %r is not a valid tag; write letters, digits and . _ - : / + (up to 1024), starting with a letter, digit or _ (e.g. \"latest\" or \"docker.io/example/app:v1\")" % (rule, tag))
    if digest and not is_digest(digest):
        fail("%s: digest %r is not a digest; write sha256: followed by 64 lowercase hex digits" % (rule, digest))
    if platform and not is_platform(platform):
        fail("%s: platform %r is not os/arch[/variant]; write e.g. \"linux/amd64\" or \"linux/arm64/v8\"" % (rule, platform))
