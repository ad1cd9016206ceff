import t from 'tap';
import { buildxBehaviour, formatBuildxVersion, parseBuildxVersion } from '../src/buildx/compat.js';
import { formatLayoutRef, parseLayoutRef, pathNeedsRemap } from '../src/buildx/ref.js';

t.test('buildx version strings', async (t) => {
  t.match(parseBuildxVersion('github.com/docker/buildx 0.29.1+ds1 0.29.1+ds1-4'), {
    major: 0,
    minor: 29,
    patch: 1,
    raw: '0.29.1+ds1',
  });
  t.match(parseBuildxVersion('github.com/docker/buildx v0.19.3 48d6a39'), { minor: 19, patch: 3 });
  t.match(parseBuildxVersion('0.13.1+ds1-3'), { minor: 13, patch: 1 });
  t.match(parseBuildxVersion('1.0.0'), { major: 1, minor: 0 });
  t.throws(() => parseBuildxVersion('buildx dev'), { code: 'OCIKIT_USAGE' });
  t.equal(formatBuildxVersion(undefined), 'unknown');
});

t.test('behaviour table rows', async (t) => {
  const at = (v: string) => buildxBehaviour(parseBuildxVersion(v));
  t.match(at('0.13.1'), {
    locksOnTagRef: true,
    toleratesReadOnlyLock: false,
    mayCreateIngest: true,
    probesFsVerity: false,
    cutsAtFirstSeparator: true,
  });
  t.match(at('0.18.0'), { toleratesReadOnlyLock: true, mayCreateIngest: true });
  t.match(at('0.19.0'), { mayCreateIngest: false, probesFsVerity: false });
  t.match(at('0.20.0'), { probesFsVerity: true });
  t.match(at('0.29.1'), {
    probesFsVerity: true,
    appliesRegoPolicy: false,
    cutsAtFirstSeparator: true,
    digestOnlyRefBroken: false,
  });
  t.match(at('0.31.0'), { appliesRegoPolicy: true });
  t.match(at('0.32.0'), { cutsAtFirstSeparator: false });
  t.match(at('0.33.2'), { digestOnlyRefBroken: true });
  t.match(at('0.34.0'), { digestOnlyRefBroken: false, createsMissingLayout: false });
  t.match(at('0.36.0'), { createsMissingLayout: true });
  const unknown = buildxBehaviour(undefined);
  t.match(unknown, { toleratesReadOnlyLock: false, mayCreateIngest: true, probesFsVerity: true });
});

t.test('oci-layout references', async (t) => {
  const d = `sha256:${'a'.repeat(64)}`;
  t.same(parseLayoutRef(`/x/layout:v1@${d}`), { path: '/x/layout', tag: 'v1', digest: d });
  t.same(parseLayoutRef('/x/layout:v1'), { path: '/x/layout', tag: 'v1' });
  t.same(parseLayoutRef(`/x/layout@${d}`), { path: '/x/layout', digest: d });
  t.same(parseLayoutRef('./layout'), { path: './layout' });
  t.same(
    parseLayoutRef('/a:b/layout'),
    { path: '/a:b/layout' },
    'a colon followed by a path is part of the path',
  );
  t.same(
    parseLayoutRef('/a:b/layout:t'),
    { path: '/a:b/layout', tag: 't' },
    'the last colon is the tag',
  );
  t.throws(() => parseLayoutRef(`@${d}`), { code: 'OCIKIT_USAGE' });
  t.throws(() => parseLayoutRef('/x@sha256:zz'), { code: 'OCIKIT_DIGEST_INVALID' });
  t.ok(pathNeedsRemap('/a:b') && pathNeedsRemap('/a@b') && !pathNeedsRemap('/a/b'));
  t.equal(formatLayoutRef('/l', 'latest', d), `oci-layout:///l:latest@${d}`);
  t.throws(() => formatLayoutRef('rel', 'latest', d));
});
