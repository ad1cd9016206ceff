"""How the rules read an OCI layout attribute: a directory, files with `oci-layout`, or an archive."""

load(":common.bzl", "run_node")

# What `ocikit unpack` reads (ocikit pack, skopeo oci-archive:, buildx type=oci,dest=x.tar).
ARCHIVE_SUFFIXES = [".tar", ".tar.gz", ".tgz"]

def is_archive(f):
    """Whether a File is an OCI archive by its name.

    Args:
      f: a File.

    Returns:
      True for names ending in .tar, .tar.gz or .tgz (and not a directory).
    """
    if f.is_directory:
        return False
    for suffix in ARCHIVE_SUFFIXES:
        if f.basename.endswith(suffix):
            return True
    return False

def _dirname_short_path(short_path):
    d = short_path.rpartition("/")[0]
    return d if d else "."

def _source_directory_warning(what, f):
    # The only way for analysis to warn (shown as DEBUG: ... WARNING); printed once per analysis.
    # buildifier: disable=print
    print(("WARNING: %s: %s is a source directory; Bazel does not track changes inside it (an " +
           "edited index.json or blob keeps the old result). Name its files instead, in //%s: " +
           "filegroup(name = \"%s\", srcs = glob([\"%s/**\"]))") % (
        what,
        f.short_path,
        f.owner.package,
        f.basename,
        f.owner.name,
    ))

def unpack_archive(ctx, archive, out_name):
    """Declares `ocikit unpack ARCHIVE --out <out_name>/`: the archive as a layout tree artifact.

    Every blob is hashed while it streams and the layout must be complete, so the tree artifact
    is as good as a verified layout.

    Args:
      ctx: rule context (CLI_ATTRS, TOOLCHAINS).
      archive: the archive File.
      out_name: name of the tree artifact, relative to the package.

    Returns:
      the tree artifact File.
    """
    out = ctx.actions.declare_directory(out_name)
    args = ctx.actions.args()
    args.add(ctx.file._cli)
    args.add("unpack")
    args.add(archive)
    args.add("--out", out.path)
    run_node(
        ctx,
        arguments = [args],
        inputs = depset([ctx.file._cli, archive]),
        outputs = [out],
        mnemonic = "OciLayoutUnpack",
        progress_message = "Unpacking the OCI archive %s for %%{label}" % archive.short_path,
    )
    return out

def layout_of_files(ctx, files, what, unpack_name = None):
    """The OCI layout a list of files names.

    A directory (tree artifact, or a source directory: warned about), files among which exactly
    one is `oci-layout`, or one archive (`.tar`, `.tar.gz`, `.tgz`).

    Args:
      ctx: rule context (CLI_ATTRS, TOOLCHAINS when unpack_name is set).
      files: the Files of the attribute (or of one label of a label list).
      what: "rule //label attribute", for messages.
      unpack_name: for an archive, the tree artifact to unpack it into; None keeps the archive
        (the rule reads it itself).

    Returns:
      struct(file, path, short_path, files, archive): the directory File (or the oci-layout
      file, or the archive when it is kept), its execroot-relative and runfiles paths, a depset
      of everything to read, and the archive File (None unless kept).
    """
    if not files:
        fail("%s: names no files; give a directory (e.g. a buildx_build or oci_image target), an OCI archive (.tar) or files that include oci-layout" % what)
    if len(files) == 1 and files[0].basename != "oci-layout":
        f = files[0]
        if is_archive(f):
            if unpack_name == None:
                return struct(file = f, path = f.path, short_path = f.short_path, files = depset([f]), archive = f)
            f = unpack_archive(ctx, f, unpack_name)
        elif f.is_source and not f.is_directory:
            _source_directory_warning(what, f)
        return struct(file = f, path = f.path, short_path = f.short_path, files = depset([f]), archive = None)
    markers = [f for f in files if f.basename == "oci-layout"]
    if len(markers) != 1:
        fail("%s: %d files but %d named oci-layout; give the layout directory, an OCI archive (.tar), or files of exactly one layout (e.g. glob([\"layout/**\"]))" % (
            what,
            len(files),
            len(markers),
        ))
    m = markers[0]
    return struct(file = m, path = m.dirname, short_path = _dirname_short_path(m.short_path), files = depset(files), archive = None)

def layout_root(ctx, attr_name = "layout", unpack = True):
    """The OCI layout an attribute names (see layout_of_files).

    Args:
      ctx: rule context.
      attr_name: the attribute (allow_files label).
      unpack: unpack an archive in an action into `<name>.layout/` (True), or keep it.

    Returns:
      struct(file, path, short_path, files, archive) as layout_of_files.
    """
    return layout_of_files(
        ctx,
        getattr(ctx.files, attr_name),
        "%s %s" % (ctx.label, attr_name),
        unpack_name = ctx.label.name + ".layout" if unpack else None,
    )

def resolve_layout(ctx, layout, out):
    """Declares `ocikit resolve LAYOUT --json-out OUT`: the descriptor the rule's selection names.

    The selection is the rule's attributes `tag`, `digest`, `platform`, `allow_unknown_platforms`
    (the rule checked `platform` at analysis with it) and, where the rule has it, `strict`.

    Args:
      ctx: rule context (CLI_ATTRS, TOOLCHAINS and the attributes above).
      layout: a struct from layout_root.
      out: the JSON File to write.
    """
    args = ctx.actions.args()
    args.add(ctx.file._cli)
    args.add("resolve")
    args.add(layout.path)
    for flag, value in [("--tag", ctx.attr.tag), ("--digest", ctx.attr.digest), ("--platform", ctx.attr.platform)]:
        if value:
            args.add(flag, value)
    if getattr(ctx.attr, "strict", False):
        args.add("--strict")
    if ctx.attr.allow_unknown_platforms:
        args.add("--allow-unknown-platforms")
    args.add("--json-out", out)
    run_node(
        ctx,
        arguments = [args],
        inputs = depset([ctx.file._cli], transitive = [layout.files]),
        outputs = [out],
        mnemonic = "OciLayoutResolve",
        progress_message = "Resolving OCI layout %{label}",
    )

def layout_attr(archive = "unpacked by an action (`ocikit unpack`, every blob hashed)"):
    """The `layout` attribute of the rules (read with layout_root).

    Args:
      archive: what happens to an archive, for the doc.

    Returns:
      a mandatory attr.label that allows files.
    """
    doc = ("The OCI image layout: a directory (a tree artifact such as a `buildx_build`, an " +
           "`oci_layout_index` or rules_oci's `oci_image`), the files of one layout among which " +
           "exactly one is `oci-layout` (a filegroup `glob([\"img/**\"])`: the way to use a layout " +
           "checked into the source tree), or an OCI archive `.tar` / `.tar.gz` / `.tgz` (an " +
           "`oci_layout_tarball`, a genrule's output), %s. A source directory named directly also " +
           "works, but Bazel does not track changes inside it: the rule prints a warning.") % archive
    return attr.label(mandatory = True, allow_files = True, doc = doc)
