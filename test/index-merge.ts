/**
 * `ocikit index`: per-platform layouts (and indexes) merged into one layout with an image
 * index. Oracles: skopeo reads the result and its annotations; `ocikit verify` passes; inode
 * numbers, link counts and ctimes show whether the inputs were touched (copies by default,
 * hardlinks with --link hard); corrupt inputs, and a process out of file descriptors (the
 * bundled CLI under `ulimit -n`), fail with coded errors and leave nothing behind.
 */
import {
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  lstatSync,
  writeFileSync,
  existsSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { isRefName, mergeIndex, parseIndexAnnotation } from '../src/ops/index-merge.js';
import { openLayout } from '../src/layout/layout.js';
import { resolve } from '../src/layout/resolve.js';
import { prepareContexts } from '../src/ops/context.js';
import type { Descriptor, Platform } from '../src/layout/schema.js';
import { verifyLayout } from '../src/layout/verify.js';
import type { LinkMode } from '../src/ops/take-blobs.js';
import { BUNDLE, bundle, cli } from './helpers/cli.js';
import {
  LayoutBuilder,
  OCI_CONFIG,
  OCI_INDEX,
  OCI_MANIFEST,
  standardLayout,
  tagged,
} from './helpers/layout-builder.js';
import { CLEAN_ENV, mustRun, requireTool } from './helpers/tools.js';

const AMD64: Platform = { os: 'linux', architecture: 'amd64' };
const ARM64: Platform = { os: 'linux', architecture: 'arm64' };
const ARMV7: Platform = { os: 'linux', architecture: 'arm', variant: 'v7' };
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
const DOCKER_LAYER = 'application/vnd.docker.image.rootfs.diff.tar.gzip';

interface IndexDoc {
  mediaType: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

function blobJson<T>(dir: string, digest: string): T {
  return JSON.parse(readFileSync(path.join(dir, 'blobs', 'sha256', digest.slice(7)), 'utf8')) as T;
}

/** One single-platform layout per platform, tagged `app`; the arm64 one has no platform on its descriptor. */
function perPlatform(root: string): Record<string, Descriptor> {
  const out: Record<string, Descriptor> = {};
  for (const [name, platform] of [
    ['amd64', AMD64],
    ['arm64', ARM64],
    ['armv7', ARMV7],
  ] as const) {
    const b = new LayoutBuilder(path.join(root, name));
    const d = b.image({
      platform,
      layers: [{ [`${name}.txt`]: name }],
      platformOnDescriptor: name !== 'arm64',
      annotations: { 'org.example.built-on': name },
    });
    b.writeIndex([tagged({ ...d, annotations: { 'org.example.node': name } }, 'app')]);
    out[name] = d;
  }
  return out;
}

/** A layout whose `app` is an index of one image and its attestation manifest. */
function withAttestation(
  dir: string,
  platform: Platform,
  index: Record<string, string> = {},
): { image: Descriptor; attestation: Descriptor; index: Descriptor } {
  const b = new LayoutBuilder(dir);
  const image = b.image({ platform, layers: [{ 'f.txt': formatted(platform) }] });
  const statement = b.blob(
    '{"_type":"https://in-toto.io/Statement/v0.1"}',
    'application/vnd.in-toto+json',
  );
  const config = b.json(
    {
      architecture: 'unknown',
      os: 'unknown',
      config: {},
      rootfs: { type: 'layers', diff_ids: [statement.digest] },
    },
    'application/vnd.oci.image.config.v1+json',
  );
  const am = b.json(
    { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [statement] },
    OCI_MANIFEST,
  );
  const attestation: Descriptor = {
    ...am,
    platform: { os: 'unknown', architecture: 'unknown' },
    annotations: {
      'vnd.docker.reference.digest': image.digest,
      'vnd.docker.reference.type': 'attestation-manifest',
    },
  };
  const idx = b.index([image, attestation], Object.keys(index).length > 0 ? index : undefined);
  b.writeIndex([tagged(idx, 'app')]);
  return { image, attestation, index: idx };
}

/** Flip one byte in the middle of the first layer of `manifest` in `dir`: right size, wrong bytes. */
function corruptLayer(dir: string, manifest: string): string {
  const layer = blobJson<{ layers: Descriptor[] }>(dir, manifest).layers[0] as Descriptor;
  const file = path.join(dir, 'blobs', 'sha256', layer.digest.slice(7));
  const bytes = readFileSync(file);
  const at = bytes.length >> 1;
  bytes.writeUInt8(bytes.readUInt8(at) ^ 0xff, at);
  writeFileSync(file, bytes);
  return layer.digest;
}

interface InodeState {
  ino: bigint;
  nlink: bigint;
  ctimeNs: bigint;
}

/** Inode, link count and ctime of every blob file of the layouts `dirs`, by path. */
function blobInodes(dirs: string[]): Map<string, InodeState> {
  const out = new Map<string, InodeState>();
  for (const dir of dirs) {
    const blobs = path.join(dir, 'blobs', 'sha256');
    for (const f of readdirSync(blobs)) {
      const st = statSync(path.join(blobs, f), { bigint: true });
      out.set(path.join(blobs, f), { ino: st.ino, nlink: st.nlink, ctimeNs: st.ctimeNs });
    }
  }
  return out;
}

/** Long enough for a changed ctime to show at the file system's timestamp granularity. */
const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 50));

function formatted(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

t.test(
  'three per-platform layouts become one index: platforms, annotations, tags, copies, determinism',
  async (t) => {
    const root = t.testdir();
    const d = perPlatform(root);
    const r = await mergeIndex(['amd64:app', 'arm64:app', 'armv7:app'], path.join(root, 'merged'), {
      cwd: root,
      annotations: { 'org.opencontainers.image.version': '1.2.3' },
      descriptorAnnotations: { 'org.example.entry': 'yes' },
      tags: ['app', 'v1.2.3'],
    });
    const merged = path.join(root, 'merged');
    t.same(
      r.manifests.map((m) => m.platform),
      ['linux/amd64', 'linux/arm/v7', 'linux/arm64'],
      'sorted by platform',
    );
    t.same(r.blobs, { total: 10, linked: 0, copied: 9, written: 1, verified: 9 });
    t.same(
      r.blobList.map((b) => b.how).sort(),
      [...Array<string>(9).fill('copied'), 'written'],
      'each blob reports how it was taken',
    );
    const indexJson = JSON.parse(readFileSync(path.join(merged, 'index.json'), 'utf8')) as IndexDoc;
    t.same(
      indexJson.manifests.map((m) => m.annotations),
      [
        { 'org.example.entry': 'yes', 'org.opencontainers.image.ref.name': 'app' },
        { 'org.example.entry': 'yes', 'org.opencontainers.image.ref.name': 'v1.2.3' },
      ],
    );
    const index = blobJson<IndexDoc>(merged, r.descriptor.digest);
    t.equal(index.mediaType, OCI_INDEX);
    t.same(index.annotations, { 'org.opencontainers.image.version': '1.2.3' });
    const arm64 = index.manifests.find((m) => m.digest === d['arm64']?.digest);
    t.same(
      arm64?.platform,
      ARM64,
      'platform taken from the image config when the descriptor had none',
    );
    t.same(
      arm64?.annotations,
      { 'org.example.node': 'arm64' },
      'descriptor annotations carried, tag annotations not',
    );
    // Canonical JSON: keys sorted at every level.
    const text = readFileSync(
      path.join(merged, 'blobs', 'sha256', r.descriptor.digest.slice(7)),
      'utf8',
    );
    t.equal(
      text,
      `${JSON.stringify(JSON.parse(text), (_k, v: unknown) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1))) : v))}\n`,
    );
    // Copied: an inode of its own, never a symlink.
    const layer = blobJson<{ layers: Descriptor[] }>(
      path.join(root, 'amd64'),
      d['amd64']?.digest as string,
    ).layers[0] as Descriptor;
    const rel = path.join('blobs', 'sha256', layer.digest.slice(7));
    t.not(statSync(path.join(merged, rel)).ino, statSync(path.join(root, 'amd64', rel)).ino);
    for (const f of readdirSync(path.join(merged, 'blobs', 'sha256')))
      t.ok(lstatSync(path.join(merged, 'blobs', 'sha256', f)).isFile());
    t.ok((await verifyLayout(await openLayout(merged))).ok);
    const chosen = await resolve(await openLayout(merged), {
      tag: 'v1.2.3',
      platform: 'linux/arm/v7',
    });
    t.equal(chosen.descriptor.digest, d['armv7']?.digest);
    // The same sources in another order give the same bytes.
    const again = await mergeIndex(
      ['armv7:app', 'amd64:app', 'arm64:app'],
      path.join(root, 'again'),
      {
        cwd: root,
        annotations: { 'org.opencontainers.image.version': '1.2.3' },
        descriptorAnnotations: { 'org.example.entry': 'yes' },
        tags: ['app', 'v1.2.3'],
      },
    );
    t.equal(again.descriptor.digest, r.descriptor.digest);
    t.same(
      readFileSync(path.join(root, 'again', 'index.json')),
      readFileSync(path.join(merged, 'index.json')),
    );
    t.same(
      readdirSync(root).sort(),
      ['again', 'amd64', 'arm64', 'armv7', 'merged'],
      'no temporary sibling left',
    );
  },
);

t.test('duplicates are removed; attestations stay with their image', async (t) => {
  const root = t.testdir();
  const a = withAttestation(path.join(root, 'a'), AMD64);
  const b = withAttestation(path.join(root, 'b'), ARM64);
  const r = await mergeIndex(
    ['a:app', 'b:app', 'a:app', `a@${a.image.digest}`],
    path.join(root, 'merged'),
    { cwd: root, tags: ['app'] },
  );
  const index = blobJson<IndexDoc>(path.join(root, 'merged'), r.descriptor.digest);
  t.same(
    index.manifests.map((m) => m.digest),
    [a.image.digest, b.image.digest, a.attestation.digest, b.attestation.digest],
    'images (sorted by platform), then their attestations in the same order',
  );
  t.same(
    r.manifests.map((m) => m.attestation),
    [false, false, true, true],
  );
  t.equal(index.manifests[2]?.annotations?.['vnd.docker.reference.digest'], a.image.digest);
  t.ok((await verifyLayout(await openLayout(path.join(root, 'merged')))).ok);
});

t.test(
  'identical attestations of two images are both kept (they differ in the subject they name)',
  async (t) => {
    const root = t.testdir();
    const b = new LayoutBuilder(path.join(root, 'a'));
    const x = b.image({ platform: AMD64, layers: [] });
    const y = b.image({ platform: ARM64, layers: [] });
    const config = b.json(
      { architecture: 'unknown', os: 'unknown', rootfs: { type: 'layers', diff_ids: [] } },
      'application/vnd.oci.image.config.v1+json',
    );
    const am = b.json(
      { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [] },
      OCI_MANIFEST,
    );
    const att = (subject: string): Descriptor => ({
      ...am,
      platform: { os: 'unknown', architecture: 'unknown' },
      annotations: {
        'vnd.docker.reference.digest': subject,
        'vnd.docker.reference.type': 'attestation-manifest',
      },
    });
    b.writeIndex([tagged(b.index([x, y, att(x.digest), att(y.digest)]), 'app')]);
    const r = await mergeIndex(['a:app'], path.join(root, 'merged'), { cwd: root });
    t.equal(r.manifests.filter((m) => m.attestation).length, 2);
  },
);

t.test(
  'index annotations of the sources are carried; a disagreement is settled by --annotation',
  async (t) => {
    const root = t.testdir();
    withAttestation(path.join(root, 'a'), AMD64, {
      'org.opencontainers.image.title': 'app',
      'org.opencontainers.image.created': '2024-01-01T00:00:00Z',
    });
    withAttestation(path.join(root, 'b'), ARM64, {
      'org.opencontainers.image.title': 'app',
      'org.opencontainers.image.created': '2024-01-02T00:00:00Z',
    });
    await t.rejects(mergeIndex(['a:app', 'b:app'], path.join(root, 'm1'), { cwd: root }), {
      code: 'OCIKIT_INDEX_CONFLICT',
    });
    const r = await mergeIndex(['a:app', 'b:app'], path.join(root, 'm2'), {
      cwd: root,
      annotations: { 'org.opencontainers.image.created': '2024-01-03T00:00:00Z' },
    });
    t.same(r.annotations, {
      'org.opencontainers.image.created': '2024-01-03T00:00:00Z',
      'org.opencontainers.image.title': 'app',
    });
    t.same(
      blobJson<IndexDoc>(path.join(root, 'm2'), r.descriptor.digest).annotations,
      r.annotations,
    );
    t.notOk(existsSync(path.join(root, 'm1')));
  },
);

t.test(
  'Docker media types: a manifest list without annotations, an error with them, --oci converts',
  async (t) => {
    const root = t.testdir();
    const layouts: Record<string, { manifest: Descriptor; config: Descriptor; layer: Descriptor }> =
      {};
    for (const [name, platform] of [
      ['amd64', AMD64],
      ['arm64', ARM64],
    ] as const) {
      const b = new LayoutBuilder(path.join(root, name));
      const l = b.layer({ [`${name}.txt`]: name });
      const layer = { ...l.descriptor, mediaType: DOCKER_LAYER };
      const config = b.json(
        { ...platform, config: {}, rootfs: { type: 'layers', diff_ids: [l.diffId] } },
        DOCKER_CONFIG,
      );
      const manifest = b.json(
        { schemaVersion: 2, mediaType: DOCKER_MANIFEST, config, layers: [layer] },
        DOCKER_MANIFEST,
      );
      b.writeIndex([tagged(manifest, 'app')]);
      layouts[name] = { manifest, config, layer };
    }
    const plain = await mergeIndex(['amd64:app', 'arm64:app'], path.join(root, 'list'), {
      cwd: root,
      tags: ['app'],
    });
    t.equal(
      plain.descriptor.mediaType,
      'application/vnd.docker.distribution.manifest.list.v2+json',
    );
    const list = blobJson<IndexDoc>(path.join(root, 'list'), plain.descriptor.digest);
    t.same(
      Object.keys(list.manifests[0] ?? {}).sort(),
      ['digest', 'mediaType', 'platform', 'size'],
      'descriptors as Docker writes them',
    );
    t.ok((await verifyLayout(await openLayout(path.join(root, 'list')))).ok);

    await t.rejects(
      mergeIndex(['amd64:app', 'arm64:app'], path.join(root, 'no'), {
        cwd: root,
        annotations: { a: 'b' },
      }),
      { code: 'OCIKIT_ANNOTATIONS_UNSUPPORTED' },
    );

    const oci = await mergeIndex(['amd64:app', 'arm64:app'], path.join(root, 'oci'), {
      cwd: root,
      annotations: { a: 'b' },
      oci: true,
      tags: ['app'],
    });
    t.equal(oci.descriptor.mediaType, OCI_INDEX);
    t.same(
      oci.blobs,
      { total: 7, linked: 0, copied: 4, written: 3, verified: 4 },
      'configs and layers copied, two manifests and the index written',
    );
    const amd = oci.manifests[0];
    t.equal(amd?.convertedFrom, layouts['amd64']?.manifest.digest);
    t.not(amd?.digest, amd?.convertedFrom);
    const converted = blobJson<{ mediaType: string; config: Descriptor; layers: Descriptor[] }>(
      path.join(root, 'oci'),
      amd?.digest as string,
    );
    t.equal(converted.mediaType, OCI_MANIFEST);
    t.same(
      converted.config,
      { ...layouts['amd64']?.config, mediaType: 'application/vnd.oci.image.config.v1+json' },
      'same config bytes, OCI media type',
    );
    t.same(converted.layers, [
      { ...layouts['amd64']?.layer, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' },
    ]);
    t.ok((await verifyLayout(await openLayout(path.join(root, 'oci')))).ok);
    t.notOk(
      existsSync(
        path.join(root, 'oci', 'blobs', 'sha256', (amd?.convertedFrom as string).slice(7)),
      ),
      'the Docker manifest is not carried',
    );
  },
);

t.test('thin copies and symlinked sources give a self-contained output', async (t) => {
  const root = t.testdir();
  perPlatform(root);
  const thin = await prepareContexts(
    [{ name: 'x', ref: { path: path.join(root, 'amd64'), tag: 'app' } }],
    { out: path.join(root, 'thin'), mode: 'thin' },
  );
  t.ok(lstatSync(path.join(root, 'thin', 'x', 'blobs')).isSymbolicLink());
  const r = await mergeIndex(
    [`${thin.contexts[0]?.path}:app`, 'arm64:app'],
    path.join(root, 'merged'),
    { cwd: root },
  );
  t.equal(r.blobs.copied, 6);
  for (const f of readdirSync(path.join(root, 'merged', 'blobs', 'sha256')))
    t.ok(lstatSync(path.join(root, 'merged', 'blobs', 'sha256', f)).isFile(), f);
  // --link hard links the files the symlinks point to, not the symlinks.
  const hard = await mergeIndex(
    [`${thin.contexts[0]?.path}:app`, 'arm64:app'],
    path.join(root, 'hard'),
    { cwd: root, link: 'hard' },
  );
  t.equal(hard.blobs.linked, 6);
  for (const f of readdirSync(path.join(root, 'hard', 'blobs', 'sha256')))
    t.ok(lstatSync(path.join(root, 'hard', 'blobs', 'sha256', f)).isFile(), f);
  rmSync(path.join(root, 'hard'), { recursive: true });
  rmSync(path.join(root, 'thin'), { recursive: true });
  rmSync(path.join(root, 'amd64'), { recursive: true });
  t.ok(
    (await verifyLayout(await openLayout(path.join(root, 'merged')))).ok,
    'still complete without its sources',
  );
});

t.test('another filesystem: blobs are copied and verified, with --link hard too', async (t) => {
  if (!existsSync('/dev/shm')) {
    t.plan(0, 'no /dev/shm');
    return;
  }
  const root = t.testdir();
  perPlatform(root);
  const shm = mkdtempSync(path.join('/dev/shm', 'ocikit-index-'));
  t.teardown(() => rmSync(shm, { recursive: true, force: true }));
  if (statSync(shm).dev === statSync(root).dev) {
    t.plan(0, '/dev/shm is on the same filesystem as the test directory');
    return;
  }
  const r = await mergeIndex(['amd64:app', 'arm64:app'], path.join(shm, 'merged'), { cwd: root });
  t.same(r.blobs, { total: 7, linked: 0, copied: 6, written: 1, verified: 6 });
  t.ok((await verifyLayout(await openLayout(path.join(shm, 'merged')))).ok);
  const hard = await mergeIndex(['amd64:app', 'arm64:app'], path.join(shm, 'hard'), {
    cwd: root,
    link: 'hard',
  });
  t.same(
    hard.blobs,
    { total: 7, linked: 0, copied: 6, written: 1, verified: 6 },
    'no hardlink across file systems: copied instead',
  );
  rmSync(path.join(shm, 'hard'), { recursive: true });
  // A corrupt layer (same size) is caught by the copy's verification.
  const amdManifest = readdirSync(path.join(root, 'amd64', 'blobs', 'sha256'));
  for (const f of amdManifest) {
    const p = path.join(root, 'amd64', 'blobs', 'sha256', f);
    const bytes = readFileSync(p);
    if (bytes[0] === 0x1f) {
      bytes.writeUInt8(bytes.readUInt8(bytes.length - 1) ^ 1, bytes.length - 1);
      writeFileSync(p, bytes);
    }
  }
  await t.rejects(mergeIndex(['amd64:app', 'arm64:app'], path.join(shm, 'bad'), { cwd: root }), {
    code: 'OCIKIT_BLOB_DIGEST_MISMATCH',
  });
  t.same(readdirSync(shm), ['merged'], 'nothing left of the failed merge');
});

t.test(
  'by default the inputs are only read: inodes, link counts and ctimes unchanged',
  async (t) => {
    const root = t.testdir();
    perPlatform(root);
    const inputs = ['amd64', 'arm64', 'armv7'].map((n) => path.join(root, n));
    const before = blobInodes(inputs);
    await tick();
    const r = await mergeIndex(['amd64:app', 'arm64:app', 'armv7:app'], path.join(root, 'merged'), {
      cwd: root,
    });
    t.same(r.blobs, { total: 10, linked: 0, copied: 9, written: 1, verified: 9 });
    const c = await cli(
      ['index', '--out', 'cli', 'amd64:app', 'arm64:app', '--link', 'copy'],
      root,
    );
    t.equal(c.code, 0, c.stderr);
    t.same(blobInodes(inputs), before, 'every input blob: same inode, link count and ctime');
    const inputInodes = new Set([...before.values()].map((s) => s.ino));
    for (const [file, s] of blobInodes([path.join(root, 'merged'), path.join(root, 'cli')])) {
      t.notOk(inputInodes.has(s.ino), `${path.basename(file)} has an inode of its own`);
      t.equal(s.nlink, 1n);
    }
  },
);

t.test(
  '--link hard shares inodes with the inputs: their link count and ctime change',
  async (t) => {
    const root = t.testdir();
    perPlatform(root);
    const inputs = ['amd64', 'arm64', 'armv7'].map((n) => path.join(root, n));
    const before = blobInodes(inputs);
    await tick();
    const r = await mergeIndex(['amd64:app', 'arm64:app', 'armv7:app'], path.join(root, 'merged'), {
      cwd: root,
      link: 'hard',
    });
    t.same(r.blobs, { total: 10, linked: 9, copied: 0, written: 1, verified: 9 });
    t.same(
      r.blobList.filter((b) => b.how === 'linked').length,
      9,
      'each blob reports it was linked',
    );
    const after = blobInodes(inputs);
    const merged = blobInodes([path.join(root, 'merged')]);
    for (const [file, was] of before) {
      const now = after.get(file) as InodeState;
      const out = merged.get(path.join(root, 'merged', 'blobs', 'sha256', path.basename(file)));
      t.equal(out?.ino, was.ino, `${path.basename(file)}: the output's file is the input's inode`);
      t.equal(now.nlink, was.nlink + 1n, 'one more link to the input');
      t.ok(now.ctimeNs > was.ctimeNs, "the input's ctime changed");
    }
    const c = await cli(['index', '--out', 'cli', 'amd64:app', '--link', 'hard'], root);
    t.equal(c.code, 0, c.stderr);
    t.match(
      c.stderr,
      /4 blobs: 0 copied \(reflink where the file system supports it\) and verified, 3 hardlinked and verified, 1 written/,
    );
  },
);

t.test('--link takes copy or hard only', async (t) => {
  const root = t.testdir();
  perPlatform(root);
  await t.rejects(
    mergeIndex(['amd64:app'], path.join(root, 'x'), { cwd: root, link: 'soft' as LinkMode }),
    { code: 'OCIKIT_USAGE' },
  );
  const c = await cli(['index', '--out', 'x', 'amd64:app', '--link', 'soft'], root);
  t.equal(c.code, 2, 'usage error');
  t.notOk(existsSync(path.join(root, 'x')));
});

t.test(
  'a corrupt input layer (right size, wrong bytes) fails the merge, copied or linked, and leaves nothing',
  async (t) => {
    const root = t.testdir();
    const d = perPlatform(root);
    const manifest = d['amd64']?.digest as string;
    const bad = corruptLayer(path.join(root, 'amd64'), manifest);
    for (const link of ['copy', 'hard'] as const) {
      await t.rejects(
        mergeIndex(['arm64:app', 'amd64:app'], path.join(root, 'merged'), { cwd: root, link }),
        {
          code: 'OCIKIT_BLOB_DIGEST_MISMATCH',
          details: { digest: bad, source: 'amd64:app', manifest },
        },
        `--link ${link}`,
      );
    }
    const r = await cli(['index', '--out', 'merged', 'amd64:app', 'arm64:app', '--json'], root);
    t.equal(r.code, 1);
    const doc = JSON.parse(r.stdout) as { error: { code: string; message: string } };
    t.equal(doc.error.code, 'OCIKIT_BLOB_DIGEST_MISMATCH');
    for (const named of [bad, 'amd64:app', manifest])
      t.ok(doc.error.message.includes(named), `the message names ${named}`);
    t.same(
      readdirSync(root).sort(),
      ['amd64', 'arm64', 'armv7'],
      'no output and no .ocikit-tmp-* left',
    );
  },
);

t.test(
  '--trust-inputs checks sizes only: a corrupt blob passes with it, fails without',
  async (t) => {
    const root = t.testdir();
    const d = perPlatform(root);
    const bad = corruptLayer(path.join(root, 'amd64'), d['amd64']?.digest as string);
    const rel = path.join('blobs', 'sha256', bad.slice(7));
    await t.rejects(
      mergeIndex(['amd64:app', 'arm64:app'], path.join(root, 'checked'), { cwd: root }),
      {
        code: 'OCIKIT_BLOB_DIGEST_MISMATCH',
      },
    );
    const r = await mergeIndex(['amd64:app', 'arm64:app'], path.join(root, 'trusted'), {
      cwd: root,
      trustInputs: true,
    });
    t.same(r.blobs, { total: 7, linked: 0, copied: 6, written: 1, verified: 0 }, 'nothing hashed');
    t.same(
      readFileSync(path.join(root, 'trusted', rel)),
      readFileSync(path.join(root, 'amd64', rel)),
      'the corrupt bytes were carried, as trusted',
    );
    t.notOk((await verifyLayout(await openLayout(path.join(root, 'trusted')))).ok);
    const c = await cli(
      ['index', '--out', 'cli', 'amd64:app', 'arm64:app', '--trust-inputs', '--link', 'hard'],
      root,
    );
    t.equal(c.code, 0, c.stderr);
    t.match(
      c.stderr,
      /7 blobs: 0 copied .* and size-checked \(--trust-inputs\), 6 hardlinked and size-checked, 1 written/,
    );
    // Sizes are still checked.
    writeFileSync(
      path.join(root, 'amd64', rel),
      readFileSync(path.join(root, 'amd64', rel)).subarray(1),
    );
    await t.rejects(
      mergeIndex(['amd64:app', 'arm64:app'], path.join(root, 'short'), {
        cwd: root,
        trustInputs: true,
      }),
      { code: 'OCIKIT_BLOB_SIZE_MISMATCH' },
    );
    t.same(
      readdirSync(root).sort(),
      ['amd64', 'arm64', 'armv7', 'cli', 'trusted'],
      'nothing else left',
    );
  },
);

t.test(
  'out of file descriptors (bundled CLI under ulimit -n): OCIKIT_TOO_MANY_OPEN_FILES, nothing left',
  async (t) => {
    t.ok(existsSync(BUNDLE), `${BUNDLE} exists (npm run build)`);
    const root = t.testdir();
    // 64 layers of 1 MiB: copies last long enough to overlap and hold descriptors together.
    const b = new LayoutBuilder(path.join(root, 'many'));
    const layers = Array.from({ length: 64 }, (_, i) =>
      b.blob(Buffer.alloc(1024 * 1024, i), 'application/vnd.oci.image.layer.v1.tar'),
    );
    const config = b.json(
      { ...AMD64, config: {}, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) } },
      OCI_CONFIG,
    );
    b.writeIndex([
      tagged(
        b.json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers }, OCI_MANIFEST),
        'app',
      ),
    ]);
    const limited = (n: number, args: string[]): ReturnType<typeof bundle> =>
      bundle(args, {
        cwd: root,
        prefix: [...CLEAN_ENV, 'bash', '-c', `ulimit -n ${n} && exec "$@"`, 'ocikit'],
      });
    // node and the CLI need ~20 descriptors of their own: find the fewest with which the CLI
    // gets as far as running the command (a missing source: OCIKIT_LAYOUT_NOT_FOUND).
    const starts = (n: number): boolean =>
      limited(n, ['index', '--out', 'merged', 'nowhere:app', '--json']).stdout.includes(
        'OCIKIT_LAYOUT_NOT_FOUND',
      );
    let lowest = 8;
    while (lowest < 64 && !starts(lowest)) lowest++;
    t.ok(lowest < 64, `the CLI starts with ulimit -n ${lowest}`);
    // From there up to 24 (or a few above the lowest), every run is a complete output or a
    // coded error (never OCIKIT_INTERNAL) that leaves nothing behind; some run is EMFILE.
    const codes = new Map<number, string>();
    for (let n = lowest; n <= Math.max(24, lowest + 4); n++) {
      const r = limited(n, ['index', '--out', 'merged', 'many:app', '--json']);
      const doc = JSON.parse(r.stdout || '{}') as { error?: { code: string } };
      const code = doc.error?.code ?? (r.code === 0 ? 'ok' : `exit ${r.code}: ${r.stderr}`);
      codes.set(n, code);
      if (r.code === 0) {
        t.ok(
          (await verifyLayout(await openLayout(path.join(root, 'merged')))).ok,
          `${n}: complete`,
        );
        rmSync(path.join(root, 'merged'), { recursive: true });
      } else {
        t.equal(r.code, 1, `ulimit -n ${n}: exit 1`);
        t.match(code, /^OCIKIT_(?!INTERNAL)/, `ulimit -n ${n}: a coded error`);
      }
      t.same(readdirSync(root), ['many'], `ulimit -n ${n}: nothing left`);
    }
    t.comment([...codes].map(([n, c]) => `ulimit -n ${n}: ${c}`).join(', '));
    t.ok(
      [...codes.values()].includes('OCIKIT_TOO_MANY_OPEN_FILES'),
      'the copies ran out of descriptors: OCIKIT_TOO_MANY_OPEN_FILES',
    );
  },
);

t.test('parseIndexAnnotation', async (t) => {
  t.same(parseIndexAnnotation('a.b=c=d'), { target: 'index', key: 'a.b', value: 'c=d' });
  t.same(parseIndexAnnotation('index:k=v'), { target: 'index', key: 'k', value: 'v' });
  t.same(parseIndexAnnotation('index-descriptor:k='), {
    target: 'index-descriptor',
    key: 'k',
    value: '',
  });
  t.throws(() => parseIndexAnnotation('manifest-descriptor:k=v'), { code: 'OCIKIT_USAGE' });
  t.throws(() => parseIndexAnnotation('=v'), { code: 'OCIKIT_USAGE' });
});

t.test('CLI: text and --json output', async (t) => {
  const root = t.testdir();
  perPlatform(root);
  const r = await cli(
    [
      'index',
      '--out',
      'merged',
      'amd64:app',
      'arm64:app',
      '--tag',
      'app',
      '--annotation',
      'org.opencontainers.image.version=1',
    ],
    root,
  );
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^sha256:[0-9a-f]{64}\n$/);
  t.match(r.stderr, /linux\/amd64 .* amd64:app/);
  t.match(
    r.stderr,
    /7 blobs: 6 copied \(reflink where the file system supports it\) and verified, 0 hardlinked, 1 written/,
  );
  const j = await cli(
    [
      'index',
      '--out',
      'merged2',
      'amd64:app',
      'arm64:app',
      '--tag',
      'app',
      '--annotation',
      'org.opencontainers.image.version=1',
      '--json',
    ],
    root,
  );
  const doc = JSON.parse(j.stdout) as { descriptor: Descriptor; out: string };
  t.equal(`${doc.descriptor.digest}\n`, r.stdout, 'deterministic');
  t.equal(doc.out, 'merged2');
  t.matchSnapshot(j.stdout.replaceAll(root, '<root>'), 'index --json');
});

t.test('skopeo reads the merged layout and sees the annotations', async (t) => {
  if (!requireTool(t, 'skopeo')) return;
  const root = t.testdir();
  withAttestation(path.join(root, 'a'), AMD64);
  perPlatform(root);
  const r = await cli(
    [
      'index',
      '--out',
      'merged',
      'a:app',
      'arm64:app',
      'armv7:app',
      '--tag',
      'multi',
      '--annotation',
      'org.opencontainers.image.source=https://example.com/app',
    ],
    root,
  );
  t.equal(r.code, 0, r.stderr);
  const raw = mustRun('skopeo', ['inspect', '--raw', 'oci:merged:multi'], { cwd: root });
  const doc = JSON.parse(raw.toString('utf8')) as IndexDoc;
  t.equal(
    `${r.stdout.trim()}`,
    `sha256:${(await import('node:crypto')).createHash('sha256').update(raw).digest('hex')}`,
  );
  t.same(doc.annotations, { 'org.opencontainers.image.source': 'https://example.com/app' });
  t.equal(doc.manifests.length, 4);
  // skopeo can copy every platform out of it (all blobs are there).
  mustRun(
    'skopeo',
    ['--insecure-policy', 'copy', '--quiet', '--all', 'oci:merged:multi', 'oci:copy:multi'],
    { cwd: root },
  );
  const arm = JSON.parse(
    mustRun(
      'skopeo',
      ['--override-arch', 'arm', '--override-variant', 'v7', 'inspect', 'oci:copy:multi'],
      { cwd: root },
    ).toString('utf8'),
  ) as { Architecture: string };
  t.equal(arm.Architecture, 'arm');
  void os;
});

t.test(
  "--tag's ref.name grammar is the Starlark rules' (one table, read from the rules' test)",
  async (t) => {
    const bzl = readFileSync(
      path.join(import.meta.dirname, '../rules/tests/options_tests.bzl'),
      'utf8',
    );
    const table = bzl.slice(
      bzl.indexOf('REF_NAME_CASES = ['),
      bzl.indexOf(']\n', bzl.indexOf('REF_NAME_CASES = [')),
    );
    const cases = [...table.matchAll(/\("([^"]*)"(?: \* (\d+))?, (True|False)\)/g)].map(
      ([, s, n, ok]) =>
        [n === undefined ? (s as string) : (s as string).repeat(Number(n)), ok === 'True'] as const,
    );
    t.ok(cases.length >= 10, `${cases.length} cases read`);
    for (const [tag, ok] of cases)
      t.equal(isRefName(tag), ok, tag.length > 20 ? `${tag.length} characters` : tag);
    // And through the command: a refused tag is a usage error naming the grammar.
    const root = t.testdir();
    standardLayout(path.join(root, 'l'));
    const r = await cli(['index', '--out', 'o', 'l:single', '--tag', '_x'], root);
    t.equal(r.code, 2);
    t.match(r.stderr, /--tag "_x" is not a valid org\.opencontainers\.image\.ref\.name/);
  },
);
