// Generates the benchmark layout once and caches it: deterministic content (AES-256-CTR
// keystream under a fixed key, so same bytes on every machine), valid index.json, manifests
// and configs. 20 images of 100 small layers (1–16 KiB) + 1 image of 5 × 200 MiB layers.
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';

/** Bump when the generated content changes: a new directory is generated next to the old. */
export const LAYOUT_VERSION = 'v1';
export const SMALL_IMAGES = 20;
export const LAYERS_PER_SMALL_IMAGE = 100;
export const BIG_LAYERS = 5;
export const BIG_LAYER_BYTES = 200 * 1024 * 1024;
/** The tag the startup benchmarks resolve (the 5-layer image). */
export const BIG_TAG = 'big';

// umoci stat needs `created` in history entries (0.4.7 panics without it).
const CREATED = '2024-01-01T00:00:00Z';
const KEY = createHash('sha256').update('ocikit-bench-layout').digest();
const MT = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar',
};

/** Seeded PRNG (mulberry32) for sizes. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Keystream for blob number `n`: distinct, deterministic, incompressible. */
function keystream(n) {
  const iv = Buffer.alloc(16);
  iv.writeUInt32BE(n, 0);
  return createCipheriv('aes-256-ctr', KEY, iv);
}

class Writer {
  constructor(dir) {
    this.dir = dir;
    this.blobs = path.join(dir, 'blobs', 'sha256');
    mkdirSync(this.blobs, { recursive: true });
  }
  bytes(buf, mediaType) {
    const hex = createHash('sha256').update(buf).digest('hex');
    writeFileSync(path.join(this.blobs, hex), buf);
    return { mediaType, digest: `sha256:${hex}`, size: buf.length };
  }
  json(value, mediaType) {
    return this.bytes(Buffer.from(JSON.stringify(value)), mediaType);
  }
  stream(n, size, mediaType) {
    const tmp = path.join(this.blobs, `.tmp-${n}`);
    const fd = openSync(tmp, 'w');
    const h = createHash('sha256');
    const ks = keystream(n);
    const zero = Buffer.alloc(4 * 1024 * 1024);
    for (let left = size; left > 0; left -= zero.length) {
      const chunk = ks.update(left >= zero.length ? zero : zero.subarray(0, left));
      h.update(chunk);
      writeSync(fd, chunk);
    }
    closeSync(fd);
    const hex = h.digest('hex');
    renameSync(tmp, path.join(this.blobs, hex));
    return { mediaType, digest: `sha256:${hex}`, size };
  }
}

function image(w, name, layers) {
  const config = w.json(
    {
      created: CREATED,
      architecture: 'amd64',
      os: 'linux',
      config: { Labels: { 'ocikit.bench': name } },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
      history: layers.map((_, i) => ({ created: CREATED, created_by: `bench layer ${i}` })),
    },
    MT.config,
  );
  return w.json({ schemaVersion: 2, mediaType: MT.manifest, config, layers }, MT.manifest);
}

function generate(dir) {
  const w = new Writer(dir);
  writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const rand = prng(20240601);
  const entries = [];
  let n = 0;
  for (let i = 0; i < SMALL_IMAGES; i++) {
    const layers = [];
    for (let j = 0; j < LAYERS_PER_SMALL_IMAGE; j++) {
      const size = 1024 + Math.floor(rand() * (16 * 1024 - 1024 + 1));
      layers.push(w.bytes(keystream(n++).update(Buffer.alloc(size)), MT.layer));
    }
    entries.push([`small-${String(i).padStart(2, '0')}`, image(w, `small-${i}`, layers)]);
  }
  const big = [];
  for (let j = 0; j < BIG_LAYERS; j++) big.push(w.stream(n++, BIG_LAYER_BYTES, MT.layer));
  entries.push([BIG_TAG, image(w, BIG_TAG, big)]);
  const manifests = entries.map(([tag, d]) => ({
    ...d,
    platform: { architecture: 'amd64', os: 'linux' },
    annotations: { 'org.opencontainers.image.ref.name': tag },
  }));
  writeFileSync(
    path.join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, mediaType: MT.index, manifests }),
  );
}

/** Files and bytes under blobs/sha256 (what sha256sum and ocikit verify both read). */
export function blobStats(dir) {
  const blobs = path.join(dir, 'blobs', 'sha256');
  let files = 0;
  let bytes = 0;
  for (const name of readdirSync(blobs)) {
    files++;
    bytes += statSync(path.join(blobs, name)).size;
  }
  return { files, bytes };
}

/**
 * The cached layout directory, generated on first use. Generation goes to a private temporary
 * directory renamed into place, so an interrupted or concurrent run never leaves a half layout.
 */
export function ensureLayout(cacheDir, log) {
  const dir = path.join(cacheDir, `layout-${LAYOUT_VERSION}`);
  if (existsSync(path.join(dir, 'index.json'))) return { dir, generated: false, seconds: 0 };
  mkdirSync(cacheDir, { recursive: true });
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  log(`generating benchmark layout in ${dir} (once; ~1.1 GB) ...`);
  const t0 = performance.now();
  try {
    generate(tmp);
    renameSync(tmp, dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(path.join(dir, 'index.json'))) throw e; // else a concurrent run won
  }
  return { dir, generated: true, seconds: (performance.now() - t0) / 1000 };
}

/**
 * Finish a one-image layout whose layer blobs are stored already: config, manifest, oci-layout
 * and index.json (tagged `tag`). `put(bytes, mediaType)` stores a blob and returns its descriptor.
 */
export function writeSingleImage(
  dir,
  put,
  layers,
  { platform = { architecture: 'amd64', os: 'linux' }, tag },
) {
  const config = put(
    Buffer.from(
      JSON.stringify({
        ...platform,
        config: {},
        rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
      }),
    ),
    'application/vnd.oci.image.config.v1+json',
  );
  const manifest = put(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config,
        layers,
      }),
    ),
    'application/vnd.oci.image.manifest.v1+json',
  );
  writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(
    path.join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ ...manifest, annotations: { 'org.opencontainers.image.ref.name': tag } }],
    }),
  );
}

/**
 * A valid single-image layout whose layers are `small` blobs of ~4 KiB (random bytes) plus
 * `bigCount` blobs of `bigMiB` MiB each, tagged `tag`. Generated into `DIR.tmp` and renamed
 * into place; an existing layout is kept (it is a cache).
 */
export function writeBlobsLayout(dir, { small, bigCount = 0, bigMiB = 0, tag }) {
  const MiB = 1024 * 1024;
  const sha256 = (b) => createHash('sha256').update(b).digest('hex');
  if (existsSync(path.join(dir, 'index.json'))) return;
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(path.join(tmp, 'blobs', 'sha256'), { recursive: true });
  const put = (bytes, mediaType) => {
    const hex = sha256(bytes);
    writeFileSync(path.join(tmp, 'blobs', 'sha256', hex), bytes);
    return { mediaType, digest: `sha256:${hex}`, size: bytes.length };
  };
  const layers = [];
  for (let i = 0; i < small; i++)
    layers.push(
      put(
        Buffer.concat([Buffer.from(`small ${i}\n`), randomBytes(4096)]),
        'application/vnd.oci.image.layer.v1.tar',
      ),
    );
  const chunk = randomBytes(MiB);
  for (let b = 0; b < bigCount; b++) {
    const file = path.join(tmp, `big-${b}`);
    const fd = openSync(file, 'w');
    const h = createHash('sha256');
    for (let m = 0; m < bigMiB; m++) {
      chunk.writeUInt32LE(b * 100000 + m, 0);
      writeSync(fd, chunk);
      h.update(chunk);
    }
    closeSync(fd);
    const hex = h.digest('hex');
    renameSync(file, path.join(tmp, 'blobs', 'sha256', hex));
    layers.push({
      mediaType: 'application/vnd.oci.image.layer.v1.tar',
      digest: `sha256:${hex}`,
      size: bigMiB * MiB,
    });
  }
  writeSingleImage(tmp, put, layers, { tag });
  renameSync(tmp, dir);
}
