"""Module extensions of ocikit (for MODULE.bazel). Rules are in `@ocikit//rules:defs.bzl`."""

load("//rules/private:extensions.bzl", _node = "node")

node = _node
