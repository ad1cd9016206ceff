"""Providers of ocikit's rules."""

OciLayoutContextInfo = provider(
    doc = """An OCI image layout pinned for use as a `docker buildx build` context.

The digest is known only once the resolve action has run: it is in `json`
(`descriptor.digest`, with `descriptor.mediaType`, `size`, `platform`, the `root` descriptor
the tag or digest named, `tag`, `matchedBy`). Rules pass `json` to their actions, which pin the
context by that digest.""",
    fields = {
        "digest": "string or None: the digest asked for (the `digest` attribute); the resolved digest is in `json`.",
        "json": "File: the output of `ocikit resolve --json` (sorted keys; the layout named by its execroot-relative path).",
        "layout": "File: the layout directory (a tree artifact, the tree artifact an OCI archive was unpacked into, or a source directory), or its `oci-layout` file when the layout was given as files.",
        "layout_files": "depset of Files: everything an action reads of the layout.",
        "layout_path": "string: execroot-relative path of the layout directory.",
        "layout_short_path": "string: runfiles path of the layout directory, relative to the workspace's runfiles directory.",
        "platform": "string or None: the platform asked for (`os/arch[/variant]`).",
        "tag": "string or None: the tag asked for (None: `latest`, or the only manifest).",
    },
)

OcikitSettingInfo = provider(
    doc = "The value of one of ocikit's flags (`--@ocikit//:docker_host=...`, `--@ocikit//:worker=false`).",
    fields = {"value": "string (bool for a boolean flag): the flag's value."},
)

BuildxBuildInfo = provider(
    doc = """What a `buildx_build` built and how: `buildx_args(build = ...)` reads it to write the
same invocation without repeating the attributes.""",
    fields = {
        "checks": "struct(verify_base: string, allow_unknown_platforms: bool, allow_pull: bool): the build's base check, platform check and Dockerfile check, which `buildx_args(build = ...)` passes on to `ocikit buildx-args`.",
        "context": "File: the staged build context (tree artifact `<name>.context/`: srcs and the Dockerfile).",
        "context_layouts": "depset of Files: everything of the context layouts (`contexts`) a build reads.",
        "layout": "File: the output OCI layout (tree artifact `<name>/`).",
        "report": "File: `<name>.build.json`, the portable part of `ocikit build --json` (digest, descriptor).",
        "resolved": "depset of Files: the resolve outputs (`oci_layout_context` JSON) of the contexts.",
        "spec": "dict: the build as the rules' config action reads it: `config` (buildx flags, camelCase keys; no `output`), `contexts` (name, layout paths, resolve output), `run` (runfiles paths of the context and Dockerfile).",
    },
)
