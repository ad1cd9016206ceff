"""Whether Bazel stamps this build (`--stamp`), for rules that read the workspace status."""

load(":providers.bzl", "OcikitSettingInfo")

def _stamp_setting_impl(ctx):
    return [OcikitSettingInfo(value = ctx.attr.stamp)]

stamp_setting = rule(
    implementation = _stamp_setting_impl,
    doc = "Provides `OcikitSettingInfo(value = stamp)`; `stamp` is selected on `--stamp` in BUILD.",
    attrs = {"stamp": attr.bool(doc = "Whether --stamp is on (select on a config_setting).")},
)
