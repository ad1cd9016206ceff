/**
 * How much an archive may make `unpack` read and write (issue 9, hostile sizes): the policy,
 * kept apart from reading the bytes (tar-reader.ts) and writing them (unpack.ts). An entry is
 * judged by its header, before any of its content is read, so a refused entry costs nothing;
 * what follows the end-of-archive marker is read only up to its bound; and reading stops at the
 * first refusal (a gzip stream is not decompressed further):
 *
 * - a blob may not be larger than a descriptor already read says it is
 *   (`OCIKIT_ARCHIVE_BLOB_TOO_LARGE`; see declared-sizes.ts for which descriptors are known when);
 * - the archive, uncompressed and up to its end-of-archive marker, may not be larger than
 *   `maxBytes` (`OCIKIT_ARCHIVE_TOO_LARGE`), default {@link DEFAULT_MAX_BYTES};
 * - entries read but not extracted (`manifest.json`, `repositories`) may not hold more than
 *   {@link MAX_SKIPPED_BYTES} together (`OCIKIT_ARCHIVE_SKIPPED_TOO_LARGE`);
 * - at most {@link MAX_TRAILING_BYTES} (zeros) may follow the end-of-archive marker
 *   (`OCIKIT_ARCHIVE_TRAILING_DATA`).
 */
import { ErrorCode, OcikitError, quote } from '../errors.js';
import type { Declaration } from './declared-sizes.js';
import { BLOCK } from './ustar.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/**
 * Default of `maxBytes`: 64 GiB. Several times the largest images in common use (CUDA and ML
 * images reach 10–20 GiB, and an archive holds their layers compressed), yet a bound: an entry
 * that claims terabytes (a small .tar.gz of zeros) is refused at its header instead of filling
 * the disk. Archives larger than this need `maxBytes` (`--max-bytes`).
 */
export const DEFAULT_MAX_BYTES = 64 * GiB;

/**
 * Bytes that entries read but not extracted (`manifest.json` and `repositories`, which some
 * producers add for `docker load`) may hold together: 1 MiB. A `manifest.json` names each
 * image's config and layer files in about 100 bytes per layer; a few KiB is typical.
 */
export const MAX_SKIPPED_BYTES = 1 * MiB;

/**
 * Bytes read after the end-of-archive marker, which must be zeros: 1 MiB. Writers pad the
 * archive to their record size: Go's archive/tar (skopeo, buildx) and ocikit pack write no
 * padding, GNU tar pads to 10,240 bytes (at most 9,216 zeros after the marker) and to
 * `--blocking-factor` × 512 bytes when asked; 1 MiB accepts blocking factors up to 2048.
 */
export const MAX_TRAILING_BYTES = 1 * MiB;

/** The bounds one archive is read under. */
export interface ArchiveLimits {
  /** Largest uncompressed archive (headers, content, padding and the end-of-archive marker). */
  maxBytes: number;
  /** Most bytes in entries read but not extracted, together. */
  maxSkippedBytes: number;
  /** Most bytes (zeros) after the end-of-archive marker. */
  maxTrailingBytes: number;
}

/**
 * The limits for `maxBytes` (default {@link DEFAULT_MAX_BYTES}) and the fixed bounds.
 * @throws OcikitError `OCIKIT_USAGE` when `maxBytes` is not a positive whole number of bytes
 */
export function archiveLimits(maxBytes: number = DEFAULT_MAX_BYTES): ArchiveLimits {
  if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) {
    throw new OcikitError(
      ErrorCode.Usage,
      `maxBytes ${quote(String(maxBytes))} is not a positive whole number of bytes`,
      {
        hint: `Pass a size such as 68719476736, 64G or 512M (default ${DEFAULT_MAX_BYTES}).`,
        details: { maxBytes: String(maxBytes) },
      },
    );
  }
  return { maxBytes, maxSkippedBytes: MAX_SKIPPED_BYTES, maxTrailingBytes: MAX_TRAILING_BYTES };
}

/** What the limits need of an entry: its path as the archive names it, where and how large. */
export interface EntryExtent {
  path: string;
  /** Byte offset of its header in the uncompressed archive. */
  offset: number;
  /** Bytes of content. */
  size: number;
}

/** What follows the end-of-archive marker, as far as it was read. */
export interface Trailer {
  /** Byte offset of the end-of-archive marker. */
  offset: number;
  /** Bytes read after the marker (all zeros). */
  bytes: number;
  /** True when the input goes on after those. */
  more: boolean;
}

function named(entry: EntryExtent): string {
  return `archive entry ${quote(entry.path)} (at byte ${entry.offset})`;
}

/**
 * The running account of one archive against its {@link ArchiveLimits}. Each method is called
 * when a header has been read and throws before the content is.
 */
export class ArchiveBudget {
  private skipped = 0;

  /** @param archive how messages name the archive */
  constructor(
    private readonly archive: string,
    readonly limits: ArchiveLimits,
  ) {}

  /**
   * An entry whose content starts at byte `contentStart` of the uncompressed archive: it, its
   * padding and the end-of-archive marker after it must fit in `maxBytes`.
   * @throws OcikitError `OCIKIT_ARCHIVE_TOO_LARGE`
   */
  entry(entry: EntryExtent, contentStart: number): void {
    const end = contentStart + padded(entry.size) + 2 * BLOCK;
    const { maxBytes } = this.limits;
    if (end <= maxBytes) return;
    throw new OcikitError(
      ErrorCode.ArchiveTooLarge,
      `${this.archive}: ${named(entry)} of ${entry.size} bytes takes the archive to at least ${end} bytes uncompressed, more than the ${maxBytes} allowed`,
      {
        hint: `Pass --max-bytes (library: maxBytes) larger than the archive's uncompressed size if it is genuine; nothing was kept.`,
        details: {
          archive: this.archive,
          path: entry.path,
          offset: entry.offset,
          size: entry.size,
          read: contentStart,
          limit: maxBytes,
        },
      },
    );
  }

  /**
   * A blob entry whose content starts at byte `contentStart`, against the size a descriptor
   * read earlier declares for it (when one does).
   * @throws OcikitError `OCIKIT_ARCHIVE_BLOB_TOO_LARGE`
   */
  blob(
    entry: EntryExtent,
    contentStart: number,
    digest: string,
    declared: Declaration | undefined,
  ): void {
    if (declared === undefined || entry.size <= declared.size) return;
    throw new OcikitError(
      ErrorCode.ArchiveBlobTooLarge,
      `${this.archive}: ${named(entry)} holds ${entry.size} bytes, but ${declared.by} says blob ${digest} is ${declared.size} bytes`,
      {
        hint: 'The archive does not match its own manifests (corrupt or hostile); produce it again. Nothing was kept.',
        details: {
          archive: this.archive,
          path: entry.path,
          offset: entry.offset,
          digest,
          size: entry.size,
          read: contentStart,
          limit: declared.size,
          declaredBy: declared.by,
        },
      },
    );
  }

  /**
   * An entry read but not extracted (a docker-load extra) whose content starts at byte
   * `contentStart`, added to those before it.
   * @throws OcikitError `OCIKIT_ARCHIVE_SKIPPED_TOO_LARGE`
   */
  skip(entry: EntryExtent, contentStart: number): void {
    const total = this.skipped + entry.size;
    const { maxSkippedBytes } = this.limits;
    if (total > maxSkippedBytes) {
      throw new OcikitError(
        ErrorCode.ArchiveSkippedTooLarge,
        `${this.archive}: ${named(entry)} is not part of an OCI layout and holds ${entry.size} bytes; entries ocikit skips may hold ${maxSkippedBytes} bytes together`,
        {
          hint: 'docker-load extras (manifest.json, repositories) are a few KiB; this archive is corrupt or hostile. Nothing was kept.',
          details: {
            archive: this.archive,
            path: entry.path,
            offset: entry.offset,
            size: entry.size,
            skipped: this.skipped,
            read: contentStart,
            limit: maxSkippedBytes,
          },
        },
      );
    }
    this.skipped = total;
  }

  /**
   * What follows the end-of-archive marker (zeros, see the reader).
   * @throws OcikitError `OCIKIT_ARCHIVE_TRAILING_DATA`
   */
  trailer(trailer: Trailer): void {
    if (!trailer.more) return;
    const { maxTrailingBytes } = this.limits;
    throw new OcikitError(
      ErrorCode.ArchiveTrailingData,
      `${this.archive}: more than ${maxTrailingBytes} bytes follow the end-of-archive marker at byte ${trailer.offset}`,
      {
        hint: 'Tar writers pad with zeros to their record size (GNU tar: 10 KiB, more only with a --blocking-factor above 2048); this file has something appended (another archive, another gzip member). Repack it (ocikit pack); nothing was kept.',
        details: {
          archive: this.archive,
          offset: trailer.offset,
          read: trailer.offset + 2 * BLOCK + trailer.bytes,
          limit: maxTrailingBytes,
        },
      },
    );
  }
}

function padded(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
}
