import path from 'node:path';
import t from 'tap';
import { openLayout } from '../src/layout/layout.js';
import { CURRENT_TAG_ORDER, resolve, findTag, type TagOrder } from '../src/layout/resolve.js';
import type { Descriptor } from '../src/layout/schema.js';
import { cli } from './helpers/cli.js';
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

t.test(
  'tag fallback: warned for a tag asked for, quiet for the implied latest, refused by strict',
  async (t) => {
    const root = t.testdir();
    const untagged = path.join(root, 'untagged');
    const u = new LayoutBuilder(untagged);
    const only = u.image({ platform: { os: 'linux', architecture: 'amd64' }, layers: [] });
    u.writeIndex([only]);
    const taggedDir = path.join(root, 'tagged');
    const tb = new LayoutBuilder(taggedDir);
    const v1 = tb.image({ platform: { os: 'linux', architecture: 'amd64' }, layers: [{ a: 'a' }] });
    tb.writeIndex([tagged(v1, 'v1')]);
    const cases: {
      name: string;
      dir: string;
      tag?: string;
      strict?: boolean;
      matchedBy?: string;
      warnings?: string[];
      code?: string;
    }[] = [
      { name: 'untagged, no tag', dir: untagged, matchedBy: 'single-manifest', warnings: [] },
      {
        name: 'untagged, no tag, strict',
        dir: untagged,
        strict: true,
        matchedBy: 'single-manifest',
        warnings: [],
      },
      {
        name: 'untagged, --tag v1',
        dir: untagged,
        tag: 'v1',
        matchedBy: 'single-manifest',
        warnings: ['OCIKIT_W_TAG_FALLBACK'],
      },
      {
        name: 'untagged, --tag latest written out',
        dir: untagged,
        tag: 'latest',
        matchedBy: 'single-manifest',
        warnings: ['OCIKIT_W_TAG_FALLBACK'],
      },
      {
        name: 'untagged, --tag v1, strict',
        dir: untagged,
        tag: 'v1',
        strict: true,
        code: 'OCIKIT_TAG_NOT_FOUND',
      },
      {
        name: 'tagged, --tag v1',
        dir: taggedDir,
        tag: 'v1',
        matchedBy: 'org.opencontainers.image.ref.name',
        warnings: [],
      },
      {
        name: 'tagged, --tag v1, strict',
        dir: taggedDir,
        tag: 'v1',
        strict: true,
        matchedBy: 'org.opencontainers.image.ref.name',
        warnings: [],
      },
      {
        name: 'tagged, no tag (latest is not v1)',
        dir: taggedDir,
        matchedBy: 'single-manifest',
        warnings: [],
      },
      {
        name: 'tagged, --tag v2',
        dir: taggedDir,
        tag: 'v2',
        matchedBy: 'single-manifest',
        warnings: ['OCIKIT_W_TAG_FALLBACK'],
      },
      {
        name: 'tagged, --tag v2, strict',
        dir: taggedDir,
        tag: 'v2',
        strict: true,
        code: 'OCIKIT_TAG_NOT_FOUND',
      },
    ];
    for (const c of cases) {
      const layout = await openLayout(c.dir, { strict: c.strict ?? false });
      const options = c.tag === undefined ? {} : { tag: c.tag };
      if (c.code !== undefined) {
        await t.rejects(resolve(layout, options), { code: c.code }, c.name);
        continue;
      }
      const r = await resolve(layout, options);
      t.equal(r.matchedBy, c.matchedBy, `${c.name}: matchedBy`);
      t.equal(r.tag, c.tag ?? 'latest', `${c.name}: tag`);
      t.same(
        layout.warnings.map((w) => w.code),
        c.warnings,
        `${c.name}: warnings`,
      );
    }
    const layout = await openLayout(untagged);
    await resolve(layout, { tag: 'v1' });
    t.match(
      layout.warnings[0]?.message,
      new RegExp(`"v1".*${only.digest}`),
      'names the tag and the digest',
    );
  },
);

t.test(
  'lookup order: each order, and a warning naming both digests when they differ',
  async (t) => {
    const root = t.testdir();
    const amd = { os: 'linux', architecture: 'amd64' };
    const make = (
      name: string,
      f: (b: LayoutBuilder, a: Descriptor, c: Descriptor) => Descriptor[],
    ) => {
      const b = new LayoutBuilder(path.join(root, name));
      const a = b.image({ platform: amd, layers: [{ a: 'a' }] });
      const c = b.image({ platform: amd, layers: [{ c: 'c' }] });
      b.writeIndex(f(b, a, c));
      return { dir: path.join(root, name), a: a.digest, c: c.digest };
    };
    const NAME = 'io.containerd.image.name';
    // ref.name v1 on a, io.containerd.image.name v1 on c: the orders disagree.
    const split = make('split', (_b, a, c) => [tagged(a, 'v1'), tagged(c, 'v1', NAME)]);
    // only c carries v2, as io.containerd.image.name: buildx <= 0.19 does not find it.
    const nameOnly = make('name-only', (_b, a, c) => [tagged(a, 'v1'), tagged(c, 'v2', NAME)]);
    // both annotations on one descriptor, as buildx's tar export writes them: no disagreement.
    const both = make('both', (_b, a, c) => [tagged(tagged(a, 'v1'), 'v1', NAME), tagged(c, 'v2')]);
    // ref.name v1 twice, io.containerd.image.name v1 once.
    const dup = make('dup', (_b, a, c) => [tagged(a, 'v1'), tagged(tagged(c, 'v1'), 'v1', NAME)]);
    const cases: {
      name: string;
      l: { dir: string; a: string; c: string };
      tag: string;
      order?: TagOrder;
      want?: 'a' | 'c';
      matchedBy?: string;
      warn?: RegExp;
      code?: string;
      hint?: RegExp;
    }[] = [
      {
        name: 'split, current order',
        l: split,
        tag: 'v1',
        want: 'c',
        matchedBy: NAME,
        warn: /buildx <= 0\.19.*sha256/,
      },
      {
        name: 'split, image-name-first',
        l: split,
        tag: 'v1',
        order: 'image-name-first',
        want: 'c',
        matchedBy: NAME,
        warn: /buildx <= 0\.19/,
      },
      {
        name: 'split, ref-name-only',
        l: split,
        tag: 'v1',
        order: 'ref-name-only',
        want: 'a',
        matchedBy: 'org.opencontainers.image.ref.name',
        warn: /buildx >= 0\.20/,
      },
      {
        name: 'name only, image-name-first',
        l: nameOnly,
        tag: 'v2',
        want: 'c',
        matchedBy: NAME,
        warn: /but nothing for buildx <= 0\.19/,
      },
      {
        name: 'name only, ref-name-only',
        l: nameOnly,
        tag: 'v2',
        order: 'ref-name-only',
        code: 'OCIKIT_TAG_NOT_FOUND',
        hint: /buildx >= 0\.20 .* would take sha256:/,
      },
      {
        name: 'name only, v1 agrees',
        l: nameOnly,
        tag: 'v1',
        order: 'ref-name-only',
        want: 'a',
        matchedBy: 'org.opencontainers.image.ref.name',
      },
      {
        name: 'both annotations, image-name-first',
        l: both,
        tag: 'v1',
        want: 'a',
        matchedBy: NAME,
      },
      {
        name: 'both annotations, ref-name-only',
        l: both,
        tag: 'v1',
        order: 'ref-name-only',
        want: 'a',
        matchedBy: 'org.opencontainers.image.ref.name',
      },
      {
        name: 'dup ref.name, image-name-first',
        l: dup,
        tag: 'v1',
        want: 'c',
        matchedBy: NAME,
        warn: /2 manifests \(it takes the first\)/,
      },
      {
        name: 'dup ref.name, ref-name-only',
        l: dup,
        tag: 'v1',
        order: 'ref-name-only',
        code: 'OCIKIT_TAG_AMBIGUOUS',
      },
    ];
    for (const c of cases) {
      const layout = await openLayout(c.l.dir);
      const options: { tag: string; tagOrder?: TagOrder } = { tag: c.tag };
      if (c.order !== undefined) options.tagOrder = c.order;
      if (c.code !== undefined) {
        await t.rejects(
          resolve(layout, options),
          { code: c.code, ...(c.hint ? { hint: c.hint } : {}) },
          c.name,
        );
        continue;
      }
      const r = await resolve(layout, options);
      t.equal(r.descriptor.digest, c.want === 'a' ? c.l.a : c.l.c, `${c.name}: digest`);
      t.equal(r.matchedBy, c.matchedBy, `${c.name}: matchedBy`);
      const order = layout.warnings.filter((w) => w.code === 'OCIKIT_W_TAG_ORDER');
      if (c.warn === undefined) {
        t.same(order, [], `${c.name}: no order warning`);
      } else {
        t.equal(order.length, 1, `${c.name}: one order warning`);
        t.match(order[0]?.message, c.warn, `${c.name}: warning text`);
        if (c.l === split) {
          t.match(order[0]?.message, c.l.a, `${c.name}: names ${c.l.a}`);
          t.match(order[0]?.message, c.l.c, `${c.name}: names ${c.l.c}`);
        }
      }
    }
    t.equal(CURRENT_TAG_ORDER, 'image-name-first');
  },
);

t.test('resolve CLI: fallback warning on stderr and in --json, --strict refuses', async (t) => {
  const root = t.testdir();
  const b = new LayoutBuilder(path.join(root, 'L'));
  const only = b.image({ platform: { os: 'linux', architecture: 'amd64' }, layers: [] });
  b.writeIndex([only]);
  const plain = await cli(['resolve', 'L', '--tag', 'v1'], root);
  t.equal(plain.code, 0);
  t.equal(plain.stdout, `${only.digest}\n`);
  t.match(plain.stderr, /ocikit: warning OCIKIT_W_TAG_FALLBACK: L: no manifest is tagged "v1"/);
  const json = await cli(['resolve', 'L', '--tag', 'v1', '--json'], root);
  t.match(JSON.parse(json.stdout), {
    matchedBy: 'single-manifest',
    tag: 'v1',
    warnings: [{ code: 'OCIKIT_W_TAG_FALLBACK' }],
  });
  const implied = await cli(['resolve', 'L', '--json', '--strict'], root);
  t.equal(implied.code, 0, 'the implied latest is fine even with --strict');
  t.match(JSON.parse(implied.stdout), {
    matchedBy: 'single-manifest',
    tag: 'latest',
    warnings: [],
  });
  const strict = await cli(['resolve', 'L', '--tag', 'v1', '--strict'], root);
  t.equal(strict.code, 1);
  t.match(strict.stderr, /ocikit: error OCIKIT_TAG_NOT_FOUND: .*rejected by --strict/);
});

t.test(
  'artifacts (oras push: empty config with data, artifactType, subject) have no platform',
  async (t) => {
    const dir = t.testdir();
    const b = new LayoutBuilder(dir);
    // The bytes oras 1.3 writes: the empty descriptor carries its content in `data`.
    const empty = { ...b.blob('{}', 'application/vnd.oci.empty.v1+json'), data: 'e30=' };
    const file = b.blob('artifact\n', 'application/vnd.oci.image.layer.v1.tar');
    const artifact = b.json(
      {
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        artifactType: 'application/vnd.example.thing',
        config: empty,
        layers: [file],
      },
      'application/vnd.oci.image.manifest.v1+json',
    );
    const custom = b.json(
      {
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { ...empty, mediaType: 'application/vnd.example.cfg' },
        layers: [file],
      },
      'application/vnd.oci.image.manifest.v1+json',
    );
    const referrer = b.json(
      {
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        artifactType: 'application/vnd.example.sig',
        config: empty,
        layers: [b.blob('sig\n', 'application/vnd.oci.image.layer.v1.tar')],
        subject: artifact,
      },
      'application/vnd.oci.image.manifest.v1+json',
    );
    b.writeIndex([tagged(artifact, 'v1'), tagged(custom, 'v0'), referrer]);
    const layout = await openLayout(dir, { strict: true });
    for (const [tag, d] of [
      ['v1', artifact],
      ['v0', custom],
    ] as const) {
      const r = await resolve(layout, { tag });
      t.equal(r.descriptor.digest, d.digest, `${tag} resolves`);
      t.equal(r.descriptor.platform, undefined, `${tag}: no platform`);
      await t.rejects(resolve(layout, { tag, platform: 'linux/amd64' }), {
        code: 'OCIKIT_PLATFORM_NOT_FOUND',
      });
    }
    t.equal(
      (await resolve(layout, { digest: referrer.digest })).descriptor.digest,
      referrer.digest,
    );
    t.same(layout.warnings, []);
  },
);
