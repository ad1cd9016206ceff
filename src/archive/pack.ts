/**
 * `pack`: an OCI layout as a tar archive (what skopeo calls `oci-archive:`), byte-identical
 * across runs and machines. The archive holds `oci-layout`, `index.json` and every blob that
 * index.json reaches (with `dockerManifest`, also Docker's `manifest.json`), nothing else (no
 * `ingest/`, no lock files, no stray blobs), as files
 * read through symlinks (thin copies pack like the layouts they link to). Entries are sorted
 * by path; every header has mtime 0, uid/gid 0, no user names, mode 0644 (files) or 0755
 * (directories); pax headers appear only for paths or sizes ustar cannot hold. Blobs stream
 * through in 1 MiB reads (small ones are read whole), optionally hashed on the way
 * (`verifyDigests`). The output is written to a temporary sibling and renamed.
 */
import { createHash, type Hash } from 'node:crypto';
import {
  closeSync,
  fstatSync,
  openSync,
  readSync,
  constants as fsc,
  promises as fsp,
  createWriteStream,
} from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ErrorCode, OcikitError, errnoCode, fsError, quote } from '../errors.js';
import { digestMismatch, type Layout } from '../layout/layout.js';
import { MAX_JSON_BYTES } from '../layout/media-types.js';
import { withOutputs, type OutputSet } from '../output/outputs.js';
import {
  dockerManifest,
  type DockerArchiveImage,
  type DockerArchiveSkipped,
} from './docker-manifest.js';
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
  /**
   * Also write Docker's `manifest.json` (docker-manifest.ts), as `docker save` does since
   * Docker 25, so that `docker load` reads the archive on the classic image store too.
   */
  dockerManifest?: boolean;
  /** Called with the bytes of file content packed so far and the total. */
  onProgress?: (event: { total: number; done: number }) => void;
  /** The run's outputs (the caller commits); default: a set of its own, committed on success. */
  outputs?: OutputSet;
}

/** The result of {@link packLayout}. */
export interface PackResult {
  out: string;
  /** Entries in the archive (directories and files). */
  entries: number;
  blobs: number;
  /** Bytes of file content (blobs, index.json, oci-layout, manifest.json). */
  contentBytes: number;
  /** Bytes of the archive written. */
  archiveBytes: number;
  gzip: boolean;
  /** The zlib build the deflate bytes depend on (only with gzip). */
  zlib?: string;
  /** With `dockerManifest`: the images of `manifest.json` and the entries left out. */
  docker?: { images: DockerArchiveImage[]; skipped: DockerArchiveSkipped[] };
}

interface FileEntry {
  path: string;
  /** Absolute path to read (through symlinks), or the content itself. */
  source: string | Buffer;
  size: number;
  /** For blobs: the digest to check. */
  digest?: { algorithm: string; value: string };
}

/** Size of each output buffer (and of the reads of large files). */
const SLOT_BYTES = 1024 * 1024;
/** Output buffers: one being filled, the others being written. */
const SLOTS = 8;

async function metadataFile(layout: Layout, name: string): Promise<FileEntry> {
  const source = path.join(layout.dir, name);
  const st = await fsp.stat(source).catch((e: unknown) => {
    throw new OcikitError(
      ErrorCode.LayoutInvalid,
      `${layout.name}/${name}: cannot be read (${errnoCode(e) ?? String(e)})`,
      {
        hint: 'Pass a complete OCI layout.',
      },
    );
  });
  if (!st.isFile() || st.size > MAX_JSON_BYTES) {
    throw new OcikitError(
      ErrorCode.LayoutInvalid,
      `${layout.name}/${name}: is not a regular file of at most ${MAX_JSON_BYTES} bytes`,
      {
        hint: 'Pass a complete OCI layout.',
      },
    );
  }
  return { path: name, source, size: st.size };
}

function changed(entry: FileEntry): OcikitError {
  return new OcikitError(
    ErrorCode.BlobSizeMismatch,
    `${entry.path}: changed size while it was packed`,
    {
      hint: 'Do not modify the layout while ocikit reads it.',
      details: { path: entry.path },
    },
  );
}

/** Where the archive's bytes go: the file itself, or a gzip stream in front of it. */
interface Sink {
  /** Write `data`; resolves when `data` may be reused. */
  write(data: Buffer): Promise<void>;
  end(): Promise<void>;
  /** Stop after a failure: what is queued is dropped (the file is removed by the caller). */
  abort(): void;
}

function fileSink(fh: fsp.FileHandle): Sink {
  let position = 0;
  return {
    async write(data) {
      let at = position;
      position += data.length;
      let n = 0;
      while (n < data.length) {
        const { bytesWritten } = await fh.write(data, n, data.length - n, at);
        n += bytesWritten;
        at += bytesWritten;
      }
    },
    async end() {
      // nothing buffered
    },
    abort() {
      // nothing queued: writes in flight finish on their own
    },
  };
}

function gzipSink(file: string, level: number): Sink {
  const [tap, deflate, frame] = deterministicGzip(level);
  let failure: unknown;
  const done = pipeline(tap, deflate, frame, createWriteStream(file, { flags: 'r+' }));
  done.catch((e: unknown) => {
    failure ??= e;
  });
  // One wait for 'drain', shared by every write that finds the stream full (the writer has up
  // to SLOTS - 1 in flight): listeners are added once per drain, not once per write, which
  // passed the emitter's limit of 10 (MaxListenersExceededWarning) from 8 MiB of blobs on.
  let drained: Promise<void> | undefined;
  const drain = (): Promise<void> =>
    (drained ??= new Promise<void>((resolve, reject) => {
      const onDrain = (): void => {
        tap.off('close', onClose);
        drained = undefined;
        resolve();
      };
      const onClose = (): void => {
        tap.off('drain', onDrain);
        drained = undefined;
        // 'close' comes before the pipeline's rejection: wait for that, so the caller sees the
        // real cause (ENOSPC, EIO, ...) and not just a closed stream.
        void done.then(
          () => reject(failure ?? new Error('the gzip stream closed')),
          (e: unknown) => reject(failure ?? e),
        );
      };
      tap.once('drain', onDrain);
      tap.once('close', onClose);
    }));
  return {
    async write(data) {
      if (failure !== undefined) throw failure;
      if (tap.destroyed) {
        await done;
        throw failure ?? new Error('the gzip stream closed');
      }
      // The stream keeps what it is given until it is deflated: give it a copy.
      if (!tap.write(Buffer.from(data))) await drain();
    },
    async end() {
      tap.end();
      await done;
    },
    abort() {
      // Up to SLOTS MiB may wait to be deflated: a cancelled pack does not deflate them.
      failure ??= new Error('the archive was abandoned');
      tap.destroy();
    },
  };
}

/**
 * The archive as a sequence of {@link SLOT_BYTES} buffers: headers and file contents are read
 * or copied into the current buffer, full buffers are written in the background (up to
 * {@link SLOTS} - 1 at a time) while the next one fills. Files are read synchronously on the
 * main thread, which has nothing else to do, while the thread pool writes.
 */
class ArchiveWriter {
  private readonly slots = Array.from({ length: SLOTS }, () => ({
    buf: Buffer.allocUnsafeSlow(SLOT_BYTES),
    busy: Promise.resolve(),
  }));
  private current = 0;
  private used = 0;
  private failure: unknown;
  bytes = 0;

  /** `check` runs before each buffer is filled: it throws to stop (a signal, a cancel). */
  constructor(
    private readonly sink: Sink,
    private readonly check: () => void = () => undefined,
  ) {}

  private get slot(): { buf: Buffer; busy: Promise<void> } {
    return this.slots[this.current] as { buf: Buffer; busy: Promise<void> };
  }

  private async submit(): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    if (this.used === 0) return;
    const slot = this.slot;
    const data = slot.buf.subarray(0, this.used);
    this.bytes += this.used;
    slot.busy = this.sink.write(data).catch((e: unknown) => {
      this.failure ??= e;
    });
    this.current = (this.current + 1) % SLOTS;
    this.used = 0;
    await this.slot.busy;
    if (this.failure !== undefined) throw this.failure;
  }

  /** Room in the current buffer, after submitting it when it is full. */
  private async room(): Promise<Buffer> {
    if (this.used === SLOT_BYTES) {
      this.check();
      await this.submit();
    }
    return this.slot.buf.subarray(this.used);
  }

  async append(data: Buffer): Promise<void> {
    let off = 0;
    while (off < data.length) {
      const room = await this.room();
      const n = data.copy(room, 0, off);
      off += n;
      this.used += n;
    }
  }

  /** Read the `entry.size` bytes of the file `source` into the archive, hashing them into `hash`. */
  async appendFile(
    entry: FileEntry,
    source: string,
    hash: Hash | undefined,
    progress: (n: number) => void,
  ): Promise<void> {
    const fd = openSync(source, fsc.O_RDONLY);
    // readSync's errors carry no path: give them the file's, so they are told as input errors.
    const read = (buf: Buffer, length: number, pos: number): number => {
      try {
        return readSync(fd, buf, 0, length, pos);
      } catch (e) {
        throw Object.assign(e as Error, { path: source });
      }
    };
    try {
      if (fstatSync(fd).size !== entry.size) throw changed(entry);
      let pos = 0;
      while (pos < entry.size) {
        const room = await this.room();
        const want = Math.min(room.length, entry.size - pos);
        const n = read(room, want, pos);
        if (n === 0) throw changed(entry);
        hash?.update(room.subarray(0, n));
        pos += n;
        this.used += n;
        progress(n);
      }
      if (read(Buffer.alloc(1), 1, pos) !== 0) throw changed(entry);
    } finally {
      closeSync(fd);
    }
  }

  /** Write what is left and wait for every write. */
  async finish(): Promise<void> {
    await this.submit();
    await Promise.all(this.slots.map((s) => s.busy));
    if (this.failure !== undefined) throw this.failure;
    await this.sink.end();
  }

  /** Wait for writes in flight (after a failure, before the file is removed). */
  async settle(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.busy));
  }

  /** Drop what the sink has queued (after a failure), then {@link settle}. */
  async abandon(): Promise<void> {
    this.sink.abort();
    await this.settle();
  }
}

async function writeArchive(
  writer: ArchiveWriter,
  dirs: readonly string[],
  files: readonly FileEntry[],
  verify: boolean,
  progress: (n: number) => void,
  set: OutputSet,
): Promise<void> {
  const all = [...dirs.map((d) => ({ dir: d })), ...files.map((f) => ({ file: f }))].sort(
    (a, b) => {
      const pa = 'dir' in a ? a.dir : a.file.path;
      const pb = 'dir' in b ? b.dir : b.file.path;
      return pa < pb ? -1 : pa > pb ? 1 : 0;
    },
  );
  for (const item of all) {
    set.throwIfInterrupted();
    if ('dir' in item) {
      await writer.append(
        encodeHeader({ path: item.dir, type: 'directory', size: 0, mode: 0o755 }),
      );
      continue;
    }
    const entry = item.file;
    if (typeof entry.source !== 'string') {
      await writer.append(
        encodeHeader({ path: entry.path, type: 'file', size: entry.size, mode: 0o644 }),
      );
      await writer.append(entry.source);
      progress(entry.size);
      const pad = padding(entry.size);
      if (pad.length > 0) await writer.append(pad);
      continue;
    }
    const hash =
      verify && entry.digest !== undefined ? createHash(entry.digest.algorithm) : undefined;
    await writer.append(
      encodeHeader({ path: entry.path, type: 'file', size: entry.size, mode: 0o644 }),
    );
    await writer.appendFile(entry, entry.source, hash, progress);
    if (hash !== undefined && entry.digest !== undefined) {
      const actual = `${entry.digest.algorithm}:${hash.digest('hex')}`;
      if (actual !== entry.digest.value)
        throw digestMismatch(entry.digest.value, actual, entry.path);
    }
    const pad = padding(entry.size);
    if (pad.length > 0) await writer.append(pad);
  }
  await writer.append(endOfArchive());
  await writer.finish();
}

/**
 * Pack `layout` into the archive `out` (absolute path; must not exist, must not be inside the
 * layout). The layout is only read.
 * @throws OcikitError `OCIKIT_OUT_NOT_EMPTY`, `OCIKIT_OUT_INSIDE_INPUT`, `OCIKIT_OUT_INVALID`,
 *   `OCIKIT_USAGE` (gzip level), and the blob errors of the layout (`OCIKIT_BLOB_MISSING`,
 *   `OCIKIT_BLOB_SIZE_MISMATCH`, `OCIKIT_BLOB_DIGEST_MISMATCH`, ...)
 */
export async function packLayout(
  layout: Layout,
  out: string,
  options: PackOptions = {},
): Promise<PackResult> {
  if (!path.isAbsolute(out)) throw new Error(`packLayout needs an absolute path, got ${out}`);
  const gzip = options.gzip ?? false;
  const level = options.gzipLevel ?? 6;
  if (!Number.isInteger(level) || level < 1 || level > 9) {
    throw new OcikitError(ErrorCode.Usage, `gzip level ${level} is not 1-9`, {
      hint: 'Pass --gzip-level 1 (fast) to 9 (small); the default is 6.',
    });
  }
  return withOutputs(
    options.outputs,
    [{ path: layout.dir, label: `layout ${layout.name}` }],
    path.dirname(out),
    async (set) => {
      const pending = await set.file('--out', out);
      return writePack(layout, out, pending.tmp, set, gzip, level, options);
    },
  );
}

async function writePack(
  layout: Layout,
  out: string,
  tmp: string,
  set: OutputSet,
  gzip: boolean,
  level: number,
  options: PackOptions,
): Promise<PackResult> {
  const blobs = await reachableBlobs(layout, layout.index.manifests);
  const files: FileEntry[] = [
    await metadataFile(layout, 'oci-layout'),
    await metadataFile(layout, 'index.json'),
  ];
  const docker = options.dockerManifest === true ? await dockerManifest(layout) : undefined;
  if (docker !== undefined && docker.images.length > 0)
    files.push({ path: 'manifest.json', source: docker.bytes, size: docker.bytes.length });
  const dirs = new Set<string>(['blobs/']);
  for (const b of blobs.values()) {
    dirs.add(`blobs/${b.digest.algorithm}/`);
    files.push({
      path: b.file.relPath,
      source: b.file.path,
      size: b.descriptor.size,
      digest: { algorithm: b.digest.algorithm, value: b.digest.value },
    });
  }
  const total = files.reduce((n, f) => n + f.size, 0);
  let done = 0;
  const progress = (n: number): void => {
    done += n;
    options.onProgress?.({ total, done });
  };

  let writer: ArchiveWriter | undefined;
  try {
    const fh = await fsp.open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o644);
    try {
      writer = new ArchiveWriter(gzip ? gzipSink(tmp, level) : fileSink(fh), () =>
        set.throwIfInterrupted(),
      );
      await writeArchive(writer, [...dirs], files, options.verifyDigests ?? false, progress, set);
    } catch (e) {
      await writer?.abandon();
      throw e;
    } finally {
      await writer?.settle();
      await fh.close();
    }
  } catch (e) {
    if (e instanceof OcikitError) throw e;
    const code = errnoCode(e);
    const where = (e as { path?: string }).path;
    if (where === undefined || where === tmp) {
      throw fsError(e, { path: out, side: 'output', what: 'write the archive' });
    }
    if (code === 'ENOENT') {
      throw new OcikitError(
        ErrorCode.BlobMissing,
        `a blob disappeared while it was packed (${quote(where, 400)})`,
        { hint: 'Do not modify the layout while ocikit reads it.', details: { path: where } },
      );
    }
    if (code === 'EACCES' || code === 'EPERM') {
      throw new OcikitError(
        ErrorCode.BlobUnreadable,
        `cannot read ${quote(where, 400)} of the layout ${layout.name} (${code})`,
        {
          hint: 'Every blob of the layout must be readable by this user.',
          details: { path: where },
        },
      );
    }
    throw fsError(e, { path: where, side: 'input', what: 'read a blob' });
  }
  const archiveBytes = (await fsp.stat(tmp)).size;
  const result: PackResult = {
    out,
    entries: dirs.size + files.length,
    blobs: blobs.size,
    contentBytes: total,
    archiveBytes,
    gzip,
  };
  if (gzip) result.zlib = process.versions.zlib ?? 'unknown';
  if (docker !== undefined) result.docker = { images: docker.images, skipped: docker.skipped };
  return result;
}
