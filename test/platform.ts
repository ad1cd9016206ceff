import t from 'tap';
import {
  formatPlatform,
  isAttestation,
  normalizePlatform,
  parsePlatform,
  platformMatches,
  platformScore,
  compatiblePlatforms,
} from '../src/layout/platform.js';
import type { Descriptor, Platform } from '../src/layout/schema.js';

const p = (os: string, architecture: string, variant?: string): Platform =>
  variant === undefined ? { os, architecture } : { os, architecture, variant };

t.test('parsePlatform: os/arch[/variant]', async (t) => {
  t.same(parsePlatform('linux/amd64'), p('linux', 'amd64'));
  t.same(parsePlatform('linux/arm/v7'), p('linux', 'arm', 'v7'));
  t.same(
    parsePlatform(' Linux/ARM64/V8 '),
    p('linux', 'arm64', 'v8'),
    'trimmed and lowercased, not normalised',
  );
  t.same(parsePlatform('windows/amd64'), p('windows', 'amd64'));
  for (const bad of [
    '',
    'linux',
    'linux/',
    '/amd64',
    'linux//amd64',
    'linux/amd64/v8/x',
    'linux/am d64',
    'linux/amd64;rm',
    'linux/*',
  ]) {
    t.throws(
      () => parsePlatform(bad),
      { code: 'OCIKIT_PLATFORM_INVALID', hint: /linux\/amd64/ },
      JSON.stringify(bad),
    );
  }
});

t.test('formatPlatform', async (t) => {
  t.equal(formatPlatform(p('linux', 'amd64')), 'linux/amd64');
  t.equal(formatPlatform(p('linux', 'arm', 'v7')), 'linux/arm/v7');
  t.equal(
    formatPlatform({ os: 'linux', architecture: 'amd64', variant: '' }),
    'linux/amd64',
    'empty variant dropped',
  );
  t.equal(
    formatPlatform({ os: 'windows', architecture: 'amd64', 'os.version': '10.0.17763.1' }),
    'windows/amd64',
  );
  t.equal(formatPlatform(parsePlatform('linux/arm64/v8')), 'linux/arm64/v8', 'round trip');
});

t.test('normalizePlatform follows containerd platforms.Normalize', async (t) => {
  const cases: [Platform, Platform][] = [
    [p('linux', 'x86_64'), p('linux', 'amd64')],
    [p('linux', 'x86-64'), p('linux', 'amd64')],
    [p('linux', 'amd64', 'v1'), p('linux', 'amd64')],
    [p('linux', 'amd64', 'v3'), p('linux', 'amd64', 'v3')],
    [p('linux', 'i386'), p('linux', '386')],
    [p('linux', 'i386', 'whatever'), p('linux', '386')],
    [p('linux', 'aarch64'), p('linux', 'arm64')],
    [p('linux', 'aarch64', 'v8'), p('linux', 'arm64')],
    [p('linux', 'arm64', 'v8'), p('linux', 'arm64')],
    [p('linux', 'arm64', '8'), p('linux', 'arm64')],
    [p('linux', 'arm64', 'v8.0'), p('linux', 'arm64')],
    [p('linux', 'arm64', '9'), p('linux', 'arm64', 'v9')],
    [p('linux', 'arm64', 'v9.0'), p('linux', 'arm64', 'v9')],
    [p('linux', 'arm64', 'v8.2'), p('linux', 'arm64', 'v8.2')],
    [p('linux', 'armhf'), p('linux', 'arm', 'v7')],
    [p('linux', 'armhf', 'v6'), p('linux', 'arm', 'v7')],
    [p('linux', 'armel'), p('linux', 'arm', 'v6')],
    [p('linux', 'arm'), p('linux', 'arm', 'v7')],
    [p('linux', 'arm', '7'), p('linux', 'arm', 'v7')],
    [p('linux', 'arm', '6'), p('linux', 'arm', 'v6')],
    [p('linux', 'arm', '5'), p('linux', 'arm', 'v5')],
    [p('linux', 'arm', '8'), p('linux', 'arm', 'v8')],
    [p('linux', 'arm', 'v6'), p('linux', 'arm', 'v6')],
    [p('Linux', 'AMD64'), p('linux', 'amd64')],
    [p('macos', 'arm64'), p('darwin', 'arm64')],
    [p('linux', 's390x'), p('linux', 's390x')],
    [p('linux', 'riscv64'), p('linux', 'riscv64')],
  ];
  for (const [input, want] of cases) {
    t.same(normalizePlatform(input), want, `${formatPlatform(input)} -> ${formatPlatform(want)}`);
  }
  const extra: Platform = {
    os: 'windows',
    architecture: 'amd64',
    'os.version': '10.0',
    features: ['x'],
  };
  t.same(normalizePlatform(extra), p('windows', 'amd64'), 'only os/arch/variant are kept');
});

t.test('platformMatches and platformScore', async (t) => {
  t.ok(platformMatches(p('linux', 'arm64'), p('linux', 'arm64', 'v8')), 'arm64 == arm64/v8');
  t.ok(platformMatches(p('linux', 'arm64', 'v8'), p('linux', 'aarch64')), 'v8 == no variant');
  t.ok(platformMatches(p('linux', 'x86_64'), p('linux', 'amd64')));
  t.ok(platformMatches(p('linux', 'arm'), p('linux', 'armhf')), 'arm == arm/v7 == armhf');
  t.notOk(platformMatches(p('linux', 'arm'), p('linux', 'arm', 'v6')), 'arm means v7');
  t.notOk(platformMatches(p('linux', 'arm', 'v7'), p('linux', 'arm64')));
  t.notOk(platformMatches(p('linux', 'amd64'), p('windows', 'amd64')));
  t.ok(
    platformMatches(p('linux', 'amd64'), p('linux', 'amd64', 'v3')),
    'no wanted variant: any variant',
  );
  t.notOk(platformMatches(p('linux', 'amd64', 'v3'), p('linux', 'amd64')));
  t.equal(platformScore(p('linux', 'amd64'), p('linux', 'arm64')), 0);
  // containerd's platforms.Only, as BuildKit picks a base (observed with buildx 0.29.1 in
  // test/e2e/interop-producers.ts): exact first, then older variants, never a newer one.
  const exact = platformScore(p('linux', 'arm64', 'v8'), p('linux', 'arm64'));
  t.ok(exact > 0, 'arm64/v8 == arm64');
  t.equal(platformScore(p('linux', 'amd64'), p('linux', 'amd64', 'v2')), 0, 'amd64 never takes v2');
  t.equal(platformScore(p('linux', 'amd64', 'v2'), p('linux', 'amd64', 'v3')), 0);
  const v3 = (c: Platform): number => platformScore(p('linux', 'amd64', 'v3'), c);
  t.ok(v3(p('linux', 'amd64', 'v3')) > v3(p('linux', 'amd64', 'v2')), 'v3: exact first');
  t.ok(v3(p('linux', 'amd64', 'v2')) > v3(p('linux', 'amd64')), 'then v2, then v1');
  t.ok(v3(p('linux', 'amd64')) > v3(p('linux', '386')), 'then 386');
  t.ok(v3(p('linux', '386')) > 0);
  const v7 = (c: Platform): number => platformScore(p('linux', 'arm'), c);
  t.ok(v7(p('linux', 'arm', 'v6')) > v7(p('linux', 'arm', 'v5')), 'arm (v7) takes v6, then v5');
  t.ok(v7(p('linux', 'arm', 'v5')) > 0);
  t.equal(v7(p('linux', 'arm', 'v8')), 0, 'arm/v7 never takes v8');
  t.equal(v7(p('linux', 'arm64')), 0);
  const a64 = (c: Platform): number => platformScore(p('linux', 'arm64'), c);
  t.ok(a64(p('linux', 'arm64')) > a64(p('linux', 'arm', 'v8')), 'arm64, then arm/v8');
  t.ok(a64(p('linux', 'arm', 'v8')) > a64(p('linux', 'arm', 'v7')), 'then arm/v7');
  t.equal(a64(p('linux', 'arm64', 'v9')), 0, 'arm64 never takes arm64/v9');
  t.equal(platformScore(p('linux', 'amd64'), p('windows', 'amd64')), 0);
  t.same(compatiblePlatforms(p('linux', 'arm', 'v6')), [
    p('linux', 'arm', 'v6'),
    p('linux', 'arm', 'v5'),
  ]);
});

t.test('isAttestation', async (t) => {
  const d: Descriptor = {
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: `sha256:${'0'.repeat(64)}`,
    size: 1,
  };
  t.notOk(isAttestation(d), 'no platform, no annotation');
  t.notOk(isAttestation({ ...d, platform: p('linux', 'amd64') }));
  t.ok(isAttestation({ ...d, platform: p('unknown', 'unknown') }));
  t.ok(
    isAttestation({ ...d, annotations: { 'vnd.docker.reference.type': 'attestation-manifest' } }),
  );
  t.notOk(isAttestation({ ...d, annotations: { 'vnd.docker.reference.type': 'other' } }));
  t.notOk(isAttestation({ ...d, platform: p('unknown', 'amd64') }));
});
