"""Bazel rules that let `docker buildx build` use OCI image layouts as base images without writing into them.

Load everything from `@ocikit//rules:defs.bzl`. A layout (a tree artifact such as rules_oci's
`oci_image` or another `buildx_build`, a filegroup of a layout's files, or an OCI archive
`.tar`) is pinned by `oci_layout_context` (tag or platform resolved to a digest, in an action,
nothing copied); `buildx_build` builds a Dockerfile on pinned contexts with the host's buildx
and declares the result as an OCI layout tree artifact (so builds chain); `buildx_args` writes
the invocation and is the `bazel run` target for a person; `oci_layout_verify_test` fails on an
incomplete layout. `oci_layout_index` merges per-platform layouts into one index,
`oci_layout_tarball` packs a layout into a byte-identical archive, and `oci_layout_load` is the
`bazel run` target that loads an image into the docker daemon.

A layout checked into the source tree is best named by its files,
`filegroup(name = "img", srcs = glob(["img/**"]))`: Bazel then sees every change. Naming the
directory itself works, but Bazel does not look inside a source directory (an edited index.json
keeps the old digest), and the rules print a warning.

## Set-up

```starlark
# MODULE.bazel
bazel_dep(name = "ocikit", version = "0.1.0")
```

Bazel 7.4 or newer with bzlmod (no WORKSPACE support). The actions run the bundled CLI
`dist/ocikit.cjs` with node >= 20.19. Release archives of the module ship `dist/ocikit.cjs`
prebuilt; a git checkout used through `local_path_override` must build it first
(`npm ci && npm run build` in the checkout), otherwise every action that needs it fails with
that instruction. `--@ocikit//:cli=//some:label` runs another build of the bundle.

## Node

ocikit registers a toolchain for `@ocikit//rules:node_toolchain_type` that runs the host's
node, found by the `node` module extension: `OCIKIT_NODE` (e.g.
`--repo_env=OCIKIT_NODE=/opt/node/bin/node`), else `node.host(path = ...)` in the root
module, else `node` on PATH. Without a usable node, analysis of the rules fails with that hint.
The toolchain's `ToolchainInfo` has rules_nodejs' shape (`nodeinfo.node` or
`nodeinfo.node_path`), so a rules_nodejs user can register rules_nodejs' node instead; the root
module's registrations come first:

```starlark
# BUILD.bazel (with use_repo(node, "nodejs_linux_amd64") from rules_nodejs' extension)
toolchain(
    name = "ocikit_node",
    exec_compatible_with = ["@platforms//os:linux", "@platforms//cpu:x86_64"],
    toolchain = "@nodejs_linux_amd64//:toolchain",
    toolchain_type = "@ocikit//rules:node_toolchain_type",
)
# MODULE.bazel: register_toolchains("//:ocikit_node")
```

## Docker daemon, sandboxing, remote execution

`buildx_build` actions reach the daemon at `--@ocikit//:docker_host` (default
`unix:///var/run/docker.sock`; per target: `docker_host`) with the docker CLI
`--@ocikit//:docker` (default `docker`, looked up on the rule's `path`). The daemon must use the
containerd image store to read oci-layout contexts and write OCI layouts. These actions carry
`no-remote` and `no-remote-exec` (the socket is local). Run them sandboxed
(`--spawn_strategy=linux-sandbox`): inside the sandbox an input layout is a directory of
symlinks, so nothing buildx might write reaches the real tree artifact; without a sandbox, buildx
running as root can write into input layouts. No output of the rules holds an absolute host
path (paths are relative to the execution root; `buildx_build`'s layout holds real files, no
symlinks), so what a remote cache serves is right on every machine.

The actions of `oci_layout_context`, `oci_layout_index`, `oci_layout_tarball` and
`oci_layout_load`, and the unpacking of archives, need no daemon and no network: they carry no
execution requirements but the persistent worker's (below), so they run sandboxed, remotely,
and from a remote cache like any action. Only `bazel run` of `oci_layout_load` (and of
`buildx_args`) talks to the daemon.

## Bases, platforms, failures

Every base of a `buildx_build` is checked before buildx runs (`verify_base`: `size` by
default, `digest` also hashes); a missing or corrupt blob fails the action with
`OCIKIT_BLOB_MISSING` / `OCIKIT_BLOB_DIGEST_MISMATCH` naming it. `platform` / `platforms`
attributes (of `buildx_build`, `buildx_args`, `oci_layout_context`, `oci_layout_verify_test`
and `oci_layout_load`) are checked at analysis against Go's GOOS/GOARCH values, containerd's
aliases and the OCI variants (`allow_unknown_platforms = True` accepts others);
`buildx_args(build = ...)` takes the build's `verify_base`, `allow_unknown_platforms` and `allow_pull`. Every
action, and `bazel run` of `buildx_args` and `oci_layout_load`, prints its failure as
`ocikit: error CODE: message` with a `hint:` line, and `buildx_build` warns
(`OCIKIT_W_UNSANDBOXED`) when it runs without linux-sandbox (`--@ocikit//:warn_unsandboxed=false`
turns that off where the action is isolated another way, e.g. on a remote executor).

## Persistent worker

Every action of these rules that runs ocikit or its helper, except `buildx_build`'s build itself
(the resolve of `oci_layout_context` and the other rules, `oci_layout_index`,
`oci_layout_tarball`, the archive of `oci_layout_load`, the unpacking of archives, the build
context and config of `buildx_args` and `buildx_build`), runs as `node ocikit.cjs @ARGS` and
may be served by ocikit's persistent worker (`ocikit --persistent_worker`: Bazel's JSON worker
protocol, singleplex and multiplex): one node process answers them all, in process, instead of
one process per action. The actions carry `supports-workers`, `supports-multiplex-workers`,
`supports-multiplex-sandboxing`, `supports-worker-cancellation`,
`requires-worker-protocol=json` and `worker-key-mnemonic=Ocikit` (one worker pool for all of
them). Bazel uses the worker when the spawn strategy lists it, as its default
(`remote,worker,sandboxed,local`) does. Sandbox it, so a request sees only its inputs:

```
build --spawn_strategy=worker,linux-sandbox
build --worker_sandboxing
build --experimental_worker_multiplex_sandboxing
```

The outputs are the same with or without the worker. `--@ocikit//:worker=false` turns it off
(the actions then carry no worker requirements); `--strategy=OciLayoutResolve=linux-sandbox`
(or another mnemonic) does it for one kind of action. With `--worker_verbose` each response
ends with the worker's pid, how many requests it served and its resident memory.

## Reproducible and hermetic by default

`buildx_build` runs with SOURCE_DATE_EPOCH `0` (attribute `source_date_epoch`; `"stamp"` takes
the workspace status `BUILD_TIMESTAMP` under `--stamp`) and asks the OCI exporter to rewrite layer
file timestamps to it where the builder can (BuildKit >= 0.13, dockerd >= 26.0; else a warning):
the same inputs give the same bytes, so a Dockerfile comment re-runs nothing downstream. Before
buildx runs, the action reads the Dockerfile and fails with `OCIKIT_FROM_UNRESOLVED` when an image
it names (`FROM`, `COPY --from=`, `RUN --mount=from=`, `# syntax=`) would be pulled from a
registry rather than come from a stage, `scratch` or `contexts` (`allow_pull = True` permits
pulls), and with `OCIKIT_CONTEXT_UNUSED` when a context is named by nothing.
"""

load("//rules/private:buildx.bzl", _buildx_args = "buildx_args", _buildx_build = "buildx_build")
load("//rules/private:node_toolchain.bzl", _ocikit_node_toolchain = "ocikit_node_toolchain")
load("//rules/private:oci_layout_context.bzl", _oci_layout_context = "oci_layout_context")
load("//rules/private:oci_layout_index.bzl", _oci_layout_index = "oci_layout_index")
load("//rules/private:oci_layout_load.bzl", _oci_layout_load = "oci_layout_load")
load("//rules/private:oci_layout_tarball.bzl", _oci_layout_tarball = "oci_layout_tarball")
load("//rules/private:oci_layout_verify_test.bzl", _oci_layout_verify_test = "oci_layout_verify_test")
load("//rules/private:providers.bzl", _BuildxBuildInfo = "BuildxBuildInfo", _OciLayoutContextInfo = "OciLayoutContextInfo")

BuildxBuildInfo = _BuildxBuildInfo
OciLayoutContextInfo = _OciLayoutContextInfo
buildx_args = _buildx_args
buildx_build = _buildx_build
oci_layout_context = _oci_layout_context
oci_layout_index = _oci_layout_index
oci_layout_load = _oci_layout_load
oci_layout_tarball = _oci_layout_tarball
oci_layout_verify_test = _oci_layout_verify_test
ocikit_node_toolchain = _ocikit_node_toolchain
