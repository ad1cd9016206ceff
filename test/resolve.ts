import t from 'tap';
import { openLayout } from '../src/layout.js';
import { resolve, findTag } from '../src/resolve.js';
import { LayoutBuilder, standardLayout, tagged } from './helpers/layout-builder.js';

t.test('tag resolution follows buildx order', async (t) => {
  const dir = t.testdir();
  const b = new LayoutBuilder(dir);
  const a = b.image({ platform: { os: 'linux', architecture: 'amd64' }, layers: [{ a: 'a' }] });
  const c = b.image({ platform: { os: 'linux', architecture: 'amd64' }, layers: [{ c: 'c' }] });
  // containerd's name wins over ref.name for the same tag value
  b.writeIndex([tagged(a, 'v1'), tagged(c, 'v1', 'io.containerd.image.name')]);
  const layout = await openLayout(dir);
  const r = await resolve(layout, { tag: 'v1' });
  t.equal(r.descriptor.digest, c.digest);
  t.equal(r.matchedBy, 'io.containerd.image.name');
  t.equal(findTag(layout, 'v1').descriptor.digest, c.digest);
});

t.test('no tag means latest, then the single-manifest fallback', async (t) => {
  const dir = t.testdir();
  const b = new LayoutBuilder(dir);
  const a = b.image({ platform: { os: 'linux', architecture: 'amd64' }, layers: [] });
  b.writeIndex([a]);
  const r = await resolve(await openLayout(dir));
  t.equal(r.descriptor.digest, a.digest);
  t.equal(r.tag, 'latest');
  t.equal(r.matchedBy, 'single-manifest');
  t.equal(r.layers, 0, 'a zero-layer image is a normal image');
  t.same(
    r.descriptor.platform,
    { os: 'linux', architecture: 'amd64' },
    'platform read from the config',
  );
});

t.test('platform selection in a multi-platform index, scratch included', async (t) => {
  const dir = t.testdir();
  const s = standardLayout(dir);
  const layout = await openLayout(dir);
  const amd = await resolve(layout, { tag: 'multi', platform: 'linux/amd64' });
  t.equal(amd.descriptor.digest, s.amd64.digest);
  t.same(amd.path, [s.multi.digest, s.amd64.digest]);
  t.equal(amd.layers, 1);
  const arm = await resolve(layout, { tag: 'multi', platform: 'linux/arm64' });
  t.equal(arm.descriptor.digest, s.arm64.digest, 'arm64 matches arm64/v8');
  t.equal(arm.layers, 0);
  const armv8 = await resolve(layout, { tag: 'multi', platform: 'linux/aarch64/v8' });
  t.equal(armv8.descriptor.digest, s.arm64.digest, 'aliases normalised');
  const whole = await resolve(layout, { tag: 'multi' });
  t.equal(whole.descriptor.digest, s.multi.digest, 'no platform: the index itself');
  await t.rejects(resolve(layout, { tag: 'multi', platform: 'linux/s390x' }), {
    code: 'OCIKIT_PLATFORM_NOT_FOUND',
  });
  await t.rejects(resolve(layout, { tag: 'multi', platform: 'linux' }), {
    code: 'OCIKIT_PLATFORM_INVALID',
  });
  const single = await resolve(layout, { tag: 'single', platform: 'linux/amd64' });
  t.equal(single.descriptor.digest, s.single.digest, 'a manifest matches through its config');
  await t.rejects(resolve(layout, { tag: 'single', platform: 'linux/arm64' }), {
    code: 'OCIKIT_PLATFORM_NOT_FOUND',
  });
});

t.test('digest selection: top level, nested, and unknown', async (t) => {
  const dir = t.testdir();
  const s = standardLayout(dir);
  const layout = await openLayout(dir);
  t.equal((await resolve(layout, { digest: s.single.digest })).matchedBy, 'digest');
  const nested = await resolve(layout, { digest: s.arm64.digest });
  t.equal(nested.descriptor.digest, s.arm64.digest);
  t.equal(nested.tag, undefined);
  const both = await resolve(layout, { digest: s.single.digest, tag: 'multi' });
  t.equal(both.descriptor.digest, s.single.digest, 'the digest wins over the tag');
  await t.rejects(resolve(layout, { digest: `sha256:${'0'.repeat(64)}` }), {
    code: 'OCIKIT_DIGEST_NOT_FOUND',
  });
  await t.rejects(resolve(layout, { digest: 'sha256:../../x' }), { code: 'OCIKIT_DIGEST_INVALID' });
});

t.test('attestation manifests are skipped', async (t) => {
  const dir = t.testdir();
  const b = new LayoutBuilder(dir);
  const img = b.image({ platform: { os: 'linux', architecture: 'amd64' }, layers: [] });
  const att = b.image({
    platform: { os: 'unknown', architecture: 'unknown' },
    layers: [{ 'x.json': '{}' }],
  });
  const attDesc = {
    ...att,
    annotations: {
      'vnd.docker.reference.type': 'attestation-manifest',
      'vnd.docker.reference.digest': img.digest,
    },
  };
  const idx = b.index([img, attDesc]);
  b.writeIndex([tagged(idx, 'latest')]);
  const r = await resolve(await openLayout(dir), { platform: 'linux/amd64' });
  t.equal(r.descriptor.digest, img.digest);
  await t.rejects(resolve(await openLayout(dir), { platform: 'unknown/unknown' }), {
    code: 'OCIKIT_PLATFORM_NOT_FOUND',
  });
});

t.test('tag errors', async (t) => {
  const dir = t.testdir();
  const b = new LayoutBuilder(dir);
  const a = b.image({ platform: { os: 'linux', architecture: 'amd64' }, layers: [{ a: 'a' }] });
  const c = b.image({ platform: { os: 'linux', architecture: 'arm64' }, layers: [{ c: 'c' }] });
  b.writeIndex([tagged(a, 'dup'), tagged(c, 'dup'), tagged(c, 'other')]);
  const layout = await openLayout(dir);
  const err = await resolve(layout, { tag: 'dup' }).catch((e: unknown) => e);
  t.match(err, { code: 'OCIKIT_TAG_AMBIGUOUS', details: { digests: [a.digest, c.digest] } });
  t.match(err, { message: new RegExp(`${a.digest}.*${c.digest}`) }, 'both digests named');
  await t.rejects(resolve(layout, { tag: 'nope' }), {
    code: 'OCIKIT_TAG_NOT_FOUND',
    hint: /dup, other/,
  });
  t.equal(
    (await resolve(layout, { tag: 'other' })).descriptor.digest,
    c.digest,
    'the same digest twice is not ambiguous',
  );
});

t.test('nested indexes', async (t) => {
  const dir = t.testdir();
  const b = new LayoutBuilder(dir);
  const amd = b.image({ platform: { os: 'linux', architecture: 'amd64' }, layers: [{ a: 'a' }] });
  const arm = b.image({
    platform: { os: 'linux', architecture: 'arm', variant: 'v7' },
    layers: [],
  });
  const inner = b.index([amd, arm]);
  const outer = b.index([inner]);
  b.writeIndex([tagged(outer, 'nested')]);
  const r = await resolve(await openLayout(dir), { tag: 'nested', platform: 'linux/arm' });
  t.equal(r.descriptor.digest, arm.digest, 'linux/arm means arm/v7');
  t.same(r.path, [outer.digest, inner.digest, arm.digest]);
});
