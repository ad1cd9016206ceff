/**
 * A streaming tar reader that yields entries one at a time, their content as a stream of
 * slices of the input chunks (no copies, nothing held beyond the current chunk). pax
 * extended headers (`path`, `size`, `linkpath`) and GNU long names are applied to the entry
 * that follows, within size limits; everything else about an entry is reported as read, so
 * the caller decides what to refuse. The reader itself refuses only what is not tar: bad
 * checksums, bad numbers, truncation, a missing end-of-archive marker, data other than zeros
 * after it. It reads nothing it is not asked for: after the marker, only as much as
 * {@link TarReader.trailer} is given leave to.
 */
import { ErrorCode, OcikitError } from '../errors.js';
import { BLOCK, TypeFlag, decodeHeader, isZeroBlock, parsePax } from './ustar.js';

/** Limits on metadata the reader buffers. */
export interface ReaderLimits {
  /** Largest pax extended header body. Default 64 KiB. */
  maxPaxBytes: number;
  /** Largest GNU long name. Default 4 KiB. */
  maxLongNameBytes: number;
  /**
   * Most pax and GNU long-name headers before one entry. Default 8: a writer puts at most one
   * of each kind (global pax, pax, long name) in front of an entry; a chain of them is read
   * and held without any entry to check against the other limits.
   */
  maxExtensionHeaders: number;
}

export const DEFAULT_LIMITS: ReaderLimits = {
  maxPaxBytes: 64 * 1024,
  maxLongNameBytes: 4096,
  maxExtensionHeaders: 8,
};

/** One entry, with pax and GNU extensions applied. */
export interface TarEntry {
  /** The path as the archive names it (not yet normalised or checked). */
  path: string;
  /** The type flag (see {@link TypeFlag}). */
  typeflag: string;
  size: number;
  mode: number;
  /** Link target of link entries (pax `linkpath` applied). */
  linkname: string;
  /** Byte offset of the entry's header in the uncompressed archive. */
  offset: number;
}

export function truncated(at: number, what: string): OcikitError {
  return new OcikitError(
    ErrorCode.ArchiveTruncated,
    `the archive ends early, ${what} (at byte ${at})`,
    {
      hint: 'The file was cut short (interrupted download or copy); produce it again.',
      details: { offset: at },
    },
  );
}

function tooLarge(offset: number, what: string, size: number, limit: number): OcikitError {
  return new OcikitError(
    ErrorCode.ArchiveHeaderTooLarge,
    `archive entry at byte ${offset}: ${what} of ${size} bytes is larger than the ${limit} bytes ocikit accepts`,
    {
      hint: 'An OCI layout has short paths and no large metadata headers; this archive is not one (or is hostile).',
      details: { offset, size, limit },
    },
  );
}

/**
 * Chunks that can also be skipped without reading (an archive file): `skip(n)` advances past
 * up to `n` bytes not yet yielded and returns how many (fewer at the end of the input).
 */
export interface SeekableChunks extends AsyncIterable<Buffer> {
  skip(n: number): number;
}

function isSeekable(chunks: AsyncIterable<Buffer>): chunks is SeekableChunks {
  return typeof (chunks as Partial<SeekableChunks>).skip === 'function';
}

/** Exact reads and streamed spans over an async iterator of chunks. */
class ByteSource {
  private chunks: Buffer[] = [];
  private head = 0; // offset into chunks[0]
  private available = 0;
  private ended = false;
  /** Bytes consumed so far. */
  position = 0;

  constructor(
    private readonly it: AsyncIterator<Buffer>,
    private readonly seek?: (n: number) => number,
  ) {}

  private async pull(): Promise<boolean> {
    if (this.ended) return false;
    const r = await this.it.next();
    if (r.done === true) {
      this.ended = true;
      return false;
    }
    if (r.value.length > 0) {
      this.chunks.push(r.value);
      this.available += r.value.length;
    }
    return true;
  }

  /** Up to `n` bytes from the current chunk (at least one), or undefined at the end. */
  async slice(n: number): Promise<Buffer | undefined> {
    while (this.available === 0) if (!(await this.pull())) return undefined;
    const first = this.chunks[0] as Buffer;
    const take = Math.min(n, first.length - this.head);
    const out = first.subarray(this.head, this.head + take);
    this.head += take;
    this.available -= take;
    this.position += take;
    if (this.head === first.length) {
      this.chunks.shift();
      this.head = 0;
    }
    return out;
  }

  /** Exactly `n` bytes; undefined when the input ended before the first byte. */
  async read(n: number): Promise<Buffer | undefined> {
    const start = this.position;
    const first = await this.slice(n);
    if (first === undefined) return undefined;
    if (first.length === n) return first;
    const parts = [first];
    let got = first.length;
    while (got < n) {
      const s = await this.slice(n - got);
      if (s === undefined)
        throw truncated(
          this.position,
          `${n - got} bytes short of a ${n}-byte block that starts at byte ${start}`,
        );
      parts.push(s);
      got += s.length;
    }
    return Buffer.concat(parts, n);
  }

  /** `n` bytes as a stream of slices. */
  async *span(n: number, what: string): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      const s = await this.slice(left);
      if (s === undefined) throw truncated(this.position, `${left} bytes short in ${what}`);
      left -= s.length;
      yield s;
    }
  }

  /** Skip `n` bytes: what is buffered, then by seeking when the input can. */
  async skip(n: number, what: string): Promise<void> {
    let left = n;
    while (left > 0 && this.available > 0) left -= (await this.slice(left))?.length ?? left;
    if (left > 0 && this.seek !== undefined && !this.ended) {
      const k = this.seek(left);
      this.position += k;
      left -= k;
    }
    // Without seeking, or at the end of the input: read (and report what is missing).
    for await (const _ of this.span(left, what)) {
      // discard
    }
  }

  /** Stop reading: the underlying iterator is returned (its stream destroyed). */
  async close(): Promise<void> {
    this.ended = true;
    this.chunks = [];
    await this.it.return?.();
  }

  /**
   * Read up to `n` bytes, stopping at the first that is not zero (tar pads to a record size):
   * how many zeros were read, where the first other byte is (if one was), and whether `n` bytes
   * were read before the input ended.
   */
  async zeros(n: number): Promise<{ bytes: number; nonZeroAt?: number; full: boolean }> {
    let bytes = 0;
    while (bytes < n) {
      const start = this.position;
      const s = await this.slice(n - bytes);
      if (s === undefined) return { bytes, full: false };
      for (let i = 0; i < s.length; i++)
        if (s[i] !== 0) return { bytes: bytes + i, nonZeroAt: start + i, full: false };
      bytes += s.length;
    }
    return { bytes, full: true };
  }
}

function paddingOf(size: number): number {
  const rest = size % BLOCK;
  return rest === 0 ? 0 : BLOCK - rest;
}

/**
 * Read a tar stream entry by entry. The content of each entry must be consumed (or skipped)
 * through {@link TarReader.content} / {@link TarReader.skipContent} before the next
 * {@link TarReader.next}.
 */
export class TarReader {
  private readonly src: ByteSource;
  private pendingContent = 0;
  private pendingPad = 0;
  private current: TarEntry | undefined;
  /** Offset of the end-of-archive marker, once {@link next} has read it. */
  private end: number | undefined;

  constructor(
    chunks: AsyncIterable<Buffer>,
    private readonly limits: ReaderLimits = DEFAULT_LIMITS,
  ) {
    this.src = new ByteSource(
      chunks[Symbol.asyncIterator](),
      isSeekable(chunks) ? (n) => chunks.skip(n) : undefined,
    );
  }

  /** Bytes of the (uncompressed) archive consumed so far. */
  get position(): number {
    return this.src.position;
  }

  /**
   * The next entry, or undefined after the end-of-archive marker (two zero blocks; what
   * follows is read by {@link trailer}).
   * @throws OcikitError `OCIKIT_ARCHIVE_INVALID`, `OCIKIT_ARCHIVE_TRUNCATED`, `OCIKIT_ARCHIVE_HEADER_TOO_LARGE`
   */
  async next(): Promise<TarEntry | undefined> {
    if (this.end !== undefined) return undefined;
    if (this.pendingContent > 0 || this.pendingPad > 0) await this.skipContent();
    let pax = new Map<string, string>();
    let longName: string | undefined;
    for (let extensions = 0; ; extensions++) {
      const offset = this.src.position;
      if (extensions > this.limits.maxExtensionHeaders) {
        throw new OcikitError(
          ErrorCode.ArchiveHeaderTooLarge,
          `archive header at byte ${offset}: more than ${this.limits.maxExtensionHeaders} pax or long-name headers in a row`,
          {
            hint: 'A tar writer puts at most one of each in front of an entry; this archive is corrupt or hostile.',
            details: { offset, limit: this.limits.maxExtensionHeaders },
          },
        );
      }
      const block = await this.src.read(BLOCK);
      if (block === undefined) {
        throw truncated(offset, offset === 0 ? 'it is empty' : 'without the end-of-archive marker');
      }
      if (isZeroBlock(block)) {
        const second = await this.src.read(BLOCK);
        if (second === undefined || !isZeroBlock(second)) {
          if (second === undefined)
            throw truncated(
              this.src.position,
              'after a single zero block (the end-of-archive marker is two)',
            );
          throw new OcikitError(
            ErrorCode.ArchiveInvalid,
            `a zero block at byte ${offset} is followed by data`,
            {
              hint: 'The archive is corrupt; produce it again.',
              details: { offset },
            },
          );
        }
        this.end = offset;
        return undefined;
      }
      const h = decodeHeader(block, offset);
      if (h.typeflag === TypeFlag.PaxHeader || h.typeflag === TypeFlag.PaxGlobal) {
        if (h.size > this.limits.maxPaxBytes)
          throw tooLarge(offset, 'a pax extended header', h.size, this.limits.maxPaxBytes);
        const body = (await this.src.read(h.size + paddingOf(h.size))) ?? Buffer.alloc(0);
        if (body.length < h.size) throw truncated(this.src.position, 'inside a pax header');
        const records = parsePax(body.subarray(0, h.size), offset);
        if (h.typeflag === TypeFlag.PaxGlobal) {
          for (const key of ['path', 'linkpath', 'size']) {
            if (records.has(key)) {
              throw new OcikitError(
                ErrorCode.ArchiveInvalid,
                `a global pax header at byte ${offset} sets ${key} for every entry`,
                {
                  hint: 'ocikit does not accept archives whose global headers rename or resize entries.',
                  details: { offset },
                },
              );
            }
          }
        } else {
          pax = new Map([...pax, ...records]);
        }
        continue;
      }
      if (h.typeflag === TypeFlag.GnuLongName) {
        if (h.size > this.limits.maxLongNameBytes)
          throw tooLarge(offset, 'a GNU long name', h.size, this.limits.maxLongNameBytes);
        const body = (await this.src.read(h.size + paddingOf(h.size))) ?? Buffer.alloc(0);
        if (body.length < h.size) throw truncated(this.src.position, 'inside a GNU long name');
        const nul = body.indexOf(0);
        longName = body.toString('utf8', 0, nul >= 0 && nul < h.size ? nul : h.size);
        continue;
      }
      const entry: TarEntry = {
        path: h.name,
        typeflag: h.typeflag,
        size: h.size,
        mode: h.mode,
        linkname: h.linkname,
        offset,
      };
      if (longName !== undefined) entry.path = longName;
      const paxPath = pax.get('path');
      if (paxPath !== undefined) entry.path = paxPath;
      const paxLink = pax.get('linkpath');
      if (paxLink !== undefined) entry.linkname = paxLink;
      const paxSize = pax.get('size');
      if (paxSize !== undefined) {
        if (!/^[0-9]{1,16}$/.test(paxSize) || !Number.isSafeInteger(Number(paxSize))) {
          throw new OcikitError(
            ErrorCode.ArchiveInvalid,
            `pax size ${JSON.stringify(paxSize.slice(0, 40))} at byte ${offset} is not a size`,
            {
              hint: 'The archive is corrupt; produce it again.',
              details: { offset },
            },
          );
        }
        entry.size = Number(paxSize);
      }
      // Links, directories, devices and FIFOs carry no content, whatever their size field says.
      const hasContent =
        entry.typeflag === TypeFlag.File ||
        entry.typeflag === TypeFlag.OldFile ||
        entry.typeflag === TypeFlag.Contiguous ||
        !/^[0-7]$/.test(entry.typeflag);
      if (!hasContent) entry.size = 0;
      this.pendingContent = entry.size;
      this.pendingPad = paddingOf(entry.size);
      this.current = entry;
      return entry;
    }
  }

  /**
   * After {@link next} returned undefined: read what follows the end-of-archive marker, up to
   * `max` bytes and one more (to tell whether the input goes on). Tar writers pad to a record
   * size with zeros; anything else is refused.
   * @returns where the marker is, the zeros read after it (at most `max`), and whether more follow
   * @throws OcikitError `OCIKIT_ARCHIVE_INVALID` for a byte other than zero
   */
  async trailer(max: number): Promise<{ offset: number; bytes: number; more: boolean }> {
    const offset = this.end;
    if (offset === undefined) throw new Error('TarReader.trailer before the end-of-archive marker');
    const { bytes, nonZeroAt, full } = await this.src.zeros(max + 1);
    if (nonZeroAt !== undefined) {
      throw new OcikitError(
        ErrorCode.ArchiveInvalid,
        `data follows the end-of-archive marker at byte ${offset} (at byte ${nonZeroAt})`,
        {
          hint: 'The file is two archives or has something appended; produce it again.',
          details: { offset, at: nonZeroAt },
        },
      );
    }
    return { offset, bytes: Math.min(bytes, max), more: full };
  }

  /** The content of the current entry, as slices (consumed as they are yielded). */
  async *content(): AsyncGenerator<Buffer> {
    const what = `the content of ${JSON.stringify(this.current?.path ?? '')}`;
    while (this.pendingContent > 0) {
      const s = await this.src.slice(this.pendingContent);
      if (s === undefined)
        throw truncated(this.src.position, `${this.pendingContent} bytes short in ${what}`);
      this.pendingContent -= s.length;
      yield s;
    }
    if (this.pendingPad > 0) {
      const pad = this.pendingPad;
      this.pendingPad = 0;
      await this.src.skip(pad, 'padding');
    }
  }

  /** Stop reading and release the input (after a failure). */
  async close(): Promise<void> {
    await this.src.close().catch(() => undefined);
  }

  /** Skip what is left of the current entry's content (seeking when the input can). */
  async skipContent(): Promise<void> {
    if (this.pendingContent > 0) {
      const n = this.pendingContent;
      this.pendingContent = 0;
      await this.src.skip(n, `the content of ${JSON.stringify(this.current?.path ?? '')}`);
    }
    if (this.pendingPad > 0) {
      const pad = this.pendingPad;
      this.pendingPad = 0;
      await this.src.skip(pad, 'padding');
    }
  }
}
