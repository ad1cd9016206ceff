"""Build settings: strings for machine-specific values (daemon socket, docker CLI), booleans."""

load(":providers.bzl", "OcikitSettingInfo")

def _ocikit_flag_impl(ctx):
    return [OcikitSettingInfo(value = ctx.build_setting_value)]

ocikit_string_flag = rule(
    implementation = _ocikit_flag_impl,
    doc = "A string flag set with `--@ocikit//:NAME=VALUE` (e.g. in .bazelrc).",
    build_setting = config.string(flag = True),
)

ocikit_bool_flag = rule(
    implementation = _ocikit_flag_impl,
    doc = "A boolean flag set with `--@ocikit//:NAME=true|false` (e.g. in .bazelrc).",
    build_setting = config.bool(flag = True),
)
