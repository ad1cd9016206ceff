import { readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import {
  ARCHITECTURE_ALIASES,
  KNOWN_ARCHITECTURES,
  KNOWN_OS,
  KNOWN_VARIANTS,
  OS_ALIASES,
  checkBuildxPlatform,
  checkKnownPlatform,
  knownPlatformsText,
  unknownPlatformPart,
} from '../src/layout/known-platforms.js';
import { normalizePlatform, parsePlatform } from '../src/layout/platform.js';
import { cli } from './helpers/cli.js';
import { standardLayout } from './helpers/layout-builder.js';

t.test('known platforms: Go values, containerd aliases and variants', async (t) => {
  for (const ok of [
    'linux/amd64',
    'linux/arm64',
    'linux/arm64/v8',
    'linux/arm64/v9.2',
    'linux/arm/v7',
    'linux/arm/6',
    'linux/amd64/v3',
    'linux/386',
    'linux/riscv64',
    'linux/ppc64le',
    'linux/s390x',
    'linux/loong64',
    'windows/amd64',
    'darwin/arm64',
    'macos/arm64',
    'wasip1/wasm',
    'linux/x86_64',
    'linux/x86-64',
    'linux/aarch64',
    'linux/armhf',
    'linux/i386',
  ])
    t.equal(unknownPlatformPart(parsePlatform(ok)), undefined, ok);
  const table: [string, string][] = [
    ['linux/amd65', 'architecture "amd65"'],
    ['linix/amd64', 'os "linix"'],
    ['unknown/unknown', 'os "unknown"'],
    ['linux/arm64/v7', 'variant "v7" of arm64'],
    ['linux/arm/v9', 'variant "v9" of arm'],
    ['linux/amd64/v5', 'variant "v5" of amd64'],
    ['linux/aarch64/v6', 'variant "v6" of arm64'],
    ['linux/riscv64/rva22u64', 'variant "rva22u64" of riscv64'],
  ];
  for (const [bad, part] of table) t.equal(unknownPlatformPart(parsePlatform(bad)), part, bad);
});

t.test('every alias and variant is one containerd normalises to a known value', async (t) => {
  for (const [alias, os] of Object.entries(OS_ALIASES)) {
    t.ok(KNOWN_OS.includes(os), `${alias} -> ${os}`);
    t.equal(normalizePlatform({ os: alias, architecture: 'amd64' }).os, os);
  }
  for (const [alias, arch] of Object.entries(ARCHITECTURE_ALIASES)) {
    t.ok(KNOWN_ARCHITECTURES.includes(arch), `${alias} -> ${arch}`);
    t.equal(normalizePlatform({ os: 'linux', architecture: alias }).architecture, arch);
  }
  for (const [arch, variants] of Object.entries(KNOWN_VARIANTS)) {
    t.ok(KNOWN_ARCHITECTURES.includes(arch), arch);
    for (const v of variants) {
      const n = normalizePlatform({ os: 'linux', architecture: arch, variant: v });
      t.equal(n.architecture, arch, `${arch}/${v}`);
      t.ok(
        n.variant === undefined || variants.includes(n.variant),
        `${arch}/${v} normalises to a listed variant (${n.variant ?? 'none'})`,
      );
    }
  }
});

t.test('checkKnownPlatform: OCIKIT_PLATFORM_UNKNOWN listing the known values', async (t) => {
  t.same(checkKnownPlatform('linux/arm64'), { os: 'linux', architecture: 'arm64' });
  t.throws(() => checkKnownPlatform('linux/amd65'), {
    code: 'OCIKIT_PLATFORM_UNKNOWN',
    message: 'platform "linux/amd65": architecture "amd65" is not a known one',
    hint: /known os: aix, .*linux.*; architectures: 386, amd64, .*; variants: amd64 v1 v2 v3 v4; arm v5 .*--allow-unknown-platforms/,
  });
  t.throws(() => checkKnownPlatform('linux'), { code: 'OCIKIT_PLATFORM_INVALID' });
  t.same(checkKnownPlatform('linux/amd65', { allowUnknown: true }), {
    os: 'linux',
    architecture: 'amd65',
  });
  t.throws(() => checkKnownPlatform('linux/amd65', { allowFlag: 'allow_unknown_platforms' }), {
    code: 'OCIKIT_PLATFORM_UNKNOWN',
    hint: /pass allow_unknown_platforms\.$/,
  });
  t.match(knownPlatformsText(), 'aliases aarch64=arm64, armel=arm, armhf=arm, i386=386');
});

t.test('checkBuildxPlatform: what buildx parses itself is left to it', async (t) => {
  for (const ok of ['local', 'LOCAL', 'arm64', 'linux/amd64', 'windows(10.0.17763)/amd64'])
    t.doesNotThrow(() => checkBuildxPlatform(ok), ok);
  t.throws(() => checkBuildxPlatform('linux/amd65'), { code: 'OCIKIT_PLATFORM_UNKNOWN' });
  t.throws(() => checkBuildxPlatform('linux/amd64/v8/x'), { code: 'OCIKIT_PLATFORM_INVALID' });
  t.doesNotThrow(() => checkBuildxPlatform('linux/amd65', { allowUnknown: true }));
});

/** A Starlark literal (lists and dicts of strings, trailing commas) as JSON. */
function starlarkValue(bzl: string, name: string): unknown {
  const m = new RegExp(`^${name} = `, 'm').exec(bzl);
  if (m === null) throw new Error(`${name} not found in platforms.bzl`);
  // Up to the bracket that closes the first one (no brackets inside these strings).
  const start = m.index + m[0].length;
  let depth = 0;
  let end = start;
  do {
    const c = bzl[end++];
    if (c === '[' || c === '{') depth++;
    else if (c === ']' || c === '}') depth--;
  } while (depth > 0 && end < bzl.length);
  return JSON.parse(bzl.slice(start, end).replace(/,(\s*[\]}])/g, '$1'));
}

t.test('rules/private/platforms.bzl holds the same tables', async (t) => {
  const bzl = readFileSync(
    path.join(import.meta.dirname, '../rules/private/platforms.bzl'),
    'utf8',
  );
  t.same(starlarkValue(bzl, 'KNOWN_OS'), KNOWN_OS, 'KNOWN_OS');
  t.same(starlarkValue(bzl, 'OS_ALIASES'), OS_ALIASES, 'OS_ALIASES');
  t.same(starlarkValue(bzl, 'KNOWN_ARCHITECTURES'), KNOWN_ARCHITECTURES, 'KNOWN_ARCHITECTURES');
  t.same(starlarkValue(bzl, 'ARCHITECTURE_ALIASES'), ARCHITECTURE_ALIASES, 'ARCHITECTURE_ALIASES');
  t.same(starlarkValue(bzl, 'KNOWN_VARIANTS'), KNOWN_VARIANTS, 'KNOWN_VARIANTS');
  // The message lists them the same way (the Starlark formats what the TypeScript formats).
  t.match(bzl, '"known os: %s (aliases %s); architectures: %s (aliases %s); variants: %s"');
  t.match(
    bzl,
    '"; ".join(["%s %s" % (a, " ".join(KNOWN_VARIANTS[a])) for a in sorted(KNOWN_VARIANTS)])',
  );
});

t.test('the CLI refuses an unknown --platform unless --allow-unknown-platforms', async (t) => {
  const dir = t.testdir();
  standardLayout(dir);
  const r = await cli(['resolve', dir, '--tag', 'multi', '--platform', 'linux/amd65']);
  t.equal(r.code, 1);
  t.match(
    r.stderr,
    /^ocikit: error OCIKIT_PLATFORM_UNKNOWN: platform "linux\/amd65": architecture "amd65" is not a known one\n  hint: .*known os: .*--allow-unknown-platforms/,
  );
  const allowed = await cli([
    'resolve',
    dir,
    '--tag',
    'multi',
    '--platform',
    'linux/amd65',
    '--allow-unknown-platforms',
  ]);
  t.equal(allowed.code, 1);
  t.match(allowed.stderr, /OCIKIT_PLATFORM_NOT_FOUND/, 'allowed: looked for, not found');
  const v = await cli(['verify', dir, '--tag', 'multi', '--platform', 'linux/arm64/v7']);
  t.match(v.stderr, /OCIKIT_PLATFORM_UNKNOWN: platform "linux\/arm64\/v7": variant "v7" of arm64/);
  const c = await cli(['context', `base=${dir}:multi`, '--platform', 'linux/amd65']);
  t.match(c.stderr, /OCIKIT_PLATFORM_UNKNOWN/);
  for (const command of ['buildx-args', 'build']) {
    const b = await cli([command, '--platform', 'linux/amd64,linux/amd65', '--out', 'x', '.'], dir);
    t.equal(b.code, 1, command);
    t.match(b.stderr, /^ocikit: error OCIKIT_PLATFORM_UNKNOWN: platform "linux\/amd65"/, command);
  }
});
