/**
 * A raw tar writer that can say anything (hostile archives for the unpack tests): any name,
 * type, size field, checksum, pax records; and the entries of a valid archive of the standard
 * layout, in the order ocikit pack writes them.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { standardLayout } from './layout-builder.js';

export interface RawEntry {
  name: string;
  /** Type flag; default '0'. */
  type?: string;
  content?: Buffer | string;
  /** Size field when it should differ from the content length. */
  size?: number;
  linkname?: string;
  mode?: number;
  prefix?: string;
  magic?: string;
  /** Break the checksum. */
  badChecksum?: boolean;
  /** Raw bytes for the size field (12 bytes). */
  sizeField?: string;
}

export function header(e: RawEntry, size: number): Buffer {
  const h = Buffer.alloc(512, 0);
  h.write(e.name, 0, 100, 'utf8');
  h.write(`${(e.mode ?? 0o644).toString(8).padStart(7, '0')}\0`, 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(e.sizeField ?? `${size.toString(8).padStart(11, '0')}\0`, 124, 12, 'latin1');
  h.write('00000000000\0', 136);
  h.write('        ', 148);
  h.write(e.type ?? '0', 156, 1, 'latin1');
  h.write(e.linkname ?? '', 157, 100, 'utf8');
  h.write(e.magic ?? 'ustar\u000000', 257, 8, 'latin1');
  h.write(e.prefix ?? '', 345, 155, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  if (e.badChecksum) sum += 1;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return h;
}

export function pad(n: number): Buffer {
  return Buffer.alloc((512 - (n % 512)) % 512);
}

export function entry(e: RawEntry): Buffer {
  const content = Buffer.from(e.content ?? '');
  return Buffer.concat([header(e, e.size ?? content.length), content, pad(content.length)]);
}

export function paxEntry(records: Record<string, string>, type = 'x'): Buffer {
  const body = Object.entries(records)
    .map(([k, v]) => {
      const rest = ` ${k}=${v}\n`;
      let len = Buffer.byteLength(rest) + 1;
      while (String(len).length + Buffer.byteLength(rest) !== len)
        len = String(len).length + Buffer.byteLength(rest);
      return `${len}${rest}`;
    })
    .join('');
  return entry({ name: 'PaxHeader/x', type, content: body });
}

export const END = Buffer.alloc(1024);

/** A tar of `parts` (entries or raw buffers), with the end-of-archive marker unless `end` is false. */
export function tar(parts: (RawEntry | Buffer)[], end = true): Buffer {
  return Buffer.concat([
    ...parts.map((p) => (Buffer.isBuffer(p) ? p : entry(p))),
    ...(end ? [END] : []),
  ]);
}

/** The entries of a valid archive of the standard layout (sorted, dirs first as pack writes them). */
export function validEntries(root: string): RawEntry[] {
  const dir = path.join(root, 'src-layout');
  if (!existsSync(dir)) standardLayout(dir);
  const out: RawEntry[] = [
    { name: 'blobs/', type: '5', mode: 0o755 },
    { name: 'blobs/sha256/', type: '5', mode: 0o755 },
  ];
  for (const f of readdirSync(path.join(dir, 'blobs', 'sha256')).sort()) {
    out.push({
      name: `blobs/sha256/${f}`,
      content: readFileSync(path.join(dir, 'blobs', 'sha256', f)),
    });
  }
  out.push({ name: 'index.json', content: readFileSync(path.join(dir, 'index.json')) });
  out.push({ name: 'oci-layout', content: readFileSync(path.join(dir, 'oci-layout')) });
  return out;
}

export const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

export interface RawHeader {
  name: string;
  typeflag: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  size: number;
  uname: string;
  gname: string;
  magic: string;
  offset: number;
}

/** Every header block of an uncompressed tar, in order (pax headers included, not applied). */
export function rawHeaders(buf: Buffer): RawHeader[] {
  const out: RawHeader[] = [];
  const str = (s: number, n: number): string =>
    buf.toString('latin1', s, s + n).replace(/\0.*$/s, '');
  const num = (s: number, n: number): number => parseInt(str(s, n).trim() || '0', 8);
  let off = 0;
  while (off + 512 <= buf.length) {
    if (buf.subarray(off, off + 512).every((b) => b === 0)) break;
    const prefix = str(off + 345, 155);
    const name = str(off, 100);
    const h: RawHeader = {
      name: prefix === '' ? name : `${prefix}/${name}`,
      typeflag: buf.toString('latin1', off + 156, off + 157),
      mode: num(off + 100, 8),
      uid: num(off + 108, 8),
      gid: num(off + 116, 8),
      size: num(off + 124, 12),
      mtime: num(off + 136, 12),
      uname: str(off + 265, 32),
      gname: str(off + 297, 32),
      magic: buf.toString('latin1', off + 257, off + 265),
      offset: off,
    };
    out.push(h);
    off += 512 + Math.ceil(h.size / 512) * 512;
  }
  return out;
}
