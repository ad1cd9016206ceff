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
        "layout": "File: the layout directory (a tree artifact or source directory), or its `oci-layout` file when the layout was given as files.",
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
