/**
 * A corpus of broken layouts. Each case is built in a fresh t.testdir() and checked twice:
 * through the library (the error or problem `code`, a message naming what and where, a hint)
 * and through the CLI in-process (a sample through the bundled binary) (`resolve` and
 * `verify`, text and `--json`): exit code, a coded
 * error line with a hint (or the verify report), never a stack trace, and the tree unchanged.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { isOcikitError } from '../src/errors.js';
import { openLayout } from '../src/layout/layout.js';
import { resolve, type ResolveOptions } from '../src/layout/resolve.js';
import type { Descriptor, Platform } from '../src/layout/schema.js';
import { verifyLayout } from '../src/layout/verify.js';
import { BUNDLE, bundle, cli, type CliResult } from './helpers/cli.js';
import {
  LayoutBuilder,
  OCI_CONFIG,
  OCI_INDEX,
  OCI_MANIFEST,
  tagged,
} from './helpers/layout-builder.js';
import { snapshotTree } from './helpers/tree.js';

const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_FOREIGN = 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip';
const MiB = 1024 * 1024;
const AMD64: Platform = { os: 'linux', architecture: 'amd64' };

/** What a command should do: succeed, throw a coded error, or (verify) report problems. */
type Outcome = 'ok' | string | { problems: string[] };

interface Case {
  name: string;
  /** Builds the layout in `dir` (`root` is the test dir, for siblings). Returns a string
   *  the failure's message must contain (a digest, a file name). */
  build: (dir: string, root: string) => string | void;
  resolve: 'ok' | string;
  verify: Outcome;
  strict?: boolean;
  resolveArgs?: string[];
  verifyArgs?: string[];
  /** Warning codes expected on successful runs. */
  warnings?: { resolve?: string; verify?: string };
}

interface Img {
  manifest: Descriptor;
  config: Descriptor;
  layer: Descriptor;
}

function image(
  b: LayoutBuilder,
  options: {
    mutate?: (m: Record<string, unknown>) => void;
    config?: Record<string, unknown>;
    name?: string;
  } = {},
): Img {
  const name = options.name ?? 'hello';
  const layer = b.layer({ [`${name}.txt`]: `${name}\n` });
  const config = b.json(
    options.config ?? {
      ...AMD64,
      config: {},
      rootfs: { type: 'layers', diff_ids: [layer.diffId] },
    },
    OCI_CONFIG,
  );
  const m: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config,
    layers: [layer.descriptor],
  };
  options.mutate?.(m);
  const manifest = b.json(m, OCI_MANIFEST);
  return { manifest, config, layer: layer.descriptor };
}

/** A valid layout whose `latest` is one linux/amd64 image; returns its parts. */
function simple(
  dir: string,
  options: Parameters<typeof image>[1] = {},
): Img & { b: LayoutBuilder } {
  const b = new LayoutBuilder(dir);
  const img = image(b, options);
  b.writeIndex([tagged(img.manifest, 'latest')]);
  return { ...img, b };
}

const blobFile = (dir: string, d: Descriptor | string): string =>
  path.join(dir, 'blobs', ...(typeof d === 'string' ? d : d.digest).split(':'));

function writeIndexJson(dir: string, doc: unknown): void {
  writeFileSync(path.join(dir, 'index.json'), JSON.stringify(doc));
}

/** index.json with one descriptor, otherwise valid; returns `token`. */
function indexWith(dir: string, descriptor: Record<string, unknown>, token: string): string {
  new LayoutBuilder(dir);
  writeIndexJson(dir, { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [descriptor] });
  return token;
}

const goodDescriptor = (over: Record<string, unknown>): Record<string, unknown> => ({
  mediaType: OCI_MANIFEST,
  digest: `sha256:${'a'.repeat(64)}`,
  size: 10,
  ...over,
});

function flipByte(file: string, at?: number): void {
  const bytes = readFileSync(file);
  const i = at ?? Math.floor(bytes.length / 2);
  bytes[i] = (bytes[i] as number) ^ 0xff;
  writeFileSync(file, bytes);
}

function mkfifo(file: string): void {
  rmSync(file, { force: true, recursive: true });
  execFileSync('mkfifo', [file]);
}

/** JSON padded with spaces to `bytes` bytes. */
function paddedJson(value: unknown, bytes: number): Buffer {
  const text = JSON.stringify(value);
  return Buffer.concat([Buffer.from(text), Buffer.alloc(bytes - text.length, ' ')]);
}

const sha256 = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

const cases: Case[] = [
  // --- the layout directory and oci-layout ---
  {
    name: 'layout directory missing',
    build: () => 'layout',
    resolve: 'OCIKIT_LAYOUT_NOT_FOUND',
    verify: 'OCIKIT_LAYOUT_NOT_FOUND',
  },
  {
    name: 'layout path is a file',
    build: (dir) => writeFileSync(dir, 'not a directory'),
    resolve: 'OCIKIT_LAYOUT_NOT_FOUND',
    verify: 'OCIKIT_LAYOUT_NOT_FOUND',
  },
  {
    name: 'oci-layout missing',
    build: (dir) => {
      simple(dir);
      rmSync(path.join(dir, 'oci-layout'));
      return 'oci-layout';
    },
    resolve: 'OCIKIT_LAYOUT_INVALID',
    verify: 'OCIKIT_LAYOUT_INVALID',
  },
  {
    name: 'oci-layout with version 2.0.0',
    build: (dir) => {
      simple(dir);
      writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"2.0.0"}');
      return '2.0.0';
    },
    resolve: 'OCIKIT_LAYOUT_INVALID',
    verify: 'OCIKIT_LAYOUT_INVALID',
  },
  {
    name: 'oci-layout not JSON',
    build: (dir) => {
      simple(dir);
      writeFileSync(path.join(dir, 'oci-layout'), 'imageLayoutVersion: 1.0.0\n');
      return 'oci-layout';
    },
    resolve: 'OCIKIT_LAYOUT_INVALID',
    verify: 'OCIKIT_LAYOUT_INVALID',
  },
  {
    name: 'oci-layout version is a number',
    build: (dir) => {
      simple(dir);
      writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":1}');
      return 'imageLayoutVersion';
    },
    resolve: 'OCIKIT_LAYOUT_INVALID',
    verify: 'OCIKIT_LAYOUT_INVALID',
  },
  {
    name: 'oci-layout is a directory',
    build: (dir) => {
      simple(dir);
      rmSync(path.join(dir, 'oci-layout'));
      mkdirSync(path.join(dir, 'oci-layout'));
      return 'oci-layout';
    },
    resolve: 'OCIKIT_LAYOUT_INVALID',
    verify: 'OCIKIT_LAYOUT_INVALID',
  },

  // --- index.json as a file ---
  {
    name: 'index.json missing',
    build: (dir) => {
      simple(dir);
      rmSync(path.join(dir, 'index.json'));
      return 'index.json';
    },
    resolve: 'OCIKIT_INDEX_MISSING',
    verify: 'OCIKIT_INDEX_MISSING',
  },
  {
    name: 'index.json empty',
    build: (dir) => {
      simple(dir);
      writeFileSync(path.join(dir, 'index.json'), '');
      return 'index.json';
    },
    resolve: 'OCIKIT_JSON_INVALID',
    verify: 'OCIKIT_JSON_INVALID',
  },
  {
    name: 'index.json truncated',
    build: (dir) => {
      simple(dir);
      const file = path.join(dir, 'index.json');
      const text = readFileSync(file, 'utf8');
      writeFileSync(file, text.slice(0, Math.floor(text.length / 2)));
      return 'index.json';
    },
    resolve: 'OCIKIT_JSON_INVALID',
    verify: 'OCIKIT_JSON_INVALID',
  },
  {
    name: 'index.json starts with a byte order mark',
    build: (dir) => {
      const { manifest } = simple(dir);
      writeFileSync(
        path.join(dir, 'index.json'),
        `\ufeff${JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [manifest] })}`,
      );
      return 'index.json';
    },
    resolve: 'OCIKIT_JSON_INVALID',
    verify: 'OCIKIT_JSON_INVALID',
  },
  {
    name: 'index.json of 17 MiB',
    build: (dir) => {
      const { manifest } = simple(dir);
      writeFileSync(
        path.join(dir, 'index.json'),
        paddedJson({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [manifest] }, 17 * MiB),
      );
      return 'index.json';
    },
    resolve: 'OCIKIT_JSON_TOO_LARGE',
    verify: 'OCIKIT_JSON_TOO_LARGE',
  },
  {
    name: 'index.json nested 100000 arrays deep',
    build: (dir) => {
      simple(dir);
      writeFileSync(path.join(dir, 'index.json'), '['.repeat(1e5) + ']'.repeat(1e5));
      return 'index.json';
    },
    resolve: 'OCIKIT_JSON_TOO_DEEP',
    verify: 'OCIKIT_JSON_TOO_DEEP',
  },
  {
    name: 'index.json is a FIFO (must not block)',
    build: (dir) => {
      simple(dir);
      mkfifo(path.join(dir, 'index.json'));
      return 'index.json';
    },
    resolve: 'OCIKIT_BLOB_NOT_FILE',
    verify: 'OCIKIT_BLOB_NOT_FILE',
  },
  {
    name: 'index.json is an array',
    build: (dir) => {
      simple(dir);
      writeIndexJson(dir, []);
      return 'index.json';
    },
    resolve: 'OCIKIT_SCHEMA_INVALID',
    verify: 'OCIKIT_SCHEMA_INVALID',
  },

  // --- index.json content ---
  {
    name: 'schemaVersion 1',
    build: (dir) => {
      const { manifest } = simple(dir);
      writeIndexJson(dir, { schemaVersion: 1, mediaType: OCI_INDEX, manifests: [manifest] });
      return 'schemaVersion';
    },
    resolve: 'OCIKIT_SCHEMA_INVALID',
    verify: 'OCIKIT_SCHEMA_INVALID',
  },
  {
    name: 'schemaVersion "2" (a string)',
    build: (dir) => {
      const { manifest } = simple(dir);
      writeIndexJson(dir, { schemaVersion: '2', mediaType: OCI_INDEX, manifests: [manifest] });
      return 'schemaVersion';
    },
    resolve: 'OCIKIT_SCHEMA_INVALID',
    verify: 'OCIKIT_SCHEMA_INVALID',
  },
  {
    name: 'manifests is not an array',
    build: (dir) => {
      const { manifest } = simple(dir);
      writeIndexJson(dir, { schemaVersion: 2, mediaType: OCI_INDEX, manifests: { 0: manifest } });
      return 'manifests';
    },
    resolve: 'OCIKIT_SCHEMA_INVALID',
    verify: 'OCIKIT_SCHEMA_INVALID',
  },
  {
    name: 'index.json mediaType names a manifest',
    build: (dir) => {
      const { manifest } = simple(dir);
      writeIndexJson(dir, { schemaVersion: 2, mediaType: OCI_MANIFEST, manifests: [manifest] });
      return OCI_MANIFEST;
    },
    resolve: 'OCIKIT_SCHEMA_INVALID',
    verify: 'OCIKIT_SCHEMA_INVALID',
  },
  {
    name: 'descriptor with a negative size',
    build: (dir) => indexWith(dir, goodDescriptor({ size: -1 }), 'size'),
    resolve: 'OCIKIT_SCHEMA_INVALID',
    verify: 'OCIKIT_SCHEMA_INVALID',
  },
  {
    name: 'descriptor with a fractional size',
    build: (dir) => indexWith(dir, goodDescriptor({ size: 1.5 }), 'manifests[0]'),
    resolve: 'OCIKIT_SCHEMA_INVALID',
    verify: 'OCIKIT_SCHEMA_INVALID',
  },
  {
    name: 'descriptor with the size as a string',
    build: (dir) => indexWith(dir, goodDescriptor({ size: '10' }), 'size'),
    resolve: 'OCIKIT_SCHEMA_INVALID',
    verify: 'OCIKIT_SCHEMA_INVALID',
  },
  {
    name: 'descriptor platform without os',
    build: (dir) =>
      indexWith(dir, goodDescriptor({ platform: { architecture: 'amd64' } }), 'platform'),
    resolve: 'OCIKIT_SCHEMA_INVALID',
    verify: 'OCIKIT_SCHEMA_INVALID',
  },
  {
    name: 'annotation value that is not a string',
    build: (dir) =>
      indexWith(
        dir,
        goodDescriptor({ annotations: { 'org.opencontainers.image.ref.name': 1 } }),
        'org.opencontainers.image.ref.name',
      ),
    resolve: 'OCIKIT_SCHEMA_INVALID',
    verify: 'OCIKIT_SCHEMA_INVALID',
  },
  {
    name: 'path-traversing digest sha256:../../x',
    build: (dir) => indexWith(dir, goodDescriptor({ digest: 'sha256:../../x' }), '../../x'),
    resolve: 'OCIKIT_DIGEST_INVALID',
    verify: 'OCIKIT_DIGEST_INVALID',
  },
  {
    name: 'digest with uppercase hex',
    build: (dir) =>
      indexWith(dir, goodDescriptor({ digest: `sha256:${'A'.repeat(64)}` }), 'A'.repeat(64)),
    resolve: 'OCIKIT_DIGEST_INVALID',
    verify: 'OCIKIT_DIGEST_INVALID',
  },
  {
    name: 'sha256 digest of the wrong length',
    build: (dir) => indexWith(dir, goodDescriptor({ digest: `sha256:${'a'.repeat(63)}` }), '64'),
    resolve: 'OCIKIT_DIGEST_INVALID',
    verify: 'OCIKIT_DIGEST_INVALID',
  },
  {
    name: 'sha512 digest of the wrong length',
    build: (dir) => indexWith(dir, goodDescriptor({ digest: `sha512:${'a'.repeat(64)}` }), '128'),
    resolve: 'OCIKIT_DIGEST_INVALID',
    verify: 'OCIKIT_DIGEST_INVALID',
  },
  {
    name: 'digest that is not a string',
    build: (dir) => indexWith(dir, goodDescriptor({ digest: 42 }), 'manifests[0].digest'),
    resolve: 'OCIKIT_DIGEST_INVALID',
    verify: 'OCIKIT_DIGEST_INVALID',
  },
  {
    name: 'digest with an algorithm ocikit cannot compute',
    build: (dir) => {
      const digest = `md5:${'0'.repeat(32)}`;
      return indexWith(dir, goodDescriptor({ digest }), digest);
    },
    resolve: 'OCIKIT_DIGEST_UNSUPPORTED',
    verify: { problems: ['OCIKIT_DIGEST_UNSUPPORTED'] },
  },
  {
    name: 'Docker schema 1 manifest in index.json',
    build: (dir) => {
      const b = new LayoutBuilder(dir);
      const mediaType = 'application/vnd.docker.distribution.manifest.v1+prettyjws';
      const d = b.json({ schemaVersion: 1, name: 'x', tag: 'latest', fsLayers: [] }, mediaType);
      b.writeIndex([tagged(d, 'latest')]);
      return d.digest;
    },
    resolve: 'OCIKIT_MEDIA_TYPE_UNSUPPORTED',
    verify: 'OCIKIT_MEDIA_TYPE_UNSUPPORTED',
  },
  {
    name: 'Docker schema 1 content behind an OCI manifest descriptor',
    build: (dir) => {
      const b = new LayoutBuilder(dir);
      const d = b.json(
        {
          schemaVersion: 1,
          name: 'x',
          tag: 'latest',
          architecture: 'amd64',
          fsLayers: [],
          history: [],
        },
        OCI_MANIFEST,
      );
      b.writeIndex([tagged(d, 'latest')]);
      return d.digest;
    },
    resolve: 'OCIKIT_SCHEMA_INVALID',
    verify: { problems: ['OCIKIT_SCHEMA_INVALID'] },
  },
  {
    name: 'descriptor and content disagree on the media type',
    build: (dir) => {
      const b = new LayoutBuilder(dir);
      const img = image(b, { mutate: (m) => (m['mediaType'] = DOCKER_MANIFEST) });
      b.writeIndex([tagged(img.manifest, 'latest')]); // the descriptor says OCI
      return DOCKER_MANIFEST;
    },
    resolve: 'OCIKIT_MEDIA_TYPE_MISMATCH',
    verify: { problems: ['OCIKIT_MEDIA_TYPE_MISMATCH'] },
  },
  {
    name: 'descriptor says index, content is a manifest',
    build: (dir) => {
      const b = new LayoutBuilder(dir);
      const img = image(b);
      b.writeIndex([tagged({ ...img.manifest, mediaType: OCI_INDEX }, 'latest')]);
      return img.manifest.digest;
    },
    resolve: 'OCIKIT_MEDIA_TYPE_MISMATCH',
    verify: { problems: ['OCIKIT_MEDIA_TYPE_MISMATCH'] },
  },

  // --- blobs ---
  {
    name: 'manifest blob missing',
    build: (dir) => {
      const { manifest } = simple(dir);
      rmSync(blobFile(dir, manifest));
      return manifest.digest;
    },
    resolve: 'OCIKIT_BLOB_MISSING',
    verify: { problems: ['OCIKIT_BLOB_MISSING'] },
  },
  {
    name: 'layer blob missing',
    build: (dir) => {
      const { layer } = simple(dir);
      rmSync(blobFile(dir, layer));
      return layer.digest;
    },
    resolve: 'ok',
    verify: { problems: ['OCIKIT_BLOB_MISSING'] },
  },
  {
    name: 'layer shorter than its descriptor',
    build: (dir) => {
      const { layer } = simple(dir);
      const file = blobFile(dir, layer);
      writeFileSync(file, readFileSync(file).subarray(0, layer.size - 1));
      return layer.digest;
    },
    resolve: 'ok',
    verify: { problems: ['OCIKIT_BLOB_SIZE_MISMATCH'] },
  },
  {
    name: 'layer with one byte flipped',
    build: (dir) => {
      const { layer } = simple(dir);
      flipByte(blobFile(dir, layer));
      return layer.digest;
    },
    resolve: 'ok',
    verify: { problems: ['OCIKIT_BLOB_DIGEST_MISMATCH'] },
  },
  {
    name: 'manifest with one byte changed (still valid JSON)',
    build: (dir) => {
      const { manifest } = simple(dir, { mutate: (m) => (m['annotations'] = { note: 'a' }) });
      const file = blobFile(dir, manifest);
      writeFileSync(file, readFileSync(file, 'utf8').replace('"note":"a"', '"note":"b"'));
      return manifest.digest;
    },
    resolve: 'OCIKIT_BLOB_DIGEST_MISMATCH',
    verify: { problems: ['OCIKIT_BLOB_DIGEST_MISMATCH'] },
  },
  {
    name: 'config truncated',
    build: (dir) => {
      const { config } = simple(dir);
      const file = blobFile(dir, config);
      writeFileSync(file, readFileSync(file).subarray(0, config.size - 3));
      return config.digest;
    },
    resolve: 'OCIKIT_BLOB_SIZE_MISMATCH',
    verify: { problems: ['OCIKIT_BLOB_SIZE_MISMATCH'] },
  },
  {
    name: 'config that is not JSON (digest and size right)',
    build: (dir) => {
      const b = new LayoutBuilder(dir);
      const config = b.blob('architecture=amd64', OCI_CONFIG);
      const manifest = b.json(
        { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [] },
        OCI_MANIFEST,
      );
      b.writeIndex([tagged(manifest, 'latest')]);
      return config.digest;
    },
    resolve: 'OCIKIT_JSON_INVALID',
    verify: { problems: ['OCIKIT_JSON_INVALID'] },
  },
  {
    name: 'manifest that is truncated JSON (digest and size right)',
    build: (dir) => {
      const b = new LayoutBuilder(dir);
      const d = b.blob(
        '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manif',
        OCI_MANIFEST,
      );
      b.writeIndex([tagged(d, 'latest')]);
      return d.digest;
    },
    resolve: 'OCIKIT_JSON_INVALID',
    verify: { problems: ['OCIKIT_JSON_INVALID'] },
  },
  {
    name: 'manifest blob of 17 MiB',
    build: (dir) => {
      const b = new LayoutBuilder(dir);
      const img = image(b);
      const huge = paddedJson(
        JSON.parse(readFileSync(blobFile(dir, img.manifest), 'utf8')),
        17 * MiB,
      );
      const d = b.blob(huge, OCI_MANIFEST);
      b.writeIndex([tagged(d, 'latest')]);
      return d.digest;
    },
    resolve: 'OCIKIT_JSON_TOO_LARGE',
    verify: { problems: ['OCIKIT_JSON_TOO_LARGE'] },
  },
  {
    name: 'manifest blob is a directory',
    build: (dir) => {
      const { manifest } = simple(dir);
      rmSync(blobFile(dir, manifest));
      mkdirSync(blobFile(dir, manifest));
      return manifest.digest;
    },
    resolve: 'OCIKIT_BLOB_NOT_FILE',
    verify: { problems: ['OCIKIT_BLOB_NOT_FILE'] },
  },
  {
    name: 'config blob is a FIFO (must not block)',
    build: (dir) => {
      const { config } = simple(dir);
      mkfifo(blobFile(dir, config));
      return config.digest;
    },
    resolve: 'OCIKIT_BLOB_NOT_FILE',
    verify: { problems: ['OCIKIT_BLOB_NOT_FILE'] },
  },
  {
    name: 'layer blob is a FIFO (must not block)',
    build: (dir) => {
      const { layer } = simple(dir);
      mkfifo(blobFile(dir, layer));
      return layer.digest;
    },
    resolve: 'ok',
    verify: { problems: ['OCIKIT_BLOB_NOT_FILE'] },
  },
  {
    name: 'layer is a symlink to /etc/passwd',
    build: (dir) => {
      const { layer } = simple(dir);
      rmSync(blobFile(dir, layer));
      symlinkSync('/etc/passwd', blobFile(dir, layer));
      return '/etc/passwd';
    },
    resolve: 'ok',
    verify: { problems: ['OCIKIT_BLOB_SYMLINK_ESCAPES'] },
  },
  {
    name: 'manifest is a symlink to /etc/passwd',
    build: (dir) => {
      const { manifest } = simple(dir);
      rmSync(blobFile(dir, manifest));
      symlinkSync('/etc/passwd', blobFile(dir, manifest));
      return '/etc/passwd';
    },
    resolve: 'OCIKIT_BLOB_SYMLINK_ESCAPES',
    verify: { problems: ['OCIKIT_BLOB_SYMLINK_ESCAPES'] },
  },
  {
    name: 'layer is a dangling symlink',
    build: (dir) => {
      const { layer } = simple(dir);
      rmSync(blobFile(dir, layer));
      symlinkSync('../../gone/blob', blobFile(dir, layer));
      return 'dangling symlink';
    },
    resolve: 'ok',
    verify: { problems: ['OCIKIT_BLOB_MISSING'] },
  },
  {
    name: 'layer is a symlink loop',
    build: (dir) => {
      const { layer } = simple(dir);
      const file = blobFile(dir, layer);
      rmSync(file);
      symlinkSync(path.basename(file), file);
      return 'loop';
    },
    resolve: 'ok',
    verify: { problems: ['OCIKIT_BLOB_SYMLINK_ESCAPES'] },
  },
  {
    name: 'blobs are symlinks to the same blobs of another layout (accepted)',
    build: (dir, root) => {
      const other = path.join(root, 'other');
      const img = simple(other);
      simple(dir);
      for (const d of [img.manifest, img.config, img.layer]) {
        rmSync(blobFile(dir, d));
        symlinkSync(blobFile(other, d), blobFile(dir, d));
      }
    },
    resolve: 'ok',
    verify: 'ok',
  },
  {
    name: 'layer is a symlink to a copy with another name outside the layout',
    build: (dir, root) => {
      const { layer } = simple(dir);
      mkdirSync(path.join(root, 'store'));
      const copy = path.join(root, 'store', 'layer.tar.gz');
      cpSync(blobFile(dir, layer), copy);
      rmSync(blobFile(dir, layer));
      symlinkSync(copy, blobFile(dir, layer));
      return copy;
    },
    resolve: 'ok',
    verify: { problems: ['OCIKIT_BLOB_SYMLINK_ESCAPES'] },
  },
  {
    name: 'layer is a symlink to a file inside the layout (accepted)',
    build: (dir) => {
      const { layer } = simple(dir);
      mkdirSync(path.join(dir, 'store'));
      renameSync(blobFile(dir, layer), path.join(dir, 'store', 'layer.tar.gz'));
      symlinkSync('../../store/layer.tar.gz', blobFile(dir, layer));
    },
    resolve: 'ok',
    verify: 'ok',
  },
  {
    name: 'foreign layer with urls absent (accepted with a warning)',
    build: (dir) => {
      simple(dir, {
        mutate: (m) =>
          (m['layers'] = [
            ...(m['layers'] as Descriptor[]),
            {
              mediaType: DOCKER_FOREIGN,
              digest: `sha256:${sha256('foreign')}`,
              size: 7,
              urls: ['https://example.com/l'],
            },
          ]),
      });
    },
    resolve: 'ok',
    verify: 'ok',
    warnings: { verify: 'OCIKIT_W_FOREIGN_LAYER' },
  },

  // --- tags and graph shape ---
  {
    name: 'tag latest on two different manifests',
    build: (dir) => {
      const b = new LayoutBuilder(dir);
      const one = image(b, { name: 'one' });
      const two = image(b, { name: 'two' });
      b.writeIndex([tagged(one.manifest, 'latest'), tagged(two.manifest, 'latest')]);
      return two.manifest.digest;
    },
    resolve: 'OCIKIT_TAG_AMBIGUOUS',
    verify: { problems: ['OCIKIT_TAG_AMBIGUOUS', 'OCIKIT_TAG_AMBIGUOUS'] },
  },
  {
    name: 'duplicate tag selected with --tag',
    build: (dir) => {
      const b = new LayoutBuilder(dir);
      const one = image(b, { name: 'one' });
      const two = image(b, { name: 'two' });
      b.writeIndex([tagged(one.manifest, 'dup'), tagged(two.manifest, 'dup')]);
      return '"dup"';
    },
    resolveArgs: ['--tag', 'dup'],
    verifyArgs: ['--tag', 'dup'],
    resolve: 'OCIKIT_TAG_AMBIGUOUS',
    verify: 'OCIKIT_TAG_AMBIGUOUS',
  },
  {
    name: 'one tag twice on the same manifest (accepted)',
    build: (dir) => {
      const b = new LayoutBuilder(dir);
      const one = image(b);
      b.writeIndex([tagged(one.manifest, 'latest'), tagged(one.manifest, 'latest')]);
    },
    resolve: 'ok',
    verify: 'ok',
  },
  {
    name: 'index blob that references itself',
    build: (dir) => {
      const b = new LayoutBuilder(dir);
      image(b);
      // The content cannot hash to its own digest: claim one, then make the size fit.
      const digest = `sha256:${sha256('self')}`;
      let size = 0;
      let text = '';
      for (let i = 0; i < 5; i++) {
        text = JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_INDEX,
          manifests: [{ mediaType: OCI_INDEX, digest, size }],
        });
        size = text.length;
      }
      writeFileSync(blobFile(dir, digest), text);
      b.writeIndex([tagged({ mediaType: OCI_INDEX, digest, size }, 'latest')]);
      return digest;
    },
    resolve: 'OCIKIT_BLOB_DIGEST_MISMATCH',
    verify: { problems: ['OCIKIT_BLOB_DIGEST_MISMATCH', 'OCIKIT_REFERENCE_CYCLE'] },
  },
  {
    name: 'indexes nested 12 deep',
    build: (dir) => {
      const b = new LayoutBuilder(dir);
      let d: Descriptor = { ...image(b).manifest, platform: AMD64 };
      for (let i = 0; i < 12; i++) d = b.index([d]);
      b.writeIndex([tagged(d, 'latest')]);
      return 'nest';
    },
    resolveArgs: ['--platform', 'linux/amd64'],
    resolve: 'OCIKIT_NESTING_TOO_DEEP',
    verify: { problems: ['OCIKIT_NESTING_TOO_DEEP'] },
  },
  {
    name: 'nested index holding a path-traversing digest',
    build: (dir) => {
      const b = new LayoutBuilder(dir);
      const inner = b.json(
        {
          schemaVersion: 2,
          mediaType: OCI_INDEX,
          manifests: [goodDescriptor({ digest: 'sha256:../../x', platform: AMD64 })],
        },
        OCI_INDEX,
      );
      b.writeIndex([tagged(inner, 'latest')]);
      return '../../x';
    },
    resolveArgs: ['--platform', 'linux/amd64'],
    resolve: 'OCIKIT_DIGEST_INVALID',
    verify: { problems: ['OCIKIT_DIGEST_INVALID'] },
  },

  // --- tolerated deviations: warnings, errors with --strict ---
  {
    name: 'layers: null (lenient: warning)',
    build: (dir) => {
      simple(dir, { mutate: (m) => (m['layers'] = null) });
    },
    resolve: 'ok',
    verify: 'ok',
    warnings: { resolve: 'OCIKIT_W_NULL_LIST', verify: 'OCIKIT_W_NULL_LIST' },
  },
  {
    name: 'layers: null (--strict: error)',
    strict: true,
    build: (dir) => simple(dir, { mutate: (m) => (m['layers'] = null) }).manifest.digest,
    resolve: 'OCIKIT_SCHEMA_INVALID',
    verify: { problems: ['OCIKIT_SCHEMA_INVALID'] },
  },
  {
    name: 'rules_oci-style index.json without schemaVersion and mediaType (lenient: warning)',
    build: (dir) => {
      const { manifest } = simple(dir);
      writeIndexJson(dir, { manifests: [tagged(manifest, 'latest')] });
    },
    resolve: 'ok',
    verify: 'ok',
    warnings: { resolve: 'OCIKIT_W_NO_SCHEMA_VERSION', verify: 'OCIKIT_W_NO_SCHEMA_VERSION' },
  },
  {
    name: 'rules_oci-style index.json (--strict: error)',
    strict: true,
    build: (dir) => {
      const { manifest } = simple(dir);
      writeIndexJson(dir, { manifests: [tagged(manifest, 'latest')] });
      return 'schemaVersion';
    },
    resolve: 'OCIKIT_SCHEMA_INVALID',
    verify: 'OCIKIT_SCHEMA_INVALID',
  },
  {
    name: 'config without rootfs (--strict: error)',
    strict: true,
    build: (dir) => simple(dir, { config: { ...AMD64, config: {} } }).config.digest,
    resolve: 'OCIKIT_SCHEMA_INVALID',
    verify: { problems: ['OCIKIT_SCHEMA_INVALID'] },
  },
];

/** Library options for the CLI selection arguments. */
function selectionOf(args: readonly string[]): ResolveOptions {
  const o: ResolveOptions = {};
  for (let i = 0; i < args.length; i += 2) {
    const v = args[i + 1] as string;
    if (args[i] === '--tag') o.tag = v;
    else if (args[i] === '--digest') o.digest = v;
    else if (args[i] === '--platform') o.platform = v;
  }
  return o;
}

interface LibOutcome {
  code: string;
  messages: string[];
  hints: string[];
  problems?: string[];
  warnings: string[];
}

async function libRun(dir: string, c: Case, command: 'resolve' | 'verify'): Promise<LibOutcome> {
  const args = (command === 'resolve' ? c.resolveArgs : c.verifyArgs) ?? [];
  try {
    const layout = await openLayout(dir, { strict: c.strict ?? false });
    if (command === 'resolve') {
      await resolve(layout, selectionOf(args));
      return { code: 'ok', messages: [], hints: [], warnings: layout.warnings.map((w) => w.code) };
    }
    const report = await verifyLayout(layout, selectionOf(args));
    return {
      code: report.ok ? 'ok' : 'problems',
      problems: report.problems.map((p) => p.code),
      messages: report.problems.map((p) => p.message),
      hints: report.problems.map((p) => p.hint),
      warnings: report.warnings.map((w) => w.code),
    };
  } catch (e) {
    if (!isOcikitError(e)) throw e;
    return { code: e.code, messages: [e.message], hints: [e.hint], warnings: [] };
  }
}

const STACK = /^\s+at .*(:\d+|\(native\))/m;

function expectCli(
  t: Test,
  r: CliResult,
  expected: Outcome,
  json: boolean,
  warning: string | undefined,
): void {
  const label = JSON.stringify(r).slice(0, 2000);
  t.notMatch(r.stderr, STACK, 'no stack trace on stderr');
  t.notMatch(r.stdout, STACK, 'no stack trace on stdout');
  if (expected === 'ok') {
    t.equal(r.code, 0, `exit 0: ${label}`);
    if (json) {
      const doc = JSON.parse(r.stdout) as { warnings: { code: string }[]; ok?: boolean };
      if (doc.ok !== undefined) t.equal(doc.ok, true);
      if (warning !== undefined)
        t.ok(
          doc.warnings.some((w) => w.code === warning),
          `warning ${warning} in JSON`,
        );
    } else if (warning !== undefined) {
      t.match(r.stderr, new RegExp(`^ocikit: warning ${warning}: .+`, 'm'), `warning ${warning}`);
    }
    return;
  }
  t.equal(r.code, 1, `exit 1: ${label}`);
  if (typeof expected === 'string') {
    if (json) {
      const doc = JSON.parse(r.stdout) as {
        error: { code: string; message: string; hint: string };
      };
      t.equal(doc.error.code, expected, 'JSON error code');
      t.type(doc.error.message, 'string');
      t.not(doc.error.message, '', 'JSON error message');
      t.not(doc.error.hint, '', 'JSON error hint');
      t.equal(r.stderr, '', 'nothing on stderr with --json');
    } else {
      t.equal(r.stdout, '', 'no data on stdout');
      t.match(
        r.stderr,
        new RegExp(`^ocikit: error ${expected}: .+\\n  hint: .+\\n`, 'm'),
        'coded error and hint',
      );
    }
    return;
  }
  const want = [...expected.problems].sort();
  if (json) {
    const doc = JSON.parse(r.stdout) as {
      ok: boolean;
      problems: {
        code: string;
        message: string;
        hint: string;
        digest: string;
        referencedBy: unknown[];
      }[];
    };
    t.equal(doc.ok, false);
    t.same(doc.problems.map((p) => p.code).sort(), want, 'problem codes in the JSON report');
    for (const p of doc.problems) {
      t.ok(
        p.message !== '' && p.hint !== '' && p.digest !== '',
        'problem has message, hint, digest',
      );
      t.ok(
        Array.isArray(p.referencedBy) && p.referencedBy.length > 0,
        'problem names who references the blob',
      );
    }
  } else {
    t.notMatch(r.stderr, /ocikit: error/, 'problems are data, not an error');
    const codes = [...r.stdout.matchAll(/^(OCIKIT_[A-Z_]+): .+\n  hint: .+$/gm)]
      .map((m) => m[1])
      .sort();
    t.same(codes, want, 'each problem printed with its hint');
    t.match(r.stdout, new RegExp(`^FAILED: ${want.length} problems? in `, 'm'));
  }
}

t.test('bundled CLI is built', async (t) => {
  t.ok(existsSync(BUNDLE), `${BUNDLE} exists (run npm run build)`);
});

t.test(`the corpus has at least 25 broken layouts (${cases.length})`, async (t) => {
  t.ok(cases.filter((c) => c.resolve !== 'ok' || c.verify !== 'ok').length >= 25);
  t.equal(new Set(cases.map((c) => c.name)).size, cases.length, 'case names are unique');
});

/** Messages name a blob by digest or by its path blobs/sha256/<hex>: look for the hex. */
const needle = (token: string): string => token.replace(/^sha(256|512):(?=[a-f0-9]+$)/, '');

for (const [index, c] of cases.entries()) {
  t.test(c.name, async (t) => {
    const root = t.testdir();
    const dir = path.join(root, 'layout');
    const token = c.build(dir, root);
    const before = snapshotTree(root);

    // Library.
    for (const command of ['resolve', 'verify'] as const) {
      const expected: Outcome = command === 'resolve' ? c.resolve : c.verify;
      const got = await libRun(dir, c, command);
      if (typeof expected === 'object') {
        t.equal(got.code, 'problems', `library ${command}: a report with problems`);
        t.same(
          [...(got.problems ?? [])].sort(),
          [...expected.problems].sort(),
          `library ${command}: problem codes`,
        );
      } else {
        t.equal(got.code, expected, `library ${command}: ${got.messages.join(' | ')}`);
      }
      if (expected !== 'ok') {
        t.ok(
          got.hints.every((h) => h !== ''),
          `library ${command}: every failure has a hint`,
        );
        if (typeof token === 'string') {
          t.ok(
            got.messages.every((m) => m.includes(needle(token))),
            `library ${command}: message names ${token}`,
          );
        }
      }
      const warning = c.warnings?.[command];
      if (warning !== undefined)
        t.ok(got.warnings.includes(warning), `library ${command}: warning ${warning}`);
    }

    // CLI: both commands, text and --json, in-process; on every sixth case two of the four
    // also through the bundled binary (alternating, so every mode runs bundled several times):
    // the exit-code and stream contract of the real process, at a fraction of the cost.
    const strict = c.strict === true ? ['--strict'] : [];
    const modes = [
      ['resolve', false],
      ['resolve', true],
      ['verify', false],
      ['verify', true],
    ] as const;
    for (const [m, [command, json]] of modes.entries()) {
      const expected: Outcome = command === 'resolve' ? c.resolve : c.verify;
      const args = [
        command,
        dir,
        ...((command === 'resolve' ? c.resolveArgs : c.verifyArgs) ?? []),
        ...strict,
      ];
      if (json) args.push('--json');
      const runs: [string, CliResult][] = [['in-process', await cli(args)]];
      if (index % 6 === 0 && m % 2 === (index / 6) % 2) runs.push(['bundled', bundle(args)]);
      for (const [how, r] of runs) {
        t.test(`ocikit ${command}${json ? ' --json' : ''} (${how})`, async (t) => {
          expectCli(t, r, expected, json, c.warnings?.[command]);
          if (
            json &&
            typeof expected === 'string' &&
            expected !== 'ok' &&
            typeof token === 'string'
          ) {
            t.match(
              (JSON.parse(r.stdout) as { error: { message: string } }).error.message,
              needle(token),
              `names ${token}`,
            );
          }
        });
      }
    }

    t.same(snapshotTree(root), before, 'the tree is unchanged');
  });
}
