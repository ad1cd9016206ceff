/**
 * Size limits of `unpack` (issue 9, hostile sizes; src/archive/limits.ts, declared-sizes.ts).
 * Each hostile case is an archive built here and run through the library in process, plain and
 * gzip'd: it must fail with its code, before reading what the limit bounds (the bytes the error
 * says were read, and the bytes of the file read, are counted; no timers), leaving neither the
 * destination nor a temporary sibling. Archives that real producers write (ocikit pack, buildx,
 * skopeo, GNU tar with its record padding) still unpack. A sample goes through the bundled CLI.
 */
import {
  existsSync,
  readdirSync,
  readFileSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import t from 'tap';
import { unpackContextArchive } from '../src/archive/context.js';
import {
  DEFAULT_MAX_BYTES,
  MAX_SKIPPED_BYTES,
  MAX_TRAILING_BYTES,
  archiveLimits,
} from '../src/archive/limits.js';
import { packLayout } from '../src/archive/pack.js';
import { unpackArchive, type UnpackOptions } from '../src/archive/unpack.js';
import { parseByteSize } from '../src/cli/byte-size.js';
import { isOcikitError, type OcikitError } from '../src/errors.js';
import { openLayout } from '../src/layout/layout.js';
import { verifyLayout } from '../src/layout/verify.js';
import { BUNDLE, ROOT, bundle } from './helpers/cli.js';
import {
  OCI_CONFIG,
  OCI_INDEX,
  OCI_LAYER_GZIP,
  OCI_MANIFEST,
  standardLayout,
} from './helpers/layout-builder.js';
import { entry, paxEntry, sha256, tar, validEntries, type RawEntry } from './helpers/raw-tar.js';
import { mustRun, requireTool } from './helpers/tools.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const BUILDX_FIXTURE = path.join(ROOT, 'test', 'fixtures', 'archive', 'buildx-0.13.1-oci.tar');

type Test = Parameters<Parameters<typeof t.test>[0]>[0];
type Format = 'tar' | 'tar.gz';

// ---- archives ----------------------------------------------------------------------------

/** One gzip member holding 1 MiB of zeros (about 1 KiB): bombs are these, concatenated. */
const ZERO_MEMBER = gzipSync(Buffer.alloc(MiB), { level: 9 });

/**
 * Zeros after the archive's bytes: this many MiB as gzip members after the archive's own
 * member (32 GiB in a 33 MiB file); a plain archive is extended by a hole (sparse, nothing
 * written) of {@link PLAIN_ZEROS_MIB} instead, which is enough to tell reading it from not.
 */
const GZIP_ZEROS_MIB = 32 * 1024;
const PLAIN_ZEROS_MIB = 1024;

/** Write `bytes` as `file` in `format`, with `zeros` (a bomb) after them. Returns the file size. */
function writeArchive(file: string, bytes: Buffer, format: Format, zeros: boolean): number {
  if (format === 'tar.gz') {
    const parts = [gzipSync(bytes)];
    if (zeros) for (let i = 0; i < GZIP_ZEROS_MIB; i++) parts.push(ZERO_MEMBER);
    writeFileSync(file, Buffer.concat(parts));
  } else {
    writeFileSync(file, bytes);
    if (zeros) truncateSync(file, bytes.length + PLAIN_ZEROS_MIB * MiB);
  }
  return statSync(file).size;
}

/** A blob entry (path from the content's digest). */
function blob(content: Buffer | string): RawEntry & { digest: string; size: number } {
  const b = Buffer.from(content);
  return {
    name: `blobs/sha256/${sha256(b)}`,
    content: b,
    digest: `sha256:${sha256(b)}`,
    size: b.length,
  };
}

/** A header claiming `size` bytes (pax size record: more than ustar's 8 GiB), no content. */
function claims(name: string, size: number): Buffer {
  return Buffer.concat([paxEntry({ size: String(size) }), entry({ name, size: 0 })]);
}

const DIRS: RawEntry[] = [
  { name: 'blobs/', type: '5', mode: 0o755 },
  { name: 'blobs/sha256/', type: '5', mode: 0o755 },
];
const OCI_LAYOUT: RawEntry = { name: 'oci-layout', content: '{"imageLayoutVersion":"1.0.0"}' };

function indexJson(manifests: { mediaType: string; digest: string; size: number }[]): RawEntry {
  return {
    name: 'index.json',
    content: JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }),
  };
}

/** A layer of 2 MiB and 3 bytes (large enough for unpack's worker threads in a plain tar). */
const LAYER = Buffer.alloc(2 * MiB + 3, 'layer ');

/**
 * One image: config, layer, and a manifest that declares the layer `layerSize` bytes (default
 * its real size); index.json declares the manifest `manifestSize` bytes.
 */
function image(options: { layerSize?: number; manifestSize?: number } = {}): {
  index: RawEntry;
  manifest: ReturnType<typeof blob>;
  config: ReturnType<typeof blob>;
  layer: ReturnType<typeof blob>;
  layerDigest: string;
} {
  const layer = blob(LAYER);
  const config = blob(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: {},
      rootfs: { type: 'layers', diff_ids: [layer.digest] },
    }),
  );
  const manifest = blob(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: config.digest, size: config.size },
      layers: [
        { mediaType: OCI_LAYER_GZIP, digest: layer.digest, size: options.layerSize ?? layer.size },
      ],
    }),
  );
  const index = indexJson([
    {
      mediaType: OCI_MANIFEST,
      digest: manifest.digest,
      size: options.manifestSize ?? manifest.size,
    },
  ]);
  return { index, manifest, config, layer, layerDigest: layer.digest };
}

// ---- the runner --------------------------------------------------------------------------

interface Refusal {
  error: OcikitError;
  /** Largest count of bytes of the file read (onProgress), and the file's size. */
  fileRead: number;
  fileSize: number;
}

function tmpSiblings(root: string): string[] {
  return readdirSync(root).filter((n) => n.includes('.ocikit-tmp-'));
}

/** Unpack `bytes` (as `format`, with a bomb of zeros after them if asked) and expect `code`. */
async function refuse(
  t: Test,
  root: string,
  bytes: Buffer,
  format: Format,
  code: string,
  options: { zeros?: boolean; maxBytes?: number } = {},
): Promise<Refusal> {
  const name = `hostile.${format}`;
  const file = path.join(root, name);
  const fileSize = writeArchive(file, bytes, format, options.zeros ?? false);
  let fileRead = 0;
  const unpackOptions: UnpackOptions = {
    name,
    onProgress: ({ done }) => (fileRead = Math.max(fileRead, done)),
  };
  if (options.maxBytes !== undefined) unpackOptions.maxBytes = options.maxBytes;
  const dest = path.join(root, 'dest');
  const error = await unpackArchive(file, dest, unpackOptions).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(isOcikitError(error), `an OcikitError (${String(error)})`);
  const e = error as OcikitError;
  t.equal(e.code, code, e.message);
  t.ok(e.message.startsWith(`${name}: `), 'the message names the archive');
  t.not(e.hint, '', 'with a hint');
  t.notOk(existsSync(dest), 'no destination');
  t.same(tmpSiblings(root), [], 'no temporary sibling');
  return { error: e, fileRead, fileSize };
}

/** The bytes of the uncompressed archive read when refused (from the error's details). */
function readOf(r: Refusal): number {
  return r.error.details['read'] as number;
}

/**
 * After a refusal in front of a bomb: the file was read only as far as the read-ahead of one
 * refused entry (4 MiB reads of a .tar.gz, 1 MiB reads of a .tar), not to its end.
 */
function stoppedEarly(t: Test, r: Refusal, format: Format): void {
  const bound = format === 'tar.gz' ? 16 * MiB : 4 * MiB;
  t.ok(
    r.fileRead <= bound && r.fileRead < r.fileSize / 2,
    `read ${r.fileRead} of ${r.fileSize} bytes of the file (at most ${bound})`,
  );
}

const FORMATS: Format[] = ['tar', 'tar.gz'];

// ---- a blob larger than its descriptor -----------------------------------------------------

interface Case {
  name: string;
  /** The archive, uncompressed; `root` is the test's directory. */
  bytes: (root: string) => Buffer;
  code: string;
  /** A bomb of zeros follows `bytes`. */
  zeros?: boolean;
  /** `maxBytes`, or how to compute it from the archive. */
  maxBytes?: number | ((archive: Buffer) => number);
  /** More checks on the refusal. */
  check?: (t: Test, r: Refusal, format: Format, root: string) => void;
}

const blobCases: Case[] = [
  {
    name: 'a layer larger than its manifest says (index.json and the manifest come first)',
    bytes: () => {
      const i = image({ layerSize: LAYER.length - 1 });
      return tar([OCI_LAYOUT, i.index, ...DIRS, i.manifest, i.config, i.layer]);
    },
    code: 'OCIKIT_ARCHIVE_BLOB_TOO_LARGE',
    check: (t, r) => {
      const i = image({ layerSize: LAYER.length - 1 });
      t.match(r.error.details, {
        digest: i.layerDigest,
        size: LAYER.length,
        limit: LAYER.length - 1,
        declaredBy: `manifest ${i.manifest.digest}`,
      });
      t.match(r.error.message, i.layer.name, 'the message names the entry');
      t.ok(readOf(r) < 8 * KiB, `refused at its header (${readOf(r)} bytes read)`);
    },
  },
  {
    name: 'a manifest larger than index.json says',
    bytes: () => {
      const i = image();
      const small = image({ manifestSize: i.manifest.size - 1 });
      return tar([OCI_LAYOUT, small.index, ...DIRS, i.manifest, i.config, i.layer]);
    },
    code: 'OCIKIT_ARCHIVE_BLOB_TOO_LARGE',
    check: (t, r) => t.match(r.error.details, { declaredBy: 'index.json' }),
  },
  {
    name: 'a manifest larger than a nested index says (index.json, then the index)',
    bytes: () => {
      const i = image();
      const nested = blob(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_INDEX,
          manifests: [{ mediaType: OCI_MANIFEST, digest: i.manifest.digest, size: 10 }],
        }),
      );
      return tar([
        OCI_LAYOUT,
        indexJson([{ mediaType: OCI_INDEX, digest: nested.digest, size: nested.size }]),
        ...DIRS,
        nested,
        i.manifest,
        i.config,
        i.layer,
      ]);
    },
    code: 'OCIKIT_ARCHIVE_BLOB_TOO_LARGE',
    check: (t, r) => t.match(r.error.details, { limit: 10, declaredBy: /^index sha256:/ }),
  },
  {
    name: 'the manifest before index.json, the layer after it (the manifest is read back)',
    bytes: () => {
      const i = image({ layerSize: 1000 });
      return tar([...DIRS, i.manifest, i.config, i.index, i.layer, OCI_LAYOUT]);
    },
    code: 'OCIKIT_ARCHIVE_BLOB_TOO_LARGE',
    check: (t, r) => t.match(r.error.details, { limit: 1000, declaredBy: /^manifest sha256:/ }),
  },
  {
    name: 'a 32 GiB layer of zeros whose manifest says 1000 bytes (under the default maxBytes)',
    bytes: () => {
      const i = image({ layerSize: 1000 });
      return Buffer.concat([
        tar([OCI_LAYOUT, i.index, ...DIRS, i.manifest, i.config], false),
        claims(i.layer.name, 32 * GiB),
      ]);
    },
    zeros: true,
    code: 'OCIKIT_ARCHIVE_BLOB_TOO_LARGE',
    check: (t, r, format) => {
      t.match(r.error.details, { size: 32 * GiB, limit: 1000 });
      t.ok(readOf(r) < 16 * KiB, `refused at its header (${readOf(r)} bytes read)`);
      stoppedEarly(t, r, format);
    },
  },
  {
    name: 'pack order (blobs before index.json): the final check finds a layer larger than declared',
    bytes: () => {
      const i = image({ layerSize: LAYER.length - 1 });
      const blobs = [i.manifest, i.config, i.layer].sort((a, b) => (a.name < b.name ? -1 : 1));
      return tar([...DIRS, ...blobs, i.index, OCI_LAYOUT]);
    },
    code: 'OCIKIT_BLOB_SIZE_MISMATCH',
  },
];

// ---- the archive larger than maxBytes ---------------------------------------------------------

const BOMB = `blobs/sha256/${sha256('bomb')}`;

const totalCases: Case[] = [
  {
    name: 'a bomb: one entry of 32 GiB of zeros, maxBytes 1 MiB',
    bytes: () => claims(BOMB, 32 * GiB),
    zeros: true,
    maxBytes: MiB,
    code: 'OCIKIT_ARCHIVE_TOO_LARGE',
    check: (t, r, format) => {
      t.match(r.error.details, { path: BOMB, size: 32 * GiB, limit: MiB });
      t.match(r.error.message, BOMB, 'the message names the entry');
      t.equal(readOf(r), 3 * 512, 'refused at its header: pax header, its records, the header');
      stoppedEarly(t, r, format);
    },
  },
  {
    name: 'an entry past the default maxBytes (65 GiB)',
    bytes: () => claims(BOMB, 65 * GiB),
    zeros: true,
    code: 'OCIKIT_ARCHIVE_TOO_LARGE',
    check: (t, r, format) => {
      t.match(r.error.details, { limit: DEFAULT_MAX_BYTES });
      stoppedEarly(t, r, format);
    },
  },
  {
    name: 'entries that add up past maxBytes (the valid archive, one byte over)',
    bytes: (root) => tar(validEntries(root)),
    maxBytes: (archive) => archive.length - 1,
    code: 'OCIKIT_ARCHIVE_TOO_LARGE',
    check: (t, r) => t.match(r.error.details, { path: 'oci-layout' }),
  },
  {
    name: 'entries of nothing: 2,000 directory headers past maxBytes 64 KiB',
    bytes: () =>
      tar(Array.from({ length: 2000 }, (_, i) => ({ name: `blobs/alg${i}/`, type: '5' }))),
    maxBytes: 64 * KiB,
    code: 'OCIKIT_ARCHIVE_TOO_LARGE',
  },
  {
    name: 'a chain of pax headers before one entry (never an entry to check)',
    bytes: () =>
      tar([
        ...Array.from({ length: 9 }, (_, i) => paxEntry({ [`k${i}`]: 'x'.repeat(60 * KiB) })),
        OCI_LAYOUT,
      ]),
    code: 'OCIKIT_ARCHIVE_HEADER_TOO_LARGE',
  },
];

// ---- skipped entries and trailing data --------------------------------------------------------

const skipCases: Case[] = [
  {
    name: 'manifest.json (skipped) of 1 MiB and one byte',
    bytes: (root) =>
      tar([
        ...validEntries(root),
        { name: 'manifest.json', content: Buffer.alloc(MAX_SKIPPED_BYTES + 1, ' ') },
      ]),
    code: 'OCIKIT_ARCHIVE_SKIPPED_TOO_LARGE',
    check: (t, r) => t.match(r.error.details, { path: 'manifest.json', limit: MAX_SKIPPED_BYTES }),
  },
  {
    name: 'manifest.json and repositories, 600 KiB each',
    bytes: (root) =>
      tar([
        { name: 'manifest.json', content: Buffer.alloc(600 * KiB, ' ') },
        { name: 'repositories', content: Buffer.alloc(600 * KiB, ' ') },
        ...validEntries(root),
      ]),
    code: 'OCIKIT_ARCHIVE_SKIPPED_TOO_LARGE',
    check: (t, r) => t.match(r.error.details, { path: 'repositories', skipped: 600 * KiB }),
  },
  {
    name: 'a 32 GiB manifest.json of zeros',
    bytes: () => claims('manifest.json', 32 * GiB),
    zeros: true,
    code: 'OCIKIT_ARCHIVE_SKIPPED_TOO_LARGE',
    check: (t, r, format) => stoppedEarly(t, r, format),
  },
];

const trailingCases: Case[] = [
  {
    name: '1 MiB and one block of zeros after the end-of-archive marker',
    bytes: (root) =>
      Buffer.concat([tar(validEntries(root)), Buffer.alloc(MAX_TRAILING_BYTES + 512)]),
    code: 'OCIKIT_ARCHIVE_TRAILING_DATA',
    check: (t, r, _format, root) => {
      const size = tar(validEntries(root)).length;
      t.match(r.error.details, { offset: size - 1024, limit: MAX_TRAILING_BYTES });
      t.equal(readOf(r), size + MAX_TRAILING_BYTES, 'read the bound, not the rest');
    },
  },
  {
    name: 'a bomb after the end-of-archive marker (gzip: 32 GiB in more members)',
    bytes: (root) => tar(validEntries(root)),
    zeros: true,
    code: 'OCIKIT_ARCHIVE_TRAILING_DATA',
    check: (t, r, format, root) => {
      t.equal(readOf(r), tar(validEntries(root)).length + MAX_TRAILING_BYTES);
      stoppedEarly(t, r, format);
    },
  },
  {
    name: 'a second archive after more than 1 MiB of zeros (not read)',
    bytes: (root) =>
      Buffer.concat([
        tar(validEntries(root)),
        Buffer.alloc(MAX_TRAILING_BYTES + 512),
        tar([{ name: 'etc/cron.d/x', content: 'x' }]),
      ]),
    code: 'OCIKIT_ARCHIVE_TRAILING_DATA',
  },
];

for (const [group, cases] of [
  ['a blob larger than its descriptor', blobCases],
  ['maxBytes', totalCases],
  ['skipped entries', skipCases],
  ['data after the end-of-archive marker', trailingCases],
] as const) {
  t.test(group, async (t) => {
    for (const c of cases) {
      for (const format of FORMATS) {
        await t.test(`${c.name} (${format})`, async (t) => {
          const root = t.testdir();
          const bytes = c.bytes(root);
          const maxBytes = typeof c.maxBytes === 'function' ? c.maxBytes(bytes) : c.maxBytes;
          const options: { zeros?: boolean; maxBytes?: number } = { zeros: c.zeros ?? false };
          if (maxBytes !== undefined) options.maxBytes = maxBytes;
          const r = await refuse(t, root, bytes, format, c.code, options);
          c.check?.(t, r, format, root);
        });
      }
    }
  });
}

// ---- what real producers write is accepted ---------------------------------------------------

/** Unpack `file` into a fresh `dest` under `root` and check the layout verifies. */
async function accept(
  t: Test,
  root: string,
  file: string,
  options: UnpackOptions = {},
): Promise<void> {
  const dest = path.join(root, `u-${path.basename(file)}`);
  const r = await unpackArchive(file, dest, options);
  t.ok(r.blobs > 0, `${path.basename(file)}: ${r.blobs} blobs`);
  const report = await verifyLayout(await openLayout(dest));
  t.ok(report.ok, JSON.stringify(report.problems));
}

t.test('accepted: ocikit pack output, with maxBytes its exact uncompressed size', async (t) => {
  const root = t.testdir();
  standardLayout(path.join(root, 'a'));
  const layout = await openLayout(path.join(root, 'a'));
  await packLayout(layout, path.join(root, 'a.tar'));
  await packLayout(layout, path.join(root, 'a.tar.gz'), { gzip: true });
  const size = readFileSync(path.join(root, 'a.tar')).length;
  await accept(t, root, path.join(root, 'a.tar'), { maxBytes: size });
  await accept(t, root, path.join(root, 'a.tar.gz'), { maxBytes: size });
});

t.test('accepted: the buildx fixture, plain and gzip', async (t) => {
  const root = t.testdir();
  const gz = path.join(root, 'buildx.tar.gz');
  writeFileSync(gz, gzipSync(readFileSync(BUILDX_FIXTURE)));
  await accept(t, root, BUILDX_FIXTURE);
  await accept(t, root, gz);
});

t.test('accepted: skopeo copy oci-archive:', async (t) => {
  if (!requireTool(t, 'skopeo')) return;
  const root = t.testdir();
  standardLayout(path.join(root, 'a'));
  mustRun(
    'skopeo',
    ['--insecure-policy', 'copy', '--quiet', '--all', 'oci:a:multi', 'oci-archive:sk.tar:multi'],
    { cwd: root },
  );
  await accept(t, root, path.join(root, 'sk.tar'));
});

t.test(
  'accepted: GNU tar, padded to its record (10 KiB; 1 MiB with -b 2048), index.json first',
  async (t) => {
    if (!requireTool(t, 'tar')) return;
    const root = t.testdir();
    standardLayout(path.join(root, 'a'));
    const a = path.join(root, 'a');
    // index.json before the blobs: every blob is checked against its descriptor as it streams.
    const members = ['oci-layout', 'index.json', 'blobs'];
    mustRun('tar', ['-cf', path.join(root, 'b20.tar'), '-C', a, ...members]);
    mustRun('tar', ['-b', '2048', '-cf', path.join(root, 'b2048.tar'), '-C', a, ...members]);
    mustRun('tar', ['-b', '2048', '-czf', path.join(root, 'b2048.tar.gz'), '-C', a, '.']);
    const b2048 = readFileSync(path.join(root, 'b2048.tar'));
    t.equal(b2048.length % MiB, 0, 'GNU tar -b 2048 writes 1 MiB records');
    for (const f of ['b20.tar', 'b2048.tar', 'b2048.tar.gz'])
      await accept(t, root, path.join(root, f));
  },
);

t.test(
  'accepted: bounds are inclusive (exactly 1 MiB of zeros after the marker, of skipped entries)',
  async (t) => {
    const root = t.testdir();
    const valid = tar(validEntries(root));
    writeFileSync(
      path.join(root, 'zeros.tar'),
      Buffer.concat([valid, Buffer.alloc(MAX_TRAILING_BYTES)]),
    );
    await accept(t, root, path.join(root, 'zeros.tar'));
    writeFileSync(
      path.join(root, 'extras.tar'),
      tar([
        { name: 'manifest.json', content: Buffer.alloc(MAX_SKIPPED_BYTES - 2, ' ') },
        { name: 'repositories', content: '{}' },
        ...validEntries(root),
      ]),
    );
    await accept(t, root, path.join(root, 'extras.tar'));
  },
);

t.test('accepted: zeros after the gzip stream itself (dd conv=sync, tape padding)', async (t) => {
  const root = t.testdir();
  writeFileSync(
    path.join(root, 'padded.tar.gz'),
    Buffer.concat([gzipSync(tar(validEntries(root))), Buffer.alloc(64 * KiB)]),
  );
  await accept(t, root, path.join(root, 'padded.tar.gz'));
});

t.test('accepted: blobs that match the descriptors read before them', async (t) => {
  const root = t.testdir();
  const i = image();
  writeFileSync(
    path.join(root, 'first.tar'),
    tar([OCI_LAYOUT, i.index, ...DIRS, i.manifest, i.config, i.layer]),
  );
  await accept(t, root, path.join(root, 'first.tar'));
});

// ---- options ----------------------------------------------------------------------------------

t.test(
  'maxBytes that is not a positive whole number is a usage error; nothing is created',
  async (t) => {
    const root = t.testdir();
    writeFileSync(path.join(root, 'ok.tar'), tar(validEntries(root)));
    for (const maxBytes of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
      const a = await unpackArchive(path.join(root, 'ok.tar'), path.join(root, 'dest'), {
        maxBytes,
      }).catch((e: unknown) => e);
      t.ok(isOcikitError(a, 'OCIKIT_USAGE'), `unpackArchive maxBytes ${maxBytes}`);
      const b = await unpackContextArchive(path.join(root, 'ok.tar'), path.join(root, 'ctx'), {
        maxBytes,
      }).catch((e: unknown) => e);
      t.ok(isOcikitError(b, 'OCIKIT_USAGE'), `unpackContextArchive maxBytes ${maxBytes}`);
    }
    t.same(readdirSync(root).sort(), ['ok.tar', 'src-layout'], 'nothing created');
    t.same(archiveLimits(), {
      maxBytes: DEFAULT_MAX_BYTES,
      maxSkippedBytes: MAX_SKIPPED_BYTES,
      maxTrailingBytes: MAX_TRAILING_BYTES,
    });
    t.equal(DEFAULT_MAX_BYTES, 64 * GiB);
  },
);

t.test('tar-format build contexts honour maxBytes (unpackContextArchive)', async (t) => {
  const root = t.testdir();
  const archive = tar(validEntries(root));
  writeFileSync(path.join(root, 'ok.tar'), archive);
  const e = await unpackContextArchive(path.join(root, 'ok.tar'), path.join(root, 'ctx'), {
    maxBytes: archive.length - 1,
  }).catch((e: unknown) => e);
  t.ok(isOcikitError(e, 'OCIKIT_ARCHIVE_TOO_LARGE'), String(e));
  const r = await unpackContextArchive(path.join(root, 'ok.tar'), path.join(root, 'ctx2'), {
    maxBytes: archive.length,
  });
  t.equal(r.blobs, 10);
  t.ok(existsSync(path.join(root, 'ctx2', 'ingest')));
});

t.test('--max-bytes sizes: bytes, or K, M, G, T in powers of 1024', async (t) => {
  const good: [string, number][] = [
    ['1', 1],
    ['68719476736', 64 * GiB],
    ['512K', 512 * KiB],
    ['512M', 512 * MiB],
    ['10G', 10 * GiB],
    ['64g', 64 * GiB],
    ['64GiB', 64 * GiB],
    ['64GB', 64 * GiB],
    ['2T', 2 * 1024 * GiB],
    ['100B', 100],
  ];
  for (const [text, value] of good) t.equal(parseByteSize(text, '--max-bytes'), value, text);
  for (const text of [
    '',
    '0',
    '0G',
    '-1',
    '1.5G',
    '10X',
    'G',
    '1 0',
    '10GiBs',
    '9999999999T',
    '0x10',
  ]) {
    t.throws(
      () => parseByteSize(text, '--max-bytes'),
      { code: 'OCIKIT_USAGE' },
      JSON.stringify(text),
    );
  }
});

// ---- the bundled CLI ---------------------------------------------------------------------------

t.test('CLI (bundled): limits exit 1 with their code, a bad --max-bytes exits 2', async (t) => {
  t.ok(existsSync(BUNDLE), `${BUNDLE} exists (run npm run build)`);
  const root = t.testdir();
  const archive = tar(validEntries(root));
  writeFileSync(path.join(root, 'ok.tar'), archive);
  writeFileSync(path.join(root, 'trailing.tar'), Buffer.concat([archive, Buffer.alloc(2 * MiB)]));

  const big = bundle(['unpack', 'ok.tar', '--out', 'u', '--max-bytes', '1K'], { cwd: root });
  t.equal(big.code, 1);
  t.equal(big.stdout, '');
  t.match(big.stderr, /^ocikit: error OCIKIT_ARCHIVE_TOO_LARGE: ok\.tar: .+\n  hint: /);

  const json = bundle(['unpack', 'trailing.tar', '--out', 'u', '--json'], { cwd: root });
  t.equal(json.code, 1);
  t.match(JSON.parse(json.stdout), {
    error: { code: 'OCIKIT_ARCHIVE_TRAILING_DATA', limit: MAX_TRAILING_BYTES, hint: String },
  });

  for (const bad of ['10X', '0', '1.5G', '']) {
    const r = bundle(['unpack', 'ok.tar', '--out', 'u', '--max-bytes', bad, '--json'], {
      cwd: root,
    });
    t.equal(r.code, 2, `--max-bytes ${JSON.stringify(bad)}`);
    t.match(JSON.parse(r.stdout), { error: { code: 'OCIKIT_USAGE' } });
  }
  const twice = bundle(
    ['unpack', 'ok.tar', '--out', 'u', '--max-bytes', '1G', '--max-bytes', '2G', '--json'],
    { cwd: root },
  );
  t.equal(twice.code, 2, '--max-bytes twice');
  t.match(JSON.parse(twice.stdout), { error: { code: 'OCIKIT_USAGE' } });
  t.same(readdirSync(root).sort(), ['ok.tar', 'src-layout', 'trailing.tar'], 'nothing written');

  const ok = bundle(['unpack', 'ok.tar', '--out', 'u', '--max-bytes', `${archive.length}`], {
    cwd: root,
  });
  t.equal(ok.code, 0, ok.stderr);
  t.equal(ok.stdout, 'u\n');
});
