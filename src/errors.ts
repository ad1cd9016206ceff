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
  /** One tag names two different descriptors. */
  TagAmbiguous: 'OCIKIT_TAG_AMBIGUOUS',
  /** No tag given and index.json does not hold exactly one manifest. */
  TagRequired: 'OCIKIT_TAG_REQUIRED',
  /** The requested digest is not referenced by the layout. */
  DigestNotFound: 'OCIKIT_DIGEST_NOT_FOUND',
  /** A platform string is malformed. */
  PlatformInvalid: 'OCIKIT_PLATFORM_INVALID',
  /** No manifest matches the requested platform. */
  PlatformNotFound: 'OCIKIT_PLATFORM_NOT_FOUND',
  /** More than one manifest matches the requested platform. */
  PlatformAmbiguous: 'OCIKIT_PLATFORM_AMBIGUOUS',
  /** `--out` is missing where it is needed, or cannot be created. */
  OutInvalid: 'OCIKIT_OUT_INVALID',
  /** `--out` exists and is not an empty directory. */
  OutNotEmpty: 'OCIKIT_OUT_NOT_EMPTY',
  /** `--out` is inside an input layout (or contains one). */
  OutInsideInput: 'OCIKIT_OUT_INSIDE_INPUT',
  /** A build context name is empty, malformed or given twice. */
  ContextInvalid: 'OCIKIT_CONTEXT_INVALID',
  /** `--mode in-place` was asked for, but buildx would write into the layout. */
  InPlaceUnsafe: 'OCIKIT_IN_PLACE_UNSAFE',
  /** A config file (`--config`) is unreadable or malformed. */
  ConfigInvalid: 'OCIKIT_CONFIG_INVALID',
  /** The docker CLI or its buildx plugin cannot be run. */
  BuildxMissing: 'OCIKIT_BUILDX_MISSING',
  /** The docker daemon / BuildKit builder cannot be reached. */
  BuilderUnreachable: 'OCIKIT_BUILDER_UNREACHABLE',
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
  /** `verify` found problems (each listed separately). */
  VerifyFailed: 'OCIKIT_VERIFY_FAILED',
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
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.hint = options.hint ?? '';
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
