/**
 * The platforms ocikit knows, so that `linux/amd65` is an error instead of an image labelled
 * linux/amd65. The OCI image index spec says `platform.os` and `platform.architecture` SHOULD be
 * Go's GOOS and GOARCH values: the lists are Go's (`src/internal/syslist/syslist.go`, past,
 * present and future targets), plus the aliases containerd's `platforms.Normalize` maps to them
 * (`macos`, `i386`, `x86_64`, `aarch64`, `armhf`, ...). Variants are the spec's table (arm v6-v8,
 * arm64 v8) widened to what containerd normalises and matches: arm v5-v8 (also `5`-`8`), arm64
 * v8.0-v8.9 and v9.0-v9.7 (also `8`, `9`, `9.0`), amd64 microarchitecture levels v1-v4. Other
 * architectures have no known variant.
 *
 * The Bazel rules hold the same tables in rules/private/platforms.bzl (analysis-time checks);
 * test/known-platforms.ts fails when the two differ.
 */
import { ErrorCode, OcikitError, quote } from '../errors.js';
import { parsePlatform } from './platform.js';
import type { Platform } from './schema.js';

/** Go's GOOS values (syslist.KnownOS). */
export const KNOWN_OS: readonly string[] = [
  'aix',
  'android',
  'darwin',
  'dragonfly',
  'freebsd',
  'hurd',
  'illumos',
  'ios',
  'js',
  'linux',
  'nacl',
  'netbsd',
  'openbsd',
  'plan9',
  'solaris',
  'wasip1',
  'windows',
  'zos',
];

/** OS names containerd normalises to a GOOS value. */
export const OS_ALIASES: Readonly<Record<string, string>> = { macos: 'darwin' };

/** Go's GOARCH values (syslist.KnownArch). */
export const KNOWN_ARCHITECTURES: readonly string[] = [
  '386',
  'amd64',
  'amd64p32',
  'arm',
  'armbe',
  'arm64',
  'arm64be',
  'loong64',
  'mips',
  'mipsle',
  'mips64',
  'mips64le',
  'mips64p32',
  'mips64p32le',
  'ppc',
  'ppc64',
  'ppc64le',
  'riscv',
  'riscv64',
  's390',
  's390x',
  'sparc',
  'sparc64',
  'wasm',
];

/** Architecture names containerd normalises to a GOARCH value. */
export const ARCHITECTURE_ALIASES: Readonly<Record<string, string>> = {
  aarch64: 'arm64',
  armel: 'arm',
  armhf: 'arm',
  i386: '386',
  x86_64: 'amd64',
  'x86-64': 'amd64',
};

/** Variants per (canonical) architecture, as written or as containerd normalises them. */
export const KNOWN_VARIANTS: Readonly<Record<string, readonly string[]>> = {
  amd64: ['v1', 'v2', 'v3', 'v4'],
  arm: ['v5', 'v6', 'v7', 'v8', '5', '6', '7', '8'],
  arm64: [
    'v8',
    'v8.0',
    'v8.1',
    'v8.2',
    'v8.3',
    'v8.4',
    'v8.5',
    'v8.6',
    'v8.7',
    'v8.8',
    'v8.9',
    'v9',
    'v9.0',
    'v9.1',
    'v9.2',
    'v9.3',
    'v9.4',
    'v9.5',
    'v9.6',
    'v9.7',
    '8',
    '9',
    '9.0',
  ],
};

/** What is unknown about a platform (e.g. `architecture "amd65"`), or undefined when all is known. */
export function unknownPlatformPart(p: Platform): string | undefined {
  const os = p.os.toLowerCase();
  if (!KNOWN_OS.includes(os) && OS_ALIASES[os] === undefined) return `os ${quote(p.os)}`;
  const written = p.architecture.toLowerCase();
  const arch = ARCHITECTURE_ALIASES[written] ?? written;
  if (!KNOWN_ARCHITECTURES.includes(arch)) return `architecture ${quote(p.architecture)}`;
  if (p.variant === undefined || p.variant === '') return undefined;
  if ((KNOWN_VARIANTS[arch] ?? []).includes(p.variant.toLowerCase())) return undefined;
  return `variant ${quote(p.variant)} of ${arch}`;
}

/** The known values in one line, for messages (the rules print the same). */
export function knownPlatformsText(): string {
  const aliases = (m: Readonly<Record<string, string>>) =>
    Object.keys(m)
      .sort()
      .map((k) => `${k}=${m[k]}`)
      .join(', ');
  const variants = Object.keys(KNOWN_VARIANTS)
    .sort()
    .map((a) => `${a} ${(KNOWN_VARIANTS[a] ?? []).join(' ')}`)
    .join('; ');
  return (
    `known os: ${KNOWN_OS.join(', ')} (aliases ${aliases(OS_ALIASES)}); ` +
    `architectures: ${KNOWN_ARCHITECTURES.join(', ')} (aliases ${aliases(ARCHITECTURE_ALIASES)}); ` +
    `variants: ${variants}`
  );
}

/** Options of {@link checkKnownPlatform}. */
export interface KnownPlatformOptions {
  /** Accept any well-formed platform (`--allow-unknown-platforms`). Default false. */
  allowUnknown?: boolean;
  /** The flag to name in the hint. Default `--allow-unknown-platforms`. */
  allowFlag?: string;
}

/**
 * Parse `os/arch[/variant]` and insist that each part is known (see the module comment).
 * @throws OcikitError `OCIKIT_PLATFORM_INVALID` (malformed), `OCIKIT_PLATFORM_UNKNOWN`
 */
export function checkKnownPlatform(value: string, options: KnownPlatformOptions = {}): Platform {
  const p = parsePlatform(value);
  if (options.allowUnknown === true) return p;
  const unknown = unknownPlatformPart(p);
  if (unknown === undefined) return p;
  throw new OcikitError(
    ErrorCode.PlatformUnknown,
    `platform ${quote(value)}: ${unknown} is not a known one`,
    {
      hint: `Check the spelling (${knownPlatformsText()}); for an exotic platform pass ${options.allowFlag ?? '--allow-unknown-platforms'}.`,
      details: { platform: value },
    },
  );
}

/**
 * {@link checkKnownPlatform} for a `docker buildx build --platform` value: `local` and a single
 * name (`arm64`, which buildx checks against the same lists itself) are left to buildx, and an
 * os version in parentheses (`windows(10.0.17763)/amd64`) is not part of the check.
 */
export function checkBuildxPlatform(value: string, options: KnownPlatformOptions = {}): void {
  const v = value.trim();
  const slash = v.indexOf('/');
  if (slash < 0) return;
  checkKnownPlatform(`${v.slice(0, slash).replace(/\([^)]*\)$/, '')}${v.slice(slash)}`, options);
}
