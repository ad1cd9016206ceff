/**
 * `unpack`: an OCI archive (tar, optionally gzip'd; from ocikit pack, skopeo `oci-archive:`,
 * buildx `--output type=oci,dest=x.tar`) extracted into a new layout directory, safely:
 *
 * - only regular files and directories are ever created, and only where an OCI layout has
 *   them: `oci-layout`, `index.json`, `blobs/`, `blobs/ALG/`, `blobs/ALG/ENCODED`
 *   (`manifest.json` and `repositories`, which some producers add for docker load, are
 *   skipped); links, devices, FIFOs and anything else are refused before anything is written;
 * - paths are refused when absolute, when they contain `..`, `.`, empty components, a
 *   backslash or a NUL, or when their headers are oversized; the same path twice is refused;
 * - files are created with O_EXCL in a private temporary directory (never through a link,
 *   since none is ever made), modes 0644/0755, no owners or times from the archive;
 * - every blob is hashed while it streams and must match its name (large blobs on a worker
 *   thread, see stream-hash.ts, so hashing overlaps the reads and writes);
 * - the archive is read into a ring of reused buffers, a few reads ahead (see RingSource);
 * - at the end the layout must open and every blob index.json reaches must be there with its
 *   size (digests were checked on the way in); only then is the directory renamed into place.
 */
import { createHash } from 'node:crypto';
import { constants as fsc, createReadStream, mkdirSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { isHashable, parseDigest, type Digest } from '../digest.js';
import { ErrorCode, OcikitError, errnoCode, isOcikitError } from '../errors.js';
import { digestMismatch, openLayout, sizeMismatch, type Layout } from '../layout.js';
import {
  MAX_JSON_BYTES,
  isForeignLayerMediaType,
  isImageConfigMediaType,
  isIndexMediaType,
  isManifestMediaType,
} from '../media-types.js';
import { MAX_INDEX_DEPTH } from '../resolve.js';
import { pendingDir } from '../out-dir.js';
import type { Descriptor, Warning } from '../schema.js';
import { isGzip } from './gzip.js';
import { StreamHasher } from './stream-hash.js';
import { DEFAULT_LIMITS, TarReader, type ReaderLimits, type TarEntry } from './tar-reader.js';
import { TypeFlag } from './ustar.js';

/** Options of {@link unpackArchive} and {@link extractLayoutArchive}. */
export interface UnpackOptions {
  /** Reject spec deviations in the extracted layout (see openLayout). Default false. */
  strict?: boolean;
  /** How messages name the archive. Default: the path as given. */
  name?: string;
  /** Largest path accepted, in bytes. Default 1024. */
  maxPathBytes?: number;
  /** Limits on pax headers and GNU long names. */
  limits?: Partial<ReaderLimits>;
  /** Called with bytes of the archive file read so far and its size. */
  onProgress?: (event: { total: number; done: number }) => void;
}

/** What {@link extractLayoutArchive} found. */
export interface ExtractResult {
  format: 'tar' | 'tar+gzip';
  /** Entries read (pax and long-name headers not counted). */
  entries: number;
  blobs: number;
  /** Bytes of file content written. */
  bytes: number;
  /** Entries read but not extracted (docker-load extras). */
  skipped: string[];
  /** Deviations tolerated in the extracted layout. */
  warnings: Warning[];
}

/** The result of {@link unpackArchive}. */
export interface UnpackResult extends ExtractResult {
  out: string;
}

/** Files some producers put beside the layout for `docker load`; read and dropped. */
const DOCKER_EXTRAS = new Set(['manifest.json', 'repositories']);
const ALGORITHM = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*$/;
const SMALL = 1024 * 1024;
/** Reads of the archive file. */
const READ_CHUNK = 4 * 1024 * 1024;

type Place =
  | { kind: 'root' }
  | { kind: 'dir'; rel: string }
  | { kind: 'metadata'; rel: string }
  | { kind: 'blob'; rel: string; digest: Digest }
  | { kind: 'extra'; rel: string };

function unsafe(entry: TarEntry, why: string): OcikitError {
  return new OcikitError(
    ErrorCode.ArchivePathUnsafe,
    `archive entry ${JSON.stringify(entry.path.slice(0, 200))} (at byte ${entry.offset}): ${why}`,
    {
      hint: 'ocikit extracts only relative paths inside the destination; this archive is not an OCI layout (or is hostile).',
      details: { path: entry.path.slice(0, 200), offset: entry.offset },
    },
  );
}

function unexpected(entry: TarEntry, why: string): OcikitError {
  return new OcikitError(
    ErrorCode.ArchiveUnexpectedEntry,
    `archive entry ${JSON.stringify(entry.path.slice(0, 200))} (at byte ${entry.offset}): ${why}`,
    {
      hint: 'An OCI archive holds oci-layout, index.json and blobs/ALG/ENCODED only; produce it with ocikit pack, skopeo or buildx.',
      details: { path: entry.path.slice(0, 200), offset: entry.offset },
    },
  );
}

/** The normalised relative path of an entry ('' for the root), or a coded refusal. */
export function normalizeEntryPath(entry: TarEntry, maxPathBytes: number): string {
  const raw = entry.path;
  if (Buffer.byteLength(raw, 'utf8') > maxPathBytes) {
    throw new OcikitError(
      ErrorCode.ArchiveHeaderTooLarge,
      `archive entry at byte ${entry.offset}: a path of ${Buffer.byteLength(raw, 'utf8')} bytes is longer than the ${maxPathBytes} ocikit accepts`,
      {
        hint: 'OCI layouts have short paths; this archive is not one (or is hostile).',
        details: { offset: entry.offset },
      },
    );
  }
  if (raw === '') throw unsafe(entry, 'empty path');
  if (raw.includes('\0')) throw unsafe(entry, 'the path contains a NUL byte');
  if (raw.includes('\\')) throw unsafe(entry, 'the path contains a backslash');
  if (raw.startsWith('/')) throw unsafe(entry, 'absolute path');
  if (/^[A-Za-z]:/.test(raw)) throw unsafe(entry, 'drive-letter path');
  let p = raw;
  while (p.startsWith('./')) p = p.slice(2);
  if (p === '.') p = '';
  if (p.endsWith('/')) p = p.slice(0, -1);
  if (p === '') return '';
  for (const part of p.split('/')) {
    if (part === '..') throw unsafe(entry, 'the path climbs out with ".."');
    if (part === '.' || part === '') throw unsafe(entry, 'the path has an empty or "." component');
  }
  return p;
}

function place(entry: TarEntry, rel: string, isDir: boolean): Place {
  const parts = rel === '' ? [] : rel.split('/');
  if (isDir) {
    if (parts.length === 0) return { kind: 'root' };
    if (parts[0] === 'blobs' && parts.length === 1) return { kind: 'dir', rel };
    if (parts[0] === 'blobs' && parts.length === 2 && ALGORITHM.test(parts[1] as string))
      return { kind: 'dir', rel };
    throw unexpected(entry, 'a directory that is not blobs/ or blobs/ALG/');
  }
  if (parts.length === 1 && (rel === 'oci-layout' || rel === 'index.json'))
    return { kind: 'metadata', rel };
  if (parts.length === 1 && DOCKER_EXTRAS.has(rel)) return { kind: 'extra', rel };
  if (parts.length === 3 && parts[0] === 'blobs') {
    const digest = parseDigest(`${parts[1]}:${parts[2]}`, `archive entry ${rel}`);
    if (!isHashable(digest.algorithm)) {
      throw new OcikitError(
        ErrorCode.DigestUnsupported,
        `archive entry ${rel}: algorithm ${digest.algorithm} cannot be verified`,
        {
          hint: 'ocikit verifies sha256 and sha512 blobs while it extracts them.',
          details: { path: rel },
        },
      );
    }
    return { kind: 'blob', rel, digest };
  }
  throw unexpected(
    entry,
    rel === 'blobs' ? 'blobs must be a directory' : 'not a file of an OCI layout',
  );
}

function refuseType(entry: TarEntry): void {
  switch (entry.typeflag) {
    case TypeFlag.File:
    case TypeFlag.OldFile:
    case TypeFlag.Directory:
      return;
    case TypeFlag.SymLink:
    case TypeFlag.HardLink:
    case TypeFlag.GnuLongLink:
      throw new OcikitError(
        ErrorCode.ArchiveLink,
        `archive entry ${JSON.stringify(entry.path.slice(0, 200))} (at byte ${entry.offset}) is a ${entry.typeflag === TypeFlag.SymLink ? 'symlink' : 'hardlink'} to ${JSON.stringify(entry.linkname.slice(0, 200))}`,
        {
          hint: 'ocikit never extracts links: an OCI archive holds regular files only. Pack the layout with ocikit pack (which follows symlinks).',
          details: {
            path: entry.path.slice(0, 200),
            linkname: entry.linkname.slice(0, 200),
            offset: entry.offset,
          },
        },
      );
    default: {
      const kinds: Record<string, string> = {
        [TypeFlag.CharDevice]: 'character device',
        [TypeFlag.BlockDevice]: 'block device',
        [TypeFlag.Fifo]: 'FIFO',
        [TypeFlag.Contiguous]: 'contiguous file',
      };
      const kind = kinds[entry.typeflag] ?? `entry of type ${JSON.stringify(entry.typeflag)}`;
      throw new OcikitError(
        ErrorCode.ArchiveSpecialFile,
        `archive entry ${JSON.stringify(entry.path.slice(0, 200))} (at byte ${entry.offset}) is a ${kind}`,
        {
          hint: 'An OCI archive holds regular files and directories only.',
          details: { path: entry.path.slice(0, 200), type: entry.typeflag, offset: entry.offset },
        },
      );
    }
  }
}

async function writeAll(fh: fsp.FileHandle, buf: Buffer, position?: number): Promise<void> {
  let n = 0;
  while (n < buf.length)
    n += (await fh.write(buf, n, buf.length - n, position === undefined ? null : position + n))
      .bytesWritten;
}

/**
 * Writes of one large file in flight at a time. Measured: 2 or 3 overlapping positional
 * writes only spin on the inode lock (ext4 serialises buffered writes to a file).
 */
const WRITES_PER_FILE = 1;

const CREATE = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW;

async function writeSmallFile(file: string, buf: Buffer): Promise<void> {
  const fh = await fsp.open(file, CREATE, 0o644);
  try {
    await writeAll(fh, buf);
  } finally {
    await fh.close();
  }
}

/**
 * Small files are written in the background, many at a time (creating a file costs more than
 * writing a few KiB), so the thread pool creates them while the main thread reads and hashes.
 */
class Writes {
  private readonly inFlight = new Set<Promise<void>>();
  private failure: unknown;
  constructor(private readonly limit = 32) {}

  async add(write: () => Promise<void>): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    while (this.inFlight.size >= this.limit) await Promise.race(this.inFlight);
    const p: Promise<void> = write()
      .catch((e: unknown) => {
        this.failure ??= e;
      })
      .finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }

  /** Wait for every write; throw the first failure. */
  async drain(): Promise<void> {
    await Promise.all(this.inFlight);
    if (this.failure !== undefined) throw this.failure;
  }
}

/** What {@link writeEntry} writes with. */
interface EntryIo {
  writes: Writes;
  /** Hashes large entries on another thread. */
  hasher: StreamHasher;
  /** Keep the input buffer under `view` from being reused until `until` settles. */
  hold: (view: Buffer, until: Promise<unknown>) => void;
}

/**
 * The archive file read into a ring of buffers, {@link AHEAD} reads ahead of the consumer (no
 * allocation and no page faults per read; the thread pool reads and writes while the main
 * thread parses and hashes). A buffer is refilled only when the writes that still use it,
 * registered with {@link RingSource.hold}, have finished.
 */
class RingSource implements AsyncIterable<Buffer> {
  private readonly slots = Array.from({ length: 8 }, () => ({
    buf: Buffer.allocUnsafeSlow(READ_CHUNK),
    holds: [] as Promise<unknown>[],
  }));

  constructor(
    private readonly file: string,
    private readonly onProgress: (done: number) => void,
  ) {}

  hold(view: Buffer, until: Promise<unknown>): void {
    const slot = this.slots.find((s) => s.buf.buffer === view.buffer);
    if (slot !== undefined) slot.holds.push(until.catch(() => undefined));
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    const fh = await fsp.open(this.file, fsc.O_RDONLY);
    const size = (await fh.stat()).size;
    const slots = this.slots;
    const reads: (Promise<number> | undefined)[] = slots.map(() => undefined);
    let issued = 0;
    let position = 0;
    const issue = (): void => {
      if (position >= size) return;
      const k = issued++ % slots.length;
      const slot = slots[k] as { buf: Buffer; holds: Promise<unknown>[] };
      const at = position;
      const len = Math.min(slot.buf.length, size - at);
      position += len;
      reads[k] = (async () => {
        if (slot.holds.length > 0) await Promise.all(slot.holds.splice(0));
        let n = 0;
        while (n < len) {
          const { bytesRead } = await fh.read(slot.buf, n, len - n, at + n);
          if (bytesRead === 0) break;
          n += bytesRead;
        }
        return n;
      })();
    };
    let done = 0;
    try {
      for (let i = 0; i < AHEAD; i++) issue();
      for (let k = 0; ; k = (k + 1) % slots.length) {
        const read = reads[k];
        if (read === undefined) return;
        reads[k] = undefined;
        const n = await read;
        issue();
        if (n === 0) return;
        done += n;
        this.onProgress(done);
        yield (slots[k] as { buf: Buffer }).buf.subarray(0, n);
      }
    } finally {
      await Promise.allSettled(reads.filter((r) => r !== undefined));
      await fh.close();
    }
  }
}

/**
 * Entries at least this large are hashed on a worker thread (in parallel with the reads and
 * writes), the rest on the main thread (cheaper than a round trip).
 */
const WORKER_HASH_MIN = 8 * 1024 * 1024;

/** Reads in flight ahead of the one being consumed. */
const AHEAD = 2;

/** Write the entry's content to a new file, hashing it with `algorithm` when given. */
async function writeEntry(
  reader: TarReader,
  entry: TarEntry,
  file: string,
  algorithm: string | undefined,
  io: EntryIo,
): Promise<string | undefined> {
  const { writes, hold } = io;
  const streamHash =
    algorithm !== undefined && entry.size >= WORKER_HASH_MIN
      ? io.hasher.begin(algorithm)
      : undefined;
  const hash =
    algorithm === undefined || streamHash !== undefined ? undefined : createHash(algorithm);
  if (entry.size <= SMALL) {
    const parts: Buffer[] = [];
    for await (const chunk of reader.content()) parts.push(chunk);
    const buf = Buffer.concat(parts, entry.size); // a copy: the input buffers are reused
    hash?.update(buf);
    await writes.add(() => writeSmallFile(file, buf));
  } else {
    const fh = await fsp.open(file, CREATE, 0o644);
    try {
      // Writes in flight while the next chunks are read and hashed.
      const inFlight: Promise<void>[] = [];
      let position = 0;
      try {
        for await (const chunk of reader.content()) {
          if (inFlight.length >= WRITES_PER_FILE) await inFlight.shift();
          const write = writeAll(fh, chunk, position);
          position += chunk.length;
          inFlight.push(write);
          hold(chunk, write);
          if (streamHash !== undefined) await streamHash.update(chunk);
          else hash?.update(chunk);
        }
      } finally {
        await Promise.allSettled(inFlight);
      }
      await Promise.all(inFlight);
    } finally {
      await fh.close();
    }
  }
  if (streamHash !== undefined) return `${algorithm}:${await streamHash.digest()}`;
  return hash === undefined ? undefined : `${algorithm}:${hash.digest('hex')}`;
}

class Counter extends Transform {
  bytes = 0;
  constructor(private readonly onBytes: (total: number) => void) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    this.onBytes(this.bytes);
    cb(null, chunk);
  }
}

function zlibError(e: unknown, name: string): OcikitError | undefined {
  const code = errnoCode(e);
  if (code === undefined || !code.startsWith('Z_')) return undefined;
  if (code === 'Z_BUF_ERROR') {
    return new OcikitError(
      ErrorCode.ArchiveTruncated,
      `${name}: the gzip stream ends early (${(e as Error).message})`,
      {
        hint: 'The file was cut short (interrupted download or copy); produce it again.',
      },
    );
  }
  return new OcikitError(
    ErrorCode.ArchiveInvalid,
    `${name}: the gzip stream is corrupt (${(e as Error).message})`,
    {
      hint: 'The file is damaged; produce it again.',
    },
  );
}

/**
 * Extract the archive `file` into `dir` (an existing, empty directory that nobody else
 * writes) and check the result is a complete layout. On failure `dir` holds partial content:
 * the caller removes it (see {@link unpackArchive}).
 * @throws OcikitError `OCIKIT_ARCHIVE_*`, `OCIKIT_DIGEST_INVALID`, `OCIKIT_DIGEST_UNSUPPORTED`,
 *   `OCIKIT_BLOB_DIGEST_MISMATCH`, `OCIKIT_JSON_TOO_LARGE`, and the errors of openLayout and
 *   verification (`OCIKIT_LAYOUT_INVALID`, `OCIKIT_INDEX_MISSING`, `OCIKIT_BLOB_MISSING`, ...)
 */
export async function extractLayoutArchive(
  file: string,
  dir: string,
  options: UnpackOptions = {},
): Promise<ExtractResult> {
  const name = options.name ?? file;
  let size: number;
  let gzip: boolean;
  try {
    const fh = await fsp.open(file, fsc.O_RDONLY);
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EISDIR' });
      size = st.size;
      const head = Buffer.alloc(2);
      await fh.read(head, 0, 2, 0);
      gzip = isGzip(head);
    } finally {
      await fh.close();
    }
  } catch (e) {
    throw new OcikitError(
      ErrorCode.LayoutNotFound,
      `${name}: no such archive file (${errnoCode(e) ?? String(e)})`,
      {
        hint: 'Pass an OCI archive: a .tar or .tar.gz file.',
        details: { archive: name },
      },
    );
  }
  const onProgress = (done: number): void => options.onProgress?.({ total: size, done });
  let chunks: AsyncIterable<Buffer>;
  let ring: RingSource | undefined;
  let gunzip: Transform | undefined;
  let flowing: Promise<unknown> = Promise.resolve(undefined);
  if (gzip) {
    gunzip = zlib.createGunzip({ chunkSize: 256 * 1024 });
    flowing = pipeline(
      createReadStream(file, { highWaterMark: READ_CHUNK }),
      new Counter(onProgress),
      gunzip,
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    chunks = gunzip;
  } else {
    ring = new RingSource(file, onProgress);
    chunks = ring;
  }
  const reader = new TarReader(chunks, { ...DEFAULT_LIMITS, ...options.limits });
  const maxPathBytes = options.maxPathBytes ?? 1024;
  const seen = new Set<string>();
  const made = new Set<string>(['']);
  const mkdir = (rel: string): void => {
    if (made.has(rel)) return;
    mkdirSync(path.join(dir, rel), { recursive: true, mode: 0o755 });
    let r = rel;
    while (r !== '' && !made.has(r)) {
      made.add(r);
      r = path.posix.dirname(r) === '.' ? '' : path.posix.dirname(r);
    }
  };
  const result: ExtractResult = {
    format: gzip ? 'tar+gzip' : 'tar',
    entries: 0,
    blobs: 0,
    bytes: 0,
    skipped: [],
    warnings: [],
  };
  const writes = new Writes();
  const hasher = new StreamHasher();
  const io: EntryIo = { writes, hasher, hold: (view, until) => ring?.hold(view, until) };
  const extracted = new Map<string, number>();
  try {
    for (;;) {
      const entry = await reader.next();
      if (entry === undefined) break;
      result.entries++;
      const rel = normalizeEntryPath(entry, maxPathBytes);
      refuseType(entry);
      const isDir = entry.typeflag === TypeFlag.Directory;
      if (seen.has(rel)) {
        throw new OcikitError(
          ErrorCode.ArchiveDuplicateEntry,
          `archive entry ${JSON.stringify(entry.path.slice(0, 200))} (at byte ${entry.offset}) names ${rel === '' ? 'the root' : rel} a second time`,
          {
            hint: 'An archive must name each path once (a later entry would silently replace an earlier one).',
            details: { path: rel, offset: entry.offset },
          },
        );
      }
      seen.add(rel);
      const where = place(entry, rel, isDir);
      switch (where.kind) {
        case 'root':
          break;
        case 'dir':
          mkdir(where.rel);
          break;
        case 'extra':
          await reader.skipContent();
          result.skipped.push(where.rel);
          break;
        case 'metadata': {
          if (entry.size > MAX_JSON_BYTES) {
            throw new OcikitError(
              ErrorCode.JsonTooLarge,
              `archive entry ${where.rel}: ${entry.size} bytes, more than the ${MAX_JSON_BYTES} bytes ocikit reads as metadata`,
              {
                hint: 'This is not a plausible OCI metadata document; the archive is corrupt or hostile.',
                details: { path: where.rel, size: entry.size },
              },
            );
          }
          await writeEntry(reader, entry, path.join(dir, where.rel), undefined, io);
          result.bytes += entry.size;
          break;
        }
        case 'blob': {
          mkdir(path.posix.dirname(where.rel));
          const actual = await writeEntry(
            reader,
            entry,
            path.join(dir, where.rel),
            where.digest.algorithm,
            io,
          );
          if (actual !== where.digest.value)
            throw digestMismatch(where.digest.value, actual ?? '', where.rel);
          extracted.set(where.digest.value, entry.size);
          result.blobs++;
          result.bytes += entry.size;
          break;
        }
      }
    }
    const failed = await flowing;
    if (failed !== undefined) throw failed;
    await writes.drain();
  } catch (e) {
    await writes.drain().catch(() => undefined);
    await hasher.close();
    await reader.close();
    gunzip?.destroy();
    await flowing;
    if (isOcikitError(e)) throw e;
    throw (
      zlibError(e, name) ??
      new OcikitError(
        ErrorCode.ArchiveInvalid,
        `${name}: cannot be read (${errnoCode(e) ?? (e as Error).message})`,
        {
          hint: 'Check the file and the destination; produce the archive again if it is damaged.',
          cause: e,
        },
      )
    );
  }

  await hasher.close();
  const layout = await openLayout(dir, { name, strict: options.strict ?? false });
  await checkComplete(layout, extracted);
  result.warnings = [...layout.warnings];
  return result;
}

/**
 * Every blob index.json reaches was extracted, with the size its descriptor says; indexes,
 * manifests and configs parse. Digests were checked while the blobs streamed in.
 * @throws OcikitError `OCIKIT_BLOB_MISSING`, `OCIKIT_BLOB_SIZE_MISMATCH`, `OCIKIT_NESTING_TOO_DEEP`,
 *   and the parse errors of the JSON documents
 */
async function checkComplete(
  layout: Layout,
  extracted: ReadonlyMap<string, number>,
): Promise<void> {
  const done = new Set<string>();
  const visit = async (d: Descriptor, parent: string, depth: number): Promise<void> => {
    const size = extracted.get(d.digest);
    if (size === undefined) {
      if (isForeignLayerMediaType(d.mediaType)) return;
      const digest = parseDigest(d.digest, `${parent} descriptor`);
      throw new OcikitError(
        ErrorCode.BlobMissing,
        `${layout.name}: blob ${d.digest} (${d.mediaType}), referenced by ${parent}, is not in the archive`,
        {
          hint: 'The archive is incomplete; produce it again from a complete layout (ocikit verify, then ocikit pack).',
          details: {
            digest: d.digest,
            path: `blobs/${digest.algorithm}/${digest.encoded}`,
            referencedBy: parent,
          },
        },
      );
    }
    if (size !== d.size)
      throw sizeMismatch(d.digest, d.size, size, `blobs/${d.digest.replace(':', '/')}`);
    if (done.has(d.digest)) return;
    done.add(d.digest);
    if (depth > MAX_INDEX_DEPTH + 2) {
      throw new OcikitError(
        ErrorCode.NestingTooDeep,
        `index ${d.digest}: indexes nest more than ${MAX_INDEX_DEPTH} deep`,
        { hint: 'Flatten the index.', details: { digest: d.digest } },
      );
    }
    if (isIndexMediaType(d.mediaType)) {
      for (const child of (await layout.readIndex(d)).manifests)
        await visit(child, `index ${d.digest}`, depth + 1);
    } else if (isManifestMediaType(d.mediaType)) {
      const manifest = await layout.readManifest(d);
      await visit(manifest.config, `manifest ${d.digest}`, depth + 1);
      for (const layer of manifest.layers) await visit(layer, `manifest ${d.digest}`, depth + 1);
    } else if (isImageConfigMediaType(d.mediaType)) {
      await layout.readConfig(d);
    }
  };
  for (const d of layout.index.manifests) await visit(d, 'index.json', 0);
}

/**
 * Unpack the archive `file` into the new layout directory `out` (absolute; must not exist or
 * be empty). Everything is written to a temporary sibling that is renamed into place only
 * when the whole archive checked out; on any failure nothing is left.
 * @throws OcikitError `OCIKIT_OUT_*` and everything {@link extractLayoutArchive} throws
 */
export async function unpackArchive(
  file: string,
  out: string,
  options: UnpackOptions = {},
): Promise<UnpackResult> {
  const pending = await pendingDir(out, [file]);
  try {
    const result = await extractLayoutArchive(file, pending.tmp, options);
    await pending.commit();
    return { out, ...result };
  } finally {
    await pending.abort();
  }
}
