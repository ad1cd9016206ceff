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
 * - every blob is hashed while it streams and must match its name: each chunk is hashed and
 *   written from the same buffer; in an uncompressed archive, large blobs are read, hashed and
 *   written by worker threads (see blob-copy.ts) while the main thread skips them and creates
 *   the small files, so the hashing runs on another core; a mismatch found there is reported
 *   as if found in archive order, before any error of a later entry;
 * - sizes are bounded before content is read (limits.ts): a blob may not be larger than a
 *   descriptor already read says (declared-sizes.ts), the uncompressed archive not larger than
 *   `maxBytes`, skipped entries and what follows the end-of-archive marker not larger than
 *   fixed bounds; a refused entry is not read, nor is a gzip stream decompressed any further;
 * - at the end the layout must open and every blob index.json reaches must be there with its
 *   size (digests were checked on the way in); only then is the directory renamed into place.
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  constants as fsc,
  createReadStream,
  mkdirSync,
  openSync,
  readSync,
  fstatSync,
  readFileSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { isHashable, parseDigest, type Digest } from '../layout/digest.js';
import { ErrorCode, OcikitError, errnoCode, fsError, isOcikitError, type Side } from '../errors.js';
import { digestMismatch, openLayout, sizeMismatch, type Layout } from '../layout/layout.js';
import {
  MAX_JSON_BYTES,
  isForeignLayerMediaType,
  isImageConfigMediaType,
} from '../layout/media-types.js';
import { walkGraph } from '../layout/graph.js';
import { withOutputs, type OutputSet } from '../output/outputs.js';
import type { Warning } from '../layout/schema.js';
import { isGzip } from './gzip.js';
import { CopyPool, ShortRead } from './blob-copy.js';
import { DeclaredSizes, type DocumentRef } from './declared-sizes.js';
import { ArchiveBudget, archiveLimits, type ArchiveLimits } from './limits.js';
import {
  DEFAULT_LIMITS,
  TarReader,
  truncated,
  type ReaderLimits,
  type SeekableChunks,
  type TarEntry,
} from './tar-reader.js';
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
  /**
   * Largest uncompressed archive, in bytes: headers, content and padding up to and including
   * the end-of-archive marker (for a plain .tar, its size without trailing padding). Default
   * 64 GiB (`DEFAULT_MAX_BYTES`). An entry that would go past it is refused at its header
   * with `OCIKIT_ARCHIVE_TOO_LARGE`, before any of its content is read or decompressed.
   */
  maxBytes?: number;
  /** Called with bytes of the archive file read so far and its size. */
  onProgress?: (event: { total: number; done: number }) => void;
  /** The run's outputs (the caller commits); default: a set of its own, committed on success. */
  outputs?: OutputSet;
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
/** Reads of a gzip'd archive file. */
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

/**
 * Entries of a Docker archive (`docker save` before docker 25, `skopeo copy docker-archive:`,
 * `crane pull` without `--format oci`): `<hex>.tar` layers, `<hex>.json` configs, the
 * `<hex>/layer.tar`, `<hex>/json`, `<hex>/VERSION` of the older format, and crane's
 * `sha256:<hex>` config and `<hex>.tar.gz` layers.
 */
const DOCKER_ARCHIVE_ENTRY =
  /^(?:\.\/)?(?:sha256:)?[0-9a-f]{64}(?:\.tar|\.tar\.gz|\.json|\/|\/layer\.tar|\/json|\/VERSION)?$/;

function unexpected(entry: TarEntry, why: string): OcikitError {
  const docker = DOCKER_ARCHIVE_ENTRY.test(entry.path);
  return new OcikitError(
    ErrorCode.ArchiveUnexpectedEntry,
    `archive entry ${JSON.stringify(entry.path.slice(0, 200))} (at byte ${entry.offset}): ${why}${docker ? ' (a Docker archive, not an OCI archive)' : ''}`,
    {
      hint: docker
        ? 'This is a Docker archive (docker save before docker 25, skopeo copy docker-archive:, crane pull without --format oci). Convert it: skopeo copy docker-archive:FILE oci-archive:OUT.tar (or crane pull --format oci, docker save with docker >= 25).'
        : 'An OCI archive holds oci-layout, index.json and blobs/ALG/ENCODED only; produce it with ocikit pack, skopeo or buildx.',
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

function writeAll(fd: number, buf: Uint8Array): void {
  let n = 0;
  while (n < buf.length) n += writeSync(fd, buf, n, buf.length - n);
}

const CREATE = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW;

/** Reads of an uncompressed archive by the main thread. */
const READ_BYTES = 1024 * 1024;

/** Let the event loop run (worker messages, timers of the embedder) every this many bytes. */
const YIELD_EVERY = 32 * 1024 * 1024;

/**
 * Blobs at least this large in an uncompressed archive are extracted (read, hashed, written)
 * by a worker thread, see blob-copy.ts; the main thread skips them.
 */
const COPY_MIN = 1024 * 1024;

/** Worker threads for large blobs (the main thread creates the small files meanwhile). */
const COPY_WORKERS = 2;

/**
 * An uncompressed archive file read with synchronous reads (it is usually in the page cache,
 * where a read is a copy, cheaper than a round trip through the thread pool) into a few
 * reused buffers, and skipped without reading where blobs are extracted by workers. The
 * reader consumes a chunk before it asks for the next, and holds on to at most one earlier
 * chunk (a block across the boundary), so three buffers are never overwritten in use.
 */
class ArchiveReads implements SeekableChunks {
  private readonly buffers = Array.from({ length: 3 }, () => Buffer.allocUnsafeSlow(READ_BYTES));
  private position = 0;

  constructor(
    private readonly fd: number,
    private readonly size: number,
    private readonly onProgress: (done: number) => void,
  ) {}

  skip(n: number): number {
    const k = Math.max(0, Math.min(n, this.size - this.position));
    this.position += k;
    return k;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    let sinceTurn = 0;
    for (let i = 0; ; i = (i + 1) % this.buffers.length) {
      const buf = this.buffers[i] as Buffer;
      const n = readSync(this.fd, buf, 0, buf.length, this.position);
      if (n === 0) return;
      this.position += n;
      this.onProgress(this.position);
      sinceTurn += n;
      if (sinceTurn >= YIELD_EVERY) {
        sinceTurn = 0;
        await new Promise((resolve) => setImmediate(resolve));
      }
      yield buf.subarray(0, n);
    }
  }
}

/**
 * Write the entry's content to a new file with synchronous writes (one file at a time, like
 * tar: concurrent creates in one directory only spin on its lock), hashing it with
 * `algorithm` when given; the digest as `ALG:HEX`.
 */
async function writeEntry(
  reader: TarReader,
  file: string,
  algorithm: string | undefined,
): Promise<string | undefined> {
  const hash = algorithm === undefined ? undefined : createHash(algorithm);
  const fd = openSync(file, CREATE, 0o644);
  try {
    for await (const chunk of reader.content()) {
      hash?.update(chunk);
      writeAll(fd, chunk);
    }
  } finally {
    closeSync(fd);
  }
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

/** Whether an errno failure during extraction happened reading the archive or writing the layout. */
function errnoSide(e: unknown, file: string, dir: string): Side {
  const where = (e as { path?: unknown }).path;
  if (typeof where === 'string') return where === file ? 'input' : 'output';
  const code = errnoCode(e);
  if (code === 'ENOSPC' || code === 'EDQUOT') return 'output';
  const syscall = (e as { syscall?: unknown }).syscall;
  return syscall === 'write' || syscall === 'mkdir' || syscall === 'open' ? 'output' : 'input';
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

/** A JSON document, or undefined when it does not parse (the final check reports it). */
function parseLeniently(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Extract the archive `file` into `dir` (an existing, empty directory that nobody else
 * writes) and check the result is a complete layout. On failure `dir` holds partial content:
 * the caller removes it (see {@link unpackArchive}).
 * @throws OcikitError `OCIKIT_USAGE` (a bad `maxBytes`); `OCIKIT_ARCHIVE_*`, among them the size
 *   limits `OCIKIT_ARCHIVE_BLOB_TOO_LARGE`, `OCIKIT_ARCHIVE_TOO_LARGE`,
 *   `OCIKIT_ARCHIVE_SKIPPED_TOO_LARGE` and `OCIKIT_ARCHIVE_TRAILING_DATA` (see limits.ts);
 *   `OCIKIT_DIGEST_INVALID`, `OCIKIT_DIGEST_UNSUPPORTED`,
 *   `OCIKIT_BLOB_DIGEST_MISMATCH`, `OCIKIT_JSON_TOO_LARGE`, and the errors of openLayout and
 *   verification (`OCIKIT_LAYOUT_INVALID`, `OCIKIT_INDEX_MISSING`, `OCIKIT_BLOB_MISSING`, ...)
 */
export async function extractLayoutArchive(
  file: string,
  dir: string,
  options: UnpackOptions = {},
): Promise<ExtractResult> {
  const name = options.name ?? file;
  const limits = archiveLimits(options.maxBytes);
  let size: number;
  let gzip: boolean;
  // Kept open for the workers of an uncompressed archive; O_NONBLOCK: a FIFO is refused, not
  // waited on (regular files ignore the flag).
  let input: number | undefined;
  try {
    input = openSync(file, fsc.O_RDONLY | fsc.O_NONBLOCK);
    const st = fstatSync(input);
    if (!st.isFile()) {
      const kind = st.isDirectory()
        ? 'a directory'
        : st.isFIFO()
          ? 'a FIFO'
          : st.isSocket()
            ? 'a socket'
            : 'a device';
      throw Object.assign(new Error(`is ${kind}, not a regular file`), { notFile: true });
    }
    size = st.size;
    const head = Buffer.alloc(2);
    readSync(input, head, 0, 2, 0);
    gzip = isGzip(head);
  } catch (e) {
    if (input !== undefined) closeSync(input);
    throw new OcikitError(
      ErrorCode.LayoutNotFound,
      (e as { notFile?: boolean }).notFile === true
        ? `${name}: ${(e as Error).message}`
        : `${name}: no such archive file (${errnoCode(e) ?? String(e)})`,
      {
        hint: 'Pass an OCI archive: a .tar or .tar.gz file.',
        details: { archive: name },
      },
    );
  }
  const onProgress = (done: number): void => options.onProgress?.({ total: size, done });
  if (gzip) {
    closeSync(input);
    input = undefined;
  }
  try {
    return await extractFrom(file, input, size, dir, options, limits, onProgress);
  } catch (e) {
    throw namingArchive(e, name);
  } finally {
    if (input !== undefined) closeSync(input);
  }
}

/**
 * The error `e` with a message that starts with the archive's name (the reader's and the
 * layout checks' messages name only the entry or blob).
 */
function namingArchive(e: unknown, name: string): unknown {
  if (!isOcikitError(e) || e.message.startsWith(name)) return e;
  return new OcikitError(e.code, `${name}: ${e.message}`, {
    hint: e.hint,
    details: { archive: name, ...e.details },
    cause: e,
  });
}

async function extractFrom(
  file: string,
  input: number | undefined,
  size: number,
  dir: string,
  options: UnpackOptions,
  limits: ArchiveLimits,
  onProgress: (done: number) => void,
): Promise<ExtractResult> {
  const x = new Extraction(file, input, size, dir, options, limits, onProgress);
  try {
    await x.readEntries();
  } catch (caught) {
    throw await x.abort(caught);
  }
  return x.finish();
}

/**
 * One extraction: the byte source (gunzip, or positioned reads that workers share), the
 * per-entry policy (path, type, duplicates, size budget) and the writers (metadata, blobs
 * hashed inline or by the copy pool), then the failure's classification or the final check.
 */
class Extraction {
  private readonly name: string;
  private readonly pool = new CopyPool(COPY_WORKERS);
  private readonly reader: TarReader;
  private readonly gunzip: Transform | undefined;
  /** Settles to the gzip pipeline's error, or undefined. */
  private readonly flowing: Promise<unknown>;
  private readonly seen = new Set<string>();
  private readonly made = new Set<string>(['']);
  private readonly budget: ArchiveBudget;
  private readonly declared = new DeclaredSizes();
  /** Every blob extracted (or being extracted by a worker), with its size. */
  private readonly extracted = new Map<string, number>();
  /** Blobs written by this thread (digest checked), whose content can be read back. */
  private readonly written = new Map<string, string>();
  /**
   * Blobs still being extracted by workers, in archive order: each settles to the error it
   * makes (a mismatch, a failed read or write) or undefined.
   */
  private readonly checks: Promise<unknown>[] = [];
  private readonly result: ExtractResult;

  constructor(
    private readonly file: string,
    private readonly input: number | undefined,
    size: number,
    private readonly dir: string,
    private readonly options: UnpackOptions,
    private readonly limits: ArchiveLimits,
    onProgress: (done: number) => void,
  ) {
    this.name = options.name ?? file;
    let chunks: AsyncIterable<Buffer>;
    if (input === undefined) {
      this.gunzip = zlib.createGunzip({ chunkSize: 256 * 1024 });
      this.flowing = pipeline(
        createReadStream(file, { highWaterMark: READ_CHUNK }),
        new Counter(onProgress),
        this.gunzip,
      ).then(
        () => undefined,
        (e: unknown) => e,
      );
      chunks = this.gunzip;
    } else {
      this.flowing = Promise.resolve(undefined);
      chunks = new ArchiveReads(input, size, onProgress);
    }
    this.reader = new TarReader(chunks, { ...DEFAULT_LIMITS, ...options.limits });
    this.budget = new ArchiveBudget(this.name, limits);
    this.result = {
      format: input === undefined ? 'tar+gzip' : 'tar',
      entries: 0,
      blobs: 0,
      bytes: 0,
      skipped: [],
      warnings: [],
    };
  }

  /** Every entry, then the trailer and the end of the gzip stream; throws the first failure. */
  async readEntries(): Promise<void> {
    const maxPathBytes = this.options.maxPathBytes ?? 1024;
    for (;;) {
      this.options.outputs?.throwIfInterrupted();
      const entry = await this.reader.next();
      if (entry === undefined) break;
      this.result.entries++;
      await this.entry(entry, this.admit(entry, normalizeEntryPath(entry, maxPathBytes)));
    }
    this.budget.trailer(await this.reader.trailer(this.limits.maxTrailingBytes));
    const failed = await this.flowing;
    // The gzip stream ended, its CRC checked, and the trailer read to its end: what Node's gunzip
    // stopped at without an error (zeros after the gzip member, as dd conv=sync or a tape drive
    // pads) is not read, and stopping the file's reads there is no failure.
    const stoppedAfterEnd =
      this.gunzip?.readableEnded === true && errnoCode(failed) === 'ABORT_ERR';
    if (failed !== undefined && !stoppedAfterEnd) throw failed;
    const mismatch = await this.firstFailure();
    if (mismatch !== undefined) throw mismatch;
  }

  /** The policy for one entry: its type, a path named once, where it goes, the size budget. */
  private admit(entry: TarEntry, rel: string): Place {
    refuseType(entry);
    if (this.seen.has(rel)) {
      throw new OcikitError(
        ErrorCode.ArchiveDuplicateEntry,
        `archive entry ${JSON.stringify(entry.path.slice(0, 200))} (at byte ${entry.offset}) names ${rel === '' ? 'the root' : rel} a second time`,
        {
          hint: 'An archive must name each path once (a later entry would silently replace an earlier one).',
          details: { path: rel, offset: entry.offset },
        },
      );
    }
    this.seen.add(rel);
    const where = place(entry, rel, entry.typeflag === TypeFlag.Directory);
    const position = this.reader.position;
    if (where.kind === 'blob')
      this.budget.blob(entry, position, where.digest.value, this.declared.get(where.digest.value));
    if (where.kind === 'extra') this.budget.skip(entry, position);
    this.budget.entry(entry, position);
    return where;
  }

  private async entry(entry: TarEntry, where: Place): Promise<void> {
    switch (where.kind) {
      case 'root':
        return;
      case 'dir':
        this.mkdir(where.rel);
        return;
      case 'extra':
        await this.reader.skipContent();
        this.result.skipped.push(where.rel);
        return;
      case 'metadata':
        return this.metadata(entry, where.rel);
      case 'blob':
        return this.blob(entry, where.rel, where.digest);
    }
  }

  private mkdir(rel: string): void {
    if (this.made.has(rel)) return;
    mkdirSync(path.join(this.dir, rel), { recursive: true, mode: 0o755 });
    let r = rel;
    while (r !== '' && !this.made.has(r)) {
      this.made.add(r);
      r = path.posix.dirname(r) === '.' ? '' : path.posix.dirname(r);
    }
  }

  /** `oci-layout` or `index.json`: bounded, written, and index.json's descriptors learnt. */
  private async metadata(entry: TarEntry, rel: string): Promise<void> {
    if (entry.size > MAX_JSON_BYTES) {
      throw new OcikitError(
        ErrorCode.JsonTooLarge,
        `archive entry ${rel}: ${entry.size} bytes, more than the ${MAX_JSON_BYTES} bytes ocikit reads as metadata`,
        {
          hint: 'This is not a plausible OCI metadata document; the archive is corrupt or hostile.',
          details: { path: rel, size: entry.size },
        },
      );
    }
    const target = path.join(this.dir, rel);
    await writeEntry(this.reader, target, undefined);
    this.result.bytes += entry.size;
    if (rel === 'index.json')
      this.learn(this.declared.learn(parseLeniently(readFileSync(target)), undefined));
  }

  /** A blob, hashed against its name: large ones of an uncompressed archive by a worker. */
  private async blob(entry: TarEntry, rel: string, digest: Digest): Promise<void> {
    this.mkdir(path.posix.dirname(rel));
    const expected = digest.value;
    const file = path.join(this.dir, rel);
    if (this.input !== undefined && entry.size >= COPY_MIN) {
      await this.blobByWorker(this.input, entry, rel, file, digest);
    } else {
      const actual = await writeEntry(this.reader, file, digest.algorithm);
      if (actual !== expected) throw digestMismatch(expected, actual ?? '', rel);
      this.written.set(expected, file);
    }
    this.extracted.set(expected, entry.size);
    const ref = this.declared.pending(expected);
    if (ref !== undefined) this.learn([ref]);
    this.result.blobs++;
    this.result.bytes += entry.size;
  }

  /** Hand the entry's byte range to the copy pool and skip it here; the check joins `checks`. */
  private async blobByWorker(
    input: number,
    entry: TarEntry,
    rel: string,
    file: string,
    digest: Digest,
  ): Promise<void> {
    const { algorithm, value: expected } = digest;
    const offset = this.reader.position;
    const output = openSync(file, CREATE, 0o644);
    try {
      await this.reader.skipContent(); // the range is all there (or this throws)
    } catch (e) {
      closeSync(output);
      throw e;
    }
    const job = this.pool
      .run({ input, offset, length: entry.size, output, algorithm })
      .finally(() => closeSync(output));
    this.checks.push(
      job.then(
        (hex) =>
          `${algorithm}:${hex}` === expected
            ? undefined
            : digestMismatch(expected, `${algorithm}:${hex}`, rel),
        (e: unknown) =>
          e instanceof ShortRead ? truncated(e.at, `${e.missing} bytes short in ${rel}`) : e,
      ),
    );
  }

  /**
   * Learn the descriptors of the documents `refs` whose blobs are written, and of those they
   * declare in turn (the rest are learnt from when their blobs arrive).
   */
  private learn(refs: DocumentRef[]): void {
    const queue = [...refs];
    for (let ref = queue.pop(); ref !== undefined; ref = queue.pop()) {
      const blobFile = this.written.get(ref.digest);
      const blobSize = this.extracted.get(ref.digest);
      if (blobFile === undefined || blobSize === undefined || blobSize > MAX_JSON_BYTES) continue;
      queue.push(...this.declared.learn(parseLeniently(readFileSync(blobFile)), ref));
    }
  }

  private async firstFailure(): Promise<unknown> {
    for (const c of this.checks) {
      const e = await c;
      if (e !== undefined) return e;
    }
    return undefined;
  }

  /**
   * Stop everything (workers settled, descriptors closed, the gzip stream destroyed) and
   * return the coded error for `caught`: a mismatching blob before it comes first.
   */
  async abort(caught: unknown): Promise<unknown> {
    const e = (await this.firstFailure()) ?? caught;
    await this.pool.close();
    await Promise.allSettled(this.checks); // every descriptor closed
    await this.reader.close();
    this.gunzip?.destroy();
    await this.flowing;
    if (isOcikitError(e)) return e;
    const z = zlibError(e, this.name);
    if (z !== undefined) return z;
    if (errnoCode(e) !== undefined) {
      const side = errnoSide(e, this.file, this.dir);
      return fsError(e, {
        path: side === 'input' ? this.file : this.dir,
        side,
        what: side === 'input' ? 'read the archive' : 'extract the archive',
      });
    }
    return new OcikitError(
      ErrorCode.ArchiveInvalid,
      `${this.name}: cannot be read (${(e as Error).message})`,
      {
        hint: 'Produce the archive again; it is damaged.',
        cause: e,
      },
    );
  }

  /** The extracted directory must open as a layout whose every reachable blob is there. */
  async finish(): Promise<ExtractResult> {
    await this.pool.close();
    const layout = await openLayout(this.dir, {
      name: this.name,
      strict: this.options.strict ?? false,
    });
    await checkComplete(layout, this.extracted);
    this.result.warnings = [...layout.warnings];
    return this.result;
  }
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
  // The one graph walk (each digest once, one depth limit); then, in walk order, each blob is
  // first checked against what the archive held, and only then for what reading it found.
  const graph = await walkGraph(
    layout,
    layout.index.manifests.map((descriptor) => ({ descriptor })),
    { tolerant: true },
  );
  for (const node of graph.nodes.values()) {
    for (const edge of node.parents) {
      const d = edge.descriptor;
      const parent =
        edge.parent === 'index.json'
          ? 'index.json'
          : `${edge.role === 'config' || edge.role === 'layer' ? 'manifest' : 'index'} ${edge.parent}`;
      const size = extracted.get(d.digest);
      if (size === undefined) {
        if (isForeignLayerMediaType(d.mediaType)) continue;
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
    }
    if (node.problem !== undefined) throw node.problem;
    if (isImageConfigMediaType(node.descriptor.mediaType) && extracted.has(node.digest))
      await layout.readConfig(node.descriptor);
  }
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
  archiveLimits(options.maxBytes); // a usage error before anything is created
  return withOutputs(
    options.outputs,
    [{ path: file, label: `archive ${options.name ?? file}` }],
    path.dirname(out),
    async (set) => {
      const pending = await set.dir('--out', out);
      const result = await extractLayoutArchive(file, pending.tmp, { ...options, outputs: set });
      return { out, ...result };
    },
  );
}
