/**
 * Opening an OCI image layout, read-only. Nothing in this module writes, creates, locks or
 * renames anything: it opens files with O_RDONLY and reads them.
 */
import {
  accessSync,
  closeSync,
  constants as fsc,
  fstatSync,
  lstatSync,
  openSync,
  readSync,
  realpathSync,
  statSync,
  type Stats,
} from 'node:fs';
import path from 'node:path';
import { blobRelPath, isHashable, parseDigest, type Digest } from './digest.js';
import { documents } from './documents.js';
import { sha256Hex } from './sha256.js';
import { ErrorCode, OcikitError, environmentError, errnoCode, isOcikitError } from '../errors.js';
import {
  MAX_JSON_BYTES,
  isIndexMediaType,
  isLegacyManifestMediaType,
  isManifestMediaType,
} from './media-types.js';
import {
  Lenience,
  parseImageConfig,
  parseImageIndex,
  parseImageManifest,
  parseOciLayoutFile,
  type Descriptor,
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
  type OciLayoutFile,
  type Warning,
} from './schema.js';

/** Options of {@link openLayout}. */
export interface OpenOptions {
  /** Reject deviations from the spec that are otherwise tolerated with a warning. Default false. */
  strict?: boolean;
  /** Largest JSON document read, in bytes. Default 16 MiB. */
  maxJsonBytes?: number;
  /** How messages name the layout. Default: the directory as given. */
  name?: string;
}

/** Where a blob's file is, once {@link Layout.locateBlob} accepted it. */
export interface BlobFile {
  /** Path relative to the layout root (`blobs/sha256/...`). */
  relPath: string;
  /** Absolute path as seen through the layout directory. */
  path: string;
  /** Size of the file on disk, in bytes. */
  size: number;
}

/** A JSON blob read from the layout. */
export interface JsonBlob {
  value: unknown;
  /** The digest the bytes really hash to (same algorithm as the descriptor's). */
  actualDigest: string;
  /** The number of bytes read. */
  size: number;
}

/**
 * A file of the layout could not be opened or read: coded by cause (EIO, EMFILE, ...), else
 * unreadable (`details.errno` says why).
 */
function unreadable(e: unknown, file: string, rel: string): OcikitError {
  const errno = errnoCode(e);
  return (
    environmentError(e, { path: file, side: 'input', what: `read ${rel}` }) ??
    new OcikitError(ErrorCode.BlobUnreadable, `${rel}: cannot be read (${errno ?? String(e)})`, {
      hint: 'Check the permissions of the layout directory.',
      details: { path: rel, errno },
    })
  );
}

async function readSmallFile(
  file: string,
  rel: string,
  maxBytes: number,
  missing: () => OcikitError,
): Promise<Buffer> {
  // Synchronous calls: a few syscalls for a small document, where the thread pool would cost
  // a round trip each (five per document: a cold start reads three).
  let fd: number;
  try {
    fd = openSync(file, fsc.O_RDONLY | fsc.O_NONBLOCK);
  } catch (e) {
    const code = errnoCode(e);
    if (code === 'ENOENT' || code === 'ENOTDIR') throw missing();
    throw unreadable(e, file, rel);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) {
      throw new OcikitError(ErrorCode.BlobNotFile, `${rel}: is not a regular file`, {
        hint: 'The layout must hold regular files (or symlinks to them) at this path.',
        details: { path: rel },
      });
    }
    if (st.size > maxBytes) {
      throw new OcikitError(
        ErrorCode.JsonTooLarge,
        `${rel}: is ${st.size} bytes, more than the ${maxBytes} bytes ocikit reads as metadata`,
        {
          hint: 'This is not a plausible OCI metadata document; check the layout for corruption.',
          details: { path: rel, size: st.size },
        },
      );
    }
    const buf = Buffer.alloc(st.size + 1);
    let n = 0;
    for (;;) {
      let bytesRead: number;
      try {
        bytesRead = readSync(fd, buf, n, buf.length - n, n);
      } catch (e) {
        throw unreadable(e, file, rel);
      }
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n === buf.length) break;
    }
    if (n > st.size) {
      throw new OcikitError(ErrorCode.JsonTooLarge, `${rel}: grew while it was read`, {
        hint: 'Do not modify the layout while ocikit reads it.',
        details: { path: rel },
      });
    }
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** Deepest nesting of arrays and objects read; OCI documents need about 5. */
export const MAX_JSON_DEPTH = 64;

/**
 * Refuse JSON nested deeper than {@link MAX_JSON_DEPTH} (deep values would overflow the stack
 * of whatever walks them recursively). V8's JSON.parse does not recurse, so the check runs on
 * the parsed value, iteratively: a tenth of the cost of a pass over the bytes.
 */
function checkJsonDepth(value: unknown, rel: string): void {
  const values: unknown[] = [value];
  const depths: number[] = [1];
  for (let v = values.pop(); v !== undefined; v = values.pop()) {
    const depth = depths.pop() as number;
    if (v === null || typeof v !== 'object') continue;
    if (depth > MAX_JSON_DEPTH) {
      throw new OcikitError(
        ErrorCode.JsonTooDeep,
        `${rel}: nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep`,
        {
          hint: 'No OCI document nests this deep; the file is corrupt or hostile. Regenerate the layout.',
          details: { path: rel, maxDepth: MAX_JSON_DEPTH },
        },
      );
    }
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (child !== null && typeof child === 'object') {
        values.push(child);
        depths.push(depth + 1);
      }
    }
  }
}

function parseJsonText(buf: Buffer, rel: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(buf.toString('utf8'));
  } catch (e) {
    throw new OcikitError(
      ErrorCode.JsonInvalid,
      `${rel}: is not valid JSON (${(e as Error).message})`,
      {
        hint:
          buf.length === 0
            ? 'The file is empty; it was probably truncated.'
            : 'The file is corrupt or truncated; regenerate the layout.',
        details: { path: rel },
      },
    );
  }
  checkJsonDepth(value, rel);
  return value;
}

/** Documents up to this size are hashed by sha256.ts (well under a millisecond). */
const SMALL_DOCUMENT = 16 * 1024;

/**
 * Hash bytes with a digest's algorithm and return the full digest string. A small sha256
 * document (most manifests, configs and indexes) is hashed without loading node:crypto, which
 * alone costs a cold process ~3 ms (sha256.ts).
 */
export function digestBytes(algorithm: string, bytes: Uint8Array): string {
  if (algorithm === 'sha256' && bytes.length <= SMALL_DOCUMENT) return `sha256:${sha256Hex(bytes)}`;
  const { createHash } = process.getBuiltinModule('node:crypto');
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

/** An opened, validated, read-only OCI image layout. Create with {@link openLayout}. */
export class Layout {
  private readonly jsonCache = new Map<string, Promise<JsonBlob>>();

  private readonly algDirs = new Map<string, { real: string } | { error: unknown }>();

  private readonly algPaths = new Map<string, string>();

  private readonly algDirOk = new Map<string, boolean>();

  /** `blobs/<algorithm>` under the layout directory as given (cached). */
  private algPath(algorithm: string): string {
    let p = this.algPaths.get(algorithm);
    if (p === undefined) {
      p = path.join(this.dir, 'blobs', algorithm);
      this.algPaths.set(algorithm, p);
    }
    return p;
  }

  /** The real path of `blobs/<algorithm>` (cached, failures too). */
  private realAlgDir(algorithm: string): string {
    let r = this.algDirs.get(algorithm);
    if (r === undefined) {
      try {
        r = { real: realpathSync(this.algPath(algorithm)) };
      } catch (error) {
        r = { error };
      }
      this.algDirs.set(algorithm, r);
    }
    if ('error' in r) throw r.error;
    return r.real;
  }

  /** @internal use {@link openLayout} */
  constructor(
    /** The layout directory used for reading (as given to {@link openLayout}). */
    readonly dir: string,
    /** How messages name the layout (no host paths unless the caller gave one). */
    readonly name: string,
    /** The layout directory with symlinks resolved. */
    readonly realDir: string,
    readonly ociLayout: OciLayoutFile,
    /** The parsed `index.json`. */
    readonly index: ImageIndex,
    readonly lenience: Lenience,
    readonly maxJsonBytes: number,
  ) {}

  /** Deviations from the spec tolerated so far (grows as more content is read). */
  get warnings(): readonly Warning[] {
    return this.lenience.warnings;
  }

  /**
   * Find a blob's file and check it may be read: a regular file inside the layout, or a
   * symlink to the same blob (a path ending in `blobs/<alg>/<encoded>`) elsewhere, as Bazel
   * sandboxes and thin copies have. Anything else is refused before it is opened.
   * @throws OcikitError `OCIKIT_BLOB_MISSING`, `OCIKIT_BLOB_NOT_FILE`, `OCIKIT_BLOB_SYMLINK_ESCAPES`, `OCIKIT_BLOB_UNREADABLE`
   */
  async locateBlob(digest: Digest): Promise<BlobFile> {
    return this.locateBlobSync(digest);
  }

  /**
   * {@link locateBlob}, synchronously: the one implementation. A few metadata syscalls per
   * blob; synchronous calls cost a fifth of the CPU of thread-pool round trips, which is what
   * checking 2,000 blobs before a build is made of.
   * @throws OcikitError as {@link locateBlob}
   */
  locateBlobSync(digest: Digest): BlobFile {
    return {
      relPath: blobRelPath(digest),
      path: this.algPath(digest.algorithm) + path.sep + digest.encoded,
      size: this.blobSizeSync(digest),
    };
  }

  /**
   * The size of a blob's file, checked as {@link locateBlobSync} checks it: what the base check
   * calls per blob. The common case — a regular file in a `blobs/ALG` that is inside the layout
   * or is another layout's `blobs/ALG` — costs one lstat and builds one string; anything else
   * takes the full checks, which word the problem.
   * @throws OcikitError as {@link locateBlob}
   */
  blobSizeSync(digest: Digest): number {
    let lst: Stats | undefined;
    try {
      lst = lstatSync(this.realAlgDir(digest.algorithm) + path.sep + digest.encoded);
    } catch {
      // the full checks say what is wrong
    }
    if (lst?.isFile() === true && this.algDirAccepted(digest.algorithm)) return lst.size;
    return this.checkBlobFile(digest);
  }

  /**
   * Whether a regular file in the real `blobs/ALG` passes the symlink rule without a look of
   * its own: that directory is inside the layout, or it is `blobs/ALG` of another layout (a
   * thin copy's `blobs` links there). Cached per algorithm.
   */
  private algDirAccepted(algorithm: string): boolean {
    let ok = this.algDirOk.get(algorithm);
    if (ok === undefined) {
      const real = this.realAlgDir(algorithm);
      ok =
        real.startsWith(this.realDir + path.sep) ||
        real.endsWith(`${path.sep}blobs${path.sep}${algorithm}`);
      this.algDirOk.set(algorithm, ok);
    }
    return ok;
  }

  /** The full per-blob checks of {@link blobSizeSync}, with their errors. */
  private checkBlobFile(digest: Digest): number {
    const relPath = blobRelPath(digest);
    // = path.join(this.dir, relPath): neither grammar admits '.', '..' or a separator.
    const file = this.algPath(digest.algorithm) + path.sep + digest.encoded;
    let real: string;
    let lst: Stats | undefined;
    try {
      // One realpath per algorithm directory (a thin copy's `blobs` is a symlink), then one
      // lstat per blob; only a blob that is itself a symlink costs a realpath of its own.
      const algDir = this.realAlgDir(digest.algorithm);
      // algDir is a realpath and the encoded part passed the digest grammar: no join needed.
      const candidate = algDir + path.sep + digest.encoded;
      lst = lstatSync(candidate);
      real = lst.isSymbolicLink() ? realpathSync(candidate) : candidate;
      if (lst.isSymbolicLink()) lst = undefined;
    } catch (e) {
      const code = errnoCode(e);
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        let dangling = false;
        try {
          dangling = lstatSync(file).isSymbolicLink();
        } catch {
          // not there at all
        }
        throw new OcikitError(
          ErrorCode.BlobMissing,
          `blob ${digest.value} not found at ${relPath}${dangling ? ' (dangling symlink)' : ''}`,
          {
            hint: 'The layout is incomplete: copy it again from its source, including every blob.',
            details: { digest: digest.value, path: relPath },
          },
        );
      }
      if (code === 'ELOOP') {
        throw new OcikitError(ErrorCode.BlobSymlinkEscapes, `${relPath}: symlink loop`, {
          hint: 'Replace the symlink with the blob file.',
          details: { digest: digest.value, path: relPath },
        });
      }
      throw new OcikitError(
        ErrorCode.BlobUnreadable,
        `${relPath}: cannot be resolved (${code ?? String(e)})`,
        {
          hint: 'Check the permissions of the layout directory.',
          details: { digest: digest.value, path: relPath },
        },
      );
    }
    const inside = real.startsWith(this.realDir + path.sep);
    if (!inside && !real.endsWith(path.sep + relPath.split('/').join(path.sep))) {
      throw new OcikitError(
        ErrorCode.BlobSymlinkEscapes,
        `${relPath}: is a symlink to ${real}, outside the layout and not a copy of this blob`,
        {
          hint: `A blob may only link to a file inside the layout or to ${relPath} of another layout.`,
          details: { digest: digest.value, path: relPath },
        },
      );
    }
    let st = lst;
    try {
      st ??= statSync(real);
    } catch (e) {
      throw new OcikitError(
        ErrorCode.BlobUnreadable,
        `${relPath}: cannot be read (${errnoCode(e) ?? String(e)})`,
        {
          hint: 'Check the permissions of the layout directory.',
          details: { digest: digest.value, path: relPath },
        },
      );
    }
    if (!st.isFile()) {
      throw new OcikitError(ErrorCode.BlobNotFile, `${relPath}: is not a regular file`, {
        hint: 'Blobs must be regular files; remove whatever is at this path and copy the blob again.',
        details: { digest: digest.value, path: relPath },
      });
    }
    return st.size;
  }

  /**
   * Read a JSON blob (manifest, index, config), checking size and, unless `verifyDigest` is
   * false, its digest. Results are cached per digest.
   * @throws OcikitError `OCIKIT_BLOB_*`, `OCIKIT_JSON_INVALID`, `OCIKIT_JSON_TOO_LARGE`, `OCIKIT_JSON_TOO_DEEP`,
   *   `OCIKIT_DIGEST_UNSUPPORTED`, and by cause `OCIKIT_IO_ERROR`, `OCIKIT_TOO_MANY_OPEN_FILES`
   */
  async readJsonBlob(
    desc: Descriptor,
    options: { verifyDigest?: boolean } = {},
  ): Promise<JsonBlob> {
    const digest = parseDigest(desc.digest);
    const key = `${desc.digest}/${desc.size}`;
    let pending = this.jsonCache.get(key);
    if (pending === undefined) {
      pending = this.loadJsonBlob(digest, desc.size);
      this.jsonCache.set(key, pending);
    }
    const blob = await pending;
    if (options.verifyDigest !== false && blob.actualDigest !== desc.digest) {
      throw digestMismatch(desc.digest, blob.actualDigest, blobRelPath(digest));
    }
    return blob;
  }

  private async loadJsonBlob(digest: Digest, expectedSize: number): Promise<JsonBlob> {
    if (!isHashable(digest.algorithm)) {
      throw new OcikitError(
        ErrorCode.DigestUnsupported,
        `${digest.value}: algorithm ${digest.algorithm} is not supported`,
        {
          hint: 'ocikit verifies sha256 and sha512 digests.',
          details: { digest: digest.value },
        },
      );
    }
    const located = await this.locateBlob(digest);
    if (located.size !== expectedSize) {
      throw sizeMismatch(digest.value, expectedSize, located.size, located.relPath);
    }
    const bytes = await readSmallFile(
      located.path,
      located.relPath,
      this.maxJsonBytes,
      () =>
        new OcikitError(
          ErrorCode.BlobMissing,
          `blob ${digest.value} not found at ${located.relPath}`,
          {
            hint: 'The layout is incomplete: copy it again from its source.',
            details: { digest: digest.value, path: located.relPath },
          },
        ),
    );
    if (bytes.length !== expectedSize)
      throw sizeMismatch(digest.value, expectedSize, bytes.length, located.relPath);
    const actualDigest = digestBytes(digest.algorithm, bytes);
    // Bytes that hash to a digest parse to the same JSON: kept for the process (documents.ts),
    // but only when they are the blob they claim to be.
    let value = documents.jsonOf(actualDigest);
    if (value === undefined) {
      value = parseJsonText(bytes, located.relPath);
      if (actualDigest === digest.value)
        value = documents.keepJson(actualDigest, value, bytes.length);
    }
    return { value, actualDigest, size: bytes.length };
  }

  /** Read and validate an image index or manifest list. */
  async readIndex(desc: Descriptor, options: { verifyDigest?: boolean } = {}): Promise<ImageIndex> {
    const blob = await this.readJsonBlob(desc, options);
    const where = `index ${desc.digest}`;
    checkContentMediaType(desc, rawMediaType(blob.value), where);
    return this.parsedOnce(blob, desc, 'index', (l) => parseImageIndex(blob.value, where, l));
  }

  /** Read and validate an image manifest. */
  async readManifest(
    desc: Descriptor,
    options: { verifyDigest?: boolean } = {},
  ): Promise<ImageManifest> {
    const blob = await this.readJsonBlob(desc, options);
    const where = `manifest ${desc.digest}`;
    checkContentMediaType(desc, rawMediaType(blob.value), where);
    return this.parsedOnce(blob, desc, 'manifest', (l) => parseImageManifest(blob.value, where, l));
  }

  /** Read and validate an image configuration. */
  async readConfig(
    desc: Descriptor,
    options: { verifyDigest?: boolean } = {},
  ): Promise<ImageConfig> {
    const blob = await this.readJsonBlob(desc, options);
    return this.parsedOnce(blob, desc, 'config', (l) =>
      parseImageConfig(blob.value, `config ${desc.digest}`, l),
    );
  }

  /**
   * Validate a document once per process and kind (documents.ts): a 2,000-layer manifest is
   * read several times per command, and a worker reads the same bases request after request.
   * A blob read without its digest checked, that is not what its descriptor says, is validated
   * every time (its messages name the descriptor's digest).
   */
  private parsedOnce<T>(
    blob: JsonBlob,
    desc: Descriptor,
    kind: string,
    parse: (lenience: Lenience) => T,
  ): T {
    const value = blob.value;
    if (value === null || typeof value !== 'object' || blob.actualDigest !== desc.digest) {
      return parse(this.lenience);
    }
    return documents.validate(value, kind, this.lenience, parse);
  }
}

/**
 * The content's own `mediaType`, read before the structural parse so that a descriptor that
 * names an index but points at a manifest (or the reverse) is reported as a media type
 * mismatch, not as a schema error of the wrong kind of document.
 */
function rawMediaType(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const mediaType = (value as Record<string, unknown>)['mediaType'];
  return typeof mediaType === 'string' ? mediaType : undefined;
}

function checkContentMediaType(
  desc: Descriptor,
  contentMediaType: string | undefined,
  where: string,
): void {
  if (contentMediaType !== undefined && contentMediaType !== desc.mediaType) {
    throw new OcikitError(
      ErrorCode.MediaTypeMismatch,
      `${where}: the descriptor says ${desc.mediaType} but the content says ${contentMediaType}`,
      {
        hint: 'The referencing index or manifest is inconsistent; regenerate the layout.',
        details: { digest: desc.digest },
      },
    );
  }
}

/** The coded error for a blob whose size differs from its descriptor. */
export function sizeMismatch(
  digest: string,
  expected: number,
  actual: number,
  relPath: string,
): OcikitError {
  return new OcikitError(
    ErrorCode.BlobSizeMismatch,
    `blob ${digest} at ${relPath} is ${actual} bytes, the descriptor says ${expected}`,
    {
      hint: 'The blob is truncated or was replaced; copy the layout again from its source.',
      details: { digest, path: relPath, expectedSize: expected, actualSize: actual },
    },
  );
}

/** The coded error for a blob whose content hashes to another digest. */
export function digestMismatch(digest: string, actual: string, relPath: string): OcikitError {
  return new OcikitError(
    ErrorCode.BlobDigestMismatch,
    `blob ${digest} at ${relPath} has content with digest ${actual}`,
    {
      hint: 'The blob is corrupt; copy the layout again from its source.',
      details: { digest, path: relPath, actualDigest: actual },
    },
  );
}

/** Codes that say what they say whichever layout file they come from (not rewrapped). */
const KEPT_CODES = new Set<string>([
  ErrorCode.LayoutInvalid,
  ErrorCode.NoSpace,
  ErrorCode.TooManyOpenFiles,
  ErrorCode.IoError,
]);

/**
 * Open a layout directory: check it exists, parse `oci-layout` and `index.json`.
 * Never writes anything.
 * @throws OcikitError `OCIKIT_LAYOUT_NOT_FOUND`, `OCIKIT_LAYOUT_UNREADABLE`, `OCIKIT_LAYOUT_INVALID`,
 *   `OCIKIT_INDEX_MISSING`, `OCIKIT_JSON_INVALID`, `OCIKIT_JSON_TOO_LARGE`, `OCIKIT_JSON_TOO_DEEP`,
 *   `OCIKIT_SCHEMA_INVALID`, and by cause `OCIKIT_IO_ERROR`, `OCIKIT_TOO_MANY_OPEN_FILES`
 */
export async function openLayout(dir: string, options: OpenOptions = {}): Promise<Layout> {
  const maxJsonBytes = options.maxJsonBytes ?? MAX_JSON_BYTES;
  const name = options.name ?? dir;
  let realDir: string;
  try {
    // Synchronous: three syscalls, where the thread pool would be started for them (~2 ms of
    // a cold start).
    realDir = realpathSync.native(dir);
    if (!statSync(realDir).isDirectory())
      throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    // A directory this user may not search (0700, someone else's) opens nothing inside.
    accessSync(realDir, fsc.X_OK);
  } catch (e) {
    const code = errnoCode(e);
    const byCause = environmentError(e, { path: name, side: 'input', what: 'open the layout' });
    if (byCause !== undefined) throw byCause;
    if (code === 'EACCES' || code === 'EPERM') {
      throw new OcikitError(
        ErrorCode.LayoutUnreadable,
        `${name}: this user (uid ${process.getuid?.() ?? '?'}) may not open the layout directory (${code})`,
        {
          hint: 'Let this user read and traverse the layout and every directory above it (r-x), or run as a user who can.',
          details: { layout: name },
        },
      );
    }
    throw new OcikitError(
      ErrorCode.LayoutNotFound,
      `${name}: no such layout directory (${code ?? String(e)})`,
      {
        hint:
          code === 'ENOTDIR'
            ? `${name} is a file: if it is an OCI archive (skopeo oci-archive:, buildx --output type=oci, docker save), extract it with ocikit unpack ${name} --out DIR and pass DIR (context, buildx-args and build read archives as they are).`
            : 'Pass the directory that contains oci-layout and index.json.',
        details: { layout: name },
      },
    );
  }
  const lenience = new Lenience(options.strict ?? false);
  const layoutFile = 'oci-layout';
  let ociLayout: OciLayoutFile;
  try {
    const bytes = await readSmallFile(
      path.join(dir, layoutFile),
      layoutFile,
      maxJsonBytes,
      () =>
        new OcikitError(
          ErrorCode.LayoutInvalid,
          `${name}: has no oci-layout file; it is not an OCI image layout`,
          {
            hint: 'Pass the directory that contains oci-layout and index.json (e.g. the output of skopeo copy oci:DIR, or buildx --output type=oci,tar=false).',
            details: { layout: name },
          },
        ),
    );
    ociLayout = parseOciLayoutFile(parseJsonText(bytes, layoutFile), layoutFile);
  } catch (e) {
    const errno = isOcikitError(e, ErrorCode.BlobUnreadable) ? e.details['errno'] : undefined;
    if (errno === 'EACCES' || errno === 'EPERM') {
      throw new OcikitError(
        ErrorCode.LayoutUnreadable,
        `${name}/${layoutFile}: this user (uid ${process.getuid?.() ?? '?'}) may not read it (${errno})`,
        {
          hint: 'Let this user read the layout (its files r, its directories r-x), or run as a user who can.',
          details: { layout: name },
        },
      );
    }
    if (e instanceof OcikitError && !KEPT_CODES.has(e.code)) {
      throw new OcikitError(
        ErrorCode.LayoutInvalid,
        `${name}/${layoutFile}: ${e.message.replace(/^oci-layout: /, '')}`,
        {
          hint: 'oci-layout must be {"imageLayoutVersion":"1.0.0"}.',
          details: { layout: name },
        },
      );
    }
    throw e;
  }
  const indexFile = 'index.json';
  const indexBytes = await readSmallFile(
    path.join(dir, indexFile),
    indexFile,
    maxJsonBytes,
    () =>
      new OcikitError(ErrorCode.IndexMissing, `${name}: has no index.json`, {
        hint: 'The layout is incomplete; regenerate it.',
        details: { layout: name },
      }),
  ).catch((e: unknown) => {
    if (e instanceof OcikitError && e.code === ErrorCode.BlobUnreadable) {
      throw new OcikitError(
        ErrorCode.IndexMissing,
        `${name}/index.json: ${e.message.replace(/^index\.json: /, '')}`,
        {
          hint: 'Let this user read index.json (and the layout directory).',
          details: { layout: name },
        },
      );
    }
    throw e;
  });
  const index = parseImageIndex(parseJsonText(indexBytes, indexFile), indexFile, lenience);
  for (const d of index.manifests) {
    if (isLegacyManifestMediaType(d.mediaType)) {
      throw new OcikitError(
        ErrorCode.MediaTypeUnsupported,
        `index.json: ${d.digest} is a Docker schema 1 manifest`,
        {
          hint: 'Convert the image first, e.g. skopeo copy --format oci.',
          details: { digest: d.digest },
        },
      );
    }
    if (!isIndexMediaType(d.mediaType) && !isManifestMediaType(d.mediaType)) {
      lenience.deviation(
        'OCIKIT_W_UNKNOWN_MEDIA_TYPE',
        `index.json: ${d.digest} has media type ${d.mediaType}, which is not an image`,
      );
    }
  }
  return new Layout(dir, name, realDir, ociLayout, index, lenience, maxJsonBytes);
}
