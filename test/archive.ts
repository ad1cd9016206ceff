/**
 * pack / unpack / tar-format build contexts. Oracles: GNU tar and skopeo read what pack
 * writes; archives skopeo (`oci-archive:`) and buildx (`--output type=oci,dest=`, a checked-in
 * fixture from buildx 0.13.1) write unpack into layouts that verify; headers are checked
 * byte by byte with a minimal parser written here, independent of src/archive.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import t from 'tap';
import { isArchiveFile } from '../src/archive/context.js';
import { packLayout } from '../src/archive/pack.js';
import { unpackArchive } from '../src/archive/unpack.js';
import { classifyContext } from '../src/ops/buildx-args.js';
import { parseBuildxVersion } from '../src/buildx/compat.js';
import { prepareContexts } from '../src/ops/context.js';
import { openLayout } from '../src/layout/layout.js';
import { resolve } from '../src/layout/resolve.js';
import type { Descriptor } from '../src/layout/schema.js';
import { verifyLayout } from '../src/layout/verify.js';
import { BUNDLE, bundle, cli, ROOT } from './helpers/cli.js';
import { rawHeaders, type RawHeader } from './helpers/raw-tar.js';
import {
  LayoutBuilder,
  OCI_CONFIG,
  OCI_MANIFEST,
  standardLayout,
  tagged,
} from './helpers/layout-builder.js';
import { mustRun, requireTool, runTool } from './helpers/tools.js';

const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
const BUILDX_FIXTURE = path.join(ROOT, 'test', 'fixtures', 'archive', 'buildx-0.13.1-oci.tar');

t.test(
  'pack: byte-identical across runs and across copies of the layout (paths, mtimes, modes differ)',
  async (t) => {
    const root = t.testdir();
    standardLayout(path.join(root, 'a'));
    cpSync(path.join(root, 'a'), path.join(root, 'elsewhere', 'b'), { recursive: true });
    // Another machine: other mtimes and permissions on the same bytes.
    for (const f of readdirSync(path.join(root, 'elsewhere', 'b', 'blobs', 'sha256'))) {
      const p = path.join(root, 'elsewhere', 'b', 'blobs', 'sha256', f);
      utimesSync(p, 1_000_000, 1_000_000);
      chmodSync(p, 0o444);
    }
    const a1 = await packLayout(await openLayout(path.join(root, 'a')), path.join(root, 'a1.tar'));
    await packLayout(await openLayout(path.join(root, 'a')), path.join(root, 'a2.tar'));
    await packLayout(await openLayout(path.join(root, 'elsewhere', 'b')), path.join(root, 'b.tar'));
    const bytes = readFileSync(path.join(root, 'a1.tar'));
    t.same(readFileSync(path.join(root, 'a2.tar')), bytes, 'two runs');
    t.same(readFileSync(path.join(root, 'b.tar')), bytes, 'another copy of the same layout');
    t.equal(a1.archiveBytes, bytes.length);
    t.equal(a1.blobs, 10);
    t.matchSnapshot(
      sha256(bytes),
      'sha256 of the packed standard layout (changes only when the format does)',
    );
    t.same(
      readdirSync(root).sort(),
      ['a', 'a1.tar', 'a2.tar', 'b.tar', 'elsewhere'],
      'no temporary files left',
    );
  },
);

t.test(
  'pack: headers are plain ustar with fixed fields, entries sorted, only what index.json reaches',
  async (t) => {
    const root = t.testdir();
    const dir = path.join(root, 'a');
    standardLayout(dir);
    // Things a layout may hold that do not belong in the archive.
    mkdirSync(path.join(dir, 'ingest'));
    writeFileSync(path.join(dir, 'index.json.lock'), '');
    writeFileSync(path.join(dir, 'blobs', 'sha256', sha256('stray')), 'stray');
    await packLayout(await openLayout(dir), path.join(root, 'x.tar'));
    const headers = rawHeaders(readFileSync(path.join(root, 'x.tar')));
    const names = headers.map((h) => h.name);
    t.same(names, [...names].sort(), 'sorted');
    t.same(names.slice(0, 2), ['blobs/', 'blobs/sha256/']);
    t.same(names.slice(-2), ['index.json', 'oci-layout']);
    t.notOk(
      names.some((n) => n.includes('ingest') || n.includes('lock') || n.endsWith(sha256('stray'))),
      'no ingest/, lock or stray blob',
    );
    for (const h of headers) {
      t.match(
        h,
        { uid: 0, gid: 0, mtime: 0, uname: '', gname: '', magic: 'ustar\u000000' },
        h.name,
      );
      t.equal(h.mode, h.typeflag === '5' ? 0o755 : 0o644, `${h.name} mode`);
      t.ok(
        h.typeflag === '0' || h.typeflag === '5',
        `${h.name}: a file or directory, no pax header`,
      );
    }
    // The archive ends with exactly two zero blocks, nothing else.
    const buf = readFileSync(path.join(root, 'x.tar'));
    const last = headers[headers.length - 1] as RawHeader;
    t.equal(buf.length, last.offset + 512 + Math.ceil(last.size / 512) * 512 + 1024);
  },
);

t.test(
  'pack: GNU tar reads the archive; blob paths too long for ustar get a pax path',
  async (t) => {
    if (!requireTool(t, 'tar')) return;
    const root = t.testdir();
    const dir = path.join(root, 'a');
    const b = new LayoutBuilder(dir);
    // A sha512 layer: blobs/sha512/<128 hex> does not fit ustar's 100-byte name field.
    const layerBytes = Buffer.from('a sha512 layer');
    const hex512 = createHash('sha512').update(layerBytes).digest('hex');
    mkdirSync(path.join(dir, 'blobs', 'sha512'));
    writeFileSync(path.join(dir, 'blobs', 'sha512', hex512), layerBytes);
    const config = b.json(
      { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } },
      OCI_CONFIG,
    );
    const m = b.json(
      {
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config,
        layers: [
          {
            mediaType: 'application/octet-stream',
            digest: `sha512:${hex512}`,
            size: layerBytes.length,
          },
        ],
      },
      OCI_MANIFEST,
    );
    b.writeIndex([tagged(m, 'v1')]);
    await packLayout(await openLayout(dir), path.join(root, 'x.tar'));
    const headers = rawHeaders(readFileSync(path.join(root, 'x.tar')));
    t.equal(
      headers.filter((h) => h.typeflag === 'x').length,
      1,
      'one pax header, for the long path',
    );
    const listing = mustRun('tar', ['tf', path.join(root, 'x.tar')])
      .toString('utf8')
      .trim()
      .split('\n');
    t.ok(listing.includes(`blobs/sha512/${hex512}`), 'GNU tar applies the pax path');
    t.notOk(
      listing.some((l) => l.includes('PaxHeader')),
      'the pax header is not an entry',
    );
    mkdirSync(path.join(root, 'gnu'));
    mustRun('tar', ['xf', path.join(root, 'x.tar'), '-C', path.join(root, 'gnu')]);
    t.equal(
      readFileSync(path.join(root, 'gnu', 'blobs', 'sha512', hex512), 'utf8'),
      'a sha512 layer',
    );
    // And ocikit reads it back.
    const u = await unpackArchive(path.join(root, 'x.tar'), path.join(root, 'u'));
    t.equal(u.blobs, 3);
    t.ok((await verifyLayout(await openLayout(path.join(root, 'u')))).ok);
  },
);

t.test(
  'pack --gzip: fixed gzip header, same bytes every run, the tar inside is the plain archive',
  async (t) => {
    const root = t.testdir();
    standardLayout(path.join(root, 'a'));
    const layout = await openLayout(path.join(root, 'a'));
    const r = await packLayout(layout, path.join(root, 'x.tar.gz'), { gzip: true });
    await packLayout(layout, path.join(root, 'y.tar.gz'), { gzip: true });
    await packLayout(layout, path.join(root, 'x.tar'));
    const gz = readFileSync(path.join(root, 'x.tar.gz'));
    t.same(readFileSync(path.join(root, 'y.tar.gz')), gz);
    t.same(
      gz.subarray(0, 10),
      Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]),
      'no name, mtime 0, OS unknown',
    );
    t.same(gunzipSync(gz), readFileSync(path.join(root, 'x.tar')));
    t.equal(r.zlib, process.versions.zlib);
    // Level 1 differs from level 6 but holds the same tar.
    await packLayout(layout, path.join(root, 'fast.tar.gz'), { gzip: true, gzipLevel: 1 });
    t.same(
      gunzipSync(readFileSync(path.join(root, 'fast.tar.gz'))),
      readFileSync(path.join(root, 'x.tar')),
    );
    await t.rejects(
      packLayout(layout, path.join(root, 'z.tar.gz'), { gzip: true, gzipLevel: 10 }),
      { code: 'OCIKIT_USAGE' },
    );
  },
);

t.test(
  'pack: symlinked blobs (thin copies, Bazel sandboxes) are packed as the files they point to',
  async (t) => {
    const root = t.testdir();
    standardLayout(path.join(root, 'a'));
    await packLayout(await openLayout(path.join(root, 'a')), path.join(root, 'a.tar'));
    // One symlink per blob, as in a sandbox.
    const linked = path.join(root, 'linked');
    mkdirSync(path.join(linked, 'blobs', 'sha256'), { recursive: true });
    cpSync(path.join(root, 'a', 'index.json'), path.join(linked, 'index.json'));
    cpSync(path.join(root, 'a', 'oci-layout'), path.join(linked, 'oci-layout'));
    for (const f of readdirSync(path.join(root, 'a', 'blobs', 'sha256'))) {
      symlinkSync(
        path.join(root, 'a', 'blobs', 'sha256', f),
        path.join(linked, 'blobs', 'sha256', f),
      );
    }
    await packLayout(await openLayout(linked), path.join(root, 'linked.tar'));
    t.same(
      readFileSync(path.join(root, 'linked.tar')),
      readFileSync(path.join(root, 'a.tar')),
      'same archive as from the real files',
    );
    // A thin copy (blobs/ is one symlink, plus ingest/ and a lock file).
    const thin = await prepareContexts(
      [{ name: 'base', ref: { path: path.join(root, 'a'), tag: 'multi' } }],
      { out: path.join(root, 'ctx'), mode: 'thin' },
    );
    const thinDir = thin.contexts[0]?.path as string;
    t.ok(lstatSync(path.join(thinDir, 'blobs')).isSymbolicLink());
    await packLayout(await openLayout(thinDir), path.join(root, 'thin.tar'));
    const headers = rawHeaders(readFileSync(path.join(root, 'thin.tar')));
    t.ok(
      headers.every((h) => h.typeflag === '0' || h.typeflag === '5'),
      'regular files and directories only',
    );
    t.notOk(headers.some((h) => h.name.startsWith('ingest') || h.name.endsWith('.lock')));
  },
);

t.test('pack --gzip (bundled CLI) prints no MaxListenersExceededWarning', async (t) => {
  t.ok(existsSync(BUNDLE), `${BUNDLE} exists (run npm run build)`);
  const root = t.testdir();
  const dir = path.join(root, 'a');
  const b = new LayoutBuilder(dir);
  // 2 MiB and 16 MiB: each write that found the gzip stream full added its own 'drain' and
  // 'close' listeners, up to 8 at a time; with pipeline's own, more than 10 from 8 MiB on.
  const layers = [2, 16].map((mib) =>
    b.blob(Buffer.alloc(mib * 1024 * 1024, mib), 'application/vnd.oci.image.layer.v1.tar'),
  );
  const config = b.json(
    { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } },
    OCI_CONFIG,
  );
  b.writeIndex([
    tagged(
      b.json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers }, OCI_MANIFEST),
      'x',
    ),
  ]);
  for (const level of ['1', '6', '9']) {
    const out = `x${level}.tar.gz`;
    const r = bundle(['pack', 'a', '--gzip', '--gzip-level', level, '--out', out], { cwd: root });
    t.equal(r.code, 0, r.stderr);
    t.notMatch(r.stderr, /Warning|MaxListeners/, `--gzip-level ${level}: no warning on stderr`);
    t.match(r.stderr, /^ocikit: packed 4 blobs \(18\.0 MiB\) into /);
    t.equal(r.stdout, `${out}\n`);
  }
  const u = await unpackArchive(path.join(root, 'x6.tar.gz'), path.join(root, 'u'));
  t.equal(u.blobs, 4);
});

t.test('pack: failures leave nothing behind', async (t) => {
  const root = t.testdir();
  const s = standardLayout(path.join(root, 'a'));
  const layout = await openLayout(path.join(root, 'a'));
  await t.rejects(packLayout(layout, path.join(root, 'a', 'inside.tar')), {
    code: 'OCIKIT_OUT_INSIDE_INPUT',
  });
  writeFileSync(path.join(root, 'exists.tar'), 'x');
  await t.rejects(packLayout(layout, path.join(root, 'exists.tar')), {
    code: 'OCIKIT_OUT_NOT_EMPTY',
  });
  // A layer with the right size and the wrong bytes: caught with verifyDigests.
  const manifest = JSON.parse(
    readFileSync(path.join(root, 'a', 'blobs', 'sha256', s.amd64.digest.slice(7)), 'utf8'),
  ) as { layers: { digest: string }[] };
  const layerFile = path.join(
    root,
    'a',
    'blobs',
    'sha256',
    (manifest.layers[0] as { digest: string }).digest.slice(7),
  );
  const layer = readFileSync(layerFile);
  layer.writeUInt8((layer.readUInt8(layer.length - 1) ^ 0xff) >>> 0, layer.length - 1);
  writeFileSync(layerFile, layer);
  await t.rejects(packLayout(layout, path.join(root, 'bad.tar'), { verifyDigests: true }), {
    code: 'OCIKIT_BLOB_DIGEST_MISMATCH',
  });
  rmSync(layerFile);
  await t.rejects(packLayout(layout, path.join(root, 'missing.tar')), {
    code: 'OCIKIT_BLOB_MISSING',
  });
  t.same(readdirSync(root).sort(), ['a', 'exists.tar'], 'no archive and no temporary file');
  t.notOk(readdirSync(path.join(root, 'a')).some((f) => f.endsWith('.tar')));
});

t.test('pack and unpack of a large blob stream through in pieces', async (t) => {
  const root = t.testdir();
  const dir = path.join(root, 'a');
  const b = new LayoutBuilder(dir);
  // Five blobs of 9-13 MiB: extracted by unpack's workers from a plain archive, streamed
  // through in pieces from a gzip'd one (verifyLayout below hashes what reached the disk).
  const layers = [9, 10, 11, 12, 13].map((mib, n) => {
    const bytes = Buffer.alloc(mib * 1024 * 1024 + 321 * n);
    for (let i = 0; i + 8 <= bytes.length; i += 4096) bytes.writeUInt32LE(i ^ n, i);
    return b.blob(bytes, 'application/vnd.oci.image.layer.v1.tar');
  });
  const layer = layers[0] as Descriptor;
  const big = readFileSync(path.join(dir, 'blobs', 'sha256', layer.digest.slice(7)));
  const config = b.json(
    {
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
    },
    OCI_CONFIG,
  );
  b.writeIndex([
    tagged(
      b.json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers }, OCI_MANIFEST),
      'big',
    ),
  ]);
  for (const gzip of [false, true]) {
    const file = path.join(root, gzip ? 'big.tar.gz' : 'big.tar');
    const progress: number[] = [];
    await packLayout(await openLayout(dir), file, {
      gzip,
      verifyDigests: true,
      onProgress: (e) => progress.push(e.done),
    });
    t.ok(progress.length > 2, 'progress reported in pieces');
    const out = path.join(root, gzip ? 'u-gz' : 'u');
    const r = await unpackArchive(file, out);
    t.equal(r.format, gzip ? 'tar+gzip' : 'tar');
    t.same(readFileSync(path.join(out, 'blobs', 'sha256', layer.digest.slice(7))), big);
    t.ok((await verifyLayout(await openLayout(out))).ok);
  }
});

t.test(
  'unpack: a large blob extracted on a worker that does not match is the error, in archive order',
  async (t) => {
    const root = t.testdir();
    const dir = path.join(root, 'a');
    const b = new LayoutBuilder(dir);
    // Large enough to be read, hashed and written by a worker while the main thread skips it.
    const bytes = Buffer.alloc(3 * 1024 * 1024 + 7, 5);
    const layers = [b.blob(bytes, 'application/vnd.oci.image.layer.v1.tar')];
    const config = b.json(
      { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } },
      OCI_CONFIG,
    );
    b.writeIndex([
      tagged(
        b.json({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers }, OCI_MANIFEST),
        'x',
      ),
    ]);
    const file = path.join(root, 'x.tar');
    await packLayout(await openLayout(dir), file);
    const archive = readFileSync(file);
    const at = archive.indexOf(bytes.subarray(0, 4096));
    t.ok(at > 0);
    archive.writeUInt8(archive.readUInt8(at + 2 * 1024 * 1024) ^ 1, at + 2 * 1024 * 1024);
    const end = at + Math.ceil(bytes.length / 512) * 512;
    // The whole archive, and the archive cut after the blob (a later error must not win).
    for (const [label, data] of [
      ['whole', archive],
      ['cut', archive.subarray(0, end + 100)],
    ] as const) {
      const bad = path.join(root, `${label}.tar`);
      writeFileSync(bad, data);
      const out = path.join(root, `out-${label}`);
      await t.rejects(unpackArchive(bad, out), { code: 'OCIKIT_BLOB_DIGEST_MISMATCH' }, label);
      t.notOk(existsSync(out), `${label}: nothing at the destination`);
    }
    t.same(readdirSync(root).sort(), ['a', 'cut.tar', 'whole.tar', 'x.tar'], 'no temporary left');
    // Cut inside the blob: the main thread finds it short before any worker starts.
    const cut = path.join(root, 'short.tar');
    writeFileSync(cut, archive.subarray(0, at + 1024 * 1024));
    await t.rejects(unpackArchive(cut, path.join(root, 'out-short')), {
      code: 'OCIKIT_ARCHIVE_TRUNCATED',
    });
    t.notOk(existsSync(path.join(root, 'out-short')));
  },
);

t.test('skopeo reads what pack writes (oci-archive:), plain and gzip', async (t) => {
  if (!requireTool(t, 'skopeo')) return;
  const root = t.testdir();
  const s = standardLayout(path.join(root, 'a'));
  for (const [file, gzip] of [
    ['x.tar', false],
    ['x.tar.gz', true],
  ] as const) {
    const r = await cli(['pack', 'a', '--out', file, ...(gzip ? ['--gzip'] : [])], root);
    t.equal(r.code, 0, r.stderr);
    const raw = mustRun('skopeo', ['inspect', '--raw', `oci-archive:${file}:multi`], { cwd: root });
    t.equal(`sha256:${sha256(raw)}`, s.multi.digest, `${file}: skopeo sees the index`);
    const inspect = JSON.parse(
      mustRun('skopeo', ['inspect', `oci-archive:${file}:single`], { cwd: root }).toString('utf8'),
    ) as { Layers: string[] };
    t.equal(inspect.Layers.length, 2);
  }
});

t.test('unpack: archives from skopeo copy oci-archive:', async (t) => {
  if (!requireTool(t, 'skopeo')) return;
  const root = t.testdir();
  const s = standardLayout(path.join(root, 'a'));
  mustRun(
    'skopeo',
    ['--insecure-policy', 'copy', '--quiet', '--all', 'oci:a:multi', 'oci-archive:sk.tar:multi'],
    { cwd: root },
  );
  const r = await cli(['unpack', 'sk.tar', '--out', 'u', '--json'], root);
  t.equal(r.code, 0, r.stdout);
  const layout = await openLayout(path.join(root, 'u'));
  t.equal((await resolve(layout, { tag: 'multi' })).descriptor.digest, s.multi.digest);
  t.ok((await verifyLayout(layout)).ok);
});

t.test(
  'unpack: an archive from buildx --output type=oci,dest=x.tar (buildx 0.13.1 fixture)',
  async (t) => {
    const root = t.testdir();
    const r = await unpackArchive(BUILDX_FIXTURE, path.join(root, 'u'));
    t.match(r, { format: 'tar', blobs: 9, skipped: [] });
    const layout = await openLayout(path.join(root, 'u'));
    const report = await verifyLayout(layout);
    t.ok(report.ok, JSON.stringify(report.problems));
    const amd = await resolve(layout, { platform: 'linux/amd64' });
    t.equal(amd.layers, 1);
    // Modes come from ocikit, not from the archive (buildx writes 0444 blobs).
    for (const f of readdirSync(path.join(root, 'u', 'blobs', 'sha256')))
      t.equal(statSync(path.join(root, 'u', 'blobs', 'sha256', f)).mode & 0o777, 0o644);
  },
);

t.test('unpack: GNU tar archives of a layout directory (./ prefixes, root entry)', async (t) => {
  if (!requireTool(t, 'tar')) return;
  const root = t.testdir();
  standardLayout(path.join(root, 'a'));
  mustRun('tar', ['cf', path.join(root, 'gnu.tar'), '-C', path.join(root, 'a'), '.']);
  mustRun('tar', [
    'czf',
    path.join(root, 'gnu.tgz'),
    '--format=posix',
    '-C',
    path.join(root, 'a'),
    '.',
  ]);
  for (const f of ['gnu.tar', 'gnu.tgz']) {
    const r = await unpackArchive(path.join(root, f), path.join(root, `u-${f}`));
    t.equal(r.blobs, 10, f);
  }
});

t.test('unpack: docker-load extras are skipped, the CLI reports them', async (t) => {
  const root = t.testdir();
  standardLayout(path.join(root, 'a'));
  // An archive with Docker's manifest.json beside index.json, as docker save writes.
  await packLayout(await openLayout(path.join(root, 'a')), path.join(root, 'b.tar'), {
    dockerManifest: true,
  });
  const r = await cli(['unpack', 'b.tar', '--out', 'u'], root);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /skipped manifest\.json/);
  t.notOk(existsSync(path.join(root, 'u', 'manifest.json')));
});

t.test(
  "pack --docker-manifest: Docker's manifest.json for what docker load can name",
  async (t) => {
    const root = t.testdir();
    const dir = path.join(root, 'layout');
    const b = new LayoutBuilder(dir);
    const named = (d: Descriptor, name: string): Descriptor => ({
      ...d,
      annotations: { 'io.containerd.image.name': name },
    });
    const one = b.image({ platform: { os: 'linux', architecture: 'amd64' }, layers: [{ a: 'a' }] });
    const amd64 = b.image({
      platform: { os: 'linux', architecture: 'amd64' },
      layers: [{ b: 'b' }],
    });
    const arm64 = b.image({ platform: { os: 'linux', architecture: 'arm64' }, layers: [] });
    // buildx's single-platform output: the image and its attestation manifest.
    const attestation = {
      ...b.json(
        {
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: b.json({}, OCI_CONFIG),
          layers: [b.blob('{}', 'application/vnd.in-toto+json')],
        },
        OCI_MANIFEST,
      ),
      platform: { os: 'unknown', architecture: 'unknown' },
      annotations: {
        'vnd.docker.reference.type': 'attestation-manifest',
        'vnd.docker.reference.digest': amd64.digest,
      },
    };
    const bx = b.index([amd64, attestation]);
    const multi = b.index([amd64, arm64]);
    const foreign = b.manifestOver([
      {
        mediaType: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
        digest: `sha256:${'f'.repeat(64)}`,
        size: 10,
        urls: ['https://example.com/layer'],
      },
    ]);
    b.writeIndex([
      named(one, 'docker.io/library/one:1'),
      named(bx, 'example.com/team/bx:1'),
      named(multi, 'docker.io/library/multi:1'),
      named(one, 'localhost:5000/one:2'),
      foreign,
      amd64,
    ]);
    const layout = await openLayout(dir);
    const r = await packLayout(layout, path.join(root, 'a.tar'), { dockerManifest: true });
    const config = async (d: Descriptor) => (await layout.readManifest(d)).config.digest;
    const layers = async (d: Descriptor) =>
      (await layout.readManifest(d)).layers.map((l) => `blobs/sha256/${l.digest.slice(7)}`);
    t.same(r.docker, {
      images: [
        {
          manifest: one.digest,
          config: await config(one),
          repoTags: ['docker.io/library/one:1', 'localhost:5000/one:2'],
        },
        {
          manifest: amd64.digest,
          config: await config(amd64),
          repoTags: ['example.com/team/bx:1'],
        },
      ],
      skipped: [
        {
          digest: multi.digest,
          why: 'an index of 2 images (the classic image store holds one platform per name: select one)',
        },
        {
          digest: foreign.digest,
          why: `layer sha256:${'f'.repeat(64)} is non-distributable (docker load would need its URLs)`,
        },
      ],
    });
    const archive = readFileSync(path.join(root, 'a.tar'));
    const headers = rawHeaders(archive);
    const names = headers.map((h) => h.name);
    t.same(names.slice(-3), ['index.json', 'manifest.json', 'oci-layout'], 'sorted with the rest');
    const manifestJson = execFileSync('tar', ['-xOf', path.join(root, 'a.tar'), 'manifest.json'], {
      encoding: 'utf8',
    });
    t.same(JSON.parse(manifestJson), [
      {
        Config: `blobs/sha256/${(await config(one)).slice(7)}`,
        RepoTags: ['docker.io/library/one:1', 'localhost:5000/one:2'],
        Layers: await layers(one),
      },
      {
        Config: `blobs/sha256/${(await config(amd64)).slice(7)}`,
        RepoTags: ['example.com/team/bx:1'],
        Layers: await layers(amd64),
      },
    ]);
    // The unnamed entry (amd64 alone) shares the bx entry: the same image, no name added.
    await packLayout(layout, path.join(root, 'b.tar'), { dockerManifest: true });
    t.ok(readFileSync(path.join(root, 'b.tar')).equals(archive), 'byte-identical across runs');
    const plain = await packLayout(layout, path.join(root, 'c.tar'));
    t.equal(plain.docker, undefined);
    t.notOk(
      rawHeaders(readFileSync(path.join(root, 'c.tar'))).some((h) => h.name === 'manifest.json'),
      'only when asked',
    );

    // Only a multi-platform index: no image to name, no manifest.json.
    const m = path.join(root, 'multi');
    const s = standardLayout(m);
    const only = new LayoutBuilder(m);
    only.writeIndex([tagged(s.multi, 'multi')]);
    const r2 = await packLayout(await openLayout(m), path.join(root, 'm.tar'), {
      dockerManifest: true,
    });
    t.same(r2.docker?.images, []);
    t.notOk(
      rawHeaders(readFileSync(path.join(root, 'm.tar'))).some((h) => h.name === 'manifest.json'),
    );

    // The CLI says what it left out.
    const c = await cli(['pack', 'multi', '--out', 'm2.tar', '--docker-manifest'], root);
    t.equal(c.code, 0, c.stderr);
    t.match(
      c.stderr,
      `ocikit: not in manifest.json (docker load on the classic image store): ${s.multi.digest}, an index of 2 images`,
    );
  },
);

t.test('CLI: pack and unpack round trip, --json, usage errors', async (t) => {
  const root = t.testdir();
  standardLayout(path.join(root, 'a'));
  const p = await cli(['pack', 'a', '--out', 'a.tar', '--json'], root);
  t.equal(p.code, 0, p.stderr);
  t.match(JSON.parse(p.stdout), { out: 'a.tar', layout: 'a', blobs: 10, gzip: false, entries: 14 });
  const u = await cli(['unpack', 'a.tar', '--out', 'u'], root);
  t.equal(u.code, 0, u.stderr);
  t.equal(u.stdout, 'u\n');
  const original = readdirSync(path.join(root, 'a', 'blobs', 'sha256')).sort();
  t.same(readdirSync(path.join(root, 'u', 'blobs', 'sha256')).sort(), original);
  t.same(
    readFileSync(path.join(root, 'u', 'index.json')),
    readFileSync(path.join(root, 'a', 'index.json')),
  );
  t.equal((await cli(['pack', 'a'], root)).code, 2, 'pack without --out is a usage error');
  t.equal((await cli(['unpack', 'a.tar'], root)).code, 2, 'unpack without --out is a usage error');
  const missing = await cli(['unpack', 'nope.tar', '--out', 'v', '--json'], root);
  t.equal(JSON.parse(missing.stdout).error.code, 'OCIKIT_LAYOUT_NOT_FOUND');
  // Not a file: said so (a FIFO is refused without waiting for a writer).
  execFileSync('mkfifo', [path.join(root, 'fifo.tar')]);
  for (const [input, kind] of [
    ['fifo.tar', 'a FIFO'],
    ['a', 'a directory'],
  ] as const) {
    const r = await cli(['unpack', input, '--out', 'v', '--json'], root);
    t.match(JSON.parse(r.stdout).error, {
      code: 'OCIKIT_LAYOUT_NOT_FOUND',
      message: `${input}: is ${kind}, not a regular file`,
    });
  }
  t.notOk(existsSync(path.join(root, 'v')));
});

t.test('tar-format layouts as build contexts: NAME=FILE.tar[:TAG]', async (t) => {
  const root = t.testdir();
  const s = standardLayout(path.join(root, 'a'));
  await packLayout(await openLayout(path.join(root, 'a')), path.join(root, 'base.tar'));
  t.ok(await isArchiveFile(path.join(root, 'base.tar')));
  t.notOk(await isArchiveFile(path.join(root, 'a')));
  const out = path.join(root, 'ctx');
  const r = await prepareContexts([{ name: 'base', ref: { path: 'base.tar', tag: 'multi' } }], {
    cwd: root,
    out,
    buildx: parseBuildxVersion('0.13.1'),
  });
  const c = r.contexts[0];
  t.match(c, {
    name: 'base',
    strategy: 'thin',
    tag: 'multi',
    input: 'base.tar:multi',
    descriptor: { digest: s.multi.digest },
  });
  t.equal(c?.value, `oci-layout://${out}/base:multi@${s.multi.digest}`);
  t.match(c?.reasons.join(), /OCI archive/);
  t.same(readdirSync(path.join(out, 'base')).sort(), [
    'blobs',
    'index.json',
    'ingest',
    'oci-layout',
  ]);
  t.ok((await verifyLayout(await openLayout(path.join(out, 'base')))).ok);
  t.same(readdirSync(root).sort(), ['a', 'base.tar', 'ctx'], 'no temporary sibling');
  // Mixed with a directory layout, by digest, through oci-layout://.
  const mixed = await prepareContexts(
    [
      { name: 'dir', ref: { path: 'a', tag: 'single' } },
      { name: 'tarball', ref: { path: path.join(root, 'base.tar'), digest: s.single.digest } },
    ],
    { cwd: root, out: path.join(root, 'ctx2'), mode: 'thin' },
  );
  t.same(
    mixed.contexts.map((x) => x.descriptor.digest),
    [s.single.digest, s.single.digest],
  );
  // buildx-args recognises FILE.tar values.
  const classified = await classifyContext('base=base.tar:multi', root);
  t.same(classified.layout, { name: 'base', ref: { path: 'base.tar', tag: 'multi' } });
  t.equal((await classifyContext('ctx=some-dir', root)).layout, undefined);
});

t.test('tar contexts: errors leave nothing behind', async (t) => {
  const root = t.testdir();
  standardLayout(path.join(root, 'a'));
  await packLayout(await openLayout(path.join(root, 'a')), path.join(root, 'base.tar'));
  writeFileSync(
    path.join(root, 'broken.tar'),
    readFileSync(path.join(root, 'base.tar')).subarray(0, 3000),
  );
  await t.rejects(
    prepareContexts([{ name: 'base', ref: { path: 'base.tar', tag: 'multi' } }], { cwd: root }),
    { code: 'OCIKIT_OUT_INVALID' },
  );
  await t.rejects(
    prepareContexts([{ name: 'base', ref: { path: 'base.tar', tag: 'multi' } }], {
      cwd: root,
      out: 'o',
      mode: 'in-place',
    }),
    { code: 'OCIKIT_IN_PLACE_UNSAFE' },
  );
  await t.rejects(
    prepareContexts([{ name: 'base', ref: { path: 'broken.tar' } }], { cwd: root, out: 'o' }),
    { code: 'OCIKIT_ARCHIVE_TRUNCATED' },
  );
  await t.rejects(
    prepareContexts([{ name: 'base', ref: { path: 'base.tar', tag: 'nope' } }], {
      cwd: root,
      out: 'o',
    }),
    { code: 'OCIKIT_TAG_NOT_FOUND' },
  );
  // A good archive followed by a bad directory context: the unpacked archive is removed too.
  await t.rejects(
    prepareContexts(
      [
        { name: 'base', ref: { path: 'base.tar', tag: 'multi' } },
        { name: 'other', ref: { path: 'missing-dir', tag: 'x' } },
      ],
      { cwd: root, out: 'o' },
    ),
    { code: 'OCIKIT_LAYOUT_NOT_FOUND' },
  );
  t.same(readdirSync(root).sort(), ['a', 'base.tar', 'broken.tar'], 'no out, no temporary sibling');
  const r = await cli(
    ['context', 'base=base.tar:multi', '--out', 'o', '--buildx-version', '0.13.1'],
    root,
  );
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^base=oci-layout:\/\/.*\/o\/base:multi@sha256:/);
  void runTool;
});
