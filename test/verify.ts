import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { hashFiles } from '../src/layout/hash.js';
import { openLayout } from '../src/layout/layout.js';
import { locateDigest, resolve } from '../src/layout/resolve.js';
import type { Descriptor, Platform } from '../src/layout/schema.js';
import { verifyLayout, type VerifyOptions, type VerifyReport } from '../src/layout/verify.js';
import { cli } from './helpers/cli.js';
import {
  LayoutBuilder,
  OCI_CONFIG,
  OCI_LAYER_GZIP,
  OCI_MANIFEST,
  standardLayout,
  tagged,
} from './helpers/layout-builder.js';

const AMD64: Platform = { os: 'linux', architecture: 'amd64' };
const ARM64: Platform = { os: 'linux', architecture: 'arm64' };
const ARMV7: Platform = { os: 'linux', architecture: 'arm', variant: 'v7' };
const DOCKER_FOREIGN = 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip';
const OCI_NONDIST = 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip';
const MiB = 1024 * 1024;

interface Img {
  manifest: Descriptor;
  config: Descriptor;
  layers: Descriptor[];
}

/** An image with explicit layer descriptors (so tests can break them). */
function image(
  b: LayoutBuilder,
  platform: Platform,
  layers: Descriptor[],
  extra: Record<string, unknown> = {},
): Img {
  const config = b.json(
    { ...platform, config: {}, rootfs: { type: 'layers', diff_ids: [] }, ...extra },
    OCI_CONFIG,
  );
  const manifest = b.json(
    { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers },
    OCI_MANIFEST,
  );
  return { manifest: { ...manifest, platform }, config, layers };
}

const layer = (b: LayoutBuilder, name: string): Descriptor =>
  b.layer({ [name]: `${name}\n` }).descriptor;
const file = (dir: string, d: Descriptor): string =>
  path.join(dir, 'blobs', ...d.digest.split(':'));
const rel = (d: Descriptor): string => `blobs/${d.digest.replace(':', '/')}`;

function flip(dir: string, d: Descriptor, at?: number): void {
  const bytes = readFileSync(file(dir, d));
  const i = at ?? Math.floor(bytes.length / 2);
  bytes[i] = (bytes[i] as number) ^ 0xff;
  writeFileSync(file(dir, d), bytes);
}

function truncate(dir: string, d: Descriptor): void {
  writeFileSync(file(dir, d), readFileSync(file(dir, d)).subarray(0, d.size - 1));
}

async function verify(dir: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  return verifyLayout(await openLayout(dir), options);
}

/** Strip a manifest descriptor's platform (index.json entries usually have none). */
const bare = (d: Descriptor): Descriptor => {
  const { platform: _platform, ...rest } = d;
  return rest;
};

t.test(
  'all problems are reported at once, each naming blob, manifest, tag and platform',
  async (t) => {
    const dir = t.testdir();
    const b = new LayoutBuilder(dir);
    const l1 = layer(b, 'one');
    const l2 = layer(b, 'two');
    const l3 = layer(b, 'three');
    const amd = image(b, AMD64, [l1, l2]);
    const arm = image(b, ARM64, [l3]);
    const multi = b.index([amd.manifest, arm.manifest]);
    b.writeIndex([tagged(multi, 'multi')]);
    rmSync(file(dir, l1)); // missing
    flip(dir, l2); // digest mismatch
    truncate(dir, arm.config); // size mismatch

    const report = await verify(dir);
    t.equal(report.ok, false);
    t.equal(report.problems.length, 3, 'three broken blobs, three problems');
    const byDigest = new Map(report.problems.map((p) => [p.digest, p]));
    const expected: [Descriptor, string, Img, string, string][] = [
      [l1, 'OCIKIT_BLOB_MISSING', amd, 'layer', 'linux/amd64'],
      [l2, 'OCIKIT_BLOB_DIGEST_MISMATCH', amd, 'layer', 'linux/amd64'],
      [arm.config, 'OCIKIT_BLOB_SIZE_MISMATCH', arm, 'config', 'linux/arm64'],
    ];
    for (const [blob, code, img, role, platform] of expected) {
      const p = byDigest.get(blob.digest);
      t.ok(p, `${code} reported for ${blob.digest}`);
      if (p === undefined) continue;
      t.equal(p.code, code);
      t.equal(p.path, rel(blob), 'names the path');
      t.same(
        p.referencedBy,
        [{ parent: img.manifest.digest, role, tag: 'multi', platform }],
        'names parent, tag, platform',
      );
      t.match(p.message, blob.digest, 'message names the blob');
      t.match(p.message, `manifest ${img.manifest.digest}`, 'message names the manifest');
      t.match(p.message, `tag "multi"`, 'message names the tag');
      t.match(p.message, `platform ${platform}`, 'message names the platform');
      t.not(p.hint, '', 'has a hint');
    }

    const text = await cli(['verify', dir]);
    t.equal(text.code, 1);
    t.equal(text.stdout.match(/^OCIKIT_BLOB_\w+: /gm)?.length, 3, 'CLI prints all three');
    t.match(text.stdout, /^FAILED: 3 problems in 8 blobs/m);
  },
);

t.test('a missing manifest is named as referenced by its index', async (t) => {
  const dir = t.testdir();
  const b = new LayoutBuilder(dir);
  const amd = image(b, AMD64, [layer(b, 'a')]);
  const multi = b.index([amd.manifest]);
  b.writeIndex([tagged(multi, 'v1')]);
  rmSync(file(dir, amd.manifest));
  const [p, ...rest] = (await verify(dir)).problems;
  t.equal(rest.length, 0);
  t.match(p, {
    code: 'OCIKIT_BLOB_MISSING',
    digest: amd.manifest.digest,
    referencedBy: [{ parent: multi.digest, role: 'manifest', tag: 'v1', platform: 'linux/amd64' }],
  });
  t.match(p?.message, `referenced by index ${multi.digest} (tag "v1", platform linux/amd64)`);
});

t.test('selection by tag, platform and digest checks only that image', async (t) => {
  const dir = t.testdir();
  const b = new LayoutBuilder(dir);
  const good = image(b, AMD64, [layer(b, 'good')]);
  const badLayer = layer(b, 'bad');
  const bad = image(b, AMD64, [badLayer], { comment: 'bad' });
  const amd = image(b, AMD64, [layer(b, 'multi-amd')], { comment: 'multi' });
  const armLayer = layer(b, 'multi-arm');
  const arm = image(b, ARM64, [armLayer]);
  const multi = b.index([amd.manifest, arm.manifest]);
  const gone = image(b, AMD64, [], { comment: 'gone' });
  b.writeIndex([
    tagged(bare(good.manifest), 'good'),
    tagged(bare(bad.manifest), 'bad'),
    tagged(multi, 'multi'),
    tagged(bare(gone.manifest), 'gone'),
  ]);
  rmSync(file(dir, badLayer));
  rmSync(file(dir, armLayer));
  rmSync(file(dir, gone.manifest));

  const onlyGood = await verify(dir, { tag: 'good' });
  t.match(onlyGood, { ok: true, roots: [good.manifest.digest], blobs: 3 });
  t.equal((await verify(dir, { digest: good.manifest.digest })).ok, true, 'by digest');

  const onlyBad = await verify(dir, { tag: 'bad' });
  t.same(
    onlyBad.problems.map((p) => p.digest),
    [badLayer.digest],
  );
  t.match(onlyBad.problems[0]?.referencedBy, [
    { parent: bad.manifest.digest, tag: 'bad', platform: 'linux/amd64' },
  ]);

  const amdOnly = await verify(dir, { tag: 'multi', platform: 'linux/amd64' });
  t.match(
    amdOnly,
    { ok: true, roots: [amd.manifest.digest], blobs: 3 },
    'the other platform is not checked',
  );
  const armOnly = await verify(dir, { tag: 'multi', platform: 'linux/arm64' });
  t.equal(armOnly.problems.length, 1);
  t.match(armOnly.problems[0], {
    digest: armLayer.digest,
    referencedBy: [
      { parent: arm.manifest.digest, role: 'layer', tag: 'multi', platform: 'linux/arm64' },
    ],
  });

  const wholeMulti = await verify(dir, { tag: 'multi' });
  t.same(
    wholeMulti.problems.map((p) => p.digest),
    [armLayer.digest],
    'a tag without platform: the whole index',
  );

  const goneReport = await verify(dir, { tag: 'gone' });
  t.match(
    goneReport,
    { ok: false, problems: [{ code: 'OCIKIT_BLOB_MISSING', digest: gone.manifest.digest }] },
    'a missing root is a problem, not a crash',
  );

  const all = await verify(dir);
  t.same(
    all.problems.map((p) => p.digest).sort(),
    [badLayer.digest, armLayer.digest, gone.manifest.digest].sort(),
    'no selection: everything',
  );

  await t.rejects(verify(dir, { tag: 'nope' }), { code: 'OCIKIT_TAG_NOT_FOUND' });
  await t.rejects(verify(dir, { tag: 'multi', platform: 'linux/s390x' }), {
    code: 'OCIKIT_PLATFORM_NOT_FOUND',
  });

  t.equal((await cli(['verify', dir, '--tag', 'good'])).code, 0);
  t.equal((await cli(['verify', dir, '--tag', 'multi', '--platform', 'linux/amd64'])).code, 0);
  const armCli = await cli([
    'verify',
    dir,
    '--tag',
    'multi',
    '--platform',
    'linux/arm64',
    '--json',
  ]);
  t.equal(armCli.code, 1);
  t.match(JSON.parse(armCli.stdout), {
    ok: false,
    roots: [arm.manifest.digest],
    problems: [{ digest: armLayer.digest }],
  });
});

t.test('--no-digests skips hashing layers but still checks sizes', async (t) => {
  const dir = t.testdir();
  const b = new LayoutBuilder(dir);
  const flipped = layer(b, 'flipped');
  const short = layer(b, 'short');
  const img = image(b, AMD64, [flipped, short]);
  b.writeIndex([tagged(bare(img.manifest), 'latest')]);
  flip(dir, flipped);
  truncate(dir, short);

  const full = await verify(dir);
  t.same(full.problems.map((p) => p.code).sort(), [
    'OCIKIT_BLOB_DIGEST_MISMATCH',
    'OCIKIT_BLOB_SIZE_MISMATCH',
  ]);
  t.equal(full.digests, true);
  const sizes = await verify(dir, { noDigests: true });
  t.same(
    sizes.problems.map((p) => [p.code, p.digest]),
    [['OCIKIT_BLOB_SIZE_MISMATCH', short.digest]],
  );
  t.equal(sizes.digests, false);

  const out = await cli(['verify', dir, '--no-digests']);
  t.equal(out.code, 1);
  t.match(out.stdout, /\(sizes only, digests not checked\)/);
  t.notMatch(out.stdout, /DIGEST_MISMATCH/);
  const ok = await cli(['verify', dir, '--no-digests', '--json']);
  t.match(JSON.parse(ok.stdout), {
    digests: false,
    problems: [{ code: 'OCIKIT_BLOB_SIZE_MISMATCH' }],
  });
});

t.test('foreign layers: absent with urls is a warning, not a failure', async (t) => {
  const dir = t.testdir();
  const b = new LayoutBuilder(dir);
  const urls = ['https://example.com/layer'];
  const foreign: Descriptor = {
    mediaType: DOCKER_FOREIGN,
    digest: `sha256:${'1'.repeat(64)}`,
    size: 10,
    urls,
  };
  const nondist: Descriptor = {
    mediaType: OCI_NONDIST,
    digest: `sha256:${'2'.repeat(64)}`,
    size: 20,
    urls,
  };
  const img = image(b, AMD64, [layer(b, 'base'), foreign, nondist]);
  b.writeIndex([tagged(bare(img.manifest), 'latest')]);
  const report = await verify(dir);
  t.equal(report.ok, true, 'absent foreign layers do not fail verify');
  t.equal(
    report.warnings.filter((w) => w.code === 'OCIKIT_W_FOREIGN_LAYER').length,
    2,
    'one warning per absent layer',
  );
  t.match(report.warnings.map((w) => w.message).join('\n'), foreign.digest);
  t.match(report.warnings.map((w) => w.message).join('\n'), nondist.digest);
  const out = await cli(['verify', dir]);
  t.equal(out.code, 0);
  t.match(out.stderr, /^ocikit: warning OCIKIT_W_FOREIGN_LAYER: /m);

  // Without urls, or with a media type that is not foreign, absence is a failure.
  const dir2 = t.testdir();
  const b2 = new LayoutBuilder(dir2);
  const { urls: _urls, ...noUrls } = foreign;
  const plainWithUrls: Descriptor = {
    mediaType: OCI_LAYER_GZIP,
    digest: `sha256:${'3'.repeat(64)}`,
    size: 5,
    urls,
  };
  const present = b2.blob('foreign bytes', DOCKER_FOREIGN);
  const img2 = image(b2, AMD64, [noUrls, plainWithUrls, { ...present, urls }]);
  b2.writeIndex([tagged(bare(img2.manifest), 'latest')]);
  writeFileSync(file(dir2, present), 'foreign byteZ'); // present but corrupt: checked like any blob
  const report2 = await verify(dir2);
  t.same(
    report2.problems.map((p) => [p.digest, p.code]).sort(),
    [
      [noUrls.digest, 'OCIKIT_BLOB_MISSING'],
      [plainWithUrls.digest, 'OCIKIT_BLOB_MISSING'],
      [present.digest, 'OCIKIT_BLOB_DIGEST_MISMATCH'],
    ].sort(),
  );
});

t.test('a shared layer lists every tag that references it', async (t) => {
  const dir = t.testdir();
  const b = new LayoutBuilder(dir);
  const shared = layer(b, 'shared');
  const a = image(b, AMD64, [shared], { comment: 'a' });
  const c = image(b, ARMV7, [shared], { comment: 'c' });
  const both = image(b, AMD64, [layer(b, 'both')], { comment: 'both' });
  const bothLayer = both.layers[0] as Descriptor;
  b.writeIndex([
    tagged(bare(a.manifest), 'a'),
    tagged(bare(c.manifest), 'c'),
    tagged(bare(both.manifest), 'x'),
    tagged(bare(both.manifest), 'y'),
  ]);
  rmSync(file(dir, shared));
  rmSync(file(dir, bothLayer));
  const report = await verify(dir);
  t.equal(report.problems.length, 2, 'one problem per blob, not per reference');
  const sharedProblem = report.problems.find((p) => p.digest === shared.digest);
  t.same(
    sharedProblem?.referencedBy.map((r) => [r.parent, r.tag, r.platform]).sort(),
    [
      [a.manifest.digest, 'a', 'linux/amd64'],
      [c.manifest.digest, 'c', 'linux/arm/v7'],
    ].sort(),
  );
  t.match(sharedProblem?.message, /tag "a".*tag "c"|tag "c".*tag "a"/);
  const bothProblem = report.problems.find((p) => p.digest === bothLayer.digest);
  t.same(
    bothProblem?.referencedBy.map((r) => r.tag).sort(),
    ['x', 'y'],
    'one manifest under two tags',
  );
});

t.test('the same broken manifest under two tags is one problem', async (t) => {
  const dir = t.testdir();
  const b = new LayoutBuilder(dir);
  const img = image(b, AMD64, []);
  b.writeIndex([tagged(bare(img.manifest), 'x'), tagged(bare(img.manifest), 'y')]);
  rmSync(file(dir, img.manifest));
  const report = await verify(dir);
  t.equal(report.problems.length, 1);
  t.same(
    report.problems[0]?.referencedBy.map((r) => r.tag),
    ['x', 'y'],
  );
});

t.test('a blob referenced with two sizes', async (t) => {
  const dir = t.testdir();
  const b = new LayoutBuilder(dir);
  const l = layer(b, 'l');
  const img = image(b, AMD64, [l, { ...l, size: l.size + 1 }]);
  b.writeIndex([tagged(bare(img.manifest), 'latest')]);
  const report = await verify(dir);
  t.match(report.problems, [
    { code: 'OCIKIT_BLOB_SIZE_MISMATCH', digest: l.digest, message: /referenced with sizes/ },
  ]);
});

t.test('configs are validated: digest, JSON, strict schema', async (t) => {
  const dir = t.testdir();
  const b = new LayoutBuilder(dir);
  const img = image(b, AMD64, [], { comment: 'abc' });
  b.writeIndex([tagged(bare(img.manifest), 'latest')]);
  writeFileSync(
    file(dir, img.config),
    readFileSync(file(dir, img.config), 'utf8').replace('abc', 'abd'),
  );
  const report = await verify(dir);
  t.match(report.problems, [
    {
      code: 'OCIKIT_BLOB_DIGEST_MISMATCH',
      digest: img.config.digest,
      referencedBy: [{ role: 'config' }],
    },
  ]);
  t.match(
    (await verify(dir, { noDigests: true })).problems,
    [{ code: 'OCIKIT_BLOB_DIGEST_MISMATCH' }],
    'metadata is always hashed',
  );
});

t.test(
  'large blobs (> 8 MiB) are hashed on worker threads; a corrupted byte is found',
  async (t) => {
    const dir = t.testdir();
    const b = new LayoutBuilder(dir);
    const big = (seed: number): Buffer => {
      const buf = Buffer.alloc(9 * MiB);
      for (let i = 0; i < buf.length; i += 4) buf.writeUInt32LE((i * 2654435761 + seed) >>> 0, i);
      return buf;
    };
    const good = b.blob(big(1), OCI_LAYER_GZIP);
    const bad = b.blob(big(2), OCI_LAYER_GZIP);
    const img = image(b, AMD64, [good, bad, layer(b, 'small')]);
    b.writeIndex([tagged(bare(img.manifest), 'latest')]);
    flip(dir, bad, 5 * MiB + 3);

    const events: { total: number; done: number }[] = [];
    const threaded = await verify(dir, { workers: 2, onProgress: (e) => events.push(e) });
    t.match(threaded.problems, [
      { code: 'OCIKIT_BLOB_DIGEST_MISMATCH', digest: bad.digest, path: rel(bad) },
    ]);
    t.equal(threaded.problems.length, 1);
    const last = events[events.length - 1];
    t.ok(
      last !== undefined && last.total >= 18 * MiB && last.done === last.total,
      'progress reaches the total',
    );

    const mainThread = await verify(dir, { workers: 0 });
    t.same(mainThread, threaded, 'same report with and without worker threads');

    const results = await hashFiles(
      [
        { path: file(dir, good), algorithm: 'sha256', size: good.size },
        { path: path.join(dir, 'nope'), algorithm: 'sha256', size: 9 * MiB },
      ],
      { workerThreshold: 0, workers: 2 },
    );
    t.same(
      results,
      [{ hex: good.digest.slice(7), bytes: good.size }, { error: 'ENOENT' }],
      'worker results in job order, errors as codes',
    );
    t.same(await hashFiles([{ path: path.join(dir, 'nope'), algorithm: 'sha256', size: 1 }]), [
      { error: 'ENOENT' },
    ]);
  },
);

t.test('problem order and the whole report are deterministic', async (t) => {
  const dir = t.testdir();
  const b = new LayoutBuilder(dir);
  const shared = layer(b, 'shared');
  const imgs = [AMD64, ARM64, ARMV7, { os: 'linux', architecture: 's390x' }].map((p, i) =>
    image(b, p, [layer(b, `own-${i}`), shared]),
  );
  b.writeIndex([
    tagged(b.index(imgs.map((i) => i.manifest)), 'multi'),
    tagged(bare(imgs[0]?.manifest as Descriptor), 'first'),
  ]);
  rmSync(file(dir, shared));
  for (const img of imgs) flip(dir, img.layers[0] as Descriptor);
  truncate(dir, imgs[2]?.config as Descriptor);

  const first = await verify(dir);
  t.equal(first.problems.length, 6);
  const digests = first.problems.map((p) => p.digest);
  t.same(digests, [...digests].sort(), 'problems sorted by digest');
  const sharedRefs = first.problems.find((p) => p.digest === shared.digest)?.referencedBy ?? [];
  t.equal(sharedRefs.length, 5, 'four platforms under multi, one under first');
  const keys = sharedRefs.map((r) => `${r.parent}\0${r.role}\0${r.tag ?? ''}\0${r.platform ?? ''}`);
  t.same(keys, [...keys].sort(), 'references sorted');
  for (let i = 0; i < 4; i++) {
    t.same(await verify(dir, { workers: i % 2 }), first, `run ${i + 2} is identical`);
  }
  const a = await cli(['verify', dir, '--json']);
  const c = await cli(['verify', dir, '--json']);
  t.equal(a.stdout, c.stdout, 'identical JSON');
});

t.test('JSON report shape', async (t) => {
  const dir = t.testdir();
  const b = new LayoutBuilder(dir);
  const l = layer(b, 'only');
  const img = image(b, AMD64, [l]);
  b.writeIndex([tagged(bare(img.manifest), 'v1')]);
  const okRun = await cli(['verify', dir, '--json']);
  t.equal(okRun.code, 0);
  t.ok(okRun.stdout.endsWith('}\n'), 'one document, trailing newline');
  const okDoc = JSON.parse(okRun.stdout) as Record<string, unknown>;
  t.same(
    Object.keys(okDoc),
    ['blobs', 'bytes', 'digests', 'layout', 'ok', 'problems', 'roots', 'warnings'],
    'sorted keys',
  );
  t.same(okDoc, {
    blobs: 3,
    bytes: img.manifest.size + img.config.size + l.size,
    digests: true,
    layout: dir,
    ok: true,
    problems: [],
    roots: [img.manifest.digest],
    warnings: [],
  });

  rmSync(file(dir, l));
  const failed = await cli(['verify', dir, '--json']);
  t.equal(failed.code, 1);
  t.equal(failed.stderr, '', 'nothing on stderr');
  const names = new Map([
    [l.digest, '<layer>'],
    [img.manifest.digest, '<manifest>'],
    [l.digest.slice(7), '<layer-hex>'],
    [dir, '<dir>'],
  ]);
  const anonymised = JSON.parse(
    [...names].reduce((s, [from, to]) => s.split(from).join(to), failed.stdout),
  ) as unknown;
  t.same(anonymised, {
    blobs: 3,
    bytes: img.manifest.size + img.config.size + l.size,
    digests: true,
    layout: '<dir>',
    ok: false,
    problems: [
      {
        code: 'OCIKIT_BLOB_MISSING',
        digest: '<layer>',
        hint: 'The layout is incomplete: copy it again from its source, including every blob.',
        message:
          'blob <layer> not found at blobs/sha256/<layer-hex>; referenced by manifest <manifest> (tag "v1", platform linux/amd64)',
        path: 'blobs/sha256/<layer-hex>',
        referencedBy: [{ parent: '<manifest>', platform: 'linux/amd64', role: 'layer', tag: 'v1' }],
      },
    ],
    roots: ['<manifest>'],
    warnings: [],
  });
});

t.test('nesting limit is the same for resolve and verify', async (t) => {
  const build = (depth: number): string => {
    const dir = t.testdir();
    const b = new LayoutBuilder(dir);
    let d: Descriptor = image(b, AMD64, [layer(b, 'x')]).manifest;
    for (let i = 0; i < depth; i++) d = b.index([d]);
    b.writeIndex([tagged(d, 'latest')]);
    return dir;
  };
  const nine = build(9); // indexes at depth 0..8
  t.equal((await resolve(await openLayout(nine), { platform: 'linux/amd64' })).layers, 1);
  t.match(await verify(nine), { ok: true, problems: [] }, 'verify accepts what resolve accepts');
  const ten = build(10);
  await t.rejects(resolve(await openLayout(ten), { platform: 'linux/amd64' }), {
    code: 'OCIKIT_NESTING_TOO_DEEP',
  });
  t.match((await verify(ten)).problems, [{ code: 'OCIKIT_NESTING_TOO_DEEP' }]);
});

t.test('attestation manifests are verified and marked', async (t) => {
  const dir = t.testdir();
  const b = new LayoutBuilder(dir);
  const img = image(b, AMD64, [layer(b, 'app')]);
  const attLayer = layer(b, 'sbom');
  const att = image(b, { os: 'unknown', architecture: 'unknown' }, [attLayer]);
  const attDesc: Descriptor = {
    ...att.manifest,
    annotations: {
      'vnd.docker.reference.type': 'attestation-manifest',
      'vnd.docker.reference.digest': img.manifest.digest,
    },
  };
  b.writeIndex([tagged(b.index([img.manifest, attDesc]), 'latest')]);
  rmSync(file(dir, attLayer));
  const report = await verify(dir);
  t.match(report.problems, [
    { digest: attLayer.digest, referencedBy: [{ parent: att.manifest.digest, attestation: true }] },
  ]);
  t.equal(report.problems[0]?.referencedBy[0]?.platform, undefined, 'no unknown/unknown platform');
  t.match(report.problems[0]?.message, /attestation/);
  t.equal(
    (await verify(dir, { platform: 'linux/amd64' })).ok,
    true,
    'selecting the image skips its attestation',
  );
});

t.test('a layer whose digest algorithm ocikit cannot compute', async (t) => {
  const dir = t.testdir();
  const b = new LayoutBuilder(dir);
  const md5: Descriptor = { mediaType: OCI_LAYER_GZIP, digest: `md5:${'0'.repeat(32)}`, size: 5 };
  mkdirSync(path.join(dir, 'blobs', 'md5'));
  writeFileSync(path.join(dir, 'blobs', 'md5', '0'.repeat(32)), 'bytes');
  const img = image(b, AMD64, [md5]);
  b.writeIndex([tagged(bare(img.manifest), 'latest')]);
  t.match((await verify(dir)).problems, [
    {
      code: 'OCIKIT_DIGEST_UNSUPPORTED',
      digest: md5.digest,
      path: `blobs/md5/${'0'.repeat(32)}`,
      hint: /--no-digests/,
    },
  ]);
  t.match(await verify(dir, { noDigests: true }), { ok: true }, 'sizes can still be checked');
});

t.test('verify --digest of a nested manifest names its index as the parent', async (t) => {
  const dir = t.testdir();
  const s = standardLayout(dir);
  const layout = await openLayout(dir);
  const report = await verifyLayout(layout, { digest: s.arm64.digest });
  t.ok(report.ok);
  const missing = t.testdir();
  const m = standardLayout(missing);
  writeFileSync(
    path.join(missing, 'blobs', 'sha256', m.arm64.digest.slice(7)),
    '{"corrupt": true}',
  );
  const broken = await verifyLayout(await openLayout(missing), { digest: m.arm64.digest });
  t.match(
    broken.problems,
    [{ digest: m.arm64.digest, referencedBy: [{ parent: m.multi.digest }] }],
    'the index is named, not index.json',
  );
  const located = await locateDigest(layout, s.arm64.digest);
  t.same(located.path, [s.multi.digest, s.arm64.digest]);
});
