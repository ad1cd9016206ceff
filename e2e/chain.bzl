"""The chain the e2e workspace builds more than once (//:app... and //remote:app...), as macros.

A layout made by one action, pinned by tag, built on with buildx (Dockerfile.app + app.txt),
the result pinned and built on again (Dockerfile.app2 + app2.txt), and the tests of the two
results. Not part of ocikit: the e2e workspace's own shorthand.
"""

load("@ocikit//rules:defs.bzl", "buildx_build", "oci_layout_context", "oci_layout_verify_test")
load(":defs.bzl", "e2e_layout")

def app_build(name, base, platforms = ["linux/amd64"], **kwargs):
    """buildx_build of Dockerfile.app (app.txt on FROM base), without provenance.

    Args:
      name: target name.
      base: the oci_layout_context of the `base` build context.
      platforms: target platforms.
      **kwargs: more buildx_build attributes (repo_tags, docker_host, tls_*, tags, ...).
    """
    buildx_build(
        name = name,
        srcs = [Label("//:app.txt")],
        contexts = {"base": base},
        dockerfile = Label("//:Dockerfile.app"),
        platforms = platforms,
        provenance = "false",
        **kwargs
    )

def app_chain(tags = None, **daemon):
    """base_layout -> base -> app -> app_ctx -> app2, and app_verify, app2_verify, app2_content_test.

    Args:
      tags: tags of every target (e.g. ["manual"]).
      **daemon: where the two builds run (docker_host, tls_ca, tls_cert, tls_key).
    """
    common = {"tags": tags} if tags != None else {}
    e2e_layout(
        name = "base_layout",
        text = "base layer from one Bazel action",
        **common
    )
    oci_layout_context(
        name = "base",
        layout = ":base_layout",
        tag = "v1",
        **common
    )
    app_build(
        name = "app",
        base = ":base",
        repo_tags = ["e2e.example/app:1"],
        **dict(common, **daemon)
    )

    # Chained: the first build's output layout is the second build's base.
    oci_layout_context(
        name = "app_ctx",
        layout = ":app",
        **common
    )
    buildx_build(
        name = "app2",
        srcs = [Label("//:app2.txt")],
        contexts = {"app": ":app_ctx"},
        dockerfile = Label("//:Dockerfile.app2"),
        platforms = ["linux/amd64"],
        provenance = "false",
        **dict(common, **daemon)
    )
    oci_layout_verify_test(
        name = "app_verify",
        layout = ":app",
        **common
    )
    oci_layout_verify_test(
        name = "app2_verify",
        layout = ":app2",
        platform = "linux/amd64",
        **common
    )

    # The chained image holds all three layers' files.
    native.sh_test(
        name = "app2_content_test",
        srcs = [Label("//:app2_content_test.sh")],
        args = [
            "$(rootpath @ocikit_node//:bin/node)",
            "$(rootpath :app2)",
        ],
        data = [
            ":app2",
            "@ocikit_node//:bin/node",
        ],
        **common
    )
