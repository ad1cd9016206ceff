/**
 * gzip with a fixed header, so the same input gives the same bytes on every machine that has
 * the same zlib: no file name, mtime 0, XFL 0, OS 255 ("unknown", where zlib would write the
 * build platform's code). The body is zlib's raw deflate at a fixed level, the trailer the
 * CRC-32 and length of the input (RFC 1952). The deflate bytes themselves are only as stable as
 * the zlib build (`process.versions.zlib`); the uncompressed tar is stable everywhere.
 */
import { Transform, type TransformCallback } from 'node:stream';
import zlib from 'node:zlib';

/** The 10-byte member header: magic, CM=deflate, FLG=0, MTIME=0, XFL=0, OS=255. */
export const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff]);

/** True when the bytes start with the gzip magic number. */
export function isGzip(head: Uint8Array): boolean {
  return head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
}

/** Running CRC-32 and length of what passes through (unchanged). */
class Tap extends Transform {
  crc = 0;
  size = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.crc = zlib.crc32(chunk, this.crc);
    this.size += chunk.length;
    cb(null, chunk);
  }
}

/** Puts the fixed header in front of the deflate stream and the tap's trailer after it. */
class Frame extends Transform {
  private started = false;
  constructor(private readonly tap: Tap) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (!this.started) {
      this.started = true;
      this.push(GZIP_HEADER);
    }
    cb(null, chunk);
  }
  override _flush(cb: TransformCallback): void {
    if (!this.started) this.push(GZIP_HEADER);
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(this.tap.crc >>> 0, 0);
    trailer.writeUInt32LE(this.tap.size % 2 ** 32, 4);
    cb(null, trailer);
  }
}

/**
 * The three transforms of a deterministic gzip stream, to place in a `pipeline` between the
 * source and the destination: `pipeline(src, ...deterministicGzip(6), dest)`.
 */
export function deterministicGzip(level: number): [Transform, Transform, Transform] {
  const tap = new Tap();
  const deflate = zlib.createDeflateRaw({
    level,
    memLevel: 8,
    strategy: zlib.constants.Z_DEFAULT_STRATEGY,
    chunkSize: 256 * 1024,
  });
  return [tap, deflate, new Frame(tap)];
}
