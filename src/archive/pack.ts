/**
 * `pack`: an OCI layout as a tar archive (what skopeo calls `oci-archive:`), byte-identical
 * across runs and machines. The archive holds `oci-layout`, `index.json` and every blob that
 * index.json reaches, nothing else (no `ingest/`, no lock files, no stray blobs), as files
 * read through symlinks (thin copies pack like the layouts they link to). Entries are sorted
 * by path; every header has mtime 0, uid/gid 0, no user names, mode 0644 (files) or 0755
 * (directories); pax headers appear only for paths or sizes ustar cannot hold. Blobs stream
 * through in 1 MiB reads (small ones are read whole), optionally hashed on the way
 * (`verifyDigests`). The output is written to a temporary sibling and renamed.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync, constants as fsc, promises as fsp, createWriteStream } from 'node:fs';
import path from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ErrorCode, OcikitError, errnoCode } from '../errors.js';
import { digestMismatch, type Layout } from '../layout.js';
import { MAX_JSON_BYTES } from '../media-types.js';
import { deterministicGzip } from './gzip.js';
import { reachableBlobs } from './reachable.js';
import { encodeHeader, endOfArchive, padding } from './ustar.js';

/** Options of {@link packLayout}. */
export interface PackOptions {
  /** gzip the archive (deterministic header; see gzip.ts). Default false. */
  gzip?: boolean;
  /** Deflate level 1–9 with `gzip`. Default 6, as gzip(1). */
  gzipLevel?: number;
  /**
   * Hash every blob while packing and fail on a mismatch. Default false: presence and sizes
   * are always checked, and indexes, manifests and configs are digest-checked as they are read;
   * layer digests are checked by whoever unpacks (ocikit unpack always does).
   */
  verifyDigests?: boolean;
  /** Called with the bytes of file content packed so far and the total. */
  onProgress?: (event: { total: number; done: number }) => void;
}

/** The result of {@link packLayout}. */
export interface PackResult {
  out: string;
  /** Entries in the archive (directories and files). */
  entries: number;
  blobs: number;
  /** Bytes of file content (blobs, index.json, oci-layout). */
  contentBytes: number;
  /** Bytes of the archive written. */
  archiveBytes: number;
  gzip: boolean;
  /** The zlib build the deflate bytes depend on (only with gzip). */
  zlib?: string;
}

interface FileEntry {
  path: string;
  /** Absolute path to read (through symlinks). */
  source: string;
  size: number;
  /** For blobs: the digest to check. */
  digest?: { algorithm: string; value: string };
}

const CHUNK = 1024 * 1024;
/** Output chunks are gathered up to this size before they are handed to the writer. */
const BATCH = 1024 * 1024;

function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

async function metadataFile(layout: Layout, name: string): Promise<FileEntry> {
  const source = path.join(layout.dir, name);
  const st = await fsp.stat(source).catch((e: unknown) => {
    throw new OcikitError(ErrorCode.LayoutInvalid, `${layout.name}/${name}: cannot be read (${errnoCode(e) ?? String(e)})`, {
      hint: 'Pass a complete OCI layout.',
    });
  });
  if (!st.isFile() || st.size > MAX_JSON_BYTES) {
    throw new OcikitError(ErrorCode.LayoutInvalid, `${layout.name}/${name}: is not a regular file of at most ${MAX_JSON_BYTES} bytes`, {
      hint: 'Pass a complete OCI layout.',
    });
  }
  return { path: name, source, size: st.size };
}

function changed(entry: FileEntry): OcikitError {
  return new OcikitError(ErrorCode.BlobSizeMismatch, `${entry.path}: changed size while it was packed`, {
    hint: 'Do not modify the layout while ocikit reads it.',
    details: { path: entry.path },
  });
}

/** Read a small file whole (synchronously: cheaper than three thread-pool round trips). */
function readSmall(entry: FileEntry): Buffer {
  const fd = openSync(entry.source, fsc.O_RDONLY);
  try {
    if (fstatSync(fd).size !== entry.size) throw changed(entry);
    const buf = Buffer.allocUnsafe(entry.size);
    let n = 0;
    while (n < entry.size) {
      const r = readSync(fd, buf, n, entry.size - n, n);
      if (r === 0) throw changed(entry);
      n += r;
    }
    return buf;
  } finally {
    closeSync(fd);
  }
}

function checkDigest(entry: FileEntry, hash: Hash | undefined): void {
  if (hash === undefined || entry.digest === undefined) return;
  const actual = `${entry.digest.algorithm}:${hash.digest('hex')}`;
  if (actual !== entry.digest.value) throw digestMismatch(entry.digest.value, actual, entry.path);
}

/** The archive's bytes, in order, in chunks of about {@link BATCH}. */
async function* archiveChunks(dirs: readonly string[], files: readonly FileEntry[], verify: boolean, progress: (n: number) => void): AsyncGenerator<Buffer> {
  const all = [...dirs.map((d) => ({ dir: d })), ...files.map((f) => ({ file: f }))].sort((a, b) => {
    const pa = 'dir' in a ? a.dir : a.file.path;
    const pb = 'dir' in b ? b.dir : b.file.path;
    return pa < pb ? -1 : pa > pb ? 1 : 0;
  });
  let batch: Buffer[] = [];
  let batched = 0;
  const add = (b: Buffer): Buffer[] | undefined => {
    batch.push(b);
    batched += b.length;
    if (batched < BATCH) return undefined;
    const out = batch;
    batch = [];
    batched = 0;
    return out;
  };
  for (const item of all) {
    if ('dir' in item) {
      const full = add(encodeHeader({ path: item.dir, type: 'directory', size: 0, mode: 0o755 }));
      if (full) yield Buffer.concat(full);
      continue;
    }
    const entry = item.file;
    const hash = verify && entry.digest !== undefined ? createHash(entry.digest.algorithm) : undefined;
    let full = add(encodeHeader({ path: entry.path, type: 'file', size: entry.size, mode: 0o644 }));
    if (full) yield Buffer.concat(full);
    if (entry.size <= CHUNK) {
      const content = readSmall(entry);
      hash?.update(content);
      checkDigest(entry, hash);
      full = add(content);
      if (full) yield Buffer.concat(full);
      progress(entry.size);
    } else {
      if (batch.length > 0) {
        yield Buffer.concat(batch);
        batch = [];
        batched = 0;
      }
      const fh = await fsp.open(entry.source, fsc.O_RDONLY);
      try {
        if ((await fh.stat()).size !== entry.size) throw changed(entry);
        let pos = 0;
        while (pos < entry.size) {
          const buf = Buffer.allocUnsafe(Math.min(CHUNK, entry.size - pos));
          const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
          if (bytesRead === 0) throw changed(entry);
          const chunk = bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
          hash?.update(chunk);
          pos += bytesRead;
          progress(bytesRead);
          yield chunk;
        }
        const { bytesRead } = await fh.read(Buffer.alloc(1), 0, 1, pos);
        if (bytesRead !== 0) throw changed(entry);
      } finally {
        await fh.close();
      }
      checkDigest(entry, hash);
    }
    const pad = padding(entry.size);
    if (pad.length > 0) {
      full = add(pad);
      if (full) yield Buffer.concat(full);
    }
  }
  batch.push(endOfArchive());
  yield Buffer.concat(batch);
}

class Counter extends Transform {
  bytes = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    cb(null, chunk);
  }
}

/**
 * Pack `layout` into the archive `out` (absolute path; must not exist, must not be inside the
 * layout). The layout is only read.
 * @throws OcikitError `OCIKIT_OUT_NOT_EMPTY`, `OCIKIT_OUT_INSIDE_INPUT`, `OCIKIT_OUT_INVALID`,
 *   `OCIKIT_USAGE` (gzip level), and the blob errors of the layout (`OCIKIT_BLOB_MISSING`,
 *   `OCIKIT_BLOB_SIZE_MISMATCH`, `OCIKIT_BLOB_DIGEST_MISMATCH`, ...)
 */
export async function packLayout(layout: Layout, out: string, options: PackOptions = {}): Promise<PackResult> {
  if (!path.isAbsolute(out)) throw new Error(`packLayout needs an absolute path, got ${out}`);
  const gzip = options.gzip ?? false;
  const level = options.gzipLevel ?? 6;
  if (!Number.isInteger(level) || level < 1 || level > 9) {
    throw new OcikitError(ErrorCode.Usage, `gzip level ${level} is not 1-9`, { hint: 'Pass --gzip-level 1 (fast) to 9 (small); the default is 6.' });
  }
  const parent = path.dirname(out);
  const realParent = await fsp.realpath(parent).catch(() => parent);
  if (isInside(path.join(realParent, path.basename(out)), layout.realDir)) {
    throw new OcikitError(ErrorCode.OutInsideInput, `--out ${out} is inside the layout ${layout.name}`, {
      hint: 'Write the archive outside the layout; inputs are never written.',
      details: { out },
    });
  }
  if (await fsp.lstat(out).then(() => true, () => false)) {
    throw new OcikitError(ErrorCode.OutNotEmpty, `--out ${out} exists`, { hint: 'ocikit does not overwrite: remove it first or pass a new path.', details: { out } });
  }

  const blobs = await reachableBlobs(layout, layout.index.manifests);
  const files: FileEntry[] = [await metadataFile(layout, 'oci-layout'), await metadataFile(layout, 'index.json')];
  const dirs = new Set<string>(['blobs/']);
  for (const b of blobs.values()) {
    dirs.add(`blobs/${b.digest.algorithm}/`);
    files.push({ path: b.file.relPath, source: b.file.path, size: b.descriptor.size, digest: { algorithm: b.digest.algorithm, value: b.digest.value } });
  }
  const total = files.reduce((n, f) => n + f.size, 0);
  let done = 0;
  const progress = (n: number): void => {
    done += n;
    options.onProgress?.({ total, done });
  };

  await fsp.mkdir(parent, { recursive: true }).catch(() => undefined);
  const tmp = path.join(parent, `.${path.basename(out)}.ocikit-tmp-${randomBytes(6).toString('hex')}`);
  const counter = new Counter();
  try {
    const sink = createWriteStream(tmp, { flags: 'wx', mode: 0o644, highWaterMark: 4 * BATCH });
    const source = Readable.from(archiveChunks([...dirs], files, options.verifyDigests ?? false, progress), { objectMode: false, highWaterMark: 8 * BATCH });
    if (gzip) await pipeline(source, ...deterministicGzip(level), counter, sink);
    else await pipeline(source, counter, sink);
    await fsp.rename(tmp, out);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    if (e instanceof OcikitError) throw e;
    const code = errnoCode(e);
    if (code === 'ENOENT' && (e as { path?: string }).path !== tmp) {
      throw new OcikitError(ErrorCode.BlobMissing, `a blob disappeared while it was packed (${(e as Error).message})`, { hint: 'Do not modify the layout while ocikit reads it.' });
    }
    throw new OcikitError(ErrorCode.OutInvalid, `cannot write ${out}: ${code ?? String(e)}`, { hint: 'Check that the directory of --out exists and is writable.', cause: e });
  }
  const result: PackResult = { out, entries: dirs.size + files.length, blobs: blobs.size, contentBytes: total, archiveBytes: counter.bytes, gzip };
  if (gzip) result.zlib = process.versions.zlib ?? 'unknown';
  return result;
}
