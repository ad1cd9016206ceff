/**
 * The one error type of ocikit. Every failure the library can foresee is an
 * {@link OcikitError} with a stable {@link ErrorCode}; tests and callers branch
 * on `code`, people read `message` (what and where) and `hint` (what to do).
 */

/** Stable error codes. Never renamed once released; new ones may be added. */
export const ErrorCode = {
  /** A command-line or API argument is malformed (CLI exit code 2). */
  Usage: 'OCIKIT_USAGE',
  /** The layout directory does not exist or is not a directory. */
  LayoutNotFound: 'OCIKIT_LAYOUT_NOT_FOUND',
  /** The layout directory exists but this user may not read it. */
  LayoutUnreadable: 'OCIKIT_LAYOUT_UNREADABLE',
  /** `oci-layout` is missing, unreadable or invalid. */
  LayoutInvalid: 'OCIKIT_LAYOUT_INVALID',
  /** `index.json` is missing or unreadable. */
  IndexMissing: 'OCIKIT_INDEX_MISSING',
  /** A JSON document (index.json, manifest, index, config) is not valid JSON. */
  JsonInvalid: 'OCIKIT_JSON_INVALID',
  /** A JSON document is larger than ocikit accepts for metadata. */
  JsonTooLarge: 'OCIKIT_JSON_TOO_LARGE',
  /** A JSON document nests arrays/objects deeper than any OCI document needs. */
  JsonTooDeep: 'OCIKIT_JSON_TOO_DEEP',
  /** A JSON document parsed but does not have the shape the OCI spec requires. */
  SchemaInvalid: 'OCIKIT_SCHEMA_INVALID',
  /** A digest string does not follow the OCI digest grammar. */
  DigestInvalid: 'OCIKIT_DIGEST_INVALID',
  /** A digest uses an algorithm ocikit cannot compute. */
  DigestUnsupported: 'OCIKIT_DIGEST_UNSUPPORTED',
  /** A media type is not one ocikit knows how to read. */
  MediaTypeUnsupported: 'OCIKIT_MEDIA_TYPE_UNSUPPORTED',
  /** A blob referenced by a descriptor is not in the layout. */
  BlobMissing: 'OCIKIT_BLOB_MISSING',
  /** A blob's size differs from the descriptor's size. */
  BlobSizeMismatch: 'OCIKIT_BLOB_SIZE_MISMATCH',
  /** A blob's content does not hash to its digest. */
  BlobDigestMismatch: 'OCIKIT_BLOB_DIGEST_MISMATCH',
  /** A blob is not a regular file (directory, device, FIFO, ...). */
  BlobNotFile: 'OCIKIT_BLOB_NOT_FILE',
  /** A blob is a symlink to something outside the layout that is not the same blob. */
  BlobSymlinkEscapes: 'OCIKIT_BLOB_SYMLINK_ESCAPES',
  /** A blob could not be read (permissions, I/O error). */
  BlobUnreadable: 'OCIKIT_BLOB_UNREADABLE',
  /** The content's own mediaType disagrees with the descriptor pointing at it. */
  MediaTypeMismatch: 'OCIKIT_MEDIA_TYPE_MISMATCH',
  /** An index references itself, directly or through other indexes. */
  ReferenceCycle: 'OCIKIT_REFERENCE_CYCLE',
  /** Indexes nest deeper than ocikit follows. */
  NestingTooDeep: 'OCIKIT_NESTING_TOO_DEEP',
  /** No manifest in index.json carries the requested tag. */
  TagNotFound: 'OCIKIT_TAG_NOT_FOUND',
  /** A `PATH[:TAG][@DIGEST]` value can be read two ways that both name a layout. */
  RefAmbiguous: 'OCIKIT_REF_AMBIGUOUS',
  /** One tag names two different descriptors. */
  TagAmbiguous: 'OCIKIT_TAG_AMBIGUOUS',
  /** No tag given and index.json does not hold exactly one manifest. */
  TagRequired: 'OCIKIT_TAG_REQUIRED',
  /** The requested digest is not referenced by the layout. */
  DigestNotFound: 'OCIKIT_DIGEST_NOT_FOUND',
  /** A platform string is malformed. */
  PlatformInvalid: 'OCIKIT_PLATFORM_INVALID',
  /** A platform's os, architecture or variant is not a known value (`--allow-unknown-platforms` accepts it). */
  PlatformUnknown: 'OCIKIT_PLATFORM_UNKNOWN',
  /** No manifest matches the requested platform. */
  PlatformNotFound: 'OCIKIT_PLATFORM_NOT_FOUND',
  /** More than one manifest matches the requested platform. */
  PlatformAmbiguous: 'OCIKIT_PLATFORM_AMBIGUOUS',
  /** `--out` is missing where it is needed, or cannot be created. */
  OutInvalid: 'OCIKIT_OUT_INVALID',
  /** `--out` exists and is not an empty directory. */
  OutNotEmpty: 'OCIKIT_OUT_NOT_EMPTY',
  /** An output path is equal to, inside, or a parent of an input (after resolving symlinks and `..`). */
  OutInsideInput: 'OCIKIT_OUT_INSIDE_INPUT',
  /** An output cannot be written: permission denied, read-only file system, not a directory. */
  OutUnwritable: 'OCIKIT_OUT_UNWRITABLE',
  /** An input (file or directory other than a layout or blob) cannot be read. */
  InputUnreadable: 'OCIKIT_INPUT_UNREADABLE',
  /** The file system holding an output is full (ENOSPC, EDQUOT). */
  NoSpace: 'OCIKIT_NO_SPACE',
  /** The process ran out of file descriptors (EMFILE, ENFILE). */
  TooManyOpenFiles: 'OCIKIT_TOO_MANY_OPEN_FILES',
  /** The operating system reported an I/O error (EIO) reading an input or writing an output. */
  IoError: 'OCIKIT_IO_ERROR',
  /** The run was interrupted by a signal (SIGINT, SIGTERM, SIGHUP); nothing was written. */
  Interrupted: 'OCIKIT_INTERRUPTED',
  /** A build context name is empty, malformed or given twice. */
  ContextInvalid: 'OCIKIT_CONTEXT_INVALID',
  /** `--mode in-place` was asked for, but buildx would write into the layout. */
  InPlaceUnsafe: 'OCIKIT_IN_PLACE_UNSAFE',
  /** A config file (`--config`) is unreadable or malformed. */
  ConfigInvalid: 'OCIKIT_CONFIG_INVALID',
  /**
   * A Dockerfile image reference (FROM, COPY --from, RUN --mount=from=, `# syntax=`) that is
   * neither a stage, `scratch`, nor a build context: the build would pull it (`--hermetic`).
   */
  FromUnresolved: 'OCIKIT_FROM_UNRESOLVED',
  /** A build context the Dockerfile never names (an error where asked for; else a warning). */
  ContextUnused: 'OCIKIT_CONTEXT_UNUSED',
  /** A Dockerfile BuildKit would refuse, found while checking what it pulls. */
  DockerfileInvalid: 'OCIKIT_DOCKERFILE_INVALID',
  /** The docker CLI or its buildx plugin cannot be run. */
  BuildxMissing: 'OCIKIT_BUILDX_MISSING',
  /** The docker daemon / BuildKit builder cannot be reached. */
  BuilderUnreachable: 'OCIKIT_BUILDER_UNREACHABLE',
  /** TLS material for a tcp:// daemon (`--tlscacert`, `--tlscert`, `--tlskey`) is not a PEM certificate or key. */
  TlsInvalid: 'OCIKIT_TLS_INVALID',
  /** The builder (BuildKit, dockerd) died during the build: the stream broke off and it no longer answers. */
  BuilderCrashed: 'OCIKIT_BUILDER_CRASHED',
  /** The builder's driver cannot read oci-layout contexts or write OCI outputs. */
  DriverUnsupported: 'OCIKIT_DRIVER_UNSUPPORTED',
  /** A build step failed (the stream carried an error). */
  SolveFailed: 'OCIKIT_SOLVE_FAILED',
  /** buildx failed without a step error (non-zero exit, killed, client-side error). */
  BuildxFailed: 'OCIKIT_BUILDX_FAILED',
  /** The progress stream ended early: a step started and never finished, or JSON was cut. */
  StreamIncomplete: 'OCIKIT_STREAM_INCOMPLETE',
  /** buildx reported success but the output is missing, incomplete or not what it reported. */
  OutputInvalid: 'OCIKIT_OUTPUT_INVALID',
  /** Annotations that were asked for are missing from the output. */
  AnnotationsMissing: 'OCIKIT_ANNOTATIONS_MISSING',
  /** Two sources give different manifests for one platform (or disagree on an annotation). */
  IndexConflict: 'OCIKIT_INDEX_CONFLICT',
  /** Annotations were asked for on a Docker manifest list, which cannot carry them. */
  AnnotationsUnsupported: 'OCIKIT_ANNOTATIONS_UNSUPPORTED',
  /** An archive is not a (gzip'd) tar, or a header in it is corrupt. */
  ArchiveInvalid: 'OCIKIT_ARCHIVE_INVALID',
  /** An archive ends in the middle of an entry, or without its end-of-archive marker. */
  ArchiveTruncated: 'OCIKIT_ARCHIVE_TRUNCATED',
  /** An archive entry's path is absolute, climbs out with `..`, or is otherwise unsafe. */
  ArchivePathUnsafe: 'OCIKIT_ARCHIVE_PATH_UNSAFE',
  /** An archive holds a symlink or hardlink (never extracted). */
  ArchiveLink: 'OCIKIT_ARCHIVE_LINK',
  /** An archive holds a device, FIFO or other entry that is not a file or directory. */
  ArchiveSpecialFile: 'OCIKIT_ARCHIVE_SPECIAL_FILE',
  /** An archive holds the same path twice. */
  ArchiveDuplicateEntry: 'OCIKIT_ARCHIVE_DUPLICATE_ENTRY',
  /** An archive header (long name, pax record, path) is larger than ocikit accepts. */
  ArchiveHeaderTooLarge: 'OCIKIT_ARCHIVE_HEADER_TOO_LARGE',
  /** An archive entry is not part of an OCI layout (oci-layout, index.json, blobs/ALG/ENCODED). */
  ArchiveUnexpectedEntry: 'OCIKIT_ARCHIVE_UNEXPECTED_ENTRY',
  /** An archive blob is larger than the descriptor that references it says. */
  ArchiveBlobTooLarge: 'OCIKIT_ARCHIVE_BLOB_TOO_LARGE',
  /** An archive expands to more bytes than `--max-bytes` allows. */
  ArchiveTooLarge: 'OCIKIT_ARCHIVE_TOO_LARGE',
  /** An archive holds more bytes in skipped (non-layout) entries than ocikit reads past. */
  ArchiveSkippedTooLarge: 'OCIKIT_ARCHIVE_SKIPPED_TOO_LARGE',
  /** An archive holds more data after its end-of-archive marker than ocikit reads past. */
  ArchiveTrailingData: 'OCIKIT_ARCHIVE_TRAILING_DATA',
  /** `verify` found problems (each listed separately). */
  VerifyFailed: 'OCIKIT_VERIFY_FAILED',
  /** A persistent-worker request (`ocikit --persistent_worker`) is not a WorkRequest ocikit can read. */
  WorkerRequestInvalid: 'OCIKIT_WORKER_REQUEST_INVALID',
  /** Something ocikit did not expect; a bug report is welcome. */
  Internal: 'OCIKIT_INTERNAL',
} as const;

/** One of the values of {@link ErrorCode}. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Construction options of {@link OcikitError}. */
export interface OcikitErrorOptions {
  /** What to do about it, in one sentence. */
  hint?: string;
  /** Machine-readable context (paths relative to the layout, digests, tags). */
  details?: Record<string, unknown>;
  /** The underlying error, kept for debugging; never printed by the CLI. */
  cause?: unknown;
}

/** An expected failure with a stable code, a message naming what and where, and a hint. */
export class OcikitError extends Error {
  override readonly name = 'OcikitError';
  readonly code: ErrorCode;
  readonly hint: string;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: OcikitErrorOptions = {}) {
    super(
      sanitizeMessage(message),
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.code = code;
    this.hint = sanitizeMessage(options.hint ?? '');
    this.details = options.details ?? {};
  }

  /** The `{"error":{...}}` document printed by `--json`. */
  toJSON(): {
    error: { code: ErrorCode; message: string; hint: string } & Record<string, unknown>;
  } {
    return { error: { ...this.details, code: this.code, message: this.message, hint: this.hint } };
  }
}

/** True when `e` is an {@link OcikitError}, optionally with the given code. */
export function isOcikitError(e: unknown, code?: ErrorCode): e is OcikitError {
  return e instanceof OcikitError && (code === undefined || e.code === code);
}

/** The errno code of a Node.js system error, or undefined. */
export function errnoCode(e: unknown): string | undefined {
  if (typeof e === 'object' && e !== null && 'code' in e) {
    const code = (e as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

/** Longest message an error carries; longer ones (hostile inputs echoed) are cut. */
export const MAX_MESSAGE = 4000;

// C0 controls but newline and tab, DEL, C1 controls, line/paragraph separators, bidi overrides.
// eslint-disable-next-line no-control-regex
const UNSAFE_IN_MESSAGE =
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
// The same, with newline and tab: for values quoted from inputs.
// eslint-disable-next-line no-control-regex
const UNSAFE_IN_VALUE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function escapeChar(c: string): string {
  if (c === '\n') return '\\n';
  if (c === '\t') return '\\t';
  if (c === '\r') return '\\r';
  const n = c.charCodeAt(0);
  return n < 0x100
    ? `\\x${n.toString(16).padStart(2, '0')}`
    : `\\u${n.toString(16).padStart(4, '0')}`;
}

/** Escape control characters (keeping newlines and tabs) and cut at {@link MAX_MESSAGE}. */
export function sanitizeMessage(text: string): string {
  const escaped = text.replace(UNSAFE_IN_MESSAGE, escapeChar);
  return escaped.length <= MAX_MESSAGE
    ? escaped
    : `${escaped.slice(0, MAX_MESSAGE)}… (${escaped.length - MAX_MESSAGE} more characters)`;
}

/**
 * A value from an input (a tag, a path, a JSON value), fit to be echoed in a message: quoted,
 * control characters escaped, cut after `max` characters. Never recurses into structures
 * deeper than a few levels (non-strings are summarised by type).
 */
export function quote(value: unknown, max = 200): string {
  let text: string;
  if (typeof value === 'string') text = value;
  else if (value === null || typeof value !== 'object') text = String(value);
  else if (Array.isArray(value)) return `an array of ${value.length}`;
  else return `an object with ${Object.keys(value).length} keys`;
  const cut = text.length > max;
  const shown = (cut ? text.slice(0, max) : text)
    .replace(/["\\]/g, '\\$&')
    .replace(UNSAFE_IN_VALUE, escapeChar);
  return cut ? `"${shown}"… (${text.length} characters)` : `"${shown}"`;
}

/**
 * A JSON value from an input, fit to be echoed in a message: numbers, booleans and null as
 * JSON writes them, strings as {@link quote} does, arrays and objects summarised by type.
 */
export function quoteJson(value: unknown, max = 200): string {
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) {
    return String(value);
  }
  return quote(value, max);
}

/** Which side of a command a file-system failure happened on. */
export type Side = 'input' | 'output';

const NO_SPACE = new Set(['ENOSPC', 'EDQUOT']);
const TOO_MANY = new Set(['EMFILE', 'ENFILE']);
const DENIED = new Set(['EACCES', 'EPERM', 'EROFS']);

/**
 * The errno behind a failure: a Node.js system error's code, or the errno a worker thread
 * could not start with (`ERR_WORKER_INIT_FAILED` carries it only in its message, e.g.
 * "Worker initialization failure: EMFILE").
 */
export function causeErrno(e: unknown): string | undefined {
  const code = errnoCode(e);
  if (code === 'ERR_WORKER_INIT_FAILED' && e instanceof Error) {
    return /\b(E[A-Z]{2,})\b/.exec(e.message.replace(/^.*?:/, ''))?.[1] ?? code;
  }
  return code;
}

/** True when `errno` says something about the environment, not the path: no space, no descriptors, EIO. */
export function isEnvironmentErrno(errno: string | undefined): boolean {
  return errno !== undefined && (NO_SPACE.has(errno) || TOO_MANY.has(errno) || errno === 'EIO');
}

/**
 * The coded error of a failure caused by the environment (see {@link isEnvironmentErrno}):
 * `OCIKIT_NO_SPACE`, `OCIKIT_TOO_MANY_OPEN_FILES` or `OCIKIT_IO_ERROR`, naming the path when
 * it is known; undefined for any other failure.
 */
export function environmentError(
  e: unknown,
  where: { path?: string; side?: Side; what?: string },
): OcikitError | undefined {
  const errno = causeErrno(e);
  if (!isEnvironmentErrno(errno)) return undefined;
  const known = where.path ?? (e as { path?: unknown }).path;
  const p = typeof known === 'string' ? ` ${quote(known, 400)}` : '';
  const doing = where.what !== undefined ? ` (${where.what})` : '';
  const details: Record<string, unknown> = { errno };
  if (typeof known === 'string') details['path'] = known;
  if (where.side !== undefined) details['side'] = where.side;
  const options = (hint: string): OcikitErrorOptions => ({ hint, details, cause: e });
  if (NO_SPACE.has(errno as string)) {
    return new OcikitError(
      ErrorCode.NoSpace,
      `no space left writing${p}${doing} (${errno})`,
      options('Free space on that file system, or write the output elsewhere; nothing was kept.'),
    );
  }
  if (TOO_MANY.has(errno as string)) {
    return new OcikitError(
      ErrorCode.TooManyOpenFiles,
      `too many open files${p === '' ? '' : ` at${p}`}${doing} (${errno})`,
      options('Raise the open-file limit (ulimit -n) and rerun; nothing was kept.'),
    );
  }
  const verb = where.side === 'input' ? 'reading' : where.side === 'output' ? 'writing' : 'at';
  return new OcikitError(
    ErrorCode.IoError,
    `I/O error ${verb}${p}${doing} (EIO)`,
    options(
      where.side === 'input'
        ? 'The device holding this input failed to read; check it (dmesg) and rerun.'
        : where.side === 'output'
          ? 'The device holding this output failed to write; check it (dmesg) and rerun.'
          : 'The device failed to read or write; check it (dmesg) and rerun.',
    ),
  );
}

/**
 * Turn an errno failure into a coded error naming the path and the side it happened on:
 * no space, too many open files and I/O errors by cause ({@link environmentError}); otherwise
 * an unreadable input or an unwritable output. An {@link OcikitError} is returned unchanged.
 * @param what what was being done, e.g. "write the thin copy" (optional)
 */
export function fsError(
  e: unknown,
  where: { path: string; side: Side; what?: string },
): OcikitError {
  if (e instanceof OcikitError) return e;
  const byCause = environmentError(e, where);
  if (byCause !== undefined) return byCause;
  const errno = causeErrno(e) ?? 'unknown';
  const p = quote(where.path, 400);
  const doing = where.what !== undefined ? ` (${where.what})` : '';
  const details = { path: where.path, side: where.side, errno };
  const options = (hint: string): OcikitErrorOptions => ({ hint, details, cause: e });
  if (where.side === 'output') {
    return new OcikitError(
      DENIED.has(errno) || errno === 'ENOTDIR' || errno === 'EISDIR'
        ? ErrorCode.OutUnwritable
        : ErrorCode.OutInvalid,
      `cannot write ${p}${doing} (${errno})`,
      options('Write outputs to a directory this user may create files in.'),
    );
  }
  return new OcikitError(
    ErrorCode.InputUnreadable,
    `cannot read ${p}${doing} (${errno})`,
    options('Check that the input exists and that this user may read it.'),
  );
}
