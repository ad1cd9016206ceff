"""oci_layout_load: `bazel run` loads the image of an OCI layout into the docker daemon."""

load(":common.bzl", "CLI_ATTRS", "TOOLCHAINS", "check_selection", "launcher", "run_node")
load(":layout.bzl", "layout_attr", "layout_root", "resolve_layout")
load(":platforms.bzl", "allow_unknown_platforms_attr", "check_platform_attr")
load(":providers.bzl", "OcikitSettingInfo")

_LOWER_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
_ALNUM = _LOWER_ALNUM + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_TAG_CHARS = _ALNUM + "_.-"

def _is_path_component(c):
    # [a-z0-9]+ ((. | _ | __ | -+) [a-z0-9]+)*
    if not c or c[0] not in _LOWER_ALNUM or c[-1] not in _LOWER_ALNUM:
        return False
    sep = ""
    for ch in c.elems():
        if ch in _LOWER_ALNUM:
            if sep and sep not in [".", "_", "__"] and sep != "-" * len(sep):
                return False
            sep = ""
        elif ch in "._-":
            sep += ch
        else:
            return False
    return True

def _is_domain(d):
    host, colon, port = d.partition(":")
    if colon and (not port or not port.isdigit()):
        return False
    for part in host.split("."):
        if not part or part[0] not in _ALNUM or part[-1] not in _ALNUM:
            return False
        for ch in part.elems():
            if ch not in _ALNUM and ch != "-":
                return False
    return True

def normalize_repo_tag(s):
    """A repo tag as docker names it (`app:1` -> `docker.io/library/app:1`), or None if invalid.

    The grammar and normalisation of github.com/distribution/reference (ParseNormalizedNamed,
    TagNameOnly): no digest; a missing tag is `latest`.

    Args:
      s: the repo tag as written.

    Returns:
      the full name with its tag, or None.
    """
    if not s or "@" in s:
        return None
    name, tag = s, "latest"
    colon = s.rfind(":")
    if colon > s.rfind("/"):
        name, tag = s[:colon], s[colon + 1:]
    if not tag or len(tag) > 128 or tag[0] not in _ALNUM + "_":
        return None
    for ch in tag.elems():
        if ch not in _TAG_CHARS:
            return None
    first, slash, rest = name.partition("/")
    if not slash or ("." not in first and ":" not in first and first != "localhost" and first.lower() == first):
        domain, path = "docker.io", name
    else:
        domain, path = first, rest
    if domain == "index.docker.io":
        domain = "docker.io"
    if domain == "docker.io" and "/" not in path:
        path = "library/" + path
    if not _is_domain(domain):
        return None
    for c in path.split("/"):
        if not _is_path_component(c):
            return None
    full = domain + "/" + path
    if len(full) > 255:
        return None
    return full + ":" + tag

def _oci_layout_load_impl(ctx):
    rule = "oci_layout_load %s" % ctx.label
    check_selection(rule, ctx.attr.tag, ctx.attr.digest, ctx.attr.platform)
    check_platform_attr(ctx, rule)
    names = []
    for t in ctx.attr.repo_tags:
        n = normalize_repo_tag(t)
        if n == None:
            fail("%s: repo_tags entry %r is not a docker image name with a tag; write e.g. \"app:1.0\" or \"example.com/team/app:1.0\" (lowercase path, no digest)" % (rule, t))
        if n not in names:
            names.append(n)

    layout = layout_root(ctx)
    resolved = ctx.actions.declare_file(ctx.label.name + ".json")
    resolve_layout(ctx, layout, resolved)

    archive = ctx.actions.declare_file(ctx.label.name + ".tar")
    info = ctx.actions.declare_file(ctx.label.name + ".load.json")
    args = ctx.actions.args()
    args.add(ctx.file._helper)
    args.add("load-archive")
    args.add("--cli", ctx.file._cli)
    args.add("--layout", layout.path)
    args.add("--resolved", resolved)
    args.add_all(names, before_each = "--name")
    args.add("--out", archive)
    args.add("--info", info)
    run_node(
        ctx,
        arguments = [args],
        inputs = depset([ctx.file._cli, ctx.file._helper, resolved], transitive = [layout.files]),
        outputs = [archive, info],
        mnemonic = "OciLayoutLoadArchive",
        progress_message = "Packing %{label} for docker load",
    )

    docker_host = ctx.attr.docker_host or ctx.attr._docker_host[OcikitSettingInfo].value
    argv = [
        ("rf", ctx.file._helper.short_path),
        ("lit", "load"),
        ("lit", "--docker"),
        ("lit", ctx.attr._docker[OcikitSettingInfo].value),
        ("lit", "--docker-host"),
        ("lit", docker_host),
        ("lit", "--archive"),
        ("rf", archive.short_path),
        ("lit", "--resolved"),
        ("rf", resolved.short_path),
        ("lit", "--info"),
        ("rf", info.short_path),
    ]
    for n in names:
        argv.extend([("lit", "--name"), ("lit", n)])
    argv.append(("lit", "--"))
    exe = ctx.actions.declare_file(ctx.label.name + ".sh")
    node_files = launcher(ctx, output = exe, argv = argv)
    return [
        DefaultInfo(
            executable = exe,
            files = depset([archive]),
            runfiles = ctx.runfiles(files = node_files + [ctx.file._helper, archive, resolved, info]),
        ),
        OutputGroupInfo(
            resolved = depset([resolved]),
            tarball = depset([archive]),
        ),
    ]

oci_layout_load = rule(
    implementation = _oci_layout_load_impl,
    doc = """`bazel run` loads the image of an OCI layout into the docker daemon under `repo_tags`,
with `docker load`; nothing is rebuilt.

Building the target writes `<name>.tar`: an OCI archive (`ocikit pack --docker-manifest`,
byte-identical) of the image the selection names (`tag` / `digest` / `platform`, resolved in an
action as `oci_layout_context` does; default: the layout's only image), its index.json naming
that image once per repo tag (`io.containerd.image.name`, the way buildx names images), beside
Docker's `manifest.json` (as `docker save` writes it) for a single-platform image. Running it
calls `docker load -i <name>.tar` (flags after `--` are added), then checks that every repo tag
is now that image.

Both image stores load it. With the containerd image store (as `buildx_build` needs) an image
ID is the manifest or index digest, so `docker image inspect` shows the layout's digest; a
multi-platform index loads whole (the daemon unpacks its own platform) and `platform` loads one
manifest. The classic store (dockerd's default before 29) reads `manifest.json`: the image ID is
its config's digest, and a name holds one platform, so a multi-platform selection is refused
before anything is loaded (`OCIKIT_DRIVER_UNSUPPORTED`): set `platform`. The docker CLI is
`--@ocikit//:docker` (default `docker`, looked up on the caller's PATH) and the daemon
`docker_host`, else `--@ocikit//:docker_host` (default `unix:///var/run/docker.sock`): the same
daemon `buildx_build` builds with; the caller's DOCKER_HOST and docker context do not apply.

```starlark
load("@ocikit//rules:defs.bzl", "oci_layout_load")

oci_layout_load(
    name = "app_load",
    layout = ":app",  # a buildx_build, an oci_layout_index, ...
    repo_tags = ["example.com/app:1.0"],
)
```
`bazel run //:app_load` then `docker run example.com/app:1.0`.""",
    attrs = dict(CLI_ATTRS, **{
        "allow_unknown_platforms": allow_unknown_platforms_attr(),
        "digest": attr.string(
            doc = "Load the manifest or index with this digest (`sha256:...`); wins over `tag`.",
        ),
        "docker_host": attr.string(
            doc = "DOCKER_HOST for `docker load` (e.g. `unix:///run/user/1000/docker.sock`). Default: `--@ocikit//:docker_host`.",
        ),
        "layout": layout_attr(),
        "platform": attr.string(
            doc = "Load only this platform's manifest of the selection (`os/arch[/variant]`). Default: the whole selection (an index loads with all its platforms).",
        ),
        "repo_tags": attr.string_list(
            mandatory = True,
            allow_empty = False,
            doc = "The names the image gets in the daemon, with a tag (`app:1.0`, `example.com/team/app:1.0`; without a tag: `latest`). Normalised as docker does: `app:1.0` is `docker.io/library/app:1.0`.",
        ),
        "tag": attr.string(
            doc = "The layout's tag to load (as `oci_layout_context` matches it). Default: `latest`, or the layout's only manifest (a `buildx_build` or `oci_layout_index` has one).",
        ),
        "_docker": attr.label(default = Label("//:docker")),
        "_docker_host": attr.label(default = Label("//:docker_host")),
    }),
    executable = True,
    toolchains = TOOLCHAINS,
)
