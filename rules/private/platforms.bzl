"""Known platforms: the analysis-time check of `platform` / `platforms` attributes.

The same tables as the CLI's src/layout/known-platforms.ts (test/known-platforms.ts fails when
they differ): Go's GOOS and GOARCH values (src/internal/syslist/syslist.go), which the OCI image
index spec names for `platform.os` and `platform.architecture`, the aliases containerd's
`platforms.Normalize` maps to them, and the variants of the spec's table widened to what
containerd normalises and matches (arm v5-v8, arm64 v8.0-v9.7, amd64 v1-v4).
"""

KNOWN_OS = [
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "hurd",
    "illumos",
    "ios",
    "js",
    "linux",
    "nacl",
    "netbsd",
    "openbsd",
    "plan9",
    "solaris",
    "wasip1",
    "windows",
    "zos",
]

OS_ALIASES = {"macos": "darwin"}

KNOWN_ARCHITECTURES = [
    "386",
    "amd64",
    "amd64p32",
    "arm",
    "armbe",
    "arm64",
    "arm64be",
    "loong64",
    "mips",
    "mipsle",
    "mips64",
    "mips64le",
    "mips64p32",
    "mips64p32le",
    "ppc",
    "ppc64",
    "ppc64le",
    "riscv",
    "riscv64",
    "s390",
    "s390x",
    "sparc",
    "sparc64",
    "wasm",
]

ARCHITECTURE_ALIASES = {
    "aarch64": "arm64",
    "armel": "arm",
    "armhf": "arm",
    "i386": "386",
    "x86-64": "amd64",
    "x86_64": "amd64",
}

KNOWN_VARIANTS = {
    "amd64": ["v1", "v2", "v3", "v4"],
    "arm": ["v5", "v6", "v7", "v8", "5", "6", "7", "8"],
    "arm64": [
        "v8",
        "v8.0",
        "v8.1",
        "v8.2",
        "v8.3",
        "v8.4",
        "v8.5",
        "v8.6",
        "v8.7",
        "v8.8",
        "v8.9",
        "v9",
        "v9.0",
        "v9.1",
        "v9.2",
        "v9.3",
        "v9.4",
        "v9.5",
        "v9.6",
        "v9.7",
        "8",
        "9",
        "9.0",
    ],
}

def unknown_platform_part(p):
    """What is unknown about a well-formed platform.

    Args:
      p: `os/arch[/variant]` (already checked with is_platform).

    Returns:
      "" when every part is known, else e.g. `architecture "amd65"`.
    """
    parts = p.split("/")
    os = parts[0]
    if os not in KNOWN_OS and os not in OS_ALIASES:
        return "os %r" % os
    arch = ARCHITECTURE_ALIASES.get(parts[1], parts[1])
    if arch not in KNOWN_ARCHITECTURES:
        return "architecture %r" % parts[1]
    if len(parts) < 3 or parts[2] in KNOWN_VARIANTS.get(arch, []):
        return ""
    return "variant %r of %s" % (parts[2], arch)

def _aliases(m):
    return ", ".join(["%s=%s" % (k, m[k]) for k in sorted(m)])

def known_platforms_text():
    """The known values in one line (the CLI prints the same).

    Returns:
      A string listing the known os, architecture and variant values.
    """
    variants = "; ".join(["%s %s" % (a, " ".join(KNOWN_VARIANTS[a])) for a in sorted(KNOWN_VARIANTS)])
    return "known os: %s (aliases %s); architectures: %s (aliases %s); variants: %s" % (
        ", ".join(KNOWN_OS),
        _aliases(OS_ALIASES),
        ", ".join(KNOWN_ARCHITECTURES),
        _aliases(ARCHITECTURE_ALIASES),
        variants,
    )

def check_known_platforms(rule, attr_name, values, allow_unknown):
    """Fails on a platform whose os, architecture or variant is not known, listing the known ones.

    Args:
      rule: "rule_name //label", for the message.
      attr_name: the attribute, for the message.
      values: well-formed platforms (is_platform already holds).
      allow_unknown: the rule's allow_unknown_platforms attribute.
    """
    if allow_unknown:
        return
    for p in values:
        unknown = unknown_platform_part(p)
        if unknown:
            fail("%s: %s %r: %s is not a known one; check the spelling (%s), or set allow_unknown_platforms = True for an exotic platform" % (
                rule,
                attr_name,
                p,
                unknown,
                known_platforms_text(),
            ))

ALLOW_UNKNOWN_PLATFORMS_DOC = "Accept a platform whose os, architecture or variant is not a known value (Go's GOOS/GOARCH lists, the OCI and containerd variants; see the README). Without it such a platform is an analysis error listing the known values. The CLI gets `--allow-unknown-platforms`."

def allow_unknown_platforms_attr():
    """The `allow_unknown_platforms` attribute of every rule that takes a platform.

    Returns:
      attr.bool, default False.
    """
    return attr.bool(default = False, doc = ALLOW_UNKNOWN_PLATFORMS_DOC)

def check_platform_attr(ctx, rule):
    """check_known_platforms for a rule's one `platform` attribute ("" is not checked).

    Args:
      ctx: rule context with `platform` and `allow_unknown_platforms`.
      rule: "rule_name //label", for the message.
    """
    if ctx.attr.platform:
        check_known_platforms(rule, "platform", [ctx.attr.platform], ctx.attr.allow_unknown_platforms)
